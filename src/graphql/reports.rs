//! `slaReport`: the partner's SLA figures over a date range, each grouping computed in SQL
//! only when asked for (see `repo::reports` for how every figure is counted).

use async_graphql::{Context, Enum, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::rc;
use super::types::Customer;
use crate::error::AppError;
use crate::repo::loaders::{CustomerKey, load};
use crate::repo::reports::{Figures, Grouping, Period};

/// The most periods `byPeriod` returns: 1,000 days is about 33 months.
const MAX_PERIODS: i64 = 1000;

/// The length of a report's periods, in UTC; weeks start on Monday.
#[derive(Enum, Copy, Clone, PartialEq, Eq, Default)]
pub enum ReportPeriod {
    /// One calendar day, from 00:00 UTC (the default).
    #[default]
    Day,
    /// Seven days from Monday 00:00 UTC.
    Week,
    /// One calendar month, from the first day 00:00 UTC.
    Month,
}

impl From<ReportPeriod> for Period {
    fn from(p: ReportPeriod) -> Period {
        match p {
            ReportPeriod::Day => Period::Day,
            ReportPeriod::Week => Period::Week,
            ReportPeriod::Month => Period::Month,
        }
    }
}

/// The partner's requests created in `[from, to)` and how their SLAs went.
pub struct SlaReport {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    period: ReportPeriod,
}

impl SlaReport {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>, period: ReportPeriod) -> Result<SlaReport, AppError> {
        if from >= to {
            return Err(AppError::bad_input("`from` must be before `to`"));
        }
        let days = (to - from).num_days() + 1;
        let periods = match period {
            ReportPeriod::Day => days,
            ReportPeriod::Week => days / 7 + 1,
            ReportPeriod::Month => days / 28 + 1,
        };
        if periods > MAX_PERIODS {
            return Err(AppError::bad_input(format!(
                "the range holds more than {MAX_PERIODS} periods: choose a longer `period` or a shorter range"
            )));
        }
        Ok(SlaReport { from, to, period })
    }

    async fn groups(&self, ctx: &Context<'_>, grouping: Grouping) -> Result<Vec<crate::repo::reports::Group>> {
        let rc = rc(ctx)?;
        Ok(rc.repo.sla_report(grouping, self.from, self.to, rc.now).await?)
    }

    async fn rows(&self, ctx: &Context<'_>, grouping: Grouping) -> Result<Vec<SlaReportRow>> {
        Ok(self
            .groups(ctx, grouping)
            .await?
            .into_iter()
            .map(|g| SlaReportRow { label: g.key.clone(), key: g.key, figures: SlaFigures(g.figures), customer: None })
            .collect())
    }
}

/// The partner's SLA figures for the requests created in `[from, to)`: overall and grouped
/// several ways. Each part is computed when selected.
#[Object]
impl SlaReport {
    /// Start of the range, inclusive, as asked for.
    async fn from(&self) -> DateTime<Utc> {
        self.from
    }

    /// End of the range, exclusive, as asked for.
    async fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// The length of the periods of `byPeriod`.
    async fn period(&self) -> ReportPeriod {
        self.period
    }

    /// Every request in the range.
    async fn overall(&self, ctx: &Context<'_>) -> Result<SlaFigures> {
        let groups = self.groups(ctx, Grouping::Overall).await?;
        Ok(SlaFigures(groups.into_iter().next().map(|g| g.figures).unwrap_or_default()))
    }

    /// Per customer, by company name; the partner's own tenant has an empty key and no customer.
    async fn by_customer(&self, ctx: &Context<'_>) -> Result<Vec<SlaReportRow>> {
        let rc = rc(ctx)?;
        let groups = self.groups(ctx, Grouping::Customer).await?;
        let loads = groups.iter().map(|g| async {
            if g.key.is_empty() { Ok(None) } else { load(&rc.loaders.customer, CustomerKey(g.key.clone())).await }
        });
        let customers = futures_util::future::try_join_all(loads).await?;
        let mut rows: Vec<SlaReportRow> = groups
            .into_iter()
            .zip(customers)
            .map(|(g, customer)| SlaReportRow {
                key: customer
                    .as_ref()
                    .map(|c| super::ids::encode(super::ids::NodeKind::Customer, &c.id).to_string())
                    .unwrap_or_default(),
                label: customer.as_ref().map_or_else(|| "Partner's own tenant".to_owned(), |c| c.company_name.clone()),
                figures: SlaFigures(g.figures),
                customer: customer.map(Customer),
            })
            .collect();
        rows.sort_by_key(|r| r.label.to_lowercase());
        Ok(rows)
    }

    /// Per severity (`A`, `B`, `C`).
    async fn by_severity(&self, ctx: &Context<'_>) -> Result<Vec<SlaReportRow>> {
        self.rows(ctx, Grouping::Severity).await
    }

    /// Per product family (`AZURE`, `MICROSOFT_365`, …).
    async fn by_product_family(&self, ctx: &Context<'_>) -> Result<Vec<SlaReportRow>> {
        self.rows(ctx, Grouping::ProductFamily).await
    }

    /// Per support language (BCP 47).
    async fn by_language(&self, ctx: &Context<'_>) -> Result<Vec<SlaReportRow>> {
        self.rows(ctx, Grouping::Language).await
    }

    /// Per period of the report's `period`, oldest first, every period of the range included
    /// (with zeros where no request was filed); the key is the period's first day, `YYYY-MM-DD`.
    async fn by_period(&self, ctx: &Context<'_>) -> Result<Vec<SlaReportRow>> {
        let period = Period::from(self.period);
        let found = self.groups(ctx, Grouping::Period(period)).await?;
        let mut found: std::collections::HashMap<String, Figures> =
            found.into_iter().map(|g| (g.key, g.figures)).collect();
        let last = (self.to - chrono::TimeDelta::microseconds(1)).date_naive();
        let mut start = period.start_of(self.from.date_naive());
        let mut rows = Vec::new();
        while start <= last {
            let key = start.format("%Y-%m-%d").to_string();
            let figures = found.remove(&key).unwrap_or_default();
            rows.push(SlaReportRow { label: key.clone(), key, figures: SlaFigures(figures), customer: None });
            start = period.next(start);
        }
        Ok(rows)
    }
}

/// One group of a report.
#[derive(SimpleObject)]
pub struct SlaReportRow {
    /// The group: a customer's id, a severity, a product family, a language, or a period's
    /// first day (`YYYY-MM-DD`).
    key: String,
    /// How to show the group: the customer's company name, otherwise the key.
    label: String,
    /// How the SLAs of the group's requests went.
    figures: SlaFigures,
    /// The customer of a `byCustomer` row; null elsewhere and for the partner's own tenant.
    customer: Option<Customer>,
}

/// How the SLAs of a group of requests went.
pub struct SlaFigures(Figures);

/// How the SLAs of a group of requests went: counts, rates and first-response times. A request
/// counts as breached when recorded `BREACHED` or when its clock still runs past its due time.
#[Object]
impl SlaFigures {
    /// Requests created in the range.
    async fn requests(&self) -> i64 {
        self.0.requests
    }

    /// Requests whose first response came in time (`MET`).
    async fn met(&self) -> i64 {
        self.0.met
    }

    /// Requests whose first response came late, or whose due time passed without one.
    async fn breached(&self) -> i64 {
        self.0.breached
    }

    /// Requests whose clock still runs with the due time ahead.
    async fn running(&self) -> i64 {
        self.0.running
    }

    /// Requests with a recorded first response.
    async fn responded(&self) -> i64 {
        self.0.responded
    }

    /// `met / (met + breached)`; null when no request's SLA is decided yet.
    async fn met_rate(&self) -> Option<f64> {
        self.0.met_rate()
    }

    /// `breached / (met + breached)`; null when no request's SLA is decided yet.
    async fn breach_rate(&self) -> Option<f64> {
        self.0.breach_rate()
    }

    /// Median wall-clock minutes from filing to the first response (nearest rank), over the
    /// requests that have one.
    async fn median_first_response_minutes(&self) -> Option<f64> {
        self.0.median_first_response_minutes
    }

    /// 90th percentile of the same (nearest rank: the value at rank `ceil(0.9 n)`).
    async fn p90_first_response_minutes(&self) -> Option<f64> {
        self.0.p90_first_response_minutes
    }
}
