//! An independent fuzzer against a live pipeline-mgmt: schemathesis (pinned in
//! `scripts/install-tools`) reads `/api/v1/openapi.json` and runs every check it has, every
//! phase including the stateful one (create, then the operations its links lead to), with a
//! bounded number of examples and a fixed seed. Any failure it reports fails this test.

use crate::helpers::spawn_app;
use std::path::PathBuf;
use std::process::Command;

/// Cases per operation and phase: enough for the coverage phase's boundaries, small enough
/// for the shared servers.
const MAX_EXAMPLES: &str = "50";
const SEED: &str = "20261201";

fn schemathesis() -> PathBuf {
    let python = std::env::var("FLOW_PYTHON").expect(
        "FLOW_PYTHON is not set: scripts/install-tools --print-env names the tools venv \
         (scripts/test sets it)",
    );
    PathBuf::from(python).with_file_name("schemathesis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let app = spawn_app().await;
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let reports = tempfile::tempdir().unwrap();
    let mut command = Command::new(schemathesis());
    command
        .arg("--config-file")
        .arg(here.join("schemathesis.toml"))
        .arg("--no-color")
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "1", "--request-timeout", "30"])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", app.tokens.admin),
        ])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(reports.path())
        // Whatever it writes (hypothesis' example database) stays out of the checkout.
        .current_dir(reports.path())
        .env("PYTHONPATH", &here)
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run schemathesis (scripts/install-tools installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "schemathesis reported failures (exit {:?}); its output is above",
        output.status.code()
    );
    // The summary's line `N generated, N passed[, M skipped]`: every generated case passed.
    let summary = stdout
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no test case summary in the output:\n{stdout}"));
    let counts: Vec<&str> = summary.split(',').map(str::trim).collect();
    let generated: u64 = counts[0]
        .strip_suffix(" generated")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable summary: {summary}"));
    assert!(generated > 0, "schemathesis generated no cases");
    assert_eq!(
        counts.get(1).copied(),
        Some(format!("{generated} passed").as_str()),
        "not every case passed: {summary}"
    );
    println!("schemathesis: {generated} cases generated, all passed");
    cleanup(&app).await;
}

/// Deletes what the run created on the shared servers: pipelines (with their topics), and the
/// indices they named.
async fn cleanup(app: &crate::helpers::TestApp) {
    let page = app
        .get("/api/v1/pipelines?limit=1000", &app.tokens.admin)
        .await;
    for pipeline in page.body["items"].as_array().into_iter().flatten() {
        let id = pipeline["id"].as_str().unwrap_or_default();
        app.send(app.request(
            reqwest::Method::DELETE,
            &format!("/api/v1/pipelines/{id}?force=true"),
            Some(&app.tokens.admin),
        ))
        .await;
        // Exactly the index the pipeline made (today's, for a date pattern): other tests'
        // indices share the node.
        let index = pipeline["index"]
            .as_str()
            .and_then(|i| pipeline_common::model::IndexName::parse(i).ok());
        if let Some(index) = index {
            let url = format!(
                "{}/{}?ignore_unavailable=true",
                app.opensearch,
                urlencode(&index.concrete_for_check())
            );
            app.client.delete(url).send().await.ok();
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
