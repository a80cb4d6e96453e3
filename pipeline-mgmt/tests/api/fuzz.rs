//! An independent fuzzer against a live pipeline-mgmt: schemathesis (pinned in
//! `scripts/install-tools`) reads `/api/v1/openapi.json` and runs every check it has, every
//! phase including the stateful one (create, then the operations its links lead to), with a
//! bounded number of examples, once for each of three fixed seeds. Any failure it reports fails
//! this test.

use crate::helpers::spawn_app;
use std::path::PathBuf;
use std::process::Command;

/// Cases per operation and phase: enough for the coverage phase's boundaries, small enough
/// for the shared servers.
const MAX_EXAMPLES: &str = "50";
/// Fixed seeds, each run with every phase: the suite's first one and two more, so that what one
/// seed's examples miss another's may find, and any failure is reproduced by its seed.
const SEEDS: [&str; 3] = ["20261201", "7", "424242"];

fn schemathesis() -> PathBuf {
    let python = std::env::var("FLOW_PYTHON").expect(
        "FLOW_PYTHON is not set: scripts/install-tools --print-env names the tools venv \
         (scripts/test sets it)",
    );
    PathBuf::from(python).with_file_name("schemathesis")
}

/// One schemathesis run with `seed`: its exit success and its report.
async fn run(app: &crate::helpers::TestApp, seed: &str) -> (bool, String) {
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
        .args(["--max-examples", MAX_EXAMPLES, "--seed", seed])
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
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("schemathesis --seed {seed}:\n{stdout}");
    eprintln!("{stderr}");
    (output.status.success(), stdout)
}

/// The count of generated cases from the summary line `N generated, N passed[, M skipped]`,
/// or why that line says not every case passed.
fn all_passed(stdout: &str) -> Result<u64, String> {
    let summary = stdout
        .lines()
        .find(|l| l.contains(" generated, "))
        .ok_or_else(|| "no test case summary in the output".to_owned())?;
    let counts: Vec<&str> = summary.split(',').map(str::trim).collect();
    let generated: u64 = counts[0]
        .strip_suffix(" generated")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("unreadable summary: {summary}"))?;
    if generated == 0 {
        return Err("schemathesis generated no cases".to_owned());
    }
    if counts.get(1).copied() != Some(format!("{generated} passed").as_str()) {
        return Err(format!("not every case passed: {summary}"));
    }
    Ok(generated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let app = spawn_app().await;
    let mut failed = Vec::new();
    for seed in SEEDS {
        let (success, stdout) = run(&app, seed).await;
        match all_passed(&stdout) {
            Ok(generated) if success => {
                println!("schemathesis --seed {seed}: {generated} cases generated, all passed")
            }
            Ok(_) => failed.push(format!("seed {seed}: schemathesis exited with failures")),
            Err(why) => failed.push(format!("seed {seed}: {why}")),
        }
    }
    cleanup(&app).await;
    assert!(
        failed.is_empty(),
        "schemathesis reported failures (its output is above): {failed:?}"
    );
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
