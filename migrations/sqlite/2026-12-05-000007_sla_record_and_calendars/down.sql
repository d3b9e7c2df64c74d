CREATE TABLE service_request_history_old (
    id                 TEXT PRIMARY KEY,
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    agent_id           TEXT REFERENCES agents (id),
    kind               TEXT NOT NULL CHECK (kind IN ('CREATED', 'STATUS_CHANGED', 'SEVERITY_CHANGED', 'NOTE_ADDED', 'SUPPORT_RESPONDED', 'SLA_STATE_CHANGED')),
    from_value         TEXT,
    to_value           TEXT,
    created_at         TIMESTAMP NOT NULL
);
INSERT INTO service_request_history_old SELECT id, service_request_id, agent_id, kind, from_value, to_value, created_at
    FROM service_request_history WHERE kind <> 'SLA_DUE_CHANGED';
DROP TABLE service_request_history;
ALTER TABLE service_request_history_old RENAME TO service_request_history;
CREATE INDEX service_request_history_request_idx ON service_request_history (service_request_id, created_at);
CREATE INDEX service_request_history_agent_idx ON service_request_history (agent_id);
DROP TABLE partner_domains;
ALTER TABLE partners DROP COLUMN calendar_id;
DROP INDEX service_requests_calendar_idx;
DROP INDEX customers_calendar_idx;
DROP INDEX business_calendars_partner_idx;
ALTER TABLE business_calendars DROP COLUMN version;
ALTER TABLE business_calendars DROP COLUMN partner_id;
ALTER TABLE business_calendars DROP COLUMN name;
ALTER TABLE business_calendars RENAME COLUMN code TO name;
DROP INDEX service_requests_running_sla_idx;
CREATE TABLE sla_transitions (
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    state              TEXT NOT NULL CHECK (state IN ('AT_RISK', 'BREACHED')),
    due_at             TIMESTAMP NOT NULL,
    recorded_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (service_request_id, state, due_at)
);
CREATE INDEX service_requests_running_sla_idx ON service_requests (sla_due_at) WHERE first_response_at IS NULL;
ALTER TABLE service_requests DROP COLUMN first_response_agent_id;
ALTER TABLE service_requests DROP COLUMN first_response_entered_at;
ALTER TABLE service_requests DROP COLUMN first_response_source;
ALTER TABLE service_requests DROP COLUMN sla_stopped_at;
ALTER TABLE service_requests DROP COLUMN sla_state;
