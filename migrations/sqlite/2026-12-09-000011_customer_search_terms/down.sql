DROP TRIGGER IF EXISTS customer_search_terms_domain_update;
DROP TRIGGER IF EXISTS customer_search_terms_domain_delete;
DROP TRIGGER IF EXISTS customer_search_terms_domain_insert;
DROP TRIGGER IF EXISTS customer_search_terms_customer_update;
DROP TRIGGER IF EXISTS customer_search_terms_customer_insert;
DROP VIEW IF EXISTS customer_search_terms_source;
DROP TABLE IF EXISTS search_term_positions;
DROP TABLE IF EXISTS customer_search_terms;
CREATE INDEX IF NOT EXISTS customer_domains_domain_prefix_idx ON customer_domains (lower(domain));
