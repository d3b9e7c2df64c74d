//! Business calendars and the initial-response SLA clock (rules S1–S5).
//!
//! Every function takes the instant it works from as an argument: the caller supplies time
//! from the application's injectable clock, so nothing here reads the system time.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::model::{IncidentKind, RequestStatus, Severity, SlaClock, SlaState};

/// The warning window by default (S4): the last 25 % of the target.
pub const DEFAULT_WARNING_PERCENT: u8 = 25;

/// The SLA settings a partner's deployment may change: the warning window of each severity,
/// as a percentage of the target (S4 says "by default the last 25 %").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    /// Indexed by severity: A, B, C.
    pub warning_percent: [u8; 3],
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaPolicy { warning_percent: [DEFAULT_WARNING_PERCENT; 3] }
    }
}

impl SlaPolicy {
    pub fn warning_percent(&self, severity: Severity) -> u8 {
        self.warning_percent[match severity {
            Severity::A => 0,
            Severity::B => 1,
            Severity::C => 2,
        }]
    }

    /// Reads `25` (every severity) or `A=40,B=25,C=20` (the severities named; the others keep
    /// the default). Each percentage is 0 to 100.
    pub fn parse(text: &str) -> Result<SlaPolicy, String> {
        let mut policy = SlaPolicy::default();
        let percent = |v: &str| -> Result<u8, String> {
            match v.trim().trim_end_matches('%').trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(p),
                _ => Err(format!("`{}` is not a percentage from 0 to 100", v.trim())),
            }
        };
        let text = text.trim();
        if !text.contains('=') {
            policy.warning_percent = [percent(text)?; 3];
            return Ok(policy);
        }
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (severity, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not SEVERITY=PERCENT"))?;
            let index = match severity.trim().to_ascii_uppercase().as_str() {
                "A" => 0,
                "B" => 1,
                "C" => 2,
                other => return Err(format!("`{other}` is not a severity (A, B or C)")),
            };
            policy.warning_percent[index] = percent(value)?;
        }
        Ok(policy)
    }
}

/// How far ahead the calendar arithmetic looks for working time before giving up: a calendar
/// with no working hours at all must not loop forever.
const HORIZON_DAYS: i64 = 3 * 366;

/// A business calendar (S5): IANA time zone, weekly working hours and holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct BusinessCalendar {
    pub time_zone: Tz,
    /// Working intervals per weekday (index 0 = Monday) in minutes from local midnight,
    /// `start < end <= 1440`, sorted and not overlapping.
    pub weekly_hours: [Vec<(u32, u32)>; 7],
    /// Local dates on which nobody works.
    pub holidays: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    /// A calendar that is open every minute of every day (UTC, no holidays).
    pub fn always_open() -> Self {
        BusinessCalendar {
            time_zone: Tz::UTC,
            weekly_hours: std::array::from_fn(|_| vec![(0, 1440)]),
            holidays: BTreeSet::new(),
        }
    }

    /// Monday to Friday, `start_hour` to `end_hour` local time.
    pub fn weekdays(time_zone: Tz, start_hour: u32, end_hour: u32) -> Self {
        let day = vec![(start_hour * 60, end_hour * 60)];
        BusinessCalendar {
            time_zone,
            weekly_hours: [day.clone(), day.clone(), day.clone(), day.clone(), day, vec![], vec![]],
            holidays: BTreeSet::new(),
        }
    }

    /// The length of one business day (S5): the longest working day of the week.
    pub fn business_day(&self) -> Duration {
        let minutes = self
            .weekly_hours
            .iter()
            .map(|day| day.iter().map(|(s, e)| i64::from(e - s)).sum::<i64>())
            .max()
            .unwrap_or(0);
        Duration::minutes(minutes)
    }

    /// The working intervals of one local date, as UTC instants, in order.
    fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let weekday = date.weekday().num_days_from_monday() as usize;
        self.weekly_hours[weekday]
            .iter()
            .filter_map(|&(start, end)| {
                let start = self.local_to_utc(date, start)?;
                let end = self.local_to_utc(date, end)?;
                (start < end).then_some((start, end))
            })
            .collect()
    }

    /// The UTC instant of `minute` minutes after local midnight of `date`. In a DST gap the
    /// wall time does not exist: the first valid instant after it is used. In an overlap the
    /// earlier instant is used.
    fn local_to_utc(&self, date: NaiveDate, minute: u32) -> Option<DateTime<Utc>> {
        let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
        let mut local = midnight + Duration::minutes(i64::from(minute));
        for _ in 0..16 {
            match self.time_zone.from_local_datetime(&local) {
                LocalResult::Single(t) => return Some(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(earliest, _) => return Some(earliest.with_timezone(&Utc)),
                LocalResult::None => local += Duration::minutes(15),
            }
        }
        None
    }

    fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.time_zone).date_naive()
    }

    /// The instant at which `amount` of working time has passed since `start`, or `None` when
    /// the calendar has no working time within its horizon.
    pub fn add_business_time(&self, start: DateTime<Utc>, amount: Duration) -> Option<DateTime<Utc>> {
        if amount <= Duration::zero() {
            return Some(start);
        }
        let mut remaining = amount;
        // Start a day early: a local day can begin before `start`'s local date in UTC terms.
        let mut date = self.local_date(start).pred_opt()?;
        for _ in 0..HORIZON_DAYS {
            for (open, close) in self.intervals_on(date) {
                if close <= start {
                    continue;
                }
                let from = open.max(start);
                let available = close - from;
                if remaining <= available {
                    return Some(from + remaining);
                }
                remaining -= available;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The working time between two instants (zero when `to <= from`).
    pub fn business_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        self.working_periods(from, to).into_iter().fold(Duration::zero(), |total, (a, b)| total + (b - a))
    }

    /// The working intervals between two instants, in order, an interval that ends where
    /// the next begins (across midnight) merged with it; none when `to <= from`.
    pub fn working_periods(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut periods: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        if to <= from {
            return periods;
        }
        let Some(mut date) = self.local_date(from).pred_opt() else { return periods };
        let last = self.local_date(to);
        while date <= last {
            for (open, close) in self.intervals_on(date) {
                let (a, b) = (open.max(from), close.min(to));
                if a < b {
                    match periods.last_mut() {
                        Some(previous) if previous.1 == a => previous.1 = b,
                        _ => periods.push((a, b)),
                    }
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        periods
    }
}

/// When an initial-response clock runs between two instants: throughout on a 24x7 clock,
/// in the calendar's working intervals on a business-hours clock (S2).
pub fn clock_periods(
    clock: SlaClock,
    calendar: &BusinessCalendar,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    match clock {
        _ if to <= from => Vec::new(),
        SlaClock::TwentyFourSeven => vec![(from, to)],
        SlaClock::BusinessHours => calendar.working_periods(from, to),
    }
}

/// What clock a request runs on and for how long (S1–S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPlan {
    pub clock: SlaClock,
    pub target: Duration,
}

/// Whether a support language gets around-the-clock initial response (S2: English only).
pub fn is_english(language: &str) -> bool {
    let lang = language.trim().to_ascii_lowercase();
    lang == "en" || lang.starts_with("en-") || lang.starts_with("en_")
}

/// The initial-response target of a request (S1–S3).
pub fn plan(kind: IncidentKind, severity: Severity, language: &str, calendar: &BusinessCalendar) -> SlaPlan {
    match kind {
        // S1: technical break-fix, by severity; S2: around the clock only in English.
        IncidentKind::TechnicalBreakFix => {
            let hours = match severity {
                Severity::A => 2,
                Severity::B => 4,
                Severity::C => 8,
            };
            let clock = if is_english(language) { SlaClock::TwentyFourSeven } else { SlaClock::BusinessHours };
            SlaPlan { clock, target: Duration::hours(hours) }
        }
        // S3: everything else within the entitlement: up to one business day.
        _ => SlaPlan { clock: SlaClock::BusinessHours, target: calendar.business_day().max(Duration::hours(1)) },
    }
}

/// The due time and the start of the warning window of an SLA clock started at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaSchedule {
    pub due_at: DateTime<Utc>,
    pub at_risk_at: DateTime<Utc>,
}

/// Adds clock time: plain time on a 24×7 clock, working time on a business-hours clock. A
/// calendar with no working time at all falls back to plain time rather than never falling due.
pub fn add_clock_time(
    plan_clock: SlaClock,
    calendar: &BusinessCalendar,
    start: DateTime<Utc>,
    amount: Duration,
) -> DateTime<Utc> {
    match plan_clock {
        SlaClock::TwentyFourSeven => start + amount,
        SlaClock::BusinessHours => calendar.add_business_time(start, amount).unwrap_or(start + amount),
    }
}

/// Schedules the clock of `plan` started at `start` (S4's due time and warning window of
/// `warning_percent` of the target).
pub fn schedule(plan: SlaPlan, calendar: &BusinessCalendar, start: DateTime<Utc>, warning_percent: u8) -> SlaSchedule {
    let warn_after = plan.target - plan.target * i32::from(warning_percent.min(100)) / 100;
    SlaSchedule {
        due_at: add_clock_time(plan.clock, calendar, start, plan.target),
        at_risk_at: add_clock_time(plan.clock, calendar, start, warn_after),
    }
}

/// The clock time left until `due_at` counted from `at`: working time on a business-hours
/// clock; negative (plain time past due) once the due time has passed.
pub fn remaining(clock: SlaClock, calendar: &BusinessCalendar, due_at: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    if at >= due_at {
        return -(at - due_at);
    }
    match clock {
        SlaClock::TwentyFourSeven => due_at - at,
        SlaClock::BusinessHours => calendar.business_time_between(at, due_at),
    }
}

/// The smallest step of recorded time: a request is breached from one step after its due time.
fn tick() -> Duration {
    Duration::microseconds(1)
}

/// One change of SLA state, at the instant it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: SlaState,
    pub to: SlaState,
    pub at: DateTime<Utc>,
}

/// Why an SLA change is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaRefusal {
    /// Support's first response is already recorded.
    AlreadyResponded,
    /// A response time after the instant it is entered.
    ResponseInTheFuture,
    /// A response time before the request was filed.
    ResponseBeforeFiling,
}

impl std::fmt::Display for SlaRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SlaRefusal::AlreadyResponded => "support's first response is already recorded",
            SlaRefusal::ResponseInTheFuture => "`respondedAt` is in the future",
            SlaRefusal::ResponseBeforeFiling => "`respondedAt` is before the request was filed",
        })
    }
}

/// The initial-response SLA of one request as recorded (S4): the one place its state,
/// remaining time and every change of state are derived from. Queries, the countdown, the
/// watcher and every mutation read it through these methods, so they cannot disagree.
///
/// - Met: support's first response was entered at or before the due time.
/// - Breached: the due time passed with no response (at the due instant itself the request is
///   not yet breached). Final: a response entered later, whatever time it claims, and a new
///   severity or calendar, never undo it.
/// - Stopped: resolved or closed before any response and before the due time. Final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaRecord {
    pub clock: SlaClock,
    pub filed_at: DateTime<Utc>,
    pub schedule: SlaSchedule,
    /// The state last recorded (in history and the event log).
    pub recorded: SlaState,
    pub first_response_at: Option<DateTime<Utc>>,
    /// When the clock stopped: at the response (or at its entry, if entered after the due
    /// time), or at resolution or closure.
    pub stopped_at: Option<DateTime<Utc>>,
}

impl SlaRecord {
    /// The record of a request filed at `filed_at` with `plan` on `calendar`.
    pub fn file(plan: SlaPlan, calendar: &BusinessCalendar, filed_at: DateTime<Utc>, warning_percent: u8) -> Self {
        SlaRecord {
            clock: plan.clock,
            filed_at,
            schedule: schedule(plan, calendar, filed_at, warning_percent),
            recorded: SlaState::OnTrack,
            first_response_at: None,
            stopped_at: None,
        }
    }

    /// The state at `now`.
    pub fn state_at(&self, now: DateTime<Utc>) -> SlaState {
        if self.recorded.is_final() {
            self.recorded
        } else if now > self.schedule.due_at {
            SlaState::Breached
        } else if now >= self.schedule.at_risk_at {
            SlaState::AtRisk
        } else {
            SlaState::OnTrack
        }
    }

    /// Whether the clock still runs: no response yet, not resolved or closed (an overdue,
    /// unanswered request's clock runs on, below zero).
    pub fn is_running(&self) -> bool {
        self.stopped_at.is_none()
    }

    /// The clock time left at `now`: frozen when the clock stopped; negative once overdue.
    pub fn remaining_at(&self, calendar: &BusinessCalendar, now: DateTime<Utc>) -> Duration {
        remaining(self.clock, calendar, self.schedule.due_at, self.stopped_at.unwrap_or(now))
    }

    /// The next instant after `now` at which the state changes with time alone.
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.recorded.is_final() {
            return None;
        }
        [self.schedule.at_risk_at, self.schedule.due_at + tick()].into_iter().find(|t| *t > now)
    }

    /// The changes the passing of time made between the recorded state and `now`, each at
    /// its own instant, now recorded. The SLA watcher calls this; so does every mutation
    /// before it changes anything, so a change never skips or repeats one.
    pub fn catch_up(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = Vec::new();
        let target = self.state_at(now);
        if target == self.recorded {
            return out;
        }
        let mut push = |from, to, at| out.push(Transition { from, to, at });
        match (self.recorded, target) {
            (SlaState::OnTrack, SlaState::Breached) if self.schedule.at_risk_at <= self.schedule.due_at => {
                push(SlaState::OnTrack, SlaState::AtRisk, self.schedule.at_risk_at);
                push(SlaState::AtRisk, SlaState::Breached, self.schedule.due_at + tick());
            }
            (from, SlaState::AtRisk) => push(from, SlaState::AtRisk, self.schedule.at_risk_at.min(now)),
            (from, SlaState::Breached) => push(from, SlaState::Breached, self.schedule.due_at + tick()),
            (from, to) => push(from, to, now),
        }
        self.recorded = target;
        out
    }

    /// Moves the due time (a new severity or calendar): the clock restarts from filing with
    /// the new `schedule` unless the state is final. Returns the changes of state.
    pub fn reschedule(&mut self, schedule: SlaSchedule, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = self.catch_up(now);
        if self.recorded.is_final() {
            return out;
        }
        self.schedule = schedule;
        let after = self.state_at(now);
        if after != self.recorded {
            out.push(Transition { from: self.recorded, to: after, at: now });
            self.recorded = after;
        }
        out
    }

    /// Records support's first response, claimed at `responded_at`, entered at `now`.
    pub fn respond(&mut self, responded_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<Vec<Transition>, SlaRefusal> {
        if self.first_response_at.is_some() {
            return Err(SlaRefusal::AlreadyResponded);
        }
        if responded_at > now {
            return Err(SlaRefusal::ResponseInTheFuture);
        }
        if responded_at < self.filed_at {
            return Err(SlaRefusal::ResponseBeforeFiling);
        }
        let mut out = self.catch_up(now);
        self.first_response_at = Some(responded_at);
        if self.recorded.is_final() {
            // Breached (the due time passed before it was entered) or stopped: it stays.
            if self.stopped_at.is_none() {
                self.stopped_at = Some(now.max(responded_at));
            }
            return Ok(out);
        }
        // Not final at `now`, so `now <= due`: the response came in time.
        out.push(Transition { from: self.recorded, to: SlaState::Met, at: now });
        self.recorded = SlaState::Met;
        self.stopped_at = Some(responded_at);
        Ok(out)
    }

    /// The request was resolved or closed at `now`: a running clock stops for good.
    pub fn stop(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut out = self.catch_up(now);
        if self.stopped_at.is_none() {
            self.stopped_at = Some(now);
        }
        if !self.recorded.is_final() {
            out.push(Transition { from: self.recorded, to: SlaState::Stopped, at: now });
            self.recorded = SlaState::Stopped;
        }
        out
    }
}

/// Whether a request in `status` still accepts changes to its SLA: a new severity or support's
/// response. A resolved or closed request does not (reopen it first).
pub fn accepts_sla_changes(status: RequestStatus) -> bool {
    status.is_open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_in_working_periods_merged_across_midnight() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        // Berlin, 9 to 17 on weekdays: from Friday 16:00 to Monday 10:00 (local) the clock
        // runs one hour on Friday and one on Monday.
        let berlin = BusinessCalendar::weekdays(chrono_tz::Europe::Berlin, 9, 17);
        let periods =
            clock_periods(SlaClock::BusinessHours, &berlin, at("2026-12-04T15:00:00Z"), at("2026-12-07T09:00:00Z"));
        assert_eq!(
            periods,
            vec![
                (at("2026-12-04T15:00:00Z"), at("2026-12-04T16:00:00Z")),
                (at("2026-12-07T08:00:00Z"), at("2026-12-07T09:00:00Z"))
            ]
        );
        let total: Duration = periods.iter().map(|(a, b)| *b - *a).sum();
        assert_eq!(total, berlin.business_time_between(at("2026-12-04T15:00:00Z"), at("2026-12-07T09:00:00Z")));
        // Open around the clock: one period, midnights merged.
        let open = BusinessCalendar::always_open();
        assert_eq!(
            clock_periods(SlaClock::BusinessHours, &open, at("2026-12-04T15:00:00Z"), at("2026-12-06T09:00:00Z")),
            vec![(at("2026-12-04T15:00:00Z"), at("2026-12-06T09:00:00Z"))]
        );
        assert_eq!(
            clock_periods(SlaClock::TwentyFourSeven, &berlin, at("2026-12-04T15:00:00Z"), at("2026-12-04T15:00:00Z")),
            vec![]
        );
    }
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn s1_break_fix_targets_by_severity() {
        let cal = BusinessCalendar::always_open();
        for (sev, hours) in [(Severity::A, 2), (Severity::B, 4), (Severity::C, 8)] {
            let p = plan(IncidentKind::TechnicalBreakFix, sev, "en", &cal);
            assert_eq!(p, SlaPlan { clock: SlaClock::TwentyFourSeven, target: Duration::hours(hours) });
        }
    }

    #[test]
    fn s2_non_english_runs_in_business_hours() {
        let cal = BusinessCalendar::weekdays(chrono_tz::Europe::Berlin, 9, 17);
        let p = plan(IncidentKind::TechnicalBreakFix, Severity::A, "de", &cal);
        assert_eq!(p.clock, SlaClock::BusinessHours);
        // Friday 16:00 Berlin (15:00 UTC in winter): one hour on Friday, one on Monday.
        let due = schedule(p, &cal, utc(2026, 11, 27, 15, 0), DEFAULT_WARNING_PERCENT).due_at;
        assert_eq!(due, utc(2026, 11, 30, 9, 0));
    }

    #[test]
    fn s3_non_break_fix_is_one_business_day() {
        let cal = BusinessCalendar::weekdays(chrono_tz::America::New_York, 9, 17);
        let p = plan(IncidentKind::Billing, Severity::C, "en", &cal);
        assert_eq!(p, SlaPlan { clock: SlaClock::BusinessHours, target: Duration::hours(8) });
    }

    fn record(due: DateTime<Utc>, at_risk: DateTime<Utc>) -> SlaRecord {
        SlaRecord {
            clock: SlaClock::TwentyFourSeven,
            filed_at: utc(2026, 1, 1, 10, 0),
            schedule: SlaSchedule { due_at: due, at_risk_at: at_risk },
            recorded: SlaState::OnTrack,
            first_response_at: None,
            stopped_at: None,
        }
    }

    #[test]
    fn s4_states_and_the_due_instant() {
        let r = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        assert_eq!(r.state_at(utc(2026, 1, 1, 11, 0)), SlaState::OnTrack);
        assert_eq!(r.state_at(utc(2026, 1, 1, 11, 30)), SlaState::AtRisk);
        assert_eq!(r.state_at(utc(2026, 1, 1, 12, 0)), SlaState::AtRisk, "at the due instant: not yet breached");
        assert_eq!(r.state_at(utc(2026, 1, 1, 12, 0) + tick()), SlaState::Breached);
        let mut met = r.clone();
        met.respond(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 12, 0)).unwrap();
        assert_eq!(met.state_at(utc(2026, 1, 2, 0, 0)), SlaState::Met, "answered at the due instant: met");
        assert_eq!(r.next_change(utc(2026, 1, 1, 11, 30)), Some(utc(2026, 1, 1, 12, 0) + tick()));
    }

    #[test]
    fn s4_a_breach_is_final() {
        let mut r = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        let t = r.catch_up(utc(2026, 1, 1, 12, 5));
        assert_eq!(t.iter().map(|t| t.to).collect::<Vec<_>>(), vec![SlaState::AtRisk, SlaState::Breached]);
        // A response entered later claiming an earlier time does not undo it.
        let t = r.respond(utc(2026, 1, 1, 11, 0), utc(2026, 1, 1, 12, 10)).unwrap();
        assert!(t.is_empty());
        assert_eq!(r.state_at(utc(2026, 1, 1, 13, 0)), SlaState::Breached);
        assert_eq!(r.first_response_at, Some(utc(2026, 1, 1, 11, 0)), "the claimed time is kept");
        assert!(r.remaining_at(&BusinessCalendar::always_open(), utc(2026, 1, 2, 0, 0)) < Duration::zero());
        // Nor does a later due time.
        let mut r = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        r.catch_up(utc(2026, 1, 1, 12, 1));
        let later = SlaSchedule { due_at: utc(2026, 1, 1, 18, 0), at_risk_at: utc(2026, 1, 1, 16, 0) };
        assert!(r.reschedule(later, utc(2026, 1, 1, 12, 1)).is_empty());
        assert_eq!(r.state_at(utc(2026, 1, 1, 12, 2)), SlaState::Breached);
        assert_eq!(r.schedule.due_at, utc(2026, 1, 1, 12, 0));
    }

    #[test]
    fn s4_response_times_are_neither_future_nor_before_filing() {
        let mut r = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        assert_eq!(r.respond(utc(2026, 1, 1, 11, 1), utc(2026, 1, 1, 11, 0)), Err(SlaRefusal::ResponseInTheFuture));
        assert_eq!(r.respond(utc(2026, 1, 1, 9, 0), utc(2026, 1, 1, 11, 0)), Err(SlaRefusal::ResponseBeforeFiling));
        assert!(r.respond(utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 11, 0)).is_ok());
        assert_eq!(r.respond(utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 11, 0)), Err(SlaRefusal::AlreadyResponded));
    }

    #[test]
    fn s4_resolving_or_closing_stops_the_clock() {
        let mut r = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        let t = r.stop(utc(2026, 1, 1, 11, 0));
        assert_eq!(t, vec![Transition { from: SlaState::OnTrack, to: SlaState::Stopped, at: utc(2026, 1, 1, 11, 0) }]);
        assert_eq!(r.state_at(utc(2026, 1, 5, 0, 0)), SlaState::Stopped);
        assert_eq!(r.remaining_at(&BusinessCalendar::always_open(), utc(2026, 1, 5, 0, 0)), Duration::hours(1));
        assert_eq!(r.next_change(utc(2026, 1, 1, 11, 0)), None);
        let mut late = record(utc(2026, 1, 1, 12, 0), utc(2026, 1, 1, 11, 30));
        late.stop(utc(2026, 1, 1, 13, 0));
        assert_eq!(late.state_at(utc(2026, 1, 5, 0, 0)), SlaState::Breached, "closed after the due time: breached");
    }

    #[test]
    fn s4_warning_window_per_severity() {
        let policy = SlaPolicy::parse("A=50, c=10").unwrap();
        assert_eq!(policy.warning_percent, [50, DEFAULT_WARNING_PERCENT, 10]);
        assert_eq!(SlaPolicy::parse("40").unwrap().warning_percent, [40; 3]);
        assert!(SlaPolicy::parse("D=10").is_err() && SlaPolicy::parse("A=101").is_err());
        let plan = SlaPlan { clock: SlaClock::TwentyFourSeven, target: Duration::hours(2) };
        let s = schedule(plan, &BusinessCalendar::always_open(), utc(2026, 1, 1, 0, 0), 50);
        assert_eq!(s.at_risk_at, utc(2026, 1, 1, 1, 0));
    }

    #[test]
    fn s5_holidays_and_dst_are_honoured() {
        let mut cal = BusinessCalendar::weekdays(chrono_tz::America::New_York, 9, 17);
        cal.holidays.insert(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()); // Thanksgiving
        // Wednesday 16:00 EST: one hour Wednesday, Thursday is a holiday, rest on Friday.
        let due = cal.add_business_time(utc(2026, 11, 25, 21, 0), Duration::hours(2)).unwrap();
        assert_eq!(due, utc(2026, 11, 27, 15, 0));
        // Across the March DST change (8 March 2026), 09:00 local moves from 14:00 to 13:00 UTC:
        // Friday 16:30 EST plus one hour is 30 minutes on Friday and 30 on Monday.
        let due = cal.add_business_time(utc(2026, 3, 6, 21, 30), Duration::hours(1)).unwrap();
        assert_eq!(due, utc(2026, 3, 9, 13, 30));
    }

    #[test]
    fn empty_calendar_falls_back_to_plain_time() {
        let mut cal = BusinessCalendar::always_open();
        cal.weekly_hours = Default::default();
        assert_eq!(cal.add_business_time(utc(2026, 1, 1, 0, 0), Duration::hours(1)), None);
        let due = add_clock_time(SlaClock::BusinessHours, &cal, utc(2026, 1, 1, 0, 0), Duration::hours(1));
        assert_eq!(due, utc(2026, 1, 1, 1, 0));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    const ZONES: [Tz; 6] = [
        chrono_tz::America::New_York,
        chrono_tz::Europe::Berlin,
        chrono_tz::Australia::Sydney,
        chrono_tz::America::Sao_Paulo,
        chrono_tz::Asia::Tokyo,
        chrono_tz::Europe::London,
    ];

    /// Calendars with one or two working intervals a weekday, some weekends, some holidays.
    fn calendar() -> impl Strategy<Value = BusinessCalendar> {
        (
            0..ZONES.len(),
            6u32..11,
            1u32..4,
            13u32..19,
            any::<bool>(),
            any::<bool>(),
            prop::collection::vec(0i64..400, 0..6),
        )
            .prop_map(|(zone, start, lunch, end, split, saturday, holidays)| {
                let day = if split {
                    vec![(start * 60, 12 * 60), ((12 + lunch) * 60, end * 60)]
                } else {
                    vec![(start * 60, end * 60)]
                };
                let mut cal = BusinessCalendar::weekdays(ZONES[zone], 0, 0);
                for d in cal.weekly_hours.iter_mut().take(5) {
                    *d = day.clone();
                }
                if saturday {
                    cal.weekly_hours[5] = vec![(9 * 60, 13 * 60)];
                }
                let base = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
                cal.holidays = holidays.into_iter().map(|d| base + Duration::days(d)).collect();
                cal
            })
    }

    /// Instants over two years, so every zone's DST changes are crossed.
    fn instant() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..(2 * 365 * 24 * 60))
            .prop_map(|m| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(m))
    }

    /// One step of a request's life.
    #[derive(Debug, Clone)]
    enum Step {
        Wait(i64),
        Severity(usize),
        Respond(i64),
        Stop,
        Calendar(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1i64..600).prop_map(Step::Wait),
            2 => (0usize..3).prop_map(Step::Severity),
            1 => (0i64..300).prop_map(Step::Respond),
            1 => Just(Step::Stop),
            1 => (0usize..ZONES.len()).prop_map(Step::Calendar),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random lives of a request: the state is never un-breached, every change of state is
        /// exactly one transition (chained, never from a state to itself), and the due time is
        /// never before filing.
        #[test]
        fn the_sla_record_is_never_rewritten(
            start in instant(),
            language in prop_oneof![Just("en"), Just("de")],
            steps in prop::collection::vec(step(), 1..25),
        ) {
            let severities = [Severity::A, Severity::B, Severity::C];
            let calendar_of = |zone: usize| BusinessCalendar::weekdays(ZONES[zone], 9, 17);
            let mut calendar = calendar_of(0);
            let plan = plan(IncidentKind::TechnicalBreakFix, Severity::B, language, &calendar);
            let mut r = SlaRecord::file(plan, &calendar, start, DEFAULT_WARNING_PERCENT);
            let mut severity = Severity::B;
            let mut now = start;
            let mut shown = SlaState::OnTrack;
            let mut was_breached = false;
            for step in steps {
                let transitions = match step {
                    Step::Wait(minutes) => { now += Duration::minutes(minutes); r.catch_up(now) }
                    Step::Severity(i) => {
                        severity = severities[i];
                        let p = super::plan(IncidentKind::TechnicalBreakFix, severity, language, &calendar);
                        r.reschedule(schedule(p, &calendar, r.filed_at, DEFAULT_WARNING_PERCENT), now)
                    }
                    Step::Respond(back) => {
                        let at = (now - Duration::minutes(back)).max(r.filed_at);
                        r.respond(at, now).unwrap_or_default()
                    }
                    Step::Stop => r.stop(now),
                    Step::Calendar(zone) => {
                        calendar = calendar_of(zone);
                        let p = super::plan(IncidentKind::TechnicalBreakFix, severity, language, &calendar);
                        r.reschedule(schedule(p, &calendar, r.filed_at, DEFAULT_WARNING_PERCENT), now)
                    }
                };
                for t in &transitions {
                    prop_assert_eq!(t.from, shown, "chained from what was shown");
                    prop_assert_ne!(t.from, t.to);
                    prop_assert!(t.at <= now);
                    shown = t.to;
                }
                prop_assert_eq!(shown, r.state_at(now), "every change was recorded");
                prop_assert_eq!(r.recorded, r.state_at(now));
                if was_breached {
                    prop_assert_eq!(r.state_at(now), SlaState::Breached, "never un-breached");
                }
                was_breached |= r.state_at(now) == SlaState::Breached;
                prop_assert!(r.schedule.due_at >= r.filed_at && r.schedule.at_risk_at >= r.filed_at);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn due_is_never_before_creation(cal in calendar(), start in instant(), minutes in 0i64..5000) {
            let due = cal.add_business_time(start, Duration::minutes(minutes)).unwrap();
            prop_assert!(due >= start);
        }

        #[test]
        fn more_time_is_never_earlier(cal in calendar(), start in instant(), a in 0i64..3000, b in 0i64..3000) {
            let (short, long) = (a.min(b), a.max(b));
            let d1 = cal.add_business_time(start, Duration::minutes(short)).unwrap();
            let d2 = cal.add_business_time(start, Duration::minutes(long)).unwrap();
            prop_assert!(d1 <= d2);
        }

        #[test]
        fn always_open_equals_plain_addition(start in instant(), minutes in 0i64..100_000) {
            let cal = BusinessCalendar::always_open();
            prop_assert_eq!(cal.add_business_time(start, Duration::minutes(minutes)).unwrap(), start + Duration::minutes(minutes));
            let plan = SlaPlan { clock: SlaClock::TwentyFourSeven, target: Duration::minutes(minutes) };
            prop_assert_eq!(schedule(plan, &cal, start, DEFAULT_WARNING_PERCENT).due_at, start + Duration::minutes(minutes));
        }

        #[test]
        fn business_time_inside_the_due_window_equals_the_target(cal in calendar(), start in instant(), minutes in 1i64..5000) {
            let target = Duration::minutes(minutes);
            let due = cal.add_business_time(start, target).unwrap();
            prop_assert_eq!(cal.business_time_between(start, due), target);
        }

        #[test]
        fn remaining_counts_down_to_zero_at_the_due_time(cal in calendar(), start in instant(), minutes in 1i64..3000, step in 0i64..3000) {
            let target = Duration::minutes(minutes);
            let due = cal.add_business_time(start, target).unwrap();
            let now = (start + Duration::minutes(step)).min(due);
            let left = remaining(SlaClock::BusinessHours, &cal, due, now);
            prop_assert!(left >= Duration::zero() && left <= target);
            prop_assert_eq!(remaining(SlaClock::BusinessHours, &cal, due, due), Duration::zero());
        }

        #[test]
        fn states_follow_s4(cal in calendar(), start in instant(), minutes in 4i64..3000, at in 0i64..6000) {
            let plan = SlaPlan { clock: SlaClock::BusinessHours, target: Duration::minutes(minutes) };
            let r = SlaRecord::file(plan, &cal, start, DEFAULT_WARNING_PERCENT);
            let s = r.schedule;
            prop_assert!(start <= s.at_risk_at && s.at_risk_at <= s.due_at);
            let now = start + Duration::minutes(at);
            let expected = if now > s.due_at { SlaState::Breached } else if now >= s.at_risk_at { SlaState::AtRisk } else { SlaState::OnTrack };
            prop_assert_eq!(r.state_at(now), expected);
        }
    }
}
