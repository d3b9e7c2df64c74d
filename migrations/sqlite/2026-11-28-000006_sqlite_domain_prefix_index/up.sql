-- Customer search by domain prefix: the search adds the prefix as a range on lower(domain),
-- which this index serves (SQLite's LIKE optimisation never applies to lower(column)).
CREATE INDEX customer_domains_domain_prefix_idx ON customer_domains (lower(domain));
