//! The SLA watcher: moves requests to `AT_RISK` and `BREACHED` at their instant (S4).
//!
//! It keeps the next deadline of every running clock in a timer map (loaded at start, updated
//! from events), so a tick costs no query unless something is due. Each transition is
//! recorded exactly once cluster-wide: the replica whose insert into `sla_transitions` wins
//! writes the history entry and the event; the others find the row there and do nothing. A
//! replica that was down catches up at start, since past deadlines are due at once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;
use tokio::sync::Mutex;

use super::EventBus;
use crate::clock::Clock;
use crate::db::models::{HistoryRow, NewEventRow, ServiceRequestRow, SlaTransitionRow};
use crate::db::schema::{service_request_history, service_requests, sla_transitions};
use crate::db::{Backend, Db};
use crate::domain::model::{HistoryKind, RequestStatus, SlaState};
use crate::error::{AppError, AppResult};
use crate::repo::mutations::{emit, sla_state_of};
use crate::{transaction, with_conn};

/// Longest sleep between looks at the timer map: bounds how late a transition is when the
/// clock is moved by hand (tests) and how soon a changed deadline is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub struct SlaWatcher {
    db: Db,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    /// Deadline → requests whose state may change then.
    deadlines: Mutex<BTreeMap<DateTime<Utc>, BTreeSet<String>>>,
    /// Transitions this process recorded (exported on `/metrics`).
    pub transitions: prometheus_client::metrics::counter::Counter,
}

impl SlaWatcher {
    pub fn new(db: Db, clock: Arc<dyn Clock>, bus: EventBus) -> Arc<SlaWatcher> {
        Arc::new(SlaWatcher { db, clock, bus, deadlines: Mutex::new(BTreeMap::new()), transitions: Default::default() })
    }

    /// Schedules the transitions still ahead of an unanswered, open request.
    pub async fn schedule(&self, row: &ServiceRequestRow) {
        let open = row.status.parse::<RequestStatus>().map(RequestStatus::is_open).unwrap_or(false);
        if row.first_response_at.is_some() || !open {
            return;
        }
        let mut map = self.deadlines.lock().await;
        for at in [row.sla_at_risk_at.and_utc(), row.sla_due_at.and_utc()] {
            map.entry(at).or_default().insert(row.id.clone());
        }
    }

    /// Loads every running clock (open requests support has not answered).
    pub async fn load_running_clocks(&self) -> AppResult<usize> {
        let rows: Vec<ServiceRequestRow> = with_conn!(self.db, |conn| {
            service_requests::table
                .filter(service_requests::first_response_at.is_null())
                .filter(service_requests::status.ne_all(["RESOLVED", "CLOSED"]))
                .select(ServiceRequestRow::as_select())
                .load(conn)
                .await?
        });
        for row in &rows {
            self.schedule(row).await;
        }
        Ok(rows.len())
    }

    /// Makes a request due now (tests: proves a second recording is a no-op).
    pub async fn schedule_now_for_test(&self, global_id: &serde_json::Value) {
        let raw = global_id.as_str().and_then(crate::graphql::ids::decode).map(|(_, raw)| raw);
        if let Some(raw) = raw {
            self.deadlines.lock().await.entry(self.clock.now()).or_default().insert(raw);
        }
    }

    /// The next deadline, if any.
    pub async fn next_deadline(&self) -> Option<DateTime<Utc>> {
        self.deadlines.lock().await.keys().next().copied()
    }

    /// Records every transition due by the clock's now; returns how many this process recorded.
    pub async fn tick(&self) -> AppResult<usize> {
        let now = self.clock.now();
        let due: Vec<String> = {
            let mut map = self.deadlines.lock().await;
            let later = map.split_off(&(now + chrono::Duration::microseconds(1)));
            let due = std::mem::replace(&mut *map, later);
            due.into_values().flatten().collect::<BTreeSet<_>>().into_iter().collect()
        };
        if due.is_empty() {
            return Ok(0);
        }
        let mut recorded = 0;
        for ids in due.chunks(500) {
            let rows: Vec<ServiceRequestRow> = with_conn!(self.db, |conn| {
                service_requests::table
                    .filter(service_requests::id.eq_any(ids))
                    .select(ServiceRequestRow::as_select())
                    .load(conn)
                    .await?
            });
            // At start every past deadline is due at once, and most were recorded before (by
            // this replica before a restart, or by another): one query finds them, where a
            // transaction each that lost its insert cost thousands of statements per start.
            let seen: Vec<(String, String, NaiveDateTime)> = with_conn!(self.db, |conn| {
                sla_transitions::table
                    .filter(sla_transitions::service_request_id.eq_any(ids))
                    .select((sla_transitions::service_request_id, sla_transitions::state, sla_transitions::due_at))
                    .load(conn)
                    .await?
            });
            let seen: HashSet<(String, String, NaiveDateTime)> = seen.into_iter().collect();
            for row in rows {
                let open = row.status.parse::<RequestStatus>().map(RequestStatus::is_open).unwrap_or(false);
                if row.first_response_at.is_some() || !open {
                    continue;
                }
                let state = sla_state_of(&row, now);
                match state {
                    SlaState::AtRisk | SlaState::Breached => {
                        let known = seen.contains(&(row.id.clone(), state.as_str().to_owned(), row.sla_due_at));
                        if !known && self.record(&row, state, now).await? {
                            recorded += 1;
                            self.transitions.inc();
                        }
                        if state == SlaState::AtRisk {
                            self.deadlines
                                .lock()
                                .await
                                .entry(row.sla_due_at.and_utc())
                                .or_default()
                                .insert(row.id.clone());
                        }
                    }
                    // The deadline moved (a severity change): schedule the new one.
                    _ => self.schedule(&row).await,
                }
            }
        }
        if recorded > 0 {
            self.bus.wake();
        }
        Ok(recorded)
    }

    /// Records one transition unless another replica already did.
    async fn record(&self, row: &ServiceRequestRow, state: SlaState, now: DateTime<Utc>) -> AppResult<bool> {
        let postgres = self.db.backend == Backend::Postgres;
        let from = match state {
            SlaState::Breached if row.sla_at_risk_at < row.sla_due_at => SlaState::AtRisk,
            _ => SlaState::OnTrack,
        };
        transaction!(self.db, |conn| {
            let won = diesel::insert_into(sla_transitions::table)
                .values(&SlaTransitionRow {
                    service_request_id: row.id.clone(),
                    state: state.as_str().into(),
                    due_at: row.sla_due_at,
                    recorded_at: now.naive_utc(),
                })
                .on_conflict_do_nothing()
                .execute(conn)
                .await?;
            if won == 0 {
                return Ok(false);
            }
            let history = HistoryRow {
                id: uuid::Uuid::now_v7().to_string(),
                service_request_id: row.id.clone(),
                agent_id: None,
                kind: HistoryKind::SlaStateChanged.as_str().into(),
                from_value: Some(from.as_str().into()),
                to_value: Some(state.as_str().into()),
                created_at: now.naive_utc(),
            };
            diesel::insert_into(service_request_history::table).values(&history).execute(conn).await?;
            let event = NewEventRow {
                partner_id: row.partner_id.clone(),
                service_request_id: Some(row.id.clone()),
                kind: "SLA_STATE_CHANGED".into(),
                payload: json!({ "from": from.as_str(), "to": state.as_str(), "slaDueAt": row.sla_due_at.and_utc() })
                    .to_string(),
                created_at: now.naive_utc(),
            };
            emit!(conn, postgres, &event);
            Ok::<bool, AppError>(true)
        })
    }

    /// Runs for the life of the process: loads the clocks, then records transitions as they
    /// fall due and schedules new deadlines from events.
    pub async fn run(self: Arc<Self>) {
        let mut events = self.bus.subscribe();
        if let Err(e) = self.load_running_clocks().await {
            tracing::error!(error.detail = ?e, "SLA watcher: loading running clocks failed");
        }
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error.detail = ?e, "SLA watcher: recording transitions failed; retrying");
            }
            let sleep = match self.next_deadline().await {
                Some(at) => (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO).min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {}
                received = events.recv() => match received {
                    Ok(event) => {
                        if let Some(row) = &event.request
                            && matches!(event.kind.as_str(), "CREATED" | "SEVERITY_CHANGED" | "STATUS_CHANGED")
                        {
                            self.schedule(row).await;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        // Missed some: reload every running clock.
                        let _ = self.load_running_clocks().await;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}
