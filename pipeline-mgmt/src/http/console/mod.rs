//! `/console`: the web console. Pages are rendered here from the pipelines service; the little
//! JavaScript they carry changes things through the REST API itself, at `/console/api/…`.
//!
//! Signing in checks a bearer token and keeps it in an `HttpOnly`, `SameSite=Strict` cookie
//! scoped to `/console`. `/console/api/<rest>` forwards to `/api/v1/<rest>` with that token as
//! the `Authorization` header, so the console can do exactly what the token's role may do over
//! the API and nothing else. A forwarded request must carry `X-Flow-Console: 1`: a header no
//! cross-site form can send, and one a cross-site script could only send after a CORS preflight
//! that this server never grants. Every asset is compiled into the binary.

mod chart;
mod cookie;
mod dead_letters;
mod html;
mod pages;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::http::extract::PipelineId;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Form, Router};
use pipeline_common::config::Role;
use pipeline_common::store::pipelines::PipelineRow;
use serde::Deserialize;
use tower::ServiceExt;

/// The session cookie.
const COOKIE: &str = "flow_console";
/// The header every forwarded API call must carry.
const CONSOLE_HEADER: &str = "x-flow-console";

const CSS: &str = include_str!("../../../console/console.css");
const JS: &str = include_str!("../../../console/console.js");

/// The console's routes. `api` is the REST router that `/console/api/…` forwards to.
pub fn router(state: AppState, api: Router) -> Router {
    Router::new()
        .route("/console", get(pages::pipelines))
        .route("/console/", get(pages::pipelines))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/new", get(pages::new_pipeline))
        .route("/console/pipelines/{id}", get(pages::pipeline))
        .route("/console/pipelines/{id}/edit", get(pages::edit_pipeline))
        .route("/console/pipelines/{id}/errors", get(dead_letters::page))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route(
            "/console/api/{*rest}",
            any(move |request: Request| forward(api.clone(), request)),
        )
        .with_state(state)
}

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    /// Who.
    pub principal: Principal,
}

impl Session {
    /// Editors and admins see and use the controls that change things.
    pub fn can_edit(&self) -> bool {
        matches!(self.principal.role, Role::Editor | Role::Admin)
    }

    /// The role's name, as configured.
    pub fn role(&self) -> &'static str {
        match self.principal.role {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
            Role::Ingest => "ingest",
        }
    }
}

fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// Not signed in (or the token no longer works): to the sign-in page.
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/console/sign-in").into_response()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = SignInFirst;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = cookie_token(parts).ok_or(SignInFirst)?;
        let principal = state.tokens.authenticate(&token).ok_or(SignInFirst)?;
        // An ingest token may post events, and nothing the console shows.
        if principal.role == Role::Ingest {
            return Err(SignInFirst);
        }
        Ok(Session { principal })
    }
}

/// The row a console page's `{id}` names; a path that is not a UUID is 404 as in the API.
async fn find_row(
    state: &AppState,
    id: Result<PipelineId, ApiError>,
) -> Result<PipelineRow, ApiError> {
    crate::service::find(state, id?.0).await
}

async fn sign_in_page() -> Response {
    html::page_response(StatusCode::OK, &pages::sign_in(None))
}

#[derive(Debug, Deserialize)]
struct SignIn {
    token: String,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> Response {
    let token = form
        .map(|f| f.0.token.trim().to_owned())
        .unwrap_or_default();
    let principal = state.tokens.authenticate(&token);
    match principal {
        Some(p) if p.role != Role::Ingest && token_is_cookie_safe(&token) => {
            let secure = cookie::secure_attribute(&state.settings.server, &headers);
            let cookie = format!(
                "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=43200{secure}"
            );
            let mut response = Redirect::to("/console").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Some(_) => html::page_response(
            StatusCode::FORBIDDEN,
            &pages::sign_in(Some("this token cannot use the console")),
        ),
        None => html::page_response(
            StatusCode::UNAUTHORIZED,
            &pages::sign_in(Some("unknown token")),
        ),
    }
}

/// A token goes into a cookie verbatim; one with separators or controls would not round-trip.
fn token_is_cookie_safe(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'))
}

async fn sign_out() -> Response {
    let mut response = Redirect::to("/console/sign-in").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "flow_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    response
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `/console/api/<rest>` → `/api/v1/<rest>` with the session's token.
async fn forward(api: Router, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    if parts
        .headers
        .get(CONSOLE_HEADER)
        .is_none_or(|v| v.as_bytes() != b"1")
    {
        return ApiError::Forbidden("console API calls come from the console".into())
            .into_response();
    }
    let Some(token) = cookie_token(&parts) else {
        return ApiError::Unauthorized.into_response();
    };
    let path = parts.uri.path();
    let Some(rest) = path.strip_prefix("/console/api/") else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    let target = match parts.uri.query() {
        Some(q) => format!("/api/v1/{rest}?{q}"),
        None => format!("/api/v1/{rest}"),
    };
    let (Ok(uri), Ok(auth)) = (
        target.parse::<Uri>(),
        HeaderValue::from_str(&format!("Bearer {token}")),
    ) else {
        return ApiError::BadRequest("malformed console API path".into()).into_response();
    };
    parts.uri = uri;
    // The outer route's path parameters must not reach the API's own route matching.
    parts.extensions = axum::http::Extensions::new();
    parts.headers.insert(header::AUTHORIZATION, auth);
    parts.headers.remove(header::COOKIE);
    let request = Request::from_parts(parts, Body::new(body));
    match api.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
