//! What a partner maintains itself (`domain::admin`): agents and roles, its domains, its
//! support agreements and its own marketplace products. Each change is one transaction with an
//! entry in `admin_changes`, and touches nothing of another partner.

use chrono::{DateTime, Utc};
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper, TextExpressionMethods,
};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use super::Repo;
use super::lower;
use super::pages::{Page, page_window};
use crate::auth::Caller;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::admin::{self, AdminAction, AdminSubject, ProductDraft};
use crate::domain::model::AgentRole;
use crate::error::{AppError, AppResult};
use crate::paging::PageArgs;
use crate::{transaction, with_conn};

/// A new agent as an admin gives it.
pub struct AgentDraft {
    pub email: String,
    pub display_name: String,
    pub role: AgentRole,
    pub identity: Option<String>,
}

/// What an agent update changes; `None` leaves a field as it is. `identity: Some(None)`
/// clears the mapping.
#[derive(Default)]
pub struct AgentChange {
    pub display_name: Option<String>,
    pub role: Option<AgentRole>,
    pub identity: Option<Option<String>>,
}

/// The support agreements as they become; `None` leaves one as it is. `mpn_contract_id:
/// Some(None)` clears it.
#[derive(Default)]
pub struct AgreementsChange {
    pub asfp: Option<bool>,
    pub premier: Option<bool>,
    pub azure_support_plan: Option<bool>,
    pub signature_cloud_support: Option<bool>,
    pub mpn_contract_id: Option<Option<String>>,
}

/// An entry of the administrative history.
pub(crate) fn change_row(
    partner_id: &str,
    agent_id: Option<&str>,
    subject: AdminSubject,
    subject_id: &str,
    action: AdminAction,
    detail: Value,
    now: DateTime<Utc>,
) -> AdminChangeRow {
    AdminChangeRow {
        id: uuid::Uuid::now_v7().to_string(),
        partner_id: partner_id.to_owned(),
        agent_id: agent_id.map(str::to_owned),
        subject: subject.as_str().into(),
        subject_id: subject_id.to_owned(),
        action: action.as_str().into(),
        detail: detail.to_string(),
        created_at: now.naive_utc(),
    }
}

fn agent_detail(a: &AgentRow) -> Value {
    json!({
        "email": a.email,
        "displayName": a.display_name,
        "role": a.role,
        "identity": a.identity,
        "disabled": a.disabled_at.is_some(),
    })
}

pub(crate) fn product_detail(p: &MarketplaceProductRow) -> Value {
    json!({
        "name": p.name,
        "publisher": p.publisher_name,
        "summary": p.summary,
        "websiteUrl": p.support_url,
        "email": p.support_email,
        "phone": p.support_phone,
    })
}

/// Records a change the caller made in the administrative history, in the transaction.
macro_rules! audit {
    ($conn:ident, $caller:expr, $subject:expr, $id:expr, $action:expr, $detail:expr, $now:expr) => {{
        let entry = change_row(&$caller.partner_id, Some(&$caller.agent_id), $subject, $id, $action, $detail, $now);
        diesel::insert_into(admin_changes::table).values(&entry).execute($conn).await?;
    }};
}
pub(crate) use audit;

/// Reads one of the partner's agents in a transaction, or `NOT_FOUND`.
macro_rules! own_agent {
    ($conn:ident, $p:expr, $id:expr) => {
        agents::table
            .find($id)
            .filter(agents::partner_id.eq($p))
            .select(AgentRow::as_select())
            .first($conn)
            .await
            .optional()?
            .ok_or_else(|| AppError::NotFound("no such agent".into()))?
    };
}

/// Refuses an identity that names another agent already.
macro_rules! identity_free {
    ($conn:ident, $identity:expr, $agent_id:expr) => {
        if let Some(identity) = $identity {
            let holder: Option<String> =
                agents::table.filter(agents::identity.eq(identity)).select(agents::id).first($conn).await.optional()?;
            if holder.is_some_and(|h| h != $agent_id) {
                return Err(AppError::Conflict {
                    message: format!("the identity `{identity}` is already mapped to another agent"),
                    current_version: None,
                });
            }
        }
    };
}

/// Global admins of the partner who can still sign in, other than `except`.
macro_rules! other_global_admins {
    ($conn:ident, $p:expr, $except:expr) => {{
        let n: i64 = agents::table
            .filter(agents::partner_id.eq($p))
            .filter(agents::role.eq(AgentRole::GlobalAdmin.as_str()))
            .filter(agents::disabled_at.is_null())
            .filter(agents::id.ne($except))
            .count()
            .get_result($conn)
            .await?;
        n as usize
    }};
}

impl Repo {
    pub(super) fn require(&self, check: Result<(), Box<crate::domain::policy::Refusal>>) -> AppResult<()> {
        check.map_err(|r| AppError::PolicyRefused(vec![*r]))
    }

    /// Adds an agent to the caller's partner (global admins). Its e-mail must be at one of
    /// the partner's domains and unused; its identity, if given, mapped to no other agent.
    pub async fn create_agent(&self, caller: &Caller, draft: &AgentDraft, now: DateTime<Utc>) -> AppResult<AgentRow> {
        self.require(admin::may_manage_agents(caller.role))?;
        let display_name =
            admin::line("displayName", &draft.display_name, admin::MAX_NAME_CHARS).map_err(AppError::bad_input)?;
        let identity = draft.identity.as_deref().map(admin::identity).transpose().map_err(AppError::bad_input)?;
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let domains: Vec<String> = partner_domains::table
                .filter(partner_domains::partner_id.eq(p))
                .order(partner_domains::domain)
                .select(partner_domains::domain)
                .load(conn)
                .await?;
            let email = admin::agent_email(&draft.email, &domains).map_err(AppError::bad_input)?;
            let taken: i64 = agents::table.filter(lower(agents::email).eq(&email)).count().get_result(conn).await?;
            if taken > 0 {
                return Err(AppError::Conflict {
                    message: format!("an agent with the e-mail {email} exists already"),
                    current_version: None,
                });
            }
            identity_free!(conn, identity.as_deref(), "");
            let row = AgentRow {
                id: format!("agent-{}", uuid::Uuid::now_v7()),
                partner_id: p.to_owned(),
                email,
                display_name: display_name.clone(),
                role: draft.role.as_str().into(),
                created_at: now.naive_utc(),
                identity: identity.clone(),
                disabled_at: None,
            };
            diesel::insert_into(agents::table).values(&row).execute(conn).await?;
            audit!(conn, caller, AdminSubject::Agent, &row.id, AdminAction::Created, agent_detail(&row), now);
            Ok(row)
        })
    }

    /// Changes an agent's name, role or identity (global admins). The partner keeps a global
    /// admin who can sign in.
    pub async fn update_agent(
        &self,
        caller: &Caller,
        id: &str,
        change: &AgentChange,
        now: DateTime<Utc>,
    ) -> AppResult<AgentRow> {
        self.require(admin::may_manage_agents(caller.role))?;
        let display_name = change
            .display_name
            .as_deref()
            .map(|n| admin::line("displayName", n, admin::MAX_NAME_CHARS))
            .transpose()
            .map_err(AppError::bad_input)?;
        let identity = match &change.identity {
            Some(Some(v)) => Some(Some(admin::identity(v).map_err(AppError::bad_input)?)),
            Some(None) => Some(None),
            None => None,
        };
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let before = own_agent!(conn, p, id);
            let mut after = before.clone();
            if let Some(name) = &display_name {
                after.display_name = name.clone();
            }
            if let Some(role) = change.role {
                after.role = role.as_str().into();
            }
            if let Some(identity) = &identity {
                identity_free!(conn, identity.as_deref(), id);
                after.identity = identity.clone();
            }
            if before.role == AgentRole::GlobalAdmin.as_str()
                && after.role != before.role
                && before.disabled_at.is_none()
            {
                admin::keeps_a_global_admin(other_global_admins!(conn, p, id)).map_err(AppError::bad_input)?;
            }
            if agent_detail(&after) == agent_detail(&before) {
                return Ok(before);
            }
            diesel::update(agents::table.find(id))
                .set((
                    agents::display_name.eq(&after.display_name),
                    agents::role.eq(&after.role),
                    agents::identity.eq(&after.identity),
                ))
                .execute(conn)
                .await?;
            audit!(conn, caller, AdminSubject::Agent, id, AdminAction::Updated, agent_detail(&after), now);
            Ok(after)
        })
    }

    /// Removes an agent (global admins): it can no longer sign in, and its requests and
    /// history keep its name. Its identity mapping is released.
    pub async fn remove_agent(&self, caller: &Caller, id: &str, now: DateTime<Utc>) -> AppResult<AgentRow> {
        self.require(admin::may_manage_agents(caller.role))?;
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let before = own_agent!(conn, p, id);
            if before.disabled_at.is_some() {
                return Ok(before);
            }
            if before.role == AgentRole::GlobalAdmin.as_str() {
                admin::keeps_a_global_admin(other_global_admins!(conn, p, id)).map_err(AppError::bad_input)?;
            }
            let mut after = before.clone();
            after.disabled_at = Some(now.naive_utc());
            after.identity = None;
            diesel::update(agents::table.find(id))
                .set((agents::disabled_at.eq(after.disabled_at), agents::identity.eq(None::<String>)))
                .execute(conn)
                .await?;
            audit!(conn, caller, AdminSubject::Agent, id, AdminAction::Removed, agent_detail(&after), now);
            Ok(after)
        })
    }

    /// The caller's partner.
    pub async fn partner(&self) -> AppResult<Option<PartnerRow>> {
        Ok(self.partners_by_ids(std::slice::from_ref(&self.partner_id)).await?.pop())
    }

    /// The partner's agents, removed ones too, by e-mail.
    pub async fn agents(&self) -> AppResult<Vec<AgentRow>> {
        let p = self.partner_id.as_str();
        Ok(with_conn!(self.db, |conn| {
            agents::table
                .filter(agents::partner_id.eq(p))
                .order(agents::email)
                .select(AgentRow::as_select())
                .load(conn)
                .await?
        }))
    }

    /// The partner's own domains, in order.
    pub async fn partner_domains(&self) -> AppResult<Vec<String>> {
        let p = self.partner_id.as_str();
        Ok(with_conn!(self.db, |conn| {
            partner_domains::table
                .filter(partner_domains::partner_id.eq(p))
                .order(partner_domains::domain)
                .select(partner_domains::domain)
                .load(conn)
                .await?
        }))
    }

    /// Adds one of the partner's own domains (global admins; R7 takes contacts at it).
    pub async fn add_partner_domain(&self, caller: &Caller, value: &str, now: DateTime<Utc>) -> AppResult<()> {
        self.require(admin::may_manage_partner(caller.role))?;
        let domain = admin::domain(value).map_err(AppError::bad_input)?;
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let owner: Option<String> = partner_domains::table
                .find(&domain)
                .select(partner_domains::partner_id)
                .first(conn)
                .await
                .optional()?;
            match owner {
                Some(o) if o == p => return Ok(()),
                Some(_) => {
                    return Err(AppError::Conflict {
                        message: format!("{domain} is registered to another partner"),
                        current_version: None,
                    });
                }
                None => {}
            }
            let row = PartnerDomainRow { domain: domain.clone(), partner_id: p.to_owned() };
            diesel::insert_into(partner_domains::table).values(&row).execute(conn).await?;
            audit!(
                conn,
                caller,
                AdminSubject::PartnerDomain,
                &domain,
                AdminAction::Created,
                json!({ "domain": domain }),
                now
            );
            Ok(())
        })
    }

    /// Removes one of the partner's domains (global admins), unless an agent who can sign in
    /// has an address at it.
    pub async fn remove_partner_domain(&self, caller: &Caller, value: &str, now: DateTime<Utc>) -> AppResult<()> {
        self.require(admin::may_manage_partner(caller.role))?;
        let domain = admin::domain(value).map_err(AppError::bad_input)?;
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let gone = diesel::delete(
                partner_domains::table
                    .filter(partner_domains::domain.eq(&domain))
                    .filter(partner_domains::partner_id.eq(p)),
            )
            .execute(conn)
            .await?;
            if gone == 0 {
                return Err(AppError::NotFound(format!("{domain} is not one of your partner's domains")));
            }
            let users: i64 = agents::table
                .filter(agents::partner_id.eq(p))
                .filter(agents::disabled_at.is_null())
                .filter(lower(agents::email).like(format!("%@{domain}")))
                .count()
                .get_result(conn)
                .await?;
            if users > 0 {
                return Err(AppError::bad_input(format!(
                    "{users} of your agents have addresses at {domain}: change or remove them first"
                )));
            }
            audit!(
                conn,
                caller,
                AdminSubject::PartnerDomain,
                &domain,
                AdminAction::Removed,
                json!({ "domain": domain }),
                now
            );
            Ok(())
        })
    }

    /// Changes the support agreements the partner holds (global admins); filing decisions
    /// (R3, R12, R13) follow at once.
    pub async fn update_agreements(
        &self,
        caller: &Caller,
        change: &AgreementsChange,
        now: DateTime<Utc>,
    ) -> AppResult<PartnerRow> {
        self.require(admin::may_manage_partner(caller.role))?;
        let contract = match &change.mpn_contract_id {
            Some(Some(v)) => Some(Some(admin::contract_id(v).map_err(AppError::bad_input)?)),
            other => other.clone(),
        };
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let mut row: PartnerRow = partners::table.find(p).select(PartnerRow::as_select()).first(conn).await?;
            let before = (
                row.has_asfp,
                row.has_premier,
                row.has_azure_support_plan,
                row.has_signature_cloud_support,
                row.mpn_contract_id.clone(),
            );
            row.has_asfp = change.asfp.unwrap_or(row.has_asfp);
            row.has_premier = change.premier.unwrap_or(row.has_premier);
            row.has_azure_support_plan = change.azure_support_plan.unwrap_or(row.has_azure_support_plan);
            row.has_signature_cloud_support = change.signature_cloud_support.unwrap_or(row.has_signature_cloud_support);
            if let Some(c) = &contract {
                row.mpn_contract_id = c.clone();
            }
            let after = (
                row.has_asfp,
                row.has_premier,
                row.has_azure_support_plan,
                row.has_signature_cloud_support,
                row.mpn_contract_id.clone(),
            );
            if after == before {
                return Ok(row);
            }
            diesel::update(partners::table.find(p))
                .set((
                    partners::has_asfp.eq(row.has_asfp),
                    partners::has_premier.eq(row.has_premier),
                    partners::has_azure_support_plan.eq(row.has_azure_support_plan),
                    partners::has_signature_cloud_support.eq(row.has_signature_cloud_support),
                    partners::mpn_contract_id.eq(&row.mpn_contract_id),
                ))
                .execute(conn)
                .await?;
            let detail = json!({
                "advancedSupportForPartners": row.has_asfp,
                "premier": row.has_premier,
                "azureSupportPlan": row.has_azure_support_plan,
                "signatureCloudSupport": row.has_signature_cloud_support,
                "mpnContractId": row.mpn_contract_id,
            });
            audit!(conn, caller, AdminSubject::SupportAgreements, p, AdminAction::Updated, detail, now);
            Ok(row)
        })
    }

    /// Creates one of the partner's own marketplace products (admins), visible to it alone.
    pub async fn create_product(
        &self,
        caller: &Caller,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> AppResult<MarketplaceProductRow> {
        self.require(admin::may_manage_products(caller.role))?;
        let v = admin::product(draft).map_err(|p| AppError::bad_input(p.join("; ")))?;
        let p = self.partner_id.as_str();
        let row = product_row(format!("product-{}", uuid::Uuid::now_v7()), p, &v);
        transaction!(self.db, |conn| {
            diesel::insert_into(marketplace_products::table).values(&row).execute(conn).await?;
            audit!(
                conn,
                caller,
                AdminSubject::MarketplaceProduct,
                &row.id,
                AdminAction::Created,
                product_detail(&row),
                now
            );
            Ok(row.clone())
        })
    }

    /// Replaces one of the partner's own products (admins). Products of the public catalogue
    /// are read-only.
    pub async fn update_product(
        &self,
        caller: &Caller,
        id: &str,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> AppResult<MarketplaceProductRow> {
        self.require(admin::may_manage_products(caller.role))?;
        let v = admin::product(draft).map_err(|p| AppError::bad_input(p.join("; ")))?;
        let p = self.partner_id.as_str();
        transaction!(self.db, |conn| {
            let before: MarketplaceProductRow = marketplace_products::table
                .find(id)
                .filter(marketplace_products::partner_id.is_null().or(marketplace_products::partner_id.eq(p)))
                .select(MarketplaceProductRow::as_select())
                .first(conn)
                .await
                .optional()?
                .ok_or_else(|| AppError::NotFound("no such marketplace product".into()))?;
            if before.partner_id.is_none() {
                return Err(AppError::Forbidden(
                    "products of the public catalogue are read-only: create your own (createMarketplaceProduct)".into(),
                ));
            }
            let after = product_row(id.to_owned(), p, &v);
            if product_detail(&after) == product_detail(&before) {
                return Ok(before);
            }
            diesel::update(marketplace_products::table.find(id))
                .set((
                    marketplace_products::name.eq(&after.name),
                    marketplace_products::publisher_name.eq(&after.publisher_name),
                    marketplace_products::summary.eq(&after.summary),
                    marketplace_products::support_url.eq(&after.support_url),
                    marketplace_products::support_email.eq(&after.support_email),
                    marketplace_products::support_phone.eq(&after.support_phone),
                ))
                .execute(conn)
                .await?;
            audit!(
                conn,
                caller,
                AdminSubject::MarketplaceProduct,
                id,
                AdminAction::Updated,
                product_detail(&after),
                now
            );
            Ok(after)
        })
    }

    /// The partner's administrative history, newest first (admins).
    pub async fn admin_changes(
        &self,
        caller: &Caller,
        subject: Option<AdminSubject>,
        page: &PageArgs,
    ) -> AppResult<Page<AdminChangeRow>> {
        self.require(admin::may_manage_products(caller.role))?;
        let p = self.partner_id.as_str();
        let subject = subject.map(|s| s.as_str());
        Ok(with_conn!(self.db, |conn, DB| {
            let base = || {
                let mut q = admin_changes::table.filter(admin_changes::partner_id.eq(p)).into_boxed::<DB>();
                if let Some(s) = subject {
                    q = q.filter(admin_changes::subject.eq(s));
                }
                q
            };
            let (window, total, limit) = page_window!(page, base, conn);
            let rows = if window.is_empty() {
                Vec::new()
            } else {
                base()
                    .order((admin_changes::created_at.desc(), admin_changes::id.desc()))
                    .limit(limit)
                    .offset(window.start as i64)
                    .select(AdminChangeRow::as_select())
                    .load(conn)
                    .await?
            };
            Page::of(rows, window, total)
        }))
    }
}

impl Repo {
    /// Entries of the partner's administrative history by id, for `node(id:)` (which admits
    /// only the callers that may read the history).
    pub async fn admin_changes_by_ids(&self, ids: &[String]) -> AppResult<Vec<AdminChangeRow>> {
        let p = self.partner_id.as_str();
        Ok(with_conn!(self.db, |conn| {
            admin_changes::table
                .filter(admin_changes::id.eq_any(ids))
                .filter(admin_changes::partner_id.eq(p))
                .select(AdminChangeRow::as_select())
                .load(conn)
                .await?
        }))
    }
}

/// A product row of partner `p` from a valid draft.
pub(crate) fn product_row(id: String, p: &str, v: &admin::ValidProduct) -> MarketplaceProductRow {
    MarketplaceProductRow {
        id,
        name: v.name.clone(),
        publisher_name: v.publisher.clone(),
        summary: v.summary.clone(),
        support_url: v.website_url.clone(),
        support_email: v.email.clone(),
        support_phone: v.phone.clone(),
        partner_id: Some(p.to_owned()),
    }
}
