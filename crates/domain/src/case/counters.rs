//! Assessment counters (考核计数) per unit, per day, per step: a pure function of each
//! transition, so the store can keep them in the event's transaction and a recount from the
//! history gives the same figures.
//!
//! Attribution: each counter goes to the unit whose work it measures (the owning centre for
//! accepting and dispatching, the assignee for signing, the handling unit for handling, rework,
//! return visits and closure, the responsible unit for supervision). The day is the event's day
//! in Asia/Shanghai. Timeliness counters are counted when the step concludes, so the "due"
//! figure of a period is the steps concluded in it; a step still open past its limit shows up in
//! the overdue lists and in automatic supervision instead.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::clock::china_offset;

use super::engine::apply;
use super::{Case, Change, Event, Status, SuperviseLevel};

named_enum! {
    /// An assessment counter. Rates are ratios of these (DOMAIN.md §4).
    pub enum Counter {
        /// 收件: cases created at the centre (the routed centre, on the create event).
        Received = "received", "收件数";
        /// 应受理: accept steps concluded by the centre (accept, reject or merge of a submitted
        /// case). A case a grid worker self-handles before acceptance is not counted.
        DueAccept = "due_accept", "应受理数";
        /// 按时受理: of `due_accept`, those concluded at or before the accept deadline (or with no
        /// limit configured). 及时受理率 = accepted_on_time / due_accept.
        AcceptedOnTime = "accepted_on_time", "按时受理数";
        /// 应签收: dispatched cases the assignee signed for.
        DueSign = "due_sign", "应签收数";
        /// 按时签收: of `due_sign`, those signed at or before the sign deadline.
        SignedOnTime = "signed_on_time", "按时签收数";
        /// 应办结: handling rounds concluded by the handling unit (each report_handled, and a grid
        /// worker's self_handle). A round reported again after rework counts again.
        DueClose = "due_close", "应办结数";
        /// 按期办结: of `due_close`, those reported at or before the running deadline (with
        /// extensions and parked time).
        ClosedOnTime = "closed_on_time", "按期办结数";
        /// 结案: cases closed, credited to the unit that handled them.
        Closed = "closed", "结案数";
        /// 返工: failed verifications, against the handling unit. 返工率 = rework / due_close.
        Rework = "rework", "返工数";
        /// 重办: unsatisfied return visits that reopened the case, against the handling unit.
        Reopened = "reopened", "重办数";
        /// 退回: cases the assignee sent back to the dispatching centre, against the assignee.
        SentBack = "sent_back", "退回数";
        /// 派遣: dispatches and transfers made by the owning centre.
        Dispatched = "dispatched", "派遣数";
        /// 准确派遣: dispatches (and transfers) that stuck: the assignee reported the case handled,
        /// or, for a lower centre, signed it (taking it over). A dispatch sent back or transferred
        /// away never counts. Credited to the dispatching centre on the day it settles.
        /// 准确派遣率 = dispatched_accurately / dispatched.
        DispatchedAccurately = "dispatched_accurately", "准确派遣数";
        /// 重新派遣: a dispatch or transfer by a centre that had already dispatched this case.
        Redispatched = "redispatched", "重新派遣数";
        /// 上报: cases the centre escalated to the level above.
        Escalated = "escalated", "上报数";
        /// 督办 (normal), against the responsible unit ([`Case::responsible_unit`]).
        SupervisedNormal = "supervised_normal", "督办数";
        /// 黄牌督办, against the responsible unit.
        SupervisedYellow = "supervised_yellow", "黄牌数";
        /// 红牌督办, against the responsible unit.
        SupervisedRed = "supervised_red", "红牌数";
        /// 回访: return visits done, credited to the handling unit whose work was judged.
        Revisited = "revisited", "回访数";
        /// 满意: return visits answered very satisfied or satisfied. 回访满意率 = satisfied / revisited.
        Satisfied = "satisfied", "满意数";
    }
}

/// The key counters are kept under: (unit code, Shanghai day, counter).
pub type CounterKey = (String, NaiveDate, Counter);

/// One change to one counter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterDelta {
    pub unit: String,
    pub day: NaiveDate,
    pub counter: Counter,
    pub delta: i64,
}

impl CounterDelta {
    pub fn key(&self) -> CounterKey {
        (self.unit.clone(), self.day, self.counter)
    }
}

/// The counter changes one event makes. `before` and `after` are the case around the event
/// (for the create event, pass the created case as both).
pub fn counter_deltas(before: &Case, event: &Event, after: &Case) -> Vec<CounterDelta> {
    use Counter as C;
    // A step concluded at `event.at`: due, and done on time when it was (no limit: on time).
    let on_time = before.deadline.is_none_or(|d| event.at <= d);
    let timely = |unit: &str, due: Counter, done: Counter| {
        let mut hits = vec![(unit.to_owned(), due)];
        if on_time {
            hits.push((unit.to_owned(), done));
        }
        hits
    };
    let centre = || before.centre_unit().to_owned();
    let handler = || before.handling_unit.clone();

    let hits: Vec<(String, Counter)> = match &event.change {
        Change::Create { .. } => vec![(after.centre_unit().to_owned(), C::Received)],
        Change::Accept | Change::Reject { .. } | Change::Merge { .. }
            if before.status == Status::Submitted =>
        {
            timely(before.centre_unit(), C::DueAccept, C::AcceptedOnTime)
        }
        Change::Dispatch { .. } | Change::Transfer { .. } => {
            let mut hits = vec![(centre(), C::Dispatched)];
            if before.centre_dispatch_count > 0 {
                hits.push((centre(), C::Redispatched));
            }
            hits
        }
        Change::Sign => {
            let mut hits = timely(&before.handling_unit, C::DueSign, C::SignedOnTime);
            // A lower centre signing takes the case over: its dispatch has stuck.
            if before.open_dispatch && after.status == Status::Accepted {
                hits.push((centre(), C::DispatchedAccurately));
            }
            hits
        }
        Change::SendBack { .. } => vec![(handler(), C::SentBack)],
        Change::Escalate { .. } => vec![(centre(), C::Escalated)],
        Change::ReportHandled { .. } => {
            let mut hits = timely(&before.handling_unit, C::DueClose, C::ClosedOnTime);
            if before.open_dispatch {
                hits.push((centre(), C::DispatchedAccurately));
            }
            hits
        }
        Change::SelfHandle { grid, .. } => timely(&grid.code, C::DueClose, C::ClosedOnTime),
        Change::Verify { passed: false } => vec![(handler(), C::Rework)],
        Change::Revisit {
            satisfaction,
            reopened,
        } => {
            let mut hits = vec![(handler(), C::Revisited)];
            if satisfaction.is_satisfied() {
                hits.push((handler(), C::Satisfied));
            }
            hits.push((handler(), if *reopened { C::Reopened } else { C::Closed }));
            hits
        }
        Change::Close => vec![(handler(), C::Closed)],
        Change::Supervise { level, .. } => {
            let counter = match level {
                SuperviseLevel::Normal => C::SupervisedNormal,
                SuperviseLevel::Yellow => C::SupervisedYellow,
                SuperviseLevel::Red => C::SupervisedRed,
            };
            vec![(before.responsible_unit().to_owned(), counter)]
        }
        _ => Vec::new(),
    };
    let day = event.at.with_timezone(&china_offset()).date_naive();
    hits.into_iter()
        .map(|(unit, counter)| CounterDelta {
            unit,
            day,
            counter,
            delta: 1,
        })
        .collect()
}

/// The counters of one case's history, recomputed by replaying it from its create event
/// (events before the first create event are ignored).
pub fn recount(history: &[Event]) -> BTreeMap<CounterKey, i64> {
    let mut totals = BTreeMap::new();
    let mut case: Option<Case> = None;
    for event in history {
        let (before, after) = match (case.take(), Case::from_created(event)) {
            (_, Some(created)) => (created.clone(), created),
            (Some(before), None) => {
                let after = apply(before.clone(), event);
                (before, after)
            }
            (None, None) => continue,
        };
        for d in counter_deltas(&before, event, &after) {
            *totals.entry(d.key()).or_insert(0) += d.delta;
        }
        case = Some(after);
    }
    totals
}
