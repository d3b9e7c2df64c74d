//! Sync from Partner Center, through real HTTP to the simulator (`support_gateway::simulator`)
//! into a real SQLite file and a real PostgreSQL database, read back through the router.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::ws::*;
use common::*;
use serde_json::{Value, json};
use support_gateway::clock::Clock;
use support_gateway::simulator::{self, Faults, Simulator, Size};
use support_gateway::sync::{PartnerCenterSync, SyncError, SyncOptions};
use support_gateway::upstream::partner_center::PartnerCenter;
use support_gateway::upstream::{UpstreamClient, UpstreamError, UpstreamSettings};

/// A simulator on a free port, holding `size` of data dated up to the test's clock.
async fn simulator(t: &TestApp, size: Size) -> (Arc<Simulator>, String) {
    let sim = Simulator::new(size, t.clock.now());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(sim.clone().serve(listener));
    (sim, base)
}

fn settings(base: &str, retries: usize) -> UpstreamSettings {
    UpstreamSettings {
        base_url: format!("{base}/v1"),
        authority: base.to_owned(),
        tenant: simulator::PARTNER_TENANT.into(),
        client_id: simulator::CLIENT_ID.into(),
        client_secret: simulator::CLIENT_SECRET.into(),
        scope: "https://api.partnercenter.microsoft.com/.default".into(),
        requests_per_second: 1000,
        timeout: Duration::from_secs(5),
        max_retries: retries,
        max_retry_after: Duration::from_secs(5),
    }
}

async fn syncer_with(t: &TestApp, settings: UpstreamSettings) -> PartnerCenterSync {
    let client = UpstreamClient::new("Partner Center", settings).unwrap();
    PartnerCenterSync::new(
        t.app.db.clone(),
        t.app.clock.clone(),
        Some(t.app.events.clone()),
        Arc::new(PartnerCenter { client }),
        NORTHWIND_ADMIN,
        t.app.config.sla,
    )
    .await
    .unwrap()
}

async fn syncer(t: &TestApp, base: &str) -> PartnerCenterSync {
    syncer_with(t, settings(base, 3)).await
}

fn pages(n: usize) -> SyncOptions {
    SyncOptions { customer_page: n, request_page: n, full: false, only: None }
}

const SYNCED: &str = "{
  customers(first: 100, search: \"Sim Customer\") { totalCount edges { node { id companyName tenantId source upstreamId
      syncedAt relationshipEndedAt subscriptions(first: 20) { edges { node { id status source upstreamId syncedAt } } } } } }
  serviceRequests(first: 1) { totalCount } }";

/// The synced requests, with what the tests look at (every page of Northwind's requests).
async fn synced_requests(t: &TestApp) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let d = t
            .data(
                NORTHWIND_ADMIN,
                "query($a: String) { serviceRequests(first: 100, after: $a) { pageInfo { hasNextPage endCursor }
                   edges { node { id source upstreamId syncedAt status severity title
                     sla { state firstResponseAt firstResponseSource } notes(first: 20) { edges { node { authorKind body } } } } } } }",
                json!({ "a": after }),
            )
            .await;
        let page = &d["serviceRequests"];
        out.extend(
            page["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"].clone())
                .filter(|n| n["source"] == "PARTNER_CENTER"),
        );
        if page["pageInfo"]["hasNextPage"] != true {
            return out;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

async fn full_sync_then_a_quiet_pass_changes_nothing(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    let sync = syncer(&t, &base).await;
    let report = sync.run(&pages(5)).await.unwrap();
    assert!(report.ran);
    assert_eq!(report.topics.created, 5);
    assert_eq!(report.customers.created, 12);
    assert_eq!(report.customers.pages, 3, "12 customers in pages of 5");
    assert_eq!(report.subscriptions.created, 24);
    assert_eq!(report.requests.created, 20);
    assert_eq!(report.notes.created, 20);

    let d = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    assert_eq!(d["customers"]["totalCount"], 12);
    let first = d["customers"]["edges"][0]["node"].clone();
    assert_eq!(first["source"], "PARTNER_CENTER");
    assert_eq!(first["upstreamId"], first["tenantId"]);
    assert!(first["syncedAt"].is_string() && first["relationshipEndedAt"].is_null());
    let subs = first["subscriptions"]["edges"].as_array().unwrap();
    assert_eq!(subs.len(), 2);
    assert!(subs.iter().all(|s| s["node"]["source"] == "PARTNER_CENTER" && s["node"]["upstreamId"].is_string()));
    let requests = synced_requests(&t).await;
    assert_eq!(requests.len(), 20);
    let upstream: Vec<String> = sim.requests().iter().map(|r| r.id.clone()).collect();
    assert!(requests.iter().all(|r| upstream.contains(&r["upstreamId"].as_str().unwrap().to_owned())));
    // Partner Center's severities and notes, in our words.
    assert!(requests.iter().any(|r| r["severity"] == "A"));
    assert!(requests.iter().all(|r| r["notes"]["edges"][0]["node"]["authorKind"] == "PARTNER"));

    // A second pass: nothing new, and only a handful of calls (topics, a customer page per 5,
    // a request page per 5; the token is reused).
    let calls = sim.calls.load(Ordering::Relaxed);
    let tokens = sim.tokens_issued.load(Ordering::Relaxed);
    let again = sync.run(&pages(5)).await.unwrap();
    assert_eq!(
        (again.customers.created, again.requests.created, again.notes.created, again.subscriptions.created),
        (0, 0, 0, 0)
    );
    assert_eq!(again.customers.unchanged, 12);
    assert_eq!(again.requests.unchanged, 20);
    assert_eq!(sim.calls.load(Ordering::Relaxed) - calls, 1 + 3 + 5, "topics + 3 customer pages + 5 request pages");
    assert_eq!(sim.tokens_issued.load(Ordering::Relaxed), tokens, "the token is cached");
    let d2 = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    assert_eq!(d2["serviceRequests"]["totalCount"], d["serviceRequests"]["totalCount"], "no duplicates");

    // Where sync stands: for admins only.
    let status = t
        .data(
            NORTHWIND_ADMIN,
            "{ syncStatus { source resource running cursor lastFinishedAt lastObjects lastError } }",
            json!({}),
        )
        .await;
    let rows = status["syncStatus"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let customers = rows.iter().find(|r| r["resource"] == "customers").unwrap();
    assert_eq!(customers["source"], "PARTNER_CENTER");
    assert_eq!((customers["running"].as_bool(), customers["lastObjects"].as_i64()), (Some(false), Some(12)));
    assert!(customers["lastError"].is_null() && customers["cursor"].is_null());
    let (_, body) = t.gql_as(Some(NORTHWIND_HELPDESK), "{ syncStatus { resource } }", json!({})).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");
    // Another partner sees none of it.
    let other = t
        .data(
            FABRIKAM_ADMIN,
            "{ syncStatus { resource } customers(search: \"Sim Customer\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(other["syncStatus"], json!([]));
    assert_eq!(other["customers"]["totalCount"], 0);
}

async fn a_pass_killed_partway_resumes_without_gaps_or_duplicates(t: TestApp) {
    let size = Size { customers: 23, subscriptions_per_customer: 1, requests: 47, notes_per_request: 2 };
    let (sim, base) = simulator(&t, size).await;
    // No retries: the outage stops the pass, as a kill would.
    let sync = syncer_with(&t, settings(&base, 0)).await;
    // Topics (1), customer pages of 5 with their new customers' subscriptions (5 × 1 + 5 × 1 per
    // page), then the outage partway through the customers.
    sim.set_faults(Faults { fail_after: 1 + 11 + 11 + 6, ..Faults::default() });
    let err = sync.run(&pages(5)).await.unwrap_err();
    assert!(matches!(err, SyncError::Upstream(UpstreamError::Unavailable { .. })), "{err}");
    let status =
        t.data(NORTHWIND_ADMIN, "{ syncStatus { resource running cursor passObjects lastError } }", json!({})).await;
    let customers =
        status["syncStatus"].as_array().unwrap().iter().find(|r| r["resource"] == "customers").unwrap().clone();
    assert_eq!(customers["running"], true, "{customers}");
    assert!(customers["cursor"].is_string(), "the position is stored: {customers}");
    assert_eq!(customers["passObjects"], 10, "two pages committed");
    assert!(customers["lastError"].as_str().unwrap().contains("unavailable"), "{customers}");
    let partial = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    assert_eq!(partial["customers"]["totalCount"], 10, "whole pages only");

    // Back up: the next pass resumes at the stored position.
    sim.set_faults(Faults::default());
    let calls = sim.calls.load(Ordering::Relaxed);
    let report = sync.run(&pages(5)).await.unwrap();
    assert_eq!(report.customers.created, 13, "the rest, and none again");
    assert_eq!(report.customers.pages, 3, "pages 3 to 5 only");
    assert_eq!(report.requests.created, 47);
    assert_eq!(report.notes.created, 94);
    assert!(sim.calls.load(Ordering::Relaxed) - calls < 1 + 3 + 13 * 2 + 10 + 2);
    let d = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    assert_eq!(d["customers"]["totalCount"], 23);
    let mut tenants: Vec<String> = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["tenantId"].as_str().unwrap().to_owned())
        .collect();
    tenants.sort();
    tenants.dedup();
    assert_eq!(tenants.len(), 23, "each customer once");

    // Killed partway through the requests this time, then resumed.
    sim.set_faults(Faults { fail_after: 1 + 5 + 3, ..Faults::default() });
    let full = SyncOptions { full: true, ..pages(5) };
    assert!(sync.run(&full).await.is_err());
    sim.set_faults(Faults::default());
    sync.run(&pages(5)).await.unwrap();
    let requests = synced_requests(&t).await;
    assert_eq!(requests.len(), 47, "each request once");
    let mut ids: Vec<&str> = requests.iter().map(|r| r["upstreamId"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 47);
    assert!(requests.iter().all(|r| r["notes"]["edges"].as_array().unwrap().len() == 2), "each note once");
}

async fn throttling_outages_and_dropped_connections_are_waited_out(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    let sync = syncer(&t, &base).await;
    sim.set_faults(Faults { throttle: 2, retry_after_seconds: 0.3, fail: 2, drop: 1, ..Faults::default() });
    let report = sync.run(&pages(50)).await.unwrap();
    assert_eq!((report.customers.created, report.requests.created), (12, 20));
    let stats = &sync.api().client.stats;
    assert_eq!(stats.throttled.get(), 2);
    assert!(stats.throttled_wait_seconds.get() >= 0.6, "Retry-After is obeyed");
    assert_eq!(stats.retries.get(), 3, "two 503s and a dropped connection, each retried");

    // A Retry-After longer than allowed fails the pass instead of hanging it.
    sim.set_faults(Faults { throttle: 1, retry_after_seconds: 3600.0, ..Faults::default() });
    let err = sync.run(&pages(50)).await.unwrap_err();
    assert!(err.to_string().contains("throttled"), "{err}");

    // Local reads and writes go on while Partner Center is down.
    sim.set_faults(Faults { fail: 1000, ..Faults::default() });
    assert!(sync.run(&pages(50)).await.is_err());
    t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
}

async fn objects_gone_upstream_are_marked_not_deleted(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    let sync = syncer(&t, &base).await;
    sync.run(&pages(50)).await.unwrap();
    let gone = sim.customers()[0].clone();
    let kept = sim.customers()[1].clone();
    sim.remove_customer(&gone.id);
    let d = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    let kept_row =
        d["customers"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["tenantId"] == kept.id.as_str()).unwrap()
            ["node"]
            .clone();
    let cancelled = kept_row["subscriptions"]["edges"][0]["node"]["upstreamId"].as_str().unwrap().to_owned();
    sim.remove_subscription(&kept.id, &cancelled);
    sim.rename_customer(&kept.id, "Sim Customer Renamed");

    let report = sync.run(&SyncOptions { full: true, ..pages(50) }).await.unwrap();
    assert_eq!(report.customers.marked, 1);
    assert_eq!(report.subscriptions.marked, 1);
    assert_eq!(report.customers.updated, 1);
    let d = t.data(NORTHWIND_ADMIN, SYNCED, json!({})).await;
    assert_eq!(d["customers"]["totalCount"], 12, "nothing deleted");
    let node = |tenant: &str| {
        d["customers"]["edges"].as_array().unwrap().iter().find(|e| e["node"]["tenantId"] == tenant).unwrap()["node"]
            .clone()
    };
    assert!(node(&gone.id)["relationshipEndedAt"].is_string());
    let kept_row = node(&kept.id);
    assert_eq!(kept_row["companyName"], "Sim Customer Renamed");
    assert!(kept_row["relationshipEndedAt"].is_null());
    let sub = kept_row["subscriptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"]["upstreamId"] == cancelled.as_str())
        .unwrap()["node"]
        .clone();
    assert_eq!(sub["status"], "DELETED");
}

async fn changes_at_microsoft_reach_subscribers_and_the_sla(t: TestApp) {
    let (sim, base) = simulator(&t, Size { notes_per_request: 0, ..Size::SMALL }).await;
    let sync = syncer(&t, &base).await;
    sync.run(&pages(50)).await.unwrap();
    // The newest request (filed 10 minutes ago) still has a running clock.
    let upstream = sim.requests().last().unwrap().clone();
    let requests = synced_requests(&t).await;
    let ours = requests.iter().find(|r| r["upstreamId"] == upstream.id.as_str()).unwrap().clone();
    assert!(["ON_TRACK", "AT_RISK"].contains(&ours["sla"]["state"].as_str().unwrap()), "{ours}");

    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    ws.subscribe(
        "e",
        "subscription($f: ServiceRequestEventFilter) { serviceRequestEvents(filter: $f) { kind fromValue toValue serviceRequest { id sla { state firstResponseSource } } } }",
        json!({ "f": { "ids": [ours["id"]] } }),
    )
    .await;
    t.clock.advance(chrono::Duration::minutes(5));
    let answered = t.clock.now() - chrono::Duration::minutes(1);
    assert!(sim.add_note(&upstream.id, "Microsoft Support Engineer", "We are looking into it.", answered));
    assert!(sim.set_request_status(&upstream.id, "attention_needed", t.clock.now()));
    sync.run(&pages(50)).await.unwrap();

    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        let e = ws.next("e").await;
        kinds.push(e["data"]["serviceRequestEvents"]["kind"].as_str().unwrap_or_else(|| panic!("{e}")).to_owned());
    }
    kinds.sort();
    assert_eq!(kinds, ["NOTE_ADDED", "SLA_STATE_CHANGED", "STATUS_CHANGED", "SUPPORT_RESPONDED"]);
    let r = synced_requests(&t).await.into_iter().find(|r| r["upstreamId"] == upstream.id.as_str()).unwrap();
    assert_eq!(r["status"], "WAITING_ON_PARTNER");
    assert_eq!(r["sla"]["state"], "MET");
    assert_eq!(r["sla"]["firstResponseSource"], "MICROSOFT");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(r["sla"]["firstResponseAt"].as_str().unwrap()).unwrap(),
        answered,
        "at Microsoft's timestamp"
    );
    let note = r["notes"]["edges"].as_array().unwrap().last().unwrap()["node"].clone();
    assert_eq!(note["authorKind"], "SUPPORT");
}

async fn two_replicas_sync_once(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    sim.set_faults(Faults { delay_ms: 20, ..Faults::default() });
    let other = t.reconfigured(|_| {}).await;
    let (a, b) = (syncer(&t, &base).await, syncer(&other, &base).await);
    let options = pages(5);
    let (ra, rb) = tokio::join!(a.run(&options), b.run(&options));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.ran != rb.ran, "exactly one replica ran the pass: {} {}", ra.ran, rb.ran);
    assert_eq!(ra.customers.created + rb.customers.created, 12);
    assert_eq!(synced_requests(&t).await.len(), 20);
}

async fn a_wrong_secret_is_refused_and_never_shown(t: TestApp) {
    let (_sim, base) = simulator(&t, Size::SMALL).await;
    let sync = syncer_with(&t, UpstreamSettings { client_secret: "not-the-secret".into(), ..settings(&base, 0) }).await;
    let err = sync.run(&pages(5)).await.unwrap_err().to_string();
    assert!(err.contains("invalid_client") && err.contains("check the client id"), "{err}");
    assert!(!err.contains("not-the-secret"));
    assert!(!format!("{:?}", sync.api()).contains("not-the-secret"));
}

const CREATE: &str = "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) {
  serviceRequest { id upstreamState upstreamId upstreamError source } } }";
const FILED: &str = "query($id: ID!) { node(id: $id) { ... on ServiceRequest { id version upstreamState upstreamId upstreamError source } } }";

/// A Microsoft 365 filing for a demo customer of Northwind under `topic`.
async fn m365_filing(t: &TestApp, topic: &Value, title: &str) -> Value {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ customers(first: 100) { edges { node { id relationship subscriptions(first: 50) { edges { node { id productFamily status } } } } } } }",
            json!({}),
        )
        .await;
    let (customer, subscription) = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["node"]["relationship"] != "ADVISOR")
        .find_map(|c| {
            let s = c["node"]["subscriptions"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["node"]["productFamily"] == "MICROSOFT_365" && s["node"]["status"] == "ACTIVE")?;
            Some((c["node"]["id"].clone(), s["node"]["id"].clone()))
        })
        .expect("a demo customer with Microsoft 365");
    json!({
        "customerId": customer, "productFamily": "MICROSOFT_365", "subscriptionId": subscription,
        "supportTopicId": topic, "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE",
        "title": title, "description": "Queues growing.", "supportLanguage": "en",
    })
}

async fn topic_named(t: &TestApp, name: &str) -> Value {
    let d = t.data(NORTHWIND_ADMIN, "{ supportTopics(productFamily: MICROSOFT_365) { id name } }", json!({})).await;
    d["supportTopics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .map(|x| x["id"].clone())
        .unwrap_or_else(|| panic!("no topic {name}: {d}"))
}

/// The gateway with Partner Center and the Azure Support API configured (both at the simulator).
async fn with_azure(t: &TestApp, base: &str) -> TestApp {
    t.reconfigured(|c| {
        let pc = settings(base, 3);
        c.sources = Some(support_gateway::config::Sources {
            azure_support: Some(UpstreamSettings {
                base_url: base.to_owned(),
                scope: "https://management.azure.com/.default".into(),
                ..pc.clone()
            }),
            graph: Some(UpstreamSettings {
                base_url: format!("{base}/v1.0"),
                scope: "https://graph.microsoft.com/.default".into(),
                ..pc.clone()
            }),
            partner_center: pc,
            agent: NORTHWIND_ADMIN.into(),
            interval: None,
        })
    })
    .await
}

const AZURE_REQUEST: &str =
    "query($id: ID!) { node(id: $id) { ... on ServiceRequest { id status upstreamState upstreamId
  upstreamError sla { state firstResponseAt firstResponseSource } notes(first: 20) { nodes { body authorKind } } } } }";

async fn azure_requests_are_filed_as_tickets_in_the_customers_tenant(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    let gw = with_azure(&t, &base).await;
    let sync = PartnerCenterSync::for_app(&gw.app).await.unwrap().expect("sources are configured");
    let report = sync.run(&pages(50)).await.unwrap();
    assert_eq!(report.azure_topics.created, 2, "{report:?}");
    let topics = gw.data(NORTHWIND_ADMIN, "{ supportTopics(productFamily: AZURE) { id name } }", json!({})).await;
    let topic = topics["supportTopics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "Virtual Machine running Windows / Cannot connect to my VM / RDP")
        .unwrap_or_else(|| panic!("{topics}"))["id"]
        .clone();
    // A synced customer with an Azure subscription (Sim Customer 1's second subscription).
    let d = gw
        .data(
            NORTHWIND_ADMIN,
            "{ customers(first: 1, search: \"Sim Customer 1\") { edges { node { id subscriptions(first: 5) {
               edges { node { id productFamily } } } } } } }",
            json!({}),
        )
        .await;
    let customer = &d["customers"]["edges"][0]["node"];
    let subscription = customer["subscriptions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"]["productFamily"] == "AZURE")
        .unwrap_or_else(|| panic!("{d}"))["node"]["id"]
        .clone();
    let input = json!({
        "customerId": customer["id"], "productFamily": "AZURE", "subscriptionId": subscription,
        "supportTopicId": topic, "incidentKind": "TECHNICAL_BREAK_FIX", "businessImpact": "MODERATE",
        "title": "VM unreachable", "description": "RDP times out since 08:00.", "supportLanguage": "en",
    });
    let (_, body) = gw.gql_as(Some(NORTHWIND_ADMIN), CREATE, json!({ "i": input })).await;
    let r = body["data"]["createServiceRequest"]["serviceRequest"].clone();
    assert_eq!(r["upstreamState"], "PENDING", "{body}");

    // The PUT takes effect and its answer is lost: the next attempt finds the ticket by name.
    let outbox = sync.outbox();
    sim.set_faults(Faults { lose_answer: 1, ..Faults::default() });
    assert_eq!(outbox.run_once().await.unwrap().deferred, 1);
    gw.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(outbox.run_once().await.unwrap().filed, 1);
    let tickets = sim.azure_tickets();
    assert_eq!(tickets.len(), 1, "one ticket at Microsoft");
    let ticket = &tickets[0];
    let filed = gw.data(NORTHWIND_ADMIN, AZURE_REQUEST, json!({ "id": r["id"] })).await["node"].clone();
    assert_eq!(filed["upstreamState"], "FILED");
    assert_eq!(filed["upstreamId"].as_str(), ticket.properties.support_ticket_id.as_deref());
    assert_eq!(ticket.properties.severity, "moderate");
    assert!(ticket.properties.description.contains("RDP times out"));

    // A note goes to the ticket as a communication; support answers; sync reads both.
    gw.data(NORTHWIND_ADMIN, ADD_NOTE, json!({ "id": r["id"], "body": "It is the jump host." })).await;
    assert_eq!(outbox.run_once().await.unwrap().notes, 1);
    gw.clock.advance(chrono::Duration::minutes(5));
    assert!(sim.add_azure_communication(&ticket.name, "Azure Support", "Please restart the VM agent.", gw.clock.now()));
    let report = sync.run(&pages(50)).await.unwrap();
    assert_eq!((report.tickets.updated, report.notes.created), (1, 1), "{report:?}");
    let after = gw.data(NORTHWIND_ADMIN, AZURE_REQUEST, json!({ "id": r["id"] })).await["node"].clone();
    assert_eq!(after["sla"]["firstResponseSource"], "MICROSOFT", "{after}");
    assert_eq!(after["sla"]["state"], "MET", "{after}");
    let kinds: Vec<&str> =
        after["notes"]["nodes"].as_array().unwrap().iter().map(|n| n["authorKind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PARTNER", "SUPPORT"], "{after}");
    // Closed at Microsoft: closed here.
    assert!(sim.set_azure_ticket_status(&ticket.name, "Closed"));
    sync.run(&pages(50)).await.unwrap();
    let closed = gw.data(NORTHWIND_ADMIN, AZURE_REQUEST, json!({ "id": r["id"] })).await["node"].clone();
    assert_eq!(closed["status"], "CLOSED", "{closed}");

    // Under a topic Azure does not know (the demo's own), the request is refused upstream.
    let demo_topic = topics["supportTopics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| {
            !x["name"].as_str().unwrap().starts_with("Virtual Machine")
                && !x["name"].as_str().unwrap().starts_with("Storage")
        })
        .unwrap_or_else(|| panic!("a demo Azure topic: {topics}"))["id"]
        .clone();
    let mut input = input.clone();
    input["supportTopicId"] = demo_topic;
    input["title"] = json!("Another VM");
    let r2 =
        gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    assert_eq!(outbox.run_once().await.unwrap().rejected, 1);
    let refused = gw.data(NORTHWIND_ADMIN, AZURE_REQUEST, json!({ "id": r2["id"] })).await["node"].clone();
    assert_eq!(refused["upstreamState"], "REJECTED");
    assert!(refused["upstreamError"].as_str().unwrap().contains("problem classifications"), "{refused}");
    assert_eq!(sim.azure_tickets().len(), 1, "nothing sent");
}

async fn delegated_admin_follows_gdap_relationships(t: TestApp) {
    let size = Size { customers: 120, ..Size::SMALL };
    let (sim, base) = simulator(&t, size).await;
    let gw = with_azure(&t, &base).await;
    let sync = PartnerCenterSync::for_app(&gw.app).await.unwrap().expect("sources are configured");
    // Sim Customer 1 allows delegated access at Partner Center, but its GDAP relationship has
    // ended; Sim Customer 4 does not, but has an active one. Graph's word counts.
    let first = sim.customers()[0].id.clone();
    let fourth = sim.customers()[3].id.clone();
    sim.set_gdap_status(&first, "terminated");
    sim.set_gdap_status(&fourth, "active");
    let report = sync.run(&pages(500)).await.unwrap();
    assert!(report.delegated_admin.updated >= 2, "{report:?}");
    let delegated = |name: &'static str| {
        let gw = &gw;
        async move {
            let q = "query($s: String) { customers(first: 50, search: $s) {
                edges { node { companyName delegatedAdminPrivileges } } } }";
            let d = gw.data(NORTHWIND_ADMIN, q, json!({ "s": name })).await;
            let edges = d["customers"]["edges"].as_array().unwrap().clone();
            let node = edges.iter().find(|e| e["node"]["companyName"] == name).unwrap_or_else(|| panic!("{d}"));
            node["node"]["delegatedAdminPrivileges"].as_bool().unwrap()
        }
    };
    assert!(!delegated("Sim Customer 1").await);
    assert!(delegated("Sim Customer 4").await);
    assert!(delegated("Sim Customer 2").await);
    // One source at a time: only Graph is read (one call a page of relationships).
    sim.set_gdap_status(&first, "active");
    let calls = sim.calls.load(Ordering::Relaxed);
    let only = SyncOptions { only: Some(support_gateway::sync::Upstream::Graph), ..pages(500) };
    let graph_only = sync.run(&only).await.unwrap();
    assert_eq!((graph_only.delegated_admin.updated, graph_only.customers.seen()), (1, 0), "{graph_only:?}");
    assert_eq!(sim.calls.load(Ordering::Relaxed) - calls, 3, "three pages of 120 relationships, nothing else");
    assert!(delegated("Sim Customer 1").await);
    // More than one page of relationships was read (50 a page at the simulator).
    let calls_before = sim.calls.load(Ordering::Relaxed);
    sim.set_gdap_status(&fourth, "expired");
    let again = sync.run(&pages(500)).await.unwrap();
    assert_eq!(again.delegated_admin.updated, 1, "{again:?}");
    assert!(!delegated("Sim Customer 4").await);
    assert!(sim.calls.load(Ordering::Relaxed) - calls_before >= 3);
}

/// The gateway with Partner Center configured: Northwind's requests and notes go there too.
async fn with_source(t: &TestApp, base: &str) -> TestApp {
    t.reconfigured(|c| {
        c.sources = Some(support_gateway::config::Sources {
            partner_center: settings(base, 3),
            azure_support: None,
            graph: None,
            agent: NORTHWIND_ADMIN.into(),
            interval: None,
        })
    })
    .await
}

async fn requests_filed_here_reach_microsoft_exactly_once(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    syncer(&t, &base).await.run(&pages(50)).await.unwrap();
    let gw = with_source(&t, &base).await;
    let outbox = syncer(&gw, &base).await.outbox();
    let pc_topic = topic_named(&gw, "Microsoft 365 / Exchange Online mail flow").await;
    let created_before = sim.created.load(Ordering::Relaxed);

    // The answer to the first POST is lost after Partner Center filed it: the retry carries the
    // same MS-RequestId and gets that ticket back.
    sim.set_faults(Faults { lose_answer: 1, ..Faults::default() });
    let input = m365_filing(&gw, &pc_topic, "Mail delayed").await;
    let r =
        gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    assert_eq!((r["upstreamState"].as_str(), r["source"].as_str()), (Some("PENDING"), Some("LOCAL")), "{r}");
    let round = outbox.run_once().await.unwrap();
    assert_eq!((round.filed, round.rejected), (1, 0));
    assert_eq!(sim.created.load(Ordering::Relaxed) - created_before, 1, "one ticket at Microsoft");
    let filed = gw.data(NORTHWIND_ADMIN, FILED, json!({ "id": r["id"] })).await["node"].clone();
    assert_eq!(filed["upstreamState"], "FILED");
    let case = filed["upstreamId"].as_str().unwrap().to_owned();
    assert!(sim.requests().iter().any(|x| x.id == case && x.title == "Mail delayed"));
    assert_eq!(outbox.run_once().await.unwrap(), Default::default(), "nothing left to send");

    // Partner Center down: the attempt is put off, then made once it is back.
    sim.set_faults(Faults { fail: 1000, ..Faults::default() });
    let input = m365_filing(&gw, &pc_topic, "Calendar sync broken").await;
    let r2 =
        gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    assert_eq!(outbox.run_once().await.unwrap().deferred, 1);
    sim.set_faults(Faults::default());
    assert_eq!(outbox.run_once().await.unwrap(), Default::default(), "not before its retry time");
    gw.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(outbox.run_once().await.unwrap().filed, 1);
    assert_eq!(gw.data(NORTHWIND_ADMIN, FILED, json!({ "id": r2["id"] })).await["node"]["upstreamState"], "FILED");
    assert_eq!(sim.created.load(Ordering::Relaxed) - created_before, 2);

    // Two workers (two replicas) at once: one ticket.
    let other = syncer(&t, &base).await.outbox();
    let input = m365_filing(&gw, &pc_topic, "Teams calls drop").await;
    gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await;
    let (a, b) = tokio::join!(outbox.run_once(), other.run_once());
    assert_eq!(a.unwrap().filed + b.unwrap().filed, 1);
    assert_eq!(sim.created.load(Ordering::Relaxed) - created_before, 3);

    // Refused: a topic Partner Center does not know. Shown on the request, with the reason.
    let local_topic = gw
        .data(NORTHWIND_ADMIN, "{ supportTopics(productFamily: MICROSOFT_365) { id name } }", json!({}))
        .await["supportTopics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| !x["name"].as_str().unwrap().contains('/'))
        .unwrap()["id"]
        .clone();
    let input = m365_filing(&gw, &local_topic, "Licence question").await;
    let r4 =
        gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    assert_eq!(outbox.run_once().await.unwrap().rejected, 1);
    let rejected = gw.data(NORTHWIND_ADMIN, FILED, json!({ "id": r4["id"] })).await["node"].clone();
    assert_eq!(rejected["upstreamState"], "REJECTED");
    assert!(rejected["upstreamError"].as_str().unwrap().contains("support topics"), "{rejected}");
    assert_eq!(sim.created.load(Ordering::Relaxed) - created_before, 3, "nothing sent");

    // Sync reads the filed requests back as the same requests, not new ones.
    // (As `serve` sets it up: counting into /metrics.)
    let sync = PartnerCenterSync::for_app(&gw.app).await.unwrap().expect("a source is configured");
    let report = sync.run(&pages(50)).await.unwrap();
    assert_eq!(report.requests.created, 0);
    assert_eq!(report.requests.unchanged + report.requests.updated, 23);
    assert_eq!(synced_requests(&gw).await.len(), 20);
    let metrics = gw.app.metrics.render();
    let value = |name: &str| -> f64 {
        let line = metrics.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name}: {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("sg_sync_objects_total"), 5.0 + 12.0 + 23.0, "topics, customers, requests");
    assert!(value("sg_upstream_calls_total") >= 3.0);
    assert_eq!(value("sg_sync_last_success_timestamp_seconds"), gw.clock.now().timestamp() as f64);
    // Without a source configured, nothing is queued.
    let input = m365_filing(&t, &pc_topic, "Local only").await;
    let local =
        t.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"].clone();
    assert!(local["upstreamState"].is_null());
}

const ADD_NOTE: &str = "mutation($id: ID!, $body: String!) { addServiceRequestNote(input: { id: $id, body: $body }) {
  serviceRequest { id } } }";
const NOTES: &str =
    "query($id: ID!) { node(id: $id) { ... on ServiceRequest { notes(first: 50) { nodes { body authorKind } } } } }";

async fn notes_added_here_reach_microsoft_once(t: TestApp) {
    let (sim, base) = simulator(&t, Size::SMALL).await;
    syncer(&t, &base).await.run(&pages(50)).await.unwrap();
    let gw = with_source(&t, &base).await;
    let sync = syncer(&gw, &base).await;
    let outbox = sync.outbox();
    let pc_topic = topic_named(&gw, "Microsoft 365 / Exchange Online mail flow").await;
    let input = m365_filing(&gw, &pc_topic, "Shared mailbox missing").await;
    let r =
        gw.data(NORTHWIND_ADMIN, CREATE, json!({ "i": input })).await["createServiceRequest"]["serviceRequest"]["id"]
            .clone();
    // A note added before the request reaches Microsoft follows it there.
    gw.data(NORTHWIND_ADMIN, ADD_NOTE, json!({ "id": r, "body": "It vanished at 09:10." })).await;
    let round = outbox.run_once().await.unwrap();
    assert_eq!((round.filed, round.notes), (1, 1), "{round:?}");
    let case =
        gw.data(NORTHWIND_ADMIN, FILED, json!({ "id": r })).await["node"]["upstreamId"].as_str().unwrap().to_owned();
    let at_microsoft = |text: &str| {
        let ticket = sim.requests().into_iter().find(|x| x.id == case).unwrap();
        ticket.notes.iter().filter(|n| n.text == text).count()
    };
    assert_eq!(at_microsoft("It vanished at 09:10."), 1);

    // The answer to the note is lost after Partner Center added it: the next attempt finds it
    // on the ticket and does not add it again.
    sim.set_faults(Faults { lose_answer: 1, ..Faults::default() });
    gw.data(NORTHWIND_ADMIN, ADD_NOTE, json!({ "id": r, "body": "Users still cannot open it." })).await;
    assert_eq!(outbox.run_once().await.unwrap().deferred, 1);
    assert_eq!(at_microsoft("Users still cannot open it."), 1, "the lost call took effect");
    gw.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(outbox.run_once().await.unwrap().notes, 1);
    assert_eq!(at_microsoft("Users still cannot open it."), 1, "not sent twice");
    // The same words again are a new note, and go.
    gw.data(NORTHWIND_ADMIN, ADD_NOTE, json!({ "id": r, "body": "Users still cannot open it." })).await;
    assert_eq!(outbox.run_once().await.unwrap().notes, 1);
    assert_eq!(at_microsoft("Users still cannot open it."), 2);

    // Sync reads Microsoft's copies as the notes they are, and support's reply as new.
    sim.add_note(&case, "Microsoft Support", "We restored the mailbox.", gw.clock.now());
    let report = sync.run(&pages(50)).await.unwrap();
    assert_eq!(report.notes.created, 1, "{report:?}");
    let notes = gw.data(NORTHWIND_ADMIN, NOTES, json!({ "id": r })).await["node"]["notes"]["nodes"].clone();
    let bodies: Vec<(&str, &str)> = notes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["body"].as_str().unwrap(), n["authorKind"].as_str().unwrap()))
        .collect();
    assert_eq!(bodies.len(), 4, "{notes}");
    assert_eq!(bodies.iter().filter(|(_, k)| *k == "SUPPORT").count(), 1, "{notes}");
    assert_eq!(sync.run(&pages(50)).await.unwrap().notes.created, 0, "a quiet pass adds nothing");
    assert_eq!(outbox.run_once().await.unwrap(), Default::default(), "nothing left to send");
}

on_both_backends!(
    delegated_admin_follows_gdap_relationships,
    azure_requests_are_filed_as_tickets_in_the_customers_tenant,
    notes_added_here_reach_microsoft_once,
    requests_filed_here_reach_microsoft_exactly_once,
    full_sync_then_a_quiet_pass_changes_nothing,
    a_pass_killed_partway_resumes_without_gaps_or_duplicates,
    throttling_outages_and_dropped_connections_are_waited_out,
    objects_gone_upstream_are_marked_not_deleted,
    changes_at_microsoft_reach_subscribers_and_the_sla,
    two_replicas_sync_once,
    a_wrong_secret_is_refused_and_never_shown,
);
