use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::partner::Contact;
use super::{Agent, Customer, Subscription, SupportTopic, parse, plain_provenance, utc};
use crate::db::models::{HistoryRow, NoteRow, ServiceRequestRow};
use crate::domain::model::{
    BusinessImpact, FeeCoverage, HistoryKind, IncidentKind, NoteAuthorKind, ProductFamily, RequestStatus,
    ResponseSource, RouteKind, Severity, SlaClock, SlaState, SupportPlan,
};
use crate::graphql::connection::{Conn, from_list};
use crate::graphql::ids::{NodeKind, child_raw, encode};
use crate::graphql::joined::{
    Joined, Plain, plain_enum, plain_opt_enum, plain_opt_text, plain_opt_time, plain_text, plain_time, plain_value,
};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{
    AgentKey, CalendarKey, CustomerKey, HistoryOfRequest, NotesOfRequest, SubscriptionKey, TopicKey, load,
};

/// A service request (support ticket) the partner filed on behalf of a customer, or for its
/// own tenant. Visible only to the partner that filed it.
///
/// The second field, when set, is the instant its `sla` is evaluated at (a countdown tick's),
/// instead of the clock's now.
#[derive(Clone)]
pub struct ServiceRequest(pub std::sync::Arc<ServiceRequestRow>, pub Option<DateTime<Utc>>);

impl From<ServiceRequestRow> for ServiceRequest {
    fn from(row: ServiceRequestRow) -> ServiceRequest {
        ServiceRequest(std::sync::Arc::new(row), None)
    }
}

impl From<std::sync::Arc<ServiceRequestRow>> for ServiceRequest {
    fn from(row: std::sync::Arc<ServiceRequestRow>) -> ServiceRequest {
        ServiceRequest(row, None)
    }
}

/// Where a request is worked (R2).
#[derive(SimpleObject)]
pub struct Route {
    /// The portal the request is worked in: the Azure portal for Azure, the Microsoft 365
    /// admin center for the other families.
    pub kind: RouteKind,
    /// The portal in the customer's context, e.g. `https://portal.azure.com/contoso.onmicrosoft.com`.
    pub portal_url: String,
}

impl Plain for Route {}

/// The fields of a service request whose resolvers read only the columns of its summary
/// ([`crate::db::models::ServiceRequestSummaryRow`]): a nested list of requests whose items
/// select no other field reads only those columns. Add a field here only if its resolver
/// reads nothing else of the row;
/// `tests/graph.rs::nested_lists_of_few_fields_read_the_same_values_as_whole_requests`
/// compares every one of them, read through a summary, with the request read whole.
pub const SUMMARY_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "title",
    "productFamily",
    "incidentKind",
    "severity",
    "status",
    "createdAt",
    "updatedAt",
    "version",
    "onPartnerTenant",
    "customer",
    "subscription",
    "notes",
    "history",
];

impl Plain for ServiceRequest {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let r = &*self.0;
        match name {
            "id" => plain_text(encode(NodeKind::ServiceRequest, &r.id).0),
            "title" => plain_text(r.title.as_str()),
            "description" => plain_text(r.description.as_str()),
            "productFamily" => plain_enum::<ProductFamily>(&r.product_family),
            "incidentKind" => plain_enum::<IncidentKind>(&r.incident_kind),
            "businessImpact" => plain_enum::<BusinessImpact>(&r.business_impact),
            "severity" => plain_enum::<Severity>(&r.severity),
            "status" => plain_enum::<RequestStatus>(&r.status),
            "supportPlan" => plain_enum::<SupportPlan>(&r.support_plan),
            "entitlementReference" => plain_opt_text(r.entitlement_ref.as_deref()),
            "feeCoverage" => plain_enum::<FeeCoverage>(&r.fee_coverage),
            "supportLanguage" => plain_text(r.support_language.as_str()),
            "onPartnerTenant" => plain_value(r.customer_id.is_none()),
            "createdAt" => plain_time(r.created_at),
            "updatedAt" => plain_time(r.updated_at),
            "upstreamState" => plain_opt_enum::<crate::domain::upstream::UpstreamState>(r.upstream_state.as_deref()),
            "upstreamError" => plain_opt_text(r.upstream_error.as_deref()),
            "closedAt" => plain_opt_time(r.closed_at),
            "version" => plain_value(r.version as i32),
            _ => plain_provenance(name, &r.source, r.upstream_id.as_deref(), r.synced_at),
        }
    }
}

/// A service request (support ticket) the partner filed with Microsoft on behalf of a customer,
/// or for its own tenant. Only the partner that filed it can see it.
#[Object]
impl ServiceRequest {
    /// The request's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::ServiceRequest, &self.0.id)
    }

    /// A one-line summary of the problem, at most 200 characters.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The problem in detail, as the agent typed it (may hold line breaks; at most 20,000
    /// characters).
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The product family the problem is about; it decides the route (R2).
    async fn product_family(&self) -> Result<ProductFamily> {
        parse(&self.0.product_family)
    }

    /// What kind of problem it is (R1); it decides the SLA target (S1, S3).
    async fn incident_kind(&self) -> Result<IncidentKind> {
        parse(&self.0.incident_kind)
    }

    /// The business impact stated at filing.
    async fn business_impact(&self) -> Result<BusinessImpact> {
        parse(&self.0.business_impact)
    }

    /// Severity, from the business impact (R15) unless changed since.
    async fn severity(&self) -> Result<Severity> {
        parse(&self.0.severity)
    }

    /// Where the request stands in its workflow (`changeServiceRequestStatus`).
    async fn status(&self) -> Result<RequestStatus> {
        parse(&self.0.status)
    }

    /// The support plan the request is filed under (R6, R12).
    async fn support_plan(&self) -> Result<SupportPlan> {
        parse(&self.0.support_plan)
    }

    /// The entitlement reference (e.g. an MPN contract id) for requests about the partner's
    /// own tenant (R12).
    async fn entitlement_reference(&self) -> Option<&str> {
        self.0.entitlement_ref.as_deref()
    }

    /// How the support fee is covered (R13).
    async fn fee_coverage(&self) -> Result<FeeCoverage> {
        parse(&self.0.fee_coverage)
    }

    /// Where the request is worked (R2).
    async fn route(&self) -> Result<Joined<Route>> {
        Ok(Joined(Route { kind: parse(&self.0.route)?, portal_url: self.0.portal_url.clone() }))
    }

    /// The partner's contact for the request (never the customer's, R7).
    async fn contact(&self) -> Joined<Contact> {
        Joined(Contact {
            name: self.0.contact_name.clone(),
            email: self.0.contact_email.clone(),
            phone: self.0.contact_phone.clone(),
        })
    }

    /// Support language (BCP 47). Only English gets around-the-clock response times (S2).
    async fn support_language(&self) -> &str {
        &self.0.support_language
    }

    /// True for a request about the partner's own tenant.
    async fn on_partner_tenant(&self) -> bool {
        self.0.customer_id.is_none()
    }

    /// The customer the request was filed for; null for the partner's own tenant.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Joined<Customer>>> {
        let Some(id) = &self.0.customer_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.customer, CustomerKey(id.clone())).await?.map(|row| Joined(Customer(row))))
    }

    /// The subscription concerned.
    async fn subscription(&self, ctx: &Context<'_>) -> Result<Option<Joined<Subscription>>> {
        let Some(id) = &self.0.subscription_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.subscription, SubscriptionKey(id.clone()))
            .await?
            .map(|row| Joined(Subscription(row))))
    }

    /// The support topic picked at filing (R9).
    async fn support_topic(&self, ctx: &Context<'_>) -> Result<Option<SupportTopic>> {
        let Some(id) = &self.0.support_topic_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.topic, TopicKey(id.clone())).await?.map(SupportTopic))
    }

    /// The agent who filed the request.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<Agent>> {
        Ok(load(&rc(ctx)?.loaders.agent, AgentKey(self.0.created_by_agent_id.clone())).await?.map(Agent))
    }

    /// When the request was filed (for one synced from Microsoft, when it was created there);
    /// the SLA clock starts here.
    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// When the request was last changed (by an agent, sync or filing at Microsoft).
    async fn updated_at(&self) -> DateTime<Utc> {
        utc(self.0.updated_at)
    }
    /// Where the request stands at Microsoft when it is filed there too: `PENDING` until the
    /// outbox has filed it, `FILED` (`upstreamId` is the case number) or `REJECTED`
    /// (`upstreamError` says why). Null for requests that stay here.
    async fn upstream_state(&self) -> Result<Option<crate::domain::upstream::UpstreamState>> {
        self.0.upstream_state.as_deref().map(parse).transpose()
    }

    /// Microsoft's message when it refused the request.
    async fn upstream_error(&self) -> Option<&str> {
        self.0.upstream_error.as_deref()
    }

    /// Where it came from (`source`, `upstreamId`, `syncedAt`).
    #[graphql(flatten)]
    async fn provenance(&self) -> super::Provenance {
        super::Provenance::of(&self.0.source, &self.0.upstream_id, self.0.synced_at)
    }

    /// When the request was closed; null unless `status` is `CLOSED`.
    async fn closed_at(&self) -> Option<DateTime<Utc>> {
        self.0.closed_at.map(utc)
    }

    /// Incremented by every change; send it back as `expectedVersion` to change the request.
    async fn version(&self) -> i32 {
        self.0.version as i32
    }

    /// The initial-response SLA (S1–S5).
    async fn sla(&self) -> Joined<Sla> {
        Joined(Sla(self.0.clone(), self.1))
    }

    /// Notes, oldest first (append-only).
    async fn notes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Conn<Note>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let rows = load(&rc(ctx)?.loaders.notes_of_request, NotesOfRequest(self.0.id.clone())).await?;
        Ok(from_list(&rows, &args, Note))
    }

    /// Every change to the request, oldest first: who did what and when.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Conn<HistoryEntry>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let rows = load(&rc(ctx)?.loaders.history_of_request, HistoryOfRequest(self.0.id.clone())).await?;
        Ok(from_list(&rows, &args, HistoryEntry))
    }
}

/// The initial-response SLA of a request (S4): its due time, what is left, and its state.
pub struct Sla(pub std::sync::Arc<ServiceRequestRow>, pub Option<DateTime<Utc>>);

impl Sla {
    /// The instant this SLA is evaluated at: a countdown tick's, or the clock's now.
    fn now(&self, rc: &crate::graphql::RequestCtx) -> DateTime<Utc> {
        self.1.unwrap_or_else(|| rc.clock.now())
    }

    /// The state and remaining time now, exactly as a countdown tick at this instant shows them.
    async fn view(&self, ctx: &Context<'_>) -> Result<crate::repo::mutations::SlaView> {
        let rc = rc(ctx)?;
        let now = self.now(rc);
        // The calendar counts only working time still ahead of the due time, and is borrowed,
        // not copied (it was cloned for every request of a page).
        let calendar = if crate::repo::mutations::sla_view_needs_calendar(&self.0, now) {
            load(&rc.loaders.calendar, CalendarKey(self.0.calendar_id.clone())).await?
        } else {
            None
        };
        Ok(crate::repo::mutations::sla_view(&self.0, calendar.as_deref().map(|c| &c.calendar), now)?)
    }
}

impl Plain for Sla {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let r = &*self.0;
        match name {
            "clock" => plain_enum::<SlaClock>(&r.sla_clock),
            "targetMinutes" => plain_value(r.sla_target_minutes as i32),
            "dueAt" => plain_time(r.sla_due_at),
            "atRiskAt" => plain_time(r.sla_at_risk_at),
            "firstResponseAt" => plain_opt_time(r.first_response_at),
            "firstResponseSource" => plain_opt_enum::<ResponseSource>(r.first_response_source.as_deref()),
            "firstResponseEnteredAt" => plain_opt_time(r.first_response_entered_at),
            "stoppedAt" => plain_opt_time(r.sla_stopped_at),
            _ => None,
        }
    }
}

/// The initial-response SLA of a request (S1–S5): how its clock runs, the target, due and
/// warning times, support's first response, and the state now.
#[Object]
impl Sla {
    /// Around the clock, or only in the business hours of the request's calendar (S2).
    async fn clock(&self) -> Result<SlaClock> {
        parse(&self.0.sla_clock)
    }

    /// The initial-response target in clock minutes (S1, S3).
    async fn target_minutes(&self) -> i32 {
        self.0.sla_target_minutes as i32
    }

    /// When the first response is due. It is met by a response entered at or before this
    /// instant, and breached from the first moment after it without one.
    async fn due_at(&self) -> DateTime<Utc> {
        utc(self.0.sla_due_at)
    }

    /// When the request enters its warning window and becomes `AT_RISK`.
    async fn at_risk_at(&self) -> DateTime<Utc> {
        utc(self.0.sla_at_risk_at)
    }

    /// When support first responded, as recorded (for a response entered by hand, the time
    /// the agent gave).
    async fn first_response_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_at.map(utc)
    }

    /// Where the record of the first response came from: entered by hand or read from
    /// Microsoft's record of the ticket.
    async fn first_response_source(&self) -> Result<Option<ResponseSource>> {
        self.0.first_response_source.as_deref().map(parse).transpose()
    }

    /// When the first response was entered here.
    async fn first_response_entered_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_response_entered_at.map(utc)
    }

    /// The agent who entered the first response by hand.
    async fn first_response_entered_by(&self, ctx: &Context<'_>) -> Result<Option<Agent>> {
        let Some(id) = &self.0.first_response_agent_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.agent, AgentKey(id.clone())).await?.map(Agent))
    }

    /// When the clock stopped: at support's response, or when the request was resolved or
    /// closed; null while it runs.
    async fn stopped_at(&self) -> Option<DateTime<Utc>> {
        self.0.sla_stopped_at.map(utc)
    }

    /// When the clock ran: from filing until it stopped (support's response, or the request
    /// resolved or closed); while it runs, until the due time (`upcoming` periods are still
    /// ahead), or until now once overdue. On a business-hours clock these are the working
    /// intervals of the request's calendar (S2); their minutes add up to the clock time used.
    /// At most the first 100.
    async fn clock_periods(&self, ctx: &Context<'_>) -> Result<Vec<SlaClockPeriod>> {
        let rc = rc(ctx)?;
        let now = self.now(rc);
        let clock: SlaClock = parse(&self.0.sla_clock)?;
        let start = utc(self.0.created_at);
        let end = match self.0.sla_stopped_at {
            Some(stopped) => utc(stopped),
            None => utc(self.0.sla_due_at).max(now),
        };
        let calendar = match clock {
            SlaClock::BusinessHours => load(&rc.loaders.calendar, CalendarKey(self.0.calendar_id.clone())).await?,
            SlaClock::TwentyFourSeven => None,
        };
        let open = crate::domain::sla::BusinessCalendar::always_open();
        let calendar = calendar.as_deref().map_or(&open, |c| &c.calendar);
        Ok(crate::domain::sla::clock_periods(clock, calendar, start, end)
            .into_iter()
            .take(100)
            .map(|(from, to)| SlaClockPeriod {
                from,
                to,
                minutes: (to - from).num_seconds() as f64 / 60.0,
                upcoming: from > now,
            })
            .collect())
    }

    /// The state now: `ON_TRACK`, `AT_RISK`, `BREACHED`, `MET` or `STOPPED`. `BREACHED`,
    /// `MET` and `STOPPED` are final.
    async fn state(&self, ctx: &Context<'_>) -> Result<SlaState> {
        Ok(self.view(ctx).await?.state)
    }

    /// Clock seconds left until the due time (working seconds on a business-hours clock);
    /// negative once overdue; frozen when the clock stopped.
    async fn remaining_seconds(&self, ctx: &Context<'_>) -> Result<i32> {
        Ok(self.view(ctx).await?.remaining_seconds)
    }
}

/// An interval in which a request's initial-response clock ran (or will run).
#[derive(SimpleObject)]
pub struct SlaClockPeriod {
    /// When the interval starts.
    from: DateTime<Utc>,
    /// When the interval ends.
    to: DateTime<Utc>,
    /// The interval's length in minutes (fractional).
    minutes: f64,
    /// Still ahead: the clock runs then unless support responds first.
    upcoming: bool,
}

/// A note on a request, by a partner agent or by support.
#[derive(Clone)]
pub struct Note(pub NoteRow);

impl Plain for Note {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let n = &self.0;
        match name {
            "id" => plain_text(encode(NodeKind::Note, &child_raw(&n.service_request_id, &n.id)).0),
            "body" => plain_text(n.body.as_str()),
            "authorKind" => plain_enum::<NoteAuthorKind>(&n.author_kind),
            "createdAt" => plain_time(n.created_at),
            _ => None,
        }
    }
}

/// A note on a request, written by a partner agent or by Microsoft support. Notes are never
/// edited or removed.
#[Object]
impl Note {
    /// The note's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Note, &child_raw(&self.0.service_request_id, &self.0.id))
    }

    /// The note's text, as written (may hold line breaks).
    async fn body(&self) -> &str {
        &self.0.body
    }

    /// Whether a partner agent or Microsoft support wrote it.
    async fn author_kind(&self) -> Result<NoteAuthorKind> {
        parse(&self.0.author_kind)
    }

    /// The partner agent who wrote it; null for support's notes.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<Joined<Agent>>> {
        let Some(id) = &self.0.agent_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.agent, AgentKey(id.clone())).await?.map(|row| Joined(Agent(row))))
    }

    /// When the note was written (for a note synced from Microsoft, its time there).
    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }
}

/// One change to a request.
#[derive(Clone)]
pub struct HistoryEntry(pub HistoryRow);

impl Plain for HistoryEntry {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let h = &self.0;
        match name {
            "id" => plain_text(encode(NodeKind::HistoryEntry, &child_raw(&h.service_request_id, &h.id)).0),
            "kind" => plain_enum::<HistoryKind>(&h.kind),
            "fromValue" => plain_opt_text(h.from_value.as_deref()),
            "toValue" => plain_opt_text(h.to_value.as_deref()),
            "createdAt" => plain_time(h.created_at),
            _ => None,
        }
    }
}

/// One change to a request: what changed, from what to what, who changed it and when.
#[Object]
impl HistoryEntry {
    /// The entry's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::HistoryEntry, &child_raw(&self.0.service_request_id, &self.0.id))
    }

    /// What changed; it decides what `fromValue` and `toValue` hold.
    async fn kind(&self) -> Result<HistoryKind> {
        parse(&self.0.kind)
    }

    /// The value before the change (e.g. the old status), where there was one.
    async fn from_value(&self) -> Option<&str> {
        self.0.from_value.as_deref()
    }

    /// The value after the change.
    async fn to_value(&self) -> Option<&str> {
        self.0.to_value.as_deref()
    }

    /// The partner agent who made the change; null for support and the SLA clock.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<Agent>> {
        let Some(id) = &self.0.agent_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.agent, AgentKey(id.clone())).await?.map(Agent))
    }

    /// When the change happened (for an SLA state change, the instant the state changed).
    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }
}
