//! Per-request batched loaders: one newtype key per loader, one statement per batch. Built
//! fresh for every request, so nothing a partner owns is cached across callers; only business
//! calendars, reference data shared by every partner, are kept per process ([`CalendarCache`]).
//!
//! The `dataloader` crate was replaced, for CPU: its loads wait for siblings by yielding ten
//! times each while they queue on an async mutex that passes from waiter to waiter one wake-up
//! at a time, so every waiting resolver was polled again and again. Measured with
//! `cargo bench --bench load -- --ops Q1,Q3,Q4` (PostgreSQL, scale 10,000, 32 connections):
//! gateway CPU per 1,000 requests Q3 14.1 → 10.6 s, Q4 8.6 → 5.3 s, Q1 0.52 → 0.46 s.
//!
//! Here registration is synchronous (a plain mutex, never held across an await), only the
//! first load of a batch (its leader) yields, and it fires once the number of keys has not
//! changed across two consecutive yields. All resolvers of a request run in one task, and a
//! future woken by the previous level is polled before the leader comes round again, so every
//! sibling that is ready has registered by then: the batch does not depend on timing.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::Shared;

use super::Repo;
use super::queries::{Children, group_by};
use crate::db::models::*;
use crate::domain::sla::BusinessCalendar;
use crate::error::{AppError, AppResult};

/// The most keys one batch gathers: large enough that a page of pages of pages (100 × 100 ×
/// 100 parents at most) never splits a level into several statements.
const MAX_BATCH: usize = 10_000;
/// Consecutive yields without a new key after which a batch's leader runs it.
const QUIET_YIELDS: usize = 2;

type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type FetchFn<K, V> = fn(Repo, Vec<K>) -> BoxFut<AppResult<HashMap<K, V>>>;
type Done = Shared<tokio::sync::oneshot::Receiver<()>>;

struct State<K, V> {
    completed: HashMap<K, Result<V, AppError>>,
    pending: Vec<K>,
    queued: HashSet<K>,
    /// The batch being gathered, if any: what its waiters await.
    open: Option<Done>,
}

/// A batched loader: `fetch` runs for all keys of a batch; missing keys get `V::default()`
/// (none, or an empty list); a failed statement fails every key of its batch.
pub struct BatchLoader<K, V> {
    repo: Repo,
    fetch: FetchFn<K, V>,
    state: Mutex<State<K, V>>,
}

/// Closes the batch if its leader is dropped before it finished (the request was cancelled),
/// so later loads start a new one.
struct LeaderGuard<'a, K, V> {
    state: &'a Mutex<State<K, V>>,
    armed: bool,
}

impl<K, V> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if self.armed {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.open = None;
            s.pending.clear();
            s.queued.clear();
        }
    }
}

impl<K, V> BatchLoader<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Default + Clone + Send + 'static,
{
    fn new(repo: &Repo, fetch: FetchFn<K, V>) -> BatchLoader<K, V> {
        let state = State { completed: HashMap::new(), pending: Vec::new(), queued: HashSet::new(), open: None };
        BatchLoader { repo: repo.clone(), fetch, state: Mutex::new(state) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the values read so far (a batch being gathered carries on).
    fn forget(&self) {
        self.lock().completed.clear();
    }

    /// Records a value already read (by a page query), so loading its key runs nothing.
    pub fn prime(&self, key: K, value: V) {
        self.lock().completed.entry(key).or_insert(Ok(value));
    }

    /// The value of one key, from this request's earlier batches or the next one.
    pub async fn load(&self, key: K) -> AppResult<V> {
        let (done, leader) = {
            let mut s = self.lock();
            if let Some(v) = s.completed.get(&key) {
                return v.clone();
            }
            if s.queued.insert(key.clone()) {
                s.pending.push(key.clone());
            }
            match &s.open {
                Some(done) => (done.clone(), None),
                None => {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    let done = rx.shared();
                    s.open = Some(done.clone());
                    (done, Some(tx))
                }
            }
        };
        match leader {
            Some(tx) => {
                self.lead().await;
                // Waiters may all be gone (their request was cancelled): nobody to tell.
                let _ = tx.send(());
            }
            None => done.await.map_err(|_| AppError::internal("loader: the batch was cancelled"))?,
        }
        self.lock().completed.get(&key).cloned().unwrap_or_else(|| Err(AppError::internal("loader: a key was lost")))
    }

    /// Waits until no sibling adds a key, then runs the batch and records its results.
    async fn lead(&self) {
        let mut guard = LeaderGuard { state: &self.state, armed: true };
        let (mut seen, mut quiet) = (0, 0);
        while quiet < QUIET_YIELDS {
            tokio::task::yield_now().await;
            let n = self.lock().pending.len();
            if n >= MAX_BATCH {
                break;
            }
            if n == seen {
                quiet += 1;
            } else {
                (seen, quiet) = (n, 0);
            }
        }
        let keys = {
            let mut s = self.lock();
            s.open = None;
            s.queued.clear();
            std::mem::take(&mut s.pending)
        };
        // The batch is closed: from here a dropped leader must not clear the next batch's keys
        // (its waiters see the batch cancelled instead).
        guard.armed = false;
        use tracing::Instrument;
        let span = tracing::debug_span!(
            "loader.batch",
            key = std::any::type_name::<K>().rsplit("::").next().unwrap_or("?"),
            keys = keys.len()
        );
        let result = (self.fetch)(self.repo.clone(), keys.clone()).instrument(span).await;
        let mut s = self.lock();
        match result {
            Ok(mut found) => {
                for k in keys {
                    let v = found.remove(&k).unwrap_or_default();
                    s.completed.insert(k, Ok(v));
                }
            }
            Err(e) => {
                for k in keys {
                    s.completed.insert(k, Err(e.clone()));
                }
            }
        }
    }
}

/// Loads one key through a request's loader.
pub async fn load<K, V>(loader: &BatchLoader<K, V>, key: K) -> AppResult<V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Default + Clone + Send + 'static,
{
    loader.load(key).await
}

macro_rules! keys {
    ($($(#[$m:meta])* $name:ident),+ $(,)?) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, Eq, Hash)]
            pub struct $name(pub String);
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
}

impl FirstOf {
    pub fn new(parent: &str, n: usize) -> FirstOf {
        FirstOf { parent: parent.to_owned(), n: n.min(u32::MAX as usize) as u32 }
    }
}

/// Runs one statement per distinct `n` of a batch (a request with aliases may ask
/// for several page sizes) and hands each key its parent's rows.
macro_rules! first_lists {
    ($keys:ident, |$ids:ident, $limit:ident| $fetch:expr, $parent:expr) => {{
        let mut by_n: HashMap<u32, Vec<FirstOf>> = HashMap::new();
        for k in $keys {
            by_n.entry(k.n).or_default().push(k);
        }
        let mut out = HashMap::new();
        for (n, keys) in by_n {
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

type List<T> = Arc<Vec<T>>;

/// A request's loaders, built on first use: a request that loads nothing through them (a
/// subscription that selects only event fields, a search or page of scalar fields) does not
/// pay for sixteen loaders. Shared (`Clone`), so that a subscription's stream can make them
/// forget what they read before each event it resolves.
#[derive(Clone)]
pub struct LazyLoaders(Arc<LazyInner>);

struct LazyInner {
    repo: Repo,
    cell: std::sync::OnceLock<Loaders>,
}

impl LazyLoaders {
    pub fn new(repo: &Repo) -> LazyLoaders {
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

/// Every loader of one request.
pub struct Loaders {
    pub customer: BatchLoader<CustomerKey, Option<Arc<CustomerRow>>>,
    pub subscription: BatchLoader<SubscriptionKey, Option<SubscriptionRow>>,
    pub request: BatchLoader<RequestKey, Option<Arc<ServiceRequestRow>>>,
    pub product: BatchLoader<ProductKey, Option<MarketplaceProductRow>>,
    pub topic: BatchLoader<TopicKey, Option<SupportTopicRow>>,
    pub agent: BatchLoader<AgentKey, Option<AgentRow>>,
    pub partner: BatchLoader<PartnerKey, Option<PartnerRow>>,
    pub calendar: BatchLoader<CalendarKey, Option<Arc<CalendarData>>>,
    pub admin_change: BatchLoader<AdminChangeKey, Option<AdminChangeRow>>,
    pub subscriptions_of_customer: BatchLoader<SubscriptionsOfCustomer, List<SubscriptionRow>>,
    pub requests_of_customer: BatchLoader<RequestsOfCustomer, List<Arc<ServiceRequestRow>>>,
    pub requests_of_subscription: BatchLoader<RequestsOfSubscription, List<Arc<ServiceRequestRow>>>,
    pub notes_of_request: BatchLoader<NotesOfRequest, List<NoteRow>>,
    pub history_of_request: BatchLoader<HistoryOfRequest, List<HistoryRow>>,
    pub products_of_customer: BatchLoader<ProductsOfCustomer, List<MarketplaceProductRow>>,
    pub customers_of_product: BatchLoader<CustomersOfProduct, List<Arc<CustomerRow>>>,
    pub domains_of_customer: BatchLoader<DomainsOfCustomer, List<CustomerDomainRow>>,
    /// The first subscriptions of customers (nested pages that do not count).
    pub first_subscriptions_of_customer: BatchLoader<FirstOf, List<SubscriptionRow>>,
    /// The first service requests of customers (nested pages that do not count).
    pub first_requests_of_customer: BatchLoader<FirstOf, List<Arc<ServiceRequestRow>>>,
    /// The first service requests about subscriptions (nested pages that do not count).
    pub first_requests_of_subscription: BatchLoader<FirstOf, List<Arc<ServiceRequestRow>>>,
}

fn strings<K>(keys: &[K], f: impl Fn(&K) -> &String) -> Vec<String> {
    keys.iter().map(|k| f(k).clone()).collect()
}

/// Rows behind `Arc`s: a request's rows are handed to every resolver that loads them (and
/// service request rows, ~30 strings each, were cloned per load and per page; customer rows,
/// ~15, once per request of a page that names its customer).
fn shared<T>(rows: Vec<T>) -> Vec<Arc<T>> {
    rows.into_iter().map(Arc::new).collect()
}

/// Indexes rows by id under a key type.
fn by_id<K: Hash + Eq, T>(rows: Vec<T>, id: impl Fn(&T) -> String, key: impl Fn(String) -> K) -> HashMap<K, Option<T>> {
    rows.into_iter().map(|r| (key(id(&r)), Some(r))).collect()
}

/// Groups child rows under their parent's key.
fn lists<K: Hash + Eq, T>(
    rows: Vec<T>,
    parent: impl Fn(&T) -> String,
    key: impl Fn(String) -> K,
) -> HashMap<K, List<T>> {
    group_by(rows, |r| key(parent(r))).into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
}

impl Loaders {
    fn forget(&self) {
        self.customer.forget();
        self.subscription.forget();
        self.request.forget();
        self.product.forget();
        self.topic.forget();
        self.agent.forget();
        self.partner.forget();
        self.calendar.forget();
        self.admin_change.forget();
        self.subscriptions_of_customer.forget();
        self.requests_of_customer.forget();
        self.requests_of_subscription.forget();
        self.notes_of_request.forget();
        self.history_of_request.forget();
        self.products_of_customer.forget();
        self.customers_of_product.forget();
        self.domains_of_customer.forget();
        self.first_subscriptions_of_customer.forget();
        self.first_requests_of_customer.forget();
        self.first_requests_of_subscription.forget();
    }

    pub fn new(repo: &Repo) -> Loaders {
        Loaders {
            customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.customers_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(shared(rows), |r| r.id.clone(), CustomerKey))
                })
            }),
            subscription: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.subscriptions_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), SubscriptionKey))
                })
            }),
            request: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.requests_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(shared(rows), |r| r.id.clone(), RequestKey))
                })
            }),
            product: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.products_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), ProductKey))
                })
            }),
            topic: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.topics_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), TopicKey))
                })
            }),
            agent: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.agents_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), AgentKey))
                })
            }),
            partner: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.partners_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), PartnerKey))
                })
            }),
            admin_change: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.admin_changes_by_ids(&strings(&keys, |k| &k.0)).await?;
                    Ok(by_id(rows, |r| r.id.clone(), AdminChangeKey))
                })
            }),
            calendar: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let cache = repo.db.calendars.clone();
                    let mut out = HashMap::with_capacity(keys.len());
                    let mut missing = Vec::new();
                    for key in keys {
                        match cache.get(&key.0) {
                            Some(data) => {
                                // Another partner's calendar is not there for this one.
                                let visible = data.partner_id.as_ref().is_none_or(|p| *p == repo.partner_id);
                                out.insert(key, visible.then_some(data));
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
                        let data = Arc::new(calendar_data(
                            c.clone(),
                            hours.remove(&c.id).unwrap_or_default(),
                            holidays.remove(&c.id).unwrap_or_default(),
                        )?);
                        cache.put(data.clone());
                        let visible = data.partner_id.as_ref().is_none_or(|p| *p == repo.partner_id);
                        out.insert(CalendarKey(c.id), visible.then_some(data));
                    }
                    Ok(out)
                })
            }),
            subscriptions_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.subscriptions_of_customers(&strings(&keys, |k| &k.0)).await?;
                    Ok(lists(rows, |r| r.customer_id.clone().unwrap_or_default(), SubscriptionsOfCustomer))
                })
            }),
            requests_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = shared(repo.requests_of_customers(&strings(&keys, |k| &k.0)).await?);
                    Ok(lists(rows, |r| r.customer_id.clone().unwrap_or_default(), RequestsOfCustomer))
                })
            }),
            requests_of_subscription: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = shared(repo.requests_of_subscriptions(&strings(&keys, |k| &k.0)).await?);
                    Ok(lists(rows, |r| r.subscription_id.clone().unwrap_or_default(), RequestsOfSubscription))
                })
            }),
            notes_of_request: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.notes_of_requests(&strings(&keys, |k| &k.0)).await?;
                    Ok(lists(rows, |r| r.service_request_id.clone(), NotesOfRequest))
                })
            }),
            history_of_request: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.history_of_requests(&strings(&keys, |k| &k.0)).await?;
                    Ok(lists(rows, |r| r.service_request_id.clone(), HistoryOfRequest))
                })
            }),
            products_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.products_of_customers(&strings(&keys, |k| &k.0)).await?;
                    let grouped = group_by(rows, |(c, _)| c.clone());
                    Ok(grouped
                        .into_iter()
                        .map(|(c, v)| (ProductsOfCustomer(c), Arc::new(v.into_iter().map(|(_, p)| p).collect())))
                        .collect())
                })
            }),
            customers_of_product: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.customers_of_products(&strings(&keys, |k| &k.0)).await?;
                    let grouped = group_by(rows, |(p, _)| p.clone());
                    Ok(grouped
                        .into_iter()
                        .map(|(p, v)| {
                            (CustomersOfProduct(p), Arc::new(v.into_iter().map(|(_, c)| Arc::new(c)).collect()))
                        })
                        .collect())
                })
            }),
            domains_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    let rows = repo.domains_of_customers(&strings(&keys, |k| &k.0)).await?;
                    Ok(lists(rows, |r| r.customer_id.clone(), DomainsOfCustomer))
                })
            }),
            first_subscriptions_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    first_lists!(keys, |ids, limit| repo.first_subscriptions_of_customers(&ids, limit), |r| r
                        .customer_id
                        .clone()
                        .unwrap_or_default())
                })
            }),
            first_requests_of_customer: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    first_lists!(
                        keys,
                        |ids, limit| async {
                            repo.first_requests_of(Children::RequestsOfCustomer, &ids, limit).await.map(shared)
                        },
                        |r| r.customer_id.clone().unwrap_or_default()
                    )
                })
            }),
            first_requests_of_subscription: BatchLoader::new(repo, |repo, keys| {
                Box::pin(async move {
                    first_lists!(
                        keys,
                        |ids, limit| async {
                            repo.first_requests_of(Children::RequestsOfSubscription, &ids, limit).await.map(shared)
                        },
                        |r| r.subscription_id.clone().unwrap_or_default()
                    )
                })
            }),
        }
    }
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
