use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::request::SUMMARY_FIELDS;
use super::subscription::SUBSCRIPTION_SUMMARY_FIELDS;
use super::{
    BusinessCalendar, MarketplaceProduct, Partner, ServiceRequest, Subscription, parse, plain_provenance, utc,
};
use crate::db::models::CustomerRow;
use crate::domain::model::{Cloud, CustomerRelationship, ProductFamily, RequestStatus, SubscriptionStatus};
use crate::graphql::connection::{Conn, from_first, from_list, item_columns};
use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::joined::{Plain, plain_enum, plain_opt_time, plain_text, plain_time, plain_value};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{
    CalendarKey, DomainsOfCustomer, FirstOf, PartnerKey, ProductsOfCustomer, RequestsOfCustomer,
    SubscriptionsOfCustomer, load,
};

/// The fields of a customer whose resolvers read only the columns of its summary
/// ([`crate::db::models::CustomerSummaryRow`]): a page of customers whose items select no
/// other field reads only those columns. Add a field here only if its resolver reads nothing
/// else of the row; `tests/graph.rs::customer_pages_of_few_fields_read_the_same_values_as_whole_ones`
/// compares every one of them, read through a summary, with the customer read whole.
pub const CUSTOMER_SUMMARY_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "companyName",
    "primaryDomain",
    "country",
    "language",
    "cloud",
    "relationship",
    "createdAt",
    "readOnly",
    "reseller",
    "domains",
    "subscriptions",
    "serviceRequests",
    "marketplaceProducts",
];

/// A customer the partner serves (or, for an indirect provider, a reseller's customer).
#[derive(Clone)]
pub struct Customer(pub std::sync::Arc<CustomerRow>);

impl From<CustomerRow> for Customer {
    fn from(row: CustomerRow) -> Customer {
        Customer(std::sync::Arc::new(row))
    }
}

impl Plain for Customer {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let c = &*self.0;
        match name {
            "id" => plain_text(encode(NodeKind::Customer, &c.id).0),
            "companyName" => plain_text(c.company_name.as_str()),
            "primaryDomain" => plain_text(c.primary_domain.as_str()),
            "tenantId" => plain_text(c.tenant_id.as_str()),
            "country" => plain_text(c.country.as_str()),
            "timeZone" => plain_text(c.time_zone.as_str()),
            "language" => plain_text(c.language.as_str()),
            "cloud" => plain_enum::<Cloud>(&c.cloud),
            "relationship" => plain_enum::<CustomerRelationship>(&c.relationship),
            "delegatedAdminPrivileges" => plain_value(c.delegated_admin),
            "azureAccessGranted" => plain_value(c.azure_access_granted),
            "createdAt" => plain_time(c.created_at),
            "relationshipEndedAt" => plain_opt_time(c.relationship_ended_at),
            _ => plain_provenance(name, &c.source, c.upstream_id.as_deref(), c.synced_at),
        }
    }
}

/// A customer the partner serves, or, for an indirect provider, a customer of one of its
/// indirect resellers (read-only to the provider).
#[Object]
impl Customer {
    /// The customer's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Customer, &self.0.id)
    }

    /// The customer's company name.
    async fn company_name(&self) -> &str {
        &self.0.company_name
    }

    /// The customer's primary domain, e.g. `contoso.onmicrosoft.com`.
    async fn primary_domain(&self) -> &str {
        &self.0.primary_domain
    }

    /// Every domain of the customer, the primary first. A contact on one of these is the
    /// customer's, never the partner's (R7).
    async fn domains(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let rows = load(&rc(ctx)?.loaders.domains_of_customer, DomainsOfCustomer(self.0.id.clone())).await?;
        Ok(rows.iter().map(|d| d.domain.clone()).collect())
    }

    /// The customer's Microsoft Entra tenant id.
    async fn tenant_id(&self) -> &str {
        &self.0.tenant_id
    }

    /// ISO 3166 country code.
    async fn country(&self) -> &str {
        &self.0.country
    }

    /// IANA time zone.
    async fn time_zone(&self) -> &str {
        &self.0.time_zone
    }

    /// Preferred support language (BCP 47), e.g. `en`, `de`, `ja`.
    async fn language(&self) -> &str {
        &self.0.language
    }

    /// The Microsoft cloud the customer's tenant lives in; it decides the portal addresses (R2).
    async fn cloud(&self) -> Result<Cloud> {
        parse(&self.0.cloud)
    }

    /// How the customer is served: resold to directly, through an indirect reseller, or only
    /// advised (no requests can be filed for an `ADVISOR` customer, R11).
    async fn relationship(&self) -> Result<CustomerRelationship> {
        parse(&self.0.relationship)
    }

    /// Whether the partner holds delegated admin privileges for the customer (R8).
    async fn delegated_admin_privileges(&self) -> bool {
        self.0.delegated_admin
    }

    /// For an indirect reseller's customer: whether the indirect provider granted access to
    /// the customer's Azure account (R4). Always true for other customers.
    async fn azure_access_granted(&self) -> bool {
        self.0.azure_access_granted
    }

    /// True when the caller sees this customer only as the indirect provider of its reseller.
    async fn read_only(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.0.partner_id != rc(ctx)?.caller.partner_id)
    }

    /// The indirect reseller serving the customer, for a provider's view of it.
    async fn reseller(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        if self.0.provider_id.is_none() {
            return Ok(None);
        }
        Ok(load(&rc(ctx)?.loaders.partner, PartnerKey(self.0.partner_id.clone())).await?.map(Partner))
    }

    /// The business calendar the customer's non-English requests run on (S5).
    async fn business_calendar(&self, ctx: &Context<'_>) -> Result<Option<BusinessCalendar>> {
        Ok(load(&rc(ctx)?.loaders.calendar, CalendarKey(self.0.calendar_id.clone())).await?.map(BusinessCalendar))
    }

    /// When the customer was first recorded here (added, synced or imported).
    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// Where it came from (`source`, `upstreamId`, `syncedAt`).
    #[graphql(flatten)]
    async fn provenance(&self) -> super::Provenance {
        super::Provenance::of(&self.0.source, &self.0.upstream_id, self.0.synced_at)
    }

    /// When Partner Center stopped listing the customer as the partner's (the relationship
    /// ended); its subscriptions and requests stay.
    async fn relationship_ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.relationship_ended_at.map(utc)
    }

    /// The customer's subscriptions, oldest first.
    async fn subscriptions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Only subscriptions in one of these statuses.")] status: Option<Vec<SubscriptionStatus>>,
        #[graphql(desc = "Only subscriptions of this product family.")] product_family: Option<ProductFamily>,
    ) -> Result<Conn<Subscription>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        if status.is_none()
            && product_family.is_none()
            && let Some(window) = args.uncounted_window()
        {
            let rows = load(
                &rc(ctx)?.loaders.first_subscriptions_of_customer,
                FirstOf::new(&self.0.id, window.end + 1, item_columns(ctx.field(), SUBSCRIPTION_SUMMARY_FIELDS)),
            )
            .await?;
            return Ok(from_first(&rows, window, Subscription));
        }
        let rows =
            load(&rc(ctx)?.loaders.subscriptions_of_customer, SubscriptionsOfCustomer(self.0.id.clone())).await?;
        let rows: Vec<_> = rows
            .iter()
            .filter(|s| status.as_ref().is_none_or(|st| st.iter().any(|v| v.as_str() == s.status)))
            .filter(|s| product_family.is_none_or(|f| f.as_str() == s.product_family))
            .cloned()
            .collect();
        Ok(from_list(&rows, &args, Subscription))
    }

    /// The marketplace products the customer runs (supported by their ISVs, R10).
    async fn marketplace_products(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Conn<MarketplaceProduct>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let rows = load(&rc(ctx)?.loaders.products_of_customer, ProductsOfCustomer(self.0.id.clone())).await?;
        Ok(from_list(&rows, &args, MarketplaceProduct))
    }

    /// Service requests the caller's partner filed for the customer, newest first.
    async fn service_requests(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
        #[graphql(desc = "Only requests in one of these statuses.")] status: Option<Vec<RequestStatus>>,
    ) -> Result<Conn<ServiceRequest>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        if status.is_none()
            && let Some(window) = args.uncounted_window()
        {
            let columns = item_columns(ctx.field(), SUMMARY_FIELDS);
            let rows =
                load(&rc(ctx)?.loaders.first_requests_of_customer, FirstOf::new(&self.0.id, window.end + 1, columns))
                    .await?;
            return Ok(from_first(&rows, window, ServiceRequest::from));
        }
        let rows = load(&rc(ctx)?.loaders.requests_of_customer, RequestsOfCustomer(self.0.id.clone())).await?;
        let rows: Vec<_> = rows
            .iter()
            .filter(|r| status.as_ref().is_none_or(|st| st.iter().any(|v| v.as_str() == r.status)))
            .cloned()
            .collect();
        Ok(from_list(&rows, &args, ServiceRequest::from))
    }
}
