//! Command line: `pipeline-mgmt [--config FILE] serve|migrate|token hash TOKEN`.

use clap::{Parser, Subcommand};
use pipeline_common::build_info::BuildInfo;
use pipeline_common::config::Settings;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::ExitCode;

/// flow-stream pipeline management REST service.
#[derive(Debug, Parser)]
#[command(name = "pipeline-mgmt", disable_version_flag = true)]
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
    /// Run the REST service (runs pending migrations first).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Token helpers.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// Token helpers.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Print the sha256 hex digest of TOKEN, for `auth.tokens[].sha256`.
    Hash {
        /// The bearer token.
        token: String,
    },
}

/// Build information of this binary.
pub fn build_info() -> BuildInfo {
    BuildInfo::new("pipeline-mgmt", env!("CARGO_PKG_VERSION"))
}

/// Entry point of the binary: parse, load configuration, dispatch.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("{}", build_info().line());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        eprintln!("pipeline-mgmt: a command is required (serve, migrate, token); see --help");
        return ExitCode::from(2);
    };
    if let Command::Token {
        action: TokenAction::Hash { token },
    } = &command
    {
        println!("{}", hex::encode(Sha256::digest(token.as_bytes())));
        return ExitCode::SUCCESS;
    }
    pipeline_common::startup::run("pipeline-mgmt", cli.config, |settings| async move {
        match command {
            Command::Serve => serve(settings).await,
            Command::Migrate => migrate(settings).await,
            Command::Token { .. } => Ok(()),
        }
    })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let pool = crate::store::pool(&settings)?;
    crate::store::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(())
}
