//! `/api/v1/pipelines/{id}/indices`: the pipeline's indices in OpenSearch.

use crate::auth::CanRead;
use crate::error::ApiError;
use crate::http::extract::PipelineId;
use crate::http::responses::{
    BadGateway, Conflict, Forbidden, NotFound, Unauthorized, Unavailable,
};
use crate::service::{self, find};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::service::indices::{PipelineIndex, PipelineIndices};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(indices))
}

/// The indices the pipeline's template claims: documents, store size, the date each holds and
/// the pipeline version it was created under.
#[utoipa::path(get, path = "/api/v1/pipelines/{id}/indices", tag = "pipelines",
    params(("id" = String, Path, format = Uuid, description = "pipeline id (a UUID; anything else is 404)")),
    responses(
        (status = 200, description = "the indices", body = PipelineIndices),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 502, response = BadGateway),
        (status = 503, response = Unavailable)),
    security(("bearer" = [])))]
pub async fn indices(
    _: CanRead,
    State(state): State<AppState>,
    PipelineId(id): PipelineId,
) -> Result<Json<PipelineIndices>, ApiError> {
    let row = find(&state, id).await?;
    Ok(Json(service::indices::list(&state, &row).await?))
}
