//! The webhook worker: turns committed events into deliveries and sends them.
//!
//! - **Durable queue.** Each event a registered endpoint wants becomes one
//!   `webhook_deliveries` row (unique per endpoint and event), read from the event log in
//!   id order with the event bus's gap handling, from a position kept in `webhook_fanout`. A
//!   restart resumes there, and turning an event into deliveries twice is harmless.
//! - **One replica sends.** The worker runs on the replica that holds the `webhooks` lease;
//!   every send is also claimed row by row (`leased_until`), so even two workers never send
//!   one delivery at once, and a replica that dies mid-send leaves a claim that runs out.
//! - **At least once, in order per request.** A delivery is only sent when no earlier
//!   delivery of the same request to the same endpoint is still pending, and it stays pending
//!   (retried with backoff, [`domain::webhooks::retry_delay`]) until the endpoint answers 2xx
//!   or it is given up after [`domain::webhooks::MAX_ATTEMPTS`].
//! - **A dead endpoint slows nobody.** Mutations only write events; each send is its own task
//!   with a timeout, and an endpoint has at most [`PER_ENDPOINT`] sends in flight.
//!
//! [`domain::webhooks::retry_delay`]: crate::domain::webhooks::retry_delay
//! [`domain::webhooks::MAX_ATTEMPTS`]: crate::domain::webhooks::MAX_ATTEMPTS

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::app::App;
use crate::clock::Clock;
use crate::db::batch::InsertMany;
use crate::db::models::{NoteRow, WebhookDeliveryRow, WebhookEndpointRow};
use crate::db::schema::{service_request_notes, webhook_deliveries, webhook_endpoints, webhook_fanout};
use crate::db::{Backend, Db};
use crate::domain::model::EventKind;
use crate::domain::webhooks::{MAX_ATTEMPTS, retry_delay, signature};
use crate::error::AppResult;
use crate::events::{Cursor, Event, EventBus, fetch};
use crate::graphql::ids::{NodeKind, encode};
use crate::repo::webhooks::kinds_of;
use crate::{transaction, with_conn};

/// Sends one endpoint may have in flight.
const PER_ENDPOINT: usize = 4;

/// Deliveries looked at per round.
const ROUND: i64 = 200;

/// How often a round runs without an event or a finished send to wake it (retries falling
/// due, ids left in a gap).
const IDLE: Duration = Duration::from_millis(500);

pub struct Webhooks {
    db: Db,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    http: reqwest::Client,
    timeout: Duration,
    /// Sends in flight here: delivery ids, and how many per endpoint.
    sending: Mutex<(HashSet<String>, HashMap<String, usize>)>,
    /// Woken when a send finishes: the request's next delivery may go now.
    sent: tokio::sync::Notify,
}

impl Webhooks {
    pub fn new(app: &App) -> Arc<Webhooks> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("support-gateway-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS-capable HTTP client");
        Arc::new(Webhooks {
            db: app.db.clone(),
            clock: app.clock.clone(),
            bus: app.events.clone(),
            http,
            timeout: app.config.webhook_timeout,
            sending: Mutex::new(Default::default()),
            sent: tokio::sync::Notify::new(),
        })
    }

    /// How long a claim holds: the send's timeout and a margin.
    fn lease(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.timeout * 2).unwrap_or(chrono::TimeDelta::seconds(20))
    }

    /// Runs for the life of the process: waits for the lease, then works while it holds it.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                match crate::db::lease::try_lock(&self.db, "webhooks").await {
                    Ok(Some(lease)) => {
                        if let Err(e) = self.lead().await {
                            tracing::warn!(error.detail = ?e, "webhooks: stepping down after an error");
                        }
                        drop(lease);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error.detail = ?e, "webhooks: taking the lease failed"),
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    }

    async fn lead(self: &Arc<Self>) -> AppResult<()> {
        let mut events = self.bus.subscribe();
        let mut cursor = Cursor::new(self.fanned_out_to().await?);
        let mut failures = 0u32;
        loop {
            let round = async {
                self.fan_out(&mut cursor).await?;
                self.send_due().await
            };
            match round.await {
                Ok(_) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error.detail = ?e, "webhooks: a round failed");
                    if failures >= 10 {
                        return Err(e);
                    }
                }
            }
            tokio::select! {
                _ = events.recv() => {}
                _ = self.sent.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
            }
        }
    }

    async fn fanned_out_to(&self) -> AppResult<i64> {
        Ok(with_conn!(self.db, |conn| {
            webhook_fanout::table.select(webhook_fanout::after_event_id).first::<i64>(conn).await?
        }))
    }

    /// Turns the events committed since the last round into deliveries; returns how many.
    pub(crate) async fn fan_out(&self, cursor: &mut Cursor) -> AppResult<usize> {
        let endpoints: Vec<WebhookEndpointRow> = with_conn!(self.db, |conn| {
            webhook_endpoints::table
                .filter(webhook_endpoints::removed_at.is_null())
                .select(WebhookEndpointRow::as_select())
                .load(conn)
                .await?
        });
        let now = self.clock.now();
        let mut queued = 0;
        let mut persisted = cursor.floor();
        loop {
            let batch = fetch(&self.db, cursor).await?;
            let full = batch.len() as i64 >= crate::events::BATCH;
            // The cursor moves on only once the batch's deliveries are written: a failed round
            // reads the same events again.
            let mut next = cursor.clone();
            let mut wanted = Vec::new();
            for (id, event) in batch {
                if next.accept(id)
                    && let Some(event) = event
                {
                    for endpoint in endpoints.iter().filter(|e| wants(e, &event)) {
                        wanted.push((endpoint, event.clone()));
                    }
                }
            }
            let notes = self.notes_of(wanted.iter().map(|(_, e)| e)).await?;
            let rows: Vec<WebhookDeliveryRow> =
                wanted.iter().map(|(endpoint, event)| delivery(endpoint, event, &notes, now)).collect();
            let passed = next.settle(Instant::now());
            if passed > 0 {
                tracing::warn!(event.ids = passed, floor = next.floor(), "webhooks: passed ids that never committed");
            }
            let floor = next.floor();
            queued += rows.len();
            // Nothing to write on an idle round (on SQLite, a write takes the file's lock).
            if !rows.is_empty() || floor > persisted {
                transaction!(self.db, |conn| {
                    conn.insert_many(&rows).await?;
                    diesel::update(webhook_fanout::table.filter(webhook_fanout::after_event_id.lt(floor)))
                        .set(webhook_fanout::after_event_id.eq(floor))
                        .execute(conn)
                        .await?;
                    Ok(())
                })?;
                persisted = floor;
            }
            *cursor = next;
            if !full {
                return Ok(queued);
            }
        }
    }

    /// The notes the `NOTE_ADDED` events among `events` added, by id: receivers get the text.
    async fn notes_of(&self, events: impl Iterator<Item = &Event>) -> AppResult<HashMap<String, NoteRow>> {
        let ids: Vec<String> = events
            .filter(|e| e.kind == EventKind::NoteAdded)
            .filter_map(|e| e.payload.get("noteId").and_then(|v| v.as_str()).map(str::to_owned))
            .collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<NoteRow> = with_conn!(self.db, |conn| {
            service_request_notes::table
                .filter(service_request_notes::id.eq_any(&ids))
                .select(NoteRow::as_select())
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(|n| (n.id.clone(), n)).collect())
    }

    /// Claims the deliveries that are due and sends each in its own task; returns how many.
    pub async fn send_due(self: &Arc<Self>) -> AppResult<usize> {
        let now = self.clock.now();
        let ids = self.due(now).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(WebhookDeliveryRow, WebhookEndpointRow)> = with_conn!(self.db, |conn| {
            webhook_deliveries::table
                .inner_join(webhook_endpoints::table)
                .filter(webhook_deliveries::id.eq_any(&ids))
                .order(webhook_deliveries::event_id)
                .select((WebhookDeliveryRow::as_select(), WebhookEndpointRow::as_select()))
                .load(conn)
                .await?
        });
        let mut started = 0;
        for (delivery, endpoint) in rows {
            {
                let mut sending = self.sending.lock().unwrap_or_else(|e| e.into_inner());
                let busy = sending.1.get(&endpoint.id).copied().unwrap_or(0);
                if busy >= PER_ENDPOINT || sending.0.contains(&delivery.id) {
                    continue;
                }
                sending.0.insert(delivery.id.clone());
                *sending.1.entry(endpoint.id.clone()).or_default() += 1;
            }
            if self.claim(&delivery, now).await.unwrap_or(false) {
                started += 1;
                let worker = self.clone();
                tokio::spawn(async move { worker.send(delivery, endpoint).await });
            } else {
                self.done(&delivery.id, &endpoint.id);
            }
        }
        Ok(started)
    }

    /// The deliveries due now, oldest event first, each the earliest pending one of its
    /// request for its endpoint.
    async fn due(&self, now: DateTime<Utc>) -> AppResult<Vec<String>> {
        #[derive(diesel::QueryableByName)]
        struct Due {
            #[diesel(sql_type = diesel::sql_types::Text)]
            id: String,
        }
        let (p1, p2) = match self.db.backend {
            Backend::Postgres => ("$1", "$2"),
            Backend::Sqlite => ("?1", "?2"),
        };
        let sql = format!(
            "SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.state = 'PENDING' AND d.next_attempt_at <= {p1}
               AND (d.leased_until IS NULL OR d.leased_until <= {p1})
               AND e.enabled AND e.removed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                               WHERE p.endpoint_id = d.endpoint_id AND p.service_request_id = d.service_request_id
                                 AND p.state = 'PENDING' AND p.event_id < d.event_id)
             ORDER BY d.event_id LIMIT {p2}"
        );
        let rows: Vec<Due> = with_conn!(self.db, |conn| {
            diesel::sql_query(sql)
                .bind::<diesel::sql_types::Timestamp, _>(now.naive_utc())
                .bind::<diesel::sql_types::BigInt, _>(ROUND)
                .load(conn)
                .await?
        });
        Ok(rows.into_iter().map(|d| d.id).collect())
    }

    /// Takes a delivery for this worker unless another holds it.
    async fn claim(&self, d: &WebhookDeliveryRow, now: DateTime<Utc>) -> AppResult<bool> {
        let until = (now + self.lease()).naive_utc();
        let now = now.naive_utc();
        let taken = with_conn!(self.db, |conn| {
            diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(&d.id))
                    .filter(webhook_deliveries::state.eq("PENDING"))
                    .filter(webhook_deliveries::leased_until.is_null().or(webhook_deliveries::leased_until.le(now))),
            )
            .set(webhook_deliveries::leased_until.eq(until))
            .execute(conn)
            .await?
        });
        Ok(taken == 1)
    }

    fn done(&self, delivery: &str, endpoint: &str) {
        let mut sending = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        sending.0.remove(delivery);
        if let Some(n) = sending.1.get_mut(endpoint) {
            *n = n.saturating_sub(1);
        }
    }

    async fn send(&self, d: WebhookDeliveryRow, endpoint: WebhookEndpointRow) {
        let timestamp = self.clock.now().timestamp();
        let answer = self
            .http
            .post(&endpoint.url)
            .timeout(self.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature(&endpoint.secret, timestamp, &d.body))
            .body(d.body.clone())
            .send()
            .await;
        let (status, error) = match answer {
            Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
            Ok(r) => (Some(r.status().as_u16()), Some(format!("the endpoint answered HTTP {}", r.status().as_u16()))),
            Err(e) if e.is_timeout() => (None, Some(format!("no answer within {} s", self.timeout.as_secs()))),
            Err(e) if e.is_connect() => (None, Some("could not connect to the endpoint".to_owned())),
            Err(e) => (None, Some(format!("sending failed: {e}"))),
        };
        if let Err(e) = self.record(&d, status, error).await {
            // The claim runs out and the delivery is sent again: at least once.
            tracing::warn!(error.detail = ?e, delivery = %d.id, "webhooks: recording an attempt failed");
        }
        self.done(&d.id, &endpoint.id);
        self.sent.notify_one();
    }

    async fn record(&self, d: &WebhookDeliveryRow, status: Option<u16>, error: Option<String>) -> AppResult<()> {
        let now = self.clock.now();
        let attempts = d.attempts + 1;
        let state = match &error {
            None => "DELIVERED",
            Some(_) if attempts >= MAX_ATTEMPTS => "FAILED",
            Some(_) => "PENDING",
        };
        if let Some(error) = &error {
            tracing::info!(delivery = %d.id, endpoint = %d.endpoint_id, attempts, state, error, "webhook not delivered");
        }
        let next = if state == "PENDING" { now + retry_delay(attempts) } else { now };
        with_conn!(self.db, |conn| {
            diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq(&d.id)))
                .set((
                    webhook_deliveries::state.eq(state),
                    webhook_deliveries::attempts.eq(attempts),
                    webhook_deliveries::last_status.eq(status.map(i32::from)),
                    webhook_deliveries::last_error.eq(&error),
                    webhook_deliveries::last_attempt_at.eq(now.naive_utc()),
                    webhook_deliveries::next_attempt_at.eq(next.naive_utc()),
                    webhook_deliveries::leased_until.eq(None::<chrono::NaiveDateTime>),
                    webhook_deliveries::delivered_at.eq((state == "DELIVERED").then(|| now.naive_utc())),
                ))
                .execute(conn)
                .await?
        });
        Ok(())
    }
}

/// Whether `endpoint` receives `event`: the partner's own, of a kind it asked for, committed
/// after it was registered.
fn wants(endpoint: &WebhookEndpointRow, event: &Event) -> bool {
    endpoint.partner_id == event.partner_id
        && event.id > endpoint.after_event_id
        && event.kind.is_about_a_request()
        && kinds_of(endpoint).contains(&event.kind)
}

/// The delivery of `event` to `endpoint`, with the body every attempt sends.
fn delivery(
    endpoint: &WebhookEndpointRow,
    event: &Event,
    notes: &HashMap<String, NoteRow>,
    now: DateTime<Utc>,
) -> WebhookDeliveryRow {
    let id = uuid::Uuid::now_v7().to_string();
    let request = event.request.as_ref().map(|r| {
        json!({
            "id": encode(NodeKind::ServiceRequest, &r.id).to_string(),
            "title": r.title,
            "status": r.status,
            "severity": r.severity,
            "productFamily": r.product_family,
            "customerId": r.customer_id.as_deref().map(|c| encode(NodeKind::Customer, c).to_string()),
            "caseNumber": r.upstream_id,
            "sla": { "state": r.sla_state, "dueAt": r.sla_due_at.and_utc(), "atRiskAt": r.sla_at_risk_at.and_utc() },
        })
    });
    let note = event.payload.get("noteId").and_then(|id| id.as_str()).and_then(|id| notes.get(id)).map(
        |n| json!({ "id": n.id, "body": n.body, "authorKind": n.author_kind, "createdAt": n.created_at.and_utc() }),
    );
    let mut body = json!({
        "id": id,
        "type": event.kind.as_str(),
        "occurredAt": event.created_at,
        "eventId": event.id,
        "data": event.payload,
        "serviceRequest": request,
    });
    if let Some(note) = note {
        body["note"] = note;
    }
    WebhookDeliveryRow {
        id,
        endpoint_id: endpoint.id.clone(),
        event_id: event.id,
        service_request_id: event.service_request_id.clone(),
        event_kind: event.kind.as_str().to_owned(),
        body: body.to_string(),
        state: "PENDING".into(),
        attempts: 0,
        next_attempt_at: now.naive_utc(),
        leased_until: None,
        last_status: None,
        last_error: None,
        last_attempt_at: None,
        created_at: now.naive_utc(),
        delivered_at: None,
    }
}
