//! SLA reports: met and breached counts, and the spread of time to first response, over the
//! requests a partner filed in a date range, grouped one way at a time. Each grouping is one
//! SQL statement on either backend; no request is loaded into the gateway.
//!
//! How each figure is counted (also in the schema's descriptions):
//! - a request is in the report when it was created in `[from, to)`;
//! - `met`: its SLA was met (`MET`);
//! - `breached`: recorded `BREACHED`, or its clock still runs and the due time has passed
//!   (as `serviceRequests(filter: { slaState: BREACHED })` counts it);
//! - `running`: its clock runs and the due time is ahead;
//! - the rest stopped without a response (`STOPPED`: resolved or closed first);
//! - time to first response: from filing to the recorded first response, in wall-clock
//!   minutes, over the requests that have one. Percentiles are nearest-rank: the p-th of `n`
//!   sorted values is the one at rank `ceil(n * p / 100)`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Double, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;

use super::Repo;
use crate::db::Backend;
use crate::error::AppResult;
use crate::with_conn;

/// How a report groups its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    Overall,
    Customer,
    Severity,
    ProductFamily,
    Language,
    Period(Period),
}

/// The length of a report's periods; weeks start on Monday; all in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    /// The start of the period holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        use chrono::Datelike;
        match self {
            Period::Day => day,
            Period::Week => day - chrono::Days::new(u64::from(day.weekday().num_days_from_monday())),
            Period::Month => day.with_day(1).unwrap_or(day),
        }
    }

    /// The start of the next period after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => start + chrono::Days::new(1),
            Period::Week => start + chrono::Days::new(7),
            Period::Month => start + chrono::Months::new(1),
        }
    }
}

/// The figures of one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub requests: i64,
    pub met: i64,
    pub breached: i64,
    pub running: i64,
    pub responded: i64,
    pub median_first_response_minutes: Option<f64>,
    pub p90_first_response_minutes: Option<f64>,
}

impl Figures {
    /// Met among the requests whose SLA is decided (met or breached); none when none is.
    pub fn met_rate(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| self.met as f64 / decided as f64)
    }

    pub fn breach_rate(&self) -> Option<f64> {
        let decided = self.met + self.breached;
        (decided > 0).then(|| self.breached as f64 / decided as f64)
    }
}

/// One group: its key (a customer id, a severity, a product family, a language, or a period's
/// first day as `YYYY-MM-DD`; empty for the overall figures and the partner's own tenant).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub key: String,
    pub figures: Figures,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = BigInt)]
    requests: i64,
    #[diesel(sql_type = BigInt)]
    met: i64,
    #[diesel(sql_type = BigInt)]
    breached: i64,
    #[diesel(sql_type = BigInt)]
    running: i64,
    #[diesel(sql_type = BigInt)]
    responded: i64,
    #[diesel(sql_type = Nullable<Double>)]
    median: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    p90: Option<f64>,
}

/// The key expression of a grouping, per backend (text, never from input).
fn key_sql(grouping: Grouping, backend: Backend) -> &'static str {
    match (grouping, backend) {
        (Grouping::Overall, _) => "''",
        (Grouping::Customer, _) => "COALESCE(sr.customer_id, '')",
        (Grouping::Severity, _) => "sr.severity",
        (Grouping::ProductFamily, _) => "sr.product_family",
        (Grouping::Language, _) => "sr.support_language",
        (Grouping::Period(Period::Day), Backend::Postgres) => "to_char(sr.created_at, 'YYYY-MM-DD')",
        (Grouping::Period(Period::Week), Backend::Postgres) => {
            "to_char(date_trunc('week', sr.created_at), 'YYYY-MM-DD')"
        }
        (Grouping::Period(Period::Month), Backend::Postgres) => "to_char(sr.created_at, 'YYYY-MM-01')",
        (Grouping::Period(Period::Day), Backend::Sqlite) => "date(sr.created_at)",
        (Grouping::Period(Period::Week), Backend::Sqlite) => "date(sr.created_at, 'weekday 0', '-6 days')",
        (Grouping::Period(Period::Month), Backend::Sqlite) => "strftime('%Y-%m-01', sr.created_at)",
    }
}

fn minutes_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "CAST(EXTRACT(EPOCH FROM (sr.first_response_at - sr.created_at)) AS DOUBLE PRECISION) / 60.0"
        }
        Backend::Sqlite => "(julianday(sr.first_response_at) - julianday(sr.created_at)) * 1440.0",
    }
}

/// The statement: `{key}` and `{minutes}` per backend; binds 1 partner, 2 from, 3 to, 4 now.
const REPORT_SQL: &str = "\
WITH t AS (
  SELECT {key} AS k, sr.sla_state AS st, sr.sla_due_at AS due,
         CASE WHEN sr.first_response_at IS NOT NULL THEN {minutes} END AS m
  FROM service_requests sr
  WHERE sr.partner_id = {p1} AND sr.created_at >= {p2} AND sr.created_at < {p3}
),
ranked AS (
  SELECT k, m, ROW_NUMBER() OVER (PARTITION BY k ORDER BY m) AS rn, COUNT(*) OVER (PARTITION BY k) AS n
  FROM t WHERE m IS NOT NULL
),
spread AS (
  SELECT k, MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN m END) AS median,
            MAX(CASE WHEN rn = (n * 90 + 99) / 100 THEN m END) AS p90
  FROM ranked GROUP BY k
),
counts AS (
  SELECT k, COUNT(*) AS requests,
         SUM(CASE WHEN st = 'MET' THEN 1 ELSE 0 END) AS met,
         SUM(CASE WHEN st = 'BREACHED' OR (st IN ('ON_TRACK', 'AT_RISK') AND due < {p4}) THEN 1 ELSE 0 END) AS breached,
         SUM(CASE WHEN st IN ('ON_TRACK', 'AT_RISK') AND due >= {p4} THEN 1 ELSE 0 END) AS running,
         COUNT(m) AS responded
  FROM t GROUP BY k
)
SELECT counts.k AS key, counts.requests, counts.met, counts.breached, counts.running, counts.responded,
       spread.median, spread.p90
FROM counts LEFT JOIN spread ON spread.k = counts.k
ORDER BY counts.k";

fn report_sql(grouping: Grouping, backend: Backend) -> String {
    let mark = |n: u8| match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => format!("?{n}"),
    };
    REPORT_SQL
        .replace("{key}", key_sql(grouping, backend))
        .replace("{minutes}", minutes_sql(backend))
        .replace("{p1}", &mark(1))
        .replace("{p2}", &mark(2))
        .replace("{p3}", &mark(3))
        .replace("{p4}", &mark(4))
}

/// Minutes to a thousandth (0.06 s): both backends give the same figure.
fn round(minutes: Option<f64>) -> Option<f64> {
    minutes.map(|m| (m * 1000.0).round() / 1000.0)
}

impl Repo {
    /// The partner's requests created in `[from, to)`, grouped; groups without requests are
    /// absent (except the overall figures, always one group).
    pub async fn sla_report(
        &self,
        grouping: Grouping,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AppResult<Vec<Group>> {
        let sql = report_sql(grouping, self.db.backend);
        let (from, to, now): (NaiveDateTime, NaiveDateTime, NaiveDateTime) =
            (from.naive_utc(), to.naive_utc(), now.naive_utc());
        let rows: Vec<Row> = with_conn!(self.db, |conn| {
            diesel::sql_query(sql)
                .bind::<Text, _>(&self.partner_id)
                .bind::<Timestamp, _>(from)
                .bind::<Timestamp, _>(to)
                .bind::<Timestamp, _>(now)
                .load(conn)
                .await?
        });
        let mut groups: Vec<Group> = rows
            .into_iter()
            .map(|r| Group {
                key: r.key,
                figures: Figures {
                    requests: r.requests,
                    met: r.met,
                    breached: r.breached,
                    running: r.running,
                    responded: r.responded,
                    median_first_response_minutes: round(r.median),
                    p90_first_response_minutes: round(r.p90),
                },
            })
            .collect();
        if grouping == Grouping::Overall && groups.is_empty() {
            groups.push(Group { key: String::new(), figures: Figures::default() });
        }
        Ok(groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_the_first_day_monday_and_first_of_the_month() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(); // a Sunday
        assert_eq!(Period::Week.start_of(day), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        assert_eq!(Period::Month.start_of(day), NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(Period::Month.next(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()).to_string(), "2027-01-01");
    }

    #[test]
    fn rates_are_over_decided_requests() {
        let f = Figures { requests: 10, met: 3, breached: 1, running: 6, ..Default::default() };
        assert_eq!(f.met_rate(), Some(0.75));
        assert_eq!(f.breach_rate(), Some(0.25));
        assert_eq!(Figures::default().met_rate(), None);
    }

    #[test]
    fn each_backend_gets_its_own_placeholders() {
        assert!(report_sql(Grouping::Severity, Backend::Postgres).contains("sr.partner_id = $1"));
        assert!(report_sql(Grouping::Severity, Backend::Sqlite).contains("due < ?4"));
        assert!(!report_sql(Grouping::Period(Period::Week), Backend::Sqlite).contains('{'));
    }
}
