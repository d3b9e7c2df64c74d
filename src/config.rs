//! Command line and environment configuration. Every setting is a flag with an environment
//! variable beside it; the resulting `Config` is passed in, never read from globals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::auth::AuthSettings;
use crate::graphql::limits::Limits;

/// The embedded default database: a SQLite file created, migrated and seeded on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/support-gateway.db";

/// The token secret used when none is configured. Only the embedded default may use it, and
/// the gateway says so loudly in its log.
pub const DEVELOPMENT_JWT_SECRET: &str = "support-gateway-development-secret-do-not-use-in-production";

#[derive(Debug, Parser)]
#[command(name = "support-gateway", version, about = "A GraphQL gateway over a CSP partner's support world")]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses a command line. Without a command it is `serve`, read exactly as `serve` reads
    /// its flags and environment (a container running the bare binary keeps its settings).
    pub fn from_args(args: Vec<std::ffi::OsString>) -> Result<Cli, clap::Error> {
        let cli = Cli::try_parse_from(&args)?;
        if cli.command.is_some() {
            return Ok(cli);
        }
        let mut serve = args;
        serve.push("serve".into());
        Cli::try_parse_from(serve)
    }
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Database URL: `postgres://…` for PostgreSQL, or a SQLite file (`sqlite://path`). Without
    /// one, the embedded SQLite file `./data/support-gateway.db` is used and seeded on first start.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// HS256 secret that signs and verifies agent tokens. Required unless the embedded default
    /// database is used, which falls back to a logged development secret.
    #[arg(long, env = "SG_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Largest number of pooled database connections.
    #[arg(long, env = "SG_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: usize,

    /// How long a request waits for a database connection (a free one, or a new one) before it
    /// fails with `SERVICE_UNAVAILABLE`: requests fail fast while the database is away.
    #[arg(long, env = "SG_DB_TIMEOUT_MS", default_value_t = 5_000, global = true)]
    pub db_timeout_ms: u64,

    /// How long a SQLite writer waits for the file's write lock before the request fails with
    /// `SERVICE_UNAVAILABLE` (SQLite retries within this bound).
    #[arg(long, env = "SG_SQLITE_BUSY_TIMEOUT_MS", default_value_t = 5_000, global = true)]
    pub sqlite_busy_timeout_ms: u64,

    /// How long an agent's identity (agent and partner rows) is reused without reading it
    /// again; 0 reads it on every request.
    #[arg(long, env = "SG_CALLER_CACHE_SECONDS", default_value_t = 5, global = true)]
    pub caller_cache_seconds: u64,

    /// `development` (introspection, GraphiQL, the development token secret, localhost CORS)
    /// or `production` (none of those unless enabled; a real secret or key is required).
    /// Default: development on the embedded default database, production otherwise.
    #[arg(long, env = "SG_PROFILE", global = true)]
    pub profile: Option<Profile>,

    /// A JWKS file whose RS256/ES256 keys verify agent tokens issued by an identity provider.
    #[arg(long, env = "SG_JWKS_FILE", global = true)]
    pub jwks_file: Option<PathBuf>,

    /// The `iss` every token must carry.
    #[arg(long, env = "SG_JWT_ISSUER", default_value = crate::auth::ISSUER, global = true)]
    pub jwt_issuer: String,

    /// The `aud` every token must carry.
    #[arg(long, env = "SG_JWT_AUDIENCE", default_value = crate::auth::AUDIENCE, global = true)]
    pub jwt_audience: String,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds (at most 300).
    #[arg(long, env = "SG_JWT_LEEWAY_SECONDS", default_value_t = 30, global = true)]
    pub jwt_leeway_seconds: u64,

    /// The longest a token may be valid, in hours (`exp` − `iat`): longer-lived tokens are
    /// refused, and `token --ttl-hours` may not exceed it.
    #[arg(long, env = "SG_JWT_MAX_LIFETIME_HOURS", default_value_t = 24 * 30, global = true)]
    pub jwt_max_lifetime_hours: u64,

    /// The claim of an identity provider's token (one verified by a `SG_JWKS_FILE` key) that
    /// names the agent: `oid`, `email`, `preferred_username`, `sub` ... Its value is looked up
    /// in the agents' `identity`, which admins set (`createAgent`, `updateAgent`). Unset, such
    /// tokens name the agent id in `sub`. The gateway's own HS256 tokens always do.
    #[arg(long, env = "SG_IDENTITY_CLAIM", global = true)]
    pub identity_claim: Option<String>,
}

/// What the gateway is set up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    Development,
    Production,
}

// `serve`'s flags make its variant large; a command is parsed once per process.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default command).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load data: the demo data set, or a large generated one for benchmarks.
    Seed(SeedArgs),
    /// Print a bearer token for an existing agent.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL), as committed in `schema.graphql`.
    Schema,
    /// Sync once from the configured sources (Partner Center) and exit.
    Sync(SyncArgs),
    /// Import a file for a partner: Partner Center's customer or subscription export (CSV),
    /// or marketplace products with their ISVs' support contacts (JSON or CSV). All or nothing.
    Import(ImportArgs),
    /// Serve a simulator of Microsoft's APIs (identity platform, Partner Center) to try sync
    /// offline; it prints the settings that point the gateway at it.
    Simulate(SimulateArgs),
}

/// Where the partner's data comes from. Nothing set: the gateway runs on its own data.
#[derive(Debug, Clone, Default, Args)]
pub struct SourceArgs {
    /// Partner Center's API, e.g. `https://api.partnercenter.microsoft.com/v1`. Setting it
    /// turns sync on.
    #[arg(long, env = "SG_PARTNER_CENTER_URL")]
    pub partner_center_url: Option<String>,

    /// Azure Resource Manager, for the Azure Support API: `https://management.azure.com`.
    /// With it, Azure requests are filed as support tickets in the customer's tenant, and
    /// Azure's services and problem classifications are synced as support topics. It signs in
    /// with the same application and needs the Partner Center settings too.
    #[arg(long, env = "SG_AZURE_MANAGEMENT_URL")]
    pub azure_management_url: Option<String>,

    /// Microsoft Graph, `https://graph.microsoft.com/v1.0`: with it, a customer's delegated admin
    /// privileges follow the partner's granular delegated admin relationships (GDAP), read
    /// each pass. It signs in with the same application (`DelegatedAdminRelationship.Read.All`).
    #[arg(long, env = "SG_GRAPH_URL")]
    pub graph_url: Option<String>,

    /// The Microsoft identity platform that issues tokens (client credentials).
    #[arg(long, env = "SG_IDENTITY_AUTHORITY", default_value = "https://login.microsoftonline.com")]
    pub identity_authority: String,

    /// The partner's own Microsoft Entra tenant (id or domain).
    #[arg(long, env = "SG_PARTNER_TENANT_ID")]
    pub partner_tenant_id: Option<String>,

    /// The application (client) id registered for the gateway.
    #[arg(long, env = "SG_CLIENT_ID")]
    pub client_id: Option<String>,

    /// The application's client secret. Prefer SG_CLIENT_SECRET_FILE; never logged.
    #[arg(long, env = "SG_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,

    /// A file holding the client secret (first line), e.g. a mounted secret.
    #[arg(long, env = "SG_CLIENT_SECRET_FILE")]
    pub client_secret_file: Option<PathBuf>,

    /// The agent (e-mail or id) sync acts as: its partner is the one synced, and requests filed
    /// at Microsoft outside the gateway name it as their creator.
    #[arg(long, env = "SG_SYNC_AGENT")]
    pub sync_agent: Option<String>,

    /// Seconds between sync passes inside `serve`; 0 turns the schedule off.
    #[arg(long, env = "SG_SYNC_INTERVAL_SECONDS", default_value_t = 300)]
    pub sync_interval_seconds: u64,

    /// Most calls a second to each upstream API.
    #[arg(long, env = "SG_UPSTREAM_RATE", default_value_t = 20)]
    pub upstream_rate: u32,

    /// Bound on each upstream call, in milliseconds.
    #[arg(long, env = "SG_UPSTREAM_TIMEOUT_MS", default_value_t = 30_000)]
    pub upstream_timeout_ms: u64,

    /// Retries of an upstream call after 5xx, timeouts and network errors.
    #[arg(long, env = "SG_UPSTREAM_RETRIES", default_value_t = 5)]
    pub upstream_retries: usize,
}

/// The sources the gateway syncs from, resolved.
#[derive(Debug, Clone)]
pub struct Sources {
    pub partner_center: crate::upstream::UpstreamSettings,
    /// The Azure Support API, when `SG_AZURE_MANAGEMENT_URL` is set.
    pub azure_support: Option<crate::upstream::UpstreamSettings>,
    /// Microsoft Graph (delegated admin relationships), when `SG_GRAPH_URL` is set.
    pub graph: Option<crate::upstream::UpstreamSettings>,
    pub agent: String,
    /// `None`: no schedule inside `serve`.
    pub interval: Option<Duration>,
}

impl SourceArgs {
    /// `None` when no source is configured; an error naming what is missing otherwise.
    pub fn resolve(&self) -> Result<Option<Sources>, String> {
        let Some(url) = &self.partner_center_url else {
            if self.azure_management_url.is_some() || self.graph_url.is_some() {
                return Err(
                    "SG_AZURE_MANAGEMENT_URL needs the Partner Center settings too (SG_PARTNER_CENTER_URL …): \
                            the Azure Support API is used for the partner Partner Center syncs"
                        .into(),
                );
            }
            return Ok(None);
        };
        let missing = |name: &str| format!("SG_PARTNER_CENTER_URL is set, so {name} is needed too");
        let secret = match (&self.client_secret, &self.client_secret_file) {
            (_, Some(path)) => std::fs::read_to_string(path)
                .map_err(|e| format!("reading SG_CLIENT_SECRET_FILE {}: {e}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned(),
            (Some(secret), None) => secret.clone(),
            (None, None) => return Err(missing("SG_CLIENT_SECRET_FILE (or SG_CLIENT_SECRET)")),
        };
        if secret.is_empty() {
            return Err("the client secret is empty; check SG_CLIENT_SECRET_FILE / SG_CLIENT_SECRET".into());
        }
        let base = url.trim_end_matches('/');
        let scope = match base.rsplit_once('/') {
            Some((origin, v)) if v.starts_with('v') => format!("{origin}/.default"),
            _ => format!("{base}/.default"),
        };
        let partner_center = crate::upstream::UpstreamSettings {
            base_url: base.to_owned(),
            authority: self.identity_authority.clone(),
            tenant: self.partner_tenant_id.clone().ok_or_else(|| missing("SG_PARTNER_TENANT_ID"))?,
            client_id: self.client_id.clone().ok_or_else(|| missing("SG_CLIENT_ID"))?,
            client_secret: secret,
            scope,
            requests_per_second: self.upstream_rate.max(1),
            timeout: Duration::from_millis(self.upstream_timeout_ms.max(1)),
            max_retries: self.upstream_retries,
            max_retry_after: Duration::from_secs(120),
        };
        let azure_support = self.azure_management_url.as_deref().map(|url| {
            let base = url.trim_end_matches('/');
            crate::upstream::UpstreamSettings {
                base_url: base.to_owned(),
                scope: format!("{base}/.default"),
                ..partner_center.clone()
            }
        });
        let graph = self.graph_url.as_deref().map(|url| {
            let base = url.trim_end_matches('/');
            let origin = match base.rsplit_once('/') {
                Some((origin, v)) if v.starts_with('v') || v == "beta" => origin,
                _ => base,
            };
            crate::upstream::UpstreamSettings {
                base_url: base.to_owned(),
                scope: format!("{origin}/.default"),
                ..partner_center.clone()
            }
        });
        Ok(Some(Sources {
            partner_center,
            azure_support,
            graph,
            agent: self.sync_agent.clone().ok_or_else(|| missing("SG_SYNC_AGENT (the agent sync acts as)"))?,
            interval: (self.sync_interval_seconds > 0).then(|| Duration::from_secs(self.sync_interval_seconds)),
        }))
    }
}

#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Start every resource from its first page (an unfinished pass is not resumed) and
    /// re-read every customer's subscriptions.
    #[arg(long)]
    pub full: bool,
    /// Customers or service requests per upstream page.
    #[arg(long, default_value_t = 200)]
    pub page_size: usize,
    /// Sync only this source (default: every configured one).
    #[arg(long, value_enum)]
    pub source: Option<crate::sync::Upstream>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The file: a `.csv` export or a `.json` product list (the README shows the formats).
    pub file: PathBuf,
    /// The agent (e-mail or id) the import is made as: its partner receives the data, and
    /// the administrative history names it. A global admin or admin agent.
    #[arg(long, env = "SG_IMPORT_AGENT")]
    pub agent: String,
}

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub bind: SocketAddr,
    /// Customers to start with.
    #[arg(long, default_value_t = 12)]
    pub customers: usize,
    /// Subscriptions of each customer.
    #[arg(long, default_value_t = 2)]
    pub subscriptions_per_customer: usize,
    /// The partner's service requests.
    #[arg(long, default_value_t = 20)]
    pub requests: usize,
    /// Notes on each service request.
    #[arg(long, default_value_t = 1)]
    pub notes_per_request: usize,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SG_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Origins allowed to call the API from a browser (comma-separated). Unset: any localhost
    /// origin on the embedded default database, none otherwise.
    #[arg(long, env = "SG_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Option<Vec<String>>,

    /// Serve schema introspection (default: on in development, off in production).
    #[arg(long, env = "SG_INTROSPECTION")]
    pub introspection: Option<bool>,

    /// Serve GraphiQL at `/graphiql` (default: on in development, off in production).
    #[arg(long, env = "SG_GRAPHIQL")]
    pub graphiql: Option<bool>,

    /// A manifest of trusted documents (JSON: `{"<sha256>": "<document>"}` or Apollo's
    /// persisted query manifest). When set, no other document runs.
    #[arg(long, env = "SG_TRUSTED_DOCUMENTS")]
    pub trusted_documents: Option<PathBuf>,

    /// Accept automatic persisted queries (a bounded cache of documents by hash).
    #[arg(long, env = "SG_APQ", default_value_t = true, action = clap::ArgAction::Set)]
    pub apq: bool,

    /// Most bytes of document text the automatic persisted query cache keeps (least recently
    /// used out); a document larger than this is run but not kept.
    #[arg(long, env = "SG_APQ_CACHE_BYTES", default_value_t = crate::graphql::documents::APQ_CACHE_BYTES)]
    pub apq_cache_bytes: usize,

    /// The SLA warning window (S4): the last part of the target, in percent, in which an
    /// unanswered request is AT_RISK. One number for every severity (`25`) or per severity
    /// (`A=40,B=25,C=20`; the others keep 25). Applies to requests filed or rescheduled after.
    #[arg(long, env = "SG_SLA_WARNING_PERCENT", default_value = "25", value_parser = crate::domain::sla::SlaPolicy::parse)]
    pub sla_warning_percent: crate::domain::sla::SlaPolicy,

    /// How long a client has to send a request's headers, in milliseconds; also how long a
    /// kept-alive connection waits for its next request (`http::server` explains the bounds).
    #[arg(long, env = "SG_HTTP_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub http_header_timeout_ms: u64,

    /// The longest an HTTP connection (not a WebSocket) may go without a byte either way, in
    /// milliseconds.
    #[arg(long, env = "SG_HTTP_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub http_idle_timeout_ms: u64,

    /// Most open connections, WebSockets included; past it new connections are closed at once.
    #[arg(long, env = "SG_HTTP_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub http_max_connections: usize,

    /// Longest wait for in-flight requests after SIGTERM before the process exits anyway.
    #[arg(long, env = "SG_SHUTDOWN_GRACE_SECONDS", default_value_t = 10)]
    pub shutdown_grace_seconds: u64,

    /// How long a webhook endpoint has to answer one delivery before it counts as failed.
    #[arg(long, env = "SG_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    pub webhook_timeout_seconds: u64,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub sources: SourceArgs,
}

/// Overrides of the query limits (`graphql::limits::Limits` documents each default and why).
#[derive(Debug, Clone, Default, Args)]
pub struct LimitArgs {
    /// Deepest field nesting a query may have [default: 16] (`QUERY_TOO_DEEP`).
    #[arg(long, env = "SG_LIMIT_DEPTH")]
    pub limit_depth: Option<usize>,
    /// Most nodes a query may return: each connection counts `first`/`last` (or 20) times the connections around it [default: 50000] (`QUERY_TOO_COMPLEX`).
    #[arg(long, env = "SG_LIMIT_COST")]
    pub limit_cost: Option<u64>,
    /// Most aliased fields in a document [default: 30] (`TOO_MANY_ALIASES`).
    #[arg(long, env = "SG_LIMIT_ALIASES")]
    pub limit_aliases: Option<usize>,
    /// Most root fields in one operation [default: 20] (`TOO_MANY_ROOT_FIELDS`).
    #[arg(long, env = "SG_LIMIT_ROOT_FIELDS")]
    pub limit_root_fields: Option<usize>,
    /// Most directives on one field or fragment [default: 4] (`TOO_MANY_DIRECTIVES`).
    #[arg(long, env = "SG_LIMIT_DIRECTIVES")]
    pub limit_directives: Option<usize>,
    /// Most lexical tokens in a document, counted before parsing [default: 5000] (`TOO_MANY_TOKENS`).
    #[arg(long, env = "SG_LIMIT_TOKENS")]
    pub limit_tokens: Option<usize>,
    /// Largest HTTP request body, in bytes [default: 1048576] (413 `REQUEST_TOO_LARGE`).
    #[arg(long, env = "SG_LIMIT_BODY_BYTES")]
    pub limit_body_bytes: Option<usize>,
    /// Longest a query or mutation may run, in milliseconds [default: 10000] (504 `TIMEOUT`).
    #[arg(long, env = "SG_LIMIT_TIMEOUT_MS")]
    pub limit_timeout_ms: Option<u64>,
    /// Most requests in one batched POST; 0 refuses batches [default: 0] (`BATCHING_DISABLED`).
    #[arg(long, env = "SG_LIMIT_BATCH")]
    pub limit_batch: Option<usize>,
    /// Most operations running on one WebSocket [default: 100] (`TOO_MANY_OPERATIONS`).
    #[arg(long, env = "SG_LIMIT_WS_SUBSCRIPTIONS")]
    pub limit_ws_subscriptions: Option<usize>,
    /// Largest WebSocket message, in bytes [default: 65536] (close 1009 or 4400).
    #[arg(long, env = "SG_LIMIT_WS_MESSAGE_BYTES")]
    pub limit_ws_message_bytes: Option<usize>,
    /// How long a new WebSocket may take to send `connection_init`, in milliseconds [default: 10000] (close 4408).
    #[arg(long, env = "SG_LIMIT_WS_INIT_TIMEOUT_MS")]
    pub limit_ws_init_timeout_ms: Option<u64>,
}

impl LimitArgs {
    pub fn apply(&self, mut limits: Limits) -> Limits {
        let d = &mut limits;
        if let Some(v) = self.limit_depth {
            d.max_depth = v
        }
        if let Some(v) = self.limit_cost {
            d.max_cost = v
        }
        if let Some(v) = self.limit_aliases {
            d.max_aliases = v
        }
        if let Some(v) = self.limit_root_fields {
            d.max_root_fields = v
        }
        if let Some(v) = self.limit_directives {
            d.max_directives_per_field = v
        }
        if let Some(v) = self.limit_tokens {
            d.max_tokens = v
        }
        if let Some(v) = self.limit_body_bytes {
            d.max_body_bytes = v
        }
        if let Some(v) = self.limit_timeout_ms {
            d.execution_timeout = Duration::from_millis(v)
        }
        if let Some(v) = self.limit_batch {
            d.max_batch = v
        }
        if let Some(v) = self.limit_ws_subscriptions {
            d.ws_max_subscriptions = v
        }
        if let Some(v) = self.limit_ws_init_timeout_ms {
            d.ws_init_timeout = Duration::from_millis(v)
        }
        if let Some(v) = self.limit_ws_message_bytes {
            d.ws_max_message_bytes = v
        }
        limits
    }
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs {
            bind: "127.0.0.1:8080".parse().expect("valid address"),
            cors_origins: None,
            introspection: None,
            graphiql: None,
            trusted_documents: None,
            apq: true,
            apq_cache_bytes: crate::graphql::documents::APQ_CACHE_BYTES,
            sla_warning_percent: crate::domain::sla::SlaPolicy::default(),
            http_header_timeout_ms: 10_000,
            http_idle_timeout_ms: 60_000,
            http_max_connections: 16_384,
            shutdown_grace_seconds: 10,
            webhook_timeout_seconds: 10,
            limits: LimitArgs::default(),
            sources: SourceArgs {
                identity_authority: "https://login.microsoftonline.com".into(),
                sync_interval_seconds: 300,
                upstream_rate: 20,
                upstream_timeout_ms: 30_000,
                upstream_retries: 5,
                ..SourceArgs::default()
            },
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Load the demo data set (partners, agents, customers, subscriptions, requests).
    #[arg(long, conflicts_with = "scale")]
    pub demo: bool,
    /// Generate N customers with proportional subscriptions and requests (deterministic).
    #[arg(long)]
    pub scale: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// E-mail of the agent the token speaks for.
    #[arg(long)]
    pub agent: String,
    /// How long the token is valid.
    #[arg(long, default_value_t = 24 * 30)]
    pub ttl_hours: i64,
}

/// What the gateway needs at run time, resolved from the command line and environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// True when no database URL was given: the embedded SQLite file, seeded on first start.
    pub embedded_default: bool,
    pub profile: Profile,
    /// Token verification: HS256 secret and/or JWKS keys, issuer, audience, leeway.
    pub auth: AuthSettings,
    pub cors_origins: CorsOrigins,
    pub db_pool_size: usize,
    /// Longest wait for a pooled connection.
    pub db_timeout: Duration,
    /// How long a caller's agent and partner are reused.
    pub caller_cache_ttl: Duration,
    pub sqlite_busy_timeout: Duration,
    /// Where the data folder of the embedded default lives (for messages).
    pub data_dir: Option<PathBuf>,
    pub introspection: bool,
    pub graphiql: bool,
    /// The trusted documents manifest (its text), when only those may run.
    pub trusted_documents: Option<String>,
    pub apq: bool,
    /// Bytes of document text the automatic persisted query cache may hold.
    pub apq_cache_bytes: usize,
    /// The SLA warning window per severity.
    pub sla: crate::domain::sla::SlaPolicy,
    pub limits: Limits,
    /// Timeouts and the connection cap of the HTTP server.
    pub http: crate::http::HttpLimits,
    pub shutdown_grace: Duration,
    /// How long a webhook endpoint has to answer.
    pub webhook_timeout: Duration,
    /// Where sync reads from; `None` runs on the gateway's own data.
    pub sources: Option<Sources>,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `http://localhost:*` and `http://127.0.0.1:*` (development).
    Localhost,
    /// Exactly these origins.
    List(Vec<String>),
}

impl CommonArgs {
    /// The database URL: the one given, or the embedded default.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
    }

    /// The database pool's settings.
    pub fn pool_options(&self) -> crate::db::PoolOptions {
        crate::db::PoolOptions {
            max_size: self.db_pool_size.max(1),
            timeout: Duration::from_millis(self.db_timeout_ms.max(1)),
            sqlite_busy_timeout: Duration::from_millis(self.sqlite_busy_timeout_ms),
        }
    }
}

impl Config {
    /// Resolves the settings; refuses to run in production without a real secret or key.
    /// Commands that sign and verify no token (`migrate`, `seed`) need only
    /// [`CommonArgs::database_url`] and [`CommonArgs::pool_options`].
    pub fn resolve(common: &CommonArgs, serve: &ServeArgs) -> Result<Config, String> {
        let embedded_default = common.database_url.is_none();
        let database_url = common.database_url();
        let pool = common.pool_options();
        let profile =
            common.profile.unwrap_or(if embedded_default { Profile::Development } else { Profile::Production });
        let production = profile == Profile::Production;
        let jwks = match &common.jwks_file {
            Some(path) => Some(
                std::fs::read_to_string(path).map_err(|e| format!("reading SG_JWKS_FILE {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let secret = match &common.jwt_secret {
            Some(s) if production && s == DEVELOPMENT_JWT_SECRET => {
                return Err("the development token secret cannot be used in the production profile".into());
            }
            Some(s) if s.len() >= 32 => Some(s.clone()),
            Some(_) => return Err("SG_JWT_SECRET must be at least 32 characters".into()),
            None if jwks.is_some() => None,
            None if !production => Some(DEVELOPMENT_JWT_SECRET.to_owned()),
            None => {
                return Err("the production profile needs SG_JWT_SECRET (HS256, 32+ characters) or SG_JWKS_FILE (RS256/ES256 keys); \
                            the development secret is only used in the development profile (SG_PROFILE=development, \
                            the default on the embedded database)"
                    .into());
            }
        };
        if common.jwt_leeway_seconds > 300 {
            return Err("SG_JWT_LEEWAY_SECONDS must be at most 300".into());
        }
        if common.jwt_max_lifetime_hours == 0 {
            return Err("SG_JWT_MAX_LIFETIME_HOURS must be at least 1".into());
        }
        let auth = AuthSettings {
            secret,
            jwks,
            issuer: common.jwt_issuer.clone(),
            audience: common.jwt_audience.clone(),
            leeway_seconds: common.jwt_leeway_seconds,
            max_lifetime: Duration::from_secs(common.jwt_max_lifetime_hours.saturating_mul(3600)),
            identity_claim: match common.identity_claim.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(claim) if claim.chars().all(|c| c.is_ascii_alphanumeric() || "_-:./".contains(c)) => {
                    Some(claim.to_owned())
                }
                Some(claim) => {
                    return Err(format!("SG_IDENTITY_CLAIM `{claim}` is not a claim name (such as oid, email)"));
                }
            },
        };
        let cors_origins = match &serve.cors_origins {
            Some(list) => {
                CorsOrigins::List(list.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
            }
            None if !production => CorsOrigins::Localhost,
            None => CorsOrigins::List(Vec::new()),
        };
        let trusted_documents = match &serve.trusted_documents {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("reading SG_TRUSTED_DOCUMENTS {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(Config {
            database_url,
            embedded_default,
            profile,
            auth,
            cors_origins,
            db_pool_size: pool.max_size,
            db_timeout: pool.timeout,
            caller_cache_ttl: Duration::from_secs(common.caller_cache_seconds),
            sqlite_busy_timeout: pool.sqlite_busy_timeout,
            data_dir: embedded_default.then(|| PathBuf::from("./data")),
            introspection: serve.introspection.unwrap_or(!production),
            graphiql: serve.graphiql.unwrap_or(!production),
            trusted_documents,
            apq: serve.apq,
            apq_cache_bytes: serve.apq_cache_bytes,
            sla: serve.sla_warning_percent,
            limits: serve.limits.apply(Limits::default()),
            http: crate::http::HttpLimits {
                header_read_timeout: Duration::from_millis(serve.http_header_timeout_ms.max(1)),
                idle_timeout: Duration::from_millis(serve.http_idle_timeout_ms.max(1)),
                max_connections: serve.http_max_connections.max(1),
            },
            shutdown_grace: Duration::from_secs(serve.shutdown_grace_seconds),
            webhook_timeout: Duration::from_secs(serve.webhook_timeout_seconds.clamp(1, 60)),
            sources: serve.sources.resolve()?,
        })
    }

    /// A configuration for tests and embedding: the given URL and HS256 secret, the
    /// development profile's conveniences (introspection, GraphiQL, localhost CORS) and the
    /// default limits.
    pub fn for_url(database_url: impl Into<String>, jwt_secret: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            embedded_default: false,
            profile: Profile::Development,
            auth: AuthSettings::hs256(jwt_secret.into()),
            cors_origins: CorsOrigins::Localhost,
            db_pool_size: 8,
            db_timeout: Duration::from_secs(5),
            caller_cache_ttl: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            data_dir: None,
            introspection: true,
            graphiql: true,
            trusted_documents: None,
            apq: true,
            apq_cache_bytes: crate::graphql::documents::APQ_CACHE_BYTES,
            sla: crate::domain::sla::SlaPolicy::default(),
            limits: Limits::default(),
            http: crate::http::HttpLimits::default(),
            shutdown_grace: Duration::from_secs(10),
            webhook_timeout: Duration::from_secs(10),
            sources: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(args: &[&str]) -> Result<Config, String> {
        let mut argv = vec!["support-gateway"];
        argv.extend_from_slice(args);
        let cli = Cli::from_args(argv.into_iter().map(Into::into).collect()).map_err(|e| e.to_string())?;
        let serve = match cli.command {
            Some(Command::Serve(s)) => s,
            _ => ServeArgs::default(),
        };
        Config::resolve(&cli.common, &serve)
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef-secret";

    #[test]
    fn the_embedded_default_is_development() {
        // clap reads the environment: this check needs it free of the gateway's settings.
        if ["DATABASE_URL", "SG_PROFILE", "SG_JWT_SECRET", "SG_JWKS_FILE", "SG_CORS_ORIGINS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some())
        {
            eprintln!("skipped: the environment sets gateway settings");
            return;
        }
        let c = resolve(&[]).unwrap();
        assert_eq!(c.profile, Profile::Development);
        assert!(c.introspection && c.graphiql);
        assert_eq!(c.auth.secret.as_deref(), Some(DEVELOPMENT_JWT_SECRET));
        assert_eq!(c.cors_origins, CorsOrigins::Localhost);
    }

    #[test]
    fn production_refuses_to_start_without_a_real_secret_or_key() {
        let pg = "--database-url=postgres://x@127.0.0.1/db";
        assert!(resolve(&[pg]).unwrap_err().contains("production profile needs"));
        let dev_secret = format!("--jwt-secret={DEVELOPMENT_JWT_SECRET}");
        assert!(resolve(&[pg, &dev_secret]).unwrap_err().contains("development token secret"));
        assert!(resolve(&[pg, "--jwt-secret=short"]).unwrap_err().contains("32 characters"));
        let c = resolve(&[pg, &format!("--jwt-secret={SECRET}")]).unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert!(!c.introspection && !c.graphiql);
        assert_eq!(c.cors_origins, CorsOrigins::List(vec![]));
        // A JWKS alone is enough.
        let jwks = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwks.json");
        let c = resolve(&[pg, &format!("--jwks-file={jwks}")]).unwrap();
        assert!(c.auth.secret.is_none() && c.auth.jwks.is_some());
        assert!(resolve(&[pg, &format!("--jwt-secret={SECRET}"), "--jwt-leeway-seconds=301"]).is_err());
    }

    #[test]
    fn production_features_can_be_turned_on_and_development_chosen_explicitly() {
        let pg = "--database-url=postgres://x@127.0.0.1/db";
        let secret = format!("--jwt-secret={SECRET}");
        let c = resolve(&[
            pg,
            &secret,
            "serve",
            "--introspection=true",
            "--graphiql=true",
            "--limit-depth=8",
            "--limit-batch=5",
        ])
        .unwrap();
        assert!(c.introspection && c.graphiql);
        assert_eq!((c.limits.max_depth, c.limits.max_batch), (8, 5));
        let c = resolve(&[pg, "--profile=development"]).unwrap();
        assert_eq!(c.auth.secret.as_deref(), Some(DEVELOPMENT_JWT_SECRET));
    }
}
