//! The partner-support filing policy (rules R1–R15 of `docs/rules.md`): given who is asking, for
//! which tenant, about what, decide whether a service request may be filed and with what
//! route, plan, fee coverage and severity, or name every rule that refuses it and what to do.
//!
//! Pure: no database, no async, no HTTP. The caller gathers the facts.

use super::model::*;

/// The support agreements a partner holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreements {
    pub asfp: bool,
    pub premier: bool,
    pub azure_support_plan: bool,
    pub signature_cloud_support: bool,
    pub mpn_contract_id: Option<String>,
}

/// The agent filing, and its partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerFacts {
    pub role: AgentRole,
    pub partner_kind: PartnerKind,
    pub partner_cloud: Cloud,
    pub agreements: Agreements,
    /// The partner's own domains, lower-case (R7).
    pub domains: Vec<String>,
}

/// A customer as the policy needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFacts {
    pub relationship: CustomerRelationship,
    pub delegated_admin: bool,
    /// For an indirect reseller's customer: the provider granted access to its Azure account.
    pub azure_access_granted: bool,
    pub primary_domain: String,
    /// Every domain of the customer, the primary included.
    pub domains: Vec<String>,
    pub cloud: Cloud,
    /// The caller sees the customer only as an indirect provider (read-only).
    pub read_only: bool,
}

/// Whose tenant the request concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    Customer(CustomerFacts),
    /// The partner's own tenant (R12).
    PartnerOwn,
}

/// The subscription named on the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionFacts {
    pub product_family: ProductFamily,
    pub is_trial: bool,
    pub status: SubscriptionStatus,
}

/// A commercial-marketplace product named on the request (R10).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MarketplaceProductFacts {
    pub name: String,
    pub publisher: String,
    pub website_url: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// How the request is being filed (R14).
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum FilingChannel {
    /// Through Partner Center (this API).
    #[default]
    Web,
    /// By phone: there is no such channel.
    Phone,
}

/// The entitlement a request about the partner's own tenant carries (R12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitlementClaim {
    pub plan: SupportPlan,
    /// The MPN contract id, for `MPN_CONTRACT`.
    pub reference: Option<String>,
}

/// What the partner asks for. Optional fields not yet known (in a pre-flight check) are
/// reported as requirements instead of refusals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilingRequest {
    pub product_family: ProductFamily,
    pub incident_kind: IncidentKind,
    pub business_impact: BusinessImpact,
    pub subscription: Option<SubscriptionFacts>,
    pub marketplace_product: Option<MarketplaceProductFacts>,
    /// The product family of the chosen support topic.
    pub support_topic_family: Option<ProductFamily>,
    /// The contact's e-mail (the filing agent's when the form names none).
    pub contact_email: Option<String>,
    /// The contact is one of the partner's own agents (R7).
    pub contact_is_partner_agent: bool,
    pub channel: FilingChannel,
    pub entitlement: Option<EntitlementClaim>,
}

/// The rules that can refuse a request. `Access` is "Who may do what".
#[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    Access,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::Access => "ACCESS",
            Rule::R1 => "R1",
            Rule::R2 => "R2",
            Rule::R3 => "R3",
            Rule::R4 => "R4",
            Rule::R5 => "R5",
            Rule::R6 => "R6",
            Rule::R7 => "R7",
            Rule::R8 => "R8",
            Rule::R9 => "R9",
            Rule::R10 => "R10",
            Rule::R11 => "R11",
            Rule::R12 => "R12",
            Rule::R13 => "R13",
            Rule::R14 => "R14",
            Rule::R15 => "R15",
        }
    }
}

/// One rule's refusal: what is wrong and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub rule: Rule,
    pub message: String,
    /// What the agent can do instead.
    pub help: String,
    /// For R10: the ISV's support contacts.
    pub isv: Option<MarketplaceProductFacts>,
    /// Agreements or entitlements that would satisfy the rule (R3, R12).
    pub alternatives: Vec<String>,
}

impl Refusal {
    /// A refusal under "Who may do what".
    pub fn access(message: impl Into<String>, help: impl Into<String>) -> Refusal {
        Refusal::new(Rule::Access, message, help)
    }

    fn new(rule: Rule, message: impl Into<String>, help: impl Into<String>) -> Refusal {
        Refusal { rule, message: message.into(), help: help.into(), isv: None, alternatives: Vec::new() }
    }
}

/// What an accepted request is filed with. The plan and the fee coverage are `None` only
/// where they depend on an entitlement not named yet (a pre-flight check for the partner's
/// own tenant): nothing is shown that the partner does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filing {
    pub severity: Severity,
    pub route: RouteKind,
    pub portal_url: String,
    pub support_plan: Option<SupportPlan>,
    pub fee_coverage: Option<FeeCoverage>,
    pub entitlement_ref: Option<String>,
    /// For the partner's own tenant: the entitlements it holds that cover the family (R12).
    pub entitlements: Vec<SupportPlan>,
}

/// What a pre-flight check says the form still needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub support_topic: bool,
    pub azure_subscription: bool,
    pub entitlement: bool,
}

/// The decision: every refusal (empty when accepted), the filing it would produce, and what
/// the form still needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub refusals: Vec<Refusal>,
    pub filing: Filing,
    pub requirements: Requirements,
}

impl Decision {
    pub fn accepted(&self) -> bool {
        self.refusals.is_empty()
    }
}

/// Whether an entitlement covers support for `family` (R12): an Azure support plan covers
/// Azure only; Premier and an MPN contract cover every family. The CSP plan is no entitlement
/// for the partner's own tenant.
pub fn entitlement_covers(plan: SupportPlan, family: ProductFamily) -> bool {
    match plan {
        SupportPlan::AzureSupportPlan => family == ProductFamily::Azure,
        SupportPlan::Premier | SupportPlan::MpnContract => true,
        SupportPlan::CloudSolutionProvider => false,
    }
}

/// The entitlements the partner holds that cover `family`, in the order they are offered.
pub fn entitlements_for(agreements: &Agreements, family: ProductFamily) -> Vec<SupportPlan> {
    let mut held = Vec::new();
    if agreements.mpn_contract_id.is_some() {
        held.push(SupportPlan::MpnContract);
    }
    if agreements.premier {
        held.push(SupportPlan::Premier);
    }
    if agreements.azure_support_plan {
        held.push(SupportPlan::AzureSupportPlan);
    }
    held.retain(|p| entitlement_covers(*p, family));
    held
}

/// Incident kinds that are billing matters: still supported for a deleted subscription (R11).
pub fn is_billing_matter(kind: IncidentKind) -> bool {
    matches!(kind, IncidentKind::Billing | IncidentKind::BillingDispute | IncidentKind::FraudConcern)
}

/// Families whose requests pick a support category/topic (R9).
fn needs_topic(family: ProductFamily) -> bool {
    matches!(family, ProductFamily::Microsoft365 | ProductFamily::Dynamics365 | ProductFamily::EnterpriseMobilitySuite)
}

/// The domain of an e-mail address, lower-cased.
fn email_domain(email: &str) -> Option<String> {
    email.rsplit_once('@').map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
}

/// True when `domain` is `owned` or a subdomain of it.
fn within(domain: &str, owned: &str) -> bool {
    let owned = owned.to_ascii_lowercase();
    domain == owned || domain.ends_with(&format!(".{owned}"))
}

/// Evaluates every rule. `preflight` treats a missing topic, subscription or entitlement as a
/// requirement to report rather than a refusal (the eligibility query).
pub fn evaluate(caller: &CallerFacts, tenant: &Tenant, request: &FilingRequest, preflight: bool) -> Decision {
    let mut refusals = Vec::new();
    let mut requirements = Requirements::default();
    let family = request.product_family;
    let azure = family == ProductFamily::Azure;

    // Who may do what: sales agents and billing admins read; a provider's view of its
    // resellers' customers is read-only.
    if !caller.role.can_work_requests() {
        refusals.push(Refusal::new(
            Rule::Access,
            format!("a {} can read service requests but not file them", caller.role),
            "ask an admin agent, a helpdesk agent or a global admin of your partner to file it",
        ));
    }
    if let Tenant::Customer(c) = tenant
        && c.read_only
    {
        refusals.push(Refusal::new(
            Rule::Access,
            "you see this customer as the indirect provider of its reseller, read-only",
            "the indirect reseller serving the customer files its service requests",
        ));
    }

    // R14: there is no phone channel for filing.
    if request.channel == FilingChannel::Phone {
        refusals.push(Refusal::new(
            Rule::R14,
            "service requests cannot be filed by phone",
            "file the request here (Partner Center); a phone number is only a contact detail",
        ));
    }

    // R10: Microsoft does not support commercial-marketplace products.
    if let Some(product) = &request.marketplace_product {
        let mut r = Refusal::new(
            Rule::R10,
            format!("Microsoft does not support the marketplace product \"{}\"", product.name),
            format!("contact its publisher, {}, through the support contacts given", product.publisher),
        );
        r.isv = Some(product.clone());
        refusals.push(r);
    }

    // R5: a helpdesk agent can't create Azure service requests.
    if azure && caller.role == AgentRole::HelpdeskAgent {
        refusals.push(Refusal::new(
            Rule::R5,
            "helpdesk agents cannot create Azure service requests",
            "create a support group in the Azure portal and give it permission to log support requests, \
             or ask an admin agent to file the request",
        ));
    }

    match tenant {
        Tenant::Customer(customer) => {
            // R3: Dynamics 365 on behalf of a CSP customer needs ASfP or higher.
            if family == ProductFamily::Dynamics365 && !(caller.agreements.asfp || caller.agreements.premier) {
                let mut r = Refusal::new(
                    Rule::R3,
                    "Dynamics 365 requests on behalf of a CSP customer need an Advanced Support for Partners (ASfP) agreement or higher",
                    "obtain ASfP or a higher support agreement (Premier/Unified) for your partner",
                );
                r.alternatives = vec!["ADVANCED_SUPPORT_FOR_PARTNERS".into(), "PREMIER".into()];
                refusals.push(r);
            }
            // R4: Azure needs access to the customer's Azure account; for an indirect
            // reseller the provider grants it (not the same as admin-on-behalf-of).
            if azure
                && customer.relationship == CustomerRelationship::IndirectReseller
                && !customer.azure_access_granted
            {
                refusals.push(Refusal::new(
                    Rule::R4,
                    "your indirect provider has not granted you access to this customer's Azure account",
                    "ask your indirect provider to grant Azure access for the customer; delegated admin for Microsoft 365 is not enough",
                ));
            }
            // R8: without delegated admin privileges an Azure request must name one of the
            // customer's Azure subscriptions.
            if azure && !customer.delegated_admin {
                match &request.subscription {
                    Some(s) if s.product_family == ProductFamily::Azure => {}
                    None if preflight => requirements.azure_subscription = true,
                    _ => refusals.push(Refusal::new(
                        Rule::R8,
                        "without delegated admin privileges an Azure request must name one of the customer's Azure subscriptions",
                        format!("pick the Azure subscription that needs support; the request is worked at https://portal.azure.com/{}", customer.primary_domain),
                    )),
                }
            }
            // R11: the CSP benefit covers the customers the partner serves through CSP; a
            // customer it only advises buys and gets support from Microsoft directly.
            if customer.relationship == CustomerRelationship::Advisor {
                refusals.push(Refusal::new(
                    Rule::R11,
                    "you only advise this customer: it is not your CSP customer, so the CSP support benefit does not cover it",
                    "the customer files with Microsoft under its own support plan, or you become its CSP reseller first",
                ));
            }
        }
        Tenant::PartnerOwn => {
            // R12: the CSP benefit does not cover the partner's own tenant: it names an
            // entitlement it holds that covers the family.
            let available = entitlements_for(&caller.agreements, family);
            let valid = match &request.entitlement {
                Some(claim) if available.contains(&claim.plan) => match claim.plan {
                    SupportPlan::MpnContract => {
                        claim.reference.as_deref().map(str::trim) == caller.agreements.mpn_contract_id.as_deref()
                    }
                    _ => true,
                },
                _ => false,
            };
            if request.entitlement.is_none() && preflight {
                requirements.entitlement = true;
                if available.is_empty() {
                    refusals.push(r12(&available, family));
                }
            } else if !valid {
                refusals.push(r12(&available, family));
            }
        }
    }

    // R11: a deleted subscription has no service left to support; its charges can still be
    // questioned.
    if let Some(sub) = &request.subscription
        && sub.status == SubscriptionStatus::Deleted
        && !is_billing_matter(request.incident_kind)
    {
        refusals.push(Refusal::new(
            Rule::R11,
            format!(
                "the subscription is deleted: only billing matters about it are supported, not {}",
                request.incident_kind
            ),
            "pick an active subscription, or file the request as BILLING, BILLING_DISPUTE or FRAUD_CONCERN",
        ));
    }

    // R7: the contact is the partner's: one of its agents or an address at its own domains.
    if let Some(email) = request.contact_email.as_deref()
        && !request.contact_is_partner_agent
    {
        let domain = email_domain(email).unwrap_or_default();
        let ours = !domain.is_empty() && caller.domains.iter().any(|d| within(&domain, d));
        if !ours {
            let customers = match tenant {
                Tenant::Customer(c) => c.domains.iter().any(|d| within(&domain, d)),
                Tenant::PartnerOwn => false,
            };
            refusals.push(Refusal::new(
                Rule::R7,
                if customers {
                    format!("the contact's domain {domain} is the customer's: the contact on a request is the partner's")
                } else {
                    format!("the contact {email} is neither one of your agents nor at one of your partner's domains")
                },
                "enter your own (the partner's) contact information, not the customer's; leave the contact out to use yours",
            ));
        }
    }

    // R9: a topic belongs to one family and must be of the request's; Microsoft 365,
    // Dynamics CRM Online and EMS must pick one.
    match request.support_topic_family {
        Some(f) if f != family => refusals.push(Refusal::new(
            Rule::R9,
            format!("the support topic is for {f}, not {family}"),
            format!("pick a support topic of {family} (query supportTopics(productFamily: {family}))"),
        )),
        Some(_) => {}
        None if !needs_topic(family) => {}
        None if preflight => requirements.support_topic = true,
        None => refusals.push(Refusal::new(
            Rule::R9,
            format!("{family} requests must pick a support category/topic"),
            format!("pick one of supportTopics(productFamily: {family})"),
        )),
    }

    Decision { refusals, filing: filing(caller, tenant, request), requirements }
}

fn r12(available: &[SupportPlan], family: ProductFamily) -> Refusal {
    let mut r = Refusal::new(
        Rule::R12,
        "the CSP support benefit does not cover your own partner tenant: the request needs a valid support entitlement",
        if available.is_empty() {
            format!(
                "your partner holds no entitlement that covers {family}: an MPN contract or Premier would do{}",
                if family == ProductFamily::Azure { ", or an Azure support plan" } else { "" }
            )
        } else {
            format!(
                "name one of your entitlements that cover {family}: {}",
                available.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
            )
        },
    );
    r.alternatives = if available.is_empty() {
        [SupportPlan::MpnContract, SupportPlan::Premier, SupportPlan::AzureSupportPlan]
            .into_iter()
            .filter(|p| entitlement_covers(*p, family))
            .map(|p| p.as_str().to_owned())
            .collect()
    } else {
        available.iter().map(|p| p.as_str().to_owned()).collect()
    };
    r
}

/// The fields an accepted request is filed with (R2, R6, R11, R13, R15).
fn filing(caller: &CallerFacts, tenant: &Tenant, request: &FilingRequest) -> Filing {
    let family = request.product_family;
    let azure = family == ProductFamily::Azure;
    let (cloud, domain) = match tenant {
        Tenant::Customer(c) => (c.cloud, Some(c.primary_domain.as_str())),
        Tenant::PartnerOwn => (caller.partner_cloud, None),
    };
    // R2: the family picks the route.
    let (route, portal_url) = route_for(family, cloud, domain);
    let (support_plan, fee_coverage, entitlement_ref, entitlements) = match tenant {
        // R6: Azure requests carry the CSP support plan; R11: the CSP benefit covers every
        // family for CSP customers; R13: only Azure support carries a fee.
        Tenant::Customer(_) => (
            Some(SupportPlan::CloudSolutionProvider),
            Some(if azure { FeeCoverage::CspBenefit } else { FeeCoverage::NoFee }),
            None,
            Vec::new(),
        ),
        // R12/R13: the partner's own tenant runs on the entitlement it names; an Azure fee may
        // be covered by Signature Cloud Support or another MPN benefit. Nothing is shown for
        // an entitlement not named yet.
        Tenant::PartnerOwn => {
            let claim = request.entitlement.clone();
            let plan = claim.as_ref().map(|c| c.plan);
            let fee = plan.map(|plan| {
                if !azure {
                    FeeCoverage::NoFee
                } else if caller.agreements.signature_cloud_support {
                    FeeCoverage::SignatureCloudSupport
                } else {
                    match plan {
                        SupportPlan::MpnContract | SupportPlan::CloudSolutionProvider => FeeCoverage::MpnBenefit,
                        SupportPlan::Premier => FeeCoverage::Premier,
                        SupportPlan::AzureSupportPlan => FeeCoverage::AzureSupportPlan,
                    }
                }
            });
            (plan, fee, claim.and_then(|c| c.reference), entitlements_for(&caller.agreements, family))
        }
    };
    Filing {
        // R15: severity from the business impact.
        severity: request.business_impact.severity(),
        route,
        portal_url,
        support_plan,
        fee_coverage,
        entitlement_ref,
        entitlements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: AgentRole) -> CallerFacts {
        CallerFacts {
            role,
            partner_kind: PartnerKind::Direct,
            partner_cloud: Cloud::Commercial,
            agreements: Agreements { asfp: true, mpn_contract_id: Some("MPN-1".into()), ..Agreements::default() },
            domains: vec!["partner.example".into()],
        }
    }

    fn customer() -> CustomerFacts {
        CustomerFacts {
            relationship: CustomerRelationship::Reseller,
            delegated_admin: true,
            azure_access_granted: true,
            primary_domain: "contoso.onmicrosoft.com".into(),
            domains: vec!["contoso.onmicrosoft.com".into(), "contoso.com".into()],
            cloud: Cloud::Commercial,
            read_only: false,
        }
    }

    fn request(family: ProductFamily) -> FilingRequest {
        FilingRequest {
            product_family: family,
            incident_kind: IncidentKind::TechnicalBreakFix,
            business_impact: BusinessImpact::Moderate,
            subscription: Some(SubscriptionFacts {
                product_family: family,
                is_trial: false,
                status: SubscriptionStatus::Active,
            }),
            marketplace_product: None,
            support_topic_family: (family != ProductFamily::Azure).then_some(family),
            contact_email: Some("support@partner.example".into()),
            contact_is_partner_agent: false,
            channel: FilingChannel::Web,
            entitlement: None,
        }
    }

    fn rules(d: &Decision) -> Vec<Rule> {
        d.refusals.iter().map(|r| r.rule).collect()
    }

    fn eval(c: &CallerFacts, t: &Tenant, r: &FilingRequest) -> Decision {
        evaluate(c, t, r, false)
    }

    #[test]
    fn r1_billing_disputes_and_fraud_go_through_the_same_process() {
        for kind in IncidentKind::ALL {
            let mut r = request(ProductFamily::Microsoft365);
            r.incident_kind = *kind;
            assert!(eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r).accepted(), "{kind}");
        }
    }

    #[test]
    fn r2_route_follows_family_and_cloud() {
        let mut c = customer();
        let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(c.clone()), &request(ProductFamily::Azure));
        assert_eq!(
            (d.filing.route, d.filing.portal_url.as_str()),
            (RouteKind::AzurePortal, "https://portal.azure.com/contoso.onmicrosoft.com")
        );
        c.cloud = Cloud::UsGovernment;
        let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(c.clone()), &request(ProductFamily::Azure));
        assert_eq!(d.filing.portal_url, "https://portal.azure.us/contoso.onmicrosoft.com");
        let d = eval(
            &caller(AgentRole::AdminAgent),
            &Tenant::Customer(c),
            &request(ProductFamily::EnterpriseMobilitySuite),
        );
        assert_eq!(d.filing.route, RouteKind::Microsoft365AdminCenter);
    }

    #[test]
    fn r3_dynamics_needs_asfp_or_higher() {
        let mut c = caller(AgentRole::AdminAgent);
        let t = Tenant::Customer(customer());
        assert!(eval(&c, &t, &request(ProductFamily::Dynamics365)).accepted());
        c.agreements.asfp = false;
        let d = eval(&c, &t, &request(ProductFamily::Dynamics365));
        assert_eq!(rules(&d), vec![Rule::R3]);
        assert!(d.refusals[0].alternatives.contains(&"ADVANCED_SUPPORT_FOR_PARTNERS".to_owned()));
        c.agreements.premier = true;
        assert!(eval(&c, &t, &request(ProductFamily::Dynamics365)).accepted(), "Premier is higher than ASfP");
        c.agreements.premier = false;
        assert!(eval(&c, &t, &request(ProductFamily::Microsoft365)).accepted(), "only Dynamics needs it");
    }

    #[test]
    fn r4_reseller_needs_provider_granted_azure_access() {
        let mut cu = customer();
        cu.relationship = CustomerRelationship::IndirectReseller;
        cu.azure_access_granted = false;
        let c = caller(AgentRole::AdminAgent);
        assert_eq!(rules(&eval(&c, &Tenant::Customer(cu.clone()), &request(ProductFamily::Azure))), vec![Rule::R4]);
        assert!(
            eval(&c, &Tenant::Customer(cu.clone()), &request(ProductFamily::Microsoft365)).accepted(),
            "not about M365 admin-on-behalf-of"
        );
        cu.azure_access_granted = true;
        assert!(eval(&c, &Tenant::Customer(cu), &request(ProductFamily::Azure)).accepted());
    }

    #[test]
    fn r5_helpdesk_cannot_file_azure() {
        let t = Tenant::Customer(customer());
        let d = eval(&caller(AgentRole::HelpdeskAgent), &t, &request(ProductFamily::Azure));
        assert_eq!(rules(&d), vec![Rule::R5]);
        assert!(d.refusals[0].help.contains("support group"));
        assert!(eval(&caller(AgentRole::HelpdeskAgent), &t, &request(ProductFamily::Microsoft365)).accepted());
        assert!(eval(&caller(AgentRole::AdminAgent), &t, &request(ProductFamily::Azure)).accepted());
    }

    #[test]
    fn r6_azure_carries_the_csp_plan() {
        let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &request(ProductFamily::Azure));
        assert_eq!(d.filing.support_plan, Some(SupportPlan::CloudSolutionProvider));
    }

    #[test]
    fn r7_contact_must_be_the_partners() {
        let c = caller(AgentRole::AdminAgent);
        let t = Tenant::Customer(customer());
        for email in [
            "it@contoso.com",
            "it@CONTOSO.onmicrosoft.com",
            "it@eu.contoso.com",
            "me@gmail.com",
            "x@partner.example.evil",
        ] {
            let mut r = request(ProductFamily::Microsoft365);
            r.contact_email = Some(email.into());
            assert_eq!(rules(&eval(&c, &t, &r)), vec![Rule::R7], "{email}");
            assert!(rules(&eval(&c, &Tenant::PartnerOwn, &r)).contains(&Rule::R7), "{email} on the own tenant");
        }
        for email in ["desk@partner.example", "desk@EU.partner.example"] {
            let mut r = request(ProductFamily::Microsoft365);
            r.contact_email = Some(email.into());
            assert!(eval(&c, &t, &r).accepted(), "{email}");
        }
        let mut r = request(ProductFamily::Microsoft365);
        r.contact_email = Some("agent@elsewhere.example".into());
        r.contact_is_partner_agent = true;
        assert!(eval(&c, &t, &r).accepted(), "one of the partner's agents");
    }

    #[test]
    fn r8_without_dap_azure_needs_an_azure_subscription() {
        let mut cu = customer();
        cu.delegated_admin = false;
        let c = caller(AgentRole::AdminAgent);
        let t = Tenant::Customer(cu);
        assert!(eval(&c, &t, &request(ProductFamily::Azure)).accepted());
        let mut r = request(ProductFamily::Azure);
        r.subscription = None;
        assert_eq!(rules(&eval(&c, &t, &r)), vec![Rule::R8]);
        let pre = evaluate(&c, &t, &r, true);
        assert!(pre.accepted() && pre.requirements.azure_subscription);
        let mut with_dap = customer();
        with_dap.delegated_admin = true;
        assert!(eval(&c, &Tenant::Customer(with_dap), &r).accepted());
    }

    #[test]
    fn r9_office_dynamics_ems_pick_a_topic() {
        let c = caller(AgentRole::AdminAgent);
        let t = Tenant::Customer(customer());
        for family in [ProductFamily::Microsoft365, ProductFamily::Dynamics365, ProductFamily::EnterpriseMobilitySuite]
        {
            let mut r = request(family);
            r.support_topic_family = None;
            assert_eq!(rules(&eval(&c, &t, &r)), vec![Rule::R9], "{family}");
            r.support_topic_family = Some(ProductFamily::Azure);
            assert_eq!(rules(&eval(&c, &t, &r)), vec![Rule::R9], "{family} with a wrong topic");
        }
        let mut r = request(ProductFamily::Azure);
        r.support_topic_family = None;
        assert!(eval(&c, &t, &r).accepted(), "Azure may leave the topic out");
        r.support_topic_family = Some(ProductFamily::Microsoft365);
        assert_eq!(rules(&eval(&c, &t, &r)), vec![Rule::R9], "an Azure request with a Microsoft 365 topic");
    }

    #[test]
    fn r10_marketplace_products_are_refused_with_isv_contacts() {
        let mut r = request(ProductFamily::Azure);
        r.marketplace_product = Some(MarketplaceProductFacts {
            name: "Shield".into(),
            publisher: "Trey".into(),
            website_url: Some("https://trey.example".into()),
            email: None,
            phone: Some("+1 555".into()),
        });
        let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r);
        assert_eq!(rules(&d), vec![Rule::R10]);
        let isv = d.refusals[0].isv.as_ref().unwrap();
        assert_eq!(
            (isv.website_url.as_deref(), isv.email.as_deref(), isv.phone.as_deref()),
            (Some("https://trey.example"), None, Some("+1 555"))
        );
    }

    #[test]
    fn r11_csp_benefit_covers_trials_and_billing() {
        let mut r = request(ProductFamily::Azure);
        r.subscription = Some(SubscriptionFacts {
            product_family: ProductFamily::Azure,
            is_trial: true,
            status: SubscriptionStatus::Active,
        });
        r.incident_kind = IncidentKind::SubscriptionManagement;
        let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r);
        assert!(d.accepted());
        assert_eq!(d.filing.fee_coverage, Some(FeeCoverage::CspBenefit));
    }

    #[test]
    fn r11_advised_customers_are_not_covered() {
        let mut cu = customer();
        cu.relationship = CustomerRelationship::Advisor;
        for family in ProductFamily::ALL {
            let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(cu.clone()), &request(*family));
            assert_eq!(rules(&d), vec![Rule::R11], "{family}");
        }
    }

    #[test]
    fn r11_deleted_subscriptions_only_for_billing_matters() {
        for kind in IncidentKind::ALL {
            let mut r = request(ProductFamily::Microsoft365);
            r.incident_kind = *kind;
            r.subscription.as_mut().unwrap().status = SubscriptionStatus::Deleted;
            let d = eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r);
            assert_eq!(d.accepted(), is_billing_matter(*kind), "{kind}");
            for status in [SubscriptionStatus::Suspended, SubscriptionStatus::Expired] {
                r.subscription.as_mut().unwrap().status = status;
                assert!(eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r).accepted());
            }
        }
    }

    #[test]
    fn r12_an_entitlement_covers_only_what_it_covers() {
        let mut c = caller(AgentRole::AdminAgent);
        c.agreements = Agreements { azure_support_plan: true, ..Agreements::default() };
        let mut r = request(ProductFamily::Microsoft365);
        r.entitlement = Some(EntitlementClaim { plan: SupportPlan::AzureSupportPlan, reference: None });
        let d = eval(&c, &Tenant::PartnerOwn, &r);
        assert_eq!(rules(&d), vec![Rule::R12], "an Azure support plan does not cover Microsoft 365");
        assert!(!d.refusals[0].alternatives.contains(&"AZURE_SUPPORT_PLAN".to_owned()));
        let mut azure = request(ProductFamily::Azure);
        azure.entitlement = r.entitlement.clone();
        assert!(eval(&c, &Tenant::PartnerOwn, &azure).accepted());
        // A partner holding nothing is shown no coverage.
        c.agreements = Agreements::default();
        let mut pre = request(ProductFamily::Azure);
        pre.entitlement = None;
        let d = evaluate(&c, &Tenant::PartnerOwn, &pre, true);
        assert_eq!((d.filing.support_plan, d.filing.fee_coverage), (None, None));
        assert!(d.filing.entitlements.is_empty() && rules(&d) == vec![Rule::R12]);
    }

    #[test]
    fn r12_own_tenant_needs_a_valid_entitlement() {
        let c = caller(AgentRole::AdminAgent);
        let mut r = request(ProductFamily::Azure);
        let d = eval(&c, &Tenant::PartnerOwn, &r);
        assert_eq!(rules(&d), vec![Rule::R12]);
        assert_eq!(d.refusals[0].alternatives, vec!["MPN_CONTRACT".to_owned()]);
        r.entitlement = Some(EntitlementClaim { plan: SupportPlan::MpnContract, reference: Some("MPN-WRONG".into()) });
        assert_eq!(rules(&eval(&c, &Tenant::PartnerOwn, &r)), vec![Rule::R12]);
        r.entitlement = Some(EntitlementClaim { plan: SupportPlan::Premier, reference: None });
        assert_eq!(rules(&eval(&c, &Tenant::PartnerOwn, &r)), vec![Rule::R12], "no Premier agreement");
        r.entitlement = Some(EntitlementClaim { plan: SupportPlan::MpnContract, reference: Some("MPN-1".into()) });
        let d = eval(&c, &Tenant::PartnerOwn, &r);
        assert!(d.accepted());
        assert_eq!(
            (d.filing.support_plan, d.filing.entitlement_ref.as_deref()),
            (Some(SupportPlan::MpnContract), Some("MPN-1"))
        );
    }

    #[test]
    fn r13_fees_by_family_and_coverage() {
        let mut c = caller(AgentRole::AdminAgent);
        let mut r = request(ProductFamily::Microsoft365);
        r.entitlement = Some(EntitlementClaim { plan: SupportPlan::MpnContract, reference: Some("MPN-1".into()) });
        assert_eq!(eval(&c, &Tenant::PartnerOwn, &r).filing.fee_coverage, Some(FeeCoverage::NoFee));
        r.product_family = ProductFamily::Azure;
        r.subscription = Some(SubscriptionFacts {
            product_family: ProductFamily::Azure,
            is_trial: false,
            status: SubscriptionStatus::Active,
        });
        assert_eq!(eval(&c, &Tenant::PartnerOwn, &r).filing.fee_coverage, Some(FeeCoverage::MpnBenefit));
        c.agreements.signature_cloud_support = true;
        assert_eq!(eval(&c, &Tenant::PartnerOwn, &r).filing.fee_coverage, Some(FeeCoverage::SignatureCloudSupport));
    }

    #[test]
    fn r14_no_phone_channel() {
        let mut r = request(ProductFamily::Microsoft365);
        r.channel = FilingChannel::Phone;
        assert_eq!(rules(&eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r)), vec![Rule::R14]);
    }

    #[test]
    fn r15_severity_from_impact() {
        for (impact, sev) in [
            (BusinessImpact::Critical, Severity::A),
            (BusinessImpact::Moderate, Severity::B),
            (BusinessImpact::Minimal, Severity::C),
        ] {
            let mut r = request(ProductFamily::Microsoft365);
            r.business_impact = impact;
            assert_eq!(eval(&caller(AgentRole::AdminAgent), &Tenant::Customer(customer()), &r).filing.severity, sev);
        }
    }

    #[test]
    fn access_read_roles_and_read_only_customers() {
        for role in [AgentRole::SalesAgent, AgentRole::BillingAdmin] {
            assert_eq!(
                rules(&eval(&caller(role), &Tenant::Customer(customer()), &request(ProductFamily::Microsoft365))),
                vec![Rule::Access]
            );
        }
        let mut cu = customer();
        cu.read_only = true;
        assert_eq!(
            rules(&eval(&caller(AgentRole::GlobalAdmin), &Tenant::Customer(cu), &request(ProductFamily::Microsoft365))),
            vec![Rule::Access]
        );
    }

    /// Every combination of the facts the rules read: each rule refuses exactly when its own
    /// condition holds, whatever else is true.
    #[test]
    fn table_of_combinations() {
        let roles = [AgentRole::AdminAgent, AgentRole::HelpdeskAgent, AgentRole::SalesAgent];
        let mut checked = 0;
        for role in roles {
            for family in ProductFamily::ALL {
                for asfp in [false, true] {
                    for relationship in [CustomerRelationship::Reseller, CustomerRelationship::IndirectReseller] {
                        for granted in [false, true] {
                            for dap in [false, true] {
                                for with_sub in [false, true] {
                                    for with_topic in [false, true] {
                                        for customer_contact in [false, true] {
                                            for product in [false, true] {
                                                let mut c = caller(role);
                                                c.agreements.asfp = asfp;
                                                let mut cu = customer();
                                                cu.relationship = relationship;
                                                cu.azure_access_granted = granted;
                                                cu.delegated_admin = dap;
                                                let mut r = request(*family);
                                                if !with_sub {
                                                    r.subscription = None;
                                                }
                                                r.support_topic_family = with_topic.then_some(*family);
                                                if customer_contact {
                                                    r.contact_email = Some("x@contoso.com".into());
                                                }
                                                if product {
                                                    r.marketplace_product = Some(MarketplaceProductFacts::default());
                                                }
                                                let got = rules(&eval(&c, &Tenant::Customer(cu), &r));
                                                let azure = *family == ProductFamily::Azure;
                                                let mut want = Vec::new();
                                                if role == AgentRole::SalesAgent {
                                                    want.push(Rule::Access);
                                                }
                                                if product {
                                                    want.push(Rule::R10);
                                                }
                                                if azure && role == AgentRole::HelpdeskAgent {
                                                    want.push(Rule::R5);
                                                }
                                                if *family == ProductFamily::Dynamics365 && !asfp {
                                                    want.push(Rule::R3);
                                                }
                                                if azure
                                                    && relationship == CustomerRelationship::IndirectReseller
                                                    && !granted
                                                {
                                                    want.push(Rule::R4);
                                                }
                                                if azure && !dap && !with_sub {
                                                    want.push(Rule::R8);
                                                }
                                                if customer_contact {
                                                    want.push(Rule::R7);
                                                }
                                                if !azure && !with_topic {
                                                    want.push(Rule::R9);
                                                }
                                                assert_eq!(
                                                    got, want,
                                                    "{role} {family} asfp={asfp} {relationship} granted={granted} dap={dap} sub={with_sub} topic={with_topic} contact={customer_contact} product={product}"
                                                );
                                                checked += 1;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 4 * 2 * 2 * 2 * 2 * 2 * 2 * 2 * 2);
    }
}
