//! A Cognito token endpoint for tests that pass `--token-endpoint`: the data plane's Cognito stand-in in its
//! loopback form (`http://127.0.0.1:PORT/oauth2/token`, which finds the pool by the client), issuing real signed
//! access tokens after checking the client-credentials request against the emulator's app clients and scopes.

use super::Emulator;

pub struct OAuthStandIn {
    /// `http://127.0.0.1:<port>/oauth2/token`
    pub url: String,
}

impl OAuthStandIn {
    pub fn start(emu: &Emulator) -> OAuthStandIn {
        assert!(
            emu.data_plane.starts_with("http://127.0.0.1:"),
            "the emulator runs no data plane"
        );
        OAuthStandIn {
            url: format!("{}/oauth2/token", emu.data_plane),
        }
    }
}
