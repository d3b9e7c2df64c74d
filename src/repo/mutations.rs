//! Writes: filing and working service requests, and granting Azure access. Each is one
//! transaction that changes the request, appends its history and writes its event, or
//! changes nothing at all.

use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::Repo;
use crate::auth::Caller;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::model::*;
use crate::domain::policy;
use crate::domain::sla::{self, BusinessCalendar, SlaRecord};
use crate::domain::workflow;
use crate::error::{AppError, AppResult};
use crate::transaction;

/// A new row id: UUIDv7, so rows written in one instant (the clock may stand still, and one
/// transaction stamps all its rows alike) still sort in the order they were written.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A validated `createServiceRequest` input, with raw ids.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewRequest {
    /// `None`: the partner's own tenant.
    pub customer_id: Option<String>,
    #[serde(serialize_with = "as_text")]
    pub product_family: ProductFamily,
    pub subscription_id: Option<String>,
    pub marketplace_product_id: Option<String>,
    #[serde(serialize_with = "as_text")]
    pub incident_kind: IncidentKind,
    #[serde(serialize_with = "as_text")]
    pub business_impact: BusinessImpact,
    pub title: String,
    pub description: String,
    pub support_topic_id: Option<String>,
    /// `None`: the filing agent's (R7).
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub support_language: String,
    #[serde(serialize_with = "as_debug")]
    pub channel: policy::FilingChannel,
    #[serde(skip)]
    pub entitlement: Option<policy::EntitlementClaim>,
    pub entitlement_text: Option<(String, Option<String>)>,
}

fn as_text<S: serde::Serializer, T: std::fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn as_debug<S: serde::Serializer, T: std::fmt::Debug>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:?}"))
}

impl NewRequest {
    /// What the filing rules are asked about.
    pub fn draft(&self) -> crate::repo::filing::Draft {
        crate::repo::filing::Draft {
            customer_id: self.customer_id.clone(),
            product_family: self.product_family,
            subscription_id: self.subscription_id.clone(),
            marketplace_product_id: self.marketplace_product_id.clone(),
            incident_kind: self.incident_kind,
            business_impact: self.business_impact,
            support_topic_id: self.support_topic_id.clone(),
            contact_email: self.contact_email.clone(),
            channel: self.channel,
            entitlement: self.entitlement.clone(),
        }
    }

    /// A stable fingerprint of every field of the input (SHA-256 of its canonical JSON form),
    /// to tell a retry from another request reusing a key. The entitlement is in it through
    /// `entitlement_text`, the claim as the caller wrote it.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        crate::graphql::documents::sha256_hex(&text)
    }
}

/// What `createServiceRequest` did.
pub enum Created {
    New(ServiceRequestRow),
    /// A retry with the same idempotency key: the first result, nothing created.
    Replayed(ServiceRequestRow),
}

pub(crate) fn event(
    partner_id: &str,
    request_id: Option<&str>,
    kind: EventKind,
    payload: serde_json::Value,
    at: DateTime<Utc>,
) -> NewEventRow {
    NewEventRow {
        partner_id: partner_id.to_owned(),
        service_request_id: request_id.map(str::to_owned),
        kind: kind.as_str().to_owned(),
        payload: payload.to_string(),
        created_at: at.naive_utc(),
    }
}

pub(crate) fn history(
    request_id: &str,
    agent: Option<&str>,
    kind: HistoryKind,
    from: Option<String>,
    to: Option<String>,
    at: DateTime<Utc>,
) -> HistoryRow {
    HistoryRow {
        id: new_id(),
        service_request_id: request_id.to_owned(),
        agent_id: agent.map(str::to_owned),
        kind: kind.as_str().to_owned(),
        from_value: from,
        to_value: to,
        created_at: at.naive_utc(),
    }
}

/// The SLA record of a stored request (S4), from which its state, remaining time and every
/// change are derived (`domain::sla::SlaRecord`).
pub fn sla_record(row: &ServiceRequestRow) -> AppResult<SlaRecord> {
    Ok(SlaRecord {
        clock: row.sla_clock.parse()?,
        filed_at: row.created_at.and_utc(),
        schedule: sla::SlaSchedule { due_at: row.sla_due_at.and_utc(), at_risk_at: row.sla_at_risk_at.and_utc() },
        recorded: row.sla_state.parse()?,
        first_response_at: row.first_response_at.map(|t| t.and_utc()),
        stopped_at: row.sla_stopped_at.map(|t| t.and_utc()),
    })
}

/// What a request's SLA shows at one instant: the same for a query and a countdown tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaView {
    pub state: SlaState,
    /// Clock seconds left (working seconds on a business-hours clock); negative once overdue.
    pub remaining_seconds: i32,
}

/// The SLA of a stored request at `now`. `calendar` is the request's calendar; it is needed
/// only for a business-hours clock counting time still ahead of the due time.
pub fn sla_view(
    row: &ServiceRequestRow,
    calendar: Option<&BusinessCalendar>,
    now: DateTime<Utc>,
) -> AppResult<SlaView> {
    static ALWAYS_OPEN: std::sync::LazyLock<BusinessCalendar> = std::sync::LazyLock::new(BusinessCalendar::always_open);
    let record = sla_record(row)?;
    let left = record.remaining_at(calendar.unwrap_or(&ALWAYS_OPEN), now);
    Ok(SlaView {
        state: record.state_at(now),
        remaining_seconds: left.num_seconds().clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32,
    })
}

/// Whether [`sla_view`] needs the request's calendar at `now`.
pub fn sla_view_needs_calendar(row: &ServiceRequestRow, now: DateTime<Utc>) -> bool {
    row.sla_clock == SlaClock::BusinessHours.as_str()
        && row.sla_stopped_at.map_or(now, |t| t.and_utc()) < row.sla_due_at.and_utc()
}

/// Copies a record's fields back onto the row.
pub(crate) fn store_sla(row: &mut ServiceRequestRow, r: &SlaRecord) {
    row.sla_clock = r.clock.as_str().into();
    row.sla_due_at = r.schedule.due_at.naive_utc();
    row.sla_at_risk_at = r.schedule.at_risk_at.naive_utc();
    row.sla_state = r.recorded.as_str().into();
    row.first_response_at = r.first_response_at.map(|t| t.naive_utc());
    row.sla_stopped_at = r.stopped_at.map(|t| t.naive_utc());
}

/// One history entry and one event per SLA state change, each at the instant it happened.
/// `agent` is the agent whose change caused them; `None` for the clock.
pub(crate) fn sla_entries(
    row: &ServiceRequestRow,
    agent: Option<&str>,
    transitions: &[sla::Transition],
    now: DateTime<Utc>,
) -> (Vec<HistoryRow>, Vec<NewEventRow>) {
    let mut histories = Vec::new();
    let mut events = Vec::new();
    for t in transitions {
        histories.push(history(
            &row.id,
            agent,
            HistoryKind::SlaStateChanged,
            Some(t.from.as_str().into()),
            Some(t.to.as_str().into()),
            t.at,
        ));
        events.push(event(
            &row.partner_id,
            Some(&row.id),
            EventKind::SlaStateChanged,
            json!({ "from": t.from.as_str(), "to": t.to.as_str(), "at": t.at, "slaDueAt": row.sla_due_at.and_utc(), "actor": agent }),
            now,
        ));
    }
    (histories, events)
}

/// Refuses read-only roles before any work (Who may do what).
fn require_worker(caller: &Caller) -> AppResult<()> {
    workflow::may_work_requests(caller.role).map_err(|r| AppError::PolicyRefused(vec![*r]))
}

/// Refuses a change to the SLA of a resolved or closed request (S4).
fn require_running_request(row: &ServiceRequestRow, what: &str) -> AppResult<()> {
    let status: RequestStatus = row.status.parse()?;
    if sla::accepts_sla_changes(status) {
        return Ok(());
    }
    Err(AppError::InvalidTransition {
        message: format!("a {status} request's SLA clock has stopped: {what} is no longer accepted; reopen it first"),
        allowed: workflow::allowed_transitions(status).iter().map(|s| s.as_str().to_owned()).collect(),
    })
}

fn check_version(row: &ServiceRequestRow, expected: Option<i64>) -> AppResult<()> {
    match expected {
        Some(v) if v != row.version => Err(AppError::Conflict {
            message: format!(
                "the service request changed since version {v}: it is at version {}; reload and retry",
                row.version
            ),
            current_version: Some(row.version),
        }),
        _ => Ok(()),
    }
}

/// Writes an event row and, on PostgreSQL, announces its id on the events channel; the
/// NOTIFY is transactional, so listeners hear of it only once the transaction commits.
macro_rules! emit {
    ($conn:ident, $postgres:expr, $event:expr) => {{
        use crate::db::schema::events;
        let id: i64 = diesel::insert_into(events::table).values($event).returning(events::id).get_result($conn).await?;
        if $postgres {
            diesel::sql_query(format!("NOTIFY {}, '{id}'", crate::events::CHANNEL)).execute($conn).await?;
        }
    }};
}
/// Shared with the SLA watcher, which emits its events the same way.
pub(crate) use emit;

/// The business calendar `$id`, with its hours and holidays, inside the transaction.
macro_rules! load_calendar {
    ($conn:ident, $id:expr) => {{
        let id: &str = $id;
        let row: CalendarRow = business_calendars::table.find(id).select(CalendarRow::as_select()).first($conn).await?;
        let hours = business_calendar_hours::table
            .filter(business_calendar_hours::calendar_id.eq(id))
            .select(CalendarHoursRow::as_select())
            .load($conn)
            .await?;
        let holidays = business_calendar_holidays::table
            .filter(business_calendar_holidays::calendar_id.eq(id))
            .select(HolidayRow::as_select())
            .load($conn)
            .await?;
        $crate::repo::loaders::calendar_data(row, hours, holidays)?.calendar
    }};
}
pub(crate) use load_calendar;

/// Appends history entries and emits events of one change.
macro_rules! record {
    ($conn:ident, $postgres:expr, $histories:expr, $events:expr) => {{
        for h in &$histories {
            diesel::insert_into(service_request_history::table).values(h).execute($conn).await?;
        }
        for e in &$events {
            emit!($conn, $postgres, e);
        }
    }};
}
pub(crate) use record;

/// Shared with the SLA watcher and calendar changes.
macro_rules! load_request_for_update {
    ($conn:ident, $partner:expr, $id:expr) => {
        LockingLoad::load_request_locked($conn, $partner, $id)
            .await?
            .ok_or_else(|| AppError::NotFound("no such service request".into()))?
    };
}
pub(crate) use load_request_for_update;

/// Loads a request of the partner inside a transaction and keeps others from changing it until
/// the transaction ends, so that concurrent writers (two notes at once) take turns instead of
/// one of them failing with `CONFLICT`. PostgreSQL locks the row (`FOR UPDATE`); SQLite's
/// write transactions are already exclusive (`BEGIN IMMEDIATE`).
pub(crate) trait LockingLoad {
    async fn load_request_locked(&mut self, partner: &str, id: &str) -> AppResult<Option<ServiceRequestRow>>;
}

#[cfg(feature = "postgres")]
impl LockingLoad for crate::db::PgConn {
    async fn load_request_locked(&mut self, partner: &str, id: &str) -> AppResult<Option<ServiceRequestRow>> {
        Ok(service_requests::table
            .filter(service_requests::id.eq(id))
            .filter(service_requests::partner_id.eq(partner))
            .select(ServiceRequestRow::as_select())
            .for_update()
            .first(self)
            .await
            .optional()?)
    }
}

#[cfg(feature = "sqlite")]
impl LockingLoad for crate::db::SqliteConn {
    async fn load_request_locked(&mut self, partner: &str, id: &str) -> AppResult<Option<ServiceRequestRow>> {
        Ok(service_requests::table
            .filter(service_requests::id.eq(id))
            .filter(service_requests::partner_id.eq(partner))
            .select(ServiceRequestRow::as_select())
            .first(self)
            .await
            .optional()?)
    }
}

/// Bumps the version of a request read at `version`, failing if anyone bumped it meanwhile.
macro_rules! bump_version {
    ($conn:ident, $row:expr, $now:expr) => {{
        let changed = diesel::update(
            service_requests::table
                .filter(service_requests::id.eq(&$row.id))
                .filter(service_requests::version.eq($row.version)),
        )
        .set((service_requests::version.eq($row.version + 1), service_requests::updated_at.eq($now.naive_utc())))
        .execute($conn)
        .await?;
        if changed != 1 {
            return Err(AppError::Conflict {
                message: "the service request changed meanwhile; reload and retry".into(),
                current_version: None,
            });
        }
    }};
}

/// Writes the SLA fields of `$row` (the record after a change).
macro_rules! write_sla {
    ($conn:ident, $row:expr) => {{
        let r: &ServiceRequestRow = &$row;
        diesel::update(service_requests::table.find(&r.id))
            .set((
                service_requests::sla_clock.eq(&r.sla_clock),
                service_requests::sla_target_minutes.eq(r.sla_target_minutes),
                service_requests::sla_due_at.eq(r.sla_due_at),
                service_requests::sla_at_risk_at.eq(r.sla_at_risk_at),
                service_requests::sla_state.eq(&r.sla_state),
                service_requests::sla_stopped_at.eq(r.sla_stopped_at),
                service_requests::first_response_at.eq(r.first_response_at),
                service_requests::first_response_source.eq(&r.first_response_source),
                service_requests::first_response_entered_at.eq(r.first_response_entered_at),
                service_requests::first_response_agent_id.eq(&r.first_response_agent_id),
            ))
            .execute($conn)
            .await?;
    }};
}
pub(crate) use write_sla;

/// An outbox entry due now: filing `request_id` at Microsoft, or with `note_id` adding that note
/// to its ticket. Its key goes out as MS-RequestId on every attempt.
fn outbox_entry(partner_id: &str, request_id: &str, note_id: Option<&str>, now: DateTime<Utc>) -> OutboxRow {
    OutboxRow {
        id: new_id(),
        partner_id: partner_id.to_owned(),
        service_request_id: request_id.to_owned(),
        kind: if note_id.is_some() { "NOTE" } else { "FILE" }.into(),
        request_key: uuid::Uuid::new_v4().to_string(),
        state: "PENDING".into(),
        attempts: 0,
        next_attempt_at: now.naive_utc(),
        last_error: None,
        created_at: now.naive_utc(),
        done_at: None,
        note_id: note_id.map(str::to_owned),
    }
}

impl Repo {
    /// Passes a transaction's result on; once it committed, wakes this process's event
    /// dispatcher so local subscribers hear of it at once.
    fn committed<T>(&self, result: AppResult<T>) -> AppResult<T> {
        if result.is_ok()
            && let Some(bus) = &self.events
        {
            bus.wake();
        }
        result
    }

    /// Files a service request (R1–R15, S1–S5) in one transaction, or replays an earlier
    /// result for the same idempotency key.
    pub async fn create_request(
        &self,
        caller: &Caller,
        input: &NewRequest,
        idempotency_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> AppResult<Created> {
        require_worker(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let fingerprint = input.fingerprint();
        let result = transaction!(self.db, |conn| {
            if let Some(key) = idempotency_key {
                let earlier: Option<IdempotencyKeyRow> = idempotency_keys::table
                    .filter(idempotency_keys::partner_id.eq(p))
                    .filter(idempotency_keys::key.eq(key))
                    .select(IdempotencyKeyRow::as_select())
                    .first(conn)
                    .await
                    .optional()?;
                if let Some(earlier) = earlier {
                    if earlier.request_hash != fingerprint {
                        return Err(AppError::Conflict {
                            message: "this idempotency key was used for a different request; use a new key".into(),
                            current_version: None,
                        });
                    }
                    let row = service_requests::table
                        .find(&earlier.service_request_id)
                        .select(ServiceRequestRow::as_select())
                        .first(conn)
                        .await?;
                    return Ok(Created::Replayed(row));
                }
            }

            let facts = crate::gather_facts!(conn, p, caller, &input.draft());
            let decision = facts.decide(false);
            if !decision.accepted() {
                return Err(AppError::PolicyRefused(decision.refusals));
            }
            let filing = decision.filing;
            let calendar_id = facts
                .calendar_id()
                .ok_or_else(|| {
                    AppError::bad_input(
                        "your partner has no business calendar for its own tenant; an admin assigns one with \
                         assignBusinessCalendar",
                    )
                })?
                .to_owned();
            let (contact_name, contact_email) = match (&input.contact_name, &input.contact_email) {
                (Some(name), Some(email)) => (name.clone(), email.clone()),
                (name, _) => {
                    let agent: AgentRow =
                        agents::table.find(&caller.agent_id).select(AgentRow::as_select()).first(conn).await?;
                    (name.clone().unwrap_or(agent.display_name), agent.email)
                }
            };
            let (customer, subscription, topic) = (facts.customer, facts.subscription, facts.topic);
            let (Some(support_plan), Some(fee_coverage)) = (filing.support_plan, filing.fee_coverage) else {
                return Err(AppError::internal("an accepted filing has a plan and a fee coverage"));
            };

            let calendar: BusinessCalendar = load_calendar!(conn, &calendar_id);
            let plan = sla::plan(input.incident_kind, filing.severity, &input.support_language, &calendar);
            let record = SlaRecord::file(plan, &calendar, now, self.sla.warning_percent(filing.severity));
            let schedule = record.schedule;

            let row = ServiceRequestRow {
                id: new_id(),
                partner_id: p.to_owned(),
                customer_id: customer.as_ref().map(|c| c.id.clone()),
                subscription_id: subscription.as_ref().map(|s| s.id.clone()),
                product_family: input.product_family.as_str().into(),
                incident_kind: input.incident_kind.as_str().into(),
                business_impact: input.business_impact.as_str().into(),
                severity: filing.severity.as_str().into(),
                title: input.title.clone(),
                description: input.description.clone(),
                support_topic_id: topic.as_ref().map(|t| t.id.clone()),
                support_plan: support_plan.as_str().into(),
                entitlement_ref: filing.entitlement_ref.clone(),
                fee_coverage: fee_coverage.as_str().into(),
                route: filing.route.as_str().into(),
                portal_url: filing.portal_url.clone(),
                contact_name,
                contact_email,
                contact_phone: input.contact_phone.clone(),
                support_language: input.support_language.clone(),
                status: RequestStatus::New.as_str().into(),
                calendar_id: calendar_id.clone(),
                sla_clock: plan.clock.as_str().into(),
                sla_target_minutes: plan.target.num_minutes(),
                sla_due_at: schedule.due_at.naive_utc(),
                sla_at_risk_at: schedule.at_risk_at.naive_utc(),
                first_response_at: None,
                created_by_agent_id: caller.agent_id.clone(),
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
                closed_at: None,
                version: 1,
                sla_state: record.recorded.as_str().into(),
                sla_stopped_at: None,
                first_response_source: None,
                first_response_entered_at: None,
                first_response_agent_id: None,
                source: "LOCAL".into(),
                upstream_id: None,
                synced_at: None,
                upstream_state: self.outbound(input.product_family).then(|| "PENDING".to_owned()),
                upstream_error: None,
            };
            diesel::insert_into(service_requests::table).values(&row).execute(conn).await?;
            if row.upstream_state.is_some() {
                // Filed at Microsoft by the outbox worker once this commits (crate::outbox).
                let entry = outbox_entry(p, &row.id, None, now);
                diesel::insert_into(upstream_outbox::table).values(&entry).execute(conn).await?;
            }
            let h = history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::Created,
                None,
                Some(RequestStatus::New.as_str().into()),
                now,
            );
            diesel::insert_into(service_request_history::table).values(&h).execute(conn).await?;
            let e = event(
                p,
                Some(&row.id),
                EventKind::Created,
                json!({ "status": row.status, "severity": row.severity, "slaDueAt": schedule.due_at, "actor": caller.agent_id }),
                now,
            );
            emit!(conn, postgres, &e);
            if let Some(key) = idempotency_key {
                let k = IdempotencyKeyRow {
                    partner_id: p.to_owned(),
                    key: key.to_owned(),
                    request_hash: fingerprint.clone(),
                    service_request_id: row.id.clone(),
                    created_at: now.naive_utc(),
                };
                diesel::insert_into(idempotency_keys::table).values(&k).execute(conn).await?;
            }
            Ok(Created::New(row))
        });
        self.committed(result)
    }

    /// Appends a partner note (notes are never edited or removed).
    pub async fn add_note(
        &self,
        caller: &Caller,
        request_id: &str,
        body: &str,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> AppResult<AddedNote> {
        require_worker(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, expected_version)?;
            let note = NoteRow {
                id: new_id(),
                service_request_id: row.id.clone(),
                author_kind: NoteAuthorKind::Partner.as_str().into(),
                agent_id: Some(caller.agent_id.clone()),
                body: body.to_owned(),
                created_at: now.naive_utc(),
                upstream_key: None,
            };
            diesel::insert_into(service_request_notes::table).values(&note).execute(conn).await?;
            if self.outbound && crate::domain::upstream::notes_go_upstream(&row.source, row.upstream_state.as_deref()) {
                // Sent to Microsoft by the outbox worker once this commits (crate::outbox).
                let entry = outbox_entry(p, &row.id, Some(&note.id), now);
                diesel::insert_into(upstream_outbox::table).values(&entry).execute(conn).await?;
            }
            bump_version!(conn, row, now);
            let h = history(&row.id, Some(&caller.agent_id), HistoryKind::NoteAdded, None, Some(note.id.clone()), now);
            let e = event(
                p,
                Some(&row.id),
                EventKind::NoteAdded,
                json!({ "noteId": note.id, "actor": caller.agent_id }),
                now,
            );
            record!(conn, postgres, [h], [e]);
            // Its place in the request's notes (oldest first): the cursor of its edge.
            let t = note.created_at;
            let before: i64 = service_request_notes::table
                .filter(service_request_notes::service_request_id.eq(&row.id))
                .filter(
                    service_request_notes::created_at
                        .lt(t)
                        .or(service_request_notes::created_at.eq(t).and(service_request_notes::id.lt(&note.id))),
                )
                .count()
                .get_result(conn)
                .await?;
            let request =
                service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?;
            Ok(AddedNote { request, note, position: before as usize })
        });
        self.committed(result)
    }

    /// Moves a request along its state machine; an illegal move lists the allowed ones.
    pub async fn change_status(
        &self,
        caller: &Caller,
        request_id: &str,
        to: RequestStatus,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> AppResult<ServiceRequestRow> {
        require_worker(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, Some(expected_version))?;
            let from: RequestStatus = row.status.parse()?;
            if let Err(message) = workflow::check_transition(from, to) {
                return Err(AppError::InvalidTransition {
                    message,
                    allowed: workflow::allowed_transitions(from).iter().map(|s| s.as_str().to_owned()).collect(),
                });
            }
            bump_version!(conn, row, now);
            let closed_at = (to == RequestStatus::Closed).then(|| now.naive_utc());
            diesel::update(service_requests::table.find(&row.id))
                .set((service_requests::status.eq(to.as_str()), service_requests::closed_at.eq(closed_at)))
                .execute(conn)
                .await?;
            let mut histories = vec![history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::StatusChanged,
                Some(from.as_str().into()),
                Some(to.as_str().into()),
                now,
            )];
            let mut evs = vec![event(
                p,
                Some(&row.id),
                EventKind::StatusChanged,
                json!({ "from": from.as_str(), "to": to.as_str(), "actor": caller.agent_id }),
                now,
            )];
            // S4: resolving or closing stops the initial-response clock for good.
            let mut record = sla_record(&row)?;
            let transitions = if to.is_open() { record.catch_up(now) } else { record.stop(now) };
            let mut updated = row.clone();
            store_sla(&mut updated, &record);
            if updated.sla_state != row.sla_state || updated.sla_stopped_at != row.sla_stopped_at {
                write_sla!(conn, updated);
            }
            let (h, e) = sla_entries(&updated, Some(&caller.agent_id), &transitions, now);
            histories.extend(h);
            evs.extend(e);
            record!(conn, postgres, histories, evs);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }

    /// Changes the severity; while the initial-response clock runs the due time is recomputed
    /// from the filing instant (S1–S3) and a resulting SLA state change is recorded. A final
    /// SLA state (met, breached, stopped) is never rewritten (S4).
    pub async fn change_severity(
        &self,
        caller: &Caller,
        request_id: &str,
        severity: Severity,
        expected_version: i64,
        now: DateTime<Utc>,
    ) -> AppResult<ServiceRequestRow> {
        require_worker(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let warning = self.sla.warning_percent(severity);
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, Some(expected_version))?;
            require_running_request(&row, "a severity change")?;
            let from: Severity = row.severity.parse()?;
            if from == severity {
                return Ok(row);
            }
            bump_version!(conn, row, now);
            let mut record = sla_record(&row)?;
            let calendar = load_calendar!(conn, &row.calendar_id);
            let kind: IncidentKind = row.incident_kind.parse()?;
            let plan = sla::plan(kind, severity, &row.support_language, &calendar);
            let schedule = sla::schedule(plan, &calendar, record.filed_at, warning);
            let transitions = record.reschedule(schedule, now);
            let mut updated = row.clone();
            updated.severity = severity.as_str().into();
            if record.schedule == schedule {
                updated.sla_target_minutes = plan.target.num_minutes();
            }
            store_sla(&mut updated, &record);
            diesel::update(service_requests::table.find(&row.id))
                .set(service_requests::severity.eq(&updated.severity))
                .execute(conn)
                .await?;
            write_sla!(conn, updated);
            let mut histories = vec![history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::SeverityChanged,
                Some(from.as_str().into()),
                Some(severity.as_str().into()),
                now,
            )];
            let mut evs = vec![event(
                p,
                Some(&row.id),
                EventKind::SeverityChanged,
                json!({ "from": from.as_str(), "to": severity.as_str(), "slaDueAt": updated.sla_due_at.and_utc(), "actor": caller.agent_id }),
                now,
            )];
            let (h, e) = sla_entries(&updated, Some(&caller.agent_id), &transitions, now);
            histories.extend(h);
            evs.extend(e);
            record!(conn, postgres, histories, evs);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }

    /// Records support's first response, claimed at `responded_at` (default: now): the
    /// initial-response clock stops; the SLA is `MET` if the response is entered by the due
    /// time and stays `BREACHED` otherwise, whatever time it claims (S4). Entered by hand
    /// (`MANUAL`) by an admin, or read from Microsoft's record (`MICROSOFT`).
    pub async fn record_response(
        &self,
        caller: &Caller,
        request_id: &str,
        responded_at: Option<DateTime<Utc>>,
        source: ResponseSource,
        note: Option<&str>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> AppResult<ServiceRequestRow> {
        require_worker(caller)?;
        if source == ResponseSource::Manual {
            workflow::may_record_support_response(caller.role).map_err(|r| AppError::PolicyRefused(vec![*r]))?;
        }
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let at = responded_at.unwrap_or(now);
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, expected_version)?;
            require_running_request(&row, "support's response")?;
            let mut record = sla_record(&row)?;
            let transitions = match record.respond(at, now) {
                Ok(t) => t,
                Err(sla::SlaRefusal::AlreadyResponded) => {
                    return Err(AppError::Conflict {
                        message: "support's first response is already recorded".into(),
                        current_version: Some(row.version),
                    });
                }
                Err(refusal) => return Err(AppError::bad_input(refusal.to_string())),
            };
            bump_version!(conn, row, now);
            let mut updated = row.clone();
            store_sla(&mut updated, &record);
            updated.first_response_source = Some(source.as_str().into());
            updated.first_response_entered_at = Some(now.naive_utc());
            updated.first_response_agent_id = Some(caller.agent_id.clone());
            write_sla!(conn, updated);
            if let Some(body) = note {
                let n = NoteRow {
                    id: new_id(),
                    service_request_id: row.id.clone(),
                    author_kind: NoteAuthorKind::Support.as_str().into(),
                    agent_id: None,
                    body: body.to_owned(),
                    created_at: now.naive_utc(),
                    upstream_key: None,
                };
                diesel::insert_into(service_request_notes::table).values(&n).execute(conn).await?;
            }
            // Who entered it, when, and the time it claims (kept even when it changes nothing).
            let mut histories = vec![history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::SupportResponded,
                Some(source.as_str().into()),
                Some(at.to_rfc3339()),
                now,
            )];
            let mut evs = vec![event(
                p,
                Some(&row.id),
                EventKind::SupportResponded,
                json!({ "respondedAt": at, "source": source.as_str(), "actor": caller.agent_id }),
                now,
            )];
            let (h, e) = sla_entries(&updated, Some(&caller.agent_id), &transitions, now);
            histories.extend(h);
            evs.extend(e);
            record!(conn, postgres, histories, evs);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }

    /// An indirect provider's admin grants or revokes its reseller's access to a customer's
    /// Azure account (R4).
    pub async fn set_azure_access(
        &self,
        caller: &Caller,
        customer_id: &str,
        granted: bool,
        now: DateTime<Utc>,
    ) -> AppResult<CustomerRow> {
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let result = transaction!(self.db, |conn| {
            let customer: CustomerRow = customers::table
                .filter(customers::id.eq(customer_id))
                .filter(customers::partner_id.eq(p).or(customers::provider_id.eq(p)))
                .select(CustomerRow::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| AppError::NotFound("no such customer".into()))?;
            if let Err(refusal) =
                workflow::may_grant_azure_access(caller.role, customer.provider_id.as_deref() == Some(p))
            {
                return Err(AppError::Forbidden(format!("{}; {}", refusal.message, refusal.help)));
            }
            if customer.azure_access_granted == granted {
                return Ok(customer);
            }
            diesel::update(customers::table.find(&customer.id))
                .set(customers::azure_access_granted.eq(granted))
                .execute(conn)
                .await?;
            let kind = if granted { EventKind::AzureAccessGranted } else { EventKind::AzureAccessRevoked };
            // Both the provider and the reseller hear of it.
            for partner in [p, customer.partner_id.as_str()] {
                let e = event(partner, None, kind, json!({ "customerId": customer.id, "actor": caller.agent_id }), now);
                emit!(conn, postgres, &e);
            }
            Ok(customers::table.find(&customer.id).select(CustomerRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }
}

/// A note just added: the request after it, the note, and its place among the request's notes.
#[derive(Debug)]
pub struct AddedNote {
    pub request: ServiceRequestRow,
    pub note: NoteRow,
    pub position: usize,
}
