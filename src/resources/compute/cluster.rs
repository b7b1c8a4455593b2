//! The ECS cluster `<stack>`: tagged, Container Insights off (its metrics cost money and the service needs
//! none). An `INACTIVE` cluster of that name (deleted; ECS keeps it describable for a while) counts as missing.

use async_trait::async_trait;
use aws_sdk_ecs::types::{Cluster, ClusterField, ClusterSetting, ClusterSettingName};

use super::ecs;
use crate::error::{self, Result};
use crate::resources::Output;
use crate::resources::{AwsResult, Cx, Drift, Live, Observation, Resource, ids};
use crate::state::Ids;
use crate::wait::{self, Poll};

pub const NODE: &str = "cluster";
pub const CLUSTER_NAME: Output = Output::new(NODE, "cluster_name");

pub struct ClusterResource;

const INSIGHTS: &str = "disabled";

fn insights_setting() -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(INSIGHTS)
        .build()
}

impl ClusterResource {
    async fn describe(&self, cx: &Cx, name: &str) -> Result<Option<Cluster>> {
        let out = cx
            .aws()
            .ecs
            .describe_clusters()
            .clusters(name)
            .include(ClusterField::Settings)
            .include(ClusterField::Tags)
            .send()
            .await
            .aws(cx, "DescribeClusters")?;
        Ok(out
            .clusters()
            .iter()
            .find(|c| c.cluster_name() == Some(name) && c.status() != Some("INACTIVE"))
            .cloned())
    }
}

#[async_trait]
impl Resource for ClusterResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "ecs:cluster"
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let name = cx.stack().to_owned();
        let Some(cluster) = self.describe(cx, &name).await? else {
            return Ok(Observation::Missing);
        };
        let arn = cluster.cluster_arn().unwrap_or_default().to_owned();
        // DescribeClusters with `include: TAGS` returns them (ECS API reference); a cluster without any is asked
        // for them directly before it is called foreign.
        let listed;
        let tags = if cluster.tags().is_empty() {
            listed = cx
                .aws()
                .ecs
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .aws(cx, "ListTagsForResource")?;
            listed.tags()
        } else {
            cluster.tags()
        };
        if !ecs::is_ours(cx, tags) {
            return Ok(Observation::Foreign(format!(
                "ECS cluster {name} is not tagged as this stack's"
            )));
        }
        let mut drift = Vec::new();
        let insights = cluster
            .settings()
            .iter()
            .find(|s| s.name() == Some(&ClusterSettingName::ContainerInsights))
            .and_then(|s| s.value())
            .unwrap_or(INSIGHTS);
        if insights != INSIGHTS {
            drift.push(Drift::new("container_insights", INSIGHTS, insights));
        }
        let mut live = Live::new(ids([("cluster_name", name), ("arn", arn)])).with_drift(drift);
        live.details.push((
            "status".into(),
            cluster.status().unwrap_or("unknown").to_owned(),
        ));
        if cluster.status() != Some("ACTIVE") {
            live.health = crate::resources::Health::Pending(format!(
                "cluster status {}",
                cluster.status().unwrap_or("unknown")
            ));
        }
        Ok(Observation::Present(live))
    }

    async fn create(&self, cx: &Cx) -> Result<Ids> {
        let name = cx.stack().to_owned();
        let out = cx
            .aws()
            .ecs
            .create_cluster()
            .cluster_name(&name)
            .set_tags(Some(ecs::tags(cx, &name)))
            .settings(insights_setting())
            .send()
            .await
            .aws(cx, "CreateCluster")?;
        let arn = out
            .cluster()
            .and_then(|c| c.cluster_arn())
            .unwrap_or_default()
            .to_owned();
        Ok(ids([("cluster_name", name), ("arn", arn)]))
    }

    async fn update(&self, cx: &Cx, live: &Live) -> Result<Ids> {
        cx.aws()
            .ecs
            .update_cluster_settings()
            .cluster(live.id("cluster_name")?)
            .settings(insights_setting())
            .send()
            .await
            .aws(cx, "UpdateClusterSettings")?;
        Ok(live.ids.clone())
    }

    async fn wait_ready(&self, cx: &Cx, ids: &Ids) -> Result<()> {
        let name = ids.get("cluster_name").cloned().unwrap_or_default();
        wait::until(
            cx,
            "the cluster to be ACTIVE",
            cx.settings().wait_timeout,
            || {
                let name = name.clone();
                async move {
                    Ok(match self.describe(cx, &name).await? {
                        Some(c) if c.status() == Some("ACTIVE") => Poll::Ready(()),
                        Some(c) if c.status() == Some("FAILED") => {
                            Poll::Failed("ECS reports the cluster FAILED".into())
                        }
                        Some(c) => {
                            Poll::Pending(format!("status {}", c.status().unwrap_or("unknown")))
                        }
                        None => Poll::Failed("the cluster disappeared".into()),
                    })
                }
            },
        )
        .await
    }

    async fn delete(&self, cx: &Cx, live: &Live) -> Result<()> {
        let name = live.id("cluster_name")?.to_owned();
        // Right after the service is deleted ECS may still count its tasks for a moment: retry those refusals.
        wait::until(
            cx,
            "the cluster to accept deletion",
            cx.settings().wait_timeout,
            || {
                let name = name.clone();
                async move {
                    match cx.aws().ecs.delete_cluster().cluster(&name).send().await {
                        Ok(_) => Ok(Poll::Ready(())),
                        Err(e) => match error::code_of(&e) {
                            Some("ClusterNotFoundException") => Ok(Poll::Ready(())),
                            Some(
                                code @ ("ClusterContainsServicesException"
                                | "ClusterContainsTasksException"
                                | "UpdateInProgressException"),
                            ) => Ok(Poll::Pending(code.to_owned())),
                            _ => Err(error::aws(cx.node, "DeleteCluster", e)),
                        },
                    }
                }
            },
        )
        .await
    }
}
