//! Typed errors and the exit codes they map to.
//!
//! Every error names what it is about (a setting, a resource, the state file), and, for AWS failures,
//! the AWS error code and what the operator can do about it. No error message ever carries a secret:
//! the values we put into errors are names, IDs and AWS's own error text.

use std::fmt;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Process exit codes (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_HEALTHY: i32 = 3;
    pub const LOCKED: i32 = 4;
    /// Standard output was closed by its reader (`| head`): the process ends quietly, as if by SIGPIPE.
    pub const BROKEN_PIPE: i32 = 141;
    pub const SIGINT: i32 = 130;
    pub const SIGTERM: i32 = 143;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is missing or malformed; nothing was sent to AWS.
    #[error("{setting}: {message}")]
    Usage { setting: String, message: String },
    /// A pre-flight check of something the stack uses but does not own failed; nothing was created.
    #[error("{0}")]
    Preflight(String),
    /// Another run holds the stack's lock.
    #[error("{0}")]
    Locked(String),
    /// The state file cannot be used.
    #[error("{0}")]
    State(String),
    /// An AWS call failed.
    #[error("{0}")]
    Aws(AwsFailure),
    /// A wait ran out of time or reached a failed state.
    #[error("{0}")]
    Wait(String),
    /// A resource exists under our deterministic name but is not tagged as this stack's.
    #[error("{0}")]
    Conflict(String),
    /// A node of a walk was not worked on because a node it depends on failed (counted apart from the failures).
    #[error("{0}")]
    Skipped(String),
    /// The run was interrupted by a signal after the state was flushed.
    #[error(
        "interrupted by {0}; the state is saved and the next run resumes where this one stopped"
    )]
    Interrupted(&'static str),
    /// Several resources failed in one engine walk.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn usage(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Usage {
            setting: setting.into(),
            message: message.into(),
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        Error::Other(message.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage { .. } | Error::Preflight(_) => exit::USAGE,
            Error::Locked(_) => exit::LOCKED,
            Error::Interrupted("SIGTERM") => exit::SIGTERM,
            Error::Interrupted(_) => exit::SIGINT,
            Error::Many(errors) => errors
                .iter()
                .map(Error::exit_code)
                .find(|c| *c == exit::SIGINT || *c == exit::SIGTERM)
                .unwrap_or(exit::FAILED),
            _ => exit::FAILED,
        }
    }

    /// True when another look is worth it: the call failed for a passing reason (throttling, a 5xx, a
    /// timeout, a dropped connection) — so its outcome may be unknown: AWS may have carried it out and the
    /// answer been lost — or it says the resource already exists, which after an observe that found nothing
    /// means an earlier attempt of this run made it, or "not found", the answer to a repeated delete (and
    /// to an ID EC2 does not know yet right after creating it). The engine then observes again (adopting what
    /// is there, or finding it gone) instead of failing the run; see `Engine::again_after_uncertain`.
    pub fn worth_another_look(&self) -> bool {
        match self {
            Error::Aws(f) => match f.code.as_deref() {
                // No AWS error code: the request timed out or the connection failed.
                None => true,
                Some(code) => {
                    transient_code(code)
                        || exists_code(code)
                        || gone_code(code)
                        // Cognito says "already exists" this way (e.g. CreateResourceServer).
                        || (code == "InvalidParameterException"
                            && f.message.contains("already exists"))
                }
            },
            _ => false,
        }
    }

    /// The AWS error code, if this is an AWS failure.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws(f) => f.code.as_deref(),
            _ => None,
        }
    }
}

/// A failed AWS call, described for an operator.
#[derive(Debug)]
pub struct AwsFailure {
    pub resource: String,
    pub action: String,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for AwsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} failed", self.resource, self.action)?;
        match &self.code {
            Some(code) => write!(f, " ({code}): {}", self.message)?,
            None => write!(f, ": {}", self.message)?,
        }
        write!(f, ". {}", hint(self.code.as_deref()))
    }
}

/// Error codes AWS uses for failures that pass: throttling and server-side errors.
fn transient_code(code: &str) -> bool {
    code.contains("Throttl")
        || matches!(
            code,
            "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "ServiceUnavailable"
                | "ServiceUnavailableException"
                | "Unavailable"
                | "InternalError"
                | "InternalFailure"
                | "InternalServerError"
                | "InternalServerException"
                | "ServiceException"
                | "ServiceFailure"
                | "RequestTimeout"
                | "RequestTimeoutException"
                | "PriorRequestNotComplete"
        )
}

/// Error codes that say "not found": the answer to a repeated delete (its first answer was lost), or AWS's
/// eventual consistency right after a create (EC2 does not always know a new ID at once).
fn gone_code(code: &str) -> bool {
    code.contains("NotFound") || matches!(code, "NoSuchEntity" | "ResourceNotFoundException")
}

/// Error codes that say "it already exists" (the answer to a repeated create).
fn exists_code(code: &str) -> bool {
    code.contains("AlreadyExists")
        || code.contains("Duplicate")
        || matches!(
            code,
            "ResourceExistsException"
                | "ResourceConflictException"
                | "RouteAlreadyExists"
                | "Resource.AlreadyAssociated"
                | "ConflictException"
                // ELBv2 CreateRule repeated (no client token): the first attempt's rule holds the priority.
                | "PriorityInUse"
        )
}

/// What the operator can do about an AWS error code.
fn hint(code: Option<&str>) -> &'static str {
    match code {
        Some(c)
            if c.contains("AccessDenied") || c == "UnauthorizedOperation" || c == "AuthFailure" =>
        {
            "The credentials in use lack this permission: grant it (see the README's IAM section) and re-run"
        }
        Some(
            "InvalidClientTokenId"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "UnrecognizedClientException",
        ) => {
            "The AWS credentials are invalid or expired: refresh them (e.g. `aws sso login`) and re-run"
        }
        Some(c)
            if c.contains("Throttl")
                || c == "RequestLimitExceeded"
                || c == "TooManyRequestsException" =>
        {
            "AWS is throttling requests: wait a minute and re-run; the run resumes where it stopped"
        }
        Some(c) if c.contains("LimitExceeded") || c.contains("QuotaExceeded") => {
            "An account quota is reached: remove unused resources or request a quota increase, then re-run"
        }
        Some("DependencyViolation" | "ResourceInUse" | "ResourceInUseException") => {
            "Something outside this stack still uses it: remove that dependency, then re-run `neo4j-gw down`"
        }
        _ => "Re-run the command to retry; neo4j-gw resumes where it stopped",
    }
}

/// Turns an SDK error into an [`Error::Aws`] that names the resource and the action.
pub fn aws<E>(resource: impl Into<String>, action: impl Into<String>, err: E) -> Error
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let code = err.code().map(str::to_owned);
    let message = match err.message() {
        Some(m) => m.to_owned(),
        None => describe_chain(&err),
    };
    Error::Aws(AwsFailure {
        resource: resource.into(),
        action: action.into(),
        code,
        message,
    })
}

/// The source chain of an error without an AWS message (connection failures, timeouts).
pub fn describe_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// The AWS error code of an SDK error, for callers that branch on it (e.g. "NotFound" during observe).
pub fn code_of<E: ProvideErrorMetadata>(err: &E) -> Option<&str> {
    err.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_failure_names_resource_code_and_hint() {
        let f = AwsFailure {
            resource: "vpc".into(),
            action: "CreateVpc".into(),
            code: Some("VpcLimitExceeded".into()),
            message: "The maximum number of VPCs has been reached.".into(),
        };
        let text = f.to_string();
        assert!(
            text.starts_with("vpc: CreateVpc failed (VpcLimitExceeded)"),
            "{text}"
        );
        assert!(text.contains("quota"), "{text}");
    }

    #[test]
    fn worth_another_look_for_lost_answers_and_repeats_only() {
        let aws = |code: Option<&str>| {
            Error::Aws(AwsFailure {
                resource: "vpc".into(),
                action: "CreateVpc".into(),
                code: code.map(str::to_owned),
                message: "m".into(),
            })
        };
        for code in [
            None,
            Some("Throttling"),
            Some("ThrottlingException"),
            Some("RequestLimitExceeded"),
            Some("ServiceUnavailable"),
            Some("InternalServerException"),
            Some("ResourceAlreadyExistsException"),
            Some("EntityAlreadyExists"),
            Some("InvalidGroup.Duplicate"),
            Some("InvalidPermission.Duplicate"),
            Some("RouteAlreadyExists"),
            Some("ResourceConflictException"),
            Some("InvalidAssociationID.NotFound"),
            Some("NoSuchEntity"),
        ] {
            assert!(aws(code).worth_another_look(), "{code:?}");
        }
        for code in [
            "AccessDenied",
            "UnauthorizedOperation",
            "ValidationException",
            "InvalidParameterValue",
            "VpcLimitExceeded",
            "DependencyViolation",
        ] {
            assert!(!aws(Some(code)).worth_another_look(), "{code}");
        }
        let cognito = |message: &str| {
            Error::Aws(AwsFailure {
                resource: "resource-server".into(),
                action: "CreateResourceServer".into(),
                code: Some("InvalidParameterException".into()),
                message: message.into(),
            })
        };
        assert!(cognito("gw already exists in user pool p.").worth_another_look());
        assert!(!cognito("Invalid scope name").worth_another_look());
        assert!(!Error::other("x").worth_another_look());
        assert!(!Error::Interrupted("SIGINT").worth_another_look());
        assert!(!Error::Conflict("x".into()).worth_another_look());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Error::usage("stack", "bad").exit_code(), exit::USAGE);
        assert_eq!(Error::Preflight("x".into()).exit_code(), exit::USAGE);
        assert_eq!(Error::Locked("x".into()).exit_code(), exit::LOCKED);
        assert_eq!(Error::Interrupted("SIGTERM").exit_code(), exit::SIGTERM);
        assert_eq!(Error::Interrupted("SIGINT").exit_code(), exit::SIGINT);
        assert_eq!(
            Error::Many(vec![Error::other("a"), Error::Interrupted("SIGINT")]).exit_code(),
            exit::SIGINT
        );
        assert_eq!(Error::other("x").exit_code(), exit::FAILED);
    }
}
