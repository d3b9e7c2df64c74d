//! Where a SQLite statement runs.
//!
//! diesel's SQLite connection is synchronous; diesel-async runs each statement on tokio's
//! blocking pool and awaits it. That hop (hand the statement to a blocking thread, wake the
//! task when it is done, wait for a worker to poll it again) cost more than most of the
//! statements themselves: a point read takes microseconds, and under load the woken task waits
//! behind every other runnable task. A write transaction paid it for each of its statements
//! (a dozen to file a request) while it held SQLite's one write lock, so every other writer
//! queued behind those trips too.
//!
//! Inside [`inline`] the statements run on the calling thread instead, as part of the poll
//! that starts them. That suits statements that never wait for a lock: reads (in WAL mode a
//! reader never waits for the writer) and the statements of a write transaction once `BEGIN
//! IMMEDIATE` holds the lock (this process's writers take their turns before it). GraphQL
//! requests run inline ([`crate::graphql::run::execute`]), and so does the body of every
//! write transaction ([`transaction!`](crate::transaction)). A statement that may wait runs on
//! the blocking pool even there: `BEGIN IMMEDIATE` waits while another process writes, and
//! `COMMIT` may copy the WAL into the database and sync it. So does every statement of
//! background work (the SLA watcher's reads, outbox, webhooks, sync, pruning), whose
//! autocommit writes may wait for the lock.
//!
//! What a statement inline costs: its worker thread runs nothing else meanwhile. A slow
//! statement (a report over every request) holds one of the workers as long as it holds a
//! blocking thread before; the other workers take the waiting tasks.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use diesel::connection::AnsiTransactionManager;
use diesel_async::TransactionManager;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncTransactionManagerWrapper};
use futures_util::future::BoxFuture;

use crate::db::SqliteConn;
use crate::error::AppResult;

tokio::task_local! {
    /// Whether the statements the task starts run on its thread (the innermost scope decides).
    static INLINE: bool;
}

/// Runs `work` with the SQLite statements it starts on the calling thread (see the module).
pub async fn inline<F: Future>(work: F) -> F::Output {
    INLINE.scope(true, work).await
}

/// Runs the work `start` makes with the SQLite statements it starts on the blocking pool,
/// inside [`inline`] too: for statements that may wait for SQLite's lock. A closure, because
/// diesel-async hands a statement to its runtime as soon as the statement's method is called,
/// before the future it returns is polled.
async fn on_pool<F: Future>(start: impl FnOnce() -> F) -> F::Output {
    INLINE.scope(false, async move { start().await }).await
}

/// Begins a write transaction, taking SQLite's write lock up front (`BEGIN IMMEDIATE`).
pub async fn begin_immediate(conn: &mut SqliteConn) -> AppResult<()> {
    on_pool(|| conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))).await?;
    Ok(())
}

/// Ends the transaction [`begin_immediate`] began: commits it when `result` is a value, else
/// rolls it back and returns the error.
pub async fn end<R>(conn: &mut SqliteConn, result: AppResult<R>) -> AppResult<R> {
    type Manager = SyncTransactionManagerWrapper<AnsiTransactionManager>;
    match result {
        Ok(value) => {
            on_pool(|| Manager::commit_transaction(conn)).await?;
            Ok(value)
        }
        Err(e) => {
            on_pool(|| Manager::rollback_transaction(conn)).await?;
            Err(e)
        }
    }
}

/// The SQLite connection's runtime: inline inside [`inline`], else tokio's blocking pool.
pub struct SqliteRuntime(tokio::runtime::Handle);

impl SpawnBlocking for SqliteRuntime {
    fn spawn_blocking<'a, R>(
        &mut self,
        task: impl FnOnce() -> R + Send + 'static,
    ) -> BoxFuture<'a, Result<R, Box<dyn Error + Send + Sync + 'static>>>
    where
        R: Send + 'static,
    {
        if INLINE.try_with(|inline| *inline).unwrap_or(false) {
            let value = task();
            return Box::pin(std::future::ready(Ok(value)));
        }
        Box::pin(Finished { task: self.0.spawn_blocking(task), runtime: self.0.clone() })
    }

    fn get_runtime() -> Self {
        SqliteRuntime(tokio::runtime::Handle::current())
    }
}

/// A statement on the blocking pool that finishes before its future is gone: dropped early
/// (a timeout, a client gone), it waits for the statement, so the connection is never handed
/// on, or closed, while a thread still uses it (what diesel-async's own runtime does).
struct Finished<R> {
    task: tokio::task::JoinHandle<R>,
    runtime: tokio::runtime::Handle,
}

impl<R> Future for Finished<R> {
    type Output = Result<R, Box<dyn Error + Send + Sync + 'static>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx).map_err(Box::from)
    }
}

impl<R> Drop for Finished<R> {
    fn drop(&mut self) {
        if !self.task.is_finished() {
            tokio::task::block_in_place(|| {
                let _ = self.runtime.block_on(&mut self.task);
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, RunQueryDsl};

    use super::*;

    #[derive(QueryableByName)]
    struct Thread {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// Which thread ran a statement: a SQL function registered per connection reports it.
    async fn statement_thread(conn: &mut SqliteConn) -> std::thread::ThreadId {
        let id = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = id.clone();
        conn.spawn_blocking(move |c| {
            diesel::define_sql_function!(fn which_thread() -> BigInt);
            which_thread_utils::register_impl(c, move || {
                *seen.lock().unwrap() = Some(std::thread::current().id());
                0i64
            })
        })
        .await
        .unwrap();
        let rows: Vec<Thread> = diesel::sql_query("SELECT which_thread() AS n").load(conn).await.unwrap();
        assert_eq!(rows[0].n, 0);
        id.lock().unwrap().take().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn statements_run_inline_only_when_asked() {
        // As every connection of the process is opened (a lib test checks the setting).
        crate::db::configure_sqlite_process();
        let mut conn = SqliteConn::establish(":memory:").await.unwrap();
        let here = std::thread::current().id();
        assert_ne!(statement_thread(&mut conn).await, here, "outside: on the blocking pool");
        let inside = inline(async { (std::thread::current().id(), statement_thread(&mut conn).await) }).await;
        assert_eq!(inside.1, inside.0, "inside: on the calling thread");
        let nested =
            inline(async { (std::thread::current().id(), on_pool(|| statement_thread(&mut conn)).await) }).await;
        assert_ne!(nested.1, nested.0, "in a pool scope within: on the pool");
        assert_ne!(statement_thread(&mut conn).await, std::thread::current().id(), "after: on the pool again");
    }
}
