//! Queries, scoped to the calling partner, and the per-request batched loaders.
//!
//! Every read goes through a [`Repo`], which carries the caller's partner id: there is no
//! unscoped query in this module for anything a partner owns.

pub mod loaders;
pub mod mutations;
pub mod queries;

use crate::db::Db;

/// Database access on behalf of one partner.
#[derive(Clone)]
pub struct Repo {
    pub db: Db,
    pub partner_id: String,
    /// Woken after a write commits, so subscribers hear of it at once.
    pub events: Option<crate::events::EventBus>,
}

impl Repo {
    pub fn new(db: Db, partner_id: impl Into<String>, events: Option<crate::events::EventBus>) -> Repo {
        Repo { db, partner_id: partner_id.into(), events }
    }
}
