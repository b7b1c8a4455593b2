//! `scripts/oauth_standin.py` for the tests: Cognito's `/oauth2/token` (moto has none), checking the client-credentials
//! request against the emulator's app clients and their scopes. Stopped when dropped.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

use super::{Emulator, REGION, python};

pub struct OAuthStandIn {
    child: Child,
    stdin: Option<ChildStdin>,
    /// `http://127.0.0.1:<port>/oauth2/token`
    pub url: String,
}

impl OAuthStandIn {
    pub fn start(emu: &Emulator) -> OAuthStandIn {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(python())
            .arg(root.join("scripts/oauth_standin.py"))
            .args(["--endpoint", &emu.endpoint, "--region", REGION])
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start oauth_standin.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read oauth_standin.py's ready line");
        let ready: Value = serde_json::from_str(&line).expect("ready line");
        let url = ready["token_endpoint"].as_str().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        OAuthStandIn {
            stdin: child.stdin.take(),
            child,
            url,
        }
    }
}

impl Drop for OAuthStandIn {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
