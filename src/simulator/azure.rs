//! The Azure Support API side of the simulator: services and problem classifications, and the
//! support tickets of the customers' Azure subscriptions with their communications, under
//! `/subscriptions/{subscription}/providers/Microsoft.Support/…` as Azure Resource Manager
//! serves them. A call about a subscription must be signed in to the customer's tenant that
//! owns it and carry a partner token as `x-ms-authorization-auxiliary`, as for a CSP partner.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{PARTNER_TENANT, Simulator, admit, dropped};
use crate::upstream::azure_support::{
    Communication, CommunicationProperties, List, ProblemClassification, ProblemClassificationProperties, Service,
    ServiceProperties, Ticket, TicketProperties,
};

/// A service's name, display name and problem classifications (name, display name).
type ServiceEntry = (&'static str, &'static str, &'static [(&'static str, &'static str)]);

/// The services the simulator gives support for, and their problem classifications.
const SERVICES: [ServiceEntry; 2] = [
    (
        "6f16735c-b0ae-b275-ad3a-03479cfa1396",
        "Virtual Machine running Windows",
        &[("aa0bbc5c-8d1f-4c43-8c53-1f8b1c6ad1a1", "Cannot connect to my VM / RDP")],
    ),
    (
        "517f2da6-78fd-0498-4e22-ad26996b1dfc",
        "Storage Account Management",
        &[("b1f2a3c4-0000-4000-8000-00000000a001", "Data access / Performance issues")],
    ),
];

/// Azure's state in the simulator.
#[derive(Debug, Default)]
pub(super) struct AzureData {
    /// Tickets by (subscription, name).
    tickets: HashMap<(String, String), Ticket>,
    /// Communications by ticket name, oldest first.
    communications: HashMap<String, Vec<Communication>>,
    next_case: u64,
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

fn service_id(service: &str) -> String {
    format!("/providers/Microsoft.Support/services/{service}")
}

fn classification_id(service: &str, pc: &str) -> String {
    format!("/providers/Microsoft.Support/services/{service}/problemClassifications/{pc}")
}

impl Simulator {
    /// Microsoft support writes on an Azure ticket (an `inbound` communication).
    pub fn add_azure_communication(&self, ticket: &str, sender: &str, body: &str, at: DateTime<Utc>) -> bool {
        let mut d = self.data.lock().unwrap();
        let Some(list) = d.azure.communications.get_mut(ticket) else { return false };
        let n = list.len() + 1;
        list.push(Communication {
            id: format!("{ticket}/communications/sim-{n}"),
            name: format!("sim-{n}"),
            properties: CommunicationProperties {
                communication_direction: Some("inbound".into()),
                sender: Some(sender.into()),
                subject: "Update from Microsoft support".into(),
                body: body.into(),
                created_date: Some(at.to_rfc3339()),
            },
        });
        true
    }

    /// Microsoft changes an Azure ticket's status (`Open`, `Closed`).
    pub fn set_azure_ticket_status(&self, name: &str, status: &str) -> bool {
        let mut d = self.data.lock().unwrap();
        let Some(t) = d.azure.tickets.values_mut().find(|t| t.name == name) else { return false };
        t.properties.status = Some(status.into());
        true
    }

    /// The Azure support tickets, as Azure holds them.
    pub fn azure_tickets(&self) -> Vec<Ticket> {
        self.data.lock().unwrap().azure.tickets.values().cloned().collect()
    }

    /// The tenant a token was issued for.
    fn tenant_of(&self, headers: &HeaderMap, header: &str) -> Option<String> {
        let token = headers.get(header).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))?;
        self.data.lock().unwrap().tokens.get(token).cloned()
    }

    /// Refuses a call about `subscription` not made as the CSP partner in the tenant of the
    /// customer that owns it.
    #[allow(clippy::result_large_err)] // the refusal is the answer, built once per call
    fn on_behalf(&self, headers: &HeaderMap, subscription: &str) -> Result<(), Response> {
        let owner = {
            let d = self.data.lock().unwrap();
            d.subscriptions
                .iter()
                .find(|(_, subs)| subs.iter().any(|s| s.entitlement_id.as_deref() == Some(subscription)))
                .map(|(customer, _)| customer.clone())
        };
        let Some(owner) = owner else {
            return Err(arm_error(
                StatusCode::NOT_FOUND,
                "SubscriptionNotFound",
                &format!("The subscription '{subscription}' could not be found."),
            ));
        };
        if self.tenant_of(headers, "authorization").as_deref() != Some(owner.as_str()) {
            return Err(arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationTokenTenant",
                "The access token is from the wrong issuer: sign in to the tenant of the subscription",
            ));
        }
        if self.tenant_of(headers, "x-ms-authorization-auxiliary").as_deref() != Some(PARTNER_TENANT) {
            return Err(arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuxiliaryToken",
                "A CSP partner must send its own token in x-ms-authorization-auxiliary",
            ));
        }
        Ok(())
    }
}

type Shared = State<Arc<Simulator>>;

/// A call about `subscription`: sign-in, the faults in play, and the on-behalf-of check.
/// `Ok(true)`: a write that takes effect, then loses its answer.
#[allow(clippy::result_large_err)] // the refusal is the answer
async fn admit_on_behalf(
    sim: &Simulator,
    headers: &HeaderMap,
    subscription: &str,
    write: bool,
) -> Result<bool, Response> {
    let lose = admit(sim, headers, write).await?;
    sim.on_behalf(headers, subscription)?;
    Ok(lose)
}

pub(super) fn routes() -> Router<Arc<Simulator>> {
    let tickets = "/subscriptions/{subscription}/providers/Microsoft.Support/supportTickets";
    Router::new()
        .route("/providers/Microsoft.Support/services", get(services))
        .route("/providers/Microsoft.Support/services/{service}/problemClassifications", get(classifications))
        .route(&format!("{tickets}/{{name}}"), get(ticket).put(create_ticket))
        .route(&format!("{tickets}/{{name}}/communications"), get(communications))
        .route(&format!("{tickets}/{{name}}/communications/{{message}}"), axum::routing::put(create_communication))
}

async fn services(State(sim): Shared, headers: HeaderMap) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let value = SERVICES
        .iter()
        .map(|(id, name, _)| Service {
            id: service_id(id),
            name: (*id).into(),
            properties: ServiceProperties { display_name: (*name).into() },
        })
        .collect();
    Json(List { value, next_link: None }).into_response()
}

async fn classifications(State(sim): Shared, headers: HeaderMap, Path(service): Path<String>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let Some((_, _, pcs)) = SERVICES.iter().find(|(id, _, _)| *id == service) else {
        return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "No such service");
    };
    let value: Vec<ProblemClassification> = pcs
        .iter()
        .map(|(pc, name)| ProblemClassification {
            id: classification_id(&service, pc),
            name: (*pc).into(),
            properties: ProblemClassificationProperties { display_name: (*name).into() },
        })
        .collect();
    Json(List { value, next_link: None }).into_response()
}

async fn ticket(
    State(sim): Shared,
    headers: HeaderMap,
    Path((subscription, name)): Path<(String, String)>,
) -> Response {
    if let Err(answer) = admit_on_behalf(&sim, &headers, &subscription, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    match d.azure.tickets.get(&(subscription, name)) {
        Some(t) => Json(t.clone()).into_response(),
        None => arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The support ticket was not found"),
    }
}

/// `PUT …/supportTickets/{name}`: files a ticket. A name already in use is refused, as the
/// name availability check suggests.
async fn create_ticket(
    State(sim): Shared,
    headers: HeaderMap,
    Path((subscription, name)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let lose = match admit_on_behalf(&sim, &headers, &subscription, true).await {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    let Some(mut properties) =
        body.get("properties").cloned().and_then(|p| serde_json::from_value::<TicketProperties>(p).ok())
    else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContent",
            "properties needs serviceId, problemClassificationId, title, description, severity and contactDetails",
        );
    };
    let known = SERVICES.iter().any(|(s, _, pcs)| {
        properties.service_id == service_id(s)
            && pcs.iter().any(|(pc, _)| properties.problem_classification_id == classification_id(s, pc))
    });
    if !known {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidProblemClassification", "Unknown problem classification");
    }
    if !["minimal", "moderate", "critical", "highestcriticalimpact"].contains(&properties.severity.as_str()) {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidSeverity", "Unknown severity");
    }
    let ticket = {
        let mut d = sim.data.lock().unwrap();
        let key = (subscription.clone(), name.clone());
        if d.azure.tickets.contains_key(&key) {
            return arm_error(StatusCode::CONFLICT, "NameNotAvailable", "Name is already in use");
        }
        d.azure.next_case += 1;
        let now = Utc::now().to_rfc3339();
        properties.support_ticket_id = Some(format!("{}", 2_612_050_010_000_000u64 + d.azure.next_case));
        properties.status = Some("Open".into());
        properties.created_date = Some(now.clone());
        properties.modified_date = Some(now);
        let t = Ticket {
            id: format!("/subscriptions/{subscription}/providers/Microsoft.Support/supportTickets/{name}"),
            name: name.clone(),
            properties,
        };
        d.azure.tickets.insert(key, t.clone());
        d.azure.communications.insert(name, Vec::new());
        t
    };
    sim.created.fetch_add(1, Ordering::Relaxed);
    if lose {
        return dropped();
    }
    Json(ticket).into_response()
}

async fn communications(
    State(sim): Shared,
    headers: HeaderMap,
    Path((subscription, name)): Path<(String, String)>,
) -> Response {
    if let Err(answer) = admit_on_behalf(&sim, &headers, &subscription, false).await {
        return answer;
    }
    let d = sim.data.lock().unwrap();
    if !d.azure.tickets.contains_key(&(subscription, name.clone())) {
        return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The support ticket was not found");
    }
    let value = d.azure.communications.get(&name).cloned().unwrap_or_default();
    Json(List { value, next_link: None }).into_response()
}

/// `PUT …/communications/{message}`: the customer's side writes on a ticket. A name already in
/// use is refused.
async fn create_communication(
    State(sim): Shared,
    headers: HeaderMap,
    Path((subscription, name, message)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let lose = match admit_on_behalf(&sim, &headers, &subscription, true).await {
        Ok(lose) => lose,
        Err(answer) => return answer,
    };
    let Some(mut properties) =
        body.get("properties").cloned().and_then(|p| serde_json::from_value::<CommunicationProperties>(p).ok())
    else {
        return arm_error(StatusCode::BAD_REQUEST, "InvalidRequestContent", "properties needs subject and body");
    };
    let created = {
        let mut d = sim.data.lock().unwrap();
        if !d.azure.tickets.contains_key(&(subscription.clone(), name.clone())) {
            return arm_error(StatusCode::NOT_FOUND, "ResourceNotFound", "The support ticket was not found");
        }
        let list = d.azure.communications.entry(name.clone()).or_default();
        if list.iter().any(|c| c.name == message) {
            return arm_error(StatusCode::CONFLICT, "NameNotAvailable", "Name is already in use");
        }
        properties.communication_direction = Some("outbound".into());
        properties.created_date = Some(Utc::now().to_rfc3339());
        let c = Communication {
            id: format!(
                "/subscriptions/{subscription}/providers/Microsoft.Support/supportTickets/{name}/communications/{message}"
            ),
            name: message,
            properties,
        };
        list.push(c.clone());
        c
    };
    if lose {
        return dropped();
    }
    Json(created).into_response()
}
