CREATE TABLE admin_changes_next (
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
INSERT INTO admin_changes_next SELECT id, partner_id, agent_id, subject, subject_id, action, detail, created_at
FROM admin_changes WHERE subject <> 'WEBHOOK_ENDPOINT';
DROP TABLE admin_changes;
ALTER TABLE admin_changes_next RENAME TO admin_changes;
CREATE INDEX admin_changes_partner_idx ON admin_changes (partner_id, created_at, id);
DROP TABLE webhook_fanout;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
