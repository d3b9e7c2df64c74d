-- The SLA record of a request (S4): the state last recorded in history and the event log, when
-- the clock stopped, and where support's first response came from and who entered it. Every
-- path that changes the state (the watcher, a mutation) reads and writes `sla_state` under the
-- request's row lock, so each change is recorded exactly once however many replicas run.
ALTER TABLE service_requests ADD COLUMN sla_state TEXT NOT NULL DEFAULT 'ON_TRACK'
    CHECK (sla_state IN ('ON_TRACK', 'AT_RISK', 'BREACHED', 'MET', 'STOPPED'));
ALTER TABLE service_requests ADD COLUMN sla_stopped_at TIMESTAMP;
ALTER TABLE service_requests ADD COLUMN first_response_source TEXT CHECK (first_response_source IN ('MANUAL', 'MICROSOFT'));
ALTER TABLE service_requests ADD COLUMN first_response_entered_at TIMESTAMP;
ALTER TABLE service_requests ADD COLUMN first_response_agent_id TEXT REFERENCES agents (id);

UPDATE service_requests SET
    sla_state = CASE
        WHEN first_response_at IS NOT NULL AND first_response_at <= sla_due_at THEN 'MET'
        WHEN first_response_at IS NOT NULL THEN 'BREACHED'
        WHEN EXISTS (SELECT 1 FROM sla_transitions t WHERE t.service_request_id = service_requests.id
                     AND t.state = 'BREACHED' AND t.due_at = service_requests.sla_due_at) THEN 'BREACHED'
        WHEN status IN ('RESOLVED', 'CLOSED') THEN 'STOPPED'
        WHEN EXISTS (SELECT 1 FROM sla_transitions t WHERE t.service_request_id = service_requests.id
                     AND t.state = 'AT_RISK' AND t.due_at = service_requests.sla_due_at) THEN 'AT_RISK'
        ELSE 'ON_TRACK'
    END,
    sla_stopped_at = CASE
        WHEN first_response_at IS NOT NULL THEN first_response_at
        WHEN status IN ('RESOLVED', 'CLOSED') THEN COALESCE(closed_at, updated_at)
    END,
    first_response_source = CASE WHEN first_response_at IS NOT NULL THEN 'MANUAL' END,
    first_response_entered_at = first_response_at;

DROP INDEX service_requests_running_sla_idx;
DROP TABLE sla_transitions;
-- The watcher loads the running clocks at start.
CREATE INDEX service_requests_running_sla_idx ON service_requests (sla_due_at) WHERE sla_stopped_at IS NULL;

-- Calendars a partner maintains (S5). Built-in calendars have no partner and are read-only;
-- `code` keeps the old unique name as a stable key, `name` is what people read.
ALTER TABLE business_calendars RENAME COLUMN name TO code;
ALTER TABLE business_calendars ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE business_calendars SET name = code;
ALTER TABLE business_calendars ADD COLUMN partner_id TEXT REFERENCES partners (id);
ALTER TABLE business_calendars ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
CREATE INDEX business_calendars_partner_idx ON business_calendars (partner_id);
CREATE INDEX customers_calendar_idx ON customers (calendar_id);
CREATE INDEX service_requests_calendar_idx ON service_requests (calendar_id) WHERE sla_stopped_at IS NULL;

-- The calendar of the partner's own tenant (R12 requests), instead of a fixed one.
ALTER TABLE partners ADD COLUMN calendar_id TEXT REFERENCES business_calendars (id);
UPDATE partners SET calendar_id = 'cal-us-east' WHERE EXISTS (SELECT 1 FROM business_calendars WHERE id = 'cal-us-east');

-- The partner's own domains (R7: the contact on a request is the partner's).
CREATE TABLE partner_domains (
    domain     TEXT PRIMARY KEY CHECK (domain = lower(domain)),
    partner_id TEXT NOT NULL REFERENCES partners (id)
);
CREATE INDEX partner_domains_partner_idx ON partner_domains (partner_id);
INSERT INTO partner_domains (domain, partner_id)
SELECT d, MIN(partner_id) FROM (
    SELECT lower(substr(email, instr(email, '@') + 1)) AS d, partner_id FROM agents
    UNION ALL
    SELECT lower(substr(support_contact_email, instr(support_contact_email, '@') + 1)), id FROM partners
) x WHERE d <> '' GROUP BY d
;

-- History records due times moved by a new severity or a changed calendar. SQLite cannot
-- change a CHECK constraint in place: the table is rebuilt (nothing references it).
CREATE TABLE service_request_history_new (
    id                 TEXT PRIMARY KEY,
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    agent_id           TEXT REFERENCES agents (id),
    kind               TEXT NOT NULL CHECK (kind IN ('CREATED', 'STATUS_CHANGED', 'SEVERITY_CHANGED', 'NOTE_ADDED', 'SUPPORT_RESPONDED', 'SLA_STATE_CHANGED', 'SLA_DUE_CHANGED')),
    from_value         TEXT,
    to_value           TEXT,
    created_at         TIMESTAMP NOT NULL
);
INSERT INTO service_request_history_new SELECT id, service_request_id, agent_id, kind, from_value, to_value, created_at FROM service_request_history;
DROP TABLE service_request_history;
ALTER TABLE service_request_history_new RENAME TO service_request_history;
CREATE INDEX service_request_history_request_idx ON service_request_history (service_request_id, created_at);
CREATE INDEX service_request_history_agent_idx ON service_request_history (agent_id);
