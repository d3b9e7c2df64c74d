DROP INDEX service_requests_upstream_any_idx;
CREATE TABLE upstream_outbox_prev (
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
INSERT INTO upstream_outbox_prev SELECT id, partner_id, service_request_id, kind, request_key, state, attempts,
    next_attempt_at, last_error, created_at, done_at FROM upstream_outbox WHERE kind = 'FILE';
DROP TABLE upstream_outbox;
ALTER TABLE upstream_outbox_prev RENAME TO upstream_outbox;
CREATE INDEX upstream_outbox_due_idx ON upstream_outbox (partner_id, state, next_attempt_at);
CREATE INDEX upstream_outbox_request_idx ON upstream_outbox (service_request_id);
DROP TABLE admin_changes;
DROP INDEX marketplace_products_partner_idx;
ALTER TABLE marketplace_products DROP COLUMN partner_id;
ALTER TABLE agents DROP COLUMN disabled_at;
DROP INDEX agents_identity_idx;
ALTER TABLE agents DROP COLUMN identity;
