//! The AgentCore gateway layer, last: the REQUEST interceptor function (with its log group and role), the gateway
//! (with its role; it trusts the identity layer's tokens) and its target, the MCP server behind the edge (reached
//! with the origin lock's key). Named `agent_gateway` because its `gateway` kind is `crate::resources::gateway`.
//!
//! Here too what both the gateway and its target need — how an AgentCore delete settles, and a gateway's targets
//! (the gateway removes its stack's target before it deletes itself; the target node deletes its own) — so that
//! `gateway_target` depends on `gateway` and never the other way round.

pub mod gateway;
pub mod gateway_log_delivery;
pub mod gateway_target;
pub mod interceptor_function;
pub mod policy;
pub mod policy_engine;

use std::collections::HashMap;

use aws_sdk_bedrockagentcorecontrol::operation::get_gateway_target::GetGatewayTargetOutput;

use crate::error::{self, Error, Result};
use crate::resources::AwsResult;
use crate::resources::Cx;
use crate::wait::{self, Poll};

/// The answer to one delete request of an AgentCore resource.
pub enum Deleted {
    /// The delete was accepted (the resource goes DELETING).
    Accepted,
    /// It was already gone.
    Gone,
    /// ConflictException: it is in a transition; the text says which.
    Conflict(String),
}

/// Sends `attempt` until AgentCore accepts it, waiting (bounded by `wait_timeout`) while it answers
/// ConflictException. Returns true when the resource turned out to be gone already.
pub async fn delete_when_settled<F, Fut>(cx: &Cx, what: &str, attempt: F) -> Result<bool>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Deleted>>,
{
    wait::until(
        cx,
        &format!("{what} to settle so that it can be deleted"),
        cx.settings().wait_timeout,
        || async {
            Ok(match attempt().await? {
                Deleted::Accepted => Poll::Ready(false),
                Deleted::Gone => Poll::Ready(true),
                Deleted::Conflict(state) => Poll::Pending(state),
            })
        },
    )
    .await
}

/// Deletes an AgentCore resource and waits until it is gone — the life cycle every AgentCore delete shares:
/// `send` is the delete request; ResourceNotFoundException means already gone; ConflictException (a transition,
/// or something that must go first, which `hint` names) is waited out ([`delete_when_settled`]); then `status` is
/// polled until it answers None (gone). `status` gives the resource's status as AgentCore words it.
pub async fn delete_and_wait<T, E, SF, SFut, GF, GFut>(
    cx: &Cx,
    what: &str,
    operation: &'static str,
    hint: &str,
    send: SF,
    status: GF,
) -> Result<()>
where
    SF: Fn() -> SFut,
    SFut: std::future::Future<Output = std::result::Result<T, E>>,
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error,
    GF: Fn() -> GFut,
    GFut: std::future::Future<Output = Result<Option<String>>>,
{
    let gone = delete_when_settled(cx, what, || async {
        match send().await {
            Ok(_) => Ok(Deleted::Accepted),
            Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => Ok(Deleted::Gone),
            Err(e) if error::code_of(&e) == Some("ConflictException") => {
                Ok(Deleted::Conflict(match status().await? {
                    Some(s) => format!("status {s}{hint}"),
                    None => format!("ConflictException{hint}"),
                }))
            }
            Err(e) => Err(error::aws(cx.node, operation, e)),
        }
    })
    .await?;
    if gone {
        return Ok(());
    }
    wait::until(
        cx,
        &format!("{what} to be deleted"),
        cx.settings().wait_timeout,
        || async {
            Ok(match status().await? {
                None => Poll::Ready(()),
                Some(s) => Poll::Pending(format!("status {s}")),
            })
        },
    )
    .await
}

/// A gateway's target, or None when AgentCore does not know it.
pub(super) async fn get_target(
    cx: &Cx,
    gateway_id: &str,
    target_id: &str,
) -> Result<Option<GetGatewayTargetOutput>> {
    cx.aws()
        .agentcore
        .get_gateway_target()
        .gateway_identifier(gateway_id)
        .target_id(target_id)
        .send()
        .await
        .or_gone(cx, "GetGatewayTarget", |e| {
            e.is_resource_not_found_exception()
        })
}

/// Deletes one target and waits until it is gone. ConflictException while it is CREATING, UPDATING or
/// SYNCHRONIZING: waits for it to settle, then deletes.
pub(super) async fn delete_target(cx: &Cx, gateway_id: &str, target_id: &str) -> Result<()> {
    delete_and_wait(
        cx,
        "the target",
        "DeleteGatewayTarget",
        "",
        || {
            cx.aws()
                .agentcore
                .delete_gateway_target()
                .gateway_identifier(gateway_id)
                .target_id(target_id)
                .send()
        },
        || async {
            Ok(get_target(cx, gateway_id, target_id)
                .await?
                .map(|t| t.status().as_str().to_owned()))
        },
    )
    .await
}

/// Removes the stack's target from a gateway about to be deleted (AgentCore deletes a gateway only once it has no
/// targets; the gateway-target node creates it again on the new gateway). A target of another name was not
/// created by this stack and is never deleted: the replacement stops and says so.
pub async fn clear_gateway(cx: &Cx, gateway_id: &str) -> Result<()> {
    let own = &cx.settings().target_name;
    let out = match cx
        .aws()
        .agentcore
        .list_gateway_targets()
        .gateway_identifier(gateway_id)
        .max_results(100)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => return Ok(()),
        Err(e) => return Err(error::aws(cx.node, "ListGatewayTargets", e)),
    };
    if let Some(other) = out.items().iter().find(|t| t.name() != own) {
        return Err(Error::Conflict(format!(
            "{}: the gateway has a target `{}` that this stack did not create; AgentCore deletes a gateway only \
             without targets and neo4j-gw never deletes what it did not create: remove that target, then re-run",
            cx.node,
            other.name()
        )));
    }
    for t in out.items() {
        cx.say(format!("deleting the target {} first", t.name()));
        delete_target(cx, gateway_id, t.target_id()).await?;
    }
    Ok(())
}

/// The tags of an AgentCore resource (the gateway, the origin lock's key provider), by its ARN.
pub(in crate::resources) async fn tags(cx: &Cx, arn: &str) -> Result<HashMap<String, String>> {
    let out = cx
        .aws()
        .agentcore
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .aws(cx, "ListTagsForResource")?;
    Ok(out.tags.unwrap_or_default())
}

/// The agent gateway layer's nodes, in the order of display. A new kind of this layer is added here and in the `mod` list above.
pub(super) fn nodes(agents: &[&str]) -> Vec<std::sync::Arc<dyn crate::resources::Resource>> {
    use std::sync::Arc;
    vec![
        Arc::new(interceptor_function::LOG_GROUP),
        Arc::new(interceptor_function::ROLE),
        Arc::new(interceptor_function::InterceptorFunctionResource),
        Arc::new(policy_engine::PolicyEngineResource),
        Arc::new(gateway::ROLE),
        Arc::new(gateway::GatewayResource::for_agents(agents.iter().copied())),
        Arc::new(gateway_target::GatewayTargetResource),
        Arc::new(policy::READ),
        Arc::new(policy::WRITE),
        Arc::new(crate::resources::log_group::GATEWAY_LOGS),
        Arc::new(gateway_log_delivery::GatewayLogDeliveryResource),
    ]
}
