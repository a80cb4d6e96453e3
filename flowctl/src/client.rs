//! The HTTP client: one request, its outcome as a value or a one-line failure.

use reqwest::header::{HeaderMap, IF_MATCH, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// Exit code: the server could not be reached, or a local error (file, config).
pub const EXIT_LOCAL: u8 = 1;
/// Exit code: 401 or 403.
const EXIT_AUTH: u8 = 3;
/// Exit code: any other 4xx.
const EXIT_CLIENT: u8 = 4;
/// Exit code: a 5xx.
const EXIT_SERVER: u8 = 5;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// Nothing was answered, or a local problem.
    Local(String),
    /// The server answered an error status.
    Http {
        /// Status code.
        status: StatusCode,
        /// The problem+json `detail` (or the body's first line).
        detail: String,
        /// `errors[]`: field and message.
        fields: Vec<(String, String)>,
    },
}

impl Failure {
    /// A local failure.
    pub fn local(message: impl Into<String>) -> Failure {
        Failure::Local(message.into())
    }

    /// The one line printed for it.
    pub fn line(&self) -> String {
        match self {
            Failure::Local(message) => format!("error: {}", one_line(message)),
            Failure::Http {
                status,
                detail,
                fields,
            } => {
                let mut line = format!("error: {} {}", status.as_u16(), one_line(detail));
                if !fields.is_empty() {
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|(f, m)| {
                            if f.is_empty() {
                                one_line(m)
                            } else {
                                format!("{f}: {}", one_line(m))
                            }
                        })
                        .collect();
                    line.push_str(" (");
                    line.push_str(&parts.join("; "));
                    line.push(')');
                }
                line
            }
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Local(_) => EXIT_LOCAL,
            Failure::Http { status, .. } if matches!(status.as_u16(), 401 | 403) => EXIT_AUTH,
            Failure::Http { status, .. } if status.is_client_error() => EXIT_CLIENT,
            Failure::Http { .. } => EXIT_SERVER,
        }
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A successful answer.
#[derive(Debug)]
pub struct Answer {
    /// The JSON body (`null` when empty).
    pub body: Value,
    headers: HeaderMap,
}

impl Answer {
    /// `Location`.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// pipeline-mgmt at one URL with one token.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// A client of `base` (no trailing slash needed).
    pub fn new(base: &str, token: Option<String>) -> Result<Client, Failure> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| Failure::local(format!("building the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Sends a request; a non-2xx answer becomes a [`Failure`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(version) = if_match {
            request = request.header(IF_MATCH, version);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::local(format!("{} could not be reached: {e}", self.base)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| Failure::local(format!("reading the answer: {e}")))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
        };
        if status.is_success() {
            return Ok(Answer { body, headers });
        }
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let first = text.lines().next().unwrap_or_default();
                if first.is_empty() {
                    status.canonical_reason().unwrap_or("error").to_owned()
                } else {
                    first.chars().take(200).collect()
                }
            });
        let fields = body
            .get("errors")
            .and_then(Value::as_array)
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["field"].as_str().unwrap_or_default().to_owned(),
                            e["message"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Err(Failure::Http {
            status,
            detail,
            fields,
        })
    }

    /// GET.
    pub async fn get(&self, path: &str) -> Result<Answer, Failure> {
        self.send(Method::GET, path, None, None).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Answer, Failure> {
        self.send(Method::POST, path, Some(body), None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_one_line_and_maps_to_an_exit_code() {
        let f = Failure::Http {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: "the pipeline definition\nis invalid".into(),
            fields: vec![
                ("name".into(), "must match".into()),
                (String::new(), "x".into()),
            ],
        };
        assert_eq!(
            f.line(),
            "error: 422 the pipeline definition is invalid (name: must match; x)"
        );
        assert_eq!(f.exit_code(), 4);
        let auth = Failure::Http {
            status: StatusCode::UNAUTHORIZED,
            detail: "a valid bearer token is required".into(),
            fields: vec![],
        };
        assert_eq!(auth.exit_code(), 3);
        assert_eq!(Failure::local("x").exit_code(), 1);
    }
}
