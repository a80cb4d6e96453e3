//! Extractors whose rejections are problem+json, never axum's plain-text defaults.

use crate::error::{ApiError, FieldProblem};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

/// True when `Content-Type` is `application/json` or any `application/*+json`.
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| {
        m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
    })
}

/// The media type of `Content-Type`, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    (!media.is_empty()).then_some(media)
}

/// The raw body, bounded by `server.maxRequestBytes` (413 beyond it).
pub struct LimitedBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The limit itself is the router's `DefaultBodyLimit`; this maps its rejection.
        Bytes::from_request(req, state)
            .await
            .map(LimitedBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge("the request body exceeds the size limit".into())
                } else {
                    ApiError::BadRequest("the request body could not be read".into())
                }
            })
    }
}

/// A JSON body: 415 for another media type, 400 for malformed JSON, 422 for JSON of the wrong
/// shape (naming the field), 413 when too large.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json(&json_body(req, state).await?).map(ApiJson)
    }
}

/// The body of a request that must be JSON: 415 for another media type, 413 when too large.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: application/json".into(),
        ));
    }
    let LimitedBody(bytes) = LimitedBody::from_request(req, state).await?;
    Ok(bytes)
}

/// Parses `bytes` as `T` with the same error mapping as [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_data() {
            ApiError::Unprocessable {
                detail: "the request body does not have the expected shape".into(),
                errors: vec![FieldProblem {
                    field: if path == "." { String::new() } else { path },
                    message: strip_position(&inner.to_string()),
                }],
            }
        } else {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        }
    })?;
    // Trailing garbage after the value is malformed JSON too.
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line L column C", which is noise in a field error.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string: 400 when it does not parse.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// A path parameter: a value that does not parse names no resource, so 404.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::NotFound("no such resource".into()))
    }
}

/// Path parameter `name` parsed as a UUID (any form `Uuid::try_parse` reads; stores bind the
/// hyphenated lowercase form); 404 with `missing` when it is absent or not a UUID.
async fn uuid_param(
    parts: &mut Parts,
    name: &str,
    missing: &'static str,
) -> Result<uuid::Uuid, ApiError> {
    let ApiPath(params) =
        ApiPath::<std::collections::HashMap<String, String>>::from_request_parts(parts, &())
            .await?;
    params
        .get(name)
        .and_then(|raw| uuid::Uuid::try_parse(raw).ok())
        .ok_or_else(|| ApiError::NotFound(missing.into()))
}

/// The `{id}` of a pipeline route, parsed as a UUID before anything else: a path that is not one
/// names no pipeline, so it is 404 without a database round trip (and never sends arbitrary
/// bytes to a query).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PipelineId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        uuid_param(parts, "id", "no pipeline with this id")
            .await
            .map(PipelineId)
    }
}

/// The `{jobId}` of a replay job route, a UUID like [`PipelineId`] (404 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayJobId(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ReplayJobId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        uuid_param(parts, "jobId", "no replay job with this id")
            .await
            .map(ReplayJobId)
    }
}

/// The `{name}` of a by-name pipeline route, validated as a pipeline name before anything else:
/// a path that is not one names no pipeline, so it is 404 without a database round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineNamePath(pub pipeline_common::model::PipelineName);

impl<S: Send + Sync> FromRequestParts<S> for PipelineNamePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ApiPath(params) =
            ApiPath::<std::collections::HashMap<String, String>>::from_request_parts(parts, &())
                .await?;
        params
            .get("name")
            .and_then(|raw| pipeline_common::model::PipelineName::parse(raw).ok())
            .map(PipelineNamePath)
            .ok_or_else(|| ApiError::NotFound("no pipeline with this name".into()))
    }
}

/// Like [`parse_json`], for a body whose schema is an object: serde's derive also reads a struct
/// from an array of its members, which the document does not allow, so anything but an object
/// is 422 (malformed JSON stays 400).
pub fn parse_json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        parse_json::<serde_json::Value>(bytes)?;
        return Err(ApiError::Unprocessable {
            detail: "the request body does not have the expected shape".into(),
            errors: vec![FieldProblem {
                field: String::new(),
                message: "must be a JSON object".into(),
            }],
        });
    }
    parse_json(bytes)
}

/// A JSON object body, as [`ApiJson`] reads it but refused unless it is an object
/// ([`parse_json_object`]).
pub struct ApiObject<T>(pub T);

impl<T, S> FromRequest<S> for ApiObject<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse_json_object(&json_body(req, state).await?).map(ApiObject)
    }
}
