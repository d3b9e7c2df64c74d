//! The subscription root: live ticket changes, SLA countdowns and SLA alerts, all scoped to
//! the caller's partner like queries.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{
    ComplexObject, Context, ID, InputObject, Object, Result, SimpleObject, Subscription as GqlSubscription,
};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::ids::{NodeKind, decode_as, encode};
use super::rc;
use super::types::{Agent, ServiceRequest};
use crate::db::models::ServiceRequestRow;
use crate::domain::model::{EventKind, ProductFamily, RequestStatus, Severity, SlaClock, SlaState};
use crate::error::AppError;
use crate::events::Event;
use crate::repo::loaders::{AgentKey, load};

/// The most requests one countdown follows.
const MAX_COUNTDOWN_REQUESTS: usize = 100;
/// Countdown interval bounds: a second is the finest a display needs; an hour the coarsest
/// worth a subscription.
const MIN_INTERVAL_SECONDS: i32 = 1;
const MAX_INTERVAL_SECONDS: i32 = 3600;

pub struct Subscription;

/// Which requests' events to receive; all given filters must hold.
#[derive(InputObject, Default, Clone)]
pub struct ServiceRequestEventFilter {
    /// Only these requests (their global ids).
    pub ids: Option<Vec<ID>>,
    /// Customer ids: only requests filed for these customers (never the partner's own tenant).
    pub customer: Option<Vec<ID>>,
    /// Only requests whose status, after the change, is one of these.
    pub status: Option<Vec<RequestStatus>>,
    /// Only requests whose severity, after the change, is one of these.
    pub severity: Option<Vec<Severity>>,
    /// Only requests of one of these product families.
    pub product_family: Option<Vec<ProductFamily>>,
    /// Agent ids: only requests these agents filed.
    pub created_by: Option<Vec<ID>>,
}

/// A filter with raw ids, checked against each event's request.
#[derive(Clone, Default)]
struct Matcher {
    partner_id: String,
    ids: Option<Vec<String>>,
    customers: Option<Vec<String>>,
    statuses: Option<Vec<RequestStatus>>,
    severities: Option<Vec<Severity>>,
    families: Option<Vec<ProductFamily>>,
    agents: Option<Vec<String>>,
}

impl Matcher {
    fn new(partner_id: &str, filter: Option<ServiceRequestEventFilter>) -> Result<Matcher, AppError> {
        let f = filter.unwrap_or_default();
        let raw = |kind: NodeKind, ids: Option<Vec<ID>>| -> Result<Option<Vec<String>>, AppError> {
            ids.map(|v| v.iter().map(|id| decode_as(kind, id)).collect()).transpose()
        };
        Ok(Matcher {
            partner_id: partner_id.to_owned(),
            ids: raw(NodeKind::ServiceRequest, f.ids)?,
            customers: raw(NodeKind::Customer, f.customer)?,
            statuses: f.status,
            severities: f.severity,
            families: f.product_family,
            agents: raw(NodeKind::Agent, f.created_by)?,
        })
    }

    /// The partner check comes first and always applies: another partner's events never match.
    fn matches(&self, row: &ServiceRequestRow) -> bool {
        row.partner_id == self.partner_id
            && self.ids.as_ref().is_none_or(|v| v.contains(&row.id))
            && self.customers.as_ref().is_none_or(|v| row.customer_id.as_ref().is_some_and(|c| v.contains(c)))
            && self.statuses.as_ref().is_none_or(|v| v.iter().any(|s| s.as_str() == row.status))
            && self.severities.as_ref().is_none_or(|v| v.iter().any(|s| s.as_str() == row.severity))
            && self.families.as_ref().is_none_or(|v| v.iter().any(|s| s.as_str() == row.product_family))
            && self.agents.as_ref().is_none_or(|v| v.contains(&row.created_by_agent_id))
    }
}

/// One change to a request, with the request's state after it.
pub struct ServiceRequestEvent {
    event: Arc<Event>,
}

/// One committed change to one of the partner's requests, with the request as it is after it.
#[Object]
impl ServiceRequestEvent {
    /// The event's position in the partner's event log.
    async fn event_id(&self) -> ID {
        ID(self.event.id.to_string())
    }

    /// What changed.
    async fn kind(&self) -> EventKind {
        self.event.kind
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.event.created_at
    }

    /// The agent who did it; null for support and the SLA clock.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<Agent>> {
        let Some(agent) = self.event.payload.get("actor").and_then(|v| v.as_str()) else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.agent, AgentKey(agent.to_owned())).await?.map(Agent))
    }

    /// The value before the change: a status, severity or SLA state, or for `SLA_DUE_CHANGED`
    /// the former due time (RFC 3339); null for the other kinds.
    async fn from_value(&self) -> Option<String> {
        self.event.payload.get("from").and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// The value after the change, in the same form as `fromValue`; null for the other kinds.
    async fn to_value(&self) -> Option<String> {
        self.event.payload.get("to").and_then(|v| v.as_str()).map(str::to_owned)
    }

    /// The request as it is after the change.
    async fn service_request(&self) -> Option<ServiceRequest> {
        self.event.request.clone().map(ServiceRequest::from)
    }
}

/// A request's SLA changed state (S4).
#[derive(SimpleObject)]
pub struct SlaAlert {
    /// The new state: `AT_RISK`, `BREACHED`, `MET` or `STOPPED` (never `ON_TRACK`).
    pub state: SlaState,
    /// The state before; null if the event did not record it.
    pub previous_state: Option<SlaState>,
    /// The instant the state changed (e.g. the due time for a breach), not when it was noticed.
    pub at: DateTime<Utc>,
    /// The request as it is after the change.
    pub service_request: ServiceRequest,
}

/// One countdown line.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct SlaCountdownItem {
    /// The request's global id.
    pub service_request_id: ID,
    /// The request's title.
    pub title: String,
    /// The SLA state at the tick's instant.
    pub state: SlaState,
    /// When support's first response is due.
    pub due_at: DateTime<Utc>,
    /// Clock seconds left (working seconds on a business-hours clock); negative once overdue.
    pub remaining_seconds: i32,
    #[graphql(skip)]
    pub request: Arc<ServiceRequestRow>,
    #[graphql(skip)]
    pub at: DateTime<Utc>,
}

#[ComplexObject]
impl SlaCountdownItem {
    /// The request itself, as the countdown holds it at this tick (kept current by its
    /// events, so selecting it costs no query), with its `sla` evaluated at the tick's
    /// instant: a client cache can update the request from every tick.
    async fn service_request(&self) -> ServiceRequest {
        ServiceRequest(self.request.clone(), Some(self.at))
    }
}

/// The countdown of every followed request at one instant.
#[derive(SimpleObject)]
pub struct SlaCountdown {
    /// The tick's instant: every line is evaluated at it.
    pub at: DateTime<Utc>,
    /// One line per followed open request: in the order of `ids`, or soonest due first.
    pub items: Vec<SlaCountdownItem>,
}

/// Events for this subscriber: its partner's, matching its filter. A subscriber that falls
/// more than the bus's capacity behind gets an error and its subscription ends.
fn matching_events(ctx: &Context<'_>, matcher: Matcher) -> Result<impl Stream<Item = Result<Arc<Event>>> + use<>> {
    let bus = rc(ctx)?.events.clone();
    let loaders = rc(ctx)?.loaders.clone();
    let rx = bus.subscribe();
    Ok(futures_util::stream::unfold((rx, matcher, false), move |(mut rx, matcher, done)| {
        let (bus, loaders) = (bus.clone(), loaders.clone());
        async move {
            if done {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if event.request.as_ref().is_some_and(|r| matcher.matches(r)) {
                            bus.stats().delivered.inc();
                            loaders.forget();
                            return Some((Ok(event), (rx, matcher, false)));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        bus.stats().dropped.inc_by(missed);
                        tracing::warn!(events.missed = missed, "subscriber fell behind; ending its subscription");
                        let e: async_graphql::Error =
                            AppError::Unavailable(format!("subscriber fell {missed} events behind")).into();
                        let e = e.extend_with(|_, ext| ext.set("code", "SLOW_CONSUMER"));
                        return Some((Err(e), (rx, matcher, true)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    }))
}

use async_graphql::ErrorExtensions as _;

/// The subscription root, named apart from the `Subscription` type (a customer's subscription).
#[GqlSubscription(name = "SubscriptionRoot")]
impl Subscription {
    /// Every change to the partner's matching requests: created, status or severity changed,
    /// note added, support responded, SLA state changed.
    async fn service_request_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only events about requests matching every filter given; all requests when omitted.")]
        filter: Option<ServiceRequestEventFilter>,
    ) -> Result<impl Stream<Item = Result<ServiceRequestEvent>> + use<>> {
        let matcher = Matcher::new(&rc(ctx)?.caller.partner_id, filter)?;
        let stream = matching_events(ctx, matcher)?;
        Ok(futures_util::StreamExt::filter_map(stream, |item| async move {
            match item {
                Ok(event) => event.kind.is_about_a_request().then(|| Ok(ServiceRequestEvent { event })),
                Err(e) => Some(Err(e)),
            }
        }))
    }

    /// Pushed when a matching request becomes `AT_RISK`, `BREACHED`, `MET` or `STOPPED`;
    /// `at` is the instant the state changed.
    async fn sla_alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only alerts about requests matching every filter given; all requests when omitted.")]
        filter: Option<ServiceRequestEventFilter>,
    ) -> Result<impl Stream<Item = Result<SlaAlert>> + use<>> {
        let matcher = Matcher::new(&rc(ctx)?.caller.partner_id, filter)?;
        let stream = matching_events(ctx, matcher)?;
        Ok(futures_util::StreamExt::filter_map(stream, |item| async move {
            let event = match item {
                Ok(event) => event,
                Err(e) => return Some(Err(e)),
            };
            if event.kind != EventKind::SlaStateChanged {
                return None;
            }
            let state: SlaState = event.payload.get("to")?.as_str()?.parse().ok()?;
            if state == SlaState::OnTrack {
                return None;
            }
            let previous_state = event.payload.get("from").and_then(|v| v.as_str()).and_then(|s| s.parse().ok());
            let at = event.payload.get("at").and_then(|v| serde_json::from_value(v.clone()).ok());
            Some(Ok(SlaAlert {
                state,
                previous_state,
                at: at.unwrap_or(event.created_at),
                service_request: ServiceRequest::from(event.request.clone()?),
            }))
        }))
    }

    /// The remaining time and state of each followed request, pushed every `intervalSeconds`
    /// (1 to 3600) and at once on every change; each line equals what a query for the request
    /// returns at the tick's instant. Follow requests by `ids` (open ones, as given), or by
    /// `filter`: the 100 matching requests whose clock runs (unanswered, not resolved or
    /// closed, overdue included), soonest due first, joined by new ones as they come and left
    /// by those whose clock stops. Ticks are computed in memory: they cost no database query.
    async fn sla_countdown(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "1 to 100 request ids to follow; give either `ids` or `filter`.")] ids: Option<Vec<ID>>,
        #[graphql(desc = "Follow the running clocks of the requests matching every filter given instead.")]
        filter: Option<ServiceRequestEventFilter>,
        #[graphql(default = 1, desc = "Seconds between ticks: 1 to 3600.")] interval_seconds: i32,
    ) -> Result<impl Stream<Item = SlaCountdown> + use<>> {
        let rc = rc(ctx)?;
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&interval_seconds) {
            return Err(AppError::bad_input(format!(
                "`intervalSeconds` must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}"
            ))
            .into());
        }
        let mode = match (ids, filter) {
            (Some(ids), None) if !ids.is_empty() && ids.len() <= MAX_COUNTDOWN_REQUESTS => {
                let raw = ids
                    .iter()
                    .map(|id| decode_as(NodeKind::ServiceRequest, id))
                    .collect::<Result<Vec<_>, AppError>>()?;
                Mode::Ids(raw)
            }
            (None, Some(f)) => Mode::Filter(Matcher::new(&rc.caller.partner_id, Some(f))?),
            _ => {
                return Err(AppError::bad_input(format!(
                    "give either `ids` (1 to {MAX_COUNTDOWN_REQUESTS}) or `filter`"
                ))
                .into());
            }
        };
        let mut state = Countdown {
            followed: HashMap::new(),
            calendars: HashMap::new(),
            order: Vec::new(),
            mode,
            complete: true,
            repo: rc.repo.clone(),
            events: rc.events.subscribe(),
            clock: rc.clock.clone(),
            interval: Duration::from_secs(interval_seconds as u64),
            first: true,
            loaders: rc.loaders.clone(),
        };
        state.load().await?;
        Ok(futures_util::stream::unfold(state, |mut st| async move {
            if !st.first {
                // Wait for the next tick, or a change to a followed request (pushed at once).
                let deadline = tokio::time::Instant::now() + st.interval;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => break,
                        received = st.events.recv() => match received {
                            Ok(event) => {
                                // Only the partner's own calendars can change (built-in ones are read-only).
                                if event.kind == EventKind::CalendarChanged && event.partner_id == st.repo.partner_id {
                                    st.calendars.clear();
                                    let _ = st.load_calendars().await;
                                    break;
                                }
                                if let Some(row) = event.request.as_ref()
                                    && st.offer(row).await
                                {
                                    break;
                                }
                            }
                            Err(RecvError::Lagged(_)) => {
                                let _ = st.load().await;
                                break;
                            }
                            Err(RecvError::Closed) => return None,
                        },
                    }
                }
            }
            st.first = false;
            // The lines' requests resolve their fields afresh at each tick.
            st.loaders.forget();
            let tick = st.snapshot();
            Some((tick, st))
        }))
    }
}

/// What a countdown follows.
enum Mode {
    /// These requests, in this order (those still open are shown).
    Ids(Vec<String>),
    /// The running clocks matching the filter, soonest due first.
    Filter(Matcher),
}

/// The state of one countdown subscription.
struct Countdown {
    /// Shared with the ticks' lines, which hand them out as `serviceRequest`.
    followed: HashMap<String, Arc<ServiceRequestRow>>,
    calendars: HashMap<String, Arc<crate::repo::loaders::CalendarData>>,
    order: Vec<String>,
    mode: Mode,
    /// In filter mode: every matching running clock is followed (none was left out by the cap).
    complete: bool,
    repo: Arc<crate::repo::Repo>,
    events: tokio::sync::broadcast::Receiver<Arc<Event>>,
    clock: Arc<dyn crate::clock::Clock>,
    interval: Duration,
    first: bool,
    /// The subscription's loaders, which serve the lines' `serviceRequest` fields.
    loaders: crate::repo::loaders::LazyLoaders,
}

/// Whether a request's initial-response clock still runs.
fn running(row: &ServiceRequestRow) -> bool {
    row.sla_stopped_at.is_none() && row.status.parse::<RequestStatus>().map(RequestStatus::is_open).unwrap_or(false)
}

impl Countdown {
    /// (Re)loads what is followed: the given requests, or the soonest-due running clocks.
    async fn load(&mut self) -> Result<(), AppError> {
        let rows: Vec<ServiceRequestRow> = match &self.mode {
            Mode::Ids(ids) => {
                let found = self.repo.requests_by_ids(ids).await?;
                let mut by_id: HashMap<String, ServiceRequestRow> =
                    found.into_iter().map(|r| (r.id.clone(), r)).collect();
                ids.iter().filter_map(|id| by_id.remove(id)).collect()
            }
            Mode::Filter(m) => {
                let open = RequestStatus::ALL.iter().filter(|s| s.is_open()).copied().collect::<Vec<_>>();
                let statuses = m
                    .statuses
                    .clone()
                    .unwrap_or(open)
                    .into_iter()
                    .filter(|s| s.is_open())
                    .map(|s| s.as_str().to_owned())
                    .collect();
                let repo_filter = crate::repo::pages::RequestFilter {
                    ids: m.ids.clone(),
                    statuses: Some(statuses),
                    severities: m.severities.as_ref().map(|v| v.iter().map(|s| s.as_str().to_owned()).collect()),
                    product_families: m.families.as_ref().map(|v| v.iter().map(|s| s.as_str().to_owned()).collect()),
                    customer_ids: m.customers.clone(),
                    created_by: m.agents.clone(),
                    running_clock: Some(true),
                    ..Default::default()
                };
                let page = crate::paging::PageArgs { first: Some(MAX_COUNTDOWN_REQUESTS + 1), ..Default::default() };
                let found = self
                    .repo
                    .request_page(
                        &repo_filter,
                        crate::repo::pages::RequestOrder::DueAsc,
                        self.clock.now().naive_utc(),
                        &page,
                    )
                    .await?;
                let mut rows = found.rows;
                self.complete = rows.len() <= MAX_COUNTDOWN_REQUESTS;
                rows.truncate(MAX_COUNTDOWN_REQUESTS);
                rows
            }
        };
        self.order = rows.iter().map(|r| r.id.clone()).collect();
        self.followed = rows.into_iter().map(|r| (r.id.clone(), Arc::new(r))).collect();
        self.load_calendars().await
    }

    /// Loads the calendar of every followed business-hours clock not loaded yet.
    async fn load_calendars(&mut self) -> Result<(), AppError> {
        for row in self.followed.values() {
            if row.sla_clock == SlaClock::BusinessHours.as_str()
                && !self.calendars.contains_key(&row.calendar_id)
                && let Some(c) = self.repo.calendar(&row.calendar_id).await?
            {
                self.calendars.insert(row.calendar_id.clone(), c);
            }
        }
        Ok(())
    }

    /// Takes in a changed request; true when the countdown shows something new.
    async fn offer(&mut self, row: &ServiceRequestRow) -> bool {
        match &self.mode {
            Mode::Ids(_) => {
                if !self.followed.contains_key(&row.id) || row.partner_id != self.repo.partner_id {
                    return false;
                }
                self.followed.insert(row.id.clone(), Arc::new(row.clone()));
            }
            Mode::Filter(m) => {
                let followed = self.followed.contains_key(&row.id);
                let wanted = m.matches(row) && running(row);
                match (followed, wanted) {
                    (false, false) => return false,
                    (true, false) => {
                        self.followed.remove(&row.id);
                        self.order.retain(|id| *id != row.id);
                        if !self.complete {
                            // One left; others may be waiting behind the cap.
                            return self.load().await.is_ok();
                        }
                    }
                    (_, true) => {
                        if !followed {
                            self.order.push(row.id.clone());
                        }
                        self.followed.insert(row.id.clone(), Arc::new(row.clone()));
                        if self.order.len() > MAX_COUNTDOWN_REQUESTS {
                            self.sort();
                            if let Some(last) = self.order.pop() {
                                self.followed.remove(&last);
                            }
                            self.complete = false;
                        }
                    }
                }
            }
        }
        let _ = self.load_calendars().await;
        true
    }

    /// Soonest due first.
    fn sort(&mut self) {
        let followed = &self.followed;
        self.order.sort_by_key(|id| followed.get(id).map(|r| (r.sla_due_at, r.id.clone())));
    }

    /// The countdown at the clock's now, from the records in memory.
    fn snapshot(&mut self) -> SlaCountdown {
        let now = self.clock.now();
        if matches!(self.mode, Mode::Filter(_)) {
            self.sort();
        }
        let items = self
            .order
            .iter()
            .filter_map(|id| self.followed.get(id))
            .filter(|r| r.status.parse::<RequestStatus>().map(RequestStatus::is_open).unwrap_or(false))
            .filter_map(|r| {
                let calendar = self.calendars.get(&r.calendar_id).map(|c| &c.calendar);
                let view = crate::repo::mutations::sla_view(r, calendar, now).ok()?;
                Some(SlaCountdownItem {
                    service_request_id: encode(NodeKind::ServiceRequest, &r.id),
                    title: r.title.clone(),
                    state: view.state,
                    due_at: r.sla_due_at.and_utc(),
                    remaining_seconds: view.remaining_seconds,
                    request: r.clone(),
                    at: now,
                })
            })
            .collect();
        SlaCountdown { at: now, items }
    }
}
