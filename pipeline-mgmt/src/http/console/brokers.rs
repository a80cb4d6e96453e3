//! `/console/brokers`: every broker, its topic, and the pipelines that read it.

use super::html::{esc, frame, message, page_response};
use super::Session;
use crate::service::brokers;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// The brokers page.
pub async fn page(session: Session, State(state): State<AppState>) -> Response {
    let list = match brokers::list(&state).await {
        Ok(list) => list,
        Err(err) => return message(err.status(), Some(&session), &err.problem().detail),
    };
    let mut body = String::from(
        "<h1>Brokers</h1><p><a href=\"/console\">Pipelines</a></p>\
         <table id=\"brokers\"><thead><tr><th>Name</th><th>Topic</th><th>Partitions</th>\
         <th>Pipelines</th><th>Description</th></tr></thead><tbody>",
    );
    for broker in &list {
        let pipelines: Vec<String> = broker
            .pipelines
            .iter()
            .map(|p| format!("<span class=\"pipeline\">{}</span>", esc(p)))
            .collect();
        body.push_str(&format!(
            "<tr data-name=\"{name}\"><td>{name}</td><td>{topic}</td><td>{partitions}</td>\
             <td>{pipelines}</td><td>{description}</td></tr>",
            name = esc(broker.name.as_str()),
            topic = esc(&broker.topic),
            partitions = broker.topics.partitions,
            pipelines = if pipelines.is_empty() {
                "-".to_owned()
            } else {
                pipelines.join(", ")
            },
            description = esc(&broker.description),
        ));
    }
    if list.is_empty() {
        body.push_str("<tr><td colspan=\"5\" class=\"empty\">no brokers yet</td></tr>");
    }
    body.push_str("</tbody></table>");
    page_response(StatusCode::OK, &frame("Brokers", Some(&session), &body))
}
