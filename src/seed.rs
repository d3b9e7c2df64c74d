//! Demo and benchmark data: deterministic (a fixed-seed generator), with times placed relative
//! to the instant of seeding so that SLA states span ON_TRACK to BREACHED.

use chrono::{DateTime, Datelike, Duration, Utc};
use diesel_async::{AsyncConnection, RunQueryDsl};

use crate::db::Db;
use crate::db::models::*;
use crate::db::schema;
use crate::domain::holidays;
use crate::domain::model::*;
use crate::domain::policy::{self, EntitlementClaim, FilingChannel, FilingRequest, SubscriptionFacts, Tenant};
use crate::domain::sla::{self, BusinessCalendar, SlaRecord};
use crate::error::{AppError, AppResult};
use crate::with_conn;

/// Rows per INSERT: well below SQLite's bind-variable limit for the widest table.
const INSERT_CHUNK: usize = 500;

/// SplitMix64: tiny, fast and the same on every platform, so the data set is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
    }
}

/// Everything a seed inserts.
#[derive(Default)]
pub struct Dataset {
    pub partners: Vec<PartnerRow>,
    pub partner_domains: Vec<PartnerDomainRow>,
    pub agents: Vec<AgentRow>,
    pub calendars: Vec<CalendarRow>,
    pub hours: Vec<CalendarHoursRow>,
    pub holidays: Vec<HolidayRow>,
    pub customers: Vec<CustomerRow>,
    pub domains: Vec<CustomerDomainRow>,
    pub subscriptions: Vec<SubscriptionRow>,
    pub products: Vec<MarketplaceProductRow>,
    pub customer_products: Vec<CustomerProductRow>,
    pub topics: Vec<SupportTopicRow>,
    pub requests: Vec<ServiceRequestRow>,
    pub notes: Vec<NoteRow>,
    pub history: Vec<HistoryRow>,
}

struct CalendarSpec {
    id: &'static str,
    name: &'static str,
    tz: &'static str,
    country: &'static str,
    language: &'static str,
    hours: &'static [(u32, u32)],
}

/// The years the built-in calendars carry public holidays for, around the seeding instant.
const HOLIDAY_YEARS: std::ops::RangeInclusive<i32> = -1..=5;

const CALENDARS: &[CalendarSpec] = &[
    CalendarSpec {
        id: "cal-us-east",
        name: "United States (Eastern)",
        tz: "America/New_York",
        country: "US",
        language: "en",
        hours: &[(9 * 60, 17 * 60)],
    },
    CalendarSpec {
        id: "cal-us-pacific",
        name: "United States (Pacific)",
        tz: "America/Los_Angeles",
        country: "US",
        language: "en",
        hours: &[(9 * 60, 17 * 60)],
    },
    CalendarSpec {
        id: "cal-uk",
        name: "United Kingdom",
        tz: "Europe/London",
        country: "GB",
        language: "en-GB",
        hours: &[(9 * 60, 17 * 60 + 30)],
    },
    CalendarSpec {
        id: "cal-de",
        name: "Germany",
        tz: "Europe/Berlin",
        country: "DE",
        language: "de",
        hours: &[(8 * 60, 12 * 60), (13 * 60, 17 * 60)],
    },
    CalendarSpec {
        id: "cal-fr",
        name: "France",
        tz: "Europe/Paris",
        country: "FR",
        language: "fr",
        hours: &[(9 * 60, 12 * 60 + 30), (14 * 60, 18 * 60)],
    },
    CalendarSpec {
        id: "cal-es",
        name: "Spain",
        tz: "Europe/Madrid",
        country: "ES",
        language: "es",
        hours: &[(9 * 60, 14 * 60), (16 * 60, 19 * 60)],
    },
    CalendarSpec {
        id: "cal-jp",
        name: "Japan",
        tz: "Asia/Tokyo",
        country: "JP",
        language: "ja",
        hours: &[(9 * 60, 12 * 60), (13 * 60, 18 * 60)],
    },
    CalendarSpec {
        id: "cal-br",
        name: "Brazil",
        tz: "America/Sao_Paulo",
        country: "BR",
        language: "pt-BR",
        hours: &[(9 * 60, 18 * 60)],
    },
    CalendarSpec {
        id: "cal-au",
        name: "Australia (Sydney)",
        tz: "Australia/Sydney",
        country: "AU",
        language: "en-AU",
        hours: &[(9 * 60, 17 * 60)],
    },
    CalendarSpec {
        id: "cal-in",
        name: "India",
        tz: "Asia/Kolkata",
        country: "IN",
        language: "hi",
        hours: &[(9 * 60 + 30, 18 * 60)],
    },
];

struct PartnerSpec {
    key: &'static str,
    name: &'static str,
    domain: &'static str,
    kind: PartnerKind,
    provider: Option<&'static str>,
    cloud: Cloud,
    asfp: bool,
    premier: bool,
    azure_plan: bool,
    signature: bool,
    mpn: Option<&'static str>,
    /// The calendar of the partner's own tenant.
    calendar: &'static str,
}

/// The demo partners. Their agents are `<role>@<domain>`; the README lists them.
const PARTNERS: &[PartnerSpec] = &[
    PartnerSpec {
        key: "northwind",
        name: "Northwind Cloud Services",
        domain: "northwind-cloud.example",
        kind: PartnerKind::Direct,
        provider: None,
        cloud: Cloud::Commercial,
        asfp: true,
        premier: false,
        azure_plan: false,
        signature: true,
        mpn: Some("MPN-4410-2231"),
        calendar: "cal-us-east",
    },
    PartnerSpec {
        key: "fabrikam",
        name: "Fabrikam Distribution",
        domain: "fabrikam-distribution.example",
        kind: PartnerKind::IndirectProvider,
        provider: None,
        cloud: Cloud::Commercial,
        asfp: true,
        premier: true,
        azure_plan: true,
        signature: false,
        mpn: Some("MPN-7781-0042"),
        calendar: "cal-us-east",
    },
    PartnerSpec {
        key: "litware",
        name: "Litware Solutions",
        domain: "litware-solutions.example",
        kind: PartnerKind::IndirectReseller,
        provider: Some("fabrikam"),
        cloud: Cloud::Commercial,
        asfp: false,
        premier: false,
        azure_plan: false,
        signature: false,
        mpn: None,
        calendar: "cal-uk",
    },
    PartnerSpec {
        key: "adatum",
        name: "Adatum Federal",
        domain: "adatum-federal.example",
        kind: PartnerKind::Direct,
        provider: None,
        cloud: Cloud::UsGovernment,
        asfp: false,
        premier: false,
        azure_plan: true,
        signature: false,
        mpn: None,
        calendar: "cal-us-east",
    },
    PartnerSpec {
        key: "tailspin",
        name: "Tailspin Partners",
        domain: "tailspin-partners.example",
        kind: PartnerKind::Direct,
        provider: None,
        cloud: Cloud::Commercial,
        asfp: false,
        premier: false,
        azure_plan: false,
        signature: false,
        mpn: None,
        calendar: "cal-us-pacific",
    },
];

const CUSTOMER_NAMES: &[&str] = &[
    "Contoso",
    "Wingtip Toys",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Consolidated Messenger",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Lamna Healthcare",
    "Lucerne Publishing",
    "Margie's Travel",
    "Munson's Pickles and Preserves",
    "Nod Publishers",
    "Proseware",
    "Relecloud",
    "School of Fine Art",
    "Southridge Video",
    "Trey Research",
    "VanArsdel",
    "Wide World Importers",
    "A. Datum Corporation",
    "Bellows College",
    "Best For You Organics",
    "City Power & Light",
    "First Up Consultants",
    "Tailwind Traders",
    "Adventure Works Cycles",
    "Fincher Architects",
    "Liberty's Delightful Bakery",
    "Litware Labs",
    "Northridge Clinic",
    "Olympia Outfitters",
    "Parnell Aerospace",
    "Quantum Freight",
    "Riverbend Logistics",
];

/// A marketplace product: name, publisher, summary, website, e-mail, phone.
type Product =
    (&'static str, &'static str, &'static str, Option<&'static str>, Option<&'static str>, Option<&'static str>);

const PRODUCTS: &[Product] = &[
    (
        "Relecloud Analytics Suite",
        "Relecloud Software",
        "Dashboards over Azure Monitor data",
        Some("https://support.relecloud.example/analytics"),
        Some("support@relecloud.example"),
        Some("+1 425 555 0100"),
    ),
    (
        "Trey Threat Shield",
        "Trey Research ISV",
        "Managed threat detection for Azure workloads",
        Some("https://help.treyresearch.example"),
        None,
        None,
    ),
    (
        "Proseware SIEM Connector",
        "Proseware Inc.",
        "Streams Entra ID sign-ins to third-party SIEMs",
        None,
        Some("siem-help@proseware.example"),
        None,
    ),
    (
        "Lamna Secure Gateway",
        "Lamna Networks",
        "Zero-trust gateway appliance",
        None,
        Some("care@lamna.example"),
        Some("+44 20 7946 0321"),
    ),
    (
        "Wide World Data Lake Accelerator",
        "Wide World Software",
        "Prebuilt lakehouse pipelines",
        Some("https://wideworld.example/support"),
        Some("datalake@wideworld.example"),
        None,
    ),
    (
        "Tailwind Kubernetes Ops",
        "Tailwind Cloud Tools",
        "AKS fleet upgrades and policy",
        Some("https://tailwind.example/k8s/support"),
        None,
        Some("+1 206 555 0199"),
    ),
    (
        "VanArsdel Document Automation",
        "VanArsdel Ltd.",
        "Contract generation for Dynamics 365",
        None,
        Some("docs-support@vanarsdel.example"),
        None,
    ),
    ("Nod ERP Connector", "Nod Publishers ISV", "Legacy ERP bridge (no published support contact)", None, None, None),
];

const TOPICS: &[(ProductFamily, &str, &str)] = &[
    (ProductFamily::Azure, "Compute", "Virtual machine not starting"),
    (ProductFamily::Azure, "Networking", "Connectivity issue"),
    (ProductFamily::Azure, "Storage", "Storage account access"),
    (ProductFamily::Azure, "Architecture", "Design and configuration guidance"),
    (ProductFamily::Azure, "Billing", "Invoice or charge question"),
    (ProductFamily::Azure, "Security", "Suspicious activity"),
    (ProductFamily::Azure, "Subscription management", "Move or transfer a subscription"),
    (ProductFamily::Microsoft365, "Exchange Online", "Mail flow"),
    (ProductFamily::Microsoft365, "Teams", "Meetings and calls"),
    (ProductFamily::Microsoft365, "SharePoint Online", "Site access"),
    (ProductFamily::Microsoft365, "Licensing", "Assigning licences"),
    (ProductFamily::Microsoft365, "Billing", "Invoice or charge question"),
    (ProductFamily::Microsoft365, "Security", "Suspicious activity"),
    (ProductFamily::Dynamics365, "Sales", "Opportunity management"),
    (ProductFamily::Dynamics365, "Customer Service", "Case routing"),
    (ProductFamily::Dynamics365, "Finance and Operations", "Posting errors"),
    (ProductFamily::Dynamics365, "Licensing", "Assigning licences"),
    (ProductFamily::Dynamics365, "Billing", "Invoice or charge question"),
    (ProductFamily::Dynamics365, "Security", "Suspicious activity"),
    (ProductFamily::EnterpriseMobilitySuite, "Intune", "Device enrolment"),
    (ProductFamily::EnterpriseMobilitySuite, "Entra ID", "Conditional access"),
    (ProductFamily::EnterpriseMobilitySuite, "Information Protection", "Sensitivity labels"),
    (ProductFamily::EnterpriseMobilitySuite, "Licensing", "Assigning licences"),
    (ProductFamily::EnterpriseMobilitySuite, "Billing", "Invoice or charge question"),
    (ProductFamily::EnterpriseMobilitySuite, "Security", "Suspicious activity"),
];

const OFFERS: &[(ProductFamily, &str)] = &[
    (ProductFamily::Azure, "Azure plan"),
    (ProductFamily::Microsoft365, "Microsoft 365 E3"),
    (ProductFamily::Microsoft365, "Microsoft 365 Business Premium"),
    (ProductFamily::Dynamics365, "Dynamics 365 Sales Enterprise"),
    (ProductFamily::Dynamics365, "Dynamics CRM Online Professional"),
    (ProductFamily::EnterpriseMobilitySuite, "Enterprise Mobility + Security E3"),
];

use IncidentKind::{
    BillingDispute as Dispute, FraudConcern as Fraud, NonBreakFix as Nbf, SubscriptionManagement as SubMgmt,
    TechnicalBreakFix as Tbf,
};
use ProductFamily::{Azure as Az, Dynamics365 as D365, EnterpriseMobilitySuite as Ems, Microsoft365 as M365};

/// What demo requests are about: for each product family and incident kind, a support topic
/// (by name, of that family) and a title that fits both. Every family and kind has one.
pub const REQUEST_TEMPLATES: &[(ProductFamily, IncidentKind, &str, &str)] = &[
    (Az, Tbf, "Virtual machine not starting", "VM stuck in updating state"),
    (Az, Tbf, "Connectivity issue", "Azure Firewall drops allowed traffic"),
    (Az, Tbf, "Storage account access", "Storage account returns 403"),
    (Az, Nbf, "Design and configuration guidance", "Guidance on VNet peering limits"),
    (Az, IncidentKind::Billing, "Invoice or charge question", "Unexpected charge on the Azure invoice"),
    (Az, Dispute, "Invoice or charge question", "Dispute of Azure consumption overage"),
    (Az, Fraud, "Suspicious activity", "Crypto-mining VMs created by an unknown account"),
    (Az, SubMgmt, "Move or transfer a subscription", "Cannot move subscription to new tenant"),
    (M365, Tbf, "Mail flow", "Mail delayed for external recipients"),
    (M365, Tbf, "Meetings and calls", "Teams meetings drop after 10 minutes"),
    (M365, Tbf, "Site access", "SharePoint site inaccessible"),
    (M365, Nbf, "Meetings and calls", "How to keep Teams meeting recordings longer"),
    (M365, IncidentKind::Billing, "Invoice or charge question", "Unexpected charge for Microsoft 365 licences"),
    (M365, Dispute, "Invoice or charge question", "Dispute of Microsoft 365 licence overage"),
    (M365, Fraud, "Suspicious activity", "Suspicious sign-ins from unknown country"),
    (M365, SubMgmt, "Assigning licences", "Licences not applied after purchase"),
    (D365, Tbf, "Posting errors", "Dynamics posting fails with timeout"),
    (D365, Tbf, "Case routing", "Cases not routed to their queues"),
    (D365, Tbf, "Opportunity management", "Opportunity pipeline view fails to load"),
    (D365, Nbf, "Opportunity management", "Guidance on customising the sales pipeline"),
    (D365, IncidentKind::Billing, "Invoice or charge question", "Unexpected charge for Dynamics 365 seats"),
    (D365, Dispute, "Invoice or charge question", "Dispute of Dynamics 365 seat charges"),
    (D365, Fraud, "Suspicious activity", "Unknown admin exported every Dynamics contact"),
    (D365, SubMgmt, "Assigning licences", "Cannot reduce the Dynamics 365 seat count"),
    (Ems, Tbf, "Device enrolment", "Device enrolment fails for iOS"),
    (Ems, Tbf, "Conditional access", "Conditional access blocks admins"),
    (Ems, Tbf, "Sensitivity labels", "Sensitivity labels missing in Office apps"),
    (Ems, Nbf, "Conditional access", "Guidance on conditional access for guests"),
    (Ems, IncidentKind::Billing, "Invoice or charge question", "Unexpected charge for EMS licences"),
    (Ems, Dispute, "Invoice or charge question", "Dispute of EMS licence charges"),
    (Ems, Fraud, "Suspicious activity", "Impossible-travel sign-ins for admin accounts"),
    (Ems, SubMgmt, "Assigning licences", "EMS licences not applied after purchase"),
];

/// The id of a built-in support topic.
fn topic_id(family: ProductFamily, name: &str) -> String {
    format!("topic-{}-{}", family.as_str().to_lowercase(), slug(name))
}

fn slug(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase()
}

fn role_mailbox(role: AgentRole) -> &'static str {
    match role {
        AgentRole::AdminAgent => "admin",
        AgentRole::HelpdeskAgent => "helpdesk",
        AgentRole::SalesAgent => "sales",
        AgentRole::BillingAdmin => "billing",
        AgentRole::GlobalAdmin => "global",
    }
}

struct Generator {
    rng: Rng,
    now: DateTime<Utc>,
    data: Dataset,
    calendars: Vec<(String, BusinessCalendar)>,
}

impl Generator {
    fn new(now: DateTime<Utc>) -> Generator {
        Generator { rng: Rng(0x5EED_CAFE), now, data: Dataset::default(), calendars: Vec::new() }
    }

    fn partner_id(&self, key: &str) -> String {
        format!("partner-{key}")
    }

    fn base(&mut self) {
        let t0 = (self.now - Duration::days(400)).naive_utc();
        for c in CALENDARS {
            self.data.calendars.push(CalendarRow {
                id: c.id.into(),
                code: c.name.into(),
                time_zone: c.tz.into(),
                name: c.name.into(),
                partner_id: None,
                version: 1,
            });
            for weekday in 0..5 {
                for &(s, e) in c.hours {
                    self.data.hours.push(CalendarHoursRow {
                        calendar_id: c.id.into(),
                        weekday,
                        start_minute: s.into(),
                        end_minute: e.into(),
                    });
                }
            }
            let mut cal = BusinessCalendar::weekdays(c.tz.parse().expect("valid zone"), 0, 0);
            for day in cal.weekly_hours.iter_mut().take(5) {
                *day = c.hours.to_vec();
            }
            for offset in HOLIDAY_YEARS {
                for (day, name) in holidays::public_holidays(c.country, self.now.year() + offset) {
                    self.data.holidays.push(HolidayRow { calendar_id: c.id.into(), day, name: name.into() });
                    cal.holidays.insert(day);
                }
            }
            self.calendars.push((c.id.to_owned(), cal));
        }
        for p in PARTNERS {
            let id = self.partner_id(p.key);
            self.data.partners.push(PartnerRow {
                id: id.clone(),
                name: p.name.into(),
                kind: p.kind.as_str().into(),
                provider_id: p.provider.map(|k| self.partner_id(k)),
                cloud: p.cloud.as_str().into(),
                has_asfp: p.asfp,
                has_premier: p.premier,
                has_azure_support_plan: p.azure_plan,
                has_signature_cloud_support: p.signature,
                mpn_contract_id: p.mpn.map(Into::into),
                support_contact_name: format!("{} Support Desk", p.name),
                support_contact_email: format!("support@{}", p.domain),
                support_contact_phone: Some(format!("+1 425 555 {:04}", 100 + self.data.partners.len())),
                created_at: t0,
                deleted_at: None,
                calendar_id: Some(p.calendar.into()),
            });
            self.data.partner_domains.push(PartnerDomainRow { domain: p.domain.into(), partner_id: id.clone() });
            let mut roles = vec![AgentRole::AdminAgent, AgentRole::HelpdeskAgent];
            if p.key == "northwind" {
                roles.extend([AgentRole::GlobalAdmin, AgentRole::SalesAgent, AgentRole::BillingAdmin]);
            }
            for role in roles {
                let mailbox = role_mailbox(role);
                self.data.agents.push(AgentRow {
                    id: format!("agent-{}-{mailbox}", p.key),
                    partner_id: id.clone(),
                    email: format!("{mailbox}@{}", p.domain),
                    display_name: format!("{} {}", p.name.split(' ').next().unwrap_or(p.name), role_label(role)),
                    role: role.as_str().into(),
                    created_at: t0,
                    identity: None,
                    disabled_at: None,
                });
            }
        }
        for (name, publisher, summary, url, email, phone) in PRODUCTS {
            self.data.products.push(MarketplaceProductRow {
                id: format!("product-{}", slug(name)),
                name: (*name).into(),
                publisher_name: (*publisher).into(),
                summary: (*summary).into(),
                support_url: url.map(Into::into),
                support_email: email.map(Into::into),
                support_phone: phone.map(Into::into),
                partner_id: None,
            });
        }
        for (family, category, name) in TOPICS {
            self.data.topics.push(SupportTopicRow {
                id: topic_id(*family, name),
                product_family: family.as_str().into(),
                category: (*category).into(),
                name: (*name).into(),
                source: "LOCAL".into(),
                upstream_id: None,
                synced_at: None,
            });
        }
        // Each partner's own tenant: an Azure and a Microsoft 365 subscription (R12).
        for p in PARTNERS {
            for (i, family) in [ProductFamily::Azure, ProductFamily::Microsoft365].into_iter().enumerate() {
                let offer = OFFERS.iter().find(|(f, _)| *f == family).map(|(_, o)| *o).unwrap_or("Azure plan");
                let azure_id = (family == ProductFamily::Azure).then(|| self.rng.uuid());
                self.data.subscriptions.push(SubscriptionRow {
                    id: format!("sub-{}-own-{i}", p.key),
                    partner_id: self.partner_id(p.key),
                    provider_id: None,
                    customer_id: None,
                    owner: SubscriptionOwner::Partner.as_str().into(),
                    product_family: family.as_str().into(),
                    offer_name: offer.into(),
                    status: SubscriptionStatus::Active.as_str().into(),
                    billing_cycle: BillingCycle::Monthly.as_str().into(),
                    quantity: 25,
                    is_trial: false,
                    azure_subscription_id: azure_id,
                    created_at: t0,
                    source: "LOCAL".into(),
                    upstream_id: None,
                    synced_at: None,
                });
            }
        }
    }

    /// Adds a customer of `partner_key` with subscriptions and marketplace products.
    fn customer(&mut self, index: usize, name: &str, partner_key: &str, cloud: Cloud, subs: usize) -> usize {
        let spec = &CALENDARS[index % CALENDARS.len()];
        let partner = PARTNERS.iter().find(|p| p.key == partner_key).expect("known partner");
        let id = format!("cust-{index:05}-{}", slug(name));
        let base = slug(name);
        let suffix = if index < CUSTOMER_NAMES.len() { String::new() } else { format!("{index}") };
        let tld = if cloud == Cloud::UsGovernment { "onmicrosoft.us" } else { "onmicrosoft.com" };
        let primary = format!("{base}{suffix}.{tld}");
        let (relationship, provider_id, azure_access) = match partner.kind {
            PartnerKind::IndirectReseller => (
                CustomerRelationship::IndirectReseller,
                partner.provider.map(|k| self.partner_id(k)),
                self.rng.chance(60),
            ),
            // Contoso (index 0), the README's walkthrough customer, is always resold to.
            _ if self.rng.chance(10) && index != 0 => (CustomerRelationship::Advisor, None, true),
            _ => (CustomerRelationship::Reseller, None, true),
        };
        let delegated_admin = !self.rng.chance(25);
        let created = (self.now - Duration::days(200 + self.rng.below(150) as i64)).naive_utc();
        self.data.customers.push(CustomerRow {
            id: id.clone(),
            partner_id: self.partner_id(partner_key),
            provider_id: provider_id.clone(),
            company_name: if suffix.is_empty() { name.to_owned() } else { format!("{name} {index}") },
            primary_domain: primary.clone(),
            tenant_id: self.rng.uuid(),
            country: spec.country.into(),
            time_zone: spec.tz.into(),
            language: spec.language.into(),
            cloud: cloud.as_str().into(),
            calendar_id: spec.id.into(),
            relationship: relationship.as_str().into(),
            delegated_admin,
            azure_access_granted: azure_access,
            created_at: created,
            source: "LOCAL".into(),
            upstream_id: None,
            synced_at: None,
            relationship_ended_at: None,
        });
        self.data.domains.push(CustomerDomainRow { domain: primary, customer_id: id.clone(), is_primary: true });
        if self.rng.chance(50) {
            self.data.domains.push(CustomerDomainRow {
                domain: format!("{base}{suffix}.example"),
                customer_id: id.clone(),
                is_primary: false,
            });
        }
        let statuses = [
            SubscriptionStatus::Active,
            SubscriptionStatus::Active,
            SubscriptionStatus::Active,
            SubscriptionStatus::Suspended,
            SubscriptionStatus::Deleted,
            SubscriptionStatus::Expired,
            SubscriptionStatus::Pending,
        ];
        for s in 0..subs {
            let (family, offer) = if s == 0 { OFFERS[0] } else { *self.rng.pick(OFFERS) };
            let status = if s == 0 { SubscriptionStatus::Active } else { *self.rng.pick(&statuses) };
            let trial = self.rng.chance(10);
            self.data.subscriptions.push(SubscriptionRow {
                id: format!("sub-{index:05}-{s}"),
                partner_id: self.partner_id(partner_key),
                provider_id: provider_id.clone(),
                customer_id: Some(id.clone()),
                owner: SubscriptionOwner::Customer.as_str().into(),
                product_family: family.as_str().into(),
                offer_name: offer.into(),
                status: status.as_str().into(),
                billing_cycle: if trial {
                    BillingCycle::None
                } else if self.rng.chance(50) {
                    BillingCycle::Annual
                } else {
                    BillingCycle::Monthly
                }
                .as_str()
                .into(),
                quantity: 1 + self.rng.below(500) as i64,
                is_trial: trial,
                azure_subscription_id: (family == ProductFamily::Azure).then(|| self.rng.uuid()),
                created_at: created + Duration::days(s as i64),
                source: "LOCAL".into(),
                upstream_id: None,
                synced_at: None,
            });
        }
        for p in 0..PRODUCTS.len() {
            if self.rng.chance(15) {
                self.data.customer_products.push(CustomerProductRow {
                    customer_id: id.clone(),
                    marketplace_product_id: self.data.products[p].id.clone(),
                    deployed_at: created + Duration::days(3),
                });
            }
        }
        self.data.customers.len() - 1
    }

    /// The filing facts of partner `partner` for the policy, as its agent of `role`.
    fn caller_facts(&self, partner: &PartnerRow, role: AgentRole) -> policy::CallerFacts {
        policy::CallerFacts {
            role,
            partner_kind: partner.kind.parse().expect("seeded kind"),
            partner_cloud: partner.cloud.parse().expect("seeded cloud"),
            agreements: policy::Agreements {
                asfp: partner.has_asfp,
                premier: partner.has_premier,
                azure_support_plan: partner.has_azure_support_plan,
                signature_cloud_support: partner.has_signature_cloud_support,
                mpn_contract_id: partner.mpn_contract_id.clone(),
            },
            domains: self
                .data
                .partner_domains
                .iter()
                .filter(|d| d.partner_id == partner.id)
                .map(|d| d.domain.clone())
                .collect(),
        }
    }

    /// Adds a request of kind `kind` for customer `c` (index into customers) or, with `None`,
    /// the partner's own tenant: one the filing rules accept at its filing instant, filed by an
    /// agent who may file it, about a subscription and topic of its family, with a title that
    /// fits. Its life (support's response, the path to `status`, the SLA's changes) is
    /// recorded in history as the gateway records it. A tenant on which no request of the kind
    /// can be filed (an advised customer, a partner without entitlement) gets none.
    fn request(
        &mut self,
        n: usize,
        partner_key: &str,
        customer: Option<usize>,
        status: RequestStatus,
        kind: IncidentKind,
    ) {
        let partner =
            self.data.partners.iter().find(|p| p.id == self.partner_id(partner_key)).expect("partner").clone();
        let customer_row = customer.map(|c| self.data.customers[c].clone());
        let owner = customer_row.as_ref().map(|c| c.id.clone());
        let subs: Vec<SubscriptionRow> = self
            .data
            .subscriptions
            .iter()
            .filter(|s| s.customer_id == owner && (owner.is_some() || s.partner_id == partner.id))
            .cloned()
            .collect();
        let agents: Vec<AgentRow> = self
            .data
            .agents
            .iter()
            .filter(|a| a.partner_id == partner.id)
            .filter(|a| a.role.parse::<AgentRole>().is_ok_and(AgentRole::can_work_requests))
            .cloned()
            .collect();
        if subs.is_empty() || agents.is_empty() {
            return;
        }
        let tenant = match &customer_row {
            Some(c) => Tenant::Customer(policy::CustomerFacts {
                relationship: c.relationship.parse().expect("seeded relationship"),
                delegated_admin: c.delegated_admin,
                azure_access_granted: c.azure_access_granted,
                primary_domain: c.primary_domain.clone(),
                domains: self.data.domains.iter().filter(|d| d.customer_id == c.id).map(|d| d.domain.clone()).collect(),
                cloud: c.cloud.parse().expect("seeded cloud"),
                read_only: false,
            }),
            None => Tenant::PartnerOwn,
        };
        let impact = *self.rng.pick(BusinessImpact::ALL);
        let (first_sub, first_agent) = (self.rng.below(subs.len()), n % agents.len());
        let mut chosen = None;
        'search: for i in 0..subs.len() {
            let sub = &subs[(first_sub + i) % subs.len()];
            let family: ProductFamily = sub.product_family.parse().expect("seeded family");
            let templates: Vec<_> = REQUEST_TEMPLATES.iter().filter(|t| t.0 == family && t.1 == kind).collect();
            let &(_, _, topic, title) = templates[n % templates.len()];
            let entitlement = match &tenant {
                Tenant::PartnerOwn => <[SupportPlan]>::first(&policy::entitlements_for(
                    &self.caller_facts(&partner, AgentRole::AdminAgent).agreements,
                    family,
                ))
                .map(|&plan| EntitlementClaim {
                    plan,
                    reference: (plan == SupportPlan::MpnContract).then(|| partner.mpn_contract_id.clone()).flatten(),
                }),
                Tenant::Customer(_) => None,
            };
            for j in 0..agents.len() {
                let agent = &agents[(first_agent + j) % agents.len()];
                let request = FilingRequest {
                    product_family: family,
                    incident_kind: kind,
                    business_impact: impact,
                    subscription: Some(SubscriptionFacts {
                        product_family: family,
                        is_trial: sub.is_trial,
                        status: sub.status.parse().expect("seeded status"),
                    }),
                    marketplace_product: None,
                    support_topic_family: Some(family),
                    contact_email: Some(agent.email.clone()),
                    contact_is_partner_agent: true,
                    channel: FilingChannel::Web,
                    entitlement: entitlement.clone(),
                };
                let caller = self.caller_facts(&partner, agent.role.parse().expect("seeded role"));
                let decision = policy::evaluate(&caller, &tenant, &request, false);
                if decision.accepted() {
                    chosen =
                        Some((sub.clone(), family, topic_id(family, topic), title, agent.clone(), decision.filing));
                    break 'search;
                }
            }
        }
        let Some((sub, family, topic, title, agent, filing)) = chosen else { return };
        let severity = filing.severity;
        let Some(calendar_id) = customer_row.as_ref().map(|c| c.calendar_id.clone()).or(partner.calendar_id.clone())
        else {
            return;
        };
        let calendar =
            self.calendars.iter().find(|(id, _)| *id == calendar_id).map(|(_, c)| c.clone()).expect("calendar");
        let language = match &customer_row {
            Some(c) if self.rng.chance(40) => c.language.clone(),
            _ => "en".to_owned(),
        };
        // Open requests are recent, so their clocks are still running; closed ones older.
        let age_minutes = if status.is_open() {
            self.rng.below(60 * 30) as i64
        } else {
            60 * 24 + self.rng.below(60 * 24 * 60) as i64
        };
        let created = self.now - Duration::minutes(age_minutes);
        let plan = sla::plan(kind, severity, &language, &calendar);
        let mut record = SlaRecord::file(plan, &calendar, created, sla::DEFAULT_WARNING_PERCENT);
        let id = self.rng.uuid();
        // A legal path from NEW to the final status, spread over the request's life.
        let path: &[RequestStatus] = match status {
            RequestStatus::New => &[],
            RequestStatus::Open => &[RequestStatus::Open],
            RequestStatus::InProgress => &[RequestStatus::Open, RequestStatus::InProgress],
            RequestStatus::WaitingOnPartner => {
                &[RequestStatus::Open, RequestStatus::InProgress, RequestStatus::WaitingOnPartner]
            }
            RequestStatus::Resolved => &[RequestStatus::Open, RequestStatus::InProgress, RequestStatus::Resolved],
            RequestStatus::Closed => {
                &[RequestStatus::Open, RequestStatus::InProgress, RequestStatus::Resolved, RequestStatus::Closed]
            }
        };
        let elapsed = (self.now - created).num_seconds().max(1);
        let steps: Vec<(DateTime<Utc>, RequestStatus)> = path
            .iter()
            .enumerate()
            .map(|(i, next)| (created + Duration::seconds(elapsed * (i as i64 + 1) / (path.len() as i64 + 1)), *next))
            .collect();
        // Support answers while the request is open: before it is resolved.
        let responded = status != RequestStatus::New && !(status == RequestStatus::Open && self.rng.chance(50));
        let first_response = if responded {
            let span = (record.schedule.due_at - created).num_seconds().max(60);
            let at = created + Duration::seconds((self.rng.next() % (span as u64 * 13 / 10)) as i64);
            let resolved = steps.iter().find(|(_, s)| !s.is_open()).map(|(t, _)| *t - Duration::seconds(1));
            Some(at.min(self.now).min(resolved.unwrap_or(self.now)).max(created))
        } else {
            None
        };
        // The request's life in time order, with the SLA changes each step and the clock made.
        let mut history = vec![(
            HistoryKind::Created,
            None,
            Some(RequestStatus::New.as_str().to_owned()),
            Some(agent.id.clone()),
            created,
        )];
        let sla_changes = |changes: Vec<sla::Transition>, history: &mut Vec<_>| {
            for t in changes {
                history.push((
                    HistoryKind::SlaStateChanged,
                    Some(t.from.as_str().to_owned()),
                    Some(t.to.as_str().to_owned()),
                    None,
                    t.at,
                ));
            }
        };
        let mut moments: Vec<(DateTime<Utc>, Option<RequestStatus>)> =
            steps.iter().map(|(t, s)| (*t, Some(*s))).collect();
        if let Some(r) = first_response {
            moments.push((r, None));
        }
        moments.sort_by_key(|(t, s)| (*t, s.is_some()));
        let mut previous = RequestStatus::New;
        let mut t = created;
        for (at, step) in moments {
            t = t.max(at);
            sla_changes(record.catch_up(t), &mut history);
            match step {
                None => {
                    history.push((
                        HistoryKind::SupportResponded,
                        Some(ResponseSource::Microsoft.as_str().to_owned()),
                        Some(t.to_rfc3339()),
                        None,
                        t,
                    ));
                    sla_changes(record.respond(t, t).expect("a first response while open"), &mut history);
                }
                Some(next) => {
                    let actor = if next == RequestStatus::Open || next == RequestStatus::InProgress {
                        None
                    } else {
                        Some(agent.id.clone())
                    };
                    history.push((
                        HistoryKind::StatusChanged,
                        Some(previous.as_str().to_owned()),
                        Some(next.as_str().to_owned()),
                        actor,
                        t,
                    ));
                    if !next.is_open() {
                        sla_changes(record.stop(t), &mut history);
                    }
                    previous = next;
                }
            }
        }
        sla_changes(record.catch_up(self.now), &mut history);
        history.sort_by_key(|h| h.4);
        for (i, (kind, from, to, actor, at)) in history.into_iter().enumerate() {
            self.data.history.push(HistoryRow {
                id: format!("{id}-h{i:02}"),
                service_request_id: id.clone(),
                agent_id: actor,
                kind: kind.as_str().into(),
                from_value: from,
                to_value: to,
                created_at: at.naive_utc(),
            });
        }
        for k in 0..self.rng.below(4) {
            let support = k % 2 == 1;
            self.data.notes.push(NoteRow {
                id: format!("{id}-n{k}"),
                service_request_id: id.clone(),
                author_kind: if support { NoteAuthorKind::Support } else { NoteAuthorKind::Partner }.as_str().into(),
                agent_id: (!support).then(|| agent.id.clone()),
                body: if support {
                    format!("Support: we are looking into \"{title}\".")
                } else {
                    format!("Partner: more detail on \"{title}\" (update {k}).")
                },
                created_at: (created + Duration::seconds(elapsed * (k as i64 + 1) / 5)).naive_utc(),
                upstream_key: None,
            });
        }
        let closed_at = (status == RequestStatus::Closed).then(|| t.naive_utc());
        self.data.requests.push(ServiceRequestRow {
            id,
            partner_id: partner.id.clone(),
            customer_id: customer_row.as_ref().map(|c| c.id.clone()),
            subscription_id: Some(sub.id.clone()),
            product_family: family.as_str().into(),
            incident_kind: kind.as_str().into(),
            business_impact: impact.as_str().into(),
            severity: severity.as_str().into(),
            title: title.into(),
            description: format!("{title}. Reported by the customer; first seen {} minutes before filing.", 5 + n % 55),
            support_topic_id: Some(topic),
            support_plan: filing.support_plan.expect("an accepted filing has a plan").as_str().into(),
            entitlement_ref: filing.entitlement_ref.clone(),
            fee_coverage: filing.fee_coverage.expect("an accepted filing has a fee coverage").as_str().into(),
            route: filing.route.as_str().into(),
            portal_url: filing.portal_url.clone(),
            contact_name: agent.display_name.clone(),
            contact_email: agent.email.clone(),
            contact_phone: partner.support_contact_phone.clone(),
            support_language: language,
            status: status.as_str().into(),
            calendar_id,
            sla_clock: record.clock.as_str().into(),
            sla_target_minutes: plan.target.num_minutes(),
            sla_due_at: record.schedule.due_at.naive_utc(),
            sla_at_risk_at: record.schedule.at_risk_at.naive_utc(),
            first_response_at: record.first_response_at.map(|t| t.naive_utc()),
            created_by_agent_id: agent.id,
            created_at: created.naive_utc(),
            updated_at: t.naive_utc(),
            closed_at,
            version: 1 + path.len() as i64 + i64::from(first_response.is_some()),
            sla_state: record.recorded.as_str().into(),
            sla_stopped_at: record.stopped_at.map(|t| t.naive_utc()),
            first_response_source: first_response.map(|_| ResponseSource::Microsoft.as_str().into()),
            first_response_entered_at: first_response.map(|t| t.naive_utc()),
            first_response_agent_id: None,
            source: "LOCAL".into(),
            upstream_id: None,
            synced_at: None,
            upstream_state: None,
            upstream_error: None,
        });
    }
}

fn role_label(role: AgentRole) -> &'static str {
    match role {
        AgentRole::AdminAgent => "Admin",
        AgentRole::HelpdeskAgent => "Helpdesk",
        AgentRole::SalesAgent => "Sales",
        AgentRole::BillingAdmin => "Billing",
        AgentRole::GlobalAdmin => "Global Admin",
    }
}

/// The demo data set: five partners (direct, indirect provider and its reseller, a US
/// Government partner, a partner without support agreements), their agents, 37 customers and
/// 300 service requests in every status, severity and kind.
pub fn demo(now: DateTime<Utc>) -> Dataset {
    let mut g = Generator::new(now);
    g.base();
    // Which partner serves each demo customer, and in which cloud.
    let owners: [(&str, Cloud, usize); 5] = [
        ("northwind", Cloud::Commercial, 16),
        ("litware", Cloud::Commercial, 8),
        ("fabrikam", Cloud::Commercial, 3),
        ("adatum", Cloud::UsGovernment, 6),
        ("tailspin", Cloud::Commercial, 4),
    ];
    let mut index = 0;
    let mut by_partner: Vec<(&str, Vec<usize>)> = Vec::new();
    for (key, cloud, count) in owners {
        let mut mine = Vec::new();
        for _ in 0..count {
            let subs = 2 + g.rng.below(4);
            mine.push(g.customer(index, CUSTOMER_NAMES[index], key, cloud, subs));
            index += 1;
        }
        by_partner.push((key, mine));
    }
    let mut n = 0;
    for (key, customers) in &by_partner {
        let count = customers.len() * 8;
        for i in 0..count {
            let status = RequestStatus::ALL[n % RequestStatus::ALL.len()];
            let kind = IncidentKind::ALL[(n / 2) % IncidentKind::ALL.len()];
            // One request in twelve concerns the partner's own tenant (R12).
            let customer = if i % 12 == 11 { None } else { Some(customers[i % customers.len()]) };
            g.request(n, key, customer, status, kind);
            n += 1;
        }
    }
    g.data
}

/// The demo partners plus `customers` generated customers of Northwind, each with three
/// subscriptions and five service requests, for benchmarks.
pub fn scale(customers: usize, now: DateTime<Utc>) -> Dataset {
    let mut g = Generator::new(now);
    g.base();
    let mut n = 0;
    for i in 0..customers {
        let name = CUSTOMER_NAMES[i % CUSTOMER_NAMES.len()];
        let c = g.customer(CUSTOMER_NAMES.len() + i, name, "northwind", Cloud::Commercial, 3);
        for _ in 0..5 {
            let status = RequestStatus::ALL[n % RequestStatus::ALL.len()];
            let kind = IncidentKind::ALL[(n / 2) % IncidentKind::ALL.len()];
            g.request(n, "northwind", Some(c), status, kind);
            n += 1;
        }
    }
    g.data
}

/// Whether the database holds any partner yet.
pub async fn is_empty(db: &Db) -> AppResult<bool> {
    use diesel::QueryDsl;
    let count: i64 = with_conn!(db, |conn| schema::partners::table.count().get_result(conn).await?);
    Ok(count == 0)
}

/// Inserts every table of a data set, parents first. PostgreSQL takes multi-row INSERTs;
/// SQLite (which has no `DEFAULT` keyword for diesel's batch form) takes one row per INSERT,
/// cheap in-process inside the one transaction.
macro_rules! insert_tables {
    ($conn:ident, $data:ident, $insert:ident) => {{
        $insert!($conn, schema::business_calendars::table, $data.calendars);
        $insert!($conn, schema::business_calendar_hours::table, $data.hours);
        $insert!($conn, schema::business_calendar_holidays::table, $data.holidays);
        // Providers before their resellers (the foreign key points at the provider).
        let (providers, resellers): (Vec<_>, Vec<_>) =
            $data.partners.iter().cloned().partition(|p| p.provider_id.is_none());
        $insert!($conn, schema::partners::table, providers);
        $insert!($conn, schema::partners::table, resellers);
        $insert!($conn, schema::partner_domains::table, $data.partner_domains);
        $insert!($conn, schema::agents::table, $data.agents);
        $insert!($conn, schema::customers::table, $data.customers);
        $insert!($conn, schema::customer_domains::table, $data.domains);
        $insert!($conn, schema::subscriptions::table, $data.subscriptions);
        $insert!($conn, schema::marketplace_products::table, $data.products);
        $insert!($conn, schema::customer_marketplace_products::table, $data.customer_products);
        $insert!($conn, schema::support_topics::table, $data.topics);
        $insert!($conn, schema::service_requests::table, $data.requests);
        $insert!($conn, schema::service_request_notes::table, $data.notes);
        $insert!($conn, schema::service_request_history::table, $data.history);
    }};
}

#[cfg(feature = "postgres")]
macro_rules! insert_chunks {
    ($conn:ident, $table:expr, $rows:expr) => {
        for chunk in $rows.chunks(INSERT_CHUNK) {
            diesel::insert_into($table).values(chunk).execute($conn).await?;
        }
    };
}

#[cfg(feature = "sqlite")]
macro_rules! insert_rows {
    ($conn:ident, $table:expr, $rows:expr) => {
        for row in $rows.iter() {
            diesel::insert_into($table).values(row).execute($conn).await?;
        }
    };
}

/// Inserts a data set in one transaction; refuses a database that already has data.
pub async fn load(db: &Db, data: &Dataset) -> AppResult<()> {
    if !is_empty(db).await? {
        return Err(AppError::bad_input("the database already holds data; seed a fresh database"));
    }
    match &db.pool {
        #[cfg(feature = "postgres")]
        crate::db::Pool::Postgres(pool) => {
            let mut conn = pool.get().await?;
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                insert_tables!(conn, data, insert_chunks);
                Ok(())
            })
            .await?;
        }
        #[cfg(feature = "sqlite")]
        crate::db::Pool::Sqlite(pool) => {
            let mut conn = pool.get().await?;
            conn.transaction::<_, diesel::result::Error, _>(async |conn| {
                insert_tables!(conn, data, insert_rows);
                Ok(())
            })
            .await?;
        }
    }
    // Fresh statistics: without them PostgreSQL plans the loaders' `= ANY(…)` joins as if the
    // tables were empty (measured: 150 ms instead of 1 ms for the notes batch right after a seed).
    // On PostgreSQL a VACUUM too, as after any bulk load: it sets the hint bits and visibility
    // map that every later read would otherwise pay for until autovacuum came by (the customer
    // search of `--scale 10000`: 2,070 → 2,260 per second under pgbench).
    let maintenance = if db.backend == crate::db::Backend::Postgres { "VACUUM ANALYZE" } else { "ANALYZE" };
    with_conn!(db, |conn| diesel_async::SimpleAsyncConnection::batch_execute(conn, maintenance).await?);
    Ok(())
}
