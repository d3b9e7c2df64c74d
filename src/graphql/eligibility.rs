//! `supportEligibility`: the filing policy answered before filing, so a frontend can guide
//! the agent through every rule that would block and everything the form still needs.

use async_graphql::{Context, ID, Result, SimpleObject};

use super::ids::{NodeKind, decode_as};
use super::rc;
use super::types::{IsvSupportContacts, Route};
use crate::domain::model::{FeeCoverage, ProductFamily, SupportPlan};
use crate::domain::policy::{
    self, FilingChannel, FilingRequest, MarketplaceProductFacts, Refusal, SubscriptionFacts, Tenant,
};
use crate::error::AppError;
use crate::repo::loaders::{CustomerKey, DomainsOfCustomer, PartnerKey, ProductKey, SubscriptionKey, load};
use crate::repo::mutations::{caller_facts, customer_facts};

/// One rule that refuses (or would refuse) a request, and what to do instead.
#[derive(SimpleObject)]
pub struct PolicyRefusal {
    /// The rule id: `R1`…`R15`, or `ACCESS` for "who may do what".
    pub rule: String,
    pub message: String,
    /// What the agent can do instead.
    pub help: String,
    /// Agreements or entitlements that would satisfy the rule (R3, R12).
    pub alternatives: Vec<String>,
    /// For R10: the product's ISV and how to reach its support.
    pub isv_name: Option<String>,
    pub isv_support: Option<IsvSupportContacts>,
}

impl From<Refusal> for PolicyRefusal {
    fn from(r: Refusal) -> Self {
        PolicyRefusal {
            rule: r.rule.id().to_owned(),
            message: r.message,
            help: r.help,
            alternatives: r.alternatives,
            isv_name: r.isv.as_ref().map(|i| i.publisher.clone()),
            isv_support: r.isv.map(|i| IsvSupportContacts {
                website_url: i.website_url,
                email: i.email,
                phone: i.phone,
            }),
        }
    }
}

/// Whether a request could be filed, and how it would be.
#[derive(SimpleObject)]
pub struct SupportEligibility {
    /// True when no rule blocks (the form may still need the fields below).
    pub eligible: bool,
    /// Every rule that blocks.
    pub blockers: Vec<PolicyRefusal>,
    /// Where the request would be worked (R2).
    pub route: Route,
    /// The support plan it would carry (R6, R12).
    pub support_plan: SupportPlan,
    /// How its fee would be covered (R13); for the partner's own tenant this depends on the
    /// entitlement named when filing.
    pub fee_coverage: FeeCoverage,
    /// The form must pick a support topic (R9).
    pub requires_support_topic: bool,
    /// The form must name one of the customer's Azure subscriptions (R8).
    pub requires_azure_subscription: bool,
    /// The form must name a support entitlement (R12).
    pub requires_entitlement: bool,
}

pub async fn support_eligibility(
    ctx: &Context<'_>,
    customer_id: Option<ID>,
    product_family: ProductFamily,
    subscription_id: Option<ID>,
    marketplace_product_id: Option<ID>,
) -> Result<SupportEligibility> {
    let rc = rc(ctx)?;
    let l = &rc.loaders;
    let partner = load(&l.partner, PartnerKey(rc.caller.partner_id.clone()))
        .await?
        .ok_or_else(|| AppError::Unauthenticated("the agent's partner no longer exists".into()))?;
    let customer_raw = customer_id.as_ref().map(|id| decode_as(NodeKind::Customer, id)).transpose()?;
    let tenant = match &customer_raw {
        Some(id) => {
            let c = load(&l.customer, CustomerKey(id.clone()))
                .await?
                .ok_or_else(|| AppError::NotFound("no such customer".into()))?;
            let domains = load(&l.domains_of_customer, DomainsOfCustomer(id.clone()))
                .await?
                .iter()
                .map(|d| d.domain.clone())
                .collect();
            Tenant::Customer(customer_facts(&c, domains, &rc.caller.partner_id)?)
        }
        None => Tenant::PartnerOwn,
    };
    let subscription = match &subscription_id {
        Some(id) => {
            let raw = decode_as(NodeKind::Subscription, id)?;
            let s = load(&l.subscription, SubscriptionKey(raw))
                .await?
                .ok_or_else(|| AppError::NotFound("no such subscription".into()))?;
            if s.customer_id != customer_raw {
                return Err(AppError::bad_input("the subscription does not belong to that tenant").into());
            }
            Some(SubscriptionFacts {
                product_family: s.product_family.parse().map_err(AppError::from)?,
                is_trial: s.is_trial,
            })
        }
        None => None,
    };
    let marketplace_product = match &marketplace_product_id {
        Some(id) => {
            let raw = decode_as(NodeKind::MarketplaceProduct, id)?;
            let m = load(&l.product, ProductKey(raw))
                .await?
                .ok_or_else(|| AppError::NotFound("no such marketplace product".into()))?;
            Some(MarketplaceProductFacts {
                name: m.name,
                publisher: m.publisher_name,
                website_url: m.support_url,
                email: m.support_email,
                phone: m.support_phone,
            })
        }
        None => None,
    };
    let request = FilingRequest {
        product_family,
        incident_kind: crate::domain::model::IncidentKind::TechnicalBreakFix,
        business_impact: crate::domain::model::BusinessImpact::Moderate,
        subscription,
        marketplace_product,
        support_topic_family: None,
        contact_email: None,
        channel: FilingChannel::Web,
        entitlement: None,
    };
    let decision = policy::evaluate(&caller_facts(&rc.caller, &partner)?, &tenant, &request, true);
    Ok(SupportEligibility {
        eligible: decision.accepted(),
        route: Route { kind: decision.filing.route, portal_url: decision.filing.portal_url.clone() },
        support_plan: decision.filing.support_plan,
        fee_coverage: decision.filing.fee_coverage,
        requires_support_topic: decision.requirements.support_topic,
        requires_azure_subscription: decision.requirements.azure_subscription,
        requires_entitlement: decision.requirements.entitlement,
        blockers: decision.refusals.into_iter().map(PolicyRefusal::from).collect(),
    })
}
