//! SLA reports against figures computed by hand, on both backends: six requests filed and
//! answered at known instants, each figure of `slaReport` checked overall and per grouping.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{FABRIKAM_ADMIN, NORTHWIND_ADMIN, TestApp};
use serde_json::{Value, json};

const CREATE: &str =
    "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { serviceRequest { id } } }";
const RESPOND: &str = "mutation($i: RecordSupportResponseInput!) { recordSupportResponse(input: $i) { serviceRequest { sla { state } } } }";
const FIGURES: &str =
    "requests met breached running responded metRate breachRate medianFirstResponseMinutes p90FirstResponseMinutes";

fn report_query() -> String {
    format!(
        "query($from: DateTime!, $to: DateTime!, $period: ReportPeriod!) {{
           slaReport(from: $from, to: $to, period: $period) {{
             overall {{ {FIGURES} }}
             bySeverity {{ key label figures {{ {FIGURES} }} }}
             byLanguage {{ key label figures {{ {FIGURES} }} }}
             byProductFamily {{ key label figures {{ {FIGURES} }} }}
             byCustomer {{ key label customer {{ id }} figures {{ {FIGURES} }} }}
             byPeriod {{ key label figures {{ {FIGURES} }} }} }} }}"
    )
}

/// Monday 7 December 2026, 10:00 UTC.
fn day1() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

/// Two Microsoft 365 customers of Northwind (any relationship that may file).
async fn two_customers(t: &TestApp) -> Vec<(Value, Value)> {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ customers(first: 100) { edges { node { id relationship
                 subscriptions(first: 100) { edges { node { id productFamily status } } } } } } }",
            json!({}),
        )
        .await;
    let mut found = Vec::new();
    for edge in d["customers"]["edges"].as_array().unwrap() {
        let c = &edge["node"];
        let sub = c["subscriptions"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["node"]["productFamily"] == "MICROSOFT_365" && s["node"]["status"] == "ACTIVE");
        if c["relationship"] != "ADVISOR"
            && let Some(sub) = sub
        {
            found.push((c["id"].clone(), sub["node"]["id"].clone()));
        }
        if found.len() == 2 {
            break;
        }
    }
    assert_eq!(found.len(), 2, "two Microsoft 365 customers");
    found
}

async fn file(t: &TestApp, customer: &(Value, Value), impact: &str, language: &str) -> Value {
    let topic = t.data(NORTHWIND_ADMIN, "{ supportTopics(productFamily: MICROSOFT_365) { id } }", json!({})).await;
    let input = json!({
        "customerId": customer.0, "productFamily": "MICROSOFT_365", "subscriptionId": customer.1,
        "supportTopicId": topic["supportTopics"][0]["id"], "incidentKind": "TECHNICAL_BREAK_FIX",
        "businessImpact": impact, "title": "Mail delayed", "description": "Queues growing.", "supportLanguage": language,
    });
    t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"]["id"].clone()
}

async fn respond(t: &TestApp, id: &Value) -> Value {
    t.data(NORTHWIND_ADMIN, RESPOND, json!({ "i": { "id": id } })).await["recordSupportResponse"]["serviceRequest"]["sla"]
        ["state"]
        .clone()
}

/// The figures in the order of `FIGURES`.
fn figures(f: &Value) -> Value {
    json!([
        f["requests"],
        f["met"],
        f["breached"],
        f["running"],
        f["responded"],
        f["metRate"],
        f["breachRate"],
        f["medianFirstResponseMinutes"],
        f["p90FirstResponseMinutes"]
    ])
}

fn by_key(rows: &Value) -> Vec<(String, Value)> {
    rows.as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap().to_owned(), figures(&r["figures"]))).collect()
}

async fn report_figures_match_a_hand_count(t: TestApp) {
    let customers = two_customers(&t).await;
    let (x, y) = (&customers[0], &customers[1]);
    // Day 1: three requests at 10:00, answered after 30 min (A, met), 60 min (C, met) and
    // 300 min (B, 4 h target: breached).
    t.clock.set(day1());
    let r1 = file(&t, x, "CRITICAL", "en").await;
    let r2 = file(&t, x, "MODERATE", "en").await;
    let r3 = file(&t, y, "MINIMAL", "en").await;
    t.clock.set(day1() + Duration::minutes(30));
    assert_eq!(respond(&t, &r1).await, "MET");
    t.clock.set(day1() + Duration::minutes(60));
    assert_eq!(respond(&t, &r3).await, "MET");
    t.clock.set(day1() + Duration::minutes(300));
    assert_eq!(respond(&t, &r2).await, "BREACHED");
    // Day 2: A in French answered after 10 min (met); B never answered (due 14:00, breached
    // by 15:00); C filed at 14:00, still running at 15:00.
    let day2 = day1() + Duration::days(1);
    t.clock.set(day2);
    let r4 = file(&t, y, "CRITICAL", "fr").await;
    let _r5 = file(&t, x, "MODERATE", "en").await;
    t.clock.set(day2 + Duration::minutes(10));
    assert_eq!(respond(&t, &r4).await, "MET");
    t.clock.set(day2 + Duration::hours(4));
    let _r6 = file(&t, x, "MINIMAL", "en").await;
    t.clock.set(day2 + Duration::hours(5));

    let vars = json!({ "from": "2026-12-07T00:00:00Z", "to": "2026-12-09T00:00:00Z", "period": "DAY" });
    let d = t.data(NORTHWIND_ADMIN, &report_query(), vars).await;
    let r = &d["slaReport"];
    // Minutes to first response: 30, 300, 60, 10 → sorted 10, 30, 60, 300: median at rank
    // ceil(4 × 0.5) = 2 → 30; p90 at rank ceil(4 × 0.9) = 4 → 300. Decided: 3 met, 2 breached.
    assert_eq!(figures(&r["overall"]), json!([6, 3, 2, 1, 4, 0.6, 0.4, 30.0, 300.0]));
    assert_eq!(
        by_key(&r["bySeverity"]),
        vec![
            ("A".to_owned(), json!([2, 2, 0, 0, 2, 1.0, 0.0, 10.0, 30.0])),
            ("B".to_owned(), json!([2, 0, 2, 0, 1, 0.0, 1.0, 300.0, 300.0])),
            ("C".to_owned(), json!([2, 1, 0, 1, 1, 1.0, 0.0, 60.0, 60.0])),
        ]
    );
    // English: 30, 300, 60 → 30, 60, 300: median rank 2 → 60; p90 rank ceil(2.7) = 3 → 300.
    assert_eq!(
        by_key(&r["byLanguage"]),
        vec![
            ("en".to_owned(), json!([5, 2, 2, 1, 3, 0.5, 0.5, 60.0, 300.0])),
            ("fr".to_owned(), json!([1, 1, 0, 0, 1, 1.0, 0.0, 10.0, 10.0])),
        ]
    );
    assert_eq!(by_key(&r["byProductFamily"]), vec![("MICROSOFT_365".to_owned(), figures(&r["overall"]))]);
    let by_customer: Vec<(Value, Value)> = r["byCustomer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            assert_eq!(row["key"], row["customer"]["id"]);
            (row["key"].clone(), figures(&row["figures"]))
        })
        .collect();
    assert_eq!(by_customer.len(), 2);
    // X: r1 (met, 30), r2 (breached, 300), r5 (breached), r6 (running); Y: r3 (60), r4 (10).
    assert!(by_customer.contains(&(x.0.clone(), json!([4, 1, 2, 1, 2, 1.0 / 3.0, 2.0 / 3.0, 30.0, 300.0]))));
    assert!(by_customer.contains(&(y.0.clone(), json!([2, 2, 0, 0, 2, 1.0, 0.0, 10.0, 60.0]))));
    assert_eq!(
        by_key(&r["byPeriod"]),
        vec![
            ("2026-12-07".to_owned(), json!([3, 2, 1, 0, 3, 2.0 / 3.0, 1.0 / 3.0, 60.0, 300.0])),
            ("2026-12-08".to_owned(), json!([3, 1, 1, 1, 1, 0.5, 0.5, 10.0, 10.0])),
        ]
    );

    // Weeks start on Monday: both days in one; a month with no request elsewhere shows zeros.
    let vars = json!({ "from": "2026-11-30T00:00:00Z", "to": "2027-01-01T00:00:00Z", "period": "WEEK" });
    let d = t.data(NORTHWIND_ADMIN, &report_query(), vars).await;
    let weeks = by_key(&d["slaReport"]["byPeriod"]);
    let keys: Vec<&str> = weeks.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["2026-11-30", "2026-12-07", "2026-12-14", "2026-12-21", "2026-12-28"]);
    assert_eq!(weeks[1].1, figures(&r["overall"]));
    assert_eq!(weeks[2].1, json!([0, 0, 0, 0, 0, null, null, null, null]));

    // Another partner's report over the same range counts none of them.
    let vars = json!({ "from": "2026-12-07T00:00:00Z", "to": "2026-12-09T00:00:00Z", "period": "MONTH" });
    let d = t.data(FABRIKAM_ADMIN, &report_query(), vars).await;
    assert_eq!(figures(&d["slaReport"]["overall"]), json!([0, 0, 0, 0, 0, null, null, null, null]));
    assert_eq!(d["slaReport"]["byCustomer"], json!([]));
    assert_eq!(by_key(&d["slaReport"]["byPeriod"]).len(), 1);

    // Bad ranges are refused with a clear code.
    let vars = json!({ "from": "2026-12-09T00:00:00Z", "to": "2026-12-07T00:00:00Z", "period": "DAY" });
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &report_query(), vars).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    let vars = json!({ "from": "2020-01-01T00:00:00Z", "to": "2026-12-07T00:00:00Z", "period": "DAY" });
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &report_query(), vars).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

on_both_backends!(report_figures_match_a_hand_count);
