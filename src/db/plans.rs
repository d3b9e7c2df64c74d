//! Query plans of the batched statements, for the test that fails when one regresses.
//!
//! A batched statement (a loader's load by ids, a nested page, a whole child list) runs once
//! per level of a query, for every parent of that level. Its plan must not depend on the
//! statistics `ANALYZE` left behind: on SQLite, a nested page at `--scale 500` was driven from
//! a scan of `service_requests` and ran its per-parent subquery for every (row, parent) pair,
//! a hundred times slower than the same statement at `--scale 2000`, where the planner
//! happened to drive from the parents' key list.
//!
//! While a [`PlanLog`] records, every batched statement first runs as `EXPLAIN QUERY PLAN`
//! (SQLite) or `EXPLAIN` (PostgreSQL) with its own binds, on its own connection, and its plan
//! is kept beside its text. Recording is off unless a test turns it on; off, it costs one
//! atomic load per batched statement.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::QueryResult;

/// `EXPLAIN` of a query, with the query's own binds.
struct Explain<'q, Q> {
    query: &'q Q,
    prefix: &'static str,
}

impl<Q> QueryId for Explain<'_, Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q> Query for Explain<'_, Q> {
    type SqlType = diesel::sql_types::Untyped;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Explain<'_, Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql(self.prefix);
        self.query.walk_ast(out.reborrow())
    }
}

/// One batched statement as it ran: its text (binds listed after it) and its plan, a line per
/// plan node, indented by depth.
#[derive(Debug, Clone)]
pub struct Plan {
    pub sql: String,
    pub lines: Vec<String>,
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.sql)?;
        for line in &self.lines {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

/// The plans of the batched statements run while recording.
#[derive(Debug, Default)]
pub struct PlanLog {
    recording: AtomicBool,
    plans: Mutex<Vec<Plan>>,
}

impl PlanLog {
    /// Starts recording (and forgets what was recorded before).
    pub fn start(&self) {
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.recording.store(true, Ordering::SeqCst);
    }

    /// Stops recording and returns the plans recorded since [`PlanLog::start`].
    pub fn take(&self) -> Vec<Plan> {
        self.recording.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.plans.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn is_recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    fn push(&self, plan: Plan) {
        self.plans.lock().unwrap_or_else(|e| e.into_inner()).push(plan);
    }
}

/// A connection that can explain a query of its backend.
pub trait Explaining {
    type Backend: Backend;

    /// Records the plan of `query` in `log`.
    fn explain<Q>(&mut self, log: &PlanLog, query: &Q) -> impl Future<Output = QueryResult<()>> + Send
    where
        Q: QueryFragment<Self::Backend> + Sync;
}

#[cfg(feature = "postgres")]
impl Explaining for super::PgConn {
    type Backend = diesel::pg::Pg;

    async fn explain<Q>(&mut self, log: &PlanLog, query: &Q) -> QueryResult<()>
    where
        Q: QueryFragment<diesel::pg::Pg> + Sync,
    {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
            line: String,
        }
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(query).to_string();
        let lines: Vec<Line> = diesel_async::RunQueryDsl::load(Explain { query, prefix: "EXPLAIN " }, self).await?;
        log.push(Plan { sql, lines: lines.into_iter().map(|l| l.line).collect() });
        Ok(())
    }
}

#[cfg(feature = "sqlite")]
impl Explaining for super::SqliteConn {
    type Backend = diesel::sqlite::Sqlite;

    async fn explain<Q>(&mut self, log: &PlanLog, query: &Q) -> QueryResult<()>
    where
        Q: QueryFragment<diesel::sqlite::Sqlite> + Sync,
    {
        #[derive(diesel::QueryableByName)]
        struct Node {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: i32,
            #[diesel(sql_type = diesel::sql_types::Integer)]
            parent: i32,
            #[diesel(sql_type = diesel::sql_types::Text)]
            detail: String,
        }
        let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(query).to_string();
        let nodes: Vec<Node> =
            diesel_async::RunQueryDsl::load(Explain { query, prefix: "EXPLAIN QUERY PLAN " }, self).await?;
        // Nodes come parent first; a node's depth is its parent's plus one.
        let mut depth = std::collections::HashMap::new();
        let lines = nodes
            .iter()
            .map(|n| {
                let d = depth.get(&n.parent).map_or(0, |p| p + 1);
                depth.insert(n.id, d);
                format!("{}{}", "  ".repeat(d), n.detail)
            })
            .collect();
        log.push(Plan { sql, lines });
        Ok(())
    }
}

/// Loads the rows of a batched statement on `$conn`, recording its plan first while `$db`'s
/// plan log records (see the module).
#[macro_export]
macro_rules! load_batch {
    ($db:expr, $conn:ident, $query:expr) => {{
        let query = $query;
        if $db.plans.is_recording() {
            $crate::db::plans::Explaining::explain(&mut *$conn, &$db.plans, &query).await?;
        }
        diesel_async::RunQueryDsl::load(query, $conn).await?
    }};
}
