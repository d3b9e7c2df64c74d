//! Writes: filing and working service requests, and granting Azure access. Each is one
//! transaction that changes the request, appends its history and writes its event, or
//! changes nothing at all.

use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::Repo;
use super::loaders::calendar_data;
use crate::auth::Caller;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::model::*;
use crate::domain::policy::{
    self, CallerFacts, CustomerFacts, FilingRequest, MarketplaceProductFacts, SubscriptionFacts, Tenant,
};
use crate::domain::sla::{self, BusinessCalendar};
use crate::error::{AppError, AppResult};
use crate::transaction;

/// A new row id: UUIDv7, so rows written in one instant (the clock may stand still, and one
/// transaction stamps all its rows alike) still sort in the order they were written.
fn new_id() -> String {
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
    pub contact_name: String,
    pub contact_email: String,
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

/// The facts the policy needs about the caller's partner.
pub(crate) fn caller_facts(caller: &Caller, partner: &PartnerRow) -> AppResult<CallerFacts> {
    Ok(CallerFacts {
        role: caller.role,
        partner_kind: caller.partner_kind,
        partner_cloud: partner.cloud.parse()?,
        agreements: policy::Agreements {
            asfp: partner.has_asfp,
            premier: partner.has_premier,
            azure_support_plan: partner.has_azure_support_plan,
            signature_cloud_support: partner.has_signature_cloud_support,
            mpn_contract_id: partner.mpn_contract_id.clone(),
        },
    })
}

pub(crate) fn customer_facts(
    customer: &CustomerRow,
    domains: Vec<String>,
    partner_id: &str,
) -> AppResult<CustomerFacts> {
    Ok(CustomerFacts {
        relationship: customer.relationship.parse()?,
        delegated_admin: customer.delegated_admin,
        azure_access_granted: customer.azure_access_granted,
        primary_domain: customer.primary_domain.clone(),
        domains,
        cloud: customer.cloud.parse()?,
        read_only: customer.partner_id != partner_id,
    })
}

fn event(
    partner_id: &str,
    request_id: Option<&str>,
    kind: &str,
    payload: serde_json::Value,
    at: DateTime<Utc>,
) -> NewEventRow {
    NewEventRow {
        partner_id: partner_id.to_owned(),
        service_request_id: request_id.map(str::to_owned),
        kind: kind.to_owned(),
        payload: payload.to_string(),
        created_at: at.naive_utc(),
    }
}

fn history(
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

/// The SLA state of a stored request at `now`.
pub fn sla_state_of(row: &ServiceRequestRow, now: DateTime<Utc>) -> SlaState {
    let schedule = sla::SlaSchedule { due_at: row.sla_due_at.and_utc(), at_risk_at: row.sla_at_risk_at.and_utc() };
    sla::state(schedule, row.first_response_at.map(|t| t.and_utc()), now)
}

/// The allowed status transitions: NEW → OPEN → IN_PROGRESS ⇄ WAITING_ON_PARTNER → RESOLVED
/// → CLOSED, a resolved request can be reopened, and a new or open one withdrawn (closed).
pub fn allowed_transitions(from: RequestStatus) -> &'static [RequestStatus] {
    use RequestStatus::*;
    match from {
        New => &[Open, Closed],
        Open => &[InProgress, WaitingOnPartner, Resolved, Closed],
        InProgress => &[WaitingOnPartner, Resolved],
        WaitingOnPartner => &[InProgress, Resolved],
        Resolved => &[Closed, Open],
        Closed => &[],
    }
}

/// Refuses read-only roles before any work (Who may do what).
fn require_worker(caller: &Caller) -> AppResult<()> {
    if caller.role.can_work_requests() {
        Ok(())
    } else {
        Err(AppError::PolicyRefused(vec![policy::Refusal::access(
            format!("a {} can read service requests but not change them", caller.role),
            "ask an admin agent, a helpdesk agent or a global admin of your partner",
        )]))
    }
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
        calendar_data(row, hours, holidays)?.calendar
    }};
}

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

macro_rules! load_request_for_update {
    ($conn:ident, $partner:expr, $id:expr) => {
        LockingLoad::load_request_locked($conn, $partner, $id)
            .await?
            .ok_or_else(|| AppError::NotFound("no such service request".into()))?
    };
}

/// Loads a request of the partner inside a transaction and keeps others from changing it until
/// the transaction ends, so that concurrent writers (two notes at once) take turns instead of
/// one of them failing with `CONFLICT`. PostgreSQL locks the row (`FOR UPDATE`); SQLite's
/// write transactions are already exclusive (`BEGIN IMMEDIATE`).
trait LockingLoad {
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

            let partner: PartnerRow = partners::table.find(p).select(PartnerRow::as_select()).first(conn).await?;
            let (tenant, customer, calendar_id) = match &input.customer_id {
                Some(id) => {
                    let customer: CustomerRow = customers::table
                        .filter(customers::id.eq(id))
                        .filter(customers::partner_id.eq(p).or(customers::provider_id.eq(p)))
                        .select(CustomerRow::as_select())
                        .first(conn)
                        .await
                        .optional()?
                        .ok_or_else(|| AppError::NotFound("no such customer".into()))?;
                    let domains: Vec<String> = customer_domains::table
                        .filter(customer_domains::customer_id.eq(id))
                        .select(customer_domains::domain)
                        .load(conn)
                        .await?;
                    let facts = customer_facts(&customer, domains, p)?;
                    let calendar_id = customer.calendar_id.clone();
                    (Tenant::Customer(facts), Some(customer), calendar_id)
                }
                // The partner's own tenant runs on the partner's home calendar (US Eastern).
                None => (Tenant::PartnerOwn, None, "cal-us-east".to_owned()),
            };
            let subscription = match &input.subscription_id {
                Some(id) => {
                    let s: SubscriptionRow = subscriptions::table
                        .filter(subscriptions::id.eq(id))
                        .filter(subscriptions::partner_id.eq(p).or(subscriptions::provider_id.eq(p)))
                        .select(SubscriptionRow::as_select())
                        .first(conn)
                        .await
                        .optional()?
                        .ok_or_else(|| AppError::NotFound("no such subscription".into()))?;
                    if s.customer_id != input.customer_id || (s.customer_id.is_none() && s.partner_id != p) {
                        return Err(AppError::bad_input(match &input.customer_id {
                            Some(_) => "the subscription is not one of this customer's",
                            None => "the subscription is not one of your partner's own",
                        }));
                    }
                    if s.product_family != input.product_family.as_str() {
                        return Err(AppError::bad_input(format!(
                            "the subscription is a {} subscription, not {}",
                            s.product_family, input.product_family
                        )));
                    }
                    Some(s)
                }
                None => None,
            };
            let product = match &input.marketplace_product_id {
                Some(id) => Some(
                    marketplace_products::table
                        .find(id)
                        .select(MarketplaceProductRow::as_select())
                        .first(conn)
                        .await
                        .optional()?
                        .ok_or_else(|| AppError::NotFound("no such marketplace product".into()))?,
                ),
                None => None,
            };
            let topic = match &input.support_topic_id {
                Some(id) => Some(
                    support_topics::table
                        .find(id)
                        .select(SupportTopicRow::as_select())
                        .first(conn)
                        .await
                        .optional()?
                        .ok_or_else(|| AppError::NotFound("no such support topic".into()))?,
                ),
                None => None,
            };

            let filing_request = FilingRequest {
                product_family: input.product_family,
                incident_kind: input.incident_kind,
                business_impact: input.business_impact,
                subscription: subscription
                    .as_ref()
                    .map(|s| {
                        Ok::<_, AppError>(SubscriptionFacts {
                            product_family: s.product_family.parse()?,
                            is_trial: s.is_trial,
                        })
                    })
                    .transpose()?,
                marketplace_product: product.as_ref().map(|m| MarketplaceProductFacts {
                    name: m.name.clone(),
                    publisher: m.publisher_name.clone(),
                    website_url: m.support_url.clone(),
                    email: m.support_email.clone(),
                    phone: m.support_phone.clone(),
                }),
                support_topic_family: topic.as_ref().map(|t| t.product_family.parse()).transpose()?,
                contact_email: Some(input.contact_email.clone()),
                channel: input.channel,
                entitlement: input.entitlement.clone(),
            };
            let decision = policy::evaluate(&caller_facts(caller, &partner)?, &tenant, &filing_request, false);
            if !decision.accepted() {
                return Err(AppError::PolicyRefused(decision.refusals));
            }
            let filing = decision.filing;

            let calendar: BusinessCalendar = load_calendar!(conn, &calendar_id);
            let plan = sla::plan(input.incident_kind, filing.severity, &input.support_language, &calendar);
            let schedule = sla::schedule(plan, &calendar, now);

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
                support_plan: filing.support_plan.as_str().into(),
                entitlement_ref: filing.entitlement_ref.clone(),
                fee_coverage: filing.fee_coverage.as_str().into(),
                route: filing.route.as_str().into(),
                portal_url: filing.portal_url.clone(),
                contact_name: input.contact_name.clone(),
                contact_email: input.contact_email.clone(),
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
            };
            diesel::insert_into(service_requests::table).values(&row).execute(conn).await?;
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
                "CREATED",
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
    ) -> AppResult<ServiceRequestRow> {
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
            };
            diesel::insert_into(service_request_notes::table).values(&note).execute(conn).await?;
            bump_version!(conn, row, now);
            let h = history(&row.id, Some(&caller.agent_id), HistoryKind::NoteAdded, None, Some(note.id.clone()), now);
            let e = event(p, Some(&row.id), "NOTE_ADDED", json!({ "noteId": note.id, "actor": caller.agent_id }), now);
            record!(conn, postgres, [h], [e]);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
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
            let allowed = allowed_transitions(from);
            if !allowed.contains(&to) {
                return Err(AppError::InvalidTransition {
                    message: format!(
                        "a {from} request cannot become {to}; allowed: {}",
                        if allowed.is_empty() {
                            "none (closed is final)".to_owned()
                        } else {
                            allowed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        }
                    ),
                    allowed: allowed.iter().map(|s| s.as_str().to_owned()).collect(),
                });
            }
            bump_version!(conn, row, now);
            let closed_at = (to == RequestStatus::Closed).then(|| now.naive_utc());
            diesel::update(service_requests::table.find(&row.id))
                .set((service_requests::status.eq(to.as_str()), service_requests::closed_at.eq(closed_at)))
                .execute(conn)
                .await?;
            let h = history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::StatusChanged,
                Some(from.as_str().into()),
                Some(to.as_str().into()),
                now,
            );
            let e = event(
                p,
                Some(&row.id),
                "STATUS_CHANGED",
                json!({ "from": from.as_str(), "to": to.as_str(), "actor": caller.agent_id }),
                now,
            );
            record!(conn, postgres, [h], [e]);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }

    /// Changes the severity; while the initial-response clock runs the due time is recomputed
    /// from the filing instant (S1–S3) and a resulting SLA state change is recorded.
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
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, Some(expected_version))?;
            let from: Severity = row.severity.parse()?;
            if from == severity {
                return Ok(row);
            }
            bump_version!(conn, row, now);
            let state_before = sla_state_of(&row, now);
            let mut updated = row.clone();
            updated.severity = severity.as_str().into();
            if row.first_response_at.is_none() {
                let calendar = load_calendar!(conn, &row.calendar_id);
                let kind: IncidentKind = row.incident_kind.parse()?;
                let plan = sla::plan(kind, severity, &row.support_language, &calendar);
                let schedule = sla::schedule(plan, &calendar, row.created_at.and_utc());
                updated.sla_clock = plan.clock.as_str().into();
                updated.sla_target_minutes = plan.target.num_minutes();
                updated.sla_due_at = schedule.due_at.naive_utc();
                updated.sla_at_risk_at = schedule.at_risk_at.naive_utc();
            }
            diesel::update(service_requests::table.find(&row.id))
                .set((
                    service_requests::severity.eq(&updated.severity),
                    service_requests::sla_clock.eq(&updated.sla_clock),
                    service_requests::sla_target_minutes.eq(updated.sla_target_minutes),
                    service_requests::sla_due_at.eq(updated.sla_due_at),
                    service_requests::sla_at_risk_at.eq(updated.sla_at_risk_at),
                ))
                .execute(conn)
                .await?;
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
                "SEVERITY_CHANGED",
                json!({ "from": from.as_str(), "to": severity.as_str(), "slaDueAt": updated.sla_due_at.and_utc(), "actor": caller.agent_id }),
                now,
            )];
            let state_after = sla_state_of(&updated, now);
            if state_after != state_before {
                histories.push(history(
                    &row.id,
                    None,
                    HistoryKind::SlaStateChanged,
                    Some(state_before.as_str().into()),
                    Some(state_after.as_str().into()),
                    now,
                ));
                evs.push(event(
                    p,
                    Some(&row.id),
                    "SLA_STATE_CHANGED",
                    json!({ "from": state_before.as_str(), "to": state_after.as_str() }),
                    now,
                ));
            }
            record!(conn, postgres, histories, evs);
            Ok(service_requests::table.find(&row.id).select(ServiceRequestRow::as_select()).first(conn).await?)
        });
        self.committed(result)
    }

    /// Records support's first response: the initial-response clock stops; the SLA is `MET`
    /// if it came by the due time and stays `BREACHED` otherwise (S4).
    pub async fn record_response(
        &self,
        caller: &Caller,
        request_id: &str,
        responded_at: Option<DateTime<Utc>>,
        note: Option<&str>,
        expected_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> AppResult<ServiceRequestRow> {
        require_worker(caller)?;
        let p = self.partner_id.as_str();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let at = responded_at.unwrap_or(now);
        if at > now {
            return Err(AppError::bad_input("`respondedAt` is in the future"));
        }
        let result = transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, p, request_id);
            check_version(&row, expected_version)?;
            if row.first_response_at.is_some() {
                return Err(AppError::Conflict {
                    message: "support's first response is already recorded".into(),
                    current_version: Some(row.version),
                });
            }
            if at < row.created_at.and_utc() {
                return Err(AppError::bad_input("`respondedAt` is before the request was filed"));
            }
            bump_version!(conn, row, now);
            let state_before = sla_state_of(&row, now);
            let mut updated = row.clone();
            updated.first_response_at = Some(at.naive_utc());
            let state_after = sla_state_of(&updated, now);
            diesel::update(service_requests::table.find(&row.id))
                .set(service_requests::first_response_at.eq(Some(at.naive_utc())))
                .execute(conn)
                .await?;
            if let Some(body) = note {
                let n = NoteRow {
                    id: new_id(),
                    service_request_id: row.id.clone(),
                    author_kind: NoteAuthorKind::Support.as_str().into(),
                    agent_id: None,
                    body: body.to_owned(),
                    created_at: now.naive_utc(),
                };
                diesel::insert_into(service_request_notes::table).values(&n).execute(conn).await?;
            }
            let mut histories = vec![history(
                &row.id,
                Some(&caller.agent_id),
                HistoryKind::SupportResponded,
                None,
                Some(at.to_rfc3339()),
                now,
            )];
            let mut evs = vec![event(
                p,
                Some(&row.id),
                "SUPPORT_RESPONDED",
                json!({ "respondedAt": at, "actor": caller.agent_id }),
                now,
            )];
            if state_after != state_before {
                histories.push(history(
                    &row.id,
                    None,
                    HistoryKind::SlaStateChanged,
                    Some(state_before.as_str().into()),
                    Some(state_after.as_str().into()),
                    now,
                ));
                evs.push(event(
                    p,
                    Some(&row.id),
                    "SLA_STATE_CHANGED",
                    json!({ "from": state_before.as_str(), "to": state_after.as_str() }),
                    now,
                ));
            }
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
            if customer.provider_id.as_deref() != Some(p) {
                return Err(AppError::Forbidden(
                    "only the indirect provider of the customer's reseller grants or revokes Azure access".into(),
                ));
            }
            if !matches!(caller.role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
                return Err(AppError::Forbidden(format!(
                    "a {} cannot grant or revoke Azure access; an admin agent can",
                    caller.role
                )));
            }
            if customer.azure_access_granted == granted {
                return Ok(customer);
            }
            diesel::update(customers::table.find(&customer.id))
                .set(customers::azure_access_granted.eq(granted))
                .execute(conn)
                .await?;
            let kind = if granted { "AZURE_ACCESS_GRANTED" } else { "AZURE_ACCESS_REVOKED" };
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
