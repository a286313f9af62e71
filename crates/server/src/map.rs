//! Maps drawn as SVG from our own geometry: no tiles, no scripts, every shape a link.

use std::fmt::Write as _;

use geo::{BoundingRect, InteriorPoint, MultiPolygon, Simplify};

/// One shape to draw.
pub struct MapShape {
    pub code: String,
    pub label: String,
    /// GeoJSON geometry text (WGS-84).
    pub geometry: String,
    /// Link target when the shape is clicked.
    pub href: String,
    /// A value in [0,1] that picks the fill shade (e.g. households relative to the largest).
    pub shade: f64,
    /// Tooltip text.
    pub title: String,
}

/// An SVG ready to embed in a page.
pub struct SvgMap {
    pub svg: String,
    /// The projection, so a script can turn a tap back into a position: `[min_lng, max_lat,
    /// kx, scale]` with `x = (lng - min_lng) * kx * scale`, `y = (max_lat - lat) * scale`.
    pub frame: [f64; 4],
}

use crate::actions::territory::parse_multipolygon as parse;

const WIDTH: f64 = 800.0;
/// A pin is this fraction of the map's larger side tall, so it reads the same on any map.
const PIN_FRACTION: f64 = 12.0;

/// A marker at one point (WGS-84), e.g. where a case was reported.
pub struct MapPin {
    pub lng: f64,
    pub lat: f64,
    /// Tooltip text.
    pub title: String,
}

/// Draw `shapes` fitted into an 800-pixel-wide SVG (equirectangular, scaled by the cosine of
/// the mid latitude so shapes keep their proportions at Gannan's latitude).
pub fn render(shapes: &[MapShape], aria_label: &str) -> Option<SvgMap> {
    render_with_pin(shapes, None, aria_label)
}

/// Like [`render`], with a pin drawn over the shapes (the view is widened to hold the pin even
/// when it lies outside every shape).
pub fn render_with_pin(
    shapes: &[MapShape],
    pin: Option<&MapPin>,
    aria_label: &str,
) -> Option<SvgMap> {
    let parsed: Vec<(&MapShape, MultiPolygon<f64>)> = shapes
        .iter()
        .filter_map(|s| parse(&s.geometry).map(|g| (s, g)))
        .collect();
    if parsed.is_empty() {
        return None;
    }
    let mut min_x = f64::MAX;
    let mut min_y = f64::MAX;
    let mut max_x = f64::MIN;
    let mut max_y = f64::MIN;
    for (_, g) in &parsed {
        if let Some(r) = g.bounding_rect() {
            min_x = min_x.min(r.min().x);
            min_y = min_y.min(r.min().y);
            max_x = max_x.max(r.max().x);
            max_y = max_y.max(r.max().y);
        }
    }
    if let Some(p) = pin {
        min_x = min_x.min(p.lng);
        min_y = min_y.min(p.lat);
        max_x = max_x.max(p.lng);
        max_y = max_y.max(p.lat);
    }
    let kx = ((min_y + max_y) / 2.0).to_radians().cos();
    let span_x = ((max_x - min_x) * kx).max(1e-9);
    let span_y = (max_y - min_y).max(1e-9);
    let scale = WIDTH / span_x;
    let height = (span_y * scale).clamp(200.0, 1200.0);
    let scale = scale.min(height / span_y);
    // Half a pixel of detail is all the eye can see.
    let epsilon = 0.5 / scale;
    let px = |x: f64, y: f64| ((x - min_x) * kx * scale, (max_y - y) * scale);

    // A pin stands `pin_h` units above its point and a third of that to the sides: leave room.
    let pin_h = (span_x * scale).max(span_y * scale) / PIN_FRACTION;
    let pad = if pin.is_some() { pin_h } else { 0.0 };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="map" viewBox="{:.0} {:.0} {:.0} {:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        -pad / 2.0,
        -pad,
        span_x * scale + pad,
        span_y * scale + pad * 1.5,
        escape(aria_label)
    );
    let mut labels = String::new();
    for (shape, geom) in &parsed {
        let simple = geom.simplify(epsilon);
        let mut d = String::new();
        for poly in simple.0.iter() {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for (i, c) in ring.coords().enumerate() {
                    let (x, y) = px(c.x, c.y);
                    let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x, y);
                }
                d.push('Z');
            }
        }
        let shade = (shape.shade.clamp(0.0, 1.0) * 4.0).round() as u8;
        let _ = write!(
            svg,
            r#"<a href="{}"><path class="shape s{}" d="{}"><title>{}</title></path></a>"#,
            escape(&shape.href),
            shade,
            d,
            escape(&shape.title)
        );
        if let Some(p) = geom.interior_point() {
            let (x, y) = px(p.x(), p.y());
            let _ = write!(
                labels,
                r#"<text class="label" x="{x:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#,
                escape(&shape.label)
            );
        }
    }
    svg.push_str(&labels);
    if let Some(p) = pin {
        let (x, y) = px(p.lng, p.lat);
        let h = pin_h;
        let r = pin_h * 0.3;
        let _ = write!(
            svg,
            r#"<g class="pin" transform="translate({x:.1},{y:.1})"><title>{}</title><path d="M0,0 C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} A{r:.1},{r:.1} 0 1,1 {:.1},{:.1} C{:.1},{:.1} {:.1},{:.1} 0,0Z"/><circle cx="0" cy="{:.1}" r="{:.1}"/></g>"#,
            escape(&p.title),
            -r * 0.4,
            -h * 0.35,
            -r,
            -h * 0.5,
            -r,
            -(h - r),
            r,
            -(h - r),
            r,
            -h * 0.5,
            r * 0.4,
            -h * 0.35,
            -(h - r),
            r * 0.4,
        );
    }
    svg.push_str("</svg>");
    Some(SvgMap {
        svg,
        frame: [min_x, max_y, kx, scale],
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_each_shape_as_a_link() {
        let sq = |x: f64| {
            format!(
                r#"{{"type":"Polygon","coordinates":[[[{x},35.0],[{},35.0],[{},35.1],[{x},35.1],[{x},35.0]]]}}"#,
                x + 0.1,
                x + 0.1
            )
        };
        let shapes = vec![
            MapShape {
                code: "a".into(),
                label: "甲".into(),
                geometry: sq(102.0),
                href: "/territory/623027".into(),
                shade: 1.0,
                title: "甲 <1>".into(),
            },
            MapShape {
                code: "b".into(),
                label: "乙".into(),
                geometry: sq(102.1),
                href: "/territory/623026".into(),
                shade: 0.0,
                title: "乙".into(),
            },
        ];
        let m = render(&shapes, "map").unwrap();
        assert_eq!(m.svg.matches("<a href=").count(), 2);
        assert!(m.svg.contains("/territory/623027"));
        assert!(m.svg.contains("甲 &lt;1&gt;"));
        assert!(m.svg.contains("s4") && m.svg.contains("s0"));
        assert!(render(&[], "map").is_none());
        let pin = MapPin {
            lng: 102.05,
            lat: 35.05,
            title: "案 <1>".into(),
        };
        let m = render_with_pin(&shapes, Some(&pin), "map").unwrap();
        assert!(m.svg.contains(r#"class="pin""#));
        assert!(m.svg.contains("案 &lt;1&gt;"));
    }
}
