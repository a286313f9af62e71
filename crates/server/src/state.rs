//! The state every request shares.

use std::sync::Arc;

use domain::clock::Clock;
use store::Db;

use crate::auth::LoginThrottle;
use crate::i18n::I18n;

/// Settings the running server needs (a subset of the command line).
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_hours: u32,
    pub secure_cookies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            session_hours: 12,
            secure_cookies: false,
        }
    }
}

/// Shared by every request; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub i18n: Arc<I18n>,
    pub throttle: Arc<LoginThrottle>,
    pub sessions: Arc<crate::auth::SessionCache>,
    /// One search indexer at a time in this process.
    pub indexing: Arc<tokio::sync::Mutex<()>>,
    pub settings: Arc<Settings>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// Grid outlines in an R-tree, built from the database on first use.
    pub grid_index: Arc<tokio::sync::OnceCell<domain::locate::GridIndex>>,
    /// Every unit by code, loaded on first use (routing and dispatch targets).
    /// Reloaded after a unit is created or renamed ([`crate::actions::people::forget_units`]).
    pub units: Arc<tokio::sync::RwLock<Option<crate::actions::people::UnitMap>>>,
    /// Calendar, time limits, categories and supervision thresholds.
    pub rules: Arc<tokio::sync::RwLock<domain::rules::Rules>>,
    /// The group-commit writer of new cases.
    pub intake: crate::intake::Intake,
    /// The public doors' secret and rate limits (resident pages, public API, Open311).
    pub public: Arc<crate::actions::resident::PublicState>,
    /// Live events: publish with [`crate::events::Events::publish`]; streams of
    /// `GET /api/v1/events` read from it.
    pub events: crate::events::Events,
}

impl AppState {
    /// Build the state and start the case writer (needs a Tokio runtime).
    pub fn new(db: Db, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        let rules = Arc::new(tokio::sync::RwLock::new(
            domain::rules::Rules::gannan_default(),
        ));
        let intake = crate::intake::Intake::start(db.clone(), rules.clone(), clock.clone());
        let events = crate::events::Events::start(db.clone(), clock.clone());
        AppState {
            units: Arc::new(tokio::sync::RwLock::new(None)),
            rules,
            intake,
            db,
            clock,
            i18n: Arc::new(I18n::load()),
            throttle: Arc::new(LoginThrottle::default()),
            sessions: Arc::new(crate::auth::SessionCache::default()),
            indexing: Arc::new(tokio::sync::Mutex::new(())),
            settings: Arc::new(settings),
            metrics: None,
            grid_index: Arc::new(tokio::sync::OnceCell::new()),
            public: Arc::new(crate::actions::resident::PublicState::default()),
            events,
        }
    }
}

impl AppState {
    /// Stop the background work that reads the database (the live-event pump), then close
    /// the database: a program that made an `AppState` ends with this.
    pub async fn close(&self) {
        self.events.stop().await;
        self.db.close().await;
    }
}

/// The wall clock: the one place Gesang reads the system time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
