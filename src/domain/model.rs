//! The enums of the partner-support domain, as stored (upper-case text) and as served.

/// A stored or submitted value that names no variant of the enum it was read as.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind}")]
pub struct UnknownVariant {
    pub kind: &'static str,
    pub value: String,
}

/// Declares a domain enum with its stable text form (the one stored and served).
macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        #[derive(async_graphql::Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $(#[$m])*
        pub enum $name { $($(#[$vm])* #[graphql(name = $s)] $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $s),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::domain::model::UnknownVariant;
            fn from_str(s: &str) -> Result<Self, $crate::domain::model::UnknownVariant> {
                match s {
                    $($s => Ok($name::$variant),)+
                    _ => Err($crate::domain::model::UnknownVariant { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use text_enum;

text_enum! {
    /// How a Cloud Solution Provider partner transacts.
    PartnerKind {
        /// Bills its customers directly.
        Direct = "DIRECT",
        /// Distributor: supplies indirect resellers and may see their customers read-only.
        IndirectProvider = "INDIRECT_PROVIDER",
        /// Sells through an indirect provider.
        IndirectReseller = "INDIRECT_RESELLER",
    }
}

text_enum! {
    /// Which Partner Center instance a tenant lives in.
    Cloud {
        /// The commercial cloud (portal.azure.com).
        Commercial = "COMMERCIAL",
        /// Microsoft Cloud for US Government (portal.azure.us).
        UsGovernment = "US_GOVERNMENT",
    }
}

text_enum! {
    /// A partner user's role, as in Partner Center.
    AgentRole {
        /// Files and works requests, records support's response, and maintains calendars,
        /// products and webhook endpoints; cannot manage agents, domains or agreements.
        AdminAgent = "ADMIN_AGENT",
        /// Files and works requests, except Azure requests (R5).
        HelpdeskAgent = "HELPDESK_AGENT",
        /// Reads only.
        SalesAgent = "SALES_AGENT",
        /// Reads only.
        BillingAdmin = "BILLING_ADMIN",
        /// May do everything, including managing agents and roles, the partner's domains and
        /// its support agreements.
        GlobalAdmin = "GLOBAL_ADMIN",
    }
}

impl AgentRole {
    /// Whether the role may file and work service requests ("Who may do what").
    pub fn can_work_requests(self) -> bool {
        matches!(self, AgentRole::GlobalAdmin | AgentRole::AdminAgent | AgentRole::HelpdeskAgent)
    }
}

text_enum! {
    /// How the partner relates to a customer.
    CustomerRelationship {
        /// The partner resells to the customer directly.
        Reseller = "RESELLER",
        /// The customer buys through an indirect reseller of an indirect provider.
        IndirectReseller = "INDIRECT_RESELLER",
        /// The partner advises but does not resell.
        Advisor = "ADVISOR",
    }
}

text_enum! {
    /// The product family of a subscription or a service request; it picks the route (R2).
    ProductFamily {
        /// Microsoft Azure; worked in the Azure portal (R2).
        Azure = "AZURE",
        /// Microsoft 365 (Office 365).
        Microsoft365 = "MICROSOFT_365",
        /// Dynamics 365, including Dynamics CRM Online.
        Dynamics365 = "DYNAMICS_365",
        /// Enterprise Mobility + Security (EMS).
        EnterpriseMobilitySuite = "ENTERPRISE_MOBILITY_SUITE",
    }
}

text_enum! {
    /// The lifecycle state of a subscription.
    SubscriptionStatus {
        /// In use.
        Active = "ACTIVE",
        /// Suspended: the service is stopped but the subscription is kept.
        Suspended = "SUSPENDED",
        /// Cancelled, or no longer listed by Partner Center; only billing and fraud requests
        /// may be filed about it (R11).
        Deleted = "DELETED",
        /// Its term ended without renewal.
        Expired = "EXPIRED",
        /// Ordered but not yet provisioned.
        Pending = "PENDING",
    }
}

text_enum! {
    /// Whose tenant a subscription belongs to.
    SubscriptionOwner {
        /// A customer's subscription.
        Customer = "CUSTOMER",
        /// The partner's own tenant (not covered by the CSP benefit, R12).
        Partner = "PARTNER",
    }
}

text_enum! {
    /// How often a subscription is billed.
    BillingCycle {
        /// Billed every month.
        Monthly = "MONTHLY",
        /// Billed once a year.
        Annual = "ANNUAL",
        /// Not billed (trials, consumption with no commitment).
        None = "NONE",
    }
}

text_enum! {
    /// What kind of problem a service request reports (R1).
    IncidentKind {
        /// Something that worked is broken; first response due in 2, 4 or 8 hours by severity
        /// (S1).
        TechnicalBreakFix = "TECHNICAL_BREAK_FIX",
        /// A technical matter that is not a break-fix (a question, advice); first response
        /// within one business day (S3).
        NonBreakFix = "NON_BREAK_FIX",
        /// A question about a bill; first response within one business day (S3).
        Billing = "BILLING",
        /// A disputed charge; first response within one business day (S3).
        BillingDispute = "BILLING_DISPUTE",
        /// Suspected fraud; first response within one business day (S3).
        FraudConcern = "FRAUD_CONCERN",
        /// Managing a subscription (licences, changes, transfers); first response within one
        /// business day (S3).
        SubscriptionManagement = "SUBSCRIPTION_MANAGEMENT",
    }
}

text_enum! {
    /// The business impact the partner states when filing; it sets the severity (R15).
    BusinessImpact {
        /// Significant loss or degradation of services; production down.
        Critical = "CRITICAL",
        /// Moderate loss or degradation; production partially affected.
        Moderate = "MODERATE",
        /// Minimal loss; services still available or non-production affected.
        Minimal = "MINIMAL",
    }
}

text_enum! {
    /// Severity of a service request: A (critical) to C (minimal).
    Severity {
        /// Critical (business impact `CRITICAL`): a break-fix's first response is due within 120
        /// clock minutes (S1).
        A = "A",
        /// Moderate (business impact `MODERATE`): a break-fix's first response is due within 240
        /// clock minutes (S1).
        B = "B",
        /// Minimal (business impact `MINIMAL`): a break-fix's first response is due within 480
        /// clock minutes (S1).
        C = "C",
    }
}

impl BusinessImpact {
    /// R15: severity comes from the business impact stated at filing.
    pub fn severity(self) -> Severity {
        match self {
            BusinessImpact::Critical => Severity::A,
            BusinessImpact::Moderate => Severity::B,
            BusinessImpact::Minimal => Severity::C,
        }
    }
}

text_enum! {
    /// The support plan a request is filed under (R6, R12).
    SupportPlan {
        /// The CSP support benefit; every Azure request on behalf of a customer carries it (R6).
        CloudSolutionProvider = "CLOUD_SOLUTION_PROVIDER",
        /// The partner's MPN support contract, named by its id (partner's own tenant, R12).
        MpnContract = "MPN_CONTRACT",
        /// The partner's Microsoft Premier agreement (partner's own tenant, R12).
        Premier = "PREMIER",
        /// The partner's Azure support plan; covers Azure requests only (partner's own tenant,
        /// R12).
        AzureSupportPlan = "AZURE_SUPPORT_PLAN",
    }
}

text_enum! {
    /// How the support fee of a request is covered (R13).
    FeeCoverage {
        /// Microsoft 365, Dynamics CRM Online and EMS support carries no fee.
        NoFee = "NO_FEE",
        /// Covered by the CSP support benefit.
        CspBenefit = "CSP_BENEFIT",
        /// The partner's own Azure request, paid by its Signature Cloud Support (used whenever
        /// the partner has it).
        SignatureCloudSupport = "SIGNATURE_CLOUD_SUPPORT",
        /// The partner's own Azure request, paid by its MPN benefits (entitlement `MPN_CONTRACT`).
        MpnBenefit = "MPN_BENEFIT",
        /// The partner's own Azure request, paid by its Premier agreement.
        Premier = "PREMIER",
        /// The partner's own Azure request, paid by its Azure support plan.
        AzureSupportPlan = "AZURE_SUPPORT_PLAN",
    }
}

text_enum! {
    /// Where a request is worked (R2).
    RouteKind {
        /// The Azure portal in the customer's context.
        AzurePortal = "AZURE_PORTAL",
        /// The Microsoft 365 admin center.
        Microsoft365AdminCenter = "MICROSOFT_365_ADMIN_CENTER",
    }
}

text_enum! {
    /// The status of a service request.
    RequestStatus {
        /// Just filed.
        New = "NEW",
        /// Open and waiting to be worked.
        Open = "OPEN",
        /// Being worked.
        InProgress = "IN_PROGRESS",
        /// Waiting for the partner to answer or act.
        WaitingOnPartner = "WAITING_ON_PARTNER",
        /// Solved; it may still be reopened or closed. Stops an unanswered request's SLA clock.
        Resolved = "RESOLVED",
        /// Final: nothing can change it any more.
        Closed = "CLOSED",
    }
}

impl RequestStatus {
    /// Whether the request is still being worked (not resolved or closed).
    pub fn is_open(self) -> bool {
        !matches!(self, RequestStatus::Resolved | RequestStatus::Closed)
    }
}

text_enum! {
    /// Who wrote a note.
    NoteAuthorKind {
        /// A partner agent.
        Partner = "PARTNER",
        /// Microsoft support.
        Support = "SUPPORT",
    }
}

text_enum! {
    /// What a history entry records.
    HistoryKind {
        /// The request was filed; `toValue` is `NEW`, and `fromValue` the sync source (e.g.
        /// `PARTNER_CENTER`) for a request found at Microsoft.
        Created = "CREATED",
        /// The status changed; `fromValue` and `toValue` are the statuses.
        StatusChanged = "STATUS_CHANGED",
        /// The severity changed; `fromValue` and `toValue` are the severities.
        SeverityChanged = "SEVERITY_CHANGED",
        /// A note was added; `toValue` is the note's raw id (not its global id).
        NoteAdded = "NOTE_ADDED",
        /// Support's first response was recorded; `fromValue` is its source (`MANUAL` or
        /// `MICROSOFT`), `toValue` the response time claimed (RFC 3339).
        SupportResponded = "SUPPORT_RESPONDED",
        /// The SLA state changed; `fromValue` and `toValue` are the states.
        SlaStateChanged = "SLA_STATE_CHANGED",
        /// The due time moved because the request's business calendar changed or another was
        /// assigned (a severity change moves it too, recorded as `SEVERITY_CHANGED`).
        SlaDueChanged = "SLA_DUE_CHANGED",
    }
}

text_enum! {
    /// What a committed change was: the kind of every row of the event log.
    #[graphql(name = "ServiceRequestEventKind")]
    EventKind {
        /// A request was filed (here, or found at Microsoft by sync).
        Created = "CREATED",
        /// A request's status changed.
        StatusChanged = "STATUS_CHANGED",
        /// A request's severity changed.
        SeverityChanged = "SEVERITY_CHANGED",
        /// A note was added to a request.
        NoteAdded = "NOTE_ADDED",
        /// Support's first response to a request was recorded.
        SupportResponded = "SUPPORT_RESPONDED",
        /// A request's SLA state changed (the SLA alerts).
        SlaStateChanged = "SLA_STATE_CHANGED",
        /// The due time moved because the request's business calendar changed or another was
        /// assigned (a severity change moves it too, recorded as `SEVERITY_CHANGED`).
        SlaDueChanged = "SLA_DUE_CHANGED",
        /// An indirect provider granted its reseller access to a customer's Azure account (R4).
        AzureAccessGranted = "AZURE_ACCESS_GRANTED",
        /// An indirect provider revoked its reseller's access to a customer's Azure account (R4).
        AzureAccessRevoked = "AZURE_ACCESS_REVOKED",
        /// A business calendar was created or edited, or assigned to a customer or the
        /// partner's own tenant.
        CalendarChanged = "CALENDAR_CHANGED",
        /// Filed at Microsoft: the request now has Microsoft's case number.
        FiledAtMicrosoft = "FILED_AT_MICROSOFT",
        /// Microsoft refused the request for good.
        RejectedByMicrosoft = "REJECTED_BY_MICROSOFT",
    }
}

impl EventKind {
    /// Whether the event concerns one service request (the others concern a customer).
    pub fn is_about_a_request(self) -> bool {
        !matches!(self, EventKind::AzureAccessGranted | EventKind::AzureAccessRevoked | EventKind::CalendarChanged)
    }
}

text_enum! {
    /// Where the record of support's first response came from (S4).
    ResponseSource {
        /// Entered by hand by a partner admin (`recordSupportResponse`).
        Manual = "MANUAL",
        /// Read from Microsoft's own record of the ticket, at Microsoft's timestamp.
        Microsoft = "MICROSOFT",
    }
}

text_enum! {
    /// How the initial-response clock of a request runs (S2).
    SlaClock {
        /// Around the clock (English-language support).
        TwentyFourSeven = "TWENTY_FOUR_SEVEN",
        /// Only inside the business hours of the request's calendar.
        BusinessHours = "BUSINESS_HOURS",
    }
}

text_enum! {
    /// The state of a request's initial-response SLA (S4).
    SlaState {
        /// Due time ahead, outside the warning window.
        OnTrack = "ON_TRACK",
        /// Inside the warning window (the last 25 % of the target by default).
        AtRisk = "AT_RISK",
        /// The due time passed without a response, or the response came late.
        Breached = "BREACHED",
        /// Support's first response came in time.
        Met = "MET",
        /// The request was resolved or closed before support responded and before its due
        /// time: the clock stopped without a breach.
        Stopped = "STOPPED",
    }
}

impl SlaState {
    /// Whether nothing can change the state any more (S4): a response came, the request was
    /// resolved or closed, or the due time passed without a response.
    pub fn is_final(self) -> bool {
        matches!(self, SlaState::Met | SlaState::Breached | SlaState::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for v in IncidentKind::ALL {
            assert_eq!(v.as_str().parse::<IncidentKind>().unwrap(), *v);
        }
        assert!("nope".parse::<Severity>().is_err());
    }

    #[test]
    fn r15_business_impact_sets_severity() {
        assert_eq!(BusinessImpact::Critical.severity(), Severity::A);
        assert_eq!(BusinessImpact::Moderate.severity(), Severity::B);
        assert_eq!(BusinessImpact::Minimal.severity(), Severity::C);
    }
}

/// R2: the product family picks the route. Azure requests go to the Azure portal in the
/// customer's context (`portal.azure.us` in the US Government cloud); Microsoft 365,
/// Dynamics 365 and EMS go to the Microsoft 365 admin center.
pub fn route_for(family: ProductFamily, cloud: Cloud, customer_domain: Option<&str>) -> (RouteKind, String) {
    match family {
        ProductFamily::Azure => {
            let host = match cloud {
                Cloud::Commercial => "https://portal.azure.com",
                Cloud::UsGovernment => "https://portal.azure.us",
            };
            let url = match customer_domain {
                Some(domain) => format!("{host}/{domain}"),
                None => host.to_owned(),
            };
            (RouteKind::AzurePortal, url)
        }
        _ => {
            let url = match cloud {
                Cloud::Commercial => "https://admin.microsoft.com/#/support",
                Cloud::UsGovernment => "https://portal.office365.us/adminportal/home#/support",
            };
            (RouteKind::Microsoft365AdminCenter, url.to_owned())
        }
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn r2_route_by_family_and_cloud() {
        let (kind, url) = route_for(ProductFamily::Azure, Cloud::Commercial, Some("contoso.onmicrosoft.com"));
        assert_eq!(kind, RouteKind::AzurePortal);
        assert_eq!(url, "https://portal.azure.com/contoso.onmicrosoft.com");
        let (_, url) = route_for(ProductFamily::Azure, Cloud::UsGovernment, Some("contoso.onmicrosoft.us"));
        assert_eq!(url, "https://portal.azure.us/contoso.onmicrosoft.us");
        for family in [ProductFamily::Microsoft365, ProductFamily::Dynamics365, ProductFamily::EnterpriseMobilitySuite]
        {
            assert_eq!(route_for(family, Cloud::Commercial, None).0, RouteKind::Microsoft365AdminCenter);
        }
    }
}
