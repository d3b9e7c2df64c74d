//! Criterion micro-benchmarks of the hot pure code: SLA due and remaining time on 24×7 and
//! business calendars, policy evaluation, global ids, and serializing a large page.
//! `cargo bench --bench micro` (add a name to filter, e.g. `-- sla`).

use std::hint::black_box;

use async_graphql::{Name, Value};

use chrono::{Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use support_gateway::domain::model::*;
use support_gateway::domain::policy::{
    Agreements, CallerFacts, CustomerFacts, FilingChannel, FilingRequest, SubscriptionFacts, Tenant, evaluate,
};
use support_gateway::domain::sla::{self, BusinessCalendar};
use support_gateway::graphql::ids::{NodeKind, decode, encode};

fn sla(c: &mut Criterion) {
    let always = BusinessCalendar::always_open();
    let business = BusinessCalendar::weekdays(chrono_tz::Europe::Berlin, 9, 17);
    // A Friday afternoon: business time runs over the weekend.
    let start = Utc.with_ymd_and_hms(2026, 11, 27, 15, 30, 0).unwrap();
    c.bench_function("sla/due 24x7 (A, 1 h)", |b| {
        b.iter(|| sla::add_clock_time(SlaClock::TwentyFourSeven, &always, black_box(start), Duration::hours(1)))
    });
    c.bench_function("sla/due business hours (C, 8 h over a weekend)", |b| {
        b.iter(|| sla::add_clock_time(SlaClock::BusinessHours, &business, black_box(start), Duration::hours(8)))
    });
    let due = sla::add_clock_time(SlaClock::BusinessHours, &business, start, Duration::hours(8));
    c.bench_function("sla/remaining business hours", |b| {
        b.iter(|| {
            sla::remaining(SlaClock::BusinessHours, &business, black_box(due), black_box(start + Duration::hours(1)))
        })
    });
    c.bench_function("sla/remaining 24x7", |b| {
        b.iter(|| {
            sla::remaining(SlaClock::TwentyFourSeven, &always, black_box(due), black_box(start + Duration::hours(1)))
        })
    });
    let plan = sla::plan(IncidentKind::TechnicalBreakFix, Severity::B, "de", &business);
    c.bench_function("sla/plan + schedule + state", |b| {
        b.iter(|| {
            let record = sla::SlaRecord::file(black_box(plan), &business, start, sla::DEFAULT_WARNING_PERCENT);
            record.state_at(start + Duration::hours(2))
        })
    });
}

fn policy(c: &mut Criterion) {
    let caller = CallerFacts {
        role: AgentRole::AdminAgent,
        partner_kind: PartnerKind::Direct,
        partner_cloud: Cloud::Commercial,
        agreements: Agreements { asfp: true, mpn_contract_id: Some("MPN-1".into()), ..Agreements::default() },
        domains: vec!["partner.example".into()],
    };
    let tenant = Tenant::Customer(CustomerFacts {
        relationship: CustomerRelationship::Reseller,
        delegated_admin: true,
        azure_access_granted: true,
        primary_domain: "contoso.onmicrosoft.com".into(),
        domains: vec!["contoso.onmicrosoft.com".into(), "contoso.com".into()],
        cloud: Cloud::Commercial,
        read_only: false,
    });
    let request = FilingRequest {
        product_family: ProductFamily::Azure,
        incident_kind: IncidentKind::TechnicalBreakFix,
        business_impact: BusinessImpact::Critical,
        subscription: Some(SubscriptionFacts {
            product_family: ProductFamily::Azure,
            is_trial: false,
            status: SubscriptionStatus::Active,
        }),
        marketplace_product: None,
        support_topic_family: None,
        contact_email: Some("desk@partner.example".into()),
        contact_is_partner_agent: false,
        channel: FilingChannel::Web,
        entitlement: None,
    };
    c.bench_function("policy/evaluate (accepted Azure filing)", |b| {
        b.iter(|| evaluate(&caller, black_box(&tenant), black_box(&request), false))
    });
    let mut refused = request.clone();
    refused.contact_email = Some("it@contoso.com".into());
    refused.subscription = None;
    c.bench_function("policy/evaluate (refused, several rules)", |b| {
        b.iter(|| evaluate(&caller, black_box(&tenant), black_box(&refused), false))
    });
}

fn ids(c: &mut Criterion) {
    let raw = "0193a5c2-7b1e-7c3d-9f00-123456789abc";
    c.bench_function("ids/encode", |b| b.iter(|| encode(NodeKind::ServiceRequest, black_box(raw))));
    let id = encode(NodeKind::ServiceRequest, raw);
    c.bench_function("ids/decode", |b| b.iter(|| decode(black_box(&id))));
}

/// A page of 100 requests with 8 fields each, as the response serializer sees it.
fn serialize(c: &mut Criterion) {
    let node = |i: usize| {
        let mut m = async_graphql::indexmap::IndexMap::new();
        m.insert(Name::new("id"), Value::from(format!("U2VydmljZVJlcXVlc3Q6{i:08}")));
        m.insert(Name::new("title"), Value::from(format!("Users cannot sign in to tenant {i}")));
        m.insert(Name::new("status"), Value::Enum(Name::new("OPEN")));
        m.insert(Name::new("severity"), Value::Enum(Name::new("A")));
        m.insert(Name::new("productFamily"), Value::Enum(Name::new("AZURE")));
        m.insert(Name::new("createdAt"), Value::from("2026-11-25T15:00:00Z"));
        m.insert(Name::new("version"), Value::from(3));
        let mut sla = async_graphql::indexmap::IndexMap::new();
        sla.insert(Name::new("state"), Value::Enum(Name::new("ON_TRACK")));
        sla.insert(Name::new("remainingSeconds"), Value::from(3600));
        m.insert(Name::new("sla"), Value::Object(sla));
        let mut edge = async_graphql::indexmap::IndexMap::new();
        edge.insert(Name::new("node"), Value::Object(m));
        Value::Object(edge)
    };
    let mut conn = async_graphql::indexmap::IndexMap::new();
    conn.insert(Name::new("edges"), Value::List((0..100).map(node).collect()));
    let mut data = async_graphql::indexmap::IndexMap::new();
    data.insert(Name::new("serviceRequests"), Value::Object(conn));
    let response = async_graphql::Response::new(Value::Object(data));
    c.bench_function("serialize/page of 100 requests", |b| {
        b.iter(|| serde_json::to_vec(black_box(&response)).unwrap())
    });
}

/// The load benchmark's Q3 (20 customers → 10 subscriptions → 5 requests).
const Q3: &str =
    "query Q3 { customers(first: 20) { edges { node { id companyName primaryDomain country language relationship
  subscriptions(first: 10) { edges { node { id offerName productFamily quantity isTrial status
    serviceRequests(first: 5) { edges { node { id title status severity createdAt version } } } } } } } } } }";

/// An object with `keys` (string values) then `children`, all in reverse order when `reversed`.
fn object(keys: &[&str], reversed: bool, children: Vec<(&str, Value)>) -> Value {
    let mut fields: Vec<(Name, Value)> = keys.iter().map(|k| (Name::new(k), Value::String("x".into()))).collect();
    fields.extend(children.into_iter().map(|(k, v)| (Name::new(k), v)));
    if reversed {
        fields.reverse();
    }
    Value::Object(fields.into_iter().collect())
}

fn edges(nodes: Vec<Value>) -> Value {
    let edges = nodes.into_iter().map(|n| object(&[], false, vec![("node", n)])).collect();
    object(&[], false, vec![("edges", Value::List(edges))])
}

fn q3_response(reversed: bool) -> Value {
    let request = || object(&["id", "title", "status", "severity", "createdAt", "version"], reversed, vec![]);
    let subscription = || {
        let requests = edges((0..5).map(|_| request()).collect());
        let keys = ["id", "offerName", "productFamily", "quantity", "isTrial", "status"];
        object(&keys, reversed, vec![("serviceRequests", requests)])
    };
    let customer = || {
        let subscriptions = edges((0..10).map(|_| subscription()).collect());
        let keys = ["id", "companyName", "primaryDomain", "country", "language", "relationship"];
        object(&keys, reversed, vec![("subscriptions", subscriptions)])
    };
    object(&[], false, vec![("customers", edges((0..20).map(|_| customer()).collect()))])
}

/// Putting a response in selection order (src/graphql/order.rs), once per response.
fn order(c: &mut Criterion) {
    let doc = async_graphql::parser::parse_query(Q3).unwrap();
    let variables = async_graphql::Variables::default();
    for (name, reversed) in
        [("order/Q3 response already in order", false), ("order/Q3 response, every object reversed", true)]
    {
        let response = q3_response(reversed);
        c.bench_function(name, |b| {
            b.iter_batched(
                || response.clone(),
                |mut data| {
                    support_gateway::graphql::order::order_response(&doc, None, &variables, &mut data);
                    data
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
}

criterion_group!(benches, sla, policy, ids, serialize, order);
criterion_main!(benches);
