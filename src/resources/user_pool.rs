//! The Cognito user pool `<stack>-pool` that issues the gateway's access tokens. Nobody signs up: users could
//! only be created by an administrator, and the stack creates none (clients use the client-credentials grant).
//!
//! User pool names are not unique, so the pool is found by its recorded ID, else among the pools of that name
//! by its `UserPoolTags` (the stack's tags, set in the create call).

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{AdminCreateUserConfigType, UserPoolType};

use super::{Cx, Drift, Live, Observation, Resource, ids};
use crate::error::{self, Result};
use crate::state::Ids;

pub const NODE: &str = "user-pool";

pub struct UserPoolResource;

fn pool_name(cx: &Cx) -> String {
    cx.name("pool")
}

/// True when the pool carries the stack's tag (any node of the stack): used by the pool's sub-resources to
/// decide whether what they find is theirs.
pub fn is_stacks(cx: &Cx, pool: &UserPoolType) -> bool {
    pool.user_pool_tags()
        .and_then(|t| t.get(super::TAG_STACK))
        .is_some_and(|s| s == cx.stack())
}

/// Describes a pool; `None` when it does not exist.
pub async fn describe(cx: &Cx, pool_id: &str) -> Result<Option<UserPoolType>> {
    match cx
        .aws()
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.user_pool),
        Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(error::aws(cx.node, "DescribeUserPool", e)),
    }
}

impl UserPoolResource {
    fn live(&self, pool: &UserPoolType) -> Live {
        let mut drift = Vec::new();
        let admin_only = pool
            .admin_create_user_config()
            .is_some_and(|c| c.allow_admin_create_user_only());
        if !admin_only {
            drift.push(Drift::new("allow_admin_create_user_only", true, false));
        }
        let id = pool.id().unwrap_or_default().to_owned();
        let arn = pool.arn().unwrap_or_default().to_owned();
        Live::new(ids([("user_pool_id", id), ("arn", arn)])).with_drift(drift)
    }
}

#[async_trait]
impl Resource for UserPoolResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "cognito:user-pool"
    }

    async fn observe(&self, cx: &Cx, recorded: Option<&Ids>) -> Result<Observation> {
        let name = pool_name(cx);
        if let Some(id) = recorded.and_then(|r| r.get("user_pool_id"))
            && let Some(pool) = describe(cx, id).await?
        {
            if !cx.is_ours(
                pool.user_pool_tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ) {
                return Ok(Observation::Foreign(format!(
                    "user pool {id} is not tagged as this stack's"
                )));
            }
            return Ok(Observation::Present(self.live(&pool)));
        }
        // Not recorded (or gone): look among the pools of that name for the one carrying our tags.
        let cognito = &cx.aws().cognito;
        let mut next: Option<String> = None;
        let mut foreign = None;
        loop {
            let out = cognito
                .list_user_pools()
                .max_results(60)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| error::aws(cx.node, "ListUserPools", e))?;
            for p in out.user_pools() {
                if p.name() != Some(name.as_str()) {
                    continue;
                }
                let Some(id) = p.id() else { continue };
                let Some(pool) = describe(cx, id).await? else {
                    continue;
                };
                if cx.is_ours(
                    pool.user_pool_tags()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str(), v.as_str())),
                ) {
                    return Ok(Observation::Present(self.live(&pool)));
                }
                foreign = Some(id.to_owned());
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(match foreign {
            Some(id) => Observation::Foreign(format!(
                "a user pool named {name} ({id}) exists without this stack's tags"
            )),
            None => Observation::Missing,
        })
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = pool_name(cx);
        let out = cx
            .aws()
            .cognito
            .create_user_pool()
            .pool_name(&name)
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .set_user_pool_tags(Some(cx.tags(&name).into_iter().collect()))
            .customize()
            .config_override(crate::aws::no_retry!(aws_sdk_cognitoidentityprovider))
            .send()
            .await
            .map_err(|e| error::aws(cx.node, "CreateUserPool", e))?;
        let pool = out.user_pool.ok_or_else(|| {
            crate::error::Error::other(format!("{}: CreateUserPool returned no pool", cx.node))
        })?;
        Ok(self.live(&pool).ids)
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        // UpdateUserPool resets what it is not given; the stack sets nothing else on the pool, so sending the
        // sign-up policy and the tags restores exactly what create made.
        let name = pool_name(cx);
        cx.aws()
            .cognito
            .update_user_pool()
            .user_pool_id(live.id("user_pool_id")?)
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .set_user_pool_tags(Some(cx.tags(&name).into_iter().collect()))
            .send()
            .await
            .map_err(|e| error::aws(cx.node, "UpdateUserPool", e))?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        match cx
            .aws()
            .cognito
            .delete_user_pool()
            .user_pool_id(live.id("user_pool_id")?)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(error::aws(cx.node, "DeleteUserPool", e)),
        }
    }
}
