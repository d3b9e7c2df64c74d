//! The root connections (a count and a page) and the other root lists, scoped to the partner.

use chrono::NaiveDateTime;
use diesel::{
    BoolExpressionMethods, EscapeExpressionMethods, ExpressionMethods, QueryDsl, SelectableHelper,
    TextExpressionMethods,
};
use diesel_async::RunQueryDsl;

use super::{Columns, Repo, lower};
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::sql::row_columns;
use crate::domain::model::{RequestStatus, SlaState};
use crate::error::AppResult;
use crate::paging::PageArgs;
use crate::with_conn;

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

/// The least text above every text that starts with `prefix`, in the order of code points
/// (which is UTF-8's byte order): so `[prefix, successor)` holds exactly the texts that start
/// with `prefix`. `None` when there is none (empty, or only U+10FFFF).
fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, skipping the surrogates.
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
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

impl Repo {
    /// Customers the partner serves (and, for an indirect provider, its resellers' customers),
    /// ordered by company name, with the `columns` their list needs.
    pub async fn customer_page(
        &self,
        filter: &CustomerFilter,
        page: &PageArgs,
        columns: Columns,
    ) -> AppResult<Page<CustomerRow>> {
        let p = &self.partner_id;
        let search = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
        let successor = search.as_deref().and_then(successor);
        // Without other filters, the search's own index orders the matches and cuts the page.
        // Destructured whole, so that a filter added to `CustomerFilter` must be named here.
        let CustomerFilter { search: _, relationships, cloud, delegated_admin, country } = filter;
        let paged_in_terms = search.is_some()
            && relationships.is_none()
            && cloud.is_none()
            && delegated_admin.is_none()
            && country.is_none();
        Ok(with_conn!(self.db, |conn, DB| {
            use diesel::sql_types::{BigInt, Bool, Text};
            // A partner searches by company name (anywhere in it) or by a domain's start, as on
            // Partner Center's customer search, ignoring case. Both are one range of
            // `customer_search_terms` (migration 000011): every suffix of each lower-cased name
            // and each domain, kept by triggers for each party that may list the customer, so
            // the range is already scoped to this partner.
            //
            // On PostgreSQL the matches become an array the primary key is probed with: `IN
            // (subquery)` was planned as a hash join over a scan of every customer of the
            // partner (measured with pgbench on `--scale 10000`, 2.1 → 0.9 ms).
            let (open, close) = if <DB as crate::db::Dialect>::POSTGRES {
                ("customers.id = ANY(ARRAY(", "))")
            } else {
                ("customers.id IN (", ")")
            };
            let matching = |search: &String| {
                let matches = crate::db::sql::sql::<Bool>(open)
                    .sql("SELECT s.customer_id FROM customer_search_terms s WHERE s.viewer_id = ")
                    .bind::<Text, _>(p.clone())
                    .sql(" AND s.term >= ")
                    .bind::<Text, _>(search.clone());
                // Without a successor (a search of U+10FFFF only), every text at or above it
                // starts with it: the lower bound, given twice, is the whole range.
                let (upper, bound) = match &successor {
                    Some(to) => (" AND s.term < ", to.clone()),
                    None => (" AND s.term >= ", search.clone()),
                };
                matches.sql(upper).bind::<Text, _>(bound)
            };
            // The terms index holds the company name: the page is cut there, and only its
            // customers are read (at `--scale 10000`, 270–540 matches a search: 1.0–2.1 →
            // 0.4–0.6 ms per search, with pgbench).
            let in_page = |search: &String, limit: i64, offset: i64| {
                matching(search)
                    .sql(" GROUP BY s.company_name, s.customer_id ORDER BY s.company_name, s.customer_id")
                    .sql(" LIMIT ")
                    .bind::<BigInt, _>(limit)
                    .sql(" OFFSET ")
                    .bind::<BigInt, _>(offset)
                    .sql(close)
            };
            // The customers the partner lists, with every filter given (the search among them).
            let all = || {
                // A partner that provides for nobody lists its own customers: an equality the
                // index (partner_id, company_name) walks in order, where the OR sorted them all.
                let mut q = if self.provides {
                    customers::table
                        .filter(customers::partner_id.eq(p).or(customers::provider_id.eq(p)))
                        .into_boxed::<DB>()
                } else {
                    customers::table.filter(customers::partner_id.eq(p)).into_boxed::<DB>()
                };
                if let Some(search) = &search {
                    q = q.filter(matching(search).sql(close));
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
            let (window, total, limit) = page_window!(page, all, conn);
            let ordered = (customers::company_name, customers::id);
            // The search alone is built unboxed, so that its plan is recorded as the batched
            // statements' are (`tests/plans.rs`: a boxed query is not `Sync`).
            macro_rules! read {
                ($select:expr) => {
                    match &search {
                        Some(search) if paged_in_terms => {
                            let in_page = in_page(search, limit, window.start as i64);
                            if self.provides {
                                let mine = customers::partner_id.eq(p).or(customers::provider_id.eq(p));
                                let q = customers::table.filter(mine).filter(in_page);
                                crate::load_batch!(self.db, conn, q.order(ordered).select($select))
                            } else {
                                let q = customers::table.filter(customers::partner_id.eq(p)).filter(in_page);
                                crate::load_batch!(self.db, conn, q.order(ordered).select($select))
                            }
                        }
                        _ => {
                            all()
                                .order(ordered)
                                .limit(limit)
                                .offset(window.start as i64)
                                .select($select)
                                .load(conn)
                                .await?
                        }
                    }
                };
            }
            let rows: Vec<CustomerRow> = match columns {
                _ if window.is_empty() => Vec::new(),
                Columns::All => read!(row_columns::<CustomerRow, _>()),
                Columns::Summary => {
                    let rows: Vec<CustomerSummaryRow> = read!(CustomerSummaryRow::as_select());
                    rows.into_iter().map(Into::into).collect()
                }
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
                q.limit(limit)
                    .offset(window.start as i64)
                    .select(row_columns::<ServiceRequestRow, _>())
                    .load(conn)
                    .await?
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
                    .select(row_columns::<MarketplaceProductRow, _>())
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
                .select(row_columns::<SupportTopicRow, _>())
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
                .select(row_columns::<SyncStateRow, _>())
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

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn successors_bound_exactly_the_texts_with_the_prefix() {
        assert_eq!(successor("adat").as_deref(), Some("adau"));
        assert_eq!(successor("contoso.z").as_deref(), Some("contoso.{"));
        assert_eq!(successor("a\u{7f}").as_deref(), Some("a\u{80}"));
        assert_eq!(successor("münchen").as_deref(), Some("müncheo"));
        assert_eq!(successor("ü").as_deref(), Some("ý"));
        // The surrogates are skipped; U+10FFFF has no successor, so the character before it
        // moves up instead.
        assert_eq!(successor("a\u{d7ff}").as_deref(), Some("a\u{e000}"));
        assert_eq!(successor("a\u{10ffff}").as_deref(), Some("b"));
        assert_eq!(successor("\u{10ffff}"), None);
        assert_eq!(successor(""), None);
    }
}
