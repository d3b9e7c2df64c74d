//! `support-gateway import FILE`: a partner's own data from files. Partner Center's CSV exports
//! of customers and of subscriptions, and marketplace products with their ISVs' support
//! contacts (JSON or CSV).
//!
//! Every row is checked first, against the file and the database. If any row is refused,
//! nothing is written, and the report gives each refused row's line and reason. Otherwise the
//! whole file is applied in one transaction. Objects are keyed (customers by Microsoft ID,
//! subscriptions by subscription id, products by publisher and name), so importing the same
//! file again changes nothing. An object that came from Partner Center sync is left to sync,
//! and counted as kept. Each object created or changed gets an `IMPORTED` entry in the
//! administrative history.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use serde::Deserialize;
use serde_json::json;

use crate::db::Db;
use crate::db::models::*;
use crate::db::schema::*;
use crate::domain::admin::{self, AdminAction, AdminSubject, ProductDraft};
use crate::domain::import::{self as rows, CustomerRecord, SubscriptionRecord};
use crate::domain::model::{PartnerKind, ProductFamily, SubscriptionOwner};
use crate::domain::upstream::{self as up, DataSource};
use crate::error::{AppError, AppResult};
use crate::repo::admin::{change_row, product_detail, product_row};
use crate::{transaction, with_conn};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Customers,
    Subscriptions,
    Products,
}

impl ImportKind {
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::Customers => "customers",
            ImportKind::Subscriptions => "subscriptions",
            ImportKind::Products => "marketplace products",
        }
    }
}

/// A row the import refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The line of the file (CSV, counting the header as line 1), or the item's position in a
    /// JSON list (1 for the first).
    pub line: u64,
    pub reason: String,
}

/// What an import did, or would have done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub kind: ImportKind,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows of objects that came from Partner Center: sync keeps them, the file does not.
    pub kept: usize,
    /// Refused rows; when there is any, nothing was written.
    pub rejected: Vec<Rejected>,
}

impl ImportReport {
    fn new(kind: ImportKind, rows: usize) -> ImportReport {
        ImportReport { kind, rows, created: 0, updated: 0, unchanged: 0, kept: 0, rejected: Vec::new() }
    }

    pub fn applied(&self) -> bool {
        self.rejected.is_empty()
    }
}

/// Column names as Partner Center's exports spell them, with the alternatives accepted.
const CUSTOMER_ID: &[&str] = &["microsoft id", "customer id", "tenant id"];
const COMPANY: &[&str] = &["company name", "customer name"];
const DOMAIN: &[&str] = &["primary domain name", "primary domain", "domain"];
const RELATIONSHIP: &[&str] = &["relationship", "relationships", "relationship to partner"];
const COUNTRY: &[&str] = &["country", "country code"];
const SUB_CUSTOMER: &[&str] = &["customer microsoft id", "customer id", "customer tenant id", "microsoft id"];
const SUB_ID: &[&str] = &["subscription id"];
const OFFER: &[&str] = &["offer name", "subscription name", "product name"];
const STATUS: &[&str] = &["status"];
const QUANTITY: &[&str] = &["quantity", "licenses"];
const BILLING: &[&str] = &["billing cycle", "billing frequency"];
const TRIAL: &[&str] = &["trial", "is trial"];
const P_NAME: &[&str] = &["name", "product name"];
const P_PUBLISHER: &[&str] = &["publisher", "publisher name"];
const P_SUMMARY: &[&str] = &["summary", "description"];
const P_WEBSITE: &[&str] = &["support website", "support website url", "support url", "website"];
const P_EMAIL: &[&str] = &["support email", "support e-mail", "email"];
const P_PHONE: &[&str] = &["support phone", "phone"];

/// A CSV file's header, to find columns by name.
struct Header(Vec<String>);

impl Header {
    fn find(&self, names: &[&str]) -> Option<usize> {
        names.iter().find_map(|n| self.0.iter().position(|h| h == n))
    }
}

fn normalize_header(h: &str) -> String {
    h.trim().trim_start_matches('\u{feff}').to_lowercase()
}

/// What a file holds, from its name and header.
pub fn detect(path: &Path, bytes: &[u8]) -> Result<ImportKind, String> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        return Ok(ImportKind::Products);
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = Header(
        reader
            .headers()
            .map_err(|e| format!("the file is neither JSON nor CSV with a header line: {e}"))?
            .iter()
            .map(normalize_header)
            .collect(),
    );
    if header.find(SUB_ID).is_some() {
        Ok(ImportKind::Subscriptions)
    } else if header.find(P_PUBLISHER).is_some() {
        Ok(ImportKind::Products)
    } else if header.find(COMPANY).is_some() {
        Ok(ImportKind::Customers)
    } else {
        Err("cannot tell what the file holds: a customer export has the columns Microsoft ID, Company name, \
             Primary domain name and Relationship; a subscription export Customer Microsoft ID, Subscription ID, \
             Offer name and Status; a product list Name, Publisher and support contacts (or is a .json file)"
            .into())
    }
}

/// Each row's line and its record, or why it was refused.
type Checked<T> = Vec<(u64, Result<T, String>)>;

/// The records of a CSV file: each row through `parse`, with its line.
fn csv_rows<T>(
    bytes: &[u8],
    required: &[(&str, &[&str])],
    parse: impl Fn(&dyn Fn(&[&str]) -> Option<String>) -> Result<T, String>,
) -> Result<Checked<T>, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = Header(
        reader.headers().map_err(|e| format!("reading the header: {e}"))?.iter().map(normalize_header).collect(),
    );
    let missing: Vec<&str> =
        required.iter().filter(|(_, names)| header.find(names).is_none()).map(|(n, _)| *n).collect();
    if !missing.is_empty() {
        return Err(format!("the file has no {} column", missing.join(", no ")));
    }
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| format!("the file is not valid CSV: {e}"))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |names: &[&str]| header.find(names).and_then(|i| record.get(i)).map(str::to_owned);
        out.push((line, parse(&get)));
    }
    Ok(out)
}

/// A product in a JSON list.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProductJson {
    name: String,
    publisher: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    support_contacts: ContactsJson,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContactsJson {
    website_url: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

fn product_rows(kind_json: bool, bytes: &[u8]) -> Result<Checked<ProductDraft>, String> {
    let drafts: Checked<ProductDraft> = if kind_json {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum File {
            List(Vec<serde_json::Value>),
            Wrapped { products: Vec<serde_json::Value> },
        }
        let file: File = serde_json::from_slice(bytes)
            .map_err(|e| format!("the file is not a JSON list of products (or {{\"products\": [...]}}): {e}"))?;
        let items = match file {
            File::List(items) | File::Wrapped { products: items } => items,
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let parsed = serde_json::from_value::<ProductJson>(item)
                    .map(|p| ProductDraft {
                        name: p.name,
                        publisher: p.publisher,
                        summary: p.summary,
                        website_url: p.support_contacts.website_url,
                        email: p.support_contacts.email,
                        phone: p.support_contacts.phone,
                    })
                    .map_err(|e| format!("not a product ({{name, publisher, summary, supportContacts}}): {e}"));
                (i as u64 + 1, parsed)
            })
            .collect()
    } else {
        csv_rows(bytes, &[("Name", P_NAME), ("Publisher", P_PUBLISHER)], |get| {
            Ok(ProductDraft {
                name: get(P_NAME).unwrap_or_default(),
                publisher: get(P_PUBLISHER).unwrap_or_default(),
                summary: get(P_SUMMARY).unwrap_or_default(),
                website_url: get(P_WEBSITE),
                email: get(P_EMAIL),
                phone: get(P_PHONE),
            })
        })?
    };
    Ok(drafts
        .into_iter()
        .map(|(line, d)| (line, d.and_then(|d| admin::product(&d).map_err(|p| p.join("; ")))))
        .collect())
}

/// Imports `path` for the partner of `agent` (its id goes into the history).
pub async fn import_file(db: &Db, agent: &AgentRow, path: &Path, now: DateTime<Utc>) -> AppResult<ImportReport> {
    let bytes = std::fs::read(path).map_err(|e| AppError::bad_input(format!("reading {}: {e}", path.display())))?;
    let kind = detect(path, &bytes).map_err(AppError::bad_input)?;
    let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let importer = Importer { db, agent, file: &file, now };
    match kind {
        ImportKind::Customers => importer.customers(&bytes).await,
        ImportKind::Subscriptions => importer.subscriptions(&bytes).await,
        ImportKind::Products => {
            let json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
            importer.products(product_rows(json, &bytes).map_err(AppError::bad_input)?).await
        }
    }
}

struct Importer<'a> {
    db: &'a Db,
    agent: &'a AgentRow,
    file: &'a str,
    now: DateTime<Utc>,
}

/// Splits checked rows into records and refusals; a key seen on an earlier line is refused.
fn sort_rows<T>(report: &mut ImportReport, checked: Checked<T>, key: impl Fn(&T) -> String) -> Vec<(u64, T)> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut good = Vec::new();
    for (line, row) in checked {
        match row {
            Ok(r) => match seen.get(&key(&r)) {
                Some(first) => {
                    report.rejected.push(Rejected { line, reason: format!("repeats the object of line {first}") })
                }
                None => {
                    seen.insert(key(&r), line);
                    good.push((line, r));
                }
            },
            Err(reason) => report.rejected.push(Rejected { line, reason }),
        }
    }
    good
}

impl Importer<'_> {
    fn history(&self, subject: AdminSubject, id: &str, detail: serde_json::Value) -> AdminChangeRow {
        let mut detail = detail;
        detail["file"] = json!(self.file);
        change_row(&self.agent.partner_id, Some(&self.agent.id), subject, id, AdminAction::Imported, detail, self.now)
    }

    async fn customers(&self, bytes: &[u8]) -> AppResult<ImportReport> {
        let p = self.agent.partner_id.as_str();
        let partner: PartnerRow =
            with_conn!(self.db, |conn| partners::table.find(p).select(PartnerRow::as_select()).first(conn).await?);
        let kind: PartnerKind = partner.kind.parse()?;
        let required: &[(&str, &[&str])] = &[
            ("Microsoft ID", CUSTOMER_ID),
            ("Company name", COMPANY),
            ("Primary domain name", DOMAIN),
            ("Relationship", RELATIONSHIP),
        ];
        let checked = csv_rows(bytes, required, |get| {
            rows::customer(
                &get(CUSTOMER_ID).unwrap_or_default(),
                &get(COMPANY).unwrap_or_default(),
                &get(DOMAIN).unwrap_or_default(),
                &get(RELATIONSHIP).unwrap_or_default(),
                get(COUNTRY).as_deref(),
                kind,
            )
        })
        .map_err(AppError::bad_input)?;
        let mut report = ImportReport::new(ImportKind::Customers, checked.len());
        let records = sort_rows(&mut report, checked, |c| c.tenant_id.clone());
        let tenants: Vec<String> = records.iter().map(|(_, r)| r.tenant_id.clone()).collect();
        let domains: Vec<String> = records.iter().map(|(_, r)| r.primary_domain.clone()).collect();
        let (known, taken, calendars) = with_conn!(self.db, |conn| {
            // Any partner's: a tenant is one customer record, whoever serves it.
            let known: Vec<CustomerRow> = customers::table
                .filter(customers::tenant_id.eq_any(&tenants))
                .select(CustomerRow::as_select())
                .load(conn)
                .await?;
            let taken: Vec<(String, String)> = customer_domains::table
                .filter(customer_domains::domain.eq_any(&domains))
                .select((customer_domains::domain, customer_domains::customer_id))
                .load(conn)
                .await?;
            let calendars: Vec<CalendarRow> =
                business_calendars::table.select(CalendarRow::as_select()).load(conn).await?;
            (known, taken, calendars)
        });
        let known: HashMap<&str, &CustomerRow> = known.iter().map(|c| (c.tenant_id.as_str(), c)).collect();
        let taken: HashMap<&str, &str> = taken.iter().map(|(d, c)| (d.as_str(), c.as_str())).collect();
        let mut plan: Vec<(CustomerRecord, Option<CustomerRow>)> = Vec::new();
        for (line, r) in records {
            let existing = known.get(r.tenant_id.as_str()).copied();
            if existing.is_some_and(|c| c.partner_id != p) {
                report.rejected.push(Rejected {
                    line,
                    reason: format!("the Microsoft ID {} is another partner's customer", r.tenant_id),
                });
                continue;
            }
            if let Some(holder) = taken.get(r.primary_domain.as_str())
                && existing.is_none_or(|c| c.id != *holder)
            {
                report.rejected.push(Rejected {
                    line,
                    reason: format!("the domain {} belongs to another customer already", r.primary_domain),
                });
                continue;
            }
            plan.push((r, existing.cloned()));
        }
        if !report.rejected.is_empty() {
            return Ok(report);
        }
        let calendar_zone = |id: &str| calendars.iter().find(|c| c.id == id).map(|c| c.time_zone.clone());
        let mut changes: Vec<Change> = Vec::new();
        for (r, existing) in plan {
            match existing {
                Some(c) if c.source != DataSource::Import.as_str() => report.kept += 1,
                Some(c)
                    if c.company_name == r.company_name
                        && c.primary_domain == r.primary_domain
                        && c.relationship == r.relationship.as_str() =>
                {
                    report.unchanged += 1
                }
                Some(c) => {
                    report.updated += 1;
                    changes.push(Change::UpdateCustomer(c, r));
                }
                None => {
                    report.created += 1;
                    let calendar_id = up::calendar_for_country(&r.country)
                        .map(str::to_owned)
                        .or(partner.calendar_id.clone())
                        .unwrap_or_else(|| "cal-us-east".into());
                    let row = CustomerRow {
                        id: format!("cust-{}", uuid::Uuid::now_v7()),
                        partner_id: p.to_owned(),
                        provider_id: (r.relationship == crate::domain::model::CustomerRelationship::IndirectReseller)
                            .then(|| partner.provider_id.clone())
                            .flatten(),
                        company_name: r.company_name.clone(),
                        primary_domain: r.primary_domain.clone(),
                        tenant_id: r.tenant_id.clone(),
                        country: r.country.clone(),
                        time_zone: calendar_zone(&calendar_id).unwrap_or_else(|| "America/New_York".into()),
                        language: "en-US".into(),
                        cloud: partner.cloud.clone(),
                        calendar_id,
                        relationship: r.relationship.as_str().into(),
                        delegated_admin: false,
                        azure_access_granted: false,
                        created_at: self.now.naive_utc(),
                        source: DataSource::Import.as_str().into(),
                        upstream_id: Some(r.tenant_id.clone()),
                        synced_at: None,
                        relationship_ended_at: None,
                    };
                    changes.push(Change::CreateCustomer(row));
                }
            }
        }
        self.apply(changes).await?;
        Ok(report)
    }

    async fn subscriptions(&self, bytes: &[u8]) -> AppResult<ImportReport> {
        let p = self.agent.partner_id.as_str();
        let required: &[(&str, &[&str])] = &[
            ("Customer Microsoft ID", SUB_CUSTOMER),
            ("Subscription ID", SUB_ID),
            ("Offer name", OFFER),
            ("Status", STATUS),
        ];
        let checked = csv_rows(bytes, required, |get| {
            rows::subscription(
                &get(SUB_CUSTOMER).unwrap_or_default(),
                &get(SUB_ID).unwrap_or_default(),
                &get(OFFER).unwrap_or_default(),
                &get(STATUS).unwrap_or_default(),
                get(QUANTITY).as_deref(),
                get(BILLING).as_deref(),
                get(TRIAL).as_deref(),
            )
        })
        .map_err(AppError::bad_input)?;
        let mut report = ImportReport::new(ImportKind::Subscriptions, checked.len());
        let records = sort_rows(&mut report, checked, |s| s.id.clone());
        let tenants: Vec<String> = records.iter().map(|(_, r)| r.customer_tenant_id.clone()).collect();
        let ids: Vec<String> = records.iter().map(|(_, r)| r.id.clone()).collect();
        let (customers, known) = with_conn!(self.db, |conn| {
            let customers: Vec<(String, String)> = customers::table
                .filter(customers::partner_id.eq(p))
                .filter(customers::tenant_id.eq_any(&tenants))
                .select((customers::tenant_id, customers::id))
                .load(conn)
                .await?;
            let known: Vec<SubscriptionRow> = subscriptions::table
                .filter(subscriptions::partner_id.eq(p))
                .filter(subscriptions::upstream_id.eq_any(&ids))
                .select(SubscriptionRow::as_select())
                .load(conn)
                .await?;
            (customers, known)
        });
        let customers: HashMap<&str, &str> = customers.iter().map(|(t, c)| (t.as_str(), c.as_str())).collect();
        let known: HashMap<&str, &SubscriptionRow> =
            known.iter().filter_map(|s| Some((s.upstream_id.as_deref()?, s))).collect();
        let mut changes = Vec::new();
        for (line, r) in records {
            let Some(customer_id) = customers.get(r.customer_tenant_id.as_str()) else {
                report.rejected.push(Rejected {
                    line,
                    reason: format!(
                        "the customer {} is not one of your partner's (import the customer export first)",
                        r.customer_tenant_id
                    ),
                });
                continue;
            };
            match known.get(r.id.as_str()) {
                Some(s) if s.customer_id.as_deref() != Some(*customer_id) => report
                    .rejected
                    .push(Rejected { line, reason: format!("the subscription {} belongs to another customer", r.id) }),
                Some(s) if s.source != DataSource::Import.as_str() => report.kept += 1,
                Some(s)
                    if s.offer_name == r.offer_name
                        && s.status == r.status.as_str()
                        && s.quantity == r.quantity
                        && s.billing_cycle == r.billing_cycle.as_str()
                        && s.is_trial == r.is_trial =>
                {
                    report.unchanged += 1
                }
                Some(s) => {
                    report.updated += 1;
                    changes.push(Change::UpdateSubscription((*s).clone(), r));
                }
                None => {
                    report.created += 1;
                    let azure = r.family == ProductFamily::Azure;
                    changes.push(Change::CreateSubscription(SubscriptionRow {
                        id: format!("sub-{}", uuid::Uuid::now_v7()),
                        partner_id: p.to_owned(),
                        provider_id: None,
                        customer_id: Some((*customer_id).to_owned()),
                        owner: SubscriptionOwner::Customer.as_str().into(),
                        product_family: r.family.as_str().into(),
                        offer_name: r.offer_name.clone(),
                        status: r.status.as_str().into(),
                        billing_cycle: r.billing_cycle.as_str().into(),
                        quantity: r.quantity,
                        is_trial: r.is_trial,
                        azure_subscription_id: azure.then(|| r.id.clone()),
                        created_at: self.now.naive_utc(),
                        source: DataSource::Import.as_str().into(),
                        upstream_id: Some(r.id.clone()),
                        synced_at: None,
                    }));
                }
            }
        }
        if !report.rejected.is_empty() {
            report.created = 0;
            report.updated = 0;
            report.unchanged = 0;
            report.kept = 0;
            return Ok(report);
        }
        self.apply(changes).await?;
        Ok(report)
    }

    async fn products(&self, checked: Checked<ProductDraft>) -> AppResult<ImportReport> {
        let p = self.agent.partner_id.as_str();
        let mut report = ImportReport::new(ImportKind::Products, checked.len());
        let key = |d: &ProductDraft| format!("{}\n{}", d.publisher.to_lowercase(), d.name.to_lowercase());
        let records = sort_rows(&mut report, checked, key);
        if !report.rejected.is_empty() {
            return Ok(report);
        }
        let known: Vec<MarketplaceProductRow> = with_conn!(self.db, |conn| {
            marketplace_products::table
                .filter(marketplace_products::partner_id.eq(p))
                .select(MarketplaceProductRow::as_select())
                .load(conn)
                .await?
        });
        let known: HashMap<String, &MarketplaceProductRow> = known
            .iter()
            .map(|r| (format!("{}\n{}", r.publisher_name.to_lowercase(), r.name.to_lowercase()), r))
            .collect();
        let mut changes = Vec::new();
        for (_, d) in records {
            match known.get(&key(&d)) {
                Some(existing) => {
                    let row = product_row(existing.id.clone(), p, &d);
                    if product_detail(&row) == product_detail(existing) {
                        report.unchanged += 1;
                    } else {
                        report.updated += 1;
                        changes.push(Change::UpdateProduct(row));
                    }
                }
                None => {
                    report.created += 1;
                    changes.push(Change::CreateProduct(product_row(
                        format!("product-{}", uuid::Uuid::now_v7()),
                        p,
                        &d,
                    )));
                }
            }
        }
        self.apply(changes).await?;
        Ok(report)
    }

    /// Writes every change and its history entry in one transaction.
    async fn apply(&self, changes: Vec<Change>) -> AppResult<()> {
        if changes.is_empty() {
            return Ok(());
        }
        transaction!(self.db, |conn| {
            for change in &changes {
                let entry = match change {
                    Change::CreateCustomer(row) => {
                        diesel::insert_into(customers::table).values(row).execute(conn).await?;
                        let domain = CustomerDomainRow {
                            domain: row.primary_domain.clone(),
                            customer_id: row.id.clone(),
                            is_primary: true,
                        };
                        diesel::insert_into(customer_domains::table).values(&domain).execute(conn).await?;
                        self.history(AdminSubject::Customer, &row.id, customer_detail(row))
                    }
                    Change::UpdateCustomer(before, r) => {
                        diesel::update(customers::table.find(&before.id))
                            .set((
                                customers::company_name.eq(&r.company_name),
                                customers::primary_domain.eq(&r.primary_domain),
                                customers::relationship.eq(r.relationship.as_str()),
                                customers::relationship_ended_at.eq(None::<chrono::NaiveDateTime>),
                            ))
                            .execute(conn)
                            .await?;
                        if before.primary_domain != r.primary_domain {
                            diesel::update(customer_domains::table.find(&before.primary_domain))
                                .set(customer_domains::is_primary.eq(false))
                                .execute(conn)
                                .await?;
                            let domain = CustomerDomainRow {
                                domain: r.primary_domain.clone(),
                                customer_id: before.id.clone(),
                                is_primary: true,
                            };
                            diesel::insert_into(customer_domains::table).values(&domain).execute(conn).await?;
                        }
                        let mut after = before.clone();
                        after.company_name = r.company_name.clone();
                        after.primary_domain = r.primary_domain.clone();
                        after.relationship = r.relationship.as_str().into();
                        self.history(AdminSubject::Customer, &before.id, customer_detail(&after))
                    }
                    Change::CreateSubscription(row) => {
                        diesel::insert_into(subscriptions::table).values(row).execute(conn).await?;
                        self.history(AdminSubject::Subscription, &row.id, subscription_detail(row))
                    }
                    Change::UpdateSubscription(before, r) => {
                        diesel::update(subscriptions::table.find(&before.id))
                            .set((
                                subscriptions::offer_name.eq(&r.offer_name),
                                subscriptions::status.eq(r.status.as_str()),
                                subscriptions::quantity.eq(r.quantity),
                                subscriptions::billing_cycle.eq(r.billing_cycle.as_str()),
                                subscriptions::is_trial.eq(r.is_trial),
                            ))
                            .execute(conn)
                            .await?;
                        let mut after = before.clone();
                        after.offer_name = r.offer_name.clone();
                        after.status = r.status.as_str().into();
                        after.quantity = r.quantity;
                        after.billing_cycle = r.billing_cycle.as_str().into();
                        after.is_trial = r.is_trial;
                        self.history(AdminSubject::Subscription, &before.id, subscription_detail(&after))
                    }
                    Change::CreateProduct(row) => {
                        diesel::insert_into(marketplace_products::table).values(row).execute(conn).await?;
                        self.history(AdminSubject::MarketplaceProduct, &row.id, product_detail(row))
                    }
                    Change::UpdateProduct(row) => {
                        diesel::update(marketplace_products::table.find(&row.id))
                            .set((
                                marketplace_products::summary.eq(&row.summary),
                                marketplace_products::support_url.eq(&row.support_url),
                                marketplace_products::support_email.eq(&row.support_email),
                                marketplace_products::support_phone.eq(&row.support_phone),
                            ))
                            .execute(conn)
                            .await?;
                        self.history(AdminSubject::MarketplaceProduct, &row.id, product_detail(row))
                    }
                };
                diesel::insert_into(admin_changes::table).values(&entry).execute(conn).await?;
            }
            Ok(())
        })
    }
}

enum Change {
    CreateCustomer(CustomerRow),
    UpdateCustomer(CustomerRow, CustomerRecord),
    CreateSubscription(SubscriptionRow),
    UpdateSubscription(SubscriptionRow, SubscriptionRecord),
    CreateProduct(MarketplaceProductRow),
    UpdateProduct(MarketplaceProductRow),
}

fn customer_detail(c: &CustomerRow) -> serde_json::Value {
    json!({
        "microsoftId": c.tenant_id,
        "companyName": c.company_name,
        "primaryDomain": c.primary_domain,
        "relationship": c.relationship,
        "country": c.country,
    })
}

fn subscription_detail(s: &SubscriptionRow) -> serde_json::Value {
    json!({
        "subscriptionId": s.upstream_id,
        "customerId": s.customer_id,
        "offerName": s.offer_name,
        "status": s.status,
        "quantity": s.quantity,
        "billingCycle": s.billing_cycle,
        "trial": s.is_trial,
    })
}
