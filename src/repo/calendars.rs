//! Maintaining business calendars (S5): a partner's admins create and edit their own
//! calendars and assign them to customers or to the partner's own tenant. Every change is one
//! transaction that also moves the due time of each open request on the calendar, with a
//! history entry and an event per request, and tells every replica to forget the old calendar.

use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::Repo;
use super::admin::{audit, change_row};
use super::mutations::{LockingLoad, emit, load_request_for_update, record, sla_entries, sla_record, store_sla};
use crate::auth::Caller;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::sql::row_columns;
use crate::domain::admin::{AdminAction, AdminSubject};
use crate::domain::calendar::{self, CalendarDraft, ValidCalendar};
use crate::domain::model::*;
use crate::domain::sla::{self, BusinessCalendar, SlaPolicy};
use crate::domain::workflow;
use crate::error::{AppError, AppResult};
use crate::transaction;

/// What a calendar change did.
pub struct CalendarChange {
    pub calendar_id: String,
    /// Open requests whose due time moved.
    pub rescheduled: usize,
}

/// What `adminChanges` records of a calendar: the fields as they became.
fn calendar_detail(v: &ValidCalendar) -> serde_json::Value {
    json!({
        "name": v.name,
        "timeZone": v.time_zone.name(),
        "weeklyHours": v.hours.iter().map(|&(day, start, end)| json!([u32::from(day) + 1, start, end])).collect::<Vec<_>>(),
        "holidays": v.holidays.iter().map(|(d, n)| json!([d.to_string(), n])).collect::<Vec<_>>(),
    })
}

fn require_calendar_admin(caller: &Caller) -> AppResult<()> {
    workflow::may_manage_calendars(caller.role).map_err(|r| AppError::PolicyRefused(vec![*r]))
}

fn valid(draft: &CalendarDraft) -> AppResult<ValidCalendar> {
    calendar::validate(draft).map_err(|problems| AppError::bad_input(problems.join("; ")))
}

fn hour_rows(id: &str, v: &ValidCalendar) -> Vec<CalendarHoursRow> {
    v.hours
        .iter()
        .map(|&(day, start, end)| CalendarHoursRow {
            calendar_id: id.to_owned(),
            weekday: i64::from(day),
            start_minute: i64::from(start),
            end_minute: i64::from(end),
        })
        .collect()
}

fn holiday_rows(id: &str, v: &ValidCalendar) -> Vec<HolidayRow> {
    v.holidays
        .iter()
        .map(|(day, name)| HolidayRow { calendar_id: id.to_owned(), day: *day, name: name.clone() })
        .collect()
}

fn calendar_event(partner_id: &str, calendar_id: &str, actor: &str, now: DateTime<Utc>) -> NewEventRow {
    NewEventRow {
        partner_id: partner_id.to_owned(),
        service_request_id: None,
        kind: EventKind::CalendarChanged.as_str().into(),
        payload: json!({ "calendarId": calendar_id, "actor": actor }).to_string(),
        created_at: now.naive_utc(),
    }
}

/// A request moved onto a calendar: the row as it becomes, its history entries and events.
type Rescheduled = (ServiceRequestRow, Vec<HistoryRow>, Vec<NewEventRow>);

/// The new SLA of an open request on `calendar` (its plan recomputed: a business day may
/// have changed length), its history entries and events. `None` when nothing changes.
fn reschedule(
    row: &ServiceRequestRow,
    calendar_id: &str,
    calendar: &BusinessCalendar,
    policy: SlaPolicy,
    agent: &str,
    now: DateTime<Utc>,
) -> AppResult<Option<Rescheduled>> {
    let mut record = sla_record(row)?;
    let severity: Severity = row.severity.parse()?;
    let kind: IncidentKind = row.incident_kind.parse()?;
    let plan = sla::plan(kind, severity, &row.support_language, calendar);
    let schedule = sla::schedule(plan, calendar, record.filed_at, policy.warning_percent(severity));
    let before = record.schedule;
    let transitions = record.reschedule(schedule, now);
    let mut updated = row.clone();
    updated.calendar_id = calendar_id.to_owned();
    if record.schedule == schedule {
        updated.sla_target_minutes = plan.target.num_minutes();
    }
    store_sla(&mut updated, &record);
    if updated.calendar_id == row.calendar_id && record.schedule == before && transitions.is_empty() {
        return Ok(None);
    }
    let mut histories = Vec::new();
    let mut events = Vec::new();
    if record.schedule.due_at != before.due_at {
        histories.push(HistoryRow {
            id: uuid::Uuid::now_v7().to_string(),
            service_request_id: row.id.clone(),
            agent_id: Some(agent.to_owned()),
            kind: HistoryKind::SlaDueChanged.as_str().into(),
            from_value: Some(before.due_at.to_rfc3339()),
            to_value: Some(record.schedule.due_at.to_rfc3339()),
            created_at: now.naive_utc(),
        });
        events.push(NewEventRow {
            partner_id: row.partner_id.clone(),
            service_request_id: Some(row.id.clone()),
            kind: EventKind::SlaDueChanged.as_str().into(),
            payload: json!({ "from": before.due_at, "to": record.schedule.due_at, "calendarId": calendar_id, "actor": agent })
                .to_string(),
            created_at: now.naive_utc(),
        });
    }
    let (h, e) = sla_entries(&updated, Some(agent), &transitions, now);
    histories.extend(h);
    events.extend(e);
    Ok(Some((updated, histories, events)))
}

/// Moves the open requests `$ids` of partner `$p` onto calendar `$id` (`$calendar`), each
/// locked, rescheduled and recorded; evaluates to how many changed.
macro_rules! reschedule_requests {
    ($conn:ident, $postgres:expr, $p:expr, $ids:expr, $id:expr, $calendar:expr, $policy:expr, $agent:expr, $now:expr) => {{
        let mut changed = 0usize;
        for request_id in $ids {
            let row = load_request_for_update!($conn, $p, &request_id);
            if let Some((updated, histories, events)) = reschedule(&row, $id, $calendar, $policy, $agent, $now)? {
                diesel::update(service_requests::table.find(&row.id))
                    .set((
                        service_requests::calendar_id.eq(&updated.calendar_id),
                        service_requests::sla_target_minutes.eq(updated.sla_target_minutes),
                        service_requests::sla_due_at.eq(updated.sla_due_at),
                        service_requests::sla_at_risk_at.eq(updated.sla_at_risk_at),
                        service_requests::sla_state.eq(&updated.sla_state),
                        service_requests::version.eq(row.version + 1),
                        service_requests::updated_at.eq($now.naive_utc()),
                    ))
                    .execute($conn)
                    .await?;
                record!($conn, $postgres, histories, events);
                changed += 1;
            }
        }
        changed
    }};
}

/// The ids of the partner's requests whose clock still runs, matching `$filter`.
macro_rules! open_request_ids {
    ($conn:ident, $p:expr, $filter:expr) => {{
        let ids: Vec<String> = service_requests::table
            .filter(service_requests::partner_id.eq($p))
            .filter(service_requests::sla_stopped_at.is_null())
            .filter($filter)
            .order(service_requests::id)
            .select(service_requests::id)
            .load($conn)
            .await?;
        ids
    }};
}

/// Refuses a calendar name the partner already uses (its own calendars and the built-in ones).
macro_rules! check_name_free {
    ($conn:ident, $p:expr, $name:expr, $except:expr) => {{
        let except: Option<&str> = $except;
        let taken: Vec<String> = business_calendars::table
            .filter(business_calendars::partner_id.is_null().or(business_calendars::partner_id.eq($p)))
            .filter(business_calendars::name.eq($name))
            .select(business_calendars::id)
            .load($conn)
            .await?;
        if taken.iter().any(|id| Some(id.as_str()) != except) {
            return Err(AppError::Conflict {
                message: format!("a business calendar named \"{}\" already exists; pick another name", $name),
                current_version: None,
            });
        }
    }};
}

impl Repo {
    /// Creates one of the partner's own calendars.
    pub async fn create_calendar(
        &self,
        caller: &Caller,
        draft: &CalendarDraft,
        now: DateTime<Utc>,
    ) -> AppResult<CalendarChange> {
        require_calendar_admin(caller)?;
        let v = valid(draft)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let id = format!("cal-{}", uuid::Uuid::now_v7());
        let result = transaction!(self.db, |conn| {
            check_name_free!(conn, p, &v.name, None::<&str>);
            let row = CalendarRow {
                id: id.clone(),
                code: id.clone(),
                time_zone: v.time_zone.name().to_owned(),
                name: v.name.clone(),
                partner_id: Some(p.to_owned()),
                version: 1,
            };
            diesel::insert_into(business_calendars::table).values(&row).execute(conn).await?;
            for h in hour_rows(&id, &v) {
                diesel::insert_into(business_calendar_hours::table).values(&h).execute(conn).await?;
            }
            for h in holiday_rows(&id, &v) {
                diesel::insert_into(business_calendar_holidays::table).values(&h).execute(conn).await?;
            }
            emit!(conn, postgres, &calendar_event(p, &id, &caller.agent_id, now));
            audit!(conn, caller, AdminSubject::BusinessCalendar, &id, AdminAction::Created, calendar_detail(&v), now);
            Ok(CalendarChange { calendar_id: id.clone(), rescheduled: 0 })
        });
        self.calendar_changed(result)
    }

    /// Replaces one of the partner's calendars (name, zone, hours, holidays) and moves the
    /// due times of the open requests on it.
    pub async fn update_calendar(
        &self,
        caller: &Caller,
        id: &str,
        draft: &CalendarDraft,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> AppResult<CalendarChange> {
        require_calendar_admin(caller)?;
        let v = valid(draft)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let policy = self.sla;
        let result = transaction!(self.db, |conn| {
            let row: CalendarRow = business_calendars::table
                .find(id)
                .filter(business_calendars::partner_id.is_null().or(business_calendars::partner_id.eq(p)))
                .select(row_columns::<CalendarRow, _>())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| AppError::NotFound("no such business calendar".into()))?;
            if row.partner_id.is_none() {
                return Err(AppError::Forbidden(
                    "built-in calendars are read-only: create your own calendar (createBusinessCalendar) and assign it"
                        .into(),
                ));
            }
            if let Some(expected) = expected_version
                && expected != row.version
            {
                return Err(AppError::Conflict {
                    message: format!(
                        "the calendar changed since version {expected}: it is at version {}; reload and retry",
                        row.version
                    ),
                    current_version: Some(row.version),
                });
            }
            check_name_free!(conn, p, &v.name, Some(id));
            diesel::update(business_calendars::table.find(id))
                .set((
                    business_calendars::name.eq(&v.name),
                    business_calendars::time_zone.eq(v.time_zone.name()),
                    business_calendars::version.eq(row.version + 1),
                ))
                .execute(conn)
                .await?;
            diesel::delete(business_calendar_hours::table.filter(business_calendar_hours::calendar_id.eq(id)))
                .execute(conn)
                .await?;
            diesel::delete(business_calendar_holidays::table.filter(business_calendar_holidays::calendar_id.eq(id)))
                .execute(conn)
                .await?;
            for h in hour_rows(id, &v) {
                diesel::insert_into(business_calendar_hours::table).values(&h).execute(conn).await?;
            }
            for h in holiday_rows(id, &v) {
                diesel::insert_into(business_calendar_holidays::table).values(&h).execute(conn).await?;
            }
            let calendar = v.calendar();
            let ids = open_request_ids!(conn, p, service_requests::calendar_id.eq(id));
            let rescheduled =
                reschedule_requests!(conn, postgres, p, ids, id, &calendar, policy, caller.agent_id.as_str(), now);
            emit!(conn, postgres, &calendar_event(p, id, &caller.agent_id, now));
            audit!(conn, caller, AdminSubject::BusinessCalendar, id, AdminAction::Updated, calendar_detail(&v), now);
            Ok(CalendarChange { calendar_id: id.to_owned(), rescheduled })
        });
        self.calendar_changed(result)
    }

    /// Assigns a calendar (built-in or the partner's own) to one of the partner's customers,
    /// or with `customer_id` `None` to the partner's own tenant; the open requests of that
    /// tenant move onto it.
    pub async fn assign_calendar(
        &self,
        caller: &Caller,
        calendar_id: &str,
        customer_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<CalendarChange> {
        require_calendar_admin(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let policy = self.sla;
        let result = transaction!(self.db, |conn| {
            let exists: Option<String> = business_calendars::table
                .find(calendar_id)
                .filter(business_calendars::partner_id.is_null().or(business_calendars::partner_id.eq(p)))
                .select(business_calendars::id)
                .first(conn)
                .await
                .optional()?;
            if exists.is_none() {
                return Err(AppError::NotFound("no such business calendar".into()));
            }
            let calendar = crate::repo::mutations::load_calendar!(conn, calendar_id);
            let ids = match customer_id {
                Some(customer) => {
                    let changed = diesel::update(
                        customers::table.filter(customers::id.eq(customer)).filter(customers::partner_id.eq(p)),
                    )
                    .set(customers::calendar_id.eq(calendar_id))
                    .execute(conn)
                    .await?;
                    if changed == 0 {
                        // Not the partner's customer (or one it sees only as an indirect provider).
                        return Err(AppError::NotFound("no such customer of yours".into()));
                    }
                    open_request_ids!(conn, p, service_requests::customer_id.eq(customer))
                }
                None => {
                    diesel::update(partners::table.find(p))
                        .set(partners::calendar_id.eq(calendar_id))
                        .execute(conn)
                        .await?;
                    open_request_ids!(conn, p, service_requests::customer_id.is_null())
                }
            };
            let rescheduled = reschedule_requests!(
                conn,
                postgres,
                p,
                ids,
                calendar_id,
                &calendar,
                policy,
                caller.agent_id.as_str(),
                now
            );
            emit!(conn, postgres, &calendar_event(p, calendar_id, &caller.agent_id, now));
            let assigned = json!({ "assignedTo": customer_id.unwrap_or("partner") });
            audit!(conn, caller, AdminSubject::BusinessCalendar, calendar_id, AdminAction::Updated, assigned, now);
            Ok(CalendarChange { calendar_id: calendar_id.to_owned(), rescheduled })
        });
        self.calendar_changed(result)
    }

    /// After a committed calendar change: this process forgets the calendar at once (other
    /// replicas when they read the event) and wakes the event dispatcher.
    fn calendar_changed(&self, result: AppResult<CalendarChange>) -> AppResult<CalendarChange> {
        if let Ok(change) = &result {
            self.db.calendars.forget(&change.calendar_id);
            if let Some(bus) = &self.events {
                bus.wake();
            }
        }
        result
    }
}
