//! Prints the index template pipeline-mgmt installs for a definition, for benchmarks and for
//! operators who want to see it before creating the pipeline.
//!
//! `index-template '<definition JSON>'` prints the `PUT _index_template/<name>` body with the
//! built-in server defaults (`opensearch.default*`, no geoip database) on stdout; an invalid
//! definition prints its field errors on stderr and exits 1.

use pipeline_common::index_template::{template_body, Codec, TemplateDefaults, TemplateMeta};
use pipeline_common::model::{PipelineDefinition, ValidationContext};
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(arg) = std::env::args().nth(1) else {
        eprintln!("usage: index-template '<definition JSON>'");
        return ExitCode::from(2);
    };
    let json: serde_json::Value = match serde_json::from_str(&arg) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let definition = match PipelineDefinition::parse(&json, &ValidationContext::new(false)) {
        Ok(d) => d,
        Err(errors) => {
            for e in errors.into_iter() {
                eprintln!("{}: {}", e.field, e.message);
            }
            return ExitCode::FAILURE;
        }
    };
    let defaults = TemplateDefaults {
        shards: 1,
        replicas: 1,
        refresh_interval: "1s".into(),
        codec: Codec::Default,
        geoip_available: false,
    };
    let meta = TemplateMeta::new("-", definition.name(), 1);
    println!("{}", template_body(&definition, &defaults, &meta));
    ExitCode::SUCCESS
}
