//! `flowctl indices PIPELINE`: the pipeline's indices in OpenSearch, read as typed rows so that a
//! renamed field fails here instead of printing `-`.

use crate::api;
use crate::cli::Format;
use crate::client::{Client, Failure};
use crate::output::{self, table};
use serde::Deserialize;

/// One index of `GET /api/v1/pipelines/{id}/indices`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexRow {
    name: String,
    documents: u64,
    store_bytes: u64,
    date: Option<String>,
    template_version: Option<i64>,
    retention_deletes_at: Option<String>,
    retention_deletes_next: bool,
}

#[derive(Debug, Deserialize)]
struct Indices {
    items: Vec<IndexRow>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// Prints the indices of the pipeline with id `pipeline_id`.
pub async fn run(client: &Client, format: Format, pipeline_id: &str) -> Result<(), Failure> {
    let body = client
        .get(&format!("/api/v1/pipelines/{pipeline_id}/indices"))
        .await?
        .body;
    if output::structured(format, &body)? {
        return Ok(());
    }
    let indices: Indices = api::read("indices", body)?;
    let rows: Vec<Vec<String>> = indices
        .items
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.date.clone().unwrap_or_else(|| "-".into()),
                i.documents.to_string(),
                mib(i.store_bytes),
                i.template_version
                    .map_or_else(|| "-".into(), |v| v.to_string()),
                match (&i.retention_deletes_at, i.retention_deletes_next) {
                    (Some(_), true) => "next sweep".into(),
                    (Some(at), false) => at.clone(),
                    (None, _) => "-".into(),
                },
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "INDEX",
                "DATE",
                "DOCS",
                "STORE MiB",
                "TEMPLATE",
                "DELETED AT"
            ],
            &rows
        )
    );
    Ok(())
}
