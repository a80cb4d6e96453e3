//! One error type for every handler, rendered as `application/problem+json` (RFC 9457).
//!
//! Internal causes are logged with their whole chain and never sent to the client: a 5xx body
//! names only the class of failure ("Kafka broker unreachable"), not the driver's message.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One offending field of a request body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldProblem {
    /// Path of the field, e.g. `stages[2].pattern`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The problem+json body.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Offending fields, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldProblem>>,
}

/// Which dependency failed, for 502/503 answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    /// The Kafka broker.
    Kafka,
    /// The OpenSearch cluster.
    OpenSearch,
    /// MariaDB.
    Database,
}

impl Dependency {
    fn unreachable(self) -> &'static str {
        match self {
            Dependency::Kafka => "Kafka broker unreachable or refused the request",
            Dependency::OpenSearch => "OpenSearch unreachable or refused the request",
            Dependency::Database => "database unreachable",
        }
    }
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: malformed request (bad JSON, bad query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no or unknown bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403: the token's role does not allow this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such resource or route.
    #[error("not found: {0}")]
    NotFound(String),
    /// 405: the route exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: conflicts with the current state (duplicate name, running pipeline).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: `If-Match` names a version that is no longer current.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    /// 413: the body is larger than allowed.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// 415: unsupported `Content-Type`.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid, with one entry per offending field.
    #[error("invalid: {detail}")]
    Unprocessable {
        /// Summary.
        detail: String,
        /// Offending fields.
        errors: Vec<FieldProblem>,
    },
    /// 428: a conditional request is required (`If-Match`).
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    /// 502: a dependency failed while we acted on it (provisioning).
    #[error("{dependency:?} failed: {source:#}")]
    BadGateway {
        /// Which one.
        dependency: Dependency,
        /// The cause, logged only.
        source: anyhow::Error,
    },
    /// 503: a dependency is unavailable (readiness, ingest).
    #[error("{detail}")]
    Unavailable {
        /// Client-safe description.
        detail: String,
        /// The cause, logged only.
        source: Option<anyhow::Error>,
    },
    /// 500: a defect or an unexpected failure; the cause is logged only.
    #[error("internal error: {0:#}")]
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 502 naming `dependency` as the cause class.
    pub fn bad_gateway(dependency: Dependency, source: impl Into<anyhow::Error>) -> Self {
        ApiError::BadGateway {
            dependency,
            source: source.into(),
        }
    }

    /// The status code of this error.
    pub fn status(&self) -> StatusCode {
        self.class().0
    }

    /// Status, problem type slug and title: one row per variant.
    fn class(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Payload too large",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            ApiError::Unprocessable { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation",
                "Invalid request",
            ),
            ApiError::PreconditionRequired(_) => (
                StatusCode::PRECONDITION_REQUIRED,
                "precondition-required",
                "Precondition required",
            ),
            ApiError::BadGateway { .. } => (
                StatusCode::BAD_GATEWAY,
                "bad-gateway",
                "Upstream dependency failed",
            ),
            ApiError::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// The client-safe body.
    pub fn problem(&self) -> Problem {
        let (status, slug, title) = self.class();
        let detail = match self {
            ApiError::BadRequest(d)
            | ApiError::Forbidden(d)
            | ApiError::NotFound(d)
            | ApiError::Conflict(d)
            | ApiError::PreconditionFailed(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::PreconditionRequired(d) => d.clone(),
            ApiError::Unauthorized => "a valid bearer token is required".to_owned(),
            ApiError::MethodNotAllowed => "this route does not accept that method".to_owned(),
            ApiError::Unprocessable { detail, .. } => detail.clone(),
            ApiError::BadGateway { dependency, source } => {
                crate::provision::search_access::operator_cause(source)
                    .unwrap_or_else(|| dependency.unreachable().to_owned())
            }
            ApiError::Unavailable { detail, .. } => detail.clone(),
            ApiError::Internal(_) => "the server failed; the cause is in its log".to_owned(),
        };
        let errors = match self {
            ApiError::Unprocessable { errors, .. } => Some(errors.clone()),
            _ => None,
        };
        Problem {
            kind: format!("https://flow-stream.dev/problems/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl From<crate::provision::index::EnsureError> for ApiError {
    fn from(err: crate::provision::index::EnsureError) -> Self {
        use crate::provision::index::EnsureError;
        match err {
            EnsureError::InvalidName(reason) => ApiError::Unprocessable {
                detail: "the pipeline definition is invalid".into(),
                errors: vec![FieldProblem {
                    field: "index".into(),
                    message: reason,
                }],
            },
            EnsureError::Failed(source) => ApiError::bad_gateway(Dependency::OpenSearch, source),
        }
    }
}

impl From<pipeline_common::store::pipelines::ReadError> for ApiError {
    /// A row that does not decode is 409, not 500: the server works, but the stored pipeline is
    /// in a state no request can act on (e.g. its name no longer names its topics) until an
    /// operator repairs it; retrying, as a 503 would invite, cannot help. The cause is logged
    /// with the raw id; the client learns only that the stored row is corrupt.
    fn from(err: pipeline_common::store::pipelines::ReadError) -> Self {
        use pipeline_common::store::pipelines::ReadError;
        match err {
            ReadError::Db(err) => err.into(),
            ReadError::Corrupt(bad) => {
                tracing::error!(pipeline_id = %bad.id, name = %bad.name, problem = %bad.problem,
                    "a stored pipeline row is corrupt; repair or remove it in the database");
                ApiError::Conflict(
                    "the stored pipeline is corrupt and cannot be used until an operator \
                     repairs its row"
                        .to_owned(),
                )
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => unique_violation(&**db),
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable {
                    detail: Dependency::Database.unreachable().to_owned(),
                    source: Some(err.into()),
                }
            }
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// The unique keys a request can run into, by the key's name, and what the client is told.
const UNIQUE_KEYS: [(&str, &str); 1] = [(
    "uq_pipelines_name",
    "a pipeline with this name already exists",
)];

/// A unique violation as a 409 naming what collided (the key's name, as realworld's
/// `on_constraint` does); one on a key no request should reach is a 409 without detail.
fn unique_violation(db: &dyn sqlx::error::DatabaseError) -> ApiError {
    let key = db
        .constraint()
        .map(str::to_owned)
        .or_else(|| duplicate_key(db.message()));
    let known = UNIQUE_KEYS.iter().find(|(name, _)| {
        key.as_deref()
            .is_some_and(|k| k == *name || k.ends_with(&format!(".{name}")))
    });
    match known {
        Some((_, message)) => ApiError::Conflict((*message).to_owned()),
        None => {
            tracing::warn!(
                key = key.as_deref().unwrap_or("?"),
                "unexpected unique violation"
            );
            ApiError::Conflict("the request conflicts with a stored record".to_owned())
        }
    }
}

/// The key of MariaDB's "Duplicate entry '…' for key '<key>'", which sqlx does not expose as a
/// constraint name.
fn duplicate_key(message: &str) -> Option<String> {
    let rest = &message[message.rfind("for key '")? + "for key '".len()..];
    Some(rest[..rest.find('\'')?].to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed")
            }
            ApiError::BadGateway { source, .. } => {
                tracing::warn!(error = format!("{source:#}"), "dependency failed")
            }
            ApiError::Unavailable {
                source: Some(source),
                ..
            } => tracing::warn!(error = format!("{source:#}"), "dependency unavailable"),
            _ => {}
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duplicate_key_is_read_from_mariadbs_message() {
        assert_eq!(
            duplicate_key("Duplicate entry 'web' for key 'pipelines.uq_pipelines_name'").as_deref(),
            Some("pipelines.uq_pipelines_name")
        );
        assert_eq!(
            duplicate_key("Duplicate entry 'x' for key 'PRIMARY'").as_deref(),
            Some("PRIMARY")
        );
        assert_eq!(duplicate_key("Deadlock found"), None);
    }

    #[test]
    fn each_variant_has_its_status_and_problem_type() {
        let conflict = ApiError::Conflict("taken".into());
        assert_eq!(conflict.status(), StatusCode::CONFLICT);
        let problem = conflict.problem();
        assert_eq!(problem.kind, "https://flow-stream.dev/problems/conflict");
        assert_eq!((problem.status, problem.detail.as_str()), (409, "taken"));
        let internal = ApiError::Internal(anyhow::anyhow!("secret driver text"));
        assert_eq!(internal.problem().status, 500);
        assert!(!internal.problem().detail.contains("secret"));
    }
}
