//! Real-time: subscriptions over a real WebSocket against a served router, on SQLite and
//! PostgreSQL; the SLA watcher with a controlled clock; replicas on one PostgreSQL.

mod common;

use std::time::Duration;

use common::ws::*;
use common::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Waits until `n` more subscribers than `before` are registered on the app's event bus.
async fn wait_subscribers(t: &TestApp, before: usize, n: usize) {
    let started = std::time::Instant::now();
    while t.app.events.receiver_count() < before + n {
        assert!(started.elapsed() < Duration::from_secs(10), "subscriptions did not register");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

const EVENTS: &str = "subscription($f: ServiceRequestEventFilter) { serviceRequestEvents(filter: $f) {
  kind fromValue toValue actor { email } serviceRequest { id title status severity sla { state } } } }";

async fn change_status(t: &TestApp, agent: &str, request: &Value, status: &str, version: i64) {
    t.data(agent, "mutation($i: ChangeServiceRequestStatusInput!) { changeServiceRequestStatus(input: $i) { serviceRequest { status } } }", json!({ "i": { "id": request["id"], "status": status, "expectedVersion": version } })).await;
}

on_both_backends!(
    service_request_events_deliver_own_partner_changes_only,
    event_filters_select_requests,
    sla_alerts_fire_at_their_instant_once,
    sla_countdown_ticks_from_the_clock_and_pushes_changes,
    websocket_needs_a_valid_token,
    transport_ws_close_codes,
    legacy_graphql_ws_protocol_still_works,
    expired_token_closes_the_socket,
    old_events_are_pruned,
    an_event_committed_into_an_id_gap_keeps_its_requests_order,
);

/// On PostgreSQL an id is taken at insert and becomes visible at commit, so ids commit out of
/// order. An event that commits into a gap still reaches subscribers, before its request's
/// later events (it used to come after them when a pass read only past the newest id).
async fn an_event_committed_into_an_id_gap_keeps_its_requests_order(t: TestApp) {
    use base64::Engine;
    use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
    if t.backend() == support_gateway::db::Backend::Sqlite {
        return; // One writer at a time: ids commit in order.
    }
    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let before = t.app.events.receiver_count();
    ws.subscribe("e", "subscription { serviceRequestEvents { kind serviceRequest { id } } }", json!({})).await;
    wait_subscribers(&t, before, 1).await;
    let next = |e: Value| {
        let e = &e["data"]["serviceRequestEvents"];
        (e["kind"].as_str().unwrap().to_owned(), e["serviceRequest"]["id"].clone())
    };
    let x = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let y = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    assert_eq!(next(ws.next("e").await), ("CREATED".to_owned(), x["id"].clone()));
    assert_eq!(next(ws.next("e").await), ("CREATED".to_owned(), y["id"].clone()));
    // Another writer takes the next id with an event of x, and has not committed yet.
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(x["id"].as_str().unwrap()).unwrap();
    let raw_x = String::from_utf8(raw).unwrap().split_once(':').unwrap().1.to_owned();
    let mut writer = AsyncPgConnection::establish(&t.url).await.unwrap();
    writer
        .batch_execute(&format!(
            "BEGIN; INSERT INTO events (partner_id, service_request_id, kind, payload, created_at)
             SELECT partner_id, id, 'NOTE_ADDED', '{{}}', created_at FROM service_requests WHERE id = '{raw_x}'"
        ))
        .await
        .unwrap();
    // A later id commits and is delivered: the gap is below it.
    change_status(&t, NORTHWIND_ADMIN, &y, "OPEN", 1).await;
    assert_eq!(next(ws.next("e").await), ("STATUS_CHANGED".to_owned(), y["id"].clone()));
    // The gap commits, then x changes: both of x's events arrive, in their order.
    writer.batch_execute("COMMIT").await.unwrap();
    change_status(&t, NORTHWIND_ADMIN, &x, "OPEN", 1).await;
    assert_eq!(next(ws.next("e").await), ("NOTE_ADDED".to_owned(), x["id"].clone()));
    assert_eq!(next(ws.next("e").await), ("STATUS_CHANGED".to_owned(), x["id"].clone()));
}

async fn old_events_are_pruned(t: TestApp) {
    use support_gateway::clock::Clock;
    let before = write_counts(&t).await[3];
    file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let pruned = support_gateway::events::prune(&t.app.db, test_now() - chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(pruned, 0, "nothing is older than the cut-off");
    t.clock.advance(support_gateway::events::RETENTION + chrono::Duration::days(1));
    let pruned =
        support_gateway::events::prune(&t.app.db, t.clock.now() - support_gateway::events::RETENTION).await.unwrap();
    assert_eq!(pruned as i64, before + 1);
    assert_eq!(write_counts(&t).await[3], 0);
}

async fn service_request_events_deliver_own_partner_changes_only(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let mut northwind = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let mut adatum = Ws::open(addr, &t, ADATUM_ADMIN).await;
    let before = t.app.events.receiver_count();
    northwind.subscribe("n", EVENTS, json!({})).await;
    adatum.subscribe("a", EVENTS, json!({})).await;
    wait_subscribers(&t, before, 2).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let e = northwind.next("n").await;
    assert_eq!(e["data"]["serviceRequestEvents"]["kind"], "CREATED");
    assert_eq!(e["data"]["serviceRequestEvents"]["serviceRequest"]["id"], r["id"]);
    assert_eq!(e["data"]["serviceRequestEvents"]["actor"]["email"], NORTHWIND_ADMIN);
    change_status(&t, NORTHWIND_ADMIN, &r, "OPEN", 1).await;
    let e = northwind.next("n").await;
    assert_eq!(e["data"]["serviceRequestEvents"]["kind"], "STATUS_CHANGED");
    assert_eq!(
        (
            e["data"]["serviceRequestEvents"]["fromValue"].as_str(),
            e["data"]["serviceRequestEvents"]["toValue"].as_str()
        ),
        (Some("NEW"), Some("OPEN"))
    );
    assert_eq!(e["data"]["serviceRequestEvents"]["serviceRequest"]["status"], "OPEN");
    // Adatum's first event is its own: Northwind's two never reached it.
    let own = file_request(&t, ADATUM_ADMIN, "MINIMAL").await;
    let e = adatum.next("a").await;
    assert_eq!(e["data"]["serviceRequestEvents"]["serviceRequest"]["id"], own["id"]);
}

async fn event_filters_select_requests(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let before = t.app.events.receiver_count();
    ws.subscribe("sev", EVENTS, json!({ "f": { "severity": ["C"] } })).await;
    wait_subscribers(&t, before, 1).await;
    file_request(&t, NORTHWIND_ADMIN, "CRITICAL").await;
    let minimal = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let e = ws.next("sev").await;
    assert_eq!(
        e["data"]["serviceRequestEvents"]["serviceRequest"]["id"], minimal["id"],
        "the severity A request was filtered out"
    );
    assert_eq!(e["data"]["serviceRequestEvents"]["serviceRequest"]["severity"], "C");
}

const ALERTS: &str = "subscription($f: ServiceRequestEventFilter) { slaAlerts(filter: $f) { state previousState serviceRequest { id } } }";

async fn sla_history(t: &TestApp, id: &Value) -> Vec<String> {
    let d = t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { ... on ServiceRequest { history { edges { node { kind toValue } } } } } }", json!({ "id": id })).await;
    d["node"]["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["node"]["kind"] == "SLA_STATE_CHANGED")
        .map(|h| h["node"]["toValue"].as_str().unwrap().to_owned())
        .collect()
}

async fn sla_alerts_fire_at_their_instant_once(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "CRITICAL").await; // 2 hours, warning after 90 minutes
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let before = t.app.events.receiver_count();
    ws.subscribe("alerts", ALERTS, json!({ "f": { "ids": [r["id"]] } })).await;
    wait_subscribers(&t, before, 1).await;
    // A second watcher stands in for another replica watching the same database; both catch
    // up on the demo data's overdue clocks first.
    let replica = support_gateway::events::sla_watcher::SlaWatcher::new(
        t.app.db.clone(),
        t.app.sla_clock(),
        t.app.events.clone(),
    );
    t.app.sla.load_running_clocks().await.unwrap();
    replica.load_running_clocks().await.unwrap();
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    let caught_up = a.unwrap() + b.unwrap();
    assert_eq!(caught_up, 0, "the demo data's clocks are recorded up to the instant it was seeded");
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    assert_eq!(a.unwrap() + b.unwrap(), 0, "and only once");
    // A restarted replica catches up on the same clocks: it finds their transitions recorded
    // with a query per 500 requests, not a transaction each.
    let restarted = support_gateway::events::sla_watcher::SlaWatcher::new(
        t.app.db.clone(),
        t.app.sla_clock(),
        t.app.events.clone(),
    );
    let running = restarted.load_running_clocks().await.unwrap();
    let before = t.statements();
    assert_eq!(restarted.tick().await.unwrap(), 0, "nothing is recorded twice");
    let spent = t.statements() - before;
    assert!(
        spent <= 2 * running.div_ceil(500) as u64 + 2,
        "{spent} statements to catch up on {caught_up} recorded transitions"
    );
    t.clock.advance(chrono::Duration::minutes(89));
    t.app.sla.tick().await.unwrap();
    replica.tick().await.unwrap();
    assert!(sla_history(&t, &r["id"]).await.is_empty(), "nothing happens before the warning window");
    t.clock.advance(chrono::Duration::minutes(1));
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    a.unwrap();
    b.unwrap();
    let e = ws.next("alerts").await;
    let alert = &e["data"]["slaAlerts"];
    assert_eq!(alert["serviceRequest"]["id"], r["id"]);
    assert_eq!((alert["state"].as_str(), alert["previousState"].as_str()), (Some("AT_RISK"), Some("ON_TRACK")));
    // At the due instant itself the request is not breached yet (S4); just after, it is.
    t.clock.advance(chrono::Duration::minutes(30));
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    a.unwrap();
    b.unwrap();
    assert_eq!(sla_history(&t, &r["id"]).await, vec!["AT_RISK"], "not breached at the due instant");
    t.clock.advance(chrono::Duration::seconds(1));
    let (a, b) = tokio::join!(t.app.sla.tick(), replica.tick());
    a.unwrap();
    b.unwrap();
    let e = ws.next("alerts").await;
    assert_eq!(e["data"]["slaAlerts"]["state"], "BREACHED");
    // Each transition was recorded once, by one of the two watchers.
    assert_eq!(sla_history(&t, &r["id"]).await, vec!["AT_RISK", "BREACHED"]);
    t.app.sla.schedule_now_for_test(&r["id"]).await;
    assert_eq!(t.app.sla.tick().await.unwrap(), 0, "recording again does nothing");
}

const COUNTDOWN: &str = "subscription($ids: [ID!]!) { slaCountdown(ids: $ids, intervalSeconds: 1) { at items { serviceRequestId state remainingSeconds } } }";

/// The first countdown `remainingSeconds` that differs from `stale`: ticks run every second
/// of real time, so one computed before the test moved the clock or changed the request may
/// still be on its way.
async fn next_remaining_after(ws: &mut Ws, stale: i64) -> Value {
    for _ in 0..5 {
        let remaining = ws.next("c").await["data"]["slaCountdown"]["items"][0]["remainingSeconds"].clone();
        if remaining != stale {
            return remaining;
        }
    }
    panic!("the countdown kept sending {stale}");
}

async fn sla_countdown_ticks_from_the_clock_and_pushes_changes(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "MODERATE").await; // 4 hours
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.subscribe("c", COUNTDOWN, json!({ "ids": [r["id"]] })).await;
    let first = ws.next("c").await;
    assert_eq!(first["data"]["slaCountdown"]["items"][0]["remainingSeconds"], 4 * 3600);
    assert_eq!(first["data"]["slaCountdown"]["items"][0]["state"], "ON_TRACK");
    t.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(next_remaining_after(&mut ws, 4 * 3600).await, 4 * 3600 - 600, "ticks read the injected clock");
    // A severity change is pushed at once with the new due time.
    t.data(NORTHWIND_ADMIN, "mutation($i: ChangeSeverityInput!) { changeServiceRequestSeverity(input: $i) { serviceRequest { severity } } }", json!({ "i": { "id": r["id"], "severity": "A", "expectedVersion": r["version"] } })).await;
    assert_eq!(next_remaining_after(&mut ws, 4 * 3600 - 600).await, 2 * 3600 - 600);
    // Followed by filter: new matching requests join the countdown as they are filed.
    let mut by_filter = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let before = t.app.events.receiver_count();
    by_filter
        .subscribe(
            "f",
            "subscription { slaCountdown(filter: { severity: [C] }) { items { serviceRequestId remainingSeconds } } }",
            json!({}),
        )
        .await;
    let initial = by_filter.next("f").await["data"]["slaCountdown"]["items"].as_array().unwrap().len();
    wait_subscribers(&t, before, 1).await;
    let new = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let pushed = by_filter.next("f").await;
    let items = pushed["data"]["slaCountdown"]["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), (initial + 1).min(100));
    assert!(items.iter().any(|i| i["serviceRequestId"] == new["id"]));
    // Another partner's request is not followed.
    let mut other = Ws::open(addr, &t, ADATUM_ADMIN).await;
    other.subscribe("x", COUNTDOWN, json!({ "ids": [r["id"]] })).await;
    let tick = other.next("x").await;
    assert_eq!(tick["data"]["slaCountdown"]["items"], json!([]));
}

async fn websocket_needs_a_valid_token(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    for payload in [
        json!({ "Authorization": "Bearer nope" }),
        json!({}),
        json!({ "authorization": format!("Bearer {}", t.app.keys.issue("agent-nobody", chrono::Utc::now(), chrono::Duration::hours(1)).unwrap()) }),
    ] {
        let mut ws = Ws::connect(addr, "graphql-transport-ws").await;
        ws.send(json!({ "type": "connection_init", "payload": payload })).await;
        assert_eq!(ws.recv().await, Some(json!({ "closed": 4403 })), "{payload}");
    }
}

async fn transport_ws_close_codes(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    // 4401: subscribe before connection_ack.
    let mut ws = Ws::connect(addr, "graphql-transport-ws").await;
    ws.subscribe("1", EVENTS, json!({})).await;
    assert_eq!(ws.recv().await, Some(json!({ "closed": 4401 })));
    // 4400: not JSON, or an unknown message type.
    for bad in ["{not json", r#"{"type":"nonsense"}"#] {
        let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
        ws.0.send(Message::Text(bad.into())).await.unwrap();
        assert_eq!(ws.recv().await, Some(json!({ "closed": 4400 })), "{bad}");
    }
    // 4429: a second connection_init.
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", t.token(NORTHWIND_ADMIN)) } })).await;
    assert_eq!(ws.recv().await, Some(json!({ "closed": 4429 })));
    // 4409: a duplicate operation id while the first is running.
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.subscribe("dup", EVENTS, json!({})).await;
    ws.subscribe("dup", EVENTS, json!({})).await;
    assert_eq!(ws.recv().await, Some(json!({ "closed": 4409 })));
    // Ping/pong, queries over the socket, and validation errors as `error`.
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.recv().await.unwrap()["type"], "pong");
    ws.subscribe("q", "{ viewer { agent { email } } }", json!({})).await;
    assert_eq!(ws.next("q").await["data"]["viewer"]["agent"]["email"], NORTHWIND_ADMIN);
    assert_eq!(ws.recv().await.unwrap(), json!({ "type": "complete", "id": "q" }));
    ws.subscribe("bad", "subscription { noSuchField }", json!({})).await;
    let e = ws.recv().await.unwrap();
    assert_eq!((e["type"].as_str(), e["id"].as_str()), (Some("error"), Some("bad")), "{e}");
    // `complete` from the client stops a subscription; its id can then be reused.
    let c0 = t.app.events.receiver_count();
    ws.subscribe("s", EVENTS, json!({})).await;
    wait_subscribers(&t, c0, 1).await;
    ws.send(json!({ "type": "complete", "id": "s" })).await;
    let started = std::time::Instant::now();
    while t.app.events.receiver_count() > c0 {
        assert!(started.elapsed() < Duration::from_secs(10), "complete did not stop the subscription");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ws.subscribe("s", EVENTS, json!({})).await;
    wait_subscribers(&t, c0, 1).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    assert_eq!(ws.next("s").await["data"]["serviceRequestEvents"]["serviceRequest"]["id"], r["id"]);
}

async fn legacy_graphql_ws_protocol_still_works(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::connect(addr, "graphql-ws").await;
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", t.token(NORTHWIND_ADMIN)) } })).await;
    assert_eq!(ws.recv().await.unwrap()["type"], "connection_ack");
    let before = t.app.events.receiver_count();
    ws.send(json!({ "id": "1", "type": "start", "payload": { "query": EVENTS } })).await;
    wait_subscribers(&t, before, 1).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let msg = ws.recv().await.unwrap();
    assert_eq!(msg["type"], "data", "{msg}");
    assert_eq!(msg["payload"]["data"]["serviceRequestEvents"]["serviceRequest"]["id"], r["id"]);
}

async fn expired_token_closes_the_socket(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::connect(addr, "graphql-transport-ws").await;
    // Valid for one more second (expiry is checked with the real clock: tokens are real).
    let token = t
        .app
        .keys
        .issue(
            "agent-northwind-admin",
            chrono::Utc::now() - chrono::Duration::seconds(59),
            chrono::Duration::seconds(60),
        )
        .unwrap();
    ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
    assert_eq!(ws.recv().await.unwrap()["type"], "connection_ack");
    assert_eq!(ws.recv().await, Some(json!({ "closed": 4403 })));
}
