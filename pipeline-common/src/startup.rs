//! What both binaries do around their work: load the configuration, set up telemetry, run on a
//! tokio runtime, and turn the outcome into an exit code; plus the shutdown signal they stop on.

use crate::config::{ConfigSource, Settings};
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

/// Loads the configuration (exit code 2 with one line naming the key when it is bad), installs
/// telemetry, and runs `work` to completion on a multi-threaded runtime.
///
/// An error from `work` is logged with its cause chain and printed as one line on stderr.
pub fn run<F, Fut>(binary: &str, config: Option<PathBuf>, work: F) -> ExitCode
where
    F: FnOnce(Settings) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let settings = match Settings::load(&ConfigSource::from_process(config)) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{binary}: {err}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(&settings.log);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{binary}: cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "{binary} failed");
            eprintln!("{binary}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGTERM or SIGINT, logging which arrived.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "listening for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "listening for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
