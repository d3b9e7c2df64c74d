//! `supportEligibility`: the filing policy answered before filing, so a frontend can guide
//! the agent through every rule that would block and everything the form still needs.

use async_graphql::{Context, ID, Result, SimpleObject};

use super::ids::{NodeKind, decode_as};
use super::mutation::EntitlementInput;
use super::rc;
use super::types::{IsvSupportContacts, Route};
use crate::domain::model::{BusinessImpact, FeeCoverage, IncidentKind, ProductFamily, SupportPlan};
use crate::domain::policy::{EntitlementClaim, FilingChannel, Refusal};
use crate::repo::filing::Draft;

/// One rule that refuses (or would refuse) a request, and what to do instead.
#[derive(SimpleObject)]
pub struct PolicyRefusal {
    /// The rule id: `R1`…`R15`, or `ACCESS` for "who may do what".
    pub rule: String,
    /// Why the rule refuses, in words for the agent.
    pub message: String,
    /// What the agent can do instead.
    pub help: String,
    /// Agreements or entitlements that would satisfy the rule (R3, R12).
    pub alternatives: Vec<String>,
    /// For R10: the product's ISV and how to reach its support.
    pub isv_name: Option<String>,
    /// For R10: how to reach the ISV's support; null for every other rule.
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
    /// The support plan it would carry (R6, R12); null for the partner's own tenant until an
    /// entitlement is named.
    pub support_plan: Option<SupportPlan>,
    /// How its fee would be covered (R13); null where it depends on an entitlement not named.
    pub fee_coverage: Option<FeeCoverage>,
    /// For the partner's own tenant: the entitlements it holds that cover the product family
    /// (R12); empty for a customer.
    pub entitlements: Vec<SupportPlan>,
    /// The form must pick a support topic (R9).
    pub requires_support_topic: bool,
    /// The form must name one of the customer's Azure subscriptions (R8).
    pub requires_azure_subscription: bool,
    /// The form must name a support entitlement (R12).
    pub requires_entitlement: bool,
}

/// The policy-relevant fields of the filing form, as `supportEligibility` takes them.
pub struct DraftInput {
    pub customer_id: Option<ID>,
    pub product_family: ProductFamily,
    pub subscription_id: Option<ID>,
    pub marketplace_product_id: Option<ID>,
    pub incident_kind: IncidentKind,
    pub business_impact: BusinessImpact,
    pub support_topic_id: Option<ID>,
    pub contact_email: Option<String>,
    pub channel: FilingChannel,
    pub entitlement: Option<EntitlementInput>,
}

pub async fn support_eligibility(ctx: &Context<'_>, input: DraftInput) -> Result<SupportEligibility> {
    let rc = rc(ctx)?;
    let raw = |kind: NodeKind, id: &Option<ID>| id.as_ref().map(|id| decode_as(kind, id)).transpose();
    let draft = Draft {
        customer_id: raw(NodeKind::Customer, &input.customer_id)?,
        product_family: input.product_family,
        subscription_id: raw(NodeKind::Subscription, &input.subscription_id)?,
        marketplace_product_id: raw(NodeKind::MarketplaceProduct, &input.marketplace_product_id)?,
        incident_kind: input.incident_kind,
        business_impact: input.business_impact,
        support_topic_id: raw(NodeKind::SupportTopic, &input.support_topic_id)?,
        contact_email: input.contact_email.map(|e| e.trim().to_owned()),
        channel: input.channel,
        entitlement: input.entitlement.map(|e| EntitlementClaim {
            plan: e.plan,
            reference: e.reference.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()),
        }),
    };
    let facts = rc.repo.filing_facts(&rc.caller, &draft).await?;
    let decision = facts.decide(true);
    Ok(SupportEligibility {
        eligible: decision.accepted(),
        route: Route { kind: decision.filing.route, portal_url: decision.filing.portal_url.clone() },
        support_plan: decision.filing.support_plan,
        fee_coverage: decision.filing.fee_coverage,
        entitlements: decision.filing.entitlements.clone(),
        requires_support_topic: decision.requirements.support_topic,
        requires_azure_subscription: decision.requirements.azure_subscription,
        requires_entitlement: decision.requirements.entitlement,
        blockers: decision.refusals.into_iter().map(PolicyRefusal::from).collect(),
    })
}
