//! Small inline SVG line charts: no script, no external library.

use super::html::esc;

/// One line: a label, a CSS class, and its values (one per x step).
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// CSS class of the line.
    pub class: &'a str,
    /// Values, oldest first.
    pub values: Vec<i64>,
}

/// A line chart of `series` over `labels` (x axis, oldest first).
pub fn lines(id: &str, title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    const PAD: f64 = 30.0;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let steps = labels.len().max(2) - 1;
    let x = |i: usize| PAD + (W - 2.0 * PAD) * (i as f64) / (steps as f64);
    let y = |v: i64| H - PAD - (H - 2.0 * PAD) * (v as f64) / (max as f64);
    let mut out = format!(
        "<figure class=\"chart\"><figcaption>{}</figcaption>\
         <svg id=\"{id}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
         <text class=\"tick\" x=\"2\" y=\"{}\">{max}</text><text class=\"tick\" x=\"2\" y=\"{}\">0</text>",
        esc(title),
        esc(title),
        H - PAD,
        W - PAD,
        H - PAD,
        PAD + 4.0,
        H - PAD
    );
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        out.push_str(&format!(
            "<text class=\"tick\" x=\"{PAD}\" y=\"{}\">{}</text>\
             <text class=\"tick\" text-anchor=\"end\" x=\"{}\" y=\"{}\">{}</text>",
            H - 8.0,
            esc(first),
            W - PAD,
            H - 8.0,
            esc(last)
        ));
    }
    for s in series {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
            .collect();
        out.push_str(&format!(
            "<polyline class=\"{}\" data-series=\"{}\" points=\"{}\"><title>{}</title></polyline>",
            esc(s.class),
            esc(s.label),
            points.join(" "),
            esc(s.label)
        ));
    }
    out.push_str("</svg><p class=\"legend\">");
    for s in series {
        out.push_str(&format!(
            "<span class=\"{}\">■ {}</span> ",
            esc(s.class),
            esc(s.label)
        ));
    }
    if labels.is_empty() {
        out.push_str("<span class=\"empty\">no samples yet</span>");
    }
    out.push_str("</p></figure>");
    out
}
