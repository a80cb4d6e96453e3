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
    for key in settings.unverified_tls() {
        tracing::warn!(
            key,
            "TLS certificate verification is OFF for this connection (development only)"
        );
    }
    install_panic_hook();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{binary}: cannot start the tokio runtime: {err}");
            tracing::error!(
                exit_code = 1,
                "{binary} exits: cannot start the tokio runtime"
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work(settings)) {
        Ok(()) => {
            tracing::info!(exit_code = 0, "{binary} exits");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(
                error = format!("{err:#}"),
                exit_code = 1,
                "{binary} exits: failed"
            );
            eprintln!("{binary}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The text of a panic payload: the `&str` or `String` that `panic!` was given.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Routes every panic through tracing (message, location, thread) before the default hook
/// prints it, so that a panic on any thread leaves a structured line in the service's log even
/// when the panic is caught and the process goes on.
pub fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            panic = panic_message(info.payload()),
            location,
            thread = thread.name().unwrap_or("unnamed"),
            "panic"
        );
        default_hook(info);
    }));
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
