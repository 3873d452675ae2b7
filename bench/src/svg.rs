//! Minimal SVG bar charts for the report.
//!
//! Hand-written on purpose: the charting crates need a font stack (system
//! fonts through font-kit) to lay out any text, a heavy build for four bar
//! charts; SVG viewers lay out the text themselves.

use std::fmt::Write as _;

/// One group of bars: a label and one value per series.
pub struct Row {
    /// The group's label.
    pub label: String,
    /// One value per series; `None` leaves a gap.
    pub values: Vec<Option<f64>>,
}

const COLOURS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

/// A horizontal grouped bar chart. With `log`, bar lengths are
/// logarithmic (for values that span several orders of magnitude).
pub fn bar_chart(title: &str, unit: &str, series: &[&str], rows: &[Row], log: bool) -> String {
    let (label_width, bar_width, bar_height, gap) = (230.0, 460.0, 14.0, 10.0);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|row| row.values.iter().flatten().copied())
        .collect();
    let max = values.iter().copied().fold(f64::MIN_POSITIVE, f64::max);
    let min = values
        .iter()
        .copied()
        .filter(|v| *v > 0.0)
        .fold(max, f64::min);
    let scale = |value: f64| -> f64 {
        if value <= 0.0 {
            return 0.0;
        }
        if log {
            let floor = (min / 2.0).log10();
            ((value.log10() - floor) / (max.log10() - floor)).max(0.02) * bar_width
        } else {
            value / max * bar_width
        }
    };
    let group_height = series.len() as f64 * bar_height + gap;
    let legend_height = 22.0;
    let height = 40.0 + legend_height + rows.len() as f64 * group_height + 10.0;
    let width = label_width + bar_width + 130.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        escape(&format!(
            "{title} ({unit}{})",
            if log { ", log scale" } else { "" }
        ))
    );
    for (index, name) in series.iter().enumerate() {
        let x = label_width + index as f64 * 150.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="32" width="12" height="12" fill="{}"/><text x="{}" y="43">{}</text>"#,
            COLOURS[index % COLOURS.len()],
            x + 16.0,
            escape(name)
        );
    }
    let mut y = 40.0 + legend_height;
    for row in rows {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            label_width - 8.0,
            y + group_height / 2.0,
            escape(&row.label)
        );
        for (index, value) in row.values.iter().enumerate() {
            let top = y + index as f64 * bar_height;
            if let Some(value) = value {
                let length = scale(*value);
                let _ = writeln!(
                    svg,
                    r#"<rect x="{label_width}" y="{top}" width="{length:.1}" height="{}" fill="{}"/><text x="{:.1}" y="{}" font-size="11">{}</text>"#,
                    bar_height - 2.0,
                    COLOURS[index % COLOURS.len()],
                    label_width + length + 4.0,
                    top + bar_height - 4.0,
                    format_value(*value)
                );
            }
        }
        y += group_height;
    }
    svg.push_str("</svg>\n");
    svg
}

/// A value with three significant digits.
pub fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else if value >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
