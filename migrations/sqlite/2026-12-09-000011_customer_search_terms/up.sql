-- Customer search reads one index range: the terms of each customer (every suffix of its
-- lower-cased company name that does not start with a space, and each of its domains), once
-- for each party that may list it, with the company name beside them. The PostgreSQL migration
-- of this name says why and what it measured; this is the same table, view and triggers.
-- At `--scale 2000`, a search scanned every company name before.
CREATE TABLE customer_search_terms (
    customer_id  TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    viewer_id    TEXT NOT NULL,
    term         TEXT NOT NULL,
    company_name TEXT NOT NULL,
    PRIMARY KEY (customer_id, viewer_id, term)
) WITHOUT ROWID;
-- With the primary key's columns, this index holds every column the search reads.
CREATE INDEX customer_search_terms_viewer_term_idx ON customer_search_terms (viewer_id, term, company_name);

-- Character positions of a company name: a trigger cannot use a recursive query. Names longer
-- than 1,000 characters are found by their first 1,000 (the import takes at most 200).
CREATE TABLE search_term_positions (n INTEGER PRIMARY KEY);
INSERT INTO search_term_positions (n)
    WITH RECURSIVE p (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM p WHERE n < 1000) SELECT n FROM p;

-- Every term of every customer, as the table should hold it.
CREATE VIEW customer_search_terms_source AS
    SELECT c.id AS customer_id, c.partner_id AS viewer_id, substr(lower(c.company_name), p.n) AS term, c.company_name
      FROM customers c JOIN search_term_positions p
        ON p.n <= length(c.company_name) AND substr(c.company_name, p.n, 1) <> ' '
    UNION ALL
    SELECT c.id, c.provider_id, substr(lower(c.company_name), p.n), c.company_name
      FROM customers c JOIN search_term_positions p
        ON p.n <= length(c.company_name) AND substr(c.company_name, p.n, 1) <> ' '
     WHERE c.provider_id IS NOT NULL
    UNION ALL
    SELECT c.id, c.partner_id, lower(d.domain), c.company_name
      FROM customers c JOIN customer_domains d ON d.customer_id = c.id
    UNION ALL
    SELECT c.id, c.provider_id, lower(d.domain), c.company_name
      FROM customers c JOIN customer_domains d ON d.customer_id = c.id
     WHERE c.provider_id IS NOT NULL;

CREATE TRIGGER customer_search_terms_customer_insert AFTER INSERT ON customers BEGIN
    INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id = NEW.id;
END;
CREATE TRIGGER customer_search_terms_customer_update AFTER UPDATE OF company_name, partner_id, provider_id ON customers
    WHEN OLD.company_name IS NOT NEW.company_name OR OLD.partner_id IS NOT NEW.partner_id
         OR OLD.provider_id IS NOT NEW.provider_id
BEGIN
    DELETE FROM customer_search_terms WHERE customer_id = NEW.id;
    INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id = NEW.id;
END;
-- A new domain adds its own terms; any other change rewrites the customers concerned.
CREATE TRIGGER customer_search_terms_domain_insert AFTER INSERT ON customer_domains BEGIN
    INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id = NEW.customer_id AND term = lower(NEW.domain);
END;
CREATE TRIGGER customer_search_terms_domain_delete AFTER DELETE ON customer_domains BEGIN
    DELETE FROM customer_search_terms WHERE customer_id = OLD.customer_id;
    INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id = OLD.customer_id;
END;
CREATE TRIGGER customer_search_terms_domain_update AFTER UPDATE OF domain, customer_id ON customer_domains BEGIN
    DELETE FROM customer_search_terms WHERE customer_id IN (OLD.customer_id, NEW.customer_id);
    INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id IN (OLD.customer_id, NEW.customer_id);
END;

INSERT OR IGNORE INTO customer_search_terms (customer_id, viewer_id, term, company_name)
    SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source;

-- The search no longer reads it (migration 000006).
DROP INDEX IF EXISTS customer_domains_domain_prefix_idx;
