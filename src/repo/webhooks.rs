//! The partner's webhook endpoints (admins) and their delivery logs. Every change is one
//! transaction with its entry in `admin_changes`; the secret never enters that history.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde_json::json;

use super::Repo;
use super::admin::{audit, change_row};
use crate::auth::Caller;
use crate::db::models::{WebhookDeliveryRow, WebhookEndpointRow};
use crate::db::schema::{admin_changes, events, webhook_deliveries, webhook_endpoints};
use crate::domain::admin::{self, AdminAction, AdminSubject};
use crate::domain::model::EventKind;
use crate::domain::webhooks;
use crate::error::{AppError, AppResult};
use crate::transaction;
use crate::with_conn;

/// What an admin gives for an endpoint; `None` keeps the current value on update.
#[derive(Debug, Default)]
pub struct EndpointDraft {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_kinds: Option<Vec<EventKind>>,
    pub enabled: Option<bool>,
}

/// The kinds an endpoint gets when none are named: every event about a request.
pub fn default_kinds() -> Vec<EventKind> {
    EventKind::ALL.iter().copied().filter(|k| k.is_about_a_request()).collect()
}

pub fn kinds_of(row: &WebhookEndpointRow) -> Vec<EventKind> {
    row.event_kinds.split(',').filter_map(|k| k.parse().ok()).collect()
}

fn join_kinds(kinds: &[EventKind]) -> String {
    let mut names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(",")
}

/// The history entry's fields: everything but the secret.
fn detail(row: &WebhookEndpointRow) -> serde_json::Value {
    json!({ "url": row.url, "description": row.description, "eventKinds": row.event_kinds, "enabled": row.enabled })
}

fn check(draft: &EndpointDraft, production: bool) -> AppResult<()> {
    if let Some(url) = &draft.url {
        webhooks::check_url(url, production).map_err(AppError::bad_input)?;
    }
    if let Some(d) = &draft.description
        && (d.chars().count() > webhooks::MAX_DESCRIPTION || d.chars().any(char::is_control))
    {
        return Err(AppError::bad_input(format!(
            "`description` is at most {} characters, without control characters",
            webhooks::MAX_DESCRIPTION
        )));
    }
    if let Some(kinds) = &draft.event_kinds {
        if kinds.is_empty() {
            return Err(AppError::bad_input("`eventKinds` names at least one kind (or leave it out for all)"));
        }
        if let Some(k) = kinds.iter().find(|k| !k.is_about_a_request()) {
            return Err(AppError::bad_input(format!(
                "`{}` is not about a request: webhooks carry request events",
                k.as_str()
            )));
        }
    }
    Ok(())
}

/// Reads one of the partner's endpoints (not removed) in a transaction, or `NOT_FOUND`.
macro_rules! own_endpoint {
    ($conn:ident, $p:expr, $id:expr) => {
        webhook_endpoints::table
            .find($id)
            .filter(webhook_endpoints::partner_id.eq($p))
            .filter(webhook_endpoints::removed_at.is_null())
            .select(WebhookEndpointRow::as_select())
            .first($conn)
            .await
            .optional()?
            .ok_or_else(|| AppError::NotFound("no such webhook endpoint".into()))?
    };
}

impl Repo {
    /// Registers an endpoint; it receives the events committed from now on.
    pub async fn create_webhook_endpoint(
        &self,
        caller: &Caller,
        draft: &EndpointDraft,
        production: bool,
        now: DateTime<Utc>,
    ) -> AppResult<WebhookEndpointRow> {
        self.require(admin::may_manage_webhooks(caller.role))?;
        check(draft, production)?;
        let url = draft.url.clone().ok_or_else(|| AppError::bad_input("`url` is required"))?;
        let p = self.partner_id.clone();
        transaction!(self.db, |conn| {
            let newest: Option<i64> = events::table.select(diesel::dsl::max(events::id)).first(conn).await?;
            let row = WebhookEndpointRow {
                id: format!("webhook-{}", uuid::Uuid::now_v7()),
                partner_id: p.clone(),
                url: url.clone(),
                description: draft.description.clone().unwrap_or_default(),
                event_kinds: join_kinds(&draft.event_kinds.clone().unwrap_or_else(default_kinds)),
                secret: webhooks::new_secret(),
                enabled: draft.enabled.unwrap_or(true),
                after_event_id: newest.unwrap_or(0),
                created_at: now.naive_utc(),
                updated_at: now.naive_utc(),
                removed_at: None,
            };
            diesel::insert_into(webhook_endpoints::table).values(&row).execute(conn).await?;
            audit!(conn, caller, AdminSubject::WebhookEndpoint, &row.id, AdminAction::Created, detail(&row), now);
            Ok(row)
        })
    }

    /// Changes what is given; `rotate_secret` replaces the signing secret.
    pub async fn update_webhook_endpoint(
        &self,
        caller: &Caller,
        id: &str,
        draft: &EndpointDraft,
        rotate_secret: bool,
        production: bool,
        now: DateTime<Utc>,
    ) -> AppResult<WebhookEndpointRow> {
        self.require(admin::may_manage_webhooks(caller.role))?;
        check(draft, production)?;
        let p = self.partner_id.clone();
        transaction!(self.db, |conn| {
            let mut row: WebhookEndpointRow = own_endpoint!(conn, &p, id);
            if let Some(url) = &draft.url {
                row.url = url.clone();
            }
            if let Some(d) = &draft.description {
                row.description = d.clone();
            }
            if let Some(kinds) = &draft.event_kinds {
                row.event_kinds = join_kinds(kinds);
            }
            if let Some(enabled) = draft.enabled {
                row.enabled = enabled;
            }
            if rotate_secret {
                row.secret = webhooks::new_secret();
            }
            row.updated_at = now.naive_utc();
            diesel::update(webhook_endpoints::table.find(id))
                .set((
                    webhook_endpoints::url.eq(&row.url),
                    webhook_endpoints::description.eq(&row.description),
                    webhook_endpoints::event_kinds.eq(&row.event_kinds),
                    webhook_endpoints::enabled.eq(row.enabled),
                    webhook_endpoints::secret.eq(&row.secret),
                    webhook_endpoints::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await?;
            let mut fields = detail(&row);
            fields["secretRotated"] = json!(rotate_secret);
            audit!(conn, caller, AdminSubject::WebhookEndpoint, id, AdminAction::Updated, fields, now);
            Ok(row)
        })
    }

    /// Removes an endpoint: nothing more is sent to it, and what was waiting is given up.
    pub async fn remove_webhook_endpoint(
        &self,
        caller: &Caller,
        id: &str,
        now: DateTime<Utc>,
    ) -> AppResult<WebhookEndpointRow> {
        self.require(admin::may_manage_webhooks(caller.role))?;
        let p = self.partner_id.clone();
        transaction!(self.db, |conn| {
            let mut row: WebhookEndpointRow = own_endpoint!(conn, &p, id);
            row.removed_at = Some(now.naive_utc());
            row.enabled = false;
            diesel::update(webhook_endpoints::table.find(id))
                .set((webhook_endpoints::removed_at.eq(row.removed_at), webhook_endpoints::enabled.eq(false)))
                .execute(conn)
                .await?;
            diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::endpoint_id.eq(id))
                    .filter(webhook_deliveries::state.eq("PENDING")),
            )
            .set((
                webhook_deliveries::state.eq("FAILED"),
                webhook_deliveries::last_error.eq("the endpoint was removed"),
            ))
            .execute(conn)
            .await?;
            audit!(conn, caller, AdminSubject::WebhookEndpoint, id, AdminAction::Removed, detail(&row), now);
            Ok(row)
        })
    }

    /// The partner's endpoints, oldest first (admins).
    pub async fn webhook_endpoints(&self, caller: &Caller) -> AppResult<Vec<WebhookEndpointRow>> {
        self.require(admin::may_manage_webhooks(caller.role))?;
        Ok(with_conn!(self.db, |conn| {
            webhook_endpoints::table
                .filter(webhook_endpoints::partner_id.eq(&self.partner_id))
                .filter(webhook_endpoints::removed_at.is_null())
                .order((webhook_endpoints::created_at, webhook_endpoints::id))
                .select(WebhookEndpointRow::as_select())
                .load(conn)
                .await?
        }))
    }

    /// An endpoint's deliveries, newest event first; `state` narrows them.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        state: Option<&str>,
        limit: i64,
    ) -> AppResult<Vec<WebhookDeliveryRow>> {
        Ok(with_conn!(self.db, |conn| {
            // The endpoint was read scoped to the partner; its id is enough here.
            let mut q = webhook_deliveries::table.filter(webhook_deliveries::endpoint_id.eq(endpoint_id)).into_boxed();
            if let Some(state) = state {
                q = q.filter(webhook_deliveries::state.eq(state.to_owned()));
            }
            q.order(webhook_deliveries::event_id.desc())
                .limit(limit)
                .select(WebhookDeliveryRow::as_select())
                .load(conn)
                .await?
        }))
    }

    /// How many of an endpoint's deliveries are in each state.
    pub async fn webhook_delivery_counts(&self, endpoint_id: &str) -> AppResult<Vec<(String, i64)>> {
        Ok(with_conn!(self.db, |conn| {
            webhook_deliveries::table
                .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
                .group_by(webhook_deliveries::state)
                .select((webhook_deliveries::state, diesel::dsl::count_star()))
                .load(conn)
                .await?
        }))
    }
}
