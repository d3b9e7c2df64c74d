//! `App`: the one shared state (database, clock, keys, configuration), and the builders that
//! tests call directly.

use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Db, PoolOptions};
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::events::sla_watcher::SlaWatcher;
use crate::graphql::documents::Documents;

pub struct App {
    pub db: Db,
    pub clock: Arc<dyn Clock>,
    pub keys: TokenKeys,
    pub config: Config,
    /// Committed events, fanned out to this process's subscribers.
    pub events: EventBus,
    /// Moves requests to AT_RISK / BREACHED at their instant. `serve` runs it in the
    /// background ([`App::spawn_sla_watcher`]); tests call `tick()` after moving the clock.
    pub sla: Arc<SlaWatcher>,
    /// Persisted documents: trusted documents and the automatic persisted query cache.
    pub documents: Arc<Documents>,
    /// Flipped to `true` when the process begins shutting down: WebSockets close with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// What `/metrics` serves.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Callers by agent id, for `config.caller_cache_ttl`.
    pub callers: crate::auth::CallerCache,
    /// The partner whose Microsoft account the configured source signs in to (the sync agent's):
    /// its requests are filed at Microsoft too. Unset without a source, and until the sync agent
    /// exists (a fresh embedded database is seeded after the app starts: [`App::resolve_outbound`]).
    pub outbound_partner: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("backend", &self.db.backend).field("config", &self.config).finish_non_exhaustive()
    }
}

/// The state handlers share.
pub type AppState = Arc<App>;

impl App {
    /// Connects to the configured database and runs pending migrations.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> AppResult<AppState> {
        let keys = TokenKeys::from_settings(&config.auth)
            .map_err(|e| AppError::internal(format!("token keys: {e}; check SG_JWKS_FILE / SG_JWT_SECRET")))?;
        let documents = Arc::new(match &config.trusted_documents {
            Some(manifest) => Documents::trusted(manifest)
                .map_err(|e| AppError::internal(format!("{e}; check the file SG_TRUSTED_DOCUMENTS names")))?,
            None => Documents::new(config.apq, config.apq_cache_bytes),
        });
        let options = PoolOptions {
            max_size: config.db_pool_size,
            timeout: config.db_timeout,
            sqlite_busy_timeout: config.sqlite_busy_timeout,
        };
        let db = Db::connect(&config.database_url, &options).await?;
        let applied = db.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied migrations");
        }
        // The dispatcher reads committed events through a pool of its own: under load it never
        // queues behind requests for a connection, and its once-a-second safety poll stays out
        // of the request pool's statement counts (which tests assert per request).
        let event_db = Db::connect(&config.database_url, &PoolOptions { max_size: 2, ..options.clone() }).await?;
        let events = EventBus::new();
        events.start(event_db, &config.database_url).await?;
        let sla = SlaWatcher::new(db.clone(), clock.clone(), events.clone());
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(crate::metrics::Metrics::new(&db, &events, &sla));
        let callers = crate::auth::CallerCache::new(config.caller_cache_ttl);
        let app = Arc::new(App {
            db,
            clock,
            keys,
            config,
            events,
            sla,
            documents,
            shutdown,
            metrics,
            callers,
            outbound_partner: std::sync::OnceLock::new(),
        });
        app.resolve_outbound().await?;
        Ok(app)
    }

    /// Finds the partner of the configured sync agent, once it exists (see `outbound_partner`).
    /// Without a source, or before the agent exists, requests stay here.
    pub async fn resolve_outbound(&self) -> AppResult<()> {
        if let Some(sources) = &self.config.sources
            && self.outbound_partner.get().is_none()
            && let Some(partner) = crate::repo::callers::partner_of_agent(&self.db, &sources.agent).await?
        {
            let _ = self.outbound_partner.set(partner);
        }
        Ok(())
    }

    /// The clock the app runs on.
    pub fn sla_clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// Runs the SLA watcher for the life of the process.
    pub fn spawn_sla_watcher(&self) {
        tokio::spawn(self.sla.clone().run());
    }

    /// Sends webhook deliveries for the life of the process (on the replica holding the lease).
    pub fn spawn_webhooks(&self) -> tokio::task::JoinHandle<()> {
        crate::webhooks::Webhooks::new(self).spawn()
    }

    /// Prunes old events on a schedule for the life of the process.
    pub fn spawn_event_pruning(&self) {
        crate::events::spawn_pruning(self.db.clone(), self.clock.clone());
    }

    /// Tells long-lived connections (WebSockets) to close: the process is shutting down.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// `start` with the system clock.
    pub async fn start_with_system_clock(config: Config) -> AppResult<AppState> {
        App::start(config, Arc::new(SystemClock)).await
    }
}
