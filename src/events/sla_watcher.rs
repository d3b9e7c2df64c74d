//! The SLA watcher: records the changes of SLA state the passing of time makes (S4:
//! `AT_RISK`, then `BREACHED`), at their instant.
//!
//! It keeps the next change of every running clock in a timer map (loaded at start, updated
//! from events), so a tick costs no query unless something is due. Each change is recorded
//! exactly once cluster-wide, whichever path reaches it first: the watcher of any replica or a
//! mutation. Every one of them locks the request, derives the changes since its recorded
//! state (`SlaRecord::catch_up`) and writes them with the new recorded state in one
//! transaction; whoever comes second finds nothing left to record. A replica that was down
//! catches up at start, each change at the instant it happened.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use tokio::sync::Mutex;

use super::EventBus;
use crate::clock::Clock;
use crate::db::models::ServiceRequestRow;
use crate::db::schema::{service_request_history, service_requests};
use crate::db::{Backend, Db};
use crate::domain::model::{EventKind, SlaState};
use crate::error::{AppError, AppResult};
use crate::repo::mutations::{LockingLoad, emit, load_request_for_update, record, sla_entries, sla_record, store_sla};
use crate::{transaction, with_conn};

/// Longest sleep between looks at the timer map: bounds how late a transition is when the
/// clock is moved by hand (tests) and how soon a changed deadline is noticed.
const MAX_SLEEP: Duration = Duration::from_secs(1);

pub struct SlaWatcher {
    db: Db,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    /// Instant → requests whose state may change then.
    deadlines: Mutex<BTreeMap<DateTime<Utc>, BTreeSet<String>>>,
    /// Transitions this process recorded (exported on `/metrics`).
    pub transitions: prometheus_client::metrics::counter::Counter,
}

impl SlaWatcher {
    pub fn new(db: Db, clock: Arc<dyn Clock>, bus: EventBus) -> Arc<SlaWatcher> {
        Arc::new(SlaWatcher { db, clock, bus, deadlines: Mutex::new(BTreeMap::new()), transitions: Default::default() })
    }

    /// Schedules the next change of a request whose state can still change with time.
    pub async fn schedule(&self, row: &ServiceRequestRow) {
        let Ok(record) = sla_record(row) else { return };
        if let Some(at) = record.next_change(self.clock.now()) {
            self.deadlines.lock().await.entry(at).or_default().insert(row.id.clone());
        } else if record.state_at(self.clock.now()) != record.recorded {
            // A change already due (a replica catching up).
            self.deadlines.lock().await.entry(self.clock.now()).or_default().insert(row.id.clone());
        }
    }

    /// Loads every clock whose state can still change with time.
    pub async fn load_running_clocks(&self) -> AppResult<usize> {
        let rows: Vec<ServiceRequestRow> = with_conn!(self.db, |conn| {
            service_requests::table
                .filter(service_requests::sla_stopped_at.is_null())
                .filter(service_requests::sla_state.eq_any([SlaState::OnTrack.as_str(), SlaState::AtRisk.as_str()]))
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

    /// Records every change due by the clock's now; returns how many requests this process
    /// recorded changes for.
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
            // One read finds what is left to record: at start every past deadline is due at
            // once, and most were recorded before (by this replica or another).
            let rows: Vec<ServiceRequestRow> = with_conn!(self.db, |conn| {
                service_requests::table
                    .filter(service_requests::id.eq_any(ids))
                    .select(ServiceRequestRow::as_select())
                    .load(conn)
                    .await?
            });
            for row in rows {
                let Ok(record) = sla_record(&row) else { continue };
                if record.state_at(now) != record.recorded && self.record(&row, now).await? {
                    recorded += 1;
                    self.transitions.inc();
                }
                if let Some(at) = record.next_change(now) {
                    self.deadlines.lock().await.entry(at).or_default().insert(row.id.clone());
                }
            }
        }
        if recorded > 0 {
            self.bus.wake();
        }
        Ok(recorded)
    }

    /// Records the changes since the request's recorded state, unless someone already did.
    async fn record(&self, row: &ServiceRequestRow, now: DateTime<Utc>) -> AppResult<bool> {
        let postgres = self.db.backend == Backend::Postgres;
        let (partner, id) = (row.partner_id.as_str(), row.id.as_str());
        transaction!(self.db, |conn| {
            let row = load_request_for_update!(conn, partner, id);
            let mut sla = sla_record(&row)?;
            let transitions = sla.catch_up(now);
            if transitions.is_empty() {
                return Ok(false);
            }
            let mut updated = row.clone();
            store_sla(&mut updated, &sla);
            diesel::update(service_requests::table.find(&row.id))
                .set(service_requests::sla_state.eq(&updated.sla_state))
                .execute(conn)
                .await?;
            let (histories, events) = sla_entries(&updated, None, &transitions, now);
            record!(conn, postgres, histories, events);
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
                            && matches!(
                                event.kind,
                                EventKind::Created
                                    | EventKind::SeverityChanged
                                    | EventKind::StatusChanged
                                    | EventKind::SlaDueChanged
                            )
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
