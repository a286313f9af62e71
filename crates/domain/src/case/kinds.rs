//! The small closed vocabularies of a case: states, actions, urgency, channels, results,
//! satisfaction, supervision levels and clock steps, each with its stable snake_case name.
//!
//! `Step` and `Urgency` are the calendar's own types (the clocks are defined there), re-exported.

pub use crate::calendar::{Step, Urgency};

/// Declares a string-named enum: stable snake_case name (serde and `as_str` are the same
/// literal, so they cannot drift), `ALL`, `parse`, `name_zh` and `Display`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $s:literal, $zh:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $s)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable snake_case name used in JSON, the database and URLs.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s,)+
                }
            }

            /// The value with this snake_case name.
            pub fn parse(s: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            /// The Chinese name shown to users.
            pub fn name_zh(self) -> &'static str {
                match self {
                    $($name::$variant => $zh,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum! {
    /// The ten states of a case (DOMAIN.md §3).
    pub enum Status {
        /// Arrived from a channel, not yet accepted.
        Submitted = "submitted", "待受理";
        /// Accepted (立案) at a level's centre; to be dispatched or handled there.
        Accepted = "accepted", "已受理";
        /// Sent (交办/派单) to a department, a grid or a lower centre; waiting for sign-for.
        Dispatched = "dispatched", "已派遣";
        /// Signed for and being handled.
        InProgress = "in_progress", "办理中";
        /// The handler reported a result; waiting for verification (核查).
        Handled = "handled", "已处置";
        /// Verified; waiting for the return visit.
        Revisit = "revisit", "待回访";
        /// Terminal, with a result and, when visited, a satisfaction.
        Closed = "closed", "已办结";
        /// A long-term item approved to wait (挂账/缓办); its clock stands still.
        Parked = "parked", "挂账";
        /// Terminal: not accepted (不予受理), with the reason and the route to use instead.
        Rejected = "rejected", "不予受理";
        /// Terminal: a duplicate merged into another case.
        Merged = "merged", "已合并";
    }
}

impl Status {
    /// Closed, rejected and merged cases accept no action at all.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Closed | Status::Rejected | Status::Merged)
    }

    /// The clock step that runs in this state (`None` for terminal states; a parked case keeps
    /// the step it was parked in, frozen).
    pub fn step(self) -> Option<Step> {
        match self {
            Status::Submitted => Some(Step::Accept),
            Status::Accepted | Status::InProgress => Some(Step::Handle),
            Status::Dispatched => Some(Step::Sign),
            Status::Handled => Some(Step::Verify),
            Status::Revisit => Some(Step::Revisit),
            Status::Closed | Status::Rejected | Status::Merged | Status::Parked => None,
        }
    }
}

named_enum! {
    /// The actions on a case, named exactly as in CONTRACT.md (`POST /cases/{id}/actions`).
    pub enum Action {
        Accept = "accept", "受理";
        Reject = "reject", "不予受理";
        Merge = "merge", "合并";
        Dispatch = "dispatch", "派遣";
        Sign = "sign", "签收";
        SendBack = "send_back", "退回";
        Escalate = "escalate", "上报";
        Transfer = "transfer", "转办";
        Note = "note", "进展备注";
        RequestExtension = "request_extension", "申请延期";
        DecideExtension = "decide_extension", "审批延期";
        RequestPark = "request_park", "申请挂账";
        DecidePark = "decide_park", "审批挂账";
        Resume = "resume", "恢复办理";
        ReportHandled = "report_handled", "办结反馈";
        Verify = "verify", "核查";
        Revisit = "revisit", "回访";
        Close = "close", "结案";
        Supervise = "supervise", "督办";
        MarkUrgent = "mark_urgent", "加急";
        SelfHandle = "self_handle", "自处理";
    }
}

named_enum! {
    /// Where a case came from (来源).
    pub enum Channel {
        /// 羚小帮-style resident reporting page.
        ResidentPage = "resident_page", "群众报事";
        /// 平安通-style field app of grid workers and household heads.
        FieldApp = "field_app", "网格上报";
        /// Imported from the 12345 hotline.
        Hotline12345 = "hotline_12345", "12345热线";
        /// Walk-in at a centre (来访).
        WalkIn = "walk_in", "来访";
        /// Petition (信访).
        Petition = "petition", "信访";
        /// Relayed by a deputy or CPPCC member (代表委员).
        DeputyRelay = "deputy_relay", "代表委员转交";
        /// Pre-litigation mediation referral from a court (诉前调解).
        CourtReferral = "court_referral", "法院诉前委派";
        /// An Open311 GeoReport v2 client.
        Open311 = "open311", "Open311";
        /// Imported from a legacy system's CSV.
        CsvImport = "csv_import", "历史导入";
        /// Imported from a legacy hotline or 311 system's history, with a column mapping.
        LegacyImport = "legacy_import", "历史系统导入";
    }
}

named_enum! {
    /// The result a handler reports (解决/部分解决/未解决).
    pub enum HandleResult {
        Solved = "solved", "解决";
        PartlySolved = "partly_solved", "部分解决";
        Unsolved = "unsolved", "未解决";
    }
}

named_enum! {
    /// The reporter's answer at the return visit (满意度).
    pub enum Satisfaction {
        VerySatisfied = "very_satisfied", "非常满意";
        Satisfied = "satisfied", "满意";
        Understanding = "understanding", "理解";
        Unsatisfied = "unsatisfied", "不满意";
    }
}

impl Satisfaction {
    /// Counts as 满意 in the 回访满意率: very satisfied or satisfied.
    pub fn is_satisfied(self) -> bool {
        matches!(self, Satisfaction::VerySatisfied | Satisfaction::Satisfied)
    }
}

named_enum! {
    /// 督办 levels; yellow and red cards carry penalty weight in the assessment.
    pub enum SuperviseLevel {
        Normal = "normal", "督办";
        Yellow = "yellow", "黄牌督办";
        Red = "red", "红牌督办";
    }
}
