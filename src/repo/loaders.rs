//! Per-request batched loaders: one newtype key per loader, one statement per batch (the
//! engine is [`super::batch`]). Built fresh for every request, so nothing a partner owns is
//! cached across callers; only business calendars, reference data shared by every partner, are
//! kept per process ([`CalendarCache`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use super::batch::Map;
use super::children::Children;
use super::{Columns, Repo};
use crate::db::models::*;
use crate::domain::sla::BusinessCalendar;
use crate::error::{AppError, AppResult};

/// A loader of this gateway: its batches run on the request's repository.
pub type BatchLoader<K, V> = super::batch::BatchLoader<Arc<Repo>, K, V>;

/// Loads one key through a request's loader.
pub async fn load<K, V>(loader: &BatchLoader<K, V>, key: K) -> AppResult<V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Default + Clone + Send + 'static,
{
    loader.load(key).await
}

/// A loader key that names a row, or the parent of a list, by its id.
pub trait IdKey: Eq + Hash + Clone + Send + 'static {
    fn id(&self) -> &String;
    fn of(id: String) -> Self;
}

macro_rules! keys {
    ($($(#[$m:meta])* $name:ident),+ $(,)?) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, Eq, Hash)]
            pub struct $name(pub String);

            impl IdKey for $name {
                fn id(&self) -> &String {
                    &self.0
                }

                fn of(id: String) -> Self {
                    $name(id)
                }
            }
        )+
    };
}

keys! {
    /// A customer by id.
    CustomerKey,
    /// A subscription by id.
    SubscriptionKey,
    /// A service request by id.
    RequestKey,
    /// A marketplace product by id.
    ProductKey,
    /// A support topic by id.
    TopicKey,
    /// An agent by id.
    AgentKey,
    /// A partner by id.
    PartnerKey,
    /// A business calendar by id.
    CalendarKey,
    /// An entry of the administrative history by id.
    AdminChangeKey,
    /// The subscriptions of a customer.
    SubscriptionsOfCustomer,
    /// The service requests of a customer.
    RequestsOfCustomer,
    /// The service requests about a subscription.
    RequestsOfSubscription,
    /// The notes of a service request.
    NotesOfRequest,
    /// The history of a service request.
    HistoryOfRequest,
    /// The marketplace products a customer runs.
    ProductsOfCustomer,
    /// The caller's customers that run a marketplace product.
    CustomersOfProduct,
    /// The domains of a customer.
    DomainsOfCustomer,
}

/// The first `n` children of a parent: what a forward page of a nested connection that does
/// not count its items needs (its window's end, and one more to know whether a next page exists).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FirstOf {
    pub parent: String,
    pub n: u32,
    /// The columns the rows need (a list whose items select few fields reads few).
    pub columns: Columns,
}

impl FirstOf {
    pub fn new(parent: &str, n: usize, columns: Columns) -> FirstOf {
        FirstOf { parent: parent.to_owned(), n: n.min(u32::MAX as usize) as u32, columns }
    }
}

/// Runs one statement per distinct `n` and [`Columns`] of a batch (a request with aliases
/// may ask for several page sizes) and hands each key its parent's rows.
macro_rules! first_lists {
    ($keys:ident, |$ids:ident, $limit:ident, $columns:ident| $fetch:expr, $parent:expr) => {{
        let mut by_n: Map<(u32, Columns), Vec<FirstOf>> = Map::default();
        for k in $keys {
            by_n.entry((k.n, k.columns)).or_default().push(k);
        }
        let mut out = Map::default();
        for ((n, $columns), keys) in by_n {
            let $ids: Vec<String> = keys.iter().map(|k| k.parent.clone()).collect();
            let $limit = i64::from(n);
            let mut grouped = group_by($fetch.await?, $parent);
            for k in keys {
                let rows = grouped.remove(&k.parent).unwrap_or_default();
                out.insert(k, Arc::new(rows));
            }
        }
        Ok(out)
    }};
}

/// A business calendar with its name, ready for SLA arithmetic.
#[derive(Debug, Clone)]
pub struct CalendarData {
    pub id: String,
    pub name: String,
    /// The partner that maintains it; `None` for a built-in calendar every partner may use.
    pub partner_id: Option<String>,
    pub version: i64,
    pub calendar: BusinessCalendar,
    pub holidays: Vec<HolidayRow>,
    pub hours: Vec<CalendarHoursRow>,
}

/// How long a business calendar read from the database is reused. Calendars are reference
/// data no request changes; the cache saved three of Q4's five statements (a page of open
/// requests with their SLA: `cargo bench --bench load -- --ops Q4`), and an edit made in the
/// database directly shows within this time.
pub const CALENDAR_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Business calendars by id, each kept for [`CALENDAR_CACHE_TTL`] or until an edit makes every
/// replica forget it (the `CALENDAR_CHANGED` event). One cache serves every caller: a read
/// checks that the calendar is built in or the caller's partner's before handing it out.
#[derive(Default)]
pub struct CalendarCache {
    entries: Mutex<HashMap<String, (Arc<CalendarData>, std::time::Instant)>>,
}

impl CalendarCache {
    pub fn get(&self, id: &str) -> Option<Arc<CalendarData>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(id).filter(|(_, read)| read.elapsed() < CALENDAR_CACHE_TTL).map(|(data, _)| data.clone())
    }

    /// Forgets a calendar that changed, so the next read loads it again.
    pub fn forget(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    pub fn put(&self, data: Arc<CalendarData>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // A handful of calendars exist; the bound only keeps a stream of unknown ids out.
        if entries.len() >= 1_000 {
            entries.clear();
        }
        entries.insert(data.id.clone(), (data, std::time::Instant::now()));
    }
}

impl Repo {
    /// One business calendar, through the process's calendar cache (for work that outlives a
    /// request's loaders, such as a countdown subscription).
    pub async fn calendar(&self, id: &str) -> AppResult<Option<Arc<CalendarData>>> {
        let data = match self.db.calendars.get(id) {
            Some(data) => data,
            None => {
                let (cals, hours, holidays) = self.calendars_by_ids(&[id.to_owned()]).await?;
                let Some(row) = cals.into_iter().next() else { return Ok(None) };
                let data = Arc::new(calendar_data(row, hours, holidays)?);
                self.db.calendars.put(data.clone());
                data
            }
        };
        Ok(data.partner_id.as_ref().is_none_or(|p| *p == self.partner_id).then_some(data))
    }
}

/// A request's loaders, built on first use: a request that loads nothing through them (a
/// subscription that selects only event fields, a search or page of scalar fields) does not
/// pay for sixteen loaders. Shared (`Clone`), so that a subscription's stream can make them
/// forget what they read before each event it resolves.
#[derive(Clone)]
pub struct LazyLoaders(Arc<LazyInner>);

struct LazyInner {
    repo: Arc<Repo>,
    cell: std::sync::OnceLock<Loaders>,
}

impl LazyLoaders {
    pub fn new(repo: &Arc<Repo>) -> LazyLoaders {
        LazyLoaders(Arc::new(LazyInner { repo: repo.clone(), cell: std::sync::OnceLock::new() }))
    }

    /// Forgets every value read so far. A subscription keeps one context for its whole life:
    /// it calls this before each event or tick it resolves, so that each reads the records as
    /// they are then (a request's notes, a changed calendar), not as the first event found them.
    pub fn forget(&self) {
        if let Some(loaders) = self.0.cell.get() {
            loaders.forget();
        }
    }
}

impl std::ops::Deref for LazyLoaders {
    type Target = Loaders;

    fn deref(&self) -> &Loaders {
        self.0.cell.get_or_init(|| Loaders::new(&self.0.repo))
    }
}

type List<T> = Arc<Vec<T>>;

/// The ids of a batch's keys.
fn ids<K: IdKey>(keys: &[K]) -> Vec<String> {
    keys.iter().map(|k| k.id().clone()).collect()
}

/// Rows behind `Arc`s: a request's rows are handed to every resolver that loads them (and
/// service request rows, ~30 strings each, were cloned per load and per page; customer rows,
/// ~15, once per request of a page that names its customer).
fn shared<T>(rows: Vec<T>) -> Vec<Arc<T>> {
    rows.into_iter().map(Arc::new).collect()
}

/// Indexes rows by their id.
fn by_id<K: IdKey, T>(rows: Vec<T>, id: impl Fn(&T) -> &String) -> Map<K, Option<T>> {
    rows.into_iter().map(|r| (K::of(id(&r).clone()), Some(r))).collect()
}

/// Groups child rows under their parent's key, keeping their order.
fn lists<K: IdKey, T>(rows: impl IntoIterator<Item = T>, parent: impl Fn(&T) -> String) -> Map<K, List<T>> {
    group_by(rows, parent).into_iter().map(|(id, v)| (K::of(id), Arc::new(v))).collect()
}

/// Groups `(parent id, row)` pairs under their parent's key, keeping their order.
fn pair_lists<K: IdKey, T>(pairs: Vec<(String, T)>) -> Map<K, List<T>> {
    group_by(pairs, |(parent, _)| parent.clone())
        .into_iter()
        .map(|(id, v)| (K::of(id), Arc::new(v.into_iter().map(|(_, row)| row).collect())))
        .collect()
}

/// Groups rows by a key, keeping their order.
pub fn group_by<T, K: Hash + Eq>(rows: impl IntoIterator<Item = T>, key: impl Fn(&T) -> K) -> Map<K, Vec<T>> {
    let mut map: Map<K, Vec<T>> = Map::default();
    for row in rows {
        map.entry(key(&row)).or_default().push(row);
    }
    map
}

/// Declares every loader of a request once: its field, key and value types, and what one
/// batch of `$keys` runs on `$repo`. [`Loaders::new`] and [`Loaders::forget`] follow from the
/// list.
macro_rules! loaders {
    ($($(#[$m:meta])* $field:ident: $key:ty => $value:ty = |$repo:ident, $keys:ident| $body:expr;)+) => {
        /// Every loader of one request.
        pub struct Loaders {
            $($(#[$m])* pub $field: BatchLoader<$key, $value>,)+
        }

        impl Loaders {
            pub fn new(repo: &Arc<Repo>) -> Loaders {
                Loaders {
                    $($field: BatchLoader::new(repo.clone(), |$repo, $keys| Box::pin(async move { $body })),)+
                }
            }

            /// Forgets every value read so far.
            fn forget(&self) {
                $(self.$field.forget();)+
            }
        }
    };
}

loaders! {
    customer: CustomerKey => Option<Arc<CustomerRow>> = |repo, keys| {
        Ok(by_id(shared(repo.customers_by_ids(&ids(&keys)).await?), |r| &r.id))
    };
    subscription: SubscriptionKey => Option<SubscriptionRow> = |repo, keys| {
        Ok(by_id(repo.subscriptions_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    request: RequestKey => Option<Arc<ServiceRequestRow>> = |repo, keys| {
        Ok(by_id(shared(repo.requests_by_ids(&ids(&keys)).await?), |r| &r.id))
    };
    product: ProductKey => Option<MarketplaceProductRow> = |repo, keys| {
        Ok(by_id(repo.products_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    topic: TopicKey => Option<SupportTopicRow> = |repo, keys| {
        Ok(by_id(repo.topics_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    agent: AgentKey => Option<AgentRow> = |repo, keys| {
        Ok(by_id(repo.agents_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    partner: PartnerKey => Option<PartnerRow> = |repo, keys| {
        Ok(by_id(repo.partners_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    calendar: CalendarKey => Option<Arc<CalendarData>> = |repo, keys| calendars(repo, keys).await;
    admin_change: AdminChangeKey => Option<AdminChangeRow> = |repo, keys| {
        Ok(by_id(repo.admin_changes_by_ids(&ids(&keys)).await?, |r| &r.id))
    };
    subscriptions_of_customer: SubscriptionsOfCustomer => List<SubscriptionRow> = |repo, keys| {
        Ok(lists(repo.subscriptions_of_customers(&ids(&keys)).await?, |r| r.customer_id.clone().unwrap_or_default()))
    };
    requests_of_customer: RequestsOfCustomer => List<Arc<ServiceRequestRow>> = |repo, keys| {
        Ok(lists(shared(repo.requests_of_customers(&ids(&keys)).await?), |r| r.customer_id.clone().unwrap_or_default()))
    };
    requests_of_subscription: RequestsOfSubscription => List<Arc<ServiceRequestRow>> = |repo, keys| {
        let rows = shared(repo.requests_of_subscriptions(&ids(&keys)).await?);
        Ok(lists(rows, |r| r.subscription_id.clone().unwrap_or_default()))
    };
    notes_of_request: NotesOfRequest => List<NoteRow> = |repo, keys| {
        Ok(lists(repo.notes_of_requests(&ids(&keys)).await?, |r| r.service_request_id.clone()))
    };
    history_of_request: HistoryOfRequest => List<HistoryRow> = |repo, keys| {
        Ok(lists(repo.history_of_requests(&ids(&keys)).await?, |r| r.service_request_id.clone()))
    };
    products_of_customer: ProductsOfCustomer => List<MarketplaceProductRow> = |repo, keys| {
        Ok(pair_lists(repo.products_of_customers(&ids(&keys)).await?))
    };
    customers_of_product: CustomersOfProduct => List<Arc<CustomerRow>> = |repo, keys| {
        let pairs = repo.customers_of_products(&ids(&keys)).await?;
        Ok(pair_lists(pairs.into_iter().map(|(product, row)| (product, Arc::new(row))).collect()))
    };
    domains_of_customer: DomainsOfCustomer => List<CustomerDomainRow> = |repo, keys| {
        Ok(lists(repo.domains_of_customers(&ids(&keys)).await?, |r| r.customer_id.clone()))
    };
    /// The first subscriptions of customers (nested pages that do not count).
    first_subscriptions_of_customer: FirstOf => List<SubscriptionRow> = |repo, keys| {
        first_lists!(keys, |ids, limit, columns| repo.first_subscriptions_of_customers(&ids, limit, columns), |r| r
            .customer_id
            .clone()
            .unwrap_or_default())
    };
    /// The first service requests of customers (nested pages that do not count).
    first_requests_of_customer: FirstOf => List<Arc<ServiceRequestRow>> = |repo, keys| {
        first_lists!(
            keys,
            |ids, limit, columns| async {
                repo.first_requests_of(Children::RequestsOfCustomer, &ids, limit, columns).await.map(shared)
            },
            |r| r.customer_id.clone().unwrap_or_default()
        )
    };
    /// The first service requests about subscriptions (nested pages that do not count).
    first_requests_of_subscription: FirstOf => List<Arc<ServiceRequestRow>> = |repo, keys| {
        first_lists!(
            keys,
            |ids, limit, columns| async {
                repo.first_requests_of(Children::RequestsOfSubscription, &ids, limit, columns).await.map(shared)
            },
            |r| r.subscription_id.clone().unwrap_or_default()
        )
    };
}

/// Business calendars through the process's cache; the ones missing from it in one batch.
async fn calendars(repo: Arc<Repo>, keys: Vec<CalendarKey>) -> AppResult<Map<CalendarKey, Option<Arc<CalendarData>>>> {
    let cache = repo.db.calendars.clone();
    // Another partner's calendar is not there for this one.
    let visible =
        |data: Arc<CalendarData>| data.partner_id.as_ref().is_none_or(|p| *p == repo.partner_id).then_some(data);
    let mut out = Map::with_capacity_and_hasher(keys.len(), Default::default());
    let mut missing = Vec::new();
    for key in keys {
        match cache.get(&key.0) {
            Some(data) => {
                out.insert(key, visible(data));
            }
            None => missing.push(key.0),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let (cals, hours, holidays) = repo.calendars_by_ids(&missing).await?;
    let mut hours = group_by(hours, |h| h.calendar_id.clone());
    let mut holidays = group_by(holidays, |h| h.calendar_id.clone());
    for c in cals {
        let id = c.id.clone();
        let data = Arc::new(calendar_data(
            c,
            hours.remove(&id).unwrap_or_default(),
            holidays.remove(&id).unwrap_or_default(),
        )?);
        cache.put(data.clone());
        out.insert(CalendarKey(id), visible(data));
    }
    Ok(out)
}

/// Builds the SLA calendar of stored rows.
pub fn calendar_data(
    row: CalendarRow,
    hours: Vec<CalendarHoursRow>,
    holidays: Vec<HolidayRow>,
) -> AppResult<CalendarData> {
    let time_zone: chrono_tz::Tz = row
        .time_zone
        .parse()
        .map_err(|_| AppError::internal(format!("calendar {} has unknown time zone {}", row.id, row.time_zone)))?;
    let mut weekly_hours: [Vec<(u32, u32)>; 7] = Default::default();
    for h in &hours {
        if let Some(day) = weekly_hours.get_mut(h.weekday as usize) {
            day.push((h.start_minute as u32, h.end_minute as u32));
        }
    }
    for day in &mut weekly_hours {
        day.sort_unstable();
    }
    let calendar = BusinessCalendar { time_zone, weekly_hours, holidays: holidays.iter().map(|h| h.day).collect() };
    Ok(CalendarData {
        id: row.id,
        name: row.name,
        partner_id: row.partner_id,
        version: row.version,
        calendar,
        holidays,
        hours,
    })
}
