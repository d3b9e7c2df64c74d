-- SQLite dialect of migrations/postgres/<same name>: only the event id column differs.
-- The partner-support data model. Ids are text (UUIDs) and enums are text with CHECK
-- constraints, so one portable diesel schema serves PostgreSQL and SQLite alike.
-- Timestamps are UTC `TIMESTAMP` (no zone): the application never stores local time.

CREATE TABLE partners (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                        TEXT NOT NULL CHECK (kind IN ('DIRECT', 'INDIRECT_PROVIDER', 'INDIRECT_RESELLER')),
    provider_id                 TEXT REFERENCES partners (id),
    cloud                       TEXT NOT NULL CHECK (cloud IN ('COMMERCIAL', 'US_GOVERNMENT')),
    has_asfp                    BOOLEAN NOT NULL DEFAULT FALSE,
    has_premier                 BOOLEAN NOT NULL DEFAULT FALSE,
    has_azure_support_plan      BOOLEAN NOT NULL DEFAULT FALSE,
    has_signature_cloud_support BOOLEAN NOT NULL DEFAULT FALSE,
    mpn_contract_id             TEXT,
    support_contact_name        TEXT NOT NULL,
    support_contact_email       TEXT NOT NULL,
    support_contact_phone       TEXT,
    created_at                  TIMESTAMP NOT NULL,
    deleted_at                  TIMESTAMP,
    -- A reseller always names its indirect provider; nobody else has one.
    CHECK ((kind = 'INDIRECT_RESELLER') = (provider_id IS NOT NULL))
);
CREATE INDEX partners_provider_id_idx ON partners (provider_id);

CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    partner_id   TEXT NOT NULL REFERENCES partners (id),
    email        TEXT NOT NULL UNIQUE CHECK (email LIKE '%_@_%'),
    display_name TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('ADMIN_AGENT', 'HELPDESK_AGENT', 'SALES_AGENT', 'BILLING_ADMIN', 'GLOBAL_ADMIN')),
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX agents_partner_id_idx ON agents (partner_id);

CREATE TABLE business_calendars (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    time_zone TEXT NOT NULL
);

-- Weekly working hours: one row per working interval, minutes from local midnight.
CREATE TABLE business_calendar_hours (
    calendar_id  TEXT NOT NULL REFERENCES business_calendars (id) ON DELETE CASCADE,
    weekday      BIGINT NOT NULL CHECK (weekday BETWEEN 0 AND 6), -- 0 = Monday
    start_minute BIGINT NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute   BIGINT NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    CHECK (start_minute < end_minute),
    PRIMARY KEY (calendar_id, weekday, start_minute)
);

CREATE TABLE business_calendar_holidays (
    calendar_id TEXT NOT NULL REFERENCES business_calendars (id) ON DELETE CASCADE,
    day         DATE NOT NULL,
    name        TEXT NOT NULL,
    PRIMARY KEY (calendar_id, day)
);

CREATE TABLE customers (
    id                   TEXT PRIMARY KEY,
    partner_id           TEXT NOT NULL REFERENCES partners (id),
    provider_id          TEXT REFERENCES partners (id),
    company_name         TEXT NOT NULL CHECK (length(company_name) BETWEEN 1 AND 200),
    primary_domain       TEXT NOT NULL UNIQUE,
    tenant_id            TEXT NOT NULL UNIQUE,
    country              TEXT NOT NULL CHECK (length(country) = 2),
    time_zone            TEXT NOT NULL,
    language             TEXT NOT NULL,
    cloud                TEXT NOT NULL CHECK (cloud IN ('COMMERCIAL', 'US_GOVERNMENT')),
    calendar_id          TEXT NOT NULL REFERENCES business_calendars (id),
    relationship         TEXT NOT NULL CHECK (relationship IN ('RESELLER', 'INDIRECT_RESELLER', 'ADVISOR')),
    delegated_admin      BOOLEAN NOT NULL,
    azure_access_granted BOOLEAN NOT NULL,
    created_at           TIMESTAMP NOT NULL,
    -- Customers of an indirect reseller carry the provider that may see them and grants R4 access.
    CHECK ((relationship = 'INDIRECT_RESELLER') = (provider_id IS NOT NULL))
);
CREATE INDEX customers_partner_id_idx ON customers (partner_id, company_name);
CREATE INDEX customers_provider_id_idx ON customers (provider_id);
CREATE INDEX customers_calendar_id_idx ON customers (calendar_id);

CREATE TABLE customer_domains (
    domain      TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    is_primary  BOOLEAN NOT NULL
);
CREATE INDEX customer_domains_customer_id_idx ON customer_domains (customer_id);
-- At most one primary domain per customer.
CREATE UNIQUE INDEX customer_domains_one_primary ON customer_domains (customer_id) WHERE is_primary;

CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    partner_id            TEXT NOT NULL REFERENCES partners (id),
    provider_id           TEXT REFERENCES partners (id),
    customer_id           TEXT REFERENCES customers (id),
    owner                 TEXT NOT NULL CHECK (owner IN ('CUSTOMER', 'PARTNER')),
    product_family        TEXT NOT NULL CHECK (product_family IN ('AZURE', 'MICROSOFT_365', 'DYNAMICS_365', 'ENTERPRISE_MOBILITY_SUITE')),
    offer_name            TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('ACTIVE', 'SUSPENDED', 'DELETED', 'EXPIRED', 'PENDING')),
    billing_cycle         TEXT NOT NULL CHECK (billing_cycle IN ('MONTHLY', 'ANNUAL', 'NONE')),
    quantity              BIGINT NOT NULL CHECK (quantity > 0),
    is_trial              BOOLEAN NOT NULL,
    azure_subscription_id TEXT UNIQUE,
    created_at            TIMESTAMP NOT NULL,
    CHECK ((owner = 'CUSTOMER') = (customer_id IS NOT NULL)),
    CHECK ((product_family = 'AZURE') = (azure_subscription_id IS NOT NULL))
);
CREATE INDEX subscriptions_customer_id_idx ON subscriptions (customer_id);
CREATE INDEX subscriptions_partner_id_idx ON subscriptions (partner_id);
CREATE INDEX subscriptions_provider_id_idx ON subscriptions (provider_id);

CREATE TABLE marketplace_products (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    publisher_name TEXT NOT NULL,
    summary        TEXT NOT NULL,
    support_url    TEXT,
    support_email  TEXT,
    support_phone  TEXT
);

CREATE TABLE customer_marketplace_products (
    customer_id            TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    marketplace_product_id TEXT NOT NULL REFERENCES marketplace_products (id),
    deployed_at            TIMESTAMP NOT NULL,
    PRIMARY KEY (customer_id, marketplace_product_id)
);
CREATE INDEX customer_marketplace_products_product_idx ON customer_marketplace_products (marketplace_product_id);

CREATE TABLE support_topics (
    id             TEXT PRIMARY KEY,
    product_family TEXT NOT NULL CHECK (product_family IN ('AZURE', 'MICROSOFT_365', 'DYNAMICS_365', 'ENTERPRISE_MOBILITY_SUITE')),
    category       TEXT NOT NULL,
    name           TEXT NOT NULL,
    UNIQUE (product_family, category, name)
);

CREATE TABLE service_requests (
    id                  TEXT PRIMARY KEY,
    partner_id          TEXT NOT NULL REFERENCES partners (id),
    customer_id         TEXT REFERENCES customers (id),
    subscription_id     TEXT REFERENCES subscriptions (id),
    product_family      TEXT NOT NULL CHECK (product_family IN ('AZURE', 'MICROSOFT_365', 'DYNAMICS_365', 'ENTERPRISE_MOBILITY_SUITE')),
    incident_kind       TEXT NOT NULL CHECK (incident_kind IN ('TECHNICAL_BREAK_FIX', 'NON_BREAK_FIX', 'BILLING', 'BILLING_DISPUTE', 'FRAUD_CONCERN', 'SUBSCRIPTION_MANAGEMENT')),
    business_impact     TEXT NOT NULL CHECK (business_impact IN ('CRITICAL', 'MODERATE', 'MINIMAL')),
    severity            TEXT NOT NULL CHECK (severity IN ('A', 'B', 'C')),
    title               TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description         TEXT NOT NULL CHECK (length(description) <= 20000),
    support_topic_id    TEXT REFERENCES support_topics (id),
    support_plan        TEXT NOT NULL CHECK (support_plan IN ('CLOUD_SOLUTION_PROVIDER', 'MPN_CONTRACT', 'PREMIER', 'AZURE_SUPPORT_PLAN')),
    entitlement_ref     TEXT,
    fee_coverage        TEXT NOT NULL CHECK (fee_coverage IN ('NO_FEE', 'CSP_BENEFIT', 'SIGNATURE_CLOUD_SUPPORT', 'MPN_BENEFIT', 'PREMIER', 'AZURE_SUPPORT_PLAN')),
    route               TEXT NOT NULL CHECK (route IN ('AZURE_PORTAL', 'MICROSOFT_365_ADMIN_CENTER')),
    portal_url          TEXT NOT NULL,
    contact_name        TEXT NOT NULL,
    contact_email       TEXT NOT NULL,
    contact_phone       TEXT,
    support_language    TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('NEW', 'OPEN', 'IN_PROGRESS', 'WAITING_ON_PARTNER', 'RESOLVED', 'CLOSED')),
    calendar_id         TEXT NOT NULL REFERENCES business_calendars (id),
    sla_clock           TEXT NOT NULL CHECK (sla_clock IN ('TWENTY_FOUR_SEVEN', 'BUSINESS_HOURS')),
    sla_target_minutes  BIGINT NOT NULL CHECK (sla_target_minutes > 0),
    sla_due_at          TIMESTAMP NOT NULL,
    sla_at_risk_at      TIMESTAMP NOT NULL,
    first_response_at   TIMESTAMP,
    created_by_agent_id TEXT NOT NULL REFERENCES agents (id),
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    closed_at           TIMESTAMP,
    version             BIGINT NOT NULL DEFAULT 1,
    CHECK (sla_at_risk_at <= sla_due_at AND created_at <= sla_at_risk_at)
);
CREATE INDEX service_requests_partner_created_idx ON service_requests (partner_id, created_at, id);
CREATE INDEX service_requests_partner_due_idx ON service_requests (partner_id, sla_due_at, id);
CREATE INDEX service_requests_customer_id_idx ON service_requests (customer_id);
CREATE INDEX service_requests_subscription_id_idx ON service_requests (subscription_id);
CREATE INDEX service_requests_support_topic_id_idx ON service_requests (support_topic_id);
CREATE INDEX service_requests_calendar_id_idx ON service_requests (calendar_id);
CREATE INDEX service_requests_created_by_idx ON service_requests (created_by_agent_id);

-- A retried createServiceRequest finds its first result by (partner, key); the hash of the
-- input tells a true retry from a different request reusing the key.
CREATE TABLE idempotency_keys (
    partner_id         TEXT NOT NULL REFERENCES partners (id),
    key                TEXT NOT NULL,
    request_hash       TEXT NOT NULL,
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    created_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (partner_id, key)
);
CREATE INDEX idempotency_keys_request_idx ON idempotency_keys (service_request_id);

-- Notes are append-only: nothing updates or deletes them.
CREATE TABLE service_request_notes (
    id                 TEXT PRIMARY KEY,
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    author_kind        TEXT NOT NULL CHECK (author_kind IN ('PARTNER', 'SUPPORT')),
    agent_id           TEXT REFERENCES agents (id),
    body               TEXT NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    created_at         TIMESTAMP NOT NULL,
    CHECK ((author_kind = 'PARTNER') = (agent_id IS NOT NULL))
);
CREATE INDEX service_request_notes_request_idx ON service_request_notes (service_request_id, created_at);
CREATE INDEX service_request_notes_agent_idx ON service_request_notes (agent_id);

CREATE TABLE service_request_history (
    id                 TEXT PRIMARY KEY,
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    agent_id           TEXT REFERENCES agents (id),
    kind               TEXT NOT NULL CHECK (kind IN ('CREATED', 'STATUS_CHANGED', 'SEVERITY_CHANGED', 'NOTE_ADDED', 'SUPPORT_RESPONDED', 'SLA_STATE_CHANGED')),
    from_value         TEXT,
    to_value           TEXT,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX service_request_history_request_idx ON service_request_history (service_request_id, created_at);
CREATE INDEX service_request_history_agent_idx ON service_request_history (agent_id);

-- The durable event log: written in the mutation's transaction, read by subscribers and by
-- replicas catching up after a dropped LISTEN connection.
CREATE TABLE events (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    partner_id         TEXT NOT NULL REFERENCES partners (id),
    service_request_id TEXT REFERENCES service_requests (id),
    kind               TEXT NOT NULL,
    payload            TEXT NOT NULL,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX events_partner_id_idx ON events (partner_id, id);
CREATE INDEX events_service_request_id_idx ON events (service_request_id);
