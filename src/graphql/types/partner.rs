use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::{Subscription, parse, utc};
use crate::db::models::{AgentRow, PartnerRow};
use crate::domain::model::{AgentRole, Cloud, PartnerKind};
use crate::graphql::connection::{Conn, from_list};
use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{PartnerKey, load};

/// Who is asking: the agent the token speaks for, and its partner.
pub struct Viewer {
    pub agent: Agent,
    pub partner: Partner,
}

/// Who is asking: the agent the token speaks for, and its partner.
#[Object]
impl Viewer {
    /// The signed-in agent.
    async fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The agent's partner: every query is scoped to it.
    async fn partner(&self) -> &Partner {
        &self.partner
    }
}

/// A partner user.
#[derive(Clone)]
pub struct Agent(pub AgentRow);

impl crate::graphql::joined::Plain for Agent {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        use crate::graphql::joined::{plain_enum, plain_opt_text, plain_opt_time, plain_text};
        let a = &self.0;
        match name {
            "id" => plain_text(encode(NodeKind::Agent, &a.id).0),
            "email" => plain_text(a.email.as_str()),
            "displayName" => plain_text(a.display_name.as_str()),
            "role" => plain_enum::<AgentRole>(&a.role),
            "identity" => plain_opt_text(a.identity.as_deref()),
            "removedAt" => plain_opt_time(a.disabled_at),
            _ => None,
        }
    }
}

/// A user of a partner (an agent of its support desk), with a Partner Center role.
#[Object]
impl Agent {
    /// The agent's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Agent, &self.0.id)
    }

    /// The agent's e-mail address, at one of the partner's domains.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The agent's name as shown to people.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// The agent's Partner Center role; it decides what the agent may do.
    async fn role(&self) -> Result<AgentRole> {
        parse(&self.0.role)
    }

    /// The partner the agent belongs to.
    async fn partner(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        let rc = rc(ctx)?;
        Ok(load(&rc.loaders.partner, PartnerKey(self.0.partner_id.clone())).await?.map(Partner))
    }

    /// The identity provider's value that signs in as this agent (`SG_IDENTITY_CLAIM`), lower
    /// case; `null` when the agent has none.
    async fn identity(&self) -> Option<&str> {
        self.0.identity.as_deref()
    }

    /// When an admin removed the agent; a removed agent cannot sign in.
    async fn removed_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.0.disabled_at.map(utc)
    }
}

/// A Cloud Solution Provider partner.
#[derive(Clone)]
pub struct Partner(pub PartnerRow);

/// The support agreements a partner holds (R3, R12, R13).
#[derive(SimpleObject)]
pub struct SupportAgreements {
    /// Advanced Support for Partners.
    pub advanced_support_for_partners: bool,
    /// Microsoft Premier support (satisfies R3; an entitlement for the partner's own tenant, R12).
    pub premier: bool,
    /// An Azure support plan: an entitlement for the partner's own tenant's Azure requests (R12).
    pub azure_support_plan: bool,
    /// Signature Cloud Support: covers the fee of the partner's own Azure requests (R13).
    pub signature_cloud_support: bool,
    /// The partner's MPN support contract id, where it has one.
    pub mpn_contract_id: Option<String>,
}

impl crate::graphql::joined::Plain for Contact {}

/// A contact: name, e-mail and phone (phone is only a contact detail, R14).
#[derive(SimpleObject)]
pub struct Contact {
    /// The contact's name.
    pub name: String,
    /// The contact's e-mail address.
    pub email: String,
    /// A phone number to reach the contact; null when none was given.
    pub phone: Option<String>,
}

/// A Cloud Solution Provider partner: the company whose support desk uses the gateway. Another
/// partner (an indirect provider or reseller) shows its name and kind, but not its domains,
/// agents or own subscriptions.
#[Object]
impl Partner {
    /// The partner's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Partner, &self.0.id)
    }

    /// The partner's company name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// How the partner transacts: directly, as an indirect provider, or as an indirect reseller.
    async fn kind(&self) -> Result<PartnerKind> {
        parse(&self.0.kind)
    }

    /// The Partner Center instance the partner's own tenant lives in.
    async fn cloud(&self) -> Result<Cloud> {
        parse(&self.0.cloud)
    }

    /// The indirect provider of an indirect reseller.
    async fn provider(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        let Some(provider) = &self.0.provider_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.partner, PartnerKey(provider.clone())).await?.map(Partner))
    }

    /// The support agreements the partner holds (R3, R12, R13).
    async fn support_agreements(&self) -> SupportAgreements {
        SupportAgreements {
            advanced_support_for_partners: self.0.has_asfp,
            premier: self.0.has_premier,
            azure_support_plan: self.0.has_azure_support_plan,
            signature_cloud_support: self.0.has_signature_cloud_support,
            mpn_contract_id: self.0.mpn_contract_id.clone(),
        }
    }

    /// The partner's support contact: the contact on every request it files (R7).
    async fn support_contact(&self) -> Contact {
        Contact {
            name: self.0.support_contact_name.clone(),
            email: self.0.support_contact_email.clone(),
            phone: self.0.support_contact_phone.clone(),
        }
    }

    /// Subscriptions of the partner's own tenant (not covered by the CSP benefit, R12).
    /// Empty for any partner but the caller's own.
    async fn own_subscriptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Conn<Subscription>> {
        let rc = rc(ctx)?;
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let rows = if rc.caller.partner_id == self.0.id { rc.repo.own_subscriptions().await? } else { Vec::new() };
        Ok(from_list(&rows, &args, Subscription))
    }

    /// The partner's own domains (R7: contacts at them are the partner's). Empty for any
    /// partner but the caller's own.
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let rc = rc(ctx)?;
        if rc.caller.partner_id != self.0.id {
            return Ok(Vec::new());
        }
        Ok(rc.repo.partner_domains().await?)
    }

    /// The partner's agents, removed ones included, by e-mail. Empty for any partner but the
    /// caller's own.
    async fn agents(&self, ctx: &Context<'_>) -> Result<Vec<Agent>> {
        let rc = rc(ctx)?;
        if rc.caller.partner_id != self.0.id {
            return Ok(Vec::new());
        }
        Ok(rc.repo.agents().await?.into_iter().map(Agent).collect())
    }

    /// When the partner was set up in the gateway.
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        utc(self.0.created_at)
    }
}
