//! The Microsoft Graph side of the simulator: the partner's delegated admin relationships
//! (GDAP) with its customers, one per customer that allows delegated access, paged with
//! `@odata.nextLink`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::{Simulator, admit};
use crate::upstream::graph::{DelegatedAdminRelationship, Page, RelationshipCustomer};

/// Relationships a page.
const PAGE: usize = 50;

impl Simulator {
    /// The status of the partner's delegated admin relationship with a customer (`active`,
    /// `terminated`, `expired` …), as Graph will list it.
    pub fn set_gdap_status(&self, customer: &str, status: &str) {
        self.data.lock().unwrap().gdap.insert(customer.to_owned(), status.to_owned());
    }

    fn relationships(&self) -> Vec<DelegatedAdminRelationship> {
        let d = self.data.lock().unwrap();
        d.customers
            .iter()
            .filter_map(|c| {
                let status = match d.gdap.get(&c.id) {
                    Some(status) => status.clone(),
                    None if c.allow_delegated_access == Some(true) => "active".to_owned(),
                    None => return None,
                };
                Some(DelegatedAdminRelationship {
                    id: format!("{}-{}", super::PARTNER_TENANT, c.id),
                    display_name: Some(format!("Support for {}", c.company_profile.company_name)),
                    status,
                    customer: RelationshipCustomer {
                        tenant_id: c.id.clone(),
                        display_name: Some(c.company_profile.company_name.clone()),
                    },
                    end_date_time: None,
                })
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(rename = "$skiptoken")]
    skip: Option<usize>,
}

pub(super) fn routes() -> Router<Arc<Simulator>> {
    Router::new().route("/v1.0/tenantRelationships/delegatedAdminRelationships", get(list))
}

async fn list(State(sim): State<Arc<Simulator>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Response {
    if let Err(answer) = admit(&sim, &headers, false).await {
        return answer;
    }
    let all = sim.relationships();
    let start = q.skip.unwrap_or(0).min(all.len());
    let end = (start + PAGE).min(all.len());
    // Absolute, as Graph gives it.
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let next_link = (end < all.len()).then(|| {
        format!("http://{host}/v1.0/tenantRelationships/delegatedAdminRelationships?$top=300&$skiptoken={end}")
    });
    Json(Page { value: all[start..end].to_vec(), next_link }).into_response()
}
