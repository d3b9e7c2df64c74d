-- Lists of a partner's requests by severity in due order (the "what burns first" view):
-- without it the count and the ordered page scanned every request of the partner.
CREATE INDEX service_requests_partner_severity_due_idx ON service_requests (partner_id, severity, sla_due_at, id);
CREATE INDEX service_requests_partner_status_idx ON service_requests (partner_id, status);
