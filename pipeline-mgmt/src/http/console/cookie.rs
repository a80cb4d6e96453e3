//! The session cookie's `Secure` attribute: set when browsers reach mgmt over https, which mgmt
//! itself (plain HTTP behind a TLS-terminating ingress) can only learn from configuration:
//! `server.publicUrl` starting with `https://`, or, with `server.trustForwardedProto`, the
//! `X-Forwarded-Proto: https` header of a trusted ingress. The header is ignored otherwise, since
//! any client could send it.

use axum::http::HeaderMap;
use pipeline_common::config::ServerSettings;

/// `"; Secure"` when the console is served over https, else `""`.
pub(super) fn secure_attribute(server: &ServerSettings, headers: &HeaderMap) -> &'static str {
    let public_https = server
        .public_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    let forwarded_https = server.trust_forwarded_proto
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    if public_https || forwarded_https {
        "; Secure"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline_common::config::{ConfigSource, Settings};

    fn server(vars: &[(&str, &str)]) -> ServerSettings {
        let source = ConfigSource {
            file: None,
            environment: None,
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        Settings::load(&source).unwrap().server
    }

    fn forwarded(proto: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", proto.parse().unwrap());
        headers
    }

    #[test]
    fn secure_only_over_https_from_config_or_a_trusted_forwarded_proto() {
        let plain = server(&[]);
        assert_eq!(secure_attribute(&plain, &HeaderMap::new()), "");
        assert_eq!(
            secure_attribute(&plain, &forwarded("https")),
            "",
            "untrusted header"
        );
        let public = server(&[("FLOW__SERVER__PUBLIC_URL", "HTTPS://flow.example.com")]);
        assert_eq!(secure_attribute(&public, &HeaderMap::new()), "; Secure");
        let trusted = server(&[("FLOW__SERVER__TRUST_FORWARDED_PROTO", "true")]);
        assert_eq!(
            secure_attribute(&trusted, &forwarded("https, http")),
            "; Secure"
        );
        assert_eq!(secure_attribute(&trusted, &forwarded("http")), "");
    }
}
