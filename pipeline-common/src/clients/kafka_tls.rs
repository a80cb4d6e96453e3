//! The TLS half of the librdkafka configuration: each typed `mq.*` TLS key becomes one named
//! property.

use crate::config::MqSettings;
use rdkafka::ClientConfig;

/// Adds the TLS properties of `mq` to `config`; nothing when `mq.tls` is off.
///
/// librdkafka reads the files itself, at client creation, so a file replaced by a rotation is
/// picked up by the next client (a restart), never half-way through a connection.
pub(super) fn apply(mq: &MqSettings, config: &mut ClientConfig) {
    if !mq.tls {
        return;
    }
    if !mq.ca_file.is_empty() {
        config.set("ssl.ca.location", &mq.ca_file);
    }
    if !mq.cert_file.is_empty() {
        config
            .set("ssl.certificate.location", &mq.cert_file)
            .set("ssl.key.location", &mq.key_file);
    }
    if mq.tls_skip_verify {
        config
            .set("enable.ssl.certificate.verification", "false")
            .set("ssl.endpoint.identification.algorithm", "none");
    } else {
        // librdkafka's default since 2.0, stated so that no older default can turn it off.
        config
            .set("enable.ssl.certificate.verification", "true")
            .set("ssl.endpoint.identification.algorithm", "https");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, Settings};

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let source = ConfigSource {
            file: None,
            environment: None,
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        match Settings::load(&source) {
            Ok(settings) => settings,
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn plaintext_sets_no_tls_property() {
        let s = settings(&[]);
        let mut config = ClientConfig::new();
        apply(&s.mq, &mut config);
        assert_eq!(config.get("ssl.ca.location"), None);
        assert_eq!(config.get("enable.ssl.certificate.verification"), None);
    }

    #[test]
    fn tls_verifies_host_names_unless_told_not_to() {
        let s = settings(&[("FLOW__MQ__TLS", "true")]);
        let mut config = ClientConfig::new();
        apply(&s.mq, &mut config);
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        assert_eq!(
            config.get("enable.ssl.certificate.verification"),
            Some("true")
        );

        let s = settings(&[
            ("FLOW__MQ__TLS", "true"),
            ("FLOW__MQ__TLS_SKIP_VERIFY", "true"),
        ]);
        let mut config = ClientConfig::new();
        apply(&s.mq, &mut config);
        assert_eq!(
            config.get("ssl.endpoint.identification.algorithm"),
            Some("none")
        );
        assert_eq!(s.unverified_tls(), vec!["mq.tlsSkipVerify"]);
    }
}
