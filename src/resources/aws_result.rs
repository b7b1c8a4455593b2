//! Shorthands for the answer of one AWS call a node makes: `.aws(cx, "Op")?` turns a failure into an
//! [`Error::Aws`](crate::error::Error::Aws) that names the node and the operation (what `error::aws` says), and
//! `.or_gone(cx, "Op", gone)?` also turns the "not found" answer into `None`.
//!
//! `or_gone` takes the SDK's typed check of the operation's modelled error (e.g.
//! `|e| e.is_resource_not_found_exception()`): the compiler then proves that the operation declares that error, and
//! the SDK maps the answer's code to it. `or_gone_code` takes the code for the services whose models declare no
//! errors (EC2 answers only with codes) and for helpers that recognise the not-found codes of several operations at
//! once (`elb::is_not_found`, `ecs::is_not_found`).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{self, Result};
use crate::resources::Cx;

pub trait AwsResult<T, E> {
    /// The answer, or an [`Error::Aws`](crate::error::Error::Aws) naming this node and `action`.
    fn aws(self, cx: &Cx, action: &str) -> Result<T>;

    /// The answer; `None` when the service's error is one `gone` recognises; any other failure as [`Self::aws`].
    fn or_gone(self, cx: &Cx, action: &str, gone: impl FnOnce(&E) -> bool) -> Result<Option<T>>;

    /// The answer; `None` when the error code is one `gone` accepts; any other failure as [`Self::aws`].
    fn or_gone_code(
        self,
        cx: &Cx,
        action: &str,
        gone: impl FnOnce(Option<&str>) -> bool,
    ) -> Result<Option<T>>;
}

impl<T, E, R> AwsResult<T, E> for std::result::Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn aws(self, cx: &Cx, action: &str) -> Result<T> {
        failed(self, cx.node, action)
    }

    fn or_gone(self, cx: &Cx, action: &str, gone: impl FnOnce(&E) -> bool) -> Result<Option<T>> {
        gone_if(self, cx.node, action, |e| {
            e.as_service_error().is_some_and(gone)
        })
    }

    fn or_gone_code(
        self,
        cx: &Cx,
        action: &str,
        gone: impl FnOnce(Option<&str>) -> bool,
    ) -> Result<Option<T>> {
        gone_if(self, cx.node, action, |e| gone(e.code()))
    }
}

fn failed<T, E>(r: std::result::Result<T, E>, node: &str, action: &str) -> Result<T>
where
    E: ProvideErrorMetadata + std::error::Error,
{
    r.map_err(|e| error::aws(node, action, e))
}

fn gone_if<T, E>(
    r: std::result::Result<T, E>,
    node: &str,
    action: &str,
    gone: impl FnOnce(&E) -> bool,
) -> Result<Option<T>>
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(error::aws(node, action, e)),
    }
}

#[cfg(test)]
// The SDK's own result type, as every call returns it.
#[allow(clippy::result_large_err)]
mod tests {
    use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretError;
    use aws_sdk_secretsmanager::types::error::{
        InvalidParameterException, ResourceNotFoundException,
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    type Answer = std::result::Result<u8, SdkError<DescribeSecretError, Response>>;

    fn answer(error: DescribeSecretError) -> Answer {
        let response = Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        Err(SdkError::service_error(error, response))
    }

    fn meta(code: &str) -> ErrorMetadata {
        ErrorMetadata::builder()
            .code(code)
            .message("it says so")
            .build()
    }

    fn not_found() -> Answer {
        answer(DescribeSecretError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("it says so")
                .meta(meta("ResourceNotFoundException"))
                .build(),
        ))
    }

    fn invalid() -> Answer {
        answer(DescribeSecretError::InvalidParameterException(
            InvalidParameterException::builder()
                .message("it says so")
                .meta(meta("InvalidParameterException"))
                .build(),
        ))
    }

    fn typed_gone(r: Answer) -> Result<Option<u8>> {
        gone_if(r, "secret", "DescribeSecret", |e| {
            e.as_service_error()
                .is_some_and(DescribeSecretError::is_resource_not_found_exception)
        })
    }

    #[test]
    fn a_failure_names_the_node_the_operation_and_the_code_as_error_aws_does() {
        let e = failed(invalid(), "secret", "DescribeSecret").unwrap_err();
        let by_hand = error::aws("secret", "DescribeSecret", invalid().unwrap_err());
        assert_eq!(e.to_string(), by_hand.to_string());
        assert!(
            e.to_string()
                .starts_with("secret: DescribeSecret failed (InvalidParameterException)"),
            "{e}"
        );
        assert_eq!(e.aws_code(), Some("InvalidParameterException"));
        assert_eq!(
            failed(Answer::Ok(7), "secret", "DescribeSecret").unwrap(),
            7
        );
    }

    #[test]
    fn the_typed_not_found_answer_is_none_and_any_other_error_stays_an_error() {
        assert_eq!(typed_gone(Answer::Ok(7)).unwrap(), Some(7));
        assert_eq!(typed_gone(not_found()).unwrap(), None);
        let e = typed_gone(invalid()).unwrap_err();
        assert_eq!(e.aws_code(), Some("InvalidParameterException"));
    }

    #[test]
    fn the_code_check_sees_the_code_of_the_answer() {
        let by_code = |r: Answer| {
            gone_if(r, "secret", "DescribeSecret", |e| {
                e.code() == Some("ResourceNotFoundException")
            })
        };
        assert_eq!(by_code(not_found()).unwrap(), None);
        assert!(by_code(invalid()).is_err());
    }
}
