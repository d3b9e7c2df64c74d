//! Files at Microsoft what was filed here. `createServiceRequest` and `addNote` commit their
//! change and an outbox entry together; this worker sends the entry to Partner Center and
//! records the answer.
//!
//! - **Exactly one ticket.** Every attempt of an entry sends the same `MS-RequestId`, Partner
//!   Center's idempotency key: a retry after a lost answer gets the ticket the first attempt made.
//! - **One worker per entry.** A worker claims an entry by moving its `next_attempt_at` forward
//!   only if nobody moved it meanwhile; on any replica, the claim is what makes it the sender.
//!   A worker that dies mid-call leaves the entry to be claimed again when the claim runs out.
//! - **Notes once.** Partner Center has no idempotency for adding a note, so a note is sent
//!   without the client's own retries, and a repeated attempt first reads the ticket for the
//!   note an earlier attempt may have left.
//! - **Refusals are shown.** A permanent refusal (`4xx`) marks the request `REJECTED` with
//!   Microsoft's message and publishes an event; passing failures retry with backoff.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::model::{EventKind, ProductFamily, Severity};
use crate::domain::upstream::{self as up, DataSource, UpstreamState};
use crate::error::AppResult;
use crate::events::EventBus;
use crate::repo::mutations::{emit, event};
use crate::transaction;
use crate::upstream::UpstreamError;
use crate::upstream::azure_support::{self, AzureSupport};
use crate::upstream::partner_center::PartnerCenter;

/// How long a claim lasts: longer than an attempt can take (the client's retries included).
const CLAIM: chrono::Duration = chrono::Duration::minutes(10);
/// Entries one round sends at most.
const BATCH: i64 = 20;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub filed: u64,
    /// Notes added to tickets at Microsoft.
    pub notes: u64,
    pub rejected: u64,
    /// Failed for a passing reason; tried again later.
    pub deferred: u64,
}

pub struct Outbox {
    db: Db,
    clock: Arc<dyn Clock>,
    events: Option<EventBus>,
    api: Arc<PartnerCenter>,
    /// The Azure Support API, for Azure requests; without it they are refused upstream.
    azure: Option<Arc<AzureSupport>>,
    partner_id: String,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("partner_id", &self.partner_id).finish()
    }
}

/// What sending a note came to.
enum NoteOutcome {
    /// On the ticket at Microsoft; the key sync knows Microsoft's copy by, when it was found.
    Sent(Option<String>),
    Refused(String),
    /// The request is not filed at Microsoft yet: the note follows once it is.
    NotYet,
}

/// What Partner Center is sent for a request: its own fields, the contact, and the customer it
/// is filed for (Partner Center's request has no customer field, so the description names it).
fn create_body(
    request: &ServiceRequestRow,
    customer: Option<&CustomerRow>,
    topic: &str,
) -> AppResult<serde_json::Value> {
    let severity: Severity = request.severity.parse()?;
    let (first, last) = match request.contact_name.rsplit_once(' ') {
        Some((f, l)) => (f.to_owned(), l.to_owned()),
        None => (request.contact_name.clone(), String::new()),
    };
    let on_behalf = customer
        .map(|c| format!("Customer: {} (tenant {}, {})\n\n", c.company_name, c.tenant_id, c.primary_domain))
        .unwrap_or_default();
    Ok(json!({
        "Title": request.title,
        "Description": format!("{on_behalf}{}", request.description),
        "Severity": up::severity_upstream(severity),
        "SupportTopicId": topic,
        "Status": "none",
        "PrimaryContact": {
            "FirstName": first,
            "LastName": last,
            "Email": request.contact_email,
            "PhoneNumber": request.contact_phone,
        },
        "Attributes": { "ObjectType": "ServiceRequest" },
    }))
}

impl Outbox {
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        events: Option<EventBus>,
        api: Arc<PartnerCenter>,
        partner_id: impl Into<String>,
    ) -> Outbox {
        Outbox { db, clock, events, api, azure: None, partner_id: partner_id.into() }
    }

    /// The same worker filing Azure requests through the Azure Support API.
    pub fn with_azure(mut self, azure: Option<Arc<AzureSupport>>) -> Outbox {
        self.azure = azure;
        self
    }

    /// Sends the entries that are due, one after the other.
    pub async fn run_once(&self) -> AppResult<Round> {
        let now = self.clock.now();
        let p = self.partner_id.as_str();
        let due: Vec<OutboxRow> = crate::with_conn!(self.db, |conn| {
            upstream_outbox::table
                .filter(upstream_outbox::partner_id.eq(p))
                .filter(upstream_outbox::state.eq("PENDING"))
                .filter(upstream_outbox::next_attempt_at.le(now.naive_utc()))
                .order(upstream_outbox::next_attempt_at)
                .limit(BATCH)
                .select(OutboxRow::as_select())
                .load(conn)
                .await?
        });
        let mut round = Round::default();
        for entry in due {
            if !self.claim(&entry, now).await? {
                continue;
            }
            if entry.kind == "NOTE" {
                match self.send_note(&entry).await {
                    Ok(NoteOutcome::Sent(key)) => {
                        self.settle_note(&entry, key.as_deref(), None).await?;
                        round.notes += 1;
                    }
                    Ok(NoteOutcome::Refused(refusal)) => {
                        self.settle_note(&entry, None, Some(&refusal)).await?;
                        round.rejected += 1;
                    }
                    Ok(NoteOutcome::NotYet) => self.wait_for_filing(&entry).await?,
                    Err(failure) => {
                        self.defer(&entry, &failure.to_string()).await?;
                        round.deferred += 1;
                    }
                }
                continue;
            }
            match self.send(&entry).await {
                Ok(Ok(upstream_id)) => {
                    self.settle(&entry, UpstreamState::Filed, Some(&upstream_id), None).await?;
                    round.filed += 1;
                }
                Ok(Err(refusal)) => {
                    self.settle(&entry, UpstreamState::Rejected, None, Some(&refusal)).await?;
                    round.rejected += 1;
                }
                Err(failure) => {
                    self.defer(&entry, &failure.to_string()).await?;
                    round.deferred += 1;
                }
            }
        }
        let stats = &self.api.client.stats;
        stats.outbox_filed.inc_by(round.filed);
        stats.outbox_rejected.inc_by(round.rejected);
        stats.outbox_deferred.inc_by(round.deferred);
        if round.filed + round.rejected + round.notes > 0
            && let Some(bus) = &self.events
        {
            bus.wake();
        }
        Ok(round)
    }

    /// Makes this worker the entry's sender, unless another claimed it first.
    async fn claim(&self, entry: &OutboxRow, now: DateTime<Utc>) -> AppResult<bool> {
        let claimed = crate::with_conn!(self.db, |conn| {
            diesel::update(
                upstream_outbox::table
                    .filter(upstream_outbox::id.eq(&entry.id))
                    .filter(upstream_outbox::state.eq("PENDING"))
                    .filter(upstream_outbox::next_attempt_at.eq(entry.next_attempt_at)),
            )
            .set((
                upstream_outbox::next_attempt_at.eq((now + CLAIM).naive_utc()),
                upstream_outbox::attempts.eq(entry.attempts + 1),
            ))
            .execute(conn)
            .await?
        });
        Ok(claimed == 1)
    }

    /// Files the entry's request: Microsoft's case number, its refusal (`Ok(Err)`), or a passing
    /// failure (`Err`).
    async fn send(&self, entry: &OutboxRow) -> Result<Result<String, String>, UpstreamError> {
        let loaded = async {
            crate::with_conn!(self.db, |conn| {
                let request: ServiceRequestRow = service_requests::table
                    .find(&entry.service_request_id)
                    .select(ServiceRequestRow::as_select())
                    .first(conn)
                    .await?;
                let customer: Option<CustomerRow> = match &request.customer_id {
                    Some(id) => {
                        customers::table.find(id).select(CustomerRow::as_select()).first(conn).await.optional()?
                    }
                    None => None,
                };
                let topic: Option<SupportTopicRow> = match &request.support_topic_id {
                    Some(id) => support_topics::table
                        .find(id)
                        .select(SupportTopicRow::as_select())
                        .first(conn)
                        .await
                        .optional()?,
                    None => None,
                };
                AppResult::Ok((request, customer, topic))
            })
        }
        .await;
        let (request, customer, topic) = match loaded {
            Ok(l) => l,
            Err(e) => return Err(UpstreamError::Unavailable { service: "the database", message: e.detail() }),
        };
        if !up::files_at_partner_center(request.product_family.parse().unwrap_or(ProductFamily::Azure)) {
            return self.send_azure(entry, &request, customer.as_ref(), topic.as_ref()).await;
        }
        // Partner Center files under one of its own support topics (synced from it).
        let Some(topic) = topic.filter(|t| t.source == "PARTNER_CENTER").and_then(|t| t.upstream_id) else {
            return Ok(Err("Partner Center files a request under one of its own support topics; sync them \
                           (support-gateway sync) and file the request under one of those"
                .into()));
        };
        let body = match create_body(&request, customer.as_ref(), &topic) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e.detail())),
        };
        match self.api.create_request(&body, &entry.request_key).await {
            Ok(created) => Ok(Ok(created.id)),
            Err(UpstreamError::Rejected { message, code, .. }) => {
                Ok(Err(code.map(|c| format!("{message} ({c})")).unwrap_or(message)))
            }
            Err(other) => Err(other),
        }
    }

    /// Files an Azure request as a support ticket on the customer's subscription, in the
    /// customer's tenant. The ticket is named after the request: a repeated attempt first looks
    /// that name up, so a lost answer never makes a second ticket.
    async fn send_azure(
        &self,
        entry: &OutboxRow,
        request: &ServiceRequestRow,
        customer: Option<&CustomerRow>,
        topic: Option<&SupportTopicRow>,
    ) -> Result<Result<String, String>, UpstreamError> {
        let Some(api) = &self.azure else {
            return Ok(Err("Azure requests are filed through the Azure Support API, which is not configured \
                           (SG_AZURE_MANAGEMENT_URL)"
                .into()));
        };
        let Some(classification) =
            topic.filter(|t| t.source == DataSource::AzureSupport.as_str()).and_then(|t| t.upstream_id.clone())
        else {
            return Ok(Err("Azure files a ticket under one of its problem classifications; sync them \
                           (support-gateway sync) and file the request under an Azure topic"
                .into()));
        };
        let Some(service) = azure_support::service_of(&classification) else {
            return Ok(Err(format!("`{classification}` is not a problem classification of Azure")));
        };
        let Some(customer) = customer else {
            return Ok(Err("an Azure ticket is filed in a customer's tenant; this request names no customer".into()));
        };
        let subscription = self.azure_target(request).await?.map(|(_, s)| s);
        let Some(subscription) = subscription else {
            return Ok(Err(
                "an Azure ticket is filed on an Azure subscription; name the customer's Azure subscription".into(),
            ));
        };
        let name = up::azure_ticket_name(&request.id);
        let case = |t: &azure_support::Ticket| t.properties.support_ticket_id.clone().unwrap_or_else(|| t.name.clone());
        if entry.attempts > 0
            && let Some(earlier) = api.ticket(&customer.tenant_id, &subscription, &name).await?
        {
            return Ok(Ok(case(&earlier)));
        }
        let severity: Severity = request.severity.parse().unwrap_or(Severity::C);
        let (first, last) = match request.contact_name.rsplit_once(' ') {
            Some((f, l)) => (f.to_owned(), l.to_owned()),
            None => (request.contact_name.clone(), "-".to_owned()),
        };
        let properties = azure_support::TicketProperties {
            support_ticket_id: None,
            title: request.title.clone(),
            description: format!(
                "Filed by the customer's Cloud Solution Provider partner for {} ({}).\n\n{}",
                customer.company_name, customer.primary_domain, request.description
            ),
            service_id: format!("/providers/Microsoft.Support/services/{service}"),
            problem_classification_id: classification.clone(),
            severity: up::severity_upstream(severity).into(),
            status: None,
            require24_x7_response: severity == Severity::A,
            advanced_diagnostic_consent: Some("No".into()),
            contact_details: azure_support::ContactDetails {
                first_name: first,
                last_name: last,
                preferred_contact_method: "email".into(),
                primary_email_address: request.contact_email.clone(),
                phone_number: request.contact_phone.clone(),
                preferred_time_zone: "UTC".into(),
                country: up::country_alpha3(&customer.country),
                preferred_support_language: request.support_language.to_lowercase(),
            },
            created_date: None,
            modified_date: None,
        };
        match api.create_ticket(&customer.tenant_id, &subscription, &name, &properties).await {
            Ok(ticket) => Ok(Ok(case(&ticket))),
            // The name is taken: an earlier attempt filed it.
            Err(UpstreamError::Rejected { status: 409, .. }) => {
                match api.ticket(&customer.tenant_id, &subscription, &name).await? {
                    Some(t) => Ok(Ok(case(&t))),
                    None => Ok(Err(format!("Azure says the ticket name {name} is taken, yet has no such ticket"))),
                }
            }
            Err(UpstreamError::Rejected { message, code, .. }) => {
                Ok(Err(code.map(|c| format!("{message} ({c})")).unwrap_or(message)))
            }
            Err(other) => Err(other),
        }
    }

    /// Adds the entry's note to the request's ticket at Microsoft. A repeated attempt first
    /// reads the ticket: if it holds more copies of the note's text than the gateway has
    /// matched, the earlier attempt got there, and the note is not sent again.
    async fn send_note(&self, entry: &OutboxRow) -> Result<NoteOutcome, UpstreamError> {
        let loaded = async {
            crate::with_conn!(self.db, |conn| {
                let request: ServiceRequestRow = service_requests::table
                    .find(&entry.service_request_id)
                    .select(ServiceRequestRow::as_select())
                    .first(conn)
                    .await?;
                let note: NoteRow = service_request_notes::table
                    .find(entry.note_id.as_deref().unwrap_or_default())
                    .select(NoteRow::as_select())
                    .first(conn)
                    .await?;
                let matched: i64 = service_request_notes::table
                    .filter(service_request_notes::service_request_id.eq(&request.id))
                    .filter(service_request_notes::body.eq(&note.body))
                    .filter(service_request_notes::upstream_key.is_not_null())
                    .count()
                    .get_result(conn)
                    .await?;
                AppResult::Ok((request, note, matched))
            })
        }
        .await;
        let (request, note, matched) = match loaded {
            Ok(l) => l,
            Err(e) => return Err(UpstreamError::Unavailable { service: "the database", message: e.detail() }),
        };
        if note.upstream_key.is_some() {
            // Sync already read Microsoft's copy: an earlier attempt got there.
            return Ok(NoteOutcome::Sent(None));
        }
        if request.upstream_state.as_deref() == Some(UpstreamState::Pending.as_str()) {
            return Ok(NoteOutcome::NotYet);
        }
        let Some(ticket) = request
            .upstream_id
            .clone()
            .filter(|_| up::notes_go_upstream(&request.source, request.upstream_state.as_deref()))
        else {
            return Ok(NoteOutcome::Refused("the request is not filed at Microsoft, so its notes stay here".into()));
        };
        if !up::files_at_partner_center(request.product_family.parse().unwrap_or(ProductFamily::Azure)) {
            return self.send_azure_note(&request, &note).await;
        }
        let copies = |r: &crate::upstream::partner_center::ServiceRequest| {
            r.notes.iter().filter(|n| n.text == note.body).map(crate::sync::note_key).collect::<Vec<_>>()
        };
        if entry.attempts > 0 {
            let current = self.api.service_request(&ticket).await?;
            let found = copies(&current);
            if found.len() as i64 > matched {
                return Ok(NoteOutcome::Sent(found.last().cloned()));
            }
        }
        match self.api.add_note(&ticket, &note.body, &entry.request_key).await {
            Ok(answer) => Ok(NoteOutcome::Sent(copies(&answer).last().cloned())),
            Err(UpstreamError::Rejected { message, code, .. }) => {
                Ok(NoteOutcome::Refused(code.map(|c| format!("{message} ({c})")).unwrap_or(message)))
            }
            Err(other) => Err(other),
        }
    }

    /// The customer's tenant and Azure subscription id a request's ticket lives in, if it names
    /// both.
    async fn azure_target(&self, request: &ServiceRequestRow) -> Result<Option<(String, String)>, UpstreamError> {
        let (Some(customer), Some(subscription)) = (&request.customer_id, &request.subscription_id) else {
            return Ok(None);
        };
        let loaded = async {
            crate::with_conn!(self.db, |conn| {
                let tenant: Option<String> =
                    customers::table.find(customer).select(customers::tenant_id).first(conn).await.optional()?;
                let azure: Option<String> = subscriptions::table
                    .find(subscription)
                    .select(subscriptions::azure_subscription_id)
                    .first::<Option<String>>(conn)
                    .await
                    .optional()?
                    .flatten();
                AppResult::Ok(tenant.zip(azure))
            })
        }
        .await;
        loaded.map_err(|e| UpstreamError::Unavailable { service: "the database", message: e.detail() })
    }

    /// Adds a note to an Azure request's ticket as a communication named after the note, so a
    /// repeated attempt is refused as a name in use instead of writing it twice.
    async fn send_azure_note(&self, request: &ServiceRequestRow, note: &NoteRow) -> Result<NoteOutcome, UpstreamError> {
        let Some(api) = &self.azure else {
            return Ok(NoteOutcome::Refused(
                "the Azure Support API is not configured (SG_AZURE_MANAGEMENT_URL)".into(),
            ));
        };
        let Some((tenant, subscription)) = self.azure_target(request).await? else {
            return Ok(NoteOutcome::Refused("the request names no customer Azure subscription to write on".into()));
        };
        let properties = azure_support::CommunicationProperties {
            communication_direction: None,
            sender: Some(request.contact_email.clone()),
            subject: format!("Update on: {}", request.title.chars().take(150).collect::<String>()),
            body: note.body.clone(),
            created_date: None,
        };
        let ticket = up::azure_ticket_name(&request.id);
        let name = format!("sg-note-{}", note.id);
        let key = |created: Option<&str>| {
            crate::sync::note_key(&crate::upstream::partner_center::Note {
                created_by_name: "Partner".into(),
                created_date: created.unwrap_or_default().to_owned(),
                text: note.body.clone(),
            })
        };
        match api.create_communication(&tenant, &subscription, &ticket, &name, &properties).await {
            Ok(sent) => Ok(NoteOutcome::Sent(Some(key(sent.properties.created_date.as_deref())))),
            Err(UpstreamError::Rejected { status: 409, .. }) => Ok(NoteOutcome::Sent(None)),
            Err(UpstreamError::Rejected { message, code, .. }) => {
                Ok(NoteOutcome::Refused(code.map(|c| format!("{message} ({c})")).unwrap_or(message)))
            }
            Err(other) => Err(other),
        }
    }

    /// Records a sent or refused note: the entry is done, and the note knows Microsoft's copy
    /// (unless another note of the request already took that copy), so sync does not add it
    /// again. A refusal publishes an event.
    async fn settle_note(&self, entry: &OutboxRow, key: Option<&str>, refusal: Option<&str>) -> AppResult<()> {
        let now = self.clock.now();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let note_id = entry.note_id.as_deref().unwrap_or_default();
        transaction!(self.db, |conn| {
            if let Some(key) = key {
                let taken: i64 = service_request_notes::table
                    .filter(service_request_notes::service_request_id.eq(&entry.service_request_id))
                    .filter(service_request_notes::upstream_key.eq(key))
                    .count()
                    .get_result(conn)
                    .await?;
                if taken == 0 {
                    diesel::update(
                        service_request_notes::table
                            .find(note_id)
                            .filter(service_request_notes::upstream_key.is_null()),
                    )
                    .set(service_request_notes::upstream_key.eq(Some(key)))
                    .execute(conn)
                    .await?;
                }
            }
            diesel::update(upstream_outbox::table.find(&entry.id))
                .set((
                    upstream_outbox::state.eq(if refusal.is_some() { "REJECTED" } else { "DONE" }),
                    upstream_outbox::done_at.eq(Some(now.naive_utc())),
                    upstream_outbox::last_error.eq(refusal),
                ))
                .execute(conn)
                .await?;
            if let Some(message) = refusal {
                let payload = json!({ "noteId": note_id, "message": message, "actor": "outbox:PARTNER_CENTER" });
                let e = event(
                    &entry.partner_id,
                    Some(&entry.service_request_id),
                    EventKind::RejectedByMicrosoft,
                    payload,
                    now,
                );
                emit!(conn, postgres, &e);
            }
            AppResult::Ok(())
        })?;
        if let Some(refusal) = refusal {
            tracing::warn!(request = %entry.service_request_id, note = note_id, refusal, "Microsoft refused a note");
        }
        Ok(())
    }

    /// A note of a request still waiting to be filed: look again shortly, without counting
    /// an attempt.
    async fn wait_for_filing(&self, entry: &OutboxRow) -> AppResult<()> {
        let next = self.clock.now() + up::outbox_retry_delay(0);
        crate::with_conn!(self.db, |conn| {
            diesel::update(upstream_outbox::table.find(&entry.id))
                .set((
                    upstream_outbox::next_attempt_at.eq(next.naive_utc()),
                    upstream_outbox::attempts.eq(entry.attempts),
                ))
                .execute(conn)
                .await?
        });
        Ok(())
    }

    /// Records Microsoft's answer on the request and the entry, with its event, at once.
    async fn settle(
        &self,
        entry: &OutboxRow,
        state: UpstreamState,
        upstream_id: Option<&str>,
        refusal: Option<&str>,
    ) -> AppResult<()> {
        let now = self.clock.now();
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        transaction!(self.db, |conn| {
            let request: ServiceRequestRow = service_requests::table
                .find(&entry.service_request_id)
                .select(ServiceRequestRow::as_select())
                .first(conn)
                .await?;
            diesel::update(service_requests::table.find(&request.id))
                .set((
                    service_requests::upstream_state.eq(Some(state.as_str())),
                    service_requests::upstream_id.eq(upstream_id.or(request.upstream_id.as_deref())),
                    service_requests::upstream_error.eq(refusal),
                    service_requests::version.eq(request.version + 1),
                    service_requests::updated_at.eq(now.naive_utc()),
                ))
                .execute(conn)
                .await?;
            let entry_state = if state == UpstreamState::Filed { "DONE" } else { "REJECTED" };
            diesel::update(upstream_outbox::table.find(&entry.id))
                .set((
                    upstream_outbox::state.eq(entry_state),
                    upstream_outbox::done_at.eq(Some(now.naive_utc())),
                    upstream_outbox::last_error.eq(refusal),
                ))
                .execute(conn)
                .await?;
            let (kind, payload) = match state {
                UpstreamState::Filed => (
                    EventKind::FiledAtMicrosoft,
                    json!({ "upstreamId": upstream_id, "actor": "outbox:PARTNER_CENTER" }),
                ),
                _ => (EventKind::RejectedByMicrosoft, json!({ "message": refusal, "actor": "outbox:PARTNER_CENTER" })),
            };
            let e = event(&request.partner_id, Some(&request.id), kind, payload, now);
            emit!(conn, postgres, &e);
            AppResult::Ok(())
        })?;
        if state == UpstreamState::Rejected {
            tracing::warn!(request = %entry.service_request_id, refusal, "Microsoft refused a request");
        }
        Ok(())
    }

    /// A passing failure: try again after a backoff.
    async fn defer(&self, entry: &OutboxRow, failure: &str) -> AppResult<()> {
        let next = self.clock.now() + up::outbox_retry_delay(entry.attempts);
        tracing::info!(request = %entry.service_request_id, failure, "filing at Microsoft failed; will retry");
        crate::with_conn!(self.db, |conn| {
            diesel::update(upstream_outbox::table.find(&entry.id))
                .set((upstream_outbox::next_attempt_at.eq(next.naive_utc()), upstream_outbox::last_error.eq(failure)))
                .execute(conn)
                .await?
        });
        Ok(())
    }
}

/// Runs a round every `every` for the life of the process.
pub fn spawn(outbox: Outbox, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = outbox.run_once().await {
                tracing::warn!(error = %e.detail(), "outbox round failed");
            }
        }
    });
}
