//! The Partner Center REST API (`/v1`), as its documentation gives it: customers (seek-paged
//! with `MS-ContinuationToken`), a customer's subscriptions, the partner's service requests
//! (offset-paged search) and support topics. The simulator serves the same shapes.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{UpstreamClient, UpstreamError};

/// A Partner Center collection: `items`, and for seek-paged collections the token of the next
/// page (top-level `continuationToken`, and in `links.next.headers`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Collection<T> {
    #[serde(default)]
    pub total_count: i64,
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(default)]
    pub links: Links,
}

impl<T> Collection<T> {
    /// The token of the next page: the top-level field, or the header in `links.next`.
    pub fn next_token(&self) -> Option<String> {
        self.continuation_token.clone().or_else(|| {
            self.links
                .next
                .as_ref()?
                .headers
                .iter()
                .find(|h| h.key.eq_ignore_ascii_case("MS-ContinuationToken"))
                .map(|h| h.value.clone())
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Links {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<Link>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Link {
    pub uri: String,
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub headers: Vec<Header>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// The customer's tenant id.
    pub id: String,
    pub company_profile: CompanyProfile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_profile: Option<BillingProfile>,
    #[serde(default)]
    pub relationship_to_partner: String,
    /// Only on a customer read by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_delegated_access: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompanyProfile {
    pub tenant_id: String,
    pub domain: String,
    pub company_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingProfile {
    #[serde(default)]
    pub culture: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub default_address: Option<Address>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    #[serde(default)]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    #[serde(default)]
    pub offer_id: String,
    pub offer_name: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    pub quantity: i64,
    #[serde(default)]
    pub creation_date: Option<String>,
    pub status: String,
    #[serde(default)]
    pub billing_cycle: String,
    #[serde(default)]
    pub is_trial: bool,
    /// For an Azure plan: the Azure subscription it entitles (the entitlement id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRequest {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub severity: String,
    pub status: String,
    #[serde(default, deserialize_with = "id_as_text")]
    pub support_topic_id: Option<String>,
    #[serde(default)]
    pub support_topic_name: Option<String>,
    #[serde(default)]
    pub primary_contact: Option<Contact>,
    pub created_date: String,
    #[serde(default)]
    pub last_modified_date: Option<String>,
    #[serde(default)]
    pub last_closed_date: Option<String>,
    #[serde(default)]
    pub notes: Vec<Note>,
    #[serde(default)]
    pub country_code: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone_number: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Note {
    #[serde(default)]
    pub created_by_name: String,
    pub created_date: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupportTopic {
    #[serde(deserialize_with = "id_as_text_required")]
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// Partner Center documents support topic ids as strings and shows them as numbers.
fn id_as_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn id_as_text_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    id_as_text(d)?.ok_or_else(|| serde::de::Error::custom("a support topic without an id"))
}

/// The calls sync makes to Partner Center.
#[derive(Debug)]
pub struct PartnerCenter {
    pub client: UpstreamClient,
}

impl PartnerCenter {
    /// One page of the partner's customers: the first (`token` = `None`) or the one after
    /// `token`.
    pub async fn customers(&self, size: usize, token: Option<&str>) -> Result<Collection<Customer>, UpstreamError> {
        let answer = match token {
            None => self.client.call(Method::GET, None, &format!("customers?size={size}"), &[], None).await?,
            Some(t) => {
                let headers = [("MS-ContinuationToken", t)];
                self.client.call(Method::GET, None, "customers?seekOperation=Next", &headers, None).await?
            }
        };
        Ok(answer.body)
    }

    /// One customer, with its billing profile and delegated-access flag.
    pub async fn customer(&self, id: &str) -> Result<Customer, UpstreamError> {
        Ok(self.client.call(Method::GET, None, &format!("customers/{id}"), &[], None).await?.body)
    }

    /// All of a customer's subscriptions (the API does not page them).
    pub async fn subscriptions(&self, customer: &str) -> Result<Vec<Subscription>, UpstreamError> {
        let answer: super::Answer<Collection<Subscription>> =
            self.client.call(Method::GET, None, &format!("customers/{customer}/subscriptions"), &[], None).await?;
        Ok(answer.body.items)
    }

    /// One page of the partner's service requests, from `offset`.
    pub async fn service_requests(
        &self,
        offset: usize,
        size: usize,
    ) -> Result<Collection<ServiceRequest>, UpstreamError> {
        let path = format!("servicerequests?offset={offset}&size={size}");
        Ok(self.client.call(Method::GET, None, &path, &[], None).await?.body)
    }

    /// Files a service request (`POST /servicerequests/{agent-locale}`). `request_key` goes out
    /// as MS-RequestId: the same key on a retry lets Partner Center answer with the request the
    /// first attempt made, instead of filing a second.
    pub async fn create_request(
        &self,
        body: &serde_json::Value,
        request_key: &str,
    ) -> Result<ServiceRequest, UpstreamError> {
        let headers = [("MS-RequestId", request_key)];
        Ok(self.client.call(Method::POST, None, "servicerequests/en-US", &headers, Some(body)).await?.body)
    }

    /// One service request, with its notes.
    pub async fn service_request(&self, id: &str) -> Result<ServiceRequest, UpstreamError> {
        let path = format!("servicerequests/{id}");
        Ok(self.client.call(Method::GET, None, &path, &[], None).await?.body)
    }

    /// Adds a note to a service request (`PATCH /servicerequests/{id}` with `NewNote`); the
    /// answer is the request with its notes. Partner Center documents no idempotency for it:
    /// the caller looks for an earlier attempt's note before sending again.
    pub async fn add_note(&self, id: &str, text: &str, request_key: &str) -> Result<ServiceRequest, UpstreamError> {
        let path = format!("servicerequests/{id}");
        let body = serde_json::json!({ "NewNote": { "Text": text } });
        let headers = [("MS-RequestId", request_key)];
        Ok(self.client.call_unrepeated(Method::PATCH, None, &path, &headers, Some(&body)).await?.body)
    }

    pub async fn support_topics(&self) -> Result<Vec<SupportTopic>, UpstreamError> {
        let answer: super::Answer<Collection<SupportTopic>> =
            self.client.call(Method::GET, None, "servicerequests/supporttopics", &[], None).await?;
        Ok(answer.body.items)
    }
}
