//! Datum conversion between WGS-84 and GCJ-02, and the validated `GeoPoint` every position becomes at the edge.
//!
//! Chinese web maps (AMap/Gaode, Tencent, the DataV outlines we ship) publish GCJ-02, a
//! deliberately obfuscated datum whose offset from WGS-84 is a few hundred metres and varies
//! smoothly with position. Phones report WGS-84. Gesang stores and compares WGS-84 only; GCJ-02
//! is converted on the way in (and out, for a GCJ-02 map).

use serde::{Deserialize, Serialize};

/// Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula.
const KRASOVSKY_A: f64 = 6_378_245.0;
/// First eccentricity squared of the Krasovsky 1940 ellipsoid.
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

/// Whether GCJ-02 applies at this position.
///
/// This is the conventional rough rectangle used by every public implementation (eviltransform,
/// coordtransform): outside it GCJ-02 and WGS-84 are the same. It is generous (it takes in
/// parts of neighbouring countries), which is harmless for Gannan, far inside it.
pub fn in_china(lng: f64, lat: f64) -> bool {
    (72.004..=137.8347).contains(&lng) && (0.8293..=55.8271).contains(&lat)
}

/// The GCJ-02 offset (Δlng, Δlat) in degrees at a WGS-84 position.
fn offset(lng: f64, lat: f64) -> (f64, f64) {
    let x = lng - 105.0;
    let y = lat - 35.0;
    let pi = std::f64::consts::PI;
    let common = (20.0 * (6.0 * x * pi).sin() + 20.0 * (2.0 * x * pi).sin()) * 2.0 / 3.0;

    let mut d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * x.abs().sqrt();
    d_lat += common;
    d_lat += (20.0 * (y * pi).sin() + 40.0 * (y / 3.0 * pi).sin()) * 2.0 / 3.0;
    d_lat += (160.0 * (y / 12.0 * pi).sin() + 320.0 * (y * pi / 30.0).sin()) * 2.0 / 3.0;

    let mut d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * x.abs().sqrt();
    d_lng += common;
    d_lng += (20.0 * (x * pi).sin() + 40.0 * (x / 3.0 * pi).sin()) * 2.0 / 3.0;
    d_lng += (150.0 * (x / 12.0 * pi).sin() + 300.0 * (x / 30.0 * pi).sin()) * 2.0 / 3.0;

    // The offsets above are in metres-ish units on the Krasovsky ellipsoid; turn them into degrees.
    let rad_lat = lat / 180.0 * pi;
    let magic = 1.0 - KRASOVSKY_EE * rad_lat.sin() * rad_lat.sin();
    let sqrt_magic = magic.sqrt();
    let d_lat =
        (d_lat * 180.0) / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (magic * sqrt_magic) * pi);
    let d_lng = (d_lng * 180.0) / (KRASOVSKY_A / sqrt_magic * rad_lat.cos() * pi);
    (d_lng, d_lat)
}

/// WGS-84 (lng, lat) → GCJ-02 (lng, lat). The identity outside China.
pub fn wgs84_to_gcj02(lng: f64, lat: f64) -> (f64, f64) {
    if !in_china(lng, lat) {
        return (lng, lat);
    }
    let (d_lng, d_lat) = offset(lng, lat);
    (lng + d_lng, lat + d_lat)
}

/// GCJ-02 (lng, lat) → WGS-84 (lng, lat), the exact inverse of [`wgs84_to_gcj02`].
///
/// The usual one-step formula (subtract the offset computed at the GCJ-02 point) is off by up
/// to a couple of metres; here the offset is re-evaluated at the current estimate until
/// converting the estimate forward reproduces the input to better than 1e-10 degrees
/// (≈ 0.01 mm). The offset's gradient is tiny, so this fixed-point iteration converges in 3–4
/// steps. The identity outside China.
pub fn gcj02_to_wgs84(lng: f64, lat: f64) -> (f64, f64) {
    if !in_china(lng, lat) {
        return (lng, lat);
    }
    const TOLERANCE: f64 = 1e-10;
    let (mut w_lng, mut w_lat) = (lng, lat);
    for _ in 0..30 {
        let (d_lng, d_lat) = offset(w_lng, w_lat);
        let next = (lng - d_lng, lat - d_lat);
        let done = (next.0 - w_lng).abs() < TOLERANCE && (next.1 - w_lat).abs() < TOLERANCE;
        (w_lng, w_lat) = next;
        if done {
            break;
        }
    }
    (w_lng, w_lat)
}

/// The datum a raw coordinate pair is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Datum {
    /// GPS, phones, OpenStreetMap.
    Wgs84,
    /// Chinese web maps (AMap/Gaode, Tencent) and the DataV outlines.
    Gcj02,
}

/// Why a raw coordinate pair is not a position on Earth.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum CoordError {
    #[error("a coordinate must be a finite number")]
    NotFinite,
    #[error("longitude must lie in [-180, 180], not {0}")]
    LngOutOfRange(f64),
    #[error("latitude must lie in [-90, 90], not {0}")]
    LatOutOfRange(f64),
}

/// A validated WGS-84 position in degrees. Built only through [`GeoPoint::new`] or
/// [`GeoPoint::from_datum`], so past the edge a `GeoPoint` is always finite and in range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoint", into = "RawPoint")]
pub struct GeoPoint {
    lng: f64,
    lat: f64,
}

/// The unchecked wire form of a [`GeoPoint`].
#[derive(Serialize, Deserialize)]
struct RawPoint {
    lng: f64,
    lat: f64,
}

impl TryFrom<RawPoint> for GeoPoint {
    type Error = CoordError;
    fn try_from(raw: RawPoint) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lng, raw.lat)
    }
}

impl From<GeoPoint> for RawPoint {
    fn from(p: GeoPoint) -> Self {
        RawPoint {
            lng: p.lng,
            lat: p.lat,
        }
    }
}

impl GeoPoint {
    /// A WGS-84 position; refuses NaN, infinities and out-of-range values.
    pub fn new(lng: f64, lat: f64) -> Result<GeoPoint, CoordError> {
        if !lng.is_finite() || !lat.is_finite() {
            return Err(CoordError::NotFinite);
        }
        if !(-180.0..=180.0).contains(&lng) {
            return Err(CoordError::LngOutOfRange(lng));
        }
        if !(-90.0..=90.0).contains(&lat) {
            return Err(CoordError::LatOutOfRange(lat));
        }
        Ok(GeoPoint { lng, lat })
    }

    /// A position given in `datum`, converted to WGS-84.
    pub fn from_datum(lng: f64, lat: f64, datum: Datum) -> Result<GeoPoint, CoordError> {
        let checked = GeoPoint::new(lng, lat)?;
        match datum {
            Datum::Wgs84 => Ok(checked),
            Datum::Gcj02 => {
                let (lng, lat) = gcj02_to_wgs84(checked.lng, checked.lat);
                GeoPoint::new(lng, lat)
            }
        }
    }

    /// Longitude in degrees, WGS-84.
    pub fn lng(self) -> f64 {
        self.lng
    }

    /// Latitude in degrees, WGS-84.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// This position in GCJ-02, for drawing on a Chinese web map.
    pub fn to_gcj02(self) -> (f64, f64) {
        wgs84_to_gcj02(self.lng, self.lat)
    }

    /// This position as a geo point (x = lng, y = lat).
    pub fn to_point(self) -> geo::Point<f64> {
        geo::Point::new(self.lng, self.lat)
    }
}

impl From<GeoPoint> for geo::Point<f64> {
    fn from(p: GeoPoint) -> Self {
        p.to_point()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// (wgs lng, wgs lat, gcj lng, gcj lat), from the test suite of the eviltransform project:
    /// github.com/googollee/eviltransform, `go/transform_test.go` (Shanghai, Shenzhen, Beijing).
    const REFERENCE: [(f64, f64, f64, f64); 3] = [
        (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
        (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
        (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    ];

    #[test]
    fn forward_matches_published_pairs() {
        for (w_lng, w_lat, g_lng, g_lat) in REFERENCE {
            let (lng, lat) = wgs84_to_gcj02(w_lng, w_lat);
            assert!((lng - g_lng).abs() < 1e-9, "{lng} vs {g_lng}");
            assert!((lat - g_lat).abs() < 1e-9, "{lat} vs {g_lat}");
        }
    }

    #[test]
    fn inverse_matches_published_pairs() {
        for (w_lng, w_lat, g_lng, g_lat) in REFERENCE {
            let (lng, lat) = gcj02_to_wgs84(g_lng, g_lat);
            assert!((lng - w_lng).abs() < 1e-7, "{lng} vs {w_lng}");
            assert!((lat - w_lat).abs() < 1e-7, "{lat} vs {w_lat}");
        }
    }

    #[test]
    fn outside_china_is_the_identity() {
        assert!(!in_china(2.35, 48.85));
        assert_eq!(wgs84_to_gcj02(2.35, 48.85), (2.35, 48.85));
        assert_eq!(gcj02_to_wgs84(-74.0, 40.7), (-74.0, 40.7));
        assert!(in_china(102.91, 34.98));
    }

    #[test]
    fn gannan_offset_is_a_few_hundred_metres() {
        // Hezuo: the shift is mostly eastward-northward, a few hundred metres.
        let (lng, lat) = wgs84_to_gcj02(102.91, 34.98);
        let dx = (lng - 102.91) * 111_320.0 * 34.98_f64.to_radians().cos();
        let dy = (lat - 34.98) * 110_574.0;
        let metres = dx.hypot(dy);
        assert!((100.0..800.0).contains(&metres), "{metres} m");
    }

    #[test]
    fn geopoint_refuses_garbage() {
        assert_eq!(GeoPoint::new(f64::NAN, 1.0), Err(CoordError::NotFinite));
        assert_eq!(
            GeoPoint::new(1.0, f64::INFINITY),
            Err(CoordError::NotFinite)
        );
        assert_eq!(
            GeoPoint::new(181.0, 1.0),
            Err(CoordError::LngOutOfRange(181.0))
        );
        assert_eq!(
            GeoPoint::new(1.0, -90.5),
            Err(CoordError::LatOutOfRange(-90.5))
        );
        let p = GeoPoint::new(102.91, 34.98).unwrap();
        assert_eq!((p.lng(), p.lat()), (102.91, 34.98));
    }

    #[test]
    fn geopoint_from_gcj02_converts() {
        let (w_lng, w_lat, g_lng, g_lat) = REFERENCE[2];
        let p = GeoPoint::from_datum(g_lng, g_lat, Datum::Gcj02).unwrap();
        assert!((p.lng() - w_lng).abs() < 1e-7 && (p.lat() - w_lat).abs() < 1e-7);
        let q = GeoPoint::from_datum(w_lng, w_lat, Datum::Wgs84).unwrap();
        assert_eq!((q.lng(), q.lat()), (w_lng, w_lat));
    }

    #[test]
    fn geopoint_json_is_checked() {
        let p: GeoPoint = serde_json::from_str(r#"{"lng":102.9,"lat":35.0}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"lng":102.9,"lat":35.0}"#
        );
        assert!(serde_json::from_str::<GeoPoint>(r#"{"lng":200,"lat":35}"#).is_err());
    }

    proptest! {
        #[test]
        fn round_trip_wgs_gcj_wgs(lng in 73.0f64..135.0, lat in 3.0f64..53.0) {
            let (g_lng, g_lat) = wgs84_to_gcj02(lng, lat);
            let (b_lng, b_lat) = gcj02_to_wgs84(g_lng, g_lat);
            prop_assert!((b_lng - lng).abs() < 1e-9 && (b_lat - lat).abs() < 1e-9);
        }

        #[test]
        fn round_trip_gcj_wgs_gcj(lng in 73.0f64..135.0, lat in 3.0f64..53.0) {
            let (w_lng, w_lat) = gcj02_to_wgs84(lng, lat);
            let (b_lng, b_lat) = wgs84_to_gcj02(w_lng, w_lat);
            prop_assert!((b_lng - lng).abs() < 1e-9 && (b_lat - lat).abs() < 1e-9);
        }
    }
}
