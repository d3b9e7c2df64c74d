//! Command line and environment configuration. Every setting is a flag with an environment
//! variable beside it; the resulting `Config` is passed in, never read from globals.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
}

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
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs { bind: "127.0.0.1:8080".parse().expect("valid address"), cors_origins: None }
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
    pub jwt_secret: String,
    pub cors_origins: CorsOrigins,
    pub db_pool_size: usize,
    /// Where the data folder of the embedded default lives (for messages).
    pub data_dir: Option<PathBuf>,
}

/// Which browser origins may call the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `http://localhost:*` and `http://127.0.0.1:*` (development).
    Localhost,
    /// Exactly these origins.
    List(Vec<String>),
}

impl Config {
    /// Resolves the settings; refuses to run on a real database without a real secret.
    pub fn resolve(common: &CommonArgs, serve: &ServeArgs) -> Result<Config, String> {
        let embedded_default = common.database_url.is_none();
        let database_url = common.database_url.clone().unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let jwt_secret = match (&common.jwt_secret, embedded_default) {
            (Some(s), _) if s.len() >= 32 => s.clone(),
            (Some(_), _) => return Err("SG_JWT_SECRET must be at least 32 characters".into()),
            (None, true) => DEVELOPMENT_JWT_SECRET.to_owned(),
            (None, false) => {
                return Err("SG_JWT_SECRET (or --jwt-secret) is required with an explicit database URL; \
                            the development secret is only used with the embedded default database"
                    .into());
            }
        };
        let cors_origins = match &serve.cors_origins {
            Some(list) => CorsOrigins::List(list.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()),
            None if embedded_default => CorsOrigins::Localhost,
            None => CorsOrigins::List(Vec::new()),
        };
        Ok(Config {
            database_url,
            embedded_default,
            jwt_secret,
            cors_origins,
            db_pool_size: common.db_pool_size.max(1),
            data_dir: embedded_default.then(|| PathBuf::from("./data")),
        })
    }

    /// A configuration for tests and embedding: the given URL and secret, localhost CORS.
    pub fn for_url(database_url: impl Into<String>, jwt_secret: impl Into<String>) -> Config {
        Config {
            database_url: database_url.into(),
            embedded_default: false,
            jwt_secret: jwt_secret.into(),
            cors_origins: CorsOrigins::Localhost,
            db_pool_size: 8,
            data_dir: None,
        }
    }
}
