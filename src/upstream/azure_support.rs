//! The Azure Support API (`Microsoft.Support`, api-version 2024-04-01) as the gateway uses it:
//! services and problem classifications (Azure's support topics), and the support tickets of a
//! customer's Azure subscriptions with their communications. Calls about a customer's
//! subscription are made in the customer's tenant, with the partner's own token as the
//! auxiliary token (the CSP on-behalf-of pattern the API documents).
//!
//! Every object is an ARM resource: `id`, `name`, and its fields under `properties`. Lists are
//! `{ "value": [...], "nextLink": "..." }`, followed until `nextLink` is absent.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{UpstreamClient, UpstreamError};

pub const API_VERSION: &str = "2024-04-01";

/// A list page.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// A resource: its ARM id and name, and its fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource<P> {
    pub id: String,
    pub name: String,
    pub properties: P,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProperties {
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemClassificationProperties {
    pub display_name: String,
}

pub type Service = Resource<ServiceProperties>;
pub type ProblemClassification = Resource<ProblemClassificationProperties>;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactDetails {
    pub first_name: String,
    pub last_name: String,
    pub preferred_contact_method: String,
    pub primary_email_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    pub preferred_time_zone: String,
    pub country: String,
    pub preferred_support_language: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketProperties {
    /// Microsoft's case number; absent in a create body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_ticket_id: Option<String>,
    pub title: String,
    pub description: String,
    pub service_id: String,
    pub problem_classification_id: String,
    /// `minimal`, `moderate`, `critical` or `highestcriticalimpact`.
    pub severity: String,
    /// `Open`, `Updating`, `Closed` … (a free string: compare without case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default)]
    pub require24_x7_response: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advanced_diagnostic_consent: Option<String>,
    pub contact_details: ContactDetails,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_date: Option<String>,
}

pub type Ticket = Resource<TicketProperties>;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunicationProperties {
    /// `inbound`: from Microsoft support; `outbound`: from the customer's side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_direction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    pub subject: String,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_date: Option<String>,
}

pub type Communication = Resource<CommunicationProperties>;

/// The Azure Support API through the shared client.
#[derive(Debug)]
pub struct AzureSupport {
    pub client: UpstreamClient,
}

fn versioned(path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}api-version={API_VERSION}")
}

fn ticket_path(subscription: &str, name: &str) -> String {
    format!("subscriptions/{subscription}/providers/Microsoft.Support/supportTickets/{name}")
}

impl AzureSupport {
    /// Every page of a list, following `nextLink`.
    async fn all<T: serde::de::DeserializeOwned>(
        &self,
        tenant: Option<&str>,
        path: &str,
    ) -> Result<Vec<T>, UpstreamError> {
        let mut out = Vec::new();
        let mut next = Some(versioned(path));
        while let Some(url) = next {
            let page: List<T> = self.client.call(Method::GET, tenant, &url, &[], None).await?.body;
            out.extend(page.value);
            next = page.next_link;
        }
        Ok(out)
    }

    /// The Azure services support is given for.
    pub async fn services(&self) -> Result<Vec<Service>, UpstreamError> {
        self.all(None, "providers/Microsoft.Support/services").await
    }

    /// The problem classifications of a service (`name` is the service's name, a GUID).
    pub async fn problem_classifications(&self, service: &str) -> Result<Vec<ProblemClassification>, UpstreamError> {
        self.all(None, &format!("providers/Microsoft.Support/services/{service}/problemClassifications")).await
    }

    /// A ticket of a customer's subscription by its name, if there is one.
    pub async fn ticket(&self, tenant: &str, subscription: &str, name: &str) -> Result<Option<Ticket>, UpstreamError> {
        let path = versioned(&ticket_path(subscription, name));
        match self.client.call(Method::GET, Some(tenant), &path, &[], None).await {
            Ok(answer) => Ok(Some(answer.body)),
            Err(UpstreamError::Rejected { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Files a ticket named `name` on a customer's subscription (`PUT`). The documentation does
    /// not say what a second `PUT` of a name does, so it is sent once per attempt; a caller
    /// that tries again first looks the name up (`ticket`).
    pub async fn create_ticket(
        &self,
        tenant: &str,
        subscription: &str,
        name: &str,
        properties: &TicketProperties,
    ) -> Result<Ticket, UpstreamError> {
        let path = versioned(&ticket_path(subscription, name));
        let body = serde_json::json!({ "properties": properties });
        Ok(self.client.call_unrepeated(Method::PUT, Some(tenant), &path, &[], Some(&body)).await?.body)
    }

    /// A ticket's communications, oldest first as the API lists them.
    pub async fn communications(
        &self,
        tenant: &str,
        subscription: &str,
        name: &str,
    ) -> Result<Vec<Communication>, UpstreamError> {
        self.all(Some(tenant), &format!("{}/communications", ticket_path(subscription, name))).await
    }
}

impl AzureSupport {
    /// Adds a message to a ticket (`PUT …/communications/{name}`), sent once per attempt like
    /// a ticket: a name already taken means an earlier attempt got there.
    pub async fn create_communication(
        &self,
        tenant: &str,
        subscription: &str,
        ticket: &str,
        name: &str,
        properties: &CommunicationProperties,
    ) -> Result<Communication, UpstreamError> {
        let path = versioned(&format!("{}/communications/{name}", ticket_path(subscription, ticket)));
        let body = serde_json::json!({ "properties": properties });
        Ok(self.client.call_unrepeated(Method::PUT, Some(tenant), &path, &[], Some(&body)).await?.body)
    }
}

/// A ticket and its communications as Partner Center would show the request, `case` its id,
/// so that sync applies both alike: Microsoft's messages (`inbound`) are support's notes, the
/// rest the partner's.
pub fn as_service_request(
    case: &str,
    ticket: &Ticket,
    messages: &[Communication],
) -> super::partner_center::ServiceRequest {
    use crate::domain::upstream as up;
    let t = &ticket.properties;
    super::partner_center::ServiceRequest {
        id: case.to_owned(),
        title: t.title.clone(),
        description: t.description.clone(),
        severity: up::azure_severity(&t.severity).into(),
        status: up::azure_status(t.status.as_deref().unwrap_or("Open")).into(),
        support_topic_id: None,
        support_topic_name: None,
        primary_contact: None,
        created_date: t.created_date.clone().unwrap_or_default(),
        last_modified_date: t.modified_date.clone(),
        last_closed_date: None,
        notes: messages
            .iter()
            .map(|m| {
                let inbound = m.properties.communication_direction.as_deref() == Some("inbound");
                super::partner_center::Note {
                    created_by_name: if inbound {
                        m.properties.sender.clone().unwrap_or_else(|| "Microsoft Support".into())
                    } else {
                        "Partner".into()
                    },
                    created_date: m.properties.created_date.clone().unwrap_or_default(),
                    text: m.properties.body.clone(),
                }
            })
            .collect(),
        country_code: None,
    }
}

/// A problem classification's service name, from its id
/// (`/providers/Microsoft.Support/services/{service}/problemClassifications/{id}`).
pub fn service_of(problem_classification_id: &str) -> Option<&str> {
    problem_classification_id.split("/services/").nth(1)?.split('/').next()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_problem_classification_names_its_service() {
        let id = "/providers/Microsoft.Support/services/06bfd9d3/problemClassifications/e12e3d1d";
        assert_eq!(super::service_of(id), Some("06bfd9d3"));
        assert_eq!(super::service_of("nonsense"), None);
    }
}
