//! The command line.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Operate flow-stream pipelines: definitions, status, dead letters and replays.
///
/// The server and token come from --url/--token, else FLOW_URL/FLOW_TOKEN, else the config file
/// (--config, FLOWCTL_CONFIG, or ~/.config/flowctl/config.yaml with `url:` and `token:`).
///
/// Exit codes: 0 success; 1 the server could not be reached or a local error; 2 usage;
/// 3 the token was refused (401) or lacks the role (403); 4 any other 4xx; 5 a 5xx.
#[derive(Debug, Parser)]
#[command(name = "flowctl", version)]
pub struct Cli {
    /// Base URL of pipeline-mgmt, e.g. http://localhost:13012.
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Bearer token.
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Config file (YAML with `url` and `token`).
    #[arg(long, global = true, env = "FLOWCTL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output: a table for people, json or yaml for scripts.
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    Table,
    /// JSON, as the API answers.
    Json,
    /// YAML.
    Yaml,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Pipeline definitions and life cycle.
    #[command(subcommand)]
    Pipelines(PipelineCommand),
    /// Brokers: shared input topics, and the pipelines that read each.
    #[command(subcommand)]
    Brokers(BrokerCommand),
    /// A pipeline's dead letters, newest first.
    Errors {
        /// Pipeline name or id.
        pipeline: String,
        /// Only this failed stage (decode, parse, …, index).
        #[arg(long)]
        stage: Option<String>,
        /// How many (1 to 500).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Re-inject dead letters into the pipeline's input topic.
    Replay {
        /// Pipeline name or id.
        pipeline: String,
        /// Only this failed stage.
        #[arg(long)]
        stage: Option<String>,
        /// Only reasons containing this text.
        #[arg(long)]
        reason: Option<String>,
        /// Wait for the job to finish, showing its progress.
        #[arg(long)]
        follow: bool,
    },
    /// A pipeline's indices: documents, store size, date and template version.
    Indices {
        /// Pipeline name or id.
        pipeline: String,
    },
    /// Run events through a definition without side effects.
    DryRun {
        /// The definition (YAML or JSON).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Events: a JSON array, or one JSON object per line.
        #[arg(long, conflicts_with = "from_errors")]
        events: Option<PathBuf>,
        /// Use the pipeline's latest N dead letters as the events.
        #[arg(long)]
        from_errors: Option<u32>,
    },
}

/// `flowctl brokers …`.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Every broker with the pipelines on it.
    List,
    /// One broker.
    Get {
        /// Broker name.
        broker: String,
    },
    /// Create a broker (and its topic).
    Create {
        /// Broker name.
        broker: String,
        /// Partitions of its topic (default 3).
        #[arg(long)]
        partitions: Option<u32>,
        /// Replicas of its topic (default 1; use 3 on a production cluster).
        #[arg(long)]
        replication_factor: Option<u32>,
        /// `min.insync.replicas` of its topic, at most the replication factor (default: the
        /// Kafka cluster's).
        #[arg(long)]
        min_insync_replicas: Option<u32>,
        /// `retention.ms` of its topic: -1 keeps forever (default: the Kafka cluster's).
        #[arg(long, allow_negative_numbers = true)]
        retention_ms: Option<i64>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a broker and its topic (refused while pipelines read it).
    Delete {
        /// Broker name.
        broker: String,
    },
}

/// `flowctl pipelines …`.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Every pipeline.
    List,
    /// One pipeline's definition.
    Get {
        /// Name or id.
        pipeline: String,
    },
    /// Create the pipeline of FILE, or update it to FILE; prints what changed.
    Apply {
        /// The definition (YAML or JSON).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
    },
    /// Delete a pipeline (its topics; the index is kept).
    Delete {
        /// Name or id.
        pipeline: String,
        /// Delete even while running.
        #[arg(long)]
        force: bool,
    },
    /// Set the desired state to running.
    Start {
        /// Name or id.
        pipeline: String,
    },
    /// Set the desired state to stopped.
    Stop {
        /// Name or id.
        pipeline: String,
    },
    /// Desired and observed state, per-worker counters.
    Status {
        /// Name or id.
        pipeline: String,
    },
}
