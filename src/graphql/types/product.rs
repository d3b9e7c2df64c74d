use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::{Customer, parse};
use crate::db::models::{MarketplaceProductRow, SupportTopicRow};
use crate::domain::model::ProductFamily;
use crate::graphql::connection::{Conn, from_list};
use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::joined::{Plain, plain_text};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{CustomersOfProduct, load};

/// A commercial-marketplace offer published by an ISV. Microsoft does not support these:
/// the ISV does (R10).
#[derive(Clone)]
pub struct MarketplaceProduct(pub MarketplaceProductRow);

impl Plain for MarketplaceProduct {
    fn plain(&self, name: &str) -> Option<async_graphql::Value> {
        let p = &self.0;
        match name {
            "id" => plain_text(encode(NodeKind::MarketplaceProduct, &p.id).0),
            "name" => plain_text(p.name.as_str()),
            "publisher" => plain_text(p.publisher_name.as_str()),
            "summary" => plain_text(p.summary.as_str()),
            _ => None,
        }
    }
}

/// How to reach an ISV's support; any of the three may be absent.
#[derive(SimpleObject)]
pub struct IsvSupportContacts {
    /// A link to the support entry point on the ISV's website.
    pub website_url: Option<String>,
    /// The ISV's support e-mail address.
    pub email: Option<String>,
    /// The ISV's support phone number.
    pub phone: Option<String>,
}

/// A commercial-marketplace offer published by an ISV (independent software vendor), from the
/// public catalogue or maintained by the partner. Microsoft does not support these: the ISV
/// does (R10).
#[Object]
impl MarketplaceProduct {
    /// The product's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::MarketplaceProduct, &self.0.id)
    }

    /// The product's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The ISV that published the product.
    async fn publisher(&self) -> &str {
        &self.0.publisher_name
    }

    /// A short description of the product; empty when none was given.
    async fn summary(&self) -> &str {
        &self.0.summary
    }

    /// Where to get support for the product (R10).
    async fn support_contacts(&self) -> IsvSupportContacts {
        IsvSupportContacts {
            website_url: self.0.support_url.clone(),
            email: self.0.support_email.clone(),
            phone: self.0.support_phone.clone(),
        }
    }

    /// The caller's customers that run the product.
    async fn customers(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n items: 0 to 100 (20 when neither `first` nor `last` is given).")]
        first: Option<i32>,
        #[graphql(desc = "Returns only the items after this cursor (an edge's `cursor` or `pageInfo.endCursor`).")]
        after: Option<String>,
        #[graphql(desc = "Returns the last n items: 0 to 100.")] last: Option<i32>,
        #[graphql(desc = "Returns only the items before this cursor (an edge's `cursor` or `pageInfo.startCursor`).")]
        before: Option<String>,
    ) -> Result<Conn<Customer>> {
        let args = PageArgs::parse(first, after.as_deref(), last, before.as_deref())?;
        let rows = load(&rc(ctx)?.loaders.customers_of_product, CustomersOfProduct(self.0.id.clone())).await?;
        Ok(from_list(&rows, &args, Customer))
    }
}

/// A support topic (category) to pick when filing Microsoft 365, Dynamics 365 or EMS
/// requests (R9).
#[derive(Clone)]
pub struct SupportTopic(pub SupportTopicRow);

/// A support topic (category) to pick when filing a request. Microsoft 365, Dynamics 365 and
/// EMS requests need one; Azure requests may name one (R9).
#[Object]
impl SupportTopic {
    /// The topic's opaque global id.
    pub async fn id(&self) -> ID {
        encode(NodeKind::SupportTopic, &self.0.id)
    }

    /// The product family the topic belongs to; a request may only pick a topic of its own
    /// family (R9).
    async fn product_family(&self) -> Result<ProductFamily> {
        parse(&self.0.product_family)
    }

    /// The group the topic is listed under, e.g. `Compute` or `Exchange Online`.
    async fn category(&self) -> &str {
        &self.0.category
    }

    /// The topic's name.
    async fn name(&self) -> &str {
        &self.0.name
    }
}
