//! Object types. Each wraps a stored row; relations resolve through the request's loaders.

mod calendar;
mod customer;
mod partner;
mod product;
mod request;
mod subscription;

pub use calendar::BusinessCalendar;
pub use customer::Customer;
pub use partner::{Agent, Partner, Viewer};
pub use product::{IsvSupportContacts, MarketplaceProduct, SupportTopic};
pub use request::{HistoryEntry, Note, Route, ServiceRequest, Sla};
pub use subscription::Subscription;

use async_graphql::{ID, Interface};
use chrono::{DateTime, NaiveDateTime, Utc};

/// An object with a global id, fetchable with `node(id:)`.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "The object's opaque global id."))]
pub enum Node {
    Customer(Customer),
    Subscription(Subscription),
    ServiceRequest(ServiceRequest),
    MarketplaceProduct(MarketplaceProduct),
    SupportTopic(SupportTopic),
    Agent(Agent),
    Partner(Partner),
    BusinessCalendar(BusinessCalendar),
}

/// Stored timestamps are UTC.
pub(crate) fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// Parses a stored enum's text form.
pub(crate) fn parse<T: std::str::FromStr<Err = crate::domain::model::UnknownVariant>>(
    s: &str,
) -> async_graphql::Result<T> {
    s.parse::<T>().map_err(|e| crate::error::AppError::from(e).into())
}
