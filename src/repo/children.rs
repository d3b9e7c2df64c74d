//! Children of many parents in one statement: what the nested connections list (a customer's
//! subscriptions, a request's notes…), scoped to the partner through their parents.

use std::collections::HashMap;

use diesel::{BoolExpressionMethods, ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;

use super::{Columns, Repo, by_keys};
use crate::db::models::*;
use crate::db::schema::indexes;
use crate::db::schema::*;
use crate::db::sql::row_columns;
use crate::db::sql::{IndexName, indexed_by, unindexed};
use crate::error::AppResult;
use crate::with_conn;

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

/// The first `$limit` children of each parent in `$keys`, in the order the connection lists
/// them, scoped to the partner, where the loaders of whole lists read every child of every
/// parent to page in memory (a subscription with thousands of requests cost thousands of rows
/// per page of it).
///
/// Each parent's children are walked in the index on (parent, created_at, id) (migration
/// 000005) with a `LIMIT`, so a parent with thousands of children costs no more than its page.
/// A window function numbering each parent's children read all of them: 4.5 ms against 0.2 ms
/// on SQLite for the benchmark's Q3 level of 60 subscriptions, one of them with 3,000
/// requests.
///
/// PostgreSQL ([`first_children_rows!`]): a `LATERAL` join over the parents' ids (an array)
/// yields the rows themselves, which the statement selects as the table's ([`derived`]). When
/// it yielded only ids that the statement then matched (`id IN (…)`), PostgreSQL found every
/// row a second time through the primary key: 1.2 ms against 0.3 ms for the benchmark's Q3
/// level of 60 subscriptions (95 requests), warm, on a generic plan.
///
/// SQLite has no `LATERAL` ([`first_children_filter!`]): a filter on the table's id, a
/// correlated `IN (… LIMIT n)` per parent, the parents bound as a JSON array. Its key list
/// drives the statement whatever the statistics say: SQLite keeps the order of a `CROSS
/// JOIN`, and `INDEXED BY` names the index each parent's children are read through (SQLite
/// refuses to prepare the statement rather than plan it another way). With a plain `JOIN`,
/// SQLite at `--scale` 100 and 500 drove the join from a scan of the child table and ran the
/// per-parent subquery for every (row, parent) pair: a lone nested query of the load benchmark
/// took 260–470 ms there, against a few ms at 2,000. `tests/plans.rs` fails when a batched
/// statement's plan regresses.
///
/// Both select the rows by diesel's DSL: read by position (a `sql_query` reads every column by
/// name, which cost ~9 % of the gateway's CPU on Q3) and, their text built by
/// [`crate::db::sql`], from a prepared statement each connection reuses.
#[cfg(feature = "postgres")]
macro_rules! first_children_rows {
    ($children:expr, $keys:expr, $partner:expr, $limit:expr) => {{
        use diesel::sql_types::{Array, BigInt, Bool, Text};
        let (table, parent, _, order, seen_by) = $children.parts();
        // The scope as expressions no index covers (see `crate::db::sql::Unindexed`), which
        // the demo's provider otherwise combined with the partner's index.
        crate::db::sql::sql::<Bool>("unnest(")
            .bind::<Array<Text>, _>($keys)
            .sql(format!(
                ") AS p(id) CROSS JOIN LATERAL (SELECT x.* FROM {table} x WHERE x.{parent} = p.id AND ((x.partner_id || '') = "
            ))
            .bind::<Text, _>($partner)
            .sql(format!(" OR (x.{seen_by} || '') = "))
            .bind::<Text, _>($partner)
            .sql(format!(") ORDER BY {order} LIMIT "))
            .bind::<BigInt, _>($limit)
            .sql(")")
    }};
}

/// See [`first_children_rows!`]: SQLite's filter on the table's id.
#[cfg(feature = "sqlite")]
macro_rules! first_children_filter {
    ($children:expr, $keys:expr, $partner:expr, $limit:expr) => {{
        use diesel::sql_types::{BigInt, Bool, Text};
        let (table, parent, index, order, seen_by) = $children.parts();
        crate::db::sql::sql::<Bool>(format!("{table}.id IN (SELECT y.id FROM json_each("))
            .bind::<Text, _>($keys)
            .sql(format!(
                ") AS p CROSS JOIN {table} AS y INDEXED BY sqlite_autoindex_{table}_1 WHERE y.id IN (SELECT x.id FROM {table} AS x INDEXED BY {index} WHERE x.{parent} = p.value AND (x.partner_id = "
            ))
            .bind::<Text, _>($partner)
            .sql(format!(" OR x.{seen_by} = "))
            .bind::<Text, _>($partner)
            .sql(format!(") ORDER BY {order} LIMIT "))
            .bind::<BigInt, _>($limit)
            .sql("))")
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

/// Loads, on whichever backend the repo uses, the first `$limit` children in `$table` of each
/// of `$ids` (read on SQLite through its primary key `$pk`): `$query`, a query of `$rows`, the
/// rows [`first_children_rows!`] or [`first_children_filter!`] cut. `$ids` must be distinct:
/// on PostgreSQL a parent listed twice lists its children twice (the loaders' batches never
/// repeat a key).
macro_rules! first_children {
    ($repo:ident, $children:expr, $ids:expr, $limit:expr, $table:expr, $pk:expr, |$rows:ident| $query:expr) => {{
        by_keys($ids, |keys| async move {
            Ok(match &$repo.db.pool {
                #[cfg(feature = "postgres")]
                crate::db::Pool::Postgres(pool) => {
                    let mut conn = pool.get().await?;
                    let $rows = crate::db::sql::derived(
                        $table,
                        first_children_rows!($children, keys, &$repo.partner_id, $limit),
                    );
                    let conn = &mut *conn;
                    crate::load_batch!($repo.db, conn, $query)
                }
                #[cfg(feature = "sqlite")]
                crate::db::Pool::Sqlite(pool) => {
                    let mut conn = pool.get().await?;
                    let keys = serde_json::to_string(keys).map_err(crate::error::AppError::internal)?;
                    let $rows = indexed_by($table, $pk).filter(first_children_filter!(
                        $children,
                        keys,
                        &$repo.partner_id,
                        $limit
                    ));
                    let conn = &mut *conn;
                    crate::load_batch!($repo.db, conn, $query)
                }
            })
        })
        .await?
    }};
}

impl Repo {
    pub async fn subscriptions_of_customers(&self, ids: &[String]) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(subscriptions::table, indexes::SubscriptionsByCustomer)
                        .filter(subscriptions::customer_id.eq_any(keys))
                        .filter(
                            unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p))
                        )
                        .order((subscriptions::created_at, subscriptions::id))
                        .select(row_columns::<SubscriptionRow, _>())
                )
            }))
        })
        .await
    }

    /// The partner's own-tenant subscriptions.
    pub async fn own_subscriptions(&self) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            subscriptions::table
                .filter(subscriptions::partner_id.eq(p))
                .filter(subscriptions::customer_id.is_null())
                .order((subscriptions::created_at, subscriptions::id))
                .select(row_columns::<SubscriptionRow, _>())
                .load(conn)
                .await?
        }))
    }

    pub async fn requests_of_customers(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsByCustomer)
                        .filter(service_requests::customer_id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .order((service_requests::created_at.desc(), service_requests::id.desc()))
                        .select(row_columns::<ServiceRequestRow, _>())
                )
            }))
        })
        .await
    }

    pub async fn requests_of_subscriptions(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsBySubscription)
                        .filter(service_requests::subscription_id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .order((service_requests::created_at.desc(), service_requests::id.desc()))
                        .select(row_columns::<ServiceRequestRow, _>())
                )
            }))
        })
        .await
    }

    /// The first `limit` subscriptions of each customer, in the connection's order, with the
    /// `columns` their list needs.
    pub async fn first_subscriptions_of_customers(
        &self,
        ids: &[String],
        limit: i64,
        columns: Columns,
    ) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        macro_rules! first_subscriptions {
            ($select:expr) => {
                first_children!(
                    self,
                    Children::SubscriptionsOfCustomer,
                    ids,
                    limit,
                    subscriptions::table,
                    indexes::SubscriptionsPk,
                    |rows| rows
                        .filter(
                            unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p))
                        )
                        .order((subscriptions::created_at, subscriptions::id))
                        .select($select)
                )
            };
        }
        Ok(match columns {
            Columns::All => first_subscriptions!(row_columns::<SubscriptionRow, _>()),
            Columns::Summary => {
                first_subscriptions!(SubscriptionSummaryRow::as_select()).into_iter().map(Into::into).collect()
            }
        })
    }

    /// The first `limit` service requests of each customer or subscription, newest first,
    /// with the `columns` their list needs.
    pub async fn first_requests_of(
        &self,
        parent: Children,
        ids: &[String],
        limit: i64,
        columns: Columns,
    ) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        macro_rules! first_requests {
            ($row:ty) => {
                first_children!(self, parent, ids, limit, service_requests::table, indexes::ServiceRequestsPk, |rows| {
                    rows.filter(unindexed(service_requests::partner_id).eq(p))
                        .order((service_requests::created_at.desc(), service_requests::id.desc()))
                        .select(<$row>::as_select())
                })
            };
        }
        Ok(match columns {
            Columns::All => first_requests!(ServiceRequestRow),
            Columns::Summary => first_requests!(ServiceRequestSummaryRow).into_iter().map(Into::into).collect(),
        })
    }

    pub async fn notes_of_requests(&self, ids: &[String]) -> AppResult<Vec<NoteRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move { Ok(scoped_batch!(self.db, |conn, scope| indexed_by(service_request_notes::table, indexes::NotesByRequest)
                    .filter(service_request_notes::service_request_id.eq_any(keys))
                    .filter(scope)
                    .order((service_request_notes::created_at, service_request_notes::id))
                    .select(row_columns::<NoteRow, _>()),
                postgres: service_request_notes::service_request_id.eq_any(mine!(service_requests, keys, unindexed(service_requests::partner_id).eq(p))),
                sqlite: seen_parent!("service_requests", "service_request_notes.service_request_id", "partner_id", p))) }).await
    }

    pub async fn history_of_requests(&self, ids: &[String]) -> AppResult<Vec<HistoryRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move { Ok(scoped_batch!(self.db, |conn, scope| indexed_by(service_request_history::table, indexes::HistoryByRequest)
                    .filter(service_request_history::service_request_id.eq_any(keys))
                    .filter(scope)
                    .order((service_request_history::created_at, service_request_history::id))
                    .select(row_columns::<HistoryRow, _>()),
                postgres: service_request_history::service_request_id.eq_any(mine!(service_requests, keys, unindexed(service_requests::partner_id).eq(p))),
                sqlite: seen_parent!("service_requests", "service_request_history.service_request_id", "partner_id", p))) }).await
    }

    /// `(customer id, product)` pairs for the customers' marketplace products, by product name.
    /// The links of the customers the partner sees, then their products by id: two statements
    /// that each read one table through its keys, where a join let SQLite pick which table
    /// drove it by the statistics.
    pub async fn products_of_customers(&self, ids: &[String]) -> AppResult<Vec<(String, MarketplaceProductRow)>> {
        let p = &self.partner_id;
        let links: Vec<(String, String)> = by_keys(ids, |keys| async move { Ok(scoped_batch!(self.db, |conn, scope| indexed_by(customer_marketplace_products::table, indexes::CustomerProductsPk)
                    .filter(customer_marketplace_products::customer_id.eq_any(keys))
                    .filter(scope)
                    .select((customer_marketplace_products::customer_id, customer_marketplace_products::marketplace_product_id)),
                postgres: customer_marketplace_products::customer_id.eq_any(mine!(customers, keys, unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))),
                sqlite: seen_parent!("customers", "customer_marketplace_products.customer_id", "provider_id", p))) }).await?;
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
        let links: Vec<(String, String)> = by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
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
            }))
        })
        .await?;
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
        by_keys(ids, |keys| async move { Ok(scoped_batch!(self.db, |conn, scope| indexed_by(customer_domains::table, indexes::CustomerDomainsByCustomer)
                    .filter(customer_domains::customer_id.eq_any(keys))
                    .filter(scope)
                    .order((customer_domains::is_primary.desc(), customer_domains::domain))
                    .select(row_columns::<CustomerDomainRow, _>()),
                postgres: customer_domains::customer_id.eq_any(mine!(customers, keys, unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))),
                sqlite: seen_parent!("customers", "customer_domains.customer_id", "provider_id", p))) }).await
    }
}

/// The distinct values, in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    values.filter(|v| seen.insert(v.as_str())).cloned().collect()
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use diesel::query_builder::QueryFragment;
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::db::sql::row_columns;

    use super::Children;
    use crate::db::models::SubscriptionRow;
    use crate::db::schema::subscriptions;
    use crate::db::sql::unindexed;

    #[test]
    fn a_postgres_nested_page_selects_the_lateral_rows_with_binds_in_order() {
        let keys = vec!["c1".to_owned(), "c2".to_owned()];
        let rows = crate::db::sql::derived(
            subscriptions::table,
            first_children_rows!(Children::SubscriptionsOfCustomer, &keys, "p", 3_i64),
        );
        let query = rows
            .filter(unindexed(subscriptions::partner_id).eq("p"))
            .order((subscriptions::created_at, subscriptions::id))
            .select(row_columns::<SubscriptionRow, _>());
        let text = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(
            text.contains(
                "FROM unnest($1) AS p(id) CROSS JOIN LATERAL (SELECT x.* FROM subscriptions x WHERE x.customer_id = p.id AND ((x.partner_id || '') = $2 OR (x.provider_id || '') = $3) ORDER BY x.created_at, x.id LIMIT $4) AS \"subscriptions\" WHERE ((\"subscriptions\".\"partner_id\" || '') = $5)"
            ),
            "{text}"
        );
        assert!(text.contains(r#"-- binds: [["c1", "c2"], "p", "p", 3, "p"]"#), "{text}");
        let cacheable = QueryFragment::<diesel::pg::Pg>::is_safe_to_cache_prepared(&query, &diesel::pg::Pg);
        assert!(cacheable.unwrap(), "one prepared statement per kind of page");
    }
}
