//! Gesang's pure core: the types and rules of grassroots governance, with no I/O at all.
//!
//! Everything here is deterministic and unit-testable in microseconds: territory codes and their
//! tree, the Gannan reference data compiled into the binary, datum conversion and generated
//! geometry, grid lookup, people and pairings, roles and scopes, and the demo data generator.

pub mod account;
pub mod analysis;
pub mod assessment;
pub mod attachment;
pub mod calendar;
pub mod case;
pub mod category;
pub mod clock;
pub mod coord;
pub mod coverage;
pub mod demo;
mod draw;
pub mod emergency;
pub mod fieldwork;
pub mod gannan;
pub mod history;
pub mod legacy;
pub mod locate;
pub mod org;
pub mod partition;
pub mod people;
pub mod public_report;
pub mod routing;
pub mod rules;
pub mod search;
pub mod stats;
pub mod territory;
pub mod text;

pub use territory::{Level, TerritoryCode};
