-- Customer search (`customers(search:)`: the text anywhere in the company name, or at the start
-- of a domain, ignoring case) reads one index range instead of a trigram scan of the names, a
-- prefix scan of the domains and a probe of every match in `customers`.
--
-- Each customer has a term for every suffix of its lower-cased company name that does not
-- start with a space (a search is trimmed), and one for each of its domains, lower-cased. A
-- search `s` is then the range of terms that start with `s`: `term >= s AND term < successor`.
-- The terms are kept once for each party that may list the customer (its partner, and its
-- provider when it has one), with the company name beside them, so the index alone answers
-- which customers match, in order, a page at a time. The same table, view and triggers exist on
-- SQLite (migration of the same name); `src/repo/pages.rs` (`customer_page`) reads them.
--
-- Measured at `seed --scale 10000` (pgbench, one client, prepared, generic plans; 4-letter
-- searches matching 270-540 customers): 1.02-2.13 ms -> 0.39-0.55 ms per search, same rows.
CREATE TABLE customer_search_terms (
    customer_id  TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    viewer_id    TEXT NOT NULL,
    -- Compared byte by byte, so that a prefix is a range whatever the database's collation.
    term         TEXT COLLATE "C" NOT NULL,
    company_name TEXT NOT NULL
);
-- Which customers match, in order, without visiting the table (an index-only scan).
CREATE INDEX customer_search_terms_viewer_term_idx
    ON customer_search_terms (viewer_id, term) INCLUDE (company_name, customer_id);
-- A customer's terms, to rewrite them (small: the index stores each customer once).
CREATE INDEX customer_search_terms_customer_idx ON customer_search_terms (customer_id);

-- Character positions of a company name (SQLite's triggers cannot generate a series, and both
-- backends share the view below). Names longer than 1,000 characters are found by their first
-- 1,000 (the import takes at most 200).
CREATE TABLE search_term_positions (n INTEGER PRIMARY KEY);
INSERT INTO search_term_positions (n) SELECT generate_series(1, 1000);

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

-- Rewrites one customer's terms from the view. (PL/pgSQL keeps the plans of its statements for
-- the session; a LANGUAGE sql function planned its body at every call, which doubled the time
-- `seed --scale 10000` took.)
CREATE FUNCTION customer_search_terms_rewrite(customer TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_search_terms WHERE customer_id = customer;
    INSERT INTO customer_search_terms (customer_id, viewer_id, term, company_name)
        SELECT DISTINCT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
         WHERE customer_id = customer;
END $$;

CREATE FUNCTION customer_search_terms_of_customer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM customer_search_terms_rewrite(NEW.id);
    RETURN NULL;
END $$;

-- A new domain adds its own terms; any other change rewrites the customers concerned.
CREATE FUNCTION customer_search_terms_of_domain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO customer_search_terms (customer_id, viewer_id, term, company_name)
            SELECT DISTINCT s.customer_id, s.viewer_id, s.term, s.company_name FROM customer_search_terms_source s
             WHERE s.customer_id = NEW.customer_id AND s.term = lower(NEW.domain)
               AND NOT EXISTS (SELECT 1 FROM customer_search_terms t
                                WHERE t.customer_id = s.customer_id AND t.viewer_id = s.viewer_id AND t.term = s.term);
        RETURN NULL;
    END IF;
    PERFORM customer_search_terms_rewrite(OLD.customer_id);
    IF TG_OP = 'UPDATE' AND NEW.customer_id <> OLD.customer_id THEN
        PERFORM customer_search_terms_rewrite(NEW.customer_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER customer_search_terms_customer_insert AFTER INSERT ON customers
    FOR EACH ROW EXECUTE FUNCTION customer_search_terms_of_customer();
CREATE TRIGGER customer_search_terms_customer_update AFTER UPDATE OF company_name, partner_id, provider_id ON customers
    FOR EACH ROW
    WHEN (OLD.company_name IS DISTINCT FROM NEW.company_name OR OLD.partner_id IS DISTINCT FROM NEW.partner_id
          OR OLD.provider_id IS DISTINCT FROM NEW.provider_id)
    EXECUTE FUNCTION customer_search_terms_of_customer();
CREATE TRIGGER customer_search_terms_domain_change AFTER INSERT OR DELETE OR UPDATE OF domain, customer_id
    ON customer_domains
    FOR EACH ROW EXECUTE FUNCTION customer_search_terms_of_domain();

INSERT INTO customer_search_terms (customer_id, viewer_id, term, company_name)
    SELECT DISTINCT customer_id, viewer_id, term, company_name FROM customer_search_terms_source;

-- The search no longer reads these.
DROP INDEX IF EXISTS customers_company_name_trgm_idx;
DROP INDEX IF EXISTS customer_domains_domain_prefix_idx;
