//! `flow-loadgen`: see `flow-loadgen --help` and the crate documentation.

use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = flow_loadgen::cli::Cli::parse();
    match flow_loadgen::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("flow-loadgen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
