//! Work that one replica at a time may do (a sync pass). On PostgreSQL the lease is a session
//! advisory lock on a connection of its own, outside the pool: it is released when the lease is
//! dropped, and by PostgreSQL itself when the holder dies. On SQLite the database belongs to one
//! process, so a lease is taken within the process, per database file.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use super::{Backend, Db};
use crate::error::{AppError, AppResult};

/// Held while the work runs; dropping it lets the next holder in.
pub struct Lease {
    /// The in-process name held (SQLite); empty on PostgreSQL.
    name: String,
    #[cfg(feature = "postgres")]
    _connection: Option<super::PgConn>,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("name", &self.name).finish()
    }
}

fn held() -> &'static Mutex<HashSet<String>> {
    static HELD: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.name.is_empty() {
            held().lock().unwrap_or_else(|e| e.into_inner()).remove(&self.name);
        }
    }
}

/// Takes the lease `name` if nobody holds it, else `None`.
pub async fn try_lock(db: &Db, name: &str) -> AppResult<Option<Lease>> {
    #[cfg(feature = "postgres")]
    if db.backend == Backend::Postgres {
        use diesel::sql_types::{BigInt, Bool};
        use diesel_async::{AsyncConnection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Taken {
            #[diesel(sql_type = Bool)]
            taken: bool,
        }
        let mut conn = super::PgConn::establish(db.url())
            .await
            .map_err(|e| AppError::Unavailable(format!("connecting for a lease: {e}")))?;
        let key = i64::from_be_bytes(
            crate::graphql::documents::sha256_hex(name).as_bytes()[..8].try_into().expect("eight bytes"),
        );
        let row: Taken = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS taken")
            .bind::<BigInt, _>(key)
            .get_result(&mut conn)
            .await?;
        if !row.taken {
            return Ok(None);
        }
        return Ok(Some(Lease { name: String::new(), _connection: Some(conn) }));
    }
    // Per database file: one process may hold several (tests do).
    let name = format!("{}#{name}", db.url());
    if !held().lock().unwrap_or_else(|e| e.into_inner()).insert(name.clone()) {
        return Ok(None);
    }
    Ok(Some(Lease {
        name,
        #[cfg(feature = "postgres")]
        _connection: None,
    }))
}
