//! What a partner maintains itself: its agents and their roles, its own domains (R7), its
//! support agreements (R3, R12, R13) and its marketplace products with their ISVs' support
//! contacts (R10). Who may change what, and what a valid value is. Pure: the repo applies it.

use super::model::{AgentRole, text_enum};
use super::policy::Refusal;

text_enum! {
    /// What an administrative change is about.
    AdminSubject {
        /// One of the partner's agents.
        Agent = "AGENT",
        /// One of the partner's domains; `subjectId` is the domain.
        PartnerDomain = "PARTNER_DOMAIN",
        /// The partner's support agreements; `subjectId` is the partner's id.
        SupportAgreements = "SUPPORT_AGREEMENTS",
        /// One of the partner's own marketplace products.
        MarketplaceProduct = "MARKETPLACE_PRODUCT",
        /// One of the partner's business calendars.
        BusinessCalendar = "BUSINESS_CALENDAR",
        /// A customer, written by `support-gateway import`.
        Customer = "CUSTOMER",
        /// A subscription, written by `support-gateway import`.
        Subscription = "SUBSCRIPTION",
        /// One of the partner's webhook endpoints (its secret is never recorded).
        WebhookEndpoint = "WEBHOOK_ENDPOINT",
    }
}

text_enum! {
    /// What an administrative change did.
    AdminAction {
        /// The object was created.
        Created = "CREATED",
        /// The object was changed.
        Updated = "UPDATED",
        /// The object was removed (an agent, a domain or a webhook endpoint).
        Removed = "REMOVED",
        /// Written by `support-gateway import`.
        Imported = "IMPORTED",
    }
}

/// Longest display name, product name or publisher.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest product summary.
pub const MAX_SUMMARY_CHARS: usize = 2_000;

/// Agents and roles are the partner's user management: global admins only, as in Partner
/// Center.
pub fn may_manage_agents(role: AgentRole) -> Result<(), Box<Refusal>> {
    if role == AgentRole::GlobalAdmin {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot add, change or remove agents"),
            "ask a global admin of your partner",
        )))
    }
}

/// The partner's domains and support agreements describe its tenant: global admins only.
pub fn may_manage_partner(role: AgentRole) -> Result<(), Box<Refusal>> {
    if role == AgentRole::GlobalAdmin {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot change the partner's domains or support agreements"),
            "ask a global admin of your partner",
        )))
    }
}

/// Products and their ISV contacts, and the administrative history: admin agents and global
/// admins.
/// Webhook endpoints send the partner's request data out of the gateway: admins only.
pub fn may_manage_webhooks(role: AgentRole) -> Result<(), Box<Refusal>> {
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot see or change webhook endpoints"),
            "ask an admin agent or a global admin of your partner",
        )))
    }
}

pub fn may_manage_products(role: AgentRole) -> Result<(), Box<Refusal>> {
    if matches!(role, AgentRole::AdminAgent | AgentRole::GlobalAdmin) {
        Ok(())
    } else {
        Err(Box::new(Refusal::access(
            format!("a {role} cannot change marketplace products or read the administrative history"),
            "ask an admin agent or a global admin of your partner",
        )))
    }
}

/// A partner must keep a global admin who can sign in: nobody could manage its agents otherwise.
pub fn keeps_a_global_admin(remaining_active_global_admins: usize) -> Result<(), String> {
    if remaining_active_global_admins == 0 {
        Err("this would leave the partner without a global admin: make another agent global admin first".into())
    } else {
        Ok(())
    }
}

/// A domain name as kept: lower case, without a trailing dot; labels of letters, digits and
/// hyphens, at least two of them.
pub fn domain(value: &str) -> Result<String, String> {
    let d = value.trim().trim_end_matches('.').to_lowercase();
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if d.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(format!("`{}` is not a domain name (such as contoso.com)", value.trim()));
    }
    Ok(d)
}

/// An e-mail address as kept (lower case), and its domain.
pub fn email(value: &str) -> Result<(String, String), String> {
    let e = value.trim().to_lowercase();
    let Some((local, host)) = e.rsplit_once('@') else {
        return Err(format!("`{}` is not an e-mail address", value.trim()));
    };
    if local.is_empty() || local.len() > 64 || local.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(format!("`{}` is not an e-mail address", value.trim()));
    }
    let host = domain(host).map_err(|_| format!("`{}` is not an e-mail address", value.trim()))?;
    Ok((format!("{local}@{host}"), host))
}

/// An agent's e-mail must be at one of the partner's own domains: agents are users of the
/// partner's tenant, and R7 takes their addresses as the partner's contacts.
pub fn agent_email(value: &str, partner_domains: &[String]) -> Result<String, String> {
    let (address, host) = email(value)?;
    if partner_domains.contains(&host) {
        Ok(address)
    } else if partner_domains.is_empty() {
        Err("the partner has no domains yet: add one (addPartnerDomain) before adding agents".into())
    } else {
        Err(format!("`{address}` is not at one of the partner's domains ({})", partner_domains.join(", ")))
    }
}

/// A required one-line text: trimmed, not empty, at most `max` characters.
pub fn line(field: &str, value: &str, max: usize) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if v.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{field} must be one line of text"));
    }
    Ok(v.to_owned())
}

/// How an identity value is kept and compared: trimmed and in lower case (object ids are
/// GUIDs, e-mail addresses and user names are case-insensitive).
pub fn normalize_identity(value: &str) -> String {
    value.trim().to_lowercase()
}

/// An identity provider's value for an agent (see `normalize_identity`).
pub fn identity(value: &str) -> Result<String, String> {
    let v = normalize_identity(value);
    if v.is_empty() || v.len() > 256 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("identity must be the identity provider's value for the agent (an object id, e-mail \
                    or user name, without spaces)"
            .into());
    }
    Ok(v)
}

/// An MPN support contract id: letters, digits and hyphens.
pub fn contract_id(value: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(format!("`{v}` is not an MPN contract id (letters, digits and hyphens)"));
    }
    Ok(v.to_owned())
}

/// A marketplace product as an admin or an import file gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductDraft {
    pub name: String,
    pub publisher: String,
    pub summary: String,
    pub website_url: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// A product ready to store.
pub type ValidProduct = ProductDraft;

/// Checks a product: a name and publisher, and at least one way to reach the ISV's support
/// (R10 sends the partner there). Every problem is reported, not only the first.
pub fn product(draft: &ProductDraft) -> Result<ValidProduct, Vec<String>> {
    let mut problems = Vec::new();
    let mut keep = |r: Result<String, String>| r.map_err(|p| problems.push(p)).ok();
    let name = keep(line("name", &draft.name, MAX_NAME_CHARS));
    let publisher = keep(line("publisher", &draft.publisher, MAX_NAME_CHARS));
    let summary = draft.summary.trim().to_owned();
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let website_url = blank(&draft.website_url);
    let email_address = blank(&draft.email);
    let phone = blank(&draft.phone);
    let no_contact = website_url.is_none() && email_address.is_none() && phone.is_none();
    if summary.chars().count() > MAX_SUMMARY_CHARS {
        problems.push(format!("summary is longer than {MAX_SUMMARY_CHARS} characters"));
    }
    if let Some(url) = &website_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        problems.push(format!("support website `{url}` must be an http(s) link"));
    }
    let email_address = email_address.and_then(|e| email(&e).map(|(e, _)| e).map_err(|p| problems.push(p)).ok());
    if let Some(p) = &phone
        && !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
    {
        problems.push(format!("support phone `{p}` may hold only digits, spaces and + - ( ) ."));
    }
    if no_contact {
        problems
            .push("give at least one ISV support contact (website, e-mail or phone): R10 sends customers there".into());
    }
    match (name, publisher) {
        (Some(name), Some(publisher)) if problems.is_empty() => {
            Ok(ProductDraft { name, publisher, summary, website_url, email: email_address, phone })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_addresses() {
        assert_eq!(domain(" Contoso.COM. ").unwrap(), "contoso.com");
        assert!(domain("localhost").is_err());
        assert!(domain("-bad.com").is_err());
        assert!(domain("a..com").is_err());
        assert_eq!(email("Ann@Contoso.com").unwrap(), ("ann@contoso.com".into(), "contoso.com".into()));
        assert!(email("ann").is_err());
        assert!(email("@contoso.com").is_err());
        let mine = vec!["northwind.example".to_owned()];
        assert_eq!(agent_email("Bo@Northwind.example", &mine).unwrap(), "bo@northwind.example");
        assert!(agent_email("bo@contoso.com", &mine).unwrap_err().contains("northwind.example"));
        assert!(agent_email("bo@contoso.com", &[]).unwrap_err().contains("addPartnerDomain"));
    }

    #[test]
    fn only_the_right_roles_administer() {
        assert!(may_manage_agents(AgentRole::GlobalAdmin).is_ok());
        assert!(may_manage_agents(AgentRole::AdminAgent).is_err());
        assert!(may_manage_partner(AgentRole::HelpdeskAgent).is_err());
        assert!(may_manage_products(AgentRole::AdminAgent).is_ok());
        assert!(may_manage_products(AgentRole::SalesAgent).is_err());
        assert!(keeps_a_global_admin(0).is_err());
        assert!(keeps_a_global_admin(1).is_ok());
    }

    #[test]
    fn products_need_a_name_a_publisher_and_a_support_contact() {
        let ok = ProductDraft {
            name: " Backup Pro ".into(),
            publisher: "Fabrikam".into(),
            email: Some("Support@Fabrikam.example".into()),
            ..Default::default()
        };
        let v = product(&ok).unwrap();
        assert_eq!((v.name.as_str(), v.email.as_deref()), ("Backup Pro", Some("support@fabrikam.example")));
        let none = ProductDraft { name: "X".into(), publisher: "Y".into(), ..Default::default() };
        assert!(product(&none).unwrap_err()[0].contains("R10"));
        let bad = ProductDraft {
            name: "".into(),
            publisher: "Y".into(),
            website_url: Some("ftp://x".into()),
            phone: Some("call me".into()),
            ..Default::default()
        };
        assert_eq!(product(&bad).unwrap_err().len(), 3);
        assert!(identity(" 4F1C-AA ").is_ok_and(|v| v == "4f1c-aa"));
        assert!(identity("a b").is_err());
        assert!(contract_id("MPN-123").is_ok());
        assert!(contract_id("x y").is_err());
    }
}
