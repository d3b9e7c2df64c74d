//! Object types. Each wraps a stored row; relations resolve through the request's loaders.

mod calendar;
mod customer;
mod partner;
mod product;
mod request;
mod subscription;

pub use calendar::BusinessCalendar;
pub use customer::Customer;
pub use partner::{Agent, Partner, Viewer};
pub use product::{IsvSupportContacts, MarketplaceProduct, SupportTopic};
pub use request::{HistoryEntry, Note, Route, SUMMARY_FIELDS, ServiceRequest, Sla};
pub use subscription::Subscription;

crate::graphql::connection::listed!(
    AdminChange,
    Customer,
    HistoryEntry,
    MarketplaceProduct,
    Note,
    ServiceRequest,
    Subscription
);

use async_graphql::{ID, Interface};
use chrono::{DateTime, NaiveDateTime, Utc};

/// An object with a global id, fetchable with `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's opaque global id."))]
pub enum Node {
    Customer(Customer),
    Subscription(Subscription),
    ServiceRequest(ServiceRequest),
    MarketplaceProduct(MarketplaceProduct),
    SupportTopic(SupportTopic),
    Agent(Agent),
    Partner(Partner),
    BusinessCalendar(BusinessCalendar),
    Note(Note),
    HistoryEntry(HistoryEntry),
    AdminChange(AdminChange),
}

/// Stored timestamps are UTC.
pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Parses a stored enum's text form.
pub(crate) fn parse<T: std::str::FromStr<Err = crate::domain::model::UnknownVariant>>(
    s: &str,
) -> async_graphql::Result<T> {
    s.parse::<T>().map_err(|e| crate::error::AppError::from(e).into())
}

/// One change to what the partner maintains itself (`adminChanges`).
#[derive(async_graphql::SimpleObject)]
pub struct AdminChange {
    /// The entry's opaque global id.
    #[graphql(owned)]
    pub id: ID,
    /// What kind of object was changed.
    pub subject: crate::domain::admin::AdminSubject,
    /// The changed object's id (an agent, product or calendar id, a domain, the partner id).
    pub subject_id: String,
    /// What the change did.
    pub action: crate::domain::admin::AdminAction,
    /// The id of the agent who made the change (for `import`, the agent it was run as).
    pub agent_id: Option<String>,
    /// The fields as they became, as a JSON object.
    pub detail: crate::graphql::scalars::Json,
    /// When the change was made.
    pub at: DateTime<Utc>,
}

impl TryFrom<crate::db::models::AdminChangeRow> for AdminChange {
    type Error = crate::error::AppError;

    fn try_from(r: crate::db::models::AdminChangeRow) -> Result<Self, Self::Error> {
        Ok(AdminChange {
            id: crate::graphql::ids::encode(crate::graphql::ids::NodeKind::AdminChange, &r.id),
            subject: r.subject.parse()?,
            subject_id: r.subject_id,
            action: r.action.parse()?,
            agent_id: r.agent_id,
            detail: crate::graphql::scalars::Json(serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null)),
            at: utc(r.created_at),
        })
    }
}

/// Where sync stands for one source and resource (`syncStatus`).
#[derive(async_graphql::SimpleObject)]
pub struct SyncStatus {
    /// `PARTNER_CENTER` or `AZURE_SUPPORT`.
    pub source: crate::domain::upstream::DataSource,
    /// `support_topics`, `customers` or `service_requests`.
    pub resource: String,
    /// A pass is under way (or stopped partway and resumes at `cursor` on the next run).
    pub running: bool,
    /// Where the pass under way resumes: a continuation token or an offset.
    pub cursor: Option<String>,
    /// When the pass under way started; null when no pass is under way.
    pub pass_started_at: Option<DateTime<Utc>>,
    /// Objects the pass under way has read so far.
    pub pass_objects: i64,
    /// When the latest pass started (the one under way, if any).
    pub last_started_at: Option<DateTime<Utc>>,
    /// When the last pass finished; null until one has.
    pub last_finished_at: Option<DateTime<Utc>>,
    /// Objects the last finished pass read.
    pub last_objects: i64,
    /// Why the last pass stopped, if it failed; cleared when a pass finishes.
    pub last_error: Option<String>,
    /// When a pass last failed; unlike `lastError`, kept after a later pass finishes. Null if
    /// none has failed.
    pub last_error_at: Option<DateTime<Utc>>,
}

impl From<crate::db::models::SyncStateRow> for SyncStatus {
    fn from(r: crate::db::models::SyncStateRow) -> Self {
        SyncStatus {
            source: r.source.parse().unwrap_or(crate::domain::upstream::DataSource::PartnerCenter),
            resource: r.resource,
            running: r.pass_started_at.is_some(),
            cursor: r.cursor,
            pass_started_at: r.pass_started_at.map(utc),
            pass_objects: r.pass_objects,
            last_started_at: r.last_started_at.map(utc),
            last_finished_at: r.last_finished_at.map(utc),
            last_objects: r.last_objects,
            last_error: r.last_error,
            last_error_at: r.last_error_at.map(utc),
        }
    }
}

/// Where an object came from; its fields appear on every object sync keeps.
pub struct Provenance {
    source: String,
    upstream_id: Option<String>,
    synced_at: Option<NaiveDateTime>,
}

impl Provenance {
    pub fn of(source: &str, upstream_id: &Option<String>, synced_at: Option<NaiveDateTime>) -> Provenance {
        Provenance { source: source.to_owned(), upstream_id: upstream_id.clone(), synced_at }
    }
}

#[async_graphql::Object]
impl Provenance {
    /// Where it came from: made here (`LOCAL`), kept in step with Microsoft by sync
    /// (`PARTNER_CENTER`, `AZURE_SUPPORT`), or imported from a file (`IMPORT`).
    async fn source(&self) -> async_graphql::Result<crate::domain::upstream::DataSource> {
        parse(&self.source)
    }

    /// Its id at its source: a customer's tenant id, a subscription's id, or Microsoft's case
    /// number of a request (once filed there, or synced from there).
    async fn upstream_id(&self) -> Option<&str> {
        self.upstream_id.as_deref()
    }

    /// When sync last saw it at its source; null for objects sync does not keep.
    async fn synced_at(&self) -> Option<DateTime<Utc>> {
        self.synced_at.map(utc)
    }
}
