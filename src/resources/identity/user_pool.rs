//! The Cognito user pool `<stack>-pool` that issues the gateway's access tokens. Nobody signs up: users could
//! only be created by an administrator, and the stack creates none (clients use the client-credentials grant).
//!
//! User pool names are not unique, so the pool is found by its recorded ID, else among the pools of that name
//! by its `UserPoolTags` (the stack's tags, set in the create call); other pools of that name carrying the tags
//! are duplicates (docs/reliability.md, "Duplicates").

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::{AdminCreateUserConfigType, UserPoolType};

use crate::error::Result;
use crate::resources::Output;
use crate::resources::{AwsResult, Cx, Drift, Duplicate, Live, Observation, Resource, ids};
use crate::state::Ids;

pub const USER_POOL_ID: Output = Output::new(NODE, "user_pool_id");

pub const NODE: &str = "user-pool";

pub struct UserPoolResource;

fn pool_name(cx: &Cx) -> String {
    cx.name("pool")
}

/// True when the pool carries the stack's tag (any node of the stack): used by the pool's sub-resources to
/// decide whether what they find is theirs.
pub fn is_stacks(cx: &Cx, pool: &UserPoolType) -> bool {
    pool.user_pool_tags()
        .and_then(|t| t.get(crate::resources::TAG_STACK))
        .is_some_and(|s| s == cx.stack())
}

/// Describes a pool; `None` when it does not exist.
pub async fn describe(cx: &Cx, pool_id: &str) -> Result<Option<UserPoolType>> {
    Ok(cx
        .aws()
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
        .or_gone(cx, "DescribeUserPool", |e| {
            e.is_resource_not_found_exception()
        })?
        .and_then(|out| out.user_pool))
}

/// Every pool named `name` (all pages), with its creation time (seconds, nanoseconds; unknown last).
async fn named_pools(cx: &Cx, name: &str) -> Result<Vec<((i64, u32), String)>> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = cx
            .aws()
            .cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(next.take())
            .send()
            .await
            .aws(cx, "ListUserPools")?;
        for p in page.user_pools() {
            if p.name() == Some(name)
                && let Some(id) = p.id()
            {
                let created = p
                    .creation_date()
                    .map(|d| (d.secs(), d.subsec_nanos()))
                    .unwrap_or((i64::MAX, 0));
                out.push((created, id.to_owned()));
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return Ok(out),
        }
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
        let ours = |pool: &UserPoolType| {
            cx.is_ours(
                pool.user_pool_tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
        };
        // Names are not unique and CreateUserPool takes no idempotency token, so every pool of our name is looked
        // at (a create whose answer was lost leaves a second one): the recorded pool is described while they are
        // listed, one round trip.
        let by_id = async {
            match recorded.and_then(|r| r.get("user_pool_id")) {
                Some(id) => describe(cx, id).await,
                None => Ok(None),
            }
        };
        let (by_id, named) = tokio::join!(by_id, named_pools(cx, &name));
        let (mut kept, named) = (by_id?, named?);
        if let Some(pool) = &kept
            && !ours(pool)
        {
            return Ok(Observation::Foreign(format!(
                "user pool {} is not tagged as this stack's",
                pool.id().unwrap_or("?")
            )));
        }
        let kept_id = kept.as_ref().and_then(|p| p.id()).map(str::to_owned);
        let mut copies = Vec::new();
        let mut foreign = None;
        for (created, id) in named {
            if Some(&id) == kept_id.as_ref() {
                continue;
            }
            match describe(cx, &id).await? {
                Some(pool) if ours(&pool) => copies.push((created, id, pool)),
                Some(_) => foreign = Some(id),
                None => {}
            }
        }
        // Without a record, the oldest copy is kept (ListUserPools gives each pool's creation date).
        copies.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        if kept.is_none() && !copies.is_empty() {
            kept = Some(copies.remove(0).2);
        }
        let Some(pool) = kept else {
            return Ok(match foreign {
                Some(id) => Observation::Foreign(format!(
                    "a user pool named {name} ({id}) exists without this stack's tags"
                )),
                None => Observation::Missing,
            });
        };
        let duplicates = copies
            .into_iter()
            .map(|(_, id, pool)| Duplicate {
                id,
                ids: self.live(&pool).ids,
            })
            .collect();
        Ok(Observation::Present(
            self.live(&pool).with_duplicates(duplicates),
        ))
    }

    fn settle(&self, cx: &Cx) -> Option<std::time::Duration> {
        Some(crate::resources::settle_bound(cx))
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
            .aws(cx, "CreateUserPool")?;
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
            .aws(cx, "UpdateUserPool")?;
        Ok(live.ids.clone())
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        cx.aws()
            .cognito
            .delete_user_pool()
            .user_pool_id(live.id("user_pool_id")?)
            .send()
            .await
            .or_gone(cx, "DeleteUserPool", |e| {
                e.is_resource_not_found_exception()
            })
            .map(|_| ())
    }
}
