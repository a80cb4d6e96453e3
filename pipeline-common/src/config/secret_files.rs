//! The `…File` forms of the secret keys and the TLS file keys, checked and read at load time so
//! that a missing mount fails start-up with one line naming the key, not the first connection.

use super::{ConfigError, SecretString, Settings};
use std::path::Path;

impl Settings {
    /// Replaces each secret whose `…File` key is set with the file's content (without the final
    /// line break), and refuses a secret set both inline and by file.
    pub(super) fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let secrets = [
            ("mq", &self.mq.password_file, &mut self.mq.password),
            (
                "opensearch",
                &self.opensearch.password_file,
                &mut self.opensearch.password,
            ),
        ];
        for (section, file, secret) in secrets {
            if file.is_empty() {
                continue;
            }
            if !secret.expose_secret().is_empty() {
                return Err(ConfigError::key(
                    format!("{section}.passwordFile"),
                    format!("set either {section}.password or {section}.passwordFile, not both"),
                ));
            }
            *secret = read_secret(&format!("{section}.passwordFile"), file)?;
        }
        if !self.database.url_file.is_empty() {
            // `database.url` always has a default, so the file simply wins.
            self.database.url = read_secret("database.urlFile", &self.database.url_file)?;
        }
        Ok(())
    }

    /// Checks the TLS file keys: a client certificate comes with its key, Kafka's TLS keys need
    /// `mq.tls`, and every named file is a readable PEM file.
    pub(super) fn validate_tls_files(&self) -> Result<(), ConfigError> {
        let sections = [
            (
                "mq",
                [&self.mq.ca_file, &self.mq.cert_file, &self.mq.key_file],
            ),
            (
                "opensearch",
                [
                    &self.opensearch.ca_file,
                    &self.opensearch.cert_file,
                    &self.opensearch.key_file,
                ],
            ),
        ];
        for (section, [ca, cert, key]) in sections {
            if cert.is_empty() != key.is_empty() {
                return Err(ConfigError::key(
                    format!("{section}.certFile"),
                    format!(
                        "{section}.certFile and {section}.keyFile are set together or not at all"
                    ),
                ));
            }
            for (name, file) in [("caFile", ca), ("certFile", cert), ("keyFile", key)] {
                if !file.is_empty() {
                    check_pem(&format!("{section}.{name}"), file)?;
                }
            }
        }
        let kafka_tls_keys = !(self.mq.ca_file.is_empty() && self.mq.cert_file.is_empty())
            || self.mq.tls_skip_verify;
        if kafka_tls_keys && !self.mq.tls {
            return Err(ConfigError::key(
                "mq.tls",
                "must be true when mq.caFile, mq.certFile or mq.tlsSkipVerify is set",
            ));
        }
        Ok(())
    }

    /// The connections whose certificates are not verified (`…tlsSkipVerify`), for the start-up
    /// warning and the readiness body.
    pub fn unverified_tls(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.mq.tls_skip_verify {
            keys.push("mq.tlsSkipVerify");
        }
        if self.opensearch.tls_skip_verify {
            keys.push("opensearch.tlsSkipVerify");
        }
        keys
    }
}

fn read_secret(key: &str, file: &str) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(Path::new(file))
        .map_err(|e| ConfigError::key(key, format!("cannot read {file}: {e}")))?;
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    let trimmed = trimmed.strip_suffix('\r').unwrap_or(trimmed);
    Ok(SecretString::from(trimmed.to_owned()))
}

fn check_pem(key: &str, file: &str) -> Result<(), ConfigError> {
    let text = std::fs::read(Path::new(file))
        .map_err(|e| ConfigError::key(key, format!("cannot read {file}: {e}")))?;
    if memchr::memmem::find(&text, b"-----BEGIN ").is_none() {
        return Err(ConfigError::key(key, format!("{file} is not a PEM file")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ConfigSource, ExposeSecret};
    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(&ConfigSource {
            file: None,
            environment: None,
            vars: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        })
    }

    fn write(dir: &Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn secrets_are_read_from_their_files_without_the_final_line_break() {
        let dir = tempfile::tempdir().unwrap();
        let mq = write(dir.path(), "mq", "kafka-secret\n");
        let os = write(dir.path(), "os", "search-secret\r\n");
        let db = write(dir.path(), "db", "mysql://u:p@db:3306/x\n");
        let s = load(&[
            ("FLOW__MQ__PASSWORD_FILE", &mq),
            ("FLOW__OPENSEARCH__PASSWORD_FILE", &os),
            ("FLOW__DATABASE__URL_FILE", &db),
        ])
        .unwrap();
        assert_eq!(s.mq.password.expose_secret(), "kafka-secret");
        assert_eq!(s.opensearch.password.expose_secret(), "search-secret");
        assert_eq!(s.database.url.expose_secret(), "mysql://u:p@db:3306/x");
    }

    #[test]
    fn bad_secret_and_tls_files_fail_naming_the_key_never_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let secret = write(dir.path(), "secret", "hunter2-not-pem\n");
        let pem = write(dir.path(), "ca.pem", "-----BEGIN CERTIFICATE-----\n");
        let missing = dir.path().join("missing").to_string_lossy().into_owned();
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("FLOW__MQ__PASSWORD_FILE", &missing)], "mq.passwordFile"),
            (
                &[
                    ("FLOW__MQ__PASSWORD", "inline"),
                    ("FLOW__MQ__PASSWORD_FILE", &secret),
                ],
                "mq.passwordFile",
            ),
            (&[("FLOW__DATABASE__URL_FILE", &secret)], "database.url"),
            (
                &[("FLOW__MQ__TLS", "true"), ("FLOW__MQ__CA_FILE", &secret)],
                "mq.caFile",
            ),
            (&[("FLOW__MQ__CA_FILE", &pem)], "mq.tls"),
            (
                &[
                    ("FLOW__OPENSEARCH__CERT_FILE", &pem),
                    ("FLOW__OPENSEARCH__CA_FILE", &pem),
                ],
                "opensearch.certFile",
            ),
        ];
        for (pairs, key) in cases {
            let err = load(pairs).unwrap_err().to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
            assert!(!err.contains("hunter2"), "{pairs:?}: {err}");
        }
        let ok = load(&[("FLOW__MQ__TLS", "true"), ("FLOW__MQ__CA_FILE", &pem)]).unwrap();
        assert_eq!(ok.mq.ca_file, pem);
        assert!(ok.unverified_tls().is_empty());
    }
}
