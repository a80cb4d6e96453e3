//! One function per command.

use crate::api::{self, PipelineSummary};
use crate::apply;
use crate::cli::{Cli, Command, Format, PipelineCommand};
use crate::client::{Client, Failure};
use crate::config;
use crate::output::{self, table};
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
        Command::Brokers(command) => crate::brokers::run(&client, format, command).await,
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
            crate::indices::run(&client, format, &found.summary.id).await
        }
    }
}

async fn pipelines(
    client: &Client,
    format: Format,
    command: PipelineCommand,
) -> Result<(), Failure> {
    match command {
        PipelineCommand::List => list(client, format).await,
        PipelineCommand::Get { pipeline } => {
            let found = find(client, &pipeline).await?;
            if !output::structured(format, &found.body)? {
                output::structured(Format::Yaml, &found.body)?;
            }
            Ok(())
        }
        PipelineCommand::Apply { file } => apply_file(client, format, &file).await,
        PipelineCommand::Delete { pipeline, force } => {
            let found = find(client, &pipeline).await?.summary;
            let path = format!(
                "/api/v1/pipelines/{}{}",
                found.id,
                if force { "?force=true" } else { "" }
            );
            client.send(Method::DELETE, &path, None, None).await?;
            say(format, json!({"deleted": found.name}), || {
                format!("deleted {}", found.name)
            })
        }
        PipelineCommand::Start { pipeline } => {
            set_state(client, format, &pipeline, "running").await
        }
        PipelineCommand::Stop { pipeline } => set_state(client, format, &pipeline, "stopped").await,
        PipelineCommand::Status { pipeline } => status(client, format, &pipeline).await,
    }
}

async fn list(client: &Client, format: Format) -> Result<(), Failure> {
    let all = list_all(client).await?;
    if output::structured(format, &Value::Array(all.clone()))? {
        return Ok(());
    }
    let rows = all
        .into_iter()
        .map(|p| {
            let p: PipelineSummary = api::read("pipeline", p)?;
            Ok(vec![p.name, p.state, p.version.to_string(), p.index, p.id])
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    print!(
        "{}",
        table(&["NAME", "STATE", "VERSION", "INDEX", "ID"], &rows)
    );
    Ok(())
}

async fn status(client: &Client, format: Format, which: &str) -> Result<(), Failure> {
    let found = find(client, which).await?.summary;
    let body = client
        .get(&format!("/api/v1/pipelines/{}/status", found.id))
        .await?
        .body;
    if output::structured(format, &body)? {
        return Ok(());
    }
    let status: api::Status = api::read("status", body)?;
    println!(
        "{}: desired {}, observed {}, reason {}",
        found.name,
        status.desired,
        status.observed,
        status.reason.as_deref().unwrap_or("-")
    );
    let rows: Vec<Vec<String>> = status
        .workers
        .iter()
        .map(|w| {
            let partitions: Vec<String> = w.partitions.iter().map(i32::to_string).collect();
            vec![
                w.worker.clone(),
                w.status.clone(),
                partitions.join(","),
                w.consumed.to_string(),
                w.indexed.to_string(),
                w.dead_lettered.to_string(),
                w.filtered.to_string(),
                w.matched.to_string(),
                w.overflowed.to_string(),
                w.lag.map_or_else(|| "-".to_owned(), |l| l.to_string()),
                w.heartbeat_age_ms.to_string(),
            ]
        })
        .collect();
    let headers = [
        "WORKER",
        "STATUS",
        "PARTITIONS",
        "CONSUMED",
        "INDEXED",
        "DEAD-LETTERED",
        "FILTERED",
        "MATCHED",
        "OVERFLOWED",
        "LAG",
        "HEARTBEAT-MS",
    ];
    print!("{}", table(&headers, &rows));
    Ok(())
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
        let page: api::PipelinePage = api::read("pipeline list", client.get(&path).await?.body)?;
        out.extend(page.items);
        match page.next {
            Some(next) => path = format!("/api/v1/pipelines?limit=1000&after={next}"),
            None => return Ok(out),
        }
    }
}

/// A pipeline as the server shows it, and what flowctl prints of it.
struct Found {
    summary: PipelineSummary,
    body: Value,
}

/// The pipeline named (or with the id) `which`, if any.
async fn lookup(client: &Client, which: &str) -> Result<Option<Found>, Failure> {
    for body in list_all(client).await? {
        let summary: PipelineSummary = api::read("pipeline", body.clone())?;
        if summary.name == which || summary.id == which {
            return Ok(Some(Found { summary, body }));
        }
    }
    Ok(None)
}

/// The pipeline named (or with the id) `which`.
async fn find(client: &Client, which: &str) -> Result<Found, Failure> {
    lookup(client, which)
        .await?
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
    let Some(stored) = lookup(client, &name).await? else {
        let created = client.post("/api/v1/pipelines", &definition).await?.body;
        let summary: PipelineSummary = api::read("created pipeline", created.clone())?;
        return say(
            format,
            json!({"action": "created", "changed": [], "pipeline": created}),
            || format!("created {name} (version {})", summary.version),
        );
    };
    // The file as the server would store it, defaults filled in; validation errors are the
    // server's 422, with the fields under `definition.`.
    let checked: api::DryRun = api::read(
        "dry run",
        client
            .post(
                "/api/v1/dry-run",
                &json!({"definition": definition, "events": []}),
            )
            .await?
            .body,
    )?;
    let canonical = checked.definition.ok_or_else(|| {
        Failure::local(
            "the server's dry run does not return the definition; it is older than this flowctl",
        )
    })?;
    let with_state = definition.get("state").is_some();
    let changed = apply::changed(&canonical, &stored.body, with_state);
    let version = stored.summary.version;
    if changed.is_empty() {
        return say(
            format,
            json!({"action": "unchanged", "changed": [], "pipeline": stored.body}),
            || format!("unchanged {name} (version {version})"),
        );
    }
    let updated = client
        .send(
            Method::PUT,
            &format!("/api/v1/pipelines/{}", stored.summary.id),
            Some(&definition),
            Some(&format!("\"{version}\"")),
        )
        .await?
        .body;
    let summary: PipelineSummary = api::read("updated pipeline", updated.clone())?;
    say(
        format,
        json!({"action": "updated", "changed": changed, "pipeline": updated}),
        || {
            format!(
                "updated {name}: version {version} -> {} (changed: {})",
                summary.version,
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
    let found = find(client, which).await?.summary;
    let answer = client
        .send(
            Method::PATCH,
            &format!("/api/v1/pipelines/{}/state", found.id),
            Some(&json!({"state": state})),
            None,
        )
        .await?
        .body;
    let summary: PipelineSummary = api::read("pipeline", answer.clone())?;
    say(format, answer, || {
        format!(
            "{}: desired state {} (version {})",
            summary.name, summary.state, summary.version
        )
    })
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

/// The newest `limit` dead letters. A filtered read stops at the server's scan budget with a
/// cursor; this follows the cursors until it has `limit` or reaches the oldest, telling people
/// on stderr how far back it has scanned.
async fn errors(
    client: &Client,
    format: Format,
    which: &str,
    stage: Option<&str>,
    limit: u32,
) -> Result<(), Failure> {
    let found = find(client, which).await?.summary;
    let filter = stage.map_or(String::new(), |s| format!("&stage={}", query_escape(s)));
    let mut raw: Vec<Value> = Vec::new();
    let mut letters: Vec<api::DeadLetter> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let want = limit.saturating_sub(u32::try_from(letters.len()).unwrap_or(limit));
        let cursor = after
            .as_deref()
            .map_or(String::new(), |c| format!("&after={c}"));
        let path = format!(
            "/api/v1/pipelines/{}/errors?limit={want}{filter}{cursor}",
            found.id
        );
        let body = client.get(&path).await?.body;
        raw.extend(body["items"].as_array().cloned().unwrap_or_default());
        let page: api::ErrorPage = api::read("dead-letter page", body)?;
        letters.extend(page.items);
        after = page.next;
        let full = letters.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
        if full || after.is_none() {
            break;
        }
        if page.scan.budget_exhausted && format == Format::Table {
            eprintln!(
                "scanned back to {}, continuing…",
                page.scan.reached_back.as_deref().unwrap_or("-")
            );
        }
    }
    if output::structured(format, &json!({"items": raw, "next": after}))? {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = letters
        .iter()
        .map(|l| {
            vec![
                l.partition.to_string(),
                l.offset.to_string(),
                l.timestamp.clone().unwrap_or_else(|| "-".to_owned()),
                l.stage.clone().unwrap_or_else(|| "-".to_owned()),
                shorten(l.reason.as_deref().unwrap_or("-"), 50),
                shorten(l.value.as_deref().unwrap_or("-"), 60),
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
    let found = find(client, which).await?.summary;
    let mut filter = Map::new();
    if let Some(stage) = stage {
        filter.insert("stage".into(), stage.into());
    }
    if let Some(reason) = reason {
        filter.insert("reason".into(), reason.into());
    }
    let started = client
        .post(
            &format!("/api/v1/pipelines/{}/replay", found.id),
            &Value::Object(filter),
        )
        .await?;
    let mut body = started.body.clone();
    let mut job: api::ReplayJob = api::read("replay job", started.body.clone())?;
    let location = started
        .location()
        .unwrap_or_else(|| format!("/api/v1/pipelines/{}/replays/{}", found.id, job.id));
    if follow {
        let people = format == Format::Table;
        while job.state == "running" {
            if people {
                eprint!(
                    "\r{}",
                    output::progress(job.replayed, job.matched, "replayed")
                );
                let _ = std::io::stderr().flush();
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            body = client.get(&location).await?.body;
            job = api::read("replay job", body.clone())?;
        }
        if people {
            eprintln!(
                "\r{}",
                output::progress(job.replayed, job.matched, "replayed")
            );
        }
    }
    say(format, body, || {
        format!(
            "replay {}: {}, matched {}, replayed {}, failed {}",
            job.id, job.state, job.matched, job.replayed, job.failed
        )
    })?;
    if job.state == "failed" {
        return Err(Failure::local(format!(
            "replay {} failed: {}",
            job.id,
            job.error.as_deref().unwrap_or("-")
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
            let name = definition["name"].as_str().unwrap_or_default().to_owned();
            let found = find(client, &name).await?.summary;
            client
                .post(
                    &format!("/api/v1/pipelines/{}/dry-run", found.id),
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
    if output::structured(format, &answer)? {
        return Ok(());
    }
    let answer: api::DryRun = api::read("dry run", answer)?;
    let (mut documents, mut dropped, mut failed) = (0, 0, 0);
    let rows: Vec<Vec<String>> = answer
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let (outcome, detail) = match r {
                api::DryRunResult::Document { id } => {
                    documents += 1;
                    ("document".to_owned(), id.clone())
                }
                api::DryRunResult::Dropped { reason, .. } => {
                    dropped += 1;
                    let detail = reason.as_deref().map_or("-".to_owned(), |r| shorten(r, 60));
                    ("dropped".to_owned(), detail)
                }
                api::DryRunResult::Error { error } => {
                    failed += 1;
                    (
                        format!("error at {}", error.stage),
                        shorten(&error.reason, 60),
                    )
                }
            };
            vec![i.to_string(), outcome, detail]
        })
        .collect();
    print!("{}", table(&["#", "RESULT", "ID OR REASON"], &rows));
    println!("{documents} documents, {dropped} dropped, {failed} errors");
    Ok(())
}
