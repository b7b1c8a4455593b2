//! The ACM certificate of the HTTPS listener. The stack uses it but does not own it: pre-flight checks that it
//! exists in the stack's region, is `ISSUED` and covers the FQDN; nothing ever changes or deletes it.

use async_trait::async_trait;
use aws_sdk_acm::types::CertificateStatus;

use crate::error::{self, Error, Result};
use crate::resources::Output;
use crate::resources::{Cx, Health, Live, Observation, Resource, WARNING, ids};
use crate::state::Ids;

pub const NODE: &str = "certificate";
pub const CERTIFICATE_ARN: Output = Output::new(NODE, "certificate_arn");

pub struct CertificateResource;

/// True when a certificate name (`DomainName` or one of the `SubjectAlternativeNames`) covers `fqdn`: the same
/// name, or a wildcard `*.<parent>` and `fqdn` is exactly one label below `<parent>` (a wildcard covers neither
/// the parent itself nor names two labels down). Case and a trailing dot do not matter.
pub fn covers(name: &str, fqdn: &str) -> bool {
    let norm = |s: &str| s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (name, fqdn) = (norm(name), norm(fqdn));
    if name.is_empty() || fqdn.is_empty() {
        return false;
    }
    if name == fqdn {
        return true;
    }
    match name.strip_prefix("*.") {
        Some(parent) if !parent.is_empty() && !parent.contains('*') => fqdn
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
        _ => false,
    }
}

/// What the operator can do about a certificate in a status other than `ISSUED`.
fn status_hint(status: &CertificateStatus) -> &'static str {
    match status {
        CertificateStatus::PendingValidation => {
            "finish its validation in ACM (for DNS validation, create the CNAME record ACM shows in the hosted zone) and \
             re-run once ACM reports ISSUED, or pass an issued certificate with --certificate-arn"
        }
        CertificateStatus::Expired => {
            "renew it (re-import a current certificate) or pass another one with --certificate-arn"
        }
        _ => "request or import a new certificate in ACM and pass its ARN with --certificate-arn",
    }
}

#[async_trait]
impl Resource for CertificateResource {
    fn id(&self) -> &'static str {
        NODE
    }
    fn kind(&self) -> &'static str {
        "acm:certificate"
    }
    fn external(&self) -> bool {
        true
    }

    fn missing_message(&self, cx: &Cx) -> String {
        match &cx.settings().certificate_arn {
            None => "certificate: --certificate-arn is not set".into(),
            Some(arn) => format!(
                "certificate: {arn} does not exist in account {} in {}. Check the ARN (an ALB can only use a certificate \
                 of its own account and region), or request or import the certificate in ACM in {}, then re-run",
                cx.shared.account, cx.shared.region, cx.shared.region
            ),
        }
    }

    async fn observe(&self, cx: &Cx, _recorded: Option<&Ids>) -> Result<Observation> {
        let Some(arn) = cx.settings().certificate_arn.clone() else {
            return Ok(Observation::Missing);
        };
        let out = match cx
            .aws()
            .acm
            .describe_certificate()
            .certificate_arn(&arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if error::code_of(&e) == Some("ResourceNotFoundException") => {
                return Ok(Observation::Missing);
            }
            Err(e) if error::code_of(&e) == Some("InvalidArnException") => {
                return Err(Error::Preflight(format!(
                    "certificate: ACM rejects {arn} as a certificate ARN ({}); pass the ARN ACM shows for the certificate",
                    error::aws(cx.node, "DescribeCertificate", e)
                )));
            }
            Err(e) => return Err(error::aws(cx.node, "DescribeCertificate", e)),
        };
        let Some(cert) = out.certificate() else {
            return Ok(Observation::Missing);
        };
        let mut names: Vec<String> = Vec::new();
        for n in cert
            .domain_name()
            .into_iter()
            .chain(cert.subject_alternative_names().iter().map(String::as_str))
        {
            if !names.iter().any(|m| m.eq_ignore_ascii_case(n)) {
                names.push(n.to_owned());
            }
        }
        let mut live = Live::new(ids([("certificate_arn", arn.clone())]));
        let status = cert.status().cloned();
        live.details.push((
            "status".into(),
            status
                .as_ref()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_else(|| "unknown".into()),
        ));
        live.details.push(("names".into(), names.join(",")));
        if let Some(t) = cert.not_after() {
            live.details.push(("not_after".into(), t.to_string()));
        }
        // For `doctor`: who issued it (an imported self-signed certificate is not trusted by clients).
        for (key, value) in [
            ("type", cert.r#type().map(|t| t.as_str())),
            ("issuer", cert.issuer()),
            ("subject", cert.subject()),
        ] {
            if let Some(v) = value {
                live.details.push((key.into(), v.to_owned()));
            }
        }
        match &status {
            Some(CertificateStatus::Issued) => {}
            Some(s) => {
                live.health = Health::Unhealthy(format!(
                    "certificate {arn} is {}, not ISSUED: {}",
                    s.as_str(),
                    status_hint(s)
                ));
                return Ok(Observation::Present(live));
            }
            None => {
                live.health = Health::Unhealthy(format!(
                    "ACM reports no status for certificate {arn}; check it in the ACM console"
                ));
                return Ok(Observation::Present(live));
            }
        }
        if let Some(fqdn) = cx.settings().fqdn()
            && !names.iter().any(|n| covers(n, &fqdn))
        {
            let parent = fqdn.split_once('.').map(|(_, p)| p).unwrap_or(&fqdn);
            live.health = Health::Unhealthy(format!(
                "certificate {arn} covers {} but not {fqdn}: pass a certificate for {fqdn} or *.{parent} with \
                 --certificate-arn, or choose a --subdomain it covers",
                if names.is_empty() {
                    "no names".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
        if let Some(w) = trust_warning(cert) {
            live.details.push((WARNING.into(), w));
        }
        Ok(Observation::Present(live))
    }

    async fn create(&self, _cx: &Cx) -> Result<Ids> {
        Err(Error::other(
            "certificate: is not created by neo4j-gw (it is checked in pre-flight)",
        ))
    }

    async fn delete(&self, _cx: &Cx, _live: &Live) -> Result<()> {
        Err(Error::other("certificate: is never deleted by neo4j-gw"))
    }
}

/// The gateway connects to `https://<fqdn>/mcp` and, like any TLS client, must trust the certificate the load
/// balancer presents (docs/aws-behaviour.md, point 6). A certificate ACM issued (AMAZON_ISSUED) is publicly
/// trusted; an imported one only when a public CA issued it — neo4j-gw cannot tell, so it warns, and says more
/// when the certificate is plainly self-signed (its issuer is its own subject); a private-CA one never is.
fn trust_warning(cert: &aws_sdk_acm::types::CertificateDetail) -> Option<String> {
    use aws_sdk_acm::types::CertificateType;
    let subject_cn = cert
        .subject()
        .unwrap_or_default()
        .trim_start_matches("CN=")
        .split(',')
        .next()
        .unwrap_or_default();
    let self_signed = cert
        .issuer()
        .is_some_and(|i| i == subject_cn || Some(i) == cert.subject());
    match cert.r#type() {
        Some(CertificateType::Imported) if self_signed => Some(
            "the certificate is imported and self-signed: the AgentCore gateway verifies the endpoint's certificate and will not connect (the target fails with a TLS error). Request one from ACM (DNS validation) instead"
                .into(),
        ),
        Some(CertificateType::Imported) => Some(format!(
            "the certificate is imported (issuer: {}): the AgentCore gateway connects only if a public CA issued it;              a certificate requested from ACM always works",
            cert.issuer().unwrap_or("unknown")
        )),
        Some(CertificateType::Private) => Some(
            "the certificate comes from a private CA: the AgentCore gateway verifies the endpoint's certificate against public CAs and will not connect. Request a public certificate from ACM instead"
                .into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{covers, trust_warning};

    #[test]
    fn imported_and_private_certificates_are_warned_about() {
        use aws_sdk_acm::types::{CertificateDetail, CertificateType};
        let cert = |t: CertificateType, issuer: &str| {
            CertificateDetail::builder()
                .r#type(t)
                .issuer(issuer)
                .subject("CN=example.com")
                .build()
        };
        assert_eq!(
            trust_warning(&cert(CertificateType::AmazonIssued, "Amazon")),
            None
        );
        assert!(
            trust_warning(&cert(CertificateType::Imported, "example.com"))
                .unwrap()
                .contains("self-signed")
        );
        let public = trust_warning(&cert(CertificateType::Imported, "Let's Encrypt")).unwrap();
        assert!(
            public.contains("public CA") && !public.contains("self-signed"),
            "{public}"
        );
        assert!(
            trust_warning(&cert(CertificateType::Private, "Corp CA"))
                .unwrap()
                .contains("private CA")
        );
    }

    #[test]
    fn exact_names_cover_themselves_only() {
        assert!(covers("mcp.example.com", "mcp.example.com"));
        assert!(covers("MCP.Example.com.", "mcp.example.com"));
        assert!(covers("mcp.example.com", "mcp.example.com."));
        assert!(!covers("example.com", "mcp.example.com"));
        assert!(!covers("mcp.example.com", "example.com"));
        assert!(!covers("mcp.example.org", "mcp.example.com"));
        assert!(!covers("", "mcp.example.com"));
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(covers("*.example.com", "mcp.example.com"));
        assert!(covers("*.Example.COM", "Mcp.example.com"));
        assert!(
            !covers("*.example.com", "example.com"),
            "a wildcard does not cover its parent"
        );
        assert!(
            !covers("*.example.com", "a.mcp.example.com"),
            "a wildcard covers one label only"
        );
        assert!(covers("*.eu.example.com", "mcp.eu.example.com"));
        assert!(!covers("*.example.com", "mcp.example.org"));
        assert!(!covers("*.", "mcp.example.com"));
        assert!(!covers("*", "mcp"));
        assert!(!covers("*.*.com", "a.b.com"));
        assert!(
            !covers("mcp*.example.com", "mcp1.example.com"),
            "partial-label wildcards are not ACM names"
        );
        assert!(!covers("*.example.com", ".example.com"));
    }
}
