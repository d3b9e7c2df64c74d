-- Where each object came from. `LOCAL` objects were made here (or by the demo seed);
-- `PARTNER_CENTER` and `AZURE_SUPPORT` objects are kept in step with Microsoft by `sync`,
-- keyed by their upstream id; `IMPORT` objects came from a file. `synced_at` is when sync last
-- saw the object upstream: an object a full pass no longer sees is marked, never deleted.
ALTER TABLE customers ADD COLUMN source TEXT NOT NULL DEFAULT 'LOCAL'
    CHECK (source IN ('LOCAL', 'PARTNER_CENTER', 'AZURE_SUPPORT', 'IMPORT'));
ALTER TABLE customers ADD COLUMN upstream_id TEXT;
ALTER TABLE customers ADD COLUMN synced_at TIMESTAMP;
-- Set when Partner Center no longer lists the customer, or lists it with no relationship.
ALTER TABLE customers ADD COLUMN relationship_ended_at TIMESTAMP;
CREATE UNIQUE INDEX customers_upstream_idx ON customers (partner_id, source, upstream_id);

ALTER TABLE subscriptions ADD COLUMN source TEXT NOT NULL DEFAULT 'LOCAL'
    CHECK (source IN ('LOCAL', 'PARTNER_CENTER', 'AZURE_SUPPORT', 'IMPORT'));
ALTER TABLE subscriptions ADD COLUMN upstream_id TEXT;
ALTER TABLE subscriptions ADD COLUMN synced_at TIMESTAMP;
CREATE UNIQUE INDEX subscriptions_upstream_idx ON subscriptions (partner_id, source, upstream_id);

ALTER TABLE support_topics ADD COLUMN source TEXT NOT NULL DEFAULT 'LOCAL'
    CHECK (source IN ('LOCAL', 'PARTNER_CENTER', 'AZURE_SUPPORT', 'IMPORT'));
ALTER TABLE support_topics ADD COLUMN upstream_id TEXT;
ALTER TABLE support_topics ADD COLUMN synced_at TIMESTAMP;
CREATE UNIQUE INDEX support_topics_upstream_idx ON support_topics (source, upstream_id);

-- `upstream_id` is Microsoft's case number once the request is filed there (or was synced).
ALTER TABLE service_requests ADD COLUMN source TEXT NOT NULL DEFAULT 'LOCAL'
    CHECK (source IN ('LOCAL', 'PARTNER_CENTER', 'AZURE_SUPPORT', 'IMPORT'));
ALTER TABLE service_requests ADD COLUMN upstream_id TEXT;
ALTER TABLE service_requests ADD COLUMN synced_at TIMESTAMP;
CREATE UNIQUE INDEX service_requests_upstream_idx ON service_requests (partner_id, source, upstream_id);
-- Filing at Microsoft: PENDING (in the outbox), FILED (upstream_id holds the case number) or
-- REJECTED (upstream_error holds Microsoft's message). NULL: not for Microsoft (no source).
ALTER TABLE service_requests ADD COLUMN upstream_state TEXT CHECK (upstream_state IN ('PENDING', 'FILED', 'REJECTED'));
ALTER TABLE service_requests ADD COLUMN upstream_error TEXT;

-- What is still to be sent to Microsoft, written in the transaction of the change it carries.
-- `request_key` goes out as MS-RequestId on every attempt, so Partner Center recognises a retry
-- of a call whose answer was lost. A worker claims an entry by moving `next_attempt_at`.
CREATE TABLE upstream_outbox (
    id                 TEXT PRIMARY KEY,
    partner_id         TEXT NOT NULL REFERENCES partners (id),
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    kind               TEXT NOT NULL CHECK (kind IN ('FILE')),
    request_key        TEXT NOT NULL,
    state              TEXT NOT NULL CHECK (state IN ('PENDING', 'DONE', 'REJECTED')),
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    TIMESTAMP NOT NULL,
    last_error         TEXT,
    created_at         TIMESTAMP NOT NULL,
    done_at            TIMESTAMP
);
CREATE INDEX upstream_outbox_due_idx ON upstream_outbox (partner_id, state, next_attempt_at);
CREATE INDEX upstream_outbox_request_idx ON upstream_outbox (service_request_id);

-- A synced note is known by a key made of its upstream author, instant and text (Partner
-- Center's notes have no id), so a page read twice adds it once.
ALTER TABLE service_request_notes ADD COLUMN upstream_key TEXT;
CREATE UNIQUE INDEX service_request_notes_upstream_idx ON service_request_notes (service_request_id, upstream_key);

-- Where sync stands, per partner, source and resource. `cursor` is where an unfinished pass
-- resumes (NULL when none is under way); it is written in the same transaction as the page it
-- follows, so a pass killed anywhere resumes with no gap and no duplicate.
CREATE TABLE sync_state (
    partner_id       TEXT NOT NULL REFERENCES partners (id),
    source           TEXT NOT NULL CHECK (source IN ('PARTNER_CENTER', 'AZURE_SUPPORT')),
    resource         TEXT NOT NULL,
    cursor           TEXT,
    pass_started_at  TIMESTAMP,
    pass_objects     BIGINT NOT NULL DEFAULT 0,
    last_started_at  TIMESTAMP,
    last_finished_at TIMESTAMP,
    last_objects     BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    last_error_at    TIMESTAMP,
    PRIMARY KEY (partner_id, source, resource)
);
