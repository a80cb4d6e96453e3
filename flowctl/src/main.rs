//! `flowctl`: operate flow-stream pipelines from a terminal or a script.

mod api;
mod apply;
mod brokers;
mod cli;
mod client;
mod commands;
mod config;
mod indices;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: starting the runtime: {err}");
            return ExitCode::from(client::EXIT_LOCAL);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.line());
            ExitCode::from(failure.exit_code())
        }
    }
}
