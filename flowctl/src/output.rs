//! Tables for people, JSON or YAML for scripts.

use crate::cli::Format;
use crate::client::Failure;
use serde_json::Value;

/// Prints `value` as JSON or YAML and answers `true`; `false` for a table (the caller draws it).
pub fn structured(format: Format, value: &Value) -> Result<bool, Failure> {
    match format {
        Format::Table => Ok(false),
        Format::Json => {
            let text = serde_json::to_string_pretty(value)
                .map_err(|e| Failure::local(format!("rendering JSON: {e}")))?;
            println!("{text}");
            Ok(true)
        }
        Format::Yaml => {
            let text = serde_yaml::to_string(value)
                .map_err(|e| Failure::local(format!("rendering YAML: {e}")))?;
            print!("{text}");
            Ok(true)
        }
    }
}

/// Aligned columns with a header row.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(headers.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

/// A one-line progress bar: `[#####-----] 25/50 replayed`.
pub fn progress(done: i64, total: i64, what: &str) -> String {
    const WIDTH: i64 = 30;
    let filled = if total > 0 {
        (done.clamp(0, total) * WIDTH) / total
    } else {
        WIDTH
    };
    let filled = usize::try_from(filled).unwrap_or(0);
    let empty = usize::try_from(WIDTH).unwrap_or(0).saturating_sub(filled);
    format!(
        "[{}{}] {done}/{total} {what}",
        "#".repeat(filled),
        "-".repeat(empty)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["NAME", "STATE"],
            &[
                vec!["a".into(), "running".into()],
                vec!["long-name".into(), "-".into()],
            ],
        );
        assert_eq!(t, "NAME       STATE\na          running\nlong-name  -\n");
    }

    #[test]
    fn progress_bar() {
        assert_eq!(progress(0, 0, "x"), format!("[{}] 0/0 x", "#".repeat(30)));
        assert!(progress(15, 30, "replayed").starts_with("[###############---------------]"));
    }
}
