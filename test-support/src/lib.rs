//! The real servers that flow-stream's integration tests run against.
//!
//! `scripts/test` (through `scripts/stack up`) starts one shared MariaDB, tansu broker and osmem
//! server on ephemeral loopback ports and exports their addresses:
//!
//! | variable | meaning |
//! |---|---|
//! | `FLOW_TEST_MYSQL_URL` | `mysql://user:pass@127.0.0.1:PORT`, an account that may create databases |
//! | `FLOW_TEST_KAFKA_BROKERS` | `127.0.0.1:PORT` of the shared tansu broker |
//! | `FLOW_TEST_OPENSEARCH_URL` | `http://127.0.0.1:PORT` of the shared osmem server |
//! | `FLOW_TANSU_BIN`, `FLOW_OSMEM_BIN` | binaries for tests that need a private server |
//! | `FLOW_STACK_DIR` | the stack's directory; private servers register their pids under it |
//!
//! Tests share the servers but never their data: each takes a fresh database
//! ([`fresh_database`]) and random topic and index names ([`unique_name`]). A test that stops,
//! stalls or deletes topics on a server (tansu's DeleteTopics removes every topic, DESIGN §8)
//! starts a private one with [`Tansu::spawn`] or [`Osmem::spawn`]; it is stopped by pid on drop,
//! and `scripts/test` stops any that a crashed test binary left behind.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test harness: fail loudly

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Addresses of the shared servers.
#[derive(Debug, Clone)]
pub struct Servers {
    /// Server URL without a database, for an account that may create databases.
    pub mysql_url: String,
    /// Kafka bootstrap address of the shared broker.
    pub kafka_brokers: String,
    /// Base URL of the shared OpenSearch-compatible server.
    pub opensearch_url: String,
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: integration tests run against real servers; \
             run them through scripts/test, or `scripts/stack up` and source its env file"
        )
    })
}

/// The shared servers, read once from the environment. Panics with guidance when unset.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        mysql_url: required("FLOW_TEST_MYSQL_URL"),
        kafka_brokers: required("FLOW_TEST_KAFKA_BROKERS"),
        opensearch_url: required("FLOW_TEST_OPENSEARCH_URL"),
    })
}

/// A random name that is a valid pipeline name, topic segment and index name.
pub fn unique_name(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// Creates an empty database on the shared MariaDB and returns its URL.
pub async fn fresh_database() -> String {
    use sqlx::Connection;
    let servers = servers();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::MySqlConnection::connect(&servers.mysql_url)
        .await
        .expect("connect to the shared MariaDB");
    sqlx::query(&format!("CREATE DATABASE `{name}`"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    format!("{}/{name}", servers.mysql_url.trim_end_matches('/'))
}

/// A free loopback port. The port is released before returning, so a server started right after
/// gets it unless another process races for it, which on loopback in tests is rare.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 30 s");
}

/// Sends `signal` (e.g. `"STOP"`, `"TERM"`, `"KILL"`) to the process `pid`, which the caller
/// started; panics when `kill` fails.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed");
}

/// A server process this test owns: stopped by pid when dropped.
#[derive(Debug)]
pub struct ChildServer {
    child: Child,
    pid_file: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

impl ChildServer {
    fn adopt(child: Child, dir: tempfile::TempDir) -> Self {
        // Register the pid so scripts/test can stop it should this test binary die before drop.
        let pid_file = std::env::var("FLOW_STACK_DIR").ok().map(|stack| {
            let pids = PathBuf::from(stack).join("pids");
            std::fs::create_dir_all(&pids).ok();
            let file = pids.join(child.id().to_string());
            std::fs::write(&file, child.id().to_string()).ok();
            file
        });
        ChildServer {
            child,
            pid_file,
            _dir: dir,
        }
    }

    /// Process id, for signals such as `SIGSTOP`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (e.g. `"STOP"`, `"CONT"`, `"KILL"`) to the server process.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Stops the server now (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped (SIGSTOP) process still dies on SIGKILL.
            self.child.kill().ok();
        }
        self.child.wait().ok();
        if let Some(file) = self.pid_file.take() {
            std::fs::remove_file(file).ok();
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private tansu broker with its own sqlite storage, for tests that stop it or delete topics.
#[derive(Debug)]
pub struct Tansu {
    server: ChildServer,
    port: u16,
}

impl Tansu {
    /// Starts a broker on a free loopback port and waits until it accepts connections.
    pub fn spawn() -> Tansu {
        let bin = required("FLOW_TANSU_BIN");
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        // Four slashes: `sqlite://` followed by an absolute path (DESIGN §8). Never `memory://`.
        let storage = format!("sqlite:///{}/tansu.db", dir.path().display());
        let log = std::fs::File::create(dir.path().join("tansu.log")).expect("log file");
        let mut child = Command::new(bin)
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &storage])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start tansu");
        wait_for_port(port, &mut child, "tansu");
        index_tansu_headers(&dir.path().join("tansu.db"));
        Tansu {
            server: ChildServer::adopt(child, dir),
            port,
        }
    }

    /// Bootstrap address, `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Port of the broker.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process, for signals.
    pub fn process(&mut self) -> &mut ChildServer {
        &mut self.server
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

/// Indexes tansu's header table (see `scripts/tansu-index-headers` for why).
fn index_tansu_headers(db: &std::path::Path) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/tansu-index-headers");
    let status = Command::new(script)
        .arg(db)
        .status()
        .expect("run scripts/tansu-index-headers");
    assert!(status.success(), "indexing tansu's header table failed");
}

/// A private osmem server (in-memory, OpenSearch-compatible), for tests that stall or stop it.
#[derive(Debug)]
pub struct Osmem {
    server: ChildServer,
    url: String,
}

impl Osmem {
    /// Starts a server on a free loopback port and waits until it reports its URL.
    pub fn spawn() -> Osmem {
        let bin = required("FLOW_OSMEM_BIN");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(bin)
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch", "-no-ja"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start osmem-server");
        // osmem prints one JSON line with its URL once it listens. The pipe is drained for the
        // server's whole life so that a later write never fails on a closed pipe.
        let stdout = child.stdout.take().expect("osmem stdout");
        let (first_line, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok).unwrap_or_default();
            first_line.send(first).ok();
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("osmem-server did not start within 30 s"));
        let url = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_owned))
            .unwrap_or_else(|| panic!("osmem-server did not report its URL: {line:?}"));
        Osmem {
            server: ChildServer::adopt(child, dir),
            url,
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The process, for signals (`SIGSTOP`/`SIGCONT` to stall the sink).
    pub fn process(&mut self) -> &mut ChildServer {
        &mut self.server
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}
