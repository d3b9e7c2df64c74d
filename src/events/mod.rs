//! The event bus: one interface over both backends.
//!
//! Mutations write events as rows of the durable `events` table in their own transaction. A
//! dispatcher task per process reads the rows it has not had yet (those after the newest it had,
//! and those that committed late into an id gap: [`Cursor`]), in id order, loads
//! the requests they concern once, and fans them out to local subscribers through a bounded
//! broadcast channel. What wakes it differs by backend:
//! - embedded SQLite: the committing mutation wakes it in-process;
//! - PostgreSQL: every replica LISTENs on a dedicated connection; the transaction's NOTIFY
//!   (carrying only the event id) is delivered on commit. If the LISTEN connection drops, the
//!   replica reconnects and replays from the last delivered id, so no event is lost.
//!
//! A slow poll backs up both, so a lost wake-up delays an event but never loses it.

mod cursor;
pub mod sla_watcher;

pub(crate) use cursor::Cursor;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use tokio::sync::{Notify, broadcast};

use crate::db::models::{EventRow, ServiceRequestRow};
use crate::db::schema::{events, service_requests};
use crate::db::{Backend, Db};
use crate::domain::model::EventKind;
use crate::error::AppResult;
use crate::with_conn;

/// The PostgreSQL channel events are announced on.
pub const CHANNEL: &str = "sg_events";

/// Events a local subscriber may fall behind by before it is told and dropped: enough for a
/// burst of a few thousand changes, small enough to bound memory per process.
pub const BROADCAST_CAPACITY: usize = 4096;

/// How often the dispatcher looks for events nobody announced (a lost NOTIFY, a dropped
/// LISTEN connection being re-established).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How long events are kept: long enough for any replica to catch up after a restart or
/// an outage, short enough that the table stays small.
pub const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Most events read per round.
pub(crate) const BATCH: i64 = 500;

/// One committed change, with the request it concerns as it is after the change.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub partner_id: String,
    pub service_request_id: Option<String>,
    pub kind: EventKind,
    pub payload: serde_json::Value,
    pub created_at: DateTime<Utc>,
    /// The request as read when the event was dispatched.
    pub request: Option<ServiceRequestRow>,
}

/// What the bus did (exported on `/metrics`).
#[derive(Debug, Default)]
pub struct BusStats {
    /// Events read from the table and broadcast to this process's subscribers.
    pub dispatched: prometheus_client::metrics::counter::Counter,
    /// Events handed to a subscriber (after its filter).
    pub delivered: prometheus_client::metrics::counter::Counter,
    /// Events a subscriber missed because it fell too far behind.
    pub dropped: prometheus_client::metrics::counter::Counter,
    pub listener_reconnects: prometheus_client::metrics::counter::Counter,
}

struct Inner {
    tx: broadcast::Sender<Arc<Event>>,
    wake: Notify,
    stats: BusStats,
}

/// The handle every part of a process shares.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventBus")
    }
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::new()
    }
}

impl EventBus {
    pub fn new() -> EventBus {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        EventBus { inner: Arc::new(Inner { tx, wake: Notify::new(), stats: BusStats::default() }) }
    }

    /// A receiver of every event dispatched from now on (all partners: filter by partner).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// How many receivers are subscribed in this process (subscriptions, the SLA watcher).
    pub fn receiver_count(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Tells the dispatcher new events were committed.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn stats(&self) -> &BusStats {
        &self.inner.stats
    }

    /// Starts the dispatcher, and on PostgreSQL the LISTEN task on its own connection.
    pub async fn start(&self, db: Db, database_url: &str) -> AppResult<()> {
        let start_after = last_event_id(&db).await?;
        let bus = self.clone();
        tokio::spawn(async move { bus.dispatch(db, start_after).await });
        if Backend::of_url(database_url) == Backend::Postgres {
            #[cfg(feature = "postgres")]
            {
                let bus = self.clone();
                let url = database_url.to_owned();
                tokio::spawn(async move { bus.listen(url).await });
            }
        }
        Ok(())
    }

    async fn dispatch(self, db: Db, start_after: i64) {
        let mut cursor = Cursor::new(start_after);
        loop {
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            // Each batch reads the gaps with what is new; a full one means there is more.
            loop {
                match fetch(&db, &cursor).await {
                    Ok(batch) => {
                        let full = batch.len() as i64 == BATCH;
                        for (id, event) in batch {
                            if cursor.accept(id)
                                && let Some(event) = event
                            {
                                // A calendar edited on any replica is read again here.
                                if event.kind == EventKind::CalendarChanged
                                    && let Some(calendar) = event.payload.get("calendarId").and_then(|v| v.as_str())
                                {
                                    db.calendars.forget(calendar);
                                }
                                self.inner.stats.dispatched.inc();
                                // No receivers is fine: nobody is subscribed on this replica.
                                let _ = self.inner.tx.send(Arc::new(event));
                            }
                        }
                        let passed = cursor.settle(Instant::now());
                        if passed > 0 {
                            tracing::warn!(
                                event.ids = passed,
                                floor = cursor.floor(),
                                "event dispatch: passed ids that never committed"
                            );
                        }
                        if !full {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error.detail = ?e, "event dispatch: reading events failed; retrying");
                        break;
                    }
                }
            }
        }
    }

    #[cfg(feature = "postgres")]
    async fn listen(self, url: String) {
        use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
        use futures_util::StreamExt;
        let url = with_application_name(&url, "sg-listener");
        let mut backoff = Duration::from_millis(100);
        loop {
            match AsyncPgConnection::establish(&url).await {
                Ok(mut conn) => match conn.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        // Catch up on whatever committed while we were not listening.
                        self.wake();
                        let mut stream = std::pin::pin!(conn.notifications_stream());
                        while let Some(note) = stream.next().await {
                            match note {
                                Ok(_) => self.wake(),
                                Err(e) => {
                                    tracing::warn!(error.detail = %e, "LISTEN connection failed");
                                    break;
                                }
                            }
                        }
                        tracing::warn!("LISTEN connection closed; reconnecting");
                    }
                    Err(e) => tracing::warn!(error.detail = %e, "LISTEN failed"),
                },
                Err(e) => tracing::warn!(error.detail = %e, "connecting the LISTEN connection failed"),
            }
            self.inner.stats.listener_reconnects.inc();
            self.wake();
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// `url` with `application_name` set, so operators (and tests) can tell the connection apart.
fn with_application_name(url: &str, name: &str) -> String {
    if url.contains("application_name=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&application_name={name}")
    } else {
        format!("{url}?application_name={name}")
    }
}

/// Terminates every LISTEN connection of the gateway on this database (PostgreSQL), for the
/// tests that prove a dropped connection loses no event. Returns how many were terminated.
pub async fn terminate_listeners_for_test(db: &Db) -> AppResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let sql = "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
               WHERE application_name = 'sg-listener' AND datname = current_database()";
    let rows: Vec<Count> = with_conn!(db, |conn| diesel::sql_query(sql).load(conn).await?);
    Ok(rows.into_iter().map(|c| c.n).sum())
}

/// The statement of a pass with `gaps` gaps: what is after the newest id (`$1`, at most `$2`
/// rows), and each gap (`$3`–`$4`, …), as a union of id ranges. Each range is an index range
/// scan; one `id > $1 OR id BETWEEN …` was planned (generic plans) as a walk of the whole
/// primary key from its first id: 206 ms per pass over 2 million events.
fn unread_sql(backend: Backend, gaps: usize) -> String {
    let param = |i: usize| match backend {
        Backend::Postgres => format!("${i}"),
        Backend::Sqlite => format!("?{i}"),
    };
    let columns = "id, partner_id, service_request_id, kind, payload, created_at";
    let mut sql = format!(
        "SELECT {columns} FROM (SELECT * FROM (SELECT {columns} FROM events WHERE id > {} ORDER BY id LIMIT {}) AS fresh",
        param(1),
        param(2)
    );
    for i in 0..gaps {
        sql += &format!(
            " UNION ALL SELECT {columns} FROM events WHERE id BETWEEN {} AND {}",
            param(3 + 2 * i),
            param(4 + 2 * i)
        );
    }
    sql += &format!(") AS unread ORDER BY id LIMIT {}", param(2));
    sql
}

/// Deletes events created before `before`; returns how many.
pub async fn prune(db: &Db, before: DateTime<Utc>) -> AppResult<usize> {
    Ok(with_conn!(db, |conn| diesel::delete(events::table.filter(events::created_at.lt(before.naive_utc())))
        .execute(conn)
        .await?))
}

/// Prunes events older than [`RETENTION`] every hour for the life of the process. Replicas
/// may all do it: deleting what another already deleted is harmless.
pub fn spawn_pruning(db: Db, clock: Arc<dyn crate::clock::Clock>) {
    tokio::spawn(async move {
        loop {
            match prune(&db, clock.now() - RETENTION).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events.pruned = n, "pruned old events"),
                Err(e) => tracing::warn!(error.detail = ?e, "pruning events failed"),
            }
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    });
}

async fn last_event_id(db: &Db) -> AppResult<i64> {
    let max: Option<i64> =
        with_conn!(db, |conn| events::table.select(diesel::dsl::max(events::id)).first(conn).await?);
    Ok(max.unwrap_or(0))
}

/// The events `cursor` has not had (its gaps, and what is after its newest id), in id order,
/// in one statement (see [`cursor`] for why), each with its request; `None` for an event of a
/// kind this build does not know (written by a newer replica), which is passed over.
pub(crate) async fn fetch(db: &Db, cursor: &Cursor) -> AppResult<Vec<(i64, Option<Event>)>> {
    let (after, gaps) = cursor.unread();
    let rows: Vec<EventRow> = if gaps.is_empty() {
        with_conn!(db, |conn| {
            events::table
                .filter(events::id.gt(after))
                .order(events::id)
                .limit(BATCH)
                .select(EventRow::as_select())
                .load(conn)
                .await?
        })
    } else {
        use diesel::sql_types::BigInt;
        let sql = unread_sql(db.backend, gaps.len());
        with_conn!(db, |conn, DB| {
            let mut unread =
                diesel::sql_query(&sql).into_boxed::<DB>().bind::<BigInt, _>(after).bind::<BigInt, _>(BATCH);
            for gap in gaps {
                unread = unread.bind::<BigInt, _>(gap.from).bind::<BigInt, _>(gap.to);
            }
            unread.load(conn).await?
        })
    };
    let ids: Vec<String> = rows.iter().filter_map(|e| e.service_request_id.clone()).collect();
    let requests: HashMap<String, ServiceRequestRow> = if ids.is_empty() {
        HashMap::new()
    } else {
        with_conn!(db, |conn| {
            service_requests::table
                .filter(service_requests::id.eq_any(&ids))
                .select(ServiceRequestRow::as_select())
                .load(conn)
                .await?
        })
        .into_iter()
        .map(|r: ServiceRequestRow| (r.id.clone(), r))
        .collect()
    };
    Ok(rows
        .into_iter()
        .map(|e| {
            let Ok(kind) = e.kind.parse::<EventKind>() else {
                tracing::warn!(event.id = e.id, event.kind = %e.kind, "passing over an event of an unknown kind");
                return (e.id, None);
            };
            let request = e.service_request_id.as_ref().and_then(|id| requests.get(id).cloned());
            (
                e.id,
                Some(Event {
                    id: e.id,
                    partner_id: e.partner_id,
                    service_request_id: e.service_request_id,
                    kind,
                    payload: serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::Null),
                    created_at: e.created_at.and_utc(),
                    request,
                }),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::BigInt;
    use diesel::{Connection, SqliteConnection};

    use super::*;

    /// What a pass reads when the cursor has had up to 10 but 3–4 and 7, on SQLite's spelling
    /// (PostgreSQL's is run by `tests/realtime.rs`, where ids commit out of order).
    #[test]
    fn a_pass_with_gaps_reads_them_with_what_is_new_in_id_order() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        diesel::RunQueryDsl::execute(
            diesel::sql_query(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, partner_id TEXT NOT NULL, service_request_id TEXT,
                 kind TEXT NOT NULL, payload TEXT NOT NULL, created_at TIMESTAMP NOT NULL)",
            ),
            &mut conn,
        )
        .unwrap();
        for id in 1..=12 {
            diesel::RunQueryDsl::execute(
                diesel::sql_query("INSERT INTO events VALUES (?, 'p', NULL, 'CREATED', '{}', '2026-12-06 10:00:00')")
                    .bind::<BigInt, _>(id),
                &mut conn,
            )
            .unwrap();
        }
        let read = |conn: &mut SqliteConnection, limit: i64| -> Vec<i64> {
            let rows: Vec<EventRow> = diesel::RunQueryDsl::load(
                diesel::sql_query(unread_sql(Backend::Sqlite, 2))
                    .bind::<BigInt, _>(10)
                    .bind::<BigInt, _>(limit)
                    .bind::<BigInt, _>(3)
                    .bind::<BigInt, _>(4)
                    .bind::<BigInt, _>(7)
                    .bind::<BigInt, _>(7),
                conn,
            )
            .unwrap();
            rows.into_iter().map(|r| r.id).collect()
        };
        assert_eq!(read(&mut conn, 10), [3, 4, 7, 11, 12]);
        assert_eq!(read(&mut conn, 2), [3, 4], "a batch takes the lowest ids first");
    }
}
