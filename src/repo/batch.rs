//! The batching engine behind the per-request loaders ([`super::loaders`]): loads of many keys,
//! made by sibling resolvers, run as one fetch.
//!
//! It replaced the `dataloader` crate, for CPU: that crate's loads wait for siblings by
//! yielding ten times each while they queue on an async mutex that passes from waiter to waiter
//! one wake-up at a time, so every waiting resolver was polled again and again. Measured with
//! `cargo bench --bench load -- --ops Q1,Q3,Q4` (PostgreSQL, scale 10,000, 32 connections):
//! gateway CPU per 1,000 requests Q3 14.1 → 10.6 s, Q4 8.6 → 5.3 s, Q1 0.52 → 0.46 s.
//!
//! Here registration is synchronous (a plain mutex, never held across an await), only the
//! first load of a batch (its leader) yields, and it fires once the number of keys has not
//! changed across two consecutive yields, or once the batch is full. All resolvers of a request
//! run in one task, and a future woken by the previous level is polled before the leader comes
//! round again, so every sibling that is ready has registered by then: the batch does not
//! depend on timing.
//!
//! Cancellation: a load may be dropped at any await (the request timed out, its client went
//! away). A dropped leader hands the batch on: its waiters wake, find their keys not loaded and
//! load them again, one of them leading the next batch. A key whose every load was dropped may
//! still be fetched by the next batch (wasted work, never a wrong answer).

use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::sync::Mutex;

use futures_util::FutureExt;
use futures_util::future::Shared;

use crate::error::{AppError, AppResult};

/// The most keys one batch gathers: large enough that a page of pages of pages (100 × 100 ×
/// 100 parents at most) never splits a level into several fetches.
pub const MAX_BATCH: usize = 10_000;
/// Consecutive yields without a new key after which a batch's leader runs it.
const QUIET_YIELDS: usize = 2;

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
/// What a batch runs: the values of the keys found, from a context (a repository) and the keys.
pub type FetchFn<C, K, V> = fn(C, Vec<K>) -> BoxFut<AppResult<Map<K, V>>>;
/// The maps loaders keep and fetches return: std's, hashed with foldhash (seeded at random
/// per process) instead of SipHash, which was ~4 % of the gateway's instructions on P3
/// (a request's keys are inserted, looked up and removed several times each).
pub type Map<K, V> = foldhash::HashMap<K, V>;
type Set<K> = foldhash::HashSet<K>;
type Done = Shared<tokio::sync::oneshot::Receiver<()>>;

struct State<K, V> {
    completed: Map<K, Result<V, AppError>>,
    pending: Vec<K>,
    queued: Set<K>,
    /// The batch being gathered, if any: what its waiters await.
    open: Option<Done>,
}

/// A batched loader: `fetch` runs for the keys of a batch; keys it does not return get
/// `V::default()` (none, or an empty list); a failed fetch fails every key of its batch.
pub struct BatchLoader<C, K, V> {
    context: C,
    fetch: FetchFn<C, K, V>,
    max_batch: usize,
    state: Mutex<State<K, V>>,
}

/// Closes the batch if its leader is dropped while gathering it, so that its waiters load their
/// keys again (one of them leading) instead of waiting for a batch that never runs.
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

impl<C, K, V> BatchLoader<C, K, V>
where
    C: Clone + Send + 'static,
    K: Eq + Hash + Clone + Send + 'static,
    V: Default + Clone + Send + 'static,
{
    pub fn new(context: C, fetch: FetchFn<C, K, V>) -> BatchLoader<C, K, V> {
        let state = State { completed: Map::default(), pending: Vec::new(), queued: Set::default(), open: None };
        BatchLoader { context, fetch, max_batch: MAX_BATCH, state: Mutex::new(state) }
    }

    /// The same loader running at most `n` keys per fetch (at least one).
    pub fn with_max_batch(mut self, n: usize) -> BatchLoader<C, K, V> {
        self.max_batch = n.max(1);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the values read so far (a batch being gathered carries on).
    pub fn forget(&self) {
        self.lock().completed.clear();
    }

    /// The value of one key, from this request's earlier batches or the next one.
    pub async fn load(&self, key: K) -> AppResult<V> {
        loop {
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
                // The batch ran, or its leader was dropped: either way, look again. A key the
                // batch did not take (it was full, or its leader went) is loaded by the next.
                None => {
                    let _ = done.await;
                }
            }
        }
    }

    /// Waits until no sibling adds a key (or the batch is full), then runs the batch and
    /// records its results.
    async fn lead(&self) {
        let mut guard = LeaderGuard { state: &self.state, armed: true };
        let (mut seen, mut quiet) = (0, 0);
        while quiet < QUIET_YIELDS {
            tokio::task::yield_now().await;
            let n = self.lock().pending.len();
            if n >= self.max_batch {
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
            let take = s.pending.len().min(self.max_batch);
            let keys: Vec<K> = s.pending.drain(..take).collect();
            for k in &keys {
                s.queued.remove(k);
            }
            keys
        };
        // The batch is closed: from here a dropped leader must not clear the next batch's keys
        // (its waiters find their keys not loaded and load them again).
        guard.armed = false;
        use tracing::Instrument;
        let span = tracing::debug_span!(
            "loader.batch",
            key = std::any::type_name::<K>().rsplit("::").next().unwrap_or("?"),
            keys = keys.len()
        );
        let result = (self.fetch)(self.context.clone(), keys.clone()).instrument(span).await;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures_util::StreamExt;
    use futures_util::stream::FuturesUnordered;

    use super::*;

    /// What the fetches of a test loader saw, and whether the next one hangs.
    #[derive(Default)]
    struct Fetches {
        batches: Mutex<Vec<Vec<u32>>>,
        hang: AtomicBool,
        fail: AtomicBool,
    }

    type Loader = BatchLoader<Arc<Fetches>, u32, Option<String>>;

    /// Each key `k` finds `"v{k}"`, except multiples of 10 (not found).
    fn loader() -> (Loader, Arc<Fetches>) {
        let fetches = Arc::new(Fetches::default());
        let loader = BatchLoader::new(fetches.clone(), |f: Arc<Fetches>, keys: Vec<u32>| {
            Box::pin(async move {
                f.batches.lock().unwrap().push(keys.clone());
                if f.hang.swap(false, Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                if f.fail.load(Ordering::SeqCst) {
                    return Err(AppError::internal("the fetch failed"));
                }
                tokio::task::yield_now().await;
                Ok(keys.into_iter().filter(|k| k % 10 != 0).map(|k| (k, Some(format!("v{k}")))).collect())
            }) as BoxFut<_>
        });
        (loader, fetches)
    }

    /// Loads every key concurrently in this task, as a request's resolvers do.
    async fn load_all(loader: &Loader, keys: impl IntoIterator<Item = u32>) -> Vec<(u32, AppResult<Option<String>>)> {
        let mut all: FuturesUnordered<_> = keys.into_iter().map(|k| async move { (k, loader.load(k).await) }).collect();
        let mut out = Vec::new();
        while let Some(r) = all.next().await {
            out.push(r);
        }
        out.sort_by_key(|(k, _)| *k);
        out
    }

    fn batches(f: &Fetches) -> Vec<Vec<u32>> {
        let mut b = f.batches.lock().unwrap().clone();
        for keys in &mut b {
            keys.sort_unstable();
        }
        b
    }

    #[tokio::test]
    async fn siblings_share_one_fetch_and_repeated_keys_are_fetched_once() {
        let (loader, fetches) = loader();
        let got = load_all(&loader, [3, 1, 2, 3, 10]).await;
        assert_eq!(batches(&fetches), vec![vec![1, 2, 3, 10]]);
        let values: Vec<_> = got.into_iter().map(|(k, v)| (k, v.unwrap())).collect();
        assert_eq!(
            values,
            vec![
                (1, Some("v1".into())),
                (2, Some("v2".into())),
                (3, Some("v3".into())),
                (3, Some("v3".into())),
                (10, None)
            ]
        );
        // Loaded keys are answered without another fetch; new ones make a new batch.
        assert_eq!(loader.load(2).await.unwrap(), Some("v2".into()));
        assert_eq!(loader.load(4).await.unwrap(), Some("v4".into()));
        assert_eq!(batches(&fetches), vec![vec![1, 2, 3, 10], vec![4]]);
    }

    #[tokio::test]
    async fn a_batch_never_exceeds_its_limit_and_every_key_is_answered() {
        let (loader, fetches) = loader();
        let loader = loader.with_max_batch(3);
        let got = load_all(&loader, 1..=8).await;
        assert!(got.iter().all(|(k, v)| *v.as_ref().unwrap() == Some(format!("v{k}"))), "{got:?}");
        let b = batches(&fetches);
        assert!(b.iter().all(|keys| !keys.is_empty() && keys.len() <= 3), "{b:?}");
        let mut seen: Vec<u32> = b.concat();
        seen.sort_unstable();
        assert_eq!(seen, (1..=8).collect::<Vec<_>>(), "each key fetched once");
    }

    #[tokio::test]
    async fn a_failed_fetch_fails_its_keys_only() {
        let (loader, fetches) = loader();
        assert_eq!(loader.load(3).await.unwrap(), Some("v3".into()));
        fetches.fail.store(true, Ordering::SeqCst);
        let got = load_all(&loader, [1, 2]).await;
        assert!(got.iter().all(|(_, v)| v.is_err()), "{got:?}");
        // A key of an earlier batch keeps its value; a later batch runs afresh.
        assert_eq!(loader.load(3).await.unwrap(), Some("v3".into()));
        fetches.fail.store(false, Ordering::SeqCst);
        assert_eq!(loader.load(5).await.unwrap(), Some("v5".into()));
        assert_eq!(batches(&fetches), vec![vec![3], vec![1, 2], vec![5]]);
    }

    #[tokio::test]
    async fn a_leader_dropped_while_gathering_hands_the_batch_on() {
        let (loader, fetches) = loader();
        let mut leader = Box::pin(loader.load(1));
        assert!(futures_util::poll!(&mut leader).is_pending(), "the leader waits for siblings");
        let mut waiter = Box::pin(loader.load(2));
        assert!(futures_util::poll!(&mut waiter).is_pending(), "a sibling joins the open batch");
        drop(leader);
        assert_eq!(waiter.await.unwrap(), Some("v2".into()));
        // The dropped leader's key was nobody's any more: it was not fetched.
        assert_eq!(batches(&fetches), vec![vec![2]]);
    }

    #[tokio::test]
    async fn a_leader_dropped_while_fetching_hands_the_batch_on() {
        let (loader, fetches) = loader();
        fetches.hang.store(true, Ordering::SeqCst);
        let mut leader = Box::pin(loader.load(1));
        let mut waiter = Box::pin(loader.load(2));
        assert!(futures_util::poll!(&mut leader).is_pending());
        assert!(futures_util::poll!(&mut waiter).is_pending());
        // Poll the leader until its fetch has started (and hangs).
        while fetches.batches.lock().unwrap().is_empty() {
            assert!(futures_util::poll!(&mut leader).is_pending());
        }
        drop(leader);
        assert_eq!(waiter.await.unwrap(), Some("v2".into()));
        assert_eq!(batches(&fetches), vec![vec![1, 2], vec![2]]);
    }

    #[tokio::test]
    async fn a_request_cancelled_whole_leaves_the_loader_usable() {
        let (loader, fetches) = loader();
        fetches.hang.store(true, Ordering::SeqCst);
        {
            let mut all = Box::pin(load_all(&loader, [1, 2, 3]));
            while fetches.batches.lock().unwrap().is_empty() {
                assert!(futures_util::poll!(&mut all).is_pending());
                // Lets the runtime deliver the wake-ups `yield_now` defers.
                tokio::task::yield_now().await;
            }
        }
        // Cancelled while gathering, too.
        {
            let mut all = Box::pin(load_all(&loader, [4, 5]));
            assert!(futures_util::poll!(&mut all).is_pending());
        }
        let got = load_all(&loader, [1, 4, 6]).await;
        assert!(got.iter().all(|(k, v)| *v.as_ref().unwrap() == Some(format!("v{k}"))), "{got:?}");
        assert_eq!(batches(&fetches), vec![vec![1, 2, 3], vec![1, 4, 6]]);
    }

    #[tokio::test]
    async fn forgotten_values_are_fetched_again() {
        let (loader, fetches) = loader();
        assert_eq!(loader.load(7).await.unwrap(), Some("v7".into()));
        assert_eq!(loader.load(7).await.unwrap(), Some("v7".into()));
        loader.forget();
        assert_eq!(loader.load(7).await.unwrap(), Some("v7".into()));
        assert_eq!(batches(&fetches), vec![vec![7], vec![7]]);
    }
}
