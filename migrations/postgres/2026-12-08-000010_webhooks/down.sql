DELETE FROM admin_changes WHERE subject = 'WEBHOOK_ENDPOINT';
ALTER TABLE admin_changes DROP CONSTRAINT admin_changes_subject_check;
ALTER TABLE admin_changes ADD CONSTRAINT admin_changes_subject_check CHECK (subject IN ('AGENT', 'PARTNER_DOMAIN',
    'SUPPORT_AGREEMENTS', 'MARKETPLACE_PRODUCT', 'BUSINESS_CALENDAR', 'CUSTOMER', 'SUBSCRIPTION'));
DROP TABLE webhook_fanout;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
