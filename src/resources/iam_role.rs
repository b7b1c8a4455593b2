//! IAM roles with one inline policy each (`neo4j-gw`). Used for the ECS task execution role, the task role,
//! the interceptor Lambda's role and the gateway's role. Trust and permissions are compared as JSON, so a
//! policy edited out of band is reported as drift and put back by `up`.

use async_trait::async_trait;
use serde_json::Value;

use super::{Cx, Drift, Live, Observation, Resource, ids};
use crate::error::{self, Error, Result};
use crate::resources::AwsResult;
use crate::state::Ids;

pub const POLICY_NAME: &str = "neo4j-gw";

pub struct RoleResource {
    pub node: &'static str,
    /// The role is named `<stack>-<suffix>`.
    pub suffix: &'static str,
    pub description: &'static str,
    pub deps: &'static [&'static str],
    /// The trust policy document.
    pub trust: fn(&Cx) -> Result<Value>,
    /// The inline permissions policy, or `None` for a role without permissions.
    pub policy: fn(&Cx) -> Result<Option<Value>>,
}

/// IAM returns policy documents URL-encoded.
fn decode(doc: &str) -> Value {
    let text = percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Normalises a policy for comparison: single statements and single-string actions/resources become lists.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = normalize(v);
                    let v = match (k.as_str(), v) {
                        ("Statement" | "Action" | "Resource", Value::Object(o)) => {
                            Value::Array(vec![Value::Object(o)])
                        }
                        ("Statement" | "Action" | "Resource", Value::String(s)) => {
                            Value::Array(vec![Value::String(s)])
                        }
                        (_, v) => v,
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

pub fn same_policy(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

impl RoleResource {
    fn name(&self, cx: &Cx) -> String {
        cx.name(self.suffix)
    }

    async fn put_policy(&self, cx: &Cx, name: &str) -> Result<()> {
        let iam = &cx.aws().iam;
        match (self.policy)(cx)? {
            Some(doc) => {
                iam.put_role_policy()
                    .role_name(name)
                    .policy_name(POLICY_NAME)
                    .policy_document(doc.to_string())
                    .send()
                    .await
                    .aws(cx, "PutRolePolicy")?;
            }
            None => {
                if let Err(e) = iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(POLICY_NAME)
                    .send()
                    .await
                    && error::code_of(&e) != Some("NoSuchEntity")
                {
                    return Err(error::aws(cx.node, "DeleteRolePolicy", e));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Resource for RoleResource {
    fn id(&self) -> &'static str {
        self.node
    }
    fn kind(&self) -> &'static str {
        "iam:role"
    }
    fn depends_on(&self) -> &'static [&'static str] {
        self.deps
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let iam = &cx.aws().iam;
        let name = self.name(cx);
        let want_policy = (self.policy)(cx);
        // The role and its inline policy at once: one round trip instead of two.
        let (role, policy) = tokio::join!(iam.get_role().role_name(&name).send(), async {
            if want_policy.is_ok() && !cx.expect_gone {
                Some(
                    iam.get_role_policy()
                        .role_name(&name)
                        .policy_name(POLICY_NAME)
                        .send()
                        .await,
                )
            } else {
                None
            }
        });
        let role = match role {
            Ok(out) => match out.role {
                Some(r) => r,
                None => return Ok(Observation::Missing),
            },
            Err(e) if error::code_of(&e) == Some("NoSuchEntity") => {
                return Ok(Observation::Missing);
            }
            Err(e) => return Err(error::aws(cx.node, "GetRole", e)),
        };
        // GetRole returns the role's tags (the Role shape's `Tags`, botocore iam service-2.json); a role without any
        // is looked at with ListRoleTags before it is called foreign.
        let tags: Vec<(String, String)> = if role.tags().is_empty() {
            iam.list_role_tags()
                .role_name(&name)
                .send()
                .await
                .aws(cx, "ListRoleTags")?
                .tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()
        } else {
            role.tags()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()
        };
        if !cx.is_ours(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            return Ok(Observation::Foreign(format!(
                "IAM role {name} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        if let Ok(want) = (self.trust)(cx) {
            let have = role
                .assume_role_policy_document()
                .map(decode)
                .unwrap_or(Value::Null);
            if !same_policy(&want, &have) {
                drift.push(Drift::new(
                    "trust_policy",
                    "the stack's trust policy",
                    "a different document",
                ));
            }
        }
        // Not read with the role when it was expected gone: read now that it is there.
        let policy = match policy {
            None if want_policy.is_ok() => Some(
                iam.get_role_policy()
                    .role_name(&name)
                    .policy_name(POLICY_NAME)
                    .send()
                    .await,
            ),
            p => p,
        };
        if let (Ok(want), Some(policy)) = (want_policy, policy) {
            let have = match policy {
                Ok(out) => Some(decode(out.policy_document())),
                Err(e) if error::code_of(&e) == Some("NoSuchEntity") => None,
                Err(e) => return Err(error::aws(cx.node, "GetRolePolicy", e)),
            };
            let same = match (&want, &have) {
                (Some(w), Some(h)) => same_policy(w, h),
                (None, None) => true,
                _ => false,
            };
            if !same {
                drift.push(Drift::new(
                    format!("inline_policy:{POLICY_NAME}"),
                    if want.is_some() {
                        "the stack's permissions"
                    } else {
                        "absent"
                    },
                    if have.is_some() {
                        "a different document"
                    } else {
                        "missing"
                    },
                ));
            }
        }
        Ok(Observation::Present(
            Live::new(ids([("role_name", name), ("arn", role.arn().to_owned())])).with_drift(drift),
        ))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let iam = &cx.aws().iam;
        let name = self.name(cx);
        let trust = (self.trust)(cx)?;
        let tags: Vec<aws_sdk_iam::types::Tag> = cx
            .tags(&name)
            .into_iter()
            .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::other(format!("{}: {e}", cx.node)))?;
        let out = iam
            .create_role()
            .role_name(&name)
            .description(self.description)
            .assume_role_policy_document(trust.to_string())
            .set_tags(Some(tags))
            .send()
            .await
            .aws(cx, "CreateRole")?;
        let arn = out.role().map(|r| r.arn().to_owned()).unwrap_or_default();
        self.put_policy(cx, &name).await?;
        Ok(ids([("role_name", name), ("arn", arn)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        let name = live.id("role_name")?;
        if live.drift.iter().any(|d| d.attribute == "trust_policy") {
            cx.aws()
                .iam
                .update_assume_role_policy()
                .role_name(name)
                .policy_document((self.trust)(cx)?.to_string())
                .send()
                .await
                .aws(cx, "UpdateAssumeRolePolicy")?;
        }
        if live
            .drift
            .iter()
            .any(|d| d.attribute.starts_with("inline_policy"))
        {
            self.put_policy(cx, name).await?;
        }
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let iam = &cx.aws().iam;
        let name = live.id("role_name")?;
        let policies = iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .aws(cx, "ListRolePolicies")?;
        for p in policies.policy_names() {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(p)
                .send()
                .await
                .aws(cx, "DeleteRolePolicy")?;
        }
        let attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .aws(cx, "ListAttachedRolePolicies")?;
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .aws(cx, "DetachRolePolicy")?;
            }
        }
        match iam.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if error::code_of(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(error::aws(cx.node, "DeleteRole", e)),
        }
    }
}

/// A trust policy for an AWS service principal, with optional conditions.
pub fn service_trust(service: &str, condition: Option<Value>) -> Value {
    let mut statement = serde_json::json!({
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    });
    if let Some(c) = condition {
        statement["Condition"] = c;
    }
    serde_json::json!({"Version": "2012-10-17", "Statement": [statement]})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_compare_modulo_iam_normalisation() {
        let a = serde_json::json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get", "Resource": "*"}});
        let b = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:Get"], "Resource": ["*"]}]});
        assert!(same_policy(&a, &b));
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%7D";
        assert_eq!(
            decode(encoded),
            serde_json::json!({"Version": "2012-10-17"})
        );
    }
}
