-- Open requests by severity in due order (the "what burns first" view). Partial: most
-- requests are resolved or closed, and a full index still walked past all of them
-- (measured on PostgreSQL at --scale 10000: 5,402 closed rows filtered to find 51 open ones).
CREATE INDEX service_requests_open_severity_due_idx ON service_requests (partner_id, severity, sla_due_at, id)
    WHERE status IN ('NEW', 'OPEN', 'IN_PROGRESS', 'WAITING_ON_PARTNER');
CREATE INDEX service_requests_partner_status_idx ON service_requests (partner_id, status);
