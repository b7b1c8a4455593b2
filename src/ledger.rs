//! The call ledger: an SDK interceptor that records every AWS operation (service, operation, duration,
//! attempts, outcome). `-vv` prints each entry; `NEO4J_GW_CALL_LOG=<file>` appends them as JSON lines.
//! Only names, timings and status codes are recorded — never a request or response body.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;

tokio::task_local! {
    /// The resource and phase the engine is working on in this task (`vpc`, `observe`): each call made inside is
    /// recorded with them, so a run's requests can be accounted for per resource and phase.
    pub static SCOPE: (&'static str, &'static str);
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub ts: String,
    pub service: String,
    pub operation: String,
    pub mutating: bool,
    pub duration_ms: u64,
    pub attempts: u32,
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The resource and phase the call was made for, when made by the engine ([`SCOPE`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<&'static str>,
}

/// Whether an operation changes anything, judged by its name (AWS names read-only calls Describe/Get/List/Filter…).
pub fn is_mutating(operation: &str) -> bool {
    ![
        "Describe", "Get", "List", "Head", "Lookup", "Search", "BatchGet", "Filter",
    ]
    .iter()
    .any(|p| operation.starts_with(p))
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Entry>,
}

/// Shared by every SDK client of a run.
#[derive(Debug, Clone)]
pub struct Ledger {
    inner: Arc<Mutex<Inner>>,
    file: Option<PathBuf>,
    print: bool,
}

impl Ledger {
    pub fn new(file: Option<PathBuf>, print: bool) -> Self {
        Ledger {
            inner: Arc::default(),
            file,
            print,
        }
    }

    fn record(&self, entry: Entry) {
        if self.print {
            tracing::info!(
                target: "neo4j_gw::ledger",
                "aws {}:{} {} in {} ms ({} attempt{}){}",
                entry.service,
                entry.operation,
                entry.outcome,
                entry.duration_ms,
                entry.attempts,
                if entry.attempts == 1 { "" } else { "s" },
                entry.http_status.map(|s| format!(" HTTP {s}")).unwrap_or_default()
            );
        }
        if let Some(path) = &self.file
            && let Ok(line) = serde_json::to_string(&entry)
            && let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path)
        {
            // One write per line keeps lines whole when several processes append to one file.
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
        if let Ok(mut i) = self.inner.lock() {
            i.entries.push(entry);
        }
    }
}

#[derive(Debug, Clone)]
struct CallStart {
    at: Instant,
    attempts: u32,
}

impl Storable for CallStart {
    type Storer = StoreReplace<Self>;
}

impl Intercept for Ledger {
    fn name(&self) -> &'static str {
        "neo4j-gw call ledger"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(CallStart {
            at: Instant::now(),
            attempts: 0,
        });
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(start) = cfg.load::<CallStart>().cloned() {
            cfg.interceptor_state().store_put(CallStart {
                attempts: start.attempts + 1,
                ..start
            });
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_owned(), m.name().to_owned()))
            .unwrap_or_else(|| ("unknown".into(), "unknown".into()));
        let start = cfg.load::<CallStart>().cloned();
        let outcome = match context.output_or_error() {
            Some(Ok(_)) => "ok",
            _ => "error",
        };
        self.record(Entry {
            ts: crate::state::now(),
            mutating: is_mutating(&operation),
            service,
            operation,
            duration_ms: start
                .as_ref()
                .map(|s| s.at.elapsed().as_millis() as u64)
                .unwrap_or(0),
            attempts: start.map(|s| s.attempts).unwrap_or(0),
            outcome,
            http_status: context.response().map(|r| r.status().as_u16()),
            node: SCOPE.try_with(|s| s.0).ok(),
            phase: SCOPE.try_with(|s| s.1).ok(),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_mutating;

    #[test]
    fn classifies_operations() {
        for op in [
            "DescribeVpcs",
            "GetGateway",
            "ListTagsForResource",
            "GetCallerIdentity",
            "FilterLogEvents",
        ] {
            assert!(!is_mutating(op), "{op}");
        }
        for op in [
            "CreateVpc",
            "AuthorizeSecurityGroupIngress",
            "PutSecretValue",
            "UpdateGateway",
            "DeleteVpc",
        ] {
            assert!(is_mutating(op), "{op}");
        }
    }
}
