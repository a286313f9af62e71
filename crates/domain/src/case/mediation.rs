//! The mediation record (调解记录) a dispute case (矛盾纠纷) carries: parties, people involved,
//! amount, mediators, sessions, outcome, agreement, judicial confirmation and follow-up
//! (DOMAIN.md §3 "Disputes").

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::china_offset;

/// Mediation is normally concluded within this many days of its start.
pub const MEDIATION_DAYS: i64 = 30;
/// The longest free text in a record, in characters.
pub const MAX_MEDIATION_TEXT: usize = 20_000;

/// What kind of party is in dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Person,
    Household,
    /// 村集体 / 牧业合作社: a village collective or herders' cooperative.
    Collective,
    Enterprise,
    Monastery,
    Organisation,
}

/// A party to the dispute. Phone and ID number are personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    pub name: String,
    pub kind: PartyKind,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub id_number: Option<String>,
    /// The household, when the party is one that Gesang knows.
    #[serde(default)]
    pub household_id: Option<i64>,
}

/// A mediator: a member of the work teams or an outside mediator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mediator {
    pub name: String,
    /// 人民调解委员会, 司法所, 派出所, 寺管会…
    pub organisation: String,
    #[serde(default)]
    pub member_id: Option<i64>,
}

/// One mediation session (调解会).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub at: DateTime<Utc>,
    pub place: String,
    /// Indices into the record's `mediators`.
    pub mediators: Vec<usize>,
    pub summary: String,
}

/// The route advised when no agreement is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdvisedRoute {
    /// 诉讼
    Litigation,
    /// 仲裁 (incl. labour and land-contract arbitration)
    Arbitration,
    /// 行政裁决 (e.g. grassland and forest ownership disputes)
    AdministrativeRuling,
    /// 行政复议
    AdministrativeReview,
    /// 信访
    Petition,
    /// 上级调解组织
    HigherMediation,
}

/// How the mediation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// 达成协议 (化解).
    Agreement { signed_on: NaiveDate, text: String },
    /// 未达成协议, with the route advised to the parties.
    NoAgreement {
        concluded_on: NaiveDate,
        route: AdvisedRoute,
        note: String,
    },
}

impl Outcome {
    pub fn concluded_on(&self) -> NaiveDate {
        match self {
            Outcome::Agreement { signed_on, .. } => *signed_on,
            Outcome::NoAgreement { concluded_on, .. } => *concluded_on,
        }
    }
}

/// 司法确认: a court confirms the agreement so it can be enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JudicialConfirmation {
    pub court: String,
    pub applied_on: NaiveDate,
    /// `None` while the court has not ruled.
    #[serde(default)]
    pub confirmed_on: Option<NaiveDate>,
    #[serde(default)]
    pub ruling_number: Option<String>,
}

/// How an agreement is being performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Performance {
    Fulfilled,
    PartlyFulfilled,
    NotFulfilled,
}

/// A follow-up visit on the performance of the agreement (回访履行).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub on: NaiveDate,
    pub performance: Performance,
    pub note: String,
}

/// The mediation record of a dispute case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediationRecord {
    pub started_on: NaiveDate,
    pub parties: Vec<Party>,
    /// 涉及人数: everyone concerned, parties included.
    pub people_involved: u32,
    /// 涉及金额, in fen (分), when money is at stake.
    #[serde(default)]
    pub amount_fen: Option<i64>,
    pub mediators: Vec<Mediator>,
    #[serde(default)]
    pub sessions: Vec<Session>,
    /// `None` while the mediation goes on.
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub judicial_confirmation: Option<JudicialConfirmation>,
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
}

/// What is wrong with a mediation record (HTTP 422 naming the field).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MediationError {
    pub field: &'static str,
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> MediationError {
    MediationError {
        field,
        message: message.into(),
    }
}

fn text_ok(field: &'static str, text: &str) -> Result<(), MediationError> {
    if text.trim().is_empty() {
        return Err(err(field, "must not be empty"));
    }
    if text.chars().count() > MAX_MEDIATION_TEXT {
        return Err(err(
            field,
            format!("at most {MAX_MEDIATION_TEXT} characters"),
        ));
    }
    Ok(())
}

fn shanghai_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&china_offset()).date_naive()
}

impl MediationRecord {
    /// Checks the record is whole and consistent: at least two named parties, people involved
    /// at least the parties, no negative amount, named mediators, sessions in order after the
    /// start and led by known mediators, an outcome only after a session and on or after the
    /// last one, an agreement with its text, judicial confirmation and follow-ups only on an
    /// agreement and after it.
    pub fn validate(&self) -> Result<(), MediationError> {
        if self.parties.len() < 2 {
            return Err(err("parties", "a dispute has at least two parties"));
        }
        for p in &self.parties {
            text_ok("parties", &p.name)?;
        }
        if (self.people_involved as usize) < self.parties.len() {
            return Err(err(
                "people_involved",
                "counts everyone concerned, at least the parties",
            ));
        }
        if self.amount_fen.is_some_and(|a| a < 0) {
            return Err(err("amount_fen", "must not be negative"));
        }
        for m in &self.mediators {
            text_ok("mediators", &m.name)?;
            text_ok("mediators", &m.organisation)?;
        }
        let mut last = None;
        for s in &self.sessions {
            let day = shanghai_day(s.at);
            if day < self.started_on {
                return Err(err("sessions", "a session cannot precede the start"));
            }
            if last.is_some_and(|l| s.at < l) {
                return Err(err("sessions", "sessions are listed in time order"));
            }
            last = Some(s.at);
            if s.mediators.is_empty() || s.mediators.iter().any(|i| *i >= self.mediators.len()) {
                return Err(err("sessions", "every session is led by listed mediators"));
            }
            text_ok("sessions", &s.place)?;
            text_ok("sessions", &s.summary)?;
        }
        if let Some(outcome) = &self.outcome {
            let Some(last) = last else {
                return Err(err("outcome", "an outcome follows at least one session"));
            };
            if outcome.concluded_on() < shanghai_day(last) {
                return Err(err("outcome", "concluded before the last session"));
            }
            match outcome {
                Outcome::Agreement { text, .. } => text_ok("outcome.text", text)?,
                Outcome::NoAgreement { note, .. } => text_ok("outcome.note", note)?,
            }
        }
        let agreed_on = match &self.outcome {
            Some(Outcome::Agreement { signed_on, .. }) => Some(*signed_on),
            _ => None,
        };
        if let Some(jc) = &self.judicial_confirmation {
            let Some(agreed_on) = agreed_on else {
                return Err(err(
                    "judicial_confirmation",
                    "only an agreement can be confirmed by a court",
                ));
            };
            text_ok("judicial_confirmation", &jc.court)?;
            if jc.applied_on < agreed_on || jc.confirmed_on.is_some_and(|c| c < jc.applied_on) {
                return Err(err(
                    "judicial_confirmation",
                    "applied after the agreement, confirmed after applying",
                ));
            }
        }
        if !self.follow_ups.is_empty() {
            let Some(agreed_on) = agreed_on else {
                return Err(err(
                    "follow_ups",
                    "follow-up is on the performance of an agreement",
                ));
            };
            let mut previous = agreed_on;
            for f in &self.follow_ups {
                if f.on < previous {
                    return Err(err(
                        "follow_ups",
                        "follow-ups come after the agreement, in order",
                    ));
                }
                previous = f.on;
                text_ok("follow_ups", &f.note)?;
            }
        }
        Ok(())
    }

    /// 化解: the mediation ended in an agreement (the numerator of 化解率).
    pub fn resolved(&self) -> bool {
        matches!(self.outcome, Some(Outcome::Agreement { .. }))
    }

    /// The day by which mediation is normally concluded.
    pub fn due_on(&self) -> NaiveDate {
        self.started_on + Duration::days(MEDIATION_DAYS)
    }

    /// Still open past the normal 30 days on `today`.
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.outcome.is_none() && today > self.due_on()
    }

    /// Concluded within the normal 30 days.
    pub fn concluded_in_time(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|o| o.concluded_on() <= self.due_on())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 9, d).unwrap()
    }

    fn record() -> MediationRecord {
        MediationRecord {
            started_on: day(1),
            parties: vec![
                Party {
                    name: "才让".into(),
                    kind: PartyKind::Household,
                    phone: Some("13812345678".into()),
                    id_number: None,
                    household_id: Some(7),
                },
                Party {
                    name: "扎西".into(),
                    kind: PartyKind::Household,
                    phone: None,
                    id_number: None,
                    household_id: None,
                },
            ],
            people_involved: 9,
            amount_fen: Some(1_200_000),
            mediators: vec![Mediator {
                name: "卓玛".into(),
                organisation: "达麦乡人民调解委员会".into(),
                member_id: None,
            }],
            sessions: vec![Session {
                at: Utc.with_ymd_and_hms(2025, 9, 3, 2, 0, 0).unwrap(),
                place: "达麦村村委会".into(),
                mediators: vec![0],
                summary: "草场边界现场勘查，双方陈述".into(),
            }],
            outcome: Some(Outcome::Agreement {
                signed_on: day(5),
                text: "以2019年确权界桩为界，互不越界放牧。".into(),
            }),
            judicial_confirmation: Some(JudicialConfirmation {
                court: "夏河县人民法院".into(),
                applied_on: day(8),
                confirmed_on: Some(day(15)),
                ruling_number: Some("(2025)甘3027民特12号".into()),
            }),
            follow_ups: vec![FollowUp {
                on: day(30),
                performance: Performance::Fulfilled,
                note: "已按协议履行".into(),
            }],
        }
    }

    #[test]
    fn a_whole_record_is_valid_and_round_trips() {
        let r = record();
        r.validate().unwrap();
        assert!(r.resolved());
        assert!(r.concluded_in_time());
        assert!(!r.overdue(day(30)));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["outcome"]["kind"], "agreement");
        let back: MediationRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn inconsistent_records_name_the_field() {
        let field = |f: &dyn Fn(&mut MediationRecord)| {
            let mut r = record();
            f(&mut r);
            r.validate().unwrap_err().field
        };
        assert_eq!(field(&|r| drop(r.parties.pop())), "parties");
        assert_eq!(field(&|r| r.people_involved = 1), "people_involved");
        assert_eq!(field(&|r| r.amount_fen = Some(-1)), "amount_fen");
        assert_eq!(field(&|r| r.sessions[0].mediators = vec![3]), "sessions");
        assert_eq!(field(&|r| r.started_on = day(4)), "sessions");
        assert_eq!(field(&|r| r.sessions.clear()), "outcome");
        assert_eq!(
            field(&|r| r.outcome = Some(Outcome::Agreement {
                signed_on: day(5),
                text: " ".into()
            })),
            "outcome.text"
        );
        assert_eq!(
            field(&|r| r.judicial_confirmation.as_mut().unwrap().applied_on = day(4)),
            "judicial_confirmation"
        );
        assert_eq!(field(&|r| r.follow_ups[0].on = day(2)), "follow_ups");
        assert_eq!(
            field(&|r| {
                r.outcome = Some(Outcome::NoAgreement {
                    concluded_on: day(6),
                    route: AdvisedRoute::AdministrativeRuling,
                    note: "建议申请县政府草场权属裁决".into(),
                });
            }),
            "judicial_confirmation"
        );
    }

    #[test]
    fn open_mediation_is_overdue_after_thirty_days() {
        let mut r = record();
        r.outcome = None;
        r.judicial_confirmation = None;
        r.follow_ups.clear();
        r.validate().unwrap();
        assert!(!r.resolved());
        assert!(!r.overdue(day(1) + Duration::days(30)));
        assert!(r.overdue(day(1) + Duration::days(31)));
    }
}
