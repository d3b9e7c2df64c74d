//! A stand-in for Microsoft's APIs, for trying the gateway offline and for its tests: the
//! identity platform's token endpoint and Partner Center's customers, subscriptions, service
//! requests and support topics, with the documented shapes and paging. It also misbehaves on
//! demand (`POST /_sim/faults`): throttling with `Retry-After`, `5xx`, slow answers, dropped
//! connections, and a create whose answer is lost after it took effect. `/_sim/…` also lets a
//! test play Microsoft support: change a request's status, add a note.
//!
//! `support-gateway simulate` runs it; tests start it in-process on a free port.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

mod azure;
mod graph;

use crate::upstream::partner_center::{
    Address, BillingProfile, CompanyProfile, Contact, Customer, Note, ServiceRequest, Subscription, SupportTopic,
};

/// The client the simulator accepts.
pub const CLIENT_ID: &str = "sim-client";
pub const CLIENT_SECRET: &str = "sim-secret";
/// The partner's own tenant at the simulator.
pub const PARTNER_TENANT: &str = "sim-partner-tenant";

/// How much data to start with.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub customers: usize,
    pub subscriptions_per_customer: usize,
    pub requests: usize,
    pub notes_per_request: usize,
}

impl Size {
    pub const SMALL: Size = Size { customers: 12, subscriptions_per_customer: 2, requests: 20, notes_per_request: 1 };
}

/// Misbehaviour on demand; each counter is spent one call at a time.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// The next N API calls answer `429` with `Retry-After: retryAfterSeconds`.
    pub throttle: u32,
    pub retry_after_seconds: f64,
    /// The next N API calls answer `503`.
    pub fail: u32,
    /// The next N API calls lose their connection before any answer.
    pub drop: u32,
    /// The next N creates or updates take effect, then lose their connection before the answer.
    pub lose_answer: u32,
    /// Every API call waits this long before answering.
    pub delay_ms: u64,
    /// API calls after this many more fail with `503` (a sync killed partway); 0 = never.
    pub fail_after: u64,
}

#[derive(Debug, Default)]
struct Data {
    customers: Vec<Customer>,
    subscriptions: HashMap<String, Vec<Subscription>>,
    requests: Vec<ServiceRequest>,
    topics: Vec<SupportTopic>,
    tokens: HashMap<String, String>,
    /// Service requests created, by the MS-RequestId of the call that created them.
    created_by_key: HashMap<String, String>,
    faults: Faults,
    azure: azure::AzureData,
    /// Delegated admin relationship statuses set by tests, by customer (others follow the
    /// customer's `allowDelegatedAccess`).
    gdap: HashMap<String, String>,
}

/// The simulator's state, shared by its handlers and the test that runs it.
#[derive(Debug, Default)]
pub struct Simulator {
    data: Mutex<Data>,
    /// API calls answered (the token endpoint and `/_sim` not included).
    pub calls: AtomicU64,
    pub tokens_issued: AtomicU64,
    /// Service requests created through the API.
    pub created: AtomicU64,
}

fn at(base: DateTime<Utc>, minutes: i64) -> String {
    (base + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

const COUNTRIES: [&str; 6] = ["US", "GB", "DE", "FR", "JP", "NZ"];
const OFFERS: [&str; 5] = [
    "Microsoft 365 E3",
    "Azure plan",
    "Dynamics 365 Sales Enterprise",
    "Enterprise Mobility + Security E3",
    "Office 365 E1",
];

impl Simulator {
    /// A simulator holding `size` of generated data, dated up to `now`. The same size gives the
    /// same data.
    pub fn new(size: Size, now: DateTime<Utc>) -> Arc<Simulator> {
        let sim = Simulator::default();
        {
            let mut d = sim.data.lock().unwrap();
            let start = now - chrono::Duration::days(30);
            d.topics = vec![
                topic("32444671", "Microsoft 365 / Exchange Online mail flow"),
                topic("32444672", "Azure / Virtual Machines connectivity"),
                topic("32444673", "Dynamics 365 / Sales performance"),
                topic("32444674", "Billing / Invoice question"),
                topic("32444675", "Microsoft Intune / Device enrollment"),
            ];
            for i in 0..size.customers {
                let id = format!("{:08x}-0000-4000-8000-{:012x}", i + 1, i + 1);
                let country = COUNTRIES[i % COUNTRIES.len()];
                d.customers.push(Customer {
                    id: id.clone(),
                    company_profile: CompanyProfile {
                        tenant_id: id.clone(),
                        domain: format!("simcustomer{}.onmicrosoft.com", i + 1),
                        company_name: format!("Sim Customer {}", i + 1),
                    },
                    billing_profile: Some(BillingProfile {
                        culture: Some("en-US".into()),
                        language: Some("en".into()),
                        default_address: Some(Address { country: Some(country.into()) }),
                    }),
                    relationship_to_partner: if i % 10 == 9 { "advisor".into() } else { "reseller".into() },
                    allow_delegated_access: Some(i % 7 != 3),
                });
                let subs = (0..size.subscriptions_per_customer)
                    .map(|j| {
                        let offer = OFFERS[(i + j) % OFFERS.len()];
                        Subscription {
                            id: format!("{:08x}-{:04x}-4000-9000-{:012x}", i + 1, j + 1, i * 100 + j),
                            offer_id: format!("OFFER-{}", (i + j) % OFFERS.len()),
                            offer_name: offer.into(),
                            friendly_name: None,
                            quantity: 5 + (i * 3 + j) as i64 % 50,
                            creation_date: Some(at(start, (i * 10 + j) as i64)),
                            status: "active".into(),
                            billing_cycle: if j % 2 == 0 { "monthly".into() } else { "annual".into() },
                            is_trial: false,
                            entitlement_id: offer
                                .starts_with("Azure")
                                .then(|| format!("{:08x}-aaaa-4000-8000-{:012x}", i + 1, j + 1)),
                        }
                    })
                    .collect();
                d.subscriptions.insert(id, subs);
            }
            for i in 0..size.requests {
                let t = d.topics[i % d.topics.len()].clone();
                let created = now - chrono::Duration::minutes(10 * (size.requests - i) as i64);
                let notes = (0..size.notes_per_request)
                    .map(|n| Note {
                        created_by_name: "Partner Admin".into(),
                        created_date: (created + chrono::Duration::minutes(n as i64 + 1))
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        text: format!("Partner note {n} on request {i}"),
                    })
                    .collect();
                d.requests.push(ServiceRequest {
                    id: format!("{}", 616_122_292_000_000u64 + i as u64),
                    title: format!("Simulated request {}", i + 1),
                    description: format!("Filed in Partner Center ({})", t.name),
                    severity: ["critical", "moderate", "minimal"][i % 3].into(),
                    status: "open".into(),
                    support_topic_id: Some(t.id.clone()),
                    support_topic_name: Some(t.name.clone()),
                    primary_contact: Some(Contact {
                        first_name: Some("Partner".into()),
                        last_name: Some("Admin".into()),
                        email: Some("admin@partner.example".into()),
                        phone_number: None,
                    }),
                    created_date: created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    last_modified_date: Some(created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    last_closed_date: Some("0001-01-01T00:00:00".into()),
                    notes,
                    country_code: Some("US".into()),
                });
            }
        }
        Arc::new(sim)
    }

    /// Sets the faults to play from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.data.lock().unwrap().faults = faults;
    }

    /// Ends the relationship with a customer: Partner Center stops listing it.
    pub fn remove_customer(&self, id: &str) {
        self.data.lock().unwrap().customers.retain(|c| c.id != id);
    }

    /// Cancels a subscription: Partner Center stops listing it.
    pub fn remove_subscription(&self, customer: &str, id: &str) {
        if let Some(subs) = self.data.lock().unwrap().subscriptions.get_mut(customer) {
            subs.retain(|s| s.id != id);
        }
    }

    /// Renames a customer at Partner Center.
    pub fn rename_customer(&self, id: &str, name: &str) {
        let mut d = self.data.lock().unwrap();
        if let Some(c) = d.customers.iter_mut().find(|c| c.id == id) {
            c.company_profile.company_name = name.into();
        }
    }

    /// Microsoft changes a request's status (`open`, `attention_needed`, `closed`).
    pub fn set_request_status(&self, id: &str, status: &str, now: DateTime<Utc>) -> bool {
        let mut d = self.data.lock().unwrap();
        let Some(r) = d.requests.iter_mut().find(|r| r.id == id) else { return false };
        r.status = status.into();
        r.last_modified_date = Some(now.to_rfc3339());
        if status == "closed" {
            r.last_closed_date = Some(now.to_rfc3339());
        }
        true
    }

    /// Someone (Microsoft support, or the partner at Partner Center) writes a note on a request.
    pub fn add_note(&self, id: &str, by: &str, text: &str, at: DateTime<Utc>) -> bool {
        let mut d = self.data.lock().unwrap();
        let Some(r) = d.requests.iter_mut().find(|r| r.id == id) else { return false };
        r.notes.push(Note { created_by_name: by.into(), created_date: at.to_rfc3339(), text: text.into() });
        r.last_modified_date = Some(at.to_rfc3339());
        true
    }

    /// The service requests as Partner Center holds them.
    pub fn requests(&self) -> Vec<ServiceRequest> {
        self.data.lock().unwrap().requests.clone()
    }

    pub fn customers(&self) -> Vec<Customer> {
        self.data.lock().unwrap().customers.clone()
    }

    /// Its HTTP API: the token endpoint at `/{tenant}/oauth2/v2.0/token`, Partner Center at
    /// `/v1`, the Azure Support API at `/providers/Microsoft.Support` and
    /// `/subscriptions/{id}/providers/Microsoft.Support`, and the controls at `/_sim`.
    pub fn router(self: &Arc<Simulator>) -> Router {
        Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/v1/customers", get(customers))
            .route("/v1/customers/{id}", get(customer))
            .route("/v1/customers/{id}/subscriptions", get(subscriptions))
            .route("/v1/servicerequests", get(service_requests))
            .route("/v1/servicerequests/supporttopics", get(support_topics))
            .route("/v1/servicerequests/{id}", patch(update_request).get(service_request).post(create_request))
            .route("/_sim/faults", post(set_faults))
            .route("/_sim/servicerequests/{id}/status", post(sim_status))
            .route("/_sim/servicerequests/{id}/notes", post(sim_note))
            .route("/_sim/stats", get(stats))
            .merge(azure::routes())
            .merge(graph::routes())
            .with_state(self.clone())
    }

    /// Serves the simulator on `listener` until the process ends.
    pub async fn serve(self: Arc<Simulator>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }
}

fn topic(id: &str, name: &str) -> SupportTopic {
    SupportTopic { id: id.into(), name: name.into(), description: None }
}

type Shared = State<Arc<Simulator>>;

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    #[allow(dead_code)]
    scope: Option<String>,
}

async fn token(State(sim): Shared, Path(tenant): Path<String>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type != "client_credentials" {
        return oauth_error("unsupported_grant_type", "AADSTS70003: only client_credentials is served here");
    }
    if form.client_id.as_deref() != Some(CLIENT_ID) || form.client_secret.as_deref() != Some(CLIENT_SECRET) {
        return oauth_error("invalid_client", "AADSTS7000215: Invalid client secret provided.");
    }
    let token = format!("sim-{}", uuid::Uuid::new_v4());
    sim.data.lock().unwrap().tokens.insert(token.clone(), tenant);
    sim.tokens_issued.fetch_add(1, Ordering::Relaxed);
    Json(json!({ "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token }))
        .into_response()
}

fn oauth_error(error: &str, description: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": error, "error_description": description, "error_codes": [7000215] })),
    )
        .into_response()
}

fn pc_error(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({ "code": code, "description": description, "source": "PartnerFD" }))).into_response()
}

/// A connection lost before the answer: the body fails, so the client sees a broken answer.
fn dropped() -> Response {
    let stream = futures_util::stream::once(async { Err::<axum::body::Bytes, _>(std::io::Error::other("dropped")) });
    Response::builder().status(StatusCode::OK).body(Body::from_stream(stream)).unwrap()
}

/// What every API call goes through: sign-in, then the faults in play. `Err` is the answer.
async fn admit(sim: &Simulator, headers: &HeaderMap, create: bool) -> Result<bool, Response> {
    sim.calls.fetch_add(1, Ordering::Relaxed);
    let (delay, fault) = {
        let mut d = sim.data.lock().unwrap();
        let bearer = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !bearer.is_some_and(|t| d.tokens.contains_key(t)) {
            return Err(pc_error(StatusCode::UNAUTHORIZED, "401", "Unauthorized: the token is missing or unknown"));
        }
        let f = &mut d.faults;
        let fault = if f.throttle > 0 {
            f.throttle -= 1;
            Some(Err((
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", format!("{}", f.retry_after_seconds))],
                Json(json!({ "statusCode": 429, "message": "Rate limit is exceeded. Try again later." })),
            )
                .into_response()))
        } else if f.fail > 0 {
            f.fail -= 1;
            Some(Err(pc_error(StatusCode::SERVICE_UNAVAILABLE, "503", "The service is temporarily unavailable")))
        } else if f.drop > 0 {
            f.drop -= 1;
            Some(Err(dropped()))
        } else if f.fail_after == 1 {
            Some(Err(pc_error(StatusCode::SERVICE_UNAVAILABLE, "503", "The service is down")))
        } else {
            if f.fail_after > 1 {
                f.fail_after -= 1;
            }
            if create && f.lose_answer > 0 {
                f.lose_answer -= 1;
                Some(Ok(true))
            } else {
                None
            }
        };
        (d.faults.delay_ms, fault)
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    match fault {
        Some(Err(answer)) => Err(answer),
        Some(Ok(lose)) => Ok(lose),
        None => Ok(false),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CustomersQuery {
    size: Option<usize>,
    seek_operation: Option<String>,
}

/// The seek token: the position of the next page, and its size, opaque to the client.
fn seek_token(offset: usize, size: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{offset}:{size}"))
}

fn read_seek_token(token: &str) -> Option<(usize, usize)> {
    use base64::Engine;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(token).ok()?).ok()?;
    let (a, b) = text.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

async fn customers(State(sim): Shared, headers: HeaderMap, Query(q): Query<CustomersQuery>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let (offset, size) = if q.seek_operation.as_deref() == Some("Next") {
        let token = headers.get("MS-ContinuationToken").and_then(|v| v.to_str().ok());
        match token.and_then(read_seek_token) {
            Some(p) => p,
            None => return pc_error(StatusCode::BAD_REQUEST, "400", "The continuation token is missing or invalid"),
        }
    } else {
        (0, q.size.unwrap_or(200).clamp(1, 500))
    };
    let d = sim.data.lock().unwrap();
    let items: Vec<Value> = d
        .customers
        .iter()
        .skip(offset)
        .take(size)
        .map(|c| {
            // A list leaves out the billing profile and the delegated-access flag.
            let mut v =
                serde_json::to_value(Customer { billing_profile: None, allow_delegated_access: None, ..c.clone() })
                    .unwrap();
            v["attributes"] = json!({ "objectType": "Customer" });
            v
        })
        .collect();
    let mut body = json!({
        "totalCount": items.len(),
        "items": items,
        "links": { "self": { "uri": format!("/customers?size={size}"), "method": "GET", "headers": [] } },
        "attributes": { "objectType": "Collection" },
    });
    if offset + size < d.customers.len() {
        let token = seek_token(offset + size, size);
        body["continuationToken"] = json!(token);
        body["links"]["next"] = json!({
            "uri": format!("/customers?size={size}&seekOperation=Next"),
            "method": "GET",
            "headers": [{ "key": "MS-ContinuationToken", "value": token }],
        });
    }
    Json(body).into_response()
}

async fn customer(State(sim): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    match d.customers.iter().find(|c| c.id == id) {
        Some(c) => Json(c).into_response(),
        None => pc_error(StatusCode::NOT_FOUND, "600008", "The requested customer was not found"),
    }
}

async fn subscriptions(State(sim): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    if !d.customers.iter().any(|c| c.id == id) {
        return pc_error(StatusCode::NOT_FOUND, "600008", "The requested customer was not found");
    }
    let items = d.subscriptions.get(&id).cloned().unwrap_or_default();
    Json(json!({ "totalCount": items.len(), "items": items, "attributes": { "objectType": "Collection" } }))
        .into_response()
}

#[derive(Debug, Deserialize)]
struct OffsetQuery {
    offset: Option<usize>,
    size: Option<usize>,
}

async fn service_requests(State(sim): Shared, headers: HeaderMap, Query(q): Query<OffsetQuery>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    let offset = q.offset.unwrap_or(0);
    let size = q.size.unwrap_or(d.requests.len().max(1)).clamp(1, 1000);
    let items: Vec<&ServiceRequest> = d.requests.iter().skip(offset).take(size).collect();
    Json(json!({ "totalCount": items.len(), "items": items, "attributes": { "objectType": "Collection" } }))
        .into_response()
}

async fn service_request(State(sim): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    match d.requests.iter().find(|r| r.id == id) {
        Some(r) => Json(r).into_response(),
        None => pc_error(StatusCode::NOT_FOUND, "404", "The service request was not found"),
    }
}

async fn support_topics(State(sim): Shared, headers: HeaderMap) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    Json(json!({ "totalCount": d.topics.len(), "items": d.topics, "attributes": { "objectType": "Collection" } }))
        .into_response()
}

/// Reads a field written in either case (Partner Center takes `Title` and `title`).
fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    let mut upper = name.to_owned();
    upper[..1].make_ascii_uppercase();
    body.get(name).or_else(|| body.get(&upper))
}

/// `POST /v1/servicerequests/{agent_locale}`.
async fn create_request(
    State(sim): Shared,
    headers: HeaderMap,
    Path(_locale): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let lose = match admit(&sim, &headers, true).await {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    let text = |k: &str| field(&body, k).and_then(Value::as_str).map(str::to_owned);
    let (Some(title), Some(severity)) = (text("title"), text("severity")) else {
        return pc_error(StatusCode::BAD_REQUEST, "400", "Title and Severity are required");
    };
    let topic = field(&body, "supportTopicId").map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()));
    let now = Utc::now();
    let key = headers.get("MS-RequestId").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = {
        let mut d = sim.data.lock().unwrap();
        // A retry of a call whose answer was lost: the request the first call made.
        if let Some(earlier) = key.as_ref().and_then(|k| d.created_by_key.get(k)).cloned()
            && let Some(r) = d.requests.iter().find(|r| r.id == earlier)
        {
            return (StatusCode::CREATED, Json(r.clone())).into_response();
        }
        let Some(t) = topic.as_ref().and_then(|t| d.topics.iter().find(|x| &x.id == t)).cloned() else {
            return pc_error(StatusCode::BAD_REQUEST, "400", "The support topic is not valid");
        };
        let r = ServiceRequest {
            id: format!("{}", 716_122_292_000_000u64 + d.requests.len() as u64),
            title,
            description: text("description").unwrap_or_default(),
            severity,
            status: "open".into(),
            support_topic_id: Some(t.id.clone()),
            support_topic_name: Some(t.name.clone()),
            primary_contact: field(&body, "primaryContact").and_then(|c| serde_json::from_value(c.clone()).ok()),
            created_date: now.to_rfc3339(),
            last_modified_date: Some(now.to_rfc3339()),
            last_closed_date: Some("0001-01-01T00:00:00".into()),
            notes: vec![],
            country_code: Some("US".into()),
        };
        d.requests.push(r.clone());
        if let Some(k) = key {
            d.created_by_key.insert(k, r.id.clone());
        }
        r
    };
    sim.created.fetch_add(1, Ordering::Relaxed);
    if lose {
        return dropped();
    }
    (StatusCode::CREATED, Json(request)).into_response()
}

/// `PATCH /v1/servicerequests/{id}`: a new note (`NewNote.Text`) or a status.
async fn update_request(
    State(sim): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let lose = match admit(&sim, &headers, true).await {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    let updated = {
        let mut d = sim.data.lock().unwrap();
        let Some(r) = d.requests.iter_mut().find(|r| r.id == id) else {
            return pc_error(StatusCode::NOT_FOUND, "404", "The service request was not found");
        };
        let now = Utc::now().to_rfc3339();
        if let Some(text) = field(&body, "newNote").and_then(|n| field(n, "text")).and_then(Value::as_str) {
            if text.trim().is_empty() {
                return pc_error(StatusCode::BAD_REQUEST, "400", "A note needs text");
            }
            r.notes.push(Note { created_by_name: "Partner".into(), created_date: now.clone(), text: text.into() });
        }
        if let Some(status) = field(&body, "status").and_then(Value::as_str) {
            r.status = status.into();
        }
        r.last_modified_date = Some(now);
        r.clone()
    };
    // Like a create, an update may take effect and lose its answer (no idempotency here).
    if lose {
        return dropped();
    }
    Json(updated).into_response()
}

async fn set_faults(State(sim): Shared, Json(faults): Json<Faults>) -> Response {
    sim.set_faults(faults);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Debug, Deserialize)]
struct StatusBody {
    status: String,
}

async fn sim_status(State(sim): Shared, Path(id): Path<String>, Json(b): Json<StatusBody>) -> Response {
    if sim.set_request_status(&id, &b.status, Utc::now()) { StatusCode::NO_CONTENT } else { StatusCode::NOT_FOUND }
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NoteBody {
    created_by_name: String,
    text: String,
}

async fn sim_note(State(sim): Shared, Path(id): Path<String>, Json(b): Json<NoteBody>) -> Response {
    if sim.add_note(&id, &b.created_by_name, &b.text, Utc::now()) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_FOUND
    }
    .into_response()
}

async fn stats(State(sim): Shared) -> Response {
    Json(json!({
        "calls": sim.calls.load(Ordering::Relaxed),
        "tokensIssued": sim.tokens_issued.load(Ordering::Relaxed),
        "created": sim.created.load(Ordering::Relaxed),
    }))
    .into_response()
}
