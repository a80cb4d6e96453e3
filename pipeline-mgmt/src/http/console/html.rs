//! HTML building blocks: escaping, the page frame.

use super::Session;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for an element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: header with the signed-in principal, then `body`.
pub fn frame(title: &str, session: Option<&Session>, body: &str) -> String {
    let who = match session {
        Some(s) => format!(
            "<span id=\"who\" class=\"who\">{} ({})</span>\
             <form method=\"post\" action=\"/console/sign-out\"><button id=\"sign-out\">Sign out</button></form>",
            esc(&s.principal.name),
            s.role()
        ),
        None => String::new(),
    };
    let role = session.map_or("", |s| s.role());
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · flow-stream</title>\
         <link rel=\"stylesheet\" href=\"/console/assets/console.css\">\
         <script src=\"/console/assets/console.js\" defer></script></head>\
         <body data-role=\"{role}\"><header><a class=\"brand\" href=\"/console\">flow-stream</a>\
         <nav>{who}</nav></header><main>{body}</main></body></html>\n",
        esc(title)
    )
}

/// An HTML response.
pub fn page_response(status: StatusCode, html: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html.to_owned(),
    )
        .into_response()
}

/// A message page (not found, forbidden) in the frame.
pub fn message(status: StatusCode, session: Option<&Session>, text: &str) -> Response {
    page_response(
        status,
        &frame(
            text,
            session,
            &format!("<p class=\"message\" id=\"message\">{}</p>", esc(text)),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
