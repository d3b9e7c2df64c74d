//! Rows as stored. Enums stay text here and are parsed where they are served, so this layer
//! needs no knowledge of the domain's vocabulary. Timestamps are UTC.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::{Insertable, Queryable, Selectable};

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = partners)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub provider_id: Option<String>,
    pub cloud: String,
    pub has_asfp: bool,
    pub has_premier: bool,
    pub has_azure_support_plan: bool,
    pub has_signature_cloud_support: bool,
    pub mpn_contract_id: Option<String>,
    pub support_contact_name: String,
    pub support_contact_email: String,
    pub support_contact_phone: Option<String>,
    pub created_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    /// The business calendar of the partner's own tenant.
    pub calendar_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = partner_domains)]
pub struct PartnerDomainRow {
    pub domain: String,
    pub partner_id: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agents)]
pub struct AgentRow {
    pub id: String,
    pub partner_id: String,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    /// The identity provider's value for this agent (see `SG_IDENTITY_CLAIM`), lower case.
    pub identity: Option<String>,
    /// Set when an admin removed the agent: it can no longer sign in.
    pub disabled_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = business_calendars)]
pub struct CalendarRow {
    pub id: String,
    /// A stable unique key: a built-in calendar's code, a partner calendar's id.
    pub code: String,
    pub time_zone: String,
    pub name: String,
    /// The partner that maintains it; `None` for a built-in (read-only) calendar.
    pub partner_id: Option<String>,
    pub version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = business_calendar_hours)]
pub struct CalendarHoursRow {
    pub calendar_id: String,
    pub weekday: i64,
    pub start_minute: i64,
    pub end_minute: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = business_calendar_holidays)]
pub struct HolidayRow {
    pub calendar_id: String,
    pub day: NaiveDate,
    pub name: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = customers)]
pub struct CustomerRow {
    pub id: String,
    pub partner_id: String,
    pub provider_id: Option<String>,
    pub company_name: String,
    pub primary_domain: String,
    pub tenant_id: String,
    pub country: String,
    pub time_zone: String,
    pub language: String,
    pub cloud: String,
    pub calendar_id: String,
    pub relationship: String,
    pub delegated_admin: bool,
    pub azure_access_granted: bool,
    pub created_at: NaiveDateTime,
    /// `LOCAL`, `PARTNER_CENTER`, `AZURE_SUPPORT` or `IMPORT`.
    pub source: String,
    /// The object's id at its source (Microsoft's case number for a request filed there).
    pub upstream_id: Option<String>,
    /// When sync last saw the object at its source.
    pub synced_at: Option<NaiveDateTime>,
    /// When Partner Center stopped listing the customer as the partner's.
    pub relationship_ended_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = customer_domains)]
pub struct CustomerDomainRow {
    pub domain: String,
    pub customer_id: String,
    pub is_primary: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: String,
    pub partner_id: String,
    pub provider_id: Option<String>,
    pub customer_id: Option<String>,
    pub owner: String,
    pub product_family: String,
    pub offer_name: String,
    pub status: String,
    pub billing_cycle: String,
    pub quantity: i64,
    pub is_trial: bool,
    pub azure_subscription_id: Option<String>,
    pub created_at: NaiveDateTime,
    /// `LOCAL`, `PARTNER_CENTER`, `AZURE_SUPPORT` or `IMPORT`.
    pub source: String,
    /// The object's id at its source (Microsoft's case number for a request filed there).
    pub upstream_id: Option<String>,
    /// When sync last saw the object at its source.
    pub synced_at: Option<NaiveDateTime>,
}

/// The columns of a customer that a page of customers usually shows: what the root list
/// reads when its items select nothing else (`Columns::Summary`), as
/// [`SubscriptionSummaryRow`] does for subscriptions. The benchmark's nested page reads 20
/// customers a request with 6 of their 19 columns selected.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerSummaryRow {
    pub id: String,
    pub partner_id: String,
    pub provider_id: Option<String>,
    pub company_name: String,
    pub primary_domain: String,
    pub country: String,
    pub language: String,
    pub cloud: String,
    pub relationship: String,
    pub created_at: NaiveDateTime,
}

impl From<CustomerSummaryRow> for CustomerRow {
    /// A row holding the summary's columns; every other column is empty (empty text, `false`,
    /// `None`). Only fields that read the summary's columns may be resolved on it
    /// (`graphql::types::customer::CUSTOMER_SUMMARY_FIELDS`).
    fn from(row: CustomerSummaryRow) -> CustomerRow {
        let CustomerSummaryRow {
            id,
            partner_id,
            provider_id,
            company_name,
            primary_domain,
            country,
            language,
            cloud,
            relationship,
            created_at,
        } = row;
        CustomerRow {
            id,
            partner_id,
            provider_id,
            company_name,
            primary_domain,
            tenant_id: String::new(),
            country,
            time_zone: String::new(),
            language,
            cloud,
            calendar_id: String::new(),
            relationship,
            delegated_admin: false,
            azure_access_granted: false,
            created_at,
            source: String::new(),
            upstream_id: None,
            synced_at: None,
            relationship_ended_at: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = marketplace_products)]
pub struct MarketplaceProductRow {
    pub id: String,
    pub name: String,
    pub publisher_name: String,
    pub summary: String,
    pub support_url: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    /// The partner that maintains the product; `None` for the public catalogue.
    pub partner_id: Option<String>,
}

/// The columns of a subscription that a list of subscriptions usually shows: what a nested
/// connection reads when its items select nothing else (`Columns::Summary`), as
/// [`ServiceRequestSummaryRow`] does for requests. The benchmark's nested page reads 60
/// subscriptions a request with 6 of their 16 columns selected.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionSummaryRow {
    pub id: String,
    pub partner_id: String,
    pub customer_id: Option<String>,
    pub product_family: String,
    pub offer_name: String,
    pub status: String,
    pub quantity: i64,
    pub is_trial: bool,
    pub created_at: NaiveDateTime,
}

impl From<SubscriptionSummaryRow> for SubscriptionRow {
    /// A row holding the summary's columns; every other column is empty (empty text, `None`).
    /// Only fields that read the summary's columns may be resolved on it
    /// (`graphql::types::subscription::SUBSCRIPTION_SUMMARY_FIELDS`).
    fn from(row: SubscriptionSummaryRow) -> SubscriptionRow {
        let SubscriptionSummaryRow {
            id,
            partner_id,
            customer_id,
            product_family,
            offer_name,
            status,
            quantity,
            is_trial,
            created_at,
        } = row;
        SubscriptionRow {
            id,
            partner_id,
            provider_id: None,
            customer_id,
            owner: String::new(),
            product_family,
            offer_name,
            status,
            billing_cycle: String::new(),
            quantity,
            is_trial,
            azure_subscription_id: None,
            created_at,
            source: String::new(),
            upstream_id: None,
            synced_at: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = customer_marketplace_products)]
pub struct CustomerProductRow {
    pub customer_id: String,
    pub marketplace_product_id: String,
    pub deployed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = support_topics)]
pub struct SupportTopicRow {
    pub id: String,
    pub product_family: String,
    pub category: String,
    pub name: String,
    /// `LOCAL`, `PARTNER_CENTER`, `AZURE_SUPPORT` or `IMPORT`.
    pub source: String,
    /// The object's id at its source (Microsoft's case number for a request filed there).
    pub upstream_id: Option<String>,
    /// When sync last saw the object at its source.
    pub synced_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_requests)]
pub struct ServiceRequestRow {
    pub id: String,
    pub partner_id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub product_family: String,
    pub incident_kind: String,
    pub business_impact: String,
    pub severity: String,
    pub title: String,
    pub description: String,
    pub support_topic_id: Option<String>,
    pub support_plan: String,
    pub entitlement_ref: Option<String>,
    pub fee_coverage: String,
    pub route: String,
    pub portal_url: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: Option<String>,
    pub support_language: String,
    pub status: String,
    pub calendar_id: String,
    pub sla_clock: String,
    pub sla_target_minutes: i64,
    pub sla_due_at: NaiveDateTime,
    pub sla_at_risk_at: NaiveDateTime,
    pub first_response_at: Option<NaiveDateTime>,
    pub created_by_agent_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub closed_at: Option<NaiveDateTime>,
    pub version: i64,
    /// The SLA state last recorded in history and the event log (S4).
    pub sla_state: String,
    /// When the initial-response clock stopped (response, resolution, closure).
    pub sla_stopped_at: Option<NaiveDateTime>,
    /// `MANUAL` (entered by an agent) or `MICROSOFT` (read from Microsoft's record).
    pub first_response_source: Option<String>,
    pub first_response_entered_at: Option<NaiveDateTime>,
    pub first_response_agent_id: Option<String>,
    /// `LOCAL`, `PARTNER_CENTER`, `AZURE_SUPPORT` or `IMPORT`.
    pub source: String,
    /// The object's id at its source (Microsoft's case number for a request filed there).
    pub upstream_id: Option<String>,
    /// When sync last saw the object at its source.
    pub synced_at: Option<NaiveDateTime>,
    /// Filing at Microsoft: `PENDING`, `FILED`, `REJECTED`; `None` when not for Microsoft.
    pub upstream_state: Option<String>,
    /// Microsoft's message when it refused the request.
    pub upstream_error: Option<String>,
}

/// The columns of a service request that a list of requests usually shows: what a nested
/// connection reads when its items select nothing else (`Columns::Summary`). The other 31
/// columns (the description, contact, SLA and provenance) cost PostgreSQL more than the
/// statement's scan: the benchmark's nested page of 95 requests ran in 0.30 ms with these
/// against 0.65 ms with every column (pgbench, one client).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = service_requests)]
pub struct ServiceRequestSummaryRow {
    pub id: String,
    pub partner_id: String,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub product_family: String,
    pub incident_kind: String,
    pub severity: String,
    pub title: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub version: i64,
}

impl From<ServiceRequestSummaryRow> for ServiceRequestRow {
    /// A row holding the summary's columns; every other column is empty (empty text, `None`,
    /// zero, the epoch). Only fields that read the summary's columns may be resolved on it
    /// (`graphql::types::request::SUMMARY_FIELDS`).
    fn from(row: ServiceRequestSummaryRow) -> ServiceRequestRow {
        let ServiceRequestSummaryRow {
            id,
            partner_id,
            customer_id,
            subscription_id,
            product_family,
            incident_kind,
            severity,
            title,
            status,
            created_at,
            updated_at,
            version,
        } = row;
        ServiceRequestRow {
            id,
            partner_id,
            customer_id,
            subscription_id,
            product_family,
            incident_kind,
            business_impact: String::new(),
            severity,
            title,
            description: String::new(),
            support_topic_id: None,
            support_plan: String::new(),
            entitlement_ref: None,
            fee_coverage: String::new(),
            route: String::new(),
            portal_url: String::new(),
            contact_name: String::new(),
            contact_email: String::new(),
            contact_phone: None,
            support_language: String::new(),
            status,
            calendar_id: String::new(),
            sla_clock: String::new(),
            sla_target_minutes: 0,
            sla_due_at: NaiveDateTime::default(),
            sla_at_risk_at: NaiveDateTime::default(),
            first_response_at: None,
            created_by_agent_id: String::new(),
            created_at,
            updated_at,
            closed_at: None,
            version,
            sla_state: String::new(),
            sla_stopped_at: None,
            first_response_source: None,
            first_response_entered_at: None,
            first_response_agent_id: None,
            source: String::new(),
            upstream_id: None,
            synced_at: None,
            upstream_state: None,
            upstream_error: None,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyKeyRow {
    pub partner_id: String,
    pub key: String,
    pub request_hash: String,
    pub service_request_id: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_request_notes)]
pub struct NoteRow {
    pub id: String,
    pub service_request_id: String,
    pub author_kind: String,
    pub agent_id: Option<String>,
    pub body: String,
    pub created_at: NaiveDateTime,
    /// Identifies a note read from upstream, so it is added once.
    pub upstream_key: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_request_history)]
pub struct HistoryRow {
    pub id: String,
    pub service_request_id: String,
    pub agent_id: Option<String>,
    pub kind: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = events)]
pub struct NewEventRow {
    pub partner_id: String,
    pub service_request_id: Option<String>,
    pub kind: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, diesel::QueryableByName, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub partner_id: String,
    pub service_request_id: Option<String>,
    pub kind: String,
    pub payload: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sync_state)]
pub struct SyncStateRow {
    pub partner_id: String,
    pub source: String,
    pub resource: String,
    pub cursor: Option<String>,
    pub pass_started_at: Option<NaiveDateTime>,
    pub pass_objects: i64,
    pub last_started_at: Option<NaiveDateTime>,
    pub last_finished_at: Option<NaiveDateTime>,
    pub last_objects: i64,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = upstream_outbox)]
pub struct OutboxRow {
    pub id: String,
    pub partner_id: String,
    pub service_request_id: String,
    pub kind: String,
    pub request_key: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub done_at: Option<NaiveDateTime>,
    /// The note a `NOTE` entry sends.
    pub note_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_changes)]
pub struct AdminChangeRow {
    pub id: String,
    pub partner_id: String,
    pub agent_id: Option<String>,
    pub subject: String,
    pub subject_id: String,
    pub action: String,
    pub detail: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_endpoints)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub partner_id: String,
    pub url: String,
    pub description: String,
    /// Comma-separated `EventKind` names.
    pub event_kinds: String,
    pub secret: String,
    pub enabled: bool,
    pub after_event_id: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub removed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDeliveryRow {
    pub id: String,
    pub endpoint_id: String,
    pub event_id: i64,
    pub service_request_id: Option<String>,
    pub event_kind: String,
    pub body: String,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: NaiveDateTime,
    pub leased_until: Option<NaiveDateTime>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub delivered_at: Option<NaiveDateTime>,
}
