//! What an import file's row must hold to become a customer, a subscription or a marketplace
//! product (`support-gateway import`). Pure: fields in, a typed record or the reason out.

use super::admin;
use super::model::{BillingCycle, CustomerRelationship, PartnerKind, ProductFamily, SubscriptionStatus};
use super::upstream as up;

/// A customer row of Partner Center's customer export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRecord {
    /// The customer's Microsoft ID (its Entra tenant id), lower case.
    pub tenant_id: String,
    pub company_name: String,
    pub primary_domain: String,
    pub relationship: CustomerRelationship,
    /// ISO 3166 alpha-2, upper case.
    pub country: String,
}

/// A subscription row of Partner Center's subscription export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// The owning customer's Microsoft ID, lower case.
    pub customer_tenant_id: String,
    /// Partner Center's subscription id, lower case.
    pub id: String,
    pub offer_name: String,
    pub family: ProductFamily,
    pub status: SubscriptionStatus,
    pub quantity: i64,
    pub billing_cycle: BillingCycle,
    pub is_trial: bool,
}

/// A Microsoft id: a GUID, kept in lower case.
pub fn microsoft_id(field: &str, value: &str) -> Result<String, String> {
    uuid::Uuid::parse_str(value.trim())
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| format!("{field} `{}` is not a Microsoft ID (a GUID)", value.trim()))
}

/// A customer row; `country` defaults to `US` when the export has no country column.
pub fn customer(
    microsoft: &str,
    company: &str,
    domain: &str,
    relationship: &str,
    country: Option<&str>,
    kind: PartnerKind,
) -> Result<CustomerRecord, String> {
    let tenant_id = microsoft_id("Microsoft ID", microsoft)?;
    let company_name = admin::line("Company name", company, admin::MAX_NAME_CHARS)?;
    let primary_domain = admin::domain(domain).map_err(|e| format!("Primary domain name: {e}"))?;
    let relationship = up::pc_relationship(relationship.trim(), kind).ok_or_else(|| {
        format!("Relationship `{}` is not one of Reseller, Indirect reseller or Advisor", relationship.trim())
    })?;
    let country = match country.map(str::trim).filter(|c| !c.is_empty()) {
        None => "US".to_owned(),
        Some(c) if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => c.to_ascii_uppercase(),
        Some(c) => return Err(format!("Country `{c}` is not a two-letter country code (such as US or DE)")),
    };
    Ok(CustomerRecord { tenant_id, company_name, primary_domain, relationship, country })
}

/// A subscription row; quantity defaults to 1, the billing cycle to none.
pub fn subscription(
    customer: &str,
    id: &str,
    offer: &str,
    status: &str,
    quantity: Option<&str>,
    billing_cycle: Option<&str>,
    trial: Option<&str>,
) -> Result<SubscriptionRecord, String> {
    let customer_tenant_id = microsoft_id("Customer Microsoft ID", customer)?;
    let id = microsoft_id("Subscription ID", id)?;
    let offer_name = admin::line("Offer name", offer, admin::MAX_NAME_CHARS)?;
    let status = match status.trim().to_ascii_lowercase().as_str() {
        s @ ("active" | "suspended" | "disabled" | "deleted" | "expired" | "pending") => up::pc_subscription_status(s),
        other => return Err(format!("Status `{other}` is not one of Active, Suspended, Deleted, Expired or Pending")),
    };
    let quantity = match quantity.map(str::trim).filter(|q| !q.is_empty()) {
        None => 1,
        Some(q) => match q.parse::<i64>() {
            Ok(n) if (0..=1_000_000).contains(&n) => n,
            _ => return Err(format!("Quantity `{q}` is not a whole number from 0 to 1000000")),
        },
    };
    let billing_cycle = match billing_cycle.map(str::trim).filter(|b| !b.is_empty()) {
        None => BillingCycle::None,
        Some(b) => match b.to_ascii_lowercase().as_str() {
            "monthly" | "annual" | "none" | "onetime" | "one_time" => up::pc_billing_cycle(b),
            _ => return Err(format!("Billing cycle `{b}` is not Monthly, Annual or None")),
        },
    };
    let is_trial = match trial.map(|t| t.trim().to_ascii_lowercase()) {
        None => false,
        Some(t) if t.is_empty() || t == "false" || t == "no" => false,
        Some(t) if t == "true" || t == "yes" => true,
        Some(t) => return Err(format!("Trial `{t}` is not true or false")),
    };
    Ok(SubscriptionRecord {
        customer_tenant_id,
        family: up::product_family_of(&offer_name),
        id,
        offer_name,
        status,
        quantity,
        billing_cycle,
        is_trial,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4F1C8E0A-3B9D-4C7E-9A1B-2D3E4F5A6B7C";

    #[test]
    fn customer_rows() {
        let c = customer(ID, " Contoso ", "Contoso.com", "Reseller", Some("de"), PartnerKind::Direct).unwrap();
        assert_eq!(c.tenant_id, ID.to_lowercase());
        assert_eq!((c.company_name.as_str(), c.primary_domain.as_str()), ("Contoso", "contoso.com"));
        assert_eq!((c.relationship, c.country.as_str()), (CustomerRelationship::Reseller, "DE"));
        assert_eq!(customer(ID, "C", "c.com", "Advisor", None, PartnerKind::Direct).unwrap().country, "US");
        assert!(customer("42", "C", "c.com", "Reseller", None, PartnerKind::Direct).unwrap_err().contains("GUID"));
        assert!(customer(ID, "", "c.com", "Reseller", None, PartnerKind::Direct).is_err());
        assert!(customer(ID, "C", "nodot", "Reseller", None, PartnerKind::Direct).is_err());
        assert!(customer(ID, "C", "c.com", "Friend", None, PartnerKind::Direct).unwrap_err().contains("Relationship"));
        assert!(customer(ID, "C", "c.com", "Reseller", Some("Germany"), PartnerKind::Direct).is_err());
    }

    #[test]
    fn subscription_rows() {
        let s = subscription(ID, ID, "Microsoft 365 E3", "Active", Some("25"), Some("Monthly"), None).unwrap();
        assert_eq!((s.family, s.status, s.quantity), (ProductFamily::Microsoft365, SubscriptionStatus::Active, 25));
        assert_eq!(s.billing_cycle, BillingCycle::Monthly);
        let azure = subscription(ID, ID, "Azure plan", "suspended", None, None, Some("no")).unwrap();
        assert_eq!(
            (azure.family, azure.status, azure.quantity),
            (ProductFamily::Azure, SubscriptionStatus::Suspended, 1)
        );
        assert!(subscription(ID, ID, "X", "Happy", None, None, None).unwrap_err().contains("Status"));
        assert!(subscription(ID, ID, "X", "Active", Some("-1"), None, None).unwrap_err().contains("Quantity"));
        assert!(subscription(ID, ID, "X", "Active", None, Some("Weekly"), None).is_err());
        assert!(subscription(ID, "x", "X", "Active", None, None, None).unwrap_err().contains("Subscription ID"));
    }
}
