//! Command line: `pipeline-worker [--config FILE] run`.

use clap::{Parser, Subcommand};
use pipeline_common::build_info::BuildInfo;
use pipeline_common::config::Settings;
use std::path::PathBuf;
use std::process::ExitCode;

/// flow-stream pipeline worker: consumes pipeline input topics, runs the stages, bulk-indexes.
#[derive(Debug, Parser)]
#[command(name = "pipeline-worker", disable_version_flag = true)]
pub struct Cli {
    /// Configuration file (YAML); overridable key by key with FLOW__SECTION__KEY variables.
    #[arg(long, global = true, env = "FLOW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print name, version, rustc version and os/arch, then exit.
    #[arg(long, short = 'V')]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker until SIGTERM or SIGINT.
    Run,
}

/// Build information of this binary.
pub fn build_info() -> BuildInfo {
    BuildInfo::new("pipeline-worker", env!("CARGO_PKG_VERSION"))
}

/// Entry point of the binary: parse, load configuration, dispatch.
pub fn main() -> ExitCode {
    // Before the runtime and librdkafka start their threads: glibc gives a thread its arena at its
    // first allocation.
    let allocator_tuned = crate::memory::configure_allocator();
    let cli = Cli::parse();
    if cli.version {
        println!("{}", build_info().line());
        return ExitCode::SUCCESS;
    }
    let Some(Command::Run) = cli.command else {
        eprintln!("pipeline-worker: a command is required (run); see --help");
        return ExitCode::from(2);
    };
    pipeline_common::startup::run("pipeline-worker", cli.config, move |settings| {
        run(settings, allocator_tuned)
    })
}

async fn run(settings: Settings, allocator_tuned: bool) -> anyhow::Result<()> {
    if allocator_tuned {
        tracing::info!("glibc heap: one arena for all threads");
    }
    let app = crate::WorkerApp::build(settings).await?;
    app.run_until(pipeline_common::startup::shutdown_signal())
        .await
}
