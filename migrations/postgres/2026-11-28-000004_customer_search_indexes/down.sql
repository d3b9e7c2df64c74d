-- pg_trgm stays installed: other schemas of the database may use it.
DROP INDEX IF EXISTS customers_company_name_trgm_idx;
DROP INDEX IF EXISTS customer_domains_domain_prefix_idx;
