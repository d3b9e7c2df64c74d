//! Queries, scoped to the calling partner, and the per-request batched loaders.
//!
//! Every read goes through a [`Repo`], which carries the caller's partner id: there is no
//! unscoped query in this module for anything a partner owns.

pub mod admin;
pub mod batch;
pub mod by_id;
pub mod calendars;
pub mod callers;
pub mod children;
pub mod filing;
pub mod loaders;
pub mod mutations;
pub mod pages;
pub mod reports;
pub mod webhooks;

use crate::db::Db;
use crate::error::AppResult;

diesel::define_sql_function! {
    /// Lower-cases text (ASCII on SQLite), for case-insensitive search on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The most keys one statement binds: below SQLite's and PostgreSQL's bind-parameter limits.
pub const MAX_KEYS_PER_STATEMENT: usize = 10_000;

/// Runs `fetch` for `keys`, [`MAX_KEYS_PER_STATEMENT`] at a time (one statement each), and
/// gathers the rows: how every batched read binds its keys.
pub(crate) async fn by_keys<'k, T, F, Fut>(keys: &'k [String], mut fetch: F) -> AppResult<Vec<T>>
where
    F: FnMut(&'k [String]) -> Fut,
    Fut: Future<Output = AppResult<Vec<T>>>,
{
    if keys.len() <= MAX_KEYS_PER_STATEMENT {
        return fetch(keys).await;
    }
    let mut rows = Vec::new();
    for chunk in keys.chunks(MAX_KEYS_PER_STATEMENT) {
        rows.extend(fetch(chunk).await?);
    }
    Ok(rows)
}

/// Which columns of its rows a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Columns {
    /// Every column.
    All,
    /// Those of the row's summary ([`crate::db::models::ServiceRequestSummaryRow`] and its
    /// kin); the others come back empty. For lists whose items select only fields the summary
    /// serves.
    Summary,
}

/// Database access on behalf of one partner.
#[derive(Clone)]
pub struct Repo {
    pub db: Db,
    pub partner_id: String,
    /// Woken after a write commits, so subscribers hear of it at once.
    pub events: Option<crate::events::EventBus>,
    /// Whether the partner may be an indirect provider, whose resellers' customers name it
    /// as their provider. `false` only narrows what listings look at (the partner's own
    /// customers), so that their ordered index serves them; it never widens a scope.
    pub provides: bool,
    /// The SLA warning window per severity (S4).
    pub sla: crate::domain::sla::SlaPolicy,
    /// Whether requests filed here are also filed at Microsoft (a source is configured for
    /// this partner): `createServiceRequest` then writes an outbox entry with the request.
    pub outbound: bool,
    /// Whether Azure requests go too (the Azure Support API is configured).
    pub outbound_azure: bool,
}

impl Repo {
    pub fn new(db: Db, partner_id: impl Into<String>, events: Option<crate::events::EventBus>) -> Repo {
        Repo {
            db,
            partner_id: partner_id.into(),
            events,
            provides: true,
            sla: Default::default(),
            outbound: false,
            outbound_azure: false,
        }
    }

    /// The same repo with the deployment's SLA settings.
    pub fn with_sla(mut self, sla: crate::domain::sla::SlaPolicy) -> Repo {
        self.sla = sla;
        self
    }

    /// The same repo filing at Microsoft too (see `outbound`).
    pub fn with_outbound(mut self, outbound: bool) -> Repo {
        self.outbound = outbound;
        self
    }

    /// The same repo filing Azure requests at Microsoft too (see `outbound_azure`).
    pub fn with_outbound_azure(mut self, azure: bool) -> Repo {
        self.outbound_azure = azure;
        self
    }

    /// Whether a request of `family` filed here goes to Microsoft as well.
    pub fn outbound(&self, family: crate::domain::model::ProductFamily) -> bool {
        self.outbound && crate::domain::upstream::files_upstream(family, self.outbound_azure)
    }

    /// The same repo for a partner of `kind`: only indirect providers have resellers.
    pub fn of_kind(mut self, kind: crate::domain::model::PartnerKind) -> Repo {
        self.provides = kind == crate::domain::model::PartnerKind::IndirectProvider;
        self
    }
}
