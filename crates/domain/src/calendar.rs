//! Working time in Gannan: the holiday calendar, time limits per step, deadlines and traffic lights.

use serde::{Deserialize, Serialize};

/// A step of the case loop that runs against its own clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// 受理: from submission to acceptance (or rejection).
    Accept,
    /// 签收: from dispatch to sign-for by the addressee.
    Sign,
    /// 办理: from sign-for to the handler's report.
    Handle,
    /// 核查: from the handler's report to verification.
    Verify,
    /// 回访: from verification to the return visit.
    Revisit,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Accept,
        Step::Sign,
        Step::Handle,
        Step::Verify,
        Step::Revisit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Accept => "accept",
            Step::Sign => "sign",
            Step::Handle => "handle",
            Step::Verify => "verify",
            Step::Revisit => "revisit",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// How urgent a case is (加急 makes it urgent).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    #[default]
    Normal,
    Urgent,
}

impl Urgency {
    pub const ALL: [Urgency; 2] = [Urgency::Normal, Urgency::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::Normal => "normal",
            Urgency::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Urgency> {
        Urgency::ALL.into_iter().find(|x| x.as_str() == s)
    }
}
