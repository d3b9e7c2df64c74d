//! The SLA record (S1–S5) and the filing rules where the gateway once departed from the
//! article (R7, R9, R11–R13), through the real router on SQLite and PostgreSQL: each test names
//! the rule it holds the gateway to.

mod common;

use chrono::{DateTime, Utc};
use common::ws::*;
use common::*;
use serde_json::{Value, json};
use support_gateway::clock::Clock;

const REQUEST: &str = "query($id: ID!) { node(id: $id) { ... on ServiceRequest { id version status severity createdAt
  contact { email }
  sla { state dueAt atRiskAt remainingSeconds firstResponseAt firstResponseSource firstResponseEnteredAt
        firstResponseEnteredBy { email } stoppedAt }
  history(first: 100) { edges { node { kind fromValue toValue actor { email } } } } } } }";

const CREATE: &str = "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { serviceRequest { id version contact { email name } } } }";
const RESPOND: &str = "mutation($i: RecordSupportResponseInput!) { recordSupportResponse(input: $i) { serviceRequest { version sla { state } } } }";
const SEVERITY: &str = "mutation($i: ChangeSeverityInput!) { changeServiceRequestSeverity(input: $i) { serviceRequest { version sla { state dueAt } } } }";
const STATUS: &str = "mutation($i: ChangeServiceRequestStatusInput!) { changeServiceRequestStatus(input: $i) { serviceRequest { version status } } }";
const ELIGIBILITY: &str = "query($c: ID, $f: ProductFamily!, $s: ID, $k: IncidentKind!, $t: ID, $e: String, $n: EntitlementInput) {
  supportEligibility(customerId: $c, productFamily: $f, subscriptionId: $s, incidentKind: $k, supportTopicId: $t, contactEmail: $e, entitlement: $n) {
    eligible blockers { rule } supportPlan feeCoverage entitlements requiresSupportTopic requiresAzureSubscription requiresEntitlement } }";

fn at(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a time: {v}"))).unwrap().with_timezone(&Utc)
}

/// The customers of `agent`'s partner with what the tests pick them by.
async fn customers(t: &TestApp, agent: &str) -> Vec<Value> {
    let d = t
        .data(
            agent,
            "{ customers(first: 100) { edges { node { id primaryDomain relationship delegatedAdminPrivileges
                 businessCalendar { id timeZone }
                 subscriptions(first: 100) { edges { node { id productFamily status } } } } } } }",
            json!({}),
        )
        .await;
    d["customers"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
}

fn subscription(customer: &Value, family: &str, deleted: bool) -> Option<Value> {
    customer["subscriptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"]["productFamily"] == family && (s["node"]["status"] == "DELETED") == deleted)
        .map(|s| s["node"]["id"].clone())
}

async fn topic(t: &TestApp, family: &str) -> Value {
    let d = t.data(NORTHWIND_ADMIN, &format!("{{ supportTopics(productFamily: {family}) {{ id }} }}"), json!({})).await;
    d["supportTopics"][0]["id"].clone()
}

/// A Microsoft 365 break-fix filing for a customer of `agent`'s partner chosen by `pick`.
async fn filing(t: &TestApp, agent: &str, impact: &str, language: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let c = customers(t, agent)
        .await
        .into_iter()
        .find(|c| c["relationship"] != "ADVISOR" && subscription(c, "MICROSOFT_365", false).is_some() && pick(c))
        .expect("a matching customer");
    json!({
        "customerId": c["id"], "productFamily": "MICROSOFT_365", "subscriptionId": subscription(&c, "MICROSOFT_365", false),
        "supportTopicId": topic(t, "MICROSOFT_365").await, "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": impact,
        "title": "Mail delayed", "description": "Queues growing.", "supportLanguage": language,
    })
}

async fn file(t: &TestApp, agent: &str, impact: &str) -> Value {
    let input = filing(t, agent, impact, "en", |_| true).await;
    t.data(agent, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone()
}

async fn request(t: &TestApp, id: &Value) -> Value {
    t.data(NORTHWIND_ADMIN, REQUEST, json!({ "id": id })).await["node"].clone()
}

fn history(r: &Value, kind: &str) -> Vec<(Value, Value)> {
    r["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["node"]["kind"] == kind)
        .map(|e| (e["node"]["fromValue"].clone(), e["node"]["toValue"].clone()))
        .collect()
}

/// The SLA state changes in the event log of request `id`, in order.
async fn sla_events(t: &TestApp, id: &Value) -> Vec<(String, String)> {
    use base64::Engine;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    use support_gateway::db::schema::events;
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id.as_str().unwrap()).unwrap();
    let raw = String::from_utf8(decoded).unwrap().split_once(':').unwrap().1.to_owned();
    async fn load(db: &support_gateway::db::Db, raw: &str) -> support_gateway::error::AppResult<Vec<String>> {
        Ok(support_gateway::with_conn!(db, |conn| events::table
            .filter(events::service_request_id.eq(raw))
            .filter(events::kind.eq("SLA_STATE_CHANGED"))
            .order(events::id)
            .select(events::payload)
            .load::<String>(conn)
            .await?))
    }
    load(&t.app.db, &raw)
        .await
        .expect("read events")
        .into_iter()
        .map(|p| {
            let v: Value = serde_json::from_str(&p).unwrap();
            (v["from"].as_str().unwrap().to_owned(), v["to"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Lets the watcher of this app and of a second "replica" record what is due, concurrently.
async fn tick_both(t: &TestApp, replica: &support_gateway::events::sla_watcher::SlaWatcher) -> usize {
    t.app.sla.load_running_clocks().await.unwrap();
    replica.load_running_clocks().await.unwrap();
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    a.unwrap() + b.unwrap()
}

fn replica(t: &TestApp) -> std::sync::Arc<support_gateway::events::sla_watcher::SlaWatcher> {
    support_gateway::events::sla_watcher::SlaWatcher::new(t.app.db.clone(), t.app.sla_clock(), t.app.events.clone())
}

on_both_backends!(
    s4_a_published_breach_is_never_undone,
    s4_each_state_change_is_one_history_entry_and_one_event,
    s4_the_due_instant_is_met_when_answered_and_not_yet_breached,
    s4_resolving_or_closing_stops_the_clock_for_good,
    s4_only_admins_record_support_responses_and_it_is_marked_manual,
    s4_the_warning_window_is_configurable_per_severity,
    s2_the_filtered_countdown_follows_running_clocks_as_queries_see_them,
    s5_admins_maintain_calendars_and_open_requests_follow_them,
    r7_the_contact_is_the_partners_own,
    r9_a_topic_must_be_of_the_requests_family,
    r11_advised_customers_and_deleted_subscriptions,
    r12_r13_an_entitlement_covers_only_what_it_covers,
    r1_r15_eligibility_and_filing_agree_on_every_draft,
    r1_r15_every_demo_request_obeys_the_rules,
    s1_s5_random_lives_never_rewrite_the_record,
    s2_s4_the_clock_periods_explain_the_due_time,
);

const PERIODS: &str = "query($id: ID!) { node(id: $id) { ... on ServiceRequest {
  sla { clock targetMinutes dueAt stoppedAt clockPeriods { from to minutes upcoming } } } } }";

/// The minutes of a request's clock periods, and whether they end at `end`.
async fn periods(t: &TestApp, id: &Value) -> (Value, f64, Vec<bool>) {
    let d = t.data(NORTHWIND_ADMIN, PERIODS, json!({ "id": id })).await;
    let sla = d["node"]["sla"].clone();
    let list = sla["clockPeriods"].as_array().unwrap().clone();
    let minutes = list.iter().map(|p| p["minutes"].as_f64().unwrap()).sum();
    let upcoming = list.iter().map(|p| p["upcoming"].as_bool().unwrap()).collect();
    (sla, minutes, upcoming)
}

async fn s2_s4_the_clock_periods_explain_the_due_time(t: TestApp) {
    // English: one period around the clock, from filing to the due time, all of the target.
    let r = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let (sla, minutes, upcoming) = periods(&t, &r["id"]).await;
    assert_eq!(sla["clock"], "TWENTY_FOUR_SEVEN");
    assert_eq!(minutes, 120.0);
    assert_eq!(upcoming, [false], "it started at filing, which is now");
    assert_eq!(sla["clockPeriods"][0]["to"], sla["dueAt"]);
    // Another language: the calendar's working intervals, which add up to the target and end
    // at the due time; after a response the clock stops there.
    let input = filing(&t, NORTHWIND_ADMIN, "MINIMAL", "de", |_| true).await;
    let r =
        t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    let (sla, minutes, _) = periods(&t, &r["id"]).await;
    assert_eq!(sla["clock"], "BUSINESS_HOURS");
    assert_eq!(minutes, sla["targetMinutes"].as_f64().unwrap(), "{sla}");
    let list = sla["clockPeriods"].as_array().unwrap();
    assert_eq!(list.last().unwrap()["to"], sla["dueAt"]);
    assert!(list.windows(2).all(|w| at(&w[0]["to"]) < at(&w[1]["from"])), "separate working intervals, in order");
    t.clock.advance(chrono::Duration::minutes(30));
    t.data(NORTHWIND_ADMIN, RESPOND, json!({ "i": { "id": r["id"] } })).await;
    let (sla, minutes, upcoming) = periods(&t, &r["id"]).await;
    let stopped = at(&sla["stoppedAt"]);
    assert_eq!(at(&sla["clockPeriods"].as_array().unwrap().last().unwrap()["to"]), stopped);
    assert!(minutes <= 30.0, "at most the 30 minutes that passed: {minutes}");
    assert!(upcoming.iter().all(|u| !u), "nothing is ahead once the clock stopped");
}

async fn s4_a_published_breach_is_never_undone(t: TestApp) {
    let replica = replica(&t);
    // Breached, then a response entered with an earlier time: still breached, the claim kept.
    let r = file(&t, NORTHWIND_ADMIN, "CRITICAL").await; // 2 hours
    let filed = t.clock.now();
    t.clock.advance(chrono::Duration::hours(2) + chrono::Duration::seconds(1));
    tick_both(&t, &replica).await;
    assert_eq!(request(&t, &r["id"]).await["sla"]["state"], "BREACHED");
    let claimed = filed + chrono::Duration::hours(1);
    let d = t.data(NORTHWIND_ADMIN, RESPOND, json!({ "i": { "id": r["id"], "respondedAt": claimed } })).await;
    assert_eq!(d["recordSupportResponse"]["serviceRequest"]["sla"]["state"], "BREACHED");
    let after = request(&t, &r["id"]).await;
    assert_eq!(after["sla"]["state"], "BREACHED");
    assert_eq!(at(&after["sla"]["firstResponseAt"]), claimed, "the claimed time is recorded");
    assert!(after["sla"]["remainingSeconds"].as_i64().unwrap() < 0);
    let responded = history(&after, "SUPPORT_RESPONDED");
    assert_eq!(responded.len(), 1);
    assert_eq!(at(&responded[0].1), claimed, "history keeps who entered which time");
    assert_eq!(history(&after, "SLA_STATE_CHANGED").last().unwrap().1, "BREACHED");
    // Breached, then a lower severity (a later due time): still breached.
    let r = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    t.clock.advance(chrono::Duration::hours(3));
    tick_both(&t, &replica).await;
    let due = request(&t, &r["id"]).await["sla"]["dueAt"].clone();
    let d = t
        .data(NORTHWIND_ADMIN, SEVERITY, json!({ "i": { "id": r["id"], "severity": "C", "expectedVersion": 1 } }))
        .await;
    let s = &d["changeServiceRequestSeverity"]["serviceRequest"]["sla"];
    assert_eq!((s["state"].as_str(), &s["dueAt"]), (Some("BREACHED"), &due), "a lower severity does not un-breach");
    tick_both(&t, &replica).await;
    assert_eq!(request(&t, &r["id"]).await["sla"]["state"], "BREACHED");
    // A response time is neither in the future nor before filing.
    let r = file(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    for (when, what) in [
        (t.clock.now() + chrono::Duration::minutes(1), "future"),
        (t.clock.now() - chrono::Duration::days(1), "before"),
    ] {
        let before = write_counts(&t).await;
        let (_, body) =
            t.gql_as(Some(NORTHWIND_ADMIN), RESPOND, json!({ "i": { "id": r["id"], "respondedAt": when } })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{what}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains(what), "{body}");
        assert_eq!(write_counts(&t).await, before);
    }
}

async fn s4_each_state_change_is_one_history_entry_and_one_event(t: TestApp) {
    let replica = replica(&t);
    // B (4 h, warning after 3 h) → A (2 h, warning after 90 min) at 100 minutes: AT_RISK once.
    let r = file(&t, NORTHWIND_ADMIN, "MODERATE").await;
    t.clock.advance(chrono::Duration::minutes(100));
    tick_both(&t, &replica).await;
    let d = t
        .data(NORTHWIND_ADMIN, SEVERITY, json!({ "i": { "id": r["id"], "severity": "A", "expectedVersion": 1 } }))
        .await;
    assert_eq!(d["changeServiceRequestSeverity"]["serviceRequest"]["sla"]["state"], "AT_RISK");
    for _ in 0..3 {
        t.app.sla.schedule_now_for_test(&r["id"]).await;
        replica.schedule_now_for_test(&r["id"]).await;
        tick_both(&t, &replica).await;
    }
    let once = vec![("ON_TRACK".to_owned(), "AT_RISK".to_owned())];
    assert_eq!(sla_events(&t, &r["id"]).await, once, "one event");
    assert_eq!(history(&request(&t, &r["id"]).await, "SLA_STATE_CHANGED").len(), 1, "one history entry");
    // The breach, raced by two watchers and a note: recorded once.
    t.clock.advance(chrono::Duration::minutes(21));
    let note =
        "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { serviceRequest { id } } }";
    let (recorded, _) = tokio::join!(
        tick_both(&t, &replica),
        t.data(NORTHWIND_HELPDESK, note, json!({ "i": { "id": r["id"], "body": "Still waiting." } }))
    );
    let _ = recorded;
    tick_both(&t, &replica).await;
    let events = sla_events(&t, &r["id"]).await;
    assert_eq!(events, vec![once[0].clone(), ("AT_RISK".to_owned(), "BREACHED".to_owned())]);
    let entries = history(&request(&t, &r["id"]).await, "SLA_STATE_CHANGED");
    assert_eq!(entries.iter().map(|(_, to)| to.as_str().unwrap()).collect::<Vec<_>>(), vec!["AT_RISK", "BREACHED"]);
}

async fn s4_the_due_instant_is_met_when_answered_and_not_yet_breached(t: TestApp) {
    let replica = replica(&t);
    let answered = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let unanswered = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let due = at(&request(&t, &answered["id"]).await["sla"]["dueAt"]);
    t.clock.set(due);
    tick_both(&t, &replica).await;
    let r = request(&t, &unanswered["id"]).await;
    assert_eq!((r["sla"]["state"].as_str(), r["sla"]["remainingSeconds"].as_i64()), (Some("AT_RISK"), Some(0)));
    let d = t.data(NORTHWIND_ADMIN, RESPOND, json!({ "i": { "id": answered["id"] } })).await;
    assert_eq!(d["recordSupportResponse"]["serviceRequest"]["sla"]["state"], "MET", "answered at the due instant");
    t.clock.advance(chrono::Duration::milliseconds(1));
    assert_eq!(request(&t, &unanswered["id"]).await["sla"]["state"], "BREACHED", "unanswered after it");
    tick_both(&t, &replica).await;
    assert_eq!(history(&request(&t, &unanswered["id"]).await, "SLA_STATE_CHANGED").last().unwrap().1, "BREACHED");
    assert_eq!(request(&t, &answered["id"]).await["sla"]["state"], "MET");
}

async fn s4_resolving_or_closing_stops_the_clock_for_good(t: TestApp) {
    let replica = replica(&t);
    let r = file(&t, NORTHWIND_ADMIN, "MODERATE").await;
    t.clock.advance(chrono::Duration::hours(1));
    let d = t
        .data(NORTHWIND_ADMIN, STATUS, json!({ "i": { "id": r["id"], "status": "CLOSED", "expectedVersion": 1 } }))
        .await;
    let version = d["changeServiceRequestStatus"]["serviceRequest"]["version"].clone();
    let closed = request(&t, &r["id"]).await;
    assert_eq!(closed["sla"]["state"], "STOPPED");
    assert_eq!(at(&closed["sla"]["stoppedAt"]), t.clock.now());
    assert_eq!(closed["sla"]["remainingSeconds"], 3 * 3600);
    t.clock.advance(chrono::Duration::hours(10));
    tick_both(&t, &replica).await;
    let later = request(&t, &r["id"]).await;
    assert_eq!(
        (later["sla"]["state"].as_str(), &later["sla"]["remainingSeconds"]),
        (Some("STOPPED"), &json!(3 * 3600))
    );
    assert_eq!(history(&later, "SLA_STATE_CHANGED"), vec![(json!("ON_TRACK"), json!("STOPPED"))]);
    for (q, i) in [
        (SEVERITY, json!({ "id": r["id"], "severity": "A", "expectedVersion": version })),
        (RESPOND, json!({ "id": r["id"] })),
    ] {
        let before = write_counts(&t).await;
        let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), q, json!({ "i": i })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "INVALID_TRANSITION", "{body}");
        assert_eq!(write_counts(&t).await, before);
    }
    // Resolved after the due time without a response: breached, and it stays so.
    let r = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let mut v = 1;
    t.clock.advance(chrono::Duration::hours(3));
    for status in ["OPEN", "RESOLVED"] {
        let d = t
            .data(NORTHWIND_ADMIN, STATUS, json!({ "i": { "id": r["id"], "status": status, "expectedVersion": v } }))
            .await;
        v = d["changeServiceRequestStatus"]["serviceRequest"]["version"].as_i64().unwrap();
    }
    let resolved = request(&t, &r["id"]).await;
    assert_eq!(resolved["sla"]["state"], "BREACHED");
    let changes: Vec<_> = history(&resolved, "SLA_STATE_CHANGED").into_iter().map(|(_, to)| to).collect();
    assert_eq!(changes, vec![json!("AT_RISK"), json!("BREACHED")], "recorded at their instants, not as STOPPED");
}

async fn s4_only_admins_record_support_responses_and_it_is_marked_manual(t: TestApp) {
    let r = file(&t, NORTHWIND_ADMIN, "MODERATE").await;
    let before = write_counts(&t).await;
    let (_, body) = t.gql_as(Some(NORTHWIND_HELPDESK), RESPOND, json!({ "i": { "id": r["id"] } })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["rule"], "ACCESS");
    assert_eq!(write_counts(&t).await, before);
    t.clock.advance(chrono::Duration::minutes(5));
    t.data("global@northwind-cloud.example", RESPOND, json!({ "i": { "id": r["id"] } })).await;
    let s = request(&t, &r["id"]).await["sla"].clone();
    assert_eq!(s["state"], "MET");
    assert_eq!(s["firstResponseSource"], "MANUAL");
    assert_eq!(s["firstResponseEnteredBy"]["email"], "global@northwind-cloud.example");
    assert_eq!(at(&s["firstResponseEnteredAt"]), t.clock.now());
}

async fn s4_the_warning_window_is_configurable_per_severity(t: TestApp) {
    let t2 = t.reconfigured(|c| c.sla = support_gateway::domain::sla::SlaPolicy::parse("A=50,C=10").unwrap()).await;
    let now = t2.clock.now();
    for (impact, warn_after_minutes) in [("CRITICAL", 60), ("MODERATE", 180), ("MINIMAL", 432)] {
        let r = file(&t2, NORTHWIND_ADMIN, impact).await;
        let s = request(&t2, &r["id"]).await["sla"].clone();
        assert_eq!(at(&s["atRiskAt"]) - now, chrono::Duration::minutes(warn_after_minutes), "{impact}");
    }
    // The default stays 25 %.
    let r = file(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    assert_eq!(at(&request(&t, &r["id"]).await["sla"]["atRiskAt"]) - t.clock.now(), chrono::Duration::minutes(90));
}

const BOARD: &str = "subscription($f: ServiceRequestEventFilter!) { slaCountdown(filter: $f, intervalSeconds: 1) {
  at items { serviceRequestId state dueAt remainingSeconds } } }";

/// The next countdown tick at the clock's instant in which `check` holds (ticks computed
/// before the test moved the clock or changed a request may still be on their way).
async fn tick_where(ws: &mut Ws, id: &str, now: DateTime<Utc>, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..8 {
        let tick = ws.next(id).await["data"]["slaCountdown"].clone();
        if at(&tick["at"]) == now && check(&tick) {
            return tick;
        }
    }
    panic!("no countdown tick at {now} matched");
}

async fn s2_the_filtered_countdown_follows_running_clocks_as_queries_see_them(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    // A German severity-A request filed outside business hours: its clock stands at 2 hours.
    t.clock.set("2026-11-25T19:00:00Z".parse().unwrap()); // 20:00 in Berlin
    let input =
        filing(&t, NORTHWIND_ADMIN, "CRITICAL", "de", |c| c["businessCalendar"]["timeZone"] == "Europe/Berlin").await;
    let customer = input["customerId"].clone();
    let r =
        t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.subscribe("c", BOARD, json!({ "f": { "customer": [customer] } })).await;
    for hours in [0, 3, 6] {
        t.clock.set("2026-11-25T19:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::hours(hours));
        let now = t.clock.now();
        let query = request(&t, &r["id"]).await["sla"].clone();
        assert_eq!(query["remainingSeconds"], 7200, "the clock is stopped overnight");
        let tick = tick_where(&mut ws, "c", now, |_| true).await;
        let item = tick["items"].as_array().unwrap().iter().find(|i| i["serviceRequestId"] == r["id"]).unwrap().clone();
        assert_eq!(
            (&item["remainingSeconds"], &item["state"]),
            (&query["remainingSeconds"], &query["state"]),
            "tick = query"
        );
    }
    // The unfiltered board: only running clocks, soonest due first, each as a query sees it.
    let mut board = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    board.subscribe("b", BOARD, json!({ "f": {} })).await;
    let now = t.clock.now();
    let tick = tick_where(&mut board, "b", now, |_| true).await;
    let items = tick["items"].as_array().unwrap().clone();
    let running = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(filter: { slaClockRunning: true, status: [NEW, OPEN, IN_PROGRESS, WAITING_ON_PARTNER] }) { totalCount } }",
            json!({}),
        )
        .await["serviceRequests"]["totalCount"]
        .as_i64()
        .unwrap();
    assert_eq!(items.len() as i64, running.min(100), "every running clock, and nothing else");
    let dues: Vec<DateTime<Utc>> = items.iter().map(|i| at(&i["dueAt"])).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "soonest due first");
    for item in &items {
        assert!(!["MET", "STOPPED"].contains(&item["state"].as_str().unwrap()), "{item}");
        let q = request(&t, &item["serviceRequestId"]).await["sla"].clone();
        assert_eq!((&item["state"], &item["remainingSeconds"]), (&q["state"], &q["remainingSeconds"]));
    }
    // An answered request leaves the board.
    t.clock.advance(chrono::Duration::minutes(1));
    t.data(NORTHWIND_ADMIN, RESPOND, json!({ "i": { "id": r["id"] } })).await;
    let now = t.clock.now();
    tick_where(&mut ws, "c", now, |tick| {
        tick["items"].as_array().unwrap().iter().all(|i| i["serviceRequestId"] != r["id"])
    })
    .await;
}

const CALENDAR_FIELDS: &str = "businessCalendar { id name timeZone version editable holidays { date } weeklyHours { isoWeekday start end } } rescheduledRequests";

async fn s5_admins_maintain_calendars_and_open_requests_follow_them(t: TestApp) {
    let create =
        format!("mutation($i: BusinessCalendarInput!) {{ createBusinessCalendar(input: $i) {{ {CALENDAR_FIELDS} }} }}");
    let update = format!(
        "mutation($id: ID!, $i: BusinessCalendarInput!, $v: Int) {{ updateBusinessCalendar(id: $id, input: $i, expectedVersion: $v) {{ {CALENDAR_FIELDS} }} }}"
    );
    let assign = format!(
        "mutation($c: ID!, $to: ID) {{ assignBusinessCalendar(calendarId: $c, customerId: $to) {{ {CALENDAR_FIELDS} }} }}"
    );
    let week = |start: &str, end: &str| -> Value {
        json!((1..=5).map(|d| json!({ "isoWeekday": d, "start": start, "end": end })).collect::<Vec<_>>())
    };
    // Validation names every problem; nothing is written.
    let before = write_counts(&t).await;
    let bad = json!({ "name": " ", "timeZone": "Mars/Olympus", "weeklyHours": [{ "isoWeekday": 9, "start": "10:00", "end": "09:00" }],
                       "holidays": [{ "date": "2027-12-24", "name": "Eve" }, { "date": "2027-12-24", "name": "Eve" }] });
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &create, json!({ "i": bad })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    for needle in ["name", "IANA", "isoWeekday", "twice"] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_HELPDESK),
            &create,
            json!({ "i": { "name": "X", "timeZone": "UTC", "weeklyHours": week("09:00", "17:00") } }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["rule"], "ACCESS", "{body}");
    assert_eq!(write_counts(&t).await, before);
    // A German request on a business-hours clock, then its customer gets a new calendar.
    let input =
        filing(&t, NORTHWIND_ADMIN, "CRITICAL", "de", |c| c["businessCalendar"]["timeZone"] == "Europe/Berlin").await;
    let customer = input["customerId"].clone();
    let r =
        t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    let due_before = request(&t, &r["id"]).await["sla"]["dueAt"].clone();
    let i = json!({ "name": "Contoso late shift", "timeZone": "Europe/Berlin", "weeklyHours": week("18:00", "22:00"),
                    "holidays": [{ "date": "2028-12-25", "name": "Weihnachten" }] });
    let d = t.data(NORTHWIND_ADMIN, &create, json!({ "i": i })).await["createBusinessCalendar"].clone();
    let cal = d["businessCalendar"].clone();
    assert_eq!((cal["editable"].as_bool(), cal["version"].as_i64()), (Some(true), Some(1)));
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &create, json!({ "i": i })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "names are unique: {body}");
    let d = t.data(NORTHWIND_ADMIN, &assign, json!({ "c": cal["id"], "to": customer })).await;
    assert!(d["assignBusinessCalendar"]["rescheduledRequests"].as_i64().unwrap() >= 1);
    let moved = request(&t, &r["id"]).await;
    // Filed Wednesday 15:00 UTC (16:00 Berlin): two working hours from 18:00 are due at 20:00 Berlin.
    assert_eq!(at(&moved["sla"]["dueAt"]), "2026-11-25T19:00:00Z".parse::<DateTime<Utc>>().unwrap());
    assert_eq!(
        history(&moved, "SLA_DUE_CHANGED"),
        vec![(json!(at(&due_before).to_rfc3339()), json!(at(&moved["sla"]["dueAt"]).to_rfc3339()))]
    );
    // An edit moves them again, and is refused on a stale version.
    let edited =
        json!({ "name": "Contoso late shift", "timeZone": "Europe/Berlin", "weeklyHours": week("19:00", "23:00") });
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &update, json!({ "id": cal["id"], "i": edited, "v": 7 })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "CONFLICT", "{body}");
    let d = t.data(NORTHWIND_ADMIN, &update, json!({ "id": cal["id"], "i": edited, "v": 1 })).await["updateBusinessCalendar"].clone();
    assert_eq!(d["businessCalendar"]["version"], 2);
    assert!(d["rescheduledRequests"].as_i64().unwrap() >= 1);
    assert_eq!(
        at(&request(&t, &r["id"]).await["sla"]["dueAt"]),
        "2026-11-25T20:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    // Built-in calendars are read-only; another partner neither sees nor changes this one.
    let builtin = gid("BusinessCalendar", "cal-de");
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), &update, json!({ "id": builtin, "i": edited })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    for q in [&update, &assign] {
        let (_, body) =
            t.gql_as(Some(FABRIKAM_ADMIN), q, json!({ "id": cal["id"], "c": cal["id"], "i": edited })).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_FOUND", "{body}");
    }
    let d = t.data(FABRIKAM_ADMIN, "{ businessCalendars { id } }", json!({})).await;
    assert!(d["businessCalendars"].as_array().unwrap().iter().all(|c| c["id"] != cal["id"]));
    let d = t.data(FABRIKAM_ADMIN, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": cal["id"] })).await;
    assert!(d["node"].is_null());
    // The partner's own tenant gets its calendar the same way; built-in holidays run for years.
    t.data(NORTHWIND_ADMIN, &assign, json!({ "c": cal["id"] })).await;
    // Every change is in the administrative history, newest first; refused ones are not.
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ adminChanges(first: 10, subject: BUSINESS_CALENDAR) { nodes { action detail } } }",
            json!({}),
        )
        .await;
    let changes = d["adminChanges"]["nodes"].as_array().unwrap();
    let actions: Vec<&str> = changes.iter().map(|c| c["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["UPDATED", "UPDATED", "UPDATED", "CREATED"]);
    assert_eq!(changes[0]["detail"], json!({ "assignedTo": "partner" }));
    assert_eq!(changes[1]["detail"]["weeklyHours"][0], json!([1, 19 * 60, 23 * 60]));
    assert_eq!(changes[3]["detail"]["holidays"], json!([["2028-12-25", "Weihnachten"]]));
    let d = t
        .data(NORTHWIND_ADMIN, "{ viewer { partner { name } } businessCalendars { id holidays { date } } }", json!({}))
        .await;
    let us = d["businessCalendars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == gid("BusinessCalendar", "cal-us-east"))
        .unwrap()
        .clone();
    assert!(us["holidays"].as_array().unwrap().iter().any(|h| h["date"].as_str().unwrap() >= "2030-01-01"));
}

async fn refused_rules(t: &TestApp, agent: &str, input: &Value) -> Vec<String> {
    let (_, body) = t.gql_as(Some(agent), CREATE, json!({ "i": input })).await;
    if body["errors"].is_null() {
        return Vec::new();
    }
    assert_eq!(body["errors"][0]["extensions"]["code"], "POLICY_REFUSED", "{body}");
    body["errors"][0]["extensions"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_owned())
        .collect()
}

async fn r7_the_contact_is_the_partners_own(t: TestApp) {
    let input =
        filing(&t, NORTHWIND_ADMIN, "MODERATE", "en", |c| c["primaryDomain"] == "contoso.onmicrosoft.com").await;
    for email in
        ["it@contoso.com", "it@contoso.onmicrosoft.com", "someone@gmail.com", "desk@northwind-cloud.example.evil"]
    {
        let mut i = input.clone();
        i["contact"] = json!({ "name": "IT", "email": email });
        assert_eq!(refused_rules(&t, NORTHWIND_ADMIN, &i).await, vec!["R7"], "{email}");
    }
    for email in ["desk@northwind-cloud.example", "SALES@northwind-cloud.example"] {
        let mut i = input.clone();
        i["contact"] = json!({ "name": "Desk", "email": email });
        assert!(refused_rules(&t, NORTHWIND_ADMIN, &i).await.is_empty(), "{email}");
    }
    // No contact: the filing agent is the contact.
    let r = t.data(NORTHWIND_HELPDESK, CREATE, json!({ "i": input })).await;
    assert_eq!(r["createServiceRequest"]["serviceRequest"]["contact"]["email"], NORTHWIND_HELPDESK);
}

async fn r9_a_topic_must_be_of_the_requests_family(t: TestApp) {
    let c = customers(&t, NORTHWIND_ADMIN)
        .await
        .into_iter()
        .find(|c| c["relationship"] != "ADVISOR" && subscription(c, "AZURE", false).is_some())
        .unwrap();
    let mut i = json!({ "customerId": c["id"], "productFamily": "AZURE", "subscriptionId": subscription(&c, "AZURE", false),
        "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE", "title": "VM down", "description": "Since 9." });
    assert!(refused_rules(&t, NORTHWIND_ADMIN, &i).await.is_empty(), "Azure may leave the topic out");
    i["supportTopicId"] = topic(&t, "MICROSOFT_365").await;
    assert_eq!(refused_rules(&t, NORTHWIND_ADMIN, &i).await, vec!["R9"]);
    i["supportTopicId"] = topic(&t, "AZURE").await;
    assert!(refused_rules(&t, NORTHWIND_ADMIN, &i).await.is_empty());
}

async fn r11_advised_customers_and_deleted_subscriptions(t: TestApp) {
    let all = customers(&t, NORTHWIND_ADMIN).await;
    let advised = all.iter().find(|c| c["relationship"] == "ADVISOR").expect("an advised demo customer");
    let family = ["AZURE", "MICROSOFT_365", "DYNAMICS_365", "ENTERPRISE_MOBILITY_SUITE"]
        .into_iter()
        .find(|f| subscription(advised, f, false).is_some())
        .unwrap();
    let mut i = json!({ "customerId": advised["id"], "productFamily": family, "subscriptionId": subscription(advised, family, false),
        "incidentKind": "BILLING", "businessImpact": "MINIMAL", "title": "Charge", "description": "Unexpected.",
        "supportTopicId": topic(&t, family).await });
    assert_eq!(refused_rules(&t, NORTHWIND_ADMIN, &i).await, vec!["R11"]);
    let (c, family) = all
        .iter()
        .filter(|c| c["relationship"] != "ADVISOR")
        .find_map(|c| {
            ["MICROSOFT_365", "DYNAMICS_365", "ENTERPRISE_MOBILITY_SUITE", "AZURE"]
                .into_iter()
                .find(|f| subscription(c, f, true).is_some())
                .map(|f| (c.clone(), f))
        })
        .expect("a deleted demo subscription");
    i = json!({ "customerId": c["id"], "productFamily": family, "subscriptionId": subscription(&c, family, true),
        "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MINIMAL", "title": "Broken", "description": "Down.",
        "supportTopicId": topic(&t, family).await });
    assert_eq!(refused_rules(&t, NORTHWIND_ADMIN, &i).await, vec!["R11"]);
    i["incidentKind"] = json!("BILLING_DISPUTE");
    assert!(refused_rules(&t, NORTHWIND_ADMIN, &i).await.is_empty(), "its charges can still be disputed");
}

async fn r12_r13_an_entitlement_covers_only_what_it_covers(t: TestApp) {
    // Adatum holds an Azure support plan only: it covers its own Azure, not its Microsoft 365.
    let own = |family: &str, plan: &str| {
        json!({ "productFamily": family, "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE",
                "title": "Own tenant", "description": "Ours.", "entitlement": { "plan": plan } })
    };
    let mut m365 = own("MICROSOFT_365", "AZURE_SUPPORT_PLAN");
    m365["supportTopicId"] = topic(&t, "MICROSOFT_365").await;
    assert_eq!(refused_rules(&t, ADATUM_ADMIN, &m365).await, vec!["R12"]);
    assert!(refused_rules(&t, ADATUM_ADMIN, &own("AZURE", "AZURE_SUPPORT_PLAN")).await.is_empty());
    // Tailspin holds nothing: eligibility shows no coverage, only what would do.
    let d = t.data(TAILSPIN_ADMIN, ELIGIBILITY, json!({ "f": "AZURE", "k": "TECHNICAL_BREAK_FIX" })).await;
    let e = &d["supportEligibility"];
    assert_eq!(
        (e["eligible"].as_bool(), &e["supportPlan"], &e["feeCoverage"]),
        (Some(false), &Value::Null, &Value::Null)
    );
    assert_eq!(e["blockers"], json!([{ "rule": "R12" }]));
    assert_eq!(e["entitlements"], json!([]));
    // Adatum's eligibility for its own Microsoft 365 lists no Azure plan; for Azure it does.
    let d = t.data(ADATUM_ADMIN, ELIGIBILITY, json!({ "f": "MICROSOFT_365", "k": "TECHNICAL_BREAK_FIX" })).await;
    assert_eq!(d["supportEligibility"]["entitlements"], json!([]));
    let d = t.data(ADATUM_ADMIN, ELIGIBILITY, json!({ "f": "AZURE", "k": "TECHNICAL_BREAK_FIX" })).await;
    assert_eq!(d["supportEligibility"]["entitlements"], json!(["AZURE_SUPPORT_PLAN"]));
    assert_eq!(d["supportEligibility"]["supportPlan"], Value::Null, "until one is named");
}

/// A tiny deterministic generator for the drafts below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }
}

async fn r1_r15_eligibility_and_filing_agree_on_every_draft(t: TestApp) {
    let all = customers(&t, NORTHWIND_ADMIN).await;
    let families = ["AZURE", "MICROSOFT_365", "DYNAMICS_365", "ENTERPRISE_MOBILITY_SUITE"];
    let kinds = [
        "TECHNICAL_BREAK_FIX",
        "NON_BREAK_FIX",
        "BILLING",
        "BILLING_DISPUTE",
        "FRAUD_CONCERN",
        "SUBSCRIPTION_MANAGEMENT",
    ];
    let mut topics = Vec::new();
    for f in families {
        topics.push(topic(&t, f).await);
    }
    let contacts = [
        Value::Null,
        json!("desk@northwind-cloud.example"),
        json!("it@contoso.com"),
        json!("me@gmail.com"),
        json!(NORTHWIND_SALES),
    ];
    let entitlements = [
        Value::Null,
        json!({ "plan": "MPN_CONTRACT", "reference": "MPN-4410-2231" }),
        json!({ "plan": "PREMIER" }),
        json!({ "plan": "AZURE_SUPPORT_PLAN" }),
    ];
    let agents = [NORTHWIND_ADMIN, NORTHWIND_HELPDESK, "global@northwind-cloud.example"];
    let mut rng = Rng(15);
    let mut accepted = 0;
    for case in 0..60 {
        let agent = rng.pick(&agents);
        let family = rng.pick(&families);
        let customer = if rng.below(6) == 0 { None } else { Some(rng.pick(&all)) };
        let subscription = match &customer {
            Some(c) => {
                let subs: Vec<Value> = c["subscriptions"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|s| s["node"]["productFamily"] == family)
                    .map(|s| s["node"]["id"].clone())
                    .collect();
                if subs.is_empty() || rng.below(5) == 0 { Value::Null } else { rng.pick(&subs) }
            }
            None => Value::Null,
        };
        let topic = if rng.below(4) == 0 { Value::Null } else { rng.pick(&topics) };
        let kind = rng.pick(&kinds);
        let contact = rng.pick(&contacts);
        let entitlement = if customer.is_none() { rng.pick(&entitlements) } else { Value::Null };
        let customer_id = customer.as_ref().map_or(Value::Null, |c| c["id"].clone());
        let (_, eligibility) = t
            .gql_as(
                Some(agent),
                ELIGIBILITY,
                json!({ "c": customer_id, "f": family, "s": subscription, "k": kind, "t": topic, "e": contact, "n": entitlement }),
            )
            .await;
        let mut input = json!({ "customerId": customer_id, "productFamily": family, "subscriptionId": subscription,
            "incidentKind": kind, "businessImpact": "MODERATE", "title": format!("Case {case}"), "description": "Generated.",
            "supportTopicId": topic, "entitlement": entitlement });
        if !contact.is_null() {
            input["contact"] = json!({ "name": "Contact", "email": contact });
        }
        let (_, filed) = t.gql_as(Some(agent), CREATE, json!({ "i": input })).await;
        let what = format!("case {case}: {input}\neligibility: {eligibility}\nfiling: {filed}");
        if !eligibility["errors"].is_null() {
            // Bad input (a subscription of another family) is bad input to both.
            assert_eq!(
                eligibility["errors"][0]["extensions"]["code"], filed["errors"][0]["extensions"]["code"],
                "{what}"
            );
            continue;
        }
        let e = &eligibility["data"]["supportEligibility"];
        let mut expected: Vec<String> =
            e["blockers"].as_array().unwrap().iter().map(|b| b["rule"].as_str().unwrap().to_owned()).collect();
        for (flag, rule) in
            [("requiresSupportTopic", "R9"), ("requiresAzureSubscription", "R8"), ("requiresEntitlement", "R12")]
        {
            if e[flag] == true && !expected.contains(&rule.to_owned()) {
                expected.push(rule.to_owned());
            }
        }
        let mut got: Vec<String> = match filed["errors"].is_null() {
            true => Vec::new(),
            false => {
                assert_eq!(filed["errors"][0]["extensions"]["code"], "POLICY_REFUSED", "{what}");
                filed["errors"][0]["extensions"]["violations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["rule"].as_str().unwrap().to_owned())
                    .collect()
            }
        };
        expected.sort();
        got.sort();
        got.dedup();
        assert_eq!(expected, got, "{what}");
        let complete = e["eligible"] == true
            && e["requiresSupportTopic"] == false
            && e["requiresAzureSubscription"] == false
            && e["requiresEntitlement"] == false;
        assert_eq!(complete, filed["errors"].is_null(), "{what}");
        accepted += usize::from(complete);
    }
    assert!((5..=55).contains(&accepted), "{accepted} of 60 drafts accepted: the drafts exercise both answers");
}

async fn r1_r15_every_demo_request_obeys_the_rules(t: TestApp) {
    use support_gateway::domain::model::{AgentRole, IncidentKind, ProductFamily};
    use support_gateway::domain::policy::{EntitlementClaim, FilingChannel};
    let data = support_gateway::seed::demo(common::test_now());
    assert!(data.requests.len() >= 200);
    for r in &data.requests {
        let agent = data.agents.iter().find(|a| a.id == r.created_by_agent_id).unwrap();
        let caller = support_gateway::auth::Caller {
            agent_id: agent.id.clone(),
            agent_email: agent.email.clone(),
            role: agent.role.parse::<AgentRole>().unwrap(),
            partner_id: agent.partner_id.clone(),
            partner_kind: data.partners.iter().find(|p| p.id == agent.partner_id).unwrap().kind.parse().unwrap(),
        };
        let family: ProductFamily = r.product_family.parse().unwrap();
        let kind: IncidentKind = r.incident_kind.parse().unwrap();
        let draft = support_gateway::repo::filing::Draft {
            customer_id: r.customer_id.clone(),
            product_family: family,
            subscription_id: r.subscription_id.clone(),
            marketplace_product_id: None,
            incident_kind: kind,
            business_impact: r.business_impact.parse().unwrap(),
            support_topic_id: r.support_topic_id.clone(),
            contact_email: Some(r.contact_email.clone()),
            channel: FilingChannel::Web,
            entitlement: r.customer_id.is_none().then(|| EntitlementClaim {
                plan: r.support_plan.parse().unwrap(),
                reference: r.entitlement_ref.clone(),
            }),
        };
        let repo = support_gateway::repo::Repo::new(t.app.db.clone(), agent.partner_id.clone(), None);
        let facts = repo.filing_facts(&caller, &draft).await.expect("facts of a seeded request");
        let decision = facts.decide(false);
        assert!(decision.accepted(), "{} {}: {:?}", r.id, r.title, decision.refusals);
        assert_eq!(decision.filing.route.as_str(), r.route, "{}", r.id);
        assert_eq!(decision.filing.support_plan.unwrap().as_str(), r.support_plan, "{}", r.id);
        assert_eq!(decision.filing.fee_coverage.unwrap().as_str(), r.fee_coverage, "{}", r.id);
        assert_eq!(decision.filing.severity.as_str(), r.severity, "{}", r.id);
        // The title fits the family and the kind; the topic is of the family.
        assert!(
            support_gateway::seed::REQUEST_TEMPLATES
                .iter()
                .any(|(f, k, _, title)| *f == family && *k == kind && *title == r.title),
            "{}: \"{}\" is not a {family} {kind} title",
            r.id,
            r.title
        );
        let topic = data.topics.iter().find(|tp| Some(&tp.id) == r.support_topic_id.as_ref()).unwrap();
        assert_eq!(topic.product_family, r.product_family);
        // Its recorded SLA changes chain from ON_TRACK to its recorded state.
        let mut state = "ON_TRACK".to_owned();
        for h in data.history.iter().filter(|h| h.service_request_id == r.id && h.kind == "SLA_STATE_CHANGED") {
            assert_eq!(h.from_value.as_deref(), Some(state.as_str()), "{}", r.id);
            state = h.to_value.clone().unwrap();
        }
        assert_eq!(state, r.sla_state, "{}", r.id);
        assert!(r.sla_due_at >= r.created_at);
    }
}

/// Random lives of requests through the API: severity changes, responses, status changes,
/// calendar changes and clock moves. After every step a countdown following the request shows
/// what a query shows, a breach is never undone, every SLA state change is one history entry
/// and one event, and the due time is never before filing.
async fn s1_s5_random_lives_never_rewrite_the_record(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let replica = replica(&t);
    let calendars = ["cal-de", "cal-us-east", "cal-jp", "cal-br"];
    let mut rng = Rng(42);
    for life in 0..4 {
        let impact = rng.pick(&["CRITICAL", "MODERATE", "MINIMAL"]);
        let language = rng.pick(&["en", "de"]);
        let input = filing(&t, NORTHWIND_ADMIN, impact, language, |_| true).await;
        let customer = input["customerId"].clone();
        let r = t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"]
            .clone();
        let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
        ws.subscribe("c", "subscription($ids: [ID!]!) { slaCountdown(ids: $ids, intervalSeconds: 1) { at items { state remainingSeconds } } }", json!({ "ids": [r["id"]] })).await;
        let mut breached = false;
        for step in 0..10 {
            let now = request(&t, &r["id"]).await;
            let version = now["version"].clone();
            let what = match rng.below(6) {
                0 | 1 => {
                    t.clock.advance(chrono::Duration::minutes(rng.below(300) as i64 + 1));
                    tick_both(&t, &replica).await;
                    "clock"
                }
                2 => {
                    let severity = rng.pick(&["A", "B", "C"]);
                    t.gql_as(
                        Some(NORTHWIND_ADMIN),
                        SEVERITY,
                        json!({ "i": { "id": r["id"], "severity": severity, "expectedVersion": version } }),
                    )
                    .await;
                    "severity"
                }
                3 => {
                    let back = chrono::Duration::minutes(rng.below(200) as i64);
                    let when = (t.clock.now() - back).max(at(&now["createdAt"]));
                    t.gql_as(Some(NORTHWIND_ADMIN), RESPOND, json!({ "i": { "id": r["id"], "respondedAt": when } }))
                        .await;
                    "response"
                }
                4 => {
                    let status = rng.pick(&["OPEN", "IN_PROGRESS", "RESOLVED", "CLOSED"]);
                    t.gql_as(
                        Some(NORTHWIND_ADMIN),
                        STATUS,
                        json!({ "i": { "id": r["id"], "status": status, "expectedVersion": version } }),
                    )
                    .await;
                    "status"
                }
                _ => {
                    let calendar = gid("BusinessCalendar", rng.pick(&calendars));
                    t.data(NORTHWIND_ADMIN, "mutation($c: ID!, $to: ID) { assignBusinessCalendar(calendarId: $c, customerId: $to) { rescheduledRequests } }", json!({ "c": calendar, "to": customer })).await;
                    "calendar"
                }
            };
            let after = request(&t, &r["id"]).await;
            let context = format!("life {life} step {step} ({what}): {after}");
            let state = after["sla"]["state"].as_str().unwrap().to_owned();
            assert!(!breached || state == "BREACHED", "never un-breached: {context}");
            breached |= state == "BREACHED";
            assert!(at(&after["sla"]["dueAt"]) >= at(&after["createdAt"]), "{context}");
            // One history entry and one event per change, chained to the state shown.
            let entries = history(&after, "SLA_STATE_CHANGED");
            let events = sla_events(&t, &r["id"]).await;
            assert_eq!(entries.len(), events.len(), "{context}");
            let mut shown = "ON_TRACK".to_owned();
            for ((from, to), (efrom, eto)) in entries.iter().zip(&events) {
                assert_eq!((from.as_str().unwrap(), to.as_str().unwrap()), (efrom.as_str(), eto.as_str()), "{context}");
                assert_eq!(from.as_str().unwrap(), shown, "{context}");
                shown = to.as_str().unwrap().to_owned();
            }
            // The watcher may still owe a time-driven change; after it runs the chain ends at the state shown.
            tick_both(&t, &replica).await;
            let entries = history(&request(&t, &r["id"]).await, "SLA_STATE_CHANGED");
            let last = entries.last().map_or("ON_TRACK".to_owned(), |(_, to)| to.as_str().unwrap().to_owned());
            assert_eq!(last, state, "every change is recorded: {context}");
            // The countdown at this instant equals the query (an open request is shown).
            let open = !["RESOLVED", "CLOSED"].contains(&after["status"].as_str().unwrap());
            let expected = if open {
                json!([{ "state": state, "remainingSeconds": after["sla"]["remainingSeconds"] }])
            } else {
                json!([])
            };
            let now = t.clock.now();
            let mut matched = false;
            for _ in 0..8 {
                let tick = ws.next("c").await["data"]["slaCountdown"].clone();
                if at(&tick["at"]) == now && tick["items"] == expected {
                    matched = true;
                    break;
                }
            }
            assert!(matched, "countdown = query: {context}");
        }
    }
}
