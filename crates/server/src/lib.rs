//! Gesang's server: pages, JSON API, authentication, the demo loader and the command line.
//!
//! Every door (page, API) parses its input and calls an action in [`actions`]; actions check
//! scope through [`auth::Caller`], call the pure rules in `domain` and persist through `store`.

pub mod actions;
pub mod auth;
pub mod bench;
pub mod bench_dashboard;
pub mod bench_rollcall;
pub mod charts;
pub mod cli;
pub mod config;
pub mod datakey;
pub mod demo;
pub mod demo_history;
pub mod demo_incident;
pub mod error;
pub mod events;
/// Fuzz targets of every parser of outside input (issue 9).
pub mod fuzzing;
pub mod i18n;
pub mod intake;
pub mod jobs;
pub mod map;
pub mod routes;
pub mod search_index;
pub mod state;
pub mod telemetry;
pub mod transfer;

pub use routes::router;
pub use state::AppState;
