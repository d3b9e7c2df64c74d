//! The SQL of the gateway, written once with diesel's DSL and expanded per backend.
//!
//! Batch functions take many keys and run one `IN (…)` statement: the loaders call them.
//! Page functions run a count and a page: the root connections call them.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::{
    BoolExpressionMethods, EscapeExpressionMethods, ExpressionMethods, NullableExpressionMethods, OptionalExtension,
    QueryDsl, SelectableHelper, TextExpressionMethods,
};
use diesel_async::RunQueryDsl;

use super::Repo;
use crate::db::Db;
use crate::db::models::*;
use crate::db::schema::indexes;
use crate::db::schema::*;
use crate::db::sql::{IndexName, indexed_by, unindexed};
use crate::domain::model::{RequestStatus, SlaState};
use crate::error::AppResult;
use crate::paging::PageArgs;
use crate::with_conn;

diesel::define_sql_function! {
    /// Lower-cases text (ASCII on SQLite), for case-insensitive search on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The most keys one statement binds: below SQLite's and PostgreSQL's bind-parameter limits.
const MAX_KEYS_PER_STATEMENT: usize = 10_000;

/// A page of a root connection: the rows of the window, where it starts, and the total.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub start: usize,
    pub total: usize,
}

/// The predicate of the partial index `service_requests_open_severity_due_idx` (migration
/// 000003), word for word.
const OPEN_STATUSES_PREDICATE: &str = "status IN ('NEW', 'OPEN', 'IN_PROGRESS', 'WAITING_ON_PARTNER')";

/// The window a page reads, its counted total (`None` when `totalCount` was not asked for
/// and the page reads forward) and the row limit: one past the window when uncounted, to
/// learn whether more follow.
macro_rules! page_window {
    ($page:expr, $base:ident, $conn:ident) => {{
        let (window, total) = match $page.uncounted_window() {
            Some(window) => (window, None),
            None => {
                let total: i64 = $base().count().get_result($conn).await?;
                ($page.window(total as usize), Some(total as usize))
            }
        };
        let limit = window.len() as i64 + i64::from(total.is_none());
        (window, total, limit)
    }};
}
pub(crate) use page_window;

/// The children a nested connection lists under each of its parents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Children {
    SubscriptionsOfCustomer,
    RequestsOfCustomer,
    RequestsOfSubscription,
}

impl Children {
    /// The table, the parent column, the index on (parent, created_at, id) that walks a
    /// parent's children in order (migration 000005), the order the connection lists children
    /// in, and the column besides `partner_id` that lets a partner see a child: a provider sees its
    /// resellers' customers' subscriptions (as `subscriptions_of_customers`); service requests
    /// only their filer sees.
    fn parts(self) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        match self {
            Children::SubscriptionsOfCustomer => (
                "subscriptions",
                "customer_id",
                indexes::SubscriptionsByCustomer::NAME,
                "x.created_at, x.id",
                "provider_id",
            ),
            Children::RequestsOfCustomer => (
                "service_requests",
                "customer_id",
                indexes::ServiceRequestsByCustomer::NAME,
                "x.created_at DESC, x.id DESC",
                "partner_id",
            ),
            Children::RequestsOfSubscription => (
                "service_requests",
                "subscription_id",
                indexes::ServiceRequestsBySubscription::NAME,
                "x.created_at DESC, x.id DESC",
                "partner_id",
            ),
        }
    }
}

/// A filter keeping the first `$limit` children of each parent in `$keys`, in the order the
/// connection lists them, scoped to the partner, where the loaders of whole lists read every
/// child of every parent to page in memory (a subscription with thousands of requests cost
/// thousands of rows per page of it).
///
/// Each parent's children are walked in the index on (parent, created_at, id) (migration
/// 000005) with a `LIMIT`, so a parent with thousands of children costs no more than its page:
/// a `LATERAL` join on PostgreSQL, a correlated `IN (… LIMIT n)` per parent on SQLite (which
/// has no `LATERAL`). A window function numbering each parent's children read all of them:
/// 4.5 ms against 0.2 ms on SQLite for the benchmark's Q3 level of 60 subscriptions, one of
/// them with 3,000 requests. PostgreSQL binds the parents as an array, SQLite as a JSON array.
///
/// The parents' key list drives the statement whatever the statistics say: SQLite keeps the
/// order of a `CROSS JOIN`, and `INDEXED BY` names the index each parent's children are read
/// through (SQLite refuses to prepare the statement rather than plan it another way). With a
/// plain `JOIN`, SQLite at `--scale` 100 and 500 drove the join from a scan of the child
/// table and ran the per-parent subquery for every (row, parent) pair: a lone nested query of
/// the load benchmark took 260–470 ms there, against a few ms at 2,000. `tests/plans.rs`
/// fails when a batched statement's plan regresses.
///
/// A filter on the table's id rather than a query of its own, so that the rows are still
/// selected by diesel's DSL: read by position (a `sql_query` reads every column by name, which
/// cost ~9 % of the gateway's CPU on Q3) and, its text built by [`crate::db::sql`], from a
/// prepared statement each connection reuses.
macro_rules! first_children_filter {
    ($children:expr, $postgres:expr, $keys:expr, $keys_type:ty, $partner:expr, $limit:expr) => {{
        use diesel::sql_types::{BigInt, Bool, Text};
        let (table, parent, index, order, seen_by) = $children.parts();
        let (head, children, end) = if $postgres {
            (format!("{table}.id IN (SELECT l.id FROM unnest("), format!(") AS p(id) CROSS JOIN LATERAL (SELECT x.id FROM {table} x WHERE x.{parent} = p.id"), ") AS l)")
        } else {
            (
                format!("{table}.id IN (SELECT y.id FROM json_each("),
                format!(") AS p CROSS JOIN {table} AS y INDEXED BY sqlite_autoindex_{table}_1 WHERE y.id IN (SELECT x.id FROM {table} AS x INDEXED BY {index} WHERE x.{parent} = p.value"),
                "))",
            )
        };
        crate::db::sql::sql::<Bool>(head)
            .bind::<$keys_type, _>($keys)
            .sql(children)
            // The scope filters; on PostgreSQL as an expression no index covers (see
            // `crate::db::sql::Unindexed`), which the demo's provider otherwise combined with
            // the partner's index. SQLite reads `x` through the index it names.
            .sql(if $postgres { " AND ((x.partner_id || '') = " } else { " AND (x.partner_id = " })
            .bind::<Text, _>($partner)
            .sql(if $postgres { format!(" OR (x.{seen_by} || '') = ") } else { format!(" OR x.{seen_by} = ") })
            .bind::<Text, _>($partner)
            .sql(format!(") ORDER BY {order} LIMIT "))
            .bind::<BigInt, _>($limit)
            .sql(end)
    }};
}

/// The scope of a batched statement over children of `$parent` rows (notes of requests,
/// domains of customers…): only children of parents the partner sees, found through the
/// batch's keys, never by walking everything the partner owns through its index.
///
/// PostgreSQL: [`mine!`], the parents among the keys that the partner sees, an index scan of
/// the parent's primary key by the key array. SQLite: [`seen_parent!`], one probe of the
/// parent's primary key per child row, through its index by name: the same subquery as on
/// PostgreSQL was planned as a scan of an index of every request at `--scale 100`.
macro_rules! mine {
    ($parent:ident, $keys:expr, $scope:expr) => {
        $parent::table.filter($parent::id.eq_any($keys)).filter($scope).select($parent::id)
    };
}

/// See [`mine!`]: a child row's `$column` (text: `table.column`) names a row of `$parent`
/// whose `partner_id` or `$seen_by` is the partner.
macro_rules! seen_parent {
    ($parent:literal, $column:literal, $seen_by:literal, $partner:expr) => {{
        use diesel::sql_types::{Bool, Text};
        crate::db::sql::sql::<Bool>(concat!(
            "EXISTS (SELECT 1 FROM ",
            $parent,
            " AS s INDEXED BY sqlite_autoindex_",
            $parent,
            "_1 WHERE s.id = ",
            $column,
            " AND (s.partner_id = "
        ))
        .bind::<Text, _>($partner)
        .sql(concat!(" OR s.", $seen_by, " = "))
        .bind::<Text, _>($partner)
        .sql("))")
    }};
}

/// Loads a batched statement whose scope differs per backend (see [`mine!`]): `$query`, with
/// `$scope` bound to the `postgres:` or the `sqlite:` filter.
macro_rules! scoped_batch {
    ($db:expr, |$conn:ident, $scope:ident| $query:expr, postgres: $pg:expr, sqlite: $sqlite:expr) => {{
        match &$db.pool {
            #[cfg(feature = "postgres")]
            crate::db::Pool::Postgres(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut crate::db::PgConn = &mut guard;
                let $scope = $pg;
                crate::load_batch!($db, $conn, $query)
            }
            #[cfg(feature = "sqlite")]
            crate::db::Pool::Sqlite(pool) => {
                let mut guard = pool.get().await?;
                let $conn: &mut crate::db::SqliteConn = &mut guard;
                let $scope = $sqlite;
                crate::load_batch!($db, $conn, $query)
            }
        }
    }};
}

/// Loads, on whichever backend the repo uses, the rows `$query` (a closure of the filter from
/// [`first_children_filter!`]) selects.
macro_rules! first_children {
    ($repo:ident, $children:expr, $ids:expr, $limit:expr, |$cut:ident| $query:expr) => {{
        let mut out = Vec::new();
        for keys in chunks($ids) {
            match &$repo.db.pool {
                #[cfg(feature = "postgres")]
                crate::db::Pool::Postgres(pool) => {
                    let mut conn = pool.get().await?;
                    let $cut = first_children_filter!(
                        $children,
                        true,
                        keys,
                        diesel::sql_types::Array<diesel::sql_types::Text>,
                        &$repo.partner_id,
                        $limit
                    );
                    let conn = &mut *conn;
                    out.extend(crate::load_batch!($repo.db, conn, $query));
                }
                #[cfg(feature = "sqlite")]
                crate::db::Pool::Sqlite(pool) => {
                    let mut conn = pool.get().await?;
                    let keys = serde_json::to_string(keys).map_err(crate::error::AppError::internal)?;
                    let $cut = first_children_filter!(
                        $children,
                        false,
                        keys,
                        diesel::sql_types::Text,
                        &$repo.partner_id,
                        $limit
                    );
                    let conn = &mut *conn;
                    out.extend(crate::load_batch!($repo.db, conn, $query));
                }
            }
        }
        out
    }};
}

impl<T> Page<T> {
    /// A page of `window`. With a counted `total` it is exact; without one the rows were read
    /// one past the window, and `total` only tells whether more follow (`totalCount` was not
    /// asked for, so nobody reads it).
    pub fn of(mut rows: Vec<T>, window: std::ops::Range<usize>, total: Option<usize>) -> Page<T> {
        match total {
            Some(total) => Page { rows, start: window.start, total },
            None => {
                let more = rows.len() > window.len();
                rows.truncate(window.len());
                let total = window.start + rows.len() + usize::from(more);
                Page { rows, start: window.start, total }
            }
        }
    }
}

/// The range of lower-cased text that starts with `prefix` (lower-cased), `[from, to)`: for
/// ASCII prefixes only, the ones SQLite's `lower()` folds as Rust does.
fn prefix_range(prefix: &str) -> Option<(String, String)> {
    if !prefix.is_ascii() {
        return None;
    }
    let from = prefix.to_ascii_lowercase();
    let mut to = from.clone().into_bytes();
    let last = to.pop()?;
    // 0x7f has no ASCII successor; such a prefix keeps the plain LIKE.
    (last < 0x7f).then(|| {
        to.push(last + 1);
        (from, String::from_utf8(to).unwrap_or_default())
    })
}

/// `%…%` / `…%` patterns with LIKE's wildcards escaped (the escape character is `\`).
fn like_escape(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.to_lowercase().chars() {
        if matches!(ch, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The distinct values, in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(v.as_str())).cloned().collect()
}

fn chunks(keys: &[String]) -> impl Iterator<Item = &[String]> {
    keys.chunks(MAX_KEYS_PER_STATEMENT)
}

// ---------------------------------------------------------------------------------------
// Who is asking (unscoped by nature: this is how the scope is found).

/// The agent and its partner, for who a verified token speaks for. Deleted partners' agents
/// are unknown.
pub async fn caller_rows(db: &Db, identity: &crate::auth::Identity) -> AppResult<Option<(AgentRow, PartnerRow)>> {
    let (by_id, by_identity) = match identity {
        crate::auth::Identity::Agent(id) => (Some(id.as_str()), None),
        crate::auth::Identity::Mapped { value, .. } => (None, Some(value.as_str())),
    };
    Ok(with_conn!(db, |conn, DB| {
        let mut q = agents::table.inner_join(partners::table).into_boxed::<DB>();
        if let Some(id) = by_id {
            q = q.filter(agents::id.eq(id));
        }
        if let Some(value) = by_identity {
            q = q.filter(agents::identity.eq(value));
        }
        q.filter(partners::deleted_at.is_null())
            .select((AgentRow::as_select(), PartnerRow::as_select()))
            .first(conn)
            .await
            .optional()?
    }))
}

pub async fn agent_by_email(db: &Db, email: &str) -> AppResult<Option<AgentRow>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(email.to_lowercase()))
            .select(AgentRow::as_select())
            .first(conn)
            .await
            .optional()?
    }))
}

/// The agent with this e-mail (any case) or id.
pub async fn agent_by_email_or_id(db: &Db, agent: &str) -> AppResult<Option<AgentRow>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(agent.to_lowercase()).or(agents::id.eq(agent)))
            .select(AgentRow::as_select())
            .first(conn)
            .await
            .optional()?
    }))
}

/// The partner of the agent with this e-mail (any case) or id.
pub async fn partner_of_agent(db: &Db, agent: &str) -> AppResult<Option<String>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(agent.to_lowercase()).or(agents::id.eq(agent)))
            .select(agents::partner_id)
            .first(conn)
            .await
            .optional()?
    }))
}

/// Every agent with its partner's name, for the README and `token` help.
pub async fn all_agents(db: &Db) -> AppResult<Vec<(AgentRow, String)>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .inner_join(partners::table)
            .order(agents::email)
            .select((AgentRow::as_select(), partners::name))
            .load(conn)
            .await?
    }))
}

// ---------------------------------------------------------------------------------------
// By id, scoped. Another partner's ids simply find nothing.

impl Repo {
    pub async fn customers_by_ids(&self, ids: &[String]) -> AppResult<Vec<CustomerRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(customers::table, indexes::CustomersPk)
                        .filter(customers::id.eq_any(keys))
                        .filter(unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))
                        .select(CustomerRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    pub async fn subscriptions_by_ids(&self, ids: &[String]) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(subscriptions::table, indexes::SubscriptionsPk)
                        .filter(subscriptions::id.eq_any(keys))
                        .filter(
                            unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p))
                        )
                        .select(SubscriptionRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    pub async fn requests_by_ids(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsPk)
                        .filter(service_requests::id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .select(ServiceRequestRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    /// Marketplace products of the public catalogue, visible to every partner, and the
    /// partner's own.
    pub async fn products_by_ids(&self, ids: &[String]) -> AppResult<Vec<MarketplaceProductRow>> {
        let p = self.partner_id.as_str();
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(marketplace_products::table, indexes::MarketplaceProductsPk)
                        .filter(marketplace_products::id.eq_any(keys))
                        .filter(
                            unindexed(marketplace_products::partner_id)
                                .is_null()
                                .or(unindexed(marketplace_products::partner_id).eq(p)),
                        )
                        .select(MarketplaceProductRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    /// Support topics are a public catalogue.
    pub async fn topics_by_ids(&self, ids: &[String]) -> AppResult<Vec<SupportTopicRow>> {
        Ok(with_conn!(self.db, |conn| {
            crate::load_batch!(
                self.db,
                conn,
                support_topics::table.filter(support_topics::id.eq_any(ids)).select(SupportTopicRow::as_select())
            )
        }))
    }

    /// Agents of the caller's own partner only.
    pub async fn agents_by_ids(&self, ids: &[String]) -> AppResult<Vec<AgentRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            crate::load_batch!(
                self.db,
                conn,
                indexed_by(agents::table, indexes::AgentsPk)
                    .filter(agents::id.eq_any(ids))
                    .filter(unindexed(agents::partner_id).eq(p))
                    .select(AgentRow::as_select())
            )
        }))
    }

    /// The caller's partner, its indirect provider and its indirect resellers.
    pub async fn partners_by_ids(&self, ids: &[String]) -> AppResult<Vec<PartnerRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            let me = diesel::alias!(partners as me);
            let my_provider =
                me.filter(me.field(partners::id).eq(p)).select(me.field(partners::provider_id).assume_not_null());
            crate::load_batch!(
                self.db,
                conn,
                indexed_by(partners::table, indexes::PartnersPk)
                    .filter(partners::id.eq_any(ids))
                    .filter(partners::deleted_at.is_null())
                    .filter(
                        unindexed(partners::id)
                            .eq(p)
                            .or(unindexed(partners::provider_id).eq(p))
                            .or(partners::id.eq_any(my_provider))
                    )
                    .select(PartnerRow::as_select())
            )
        }))
    }

    pub async fn calendars_by_ids(
        &self,
        ids: &[String],
    ) -> AppResult<(Vec<CalendarRow>, Vec<CalendarHoursRow>, Vec<HolidayRow>)> {
        Ok(with_conn!(self.db, |conn| {
            let cals = crate::load_batch!(
                self.db,
                conn,
                business_calendars::table.filter(business_calendars::id.eq_any(ids)).select(CalendarRow::as_select())
            );
            let hours = crate::load_batch!(
                self.db,
                conn,
                business_calendar_hours::table
                    .filter(business_calendar_hours::calendar_id.eq_any(ids))
                    .order((business_calendar_hours::weekday, business_calendar_hours::start_minute))
                    .select(CalendarHoursRow::as_select())
            );
            let holidays = crate::load_batch!(
                self.db,
                conn,
                business_calendar_holidays::table
                    .filter(business_calendar_holidays::calendar_id.eq_any(ids))
                    .order(business_calendar_holidays::day)
                    .select(HolidayRow::as_select())
            );
            (cals, hours, holidays)
        }))
    }

    // -----------------------------------------------------------------------------------
    // Children of many parents in one statement (the nested connections).

    pub async fn subscriptions_of_customers(&self, ids: &[String]) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(subscriptions::table, indexes::SubscriptionsByCustomer)
                        .filter(subscriptions::customer_id.eq_any(keys))
                        .filter(
                            unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p))
                        )
                        .order((subscriptions::created_at, subscriptions::id))
                        .select(SubscriptionRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    /// The partner's own-tenant subscriptions.
    pub async fn own_subscriptions(&self) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            subscriptions::table
                .filter(subscriptions::partner_id.eq(p))
                .filter(subscriptions::customer_id.is_null())
                .order((subscriptions::created_at, subscriptions::id))
                .select(SubscriptionRow::as_select())
                .load(conn)
                .await?
        }))
    }

    pub async fn requests_of_customers(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsByCustomer)
                        .filter(service_requests::customer_id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .order((service_requests::created_at.desc(), service_requests::id.desc()))
                        .select(ServiceRequestRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    pub async fn requests_of_subscriptions(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsBySubscription)
                        .filter(service_requests::subscription_id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .order((service_requests::created_at.desc(), service_requests::id.desc()))
                        .select(ServiceRequestRow::as_select())
                )
            }));
        }
        Ok(out)
    }

    /// The first `limit` subscriptions of each customer, in the connection's order.
    pub async fn first_subscriptions_of_customers(
        &self,
        ids: &[String],
        limit: i64,
    ) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        Ok(first_children!(self, Children::SubscriptionsOfCustomer, ids, limit, |cut| indexed_by(
            subscriptions::table,
            indexes::SubscriptionsPk
        )
        .filter(cut)
        .filter(unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p)))
        .order((subscriptions::created_at, subscriptions::id))
        .select(SubscriptionRow::as_select())))
    }

    /// The first `limit` service requests of each customer or subscription, newest first.
    pub async fn first_requests_of(
        &self,
        parent: Children,
        ids: &[String],
        limit: i64,
    ) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        Ok(first_children!(self, parent, ids, limit, |cut| indexed_by(
            service_requests::table,
            indexes::ServiceRequestsPk
        )
        .filter(cut)
        .filter(unindexed(service_requests::partner_id).eq(p))
        .order((service_requests::created_at.desc(), service_requests::id.desc()))
        .select(ServiceRequestRow::as_select())))
    }

    pub async fn notes_of_requests(&self, ids: &[String]) -> AppResult<Vec<NoteRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(scoped_batch!(self.db, |conn, scope| indexed_by(service_request_notes::table, indexes::NotesByRequest)
                    .filter(service_request_notes::service_request_id.eq_any(keys))
                    .filter(scope)
                    .order((service_request_notes::created_at, service_request_notes::id))
                    .select(NoteRow::as_select()),
                postgres: service_request_notes::service_request_id.eq_any(mine!(service_requests, keys, unindexed(service_requests::partner_id).eq(p))),
                sqlite: seen_parent!("service_requests", "service_request_notes.service_request_id", "partner_id", p)));
        }
        Ok(out)
    }

    pub async fn history_of_requests(&self, ids: &[String]) -> AppResult<Vec<HistoryRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(scoped_batch!(self.db, |conn, scope| indexed_by(service_request_history::table, indexes::HistoryByRequest)
                    .filter(service_request_history::service_request_id.eq_any(keys))
                    .filter(scope)
                    .order((service_request_history::created_at, service_request_history::id))
                    .select(HistoryRow::as_select()),
                postgres: service_request_history::service_request_id.eq_any(mine!(service_requests, keys, unindexed(service_requests::partner_id).eq(p))),
                sqlite: seen_parent!("service_requests", "service_request_history.service_request_id", "partner_id", p)));
        }
        Ok(out)
    }

    /// `(customer id, product)` pairs for the customers' marketplace products, by product name.
    /// The links of the customers the partner sees, then their products by id: two statements
    /// that each read one table through its keys, where a join let SQLite pick which table
    /// drove it by the statistics.
    pub async fn products_of_customers(&self, ids: &[String]) -> AppResult<Vec<(String, MarketplaceProductRow)>> {
        let p = &self.partner_id;
        let mut links: Vec<(String, String)> = Vec::new();
        for keys in chunks(ids) {
            links.extend(scoped_batch!(self.db, |conn, scope| indexed_by(customer_marketplace_products::table, indexes::CustomerProductsPk)
                    .filter(customer_marketplace_products::customer_id.eq_any(keys))
                    .filter(scope)
                    .select((customer_marketplace_products::customer_id, customer_marketplace_products::marketplace_product_id)),
                postgres: customer_marketplace_products::customer_id.eq_any(mine!(customers, keys, unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))),
                sqlite: seen_parent!("customers", "customer_marketplace_products.customer_id", "provider_id", p)));
        }
        let products: HashMap<String, MarketplaceProductRow> = self
            .products_by_ids(&distinct(links.iter().map(|(_, product)| product)))
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out: Vec<(String, MarketplaceProductRow)> = links
            .into_iter()
            .filter_map(|(customer, product)| products.get(&product).map(|row| (customer, row.clone())))
            .collect();
        out.sort_by(|(_, a), (_, b)| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(out)
    }

    /// `(product id, customer)` pairs: the caller's customers that run each product, by company
    /// name. The products' links (ids only), then the linked customers by id through the
    /// partner's scope, which drops every customer the partner does not see.
    pub async fn customers_of_products(&self, ids: &[String]) -> AppResult<Vec<(String, CustomerRow)>> {
        let mut links: Vec<(String, String)> = Vec::new();
        for keys in chunks(ids) {
            links.extend(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(customer_marketplace_products::table, indexes::CustomerProductsByProduct)
                        .filter(customer_marketplace_products::marketplace_product_id.eq_any(keys))
                        .select((
                            customer_marketplace_products::marketplace_product_id,
                            customer_marketplace_products::customer_id
                        ))
                )
            }));
        }
        let customers: HashMap<String, CustomerRow> = self
            .customers_by_ids(&distinct(links.iter().map(|(_, customer)| customer)))
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut out: Vec<(String, CustomerRow)> = links
            .into_iter()
            .filter_map(|(product, customer)| customers.get(&customer).map(|row| (product, row.clone())))
            .collect();
        out.sort_by(|(_, a), (_, b)| (&a.company_name, &a.id).cmp(&(&b.company_name, &b.id)));
        Ok(out)
    }

    pub async fn domains_of_customers(&self, ids: &[String]) -> AppResult<Vec<CustomerDomainRow>> {
        let p = &self.partner_id;
        let mut out = Vec::new();
        for keys in chunks(ids) {
            out.extend(scoped_batch!(self.db, |conn, scope| indexed_by(customer_domains::table, indexes::CustomerDomainsByCustomer)
                    .filter(customer_domains::customer_id.eq_any(keys))
                    .filter(scope)
                    .order((customer_domains::is_primary.desc(), customer_domains::domain))
                    .select(CustomerDomainRow::as_select()),
                postgres: customer_domains::customer_id.eq_any(mine!(customers, keys, unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))),
                sqlite: seen_parent!("customers", "customer_domains.customer_id", "provider_id", p)));
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------
    // Root connections.

    /// Customers the partner serves (and, for an indirect provider, its resellers' customers),
    /// ordered by company name.
    pub async fn customer_page(&self, filter: &CustomerFilter, page: &PageArgs) -> AppResult<Page<CustomerRow>> {
        let p = &self.partner_id;
        let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let pattern = search.map(like_escape);
        Ok(with_conn!(self.db, |conn, DB| {
            let base = || {
                // A partner that provides for nobody lists its own customers: an equality the
                // index (partner_id, company_name) walks in order, where the OR sorted them all.
                let mut q = if self.provides {
                    customers::table
                        .filter(customers::partner_id.eq(p).or(customers::provider_id.eq(p)))
                        .into_boxed::<DB>()
                } else {
                    customers::table.filter(customers::partner_id.eq(p)).into_boxed::<DB>()
                };
                if let Some(pat) = &pattern {
                    // A partner searches by company name (anywhere in it) or by a domain's start,
                    // as on Partner Center's customer search. A union of the two, so that each
                    // side can use its index on PostgreSQL (trigrams, text_pattern_ops: migration
                    // 000004); `a OR id IN (…)` scanned every customer.
                    //
                    // On PostgreSQL the matches become an array the primary key is probed with:
                    // `IN (subquery)` was planned as a hash join over a scan of every customer
                    // of the partner (measured with pgbench on `--scale 10000`, a four-letter
                    // prefix matching ~400 customers: 2.1 → 0.9 ms per search).
                    use diesel::sql_types::{Bool, Text};
                    let (open, union, close) = if <DB as crate::db::Dialect>::POSTGRES {
                        (
                            "customers.id = ANY(ARRAY(SELECT c.id FROM customers c WHERE lower(c.company_name) LIKE ",
                            " UNION ALL ",
                            "))",
                        )
                    } else {
                        (
                            "customers.id IN (SELECT c.id FROM customers c WHERE lower(c.company_name) LIKE ",
                            " UNION ",
                            ")",
                        )
                    };
                    let matches = crate::db::sql::sql::<Bool>(open)
                        .bind::<Text, _>(format!("%{pat}%"))
                        .sql(" ESCAPE '\\'")
                        .sql(union)
                        .sql("SELECT d.customer_id FROM customer_domains d WHERE lower(d.domain) LIKE ")
                        .bind::<Text, _>(format!("{pat}%"))
                        .sql(" ESCAPE '\\'");
                    // SQLite's LIKE never uses an index on lower(domain) (migration 000006
                    // adds one); the same prefix as a range does (0.9 → 0.05 ms per search at
                    // `--scale 2000`). PostgreSQL derives that range from the LIKE itself.
                    q = match search.filter(|_| !<DB as crate::db::Dialect>::POSTGRES).and_then(prefix_range) {
                        Some((from, to)) => q.filter(
                            matches
                                .sql(" AND lower(d.domain) >= ")
                                .bind::<Text, _>(from)
                                .sql(" AND lower(d.domain) < ")
                                .bind::<Text, _>(to)
                                .sql(close),
                        ),
                        None => q.filter(matches.sql(close)),
                    };
                }
                if let Some(rel) = &filter.relationships {
                    q = q.filter(customers::relationship.eq_any(rel.clone()));
                }
                if let Some(cloud) = &filter.cloud {
                    q = q.filter(customers::cloud.eq(cloud.clone()));
                }
                if let Some(dap) = filter.delegated_admin {
                    q = q.filter(customers::delegated_admin.eq(dap));
                }
                if let Some(country) = &filter.country {
                    q = q.filter(customers::country.eq(country.clone()));
                }
                q
            };
            let (window, total, limit) = page_window!(page, base, conn);
            let rows = if window.is_empty() {
                Vec::new()
            } else {
                base()
                    .order((customers::company_name, customers::id))
                    .limit(limit)
                    .offset(window.start as i64)
                    .select(CustomerRow::as_select())
                    .load(conn)
                    .await?
            };
            Page::of(rows, window, total)
        }))
    }

    pub async fn request_page(
        &self,
        filter: &RequestFilter,
        order: RequestOrder,
        now: NaiveDateTime,
        page: &PageArgs,
    ) -> AppResult<Page<ServiceRequestRow>> {
        use crate::db::schema::service_requests as sr;
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn, DB| {
            let base = || {
                let mut q = sr::table.filter(sr::partner_id.eq(p)).into_boxed::<DB>();
                if let Some(v) = &filter.ids {
                    q = q.filter(sr::id.eq_any(v.clone()));
                }
                if let Some(v) = &filter.statuses {
                    q = q.filter(sr::status.eq_any(v.clone()));
                    // Spelled out for the planner: a partial index on open requests can only be
                    // chosen when the query carries its predicate literally (a bound list is
                    // unknown to PostgreSQL's generic plans and to SQLite).
                    if v.iter().all(|s| s.parse::<RequestStatus>().is_ok_and(RequestStatus::is_open)) {
                        q = q.filter(crate::db::sql::sql::<diesel::sql_types::Bool>(OPEN_STATUSES_PREDICATE));
                    }
                }
                // One severity is an equality, so an index on (partner, severity, due) also
                // gives the order (`= ANY(array)` does not, even with one element).
                match filter.severities.as_deref() {
                    Some([one]) => q = q.filter(sr::severity.eq(one.clone())),
                    Some(v) => q = q.filter(sr::severity.eq_any(v.to_vec())),
                    None => {}
                }
                if let Some(v) = &filter.incident_kinds {
                    q = q.filter(sr::incident_kind.eq_any(v.clone()));
                }
                if let Some(v) = &filter.product_families {
                    q = q.filter(sr::product_family.eq_any(v.clone()));
                }
                if let Some(v) = &filter.customer_ids {
                    q = q.filter(sr::customer_id.eq_any(v.clone()));
                }
                if let Some(v) = &filter.created_by {
                    q = q.filter(sr::created_by_agent_id.eq_any(v.clone()));
                }
                if let Some(t) = filter.created_from {
                    q = q.filter(sr::created_at.ge(t));
                }
                if let Some(t) = filter.created_before {
                    q = q.filter(sr::created_at.lt(t));
                }
                // The SLA state at `now` as `SlaRecord::state_at` derives it: a final recorded
                // state stands; otherwise the stored instants decide.
                let running = [SlaState::OnTrack.as_str(), SlaState::AtRisk.as_str()];
                match filter.sla_state {
                    None => {}
                    Some(SlaState::OnTrack) => {
                        q = q.filter(sr::sla_state.eq_any(running)).filter(sr::sla_at_risk_at.gt(now))
                    }
                    Some(SlaState::AtRisk) => {
                        q = q
                            .filter(sr::sla_state.eq_any(running))
                            .filter(sr::sla_at_risk_at.le(now))
                            .filter(sr::sla_due_at.ge(now))
                    }
                    Some(SlaState::Breached) => {
                        q = q.filter(
                            sr::sla_state
                                .eq(SlaState::Breached.as_str())
                                .or(sr::sla_state.eq_any(running).and(sr::sla_due_at.lt(now))),
                        )
                    }
                    Some(state) => q = q.filter(sr::sla_state.eq(state.as_str())),
                }
                match filter.running_clock {
                    Some(true) => q = q.filter(sr::sla_stopped_at.is_null()),
                    Some(false) => q = q.filter(sr::sla_stopped_at.is_not_null()),
                    None => {}
                }
                q
            };
            let (window, total, limit) = page_window!(page, base, conn);
            let rows = if window.is_empty() {
                Vec::new()
            } else {
                let q = base();
                let q = match order {
                    RequestOrder::CreatedAsc => q.order((sr::created_at.asc(), sr::id.asc())),
                    RequestOrder::CreatedDesc => q.order((sr::created_at.desc(), sr::id.desc())),
                    RequestOrder::DueAsc => q.order((sr::sla_due_at.asc(), sr::id.asc())),
                    RequestOrder::DueDesc => q.order((sr::sla_due_at.desc(), sr::id.desc())),
                };
                q.limit(limit).offset(window.start as i64).select(ServiceRequestRow::as_select()).load(conn).await?
            };
            Page::of(rows, window, total)
        }))
    }

    pub async fn product_page(&self, search: Option<&str>, page: &PageArgs) -> AppResult<Page<MarketplaceProductRow>> {
        let p = self.partner_id.as_str();
        let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(like_escape);
        Ok(with_conn!(self.db, |conn, DB| {
            let base = || {
                let mut q = marketplace_products::table
                    .filter(marketplace_products::partner_id.is_null().or(marketplace_products::partner_id.eq(p)))
                    .into_boxed::<DB>();
                if let Some(pat) = &pattern {
                    q = q.filter(
                        lower(marketplace_products::name).like(format!("%{pat}%")).escape('\\').or(lower(
                            marketplace_products::publisher_name,
                        )
                        .like(format!("%{pat}%"))
                        .escape('\\')),
                    );
                }
                q
            };
            let (window, total, limit) = page_window!(page, base, conn);
            let rows = if window.is_empty() {
                Vec::new()
            } else {
                base()
                    .order((marketplace_products::name, marketplace_products::id))
                    .limit(limit)
                    .offset(window.start as i64)
                    .select(MarketplaceProductRow::as_select())
                    .load(conn)
                    .await?
            };
            Page::of(rows, window, total)
        }))
    }

    pub async fn topics_for_family(&self, family: &str) -> AppResult<Vec<SupportTopicRow>> {
        Ok(with_conn!(self.db, |conn| {
            support_topics::table
                .filter(support_topics::product_family.eq(family))
                .order((support_topics::category, support_topics::name))
                .select(SupportTopicRow::as_select())
                .load(conn)
                .await?
        }))
    }

    /// The calendars the partner may use: the built-in ones and its own, by name.
    /// Where sync stands for the partner, per source and resource.
    pub async fn sync_states(&self) -> AppResult<Vec<SyncStateRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            sync_state::table
                .filter(sync_state::partner_id.eq(p))
                .order((sync_state::source, sync_state::resource))
                .select(SyncStateRow::as_select())
                .load(conn)
                .await?
        }))
    }

    pub async fn all_calendar_ids(&self) -> AppResult<Vec<String>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            business_calendars::table
                .filter(business_calendars::partner_id.is_null().or(business_calendars::partner_id.eq(p)))
                .order((business_calendars::name, business_calendars::id))
                .select(business_calendars::id)
                .load(conn)
                .await?
        }))
    }
}

/// Filters of the `customers` root field (text forms of the enums).
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub search: Option<String>,
    pub relationships: Option<Vec<String>>,
    pub cloud: Option<String>,
    pub delegated_admin: Option<bool>,
    pub country: Option<String>,
}

/// Filters of the `serviceRequests` root field (text forms of the enums).
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub ids: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub severities: Option<Vec<String>>,
    pub incident_kinds: Option<Vec<String>>,
    pub product_families: Option<Vec<String>>,
    pub customer_ids: Option<Vec<String>>,
    /// Agent ids: only requests these agents filed.
    pub created_by: Option<Vec<String>>,
    pub created_from: Option<NaiveDateTime>,
    pub created_before: Option<NaiveDateTime>,
    pub sla_state: Option<SlaState>,
    /// `Some(true)`: only requests whose initial-response clock still runs (no response, not
    /// resolved or closed; overdue ones included); `Some(false)`: only stopped ones.
    pub running_clock: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOrder {
    CreatedAsc,
    CreatedDesc,
    DueAsc,
    DueDesc,
}

/// Groups rows by a key, keeping their order.
pub fn group_by<T, K: std::hash::Hash + Eq>(
    rows: impl IntoIterator<Item = T>,
    key: impl Fn(&T) -> K,
) -> HashMap<K, Vec<T>> {
    let mut map: HashMap<K, Vec<T>> = HashMap::new();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
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

#[cfg(test)]
mod tests {
    use super::prefix_range;

    #[test]
    fn prefix_ranges_cover_exactly_the_prefix() {
        assert_eq!(prefix_range("AdAt"), Some(("adat".into(), "adau".into())));
        assert_eq!(prefix_range("contoso.z"), Some(("contoso.z".into(), "contoso.{".into())));
        // No ASCII successor, or not folded by SQLite's lower(): the plain LIKE only.
        assert_eq!(prefix_range("a\u{7f}"), None);
        assert_eq!(prefix_range("münchen"), None);
        assert_eq!(prefix_range(""), None);
    }
}
