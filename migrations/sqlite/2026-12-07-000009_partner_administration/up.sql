-- Signing in through an identity provider: the value of the claim the gateway maps tokens by
-- (SG_IDENTITY_CLAIM: `oid`, `email`, `preferred_username` ...), kept in lower case. An
-- identity names one agent at most.
ALTER TABLE agents ADD COLUMN identity TEXT;
CREATE UNIQUE INDEX agents_identity_idx ON agents (identity);
-- A removed agent keeps its row (requests and history name it) but can no longer sign in.
ALTER TABLE agents ADD COLUMN disabled_at TIMESTAMP;

-- Products a partner maintains itself (created by its admins or imported), visible to it
-- alone. NULL: the public catalogue every partner sees, which no partner can change.
-- (No REFERENCES here: SQLite cannot drop a column that has one, and `down.sql` must.)
ALTER TABLE marketplace_products ADD COLUMN partner_id TEXT;
CREATE INDEX marketplace_products_partner_idx ON marketplace_products (partner_id);

-- Every change to what a partner maintains itself: agents and roles, its domains, its support
-- agreements, its products, calendars and imports. `agent_id` is NULL for the `import`
-- command; `detail` is JSON, the fields as they became.
CREATE TABLE admin_changes (
    id         TEXT PRIMARY KEY,
    partner_id TEXT NOT NULL REFERENCES partners (id),
    agent_id   TEXT REFERENCES agents (id),
    subject    TEXT NOT NULL CHECK (subject IN ('AGENT', 'PARTNER_DOMAIN', 'SUPPORT_AGREEMENTS',
                   'MARKETPLACE_PRODUCT', 'BUSINESS_CALENDAR', 'CUSTOMER', 'SUBSCRIPTION')),
    subject_id TEXT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('CREATED', 'UPDATED', 'REMOVED', 'IMPORTED')),
    detail     TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX admin_changes_partner_idx ON admin_changes (partner_id, created_at, id);

-- Notes added here go to Microsoft too: an outbox entry of kind NOTE carries the note. SQLite
-- cannot change a CHECK constraint, so the table is rebuilt.
CREATE TABLE upstream_outbox_next (
    id                 TEXT PRIMARY KEY,
    partner_id         TEXT NOT NULL REFERENCES partners (id),
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    kind               TEXT NOT NULL CHECK (kind IN ('FILE', 'NOTE')),
    request_key        TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('PENDING', 'DONE', 'REJECTED')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMP NOT NULL,
    last_error         TEXT,
    created_at         TIMESTAMP NOT NULL,
    done_at            TIMESTAMP,
    note_id            TEXT REFERENCES service_request_notes (id)
);
INSERT INTO upstream_outbox_next (id, partner_id, service_request_id, kind, request_key, state, attempts,
    next_attempt_at, last_error, created_at, done_at)
SELECT id, partner_id, service_request_id, kind, request_key, state, attempts, next_attempt_at, last_error,
    created_at, done_at FROM upstream_outbox;
DROP TABLE upstream_outbox;
ALTER TABLE upstream_outbox_next RENAME TO upstream_outbox;
CREATE INDEX upstream_outbox_due_idx ON upstream_outbox (partner_id, state, next_attempt_at);
CREATE INDEX upstream_outbox_request_idx ON upstream_outbox (service_request_id);

-- Sync finds requests by Microsoft's case number whatever their source (a request filed here
-- keeps source LOCAL once Microsoft numbers it). Customers' tenants are unique, so indexed.
CREATE INDEX service_requests_upstream_any_idx ON service_requests (partner_id, upstream_id);
