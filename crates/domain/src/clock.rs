//! The clock is injected: nothing in Gesang reads the wall clock except the one system
//! implementation in the server; tests use a fixed or stepped clock.

use chrono::{DateTime, FixedOffset, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// China Standard Time (Asia/Shanghai, UTC+8, no daylight saving), the prefecture's time zone.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// An instant as the prefecture reads it, to the minute: `2026-01-02 00:30` (Beijing time).
pub fn beijing_minute(t: DateTime<Utc>) -> String {
    t.with_timezone(&china_offset())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// A clock stopped at one instant, for tests.
#[derive(Debug, Clone)]
pub struct FixedClock(pub std::sync::Arc<std::sync::Mutex<DateTime<Utc>>>);

impl FixedClock {
    pub fn at(t: DateTime<Utc>) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(t)))
    }
    pub fn advance(&self, d: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += d;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
