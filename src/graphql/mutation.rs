//! The mutation root: filing and working service requests on behalf of customers. Each
//! mutation validates its input, runs one transaction in the repo, and returns the new state.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::connection::{Cursor, EdgeOf};
use super::ids::{NodeKind, decode_as};
use super::rc;
use super::types::{BusinessCalendar, Customer, Note, ServiceRequest};
use crate::domain::model::{
    BusinessImpact, IncidentKind, ProductFamily, RequestStatus, ResponseSource, Severity, SupportPlan,
};
use crate::domain::policy::{EntitlementClaim, FilingChannel};
use crate::error::AppError;
use crate::repo::mutations::{Created, NewRequest};

/// Longest title (as on Partner Center's form).
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description or note: generous for logs pasted in, bounded for storage and display.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest idempotency key: a UUID or a client's own request id fits easily.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

#[derive(Default)]
pub struct Mutation;

/// The partner's contact for a request (R7: one of the partner's agents or an address at one
/// of its own domains, never the customer's).
#[derive(InputObject)]
pub struct ContactInput {
    /// The contact's name: one line, at most 200 characters.
    pub name: String,
    /// The contact's e-mail address (at most 254 characters): an agent's, or one at the
    /// partner's own domains (R7).
    pub email: String,
    /// A contact detail only: there is no phone channel for filing (R14).
    pub phone: Option<String>,
}

/// The support entitlement of a request about the partner's own tenant (R12).
#[derive(InputObject)]
pub struct EntitlementInput {
    /// `MPN_CONTRACT`, `PREMIER` or `AZURE_SUPPORT_PLAN`.
    pub plan: SupportPlan,
    /// The MPN contract id, for `MPN_CONTRACT`.
    pub reference: Option<String>,
}

/// A service request as a partner fills the form.
#[derive(InputObject)]
pub struct CreateServiceRequestInput {
    /// The customer the request is for; omit it for the partner's own tenant (R12).
    pub customer_id: Option<ID>,
    /// The product family the problem is about; it decides the route (R2) and which rules apply.
    pub product_family: ProductFamily,
    /// The subscription concerned (required for Azure without delegated admin, R8).
    pub subscription_id: Option<ID>,
    /// A marketplace product the problem is about: such requests are refused (R10).
    pub marketplace_product_id: Option<ID>,
    /// What kind of problem it is (R1); it decides the SLA target (S1, S3).
    pub incident_kind: IncidentKind,
    /// Sets the severity (R15).
    pub business_impact: BusinessImpact,
    /// A one-line summary of the problem, at most 200 characters.
    pub title: String,
    /// The problem in detail; line breaks allowed, at most 20,000 characters.
    pub description: String,
    /// Required for Microsoft 365, Dynamics 365 and EMS (R9).
    pub support_topic_id: Option<ID>,
    /// The partner's contact: one of its agents or an address at one of its own domains
    /// (R7). Omitted, the filing agent is the contact.
    pub contact: Option<ContactInput>,
    /// BCP 47 tag; only English gets around-the-clock response (S2).
    #[graphql(default = "en")]
    pub support_language: String,
    /// How the request is filed; `PHONE` is always refused (R14).
    #[graphql(default)]
    pub channel: FilingChannel,
    /// The entitlement that covers a request about the partner's own tenant (R12); not used for
    /// a customer's request.
    pub entitlement: Option<EntitlementInput>,
    /// Makes retries safe: the same key returns the first result and creates nothing.
    pub idempotency_key: Option<String>,
}

/// A working interval of one weekday, local time.
#[derive(InputObject)]
pub struct WorkingHoursInput {
    /// ISO weekday: 1 = Monday … 7 = Sunday.
    pub iso_weekday: i32,
    /// Local start, `HH:MM`.
    pub start: String,
    /// Local end, `HH:MM` (`24:00` for midnight); after `start`.
    pub end: String,
}

/// A day on which the calendar does not work.
#[derive(InputObject)]
pub struct HolidayInput {
    /// The local date in the calendar's time zone; each date at most once.
    pub date: super::scalars::Date,
    /// The holiday's name.
    pub name: String,
}

/// A business calendar as a whole (S5): an edit replaces every part.
#[derive(InputObject)]
pub struct BusinessCalendarInput {
    /// Unique among the partner's calendars and the built-in ones.
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The working intervals of the week; they must not overlap.
    pub weekly_hours: Vec<WorkingHoursInput>,
    /// The days on which no time is counted; none when omitted.
    #[graphql(default)]
    pub holidays: Vec<HolidayInput>,
}

impl BusinessCalendarInput {
    fn draft(&self) -> crate::domain::calendar::CalendarDraft {
        crate::domain::calendar::CalendarDraft {
            name: self.name.clone(),
            time_zone: self.time_zone.clone(),
            weekly_hours: self.weekly_hours.iter().map(|h| (h.iso_weekday, h.start.clone(), h.end.clone())).collect(),
            holidays: self.holidays.iter().map(|h| (h.date.0, h.name.clone())).collect(),
        }
    }
}

/// A calendar after a change, and how many open requests' due times moved with it.
#[derive(SimpleObject)]
pub struct BusinessCalendarPayload {
    /// The calendar as it is after the change.
    pub business_calendar: BusinessCalendar,
    /// Open requests whose due time or SLA state was recomputed.
    pub rescheduled_requests: i32,
}

/// A note to append to a request.
#[derive(InputObject)]
pub struct AddServiceRequestNoteInput {
    /// The request's global id.
    pub id: ID,
    /// The note's text; line breaks allowed, at most 20,000 characters.
    pub body: String,
    /// When given, the note is refused if the request changed since this version.
    pub expected_version: Option<i32>,
}

/// A status change of a request.
#[derive(InputObject)]
pub struct ChangeServiceRequestStatusInput {
    /// The request's global id.
    pub id: ID,
    /// The new status; it must be one the current status allows (`changeServiceRequestStatus`).
    pub status: RequestStatus,
    /// The version the change is based on; a stale one is refused (`CONFLICT`).
    pub expected_version: i32,
}

/// A severity change of a request.
#[derive(InputObject)]
pub struct ChangeSeverityInput {
    /// The request's global id.
    pub id: ID,
    /// The new severity; the same one changes nothing.
    pub severity: Severity,
    /// The version the change is based on; a stale one is refused (`CONFLICT`).
    pub expected_version: i32,
}

/// Support's first response to a request, entered by hand.
#[derive(InputObject)]
pub struct RecordSupportResponseInput {
    /// The request's global id.
    pub id: ID,
    /// When support first responded; now when omitted.
    pub responded_at: Option<DateTime<Utc>>,
    /// Support's response, stored as a support note.
    pub note: Option<String>,
    /// When given, the response is refused (`CONFLICT`) if the request changed since this version.
    pub expected_version: Option<i32>,
}

/// The result of `createServiceRequest`.
#[derive(SimpleObject)]
pub struct CreateServiceRequestPayload {
    /// The request filed (or, on a replay, the one the first call filed).
    pub service_request: ServiceRequest,
    /// The request as an edge of `Query.serviceRequests` in its default order (newest first,
    /// so at the start): what Relay's `@prependEdge` and Apollo's cache updates insert into a
    /// cached list without refetching it.
    pub service_request_edge: EdgeOf<ServiceRequest>,
    /// True when this was a retry of an earlier call with the same idempotency key.
    pub replayed: bool,
}

impl CreateServiceRequestPayload {
    fn new(row: crate::db::models::ServiceRequestRow, replayed: bool) -> CreateServiceRequestPayload {
        let service_request = ServiceRequest::from(row);
        let service_request_edge = EdgeOf::new(Cursor(0), service_request.clone());
        CreateServiceRequestPayload { service_request, service_request_edge, replayed }
    }
}

/// The result of `addServiceRequestNote`.
#[derive(SimpleObject)]
pub struct AddServiceRequestNotePayload {
    /// The note added.
    pub note: Note,
    /// The note as an edge of `ServiceRequest.notes` (oldest first, so at the end): what
    /// Relay's `@appendEdge` and Apollo's cache updates insert into a cached list.
    pub note_edge: EdgeOf<Note>,
    /// The request after the note was added (its `version` and `updatedAt` moved).
    pub service_request: ServiceRequest,
}

/// The result of a change to a request.
#[derive(SimpleObject)]
pub struct ServiceRequestPayload {
    /// The request as it is after the change.
    pub service_request: ServiceRequest,
}

/// The result of a change to a customer.
#[derive(SimpleObject)]
pub struct CustomerPayload {
    /// The customer as it is after the change.
    pub customer: Customer,
}

/// Checks a text field ([`crate::domain::text::check`]); a refusal names the field.
pub fn text(field: &str, value: &str, max: usize, multiline: bool) -> Result<String, AppError> {
    crate::domain::text::check(value, max, multiline)
        .map_err(|problem| AppError::bad_input(format!("`{field}` {}", problem.describe())))
}

fn email(value: &str) -> Result<String, AppError> {
    let v = text("contact.email", value, 254, false)?;
    let valid = v.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !v.contains(char::is_whitespace)
            && v.matches('@').count() == 1
    });
    if valid { Ok(v) } else { Err(AppError::bad_input("`contact.email` is not an e-mail address")) }
}

fn phone(value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let valid = v.len() <= 40
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if valid { Ok(Some(v.to_owned())) } else { Err(AppError::bad_input("`contact.phone` is not a phone number")) }
}

fn language(value: &str) -> Result<String, AppError> {
    let v = value.trim();
    let mut parts = v.split('-');
    let primary_ok =
        parts.next().is_some_and(|p| (2..=3).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    let rest_ok = parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if primary_ok && rest_ok && v.len() <= 35 {
        Ok(v.to_owned())
    } else {
        Err(AppError::bad_input("`supportLanguage` is not a language tag such as `en` or `de-CH`"))
    }
}

fn version(v: i32) -> i64 {
    i64::from(v)
}

impl CreateServiceRequestInput {
    fn validate(&self) -> Result<(NewRequest, Option<String>), AppError> {
        let key = match &self.idempotency_key {
            Some(k) => Some(text("idempotencyKey", k, MAX_IDEMPOTENCY_KEY_CHARS, false)?),
            None => None,
        };
        let entitlement = self
            .entitlement
            .as_ref()
            .map(|e| EntitlementClaim { plan: e.plan, reference: e.reference.as_deref().map(|r| r.trim().to_owned()) });
        let request = NewRequest {
            customer_id: self.customer_id.as_ref().map(|id| decode_as(NodeKind::Customer, id)).transpose()?,
            product_family: self.product_family,
            subscription_id: self
                .subscription_id
                .as_ref()
                .map(|id| decode_as(NodeKind::Subscription, id))
                .transpose()?,
            marketplace_product_id: self
                .marketplace_product_id
                .as_ref()
                .map(|id| decode_as(NodeKind::MarketplaceProduct, id))
                .transpose()?,
            incident_kind: self.incident_kind,
            business_impact: self.business_impact,
            title: text("title", &self.title, MAX_TITLE_CHARS, false)?,
            description: text("description", &self.description, MAX_TEXT_CHARS, true)?,
            support_topic_id: self
                .support_topic_id
                .as_ref()
                .map(|id| decode_as(NodeKind::SupportTopic, id))
                .transpose()?,
            contact_name: self.contact.as_ref().map(|c| text("contact.name", &c.name, 200, false)).transpose()?,
            contact_email: self.contact.as_ref().map(|c| email(&c.email)).transpose()?,
            contact_phone: phone(self.contact.as_ref().and_then(|c| c.phone.as_deref()))?,
            support_language: language(&self.support_language)?,
            channel: self.channel,
            entitlement_text: entitlement.as_ref().map(|e| (e.plan.as_str().to_owned(), e.reference.clone())),
            entitlement,
        };
        Ok((request, key))
    }
}

#[Object]
impl Mutation {
    /// Files a service request on behalf of a customer (or for the partner's own tenant).
    /// Global admins, admin agents and helpdesk agents (not Azure, R5). Refusals come back as
    /// errors with `extensions.code` `POLICY_REFUSED`, the `rule`, its `help`, every
    /// `violations` entry and, for R10, the ISV's support contacts.
    async fn create_service_request(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request as the form fills it.")] input: CreateServiceRequestInput,
    ) -> Result<CreateServiceRequestPayload> {
        let rc = rc(ctx)?;
        let (request, key) = input.validate()?;
        let outcome = rc.repo.create_request(&rc.caller, &request, key.as_deref(), rc.clock.now()).await?;
        Ok(match outcome {
            Created::New(row) => CreateServiceRequestPayload::new(row, false),
            Created::Replayed(row) => CreateServiceRequestPayload::new(row, true),
        })
    }

    /// Appends a note to a request (notes are never edited or removed). Global admins, admin
    /// agents and helpdesk agents.
    async fn add_service_request_note(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request and the note.")] input: AddServiceRequestNoteInput,
    ) -> Result<AddServiceRequestNotePayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::ServiceRequest, &input.id)?;
        let body = text("body", &input.body, MAX_TEXT_CHARS, true)?;
        let added =
            rc.repo.add_note(&rc.caller, &id, &body, input.expected_version.map(version), rc.clock.now()).await?;
        let note = Note(added.note);
        Ok(AddServiceRequestNotePayload {
            note_edge: EdgeOf::new(Cursor(added.position), note.clone()),
            note,
            service_request: ServiceRequest::from(added.request),
        })
    }

    /// Moves a request along NEW → OPEN → IN_PROGRESS ⇄ WAITING_ON_PARTNER → RESOLVED → CLOSED
    /// (a resolved request may be reopened; a new or open one closed). Anything else is
    /// refused with `INVALID_TRANSITION` and the allowed statuses. Global admins, admin agents
    /// and helpdesk agents.
    async fn change_service_request_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request, its new status and the version the change is based on.")]
        input: ChangeServiceRequestStatusInput,
    ) -> Result<ServiceRequestPayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::ServiceRequest, &input.id)?;
        let row = rc
            .repo
            .change_status(&rc.caller, &id, input.status, version(input.expected_version), rc.clock.now())
            .await?;
        Ok(ServiceRequestPayload { service_request: ServiceRequest::from(row) })
    }

    /// Changes the severity; while support has not responded, the SLA due time is recomputed.
    /// Refused on a resolved or closed request (`INVALID_TRANSITION`). Global admins, admin
    /// agents and helpdesk agents.
    async fn change_service_request_severity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request, its new severity and the version the change is based on.")]
        input: ChangeSeverityInput,
    ) -> Result<ServiceRequestPayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::ServiceRequest, &input.id)?;
        let row = rc
            .repo
            .change_severity(&rc.caller, &id, input.severity, version(input.expected_version), rc.clock.now())
            .await?;
        Ok(ServiceRequestPayload { service_request: ServiceRequest::from(row) })
    }

    /// Records by hand support's first response, which stops the initial-response clock (S4).
    /// Admin agents and global admins only; the entry is marked `MANUAL` with who entered it.
    async fn record_support_response(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The request and support's response.")] input: RecordSupportResponseInput,
    ) -> Result<ServiceRequestPayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::ServiceRequest, &input.id)?;
        let note = input.note.as_deref().map(|n| text("note", n, MAX_TEXT_CHARS, true)).transpose()?;
        let row = rc
            .repo
            .record_response(
                &rc.caller,
                &id,
                input.responded_at,
                ResponseSource::Manual,
                note.as_deref(),
                input.expected_version.map(version),
                rc.clock.now(),
            )
            .await?;
        Ok(ServiceRequestPayload { service_request: ServiceRequest::from(row) })
    }

    /// An indirect provider grants its reseller access to a customer's Azure account (R4). Only
    /// the admin agents and global admins of the customer's reseller's indirect provider.
    async fn grant_azure_access(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of the reseller's customer.")] customer_id: ID,
    ) -> Result<CustomerPayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::Customer, &customer_id)?;
        let row = rc.repo.set_azure_access(&rc.caller, &id, true, rc.clock.now()).await?;
        Ok(CustomerPayload { customer: Customer::from(row) })
    }

    /// Creates one of the partner's business calendars (admins). Assign it to customers or to
    /// the partner's own tenant with `assignBusinessCalendar`.
    async fn create_business_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new calendar.")] input: BusinessCalendarInput,
    ) -> Result<BusinessCalendarPayload> {
        let rc = rc(ctx)?;
        let change = rc.repo.create_calendar(&rc.caller, &input.draft(), rc.clock.now()).await?;
        calendar_payload(rc, change).await
    }

    /// Replaces one of the partner's calendars (admins); the due times of the open requests on
    /// it are recomputed, each with a history entry and an event. Built-in calendars are
    /// read-only.
    async fn update_business_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of one of the partner's own calendars.")] id: ID,
        #[graphql(desc = "The calendar as a whole: it replaces every part.")] input: BusinessCalendarInput,
        #[graphql(desc = "When given, the edit is refused (`CONFLICT`) if the calendar changed since this version.")]
        expected_version: Option<i32>,
    ) -> Result<BusinessCalendarPayload> {
        let rc = rc(ctx)?;
        let raw = decode_as(NodeKind::BusinessCalendar, &id)?;
        let change = rc
            .repo
            .update_calendar(&rc.caller, &raw, &input.draft(), expected_version.map(version), rc.clock.now())
            .await?;
        calendar_payload(rc, change).await
    }

    /// Assigns a calendar to one of the partner's customers, or (without `customerId`) to the
    /// partner's own tenant (admins); the tenant's open requests move onto it.
    async fn assign_business_calendar(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of a built-in calendar or one of the partner's own.")] calendar_id: ID,
        #[graphql(desc = "The global id of one of the partner's customers; omit it for the partner's own tenant.")]
        customer_id: Option<ID>,
    ) -> Result<BusinessCalendarPayload> {
        let rc = rc(ctx)?;
        let calendar = decode_as(NodeKind::BusinessCalendar, &calendar_id)?;
        let customer = customer_id.as_ref().map(|id| decode_as(NodeKind::Customer, id)).transpose()?;
        let change = rc.repo.assign_calendar(&rc.caller, &calendar, customer.as_deref(), rc.clock.now()).await?;
        calendar_payload(rc, change).await
    }

    /// An indirect provider revokes its reseller's access to a customer's Azure account (R4).
    /// Only the admin agents and global admins of the customer's reseller's indirect provider.
    async fn revoke_azure_access(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of the reseller's customer.")] customer_id: ID,
    ) -> Result<CustomerPayload> {
        let rc = rc(ctx)?;
        let id = decode_as(NodeKind::Customer, &customer_id)?;
        let row = rc.repo.set_azure_access(&rc.caller, &id, false, rc.clock.now()).await?;
        Ok(CustomerPayload { customer: Customer::from(row) })
    }
}

async fn calendar_payload(
    rc: &super::RequestCtx,
    change: crate::repo::calendars::CalendarChange,
) -> Result<BusinessCalendarPayload> {
    let data = rc
        .repo
        .calendar(&change.calendar_id)
        .await?
        .ok_or_else(|| AppError::internal("a calendar just written is not there"))?;
    Ok(BusinessCalendarPayload {
        business_calendar: BusinessCalendar(data),
        rescheduled_requests: i32::try_from(change.rescheduled).unwrap_or(i32::MAX),
    })
}
