//! `/console/pipelines/{id}/errors`: a pipeline's dead letters, one line each.
//!
//! A dead letter's value and headers can be long (a whole log line, an OpenSearch error object),
//! so each row shows them shortened to one line, and a `<details>` opens one in full. The stage
//! filter offers the stages this pipeline can fail at. Paging is by the API's cursor: `Older`
//! follows `next`; `Newer` goes back along the cursors that led here (`trail`).

use super::html::{esc, frame, message, page_response};
use super::Session;
use crate::error::ApiError;
use crate::http::errors::{DeadLetterView, ScanReport};
use crate::http::extract::PipelineId;
use crate::service::{self, dead_letters, replay};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use pipeline_common::chain::default_stages;
use pipeline_common::failure::FailedAt;
use pipeline_common::model::PipelineDefinition;
use pipeline_common::store::pipelines::PipelineRow;
use serde::Deserialize;
use uuid::Uuid;

/// Dead letters per console page.
const LETTERS_PER_PAGE: usize = 50;
/// Characters of a value or reason shown on its row.
const SHOWN_CHARS: usize = 120;
/// Separates the cursors of `trail`; a cursor never holds it.
const TRAIL_SEPARATOR: char = ';';
/// Stands for "the newest page" in `trail`.
const NEWEST: &str = "-";

/// Query of the dead-letters page.
#[derive(Debug, Default, Deserialize)]
pub struct LettersQuery {
    after: Option<String>,
    stage: Option<String>,
    /// The `after` of each page before this one, oldest last (`-` for the newest page).
    trail: Option<String>,
}

/// Where this page is and how to reach its neighbours.
struct Paging {
    pid: Uuid,
    stage: Option<FailedAt>,
    after: Option<String>,
    trail: Vec<String>,
}

impl Paging {
    fn link(&self, after: Option<&str>, trail: &[String]) -> String {
        let mut href = format!("/console/pipelines/{}/errors?", self.pid);
        if let Some(stage) = self.stage {
            href.push_str(&format!("stage={stage}&"));
        }
        if let Some(after) = after {
            href.push_str(&format!("after={after}&"));
        }
        if !trail.is_empty() {
            href.push_str(&format!(
                "trail={}",
                trail.join(&TRAIL_SEPARATOR.to_string())
            ));
        }
        esc(href.trim_end_matches(['&', '?']))
    }

    /// The page after this one, whose cursor is `next`.
    fn older(&self, next: &str) -> String {
        let mut trail = self.trail.clone();
        trail.push(self.after.clone().unwrap_or_else(|| NEWEST.to_owned()));
        self.link(Some(next), &trail)
    }

    /// The page before this one, when this is not the newest.
    fn newer(&self) -> Option<String> {
        let mut trail = self.trail.clone();
        let previous = trail.pop()?;
        let after = (previous != NEWEST).then_some(previous.as_str());
        Some(self.link(after, &trail))
    }
}

/// The page: dead letters with a stage filter, paging links and the replay form (editors).
pub async fn page(
    session: Session,
    State(state): State<AppState>,
    id: Result<PipelineId, ApiError>,
    query: Result<Query<LettersQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = query.map(|q| q.0).unwrap_or_default();
    let row = match super::find_row(&state, id).await {
        Ok(row) => row,
        Err(err) => return message(err.status(), Some(&session), &err.problem().detail),
    };
    match render(&session, &state, &row, query).await {
        Ok(body) => body,
        Err(err) => message(err.status(), Some(&session), &err.problem().detail),
    }
}

async fn render(
    session: &Session,
    state: &AppState,
    row: &PipelineRow,
    query: LettersQuery,
) -> Result<Response, ApiError> {
    let after = query.after.filter(|s| !s.is_empty());
    let cursor = after
        .as_deref()
        .map(dead_letters::Cursor::parse)
        .transpose()
        .map_err(ApiError::BadRequest)?;
    let stage = query
        .stage
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<FailedAt>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let selector = dead_letters::Selector {
        stage,
        reason: None,
    };
    let page = service::dead_letter_page(state, row, LETTERS_PER_PAGE, selector, cursor).await?;
    let paging = Paging {
        pid: row.id,
        stage,
        after,
        trail: query
            .trail
            .filter(|t| !t.is_empty())
            .map(|t| t.split(TRAIL_SEPARATOR).map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    let jobs = replay::jobs(state, row.id, 10).await.unwrap_or_default();
    let mut body = heading(row, &paging, &stages_of(state, row));
    if session.can_edit() {
        body.push_str(&replay_form(&paging));
    }
    let views: Vec<DeadLetterView> = page.items.iter().map(DeadLetterView::from).collect();
    body.push_str(&letters_table(&views));
    body.push_str(&paging_links(
        &paging,
        page.next.map(|c| c.render()).as_deref(),
        &page.scanned.into(),
    ));
    body.push_str(&jobs_table(&jobs));
    Ok(page_response(
        StatusCode::OK,
        &frame(
            &format!("Dead letters of {}", row.name),
            Some(session),
            &body,
        ),
    ))
}

/// Where this pipeline's events can fail: `decode`, its stages in order, `index`.
fn stages_of(state: &AppState, row: &PipelineRow) -> Vec<FailedAt> {
    let stages: Vec<FailedAt> = match PipelineDefinition::parse(&row.definition, &state.validation)
    {
        Ok(def) => match def.stages() {
            Some(specs) => specs.iter().map(|s| s.stage()).collect(),
            None => default_stages(state.engine.geoip.is_some())
                .iter()
                .map(|s| s.stage())
                .collect(),
        },
        // A row that no longer parses: offer every stage rather than none.
        Err(_) => return FailedAt::ALL.to_vec(),
    };
    let mut out = vec![FailedAt::Decode];
    for stage in stages {
        if !out.contains(&stage) {
            out.push(stage);
        }
    }
    out.push(FailedAt::Index);
    out
}

fn heading(row: &PipelineRow, paging: &Paging, stages: &[FailedAt]) -> String {
    let options: String = stages
        .iter()
        .map(|s| {
            let selected = if paging.stage == Some(*s) {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{s}\"{selected}>{s}</option>")
        })
        .collect();
    format!(
        "<h1>Dead letters of <a href=\"/console/pipelines/{pid}\">{}</a></h1>\
         <form method=\"get\" class=\"inline\"><label for=\"stage-filter\">Stage</label>\
         <select id=\"stage-filter\" name=\"stage\"><option value=\"\">any</option>{options}</select>\
         <button type=\"submit\">Filter</button></form>",
        esc(row.name.as_str()),
        pid = paging.pid,
    )
}

fn replay_form(paging: &Paging) -> String {
    format!(
        "<form id=\"replay\" class=\"replay\" data-pipeline=\"{}\"><h2>Replay</h2>\
         <label for=\"replay-stage\">Stage</label><input id=\"replay-stage\" name=\"stage\" value=\"{}\">\
         <label for=\"replay-reason\">Reason contains</label><input id=\"replay-reason\" name=\"reason\">\
         <button id=\"replay-start\" type=\"submit\">Replay matching dead letters</button></form>\
         <div id=\"job\" aria-live=\"polite\"></div>",
        paging.pid,
        paging.stage.map_or("", FailedAt::as_str),
    )
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A long text as one shortened line that opens to the whole text; a short one as it is.
fn expandable(text: &str, class: &str) -> String {
    let short = one_line(text, SHOWN_CHARS);
    if short == text {
        return format!("<code class=\"{class}\">{}</code>", esc(text));
    }
    format!(
        "<details class=\"{class}\"><summary>{}</summary><pre>{}</pre></details>",
        esc(&short),
        esc(text)
    )
}

fn letters_table(views: &[DeadLetterView]) -> String {
    let mut out = format!(
        "<p id=\"letter-count\">{} dead letters on this page</p>\
         <table id=\"dead-letters\"><thead><tr><th>Partition</th><th>Offset</th><th>Time</th>\
         <th>Stage</th><th>Reason</th><th>Value</th><th>Headers</th></tr></thead><tbody>",
        views.len()
    );
    for view in views {
        let headers: String = view
            .headers
            .iter()
            .map(|h| {
                format!(
                    "<li><code>{}</code>: {}</li>",
                    esc(&h.name),
                    esc(h.value.as_deref().unwrap_or("-"))
                )
            })
            .collect();
        let names: Vec<&str> = view.headers.iter().map(|h| h.name.as_str()).collect();
        out.push_str(&format!(
            "<tr class=\"letter\"><td>{}</td><td>{}</td><td class=\"time\">{}</td><td class=\"stage\">{}</td>\
             <td class=\"reason\">{}</td><td class=\"value\">{}</td>\
             <td class=\"headers\"><details><summary>{}</summary><ul>{headers}</ul></details></td></tr>",
            view.partition,
            view.offset,
            esc(view.timestamp.as_deref().unwrap_or("-")),
            esc(view.stage.as_deref().unwrap_or("-")),
            expandable(view.reason.as_deref().unwrap_or("-"), "reason-text"),
            expandable(view.value.as_deref().unwrap_or(""), "value-text"),
            esc(&one_line(
                &format!("{} headers: {}", names.len(), names.join(", ")),
                40
            )),
        ));
    }
    if views.is_empty() {
        out.push_str("<tr><td colspan=\"7\" class=\"empty\">no dead letters</td></tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn paging_links(paging: &Paging, next: Option<&str>, scan: &ScanReport) -> String {
    let mut links = Vec::new();
    if let Some(newer) = paging.newer() {
        links.push(format!("<a id=\"newer\" href=\"{newer}\">Newer</a>"));
    }
    if let Some(next) = next {
        let text = if scan.budget_exhausted {
            format!(
                "scanned back to {}, continue",
                esc(scan.reached_back.as_deref().unwrap_or("-"))
            )
        } else {
            "Older".to_owned()
        };
        links.push(format!(
            "<a id=\"older\" href=\"{}\">{text}</a>",
            paging.older(next)
        ));
    }
    if links.is_empty() {
        return String::new();
    }
    format!("<p class=\"paging\">{}</p>", links.join(" · "))
}

fn jobs_table(jobs: &[replay::JobRow]) -> String {
    let mut out = String::from(
        "<h2>Replay jobs</h2><table id=\"jobs\"><thead><tr><th>Started</th><th>By</th><th>State</th>\
         <th>Matched</th><th>Replayed</th><th>Failed</th></tr></thead><tbody>",
    );
    for job in jobs {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            job.started_at.format("%Y-%m-%d %H:%M:%S"),
            esc(&job.started_by),
            job.state.as_str(),
            job.matched,
            job.replayed,
            job.failed
        ));
    }
    out.push_str("</tbody></table>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_walks_back_along_the_trail() {
        let first = Paging {
            pid: Uuid::nil(),
            stage: Some(FailedAt::Parse),
            after: None,
            trail: vec![],
        };
        assert_eq!(first.newer(), None);
        assert_eq!(
            first.older("0:10"),
            "/console/pipelines/00000000-0000-0000-0000-000000000000/errors?stage=parse&amp;after=0:10&amp;trail=-"
        );
        let third = Paging {
            pid: Uuid::nil(),
            stage: None,
            after: Some("0:5".into()),
            trail: vec!["-".into(), "0:10".into()],
        };
        assert_eq!(
            third.newer().as_deref(),
            Some("/console/pipelines/00000000-0000-0000-0000-000000000000/errors?after=0:10&amp;trail=-")
        );
        let second = Paging {
            trail: vec!["-".into()],
            ..third
        };
        assert_eq!(
            second.newer().as_deref(),
            Some("/console/pipelines/00000000-0000-0000-0000-000000000000/errors")
        );
    }

    #[test]
    fn long_text_is_one_line_that_opens() {
        let long = "x ".repeat(200);
        let html = expandable(&long, "v");
        assert!(html.starts_with("<details class=\"v\"><summary>"));
        assert!(!html.contains('\n'));
        assert_eq!(expandable("short", "v"), "<code class=\"v\">short</code>");
    }
}
