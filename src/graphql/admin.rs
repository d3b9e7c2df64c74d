//! Mutations for what a partner maintains itself: agents and roles, its domains, its support
//! agreements and its own marketplace products (`repo::admin`). Every change is recorded in
//! `adminChanges`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};

use super::ids::{NodeKind, decode_as};
use super::rc;
use super::types::{Agent, MarketplaceProduct, Partner};
use crate::domain::admin::ProductDraft;
use crate::domain::model::AgentRole;
use crate::error::AppError;
use crate::repo::admin::{AgentChange, AgentDraft, AgreementsChange};

#[derive(Default)]
pub struct AdminMutation;

/// A new agent of the caller's partner.
#[derive(InputObject)]
pub struct CreateAgentInput {
    /// At one of the partner's domains (`Partner.domains`).
    pub email: String,
    /// The agent's name as shown to people: one line, at most 200 characters.
    pub display_name: String,
    /// What the agent may do.
    pub role: AgentRole,
    /// The identity provider's value of `SG_IDENTITY_CLAIM` for this person (an object id,
    /// e-mail or user name): tokens carrying it sign in as this agent.
    pub identity: Option<String>,
}

/// Changes to an agent; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateAgentInput {
    /// The new name as shown to people: one line, at most 200 characters.
    pub display_name: Option<String>,
    /// The new role; refused if it would leave the partner without a global admin who can sign
    /// in.
    pub role: Option<AgentRole>,
    /// The identity provider's value for this person; `null` removes the mapping.
    pub identity: MaybeUndefined<String>,
}

/// The support agreements the partner holds; fields left out stay as they are.
#[derive(InputObject)]
pub struct SupportAgreementsInput {
    /// Whether the partner holds Advanced Support for Partners (ASfP, R3).
    pub advanced_support_for_partners: Option<bool>,
    /// Whether the partner holds Microsoft Premier support (R3, R12).
    pub premier: Option<bool>,
    /// Whether the partner holds an Azure support plan (R12).
    pub azure_support_plan: Option<bool>,
    /// Whether the partner holds Signature Cloud Support (R13).
    pub signature_cloud_support: Option<bool>,
    /// The MPN support contract id; `null` removes it.
    pub mpn_contract_id: MaybeUndefined<String>,
}

/// A marketplace product the partner maintains, with its ISV's support contacts (R10).
#[derive(InputObject)]
pub struct MarketplaceProductInput {
    /// The product's name: one line, at most 200 characters.
    pub name: String,
    /// The ISV that publishes it: one line, at most 200 characters.
    pub publisher: String,
    /// A short description, at most 2,000 characters; empty when omitted.
    #[graphql(default)]
    pub summary: String,
    /// At least one of the three contacts is required.
    pub support_website_url: Option<String>,
    /// The ISV's support e-mail address.
    pub support_email: Option<String>,
    /// The ISV's support phone number: digits, spaces and `+ - ( ) .` only.
    pub support_phone: Option<String>,
}

impl MarketplaceProductInput {
    fn draft(self) -> ProductDraft {
        ProductDraft {
            name: self.name,
            publisher: self.publisher,
            summary: self.summary,
            website_url: self.support_website_url,
            email: self.support_email,
            phone: self.support_phone,
        }
    }
}

/// The result of a change to an agent.
#[derive(SimpleObject)]
pub struct AgentPayload {
    /// The agent as it is after the change.
    pub agent: Agent,
}

/// The result of a change to the caller's partner.
#[derive(SimpleObject)]
pub struct PartnerPayload {
    /// The caller's partner as it is after the change.
    pub partner: Partner,
}

/// The result of a change to a marketplace product.
#[derive(SimpleObject)]
pub struct MarketplaceProductPayload {
    /// The product as it is after the change.
    pub marketplace_product: MarketplaceProduct,
}

fn maybe<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

async fn partner_payload(rc: &super::RequestCtx) -> Result<PartnerPayload> {
    let row = rc.repo.partner().await?.ok_or_else(|| AppError::internal("the caller's partner is not there"))?;
    Ok(PartnerPayload { partner: Partner(row) })
}

#[Object]
impl AdminMutation {
    /// Adds an agent to your partner (global admins). Its e-mail must be at one of the
    /// partner's domains and not in use; an identity maps an identity provider's tokens to it.
    async fn create_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new agent.")] input: CreateAgentInput,
    ) -> Result<AgentPayload> {
        let rc = rc(ctx)?;
        let draft = AgentDraft {
            email: input.email,
            display_name: input.display_name,
            role: input.role,
            identity: input.identity,
        };
        let row = rc.repo.create_agent(&rc.caller, &draft, rc.clock.now()).await?;
        Ok(AgentPayload { agent: Agent(row) })
    }

    /// Changes an agent's name, role or identity (global admins). The partner always keeps a
    /// global admin. A changed role applies within `SG_CALLER_CACHE_SECONDS`.
    async fn update_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of one of the partner's agents.")] id: ID,
        #[graphql(desc = "The changes; fields left out stay as they are.")] input: UpdateAgentInput,
    ) -> Result<AgentPayload> {
        let rc = rc(ctx)?;
        let raw = decode_as(NodeKind::Agent, &id)?;
        let change =
            AgentChange { display_name: input.display_name, role: input.role, identity: maybe(input.identity) };
        let row = rc.repo.update_agent(&rc.caller, &raw, &change, rc.clock.now()).await?;
        Ok(AgentPayload { agent: Agent(row) })
    }

    /// Removes an agent (global admins): it can no longer sign in; what it filed and did
    /// keeps its name.
    async fn remove_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of one of the partner's agents.")] id: ID,
    ) -> Result<AgentPayload> {
        let rc = rc(ctx)?;
        let raw = decode_as(NodeKind::Agent, &id)?;
        let row = rc.repo.remove_agent(&rc.caller, &raw, rc.clock.now()).await?;
        Ok(AgentPayload { agent: Agent(row) })
    }

    /// Adds one of your partner's own domains (global admins): contacts and agents may have
    /// addresses at it (R7).
    async fn add_partner_domain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A domain name such as `contoso.com`; kept in lower case.")] domain: String,
    ) -> Result<PartnerPayload> {
        let rc = rc(ctx)?;
        rc.repo.add_partner_domain(&rc.caller, &domain, rc.clock.now()).await?;
        partner_payload(rc).await
    }

    /// Removes one of your partner's domains (global admins), unless an agent has an address
    /// at it.
    async fn remove_partner_domain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "One of the partner's domains (compared in lower case).")] domain: String,
    ) -> Result<PartnerPayload> {
        let rc = rc(ctx)?;
        rc.repo.remove_partner_domain(&rc.caller, &domain, rc.clock.now()).await?;
        partner_payload(rc).await
    }

    /// Changes the support agreements your partner holds (global admins); filing decisions
    /// (R3, R12, R13) follow them at once.
    async fn update_support_agreements(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The agreements to change; fields left out stay as they are.")] input: SupportAgreementsInput,
    ) -> Result<PartnerPayload> {
        let rc = rc(ctx)?;
        let change = AgreementsChange {
            asfp: input.advanced_support_for_partners,
            premier: input.premier,
            azure_support_plan: input.azure_support_plan,
            signature_cloud_support: input.signature_cloud_support,
            mpn_contract_id: maybe(input.mpn_contract_id),
        };
        rc.repo.update_agreements(&rc.caller, &change, rc.clock.now()).await?;
        partner_payload(rc).await
    }

    /// Creates a marketplace product your partner maintains, with its ISV's support contacts
    /// (admins). It is visible to your partner only.
    async fn create_marketplace_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new product.")] input: MarketplaceProductInput,
    ) -> Result<MarketplaceProductPayload> {
        let rc = rc(ctx)?;
        let row = rc.repo.create_product(&rc.caller, &input.draft(), rc.clock.now()).await?;
        Ok(MarketplaceProductPayload { marketplace_product: MarketplaceProduct(row) })
    }

    /// Replaces one of your partner's products (admins); the public catalogue is read-only.
    async fn update_marketplace_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The global id of one of the partner's own products.")] id: ID,
        #[graphql(desc = "The product as a whole: it replaces every field.")] input: MarketplaceProductInput,
    ) -> Result<MarketplaceProductPayload> {
        let rc = rc(ctx)?;
        let raw = decode_as(NodeKind::MarketplaceProduct, &id)?;
        let row = rc.repo.update_product(&rc.caller, &raw, &input.draft(), rc.clock.now()).await?;
        Ok(MarketplaceProductPayload { marketplace_product: MarketplaceProduct(row) })
    }
}
