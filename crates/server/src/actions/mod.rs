//! The use cases, written once and called by every door (pages, JSON API, jobs).
//! Each takes the caller and parsed domain types, checks scope through [`crate::auth::Caller`],
//! and returns plain data for the door to render.

pub mod assessment;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod case;
pub mod center;
pub mod daily;
pub mod emergency;
pub mod fieldwork;
// Notices (通知) and their acknowledgement (issue 5).
pub mod figures;
pub mod notices;
pub mod org;
pub mod people;
pub mod resident;
pub mod rules;
pub mod stats;
pub mod territory;
