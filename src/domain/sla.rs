//! Business calendars and the initial-response SLA clock (rules S1–S5).
//!
//! Every function takes the instant it works from as an argument: the caller supplies time
//! from the application's injectable clock, so nothing here reads the system time.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::model::{IncidentKind, Severity, SlaClock, SlaState};

/// The share of the target at the end of which a request is `AT_RISK` (S4: the last 25 %).
pub const WARNING_FRACTION_PERCENT: i64 = 25;

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
        if to <= from {
            return Duration::zero();
        }
        let mut total = Duration::zero();
        let Some(mut date) = self.local_date(from).pred_opt() else { return total };
        let last = self.local_date(to);
        while date <= last {
            for (open, close) in self.intervals_on(date) {
                let (a, b) = (open.max(from), close.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
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

/// Schedules the clock of `plan` started at `start` (S4's due time and warning window).
pub fn schedule(plan: SlaPlan, calendar: &BusinessCalendar, start: DateTime<Utc>) -> SlaSchedule {
    let warn_after = plan.target - plan.target * WARNING_FRACTION_PERCENT as i32 / 100;
    SlaSchedule {
        due_at: add_clock_time(plan.clock, calendar, start, plan.target),
        at_risk_at: add_clock_time(plan.clock, calendar, start, warn_after),
    }
}

/// The SLA state at `now` (S4). The clock stops at the first response from support.
pub fn state(schedule: SlaSchedule, first_response_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> SlaState {
    match first_response_at {
        Some(responded) if responded <= schedule.due_at => SlaState::Met,
        Some(_) => SlaState::Breached,
        None if now >= schedule.due_at => SlaState::Breached,
        None if now >= schedule.at_risk_at => SlaState::AtRisk,
        None => SlaState::OnTrack,
    }
}

/// The clock time left until the due time at `now`: working time on a business-hours clock;
/// negative (plain time past due) once the due time has passed; frozen at the response.
pub fn remaining(
    clock: SlaClock,
    calendar: &BusinessCalendar,
    due_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Duration {
    let at = first_response_at.unwrap_or(now);
    if at >= due_at {
        return -(at - due_at);
    }
    match clock {
        SlaClock::TwentyFourSeven => due_at - at,
        SlaClock::BusinessHours => calendar.business_time_between(at, due_at),
    }
}

/// The next instant after `now` at which the state of an unanswered request changes.
pub fn next_transition(
    schedule: SlaSchedule,
    first_response_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if first_response_at.is_some() {
        return None;
    }
    [schedule.at_risk_at, schedule.due_at].into_iter().find(|t| *t > now)
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let due = schedule(p, &cal, utc(2026, 11, 27, 15, 0)).due_at;
        assert_eq!(due, utc(2026, 11, 30, 9, 0));
    }

    #[test]
    fn s3_non_break_fix_is_one_business_day() {
        let cal = BusinessCalendar::weekdays(chrono_tz::America::New_York, 9, 17);
        let p = plan(IncidentKind::Billing, Severity::C, "en", &cal);
        assert_eq!(p, SlaPlan { clock: SlaClock::BusinessHours, target: Duration::hours(8) });
    }

    #[test]
    fn s4_states() {
        let s = SlaSchedule { due_at: utc(2026, 1, 1, 12, 0), at_risk_at: utc(2026, 1, 1, 11, 30) };
        assert_eq!(state(s, None, utc(2026, 1, 1, 11, 0)), SlaState::OnTrack);
        assert_eq!(state(s, None, utc(2026, 1, 1, 11, 30)), SlaState::AtRisk);
        assert_eq!(state(s, None, utc(2026, 1, 1, 12, 0)), SlaState::Breached);
        assert_eq!(state(s, Some(utc(2026, 1, 1, 11, 59)), utc(2026, 1, 2, 0, 0)), SlaState::Met);
        assert_eq!(state(s, Some(utc(2026, 1, 1, 12, 1)), utc(2026, 1, 2, 0, 0)), SlaState::Breached);
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
            prop_assert_eq!(schedule(plan, &cal, start).due_at, start + Duration::minutes(minutes));
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
            let left = remaining(SlaClock::BusinessHours, &cal, due, None, now);
            prop_assert!(left >= Duration::zero() && left <= target);
            prop_assert_eq!(remaining(SlaClock::BusinessHours, &cal, due, None, due), Duration::zero());
        }

        #[test]
        fn states_follow_s4(cal in calendar(), start in instant(), minutes in 4i64..3000, at in 0i64..6000) {
            let plan = SlaPlan { clock: SlaClock::BusinessHours, target: Duration::minutes(minutes) };
            let s = schedule(plan, &cal, start);
            prop_assert!(start <= s.at_risk_at && s.at_risk_at <= s.due_at);
            let now = start + Duration::minutes(at);
            let expected = if now >= s.due_at { SlaState::Breached } else if now >= s.at_risk_at { SlaState::AtRisk } else { SlaState::OnTrack };
            prop_assert_eq!(state(s, None, now), expected);
        }
    }
}
