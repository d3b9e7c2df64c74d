use async_graphql::{Context, ID, Object, Result, SimpleObject};

use super::{Customer, parse};
use crate::db::models::{MarketplaceProductRow, SupportTopicRow};
use crate::domain::model::ProductFamily;
use crate::graphql::connection::{Conn, from_list};
use crate::graphql::ids::{NodeKind, encode};
use crate::graphql::rc;
use crate::paging::PageArgs;
use crate::repo::loaders::{CustomersOfProduct, load};

/// A commercial-marketplace offer published by an ISV. Microsoft does not support these:
/// the ISV does (R10).
#[derive(Clone)]
pub struct MarketplaceProduct(pub MarketplaceProductRow);

/// How to reach an ISV's support; any of the three may be absent.
#[derive(SimpleObject)]
pub struct IsvSupportContacts {
    /// A link to the support entry point on the ISV's website.
    pub website_url: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[Object]
impl MarketplaceProduct {
    pub async fn id(&self) -> ID {
        encode(NodeKind::MarketplaceProduct, &self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The ISV that published the product.
    async fn publisher(&self) -> &str {
        &self.0.publisher_name
    }

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
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
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

#[Object]
impl SupportTopic {
    pub async fn id(&self) -> ID {
        encode(NodeKind::SupportTopic, &self.0.id)
    }

    async fn product_family(&self) -> Result<ProductFamily> {
        parse(&self.0.product_family)
    }

    async fn category(&self) -> &str {
        &self.0.category
    }

    async fn name(&self) -> &str {
        &self.0.name
    }
}
