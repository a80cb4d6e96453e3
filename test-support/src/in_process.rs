//! One of our servers (a worker, pipeline-mgmt) running as a task of the test process.

use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long [`InProcess::shutdown`] waits for the server to end.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

/// A server running as a task until [`InProcess::shutdown`].
pub struct InProcess {
    stop: CancellationToken,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Runs `serve` as a task; it is given the token that asks it to stop, e.g.
    /// `InProcess::spawn(|stop| app.run_until(stop.cancelled_owned()))`.
    pub fn spawn<Fut>(serve: impl FnOnce(CancellationToken) -> Fut) -> InProcess
    where
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let join = tokio::spawn(serve(stop.clone()));
        InProcess { stop, join }
    }

    /// Whether the server is still running (it has not returned or panicked).
    pub fn is_running(&self) -> bool {
        !self.join.is_finished()
    }

    /// Asks the server to stop, and asserts that it ends cleanly within a minute.
    pub async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(SHUTDOWN_LIMIT, self.join)
            .await
            .expect("the server stops within 60 s")
            .expect("the server's task does not panic")
            .expect("the server ends without an error");
    }
}
