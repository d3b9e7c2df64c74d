-- One row per SLA state a request entered for a given due time. The primary key makes the
-- transition recorded, and so published, exactly once however many replicas watch the clock:
-- each tries the insert and only the one that inserted writes the history entry and event.
CREATE TABLE sla_transitions (
    service_request_id TEXT NOT NULL REFERENCES service_requests (id),
    state              TEXT NOT NULL CHECK (state IN ('AT_RISK', 'BREACHED')),
    due_at             TIMESTAMP NOT NULL,
    recorded_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (service_request_id, state, due_at)
);

-- The watcher loads the running clocks at start: open requests support has not answered.
CREATE INDEX service_requests_running_sla_idx ON service_requests (sla_due_at) WHERE first_response_at IS NULL;
