//! The pipeline page's table of indices: what `GET /api/v1/pipelines/{id}/indices` answers, with
//! when retention deletes each one.

use super::html::esc;
use crate::error::ApiError;
use crate::service::indices::PipelineIndices;

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The indices section; when OpenSearch cannot be asked, a line saying so instead of the table
/// (the rest of the page does not depend on it).
pub fn section(indices: Result<PipelineIndices, ApiError>) -> String {
    let indices = match indices {
        Ok(indices) => indices,
        Err(err) => {
            return format!(
                "<h2>Indices</h2><p id=\"indices-unavailable\" class=\"error\">{}</p>",
                esc(&err.problem().detail)
            )
        }
    };
    let mut html = String::from(
        "<h2>Indices</h2><table id=\"indices\"><thead><tr><th>Index</th><th>Date</th>\
         <th>Documents</th><th>Store MiB</th><th>Template version</th><th>Retention deletes it</th>\
         </tr></thead><tbody>",
    );
    for index in &indices.items {
        let deletes = match (index.retention_deletes_at, index.retention_deletes_next) {
            (Some(_), true) => "at the next sweep".to_owned(),
            (Some(at), false) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
            (None, _) => "never".to_owned(),
        };
        html.push_str(&format!(
            "<tr data-index=\"{name}\"><td>{name}</td><td>{date}</td><td class=\"documents\">{docs}</td>\
             <td>{store}</td><td>{version}</td><td class=\"retention\">{deletes}</td></tr>",
            name = esc(&index.name),
            date = index
                .date
                .map_or_else(|| "-".to_owned(), |d| d.format("%Y-%m-%d %H:%M").to_string()),
            docs = index.documents,
            store = mib(index.store_bytes),
            version = index
                .template_version
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        ));
    }
    if indices.items.is_empty() {
        html.push_str("<tr><td colspan=\"6\" class=\"empty\">no index yet</td></tr>");
    }
    html.push_str("</tbody></table>");
    html
}
