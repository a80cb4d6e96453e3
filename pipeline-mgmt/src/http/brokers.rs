//! `/api/v1/brokers`: shared input topics that pipelines read with a filter (Knative's broker
//! and triggers, on Kafka), and HTTP ingest into one.

use crate::auth::{CanIngest, CanRead, CanWrite};
use crate::error::ApiError;
use crate::http::events::{write_events, Accepted, Attributes};
use crate::http::extract::{name_param, ApiJson, LimitedBody};
use crate::http::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UnprocessableEntity, UnsupportedMediaType,
};
use crate::service::brokers::{self as service, Broker};
use crate::state::AppState;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pipeline_common::model::{BrokerName, BrokerSpec, ValidationErrors};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_broker, list_brokers))
        .routes(routes!(get_broker, delete_broker))
        .routes(routes!(ingest_broker))
}

/// The `{name}` of a broker route, validated first: anything that is not a broker name names
/// no broker, so it is 404 without a database round trip.
pub struct BrokerPath(pub BrokerName);

impl<S: Send + Sync> FromRequestParts<S> for BrokerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        name_param(
            parts,
            |raw| BrokerName::parse(raw).ok(),
            "no broker with this name",
        )
        .await
        .map(BrokerPath)
    }
}

/// A broker to create.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBroker {
    /// Unique; part of its topic's name (`<prefix>.broker.<name>`); not `input`, `output` or
    /// `error`.
    #[schema(
        pattern = "^(?!(input|output|error)$)[a-z0-9][a-z0-9-]{0,62}$",
        example = "default"
    )]
    pub name: String,
    /// Free text.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// The topic's settings (a pipeline's bounds and defaults: 3 partitions, replication 1).
    pub topics: Option<NewBrokerTopics>,
}

/// A new broker's topic settings.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewBrokerTopics {
    /// Partitions (default 3): the most workers of one pipeline that share the broker's events.
    #[schema(minimum = 1, maximum = 1000)]
    pub partitions: Option<i32>,
    /// Replication factor (default 1).
    #[schema(minimum = 1, maximum = 32)]
    pub replication_factor: Option<i16>,
    /// `min.insync.replicas` of the topic: how many replicas must hold a record before producers
    /// with `acks=all` (ours) are answered. At most `replicationFactor`; absent uses the Kafka
    /// cluster's default.
    #[schema(minimum = 1, maximum = 32)]
    pub min_insync_replicas: Option<i16>,
    /// `retention.ms`: -1 keeps forever, a positive value is milliseconds; absent uses the
    /// Kafka broker's default. 0 is refused (422).
    #[schema(minimum = -1, format = Int64)]
    pub retention_ms: Option<i64>,
}

/// Every broker.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerList {
    /// Brokers, by name, each with the pipelines that read it.
    pub items: Vec<Broker>,
}

fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::Unprocessable {
        detail: "the broker is invalid".into(),
        errors: errors
            .into_iter()
            .map(|e| crate::error::FieldProblem {
                field: e.field,
                message: e.message,
            })
            .collect(),
    }
}

/// Create a broker: its row, then its topic. A taken name is 409; a topic that cannot be made
/// removes the row again: 422 when the Kafka cluster has fewer brokers than `replicationFactor`,
/// else 502.
#[utoipa::path(post, path = "/api/v1/brokers", tag = "brokers", request_body = NewBroker,
    responses(
        (status = 201, description = "created", body = Broker,
            headers(("Location" = String, description = "/api/v1/brokers/{name}"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = UnprocessableEntity),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn create_broker(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let spec = BrokerSpec::parse(&body).map_err(invalid)?;
    let broker = service::create(&state, spec, &who.name).await?;
    let mut response = (StatusCode::CREATED, Json(&broker)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/brokers/{}", broker.name)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// List every broker with the pipelines that read it.
#[utoipa::path(get, path = "/api/v1/brokers", tag = "brokers",
    responses(
        (status = 200, description = "every broker", body = BrokerList),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn list_brokers(
    _: CanRead,
    State(state): State<AppState>,
) -> Result<Json<BrokerList>, ApiError> {
    Ok(Json(BrokerList {
        items: service::list(&state).await?,
    }))
}

/// One broker with the pipelines that read it.
#[utoipa::path(get, path = "/api/v1/brokers/{name}", tag = "brokers",
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", description = "broker name")),
    responses(
        (status = 200, description = "the broker", body = Broker),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn get_broker(
    _: CanRead,
    State(state): State<AppState>,
    BrokerPath(name): BrokerPath,
) -> Result<Json<Broker>, ApiError> {
    Ok(Json(service::get(&state, &name).await?))
}

/// Delete a broker and its topic: 409, naming them, while pipelines read it.
#[utoipa::path(delete, path = "/api/v1/brokers/{name}", tag = "brokers",
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", description = "broker name")),
    responses(
        (status = 204, description = "deleted, with its topic"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn delete_broker(
    CanWrite(who): CanWrite,
    State(state): State<AppState>,
    BrokerPath(name): BrokerPath,
) -> Result<StatusCode, ApiError> {
    service::delete(&state, &name, &who.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Post events to a broker's topic; every pipeline on it sees them, each taking those its
/// filter selects. The same forms and the same 202-after-acknowledgement as a pipeline's ingest.
#[utoipa::path(post, path = "/api/v1/brokers/{name}/events", tag = "ingest",
    params(("name" = String, Path, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", description = "broker name")),
    request_body(description = "As for `POST /api/v1/pipelines/{id}/events`.",
        content(
            (Object = "application/json"),
            (Attributes = "application/cloudevents+json"),
            (Vec<Attributes> = "application/cloudevents-batch+json"),
            (String = "application/x-ndjson"))),
    responses(
        (status = 202, description = "every event acknowledged by the Kafka broker", body = Accepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn ingest_broker(
    _: CanIngest,
    State(state): State<AppState>,
    BrokerPath(name): BrokerPath,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let topic = service::ingest_topic(&state, &name).await?;
    write_events(&state, &topic, &headers, &body).await
}
