-- Nested pages read the first children of each parent in the connection's order
-- (`Children` in src/repo/queries.rs): indexes on (parent, created_at, id) hand them over in
-- that order, so a page stops after its rows even under a parent with thousands of children.
-- They replace the single-column indexes on the same foreign keys.
DROP INDEX subscriptions_customer_id_idx;
CREATE INDEX subscriptions_customer_created_idx ON subscriptions (customer_id, created_at, id);
DROP INDEX service_requests_customer_id_idx;
CREATE INDEX service_requests_customer_created_idx ON service_requests (customer_id, created_at, id);
DROP INDEX service_requests_subscription_id_idx;
CREATE INDEX service_requests_subscription_created_idx ON service_requests (subscription_id, created_at, id);
