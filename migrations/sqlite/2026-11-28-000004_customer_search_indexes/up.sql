-- The PostgreSQL migration of this name adds trigram and prefix indexes for customer search.
-- SQLite has neither kind (its LIKE optimisation does not apply to lower(column)), and the
-- embedded database is small enough to scan: nothing to do here.
SELECT 1;
