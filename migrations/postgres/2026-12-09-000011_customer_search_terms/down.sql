DROP TRIGGER IF EXISTS customer_search_terms_domain_change ON customer_domains;
DROP TRIGGER IF EXISTS customer_search_terms_customer_update ON customers;
DROP TRIGGER IF EXISTS customer_search_terms_customer_insert ON customers;
DROP FUNCTION IF EXISTS customer_search_terms_of_domain();
DROP FUNCTION IF EXISTS customer_search_terms_of_customer();
DROP FUNCTION IF EXISTS customer_search_terms_rewrite(TEXT);
DROP VIEW IF EXISTS customer_search_terms_source;
DROP TABLE IF EXISTS search_term_positions;
DROP TABLE IF EXISTS customer_search_terms;

CREATE INDEX IF NOT EXISTS customer_domains_domain_prefix_idx ON customer_domains (lower(domain) text_pattern_ops);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX IF NOT EXISTS customers_company_name_trgm_idx ON customers USING gin (lower(company_name) gin_trgm_ops)';
    END IF;
END $$;
