//! What makes a business calendar valid (S5): an IANA time zone, weekly working hours that do
//! not overlap and add up to some working time, and holidays on distinct dates. Partners edit
//! their own calendars through the API; this is the one place their input is judged.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::sla::BusinessCalendar;

/// Longest calendar or holiday name.
pub const MAX_NAME_CHARS: usize = 100;
/// Most holidays one calendar holds (decades of public holidays fit).
pub const MAX_HOLIDAYS: usize = 2_000;
/// Most working intervals a day holds.
pub const MAX_INTERVALS_PER_DAY: usize = 8;

/// A calendar as a partner submits it.
#[derive(Debug, Clone)]
pub struct CalendarDraft {
    pub name: String,
    pub time_zone: String,
    /// (ISO weekday 1 = Monday … 7 = Sunday, local start `HH:MM`, local end `HH:MM`).
    pub weekly_hours: Vec<(i32, String, String)>,
    pub holidays: Vec<(NaiveDate, String)>,
}

/// A calendar that passed [`validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCalendar {
    pub name: String,
    pub time_zone: Tz,
    /// (weekday 0 = Monday, start minute, end minute), sorted.
    pub hours: Vec<(u8, u32, u32)>,
    /// Sorted by date.
    pub holidays: Vec<(NaiveDate, String)>,
}

impl ValidCalendar {
    /// The calendar the SLA arithmetic runs on.
    pub fn calendar(&self) -> BusinessCalendar {
        let mut weekly_hours: [Vec<(u32, u32)>; 7] = Default::default();
        for &(day, start, end) in &self.hours {
            weekly_hours[usize::from(day)].push((start, end));
        }
        BusinessCalendar {
            time_zone: self.time_zone,
            weekly_hours,
            holidays: self.holidays.iter().map(|(d, _)| *d).collect(),
        }
    }
}

/// Minutes from local midnight of `HH:MM` (`24:00` is the end of the day).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn name_problem(field: &str, name: &str) -> Option<String> {
    super::text::check(name, MAX_NAME_CHARS, false).err().map(|p| format!("`{field}` {}", p.describe()))
}

/// Checks a draft; every problem is named, so a form can show them all at once.
pub fn validate(draft: &CalendarDraft) -> Result<ValidCalendar, Vec<String>> {
    let mut problems = Vec::new();
    problems.extend(name_problem("name", &draft.name));
    let time_zone = match draft.time_zone.trim().parse::<Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            problems.push(format!(
                "`timeZone` \"{}\" is not an IANA time zone such as Europe/Berlin",
                draft.time_zone.trim()
            ));
            None
        }
    };
    let mut hours = Vec::new();
    for (i, (day, start, end)) in draft.weekly_hours.iter().enumerate() {
        let at = format!("`weeklyHours[{i}]`");
        if !(1..=7).contains(day) {
            problems.push(format!("{at}: `isoWeekday` must be 1 (Monday) to 7 (Sunday)"));
            continue;
        }
        match (minutes(start), minutes(end)) {
            (Some(s), Some(e)) if s < e => hours.push(((*day - 1) as u8, s, e)),
            (Some(_), Some(_)) => problems.push(format!("{at}: `start` {start} is not before `end` {end}")),
            _ => problems.push(format!("{at}: times are `HH:MM` from 00:00 to 24:00")),
        }
    }
    hours.sort();
    for pair in hours.windows(2) {
        let ((d1, _, e1), (d2, s2, _)) = (pair[0], pair[1]);
        if d1 == d2 && s2 < e1 {
            problems.push(format!("working hours overlap on ISO weekday {}", d1 + 1));
        }
    }
    for day in 0..7u8 {
        if hours.iter().filter(|(d, _, _)| *d == day).count() > MAX_INTERVALS_PER_DAY {
            problems.push(format!("ISO weekday {} has more than {MAX_INTERVALS_PER_DAY} working intervals", day + 1));
        }
    }
    if hours.is_empty() && problems.is_empty() {
        problems.push("`weeklyHours` is empty: a calendar needs some working time".into());
    }
    if draft.holidays.len() > MAX_HOLIDAYS {
        problems.push(format!("more than {MAX_HOLIDAYS} holidays"));
    }
    let mut seen = BTreeSet::new();
    let mut holidays = Vec::new();
    for (date, name) in &draft.holidays {
        if !seen.insert(*date) {
            problems.push(format!("the holiday {date} is given twice"));
        }
        if let Some(p) = name_problem(&format!("the name of holiday {date}"), name) {
            problems.push(p);
        }
        holidays.push((*date, name.trim().to_owned()));
    }
    holidays.sort();
    match time_zone {
        Some(time_zone) if problems.is_empty() => {
            Ok(ValidCalendar { name: draft.name.trim().to_owned(), time_zone, hours, holidays })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> CalendarDraft {
        CalendarDraft {
            name: "Berlin office".into(),
            time_zone: "Europe/Berlin".into(),
            weekly_hours: (1..=5).map(|d| (d, "08:00".into(), "16:30".into())).collect(),
            holidays: vec![(NaiveDate::from_ymd_opt(2030, 12, 25).unwrap(), "Weihnachten".into())],
        }
    }

    #[test]
    fn s5_a_valid_calendar() {
        let v = validate(&draft()).unwrap();
        assert_eq!(v.calendar().business_day(), chrono::Duration::minutes(510));
        assert_eq!(v.holidays.len(), 1);
    }

    #[test]
    fn s5_every_problem_is_named() {
        let mut d = draft();
        d.time_zone = "Mars/Olympus".into();
        d.weekly_hours.push((1, "15:00".into(), "18:00".into()));
        d.weekly_hours.push((8, "09:00".into(), "10:00".into()));
        d.weekly_hours.push((2, "10:00".into(), "09:00".into()));
        d.weekly_hours.push((3, "9:00".into(), "25:00".into()));
        d.holidays.push(d.holidays[0].clone());
        let problems = validate(&d).unwrap_err();
        for needle in ["IANA", "overlap", "1 (Monday) to 7", "not before", "HH:MM", "twice"] {
            assert!(problems.iter().any(|p| p.contains(needle)), "{needle}: {problems:?}");
        }
        let empty = CalendarDraft { weekly_hours: vec![], ..draft() };
        assert!(validate(&empty).unwrap_err()[0].contains("needs some working time"));
    }
}
