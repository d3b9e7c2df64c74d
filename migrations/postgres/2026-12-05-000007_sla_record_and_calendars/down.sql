DELETE FROM service_request_history WHERE kind = 'SLA_DUE_CHANGED';
ALTER TABLE service_request_history DROP CONSTRAINT service_request_history_kind_check;
ALTER TABLE service_request_history ADD CONSTRAINT service_request_history_kind_check
    CHECK (kind IN ('CREATED', 'STATUS_CHANGED', 'SEVERITY_CHANGED', 'NOTE_ADDED', 'SUPPORT_RESPONDED', 'SLA_STATE_CHANGED'));
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
