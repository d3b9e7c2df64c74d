//! Webhook endpoints in the schema: admins register them and read each one's delivery log.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::rc;
use super::types::ServiceRequest;
use crate::db::models::{WebhookDeliveryRow, WebhookEndpointRow};
use crate::domain::model::EventKind;
use crate::error::AppError;
use crate::repo::loaders::{RequestKey, load};
use crate::repo::webhooks::{EndpointDraft, kinds_of};

/// Most deliveries one `deliveries` page returns.
const MAX_DELIVERIES: i32 = 100;

/// An HTTPS endpoint the gateway posts the partner's request events to, signed.
pub struct WebhookEndpoint(pub WebhookEndpointRow);

/// An HTTPS endpoint the gateway posts the partner's request events to, each signed with the
/// endpoint's secret. Only admin agents and global admins see endpoints.
#[Object]
impl WebhookEndpoint {
    /// The endpoint's id (`webhook-…`), for `updateWebhookEndpoint` and `removeWebhookEndpoint`;
    /// not a global id, so `node` does not fetch it.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Where deliveries are posted.
    async fn url(&self) -> &str {
        &self.0.url
    }

    /// The admin's note on what the endpoint is for; empty when none was given.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The kinds of event it receives (`SLA_STATE_CHANGED` carries the SLA alerts).
    async fn event_kinds(&self) -> Vec<EventKind> {
        kinds_of(&self.0)
    }

    /// A disabled endpoint keeps its queue: deliveries wait until it is enabled again.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }

    /// When the endpoint was registered; it receives the events committed from then on.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.and_utc()
    }

    /// When the endpoint was last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.and_utc()
    }

    /// The delivery log, newest event first (at most 100 a call).
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "How many deliveries to return: 0 to 100.")] first: i32,
        #[graphql(desc = "Only deliveries in this state; all when omitted.")] state: Option<WebhookDeliveryState>,
    ) -> Result<Vec<WebhookDelivery>> {
        if !(0..=MAX_DELIVERIES).contains(&first) {
            return Err(AppError::bad_input(format!("`first` is between 0 and {MAX_DELIVERIES}")).into());
        }
        let rows =
            rc(ctx)?.repo.webhook_deliveries(&self.0.id, state.map(WebhookDeliveryState::as_str), first.into()).await?;
        Ok(rows.into_iter().map(WebhookDelivery).collect())
    }

    /// How many deliveries are waiting, delivered and given up.
    async fn delivery_counts(&self, ctx: &Context<'_>) -> Result<WebhookDeliveryCounts> {
        let mut counts = WebhookDeliveryCounts::default();
        for (state, n) in rc(ctx)?.repo.webhook_delivery_counts(&self.0.id).await? {
            match state.as_str() {
                "PENDING" => counts.pending = n,
                "DELIVERED" => counts.delivered = n,
                _ => counts.failed = n,
            }
        }
        Ok(counts)
    }
}

/// How many of an endpoint's deliveries are in each state.
#[derive(SimpleObject, Default)]
pub struct WebhookDeliveryCounts {
    /// Deliveries waiting for their first attempt or a retry.
    pending: i64,
    /// Deliveries the endpoint accepted.
    delivered: i64,
    /// Deliveries given up.
    failed: i64,
}

/// Where one delivery stands.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum WebhookDeliveryState {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up after the last retry, or the endpoint was removed.
    Failed,
}

impl WebhookDeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            WebhookDeliveryState::Pending => "PENDING",
            WebhookDeliveryState::Delivered => "DELIVERED",
            WebhookDeliveryState::Failed => "FAILED",
        }
    }
}

/// One event sent (or to be sent) to one endpoint.
pub struct WebhookDelivery(WebhookDeliveryRow);

/// One event sent (or to be sent) to one endpoint: at least once, retried with backoff until
/// the endpoint answers 2xx or 34 attempts (about a day) have failed.
#[Object]
impl WebhookDelivery {
    /// Sent as `Webhook-Id` on every attempt: receivers drop what they have seen.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The kind of event delivered.
    async fn event_kind(&self) -> Result<EventKind> {
        Ok(self.0.event_kind.parse::<EventKind>().map_err(|_| AppError::internal("unknown event kind"))?)
    }

    /// The request the event is about.
    async fn service_request(&self, ctx: &Context<'_>) -> Result<Option<ServiceRequest>> {
        let Some(id) = &self.0.service_request_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.request, RequestKey(id.clone())).await?.map(ServiceRequest::from))
    }

    /// Where the delivery stands.
    async fn state(&self) -> WebhookDeliveryState {
        match self.0.state.as_str() {
            "PENDING" => WebhookDeliveryState::Pending,
            "DELIVERED" => WebhookDeliveryState::Delivered,
            _ => WebhookDeliveryState::Failed,
        }
    }

    /// How many times it has been sent so far; after 34 failed attempts it is given up.
    async fn attempts(&self) -> i64 {
        self.0.attempts
    }

    /// The HTTP status of the last attempt; null when it got no answer.
    async fn last_status(&self) -> Option<i32> {
        self.0.last_status
    }

    /// Why the last attempt failed (a timeout, a refused connection, a non-2xx status).
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    /// When it was last sent; null before the first attempt.
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at.map(|t| t.and_utc())
    }

    /// When it is tried next, while pending.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.0.state == "PENDING").then(|| self.0.next_attempt_at.and_utc())
    }

    /// When the delivery was queued (shortly after its event was committed).
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.and_utc()
    }

    /// When the endpoint accepted it (answered 2xx); null until then.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at.map(|t| t.and_utc())
    }

    /// The JSON body sent, as signed.
    async fn body(&self) -> &str {
        &self.0.body
    }
}

/// A new webhook endpoint.
#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// `https://…` (plain `http://` only in the development profile).
    pub url: String,
    /// What the endpoint is for, at most 200 characters; empty when omitted.
    pub description: Option<String>,
    /// Default: every request event.
    pub event_kinds: Option<Vec<EventKind>>,
    /// Whether to send deliveries now; a disabled endpoint queues them. True when omitted.
    #[graphql(default = true)]
    pub enabled: bool,
}

/// Changes to a webhook endpoint; fields left out stay as they are.
#[derive(InputObject, Default)]
pub struct UpdateWebhookEndpointInput {
    /// The new URL: `https://…` (plain `http://` only in the development profile).
    pub url: Option<String>,
    /// The new description, at most 200 characters.
    pub description: Option<String>,
    /// The kinds of request event to receive; at least one.
    pub event_kinds: Option<Vec<EventKind>>,
    /// Disabling holds deliveries in the queue; enabling sends them.
    pub enabled: Option<bool>,
    /// Replaces the signing secret; the new one is in the payload, once.
    #[graphql(default)]
    pub rotate_secret: bool,
}

/// The result of a change to a webhook endpoint.
#[derive(SimpleObject)]
pub struct WebhookEndpointPayload {
    /// The endpoint as it is after the change.
    webhook_endpoint: WebhookEndpoint,
    /// The signing secret, only when it was just made (created or rotated): store it with
    /// the receiver, it is not shown again.
    secret: Option<String>,
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint for your partner's request events (admins). It receives events
    /// committed from now on, each signed with the secret this returns once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new endpoint.")] input: CreateWebhookEndpointInput,
    ) -> Result<WebhookEndpointPayload> {
        let rc = rc(ctx)?;
        let draft = EndpointDraft {
            url: Some(input.url),
            description: input.description,
            event_kinds: input.event_kinds,
            enabled: Some(input.enabled),
        };
        let row = rc.repo.create_webhook_endpoint(&rc.caller, &draft, rc.production, rc.clock.now()).await?;
        let secret = Some(row.secret.clone());
        Ok(WebhookEndpointPayload { webhook_endpoint: WebhookEndpoint(row), secret })
    }

    /// Changes an endpoint (admins); disabling it holds its deliveries until it is enabled.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id, as `WebhookEndpoint.id` returns it.")] id: ID,
        #[graphql(desc = "The changes; fields left out stay as they are.")] input: UpdateWebhookEndpointInput,
    ) -> Result<WebhookEndpointPayload> {
        let rc = rc(ctx)?;
        let rotate = input.rotate_secret;
        let draft = EndpointDraft {
            url: input.url,
            description: input.description,
            event_kinds: input.event_kinds,
            enabled: input.enabled,
        };
        let row =
            rc.repo.update_webhook_endpoint(&rc.caller, &id, &draft, rotate, rc.production, rc.clock.now()).await?;
        let secret = rotate.then(|| row.secret.clone());
        Ok(WebhookEndpointPayload { webhook_endpoint: WebhookEndpoint(row), secret })
    }

    /// Removes an endpoint (admins): nothing more is sent, and waiting deliveries are dropped.
    async fn remove_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The endpoint's id, as `WebhookEndpoint.id` returns it.")] id: ID,
    ) -> Result<WebhookEndpointPayload> {
        let rc = rc(ctx)?;
        let row = rc.repo.remove_webhook_endpoint(&rc.caller, &id, rc.clock.now()).await?;
        Ok(WebhookEndpointPayload { webhook_endpoint: WebhookEndpoint(row), secret: None })
    }
}
