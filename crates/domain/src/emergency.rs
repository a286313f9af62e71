//! Emergency response (应急预案, 一声令): plans per hazard and response level, the incident state
//! machine with its append-only timeline, who receives which instruction, and the household roll
//! call whose latest report by time wins without losing any report. Pure: the store persists
//! what these functions decide.

mod plans;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::TerritoryCode;
use crate::people::Force;

pub use plans::default_plans;

/// Why an emergency command or input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmergencyError {
    #[error("the incident has been stood down")]
    StoodDown,
    #[error("the incident is already at level {0}")]
    SameLevel(ResponseLevel),
    #[error("{0:?} is not a response level (1 to 4)")]
    BadLevel(i64),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

impl EmergencyError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        EmergencyError::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// A hazard a plan is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    /// 泥石流
    DebrisFlow,
    /// 洪涝
    Flood,
    /// 地震
    Earthquake,
    /// 雪灾
    SnowDisaster,
    /// 火灾
    Fire,
    /// 疫情
    Epidemic,
}

impl Hazard {
    pub const ALL: [Hazard; 6] = [
        Hazard::DebrisFlow,
        Hazard::Flood,
        Hazard::Earthquake,
        Hazard::SnowDisaster,
        Hazard::Fire,
        Hazard::Epidemic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Hazard::DebrisFlow => "debris_flow",
            Hazard::Flood => "flood",
            Hazard::Earthquake => "earthquake",
            Hazard::SnowDisaster => "snow_disaster",
            Hazard::Fire => "fire",
            Hazard::Epidemic => "epidemic",
        }
    }

    pub fn parse(s: &str) -> Option<Hazard> {
        Hazard::ALL.into_iter().find(|h| h.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            Hazard::DebrisFlow => "泥石流",
            Hazard::Flood => "洪涝",
            Hazard::Earthquake => "地震",
            Hazard::SnowDisaster => "雪灾",
            Hazard::Fire => "火灾",
            Hazard::Epidemic => "疫情",
        }
    }

    pub fn name_bo(self) -> &'static str {
        match self {
            Hazard::DebrisFlow => "འདམ་རྡོའི་རི་ཤོ",
            Hazard::Flood => "ཆུ་ལོག",
            Hazard::Earthquake => "ས་ཡོམ",
            Hazard::SnowDisaster => "ཁ་བའི་གནོད་འཚེ",
            Hazard::Fire => "མེ་སྐྱོན",
            Hazard::Epidemic => "རིམས་ནད",
        }
    }
}

/// A response level: Ⅰ is the gravest, Ⅳ the mildest (国家突发事件应急响应分级).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ResponseLevel(u8);

impl ResponseLevel {
    pub const ALL: [ResponseLevel; 4] = [
        ResponseLevel(1),
        ResponseLevel(2),
        ResponseLevel(3),
        ResponseLevel(4),
    ];

    pub fn new(n: i64) -> Result<Self, EmergencyError> {
        if (1..=4).contains(&n) {
            Ok(ResponseLevel(n as u8))
        } else {
            Err(EmergencyError::BadLevel(n))
        }
    }

    pub fn number(self) -> i64 {
        i64::from(self.0)
    }

    /// `Ⅰ` … `Ⅳ`.
    pub fn roman(self) -> &'static str {
        ["Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ"][usize::from(self.0 - 1)]
    }

    /// Whether `other` is graver than `self` (a smaller number).
    pub fn is_raised_to(self, other: ResponseLevel) -> bool {
        other.0 < self.0
    }
}

impl TryFrom<i64> for ResponseLevel {
    type Error = EmergencyError;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        ResponseLevel::new(n)
    }
}

impl From<ResponseLevel> for i64 {
    fn from(l: ResponseLevel) -> i64 {
        l.number()
    }
}

impl fmt::Display for ResponseLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}级", self.roman())
    }
}

/// Who a task of a plan is for: the forces and units an activation reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskRole {
    /// 民兵: the rapid-response rescue team (尖刀队).
    Militia,
    /// 网格员: evacuate the grid.
    GridWorker,
    /// 联户长: roll call of the group's households.
    HouseholdHead,
    /// 包联干部 and every other member of the forces working in or paired with the area.
    Cadre,
    /// 包村部门 and the departments of the area: go to their villages.
    Department,
    /// 综治中心 of each level of the area: report every N hours.
    Centre,
}

impl TaskRole {
    pub const ALL: [TaskRole; 6] = [
        TaskRole::Militia,
        TaskRole::GridWorker,
        TaskRole::HouseholdHead,
        TaskRole::Cadre,
        TaskRole::Department,
        TaskRole::Centre,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskRole::Militia => "militia",
            TaskRole::GridWorker => "grid_worker",
            TaskRole::HouseholdHead => "household_head",
            TaskRole::Cadre => "cadre",
            TaskRole::Department => "department",
            TaskRole::Centre => "centre",
        }
    }

    pub fn parse(s: &str) -> Option<TaskRole> {
        TaskRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            TaskRole::Militia => "民兵应急队",
            TaskRole::GridWorker => "网格员",
            TaskRole::HouseholdHead => "联户长",
            TaskRole::Cadre => "包联干部",
            TaskRole::Department => "包村部门",
            TaskRole::Centre => "综治中心",
        }
    }
}

/// The task of a member, decided by what the member is (the store's activation query mirrors
/// this order): a household head does the roll call, a grid worker evacuates, militia rescue,
/// everyone else paired with or working in the area goes to his pairing as a cadre.
pub fn member_task(is_group_head: bool, works_for_grid: bool, forces: &[Force]) -> TaskRole {
    if is_group_head {
        TaskRole::HouseholdHead
    } else if works_for_grid {
        TaskRole::GridWorker
    } else if forces.contains(&Force::Militia) {
        TaskRole::Militia
    } else {
        TaskRole::Cadre
    }
}

/// One task of a plan at one level: what a role must do, in Chinese and Tibetan, and the
/// checklist it ticks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub role: TaskRole,
    pub text_zh: String,
    pub text_bo: String,
    #[serde(default)]
    pub checklist: Vec<String>,
}

/// A plan's content at one response level.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelPlan {
    pub level: ResponseLevel,
    /// How often the centres of the area send a situation report (续报).
    pub report_every_hours: u32,
    pub tasks: Vec<Task>,
}

/// An emergency plan (应急预案): a template per hazard with its four response levels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// `debris-flow`, `flood`, … (lowercase letters, digits and dashes).
    pub code: String,
    pub hazard: Hazard,
    pub name: String,
    pub name_bo: String,
    pub levels: Vec<LevelPlan>,
}

/// Whether `s` is Tibetan text in Unicode (U+0F00–U+0FFF) with ordinary spaces and
/// punctuation: never the private-use legacy encodings, never Chinese in disguise.
pub fn is_tibetan_text(s: &str) -> bool {
    let mut tibetan = false;
    for c in s.chars() {
        match c {
            '\u{0F00}'..='\u{0FFF}' => tibetan = true,
            ' ' | '\u{00A0}' | '0'..='9' | '.' | ',' | '-' | '(' | ')' | ':' | '/' | 'N' => {}
            _ => return false,
        }
    }
    tibetan
}

impl Plan {
    /// Check a plan as an administrator writes it: every level Ⅰ–Ⅳ exactly once, each with a
    /// task for every role, texts present, Tibetan texts in Tibetan script.
    pub fn validate(&self) -> Result<(), EmergencyError> {
        let code_ok = !self.code.is_empty()
            && self.code.len() <= 40
            && self
                .code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !code_ok {
            return Err(EmergencyError::invalid(
                "code",
                "lowercase letters, digits and dashes, at most 40",
            ));
        }
        if self.name.trim().is_empty() {
            return Err(EmergencyError::invalid("name", "must not be empty"));
        }
        if !is_tibetan_text(&self.name_bo) {
            return Err(EmergencyError::invalid(
                "name_bo",
                "Tibetan script (U+0F00–U+0FFF) only",
            ));
        }
        for want in ResponseLevel::ALL {
            let n = self.levels.iter().filter(|l| l.level == want).count();
            if n != 1 {
                return Err(EmergencyError::invalid(
                    "levels",
                    format!("level {want} appears {n} times, expected once"),
                ));
            }
        }
        for l in &self.levels {
            if !(1..=24).contains(&l.report_every_hours) {
                return Err(EmergencyError::invalid(
                    "report_every_hours",
                    "1 to 24 hours",
                ));
            }
            for role in TaskRole::ALL {
                let Some(t) = l.tasks.iter().find(|t| t.role == role) else {
                    return Err(EmergencyError::invalid(
                        "tasks",
                        format!("level {} has no task for {}", l.level, role.as_str()),
                    ));
                };
                if t.text_zh.trim().is_empty() {
                    return Err(EmergencyError::invalid("text_zh", "must not be empty"));
                }
                if !is_tibetan_text(&t.text_bo) {
                    return Err(EmergencyError::invalid(
                        "text_bo",
                        format!(
                            "level {} {}: Tibetan script (U+0F00–U+0FFF) only",
                            l.level,
                            role.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn level(&self, level: ResponseLevel) -> Option<&LevelPlan> {
        self.levels.iter().find(|l| l.level == level)
    }

    /// The task of `role` at `level`.
    pub fn task(&self, level: ResponseLevel, role: TaskRole) -> Option<&Task> {
        self.level(level)?.tasks.iter().find(|t| t.role == role)
    }
}

/// The area of an incident: the listed nodes without those another listed node already covers,
/// sorted. Empty input is refused.
pub fn normalize_area(codes: &[TerritoryCode]) -> Result<Vec<TerritoryCode>, EmergencyError> {
    if codes.is_empty() {
        return Err(EmergencyError::invalid(
            "territories",
            "list at least one territory",
        ));
    }
    let mut out: Vec<TerritoryCode> = Vec::new();
    for c in codes {
        if codes.iter().any(|o| o != c && o.covers(c)) || out.contains(c) {
            continue;
        }
        out.push(c.clone());
    }
    out.sort();
    Ok(out)
}

/// Whether `code` lies inside the area.
pub fn area_covers(area: &[TerritoryCode], code: &TerritoryCode) -> bool {
    area.iter().any(|a| a.covers(code))
}

/// Whether an account whose scope is `scope` has to do with the area: it covers part of it, or
/// works inside it.
pub fn area_touches(area: &[TerritoryCode], scope: &TerritoryCode) -> bool {
    area.iter().any(|a| a.covers(scope) || scope.covers(a))
}

/// The life of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Active,
    StoodDown,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Active => "active",
            IncidentStatus::StoodDown => "stood_down",
        }
    }
    pub fn parse(s: &str) -> Option<IncidentStatus> {
        match s {
            "active" => Some(IncidentStatus::Active),
            "stood_down" => Some(IncidentStatus::StoodDown),
            _ => None,
        }
    }
}

/// What the state machine needs of an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentState {
    pub status: IncidentStatus,
    pub level: ResponseLevel,
}

/// A command on a running incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCommand {
    /// Raise or lower the response level, with the reason.
    ChangeLevel { to: ResponseLevel, reason: String },
    /// A situation report (续报).
    Report { text: String },
    /// A further order to everyone reached.
    Order { text: String },
    /// Stand down (解除应急响应), with the closing summary.
    StandDown { summary: String },
}

/// A line of the incident's append-only timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IncidentEvent {
    Activated {
        level: ResponseLevel,
        title: String,
    },
    LevelChanged {
        from: ResponseLevel,
        to: ResponseLevel,
        reason: String,
    },
    Report {
        text: String,
    },
    Order {
        text: String,
    },
    StoodDown {
        summary: String,
    },
}

impl IncidentEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            IncidentEvent::Activated { .. } => "activated",
            IncidentEvent::LevelChanged { .. } => "level_changed",
            IncidentEvent::Report { .. } => "report",
            IncidentEvent::Order { .. } => "order",
            IncidentEvent::StoodDown { .. } => "stood_down",
        }
    }
}

/// Longest text of a report, an order or a reason.
pub const MAX_TEXT: usize = 4000;

fn text(field: &'static str, raw: &str) -> Result<String, EmergencyError> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(EmergencyError::invalid(field, "must not be empty"));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(EmergencyError::invalid(
            field,
            format!("at most {MAX_TEXT} characters"),
        ));
    }
    Ok(t.to_owned())
}

/// The events of an activation.
pub fn activate(level: ResponseLevel, title: &str) -> Result<IncidentEvent, EmergencyError> {
    Ok(IncidentEvent::Activated {
        level,
        title: text("title", title)?,
    })
}

/// Decide a command: the events to append, or why not. A stood-down incident takes nothing
/// more (its timeline is closed); the level changes only to another level.
pub fn decide(
    state: &IncidentState,
    cmd: IncidentCommand,
) -> Result<Vec<IncidentEvent>, EmergencyError> {
    if state.status == IncidentStatus::StoodDown {
        return Err(EmergencyError::StoodDown);
    }
    Ok(match cmd {
        IncidentCommand::ChangeLevel { to, reason } => {
            if to == state.level {
                return Err(EmergencyError::SameLevel(to));
            }
            vec![IncidentEvent::LevelChanged {
                from: state.level,
                to,
                reason: text("reason", &reason)?,
            }]
        }
        IncidentCommand::Report { text: t } => vec![IncidentEvent::Report {
            text: text("text", &t)?,
        }],
        IncidentCommand::Order { text: t } => vec![IncidentEvent::Order {
            text: text("text", &t)?,
        }],
        IncidentCommand::StandDown { summary } => vec![IncidentEvent::StoodDown {
            summary: text("summary", &summary)?,
        }],
    })
}

/// Apply an event to the state.
pub fn apply(state: IncidentState, event: &IncidentEvent) -> IncidentState {
    match event {
        IncidentEvent::Activated { level, .. } => IncidentState {
            status: IncidentStatus::Active,
            level: *level,
        },
        IncidentEvent::LevelChanged { to, .. } => IncidentState {
            level: *to,
            ..state
        },
        IncidentEvent::Report { .. } | IncidentEvent::Order { .. } => state,
        IncidentEvent::StoodDown { .. } => IncidentState {
            status: IncidentStatus::StoodDown,
            ..state
        },
    }
}

/// A household's roll-call status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollCallStatus {
    Safe,
    Evacuated,
    Injured,
    Missing,
    /// Not reached yet: every household starts here.
    Unreached,
}

impl RollCallStatus {
    pub const ALL: [RollCallStatus; 5] = [
        RollCallStatus::Safe,
        RollCallStatus::Evacuated,
        RollCallStatus::Injured,
        RollCallStatus::Missing,
        RollCallStatus::Unreached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RollCallStatus::Safe => "safe",
            RollCallStatus::Evacuated => "evacuated",
            RollCallStatus::Injured => "injured",
            RollCallStatus::Missing => "missing",
            RollCallStatus::Unreached => "unreached",
        }
    }

    pub fn parse(s: &str) -> Option<RollCallStatus> {
        RollCallStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            RollCallStatus::Safe => "平安",
            RollCallStatus::Evacuated => "已转移",
            RollCallStatus::Injured => "受伤",
            RollCallStatus::Missing => "失联",
            RollCallStatus::Unreached => "未联系上",
        }
    }
}

/// Roll-call counts of a village or an incident. Every household is in exactly one status, so
/// the five counts add up to the households.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollCallCounts {
    pub safe: i64,
    pub evacuated: i64,
    pub injured: i64,
    pub missing: i64,
    pub unreached: i64,
}

impl RollCallCounts {
    /// `n` households, none reached yet.
    pub fn unreached(n: i64) -> Self {
        RollCallCounts {
            unreached: n,
            ..Default::default()
        }
    }

    pub fn get(&self, s: RollCallStatus) -> i64 {
        match s {
            RollCallStatus::Safe => self.safe,
            RollCallStatus::Evacuated => self.evacuated,
            RollCallStatus::Injured => self.injured,
            RollCallStatus::Missing => self.missing,
            RollCallStatus::Unreached => self.unreached,
        }
    }

    fn slot(&mut self, s: RollCallStatus) -> &mut i64 {
        match s {
            RollCallStatus::Safe => &mut self.safe,
            RollCallStatus::Evacuated => &mut self.evacuated,
            RollCallStatus::Injured => &mut self.injured,
            RollCallStatus::Missing => &mut self.missing,
            RollCallStatus::Unreached => &mut self.unreached,
        }
    }

    /// One household moved from `from` to `to`.
    pub fn moved(&mut self, from: RollCallStatus, to: RollCallStatus) {
        *self.slot(from) -= 1;
        *self.slot(to) += 1;
    }

    pub fn add(&mut self, other: &RollCallCounts) {
        for s in RollCallStatus::ALL {
            *self.slot(s) += other.get(s);
        }
    }

    pub fn total(&self) -> i64 {
        RollCallStatus::ALL.iter().map(|s| self.get(*s)).sum()
    }

    /// Households reached (any status but unreached).
    pub fn reached(&self) -> i64 {
        self.total() - self.unreached
    }

    /// The board's one-line summary, as the seed says it: `34户：已转移34户，无伤亡，无失联`.
    pub fn summary_zh(&self) -> String {
        let mut parts = vec![format!("共{}户", self.total())];
        for (s, n) in [
            (RollCallStatus::Safe, self.safe),
            (RollCallStatus::Evacuated, self.evacuated),
        ] {
            if n > 0 {
                parts.push(format!("{}{}户", s.name_zh(), n));
            }
        }
        parts.push(if self.injured == 0 {
            "无人员受伤".to_owned()
        } else {
            format!("受伤{}户", self.injured)
        });
        parts.push(if self.missing == 0 {
            "无失联".to_owned()
        } else {
            format!("失联{}户", self.missing)
        });
        if self.unreached > 0 {
            parts.push(format!("尚未联系上{}户", self.unreached));
        }
        parts.join("，")
    }
}

/// A household's current roll-call entry, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentEntry {
    pub household: i64,
    pub village: TerritoryCode,
    pub status: RollCallStatus,
    /// When the status now shown was observed; `None` before anyone reported.
    pub at: Option<DateTime<Utc>>,
    /// How many reports the household's history holds.
    pub version: i64,
}

/// One report of a household's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub household: i64,
    pub status: RollCallStatus,
    /// When it was observed (the field app's clock when taken offline), never after `now`.
    pub at: DateTime<Utc>,
    pub note: Option<String>,
}

/// What the store does with one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub report: Report,
    /// Its place in the household's history (1, 2, …).
    pub version: i64,
    /// Whether it is now the household's current status (the latest observed so far).
    pub current: bool,
}

/// The decision on one batch: every report goes to history; the latest by observation time
/// becomes current (on equal times the later arrival wins); counters move by `deltas`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RollCallOutcome {
    pub recorded: Vec<Recorded>,
    /// Final current entry of each household touched, by household id.
    pub current: BTreeMap<i64, CurrentEntry>,
    /// Per village: the change of each count (they sum to zero).
    pub deltas: BTreeMap<TerritoryCode, RollCallCounts>,
}

impl RollCallOutcome {
    pub fn applied(&self) -> usize {
        self.recorded.iter().filter(|r| r.current).count()
    }
}

/// Decide a batch of reports against the households' current entries. Reports for a household
/// not in `current` are the caller's to refuse first; here they are skipped.
pub fn roll_call(current: &[CurrentEntry], reports: &[Report]) -> RollCallOutcome {
    let mut state: BTreeMap<i64, CurrentEntry> =
        current.iter().map(|c| (c.household, c.clone())).collect();
    let before: BTreeMap<i64, RollCallStatus> =
        current.iter().map(|c| (c.household, c.status)).collect();
    let mut out = RollCallOutcome::default();
    for r in reports {
        let Some(cur) = state.get_mut(&r.household) else {
            continue;
        };
        cur.version += 1;
        let newer = cur.at.is_none_or(|at| r.at >= at);
        if newer {
            cur.status = r.status;
            cur.at = Some(r.at);
        }
        out.recorded.push(Recorded {
            report: r.clone(),
            version: cur.version,
            current: newer,
        });
    }
    for (id, cur) in &state {
        let Some(old) = before.get(id) else { continue };
        if *old != cur.status {
            out.deltas
                .entry(cur.village.clone())
                .or_default()
                .moved(*old, cur.status);
        }
    }
    out.current = state
        .into_iter()
        .filter(|(id, _)| reports.iter().any(|r| r.household == *id))
        .collect();
    out
}

/// One round of an incident's instructions: every instruction sent at one response level at
/// one moment (the activation, then each level change), and how it was acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AckRound {
    pub level: i64,
    pub sent_at: DateTime<Utc>,
    /// Instructions sent in the round.
    pub instructions: i64,
    pub acknowledged: i64,
    /// Minutes from sending to acknowledgement: median and 90th percentile (nearest rank),
    /// `None` when nothing was acknowledged.
    pub median_minutes: Option<f64>,
    pub p90_minutes: Option<f64>,
}

/// The rounds of an incident from the start of each round (`(level, sent_at)`, in time
/// order) and every acknowledgement `(sent_at, acknowledged_at)`: an acknowledgement belongs
/// to the last round that started at or before its sending.
pub fn ack_rounds(
    starts: &[(i64, DateTime<Utc>)],
    instructions: i64,
    acks: &[(DateTime<Utc>, DateTime<Utc>)],
) -> Vec<AckRound> {
    let mut delays: Vec<Vec<f64>> = vec![Vec::new(); starts.len()];
    for (sent, acked) in acks {
        if starts.is_empty() {
            break;
        }
        // (An acknowledgement sent before the first start, by a clock's jitter, is the first
        // round's.)
        let k = starts
            .iter()
            .rposition(|(_, start)| start <= sent)
            .unwrap_or(0);
        let minutes = (*acked - *sent).num_milliseconds().max(0) as f64 / 60_000.0;
        delays[k].push(minutes);
    }
    starts
        .iter()
        .zip(delays)
        .map(|((level, sent_at), mut d)| {
            d.sort_by(f64::total_cmp);
            let rank = |q: f64| {
                (!d.is_empty()).then(|| {
                    let i = ((q * d.len() as f64).ceil() as usize).clamp(1, d.len()) - 1;
                    (d[i] * 10.0).round() / 10.0
                })
            };
            AckRound {
                level: *level,
                sent_at: *sent_at,
                instructions,
                acknowledged: d.len() as i64,
                median_minutes: rank(0.5),
                p90_minutes: rank(0.9),
            }
        })
        .collect()
}
