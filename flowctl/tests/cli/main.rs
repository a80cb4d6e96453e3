#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `flowctl` binary against a live pipeline-mgmt (real MariaDB, Kafka and OpenSearch).

use pipeline_common::config::{ConfigSource, Settings};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::{Duration, Instant};

struct Mgmt {
    url: String,
    editor: String,
    viewer: String,
    prefix: String,
    brokers: String,
    home: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn spawn_mgmt() -> Mgmt {
    let servers = test_support::servers();
    let db_url = test_support::fresh_database().await;
    let (host, port) = servers.kafka_brokers.rsplit_once(':').unwrap();
    let editor = format!("editor-{}", uuid::Uuid::new_v4().simple());
    let viewer = format!("viewer-{}", uuid::Uuid::new_v4().simple());
    let digest = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let auth = json!([
        {"name": "eddie-editor", "role": "editor", "sha256": digest(&editor)},
        {"name": "vera-viewer", "role": "viewer", "sha256": digest(&viewer)},
    ]);
    let prefix = test_support::unique_name("c");
    let vars: Vec<(String, String)> = [
        ("FLOW__DATABASE__URL", db_url.as_str()),
        ("FLOW__MQ__MQ_HOST", host),
        ("FLOW__MQ__MQ_PORT", port),
        ("FLOW__OPENSEARCH__URLS", servers.opensearch_url.as_str()),
        ("FLOW__SERVER__HTTP_PORT", "0"),
        ("FLOW__SERVER__BIND_ADDRESS", "127.0.0.1"),
        ("FLOW__KAFKA__TOPIC_PREFIX", prefix.as_str()),
        ("FLOW__AUTH__TOKENS", &auth.to_string()),
        ("FLOW__LOG__LOG_LEVEL", "warn,rdkafka=off,librdkafka=off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::load(&ConfigSource {
        file: None,
        environment: None,
        vars,
    })
    .unwrap();
    let app = pipeline_mgmt::Application::build(settings).await.unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_with_shutdown(async move {
        let _ = rx.await;
    }));
    Mgmt {
        url,
        editor,
        viewer,
        prefix,
        brokers: servers.kafka_brokers.clone(),
        home: tempfile::tempdir().unwrap(),
        _stop: tx,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Mgmt {
    /// Runs flowctl with `--url` and `--token` flags.
    async fn flowctl(&self, token: &str, args: &[&str]) -> Run {
        let mut all = vec!["--url", self.url.as_str(), "--token", token];
        all.extend_from_slice(args);
        self.flowctl_env(&[], &all).await
    }

    /// Runs flowctl with only `args` and the environment `vars` (HOME is a fresh directory, so no
    /// user config file is read).
    async fn flowctl_env(&self, vars: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_flowctl"));
        command
            .args(args)
            .env_remove("FLOW_URL")
            .env_remove("FLOW_TOKEN")
            .env_remove("FLOWCTL_CONFIG")
            .env("HOME", self.home.path());
        for (k, v) in vars {
            command.env(k, v);
        }
        let output = command.output().await.unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

fn write(dir: &Path, file: &str, text: &str) -> String {
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn yaml(name: &str, description: &str) -> String {
    format!(
        "name: {name}\ndescription: {description}\nindex: {name}\ntopics:\n  partitions: 1\n  replicationFactor: 1\n\
         stages:\n  - type: parse\n    field: log_message\n    formats: [json]\n  - type: hash\n    target: event_hash\n"
    )
}

#[tokio::test]
async fn apply_creates_then_changes_then_leaves_alone_and_status_reads() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();
    let name = test_support::unique_name("cli");
    let file = write(dir.path(), "p.yaml", &yaml(&name, "first"));

    let created = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(created.stdout.trim(), format!("created {name} (version 1)"));

    let file = write(dir.path(), "p.yaml", &yaml(&name, "second"));
    let changed = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(
        changed.stdout.trim(),
        format!("updated {name}: version 1 -> 2 (changed: description)")
    );

    // The same file as JSON: nothing to change, the version stays.
    let as_json: Value = serde_yaml::from_str(&yaml(&name, "second")).unwrap();
    let json_file = write(dir.path(), "p.json", &as_json.to_string());
    let same = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &json_file])
        .await;
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert_eq!(same.stdout.trim(), format!("unchanged {name} (version 2)"));

    let got = mgmt
        .flowctl(&mgmt.viewer, &["-o", "json", "pipelines", "get", &name])
        .await;
    assert_eq!(got.code, 0, "{}", got.stderr);
    let got: Value = serde_json::from_str(&got.stdout).unwrap();
    assert_eq!(got["description"], "second");
    assert_eq!(got["version"], 2);

    let status = mgmt
        .flowctl(&mgmt.viewer, &["pipelines", "status", &name])
        .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status
            .stdout
            .starts_with(&format!("{name}: desired running, observed stopped")),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("WORKER"), "{}", status.stdout);

    let stopped = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "stop", &name])
        .await;
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert_eq!(
        stopped.stdout.trim(),
        format!("{name}: desired state stopped (version 3)")
    );

    // URL and token from the environment; the table lists the pipeline.
    let listed = mgmt
        .flowctl_env(
            &[("FLOW_URL", &mgmt.url), ("FLOW_TOKEN", &mgmt.viewer)],
            &["pipelines", "list"],
        )
        .await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{}", listed.stdout);
    assert!(lines[1].starts_with(&name), "{}", listed.stdout);
    assert!(lines[1].contains("stopped"), "{}", listed.stdout);

    // And from a config file.
    let config = write(
        dir.path(),
        "config.yaml",
        &format!("url: {}\ntoken: {}\n", mgmt.url, mgmt.viewer),
    );
    let yaml_out = mgmt
        .flowctl_env(
            &[],
            &["--config", &config, "-o", "yaml", "pipelines", "list"],
        )
        .await;
    assert_eq!(yaml_out.code, 0, "{}", yaml_out.stderr);
    let listed: Value = serde_yaml::from_str(&yaml_out.stdout).unwrap();
    assert_eq!(listed[0]["name"], name.as_str());
}

#[tokio::test]
async fn a_401_and_a_422_are_one_line_each_with_their_exit_codes() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();

    let refused = mgmt.flowctl("not-a-token", &["pipelines", "list"]).await;
    assert_eq!(refused.code, 3);
    assert_eq!(refused.stdout, "");
    assert_eq!(
        refused.stderr,
        "error: 401 a valid bearer token is required\n"
    );

    let name = test_support::unique_name("cli");
    let invalid = format!(
        "name: {name}\nindex: {name}\nstages:\n  - type: parse\n    formats: [json]\n    onFailure: maybe\n"
    );
    let file = write(dir.path(), "bad.yaml", &invalid);
    let rejected = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(rejected.code, 4);
    assert_eq!(rejected.stdout, "");
    assert_eq!(
        rejected.stderr,
        "error: 422 the pipeline definition is invalid \
         (stages[0].onFailure: must be \"unknown\" or \"error\")\n"
    );

    let forbidden = mgmt
        .flowctl(&mgmt.viewer, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(forbidden.code, 3, "{}", forbidden.stderr);
    assert_eq!(forbidden.stderr.lines().count(), 1, "{}", forbidden.stderr);
    assert!(forbidden.stderr.starts_with("error: 403 "));

    let unreachable = mgmt
        .flowctl_env(&[], &["--url", "http://127.0.0.1:9", "pipelines", "list"])
        .await;
    assert_eq!(unreachable.code, 1);
    assert_eq!(
        unreachable.stderr.lines().count(),
        1,
        "{}",
        unreachable.stderr
    );
}

/// Dead letters as the worker writes them (DESIGN §4 step 7), produced straight to the topic.
async fn dead_letter(brokers: &str, error_topic: &str, input_topic: &str, n: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("log_level", "3")
        .create()
        .unwrap();
    for i in 0..n {
        let value = json!({"log_message": format!("{{\"n\":{i}}}")}).to_string();
        let offset = i.to_string();
        let headers = [
            ("error.stage", "parse"),
            ("error.reason", "no pattern matched the line"),
            ("error.status", ""),
            ("source.topic", input_topic),
            ("source.partition", "0"),
            ("source.offset", offset.as_str()),
            ("pipeline.name", "x"),
            ("failed.at", "2026-01-01T00:00:00Z"),
        ]
        .iter()
        .fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        });
        producer
            .send(
                FutureRecord::<str, str>::to(error_topic)
                    .payload(&value)
                    .key("k")
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

fn read_replayed(brokers: &str, topic: &str, n: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("g"))
        .set("log_level", "3")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < n {
        assert!(Instant::now() < deadline, "{} of {n}", out.len());
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.unwrap();
            let origin = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "replay.of"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap();
            assert_eq!(message.key(), Some(&b"k"[..]));
            out.push(origin);
        }
    }
    out
}

#[tokio::test]
async fn errors_dry_run_from_errors_and_replay_with_follow() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();
    let name = test_support::unique_name("cli");
    let file = write(dir.path(), "p.yaml", &yaml(&name, "dead letters"));
    let created = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let error_topic = format!("{}.{name}.error", mgmt.prefix);
    let input_topic = format!("{}.{name}.input", mgmt.prefix);
    dead_letter(&mgmt.brokers, &error_topic, &input_topic, 3).await;

    let listed = mgmt
        .flowctl(&mgmt.viewer, &["errors", &name, "--stage", "parse"])
        .await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", listed.stdout);
    assert!(lines[0].starts_with("PARTITION"));
    assert!(lines[1].starts_with("0          2 "), "{}", listed.stdout);
    assert!(lines[1].contains("parse"));
    assert!(lines[1].contains("no pattern matched"));

    let as_json = mgmt
        .flowctl(&mgmt.viewer, &["-o", "json", "errors", &name])
        .await;
    let page: Value = serde_json::from_str(&as_json.stdout).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 3);

    let dry = mgmt
        .flowctl(
            &mgmt.editor,
            &["dry-run", "-f", &file, "--from-errors", "3"],
        )
        .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.ends_with("3 documents, 0 dropped, 0 errors\n"),
        "{}",
        dry.stdout
    );
    let events = write(
        dir.path(),
        "events.ndjson",
        "{\"log_message\":\"{}\"}\n42\n",
    );
    let dry = mgmt
        .flowctl(&mgmt.editor, &["dry-run", "-f", &file, "--events", &events])
        .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stdout.ends_with("1 documents, 0 dropped, 1 errors\n"),
        "{}",
        dry.stdout
    );

    let forbidden = mgmt.flowctl(&mgmt.viewer, &["replay", &name]).await;
    assert_eq!(forbidden.code, 3);
    let replayed = mgmt
        .flowctl(
            &mgmt.editor,
            &["replay", &name, "--stage", "parse", "--follow"],
        )
        .await;
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let line = replayed.stdout.trim();
    assert!(line.starts_with("replay "), "{line}");
    assert!(
        line.ends_with(": succeeded, matched 3, replayed 3, failed 0"),
        "{line}"
    );
    assert!(
        replayed.stderr.contains("3/3 replayed"),
        "progress bar: {}",
        replayed.stderr
    );
    let brokers = mgmt.brokers.clone();
    let origins = tokio::task::spawn_blocking(move || read_replayed(&brokers, &input_topic, 3))
        .await
        .unwrap();
    assert_eq!(
        origins,
        (0..3)
            .map(|o| format!("{error_topic}/0/{o}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn apply_compares_whole_definitions_so_a_removed_stage_goes() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();
    let name = test_support::unique_name("cli");
    let with_rename = format!(
        "{}  - type: rename\n    fields: {{msg: message, lvl: level}}\n",
        yaml(&name, "d")
    );
    let file = write(dir.path(), "p.yaml", &with_rename);
    let created = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);

    // One rename entry fewer: a map entry removed is a change.
    let one_rename = with_rename.replace(", lvl: level", "");
    let file = write(dir.path(), "p.yaml", &one_rename);
    let fewer = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(fewer.code, 0, "{}", fewer.stderr);
    assert_eq!(
        fewer.stdout.trim(),
        format!("updated {name}: version 1 -> 2 (changed: stages)")
    );

    // The rename stage removed from the file: it is removed from the pipeline.
    let file = write(dir.path(), "p.yaml", &yaml(&name, "d"));
    let removed = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert_eq!(
        removed.stdout.trim(),
        format!("updated {name}: version 2 -> 3 (changed: stages)")
    );
    let got = mgmt
        .flowctl(&mgmt.viewer, &["-o", "json", "pipelines", "get", &name])
        .await;
    let got: Value = serde_json::from_str(&got.stdout).unwrap();
    let types: Vec<&str> = got["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["parse", "hash"]);

    // Applying the same file again changes nothing, although the server filled in defaults.
    let again = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout.trim(), format!("unchanged {name} (version 3)"));
}

/// `flowctl indices` prints the pipeline's index (created under its template, version 1) as a
/// table, and the API's answer as it is with `-o json`.
#[tokio::test]
async fn indices_lists_the_pipelines_index() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();
    let name = test_support::unique_name("cli");
    let file = write(dir.path(), "p.yaml", &yaml(&name, "indexed"));
    let created = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);

    let listed = mgmt.flowctl(&mgmt.viewer, &["indices", &name]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let lines: Vec<&str> = listed.stdout.lines().collect();
    assert!(lines[0].starts_with("INDEX"), "{}", listed.stdout);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], name, "{}", listed.stdout);
    assert_eq!(row[1], "-", "a concrete index holds no date");
    assert_eq!(row[2], "0");
    // INDEX DATE DOCS STORE MiB TEMPLATE DELETED AT: the header's "STORE MiB" is two words.
    assert_eq!(row[4], "1", "template version: {}", listed.stdout);
    assert_eq!(row[5], "-", "no retention, no deletion: {}", listed.stdout);

    let json = mgmt
        .flowctl(&mgmt.viewer, &["-o", "json", "indices", &name])
        .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let body: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(body["items"][0]["name"], name.as_str());
    assert_eq!(body["items"][0]["templateVersion"], 1);
}

/// `flowctl brokers`: create, list with the pipelines on each, refused delete (exit 4, the
/// server's reason naming the pipeline), and the status table's MATCHED column.
#[tokio::test]
async fn brokers_list_the_pipelines_on_each_and_refuse_deletion_while_read() {
    let mgmt = spawn_mgmt().await;
    let dir = tempfile::tempdir().unwrap();
    let broker = test_support::unique_name("b");
    let created = mgmt
        .flowctl(
            &mgmt.editor,
            &[
                "brokers",
                "create",
                &broker,
                "--partitions",
                "1",
                "--min-insync-replicas",
                "1",
                "--retention-ms",
                "-1",
            ],
        )
        .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let read = mgmt
        .flowctl(&mgmt.viewer, &["-o", "json", "brokers", "get", &broker])
        .await;
    assert_eq!(read.code, 0, "{}", read.stderr);
    let body: serde_json::Value = serde_json::from_str(&read.stdout).unwrap();
    assert_eq!(
        body["topics"],
        serde_json::json!({"partitions": 1, "replicationFactor": 1,
            "minInsyncReplicas": 1, "retentionMs": -1}),
        "{}",
        read.stdout
    );
    assert!(
        created
            .stdout
            .contains(&format!("{}.broker.{broker}", mgmt.prefix)),
        "{}",
        created.stdout
    );
    let name = test_support::unique_name("cli");
    let definition = format!(
        "{}source:\n  broker: {broker}\n  filter:\n    attributes:\n      type: order.created\n",
        yaml(&name, "on a broker")
    );
    let file = write(dir.path(), "p.yaml", &definition);
    let applied = mgmt
        .flowctl(&mgmt.editor, &["pipelines", "apply", "-f", &file])
        .await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);

    let listed = mgmt.flowctl(&mgmt.viewer, &["brokers", "list"]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let row = listed
        .stdout
        .lines()
        .find(|l| l.starts_with(&broker))
        .unwrap_or_else(|| panic!("{}", listed.stdout));
    assert!(row.contains(&name), "{row}");

    let refused = mgmt
        .flowctl(&mgmt.editor, &["brokers", "delete", &broker])
        .await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(refused.stderr.contains(&name), "{}", refused.stderr);

    let status = mgmt
        .flowctl(&mgmt.viewer, &["pipelines", "status", &name])
        .await;
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(status.stdout.contains("MATCHED"), "{}", status.stdout);
}
