//! The console's pages, rendered from the pipelines service.

use super::chart::{self, Series};
use super::html::{esc, frame, message, page_response};
use super::Session;
use crate::error::ApiError;
use crate::http::extract::PipelineId;
use crate::http::view::PipelineView;
use crate::service::samples::{self, MinutePoint};
use crate::service::status::{self, PipelineStatus, WorkerStatus};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use pipeline_common::store::pipelines::{self as rows, PipelineRow};
use serde_json::{json, Value};
use uuid::Uuid;

/// Most pipelines the list shows.
const LIST_LIMIT: u32 = 1000;

fn failed(session: &Session, err: &ApiError) -> Response {
    message(err.status(), Some(session), &err.problem().detail)
}

/// The sign-in form, with an error line when the last attempt failed.
pub fn sign_in(error: Option<&str>) -> String {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\" id=\"sign-in-error\">{}</p>", esc(e))
    });
    frame(
        "Sign in",
        None,
        &format!(
            "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/console/sign-in\" class=\"sign-in\">\
             <label for=\"token\">Bearer token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" required>\
             <button id=\"sign-in\" type=\"submit\">Sign in</button></form>\
             <p class=\"hint\">The token's role decides what you can see and change.</p>"
        ),
    )
}

fn fmt_opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// `/console`: every pipeline with its observed state, lag and rates.
pub async fn pipelines(session: Session, State(state): State<AppState>) -> Response {
    let found = match rows::list_page(&state.db, None, None, LIST_LIMIT).await {
        Ok(found) => crate::service::usable(found),
        Err(err) => return failed(&session, &err.into()),
    };
    let mut body = String::from("<h1>Pipelines</h1>");
    if session.can_edit() {
        body.push_str(
            "<p><a class=\"button\" id=\"new-pipeline\" href=\"/console/new\">New pipeline</a></p>",
        );
    }
    body.push_str(
        "<table id=\"pipelines\"><thead><tr><th>Name</th><th>Desired</th><th>Observed</th>\
         <th>Workers</th><th>Lag</th><th>Indexed/min</th><th>Dead-lettered/min</th></tr></thead><tbody>",
    );
    for row in &found {
        let observed = status::observed(&state, row).await;
        let last = samples::last_hour(&state.db, row.id)
            .await
            .ok()
            .and_then(|points| points.last().copied());
        let (observed, workers, lag) = match &observed {
            Ok(s) => (
                s.observed.as_str().to_owned(),
                s.workers.len().to_string(),
                if s.workers.iter().all(|w| w.lag.is_none()) {
                    "-".to_owned()
                } else {
                    s.workers
                        .iter()
                        .filter_map(|w| w.lag)
                        .sum::<i64>()
                        .to_string()
                },
            ),
            Err(_) => ("unknown".to_owned(), "-".to_owned(), "-".to_owned()),
        };
        body.push_str(&format!(
            "<tr data-name=\"{name}\"><td><a href=\"/console/pipelines/{id}\">{name}</a></td>\
             <td class=\"desired\">{desired}</td><td class=\"observed state-{observed}\">{observed}</td>\
             <td>{workers}</td><td>{lag}</td><td>{indexed}</td><td>{dead}</td></tr>",
            name = esc(row.name.as_str()),
            id = row.id,
            desired = row.state,
            observed = esc(&observed),
            indexed = fmt_opt(last.map(|p| p.indexed)),
            dead = fmt_opt(last.map(|p| p.dead_lettered)),
        ));
    }
    if found.is_empty() {
        body.push_str("<tr><td colspan=\"7\" class=\"empty\">no pipelines yet</td></tr>");
    }
    body.push_str("</tbody></table>");
    page_response(StatusCode::OK, &frame("Pipelines", Some(&session), &body))
}

/// `/console/pipelines/{id}`: state, workers, last error and the last hour's charts.
pub async fn pipeline(
    session: Session,
    State(state): State<AppState>,
    id: Result<PipelineId, ApiError>,
) -> Response {
    let row = match super::find_row(&state, id).await {
        Ok(row) => row,
        Err(err) => return failed(&session, &err),
    };
    let observed = match status::observed(&state, &row).await {
        Ok(s) => s,
        Err(err) => return failed(&session, &err),
    };
    let points = samples::last_hour(&state.db, row.id)
        .await
        .unwrap_or_default();
    let index =
        PipelineView::of(&row, &state).map_or_else(|_| "-".to_owned(), |v| v.index.to_string());
    let mut body = facts(&row, &observed, &index);
    body.push_str(&actions(&session, row.id));
    body.push_str(&workers_table(&observed.workers));
    let last_error = observed
        .workers
        .iter()
        .find_map(|w| w.last_error.clone())
        .or(row.state_reason.clone());
    body.push_str(&format!(
        "<h2>Last error</h2><p id=\"last-error\">{}</p>",
        esc(last_error.as_deref().unwrap_or("none"))
    ));
    body.push_str(&charts(&points));
    page_response(
        StatusCode::OK,
        &frame(row.name.as_str(), Some(&session), &body),
    )
}

/// The pipeline's name, states, reason, version and index.
fn facts(row: &PipelineRow, observed: &PipelineStatus, index: &str) -> String {
    format!(
        "<h1>{name}</h1><dl class=\"facts\">\
         <dt>Desired</dt><dd id=\"desired\">{desired}</dd>\
         <dt>Observed</dt><dd id=\"observed\" class=\"state-{observed}\">{observed}</dd>\
         <dt>Reason</dt><dd id=\"reason\">{reason}</dd>\
         <dt>Version</dt><dd id=\"version\">{version}</dd>\
         <dt>Index</dt><dd>{index}</dd></dl>",
        name = esc(row.name.as_str()),
        desired = row.state,
        observed = observed.observed.as_str(),
        reason = esc(observed.reason.as_deref().unwrap_or("-")),
        version = row.version,
        index = esc(index),
    )
}

/// The way to the dead letters, and for editors edit, start and stop.
fn actions(session: &Session, id: Uuid) -> String {
    let mut html = format!(
        "<p class=\"actions\"><a class=\"button\" id=\"dead-letters-link\" \
         href=\"/console/pipelines/{id}/errors\">Dead letters</a>"
    );
    if session.can_edit() {
        html.push_str(&format!(
            "<a class=\"button\" id=\"edit\" href=\"/console/pipelines/{id}/edit\">Edit</a>\
             <button id=\"start\" data-state-change=\"running\" data-pipeline=\"{id}\">Start</button>\
             <button id=\"stop\" data-state-change=\"stopped\" data-pipeline=\"{id}\">Stop</button>"
        ));
    }
    html.push_str("</p><p id=\"action-message\" class=\"error\"></p>");
    html
}

/// One row per live worker task.
fn workers_table(workers: &[WorkerStatus]) -> String {
    let mut html = String::from(
        "<h2>Workers</h2><table id=\"workers\"><thead><tr><th>Worker</th><th>Status</th>\
         <th>Version</th><th>Partitions</th><th>Consumed</th><th>Indexed</th><th>Dead-lettered</th>\
         <th>Filtered</th><th>Lag</th><th>Last error</th><th>Heartbeat</th></tr></thead><tbody>",
    );
    for w in workers {
        let partitions: Vec<String> = w.partitions.iter().map(i32::to_string).collect();
        html.push_str(&format!(
            "<tr data-worker=\"{worker}\"><td>{worker}</td><td>{status}</td>\
             <td class=\"worker-version\">{version}</td><td>{partitions}</td><td>{consumed}</td>\
             <td class=\"indexed\">{indexed}</td><td class=\"dead-lettered\">{dead}</td>\
             <td>{filtered}</td><td>{lag}</td><td>{error}</td><td>{age} ms ago</td></tr>",
            worker = esc(&w.worker),
            status = w.status.as_str(),
            version = w.pipeline_version,
            partitions = partitions.join(", "),
            consumed = w.counters.consumed,
            indexed = w.counters.indexed,
            dead = w.counters.dead_lettered,
            filtered = w.counters.filtered,
            lag = fmt_opt(w.lag),
            error = esc(w.last_error.as_deref().unwrap_or("-")),
            age = w.heartbeat_age_ms,
        ));
    }
    if workers.is_empty() {
        html.push_str("<tr><td colspan=\"11\" class=\"empty\">no live worker</td></tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// The last hour's rates and lag, one point per minute.
fn charts(points: &[MinutePoint]) -> String {
    let labels: Vec<String> = points
        .iter()
        .map(|p| p.minute.format("%H:%M").to_string())
        .collect();
    let rates = [
        Series {
            label: "indexed",
            class: "line-indexed",
            values: points.iter().map(|p| p.indexed).collect(),
        },
        Series {
            label: "dead-lettered",
            class: "line-dead",
            values: points.iter().map(|p| p.dead_lettered).collect(),
        },
    ];
    let lag = [Series {
        label: "lag",
        class: "line-lag",
        values: points.iter().map(|p| p.lag).collect(),
    }];
    format!(
        "<h2>Last hour</h2><div class=\"charts\">{}{}</div>",
        chart::lines(
            "chart-rates",
            "Indexed and dead-lettered per minute",
            &labels,
            &rates
        ),
        chart::lines("chart-lag", "Consumer lag", &labels, &lag),
    )
}

const SAMPLE_EVENTS: &str = "[\n  {\"log_message\": \"order 1 shipped\"}\n]";

fn editor(row: Option<&PipelineRow>, definition: &Value) -> String {
    let pretty = serde_json::to_string_pretty(definition).unwrap_or_default();
    let (title, save, from_errors, data) = match row {
        Some(row) => (
            format!("Edit {}", esc(row.name.as_str())),
            "Save",
            "<button id=\"dry-run-errors\" type=\"button\">Dry run on the latest dead letters</button>",
            format!(
                "data-pipeline=\"{}\" data-version=\"{}\"",
                row.id, row.version
            ),
        ),
        None => (
            "New pipeline".to_owned(),
            "Create",
            "",
            String::new(),
        ),
    };
    format!(
        "<h1>{title}</h1><div class=\"editor\" id=\"editor\" {data}>\
         <section><label for=\"definition\">Definition (JSON)</label>\
         <textarea id=\"definition\" spellcheck=\"false\" rows=\"24\">{def}</textarea>\
         <p><button id=\"save\" type=\"button\">{save}</button></p>\
         <p id=\"save-message\" class=\"error\"></p></section>\
         <section><label for=\"events\">Sample events (JSON array) — the dry run follows your edits</label>\
         <textarea id=\"events\" spellcheck=\"false\" rows=\"8\">{events}</textarea>\
         <p><button id=\"dry-run\" type=\"button\">Dry run</button> {from_errors}</p>\
         <div id=\"dry-run-results\" aria-live=\"polite\"></div></section></div>",
        def = esc(&pretty),
        events = esc(SAMPLE_EVENTS),
    )
}

/// `/console/new`: a definition editor with a live dry-run pane (editors only).
pub async fn new_pipeline(session: Session) -> Response {
    if !session.can_edit() {
        return message(
            StatusCode::FORBIDDEN,
            Some(&session),
            "your role may not create pipelines",
        );
    }
    let template = json!({
        "name": "my-pipeline",
        "index": "my-pipeline",
        "topics": {"partitions": 1, "replicationFactor": 1},
        "stages": [
            {"type": "parse", "field": "log_message", "formats": ["json"]},
            {"type": "hash", "target": "event_hash"}
        ]
    });
    page_response(
        StatusCode::OK,
        &frame("New pipeline", Some(&session), &editor(None, &template)),
    )
}

/// `/console/pipelines/{id}/edit`: the stored definition in the editor (editors only).
pub async fn edit_pipeline(
    session: Session,
    State(state): State<AppState>,
    id: Result<PipelineId, ApiError>,
) -> Response {
    if !session.can_edit() {
        return message(
            StatusCode::FORBIDDEN,
            Some(&session),
            "your role may not edit pipelines",
        );
    }
    let row = match super::find_row(&state, id).await {
        Ok(row) => row,
        Err(err) => return failed(&session, &err),
    };
    let definition = row.definition.clone();
    page_response(
        StatusCode::OK,
        &frame(
            row.name.as_str(),
            Some(&session),
            &editor(Some(&row), &definition),
        ),
    )
}
