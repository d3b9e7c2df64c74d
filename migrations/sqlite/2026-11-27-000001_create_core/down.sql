-- Drop in reverse order of the foreign keys.
DROP TABLE events;
DROP TABLE service_request_history;
DROP TABLE service_request_notes;
DROP TABLE idempotency_keys;
DROP TABLE service_requests;
DROP TABLE support_topics;
DROP TABLE customer_marketplace_products;
DROP TABLE marketplace_products;
DROP TABLE subscriptions;
DROP TABLE customer_domains;
DROP TABLE customers;
DROP TABLE business_calendar_holidays;
DROP TABLE business_calendar_hours;
DROP TABLE business_calendars;
DROP TABLE agents;
DROP TABLE partners;
