//! Object types. Each wraps a stored row; relations resolve through the request's loaders.

mod calendar;
mod customer;
mod partner;
mod product;
mod request;
mod subscription;

pub use calendar::BusinessCalendar;
pub use customer::{CUSTOMER_SUMMARY_FIELDS, Customer};
pub use partner::{Agent, Partner, Viewer};
pub use product::{IsvSupportContacts, MarketplaceProduct, SupportTopic};
pub use request::{HistoryEntry, Note, Route, SUMMARY_FIELDS, ServiceRequest, Sla};
pub use subscription::{SUBSCRIPTION_SUMMARY_FIELDS, Subscription};

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

impl crate::graphql::joined::Plain for AdminChange {}

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

/// The value of a provenance field (`source`, `upstreamId`, `syncedAt`), for [`Plain`]
/// implementations of the types that flatten [`Provenance`] into theirs.
///
/// [`Plain`]: crate::graphql::joined::Plain
pub(crate) fn plain_provenance(
    name: &str,
    source: &str,
    upstream_id: Option<&str>,
    synced_at: Option<NaiveDateTime>,
) -> Option<async_graphql::Value> {
    use crate::graphql::joined::{plain_enum, plain_opt_text, plain_opt_time};
    match name {
        "source" => plain_enum::<crate::domain::upstream::DataSource>(source),
        "upstreamId" => plain_opt_text(upstream_id),
        "syncedAt" => plain_opt_time(synced_at),
        _ => None,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;
    use crate::graphql::joined::{Joined, Plain};
    use crate::seed::Dataset;

    /// The demo's rows, as async-graphql resolves each type (`plainX`) and as the joined path
    /// does (`joinedX`), where [`Plain`] answers the plain fields.
    struct Query(Dataset);

    macro_rules! both_ways {
        ($($plain:ident, $joined:ident: $t:ty = $rows:ident;)*) => {
            #[Object]
            impl Query {
                $(
                    async fn $plain(&self) -> Vec<$t> {
                        $rows(&self.0)
                    }
                    async fn $joined(&self) -> Vec<Joined<$t>> {
                        $rows(&self.0).into_iter().map(Joined).collect()
                    }
                )*
            }
        };
    }

    both_ways! {
        plain_customers, joined_customers: Customer = customers;
        plain_subscriptions, joined_subscriptions: Subscription = subscriptions;
        plain_requests, joined_requests: ServiceRequest = requests;
        plain_slas, joined_slas: Sla = slas;
        plain_notes, joined_notes: Note = notes;
        plain_history, joined_history: HistoryEntry = history;
        plain_products, joined_products: MarketplaceProduct = products;
        plain_agents, joined_agents: Agent = agents;
    }

    fn customers(d: &Dataset) -> Vec<Customer> {
        d.customers.iter().cloned().map(Customer::from).collect()
    }
    fn subscriptions(d: &Dataset) -> Vec<Subscription> {
        d.subscriptions.iter().cloned().map(Subscription).collect()
    }
    fn requests(d: &Dataset) -> Vec<ServiceRequest> {
        d.requests.iter().cloned().map(ServiceRequest::from).collect()
    }
    fn slas(d: &Dataset) -> Vec<Sla> {
        d.requests.iter().map(|r| Sla(Arc::new(r.clone()), None)).collect()
    }
    fn notes(d: &Dataset) -> Vec<Note> {
        d.notes.iter().cloned().map(Note).collect()
    }
    fn history(d: &Dataset) -> Vec<HistoryEntry> {
        d.history.iter().cloned().map(HistoryEntry).collect()
    }
    fn products(d: &Dataset) -> Vec<MarketplaceProduct> {
        d.products.iter().cloned().map(MarketplaceProduct).collect()
    }
    fn agents(d: &Dataset) -> Vec<Agent> {
        d.agents.iter().cloned().map(Agent).collect()
    }

    /// Resolves every field [`Plain`] answers for some row of `rows` (of the GraphQL type
    /// `name`, listed by `plainX` and `joinedX`) both ways, on every row, and checks that the
    /// answers are the same; returns those fields.
    async fn same_both_ways<T: Plain>(
        schema: &Schema<Query, EmptyMutation, EmptySubscription>,
        name: &str,
        list: &str,
        rows: &[T],
    ) -> Vec<String> {
        let fields = schema.execute(format!("{{ __type(name: \"{name}\") {{ fields {{ name }} }} }}")).await;
        let fields = fields.data.into_json().unwrap();
        let plain: Vec<String> = fields["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .filter(|field| rows.iter().any(|row| row.plain(field).is_some()))
            .collect();
        assert!(!plain.is_empty(), "{name}: no plain field");
        let selection = format!("__typename {}", plain.join(" "));
        let response =
            schema.execute(format!("{{ a: plain{list} {{ {selection} }} b: joined{list} {{ {selection} }} }}")).await;
        assert!(response.errors.is_empty(), "{name}: {:?}", response.errors);
        let data = response.data.into_json().unwrap();
        assert_eq!(data["a"].as_array().map(Vec::len), Some(rows.len()), "{name}: every row");
        assert_eq!(data["a"], data["b"], "{name}: {selection}");
        plain
    }

    #[tokio::test]
    async fn plain_fields_answer_as_their_resolvers() {
        // One instant for both copies: the demo's history depends on it, so two clock readings
        // can give two data sets of different sizes.
        let now = chrono::Utc::now();
        let d = crate::seed::demo(now);
        let answered = {
            let schema = Schema::build(Query(crate::seed::demo(now)), EmptyMutation, EmptySubscription).finish();
            let customers = same_both_ways(&schema, "Customer", "Customers", &customers(&d)).await;
            same_both_ways(&schema, "Subscription", "Subscriptions", &subscriptions(&d)).await;
            let requests = same_both_ways(&schema, "ServiceRequest", "Requests", &requests(&d)).await;
            same_both_ways(&schema, "Sla", "Slas", &slas(&d)).await;
            same_both_ways(&schema, "Note", "Notes", &notes(&d)).await;
            same_both_ways(&schema, "HistoryEntry", "History", &history(&d)).await;
            same_both_ways(&schema, "MarketplaceProduct", "Products", &products(&d)).await;
            same_both_ways(&schema, "Agent", "Agents", &agents(&d)).await;
            (customers, requests)
        };
        // The fields read from the row, the flattened provenance among them; not those that
        // need the request's context (`readOnly`) or a loader (`domains`).
        for field in ["id", "companyName", "relationship", "createdAt", "source", "upstreamId", "syncedAt"] {
            assert!(answered.0.iter().any(|f| f == field), "Customer.{field} is plain");
        }
        assert!(!answered.0.iter().any(|f| f == "readOnly" || f == "domains"));
        assert!(answered.1.len() >= 20, "ServiceRequest: {:?}", answered.1);
    }
}
