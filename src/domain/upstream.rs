//! How Microsoft's vocabulary (Partner Center, the Azure Support API) reads in ours. Pure:
//! `sync` calls these on each upstream object before it writes anything.

use super::model::{
    BillingCycle, BusinessImpact, CustomerRelationship, IncidentKind, PartnerKind, ProductFamily, RequestStatus,
    Severity, SubscriptionStatus,
};

crate::domain::model::text_enum! {
    /// Where an object came from.
    DataSource {
        /// Made here: by an agent, or the demo data.
        Local = "LOCAL",
        /// Kept in step with Partner Center by sync.
        PartnerCenter = "PARTNER_CENTER",
        /// Kept in step with the Azure Support API by sync.
        AzureSupport = "AZURE_SUPPORT",
        /// Read from a file by `support-gateway import`.
        Import = "IMPORT",
    }
}

crate::domain::model::text_enum! {
    /// Where a request filed here stands at Microsoft.
    UpstreamState {
        /// Waiting to be filed (or retried after an outage).
        Pending = "PENDING",
        /// Filed: `upstreamId` is Microsoft's case number.
        Filed = "FILED",
        /// Microsoft refused it for good; `upstreamError` says why.
        Rejected = "REJECTED",
    }
}

/// When the outbox tries again after attempt `attempts` failed for a passing reason: 5 s,
/// doubling, at most 15 minutes (the upstream client has already retried within the attempt).
pub fn outbox_retry_delay(attempts: i64) -> chrono::Duration {
    let seconds = 5i64.saturating_mul(1i64 << attempts.clamp(0, 20));
    chrono::Duration::seconds(seconds.min(15 * 60))
}

/// Whether a request of `family` is filed at Microsoft through Partner Center: Microsoft 365,
/// Dynamics 365 and EMS. Azure requests go to the Azure Support API in the customer's
/// context (R2).
pub fn files_at_partner_center(family: ProductFamily) -> bool {
    family != ProductFamily::Azure
}

/// Whether a request of `family` filed here is filed at Microsoft too: Partner Center takes
/// every family but Azure, which needs the Azure Support API configured.
pub fn files_upstream(family: ProductFamily, azure_configured: bool) -> bool {
    files_at_partner_center(family) || azure_configured
}

/// Whether a delegated admin relationship (GDAP) with this `status` gives the partner
/// delegated admin privileges: only an `active` one does (`approvalPending`, `expiring`,
/// `expired`, `terminated` … do not).
pub fn gdap_active(status: &str) -> bool {
    status.eq_ignore_ascii_case("active")
}

/// The name of the Azure support ticket a request is filed as: derived from the request, so
/// an attempt that lost its answer finds the ticket by name instead of filing another.
pub fn azure_ticket_name(request_id: &str) -> String {
    format!("sg-{request_id}")
}

/// An Azure ticket's `status` in Partner Center's words (`Open`, `Updating` → `open`;
/// `Closed` → `closed`), so both read the same.
pub fn azure_status(status: &str) -> &'static str {
    if status.eq_ignore_ascii_case("closed") { "closed" } else { "open" }
}

/// An Azure severity in Partner Center's words (`highestcriticalimpact` is critical too).
pub fn azure_severity(severity: &str) -> &'static str {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "highestcriticalimpact" => "critical",
        "moderate" => "moderate",
        _ => "minimal",
    }
}

/// A two-letter country code as Azure's contact details want it (ISO 3166 alpha-3, lower
/// case); codes not listed pass as they are.
pub fn country_alpha3(country: &str) -> String {
    let c = country.to_ascii_uppercase();
    let known = [
        ("US", "usa"),
        ("CA", "can"),
        ("GB", "gbr"),
        ("IE", "irl"),
        ("DE", "deu"),
        ("AT", "aut"),
        ("CH", "che"),
        ("FR", "fra"),
        ("BE", "bel"),
        ("NL", "nld"),
        ("ES", "esp"),
        ("PT", "prt"),
        ("IT", "ita"),
        ("SE", "swe"),
        ("NO", "nor"),
        ("DK", "dnk"),
        ("FI", "fin"),
        ("PL", "pol"),
        ("JP", "jpn"),
        ("KR", "kor"),
        ("CN", "chn"),
        ("IN", "ind"),
        ("AU", "aus"),
        ("NZ", "nzl"),
        ("BR", "bra"),
        ("MX", "mex"),
        ("SG", "sgp"),
        ("ZA", "zaf"),
    ];
    known.iter().find(|(two, _)| *two == c).map(|(_, three)| (*three).to_owned()).unwrap_or(c.to_lowercase())
}

/// A Partner Center service request's `status` (`none`, `open`, `attention_needed`, `closed`).
/// Unknown values read as `OPEN`: the request is still Microsoft's to work.
pub fn pc_request_status(status: &str) -> RequestStatus {
    match status.to_ascii_lowercase().replace('_', "").as_str() {
        "none" => RequestStatus::New,
        "attentionneeded" => RequestStatus::WaitingOnPartner,
        "closed" => RequestStatus::Closed,
        "resolved" => RequestStatus::Resolved,
        _ => RequestStatus::Open,
    }
}

/// A severity as Partner Center and the Azure Support API write it. `unknown` (or anything
/// else) reads as the lowest, C.
pub fn upstream_severity(severity: &str) -> Severity {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "highestcriticalimpact" => Severity::A,
        "moderate" => Severity::B,
        _ => Severity::C,
    }
}

/// The severity as Partner Center and the Azure Support API take it.
pub fn severity_upstream(severity: Severity) -> &'static str {
    match severity {
        Severity::A => "critical",
        Severity::B => "moderate",
        Severity::C => "minimal",
    }
}

/// The business impact a severity stands for (the inverse of `BusinessImpact::severity`).
pub fn impact_of(severity: Severity) -> BusinessImpact {
    match severity {
        Severity::A => BusinessImpact::Critical,
        Severity::B => BusinessImpact::Moderate,
        Severity::C => BusinessImpact::Minimal,
    }
}

/// Whether a note added here goes to Microsoft too: the request is Microsoft's (synced from
/// Partner Center) or is being or was filed there (`upstream_state` `PENDING` or `FILED`).
pub fn notes_go_upstream(source: &str, upstream_state: Option<&str>) -> bool {
    source == DataSource::PartnerCenter.as_str() || matches!(upstream_state, Some("PENDING" | "FILED"))
}

/// The product family an offer or support topic belongs to, from its name: Partner Center
/// names no family. Anything not Azure, Dynamics or EMS is Microsoft 365.
pub fn product_family_of(name: &str) -> ProductFamily {
    let n = name.to_ascii_lowercase();
    if n.contains("azure") {
        ProductFamily::Azure
    } else if n.contains("dynamics") {
        ProductFamily::Dynamics365
    } else if n.contains("enterprise mobility")
        || n.contains("intune")
        || n.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "ems")
    {
        ProductFamily::EnterpriseMobilitySuite
    } else {
        ProductFamily::Microsoft365
    }
}

/// What kind of incident a support topic files: billing topics are billing matters (R13's
/// no-fee rule applies to them); everything else is technical.
pub fn incident_kind_of_topic(name: &str) -> IncidentKind {
    let n = name.to_ascii_lowercase();
    if n.contains("billing") || n.contains("invoice") {
        IncidentKind::Billing
    } else if n.contains("subscription management") || n.contains("license") {
        IncidentKind::SubscriptionManagement
    } else {
        IncidentKind::TechnicalBreakFix
    }
}

/// A Partner Center subscription's `status`. `none` and unknown values read as `PENDING`.
pub fn pc_subscription_status(status: &str) -> SubscriptionStatus {
    match status.to_ascii_lowercase().as_str() {
        "active" => SubscriptionStatus::Active,
        "suspended" | "disabled" => SubscriptionStatus::Suspended,
        "deleted" => SubscriptionStatus::Deleted,
        "expired" => SubscriptionStatus::Expired,
        _ => SubscriptionStatus::Pending,
    }
}

/// A Partner Center `billingCycle`; one-time and multi-year terms bill outside the monthly and
/// annual cycles.
pub fn pc_billing_cycle(cycle: &str) -> BillingCycle {
    match cycle.to_ascii_lowercase().as_str() {
        "monthly" => BillingCycle::Monthly,
        "annual" => BillingCycle::Annual,
        _ => BillingCycle::None,
    }
}

/// The relationship a Partner Center customer has with a partner of `kind`, or `None` when
/// Partner Center says there is none (`none`, or a relationship the gateway does not serve:
/// `syndication`, `microsoft_support`): the relationship has ended.
pub fn pc_relationship(relationship: &str, kind: PartnerKind) -> Option<CustomerRelationship> {
    match relationship.to_ascii_lowercase().replace('_', "").as_str() {
        "reseller" | "indirectreseller" if kind == PartnerKind::IndirectReseller => {
            Some(CustomerRelationship::IndirectReseller)
        }
        "reseller" => Some(CustomerRelationship::Reseller),
        "advisor" => Some(CustomerRelationship::Advisor),
        _ => None,
    }
}

/// The built-in business calendar for a customer's country (ISO 3166 alpha-2), where there is
/// one; otherwise the partner's own calendar applies.
pub fn calendar_for_country(country: &str) -> Option<&'static str> {
    Some(match country.to_ascii_uppercase().as_str() {
        "US" | "CA" => "cal-us-east",
        "GB" | "IE" => "cal-uk",
        "DE" | "AT" | "CH" => "cal-de",
        "FR" | "BE" => "cal-fr",
        "ES" => "cal-es",
        "JP" => "cal-jp",
        "BR" => "cal-br",
        "AU" => "cal-au",
        "IN" => "cal-in",
        _ => return None,
    })
}

/// Partner Center writes an unset date as `0001-01-01T00:00:00`; that means "none".
pub fn is_unset_date(value: &str) -> bool {
    value.starts_with("0001-01-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_ours() {
        assert_eq!(pc_request_status("none"), RequestStatus::New);
        assert_eq!(pc_request_status("open"), RequestStatus::Open);
        assert_eq!(pc_request_status("attention_needed"), RequestStatus::WaitingOnPartner);
        assert_eq!(pc_request_status("attentionNeeded"), RequestStatus::WaitingOnPartner);
        assert_eq!(pc_request_status("closed"), RequestStatus::Closed);
        assert_eq!(pc_request_status("somethingNew"), RequestStatus::Open);
    }

    #[test]
    fn severities_round_trip() {
        for s in Severity::ALL {
            assert_eq!(upstream_severity(severity_upstream(*s)), *s);
            assert_eq!(impact_of(*s).severity(), *s);
        }
        assert_eq!(upstream_severity("highestcriticalimpact"), Severity::A);
        assert_eq!(upstream_severity("unknown"), Severity::C);
    }

    #[test]
    fn families_from_names() {
        assert_eq!(product_family_of("Azure plan"), ProductFamily::Azure);
        assert_eq!(product_family_of("Dynamics 365 Sales Enterprise"), ProductFamily::Dynamics365);
        assert_eq!(product_family_of("Enterprise Mobility + Security E3"), ProductFamily::EnterpriseMobilitySuite);
        assert_eq!(product_family_of("Microsoft Intune"), ProductFamily::EnterpriseMobilitySuite);
        assert_eq!(product_family_of("Office 365 E3"), ProductFamily::Microsoft365);
        assert_eq!(product_family_of("Systems"), ProductFamily::Microsoft365);
        assert_eq!(product_family_of("EMS E5"), ProductFamily::EnterpriseMobilitySuite);
    }

    #[test]
    fn relationships_end() {
        assert_eq!(pc_relationship("reseller", PartnerKind::Direct), Some(CustomerRelationship::Reseller));
        assert_eq!(
            pc_relationship("reseller", PartnerKind::IndirectReseller),
            Some(CustomerRelationship::IndirectReseller)
        );
        assert_eq!(pc_relationship("advisor", PartnerKind::Direct), Some(CustomerRelationship::Advisor));
        assert_eq!(pc_relationship("none", PartnerKind::Direct), None);
        assert_eq!(pc_relationship("microsoft_support", PartnerKind::Direct), None);
    }

    #[test]
    fn outbox_backs_off_to_a_ceiling() {
        assert_eq!(outbox_retry_delay(0).num_seconds(), 5);
        assert_eq!(outbox_retry_delay(3).num_seconds(), 40);
        assert_eq!(outbox_retry_delay(60).num_seconds(), 900);
        assert!(!files_at_partner_center(ProductFamily::Azure));
        assert!(files_at_partner_center(ProductFamily::Dynamics365));
    }

    #[test]
    fn subscriptions_and_calendars() {
        assert_eq!(pc_subscription_status("active"), SubscriptionStatus::Active);
        assert_eq!(pc_subscription_status("deleted"), SubscriptionStatus::Deleted);
        assert_eq!(pc_subscription_status("none"), SubscriptionStatus::Pending);
        assert_eq!(pc_billing_cycle("triennial"), BillingCycle::None);
        assert_eq!(calendar_for_country("gb"), Some("cal-uk"));
        assert_eq!(calendar_for_country("ZZ"), None);
        assert!(is_unset_date("0001-01-01T00:00:00"));
    }
}
