use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};

use super::request::SUMMARY_FIELDS;
use super::{Customer, ServiceRequest, parse, plain_provenance, utc};
use crate::db::models::SubscriptionRow;
use crate::domain::model::{BillingCycle, ProductFamily, SubscriptionOwner, SubscriptionStatus};
use crate::graphql::connection::{Conn, from_first, from_list, item_columns};
use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::joined::{Joined, Plain, plain_enum, plain_opt_text, plain_text, plain_time, plain_value};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{CustomerKey, FirstOf, RequestsOfSubscription, load};

/// The fields of a subscription whose resolvers read only the columns of its summary
/// ([`crate::db::models::SubscriptionSummaryRow`]): a nested list of subscriptions whose
/// items select no other field reads only those columns. Add a field here only if its
/// resolver reads nothing else of the row;
/// `tests/graph.rs::nested_subscriptions_of_few_fields_read_the_same_values_as_whole_ones`
/// compares every one of them, read through a summary, with the subscription read whole.
pub const SUBSCRIPTION_SUMMARY_FIELDS: &[&str] = &[
    "__typename",
    "id",
    "customer",
    "productFamily",
    "offerName",
    "status",
    "quantity",
    "isTrial",
    "createdAt",
    "serviceRequests",
];

/// A subscription of a customer, or of the partner's own tenant.
#[derive(Clone)]
pub struct Subscription(pub SubscriptionRow);

impl Plain for Subscription {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let s = &self.0;
        match name {
            "id" => plain_text(encode(NodeKind::Subscription, &s.id).0),
            "owner" => plain_enum::<SubscriptionOwner>(&s.owner),
            "productFamily" => plain_enum::<ProductFamily>(&s.product_family),
            "offerName" => plain_text(s.offer_name.as_str()),
            "status" => plain_enum::<SubscriptionStatus>(&s.status),
            "billingCycle" => plain_enum::<BillingCycle>(&s.billing_cycle),
            "quantity" => plain_value(s.quantity.clamp(0, i64::from(i32::MAX)) as i32),
            "isTrial" => plain_value(s.is_trial),
            "azureSubscriptionId" => plain_opt_text(s.azure_subscription_id.as_deref()),
            "createdAt" => plain_time(s.created_at),
            _ => plain_provenance(name, &s.source, s.upstream_id.as_deref(), s.synced_at),
        }
    }
}

/// A subscription to a Microsoft offer (Azure, Microsoft 365, Dynamics 365, EMS) of a customer,
/// or of the partner's own tenant.
#[Object]
impl Subscription {
    /// The subscription's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::Subscription, &self.0.id)
    }

    /// The customer it belongs to; null for the partner's own subscriptions.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Joined<Customer>>> {
        let Some(id) = &self.0.customer_id else { return Ok(None) };
        Ok(load(&rc(ctx)?.loaders.customer, CustomerKey(id.clone())).await?.map(|row| Joined(Customer(row))))
    }

    /// Whose tenant it belongs to: a customer's or the partner's own.
    async fn owner(&self) -> Result<SubscriptionOwner> {
        parse(&self.0.owner)
    }

    /// The product family of the offer; a request about the subscription must be of the same
    /// family.
    async fn product_family(&self) -> Result<ProductFamily> {
        parse(&self.0.product_family)
    }

    /// The offer, e.g. `Microsoft 365 E3` or `Azure plan`.
    async fn offer_name(&self) -> &str {
        &self.0.offer_name
    }

    /// The subscription's lifecycle state; a `DELETED` one accepts billing and fraud requests
    /// only (R11).
    async fn status(&self) -> Result<SubscriptionStatus> {
        parse(&self.0.status)
    }

    /// How often it is billed.
    async fn billing_cycle(&self) -> Result<BillingCycle> {
        parse(&self.0.billing_cycle)
    }

    /// Licences or units.
    async fn quantity(&self) -> i32 {
        self.0.quantity.clamp(0, i64::from(i32::MAX)) as i32
    }

    /// True for a trial; a customer's trial is covered by the CSP benefit like a paid one (R11).
    async fn is_trial(&self) -> bool {
        self.0.is_trial
    }

    /// The Azure subscription id (a GUID), for Azure subscriptions only.
    async fn azure_subscription_id(&self) -> Option<&str> {
        self.0.azure_subscription_id.as_deref()
    }

    /// When the subscription was created (for one synced from Partner Center, its creation
    /// date there).
    async fn created_at(&self) -> DateTime<Utc> {
        utc(self.0.created_at)
    }

    /// Where it came from (`source`, `upstreamId`, `syncedAt`).
    #[graphql(flatten)]
    async fn provenance(&self) -> super::Provenance {
        super::Provenance::of(&self.0.source, &self.0.upstream_id, self.0.synced_at)
    }

    /// Service requests about this subscription filed by the caller's partner, newest first.
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
    ) -> Result<Conn<ServiceRequest>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?
            .counting_if(ctx.look_ahead().field("totalCount").exists());
        if let Some(window) = args.uncounted_window() {
            let columns = item_columns(ctx.field(), SUMMARY_FIELDS);
            let rows = load(
                &rc(ctx)?.loaders.first_requests_of_subscription,
                FirstOf::new(&self.0.id, window.end + 1, columns),
            )
            .await?;
            return Ok(from_first(&rows, window, ServiceRequest::from));
        }
        let rows = load(&rc(ctx)?.loaders.requests_of_subscription, RequestsOfSubscription(self.0.id.clone())).await?;
        Ok(from_list(&rows, &args, ServiceRequest::from))
    }
}
