DROP TABLE admin_changes;
DROP INDEX marketplace_products_partner_idx;
ALTER TABLE marketplace_products DROP COLUMN partner_id;
ALTER TABLE agents DROP COLUMN disabled_at;
DROP INDEX agents_identity_idx;
ALTER TABLE agents DROP COLUMN identity;
