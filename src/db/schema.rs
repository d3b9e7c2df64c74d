//! The one portable diesel schema for both backends (see `migrations/`).
//!
//! Only types that mean the same on PostgreSQL and SQLite appear here: `Text` for ids and
//! enums, `Timestamp` (always UTC), `Date`, `Bool` and `BigInt`.

crate::table! {
    partners (id) {
        id -> Text,
        name -> Text,
        kind -> Text,
        provider_id -> Nullable<Text>,
        cloud -> Text,
        has_asfp -> Bool,
        has_premier -> Bool,
        has_azure_support_plan -> Bool,
        has_signature_cloud_support -> Bool,
        mpn_contract_id -> Nullable<Text>,
        support_contact_name -> Text,
        support_contact_email -> Text,
        support_contact_phone -> Nullable<Text>,
        created_at -> Timestamp,
        deleted_at -> Nullable<Timestamp>,
        calendar_id -> Nullable<Text>,
    }
}

crate::table! {
    partner_domains (domain) {
        domain -> Text,
        partner_id -> Text,
    }
}

crate::table! {
    agents (id) {
        id -> Text,
        partner_id -> Text,
        email -> Text,
        display_name -> Text,
        role -> Text,
        created_at -> Timestamp,
        identity -> Nullable<Text>,
        disabled_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    business_calendars (id) {
        id -> Text,
        code -> Text,
        time_zone -> Text,
        name -> Text,
        partner_id -> Nullable<Text>,
        version -> BigInt,
    }
}

crate::table! {
    business_calendar_hours (calendar_id, weekday, start_minute) {
        calendar_id -> Text,
        weekday -> BigInt,
        start_minute -> BigInt,
        end_minute -> BigInt,
    }
}

crate::table! {
    business_calendar_holidays (calendar_id, day) {
        calendar_id -> Text,
        day -> Date,
        name -> Text,
    }
}

crate::table! {
    customers (id) {
        id -> Text,
        partner_id -> Text,
        provider_id -> Nullable<Text>,
        company_name -> Text,
        primary_domain -> Text,
        tenant_id -> Text,
        country -> Text,
        time_zone -> Text,
        language -> Text,
        cloud -> Text,
        calendar_id -> Text,
        relationship -> Text,
        delegated_admin -> Bool,
        azure_access_granted -> Bool,
        created_at -> Timestamp,
        source -> Text,
        upstream_id -> Nullable<Text>,
        synced_at -> Nullable<Timestamp>,
        relationship_ended_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    customer_domains (domain) {
        domain -> Text,
        customer_id -> Text,
        is_primary -> Bool,
    }
}

crate::table! {
    subscriptions (id) {
        id -> Text,
        partner_id -> Text,
        provider_id -> Nullable<Text>,
        customer_id -> Nullable<Text>,
        owner -> Text,
        product_family -> Text,
        offer_name -> Text,
        status -> Text,
        billing_cycle -> Text,
        quantity -> BigInt,
        is_trial -> Bool,
        azure_subscription_id -> Nullable<Text>,
        created_at -> Timestamp,
        source -> Text,
        upstream_id -> Nullable<Text>,
        synced_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    marketplace_products (id) {
        id -> Text,
        name -> Text,
        publisher_name -> Text,
        summary -> Text,
        support_url -> Nullable<Text>,
        support_email -> Nullable<Text>,
        support_phone -> Nullable<Text>,
        partner_id -> Nullable<Text>,
    }
}

crate::table! {
    customer_marketplace_products (customer_id, marketplace_product_id) {
        customer_id -> Text,
        marketplace_product_id -> Text,
        deployed_at -> Timestamp,
    }
}

crate::table! {
    support_topics (id) {
        id -> Text,
        product_family -> Text,
        category -> Text,
        name -> Text,
        source -> Text,
        upstream_id -> Nullable<Text>,
        synced_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    service_requests (id) {
        id -> Text,
        partner_id -> Text,
        customer_id -> Nullable<Text>,
        subscription_id -> Nullable<Text>,
        product_family -> Text,
        incident_kind -> Text,
        business_impact -> Text,
        severity -> Text,
        title -> Text,
        description -> Text,
        support_topic_id -> Nullable<Text>,
        support_plan -> Text,
        entitlement_ref -> Nullable<Text>,
        fee_coverage -> Text,
        route -> Text,
        portal_url -> Text,
        contact_name -> Text,
        contact_email -> Text,
        contact_phone -> Nullable<Text>,
        support_language -> Text,
        status -> Text,
        calendar_id -> Text,
        sla_clock -> Text,
        sla_target_minutes -> BigInt,
        sla_due_at -> Timestamp,
        sla_at_risk_at -> Timestamp,
        first_response_at -> Nullable<Timestamp>,
        created_by_agent_id -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        version -> BigInt,
        sla_state -> Text,
        sla_stopped_at -> Nullable<Timestamp>,
        first_response_source -> Nullable<Text>,
        first_response_entered_at -> Nullable<Timestamp>,
        first_response_agent_id -> Nullable<Text>,
        source -> Text,
        upstream_id -> Nullable<Text>,
        synced_at -> Nullable<Timestamp>,
        upstream_state -> Nullable<Text>,
        upstream_error -> Nullable<Text>,
    }
}

crate::table! {
    idempotency_keys (partner_id, key) {
        partner_id -> Text,
        key -> Text,
        request_hash -> Text,
        service_request_id -> Text,
        created_at -> Timestamp,
    }
}

crate::table! {
    service_request_notes (id) {
        id -> Text,
        service_request_id -> Text,
        author_kind -> Text,
        agent_id -> Nullable<Text>,
        body -> Text,
        created_at -> Timestamp,
        upstream_key -> Nullable<Text>,
    }
}

crate::table! {
    service_request_history (id) {
        id -> Text,
        service_request_id -> Text,
        agent_id -> Nullable<Text>,
        kind -> Text,
        from_value -> Nullable<Text>,
        to_value -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

crate::table! {
    sync_state (partner_id, source, resource) {
        partner_id -> Text,
        source -> Text,
        resource -> Text,
        cursor -> Nullable<Text>,
        pass_started_at -> Nullable<Timestamp>,
        pass_objects -> BigInt,
        last_started_at -> Nullable<Timestamp>,
        last_finished_at -> Nullable<Timestamp>,
        last_objects -> BigInt,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    upstream_outbox (id) {
        id -> Text,
        partner_id -> Text,
        service_request_id -> Text,
        kind -> Text,
        request_key -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        done_at -> Nullable<Timestamp>,
        note_id -> Nullable<Text>,
    }
}

crate::table! {
    admin_changes (id) {
        id -> Text,
        partner_id -> Text,
        agent_id -> Nullable<Text>,
        subject -> Text,
        subject_id -> Text,
        action -> Text,
        detail -> Text,
        created_at -> Timestamp,
    }
}

crate::table! {
    webhook_endpoints (id) {
        id -> Text,
        partner_id -> Text,
        url -> Text,
        description -> Text,
        event_kinds -> Text,
        secret -> Text,
        enabled -> Bool,
        after_event_id -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        removed_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        event_id -> BigInt,
        service_request_id -> Nullable<Text>,
        event_kind -> Text,
        body -> Text,
        state -> Text,
        attempts -> BigInt,
        next_attempt_at -> Timestamp,
        leased_until -> Nullable<Timestamp>,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        last_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

crate::table! {
    webhook_fanout (id) {
        id -> Integer,
        after_event_id -> BigInt,
    }
}

crate::table! {
    events (id) {
        id -> BigInt,
        partner_id -> Text,
        service_request_id -> Nullable<Text>,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(agents -> partners (partner_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(customers -> business_calendars (calendar_id));
diesel::joinable!(customer_domains -> customers (customer_id));
diesel::joinable!(subscriptions -> customers (customer_id));
diesel::joinable!(customer_marketplace_products -> customers (customer_id));
diesel::joinable!(customer_marketplace_products -> marketplace_products (marketplace_product_id));
diesel::joinable!(service_requests -> subscriptions (subscription_id));
diesel::joinable!(service_request_notes -> service_requests (service_request_id));
diesel::joinable!(service_request_history -> service_requests (service_request_id));
diesel::joinable!(business_calendar_hours -> business_calendars (calendar_id));
diesel::joinable!(business_calendar_holidays -> business_calendars (calendar_id));

diesel::allow_tables_to_appear_in_same_query!(
    partners,
    admin_changes,
    agents,
    webhook_endpoints,
    webhook_deliveries,
    webhook_fanout,
    business_calendars,
    business_calendar_hours,
    business_calendar_holidays,
    customers,
    customer_domains,
    subscriptions,
    marketplace_products,
    customer_marketplace_products,
    support_topics,
    service_requests,
    idempotency_keys,
    service_request_notes,
    service_request_history,
    events,
    sync_state,
    upstream_outbox,
);

diesel::allow_tables_to_appear_in_same_query!(partner_domains, agents);

/// The indexes batched statements name on SQLite (`crate::db::sql::indexed_by`). A table's
/// primary key is SQLite's `sqlite_autoindex_<table>_1`; the others are the migrations'.
pub mod indexes {
    macro_rules! indexes {
        ($($(#[$doc:meta])* $marker:ident = $name:literal,)*) => {$(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy)]
            pub struct $marker;
            impl crate::db::sql::IndexName for $marker {
                const NAME: &'static str = $name;
            }
        )*};
    }

    indexes! {
        AgentsPk = "sqlite_autoindex_agents_1",
        PartnersPk = "sqlite_autoindex_partners_1",
        CustomersPk = "sqlite_autoindex_customers_1",
        CustomerDomainsByCustomer = "customer_domains_customer_id_idx",
        /// (customer_id, marketplace_product_id).
        CustomerProductsPk = "sqlite_autoindex_customer_marketplace_products_1",
        CustomerProductsByProduct = "customer_marketplace_products_product_idx",
        MarketplaceProductsPk = "sqlite_autoindex_marketplace_products_1",
        SubscriptionsPk = "sqlite_autoindex_subscriptions_1",
        /// (customer_id, created_at, id): migration 000005.
        SubscriptionsByCustomer = "subscriptions_customer_created_idx",
        ServiceRequestsPk = "sqlite_autoindex_service_requests_1",
        /// (customer_id, created_at, id): migration 000005.
        ServiceRequestsByCustomer = "service_requests_customer_created_idx",
        /// (subscription_id, created_at, id): migration 000005.
        ServiceRequestsBySubscription = "service_requests_subscription_created_idx",
        NotesByRequest = "service_request_notes_request_idx",
        HistoryByRequest = "service_request_history_request_idx",
    }
}
