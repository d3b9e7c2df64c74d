//! The database: one pool over PostgreSQL or SQLite, picked by URL at start, migrations, and
//! the statement counter that tests and metrics read.
//!
//! Queries are written once and expanded per backend by [`with_conn!`](crate::with_conn): there
//! is no released async `MultiConnection`, and a `match` arm per backend keeps every query
//! type-checked against both.

pub mod batch;
pub mod lease;
pub mod models;
pub mod plans;
pub mod schema;
pub mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite_runtime;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel_async::AsyncConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

use crate::error::{AppError, AppResult};

/// What a query body expanded per backend (`with_conn!(db, |conn, DB| …)`) may ask of its
/// backend where the two dialects differ.
pub trait Dialect {
    /// PostgreSQL (arrays, `= ANY`) rather than SQLite.
    const POSTGRES: bool;
}

#[cfg(feature = "postgres")]
impl Dialect for diesel::pg::Pg {
    const POSTGRES: bool = true;
}

#[cfg(feature = "sqlite")]
impl Dialect for diesel::sqlite::Sqlite {
    const POSTGRES: bool = false;
}

#[cfg(feature = "postgres")]
pub type PgConn = diesel_async::AsyncPgConnection;
#[cfg(feature = "sqlite")]
pub type SqliteConn = diesel_async::sync_connection_wrapper::SyncConnectionWrapper<
    diesel::SqliteConnection,
    sqlite_runtime::SqliteRuntime,
>;

#[cfg(feature = "postgres")]
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
#[cfg(feature = "sqlite")]
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Per-connection SQLite settings. Foreign keys are off by default in SQLite; WAL lets readers
/// run beside the one writer; the busy timeout makes a writer retry the lock (SQLite's busy
/// handler) for a bounded time instead of failing at once, then fail with `SERVICE_UNAVAILABLE`.
#[cfg(feature = "sqlite")]
fn sqlite_pragmas(busy_timeout: Duration) -> String {
    format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
        busy_timeout.as_millis()
    )
}

/// SQLite's process-wide settings, made once, before the process opens its first SQLite
/// connection:
/// - no memory statistics: SQLite counted every allocation under one process-wide mutex
///   (statistics nothing here reads); with readers on several threads that mutex was a quarter
///   of the CPU of the benchmark's customer search (futex waits under `sqlite3Malloc`);
/// - multi-thread mode, without a mutex per connection;
/// - allocations through jemalloc ([`sqlite_alloc`]).
#[cfg(feature = "sqlite")]
fn configure_sqlite_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: `sqlite3_config` must run before SQLite initialises, with no other SQLite call
        // in flight; every connection of this process is opened after this `Once`. Were SQLite
        // already initialised it would refuse (SQLITE_MISUSE) and change nothing.
        let rc =
            unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MEMSTATUS, 0 as std::ffi::c_int) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite kept its memory statistics");
        }
        // SAFETY: as above. Multi-thread mode drops the mutex of each connection: a connection
        // is used by one thread at a time (diesel's `&mut`, and the async wrapper's own mutex),
        // never by two at once.
        let rc = unsafe { libsqlite3_sys::sqlite3_config(libsqlite3_sys::SQLITE_CONFIG_MULTITHREAD) };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite kept its per-connection mutexes");
        }
        #[cfg(feature = "jemalloc")]
        sqlite_alloc::install();
    });
}

/// SQLite's allocations through jemalloc, the process's allocator, instead of the C
/// library's malloc: on SQLite reads glibc's malloc, its frees and their arena locks were ~15 %
/// of the gateway's CPU.
#[cfg(all(feature = "sqlite", feature = "jemalloc"))]
mod sqlite_alloc {
    use std::ffi::{c_int, c_void};

    use tikv_jemalloc_sys as je;

    // SAFETY (all of them): SQLite calls these as its `sqlite3_mem_methods`, with sizes > 0 and
    // pointers these functions returned.
    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        unsafe { je::malloc(n.max(1) as usize) }
    }
    unsafe extern "C" fn free(p: *mut c_void) {
        unsafe { je::free(p) }
    }
    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        unsafe { je::realloc(p, n.max(1) as usize) }
    }
    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        if p.is_null() { 0 } else { unsafe { je::malloc_usable_size(p) as c_int } }
    }
    unsafe extern "C" fn roundup(n: c_int) -> c_int {
        unsafe { je::nallocx(n.max(1) as usize, 0) as c_int }
    }
    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }
    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    /// Before SQLite initialises (it copies the methods).
    pub(super) fn install() {
        let methods = libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: before SQLite initialises (see the caller); SQLite copies the structure.
        let rc = unsafe {
            libsqlite3_sys::sqlite3_config(
                libsqlite3_sys::SQLITE_CONFIG_MALLOC,
                &methods as *const libsqlite3_sys::sqlite3_mem_methods,
            )
        };
        if rc != libsqlite3_sys::SQLITE_OK {
            tracing::debug!(rc, "SQLite kept the C library's malloc");
        }
    }
}

/// The pool of one backend.
#[derive(Clone)]
pub enum Pool {
    #[cfg(feature = "postgres")]
    Postgres(diesel_async::pooled_connection::deadpool::Pool<PgConn>),
    #[cfg(feature = "sqlite")]
    Sqlite(diesel_async::pooled_connection::deadpool::Pool<SqliteConn>),
}

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

/// Counters shared by every connection of a pool (also exported on `/metrics`).
#[derive(Debug)]
pub struct DbStats {
    /// Statements started.
    pub statements: prometheus_client::metrics::counter::Counter,
    /// Time from a statement's start to its end.
    pub statement_seconds: prometheus_client::metrics::histogram::Histogram,
}

impl Default for DbStats {
    fn default() -> Self {
        DbStats {
            statements: Default::default(),
            statement_seconds: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.000_05, 2.0, 16),
            ),
        }
    }
}

impl DbStats {
    /// SQL statements started since the pool was built.
    pub fn statements(&self) -> u64 {
        self.statements.get()
    }
}

/// Counts every statement a connection starts and times it (diesel's instrumentation hook).
struct StatementCounter {
    stats: Arc<DbStats>,
    started: Option<std::time::Instant>,
}

impl StatementCounter {
    fn new(stats: Arc<DbStats>) -> StatementCounter {
        StatementCounter { stats, started: None }
    }
}

impl Instrumentation for StatementCounter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.stats.statements.inc();
                self.started = Some(std::time::Instant::now());
            }
            InstrumentationEvent::FinishQuery { .. } => {
                if let Some(started) = self.started.take() {
                    self.stats.statement_seconds.observe(started.elapsed().as_secs_f64());
                }
            }
            _ => {}
        }
    }
}

/// A pooled connection for one piece of work. When the work is dropped before it finished
/// (a timeout, a client gone, shutdown), the connection may be inside a transaction, holding
/// SQLite's write lock, or still running a statement (SQLite runs it on a blocking thread that
/// outlives the future): it is taken out of the pool and closed instead of being handed to the
/// next request. Closing rolls back what it had begun and releases its locks (SQLite's once its
/// blocking thread lets go of it). Work that ended with an error returned by `?` is dropped
/// the same way: the connection's state is unknown.
pub struct Checkout<M: deadpool::managed::Manager> {
    object: Option<deadpool::managed::Object<M>>,
    finished: bool,
}

impl<M: deadpool::managed::Manager> Checkout<M> {
    pub fn new(object: deadpool::managed::Object<M>) -> Self {
        Checkout { object: Some(object), finished: false }
    }

    /// The work is done: the connection goes back to the pool when this is dropped.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl<M: deadpool::managed::Manager> std::ops::Deref for Checkout<M> {
    type Target = M::Type;
    fn deref(&self) -> &M::Type {
        self.object.as_ref().expect("a checked-out connection")
    }
}

impl<M: deadpool::managed::Manager> std::ops::DerefMut for Checkout<M> {
    fn deref_mut(&mut self) -> &mut M::Type {
        self.object.as_mut().expect("a checked-out connection")
    }
}

impl<M: deadpool::managed::Manager> Drop for Checkout<M> {
    fn drop(&mut self) {
        if !self.finished
            && let Some(object) = self.object.take()
        {
            tracing::debug!("discarding a database connection whose work was dropped halfway");
            drop(deadpool::managed::Object::take(object));
        }
    }
}

/// The identity of a SQLite database file (device and inode), to notice when the file is
/// deleted or replaced under a running gateway: SQLite would go on writing into the unlinked
/// file, and every write acknowledged from then on would be lost at the next start.
#[derive(Debug)]
struct SqliteFile {
    path: std::path::PathBuf,
    identity: std::sync::OnceLock<(u64, u64)>,
}

impl SqliteFile {
    fn current(&self) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()))
    }
}

/// The database handle held by `App`: cheap to clone.
#[derive(Clone)]
pub struct Db {
    pub pool: Pool,
    pub stats: Arc<DbStats>,
    pub backend: Backend,
    /// Serialises write transactions on SQLite (see [`transaction!`](crate::transaction)).
    pub sqlite_writer: Arc<tokio::sync::Mutex<()>>,
    /// Business calendars read recently, shared by every request of this process.
    pub calendars: Arc<crate::repo::loaders::CalendarCache>,
    /// The plans of batched statements, while a test records them ([`plans`]).
    pub plans: Arc<plans::PlanLog>,
    /// The URL it was opened with.
    url: Arc<str>,
    /// How long a SQLite writer waits for the write lock (this process's writers' turn included).
    pub sqlite_busy_timeout: Duration,
    /// The SQLite file, watched for deletion or replacement.
    sqlite_file: Option<Arc<SqliteFile>>,
}

/// A database URL without its password, for messages and logs.
pub fn redacted(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Settings of every pooled PostgreSQL connection.
///
/// Generic plans: the connection's prepared statements are planned once, not at each run.
/// Left to choose, PostgreSQL kept planning the batched statements (`id = ANY($1)`) for their
/// values at every run: it judged the generic plan of an array of unknown length dearer than a
/// plan for one id, so P1 (a request by id) spent 0.095 ms planning for 0.024 ms of work.
/// Measured side by side (`../shared/peer`, `OPS=P1`): P1 4,515 → 7,685 req/s, PostgreSQL
/// 0.193 → 0.076 ms per request. Every statement of the gateway has to plan well without its
/// values (the customer search spells its prefix as an index range for this, see
/// `Repo::customer_page`). `tests/plans.rs` checks that the setting is on; its `EXPLAIN`s
/// see the plans made for their binds, not these generic ones.
#[cfg(feature = "postgres")]
const PG_SESSION: &str = "SET plan_cache_mode = force_generic_plan";

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: usize,
    /// How long a request waits for a free connection (or a new one) before failing fast.
    pub timeout: Duration,
    /// How long a SQLite connection retries a locked database.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions { max_size: 16, timeout: Duration::from_secs(5), sqlite_busy_timeout: Duration::from_secs(5) }
    }
}

impl Db {
    /// Connects a pool to `url`: `postgres://…` for PostgreSQL, otherwise a SQLite file path
    /// (optionally prefixed `sqlite://` or `sqlite:`), whose folder is created if missing.
    pub async fn connect(url: &str, options: &PoolOptions) -> AppResult<Db> {
        let stats = Arc::new(DbStats::default());
        let backend = Backend::of_url(url);
        let pool = match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => {
                let counter = stats.clone();
                let mut config = ManagerConfig::<PgConn>::default();
                // Fast: a checkout costs no `SELECT 1`; a dead connection fails its first query
                // and is dropped by `is_broken` on return.
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |url| {
                    let counter = counter.clone();
                    async move {
                        let mut conn = PgConn::establish(url).await?;
                        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, PG_SESSION)
                            .await
                            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                        conn.set_instrumentation(StatementCounter::new(counter));
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::new_with_config(url, config);
                Pool::Postgres(build_pool(manager, options)?)
            }
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => {
                configure_sqlite_process();
                let path = sqlite_path(url);
                if let Some(dir) = std::path::Path::new(&path).parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        AppError::internal(format!(
                            "creating the database folder {}: {e} (choose a writable place with DATABASE_URL)",
                            dir.display()
                        ))
                    })?;
                }
                let counter = stats.clone();
                let pragmas = sqlite_pragmas(options.sqlite_busy_timeout);
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(move |url| {
                    let counter = counter.clone();
                    let pragmas = pragmas.clone();
                    async move {
                        let mut conn = SqliteConn::establish(url).await?;
                        diesel_async::SimpleAsyncConnection::batch_execute(&mut conn, &pragmas)
                            .await
                            .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
                        conn.set_instrumentation(StatementCounter::new(counter));
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::new_with_config(path, config);
                Pool::Sqlite(build_pool(manager, options)?)
            }
            #[allow(unreachable_patterns)]
            other => return Err(AppError::internal(format!("backend {other:?} is not compiled in"))),
        };
        Ok(Db {
            pool,
            stats,
            backend,
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
            calendars: Default::default(),
            plans: Default::default(),
            url: url.into(),
            sqlite_busy_timeout: options.sqlite_busy_timeout,
            sqlite_file: (backend == Backend::Sqlite && !sqlite_path(url).contains(":memory:"))
                .then(|| Arc::new(SqliteFile { path: sqlite_path(url).into(), identity: std::sync::OnceLock::new() })),
        })
    }

    /// Applies pending migrations; returns the versions applied. Its errors say what failed
    /// and what to check (the first connection is made here).
    pub async fn migrate(&self) -> AppResult<Vec<String>> {
        let where_ = self.describe();
        let opening = |e: AppError| {
            let advice = match self.backend {
                Backend::Postgres => "check DATABASE_URL, and that the server runs and accepts this user",
                Backend::Sqlite => "check DATABASE_URL, and that the file's folder exists and is writable",
            };
            e.context(format!("opening the database {where_} ({advice})"))
        };
        let migrating = |e: AppError| {
            e.context(format!(
                "migrating the database {where_} (is it another application's database, or from a newer gateway?)"
            ))
        };
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let conn = pool.get().await.map_err(|e| opening(e.into()))?;
                run_migrations(conn, PG_MIGRATIONS).map_err(migrating)
            }
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let conn = pool.get().await.map_err(|e| opening(e.into()))?;
                // The file exists from the first connection on: this is the file to keep.
                if let Some(file) = &self.sqlite_file
                    && let Some(identity) = file.current()
                {
                    let _ = file.identity.set(identity);
                }
                run_migrations(conn, SQLITE_MIGRATIONS).map_err(migrating)
            }
        }
    }

    /// Fails when the SQLite file this gateway opened was deleted or replaced since: writes
    /// would go to a file nobody will read again. Cheap (one `stat`); PostgreSQL always passes.
    pub fn check_file(&self) -> AppResult<()> {
        let Some(file) = &self.sqlite_file else { return Ok(()) };
        let Some(opened) = file.identity.get() else { return Ok(()) };
        if file.current().as_ref() == Some(opened) {
            return Ok(());
        }
        Err(AppError::DatabaseFileLost(format!(
            "the SQLite file {} was deleted or replaced while the gateway was running",
            file.path.display()
        )))
    }

    /// The database for messages: its URL without a password.
    /// The URL it was opened with.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn describe(&self) -> String {
        redacted(&self.url)
    }

    /// Reverts every applied migration (used by the migration tests); returns the versions reverted.
    pub async fn revert_all(&self) -> AppResult<Vec<String>> {
        fn revert<C>(conn: C, migrations: EmbeddedMigrations) -> AppResult<Vec<String>>
        where
            diesel_async::AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
            C: AsyncConnection,
        {
            let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
            let done =
                harness.revert_all_migrations(migrations).map_err(|e| AppError::internal(format!("revert: {e}")))?;
            Ok(done.into_iter().map(|v| v.to_string()).collect())
        }
        match &self.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => revert(pool.get().await?, PG_MIGRATIONS),
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => revert(pool.get().await?, SQLITE_MIGRATIONS),
        }
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    pub async fn ping(&self) -> AppResult<()> {
        use diesel_async::SimpleAsyncConnection;
        self.check_file()?;
        crate::with_conn!(self, |conn| conn.batch_execute("SELECT 1").await.map_err(AppError::from))
    }

    /// The names of the embedded migrations of each backend, for the naming test.
    pub fn migration_names() -> (Vec<String>, Vec<String>) {
        use diesel::migration::MigrationSource;
        fn names<DB: diesel::backend::Backend>(m: &EmbeddedMigrations) -> Vec<String>
        where
            EmbeddedMigrations: MigrationSource<DB>,
        {
            let list = MigrationSource::<DB>::migrations(m).unwrap_or_default();
            list.iter().map(|m| m.name().to_string()).collect()
        }
        #[cfg(all(feature = "postgres", feature = "sqlite"))]
        return (names::<diesel::pg::Pg>(&PG_MIGRATIONS), names::<diesel::sqlite::Sqlite>(&SQLITE_MIGRATIONS));
        #[cfg(not(all(feature = "postgres", feature = "sqlite")))]
        return (Vec::new(), Vec::new());
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    options: &PoolOptions,
) -> AppResult<diesel_async::pooled_connection::deadpool::Pool<C>>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>:
        deadpool::managed::Manager<Type = C, Error = diesel_async::pooled_connection::PoolError>,
{
    diesel_async::pooled_connection::deadpool::Pool::builder(manager)
        .max_size(options.max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(options.timeout))
        .create_timeout(Some(options.timeout))
        .recycle_timeout(Some(options.timeout))
        .build()
        .map_err(|e| AppError::internal(format!("building the pool: {e}")))
}

fn run_migrations<C>(conn: C, migrations: EmbeddedMigrations) -> AppResult<Vec<String>>
where
    diesel_async::AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
    C: AsyncConnection,
{
    let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
    let done =
        harness.run_pending_migrations(migrations).map_err(|e| AppError::internal(format!("migrations: {e}")))?;
    Ok(done.into_iter().map(|v| v.to_string()).collect())
}

/// Runs `work` with the SQLite statements it starts on the calling thread, for work whose
/// statements never wait for a lock ([`sqlite_runtime`]); PostgreSQL's are unaffected.
pub async fn inline<F: std::future::Future>(work: F) -> F::Output {
    #[cfg(feature = "sqlite")]
    let work = sqlite_runtime::inline(work);
    work.await
}

/// The file path of a SQLite URL.
pub fn sqlite_path(url: &str) -> String {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url).to_owned()
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever backend `$db` uses.
/// The body is expanded once per backend, so it must type-check against both.
#[macro_export]
macro_rules! with_conn {
    ($db:expr, |$conn:ident| $body:expr) => {
        $crate::with_conn!($db, |$conn, _Backend| $body)
    };
    ($db:expr, |$conn:ident, $backend:ident| $body:expr) => {{
        match &$db.pool {
            #[cfg(feature = "postgres")]
            $crate::db::Pool::Postgres(pool) => {
                let mut checkout = $crate::db::Checkout::new(pool.get().await?);
                let $conn: &mut $crate::db::PgConn = &mut checkout;
                #[allow(dead_code)]
                type $backend = diesel::pg::Pg;
                let value = $body;
                checkout.finish();
                value
            }
            #[cfg(feature = "sqlite")]
            $crate::db::Pool::Sqlite(pool) => {
                let mut checkout = $crate::db::Checkout::new(pool.get().await?);
                let $conn: &mut $crate::db::SqliteConn = &mut checkout;
                #[allow(dead_code)]
                type $backend = diesel::sqlite::Sqlite;
                let value = $body;
                checkout.finish();
                value
            }
        }
    }};
}

/// Runs `$body` in one database transaction on a pooled connection bound to `$conn`; the body
/// returns `Result<T, AppError>` and any error rolls everything back.
///
/// On SQLite, write transactions of this process take turns (SQLite has a single write lock)
/// and begin `IMMEDIATE`, so a lock held by another process is waited for within the busy
/// timeout instead of failing at once. On SQLite the whole write, its turn behind this
/// process's other writers included, has the busy timeout to finish; past it, it fails with
/// `SERVICE_UNAVAILABLE` (before the execution timeout, which is longer).
///
/// A transaction dropped halfway (timeout, client gone) closes its connection ([`Checkout`]),
/// which rolls it back: nothing stays open or locked.
#[macro_export]
macro_rules! transaction {
    ($db:expr, |$conn:ident| $body:expr) => {{
        $db.check_file()?;
        match &$db.pool {
            #[cfg(feature = "postgres")]
            $crate::db::Pool::Postgres(pool) => {
                let mut checkout = $crate::db::Checkout::new(pool.get().await?);
                let c: &mut $crate::db::PgConn = &mut checkout;
                let result =
                    diesel_async::AsyncConnection::transaction::<_, $crate::error::AppError, _>(c, async |$conn| $body)
                        .await;
                checkout.finish();
                result
            }
            #[cfg(feature = "sqlite")]
            $crate::db::Pool::Sqlite(pool) => {
                let waited = std::time::Instant::now();
                let _writer =
                    tokio::time::timeout($db.sqlite_busy_timeout, $db.sqlite_writer.lock()).await.map_err(|_| {
                        $crate::error::AppError::Unavailable("waiting for this gateway's SQLite writers".into())
                    })?;
                let mut checkout = $crate::db::Checkout::new(pool.get().await?);
                let c: &mut $crate::db::SqliteConn = &mut checkout;
                // IMMEDIATE takes the write lock up front, where SQLite's busy handler retries
                // it within the busy timeout; a deferred transaction that read first would
                // fail at once when it tries to write while another process holds the lock.
                // The turn waited for above is taken off that timeout.
                let left = $db.sqlite_busy_timeout.saturating_sub(waited.elapsed());
                let result = tokio::time::timeout(left + std::time::Duration::from_millis(50), async {
                    $crate::db::sqlite_runtime::begin_immediate(c).await?;
                    // The body's statements run inline ([`sqlite_runtime`]): this turn at the
                    // lock lasts as long as their work, not a trip through the run queue each.
                    let $conn = &mut *c;
                    let result = $crate::db::sqlite_runtime::inline(async { $body }).await;
                    $crate::db::sqlite_runtime::end(c, result).await
                })
                .await;
                match result {
                    Ok(result) => {
                        checkout.finish();
                        result
                    }
                    // Dropped unfinished: the checkout discards the connection.
                    Err(_) => Err($crate::error::AppError::Unavailable("the SQLite file stayed locked".into())),
                }
            }
        }
    }};
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(super::redacted("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(super::redacted("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redacted("sqlite://./data/x.db"), "sqlite://./data/x.db");
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    #[test]
    fn sqlite_runs_without_its_allocation_counter() {
        use diesel::Connection;
        super::configure_sqlite_process();
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        diesel::connection::SimpleConnection::batch_execute(
            &mut conn,
            "CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a');",
        )
        .unwrap();
        // SAFETY: a read of SQLite's process-wide counter.
        assert_eq!(unsafe { libsqlite3_sys::sqlite3_memory_used() }, 0, "SQLite still counts its allocations");
    }

    #[cfg(feature = "jemalloc")]
    #[test]
    fn sqlite_allocates_through_jemalloc() {
        super::configure_sqlite_process();
        // SAFETY: SQLite's own allocator, a block allocated and freed by it.
        let (sqlite, jemalloc) = unsafe {
            let block = libsqlite3_sys::sqlite3_malloc(3000);
            assert!(!block.is_null());
            let size = libsqlite3_sys::sqlite3_msize(block);
            libsqlite3_sys::sqlite3_free(block);
            (size, tikv_jemalloc_sys::nallocx(3000, 0))
        };
        // jemalloc's size class for 3,000 bytes is 3,072; the C library's malloc gives 3,000
        // rounded up to its 16-byte chunks.
        assert_eq!(sqlite as usize, jemalloc, "SQLite's blocks are jemalloc's");
    }
}
