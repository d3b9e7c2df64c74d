//! The query root: each resolver validates its arguments and delegates.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};

use super::connection::{Conn, from_page, item_columns};
use super::ids::{NodeKind, decode, decode_as, split_child};
use super::rc;
use super::types::*;
use crate::domain::model::{
    Cloud, CustomerRelationship, IncidentKind, ProductFamily, RequestStatus, Severity, SlaState,
};
use crate::error::AppError;
use crate::paging::PageArgs;
use crate::repo::loaders::*;
use crate::repo::pages::{CustomerFilter as RepoCustomerFilter, RequestFilter, RequestOrder};

/// The most ids `nodes(ids:)` takes at once.
const MAX_NODES: usize = 100;

pub struct Query;

/// Filters of `customers`.
#[derive(InputObject, Default)]
pub struct CustomerFilter {
    /// Only customers with one of these relationships.
    pub relationship: Option<Vec<CustomerRelationship>>,
    /// Only customers whose tenant is in this cloud.
    pub cloud: Option<Cloud>,
    /// Only customers for which the partner does (or does not) hold delegated admin privileges.
    pub delegated_admin_privileges: Option<bool>,
    /// ISO 3166 country code.
    pub country: Option<String>,
}

/// Filters of `serviceRequests`; all given filters must hold.
#[derive(InputObject, Default)]
pub struct ServiceRequestFilter {
    /// Only these requests (their global ids).
    pub ids: Option<Vec<ID>>,
    /// Only requests in one of these statuses.
    pub status: Option<Vec<RequestStatus>>,
    /// Only requests of one of these severities.
    pub severity: Option<Vec<Severity>>,
    /// Only requests of one of these incident kinds.
    pub incident_kind: Option<Vec<IncidentKind>>,
    /// Only requests of one of these product families.
    pub product_family: Option<Vec<ProductFamily>>,
    /// Customer ids: only requests filed for these customers (never the partner's own tenant).
    pub customer: Option<Vec<ID>>,
    /// Agent ids: only requests these agents filed.
    pub created_by: Option<Vec<ID>>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// The SLA state now.
    pub sla_state: Option<SlaState>,
    /// `true`: only requests whose initial-response clock still runs (unanswered, not resolved
    /// or closed; overdue ones included); `false`: only those whose clock stopped.
    pub sla_clock_running: Option<bool>,
}

/// What `serviceRequests` is ordered by; requests with the same value are ordered by id.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum ServiceRequestOrderField {
    /// The instant the request was filed (the default).
    #[default]
    CreatedAt,
    /// The SLA due time.
    DueAt,
}

/// The direction of an order.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum OrderDirection {
    /// Ascending: the earliest instant first.
    Asc,
    /// Descending: the latest instant first (the default).
    #[default]
    Desc,
}

/// How `serviceRequests` is ordered.
#[derive(InputObject, Default)]
pub struct ServiceRequestOrder {
    /// What to order by; `CREATED_AT` when omitted.
    #[graphql(default)]
    pub field: ServiceRequestOrderField,
    /// Ascending or descending; `DESC` when omitted.
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Turns global ids of one kind into raw ids; any other id is refused.
fn raw_ids(kind: NodeKind, ids: &[ID]) -> Result<Vec<String>> {
    Ok(ids.iter().map(|id| decode_as(kind, id)).collect::<Result<_, AppError>>()?)
}

fn texts<T: Copy>(values: &Option<Vec<T>>, as_str: fn(T) -> &'static str) -> Option<Vec<String>> {
    values.as_ref().map(|v| v.iter().map(|x| as_str(*x).to_owned()).collect())
}

/// The entry points for reading. Everything is scoped to the caller's partner: another
/// partner's objects are never returned (`node` answers null for them).
#[Object]
impl Query {
    /// The signed-in agent and its partner.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let rc = rc(ctx)?;
        let agent = load(&rc.loaders.agent, AgentKey(rc.caller.agent_id.clone())).await?;
        let partner = load(&rc.loaders.partner, PartnerKey(rc.caller.partner_id.clone())).await?;
        match (agent, partner) {
            (Some(a), Some(p)) => Ok(Viewer { agent: Agent(a), partner: Partner(p) }),
            _ => Err(AppError::Unauthenticated("the agent no longer exists".into()).into()),
        }
    }

    /// Any object by its global id; null when it does not exist or is not visible to the caller.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A global id, as an object's `id` field returns it.")] id: ID,
    ) -> Result<Option<Node>> {
        let Some((kind, raw)) = decode(&id) else {
            return Err(AppError::bad_input("`id` is not a valid global id").into());
        };
        fetch_node(ctx, kind, raw).await
    }

    /// Many objects by global id, in the order asked (null where not visible); at most 100. An id
    /// that is not valid is null at its position, with an error whose `path` points there.
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global ids, at most 100; the answer has one entry per id, in this order.")] ids: Vec<ID>,
    ) -> Result<Vec<NodeEntry>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::bad_input(format!("`ids` takes at most {MAX_NODES} ids")).into());
        }
        let fetches = ids.iter().map(|id| async move {
            match decode(id) {
                Some((kind, raw)) => fetch_node(ctx, kind, raw).await,
                None => Err(AppError::bad_input(format!("`{}` is not a valid global id", id.as_str())).into()),
            }
        });
        Ok(futures_util::future::join_all(fetches).await.into_iter().map(NodeEntry).collect())
    }

    /// Customers the partner serves, by company name. `search` matches anywhere in the
    /// company name or at the start of any of the customer's domains, ignoring case.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Text to find, ignoring case; at most 200 characters.")] search: Option<String>,
        #[graphql(desc = "Only customers matching every filter given.")] filter: Option<CustomerFilter>,
    ) -> Result<Conn<Customer>> {
        let rc = rc(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        let search = search_text("search", search)?;
        let f = filter.unwrap_or_default();
        let country = search_text("filter.country", f.country.clone())?;
        let repo_filter = RepoCustomerFilter {
            search,
            relationships: texts(&f.relationship, CustomerRelationship::as_str),
            cloud: f.cloud.map(|c| c.as_str().to_owned()),
            delegated_admin: f.delegated_admin_privileges,
            country: country.map(|c| c.to_uppercase()),
        };
        let columns = item_columns(ctx.field(), CUSTOMER_SUMMARY_FIELDS);
        let page = rc.repo.customer_page(&repo_filter, &args, columns).await?;
        Ok(from_page(page, Customer::from))
    }

    /// Service requests the partner filed, newest first unless ordered otherwise.
    async fn service_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Only requests matching every filter given.")] filter: Option<ServiceRequestFilter>,
        #[graphql(desc = "The order; newest filed first when omitted.")] order_by: Option<ServiceRequestOrder>,
    ) -> Result<Conn<ServiceRequest>> {
        let rc = rc(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        let f = filter.unwrap_or_default();
        let repo_filter = RequestFilter {
            ids: f.ids.as_deref().map(|ids| raw_ids(NodeKind::ServiceRequest, ids)).transpose()?,
            statuses: texts(&f.status, RequestStatus::as_str),
            severities: texts(&f.severity, Severity::as_str),
            incident_kinds: texts(&f.incident_kind, IncidentKind::as_str),
            product_families: texts(&f.product_family, ProductFamily::as_str),
            customer_ids: f.customer.as_deref().map(|ids| raw_ids(NodeKind::Customer, ids)).transpose()?,
            created_by: f.created_by.as_deref().map(|ids| raw_ids(NodeKind::Agent, ids)).transpose()?,
            created_from: f.created_after.map(|t| t.naive_utc()),
            created_before: f.created_before.map(|t| t.naive_utc()),
            sla_state: f.sla_state,
            running_clock: f.sla_clock_running,
        };
        let order = order_by.unwrap_or_default();
        let order = match (order.field, order.direction) {
            (ServiceRequestOrderField::CreatedAt, OrderDirection::Asc) => RequestOrder::CreatedAsc,
            (ServiceRequestOrderField::CreatedAt, OrderDirection::Desc) => RequestOrder::CreatedDesc,
            (ServiceRequestOrderField::DueAt, OrderDirection::Asc) => RequestOrder::DueAsc,
            (ServiceRequestOrderField::DueAt, OrderDirection::Desc) => RequestOrder::DueDesc,
        };
        let page = rc.repo.request_page(&repo_filter, order, rc.now.naive_utc(), &args).await?;
        Ok(from_page(page, ServiceRequest::from))
    }

    /// The commercial-marketplace catalogue and the partner's own products, by name; `search`
    /// matches name or publisher.
    async fn marketplace_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Text to find in the name or publisher, ignoring case: at most 200 characters.")]
        search: Option<String>,
    ) -> Result<Conn<MarketplaceProduct>> {
        let rc = rc(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        let search = search_text("search", search)?;
        let page = rc.repo.product_page(search.as_deref(), &args).await?;
        Ok(from_page(page, MarketplaceProduct))
    }

    /// The support topics to choose from when filing a request of a product family (R9), by
    /// category and name.
    async fn support_topics(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The product family of the request being filed.")] product_family: ProductFamily,
    ) -> Result<Vec<SupportTopic>> {
        let rows = rc(ctx)?.repo.topics_for_family(product_family.as_str()).await?;
        Ok(rows.into_iter().map(SupportTopic).collect())
    }

    /// Would a request be accepted? Every rule that would block it, where it would be routed,
    /// and what the form still needs. Omit `customerId` for the partner's own tenant. It reads
    /// the same facts and applies the same rules as `createServiceRequest`: with every field
    /// given, it is eligible exactly when filing would be accepted.
    async fn support_eligibility(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer the request would be for; omit it for the partner's own tenant.")]
        customer_id: Option<ID>,
        #[graphql(desc = "The request's product family.")] product_family: ProductFamily,
        #[graphql(desc = "The subscription concerned (needed for Azure without delegated admin, R8).")]
        subscription_id: Option<ID>,
        #[graphql(desc = "A marketplace product the problem is about: such requests are refused (R10).")]
        marketplace_product_id: Option<ID>,
        #[graphql(
            default_with = "crate::domain::model::IncidentKind::TechnicalBreakFix",
            desc = "What kind of problem it is (R1)."
        )]
        incident_kind: crate::domain::model::IncidentKind,
        #[graphql(
            default_with = "crate::domain::model::BusinessImpact::Moderate",
            desc = "The business impact the agent would state; it sets the severity (R15)."
        )]
        business_impact: crate::domain::model::BusinessImpact,
        #[graphql(desc = "The support topic picked (R9).")] support_topic_id: Option<ID>,
        #[graphql(desc = "The contact's e-mail; omitted, the filing agent is the contact (R7).")] contact_email: Option<
            String,
        >,
        #[graphql(default, desc = "How it would be filed; `PHONE` is always refused (R14).")]
        channel: crate::domain::policy::FilingChannel,
        #[graphql(desc = "The entitlement named for a request about the partner's own tenant (R12).")]
        entitlement: Option<super::mutation::EntitlementInput>,
    ) -> Result<super::eligibility::SupportEligibility> {
        let draft = super::eligibility::DraftInput {
            customer_id,
            product_family,
            subscription_id,
            marketplace_product_id,
            incident_kind,
            business_impact,
            support_topic_id,
            contact_email,
            channel,
            entitlement,
        };
        super::eligibility::support_eligibility(ctx, draft).await
    }

    /// Where sync with Microsoft stands for your partner, per source and resource: the pass
    /// under way (where it will resume), the last finished one, and the last error. Admin agents
    /// and global admins only (`FORBIDDEN`, rule `ACCESS`).
    async fn sync_status(&self, ctx: &Context<'_>) -> Result<Vec<SyncStatus>> {
        let rc = rc(ctx)?;
        crate::domain::workflow::may_see_sync_status(rc.caller.role).map_err(|r| AppError::PolicyRefused(vec![*r]))?;
        Ok(rc.repo.sync_states().await?.into_iter().map(SyncStatus::from).collect())
    }

    /// Every change to what your partner maintains itself (agents, domains, agreements,
    /// products, calendars, imports), newest first. Admin agents and global admins only.
    async fn admin_changes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Only changes about this kind of object (agents, domains, products …); all when omitted.")]
        subject: Option<crate::domain::admin::AdminSubject>,
    ) -> Result<Conn<super::types::AdminChange>> {
        let rc = rc(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        let page = rc.repo.admin_changes(&rc.caller, subject, &args).await?;
        let rows = page.rows.into_iter().map(super::types::AdminChange::try_from).collect::<Result<Vec<_>, _>>()?;
        Ok(from_page(crate::repo::pages::Page { rows, start: page.start, total: page.total }, |c| c))
    }

    /// The partner's SLA figures for the requests created in `[from, to)`: met and breached
    /// counts and rates, and the median and 90th percentile of the time to first response,
    /// overall and by customer, severity, product family, language and `period`. Each part is
    /// computed in the database when selected.
    async fn sla_report(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Start of the range, inclusive: requests created at or after this instant count.")]
        from: DateTime<Utc>,
        #[graphql(desc = "End of the range, exclusive; must be after `from`.")] to: DateTime<Utc>,
        #[graphql(default, desc = "The length of the periods of `byPeriod`; the range may hold at most 1,000.")]
        period: super::reports::ReportPeriod,
    ) -> Result<super::reports::SlaReport> {
        rc(ctx)?;
        Ok(super::reports::SlaReport::new(from, to, period)?)
    }

    /// Your partner's webhook endpoints, oldest first, with their delivery logs (admins).
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<super::webhooks::WebhookEndpoint>> {
        let rc = rc(ctx)?;
        Ok(rc.repo.webhook_endpoints(&rc.caller).await?.into_iter().map(super::webhooks::WebhookEndpoint).collect())
    }

    /// Every business calendar (S5), by name.
    async fn business_calendars(&self, ctx: &Context<'_>) -> Result<Vec<BusinessCalendar>> {
        let rc = rc(ctx)?;
        let ids = rc.repo.all_calendar_ids().await?;
        let loads = ids.into_iter().map(|id| load(&rc.loaders.calendar, CalendarKey(id)));
        let found = futures_util::future::try_join_all(loads).await?;
        Ok(found.into_iter().flatten().map(BusinessCalendar).collect())
    }
}

/// Loads one node through the loader of its kind, so `nodes` batches per kind.
/// One position of `nodes`: the object (or null where it is not visible), or null and an error
/// at this position, so that one bad id does not null the whole list.
pub struct NodeEntry(Result<Option<Node>>);

impl async_graphql::OutputType for NodeEntry {
    fn type_name() -> std::borrow::Cow<'static, str> {
        <Node as async_graphql::OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Option<Node> as async_graphql::OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        <Option<Node> as async_graphql::OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        match &self.0 {
            Ok(node) => node.resolve(ctx, field).await,
            Err(e) => {
                ctx.add_error(ctx.set_error_path(e.clone().into_server_error(field.pos)));
                Ok(async_graphql::Value::Null)
            }
        }
    }
}

async fn fetch_node(ctx: &Context<'_>, kind: NodeKind, raw: String) -> Result<Option<Node>> {
    let l = &rc(ctx)?.loaders;
    Ok(match kind {
        NodeKind::Customer => load(&l.customer, CustomerKey(raw)).await?.map(|r| Node::Customer(Customer(r))),
        NodeKind::Subscription => {
            load(&l.subscription, SubscriptionKey(raw)).await?.map(|r| Node::Subscription(Subscription(r)))
        }
        NodeKind::ServiceRequest => {
            load(&l.request, RequestKey(raw)).await?.map(|r| Node::ServiceRequest(ServiceRequest::from(r)))
        }
        NodeKind::MarketplaceProduct => {
            load(&l.product, ProductKey(raw)).await?.map(|r| Node::MarketplaceProduct(MarketplaceProduct(r)))
        }
        NodeKind::SupportTopic => load(&l.topic, TopicKey(raw)).await?.map(|r| Node::SupportTopic(SupportTopic(r))),
        NodeKind::Agent => load(&l.agent, AgentKey(raw)).await?.map(|r| Node::Agent(Agent(r))),
        NodeKind::Partner => load(&l.partner, PartnerKey(raw)).await?.map(|r| Node::Partner(Partner(r))),
        NodeKind::BusinessCalendar => {
            load(&l.calendar, CalendarKey(raw)).await?.map(|r| Node::BusinessCalendar(BusinessCalendar(r)))
        }
        // Notes and history entries are found in their request's list, which the request's
        // batched loaders bring (scoped to the partner through the request).
        NodeKind::Note => {
            let Some((request, item)) = split_child(&raw) else { return Ok(None) };
            let notes = load(&l.notes_of_request, NotesOfRequest(request.to_owned())).await?;
            notes.iter().find(|n| n.id == item).map(|n| Node::Note(Note(n.clone())))
        }
        NodeKind::HistoryEntry => {
            let Some((request, item)) = split_child(&raw) else { return Ok(None) };
            let entries = load(&l.history_of_request, HistoryOfRequest(request.to_owned())).await?;
            entries.iter().find(|h| h.id == item).map(|h| Node::HistoryEntry(HistoryEntry(h.clone())))
        }
        NodeKind::AdminChange => {
            // Visible to those who may read the history (`adminChanges`), as nothing otherwise.
            if crate::domain::admin::may_manage_products(rc(ctx)?.caller.role).is_err() {
                return Ok(None);
            }
            let row = load(&l.admin_change, AdminChangeKey(raw)).await?;
            row.map(AdminChange::try_from).transpose()?.map(Node::AdminChange)
        }
    })
}

/// A search or filter string: at most 200 characters and no control characters (PostgreSQL
/// cannot even compare text with a NUL byte in it).
fn search_text(field: &str, value: Option<String>) -> Result<Option<String>, AppError> {
    match value {
        Some(v) if v.chars().count() > 200 => Err(AppError::bad_input(format!("`{field}` is at most 200 characters"))),
        Some(v) if v.chars().any(char::is_control) => {
            Err(AppError::bad_input(format!("`{field}` contains control characters")))
        }
        other => Ok(other),
    }
}
