//! The origin lock's secret `neo4j-gw/<stack>/origin` (Secrets Manager): a random value that only the stack's
//! gateway knows besides the load balancer's listener rule. The gateway target's credential provider (`origin_key`)
//! reads it and makes the gateway send it on every request to the server as the header [`HEADER`]; the HTTPS
//! listener forwards a request only when that header carries it and answers everything else with 403 (see
//! `origin_rule` and `listener`). So only requests that passed the gateway reach the MCP server.
//!
//! The value is `{"current": …}` with 64 hex digits, made by neo4j-gw from the operating system's random source;
//! during a rotation (`neo4j-gw rotate-origin`) also `"previous"` and `"rotated_at"` (Unix seconds): the listener
//! accepts both values until every interceptor's cache has expired ([`accepted`]), then only the current one.
//!
//! The value never leaves this module and the listener rule: it is not in the IDs, the state file, any log line or
//! any message; drift in it is reported as `(hidden)`.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::config::Secret;
use crate::error::{Error, Result};
use crate::resources::Output;
use crate::resources::secret::{Found, create_token, find_ours, force_delete, tags};
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::state::Ids;

pub const ARN: Output = Output::new(NODE, "arn");

pub const NODE: &str = "origin-secret";
/// The request header that carries the origin value from the gateway to the load balancer.
pub const HEADER: &str = "X-Neo4j-Gw-Origin";
/// Seconds added to the interceptor's cache lifetime before a rotated-out value stops being accepted (requests in
/// flight, clock skew between the operator's machine and AWS).
pub const ROTATION_MARGIN_S: u64 = 15;

const HIDDEN: &str = "(hidden)";

pub fn secret_name(stack: &str) -> String {
    format!("neo4j-gw/{stack}/origin")
}

/// The secret's content.
pub struct Origin {
    pub current: Secret,
    pub previous: Option<Secret>,
    pub rotated_at: Option<u64>,
}

impl Origin {
    pub fn new() -> Result<Origin> {
        Ok(Origin {
            current: random_value()?,
            previous: None,
            rotated_at: None,
        })
    }

    fn parse(text: &str) -> Option<Origin> {
        let v: Value = serde_json::from_str(text).ok()?;
        let value = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| valid(s))
                .map(|s| Secret::new(s.to_owned()))
        };
        Some(Origin {
            current: value("current")?,
            previous: value("previous"),
            rotated_at: v.get("rotated_at").and_then(Value::as_u64),
        })
    }

    fn to_json(&self) -> String {
        let mut v = json!({"current": self.current.expose()});
        if let Some(p) = &self.previous {
            v["previous"] = json!(p.expose());
        }
        if let Some(t) = self.rotated_at {
            v["rotated_at"] = json!(t);
        }
        v.to_string()
    }

    /// True while the previous value must still be accepted: until every interceptor cache (`ttl` seconds) that
    /// may hold it has expired, plus a margin.
    pub fn in_rotation(&self, ttl: u64, now: u64) -> bool {
        match (&self.previous, self.rotated_at) {
            (Some(_), Some(at)) => now < at + ttl + ROTATION_MARGIN_S,
            (Some(_), None) => true,
            _ => false,
        }
    }

    /// The values the listener rule must accept now.
    pub fn accepted(&self, ttl: u64, now: u64) -> Vec<Secret> {
        let mut v = vec![self.current.clone()];
        if self.in_rotation(ttl, now)
            && let Some(p) = &self.previous
        {
            v.push(p.clone());
        }
        v
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// 64 hex digits: fits an ALB header condition (at most 128 characters) and has no `*` or `?` (its wildcards).
fn valid(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 32 bytes of the operating system's random source, as hex.
pub fn random_value() -> Result<Secret> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            Error::other(format!(
                "{NODE}: cannot read the system's random source: {e}"
            ))
        })?;
    Ok(Secret::new(hex::encode(bytes)))
}

/// The current content of the origin secret at `arn`; None when it is not a valid origin value.
pub async fn read(cx: &Cx, arn: &str) -> Result<Option<Origin>> {
    let value = crate::resources::secret::value_of(cx, arn).await?;
    Ok(Origin::parse(value.expose()))
}

pub async fn write(cx: &Cx, arn: &str, origin: &Origin) -> Result<()> {
    cx.aws()
        .secrets
        .put_secret_value()
        .secret_id(arn)
        .secret_string(origin.to_json())
        .send()
        .await
        .aws(cx, "PutSecretValue")?;
    Ok(())
}

pub struct OriginSecretResource;

#[async_trait]
impl Resource for OriginSecretResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "secretsmanager:secret"
    }
    fn wanted(&self, cx: &Cx) -> bool {
        cx.settings().origin_lock
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = secret_name(cx.stack());
        let secret = match find_ours(cx, recorded, &name).await? {
            Found::Ours(s) => s,
            Found::Missing => return Ok(Observation::Missing),
            Found::Foreign(why) => return Ok(Observation::Foreign(why)),
        };
        let arn = secret.arn().unwrap_or_default().to_owned();
        let ids = ids([("arn", arn.clone()), ("name", name)]);
        if secret.deleted_date().is_some() {
            // Scheduled for deletion out of band: its value can no longer be read; a new one is made (the next
            // `up` also gives the listener rule the new value).
            return Ok(Observation::Present(Live::new(ids).with_drift(vec![
                Drift::new("scheduled_for_deletion", "no", "yes"),
            ])));
        }
        let mut drift = Vec::new();
        match read(cx, &arn).await? {
            None => drift.push(Drift::new("value", HIDDEN, "not an origin value")),
            Some(o) => {
                let ttl = u64::from(cx.settings().secret_cache_ttl);
                if o.previous.is_some() && !o.in_rotation(ttl, now()) {
                    drift.push(Drift::new("rotation", "finished", "previous value kept"));
                }
            }
        }
        Ok(Observation::Present(Live::new(ids).with_drift(drift)))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = secret_name(cx.stack());
        let out = cx
            .aws()
            .secrets
            .create_secret()
            .name(&name)
            .description(format!(
                "neo4j-gw stack {}: the origin value that lets only the gateway's requests reach the MCP server",
                cx.stack()
            ))
            .secret_string(Origin::new()?.to_json())
            .client_request_token(create_token(cx))
            .set_tags(Some(tags(cx, &name)))
            .send()
            .await
            .aws(cx, "CreateSecret")?;
        Ok(ids([
            ("arn", out.arn().unwrap_or_default().to_owned()),
            ("name", name),
        ]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let arn = live.id("arn")?;
        if live
            .drift
            .iter()
            .any(|d| d.attribute == "scheduled_for_deletion")
        {
            cx.aws()
                .secrets
                .restore_secret()
                .secret_id(arn)
                .send()
                .await
                .aws(cx, "RestoreSecret")?;
        }
        let next = match read(cx, arn).await? {
            // A finished rotation: keep only the current value.
            Some(o) => Origin {
                current: o.current,
                previous: None,
                rotated_at: None,
            },
            None => Origin::new()?,
        };
        write(cx, arn, &next).await?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        force_delete(cx, live.id("arn")?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_64_hex_digits_from_the_system() {
        let a = random_value().unwrap();
        let b = random_value().unwrap();
        assert!(valid(a.expose()) && valid(b.expose()));
        assert_ne!(a.expose(), b.expose());
        assert!(!valid("*"));
    }

    #[test]
    fn both_values_are_accepted_until_every_cache_expired() {
        let o = Origin {
            current: Secret::new("a".repeat(64)),
            previous: Some(Secret::new("b".repeat(64))),
            rotated_at: Some(1000),
        };
        let text = o.to_json();
        let back = Origin::parse(&text).unwrap();
        assert_eq!(back.previous.unwrap().expose(), "b".repeat(64));
        assert_eq!(o.accepted(300, 1000 + 300).len(), 2);
        assert_eq!(o.accepted(300, 1000 + 300 + ROTATION_MARGIN_S).len(), 1);
        assert!(Origin::parse(r#"{"current":"short"}"#).is_none());
        assert!(Origin::parse("not json").is_none());
    }
}
