//! One function per command.

use crate::apply;
use crate::cli::{Cli, Command, Format, PipelineCommand};
use crate::client::{Client, Failure};
use crate::config;
use crate::output::{self, cell, table};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    let connection = config::resolve(cli.url, cli.token, cli.config.as_deref(), |k| {
        std::env::var(k).ok()
    })?;
    let client = Client::new(&connection.url, connection.token)?;
    let format = cli.output;
    match cli.command {
        Command::Pipelines(command) => pipelines(&client, format, command).await,
        Command::Errors {
            pipeline,
            stage,
            limit,
        } => errors(&client, format, &pipeline, stage.as_deref(), limit).await,
        Command::Replay {
            pipeline,
            stage,
            reason,
            follow,
        } => replay(&client, format, &pipeline, stage, reason, follow).await,
        Command::DryRun {
            file,
            events,
            from_errors,
        } => dry_run(&client, format, &file, events.as_deref(), from_errors).await,
        Command::Indices { pipeline } => {
            let found = find(&client, &pipeline).await?;
            crate::indices::run(&client, format, &found).await
        }
    }
}

async fn pipelines(
    client: &Client,
    format: Format,
    command: PipelineCommand,
) -> Result<(), Failure> {
    match command {
        PipelineCommand::List => {
            let all = list_all(client).await?;
            if !output::structured(format, &Value::Array(all.clone()))? {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|p| {
                        vec![
                            cell(&p["name"]),
                            cell(&p["state"]),
                            cell(&p["version"]),
                            cell(&p["index"]),
                            cell(&p["id"]),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["NAME", "STATE", "VERSION", "INDEX", "ID"], &rows)
                );
            }
            Ok(())
        }
        PipelineCommand::Get { pipeline } => {
            let found = find(client, &pipeline).await?;
            if !output::structured(format, &found)? {
                output::structured(Format::Yaml, &found)?;
            }
            Ok(())
        }
        PipelineCommand::Apply { file } => apply_file(client, format, &file).await,
        PipelineCommand::Delete { pipeline, force } => {
            let found = find(client, &pipeline).await?;
            let path = format!(
                "/api/v1/pipelines/{}{}",
                cell(&found["id"]),
                if force { "?force=true" } else { "" }
            );
            client.send(Method::DELETE, &path, None, None).await?;
            say(format, json!({"deleted": found["name"]}), || {
                format!("deleted {}", cell(&found["name"]))
            })
        }
        PipelineCommand::Start { pipeline } => {
            set_state(client, format, &pipeline, "running").await
        }
        PipelineCommand::Stop { pipeline } => set_state(client, format, &pipeline, "stopped").await,
        PipelineCommand::Status { pipeline } => {
            let found = find(client, &pipeline).await?;
            let status = client
                .get(&format!("/api/v1/pipelines/{}/status", cell(&found["id"])))
                .await?
                .body;
            if !output::structured(format, &status)? {
                println!(
                    "{}: desired {}, observed {}, reason {}",
                    cell(&found["name"]),
                    cell(&status["desired"]),
                    cell(&status["observed"]),
                    cell(&status["reason"])
                );
                let rows: Vec<Vec<String>> = status["workers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|w| {
                        [
                            "worker",
                            "status",
                            "partitions",
                            "consumed",
                            "indexed",
                            "deadLettered",
                            "filtered",
                            "lag",
                            "heartbeatAgeMs",
                        ]
                        .iter()
                        .map(|k| cell(&w[*k]))
                        .collect()
                    })
                    .collect();
                print!(
                    "{}",
                    table(
                        &[
                            "WORKER",
                            "STATUS",
                            "PARTITIONS",
                            "CONSUMED",
                            "INDEXED",
                            "DEAD-LETTERED",
                            "FILTERED",
                            "LAG",
                            "HEARTBEAT-MS"
                        ],
                        &rows
                    )
                );
            }
            Ok(())
        }
    }
}

/// Prints `value` for scripts, or `line()` for people.
fn say(format: Format, value: Value, line: impl FnOnce() -> String) -> Result<(), Failure> {
    if !output::structured(format, &value)? {
        println!("{}", line());
    }
    Ok(())
}

async fn list_all(client: &Client) -> Result<Vec<Value>, Failure> {
    let mut out = Vec::new();
    let mut path = "/api/v1/pipelines?limit=1000".to_owned();
    loop {
        let page = client.get(&path).await?.body;
        out.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => path = format!("/api/v1/pipelines?limit=1000&after={next}"),
            None => return Ok(out),
        }
    }
}

/// The pipeline named (or with the id) `which`.
async fn find(client: &Client, which: &str) -> Result<Value, Failure> {
    list_all(client)
        .await?
        .into_iter()
        .find(|p| p["name"] == which || p["id"] == which)
        .ok_or_else(|| Failure::local(format!("no pipeline named {which}")))
}

fn read_definition(file: &Path) -> Result<Value, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::local(format!("{}: {e}", file.display())))?;
    // YAML 1.2 reads JSON too.
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| Failure::local(format!("{}: not YAML or JSON: {e}", file.display())))?;
    if !value.is_object() {
        return Err(Failure::local(format!(
            "{}: a pipeline definition is an object",
            file.display()
        )));
    }
    Ok(value)
}

async fn apply_file(client: &Client, format: Format, file: &Path) -> Result<(), Failure> {
    let definition = read_definition(file)?;
    let name = definition["name"]
        .as_str()
        .ok_or_else(|| Failure::local(format!("{}: no name", file.display())))?
        .to_owned();
    let existing = list_all(client)
        .await?
        .into_iter()
        .find(|p| p["name"] == name.as_str());
    let Some(stored) = existing else {
        let created = client.post("/api/v1/pipelines", &definition).await?.body;
        return say(
            format,
            json!({"action": "created", "changed": [], "pipeline": created}),
            || format!("created {name} (version {})", cell(&created["version"])),
        );
    };
    let changed = apply::changed(&definition, &stored);
    if changed.is_empty() {
        return say(
            format,
            json!({"action": "unchanged", "changed": [], "pipeline": stored}),
            || format!("unchanged {name} (version {})", cell(&stored["version"])),
        );
    }
    let version = format!("\"{}\"", cell(&stored["version"]));
    let updated = client
        .send(
            Method::PUT,
            &format!("/api/v1/pipelines/{}", cell(&stored["id"])),
            Some(&definition),
            Some(&version),
        )
        .await?
        .body;
    say(
        format,
        json!({"action": "updated", "changed": changed, "pipeline": updated}),
        || {
            format!(
                "updated {name}: version {} -> {} (changed: {})",
                cell(&stored["version"]),
                cell(&updated["version"]),
                changed.join(", ")
            )
        },
    )
}

async fn set_state(
    client: &Client,
    format: Format,
    which: &str,
    state: &str,
) -> Result<(), Failure> {
    let found = find(client, which).await?;
    let answer = client
        .send(
            Method::PATCH,
            &format!("/api/v1/pipelines/{}/state", cell(&found["id"])),
            Some(&json!({"state": state})),
            None,
        )
        .await?
        .body;
    say(format, answer.clone(), || {
        format!(
            "{}: desired state {} (version {})",
            cell(&answer["name"]),
            cell(&answer["state"]),
            cell(&answer["version"])
        )
    })
}

fn header(letter: &Value, name: &str) -> String {
    letter["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|h| h["name"] == name)
        .map(|h| cell(&h["value"]))
        .unwrap_or_else(|| "-".to_owned())
}

fn shorten(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

async fn errors(
    client: &Client,
    format: Format,
    which: &str,
    stage: Option<&str>,
    limit: u32,
) -> Result<(), Failure> {
    let found = find(client, which).await?;
    let mut path = format!(
        "/api/v1/pipelines/{}/errors?limit={limit}",
        cell(&found["id"])
    );
    if let Some(stage) = stage {
        path.push_str(&format!("&stage={}", query_escape(stage)));
    }
    let page = client.get(&path).await?.body;
    if !output::structured(format, &page)? {
        let rows: Vec<Vec<String>> = page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                vec![
                    cell(&l["partition"]),
                    cell(&l["offset"]),
                    cell(&l["timestamp"]),
                    header(l, "error.stage"),
                    shorten(&header(l, "error.reason"), 50),
                    shorten(&cell(&l["value"]), 60),
                ]
            })
            .collect();
        print!(
            "{}",
            table(
                &["PARTITION", "OFFSET", "TIME", "STAGE", "REASON", "VALUE"],
                &rows
            )
        );
    }
    Ok(())
}

fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn replay(
    client: &Client,
    format: Format,
    which: &str,
    stage: Option<String>,
    reason: Option<String>,
    follow: bool,
) -> Result<(), Failure> {
    let found = find(client, which).await?;
    let mut filter = Map::new();
    if let Some(stage) = stage {
        filter.insert("stage".into(), stage.into());
    }
    if let Some(reason) = reason {
        filter.insert("reason".into(), reason.into());
    }
    let started = client
        .post(
            &format!("/api/v1/pipelines/{}/replay", cell(&found["id"])),
            &Value::Object(filter),
        )
        .await?;
    let location = started.location().unwrap_or_else(|| {
        format!(
            "/api/v1/pipelines/{}/replays/{}",
            cell(&found["id"]),
            cell(&started.body["id"])
        )
    });
    let mut job = started.body;
    if follow {
        let people = format == Format::Table;
        while job["state"] == "running" {
            if people {
                eprint!(
                    "\r{}",
                    output::progress(
                        job["replayed"].as_i64().unwrap_or(0),
                        job["matched"].as_i64().unwrap_or(0),
                        "replayed"
                    )
                );
                let _ = std::io::stderr().flush();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            job = client.get(&location).await?.body;
        }
        if people {
            eprintln!(
                "\r{}",
                output::progress(
                    job["replayed"].as_i64().unwrap_or(0),
                    job["matched"].as_i64().unwrap_or(0),
                    "replayed"
                )
            );
        }
    }
    say(format, job.clone(), || {
        format!(
            "replay {}: {}, matched {}, replayed {}, failed {}",
            cell(&job["id"]),
            cell(&job["state"]),
            cell(&job["matched"]),
            cell(&job["replayed"]),
            cell(&job["failed"])
        )
    })?;
    if job["state"] == "failed" {
        return Err(Failure::local(format!(
            "replay {} failed: {}",
            cell(&job["id"]),
            cell(&job["error"])
        )));
    }
    Ok(())
}

fn read_events(file: &Path) -> Result<Vec<Value>, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::local(format!("{}: {e}", file.display())))?;
    if let Ok(Value::Array(events)) = serde_json::from_str::<Value>(&text) {
        return Ok(events);
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .map_err(|e| Failure::local(format!("{} line {}: {e}", file.display(), n + 1)))
        })
        .collect()
}

async fn dry_run(
    client: &Client,
    format: Format,
    file: &Path,
    events: Option<&Path>,
    from_errors: Option<u32>,
) -> Result<(), Failure> {
    let definition = read_definition(file)?;
    let answer = match (events, from_errors) {
        (Some(events), _) => {
            let events = read_events(events)?;
            client
                .post(
                    "/api/v1/dry-run",
                    &json!({"definition": definition, "events": events}),
                )
                .await?
                .body
        }
        (None, Some(limit)) => {
            let name = cell(&definition["name"]);
            let found = find(client, &name).await?;
            client
                .post(
                    &format!("/api/v1/pipelines/{}/dry-run", cell(&found["id"])),
                    &json!({"definition": definition, "fromErrors": {"limit": limit}}),
                )
                .await?
                .body
        }
        (None, None) => {
            return Err(Failure::local(
                "dry-run needs --events FILE or --from-errors N",
            ))
        }
    };
    if !output::structured(format, &answer)? {
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        let (mut documents, mut dropped, mut failed) = (0, 0, 0);
        let rows: Vec<Vec<String>> = results
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (outcome, detail) = if r.get("document").is_some() {
                    documents += 1;
                    ("document".to_owned(), cell(&r["id"]))
                } else if r.get("dropped").is_some() {
                    dropped += 1;
                    ("dropped".to_owned(), "-".to_owned())
                } else {
                    failed += 1;
                    (
                        format!("error at {}", cell(&r["error"]["stage"])),
                        shorten(&cell(&r["error"]["reason"]), 60),
                    )
                };
                vec![i.to_string(), outcome, detail]
            })
            .collect();
        print!("{}", table(&["#", "RESULT", "ID OR REASON"], &rows));
        println!("{documents} documents, {dropped} dropped, {failed} errors");
    }
    Ok(())
}
