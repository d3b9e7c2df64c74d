-- Signing in through an identity provider: the value of the claim the gateway maps tokens by
-- (SG_IDENTITY_CLAIM: `oid`, `email`, `preferred_username` ...), kept in lower case. An
-- identity names one agent at most.
ALTER TABLE agents ADD COLUMN identity TEXT;
CREATE UNIQUE INDEX agents_identity_idx ON agents (identity);
-- A removed agent keeps its row (requests and history name it) but can no longer sign in.
ALTER TABLE agents ADD COLUMN disabled_at TIMESTAMP;

-- Products a partner maintains itself (created by its admins or imported), visible to it
-- alone. NULL: the public catalogue every partner sees, which no partner can change.
ALTER TABLE marketplace_products ADD COLUMN partner_id TEXT REFERENCES partners (id);
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

-- Notes added here go to Microsoft too: an outbox entry of kind NOTE carries the note.
ALTER TABLE upstream_outbox DROP CONSTRAINT upstream_outbox_kind_check;
ALTER TABLE upstream_outbox ADD CONSTRAINT upstream_outbox_kind_check CHECK (kind IN ('FILE', 'NOTE'));
ALTER TABLE upstream_outbox ADD COLUMN note_id TEXT REFERENCES service_request_notes (id);

-- Sync finds requests by Microsoft's case number whatever their source (a request filed here
-- keeps source LOCAL once Microsoft numbers it). Customers' tenants are unique, so indexed.
CREATE INDEX service_requests_upstream_any_idx ON service_requests (partner_id, upstream_id);
