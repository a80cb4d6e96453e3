//! The clustered stack: three Kafka brokers (one KRaft quorum) and two OpenSearch nodes, started
//! by `FLOW_STACK_KAFKA_BROKERS=3 FLOW_STACK_OPENSEARCH_NODES=2 scripts/stack up`.
//!
//! Its `DIR/env` lists every node (`FLOW_TEST_KAFKA_NODES`, `FLOW_TEST_KAFKA_BOOTSTRAP`,
//! `FLOW_TEST_OPENSEARCH_NODES`); [`Cluster::from_env`] reads them, and is `None` on a stack of
//! single nodes, so that a cluster test can skip saying why. A test kills a node by the pid in
//! its pid file and starts it again through `scripts/stack start NODE`, on the same ports and
//! data. Cluster tests share the nodes, so they run one at a time: [`Cluster::exclusive`] hands
//! out the cluster under a lock, and starts whatever a test left stopped when the lease ends.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod group;

pub use group::{group_assignment, GroupAssignment};

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Kafka broker (and KRaft controller).
    Kafka,
    /// An OpenSearch node.
    OpenSearch,
}

/// One node of the stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Kafka or OpenSearch.
    pub kind: Kind,
    /// 1-based: the broker's `node.id`, or the OpenSearch node's number.
    pub id: i32,
    /// The stack's name for it (`kafka`, `kafka-2`, `opensearch-2`): its pid file, its log.
    pub name: String,
    /// `127.0.0.1:PORT` (Kafka, PLAINTEXT) or `http://127.0.0.1:PORT` (OpenSearch).
    pub address: String,
}

/// The clustered stack of the environment.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    brokers: Vec<Node>,
    search_nodes: Vec<Node>,
}

/// A cluster handed to one test at a time; dropping it starts every node the test left stopped.
pub struct Lease {
    cluster: &'static Cluster,
    _guard: tokio::sync::MutexGuard<'static, ()>,
}

impl std::ops::Deref for Lease {
    type Target = Cluster;

    fn deref(&self) -> &Cluster {
        self.cluster
    }
}

impl Drop for Lease {
    /// Never panics: a panic here while the test is already failing would abort the whole test
    /// binary, taking every later test with it.
    fn drop(&mut self) {
        if let Err(error) = self.cluster.try_start_all() {
            eprintln!("restarting the cluster's stopped nodes failed: {error}");
        }
    }
}

fn nodes(kind: Kind, var: &str) -> Vec<Node> {
    let list = std::env::var(var).unwrap_or_default();
    let base = match kind {
        Kind::Kafka => "kafka",
        Kind::OpenSearch => "opensearch",
    };
    list.split(',')
        .filter_map(|entry| {
            let (id, address) = entry.split_once('=')?;
            let id: i32 = id.parse().ok()?;
            let name = if id == 1 {
                base.to_owned()
            } else {
                format!("{base}-{id}")
            };
            Some(Node {
                kind,
                id,
                name,
                address: address.to_owned(),
            })
        })
        .collect()
}

impl Cluster {
    /// The stack's cluster: at least three brokers and two OpenSearch nodes, else `None`.
    pub fn from_env() -> Option<&'static Cluster> {
        static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
        CLUSTER
            .get_or_init(|| {
                let cluster = Cluster {
                    dir: PathBuf::from(std::env::var("FLOW_STACK_DIR").ok()?),
                    brokers: nodes(Kind::Kafka, "FLOW_TEST_KAFKA_NODES"),
                    search_nodes: nodes(Kind::OpenSearch, "FLOW_TEST_OPENSEARCH_NODES"),
                };
                (cluster.brokers.len() >= 3 && cluster.search_nodes.len() >= 2).then_some(cluster)
            })
            .as_ref()
    }

    /// The cluster for one test at a time, or `None` (after saying so on stderr) on a stack of
    /// single nodes: run `scripts/test` with `FLOW_TEST_CLUSTER=1`, or start the stack with
    /// `FLOW_STACK_KAFKA_BROKERS=3 FLOW_STACK_OPENSEARCH_NODES=2`.
    pub async fn exclusive(test: &str) -> Option<Lease> {
        static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let Some(cluster) = Cluster::from_env() else {
            eprintln!(
                "skipped {test}: the stack is not a cluster (FLOW_TEST_CLUSTER=1 scripts/test runs it)"
            );
            return None;
        };
        let guard = LOCK.lock().await;
        cluster.start_all();
        Some(Lease {
            cluster,
            _guard: guard,
        })
    }

    /// The brokers, by id.
    pub fn brokers(&self) -> &[Node] {
        &self.brokers
    }

    /// The OpenSearch nodes; the first is the cluster manager.
    pub fn search_nodes(&self) -> &[Node] {
        &self.search_nodes
    }

    /// Every broker's PLAINTEXT address, comma-separated: a bootstrap list that survives the
    /// loss of any one broker.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(|n| n.address.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The broker with `node.id` `id`.
    pub fn broker(&self, id: i32) -> &Node {
        self.brokers
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no broker {id} in {:?}", self.brokers))
    }

    fn stack(&self, args: &[&str]) {
        if let Err(error) = self.try_stack(args) {
            panic!("{error}");
        }
    }

    fn try_stack(&self, args: &[&str]) -> Result<(), String> {
        let script = std::env::var("FLOW_SERVERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers")
            })
            .join("../stack");
        let output = Command::new(&script)
            .args(args)
            .env("FLOW_STACK_DIR", &self.dir)
            .output()
            .map_err(|e| format!("run {}: {e}", script.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/stack {args:?} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    /// The pid of a running node, from its pid file.
    pub fn pid(&self, node: &Node) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join(format!("{}.pid", node.name))).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        running(pid).then_some(pid)
    }

    /// SIGKILLs `node` (no clean shutdown) and waits until it is gone.
    pub fn kill(&self, node: &Node) {
        let Some(pid) = self.pid(node) else {
            panic!("{} is not running", node.name);
        };
        crate::send_signal(pid, "KILL");
        let deadline = Instant::now() + Duration::from_secs(30);
        while running(pid) {
            assert!(
                Instant::now() < deadline,
                "{} (pid {pid}) did not die",
                node.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts `node` again on its ports and data, and waits until it is ready (a broker: it says
    /// it has started; an OpenSearch node: the cluster is at least yellow).
    pub fn start(&self, node: &Node) {
        self.stack(&["start", &node.name]);
    }

    /// Starts every node that is not running (`scripts/stack up`).
    pub fn start_all(&self) {
        if let Err(error) = self.try_start_all() {
            panic!("{error}");
        }
    }

    fn try_start_all(&self) -> Result<(), String> {
        let stopped = self
            .brokers
            .iter()
            .chain(&self.search_nodes)
            .any(|n| self.pid(n).is_none());
        if stopped {
            self.try_stack(&["up"])
        } else {
            Ok(())
        }
    }

    /// The leader of `topic`'s `partition` as the brokers see it now (`None` while there is
    /// none, or the metadata cannot be read).
    pub fn leader_of(&self, topic: &str, partition: i32) -> Option<i32> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .ok()?;
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .ok()?;
        let topic = metadata.topics().iter().find(|t| t.name() == topic)?;
        let partition = topic.partitions().iter().find(|p| p.id() == partition)?;
        (partition.error().is_none() && partition.leader() >= 0).then(|| partition.leader())
    }

    /// Replicas and in-sync replicas of every partition of `topic`, by partition.
    pub fn replicas_of(&self, topic: &str) -> BTreeMap<i32, (Vec<i32>, Vec<i32>)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create()
            .expect("metadata client");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("topic metadata");
        metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions())
            .map(|p| (p.id(), (p.replicas().to_vec(), p.isr().to_vec())))
            .collect()
    }

    /// The OpenSearch cluster's health status (`green`, `yellow`, `red`), as the first node
    /// (the cluster manager) answers it.
    pub async fn search_health(&self) -> Option<String> {
        let url = format!("{}/_cluster/health", self.search_nodes.first()?.address);
        let body: serde_json::Value = reqwest::get(url).await.ok()?.json().await.ok()?;
        body["status"].as_str().map(str::to_owned)
    }
}

/// Whether `pid` is a live process (not gone, not a zombie awaiting its parent).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // The state follows the command name, which is in parentheses.
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().next().map(|s| s != "Z")
        })
        .unwrap_or(false)
}

/// Writes one line of figures (a gap, a pause, a count of duplicates) for the run's summary:
/// to stderr and to `$FLOW_STACK_DIR/cluster-report.txt`, which `scripts/test` prints after
/// the cluster tests.
pub fn report(line: &str) {
    eprintln!("cluster report: {line}");
    if let Ok(dir) = std::env::var("FLOW_STACK_DIR") {
        let path = PathBuf::from(dir).join("cluster-report.txt");
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}
