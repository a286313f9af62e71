//! What the public sees of a case: the tracking code a resident (or an Open311 client) follows
//! it by, the simple stages and the public history drawn from the engine's richer states,
//! the duplicate suggestion (same category, near the same place, within a time window), and
//! the per-client rate limit of the public doors.
//!
//! A tracking code is the case id and an HMAC-SHA256 of it under the server's secret, in
//! Crockford base32, 16 characters shown as four groups (`K7M2-Q9XH-3P4R-T6VW`): nothing is
//! stored for it, it survives any crash with its case, and a neighbour's code cannot be derived
//! from one's own (the MAC is 40 bits, and the public doors are rate limited).

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use geo::{Distance, Haversine};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::case::{Change, Event, Status};
use crate::coord::GeoPoint;

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or typed is not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const ID_BYTES: usize = 5;
const MAC_BYTES: usize = 5;

/// The code a reporter follows a case by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingCode(String);

impl TrackingCode {
    /// The code of case `id` under `secret` (ids below 2^40).
    pub fn of(case_id: i64, secret: &[u8]) -> TrackingCode {
        let id = u64::try_from(case_id).unwrap_or(0) & 0xFF_FFFF_FFFF;
        let mut bytes = [0u8; ID_BYTES + MAC_BYTES];
        bytes[..ID_BYTES].copy_from_slice(&id.to_be_bytes()[8 - ID_BYTES..]);
        let mac = mac(&bytes[..ID_BYTES], secret);
        bytes[ID_BYTES..].copy_from_slice(&mac[..MAC_BYTES]);
        TrackingCode(encode(&bytes))
    }

    /// Read a code as a resident may type it (any case, with or without dashes or spaces,
    /// O for 0 and I/L for 1) and check it: the case id when it is genuine.
    pub fn verify(raw: &str, secret: &[u8]) -> Option<(TrackingCode, i64)> {
        let bytes = decode(raw)?;
        let (id_part, mac_part) = bytes.split_at(ID_BYTES);
        let expect = mac(id_part, secret);
        // Compare in constant time: the MAC is the secret part.
        let same = mac_part
            .iter()
            .zip(&expect[..MAC_BYTES])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !same {
            return None;
        }
        let mut id = [0u8; 8];
        id[8 - ID_BYTES..].copy_from_slice(id_part);
        let id = i64::try_from(u64::from_be_bytes(id)).ok()?;
        Some((TrackingCode(encode(&bytes)), id))
    }

    /// The canonical form, in four groups of four.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn mac(data: &[u8], secret: &[u8]) -> [u8; 32] {
    // An HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut m = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    m.update(b"gesang-tracking-v1");
    m.update(data);
    m.finalize().into_bytes().into()
}

fn encode(bytes: &[u8; ID_BYTES + MAC_BYTES]) -> String {
    let mut v: u128 = 0;
    for b in bytes {
        v = (v << 8) | u128::from(*b);
    }
    let mut out = String::with_capacity(19);
    for i in 0..16 {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let shift = 5 * (15 - i);
        out.push(ALPHABET[((v >> shift) & 31) as usize] as char);
    }
    out
}

fn decode(raw: &str) -> Option<[u8; ID_BYTES + MAC_BYTES]> {
    let mut v: u128 = 0;
    let mut n = 0;
    for c in raw.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        let d = ALPHABET.iter().position(|a| *a as char == c)?;
        v = (v << 5) | d as u128;
        n += 1;
        if n > 16 {
            return None;
        }
    }
    if n != 16 {
        return None;
    }
    let mut out = [0u8; ID_BYTES + MAC_BYTES];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (v >> (8 * (ID_BYTES + MAC_BYTES - 1 - i))) as u8;
    }
    Some(out)
}

/// The stage a reporter sees, fewer and plainer than the engine's states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Arrived, not yet accepted (待受理).
    Received,
    /// Accepted, sent on, or being handled.
    InProgress,
    /// Handled and verified: waiting for the reporter's rating (待回访).
    AwaitingRating,
    /// Handled, being checked (核查).
    Checking,
    /// Waiting, approved to take longer (挂账).
    OnHold,
    Closed,
    /// Not accepted, with the reason and where to go instead.
    Rejected,
    /// Merged into another report of the same problem.
    Merged,
}

impl Stage {
    pub fn of(status: Status) -> Stage {
        match status {
            Status::Submitted => Stage::Received,
            Status::Accepted | Status::Dispatched | Status::InProgress => Stage::InProgress,
            Status::Handled => Stage::Checking,
            Status::Revisit => Stage::AwaitingRating,
            Status::Parked => Stage::OnHold,
            Status::Closed => Stage::Closed,
            Status::Rejected => Stage::Rejected,
            Status::Merged => Stage::Merged,
        }
    }

    /// A stable name, for translations and the JSON view.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Received => "received",
            Stage::InProgress => "in_progress",
            Stage::Checking => "checking",
            Stage::AwaitingRating => "awaiting_rating",
            Stage::OnHold => "on_hold",
            Stage::Closed => "closed",
            Stage::Rejected => "rejected",
            Stage::Merged => "merged",
        }
    }

    /// Open311's two states: `closed` once the case has ended, `open` before.
    pub fn open311(status: Status) -> &'static str {
        if status.is_terminal() {
            "closed"
        } else {
            "open"
        }
    }
}

/// One step of the public history: what happened, never who wrote what inside (notes,
/// supervision, extension and parking requests, send-backs and handlers' texts stay inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicStep {
    pub at: DateTime<Utc>,
    /// The engine's action name (`create`, `accept`, `dispatch`, …).
    pub action: &'static str,
    pub to_status: Status,
    /// For dispatch, transfer and escalation: the unit the case went to.
    pub unit: Option<String>,
    /// For a rejection: its reason and the route advised.
    pub reason: Option<String>,
    pub redirect: Option<String>,
    /// For "report handled" and self-handling: the result code.
    pub result: Option<&'static str>,
    /// For a return visit: the satisfaction code, and whether the reporter gave it.
    pub satisfaction: Option<&'static str>,
    pub by_reporter: bool,
}

/// The public history of a case, oldest first.
pub fn public_history(events: &[Event]) -> Vec<PublicStep> {
    events
        .iter()
        .filter_map(|e| {
            let mut step = PublicStep {
                at: e.at,
                action: e.action(),
                to_status: e.to_status,
                unit: None,
                reason: None,
                redirect: None,
                result: None,
                satisfaction: None,
                by_reporter: false,
            };
            match &e.change {
                Change::Create { .. }
                | Change::Accept
                | Change::Sign
                | Change::Merge { .. }
                | Change::Close
                | Change::Resume { .. } => {}
                Change::Dispatch { to }
                | Change::Escalate { to, .. }
                | Change::Transfer { to, .. } => {
                    step.unit = Some(to.code.clone());
                }
                Change::Reject { reason, redirect } => {
                    step.reason = Some(reason.clone());
                    step.redirect = redirect.clone();
                }
                Change::ReportHandled { result, .. } | Change::SelfHandle { result, .. } => {
                    step.result = Some(result.as_str());
                }
                Change::Verify { passed } => {
                    if !passed {
                        // A failed check sends the work back: inside business.
                        return None;
                    }
                }
                Change::Revisit { satisfaction, .. } => {
                    step.satisfaction = Some(satisfaction.as_str());
                    step.by_reporter = e.by.is_none();
                }
                Change::DecidePark { approve: true } => {}
                Change::Note { .. }
                | Change::SendBack { .. }
                | Change::RequestExtension { .. }
                | Change::DecideExtension { .. }
                | Change::RequestPark { .. }
                | Change::DecidePark { approve: false }
                | Change::Supervise { .. }
                | Change::MarkUrgent => return None,
            }
            Some(step)
        })
        .collect()
}

/// A case as the duplicate check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Nearby {
    pub case_id: i64,
    pub category: String,
    pub location: GeoPoint,
    pub created_at: DateTime<Utc>,
    pub status: Status,
}

/// How near and how recent a report must be to count as the same problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuplicateRule {
    pub radius_m: f64,
    pub window: Duration,
}

impl Default for DuplicateRule {
    /// 300 m and 3 days: a burst pipe or a rubbish heap is reported by several neighbours
    /// within days; further away or older is usually another problem.
    fn default() -> Self {
        DuplicateRule {
            radius_m: 300.0,
            window: Duration::days(3),
        }
    }
}

/// The open reports of the same category near `at_point` within the window before `now`,
/// nearest first, with their distance in metres.
pub fn similar<'a>(
    rule: DuplicateRule,
    category: &str,
    at_point: GeoPoint,
    now: DateTime<Utc>,
    candidates: &'a [Nearby],
) -> Vec<(&'a Nearby, f64)> {
    let mut out: Vec<(&Nearby, f64)> = candidates
        .iter()
        .filter(|c| c.category == category && !c.status.is_terminal())
        .filter(|c| c.created_at <= now && now - c.created_at <= rule.window)
        .map(|c| {
            (
                c,
                Haversine.distance(at_point.to_point(), c.location.to_point()),
            )
        })
        .filter(|(_, d)| *d <= rule.radius_m)
        .collect();
    out.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then(b.0.created_at.cmp(&a.0.created_at))
    });
    out
}

/// The latitude and longitude span of a circle of `radius_m` around a point (for the
/// database's coarse box before [`similar`] measures exactly).
pub fn bounding_box(p: GeoPoint, radius_m: f64) -> (f64, f64, f64, f64) {
    let dlat = radius_m / 111_320.0;
    let dlng = radius_m / (111_320.0 * p.lat().to_radians().cos().max(0.01));
    (
        p.lat() - dlat,
        p.lat() + dlat,
        p.lng() - dlng,
        p.lng() + dlng,
    )
}

/// A sliding-window limit: at most `max` events per key within `window`.
#[derive(Debug)]
pub struct RateLimit {
    pub max: usize,
    pub window: Duration,
    seen: HashMap<String, VecDeque<DateTime<Utc>>>,
}

impl RateLimit {
    pub fn new(max: usize, window: Duration) -> RateLimit {
        RateLimit {
            max,
            window,
            seen: HashMap::new(),
        }
    }

    /// Whether every key may go on at `now`; when one may not, the seconds until it may.
    /// Records the event for every key only when all may.
    pub fn check(&mut self, keys: &[String], now: DateTime<Utc>) -> Result<(), u64> {
        let mut wait = 0i64;
        for k in keys {
            if let Some(q) = self.seen.get_mut(k) {
                while q.front().is_some_and(|t| now - *t >= self.window) {
                    q.pop_front();
                }
                if q.len() >= self.max
                    && let Some(first) = q.front()
                {
                    wait = wait.max((self.window - (now - *first)).num_seconds().max(1));
                }
            }
        }
        if wait > 0 {
            return Err(u64::try_from(wait).unwrap_or(1));
        }
        for k in keys {
            self.seen.entry(k.clone()).or_default().push_back(now);
        }
        if self.seen.len() > 100_000 {
            let window = self.window;
            self.seen
                .retain(|_, q| q.back().is_some_and(|t| now - *t < window));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &[u8] = b"a secret of the test server, 32b";

    #[test]
    fn tracking_codes_round_trip_and_resist_guessing() {
        for id in [1i64, 42, 999_999, 1 << 39] {
            let code = TrackingCode::of(id, SECRET);
            assert_eq!(code.as_str().len(), 19);
            assert_eq!(code.as_str().matches('-').count(), 3);
            let (back, got) = TrackingCode::verify(code.as_str(), SECRET).unwrap();
            assert_eq!((back, got), (code.clone(), id));
            // Typed sloppily: lower case, no dashes, spaces.
            let sloppy = code.as_str().to_lowercase().replace('-', " ");
            assert_eq!(TrackingCode::verify(&sloppy, SECRET).unwrap().1, id);
        }
        let a = TrackingCode::of(7, SECRET);
        let b = TrackingCode::of(8, SECRET);
        assert_ne!(
            a.as_str()[10..],
            b.as_str()[10..],
            "neighbours' MACs differ"
        );
        assert!(TrackingCode::verify(a.as_str(), b"another server's secret").is_none());
        // Change one character of the MAC: refused.
        let mut chars: Vec<char> = a.as_str().chars().collect();
        chars[18] = if chars[18] == 'Z' { 'Y' } else { 'Z' };
        let forged: String = chars.into_iter().collect();
        assert!(TrackingCode::verify(&forged, SECRET).is_none());
        for bad in [
            "",
            "GN20261126000001",
            "ABCD-EFGH",
            "UUUU-UUUU-UUUU-UUUU",
            "0000-0000-0000-00000",
        ] {
            assert!(TrackingCode::verify(bad, SECRET).is_none(), "{bad}");
        }
    }

    fn p(lng: f64, lat: f64) -> GeoPoint {
        GeoPoint::from_datum(lng, lat, crate::coord::Datum::Wgs84).unwrap()
    }

    #[test]
    fn duplicates_are_same_category_near_and_recent() {
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 4, 0, 0).unwrap();
        let here = p(102.5, 35.2);
        let mk = |id, cat: &str, loc, hours_ago, status| Nearby {
            case_id: id,
            category: cat.into(),
            location: loc,
            created_at: now - Duration::hours(hours_ago),
            status,
        };
        let cands = vec![
            mk(
                1,
                "management.environment.garbage",
                p(102.5010, 35.2),
                5,
                Status::Accepted,
            ), // ~90 m
            mk(
                2,
                "management.environment.garbage",
                p(102.5100, 35.2),
                5,
                Status::Accepted,
            ), // ~900 m
            mk(
                3,
                "management.environment.sewage",
                here,
                5,
                Status::Accepted,
            ),
            mk(
                4,
                "management.environment.garbage",
                here,
                100,
                Status::Accepted,
            ), // too old
            mk(5, "management.environment.garbage", here, 1, Status::Closed),
            mk(
                6,
                "management.environment.garbage",
                here,
                1,
                Status::Submitted,
            ),
        ];
        let got = similar(
            DuplicateRule::default(),
            "management.environment.garbage",
            here,
            now,
            &cands,
        );
        let ids: Vec<i64> = got.iter().map(|(c, _)| c.case_id).collect();
        assert_eq!(ids, [6, 1]);
        assert!(got[1].1 > 50.0 && got[1].1 < 150.0, "{}", got[1].1);
        let (a, b, c, d) = bounding_box(here, 300.0);
        assert!(a < 35.2 && b > 35.2 && c < 102.5 && d > 102.5);
    }

    #[test]
    fn stages_and_open311_states() {
        assert_eq!(Stage::of(Status::Submitted), Stage::Received);
        assert_eq!(Stage::of(Status::Dispatched), Stage::InProgress);
        assert_eq!(Stage::of(Status::Revisit), Stage::AwaitingRating);
        assert_eq!(Stage::open311(Status::Revisit), "open");
        assert_eq!(Stage::open311(Status::Parked), "open");
        for s in [Status::Closed, Status::Rejected, Status::Merged] {
            assert_eq!(Stage::open311(s), "closed");
        }
    }

    #[test]
    fn the_rate_limit_slides() {
        let t0 = Utc.with_ymd_and_hms(2026, 7, 1, 4, 0, 0).unwrap();
        let mut rl = RateLimit::new(3, Duration::minutes(10));
        let keys = vec!["ip:1".to_owned(), "dev:a".to_owned()];
        for i in 0..3 {
            assert!(rl.check(&keys, t0 + Duration::seconds(i)).is_ok());
        }
        let wait = rl.check(&keys, t0 + Duration::seconds(60)).unwrap_err();
        assert_eq!(wait, 540);
        // Another device behind the same address is held too; another address is not.
        assert!(
            rl.check(&["ip:1".into(), "dev:b".into()], t0 + Duration::seconds(61))
                .is_err()
        );
        assert!(
            rl.check(&["ip:2".into(), "dev:b".into()], t0 + Duration::seconds(61))
                .is_ok()
        );
        assert!(rl.check(&keys, t0 + Duration::minutes(11)).is_ok());
    }
}
