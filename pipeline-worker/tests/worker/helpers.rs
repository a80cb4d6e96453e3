//! What every worker test needs: a database with the schema, a pipeline row, its topics, an
//! independent producer, readers of the index and the topics, and a worker to run.

use pipeline_common::config::{ConfigSource, Settings};
use pipeline_common::model::{Counters, PipelineDefinition, TopicSpec, ValidationContext};
use pipeline_common::store::worker_tasks::{self, TaskRow};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};
use sqlx::MySqlPool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long [`World::assert_no_dead_letters`] watches the error topic.
pub const NO_DEAD_LETTER_WINDOW: Duration = Duration::from_secs(3);

pub const PREFIX: &str = "pipeline";

/// Tests run two at a time: each drives a worker against the broker and OpenSearch on a small
/// machine (2 cores), and unbounded parallelism only makes every test time out.
pub async fn slot() -> tokio::sync::SemaphorePermit<'static> {
    static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    SLOTS.acquire().await.unwrap()
}

/// The shared broker and OpenSearch node: (brokers, opensearch URL).
pub fn shared_servers() -> (String, String) {
    let servers = test_support::servers();
    (
        servers.kafka_brokers.clone(),
        servers.opensearch_url.clone(),
    )
}

/// One test's world: a fresh database, a pipeline row and its topics.
pub struct World {
    pub db_url: String,
    pub pool: MySqlPool,
    pub brokers: String,
    pub opensearch: String,
    pub name: String,
    pub pipeline_id: String,
    pub partitions: i32,
    /// The definition's topic settings, which the world's topics are created with.
    pub topics: TopicSpec,
    pub dir: tempfile::TempDir,
}

impl World {
    /// A fresh database with the schema, a running pipeline with `definition` extras merged into
    /// a minimal definition, and its three topics on `brokers`.
    pub async fn new(brokers: &str, opensearch: &str, partitions: i32, extra: Value) -> World {
        let server = test_support::servers().mysql_url.clone();
        World::new_on(&server, brokers, opensearch, partitions, extra).await
    }

    /// [`World::new`] with its database on the MariaDB server at `mysql_url` (no database).
    pub async fn new_on(
        mysql_url: &str,
        brokers: &str,
        opensearch: &str,
        partitions: i32,
        extra: Value,
    ) -> World {
        let db_url = test_support::fresh_database_on(mysql_url).await;
        let pool = MySqlPool::connect(&db_url).await.unwrap();
        sqlx::migrate!("../pipeline-mgmt/migrations")
            .run(&pool)
            .await
            .unwrap();
        let name = test_support::unique_name("w");
        World::insert(db_url, pool, brokers, opensearch, name, partitions, extra).await
    }

    /// A second running pipeline in this world's database (so the same workers run both), with
    /// its own name, topics and index.
    pub async fn sibling(&self, partitions: i32, extra: Value) -> World {
        let pool = MySqlPool::connect(&self.db_url).await.unwrap();
        let name = test_support::unique_name("w");
        World::insert(
            self.db_url.clone(),
            pool,
            &self.brokers,
            &self.opensearch,
            name,
            partitions,
            extra,
        )
        .await
    }

    /// Deletes the pipeline as pipeline-mgmt's forced DELETE does, while workers run it: state
    /// `deleting`, then its three topics, then the row. The index is kept.
    pub async fn delete_as_mgmt_does(&self) {
        sqlx::query("UPDATE pipelines SET state = 'deleting' WHERE id = ?")
            .bind(&self.pipeline_id)
            .execute(&self.pool)
            .await
            .unwrap();
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let names: Vec<String> = ["input", "output", "error"]
            .iter()
            .map(|k| self.topic(k))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for result in admin
            .delete_topics(&names, &AdminOptions::new())
            .await
            .unwrap()
        {
            result.unwrap();
        }
        sqlx::query("DELETE FROM pipelines WHERE id = ?")
            .bind(&self.pipeline_id)
            .execute(&self.pool)
            .await
            .unwrap();
    }

    /// Deletes one of the pipeline's topics (`input`, `output`, `error`) behind mgmt's back.
    pub async fn delete_topic(&self, kind: &str) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let topic = self.topic(kind);
        for result in admin
            .delete_topics(&[topic.as_str()], &AdminOptions::new())
            .await
            .unwrap()
        {
            result.unwrap();
        }
    }

    /// Creates one of the pipeline's topics again (after [`World::delete_topic`]).
    pub async fn create_topic(&self, kind: &str) {
        self.create_named_topics(vec![self.topic(kind)]).await;
    }

    /// The same pipeline created again under the same name (a new id, new topics of the same
    /// names, the same index), as after a DELETE and a POST of the same definition.
    pub async fn recreate(&self, extra: Value) -> World {
        let pool = MySqlPool::connect(&self.db_url).await.unwrap();
        World::insert(
            self.db_url.clone(),
            pool,
            &self.brokers,
            &self.opensearch,
            self.name.clone(),
            self.partitions,
            extra,
        )
        .await
    }

    /// A running pipeline inserted into the database at `db_url` (with the schema), with its
    /// topics on `brokers`.
    pub async fn insert(
        db_url: String,
        pool: MySqlPool,
        brokers: &str,
        opensearch: &str,
        name: String,
        partitions: i32,
        extra: Value,
    ) -> World {
        let mut body = json!({
            "name": name,
            "index": name,
            "topics": {"partitions": partitions, "replicationFactor": 1},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        let parsed = PipelineDefinition::parse(&body, &ValidationContext::default())
            .unwrap_or_else(|e| panic!("invalid test definition: {e:?}"));
        let topics = *parsed.topics();
        let definition = parsed.to_json();
        let pipeline_id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO pipelines (id, name, definition, state, version, created_by, created_at, updated_at) \
             VALUES (?, ?, ?, 'running', 1, 'test', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        )
        .bind(&pipeline_id)
        .bind(&name)
        .bind(sqlx::types::Json(&definition))
        .execute(&pool)
        .await
        .unwrap();
        let world = World {
            db_url,
            pool,
            brokers: brokers.to_owned(),
            opensearch: opensearch.to_owned(),
            name,
            pipeline_id,
            partitions,
            topics,
            dir: tempfile::tempdir().unwrap(),
        };
        world.create_topics().await;
        world
    }

    pub fn topic(&self, kind: &str) -> String {
        format!("{PREFIX}.{}.{kind}", self.name)
    }

    pub fn group(&self) -> String {
        format!("{PREFIX}.{}.worker", self.name)
    }

    async fn create_topics(&self) {
        let names: Vec<String> = ["input", "output", "error"]
            .iter()
            .map(|k| self.topic(k))
            .collect();
        self.create_named_topics(names).await;
    }

    async fn create_named_topics(&self, names: Vec<String>) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let replication = i32::from(self.topics.replication_factor);
        let min_insync = self.topics.min_insync_replicas.map(|n| n.to_string());
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|n| {
                let topic = NewTopic::new(n, self.partitions, TopicReplication::Fixed(replication));
                match &min_insync {
                    Some(n) => topic.set("min.insync.replicas", n),
                    None => topic,
                }
            })
            .collect();
        // Right after a DeleteTopics of the same names the broker may still answer "already
        // exists" (the deletion is asynchronous in KRaft too): retry for a while.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let results = admin
                .create_topics(&topics, &AdminOptions::new())
                .await
                .unwrap();
            let failed: Vec<_> = results
                .into_iter()
                .filter_map(Result::err)
                .filter(|(_, code)| *code != RDKafkaErrorCode::TopicAlreadyExists)
                .collect();
            let existing = self.existing_topics(&names);
            if failed.is_empty() && existing == names.len() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "creating {names:?}: {failed:?}, {existing} exist"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// How many of `names` the broker's metadata lists with all their partitions.
    fn existing_topics(&self, names: &[String]) -> usize {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let Ok(metadata) = consumer.fetch_metadata(None, Duration::from_secs(10)) else {
            return 0;
        };
        metadata
            .topics()
            .iter()
            .filter(|t| names.iter().any(|n| n == t.name()))
            .filter(|t| t.error().is_none() && t.partitions().len() == self.partitions as usize)
            .count()
    }

    /// Environment variables configuring a worker for this world.
    pub fn vars(&self, worker_id: &str, overrides: &[(&str, &str)]) -> Vec<(String, String)> {
        // A cluster's bootstrap list: the worker takes the first broker, and learns the others.
        let first = self.brokers.split(',').next().unwrap();
        let (host, port) = first.rsplit_once(':').unwrap();
        let mut vars: Vec<(String, String)> = vec![
            ("FLOW__DATABASE__URL", self.db_url.as_str()),
            ("FLOW__MQ__MQ_HOST", host),
            ("FLOW__MQ__MQ_PORT", port),
            ("FLOW__OPENSEARCH__URLS", self.opensearch.as_str()),
            ("FLOW__WORKER__HTTP_PORT", "0"),
            ("FLOW__WORKER__BIND_ADDRESS", "127.0.0.1"),
            ("FLOW__WORKER__ID", worker_id),
            ("FLOW__WORKER__RECONCILE_INTERVAL_MS", "300"),
            ("FLOW__WORKER__HEARTBEAT_INTERVAL_MS", "300"),
            ("FLOW__WORKER__BULK_TIMEOUT_MS", "5000"),
            ("FLOW__KAFKA__TOPIC_PREFIX", PREFIX),
            ("FLOW__KAFKA__SESSION_TIMEOUT_MS", "10000"),
            ("FLOW__SERVER__FLUSH_INTERVAL_SEC", "1"),
            ("FLOW__SERVER__FLUSH_ITEMS", "2000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            vars.retain(|(key, _)| key != k);
            vars.push(((*k).to_owned(), (*v).to_owned()));
        }
        vars
    }

    pub fn settings(&self, worker_id: &str, overrides: &[(&str, &str)]) -> Settings {
        Settings::load(&ConfigSource {
            file: None,
            environment: None,
            vars: self.vars(worker_id, overrides),
        })
        .unwrap()
    }

    /// Produces records with the independent Python client; returns how many were acknowledged.
    pub fn produce(&self, records: &[(Option<Vec<u8>>, Vec<u8>)]) -> usize {
        let path = self
            .dir
            .path()
            .join(format!("records-{}.bin", uuid::Uuid::new_v4().simple()));
        let mut data = Vec::new();
        for (key, value) in records {
            match key {
                Some(k) => {
                    data.extend_from_slice(&(k.len() as i32).to_be_bytes());
                    data.extend_from_slice(k);
                }
                None => data.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            data.extend_from_slice(&(value.len() as i32).to_be_bytes());
            data.extend_from_slice(value);
        }
        std::fs::write(&path, data).unwrap();
        produce_file(&self.brokers, &self.topic("input"), &path)
    }

    /// Produces records with headers with the independent client.
    pub fn produce_with_headers(&self, records: &[HeaderedRecord<'_>]) -> usize {
        produce_headered(
            &self.brokers,
            &self.topic("input"),
            self.dir.path(),
            records,
        )
    }

    /// The pipeline group's committed offsets and the end offsets of `topic` (e.g. its
    /// broker's), per partition, for `partitions` partitions.
    pub fn committed_and_end_of(&self, topic: &str, partitions: i32) -> (Vec<i64>, Vec<i64>) {
        committed_and_end(&self.brokers, &self.group(), topic, partitions)
    }
}

/// Produces records with headers to `topic` with the independent client, through a file in `dir`.
pub fn produce_headered(
    brokers: &str,
    topic: &str,
    dir: &Path,
    records: &[HeaderedRecord<'_>],
) -> usize {
    {
        let path = dir.join(format!("records-{}.json", uuid::Uuid::new_v4().simple()));
        let list: Vec<Value> = records
            .iter()
            .map(|(key, value, headers)| {
                let headers: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
                    .collect();
                json!({"key": key, "value": value, "headers": headers})
            })
            .collect();
        std::fs::write(&path, serde_json::to_vec(&list).unwrap()).unwrap();
        produce_file(brokers, topic, &path)
    }
}

impl World {
    /// Number of documents in the pipeline's index (0 when it does not exist yet).
    pub async fn count(&self) -> u64 {
        count(&self.opensearch, &self.name).await
    }

    /// Waits until the index holds `n` documents and stays there; panics on timeout.
    pub async fn wait_count(&self, n: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.count().await;
            if c == n {
                return;
            }
            assert!(
                c <= n,
                "index holds {c} documents, more than the {n} expected"
            );
            assert!(
                Instant::now() < deadline,
                "index holds {c} documents, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn get_doc(&self, id: &str) -> Option<Value> {
        let url = format!("{}/{}/_doc/{id}", self.opensearch, self.name);
        let response = reqwest::get(url).await.unwrap();
        if response.status() == 404 {
            return None;
        }
        let body: Value = response.json().await.unwrap();
        body.get("found")
            .and_then(Value::as_bool)
            .filter(|f| *f)
            .map(|_| body["_source"].clone())
    }

    /// Asserts that the error topic stays empty for [`NO_DEAD_LETTER_WINDOW`]: a negative, so
    /// it waits that long; `why` says why nothing may be there.
    pub fn assert_no_dead_letters(&self, why: &str) {
        let letters = self.read_topic("error", 1, NO_DEAD_LETTER_WINDOW);
        assert!(letters.is_empty(), "nothing dead-lettered: {why}");
    }

    /// Every record of the topic `<kind>`, reading until `expected` or `timeout`.
    pub fn read_topic(&self, kind: &str, expected: usize, timeout: Duration) -> Vec<Record> {
        read_topic(
            &self.brokers,
            &self.topic(kind),
            self.partitions,
            expected,
            timeout,
        )
    }

    /// The pipeline group's committed offsets and the input topic's end offsets, per partition.
    pub fn committed_and_end(&self) -> (Vec<i64>, Vec<i64>) {
        committed_and_end(
            &self.brokers,
            &self.group(),
            &self.topic("input"),
            self.partitions,
        )
    }
}

/// Group `group`'s committed offsets and `topic`'s end offsets, per partition.
pub fn committed_and_end(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> (Vec<i64>, Vec<i64>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let topic = topic.to_owned();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(&topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    let committed = (0..partitions)
        .map(|p| {
            committed
                .find_partition(&topic, p)
                .and_then(|e| e.offset().to_raw())
                .unwrap_or(-1)
                .max(0)
        })
        .collect();
    let ends = (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect();
    (committed, ends)
}

impl World {
    /// Waits until the committed offsets are at the end of the input topic.
    pub async fn wait_committed_at_end(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (committed, ends) = self.committed_and_end();
            if committed == ends {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "committed {committed:?}, end of topic {ends:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub async fn tasks(&self) -> Vec<TaskRow> {
        worker_tasks::list_for_pipeline(&self.pool, self.pipeline_id.parse().unwrap())
            .await
            .unwrap()
    }

    /// Waits until this world's (single) task reports `failed`; its `lastError`.
    pub async fn wait_task_failed(&self, timeout: Duration) -> String {
        eventually("the task to report failed", timeout, || async {
            self.tasks()
                .await
                .first()
                .filter(|t| t.report.status.as_str() == "failed")
                .and_then(|t| t.report.last_error.clone())
        })
        .await
    }

    /// Waits until this world's (single) task reports counters that satisfy `done`; those.
    pub async fn wait_counters(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Counters) -> bool,
    ) -> Counters {
        eventually(what, timeout, || async {
            self.tasks()
                .await
                .first()
                .map(|t| t.report.counters)
                .filter(|c| done(c))
        })
        .await
    }

    pub async fn state_reason(&self) -> Option<String> {
        sqlx::query_scalar("SELECT state_reason FROM pipelines WHERE id = ?")
            .bind(&self.pipeline_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub async fn count(opensearch: &str, index: &str) -> u64 {
    let response = reqwest::get(format!("{opensearch}/{index}/_count"))
        .await
        .unwrap();
    if response.status() == 404 {
        return 0;
    }
    let body: Value = response.json().await.unwrap();
    body["count"].as_u64().unwrap_or(0)
}

fn python() -> String {
    std::env::var("FLOW_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Runs the independent producer on a records file.
pub fn produce_file(brokers: &str, topic: &str, path: &Path) -> usize {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/produce.py");
    let output = Command::new(python())
        .arg(script)
        .args([brokers, topic])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "produce.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap()
}

/// A record to produce: key, value, headers.
pub type HeaderedRecord<'a> = (Option<&'a str>, &'a str, &'a [(&'a str, &'a str)]);

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: HashMap<String, String>,
}

pub fn read_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", test_support::unique_name("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_owned(),
                                    String::from_utf8_lossy(h.value.unwrap_or_default())
                                        .into_owned(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    // Anything beyond `expected` that is already there is read too, to catch extras.
    let grace = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < grace {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            records.push(Record {
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers: HashMap::new(),
            });
        }
    }
    records
}

/// A good event, unique by `seq`.
pub fn good_event(seq: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "seq": seq,
        "log_message": format!("2026-11-21T10:00:00Z - web - INFO - request {seq} from user{seq}@example.com"),
        "severity": "INFO",
        "service": "web",
    }))
    .unwrap()
}

/// The `seq` of a document or output record.
pub fn seq_of(doc: &Value) -> Option<u64> {
    doc.get("seq")
        .or_else(|| doc.pointer("/data/seq"))
        .and_then(Value::as_u64)
}

/// A worker running inside the test process.
pub struct InProcess;

impl InProcess {
    /// Builds a worker from `settings` and runs it as a task until its `shutdown`.
    pub async fn start(settings: Settings) -> test_support::InProcess {
        let app = pipeline_worker::WorkerApp::build(settings).await.unwrap();
        test_support::InProcess::spawn(|stop| app.run_until(stop.cancelled_owned()))
    }
}

/// A worker running as a child process of the built binary.
pub struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    pub fn start(vars: Vec<(String, String)>) -> WorkerProcess {
        let log_path =
            std::env::temp_dir().join(format!("worker-{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pipeline-worker"))
            .arg("run")
            .envs(vars)
            .env("FLOW__LOG__LOG_LEVEL", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        WorkerProcess {
            child,
            log: log_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs; when it has exited, its status and log tail.
    pub fn exited(&mut self) -> Option<String> {
        let status = self.child.try_wait().unwrap()?;
        Some(format!("{status}; last log lines:\n{}", self.log_tail()))
    }

    /// SIGTERM, then asserts a graceful exit within 60 s (the log's tail otherwise).
    pub fn terminate_gracefully(&mut self) {
        self.signal("TERM");
        let status = self
            .wait(Duration::from_secs(60))
            .unwrap_or_else(|| panic!("SIGTERM stops the worker; log:\n{}", self.log_tail()));
        assert!(
            status.success(),
            "graceful exit: {status}\n{}",
            self.log_tail()
        );
    }

    /// The last lines of the worker's log.
    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    pub fn signal(&self, signal: &str) {
        test_support::send_signal(self.pid(), signal);
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Produces one record whose header `name` may be any bytes (Kafka does not require UTF-8).
/// The independent client cannot send such a name (confluent-kafka turns a bytes name into its
/// `repr`), and rdkafka's header API takes `&str`, so the header goes in through librdkafka.
#[allow(unsafe_code)]
pub fn produce_with_raw_header_name(brokers: &str, topic: &str, value: &[u8], name: &[u8]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let headers = rdkafka::message::OwnedHeaders::new();
    let list = headers.as_borrowed() as *const rdkafka::message::BorrowedHeaders
        as *mut rdkafka::bindings::rd_kafka_headers_t;
    // SAFETY: `list` is the header list `headers` owns (rdkafka's BorrowedHeaders is that
    // pointer); librdkafka copies the name and value it is given.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_header_add(
            list,
            name.as_ptr().cast(),
            name.len() as isize,
            b"x".as_ptr().cast(),
            1,
        )
    };
    assert_eq!(
        err,
        rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
    );
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    producer
        .send(
            BaseRecord::<(), [u8]>::to(topic)
                .payload(value)
                .headers(headers),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    assert!(
        topic_holds_header_name(brokers, topic, name),
        "the record with header {name:?} is in {topic}"
    );
}

/// Whether a record of `topic` (partition 0) carries a header named `name`, read as bytes.
fn topic_holds_header_name(brokers: &str, topic: &str, name: &[u8]) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("check-{}", uuid::Uuid::new_v4().simple()),
        )
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let found = message.headers().is_some_and(|headers| {
                pipeline_common::kafka_headers::raw_headers(headers).any(|h| h.name == name)
            });
            if found {
                return true;
            }
        }
    }
    false
}
