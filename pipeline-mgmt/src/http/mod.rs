//! The HTTP surface: one module per resource, each with its own `router()`, assembled here.

pub mod console;
pub mod dry_run;
pub mod errors;
pub mod events;
pub mod extract;
pub mod indices;
pub mod ops;
pub mod pipelines;
pub mod replay;
pub mod responses;
pub mod view;

use crate::error::{ApiError, FieldProblem, Problem};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::any::Any;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

/// Top-level OpenAPI metadata; paths come from the handlers' `#[utoipa::path]` attributes,
/// collected by the same `routes!` calls that build the router, so the two cannot drift.
#[derive(OpenApi)]
#[openapi(
    info(title = "flow-stream pipeline-mgmt", description = "Pipeline management REST API"),
    modifiers(&BearerAuth),
    components(schemas(Problem, FieldProblem), responses(
        responses::BadRequest,
        responses::Unauthorized,
        responses::Forbidden,
        responses::NotFound,
        responses::Conflict,
        responses::PreconditionFailed,
        responses::PayloadTooLarge,
        responses::UnsupportedMediaType,
        responses::UnprocessableEntity,
        responses::PreconditionRequired,
        responses::BadGateway,
        responses::Unavailable,
    )),
    tags(
        (name = "pipelines", description = "pipeline definitions and life cycle"),
        (name = "ingest", description = "HTTP ingest"),
        (name = "dry-run", description = "run events through stages without side effects"),
        (name = "dead-letters", description = "a pipeline's error topic: browse and replay"),
        (name = "ops", description = "health, readiness, version, metrics, this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(pipelines::router())
        .merge(indices::router())
        .merge(events::router())
        .merge(dry_run::router())
        .merge(errors::router())
        .merge(replay::router())
        .merge(ops::router())
}

/// The OpenAPI document, as `GET /api/v1/openapi.json` serves it.
pub fn openapi() -> serde_json::Value {
    document_json(&routes().split_for_parts().1)
}

/// `openapi` as JSON, with what utoipa's derive cannot state: the `Stage` schema
/// ([`StageSpec::json_schema`](pipeline_common::model::StageSpec::json_schema)), the `oneOf` of a
/// stored dry run ([`dry_run::stored_dry_run_one_of`]) and the members of a definition that the
/// server sets and ignores on input ([`server_set_members`]); and two corrections of what
/// utoipa writes:
/// - a Link's members are in snake case (`operation_id`), which no client reads: renamed to the
///   OpenAPI names;
/// - an optional parameter (`Option<T>`) gets the type `[T, "null"]`, but a query string or a
///   header has no null, only absence: `null` is dropped from parameter types.
pub fn document_json(openapi: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(openapi).unwrap_or_default();
    if let Some(stage) = doc.pointer_mut("/components/schemas/Stage") {
        *stage = pipeline_common::model::StageSpec::json_schema();
    }
    if let Some(body) = doc.pointer_mut("/components/schemas/StoredDryRun") {
        body["oneOf"] = dry_run::stored_dry_run_one_of();
    }
    server_set_members(&mut doc);
    let operations = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let parameters = operation
            .get_mut("parameters")
            .and_then(serde_json::Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(|p| p.pointer_mut("/schema/type"));
        for ty in parameters {
            if let Some(types) = ty.as_array_mut() {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    *ty = only.clone();
                }
            }
        }
        let links = operation
            .get_mut("responses")
            .and_then(serde_json::Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.values_mut())
            .filter_map(|response| response.get_mut("links"))
            .filter_map(serde_json::Value::as_object_mut)
            .flat_map(|links| links.values_mut())
            .filter_map(serde_json::Value::as_object_mut);
        for link in links {
            for (snake, camel) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(value) = link.remove(snake) {
                    link.insert(camel.to_owned(), value);
                }
            }
        }
    }
    doc
}

/// Lists the members the server adds to a pipeline ([`SERVER_KEYS`], and [`TOPIC_NAME_KEYS`] in
/// `topics`) in the definition's schema: `PipelineDefinition::parse` accepts and ignores them, so
/// that a GET body can be sent back in a PUT.
///
/// [`SERVER_KEYS`]: pipeline_common::model::SERVER_KEYS
/// [`TOPIC_NAME_KEYS`]: pipeline_common::model::TOPIC_NAME_KEYS
fn server_set_members(doc: &mut serde_json::Value) {
    use pipeline_common::model::{SERVER_KEYS, TOPIC_NAME_KEYS};
    let ignored = serde_json::json!({"description": "server-set; ignored on input"});
    for (schema, keys) in [
        ("PipelineDefinition", SERVER_KEYS),
        ("Topics", TOPIC_NAME_KEYS.as_slice()),
    ] {
        let pointer = format!("/components/schemas/{schema}/properties");
        if let Some(properties) = doc
            .pointer_mut(&pointer)
            .and_then(serde_json::Value::as_object_mut)
        {
            for key in keys {
                properties.insert((*key).to_owned(), ignored.clone());
            }
        }
    }
}

/// The router with every route, plus its OpenAPI document.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let max_body = state.settings.server.max_request_bytes;
    let (router, openapi) = routes().split_for_parts();
    let api = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone());
    // The console forwards with a fresh request (no outer extensions), so its copy carries
    // the body limit itself.
    let forwarded = api.clone().layer(DefaultBodyLimit::max(max_body));
    let router = console::router(state.clone(), forwarded)
        .merge(api)
        .layer(DefaultBodyLimit::max(max_body))
        // Inside the metrics layer, so that a panic is counted as the 500 it becomes.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    (router, openapi)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panicked(_: Box<dyn Any + Send + 'static>) -> Response {
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}

#[cfg(test)]
mod tests {
    use pipeline_common::model::{
        IndexName, PipelineName, ValidationContext, MAX_DESCRIPTION_CHARS, MAX_FLUSH_BYTES,
        MAX_FLUSH_INTERVAL_MS, MAX_FLUSH_ITEMS, PARTITIONS, REPLICATION_FACTOR,
    };
    use serde_json::{json, Value};

    fn document() -> Value {
        super::openapi()
    }

    /// The schema attributes repeat the validation's constants as literals; this keeps them equal.
    #[test]
    fn the_document_states_the_validation_bounds() {
        let doc = document();
        if std::env::var_os("FLOW_PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        let schemas = &doc["components"]["schemas"];
        let def = &schemas["PipelineDefinition"]["properties"];
        assert_eq!(def["name"]["pattern"], PipelineName::PATTERN);
        assert_eq!(def["index"]["pattern"], IndexName::PATTERN);
        assert_eq!(
            def["description"]["maxLength"],
            json!(MAX_DESCRIPTION_CHARS)
        );
        assert_eq!(
            def["stages"]["maxItems"],
            json!(ValidationContext::default().max_stages)
        );
        assert_eq!(schemas["PipelineDefinition"]["required"], json!(["name"]));
        let topics = &schemas["Topics"]["properties"];
        assert_eq!(topics["partitions"]["minimum"], json!(PARTITIONS.0));
        assert_eq!(topics["partitions"]["maximum"], json!(PARTITIONS.1));
        assert_eq!(
            topics["replicationFactor"]["minimum"],
            json!(REPLICATION_FACTOR.0)
        );
        assert_eq!(
            topics["replicationFactor"]["maximum"],
            json!(REPLICATION_FACTOR.1)
        );
        let flush = &schemas["Flush"]["properties"];
        assert_eq!(flush["maxBytes"]["maximum"], json!(MAX_FLUSH_BYTES));
        assert_eq!(flush["maxItems"]["maximum"], json!(MAX_FLUSH_ITEMS));
        assert_eq!(flush["intervalMs"]["maximum"], json!(MAX_FLUSH_INTERVAL_MS));
        let list = &doc["paths"]["/api/v1/pipelines"]["get"]["parameters"];
        let limit = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["minimum"], 1);
        assert_eq!(
            limit["schema"]["maximum"],
            json!(super::pipelines::MAX_LIMIT)
        );
    }

    /// The dead-letter routes state the stages, the cursor form and the page bounds the server
    /// enforces (the attributes repeat the constants as literals).
    #[test]
    fn the_document_states_the_dead_letter_bounds() {
        use crate::service::dead_letters::CURSOR_PATTERN;
        use pipeline_common::failure::FailedAt;
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["FailedAt"]["enum"],
            json!(FailedAt::ALL.map(FailedAt::as_str))
        );
        let errors = &doc["paths"]["/api/v1/pipelines/{id}/errors"]["get"]["parameters"];
        let param = |name: &str| {
            errors
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(param("limit")["schema"]["minimum"], 1);
        assert_eq!(
            param("limit")["schema"]["maximum"],
            json!(super::errors::MAX_LIMIT)
        );
        assert_eq!(param("after")["schema"]["pattern"], CURSOR_PATTERN);
        assert_eq!(
            schemas["ErrorPage"]["properties"]["next"]["pattern"],
            CURSOR_PATTERN
        );
        assert_eq!(
            schemas["FromErrors"]["properties"]["limit"]["maximum"],
            json!(super::errors::MAX_LIMIT)
        );
        let jobs = &doc["paths"]["/api/v1/pipelines/{id}/replays"]["get"]["parameters"];
        let limit = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["maximum"], json!(super::replay::MAX_JOBS));
    }

    /// Every operation on an `{id}` is linked from create, and every secured operation documents
    /// 401 and 403 with the problem+json schema.
    #[test]
    fn the_document_links_create_and_documents_auth_failures() {
        let doc = document();
        let links = doc["paths"]["/api/v1/pipelines"]["post"]["responses"]["201"]["links"]
            .as_object()
            .unwrap()
            .clone();
        let mut linked: Vec<&str> = links
            .values()
            .map(|l| l["operationId"].as_str().unwrap())
            .collect();
        linked.sort_unstable();
        let mut id_operations = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if path.contains("{id}") {
                    id_operations.push(op["operationId"].as_str().unwrap());
                }
                if op.get("security").is_some() {
                    for status in ["401", "403"] {
                        assert!(
                            op["responses"].get(status).is_some(),
                            "{method} {path} does not document {status}"
                        );
                    }
                }
            }
        }
        id_operations.sort_unstable();
        assert_eq!(linked, id_operations);
        let problem = &doc["components"]["responses"]["Unauthorized"]["content"]
            ["application/problem+json"]["schema"];
        assert_eq!(problem["$ref"], "#/components/schemas/Problem");
    }
}
