//! The problem+json responses of the OpenAPI document, one per status, shared by the operations
//! that can answer them. Each names when it happens; the body is always [`Problem`].

use crate::error::Problem;
use utoipa::ToResponse;

macro_rules! problem_response {
    ($(#[$doc:meta])* $name:ident, $description:literal) => {
        $(#[$doc])*
        #[derive(ToResponse)]
        #[response(description = $description, content_type = "application/problem+json")]
        #[allow(dead_code)] // documentation only: the handlers answer `ApiError`
        pub struct $name(Problem);
    };
}

problem_response!(
    /// 400.
    BadRequest,
    "malformed request: JSON that does not parse, a query or header that does not parse"
);
problem_response!(
    /// 401.
    Unauthorized,
    "no bearer token, or one that is not configured"
);
problem_response!(
    /// 403.
    Forbidden,
    "the token's role does not allow this operation"
);
problem_response!(
    /// 404.
    NotFound,
    "no pipeline with this id (an id that is not a UUID names none)"
);
problem_response!(
    /// 409.
    Conflict,
    "conflicts with the pipeline's current state"
);
problem_response!(
    /// 412.
    PreconditionFailed,
    "If-Match names a version that is no longer current"
);
problem_response!(
    /// 413.
    PayloadTooLarge,
    "the body (or one event) is larger than server.maxRequestBytes (server.maxEventBytes)"
);
problem_response!(
    /// 415.
    UnsupportedMediaType,
    "a Content-Type this operation does not accept"
);
problem_response!(
    /// 422.
    UnprocessableEntity,
    "well-formed but invalid: one entry in `errors` per offending field"
);
problem_response!(
    /// 428.
    PreconditionRequired,
    "If-Match is required"
);
problem_response!(
    /// 502.
    BadGateway,
    "Kafka or OpenSearch failed while the server acted on them"
);
problem_response!(
    /// 503.
    Unavailable,
    "a dependency (database, broker) is unavailable; retry"
);
