//! OpenSearch failures that an operator must fix (trust or credentials), told apart from an
//! outage so that readiness and provisioning can name them.

/// The TLS handshake with OpenSearch failed on a certificate: the node's is not trusted by
/// `opensearch.caFile` (or the system roots), its name does not match, or our client certificate
/// was refused.
#[derive(Debug, thiserror::Error)]
#[error("the TLS handshake with OpenSearch failed on a certificate (untrusted CA, name mismatch or refused client certificate)")]
pub struct CertificateRejected;

/// OpenSearch answered 401 or 403: `opensearch.username`/`password` (or the client certificate)
/// is unknown or lacks a privilege.
#[derive(Debug, thiserror::Error)]
#[error("OpenSearch rejected mgmt's credentials ({0}: check opensearch.username / password and its roles)")]
pub struct CredentialsRejected(pub u16);

/// Whether a transport error's cause chain is a certificate failure.
pub fn is_certificate_error(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = cause {
        let text = err.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("handshake") {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Our own words for a failure an operator must fix (refused credentials, an untrusted
/// certificate), for a 502's detail; `None` for anything else, whose cause stays in the log.
pub fn operator_cause(error: &anyhow::Error) -> Option<String> {
    if let Some(rejected) = error.downcast_ref::<CredentialsRejected>() {
        return Some(rejected.to_string());
    }
    error
        .downcast_ref::<CertificateRejected>()
        .map(ToString::to_string)
}
