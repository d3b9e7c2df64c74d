//! The facts the filing rules decide on, gathered once for both `supportEligibility` and
//! `createServiceRequest`, so the pre-flight answer and the filing cannot disagree.

use super::Repo;
use crate::auth::Caller;
use crate::db::models::*;
use crate::domain::model::*;
use crate::domain::policy::{
    self, CallerFacts, CustomerFacts, Decision, EntitlementClaim, FilingChannel, FilingRequest, Tenant,
};
use crate::error::AppResult;

/// What the rules are asked about: the policy-relevant fields of the filing form, raw ids.
#[derive(Debug, Clone)]
pub struct Draft {
    /// `None`: the partner's own tenant.
    pub customer_id: Option<String>,
    pub product_family: ProductFamily,
    pub subscription_id: Option<String>,
    pub marketplace_product_id: Option<String>,
    pub incident_kind: IncidentKind,
    pub business_impact: BusinessImpact,
    pub support_topic_id: Option<String>,
    /// `None`: the filing agent is the contact (R7).
    pub contact_email: Option<String>,
    pub channel: FilingChannel,
    pub entitlement: Option<EntitlementClaim>,
}

/// Everything the rules read, and the rows the filing writes from.
pub struct Facts {
    pub partner: PartnerRow,
    pub caller: CallerFacts,
    pub tenant: Tenant,
    pub customer: Option<CustomerRow>,
    pub subscription: Option<SubscriptionRow>,
    pub topic: Option<SupportTopicRow>,
    pub request: FilingRequest,
}

impl Facts {
    /// The decision of the filing rules; `preflight` reports missing fields as requirements.
    pub fn decide(&self, preflight: bool) -> Decision {
        policy::evaluate(&self.caller, &self.tenant, &self.request, preflight)
    }

    /// The business calendar the request's SLA runs on: its customer's, or the one the partner
    /// assigned to its own tenant.
    pub fn calendar_id(&self) -> Option<&str> {
        crate::domain::workflow::calendar_of_request(
            self.customer.as_ref().map(|c| c.calendar_id.as_str()),
            self.partner.calendar_id.as_deref(),
        )
    }
}

/// The facts the policy needs about the caller's partner.
pub(crate) fn caller_facts(caller: &Caller, partner: &PartnerRow, domains: Vec<String>) -> AppResult<CallerFacts> {
    Ok(CallerFacts {
        role: caller.role,
        partner_kind: caller.partner_kind,
        partner_cloud: partner.cloud.parse()?,
        agreements: policy::Agreements {
            asfp: partner.has_asfp,
            premier: partner.has_premier,
            azure_support_plan: partner.has_azure_support_plan,
            signature_cloud_support: partner.has_signature_cloud_support,
            mpn_contract_id: partner.mpn_contract_id.clone(),
        },
        domains,
    })
}

pub(crate) fn customer_facts(
    customer: &CustomerRow,
    domains: Vec<String>,
    partner_id: &str,
) -> AppResult<CustomerFacts> {
    Ok(CustomerFacts {
        relationship: customer.relationship.parse()?,
        delegated_admin: customer.delegated_admin,
        azure_access_granted: customer.azure_access_granted,
        primary_domain: customer.primary_domain.clone(),
        domains,
        cloud: customer.cloud.parse()?,
        read_only: customer.partner_id != partner_id,
    })
}

/// Gathers the [`Facts`] of `$draft` for `$caller` of partner `$p` on `$conn` (inside a
/// transaction when filing). Ids the partner cannot see are `NOT_FOUND`; a subscription of
/// another tenant or family is `BAD_USER_INPUT`.
#[macro_export]
macro_rules! gather_facts {
    ($conn:ident, $p:expr, $caller:expr, $draft:expr) => {{
        use diesel::{BoolExpressionMethods as _, ExpressionMethods as _, OptionalExtension as _};
        use diesel::{QueryDsl as _, SelectableHelper as _};
        use diesel_async::RunQueryDsl as _;
        use $crate::db::models::{CustomerRow, MarketplaceProductRow, PartnerRow, SubscriptionRow, SupportTopicRow};
        use $crate::db::schema::{
            agents, customer_domains, customers, marketplace_products, partner_domains, partners, subscriptions,
            support_topics,
        };
        use $crate::domain::policy::{FilingRequest, MarketplaceProductFacts, SubscriptionFacts, Tenant};
        use $crate::error::AppError;
        let p: &str = $p;
        let caller: &$crate::auth::Caller = $caller;
        let draft: &$crate::repo::filing::Draft = $draft;
        let partner: PartnerRow = partners::table.find(p).select(PartnerRow::as_select()).first($conn).await?;
        let own_domains: Vec<String> = partner_domains::table
            .filter(partner_domains::partner_id.eq(p))
            .select(partner_domains::domain)
            .load($conn)
            .await?;
        let (tenant, customer) = match &draft.customer_id {
            Some(id) => {
                let customer: CustomerRow = customers::table
                    .filter(customers::id.eq(id))
                    .filter(customers::partner_id.eq(p).or(customers::provider_id.eq(p)))
                    .select(CustomerRow::as_select())
                    .first($conn)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::NotFound("no such customer".into()))?;
                let domains: Vec<String> = customer_domains::table
                    .filter(customer_domains::customer_id.eq(id))
                    .select(customer_domains::domain)
                    .load($conn)
                    .await?;
                let facts = $crate::repo::filing::customer_facts(&customer, domains, p)?;
                (Tenant::Customer(facts), Some(customer))
            }
            None => (Tenant::PartnerOwn, None),
        };
        let subscription = match &draft.subscription_id {
            Some(id) => {
                let s: SubscriptionRow = subscriptions::table
                    .filter(subscriptions::id.eq(id))
                    .filter(subscriptions::partner_id.eq(p).or(subscriptions::provider_id.eq(p)))
                    .select(SubscriptionRow::as_select())
                    .first($conn)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::NotFound("no such subscription".into()))?;
                if s.customer_id != draft.customer_id || (s.customer_id.is_none() && s.partner_id != p) {
                    return Err(AppError::bad_input(match &draft.customer_id {
                        Some(_) => "the subscription is not one of this customer's",
                        None => "the subscription is not one of your partner's own",
                    })
                    .into());
                }
                if s.product_family != draft.product_family.as_str() {
                    return Err(AppError::bad_input(format!(
                        "the subscription is a {} subscription, not {}",
                        s.product_family, draft.product_family
                    ))
                    .into());
                }
                Some(s)
            }
            None => None,
        };
        let product = match &draft.marketplace_product_id {
            Some(id) => Some(
                marketplace_products::table
                    .find(id)
                    .filter(marketplace_products::partner_id.is_null().or(marketplace_products::partner_id.eq(p)))
                    .select(MarketplaceProductRow::as_select())
                    .first($conn)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::NotFound("no such marketplace product".into()))?,
            ),
            None => None,
        };
        let topic: Option<SupportTopicRow> = match &draft.support_topic_id {
            Some(id) => Some(
                support_topics::table
                    .find(id)
                    .select(SupportTopicRow::as_select())
                    .first($conn)
                    .await
                    .optional()?
                    .ok_or_else(|| AppError::NotFound("no such support topic".into()))?,
            ),
            None => None,
        };
        // R7: the contact defaults to the filing agent; a named contact may be another agent.
        let contact_email = match &draft.contact_email {
            Some(email) => email.trim().to_owned(),
            None => agents::table.find(&caller.agent_id).select(agents::email).first::<String>($conn).await?,
        };
        let contact_is_partner_agent = {
            let emails: Vec<String> =
                agents::table.filter(agents::partner_id.eq(p)).select(agents::email).load($conn).await?;
            emails.iter().any(|e| e.eq_ignore_ascii_case(&contact_email))
        };
        let request = FilingRequest {
            product_family: draft.product_family,
            incident_kind: draft.incident_kind,
            business_impact: draft.business_impact,
            subscription: subscription
                .as_ref()
                .map(|s| {
                    Ok::<_, AppError>(SubscriptionFacts {
                        product_family: s.product_family.parse()?,
                        is_trial: s.is_trial,
                        status: s.status.parse()?,
                    })
                })
                .transpose()?,
            marketplace_product: product.as_ref().map(|m| MarketplaceProductFacts {
                name: m.name.clone(),
                publisher: m.publisher_name.clone(),
                website_url: m.support_url.clone(),
                email: m.support_email.clone(),
                phone: m.support_phone.clone(),
            }),
            support_topic_family: topic.as_ref().map(|t| t.product_family.parse()).transpose()?,
            contact_email: Some(contact_email),
            contact_is_partner_agent,
            channel: draft.channel,
            entitlement: draft.entitlement.clone(),
        };
        let caller_facts = $crate::repo::filing::caller_facts(caller, &partner, own_domains)?;
        $crate::repo::filing::Facts { partner, caller: caller_facts, tenant, customer, subscription, topic, request }
    }};
}

impl Repo {
    /// The facts of a draft, read outside any transaction (the pre-flight check).
    pub async fn filing_facts(&self, caller: &Caller, draft: &Draft) -> AppResult<Facts> {
        let p = self.partner_id.as_str();
        Ok(crate::with_conn!(self.db, |conn| crate::gather_facts!(conn, p, caller, draft)))
    }
}
