//! How neo4j-gw reaches the stack's public HTTPS endpoints — the Cognito domain's token endpoint and the
//! gateway's MCP URL.
//!
//! Against AWS they are reached as they are. Against an emulator (`--endpoint-url`) the public names must not be
//! resolved or contacted; there, `--data-plane-endpoint http://127.0.0.1:PORT` names a loopback stand-in of the
//! data plane (the test suite's and the local demo's, `scripts/emulator/dataplane`): every request for a public name goes
//! there over plain HTTP, with the public host name in the `Host` header and the name pinned to that address, so
//! no DNS lookup is ever made. Without it, commands that need the data plane say so instead of guessing.

use std::net::SocketAddr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Where requests for public names go.
#[derive(Debug, Clone)]
pub struct Reach {
    /// The loopback stand-in of the data plane, when one is configured.
    data_plane: Option<SocketAddr>,
    /// True against an emulator: public names are never contacted directly.
    emulated: bool,
}

/// A client for one public URL and the URL to send the request to.
pub struct Route {
    pub client: reqwest::Client,
    pub url: String,
}

impl Reach {
    pub fn new(data_plane: Option<&str>, emulated: bool) -> Result<Reach> {
        let data_plane = match data_plane {
            None => None,
            Some(u) => {
                Some(loopback_addr(u).map_err(|m| Error::usage("--data-plane-endpoint", m))?)
            }
        };
        Ok(Reach {
            data_plane,
            emulated,
        })
    }

    /// True when public endpoints can be reached (AWS itself, or the emulator's data plane).
    pub fn available(&self) -> bool {
        self.data_plane.is_some() || !self.emulated
    }

    /// Why public endpoints cannot be reached, for messages.
    pub fn unavailable_reason(&self) -> &'static str {
        "this run talks to an emulator (--endpoint-url / AWS_ENDPOINT_URL), whose public names are never \
         resolved or contacted; pass --data-plane-endpoint with the address of the emulator's loopback data plane \
         (scripts/emulator/moto_server.py prints it)"
    }

    /// A client and URL for `url`, an `https://` URL of one of AWS's public endpoints.
    pub fn route(&self, url: &str, timeout: Duration) -> Result<Route> {
        let parsed =
            url::Url::parse(url).map_err(|e| Error::other(format!("`{url}` is not a URL: {e}")))?;
        let builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .user_agent(concat!("neo4j-gw/", env!("CARGO_PKG_VERSION")));
        match self.data_plane {
            Some(addr) => {
                let host = parsed
                    .host_str()
                    .ok_or_else(|| Error::other(format!("`{url}` has no host")))?
                    .to_owned();
                let mut local = parsed.clone();
                local
                    .set_scheme("http")
                    .map_err(|_| Error::other(format!("cannot route `{url}` to the data plane")))?;
                local
                    .set_port(Some(addr.port()))
                    .map_err(|_| Error::other(format!("cannot route `{url}` to the data plane")))?;
                let client = builder
                    .resolve(&host, addr)
                    .build()
                    .map_err(|e| Error::other(format!("cannot set up the HTTP client: {e}")))?;
                Ok(Route {
                    client,
                    url: local.to_string(),
                })
            }
            None if self.emulated => Err(Error::usage(
                "--data-plane-endpoint",
                format!("is needed to reach {url}: {}", self.unavailable_reason()),
            )),
            None => Ok(Route {
                client: builder
                    .build()
                    .map_err(|e| Error::other(format!("cannot set up the HTTP client: {e}")))?,
                url: url.to_owned(),
            }),
        }
    }
}

/// Why a request to an endpoint got no answer, from the error and its causes. Only [`Unreached::Dns`] is worth
/// waiting for: AWS documents that a new Cognito domain takes a while to resolve. A refused connection, a TLS
/// failure or a timeout is reported at once, with what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreached {
    /// The name does not resolve (yet).
    Dns,
    /// Nothing listens at the address.
    Refused,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No answer in time.
    Timeout,
    /// Another failure of the connection or the request.
    Other,
}

impl Unreached {
    /// Classifies an error by its chain of causes (a `std::io::Error` of kind ConnectionRefused / TimedOut) and, for
    /// errors that only keep the text of their cause, by the text.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Unreached {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut text = String::new();
        while let Some(c) = cause {
            if let Some(io) = c.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => return Unreached::Refused,
                    std::io::ErrorKind::TimedOut => return Unreached::Timeout,
                    _ => {}
                }
            }
            if let Some(r) = c.downcast_ref::<reqwest::Error>()
                && r.is_timeout()
            {
                return Unreached::Timeout;
            }
            text.push_str(&c.to_string());
            text.push('\n');
            cause = c.source();
        }
        Unreached::of_text(&text)
    }

    /// Classifies an error that reached us as text only (e.g. through the MCP SDK's transport errors).
    pub fn of_text(text: &str) -> Unreached {
        let t = text.to_ascii_lowercase();
        if t.contains("connection refused") {
            Unreached::Refused
        } else if t.contains("dns error") || t.contains("failed to lookup address") {
            Unreached::Dns
        } else if t.contains("certificate") || t.contains("tls") || t.contains("handshake") {
            Unreached::Tls
        } else if t.contains("timed out") || t.contains("timeout") {
            Unreached::Timeout
        } else {
            Unreached::Other
        }
    }

    /// What went wrong, in words: `the connection to URL was refused`, ….
    pub fn describe(self, url: &str) -> String {
        match self {
            Unreached::Dns => format!("the name of {url} does not resolve"),
            Unreached::Refused => {
                format!("the connection to {url} was refused (nothing listens there)")
            }
            Unreached::Tls => format!("the TLS handshake with {url} failed"),
            Unreached::Timeout => format!("{url} did not answer in time"),
            Unreached::Other => format!("the request to {url} failed"),
        }
    }
}

impl Reach {
    /// What to check when `url` cannot be reached: the data plane's address when one is used, else the network.
    pub fn what_to_check(&self, kind: Unreached) -> String {
        match (self.data_plane, kind) {
            (Some(addr), _) => format!(
                "check --data-plane-endpoint: the emulator's data plane must be running at http://{addr} \
                 (scripts/emulator/moto_server.py prints its address)"
            ),
            (None, Unreached::Tls) => {
                "check that nothing between here and AWS intercepts TLS (a proxy with its \
                own certificate) and that the system's CA certificates are current"
                    .into()
            }
            (None, _) => {
                "check the network path to AWS (proxy, firewall, VPN) from this machine".into()
            }
        }
    }
}

/// The socket address of a loopback `http://IP:PORT` URL.
pub fn loopback_addr(u: &str) -> std::result::Result<SocketAddr, String> {
    let parsed = url::Url::parse(u).map_err(|e| format!("`{u}` is not a URL: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "`{u}` must be an http:// URL of a loopback address"
        ));
    }
    let ip: std::net::IpAddr = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.into(),
        Some(url::Host::Ipv6(ip)) => ip.into(),
        _ => {
            return Err(format!(
                "`{u}` must name a loopback IP address (e.g. http://127.0.0.1:PORT), never a host name"
            ));
        }
    };
    if !ip.is_loopback() {
        return Err(format!(
            "`{u}` is not a loopback address: the data plane stand-in runs on this machine"
        ));
    }
    let port = parsed
        .port()
        .ok_or_else(|| format!("`{u}` must name a port"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_ip_urls_are_data_planes() {
        assert!(loopback_addr("http://127.0.0.1:4567").is_ok());
        assert!(loopback_addr("http://[::1]:4567").is_ok());
        assert!(loopback_addr("http://localhost:4567").is_err());
        assert!(loopback_addr("http://10.0.0.1:4567").is_err());
        assert!(loopback_addr("https://127.0.0.1:4567").is_err());
        assert!(loopback_addr("http://127.0.0.1").is_err());
    }

    #[test]
    fn only_an_unresolved_name_is_a_wait() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(Unreached::of(&refused), Unreached::Refused);
        assert_eq!(
            Unreached::of_text(
                "client error (Connect): tcp connect error: Connection refused (os error 111)"
            ),
            Unreached::Refused
        );
        assert_eq!(
            Unreached::of_text("dns error: failed to lookup address information"),
            Unreached::Dns
        );
        assert_eq!(
            Unreached::of_text("invalid peer certificate: UnknownIssuer"),
            Unreached::Tls
        );
        assert_eq!(Unreached::of_text("something else"), Unreached::Other);
        let reach = Reach::new(Some("http://127.0.0.1:9"), true).unwrap();
        assert!(
            reach
                .what_to_check(Unreached::Refused)
                .contains("--data-plane-endpoint")
        );
    }

    #[test]
    fn public_urls_go_to_the_data_plane_with_their_host_name() {
        let reach = Reach::new(Some("http://127.0.0.1:4567"), true).unwrap();
        let r = reach
            .route(
                "https://g-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com/mcp",
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(
            r.url,
            "http://g-1.gateway.bedrock-agentcore.us-east-1.amazonaws.com:4567/mcp"
        );
        let none = Reach::new(None, true).unwrap();
        assert!(!none.available());
        let e = none
            .route("https://x.example.com/", Duration::from_secs(5))
            .err()
            .unwrap();
        assert!(e.to_string().contains("--data-plane-endpoint"), "{e}");
        assert!(Reach::new(None, false).unwrap().available());
    }
}
