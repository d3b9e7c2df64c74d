//! The GraphQL schema. Root resolvers are a few lines that validate arguments and delegate to
//! the repo; object types wrap stored rows and resolve their relations through the loaders.

pub mod admin;
pub mod codes;
pub mod connection;
pub mod documents;
pub mod eligibility;
pub mod ids;
pub mod joined;
pub mod limits;
pub mod mutation;
pub mod order;
pub mod query;
pub mod reports;
pub mod run;
pub mod scalars;
pub mod subscription;
pub mod types;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{Context, Schema};
use chrono::{DateTime, Utc};

use crate::auth::Caller;
use crate::clock::Clock;
use crate::error::{AppError, AppResult};
use crate::repo::Repo;
use crate::repo::loaders::LazyLoaders;

pub type GatewaySchema = Schema<query::Query, MutationRoot, subscription::Subscription>;

/// The mutation root: filing and working requests, and the partner's own administration.
#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(mutation::Mutation, admin::AdminMutation, webhooks::WebhookMutation);

/// The schema with introspection on (for the SDL). It has no extensions: transports run
/// requests through [`run`], which applies the limits, persisted documents, error codes and
/// metrics (see there why); the objects resolved joined ([`joined`]: connections, what they
/// list, the object fields of requests) skip extensions' per-field hooks. Per-request state (caller, loaders) is attached to each request.
pub fn schema() -> GatewaySchema {
    builder().finish()
}

/// The schema's types, with the descriptions of the types async-graphql makes itself (the
/// connections, and chrono's `DateTime`).
fn builder() -> async_graphql::SchemaBuilder<query::Query, MutationRoot, subscription::Subscription> {
    use connection::Conn;
    use types::*;
    Schema::build(query::Query, MutationRoot::default(), subscription::Subscription)
        .override_output_type_description::<DateTime<Utc>>(scalars::DATE_TIME_DESCRIPTION)
        .override_output_type_description::<Conn<Customer>>("A page of customers (Relay connection).")
        .override_output_type_description::<Conn<Subscription>>("A page of subscriptions (Relay connection).")
        .override_output_type_description::<Conn<ServiceRequest>>("A page of service requests (Relay connection).")
        .override_output_type_description::<Conn<Note>>("A page of a request's notes (Relay connection).")
        .override_output_type_description::<Conn<HistoryEntry>>("A page of a request's history (Relay connection).")
        .override_output_type_description::<Conn<MarketplaceProduct>>(
            "A page of marketplace products (Relay connection).",
        )
        .override_output_type_description::<Conn<AdminChange>>(
            "A page of the partner's administrative changes (Relay connection).",
        )
}

/// The schema an app serves, for its profile (introspection and field suggestions are off in
/// production unless enabled). Run requests on it through [`run`].
pub fn schema_for(app: &crate::app::App) -> GatewaySchema {
    configured(app).finish()
}

/// [`schema_for`], validating only what depends on the request: for documents that passed the
/// full validation before (see [`run::execute`]).
pub fn prevalidated_schema_for(app: &crate::app::App) -> GatewaySchema {
    configured(app).validation_mode(async_graphql::ValidationMode::Fast).finish()
}

fn configured(
    app: &crate::app::App,
) -> async_graphql::SchemaBuilder<query::Query, MutationRoot, subscription::Subscription> {
    let config = &app.config;
    let mut builder = builder();
    if !config.introspection {
        builder = builder.disable_introspection();
    }
    if config.profile == crate::config::Profile::Production {
        // "Did you mean …?" hints spell out the schema to someone who may not read it.
        builder = builder.disable_suggestions();
    }
    builder
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    schema().sdl_with_options(async_graphql::SDLExportOptions::new().include_specified_by())
}

/// What every resolver of one request shares: who is asking, their scoped repo and loaders,
/// and the instant the request is evaluated at (one instant for the whole response).
pub struct RequestCtx {
    pub caller: Caller,
    /// The caller's repository, shared with the request's loaders (one per request, not one
    /// per loader: each copy cost a dozen atomic counts on values every request shares).
    pub repo: Arc<Repo>,
    pub loaders: LazyLoaders,
    pub clock: Arc<dyn Clock>,
    pub now: DateTime<Utc>,
    pub events: crate::events::EventBus,
    /// The production profile: stricter input (e.g. webhook endpoints must use https).
    pub production: bool,
}

impl RequestCtx {
    pub fn new(caller: Caller, app: &crate::app::App) -> RequestCtx {
        let repo = Arc::new(
            Repo::new(app.db.clone(), caller.partner_id.clone(), Some(app.events.clone()))
                .of_kind(caller.partner_kind)
                .with_sla(app.config.sla)
                .with_outbound(app.outbound_partner.get().map(String::as_str) == Some(caller.partner_id.as_str()))
                .with_outbound_azure(app.config.sources.as_ref().is_some_and(|s| s.azure_support.is_some())),
        );
        let loaders = LazyLoaders::new(&repo);
        let now = app.clock.now();
        let production = app.config.profile == crate::config::Profile::Production;
        RequestCtx { caller, repo, loaders, clock: app.clock.clone(), now, events: app.events.clone(), production }
    }
}

/// The request's context, or `UNAUTHENTICATED` when the request carried no valid token.
pub fn rc<'a>(ctx: &Context<'a>) -> AppResult<&'a RequestCtx> {
    ctx.data::<RequestCtx>()
        .map_err(|_| AppError::Unauthenticated("authentication required: send `Authorization: Bearer <token>`".into()))
}
