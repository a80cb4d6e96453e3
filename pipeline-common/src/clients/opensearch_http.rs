//! The one description of how we reach OpenSearch over HTTP(S): trusted CA, client certificate,
//! basic auth and the development-only skip-verify switch, applied to both HTTP stacks we use
//! (the `opensearch` crate's transport for mgmt's provisioning, and the plain `reqwest` client of
//! the worker's bulk path).

use crate::config::{ExposeSecret, OpenSearchSettings};
use std::time::Duration;

/// A TLS file that cannot be used; names the key and the file, never the content.
#[derive(Debug, thiserror::Error)]
#[error("opensearch.{key} ({file}): {reason}")]
pub struct TlsFileError {
    key: &'static str,
    file: String,
    reason: String,
}

/// A PEM file's path and content.
#[derive(Clone)]
struct PemFile {
    key: &'static str,
    path: String,
    pem: Vec<u8>,
}

impl PemFile {
    fn read(key: &'static str, path: &str) -> Result<Self, TlsFileError> {
        let pem = std::fs::read(path).map_err(|e| TlsFileError {
            key,
            file: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(PemFile {
            key,
            path: path.to_owned(),
            pem,
        })
    }

    fn invalid(&self, reason: impl std::fmt::Display) -> TlsFileError {
        TlsFileError {
            key: self.key,
            file: self.path.clone(),
            reason: reason.to_string(),
        }
    }
}

/// The TLS and authentication material of `opensearch.*`, read from its files once.
#[derive(Clone)]
pub struct OpenSearchAccess {
    ca_pem: Option<PemFile>,
    /// Client certificate and key.
    identity: Option<(PemFile, PemFile)>,
    skip_verify: bool,
    basic: Option<(String, String)>,
}

impl std::fmt::Debug for OpenSearchAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key and the password stay out of every debug print.
        f.debug_struct("OpenSearchAccess")
            .field("ca", &self.ca_pem.is_some())
            .field("client_certificate", &self.identity.is_some())
            .field("skip_verify", &self.skip_verify)
            .field("user", &self.basic.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl OpenSearchAccess {
    /// Reads the CA and client certificate files named by `settings`.
    pub fn from_settings(settings: &OpenSearchSettings) -> Result<Self, TlsFileError> {
        let ca_pem = match settings.ca_file.as_str() {
            "" => None,
            file => Some(PemFile::read("caFile", file)?),
        };
        let identity = match (settings.cert_file.as_str(), settings.key_file.as_str()) {
            ("", _) | (_, "") => None,
            (cert, key) => Some((
                PemFile::read("certFile", cert)?,
                PemFile::read("keyFile", key)?,
            )),
        };
        let basic = (!settings.username.is_empty()).then(|| {
            (
                settings.username.clone(),
                settings.password.expose_secret().to_owned(),
            )
        });
        Ok(OpenSearchAccess {
            ca_pem,
            identity,
            skip_verify: settings.tls_skip_verify,
            basic,
        })
    }

    /// The basic-auth user and password, when a user is configured.
    pub fn basic_auth(&self) -> Option<&(String, String)> {
        self.basic.as_ref()
    }

    /// A `reqwest` client (rustls) trusting the configured CA and presenting the client
    /// certificate. Basic auth is per request: see [`OpenSearchAccess::basic_auth`].
    pub fn reqwest_client(&self, timeout: Duration) -> Result<reqwest::Client, TlsFileError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .no_proxy();
        if let Some(ca) = &self.ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(|e| ca.invalid(e))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some((cert, key)) = &self.identity {
            let mut pem = cert.pem.clone();
            pem.push(b'\n');
            pem.extend_from_slice(&key.pem);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| cert.invalid(e))?;
            builder = builder.identity(identity);
        }
        if self.skip_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| TlsFileError {
            key: "urls",
            file: String::new(),
            reason: e.to_string(),
        })
    }

    /// Applies the same trust, client certificate and credentials to an `opensearch` transport
    /// (native TLS, which takes the client certificate as PKCS#12).
    pub fn apply_to_transport(
        &self,
        mut builder: opensearch::http::transport::TransportBuilder,
    ) -> Result<opensearch::http::transport::TransportBuilder, TlsFileError> {
        use opensearch::auth::{ClientCertificate, Credentials};
        use opensearch::cert::{Certificate, CertificateValidation};
        if self.skip_verify {
            builder = builder.cert_validation(CertificateValidation::None);
        } else if let Some(ca) = &self.ca_pem {
            let chain = Certificate::from_pem(&ca.pem).map_err(|e| ca.invalid(e))?;
            builder = builder.cert_validation(CertificateValidation::Full(chain));
        }
        match (&self.identity, &self.basic) {
            (Some((cert, key)), basic) => {
                let der = pkcs12_der(cert, key)?;
                builder = builder.auth(Credentials::Certificate(ClientCertificate::Pkcs12(
                    der,
                    Some(String::new()),
                )));
                // The transport takes one kind of credentials; basic auth beside a client
                // certificate travels as a header.
                if let Some((user, password)) = basic {
                    builder = builder.header(
                        opensearch::http::headers::AUTHORIZATION,
                        basic_header(user, password)?,
                    );
                }
            }
            (None, Some((user, password))) => {
                builder = builder.auth(Credentials::Basic(user.clone(), password.clone()));
            }
            (None, None) => {}
        }
        Ok(builder)
    }
}

fn basic_header(
    user: &str,
    password: &str,
) -> Result<opensearch::http::headers::HeaderValue, TlsFileError> {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = opensearch::http::headers::HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|_| TlsFileError {
            key: "username",
            file: String::new(),
            reason: "is not a valid HTTP header value".into(),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The PEM certificate and key as the PKCS#12 archive native TLS wants, with an empty password.
fn pkcs12_der(cert: &PemFile, key: &PemFile) -> Result<Vec<u8>, TlsFileError> {
    let x509 = openssl::x509::X509::from_pem(&cert.pem).map_err(|e| cert.invalid(e))?;
    let pkey = openssl::pkey::PKey::private_key_from_pem(&key.pem).map_err(|e| key.invalid(e))?;
    let archive = openssl::pkcs12::Pkcs12::builder()
        .name("flow-stream")
        .pkey(&pkey)
        .cert(&x509)
        .build2("")
        .map_err(|e| cert.invalid(e))?;
    archive.to_der().map_err(|e| cert.invalid(e))
}
