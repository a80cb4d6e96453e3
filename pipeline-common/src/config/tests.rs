use super::*;
use std::io::Write;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load_with(
    file: Option<PathBuf>,
    env: Option<&str>,
    pairs: &[(&str, &str)],
) -> Result<Settings, ConfigError> {
    Settings::load(&ConfigSource {
        file,
        environment: env.map(str::to_owned),
        vars: vars(pairs),
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    path
}

#[test]
fn defaults_match_design() {
    let s = load_with(None, None, &[]).unwrap();
    assert_eq!(s.server.http_port, 13012);
    assert_eq!(s.server.bind_address.to_string(), "0.0.0.0");
    assert_eq!(s.server.flush_mib, 5);
    assert_eq!(s.server.flush_items, 10000);
    assert_eq!(s.server.flush_interval_sec, 3);
    assert_eq!(s.server.failure_threshold, 10);
    assert_eq!(s.server.watch_workers_interval_min, 5);
    assert_eq!(s.kafka.session_timeout_ms, 45000);
    assert_eq!(s.kafka.socket_timeout_ms, 60000);
    assert_eq!(s.kafka.max_poll_interval_ms, 300000);
    assert_eq!(s.kafka.auto_offset_reset, AutoOffsetReset::Earliest);
    assert_eq!(s.kafka.topic_prefix, "pipeline");
    assert_eq!(s.mq.bootstrap_servers(), "127.0.0.1:9092");
    assert_eq!(s.mq.mechanism, SaslMechanism::Plain);
    assert!(!s.mq.tls);
    assert_eq!(
        s.database.url.expose_secret(),
        "mysql://pipeline@127.0.0.1:3306/pipelines"
    );
    assert_eq!(s.database.max_connections, 10);
    assert_eq!(s.opensearch.urls, vec!["http://127.0.0.1:9200".to_string()]);
    assert_eq!(s.geoip.database, "");
    assert!(s.auth.tokens.is_empty());
    assert_eq!(s.log.log_level, "info");
    assert!(!s.log.develop_mode);
    assert_eq!(
        s.default_flush(),
        crate::model::FlushPolicy {
            max_bytes: 5 * 1024 * 1024,
            max_items: 10000,
            interval: std::time::Duration::from_millis(3000),
        }
    );
}

#[test]
fn repository_config_file_loads_and_names_every_key() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/pipeline-config.yaml");
    let s = load_with(Some(file.clone()), None, &[]).unwrap();
    assert_eq!(s.server.http_port, 13012);
    // The shipped file documents every key of the defaults, so operators see them all.
    let shipped: serde_json::Value =
        serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let defaults: serde_json::Value = serde_yaml::from_str(DEFAULTS_YAML).unwrap();
    for (section, keys) in defaults.as_object().unwrap() {
        for key in keys.as_object().unwrap().keys() {
            assert!(
                shipped.get(section).and_then(|s| s.get(key)).is_some(),
                "config/pipeline-config.yaml lacks {section}.{key}"
            );
        }
    }
}

#[test]
fn file_then_overlay_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(
        dir.path(),
        "pipeline-config.yaml",
        "server:\n  httpPort: 14000\n  flushItems: 500\nkafka:\n  topicPrefix: base\n",
    );
    write(
        dir.path(),
        "pipeline-config.staging.yaml",
        "server:\n  flushItems: 700\nkafka:\n  topicPrefix: staged\n",
    );
    let s = load_with(
        Some(base.clone()),
        Some("staging"),
        &[("FLOW__KAFKA__TOPIC_PREFIX", "from-env")],
    )
    .unwrap();
    assert_eq!(s.server.http_port, 14000, "base file applies");
    assert_eq!(s.server.flush_items, 700, "overlay overrides the base");
    assert_eq!(
        s.kafka.topic_prefix, "from-env",
        "environment overrides the overlay"
    );
    assert_eq!(s.server.flush_mib, 5, "untouched keys keep their defaults");

    // Without the selector the overlay is not read.
    let s = load_with(Some(base), None, &[]).unwrap();
    assert_eq!(s.server.flush_items, 500);
}

#[test]
fn env_overrides_every_kind_of_key() {
    let digest = "a".repeat(64);
    let tokens = format!(r#"[{{"name":"ops","role":"editor","sha256":"{digest}"}}]"#);
    let s = load_with(
        None,
        None,
        &[
            ("FLOW__SERVER__HTTP_PORT", "15000"),
            ("FLOW__SERVER__HTTPPORT_IGNORED_NOT", "x"),
        ],
    );
    assert!(
        matches!(s, Err(ConfigError::Env { .. })),
        "unknown keys are rejected"
    );

    let s = load_with(
        None,
        None,
        &[
            ("FLOW__SERVER__HTTP_PORT", "15000"),
            ("FLOW__SERVER__FLUSHMIB", "8"),
            ("FLOW__MQ__MQ_HOST", "kafka.internal"),
            ("FLOW__MQ__TLS", "true"),
            ("FLOW__MQ__USERNAME", "svc"),
            ("FLOW__MQ__PASSWORD", "12345"),
            ("FLOW__MQ__MECHANISM", "SCRAM-SHA-512"),
            ("FLOW__KAFKA__AUTO_OFFSET_RESET", "latest"),
            ("FLOW__OPENSEARCH__URLS", "http://a:9200, http://b:9200"),
            ("FLOW__AUTH__TOKENS", &tokens),
            ("FLOW__LOG__DEVELOP_MODE", "on"),
            ("UNRELATED", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(s.server.http_port, 15000);
    assert_eq!(s.server.flush_mib, 8);
    assert_eq!(s.mq.mq_host, "kafka.internal");
    assert!(s.mq.tls);
    assert_eq!(s.mq.security_protocol(), "sasl_ssl");
    assert_eq!(s.mq.password.expose_secret(), "12345");
    assert_eq!(s.mq.mechanism, SaslMechanism::ScramSha512);
    assert_eq!(s.kafka.auto_offset_reset, AutoOffsetReset::Latest);
    assert_eq!(s.opensearch.urls, vec!["http://a:9200", "http://b:9200"]);
    assert_eq!(s.auth.tokens.len(), 1);
    assert_eq!(s.auth.tokens[0].role, Role::Editor);
    assert!(s.log.develop_mode);
}

#[test]
fn bad_values_fail_with_one_line_naming_the_key() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("FLOW__SERVER__HTTP_PORT", "not-a-port")],
            "server.httpPort",
        ),
        (&[("FLOW__SERVER__HTTP_PORT", "70000")], "server.httpPort"),
        (&[("FLOW__SERVER__FLUSH_ITEMS", "0")], "server.flushItems"),
        (
            &[("FLOW__SERVER__BIND_ADDRESS", "localhost:80")],
            "server.bindAddress",
        ),
        (
            &[("FLOW__KAFKA__AUTO_OFFSET_RESET", "sometimes")],
            "kafka.autoOffsetReset",
        ),
        (
            &[("FLOW__KAFKA__TOPIC_PREFIX", "bad prefix!")],
            "kafka.topicPrefix",
        ),
        (&[("FLOW__MQ__TLS", "perhaps")], "mq.tls"),
        (
            &[("FLOW__OPENSEARCH__URLS", "ftp://x")],
            "opensearch.urls[0]",
        ),
        (&[("FLOW__DATABASE__URL", "postgres://x")], "database.url"),
        (&[("FLOW__LOG__LOG_LEVEL", "[[[")], "log.logLevel"),
        (
            &[(
                "FLOW__AUTH__TOKENS",
                r#"[{"name":"x","role":"admin","sha256":"short"}]"#,
            )],
            "auth.tokens[0].sha256",
        ),
        (
            &[(
                "FLOW__AUTH__TOKENS",
                r#"[{"name":"x","role":"root","sha256":"short"}]"#,
            )],
            "auth.tokens[0].role",
        ),
    ];
    for (pairs, key) in cases {
        let err = load_with(None, None, pairs).unwrap_err().to_string();
        assert!(
            err.contains(key),
            "{pairs:?}: error {err:?} should name {key}"
        );
        assert!(!err.contains('\n'), "one line: {err:?}");
    }
}

#[test]
fn bad_file_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let typo = write(dir.path(), "c.yaml", "server:\n  httpProt: 1\n");
    let err = load_with(Some(typo), None, &[]).unwrap_err().to_string();
    assert!(err.contains("httpProt"), "{err}");
    let wrong = write(dir.path(), "d.yaml", "server:\n  failureThreshold: many\n");
    let err = load_with(Some(wrong), None, &[]).unwrap_err().to_string();
    assert!(err.contains("server.failureThreshold"), "{err}");
    let missing = load_with(Some(dir.path().join("absent.yaml")), None, &[]).unwrap_err();
    assert!(missing.to_string().contains("absent.yaml"));
}

#[test]
fn secrets_are_redacted_in_debug() {
    let s = load_with(
        None,
        None,
        &[
            ("FLOW__MQ__USERNAME", "svc"),
            ("FLOW__MQ__PASSWORD", "kafka-pass-123"),
            ("FLOW__OPENSEARCH__PASSWORD", "os-pass-456"),
            ("FLOW__DATABASE__URL", "mysql://u:db-pass-789@h:3306/p"),
        ],
    )
    .unwrap();
    let debug = format!("{s:?}");
    for secret in ["kafka-pass-123", "os-pass-456", "db-pass-789"] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug output");
    }
    assert!(debug.contains("REDACTED"));
    // A bad value of a secret key names the key but never echoes the value.
    let err = load_with(
        None,
        None,
        &[("FLOW__DATABASE__URL", "http://u:db-pass-789@h")],
    )
    .unwrap_err()
    .to_string();
    assert!(!err.contains("db-pass-789"), "{err}");
}
