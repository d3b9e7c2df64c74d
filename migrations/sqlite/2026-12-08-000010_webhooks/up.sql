-- Outbound webhooks: endpoints a partner's admins register, and one delivery per event and
-- endpoint, kept as a durable queue and as the endpoint's delivery log.
CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    partner_id    TEXT NOT NULL REFERENCES partners (id),
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    -- The event kinds it receives, comma-separated (ServiceRequestEventKind names).
    event_kinds   TEXT NOT NULL,
    -- Signs every payload (HMAC-SHA256); shown once, when created or rotated.
    secret        TEXT NOT NULL,
    enabled       BOOLEAN NOT NULL,
    -- Only events after this one are delivered (the newest event when it was created).
    after_event_id BIGINT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    removed_at    TIMESTAMP
);
CREATE INDEX webhook_endpoints_partner_idx ON webhook_endpoints (partner_id, created_at);

CREATE TABLE webhook_deliveries (
    id                 TEXT PRIMARY KEY,
    endpoint_id        TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_id           BIGINT NOT NULL,
    service_request_id TEXT,
    event_kind         TEXT NOT NULL,
    -- The body as sent (and signed) on every attempt.
    body               TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts           BIGINT NOT NULL,
    next_attempt_at    TIMESTAMP NOT NULL,
    -- Set while one replica sends it; another may take it over once this has passed.
    leased_until       TIMESTAMP,
    last_status        INTEGER,
    last_error         TEXT,
    last_attempt_at    TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    delivered_at       TIMESTAMP,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (endpoint_id, event_id);

-- How far the event log has been turned into deliveries (one row).
CREATE TABLE webhook_fanout (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    after_event_id BIGINT NOT NULL
);
INSERT INTO webhook_fanout (id, after_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events;

-- SQLite cannot change a CHECK constraint, so admin_changes is rebuilt.
CREATE TABLE admin_changes_next (
    id         TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    agent_id   TEXT REFERENCES agents (id),
    subject    TEXT NOT NULL CHECK (subject IN ('AGENT', 'PARTNER_DOMAIN', 'SUPPORT_AGREEMENTS',
                   'MARKETPLACE_PRODUCT', 'BUSINESS_CALENDAR', 'CUSTOMER', 'SUBSCRIPTION', 'WEBHOOK_ENDPOINT')),
    subject_id TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('CREATED', 'UPDATED', 'REMOVED', 'IMPORTED')),
    detail     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO admin_changes_next SELECT id, partner_id, agent_id, subject, subject_id, action, detail, created_at
FROM admin_changes;
DROP TABLE admin_changes;
ALTER TABLE admin_changes_next RENAME TO admin_changes;
CREATE INDEX admin_changes_partner_idx ON admin_changes (partner_id, created_at, id);
