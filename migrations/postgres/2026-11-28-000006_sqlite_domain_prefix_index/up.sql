-- The SQLite migration of this name indexes lower(domain) for prefix search; PostgreSQL has
-- had that index since migration 000004 (text_pattern_ops): nothing to do here.
SELECT 1;
