//! Many rows of one table in few statements: multi-row `INSERT`s on PostgreSQL, where every
//! statement is a round trip; one row a statement on SQLite, which runs in the process (and
//! whose diesel backend has no multi-row insert for rows with optional columns).

use diesel_async::RunQueryDsl;

use super::models::{
    CustomerDomainRow, CustomerRow, HistoryRow, NewEventRow, NoteRow, ServiceRequestRow, SubscriptionRow,
    WebhookDeliveryRow,
};
use super::schema::{
    customer_domains, customers, events, service_request_history, service_request_notes, service_requests,
    subscriptions, webhook_deliveries,
};

/// Inserts rows of one kind, as the connection's backend does it best.
pub trait InsertMany<R> {
    fn insert_many(&mut self, rows: &[R]) -> impl Future<Output = diesel::QueryResult<()>> + Send;
}

/// Rows per statement on PostgreSQL: under its 65,535 bind parameters for the widest row
/// (`service_requests`, about 50 columns).
const ROWS_PER_STATEMENT: usize = 500;

macro_rules! insert_many {
    ($($row:ty => $table:path),* $(,)?) => { $(
        #[cfg(feature = "postgres")]
        impl InsertMany<$row> for super::PgConn {
            async fn insert_many(&mut self, rows: &[$row]) -> diesel::QueryResult<()> {
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    diesel::insert_into($table).values(chunk).execute(self).await?;
                }
                Ok(())
            }
        }

        #[cfg(feature = "sqlite")]
        impl InsertMany<$row> for super::SqliteConn {
            async fn insert_many(&mut self, rows: &[$row]) -> diesel::QueryResult<()> {
                for row in rows {
                    diesel::insert_into($table).values(row).execute(self).await?;
                }
                Ok(())
            }
        }
    )* };
}

insert_many!(
    CustomerRow => customers::table,
    SubscriptionRow => subscriptions::table,
    ServiceRequestRow => service_requests::table,
    NoteRow => service_request_notes::table,
    HistoryRow => service_request_history::table,
    NewEventRow => events::table,
);

/// Rows that may exist already (a customer's domain another customer claimed first; a
/// delivery another replica queued first): those are kept as they are.
macro_rules! insert_many_ignoring_existing {
    ($($row:ty => $table:path),* $(,)?) => { $(
        #[cfg(feature = "postgres")]
        impl InsertMany<$row> for super::PgConn {
            async fn insert_many(&mut self, rows: &[$row]) -> diesel::QueryResult<()> {
                for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                    diesel::insert_into($table).values(chunk).on_conflict_do_nothing().execute(self).await?;
                }
                Ok(())
            }
        }

        #[cfg(feature = "sqlite")]
        impl InsertMany<$row> for super::SqliteConn {
            async fn insert_many(&mut self, rows: &[$row]) -> diesel::QueryResult<()> {
                for row in rows {
                    diesel::insert_into($table).values(row).on_conflict_do_nothing().execute(self).await?;
                }
                Ok(())
            }
        }
    )* };
}

insert_many_ignoring_existing!(
    CustomerDomainRow => customer_domains::table,
    WebhookDeliveryRow => webhook_deliveries::table,
);
