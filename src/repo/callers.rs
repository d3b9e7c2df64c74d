//! Who is asking: the agent a token names and its partner. Unscoped by nature: this is how the
//! scope of every other query is found.

use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;

use super::lower;
use crate::db::Db;
use crate::db::models::*;
use crate::db::schema::*;
use crate::db::sql::row_columns;
use crate::error::AppResult;
use crate::with_conn;

/// The agent and its partner, for who a verified token speaks for. Deleted partners' agents
/// are unknown.
pub async fn caller_rows(db: &Db, identity: &crate::auth::Identity) -> AppResult<Option<(AgentRow, PartnerRow)>> {
    let (by_id, by_identity) = match identity {
        crate::auth::Identity::Agent(id) => (Some(id.as_str()), None),
        crate::auth::Identity::Mapped { value, .. } => (None, Some(value.as_str())),
    };
    Ok(with_conn!(db, |conn, DB| {
        let mut q = agents::table.inner_join(partners::table).into_boxed::<DB>();
        if let Some(id) = by_id {
            q = q.filter(agents::id.eq(id));
        }
        if let Some(value) = by_identity {
            q = q.filter(agents::identity.eq(value));
        }
        q.filter(partners::deleted_at.is_null())
            .select((row_columns::<AgentRow, _>(), row_columns::<PartnerRow, _>()))
            .first(conn)
            .await
            .optional()?
    }))
}

pub async fn agent_by_email(db: &Db, email: &str) -> AppResult<Option<AgentRow>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(email.to_lowercase()))
            .select(row_columns::<AgentRow, _>())
            .first(conn)
            .await
            .optional()?
    }))
}

/// The agent with this e-mail (any case) or id.
pub async fn agent_by_email_or_id(db: &Db, agent: &str) -> AppResult<Option<AgentRow>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(agent.to_lowercase()).or(agents::id.eq(agent)))
            .select(row_columns::<AgentRow, _>())
            .first(conn)
            .await
            .optional()?
    }))
}

/// The partner of the agent with this e-mail (any case) or id.
pub async fn partner_of_agent(db: &Db, agent: &str) -> AppResult<Option<String>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .filter(lower(agents::email).eq(agent.to_lowercase()).or(agents::id.eq(agent)))
            .select(agents::partner_id)
            .first(conn)
            .await
            .optional()?
    }))
}

/// Every agent with its partner's name, for the README and `token` help.
pub async fn all_agents(db: &Db) -> AppResult<Vec<(AgentRow, String)>> {
    Ok(with_conn!(db, |conn| {
        agents::table
            .inner_join(partners::table)
            .order(agents::email)
            .select((row_columns::<AgentRow, _>(), partners::name))
            .load(conn)
            .await?
    }))
}
