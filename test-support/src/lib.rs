//! The real servers that flow-stream's integration tests run against.
//!
//! `scripts/test` (through `scripts/stack up`) starts one shared MariaDB, Apache Kafka 4.4 node and
//! OpenSearch 2.19 node on ephemeral loopback ports and exports their addresses:
//!
//! | variable | meaning |
//! |---|---|
//! | `FLOW_TEST_MYSQL_URL` | `mysql://user:pass@127.0.0.1:PORT`, an account that may create databases |
//! | `FLOW_TEST_KAFKA_BROKERS` | `127.0.0.1:PORT`, the shared broker's PLAINTEXT listener |
//! | `FLOW_TEST_KAFKA_SASL_BROKERS` | its SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-512; [`SASL_USER`]) |
//! | `FLOW_TEST_OPENSEARCH_URL` | `http://127.0.0.1:PORT` of the shared OpenSearch node |
//! | `FLOW_SERVERS_DIR`, `FLOW_KAFKA_LIBS`, `FLOW_OPENSEARCH_HOME` | launchers and jars for private servers |
//! | `FLOW_STACK_DIR` | the stack's directory; private servers register their pids under it |
//!
//! Tests share the servers but never their data: each takes a fresh database
//! ([`fresh_database`]) and random topic and index names ([`unique_name`]). A test that kills,
//! stalls or reconfigures a server starts a private one with [`Kafka::spawn`] or
//! [`OpenSearch::spawn`] (or a MariaDB with other server options with [`MariaDb::spawn_with`]),
//! through the same launchers (`scripts/servers/*/run`) as the shared ones.
//! It is stopped by pid on drop, and `scripts/test` stops any that a crashed test binary left
//! behind.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test harness: fail loudly

pub mod cluster;
mod in_process;
pub mod tls;

pub use in_process::InProcess;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Addresses of the shared servers.
#[derive(Debug, Clone)]
pub struct Servers {
    /// Server URL without a database, for an account that may create databases.
    pub mysql_url: String,
    /// Kafka bootstrap address of the shared broker (PLAINTEXT).
    pub kafka_brokers: String,
    /// Kafka bootstrap address of the shared broker's SASL_PLAINTEXT listener.
    pub kafka_sasl_brokers: String,
    /// Base URL of the shared OpenSearch node.
    pub opensearch_url: String,
}

/// User and password that the SASL listener of every broker of ours accepts (PLAIN and
/// SCRAM-SHA-512). Test credentials on loopback only.
pub const SASL_USER: (&str, &str) = ("flow", "flow-secret");

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
        kafka_sasl_brokers: required("FLOW_TEST_KAFKA_SASL_BROKERS"),
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
    fresh_database_on(&servers().mysql_url).await
}

/// Creates an empty database on the MariaDB server at `server_url` (no database in the URL, e.g.
/// [`MariaDb::url`]) and returns its URL. The database takes the server's default character set.
pub async fn fresh_database_on(server_url: &str) -> String {
    use sqlx::Connection;
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::MySqlConnection::connect(server_url)
        .await
        .expect("connect to MariaDB");
    sqlx::query(&format!("CREATE DATABASE `{name}`"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    conn.close().await.ok();
    format!("{}/{name}", server_url.trim_end_matches('/'))
}

/// A free loopback port. The port is released before returning, so a server started right after
/// gets it unless another process races for it, which on loopback in tests is rare.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// Polls `ready` every 100 ms until it holds; panics with the log's tail when `child` exits
/// first or `limit` passes.
fn wait_until(
    child: &mut Child,
    what: &str,
    log: &Path,
    limit: Duration,
    ready: impl Fn() -> bool,
) {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return;
        }
        let tail = || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        };
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up: {status}\n{}", tail());
        }
        if Instant::now() > deadline {
            panic!("{what} was not ready within {limit:?}\n{}", tail());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One plain HTTP/1.0 GET on loopback, without a client library: the status code and body.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
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
}

impl ChildServer {
    fn adopt(child: Child) -> Self {
        // Register the pid so scripts/test can stop it should this test binary die before drop.
        let pid_file = std::env::var("FLOW_STACK_DIR").ok().map(|stack| {
            let pids = PathBuf::from(stack).join("pids");
            std::fs::create_dir_all(&pids).ok();
            let file = pids.join(child.id().to_string());
            std::fs::write(&file, child.id().to_string()).ok();
            file
        });
        ChildServer { child, pid_file }
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

fn launcher(server: &str) -> PathBuf {
    std::env::var("FLOW_SERVERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/servers"))
        .join(server)
        .join("run")
}

fn log_file(dir: &Path, name: &str) -> (PathBuf, std::fs::File) {
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("log file");
    (path, file)
}

/// A private Apache Kafka node (KRaft, broker and controller in one JVM) with its own data
/// directory, for tests that kill, restart or stall the broker. [`Kafka::kill`] then
/// [`Kafka::restart`] bring it back on the same ports with the same topics and offsets.
#[derive(Debug)]
pub struct Kafka {
    server: Option<ChildServer>,
    port: u16,
    controller_port: u16,
    sasl_port: u16,
    starts: u32,
    dir: tempfile::TempDir,
}

impl Kafka {
    /// Starts a node on free loopback ports and waits until it says it has started.
    pub fn spawn() -> Kafka {
        let mut kafka = Kafka {
            server: None,
            port: free_port(),
            controller_port: free_port(),
            sasl_port: free_port(),
            starts: 0,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        kafka.restart();
        kafka
    }

    /// Starts the node again (after [`Kafka::kill`]) on the same ports and data.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "the broker is running");
        required("FLOW_KAFKA_LIBS");
        self.starts += 1;
        let (log, file) = log_file(self.dir.path(), &format!("kafka-{}.log", self.starts));
        let mut child = Command::new(launcher("kafka"))
            .arg(self.dir.path().join("node"))
            .args([self.port, self.controller_port, self.sasl_port].map(|p| p.to_string()))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start scripts/servers/kafka/run");
        let started = || {
            std::fs::read_to_string(&log).is_ok_and(|text| text.contains("Kafka Server started"))
        };
        wait_until(&mut child, "kafka", &log, Duration::from_secs(90), started);
        self.server = Some(ChildServer::adopt(child));
    }

    /// Kills the node (SIGKILL, no clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// Bootstrap address of the PLAINTEXT listener, `127.0.0.1:PORT`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Bootstrap address of the SASL_PLAINTEXT listener (credentials: [`SASL_USER`]).
    pub fn sasl_brokers(&self) -> String {
        format!("127.0.0.1:{}", self.sasl_port)
    }

    /// The running process, for signals.
    pub fn process(&mut self) -> &mut ChildServer {
        self.server.as_mut().expect("the broker is not running")
    }

    /// Process id of the running node.
    pub fn pid(&self) -> u32 {
        self.server
            .as_ref()
            .expect("the broker is not running")
            .pid()
    }
}

/// A private OpenSearch node with its own data directory, for tests that kill, stall or
/// reconfigure the search side (e.g. a tiny write queue that answers 429 per item).
/// [`OpenSearch::kill`] then [`OpenSearch::restart`] bring it back on the same port and data.
#[derive(Debug)]
pub struct OpenSearch {
    server: Option<ChildServer>,
    port: u16,
    transport_port: u16,
    settings: Vec<String>,
    starts: u32,
    dir: tempfile::TempDir,
}

impl OpenSearch {
    /// Starts a node with the default settings and waits until the cluster is yellow.
    pub fn spawn() -> OpenSearch {
        OpenSearch::spawn_with(&[])
    }

    /// Starts a node with extra node settings (`key=value`, e.g.
    /// `thread_pool.write.queue_size=1`) and waits until the cluster is yellow.
    pub fn spawn_with(settings: &[&str]) -> OpenSearch {
        let mut node = OpenSearch {
            server: None,
            port: free_port(),
            transport_port: free_port(),
            settings: settings.iter().map(|s| (*s).to_owned()).collect(),
            starts: 0,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        node.restart();
        node
    }

    /// Starts the node again (after [`OpenSearch::kill`]) on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "the node is running");
        required("FLOW_OPENSEARCH_HOME");
        self.starts += 1;
        let (log, file) = log_file(self.dir.path(), &format!("opensearch-{}.log", self.starts));
        let mut child = Command::new(launcher("opensearch"))
            .arg(self.dir.path().join("node"))
            .args([self.port, self.transport_port].map(|p| p.to_string()))
            .args(&self.settings)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start scripts/servers/opensearch/run");
        let port = self.port;
        let healthy = || {
            http_get(port, "/_cluster/health?wait_for_status=yellow&timeout=1s")
                .is_some_and(|(status, _)| status == 200)
        };
        wait_until(
            &mut child,
            "opensearch",
            &log,
            Duration::from_secs(120),
            healthy,
        );
        self.server = Some(ChildServer::adopt(child));
    }

    /// Kills the node (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The running process, for signals (`SIGSTOP`/`SIGCONT` to stall the sink).
    pub fn process(&mut self) -> &mut ChildServer {
        self.server.as_mut().expect("the node is not running")
    }

    /// Process id of the running node.
    pub fn pid(&self) -> u32 {
        self.server.as_ref().expect("the node is not running").pid()
    }
}

/// Creates (or replaces) the SCRAM-SHA-512 credentials of `user` on the broker at `brokers`
/// (a PLAINTEXT listener) with the independent client (confluent-kafka's AlterUserScramCredentials).
/// The broker applies them without a restart, as an operator fixing credentials would.
pub fn upsert_scram_user(brokers: &str, user: &str, password: &str) {
    const SCRIPT: &str = r#"
import sys
from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)
brokers, user, password = sys.argv[1:4]
admin = AdminClient({"bootstrap.servers": brokers})
upsert = UserScramCredentialUpsertion(
    user, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), password.encode())
for future in admin.alter_user_scram_credentials([upsert]).values():
    future.result(timeout=30)
"#;
    let python = std::env::var("FLOW_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let output = Command::new(python)
        .args(["-c", SCRIPT, brokers, user, password])
        .output()
        .expect("run the SCRAM credentials script");
    assert!(
        output.status.success(),
        "AlterUserScramCredentials failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A private MariaDB server with its own data directory, for tests that need server options the
/// shared one does not have (e.g. `--character-set-server=latin1`). Set up as `scripts/stack`
/// sets up the shared one: `mariadb-install-db`, then `mariadbd` on a free loopback port, with a
/// `flow`/`flow` account that may create databases.
#[derive(Debug)]
pub struct MariaDb {
    server: Option<ChildServer>,
    port: u16,
    args: Vec<String>,
    starts: u32,
    dir: tempfile::TempDir,
}

impl MariaDb {
    /// User and password of the account [`MariaDb::url`] names.
    pub const ACCOUNT: (&'static str, &'static str) = ("flow", "flow");

    /// Starts a server with `mariadbd` options appended to ours (e.g.
    /// `--character-set-server=latin1`) and waits until the account can log in.
    pub fn spawn_with(args: &[&str]) -> MariaDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        // Temporary tables of its own: bootstraps running at once in a shared /tmp have failed
        // with "Could not remove temporary table".
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("mariadb tmpdir");
        let (install_log, install_file) = log_file(dir.path(), "mariadb-install.log");
        let installed = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--user={}", Self::os_user()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdin(Stdio::null())
            .stdout(install_file.try_clone().expect("log file"))
            .stderr(install_file)
            .status()
            .expect("run mariadb-install-db (scripts/install-tools installs it)");
        assert!(
            installed.success(),
            "mariadb-install-db failed: {}",
            std::fs::read_to_string(&install_log).unwrap_or_default()
        );
        let mut server = MariaDb {
            server: None,
            port: free_port(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            starts: 0,
            dir,
        };
        server.restart();
        server
    }

    fn os_user() -> String {
        Command::new("id")
            .arg("-un")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .expect("run id -un")
    }

    /// Starts the server (again, after [`MariaDb::kill`]) on the same port and data, and waits
    /// until the account can log in.
    pub fn restart(&mut self) {
        assert!(self.server.is_none(), "the server is running");
        self.starts += 1;
        let data = self.dir.path().join("data");
        let socket = self.dir.path().join("mysqld.sock");
        let (log, file) = log_file(self.dir.path(), &format!("mariadb-{}.log", self.starts));
        let child = Command::new("/usr/sbin/mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!(
                "--tmpdir={}",
                self.dir.path().join("tmp").display()
            ))
            .arg(format!("--user={}", Self::os_user()))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--skip-log-bin",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--socket={}", socket.display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("mariadbd.pid").display()
            ))
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-flush-log-at-trx-commit=2",
            ])
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("start /usr/sbin/mariadbd");
        let (name, password) = Self::ACCOUNT;
        let account = format!(
            "CREATE USER IF NOT EXISTS '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'; \
             GRANT ALL PRIVILEGES ON *.* TO '{name}'@'127.0.0.1';"
        );
        let ready = || {
            Command::new("mariadb")
                .arg("--no-defaults")
                .arg(format!("--socket={}", socket.display()))
                .args(["-uroot", "-e", &account])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        // Adopted first, so that a server that never gets ready is still stopped.
        let mut server = ChildServer::adopt(child);
        wait_until(
            &mut server.child,
            "mariadbd",
            &log,
            Duration::from_secs(60),
            ready,
        );
        self.server = Some(server);
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.stop();
        }
    }

    /// `mysql://flow:flow@127.0.0.1:PORT`, without a database (see [`fresh_database_on`]).
    pub fn url(&self) -> String {
        let (name, password) = Self::ACCOUNT;
        format!("mysql://{name}:{password}@127.0.0.1:{}", self.port)
    }

    /// The data directory's parent, which holds the server's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Process id of the running server.
    pub fn pid(&self) -> u32 {
        self.server
            .as_ref()
            .expect("the server is not running")
            .pid()
    }
}
