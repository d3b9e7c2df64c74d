//! Microsoft Graph, for what it alone knows about a CSP partner's customers: its granular
//! delegated admin relationships (GDAP, `GET /tenantRelationships/delegatedAdminRelationships`,
//! v1.0), called in the partner's own tenant. Lists page with `@odata.nextLink`, followed as
//! given.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::{UpstreamClient, UpstreamError};

/// A list page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelationshipCustomer {
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
}

/// One delegated admin relationship (`delegatedAdminRelationship`, or the reseller kind, which
/// has the same fields and more).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DelegatedAdminRelationship {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// `active`, `approvalPending`, `expired`, `expiring`, `terminated` …
    pub status: String,
    pub customer: RelationshipCustomer,
    #[serde(default)]
    pub end_date_time: Option<String>,
}

/// Microsoft Graph through the shared client.
#[derive(Debug)]
pub struct Graph {
    pub client: UpstreamClient,
}

impl Graph {
    /// Every delegated admin relationship of the partner, all pages.
    pub async fn delegated_admin_relationships(&self) -> Result<Vec<DelegatedAdminRelationship>, UpstreamError> {
        let mut out = Vec::new();
        let mut next = Some("tenantRelationships/delegatedAdminRelationships?$top=300".to_owned());
        while let Some(url) = next {
            let page: Page<DelegatedAdminRelationship> =
                self.client.call(Method::GET, None, &url, &[], None).await?.body;
            out.extend(page.value);
            next = page.next_link;
        }
        Ok(out)
    }
}
