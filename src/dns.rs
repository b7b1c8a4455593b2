//! A minimal DNS client (RFC 1035, one UDP question, recursion desired) for `doctor`'s delegation check: which name
//! servers does the world see for the domain? No dependency: the query and the parsing of the answer's NS records
//! (with name compression) are a few dozen lines.
//!
//! The resolver is `NEO4J_GW_DNS_RESOLVER` (`ip` or `ip:port`) when set, else the first `nameserver` of
//! `/etc/resolv.conf`. Against an emulator, public DNS is only queried when `NEO4J_GW_DNS_RESOLVER` says where.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// The environment variable that names the resolver.
pub const RESOLVER_VAR: &str = "NEO4J_GW_DNS_RESOLVER";

const TYPE_NS: u16 = 2;
const CLASS_IN: u16 = 1;

/// Why a query gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// Anything else: no resolver, a timeout, a malformed answer, another error code.
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoSuchName => f.write_str("the name does not exist (NXDOMAIN)"),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

/// The resolver to ask: `NEO4J_GW_DNS_RESOLVER`, else `/etc/resolv.conf`'s first name server.
pub fn resolver(env: Option<String>) -> Option<SocketAddr> {
    if let Some(v) = env.filter(|v| !v.is_empty()) {
        return parse_addr(&v);
    }
    let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|v| parse_addr(v.trim()))
}

fn parse_addr(v: &str) -> Option<SocketAddr> {
    v.parse::<SocketAddr>().ok().or_else(|| {
        v.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The NS records of `name` as `server` answers them (lower-case, without the trailing dot).
pub async fn ns(server: SocketAddr, name: &str) -> Result<Vec<String>, Failure> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    tokio::task::spawn_blocking(move || ask(server, &name, TYPE_NS))
        .await
        .map_err(|e| Failure::Other(format!("the DNS query did not finish: {e}")))?
}

fn ask(server: SocketAddr, name: &str, qtype: u16) -> Result<Vec<String>, Failure> {
    let other = |m: String| Failure::Other(m);
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket =
        UdpSocket::bind(bind).map_err(|e| other(format!("cannot open a UDP socket: {e}")))?;
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| other(e.to_string()))?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    let query = encode_query(id, name, qtype).map_err(other)?;
    socket
        .send_to(&query, server)
        .map_err(|e| other(format!("cannot send the query to {server}: {e}")))?;
    let mut buf = [0u8; 4096];
    let n = socket
        .recv(&mut buf)
        .map_err(|e| other(format!("{server} did not answer: {e}")))?;
    decode_answer(&buf[..n], id, qtype)
}

/// A query for `name` with recursion desired.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // 1 question
    encode_name(&mut q, name)?;
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

/// Appends a name as DNS labels.
pub fn encode_name(out: &mut Vec<u8>, name: &str) -> Result<(), String> {
    for label in name
        .trim_end_matches('.')
        .split('.')
        .filter(|l| !l.is_empty())
    {
        if label.len() > 63 {
            return Err(format!("the label `{label}` is longer than 63 characters"));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    Ok(())
}

/// The names in the answer's records of type `qtype` (NS: the name servers).
pub fn decode_answer(msg: &[u8], id: u16, qtype: u16) -> Result<Vec<String>, Failure> {
    let bad = || Failure::Other("a malformed DNS answer".into());
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err(bad());
    }
    match msg[3] & 0x0f {
        0 => {}
        3 => return Err(Failure::NoSuchName),
        rcode => {
            return Err(Failure::Other(format!(
                "the resolver answered with error code {rcode}"
            )));
        }
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = read_name(msg, at).ok_or_else(bad)?.1 + 4;
    }
    let mut names = Vec::new();
    for _ in 0..an {
        let (_, after) = read_name(msg, at).ok_or_else(bad)?;
        let head = msg.get(after..after + 10).ok_or_else(bad)?;
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[8], head[9]]) as usize;
        let data = after + 10;
        if data + len > msg.len() {
            return Err(bad());
        }
        if rtype == qtype {
            names.push(read_name(msg, data).ok_or_else(bad)?.0);
        }
        at = data + len;
    }
    Ok(names)
}

/// The name at `at` (following compression pointers) and the offset just after it in place.
fn read_name(msg: &[u8], at: usize) -> Option<(String, usize)> {
    let mut labels: Vec<String> = Vec::new();
    let mut pos = at;
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            return Some((
                labels.join(".").to_ascii_lowercase(),
                end.unwrap_or(pos + 1),
            ));
        }
        if len & 0xc0 == 0xc0 {
            let target = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = target;
            continue;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).into_owned());
        pos += 1 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query` with NS records, the owner name compressed to the question.
    fn answer(query: &[u8], servers: &[&str]) -> Vec<u8> {
        let mut a = query.to_vec();
        a[2] = 0x81;
        a[3] = 0x80;
        a[7] = servers.len() as u8;
        for s in servers {
            a.extend_from_slice(&[0xc0, 12, 0, 2, 0, 1, 0, 0, 0, 60]);
            let mut data = Vec::new();
            encode_name(&mut data, s).unwrap();
            a.extend_from_slice(&(data.len() as u16).to_be_bytes());
            a.extend_from_slice(&data);
        }
        a
    }

    #[test]
    fn ns_answers_round_trip() {
        let q = encode_query(7, "Example.COM.", TYPE_NS).unwrap();
        let a = answer(&q, &["ns-1.awsdns-01.org", "NS-2.awsdns-02.com"]);
        assert_eq!(
            decode_answer(&a, 7, TYPE_NS).unwrap(),
            vec!["ns-1.awsdns-01.org", "ns-2.awsdns-02.com"]
        );
        // Another ID: not our answer.
        assert!(decode_answer(&a, 8, TYPE_NS).is_err());
        let mut nx = q.clone();
        nx[3] = 0x83;
        assert_eq!(decode_answer(&nx, 7, TYPE_NS), Err(Failure::NoSuchName));
        assert!(decode_answer(&a[..a.len() - 3], 7, TYPE_NS).is_err());
    }

    #[test]
    fn resolver_from_the_environment_or_resolv_conf() {
        assert_eq!(
            resolver(Some("127.0.0.1:5353".into())),
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            resolver(Some("127.0.0.1".into())),
            Some("127.0.0.1:53".parse().unwrap())
        );
        assert!(encode_query(1, &"a".repeat(64), TYPE_NS).is_err());
    }
}
