DROP INDEX service_requests_running_sla_idx;
DROP TABLE sla_transitions;
