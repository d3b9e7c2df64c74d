//! Keeps the partner's data in step with Partner Center: support topics, customers with their
//! subscriptions, and the partner's service requests with their notes.
//!
//! - **Keyed by upstream ids.** Each object is found by its Partner Center id and updated in
//!   place; fields Partner Center does not hold (a customer's calendar, a request's customer,
//!   plan or route) are set when the object is first seen and never overwritten.
//! - **A page is one transaction**, and the position of the next page is written in it
//!   (`sync_state.cursor`): a pass killed anywhere resumes after the last page it committed,
//!   with no gap and no duplicate.
//! - **Nothing is deleted.** At the end of a full pass, a customer Partner Center no longer
//!   lists gets `relationship_ended_at`; a subscription gone from its customer's list becomes
//!   `DELETED`. Their requests stay.
//! - **The same events as local changes**: a request filed or changed at Microsoft, a note and
//!   support's first response reach subscribers like any other change.
//! - **One replica at a time**: on PostgreSQL a pass holds an advisory lock per partner; a
//!   replica that finds it held skips its turn.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, JoinOnDsl, NullableExpressionMethods, OptionalExtension, QueryDsl,
    SelectableHelper,
};
use diesel_async::RunQueryDsl;
use serde_json::json;

use crate::clock::Clock;
use crate::db::Db;
use crate::db::batch::InsertMany;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::model::*;
use crate::domain::sla::{self, SlaPolicy, SlaRecord};
use crate::domain::upstream as up;
use crate::domain::upstream::DataSource;
use crate::error::{AppError, AppResult};
use crate::events::EventBus;
use crate::repo::mutations::{event, history, load_calendar, new_id, sla_entries, sla_record, store_sla, write_sla};
use crate::transaction;
use crate::upstream::UpstreamError;
use crate::upstream::azure_support::{self as up_azure, AzureSupport};
use crate::upstream::graph::Graph;
use crate::upstream::partner_center::{self as pc, PartnerCenter};

/// Closes the pass of a resource: the cursor is cleared and the pass's totals become the last.
macro_rules! finish_pass {
    ($conn:ident, $partner:expr, $resource:expr, $now:expr, $seen:expr) => {
        finish_pass!($conn, $partner, $resource, $now, $seen, SOURCE)
    };
    ($conn:ident, $partner:expr, $resource:expr, $now:expr, $seen:expr, $source:expr) => {{
        let seen: i64 = $seen as i64;
        diesel::update(sync_state::table.find(($partner, $source, $resource)))
            .set((
                sync_state::cursor.eq(None::<String>),
                sync_state::last_objects.eq(sync_state::pass_objects + seen),
                sync_state::pass_objects.eq(0),
                sync_state::pass_started_at.eq(None::<NaiveDateTime>),
                sync_state::last_finished_at.eq(Some($now.naive_utc())),
                sync_state::last_error.eq(None::<String>),
            ))
            .execute($conn)
            .await?;
    }};
}

/// Upserts one customer's subscriptions and marks those Partner Center no longer lists.
/// New subscriptions are added to `$new_rows`, for the page to insert together; a new
/// customer (`$new_customer`) has none to look up.
macro_rules! sync_subscriptions {
    ($conn:ident, $partner:expr, $customer:expr, $list:expr, $now:expr, $counts:ident, $new_customer:expr, $new_rows:ident) => {{
        let partner: &str = $partner;
        let customer: &str = $customer;
        let list: &Vec<pc::Subscription> = $list;
        let now: DateTime<Utc> = $now;
        let known: Vec<SubscriptionRow> = if $new_customer {
            Vec::new()
        } else {
            subscriptions::table
                .filter(subscriptions::customer_id.eq(customer))
                .filter(subscriptions::source.eq(SOURCE))
                .select(SubscriptionRow::as_select())
                .load($conn)
                .await?
        };
        let mut listed = Vec::new();
        for s in list {
            listed.push(s.id.clone());
            let status = up::pc_subscription_status(&s.status);
            let quantity = s.quantity.max(1);
            match known.iter().find(|k| k.upstream_id.as_deref() == Some(s.id.as_str())) {
                Some(k) => {
                    if k.status != status.as_str() || k.quantity != quantity || k.offer_name != s.offer_name {
                        $counts.updated += 1;
                    } else {
                        $counts.unchanged += 1;
                    }
                    diesel::update(subscriptions::table.find(&k.id))
                        .set((
                            subscriptions::status.eq(status.as_str()),
                            subscriptions::quantity.eq(quantity),
                            subscriptions::offer_name.eq(&s.offer_name),
                            subscriptions::synced_at.eq(Some(now.naive_utc())),
                        ))
                        .execute($conn)
                        .await?;
                }
                None => {
                    let family = up::product_family_of(&s.offer_name);
                    let azure = family == ProductFamily::Azure;
                    let row = SubscriptionRow {
                        id: new_id(),
                        partner_id: partner.to_owned(),
                        provider_id: None,
                        customer_id: Some(customer.to_owned()),
                        owner: SubscriptionOwner::Customer.as_str().into(),
                        product_family: family.as_str().into(),
                        offer_name: s.offer_name.clone(),
                        status: status.as_str().into(),
                        billing_cycle: up::pc_billing_cycle(&s.billing_cycle).as_str().into(),
                        quantity,
                        is_trial: s.is_trial,
                        azure_subscription_id: azure.then(|| s.entitlement_id.clone().unwrap_or_else(|| s.id.clone())),
                        created_at: instant(s.creation_date.as_deref()).unwrap_or(now).naive_utc(),
                        source: SOURCE.into(),
                        upstream_id: Some(s.id.clone()),
                        synced_at: Some(now.naive_utc()),
                    };
                    $new_rows.push(row);
                    $counts.created += 1;
                }
            }
        }
        // Gone from the customer's list: cancelled at Microsoft. Kept, marked deleted.
        for k in known.iter().filter(|k| k.upstream_id.as_ref().is_some_and(|u| !listed.contains(u))) {
            if k.status != SubscriptionStatus::Deleted.as_str() {
                diesel::update(subscriptions::table.find(&k.id))
                    .set(subscriptions::status.eq(SubscriptionStatus::Deleted.as_str()))
                    .execute($conn)
                    .await?;
                $counts.marked += 1;
            }
        }
    }};
}

/// What sync writes in `source` and `sync_state.source`.
const SOURCE: &str = "PARTNER_CENTER";
/// The actor named in the events of changes read from Partner Center.
const ACTOR: &str = "sync:PARTNER_CENTER";

/// The resources of one Partner Center pass, in the order they are synced.
pub const RESOURCES: [&str; 3] = ["support_topics", "customers", "service_requests"];

/// How a pass goes.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Customers per page.
    pub customer_page: usize,
    /// Service requests per page.
    pub request_page: usize,
    /// Start every resource from its first page, even where an earlier pass stopped partway,
    /// and re-read every customer's subscriptions.
    pub full: bool,
    /// Only this source; `None`: every configured one.
    pub only: Option<Upstream>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions { customer_page: 200, request_page: 200, full: false, only: None }
    }
}

/// One of the APIs a pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Upstream {
    /// Topics, customers with their subscriptions, and service requests.
    PartnerCenter,
    /// Azure topics and the tickets of Azure requests.
    AzureSupport,
    /// Delegated admin relationships (GDAP).
    Graph,
}

impl SyncOptions {
    fn reads(&self, upstream: Upstream) -> bool {
        self.only.is_none_or(|only| only == upstream)
    }
}

/// Why a pass stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error("{}", .0.detail())]
    Local(AppError),
}

impl From<AppError> for SyncError {
    fn from(e: AppError) -> Self {
        SyncError::Local(e)
    }
}

/// What a pass did, per resource.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Ended relationships, deleted subscriptions.
    pub marked: u64,
    /// Objects skipped because they belong to another partner here.
    pub skipped: u64,
    pub pages: u64,
}

impl Counts {
    /// Objects read: created, updated or unchanged.
    pub fn seen(&self) -> u64 {
        self.created + self.updated + self.unchanged
    }
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct SyncReport {
    /// `false` when another replica held the lock and this one did nothing.
    pub ran: bool,
    pub topics: Counts,
    pub customers: Counts,
    pub subscriptions: Counts,
    pub requests: Counts,
    pub notes: Counts,
    /// Azure's problem classifications, as support topics (with the Azure Support API).
    pub azure_topics: Counts,
    /// Azure tickets of open Azure requests.
    pub tickets: Counts,
    /// Customers whose delegated admin privileges follow a GDAP relationship (with Graph).
    pub delegated_admin: Counts,
}

/// Syncs one partner's data from Partner Center, acting as one of its agents.
pub struct PartnerCenterSync {
    db: Db,
    clock: Arc<dyn Clock>,
    events: Option<EventBus>,
    api: Arc<PartnerCenter>,
    /// The Azure Support API, when configured.
    azure: Option<Arc<AzureSupport>>,
    /// Microsoft Graph (delegated admin relationships), when configured.
    graph: Option<Arc<Graph>>,
    partner: PartnerRow,
    agent: AgentRow,
    sla: SlaPolicy,
}

impl std::fmt::Debug for PartnerCenterSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerCenterSync").field("partner", &self.partner.id).field("api", &self.api).finish()
    }
}

/// Stable text for an instant read from upstream, or `None` for Partner Center's unset date.
fn instant(text: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text?;
    if up::is_unset_date(text) {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
        .ok()
}

/// A synced note's key: its author, instant and text (Partner Center's notes have no id).
pub(crate) fn note_key(n: &pc::Note) -> String {
    crate::graphql::documents::sha256_hex(&format!("{}\u{1f}{}\u{1f}{}", n.created_by_name, n.created_date, n.text))
}

fn contact_name(c: &pc::Contact) -> String {
    [c.first_name.as_deref(), c.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ")
}

impl PartnerCenterSync {
    /// Sync for the partner of `agent` (an e-mail or id), which the history of synced changes
    /// names where an agent is required (the creator of a request filed at Microsoft).
    pub async fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        events: Option<EventBus>,
        api: Arc<PartnerCenter>,
        acting_as: &str,
        sla: SlaPolicy,
    ) -> AppResult<PartnerCenterSync> {
        let (agent, partner) = crate::with_conn!(db, |conn| {
            let agent: Option<AgentRow> = agents::table
                .filter(agents::email.eq(acting_as).or(agents::id.eq(acting_as)))
                .select(AgentRow::as_select())
                .first(conn)
                .await
                .optional()?;
            let agent = agent.ok_or_else(|| {
                AppError::bad_input(format!(
                    "no agent {acting_as}: name an existing agent (e-mail or id) for sync to act as (SG_SYNC_AGENT)"
                ))
            })?;
            let partner: PartnerRow =
                partners::table.find(&agent.partner_id).select(PartnerRow::as_select()).first(conn).await?;
            AppResult::Ok((agent, partner))
        })?;
        Ok(PartnerCenterSync { db, clock, events, api, azure: None, graph: None, partner, agent, sla })
    }

    /// The same sync, with Azure's topics and tickets from the Azure Support API too.
    pub fn with_azure(mut self, api: Arc<AzureSupport>) -> PartnerCenterSync {
        self.azure = Some(api);
        self
    }

    /// The same sync, with delegated admin privileges from Microsoft Graph (GDAP).
    pub fn with_graph(mut self, graph: Arc<Graph>) -> PartnerCenterSync {
        self.graph = Some(graph);
        self
    }

    pub fn partner_id(&self) -> &str {
        &self.partner.id
    }

    pub fn api(&self) -> &Arc<PartnerCenter> {
        &self.api
    }

    /// The outbox worker that files this partner's requests at Microsoft, sharing this sync's
    /// client (its token and request rate).
    pub fn outbox(&self) -> crate::outbox::Outbox {
        crate::outbox::Outbox::new(
            self.db.clone(),
            self.clock.clone(),
            self.events.clone(),
            self.api.clone(),
            self.partner.id.clone(),
        )
        .with_azure(self.azure.clone())
    }

    /// One pass over every resource. On PostgreSQL it runs only if no other replica is
    /// running one for the same partner (`ran: false` otherwise).
    pub async fn run(&self, options: &SyncOptions) -> Result<SyncReport, SyncError> {
        let Some(_lock) = crate::db::lease::try_lock(&self.db, &format!("sync:{SOURCE}:{}", self.partner.id)).await?
        else {
            tracing::info!(partner = %self.partner.id, "another replica is syncing; skipping this turn");
            return Ok(SyncReport::default());
        };
        let mut report = SyncReport { ran: true, ..SyncReport::default() };
        let resources: &[&str] = if options.reads(Upstream::PartnerCenter) { &RESOURCES } else { &[] };
        for &resource in resources {
            self.begin(SOURCE, resource, options.full).await?;
            let outcome = match resource {
                "support_topics" => self.topics(&mut report).await,
                "customers" => self.customers(options, &mut report).await,
                _ => self.requests(options, &mut report).await,
            };
            if let Err(e) = &outcome {
                self.api.client.stats.sync_errors.inc();
                self.failed(SOURCE, resource, &e.to_string()).await?;
            }
            outcome?;
        }
        if let Some(graph) = self.graph.as_ref().filter(|_| options.reads(Upstream::Graph)) {
            self.begin(SOURCE, "delegated_admin", options.full).await?;
            let outcome = self.delegated_admin(graph, &mut report).await;
            if let Err(e) = &outcome {
                self.api.client.stats.sync_errors.inc();
                self.failed(SOURCE, "delegated_admin", &e.to_string()).await?;
            }
            outcome?;
        }
        if let Some(azure) = self.azure.as_ref().filter(|_| options.reads(Upstream::AzureSupport)) {
            let source = DataSource::AzureSupport.as_str();
            for resource in ["support_topics", "tickets"] {
                self.begin(source, resource, options.full).await?;
                let outcome = match resource {
                    "support_topics" => self.azure_topics(azure, &mut report).await,
                    _ => match self.page_context().await {
                        Ok(ctx) => self.azure_tickets(azure, &ctx, &mut report).await,
                        Err(e) => Err(e),
                    },
                };
                if let Err(e) = &outcome {
                    self.api.client.stats.sync_errors.inc();
                    self.failed(source, resource, &e.to_string()).await?;
                }
                outcome?;
            }
        }
        let stats = &self.api.client.stats;
        for c in [
            &report.topics,
            &report.customers,
            &report.subscriptions,
            &report.requests,
            &report.azure_topics,
            &report.tickets,
            &report.delegated_admin,
        ] {
            stats.objects_synced.inc_by(c.seen());
        }
        stats.last_sync_success.set(self.now().timestamp());
        Ok(report)
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn wake(&self) {
        if let Some(bus) = &self.events {
            bus.wake();
        }
    }

    /// Starts a pass of `resource`, or resumes the one under way (unless `restart`).
    async fn begin(&self, source: &str, resource: &str, restart: bool) -> AppResult<()> {
        let now = self.now().naive_utc();
        let p = self.partner.id.as_str();
        transaction!(self.db, |conn| {
            let state: Option<SyncStateRow> = sync_state::table
                .find((p, source, resource))
                .select(SyncStateRow::as_select())
                .first(conn)
                .await
                .optional()?;
            match state {
                None => {
                    let row = SyncStateRow {
                        partner_id: p.into(),
                        source: source.into(),
                        resource: resource.into(),
                        cursor: None,
                        pass_started_at: Some(now),
                        pass_objects: 0,
                        last_started_at: Some(now),
                        last_finished_at: None,
                        last_objects: 0,
                        last_error: None,
                        last_error_at: None,
                    };
                    diesel::insert_into(sync_state::table).values(&row).execute(conn).await?;
                }
                // An unfinished pass resumes where it stopped.
                Some(s) if s.pass_started_at.is_some() && !restart => {}
                Some(s) => {
                    // A pass starts strictly after the last one did, even on a clock that
                    // stood still, so "not seen since this pass started" marks exactly what
                    // this pass did not see (objects it sees are stamped no earlier).
                    let start = match s.last_started_at {
                        Some(last) if last >= now => last + chrono::Duration::microseconds(1),
                        _ => now,
                    };
                    diesel::update(sync_state::table.find((p, source, resource)))
                        .set((
                            sync_state::cursor.eq(None::<String>),
                            sync_state::pass_started_at.eq(Some(start)),
                            sync_state::pass_objects.eq(0),
                            sync_state::last_started_at.eq(Some(start)),
                        ))
                        .execute(conn)
                        .await?;
                }
            }
            AppResult::Ok(())
        })
    }

    async fn state(&self, source: &str, resource: &str) -> AppResult<SyncStateRow> {
        let p = self.partner.id.as_str();
        crate::with_conn!(self.db, |conn| {
            AppResult::Ok(
                sync_state::table.find((p, source, resource)).select(SyncStateRow::as_select()).first(conn).await?,
            )
        })
    }

    async fn failed(&self, source: &str, resource: &str, message: &str) -> AppResult<()> {
        let now = self.now().naive_utc();
        let p = self.partner.id.as_str();
        tracing::warn!(partner = p, resource, error = message, "sync stopped; the next pass resumes here");
        crate::with_conn!(self.db, |conn| {
            diesel::update(sync_state::table.find((p, source, resource)))
                .set((sync_state::last_error.eq(Some(message)), sync_state::last_error_at.eq(Some(now))))
                .execute(conn)
                .await?;
            AppResult::Ok(())
        })
    }

    /// Support topics: one call, one transaction.
    async fn topics(&self, report: &mut SyncReport) -> Result<(), SyncError> {
        let topics = self.api.support_topics().await?;
        let topics = topics
            .iter()
            .map(|t| TopicIn {
                id: format!("pc-topic-{}", t.id),
                family: up::product_family_of(&t.name),
                category: "Partner Center".into(),
                name: t.name.clone(),
                upstream_id: t.id.clone(),
            })
            .collect();
        report.topics = self.upsert_topics(SOURCE, topics).await?;
        Ok(())
    }

    /// Delegated admin privileges from the partner's GDAP relationships: a Partner Center
    /// customer has them exactly when an `active` relationship with its tenant exists. One
    /// listing (all pages), then one transaction of two updates.
    async fn delegated_admin(&self, graph: &Graph, report: &mut SyncReport) -> Result<(), SyncError> {
        let relationships = graph.delegated_admin_relationships().await?;
        let mut active: Vec<String> = relationships
            .iter()
            .filter(|r| up::gdap_active(&r.status))
            .map(|r| r.customer.tenant_id.to_lowercase())
            .collect();
        active.sort();
        active.dedup();
        let now = self.now();
        let p = self.partner.id.as_str();
        let counts = async {
            transaction!(self.db, |conn| {
                let mine = customers::table.filter(customers::partner_id.eq(p)).filter(customers::source.eq(SOURCE));
                let mut granted = 0;
                for tenants in active.chunks(1000) {
                    granted += diesel::update(
                        mine.filter(customers::delegated_admin.eq(false)).filter(customers::tenant_id.eq_any(tenants)),
                    )
                    .set(customers::delegated_admin.eq(true))
                    .execute(conn)
                    .await?;
                }
                let holders: Vec<(String, String)> = mine
                    .filter(customers::delegated_admin.eq(true))
                    .select((customers::id, customers::tenant_id))
                    .load(conn)
                    .await?;
                let lost: Vec<&String> = holders
                    .iter()
                    .filter(|(_, tenant)| active.binary_search(&tenant.to_lowercase()).is_err())
                    .map(|(id, _)| id)
                    .collect();
                for ids in lost.chunks(1000) {
                    diesel::update(customers::table.filter(customers::id.eq_any(ids)))
                        .set(customers::delegated_admin.eq(false))
                        .execute(conn)
                        .await?;
                }
                let counts = Counts {
                    pages: 1,
                    updated: (granted + lost.len()) as u64,
                    unchanged: active.len().saturating_sub(granted) as u64,
                    ..Counts::default()
                };
                finish_pass!(conn, p, "delegated_admin", now, counts.seen());
                AppResult::Ok(counts)
            })
        }
        .await?;
        report.delegated_admin = counts;
        Ok(())
    }

    /// Azure's services and their problem classifications, as Azure support topics: a call
    /// for the services and one per service, then one transaction.
    async fn azure_topics(&self, api: &AzureSupport, report: &mut SyncReport) -> Result<(), SyncError> {
        let mut topics = Vec::new();
        for service in api.services().await? {
            for pc in api.problem_classifications(&service.name).await? {
                topics.push(TopicIn {
                    id: format!("az-topic-{}", pc.name),
                    family: ProductFamily::Azure,
                    category: service.properties.display_name.clone(),
                    name: format!("{} / {}", service.properties.display_name, pc.properties.display_name),
                    upstream_id: pc.id.clone(),
                });
            }
        }
        report.azure_topics = self.upsert_topics(DataSource::AzureSupport.as_str(), topics).await?;
        Ok(())
    }

    /// Upserts topics of `source` by id and finishes the pass of its `support_topics`.
    async fn upsert_topics(&self, source: &str, topics: Vec<TopicIn>) -> Result<Counts, SyncError> {
        let now = self.now();
        let p = self.partner.id.as_str();
        let counts = async {
            transaction!(self.db, |conn| {
                let mut counts = Counts { pages: 1, ..Counts::default() };
                for t in &topics {
                    let existing: Option<SupportTopicRow> = support_topics::table
                        .find(&t.id)
                        .select(SupportTopicRow::as_select())
                        .first(conn)
                        .await
                        .optional()?;
                    match existing {
                        Some(e) if e.name == t.name => {
                            counts.unchanged += 1;
                            diesel::update(support_topics::table.find(&t.id))
                                .set(support_topics::synced_at.eq(Some(now.naive_utc())))
                                .execute(conn)
                                .await?;
                        }
                        Some(_) => {
                            counts.updated += 1;
                            diesel::update(support_topics::table.find(&t.id))
                                .set((
                                    support_topics::name.eq(&t.name),
                                    support_topics::synced_at.eq(Some(now.naive_utc())),
                                ))
                                .execute(conn)
                                .await?;
                        }
                        None => {
                            counts.created += 1;
                            let row = SupportTopicRow {
                                id: t.id.clone(),
                                product_family: t.family.as_str().into(),
                                category: t.category.clone(),
                                name: t.name.clone(),
                                source: source.into(),
                                upstream_id: Some(t.upstream_id.clone()),
                                synced_at: Some(now.naive_utc()),
                            };
                            diesel::insert_into(support_topics::table).values(&row).execute(conn).await?;
                        }
                    }
                }
                finish_pass!(conn, p, "support_topics", now, counts.seen(), source);
                AppResult::Ok(counts)
            })
        }
        .await?;
        Ok(counts)
    }

    /// The Azure tickets of the partner's open Azure requests at Microsoft: each ticket's status
    /// and communications, applied as Partner Center's requests are (support's first message is
    /// the first response). One ticket and its messages are two calls.
    async fn azure_tickets(
        &self,
        api: &AzureSupport,
        ctx: &PageContext,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let p = self.partner.id.as_str();
        let open: Vec<(String, String, String, String)> = async {
            crate::with_conn!(self.db, |conn| {
                AppResult::Ok(
                    service_requests::table
                        .inner_join(
                            subscriptions::table.on(subscriptions::id.nullable().eq(service_requests::subscription_id)),
                        )
                        .inner_join(customers::table.on(customers::id.nullable().eq(service_requests::customer_id)))
                        .filter(service_requests::partner_id.eq(p))
                        .filter(service_requests::product_family.eq(ProductFamily::Azure.as_str()))
                        .filter(service_requests::upstream_id.is_not_null())
                        .filter(
                            service_requests::status
                                .ne_all([RequestStatus::Resolved.as_str(), RequestStatus::Closed.as_str()]),
                        )
                        .filter(subscriptions::azure_subscription_id.is_not_null())
                        .select((
                            service_requests::id,
                            service_requests::upstream_id.assume_not_null(),
                            customers::tenant_id,
                            subscriptions::azure_subscription_id.assume_not_null(),
                        ))
                        .load(conn)
                        .await?,
                )
            })
        }
        .await?;
        let mut items = Vec::new();
        for (id, case, tenant, subscription) in &open {
            let name = up::azure_ticket_name(id);
            let Some(ticket) = api.ticket(tenant, subscription, &name).await? else { continue };
            let messages = api.communications(tenant, subscription, &name).await?;
            items.push(up_azure::as_service_request(case, &ticket, &messages));
        }
        let (counts, notes) =
            self.apply_requests(&items, false, ctx, DataSource::AzureSupport.as_str(), "tickets", None).await?;
        self.wake();
        add(&mut report.tickets, &counts);
        add(&mut report.notes, &notes);
        Ok(())
    }

    /// Customers page by page, each with its subscriptions, in one transaction per page.
    async fn customers(&self, options: &SyncOptions, report: &mut SyncReport) -> Result<(), SyncError> {
        let p = self.partner.id.clone();
        let kind: PartnerKind = self.partner.kind.parse().map_err(AppError::from)?;
        loop {
            let state = self.state(SOURCE, "customers").await?;
            let page = match self.api.customers(options.customer_page, state.cursor.as_deref()).await {
                Err(UpstreamError::Rejected { status: 400, .. }) if state.cursor.is_some() => {
                    // The continuation token expired: start the pass again from the top.
                    self.begin(SOURCE, "customers", true).await?;
                    continue;
                }
                other => other?,
            };
            let ids: Vec<String> = page.items.iter().map(|c| c.id.clone()).collect();
            let known: Vec<CustomerRow> = async {
                crate::with_conn!(self.db, |conn| {
                    AppResult::Ok(
                        customers::table
                            .filter(customers::tenant_id.eq_any(&ids))
                            .select(CustomerRow::as_select())
                            .load(conn)
                            .await?,
                    )
                })
            }
            .await?;
            let known: HashMap<String, CustomerRow> = known.into_iter().map(|c| (c.tenant_id.clone(), c)).collect();
            // What the page needs from Partner Center, read before the transaction opens: a new
            // customer's billing profile, and subscriptions (a new customer's, or all on a full pass).
            let mut details = HashMap::new();
            let mut subscriptions = HashMap::new();
            for c in &page.items {
                let mine = known.get(&c.id).map(|k| k.partner_id == p);
                if mine == Some(false) {
                    continue;
                }
                if mine.is_none() && c.billing_profile.is_none() {
                    details.insert(c.id.clone(), self.api.customer(&c.id).await?);
                }
                if mine.is_none() || options.full {
                    subscriptions.insert(c.id.clone(), self.api.subscriptions(&c.id).await?);
                }
            }
            let next = page.next_token();
            // Stamped no earlier than the pass started (see `begin`).
            let now = self.now().max(state.pass_started_at.map(|t| t.and_utc()).unwrap_or_default());
            let (customers, subs) = async {
                transaction!(self.db, |conn| {
                    let mut counts = Counts { pages: 1, ..Counts::default() };
                    let mut sub_counts = Counts::default();
                    // Written together at the end of the page (see `InsertMany`).
                    let mut new_customers: Vec<CustomerRow> = Vec::new();
                    let mut new_domains: Vec<CustomerDomainRow> = Vec::new();
                    let mut new_subscriptions: Vec<SubscriptionRow> = Vec::new();
                    let mut quiet: Vec<String> = Vec::new();
                    let mut zones: HashMap<String, String> = HashMap::new();
                    for c in &page.items {
                        let known = known.get(&c.id);
                        if known.is_some_and(|k| k.partner_id != p) {
                            counts.skipped += 1;
                            continue;
                        }
                        let relationship = up::pc_relationship(&c.relationship_to_partner, kind);
                        let customer_id = match known {
                            Some(k) => {
                                let ended = match relationship {
                                    None => k.relationship_ended_at.or(Some(now.naive_utc())),
                                    Some(_) => None,
                                };
                                let changed = k.company_name != c.company_profile.company_name
                                    || k.primary_domain != c.company_profile.domain
                                    || ended != k.relationship_ended_at
                                    || relationship.is_some_and(|r| r.as_str() != k.relationship);
                                if !changed {
                                    counts.unchanged += 1;
                                    quiet.push(k.id.clone());
                                } else {
                                    counts.updated += 1;
                                    diesel::update(customers::table.find(&k.id))
                                        .set((
                                            customers::company_name.eq(&c.company_profile.company_name),
                                            customers::primary_domain.eq(&c.company_profile.domain),
                                            customers::relationship.eq(relationship
                                                .map(|r| r.as_str().to_owned())
                                                .unwrap_or(k.relationship.clone())),
                                            customers::relationship_ended_at.eq(ended),
                                            customers::synced_at.eq(Some(now.naive_utc())),
                                        ))
                                        .execute(conn)
                                        .await?;
                                }
                                (k.id.clone(), false)
                            }
                            None => {
                                let detail = details.get(&c.id).unwrap_or(c);
                                let billing = detail.billing_profile.clone().unwrap_or_default();
                                let country = billing
                                    .default_address
                                    .and_then(|a| a.country)
                                    .filter(|c| c.len() == 2)
                                    .unwrap_or_else(|| "US".into())
                                    .to_ascii_uppercase();
                                let calendar_id = up::calendar_for_country(&country)
                                    .map(str::to_owned)
                                    .or_else(|| self.partner.calendar_id.clone())
                                    .unwrap_or_else(|| "cal-us-east".into());
                                let time_zone = match zones.get(&calendar_id) {
                                    Some(zone) => zone.clone(),
                                    None => {
                                        let zone: String = business_calendars::table
                                            .find(&calendar_id)
                                            .select(business_calendars::time_zone)
                                            .first(conn)
                                            .await?;
                                        zones.insert(calendar_id.clone(), zone.clone());
                                        zone
                                    }
                                };
                                let row = CustomerRow {
                                    id: new_id(),
                                    partner_id: p.clone(),
                                    provider_id: (relationship == Some(CustomerRelationship::IndirectReseller))
                                        .then(|| self.partner.provider_id.clone())
                                        .flatten(),
                                    company_name: c.company_profile.company_name.clone(),
                                    primary_domain: c.company_profile.domain.clone(),
                                    tenant_id: c.id.clone(),
                                    country,
                                    time_zone,
                                    language: billing.culture.or(billing.language).unwrap_or_else(|| "en-US".into()),
                                    cloud: self.partner.cloud.clone(),
                                    calendar_id,
                                    relationship: relationship
                                        .unwrap_or(CustomerRelationship::Reseller)
                                        .as_str()
                                        .into(),
                                    delegated_admin: detail.allow_delegated_access.unwrap_or(false),
                                    azure_access_granted: false,
                                    created_at: now.naive_utc(),
                                    source: SOURCE.into(),
                                    upstream_id: Some(c.id.clone()),
                                    synced_at: Some(now.naive_utc()),
                                    relationship_ended_at: relationship.is_none().then(|| now.naive_utc()),
                                };
                                new_domains.push(CustomerDomainRow {
                                    domain: row.primary_domain.to_lowercase(),
                                    customer_id: row.id.clone(),
                                    is_primary: true,
                                });
                                counts.created += 1;
                                let id = row.id.clone();
                                new_customers.push(row);
                                (id, true)
                            }
                        };
                        let (customer_id, new_customer) = customer_id;
                        if let Some(list) = subscriptions.get(&c.id) {
                            sync_subscriptions!(
                                conn,
                                &p,
                                &customer_id,
                                list,
                                now,
                                sub_counts,
                                new_customer,
                                new_subscriptions
                            );
                        }
                    }
                    // Customers before their domains and subscriptions (foreign keys).
                    conn.insert_many(&new_customers).await?;
                    conn.insert_many(&new_domains).await?;
                    conn.insert_many(&new_subscriptions).await?;
                    for ids in quiet.chunks(1000) {
                        diesel::update(customers::table.filter(customers::id.eq_any(ids)))
                            .set(customers::synced_at.eq(Some(now.naive_utc())))
                            .execute(conn)
                            .await?;
                    }
                    let seen = counts.seen() as i64;
                    match &next {
                        Some(token) => {
                            diesel::update(sync_state::table.find((p.as_str(), SOURCE, "customers")))
                                .set((
                                    sync_state::cursor.eq(Some(token)),
                                    sync_state::pass_objects.eq(sync_state::pass_objects + seen),
                                ))
                                .execute(conn)
                                .await?;
                        }
                        None => {
                            // The pass saw every customer Partner Center lists: the others ended.
                            let started = state.pass_started_at.unwrap_or(now.naive_utc());
                            counts.marked += diesel::update(
                                customers::table
                                    .filter(customers::partner_id.eq(&p))
                                    .filter(customers::source.eq(SOURCE))
                                    .filter(customers::relationship_ended_at.is_null())
                                    .filter(customers::synced_at.lt(started)),
                            )
                            .set(customers::relationship_ended_at.eq(Some(now.naive_utc())))
                            .execute(conn)
                            .await? as u64;
                            finish_pass!(conn, p.as_str(), "customers", now, seen);
                        }
                    }
                    AppResult::Ok((counts, sub_counts))
                })
            }
            .await?;
            add(&mut report.customers, &customers);
            add(&mut report.subscriptions, &subs);
            if next.is_none() {
                return Ok(());
            }
        }
    }

    /// The partner's service requests, page by page, with their notes.
    async fn requests(&self, options: &SyncOptions, report: &mut SyncReport) -> Result<(), SyncError> {
        let ctx = self.page_context().await?;
        loop {
            let state = self.state(SOURCE, "service_requests").await?;
            let offset: usize = state.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
            let page = self.api.service_requests(offset, options.request_page).await?;
            let size = page.items.len();
            let next = (size == options.request_page).then(|| (offset + size).to_string());
            let (counts, notes) =
                self.apply_requests(&page.items, true, &ctx, SOURCE, "service_requests", next).await?;
            self.wake();
            add(&mut report.requests, &counts);
            add(&mut report.notes, &notes);
            if size < options.request_page {
                return Ok(());
            }
        }
    }

    /// What applying pages of requests needs: the partner's calendar, cloud and agents.
    async fn page_context(&self) -> Result<PageContext, SyncError> {
        let p = self.partner.id.clone();
        let calendar_id = self.partner.calendar_id.clone().ok_or_else(|| {
            AppError::bad_input(format!(
                "partner {} has no business calendar for its own tenant; assign one (assignBusinessCalendar) \
                     before syncing its service requests",
                self.partner.id
            ))
        })?;
        let cloud: Cloud = self.partner.cloud.parse().map_err(AppError::from)?;
        let postgres = self.db.backend == crate::db::Backend::Postgres;
        let partner_names: Vec<String> = async {
            crate::with_conn!(self.db, |conn| {
                AppResult::Ok(
                    agents::table.filter(agents::partner_id.eq(&p)).select(agents::display_name).load(conn).await?,
                )
            })
        }
        .await?;
        Ok(PageContext { p, calendar_id, cloud, postgres, partner_names })
    }

    /// Applies one page of Microsoft's service requests in one transaction: requests known here
    /// (by case number) follow Microsoft's status and notes, and support's first note is the
    /// first response; unknown ones are created when `create_unknown`. The sync position moves
    /// to `next_cursor`, or the pass of `resource` finishes when there is none.
    #[allow(clippy::too_many_arguments)]
    async fn apply_requests(
        &self,
        items: &[pc::ServiceRequest],
        create_unknown: bool,
        ctx: &PageContext,
        source: &str,
        resource: &str,
        next_cursor: Option<String>,
    ) -> AppResult<(Counts, Counts)> {
        let PageContext { p, calendar_id, cloud, postgres, partner_names } = ctx;
        let (p, cloud, postgres) = (p.clone(), *cloud, *postgres);
        let ids: Vec<String> = items.iter().map(|r| r.id.clone()).collect();
        let now = self.now();
        transaction!(self.db, |conn| {
            let mut counts = Counts { pages: 1, ..Counts::default() };
            let mut note_counts = Counts::default();
            // Any source: a request filed here and then at Microsoft (the outbox) is the same one.
            let known: Vec<ServiceRequestRow> = service_requests::table
                .filter(service_requests::partner_id.eq(&p))
                .filter(service_requests::upstream_id.eq_any(&ids))
                .select(ServiceRequestRow::as_select())
                .load(conn)
                .await?;
            // The notes already read from upstream, for the whole page in one query.
            let known_ids: Vec<&str> = known.iter().map(|r| r.id.as_str()).collect();
            let seen_notes: Vec<(String, Option<String>)> = service_request_notes::table
                .filter(service_request_notes::service_request_id.eq_any(&known_ids))
                .filter(service_request_notes::upstream_key.is_not_null())
                .select((service_request_notes::service_request_id, service_request_notes::upstream_key))
                .load(conn)
                .await?;
            let seen_notes: std::collections::HashSet<(String, String)> =
                seen_notes.into_iter().filter_map(|(r, k)| Some((r, k?))).collect();
            // Notes added here and not yet matched to Microsoft's copy (the outbox sends them):
            // when Microsoft's copy is read, it is the same note, not a new one.
            let mut unmatched: Vec<(String, String, String)> = service_request_notes::table
                .filter(service_request_notes::service_request_id.eq_any(&known_ids))
                .filter(service_request_notes::upstream_key.is_null())
                .filter(service_request_notes::author_kind.eq(NoteAuthorKind::Partner.as_str()))
                .order(service_request_notes::created_at)
                .select((
                    service_request_notes::service_request_id,
                    service_request_notes::body,
                    service_request_notes::id,
                ))
                .load(conn)
                .await?;
            let known: HashMap<String, ServiceRequestRow> =
                known.into_iter().map(|r| (r.upstream_id.clone().unwrap_or_default(), r)).collect();
            let calendar = load_calendar!(conn, &calendar_id);
            // Written together at the end of the page: a statement per table, not per object.
            let mut new_requests: Vec<ServiceRequestRow> = Vec::new();
            let mut new_notes: Vec<NoteRow> = Vec::new();
            let mut page_histories: Vec<HistoryRow> = Vec::new();
            let mut page_events: Vec<NewEventRow> = Vec::new();
            let mut quiet: Vec<String> = Vec::new();
            for r in items {
                let Some(created) = instant(Some(&r.created_date)) else { continue };
                let created = created.min(now);
                let status = up::pc_request_status(&r.status);
                let severity = up::upstream_severity(&r.severity);
                let contact = r.primary_contact.clone().unwrap_or_default();
                let contact_full = contact_name(&contact);
                let mut histories = Vec::new();
                let mut evs = Vec::new();
                let (row, first_seen) = match known.get(&r.id) {
                    Some(row) => (row.clone(), false),
                    None if !create_unknown => {
                        counts.skipped += 1;
                        continue;
                    }
                    None => {
                        let topic_name = r.support_topic_name.clone().unwrap_or_default();
                        let family = up::product_family_of(&topic_name);
                        let kind = up::incident_kind_of_topic(&topic_name);
                        let (route, portal_url) = route_for(family, cloud, None);
                        let language = "en-US".to_owned();
                        let plan = sla::plan(kind, severity, &language, &calendar);
                        let record = SlaRecord::file(plan, &calendar, created, self.sla.warning_percent(severity));
                        let topic_id = r.support_topic_id.as_ref().map(|t| format!("pc-topic-{t}"));
                        let topic_known = match &topic_id {
                            Some(t) => support_topics::table
                                .find(t)
                                .select(support_topics::id)
                                .first::<String>(conn)
                                .await
                                .optional()?
                                .is_some(),
                            None => false,
                        };
                        let fee = if is_billing(kind) { FeeCoverage::NoFee } else { FeeCoverage::CspBenefit };
                        let mut row = ServiceRequestRow {
                            id: new_id(),
                            partner_id: p.clone(),
                            customer_id: None,
                            subscription_id: None,
                            product_family: family.as_str().into(),
                            incident_kind: kind.as_str().into(),
                            business_impact: up::impact_of(severity).as_str().into(),
                            severity: severity.as_str().into(),
                            title: r.title.chars().take(200).collect(),
                            description: r.description.chars().take(20_000).collect(),
                            support_topic_id: topic_id.filter(|_| topic_known),
                            support_plan: SupportPlan::CloudSolutionProvider.as_str().into(),
                            entitlement_ref: None,
                            fee_coverage: fee.as_str().into(),
                            route: route.as_str().into(),
                            portal_url,
                            contact_name: if contact_full.is_empty() {
                                self.partner.support_contact_name.clone()
                            } else {
                                contact_full.clone()
                            },
                            contact_email: contact
                                .email
                                .clone()
                                .unwrap_or_else(|| self.partner.support_contact_email.clone()),
                            contact_phone: contact.phone_number.clone(),
                            support_language: language,
                            status: RequestStatus::New.as_str().into(),
                            calendar_id: calendar_id.clone(),
                            sla_clock: plan.clock.as_str().into(),
                            sla_target_minutes: plan.target.num_minutes(),
                            sla_due_at: record.schedule.due_at.naive_utc(),
                            sla_at_risk_at: record.schedule.at_risk_at.naive_utc(),
                            first_response_at: None,
                            created_by_agent_id: self.agent.id.clone(),
                            created_at: created.naive_utc(),
                            updated_at: now.naive_utc(),
                            closed_at: None,
                            version: 1,
                            sla_state: record.recorded.as_str().into(),
                            sla_stopped_at: None,
                            first_response_source: None,
                            first_response_entered_at: None,
                            first_response_agent_id: None,
                            source: SOURCE.into(),
                            upstream_id: Some(r.id.clone()),
                            synced_at: Some(now.naive_utc()),
                            upstream_state: None,
                            upstream_error: None,
                        };
                        store_sla(&mut row, &record);
                        histories.push(history(
                            &row.id,
                            None,
                            HistoryKind::Created,
                            Some(SOURCE.into()),
                            Some(RequestStatus::New.as_str().into()),
                            created,
                        ));
                        evs.push(event(
                            &p,
                            Some(&row.id),
                            EventKind::Created,
                            json!({ "status": row.status, "severity": row.severity, "slaDueAt": record.schedule.due_at, "actor": ACTOR, "upstreamId": r.id }),
                            now,
                        ));
                        counts.created += 1;
                        (row, true)
                    }
                };
                let mut updated = row.clone();
                let mut record = sla_record(&row)?;
                let mut transitions = Vec::new();
                // Notes not seen before, oldest first; support's first one is its response.
                let mut fresh: Vec<(&pc::Note, String)> = r
                    .notes
                    .iter()
                    .map(|n| (n, note_key(n)))
                    .filter(|(_, key)| !seen_notes.contains(&(row.id.clone(), key.clone())))
                    .collect();
                fresh.sort_by_key(|(n, _)| instant(Some(&n.created_date)));
                for (n, key) in fresh {
                    let at = instant(Some(&n.created_date)).unwrap_or(now).clamp(created, now);
                    let by_partner = n.created_by_name == contact_full
                        || n.created_by_name == "Partner"
                        || partner_names.iter().any(|a| a == &n.created_by_name);
                    let body: String = n.text.chars().take(20_000).collect();
                    if body.trim().is_empty() {
                        continue;
                    }
                    let local =
                        by_partner.then(|| unmatched.iter().position(|(r, b, _)| *r == row.id && *b == body)).flatten();
                    if let Some(i) = local {
                        let (_, _, id) = unmatched.remove(i);
                        diesel::update(service_request_notes::table.find(&id))
                            .set(service_request_notes::upstream_key.eq(Some(&key)))
                            .execute(conn)
                            .await?;
                        note_counts.unchanged += 1;
                        continue;
                    }
                    let note = NoteRow {
                        id: new_id(),
                        service_request_id: row.id.clone(),
                        author_kind: if by_partner { NoteAuthorKind::Partner } else { NoteAuthorKind::Support }
                            .as_str()
                            .into(),
                        agent_id: by_partner.then(|| self.agent.id.clone()),
                        body,
                        created_at: at.naive_utc(),
                        upstream_key: Some(key),
                    };
                    let note_id = note.id.clone();
                    new_notes.push(note);
                    note_counts.created += 1;
                    histories.push(history(&row.id, None, HistoryKind::NoteAdded, None, Some(note_id.clone()), at));
                    evs.push(event(
                        &p,
                        Some(&row.id),
                        EventKind::NoteAdded,
                        json!({ "noteId": note_id, "actor": ACTOR, "by": n.created_by_name }),
                        now,
                    ));
                    if !by_partner && record.first_response_at.is_none() && record.stopped_at.is_none() {
                        // Microsoft's record says when support answered. A request sync meets
                        // for the first time takes that record as it stands; one it already
                        // tracked follows S4 from the moment the answer is read.
                        let entered = if first_seen { at } else { now };
                        if let Ok(t) = record.respond(at, entered) {
                            transitions.extend(t);
                            updated.first_response_source = Some(ResponseSource::Microsoft.as_str().into());
                            updated.first_response_entered_at = Some(now.naive_utc());
                            histories.push(history(
                                &row.id,
                                None,
                                HistoryKind::SupportResponded,
                                Some(ResponseSource::Microsoft.as_str().into()),
                                Some(at.to_rfc3339()),
                                now,
                            ));
                            evs.push(event(
                                &p,
                                Some(&row.id),
                                EventKind::SupportResponded,
                                json!({ "respondedAt": at, "source": "MICROSOFT", "actor": ACTOR }),
                                now,
                            ));
                        }
                    }
                }
                let from: RequestStatus = row.status.parse()?;
                if status != from {
                    let closed_at = match status {
                        RequestStatus::Closed => instant(r.last_closed_date.as_deref()).unwrap_or(now).min(now),
                        _ => now,
                    };
                    updated.status = status.as_str().into();
                    updated.closed_at = (status == RequestStatus::Closed).then(|| closed_at.naive_utc());
                    histories.push(history(
                        &row.id,
                        None,
                        HistoryKind::StatusChanged,
                        Some(from.as_str().into()),
                        Some(status.as_str().into()),
                        if first_seen { closed_at } else { now },
                    ));
                    evs.push(event(
                        &p,
                        Some(&row.id),
                        EventKind::StatusChanged,
                        json!({ "from": from.as_str(), "to": status.as_str(), "actor": ACTOR }),
                        now,
                    ));
                    let at = if first_seen { closed_at } else { now };
                    transitions.extend(if status.is_open() { record.catch_up(at) } else { record.stop(at) });
                }
                transitions.extend(record.catch_up(now));
                store_sla(&mut updated, &record);
                let title: String = r.title.chars().take(200).collect();
                let changed = updated.status != row.status
                    || updated.sla_state != row.sla_state
                    || updated.first_response_at != row.first_response_at
                    || title != row.title
                    || !histories.is_empty();
                if !first_seen {
                    if changed {
                        counts.updated += 1;
                    } else {
                        counts.unchanged += 1;
                    }
                }
                let sla_same = updated.sla_due_at == row.sla_due_at
                    && updated.sla_at_risk_at == row.sla_at_risk_at
                    && updated.sla_stopped_at == row.sla_stopped_at
                    && updated.first_response_source == row.first_response_source;
                if first_seen {
                    updated.title = title;
                    updated.synced_at = Some(now.naive_utc());
                    new_requests.push(updated.clone());
                } else if !changed && transitions.is_empty() && sla_same {
                    quiet.push(row.id.clone());
                } else {
                    diesel::update(service_requests::table.find(&row.id))
                        .set((
                            service_requests::status.eq(&updated.status),
                            service_requests::closed_at.eq(updated.closed_at),
                            service_requests::title.eq(&title),
                            service_requests::synced_at.eq(Some(now.naive_utc())),
                            service_requests::version.eq(row.version + i64::from(changed)),
                            service_requests::updated_at.eq(if changed { now.naive_utc() } else { row.updated_at }),
                        ))
                        .execute(conn)
                        .await?;
                    write_sla!(conn, updated);
                }
                let (h, e) = sla_entries(&updated, None, &transitions, now);
                page_histories.extend(histories);
                page_histories.extend(h);
                page_events.extend(evs);
                page_events.extend(e);
            }
            // Requests before their notes, history and events (the foreign keys point at them).
            conn.insert_many(&new_requests).await?;
            conn.insert_many(&new_notes).await?;
            conn.insert_many(&page_histories).await?;
            conn.insert_many(&page_events).await?;
            if postgres && !page_events.is_empty() {
                // One wake-up for the page: listeners read every event after the last they saw.
                diesel::sql_query(format!("NOTIFY {}", crate::events::CHANNEL)).execute(conn).await?;
            }
            for ids in quiet.chunks(1000) {
                diesel::update(service_requests::table.filter(service_requests::id.eq_any(ids)))
                    .set(service_requests::synced_at.eq(Some(now.naive_utc())))
                    .execute(conn)
                    .await?;
            }
            let seen = counts.seen() as i64;
            match next_cursor {
                Some(next) => {
                    diesel::update(sync_state::table.find((p.as_str(), source, resource)))
                        .set((
                            sync_state::cursor.eq(Some(next)),
                            sync_state::pass_objects.eq(sync_state::pass_objects + seen),
                        ))
                        .execute(conn)
                        .await?;
                }
                None => finish_pass!(conn, p.as_str(), resource, now, seen, source),
            }
            AppResult::Ok((counts, note_counts))
        })
    }
}

/// A support topic as a source gives it.
struct TopicIn {
    id: String,
    family: ProductFamily,
    category: String,
    name: String,
    upstream_id: String,
}

/// What applying a page of service requests needs from its pass.
struct PageContext {
    p: String,
    /// The partner's own calendar: requests first seen here run on it.
    calendar_id: String,
    cloud: Cloud,
    postgres: bool,
    /// The partner's agents' names: their notes are the partner's, not support's.
    partner_names: Vec<String>,
}

fn is_billing(kind: IncidentKind) -> bool {
    matches!(kind, IncidentKind::Billing | IncidentKind::BillingDispute)
}

fn add(total: &mut Counts, page: &Counts) {
    total.created += page.created;
    total.updated += page.updated;
    total.unchanged += page.unchanged;
    total.marked += page.marked;
    total.skipped += page.skipped;
    total.pages += page.pages;
}

impl PartnerCenterSync {
    /// Sync as the app's configuration sets it up, or `None` when no source is configured.
    pub async fn for_app(app: &crate::App) -> AppResult<Option<PartnerCenterSync>> {
        let Some(sources) = &app.config.sources else { return Ok(None) };
        let client = crate::upstream::UpstreamClient::new("Partner Center", sources.partner_center.clone())
            .map_err(AppError::internal)?
            .with_stats(app.metrics.upstream.clone());
        let sync = PartnerCenterSync::new(
            app.db.clone(),
            app.clock.clone(),
            Some(app.events.clone()),
            Arc::new(PartnerCenter { client }),
            &sources.agent,
            app.config.sla,
        )
        .await?;
        let sync = match &sources.azure_support {
            Some(settings) => {
                let client = crate::upstream::UpstreamClient::new("the Azure Support API", settings.clone())
                    .map_err(AppError::internal)?
                    .with_auxiliary_partner_token()
                    .with_stats(app.metrics.upstream.clone());
                sync.with_azure(Arc::new(AzureSupport { client }))
            }
            None => sync,
        };
        let sync = match &sources.graph {
            Some(settings) => {
                let client = crate::upstream::UpstreamClient::new("Microsoft Graph", settings.clone())
                    .map_err(AppError::internal)?
                    .with_stats(app.metrics.upstream.clone());
                sync.with_graph(Arc::new(Graph { client }))
            }
            None => sync,
        };
        Ok(Some(sync))
    }
}

/// Runs a pass every `interval` for the life of the process. A failed pass is logged and
/// recorded in `sync_state`; local reads and writes never wait for it.
/// Every `FULL_EVERY`th pass is a full reconciliation (every customer's subscriptions are read
/// again); the others read only what changes cheaply.
pub fn spawn_schedule(sync: PartnerCenterSync, interval: std::time::Duration) {
    const FULL_EVERY: u64 = 12;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for pass in 0u64.. {
            ticks.tick().await;
            let started = std::time::Instant::now();
            let options = SyncOptions { full: pass % FULL_EVERY == FULL_EVERY - 1, ..SyncOptions::default() };
            match sync.run(&options).await {
                Ok(report) if report.ran => tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    customers = ?report.customers,
                    requests = ?report.requests,
                    "sync pass done"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sync pass failed; the next one resumes where it stopped"),
            }
        }
    });
}
