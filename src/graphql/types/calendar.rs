use std::sync::Arc;

use async_graphql::{ID, Object, SimpleObject};

use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::scalars::Date;
use crate::repo::loaders::CalendarData;

/// A business calendar (S5): the hours in which a non-English request's SLA clock runs.
#[derive(Clone)]
pub struct BusinessCalendar(pub Arc<CalendarData>);

/// A working interval of one weekday, local time.
#[derive(SimpleObject)]
pub struct WorkingHours {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub iso_weekday: i32,
    /// Local start time, `HH:MM`.
    pub start: String,
    /// Local end time, `HH:MM` (`24:00` for midnight).
    pub end: String,
}

/// A day on which the calendar does not work.
#[derive(SimpleObject)]
pub struct Holiday {
    /// The local date of the holiday in the calendar's time zone.
    pub date: Date,
    /// The holiday's name, e.g. `Thanksgiving Day`.
    pub name: String,
}

fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A business calendar (S5): the working hours and holidays in which a business-hours SLA clock
/// runs. Built-in calendars are read-only; a partner's own ones are edited by its admins.
#[Object]
impl BusinessCalendar {
    /// The calendar's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::BusinessCalendar, &self.0.id)
    }

    /// The calendar's name, unique among the built-in calendars and the partner's own.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// IANA time zone, e.g. `Europe/Berlin`.
    async fn time_zone(&self) -> String {
        self.0.calendar.time_zone.name().to_owned()
    }

    /// The working intervals of the week, by weekday and start time.
    async fn weekly_hours(&self) -> Vec<WorkingHours> {
        self.0
            .hours
            .iter()
            .map(|h| WorkingHours {
                iso_weekday: h.weekday as i32 + 1,
                start: hhmm(h.start_minute),
                end: hhmm(h.end_minute),
            })
            .collect()
    }

    /// The days on which no time is counted, by date.
    async fn holidays(&self) -> Vec<Holiday> {
        self.0.holidays.iter().map(|h| Holiday { date: Date(h.day), name: h.name.clone() }).collect()
    }

    /// Incremented by every edit; send it back as `expectedVersion` to edit the calendar.
    async fn version(&self) -> i32 {
        self.0.version as i32
    }

    /// Whether the partner maintains this calendar (`updateBusinessCalendar`); built-in
    /// calendars are read-only.
    async fn editable(&self) -> bool {
        self.0.partner_id.is_some()
    }

    /// Minutes in one business day of this calendar ("up to one business day", S3).
    async fn business_day_minutes(&self) -> i32 {
        self.0.calendar.business_day().num_minutes() as i32
    }
}
