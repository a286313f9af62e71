//! Charts drawn on the server as SVG (no chart library, nothing run in the browser): a
//! horizontal bar chart whose bars are links to the list behind them.

use std::fmt::Write;

/// One bar.
pub struct Bar {
    pub label: String,
    pub value: u64,
    /// The list behind the bar.
    pub href: String,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
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

const ROW: u64 = 22;
const LABEL_W: u64 = 170;
const BAR_W: u64 = 360;

/// A horizontal bar chart of `bars` (in the order given), `title` as its accessible name;
/// `None` when there is nothing to draw.
pub fn bars(bars: &[Bar], title: &str, class: &str) -> Option<String> {
    if bars.is_empty() {
        return None;
    }
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let h = bars.len() as u64 * ROW + 6;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart {}\" viewBox=\"0 0 {} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(class),
        LABEL_W + BAR_W + 60,
        escape(title)
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as u64 * ROW;
        let w = (b.value * BAR_W / max).max(u64::from(b.value > 0));
        let label: String = b.label.chars().take(14).collect();
        let _ = write!(
            s,
            "<a href=\"{href}\" class=\"bar-link\"><text class=\"label\" x=\"0\" y=\"{ty}\">{label}</text>\
             <rect class=\"bar\" x=\"{LABEL_W}\" y=\"{ry}\" width=\"{w}\" height=\"16\"><title>{full} · {v}</title></rect>\
             <text class=\"label n\" x=\"{tx}\" y=\"{ty}\">{v}</text></a>",
            href = escape(&b.href),
            ty = y + 16,
            ry = y + 4,
            label = escape(&label),
            full = escape(&b.label),
            v = b.value,
            tx = LABEL_W + w + 6,
        );
    }
    s.push_str("</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_links_scaled_to_the_largest_and_escaped() {
        let svg = bars(
            &[
                Bar {
                    label: "矛盾<纠纷>".into(),
                    value: 4,
                    href: "/cases?territory=623027&category=a&from=2025-10-01".into(),
                },
                Bar {
                    label: "治安".into(),
                    value: 2,
                    href: "/cases?x=1".into(),
                },
            ],
            "按类别",
            "categories",
        )
        .unwrap();
        assert!(svg.starts_with("<svg class=\"chart categories\""));
        assert!(
            svg.contains("href=\"/cases?territory=623027&amp;category=a&amp;from=2025-10-01\"")
        );
        assert!(svg.contains(&format!("width=\"{BAR_W}\"")));
        assert!(svg.contains(&format!("width=\"{}\"", BAR_W / 2)));
        assert!(svg.contains("矛盾&lt;纠纷&gt;"));
        assert!(bars(&[], "x", "y").is_none());
    }
}
