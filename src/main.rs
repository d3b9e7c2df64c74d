//! Thin: parse configuration, set up logging, build the app, run the command.

use std::process::ExitCode;
use std::sync::Arc;

use support_gateway::clock::{Clock, SystemClock};
use support_gateway::config::{
    Cli, Command, CommonArgs, Config, ImportArgs, SeedArgs, ServeArgs, SimulateArgs, SyncArgs, TokenArgs,
};
use support_gateway::db::Db;
use support_gateway::{App, AppState, seed};

#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc returns freed pages within a second, from a background thread.
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

#[tokio::main]
async fn main() -> ExitCode {
    let _telemetry = support_gateway::telemetry::init();
    let cli = Cli::from_args(std::env::args_os().collect()).unwrap_or_else(|e| e.exit());
    let Some(command) = cli.command else { unreachable!("Cli::from_args always names a command") };
    let result = match command {
        Command::Serve(args) => serve(&cli.common, args).await,
        Command::Migrate => database(&cli.common).await.map(|_| println!("migrations are up to date")),
        Command::Seed(args) => seed_command(&cli.common, args).await,
        Command::Token(args) => token(&cli.common, args).await,
        Command::Sync(args) => sync(&cli.common, args).await,
        Command::Import(args) => import(&cli.common, args).await,
        Command::Simulate(args) => simulate(args).await,
        Command::Schema => {
            print!("{}", support_gateway::graphql::sdl());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves configuration, connects and migrates; seeds the embedded default on first start.
async fn start(common: &CommonArgs, serve: &ServeArgs) -> Result<AppState, String> {
    let config = Config::resolve(common, serve)?;
    if config.auth.secret.as_deref() == Some(support_gateway::config::DEVELOPMENT_JWT_SECRET) {
        tracing::warn!(
            profile = ?config.profile,
            "using the DEVELOPMENT token secret; set SG_JWT_SECRET or SG_JWKS_FILE (and SG_PROFILE=production) \
             for anything but local development"
        );
    }
    let embedded = config.embedded_default;
    // The embedded database is seeded once, on its first start; a marker beside it remembers
    // that it was used, so a database deleted or replaced later is never silently seeded anew.
    let path = support_gateway::db::sqlite_path(&config.database_url);
    let marker = std::path::PathBuf::from(format!("{path}.seeded"));
    let lost = || {
        format!(
            "the database {path} was created by an earlier run of the gateway and is now gone or empty (deleted or \
             replaced?). Restore it from a backup, or delete {} to start over with the demo data",
            marker.display()
        )
    };
    if embedded && marker.exists() && !std::path::Path::new(&path).exists() {
        return Err(lost());
    }
    let app = App::start(config, Arc::new(SystemClock)).await.map_err(|e| format!("starting: {}", e.detail()))?;
    if embedded && seed::is_empty(&app.db).await.map_err(|e| e.detail())? {
        if marker.exists() {
            return Err(lost());
        }
        tracing::info!("first start: loading the demo data set");
        seed::load(&app.db, &seed::demo(app.clock.now())).await.map_err(|e| format!("seeding: {}", e.detail()))?;
    }
    // The sync agent exists now if the demo was just loaded.
    app.resolve_outbound().await.map_err(|e| e.detail())?;
    if embedded && !marker.exists() {
        std::fs::write(&marker, "support-gateway has used the database beside this file\n")
            .map_err(|e| format!("writing {}: {e}", marker.display()))?;
    }
    Ok(app)
}

async fn serve(common: &CommonArgs, args: ServeArgs) -> Result<(), String> {
    let app = start(common, &args).await?;
    app.spawn_sla_watcher();
    app.spawn_event_pruning();
    app.spawn_webhooks();
    if let Some(sources) = &app.config.sources {
        let sync = support_gateway::sync::PartnerCenterSync::for_app(&app)
            .await
            .map_err(|e| format!("setting up sync: {}", e.detail()))?
            .expect("sources are configured");
        // Requests filed here go to Partner Center as well, within seconds.
        support_gateway::outbox::spawn(sync.outbox(), std::time::Duration::from_secs(2));
        if let Some(interval) = sources.interval {
            let azure = if sources.azure_support.is_some() { " and the Azure Support API" } else { "" };
            println!("  sync:      Partner Center{azure} every {} s", interval.as_secs());
            support_gateway::sync::spawn_schedule(sync, interval);
        }
    }
    support_gateway::memory::spawn_trim();
    let listener = tokio::net::TcpListener::bind(args.bind).await.map_err(|e| format!("binding {}: {e}", args.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("support-gateway listening on http://{addr}");
    if app.config.graphiql {
        println!("  GraphiQL:  http://{addr}/graphiql");
    }
    println!("  GraphQL:   http://{addr}/graphql (POST, GET, WebSocket)");
    if app.config.embedded_default {
        println!("  token:     cargo run --release -- token --agent admin@northwind-cloud.example");
        println!("             then set the header  Authorization: Bearer <token>");
    }
    let grace = app.config.shutdown_grace;
    let stopping = app.clone();
    let limits = app.config.http.clone();
    let server = support_gateway::http::serve(listener, support_gateway::app(app), limits, async move {
        shutdown_signal().await;
        // Stop accepting, tell WebSockets to close (1001), and bound how long in-flight
        // requests may take before the process exits anyway.
        stopping.begin_shutdown();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            tracing::warn!(grace_s = grace.as_secs(), "in-flight requests did not finish in time; exiting");
            std::process::exit(1);
        });
    });
    server.await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Connects to the configured database and migrates it: all that `migrate` and `seed` need.
/// They sign and verify no token, so they ask for no token secret.
async fn database(common: &CommonArgs) -> Result<Db, String> {
    let url = common.database_url();
    let db = Db::connect(&url, &common.pool_options())
        .await
        .map_err(|e| format!("connecting to the database: {}", e.message()))?;
    let applied = db.migrate().await.map_err(|e| e.message())?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    Ok(db)
}

async fn seed_command(common: &CommonArgs, args: SeedArgs) -> Result<(), String> {
    let db = database(common).await?;
    let now = SystemClock.now();
    let data = match (args.demo, args.scale) {
        (_, Some(n)) => seed::scale(n, now),
        (true, None) => seed::demo(now),
        (false, None) => return Err("say what to load: --demo or --scale N".into()),
    };
    let started = std::time::Instant::now();
    seed::load(&db, &data).await.map_err(|e| e.detail())?;
    println!(
        "loaded {} partners, {} agents, {} customers, {} subscriptions, {} service requests, {} notes in {:.1} s",
        data.partners.len(),
        data.agents.len(),
        data.customers.len(),
        data.subscriptions.len(),
        data.requests.len(),
        data.notes.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn token(common: &CommonArgs, args: TokenArgs) -> Result<(), String> {
    let config = Config::resolve(common, &ServeArgs::default())?;
    // A token is for an agent of an existing database: never create (and seed) one here.
    if config.embedded_default {
        let path = support_gateway::db::sqlite_path(&config.database_url);
        if !std::path::Path::new(&path).exists() {
            return Err(format!(
                "no database at {path}: start the gateway once in this folder (`cargo run --release`) to create \
                 the demo database, or set DATABASE_URL"
            ));
        }
    }
    let keys = support_gateway::auth::TokenKeys::from_settings(&config.auth)?;
    let db = database(common).await?;
    let Some(agent) = support_gateway::repo::callers::agent_by_email(&db, &args.agent).await.map_err(|e| e.detail())?
    else {
        let known = support_gateway::repo::callers::all_agents(&db).await.map_err(|e| e.detail())?;
        let list: Vec<String> = known.iter().map(|(a, p)| format!("  {} ({}, {})", a.email, a.role, p)).collect();
        return Err(format!("no agent with e-mail {}; known agents:\n{}", args.agent, list.join("\n")));
    };
    let token =
        keys.issue(&agent.id, SystemClock.now(), chrono::Duration::hours(args.ttl_hours)).map_err(|e| e.detail())?;
    println!("{token}");
    Ok(())
}

async fn sync(common: &CommonArgs, args: SyncArgs) -> Result<(), String> {
    let serve = ServeArgs { sources: args.sources.clone(), ..ServeArgs::default() };
    if args.sources.partner_center_url.is_none() {
        return Err("no source is configured: set SG_PARTNER_CENTER_URL (and the sign-in settings the README lists), \
                    or run `support-gateway simulate` and use the settings it prints"
            .into());
    }
    let app = start(common, &serve).await?;
    let sync = support_gateway::sync::PartnerCenterSync::for_app(&app)
        .await
        .map_err(|e| format!("setting up sync: {}", e.detail()))?
        .expect("a source is configured");
    let options = support_gateway::sync::SyncOptions {
        customer_page: args.page_size.max(1),
        request_page: args.page_size.max(1),
        full: args.full,
        only: args.source,
    };
    let configured = match args.source {
        Some(support_gateway::sync::Upstream::AzureSupport) => args.sources.azure_management_url.is_some(),
        Some(support_gateway::sync::Upstream::Graph) => args.sources.graph_url.is_some(),
        _ => true,
    };
    if !configured {
        return Err("that source is not configured: set SG_AZURE_MANAGEMENT_URL (azure-support) or SG_GRAPH_URL \
                    (graph), or sync every configured source (no --source)"
            .into());
    }
    let started = std::time::Instant::now();
    let report = sync.run(&options).await.map_err(|e| format!("sync stopped: {e}; run it again to resume"))?;
    if !report.ran {
        println!("another replica is syncing this partner; nothing done");
        return Ok(());
    }
    let line = |name: &str, c: &support_gateway::sync::Counts| {
        println!(
            "  {name:<14} {:>6} new {:>6} updated {:>6} unchanged {:>5} marked {:>4} skipped",
            c.created, c.updated, c.unchanged, c.marked, c.skipped
        )
    };
    println!("synced from Microsoft in {:.1} s:", started.elapsed().as_secs_f64());
    line("topics", &report.topics);
    line("customers", &report.customers);
    line("subscriptions", &report.subscriptions);
    line("requests", &report.requests);
    line("notes", &report.notes);
    if args.sources.graph_url.is_some() && args.source.is_none_or(|s| s == support_gateway::sync::Upstream::Graph) {
        line("delegated admin", &report.delegated_admin);
    }
    if args.sources.azure_management_url.is_some()
        && args.source.is_none_or(|s| s == support_gateway::sync::Upstream::AzureSupport)
    {
        line("azure topics", &report.azure_topics);
        line("azure tickets", &report.tickets);
    }
    Ok(())
}

async fn import(common: &CommonArgs, args: ImportArgs) -> Result<(), String> {
    use support_gateway::domain::admin;
    let db = database(common).await?;
    let agent = support_gateway::repo::callers::agent_by_email_or_id(&db, &args.agent)
        .await
        .map_err(|e| e.detail())?
        .filter(|a| a.disabled_at.is_none())
        .ok_or_else(|| format!("no agent {} can sign in: name an admin of the partner to import for", args.agent))?;
    let role = agent.role.parse().map_err(|e: support_gateway::domain::model::UnknownVariant| e.to_string())?;
    admin::may_manage_products(role).map_err(|r| format!("{}: {}", r.message, r.help))?;
    let report = support_gateway::import::import_file(&db, &agent, &args.file, SystemClock.now())
        .await
        .map_err(|e| format!("{}: {}", args.file.display(), e.detail()))?;
    if !report.applied() {
        for r in &report.rejected {
            eprintln!("{}:{}: {}", args.file.display(), r.line, r.reason);
        }
        return Err(format!(
            "nothing was imported: {} of {} rows were refused (listed above); fix them and run the import again",
            report.rejected.len(),
            report.rows
        ));
    }
    println!(
        "imported {} {} from {}: {} new, {} updated, {} unchanged, {} kept (synced from Partner Center)",
        report.rows,
        report.kind.name(),
        args.file.display(),
        report.created,
        report.updated,
        report.unchanged,
        report.kept
    );
    Ok(())
}

async fn simulate(args: SimulateArgs) -> Result<(), String> {
    use support_gateway::simulator::{self, Simulator, Size};
    let size = Size {
        customers: args.customers,
        subscriptions_per_customer: args.subscriptions_per_customer,
        requests: args.requests,
        notes_per_request: args.notes_per_request,
    };
    let sim = Simulator::new(size, SystemClock.now());
    let listener = tokio::net::TcpListener::bind(args.bind).await.map_err(|e| format!("binding {}: {e}", args.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("Microsoft API simulator listening on http://{addr}");
    println!("point the gateway at it with:");
    println!("  export SG_PARTNER_CENTER_URL=http://{addr}/v1");
    println!("  export SG_AZURE_MANAGEMENT_URL=http://{addr}");
    println!("  export SG_GRAPH_URL=http://{addr}/v1.0");
    println!("  export SG_IDENTITY_AUTHORITY=http://{addr}");
    println!("  export SG_PARTNER_TENANT_ID={}", simulator::PARTNER_TENANT);
    println!("  export SG_CLIENT_ID={}", simulator::CLIENT_ID);
    println!("  export SG_CLIENT_SECRET={}", simulator::CLIENT_SECRET);
    println!("  export SG_SYNC_AGENT=admin@northwind-cloud.example");
    sim.serve(listener).await.map_err(|e| e.to_string())
}
