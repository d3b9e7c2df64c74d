//! Rows by id, scoped to the partner: another partner's ids simply find nothing. The loaders
//! call these with a batch of ids (one statement per [`super::MAX_KEYS_PER_STATEMENT`] ids).

use diesel::{BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods, QueryDsl};

use super::{Repo, by_keys};
use crate::db::models::*;
use crate::db::schema::indexes;
use crate::db::schema::*;
use crate::db::sql::row_columns;
use crate::db::sql::{indexed_by, unindexed};
use crate::error::AppResult;
use crate::with_conn;

impl Repo {
    pub async fn customers_by_ids(&self, ids: &[String]) -> AppResult<Vec<CustomerRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(customers::table, indexes::CustomersPk)
                        .filter(customers::id.eq_any(keys))
                        .filter(unindexed(customers::partner_id).eq(p).or(unindexed(customers::provider_id).eq(p)))
                        .select(row_columns::<CustomerRow, _>())
                )
            }))
        })
        .await
    }

    pub async fn subscriptions_by_ids(&self, ids: &[String]) -> AppResult<Vec<SubscriptionRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(subscriptions::table, indexes::SubscriptionsPk)
                        .filter(subscriptions::id.eq_any(keys))
                        .filter(
                            unindexed(subscriptions::partner_id).eq(p).or(unindexed(subscriptions::provider_id).eq(p))
                        )
                        .select(row_columns::<SubscriptionRow, _>())
                )
            }))
        })
        .await
    }

    pub async fn requests_by_ids(&self, ids: &[String]) -> AppResult<Vec<ServiceRequestRow>> {
        let p = &self.partner_id;
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(service_requests::table, indexes::ServiceRequestsPk)
                        .filter(service_requests::id.eq_any(keys))
                        .filter(unindexed(service_requests::partner_id).eq(p))
                        .select(row_columns::<ServiceRequestRow, _>())
                )
            }))
        })
        .await
    }

    /// Marketplace products of the public catalogue, visible to every partner, and the
    /// partner's own.
    pub async fn products_by_ids(&self, ids: &[String]) -> AppResult<Vec<MarketplaceProductRow>> {
        let p = self.partner_id.as_str();
        by_keys(ids, |keys| async move {
            Ok(with_conn!(self.db, |conn| {
                crate::load_batch!(
                    self.db,
                    conn,
                    indexed_by(marketplace_products::table, indexes::MarketplaceProductsPk)
                        .filter(marketplace_products::id.eq_any(keys))
                        .filter(
                            unindexed(marketplace_products::partner_id)
                                .is_null()
                                .or(unindexed(marketplace_products::partner_id).eq(p)),
                        )
                        .select(row_columns::<MarketplaceProductRow, _>())
                )
            }))
        })
        .await
    }

    /// Support topics are a public catalogue.
    pub async fn topics_by_ids(&self, ids: &[String]) -> AppResult<Vec<SupportTopicRow>> {
        Ok(with_conn!(self.db, |conn| {
            crate::load_batch!(
                self.db,
                conn,
                support_topics::table
                    .filter(support_topics::id.eq_any(ids))
                    .select(row_columns::<SupportTopicRow, _>())
            )
        }))
    }

    /// Agents of the caller's own partner only.
    pub async fn agents_by_ids(&self, ids: &[String]) -> AppResult<Vec<AgentRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            crate::load_batch!(
                self.db,
                conn,
                indexed_by(agents::table, indexes::AgentsPk)
                    .filter(agents::id.eq_any(ids))
                    .filter(unindexed(agents::partner_id).eq(p))
                    .select(row_columns::<AgentRow, _>())
            )
        }))
    }

    /// The caller's partner, its indirect provider and its indirect resellers.
    pub async fn partners_by_ids(&self, ids: &[String]) -> AppResult<Vec<PartnerRow>> {
        let p = &self.partner_id;
        Ok(with_conn!(self.db, |conn| {
            let me = diesel::alias!(partners as me);
            let my_provider =
                me.filter(me.field(partners::id).eq(p)).select(me.field(partners::provider_id).assume_not_null());
            crate::load_batch!(
                self.db,
                conn,
                indexed_by(partners::table, indexes::PartnersPk)
                    .filter(partners::id.eq_any(ids))
                    .filter(partners::deleted_at.is_null())
                    .filter(
                        unindexed(partners::id)
                            .eq(p)
                            .or(unindexed(partners::provider_id).eq(p))
                            .or(partners::id.eq_any(my_provider))
                    )
                    .select(row_columns::<PartnerRow, _>())
            )
        }))
    }

    pub async fn calendars_by_ids(
        &self,
        ids: &[String],
    ) -> AppResult<(Vec<CalendarRow>, Vec<CalendarHoursRow>, Vec<HolidayRow>)> {
        Ok(with_conn!(self.db, |conn| {
            let cals = crate::load_batch!(
                self.db,
                conn,
                business_calendars::table
                    .filter(business_calendars::id.eq_any(ids))
                    .select(row_columns::<CalendarRow, _>())
            );
            let hours = crate::load_batch!(
                self.db,
                conn,
                business_calendar_hours::table
                    .filter(business_calendar_hours::calendar_id.eq_any(ids))
                    .order((business_calendar_hours::weekday, business_calendar_hours::start_minute))
                    .select(row_columns::<CalendarHoursRow, _>())
            );
            let holidays = crate::load_batch!(
                self.db,
                conn,
                business_calendar_holidays::table
                    .filter(business_calendar_holidays::calendar_id.eq_any(ids))
                    .order(business_calendar_holidays::day)
                    .select(row_columns::<HolidayRow, _>())
            );
            (cals, hours, holidays)
        }))
    }
}
