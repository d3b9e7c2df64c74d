//! Tenant isolation, adversarially: other partners' agents try every query, mutation and
//! subscription with Northwind's ids (valid global ids, the same raw ids under other types,
//! guessed ids, malformed ids) and get nothing, learn nothing and change nothing.

mod common;

use base64::Engine;
use common::ws::*;
use common::*;
use serde_json::{Value, json};

on_both_backends!(
    reads_reach_nothing_of_another_partner,
    writes_change_nothing_of_another_partner,
    idempotency_keys_are_per_partner,
    subscriptions_deliver_nothing_of_another_partner,
);

/// Partners that must see nothing of Northwind's (a direct partner): unrelated, US Government,
/// an indirect provider and its reseller.
const ATTACKERS: [&str; 4] = [TAILSPIN_ADMIN, ADATUM_ADMIN, FABRIKAM_ADMIN, LITWARE_ADMIN];

/// Northwind's objects, as global ids and the raw ids inside them.
struct Victim {
    customer: String,
    company: String,
    subscription: String,
    request: String,
    agent: String,
    partner: String,
}

impl Victim {
    fn ids(&self) -> Vec<&str> {
        vec![&self.customer, &self.subscription, &self.request, &self.agent, &self.partner]
    }
}

fn raw(global: &str) -> (String, String) {
    let text = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(global).unwrap()).unwrap();
    let (ty, raw) = text.split_once(':').unwrap();
    (ty.to_owned(), raw.to_owned())
}

async fn victim(t: &TestApp) -> Victim {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ customers(first: 1) { edges { node { id companyName subscriptions(first: 1) { edges { node { id } } } } } }
               serviceRequests(first: 20, filter: { status: [OPEN, IN_PROGRESS] }) { edges { node { id notes(first: 1) { totalCount } } } }
               viewer { agent { id } partner { id } } }",
            json!({}),
        )
        .await;
    let c = &d["customers"]["edges"][0]["node"];
    let with_note = d["serviceRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["notes"]["totalCount"].as_i64() > Some(0))
        .expect("a request with a note");
    let s = |v: &Value| v.as_str().unwrap().to_owned();
    Victim {
        customer: s(&c["id"]),
        company: s(&c["companyName"]),
        subscription: s(&c["subscriptions"]["edges"][0]["node"]["id"]),
        request: s(&with_note["node"]["id"]),
        agent: s(&d["viewer"]["agent"]["id"]),
        partner: s(&d["viewer"]["partner"]["id"]),
    }
}

/// Every id an attacker might try: the real ones, each raw id under every type, guesses
/// and malformed ids.
fn hostile_ids(v: &Victim) -> Vec<String> {
    let mut ids: Vec<String> = v.ids().iter().map(|s| s.to_string()).collect();
    let types =
        ["Customer", "Subscription", "ServiceRequest", "Agent", "Partner", "MarketplaceProduct", "BusinessCalendar"];
    for id in v.ids() {
        let (_, raw_id) = raw(id);
        for ty in types {
            ids.push(gid(ty, &raw_id));
        }
        ids.push(raw_id.clone());
    }
    for guess in [
        "cust-00001",
        "cust-00001-alpine-ski-house",
        "partner-northwind",
        "agent-northwind-admin",
        "1",
        "%",
        "' OR '1'='1",
        "*",
    ] {
        for ty in types {
            ids.push(gid(ty, guess));
        }
    }
    ids.extend(
        ["", " ", "!!!", "Q3VzdG9tZXI6", "Og", "Q3VzdG9tZXI", "=====", "Customer:cust-00001", "\u{0}", "\u{202e}evil"]
            .map(String::from),
    );
    ids.push("A".repeat(10_000));
    ids
}

fn text(v: &Value) -> String {
    v.to_string()
}

async fn reads_reach_nothing_of_another_partner(t: TestApp) {
    let v = victim(&t).await;
    let ids = hostile_ids(&v);
    for attacker in ATTACKERS {
        let mut leaks = Vec::new();
        for id in &ids {
            let (_, body) = t
                .gql_as(Some(attacker), "query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": id }))
                .await;
            if !body["data"]["node"].is_null() {
                // Only the attacker's own objects may come back (guessed ids may hit them).
                let owner = t
                    .gql_as(Some(NORTHWIND_ADMIN), "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id }))
                    .await
                    .1;
                if !owner["data"]["node"].is_null() {
                    leaks.push(format!("node({id})"));
                }
            }
            if let Some(code) = body["errors"][0]["extensions"]["code"].as_str() {
                assert!(["BAD_USER_INPUT", "NOT_FOUND"].contains(&code), "{attacker} node({id:.40}): {body}");
            }
        }
        assert!(leaks.is_empty(), "{attacker} reached Northwind's objects: {leaks:?}");
        for chunk in v.ids().chunks(3) {
            let (_, body) = t
                .gql_as(Some(attacker), "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": chunk }))
                .await;
            assert!(
                body["data"]["nodes"].as_array().is_none_or(|n| n.iter().all(Value::is_null)),
                "{attacker}: {body}"
            );
        }
        let (_, body) = t
            .gql_as(
                Some(attacker),
                "query($r: ID!, $c: ID!, $s: String!) {
                   byId: serviceRequests(filter: { ids: [$r] }) { totalCount edges { node { id } } }
                   byCustomer: serviceRequests(filter: { customer: [$c] }) { totalCount }
                   search: customers(search: $s) { totalCount edges { node { id } } } }",
                json!({ "r": v.request, "c": v.customer, "s": v.company }),
            )
            .await;
        assert_eq!(body["data"]["byId"]["totalCount"], 0, "{attacker}: {body}");
        assert_eq!(body["data"]["byCustomer"]["totalCount"], 0, "{attacker}: {body}");
        assert_eq!(body["data"]["search"]["totalCount"], 0, "{attacker}: {body}");
        // Eligibility for Northwind's customer: not found, and no detail about it.
        let (_, body) = t
            .gql_as(
                Some(attacker),
                "query($c: ID!, $s: ID!) { supportEligibility(customerId: $c, subscriptionId: $s, productFamily: AZURE) { eligible } }",
                json!({ "c": v.customer, "s": v.subscription }),
            )
            .await;
        assert!(body["data"].is_null() || body["data"]["supportEligibility"].is_null(), "{attacker}: {body}");
        assert!(!text(&body).contains(&v.company), "{attacker} learned the company name: {body}");
    }
}

async fn writes_change_nothing_of_another_partner(t: TestApp) {
    let v = victim(&t).await;
    let before = write_counts(&t).await;
    let (_, req_raw) = raw(&v.request);
    let request_ids = [
        v.request.clone(),
        gid("Customer", &req_raw),
        gid("ServiceRequest", "sr-guess"),
        req_raw.clone(),
        "!!!".into(),
    ];
    let (_, cust_raw) = raw(&v.customer);
    let customer_ids =
        [v.customer.clone(), gid("ServiceRequest", &cust_raw), cust_raw.clone(), gid("Customer", "cust-00001")];
    let mut attempts: Vec<(String, Value)> = Vec::new();
    for id in &request_ids {
        attempts.push((
            "mutation($id: ID!) { addServiceRequestNote(input: { id: $id, body: \"pwned\" }) { serviceRequest { id title } } }".into(),
            json!({ "id": id }),
        ));
        attempts.push((
            "mutation($id: ID!) { changeServiceRequestStatus(input: { id: $id, status: CLOSED, expectedVersion: 1 }) { serviceRequest { id } } }".into(),
            json!({ "id": id }),
        ));
        attempts.push((
            "mutation($id: ID!) { changeServiceRequestSeverity(input: { id: $id, severity: A, expectedVersion: 1 }) { serviceRequest { id } } }".into(),
            json!({ "id": id }),
        ));
        attempts.push((
            "mutation($id: ID!) { recordSupportResponse(input: { id: $id, note: \"x\" }) { serviceRequest { id } } }"
                .into(),
            json!({ "id": id }),
        ));
    }
    for id in &customer_ids {
        attempts.push((
            "mutation($id: ID!) { grantAzureAccess(customerId: $id) { customer { id companyName } } }".into(),
            json!({ "id": id }),
        ));
        attempts.push((
            "mutation($id: ID!) { revokeAzureAccess(customerId: $id) { customer { id } } }".into(),
            json!({ "id": id }),
        ));
        attempts.push((
            "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { serviceRequest { id } } }".into(),
            json!({ "i": {
                "customerId": id, "subscriptionId": v.subscription, "productFamily": "AZURE", "incidentKind": "TECHNICAL_BREAK_FIX",
                "businessImpact": "CRITICAL", "title": "t", "description": "d",
                "contact": { "name": "n", "email": "desk@northwind-cloud.example" } } }),
        ));
    }
    for attacker in ATTACKERS {
        for (query, vars) in &attempts {
            let (_, body) = t.gql_as(Some(attacker), query, vars.clone()).await;
            let code = body["errors"][0]["extensions"]["code"].as_str();
            assert!(
                matches!(code, Some("NOT_FOUND" | "FORBIDDEN" | "BAD_USER_INPUT" | "POLICY_REFUSED")),
                "{attacker}: {query} {vars}: {body}"
            );
            assert!(
                body["data"].is_null() || body["data"].as_object().is_some_and(|m| m.values().all(Value::is_null)),
                "{body}"
            );
            assert!(!text(&body).contains(&v.company), "{attacker} learned the company name: {body}");
        }
    }
    assert_eq!(write_counts(&t).await, before, "an attacker's write changed something");
    // Northwind's request is as it was.
    let d = t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { ... on ServiceRequest { version notes(first: 100) { edges { node { body } } } } } }", json!({ "id": v.request })).await;
    assert!(!text(&d).contains("pwned"));
}

async fn idempotency_keys_are_per_partner(t: TestApp) {
    // Each partner files with the same idempotency key: neither gets the other's request.
    let filing = |customer: &str, subscription: &str| {
        json!({ "i": {
            "customerId": customer, "subscriptionId": subscription, "productFamily": "AZURE", "incidentKind": "TECHNICAL_BREAK_FIX",
            "businessImpact": "MODERATE", "title": "Shared key", "description": "Same idempotency key, other partner",
            "idempotencyKey": "shared-key-1" } })
    };
    let first_azure = async |agent: &str| {
        let d = t
            .data(agent, "{ customers(first: 100) { edges { node { id relationship delegatedAdminPrivileges subscriptions(first: 50) { edges { node { id productFamily status } } } } } } }", json!({}))
            .await;
        d["customers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            // R11: a customer the partner resells to, and a subscription not deleted.
            .filter(|c| c["node"]["relationship"] != "ADVISOR")
            .find_map(|c| {
                let sub = c["node"]["subscriptions"]["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["node"]["productFamily"] == "AZURE" && s["node"]["status"] != "DELETED")?;
                Some((c["node"]["id"].as_str()?.to_owned(), sub["node"]["id"].as_str()?.to_owned()))
            })
            .expect("a customer with Azure")
    };
    const CREATE: &str = "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) { replayed serviceRequest { id title customer { id } } } }";
    let (nc, ns) = first_azure(NORTHWIND_ADMIN).await;
    let (fc, fs) = first_azure(FABRIKAM_ADMIN).await;
    let (_, a) = t.gql_as(Some(NORTHWIND_ADMIN), CREATE, filing(&nc, &ns)).await;
    let a_id =
        a["data"]["createServiceRequest"]["serviceRequest"]["id"].as_str().unwrap_or_else(|| panic!("{a}")).to_owned();
    let (_, b) = t.gql_as(Some(FABRIKAM_ADMIN), CREATE, filing(&fc, &fs)).await;
    assert!(!text(&b).contains(&a_id), "Fabrikam replayed Northwind's request: {b}");
    if let Some(created) = b["data"]["createServiceRequest"]["serviceRequest"].as_object() {
        assert_eq!(b["data"]["createServiceRequest"]["replayed"], false);
        assert_eq!(created["customer"]["id"], fc);
    }
}

async fn subscriptions_deliver_nothing_of_another_partner(t: TestApp) {
    let v = victim(&t).await;
    let addr = serve(t.router.clone()).await;
    let mut ws = Ws::open(addr, &t, FABRIKAM_ADMIN).await;
    let baseline = t.app.events.receiver_count();
    let wait_for = async |n: usize| {
        let started = std::time::Instant::now();
        while t.app.events.receiver_count() != n {
            assert!(started.elapsed() < std::time::Duration::from_secs(10), "subscriptions did not settle at {n}");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    // Following Northwind's request by id is refused or empty.
    ws.subscribe(
        "countdown",
        "subscription($ids: [ID!]) { slaCountdown(ids: $ids) { items { serviceRequestId title } } }",
        json!({ "ids": [v.request] }),
    )
    .await;
    let first = ws.recv().await.expect("an answer");
    if first["type"] == "next" {
        assert_eq!(first["payload"]["data"]["slaCountdown"]["items"], json!([]), "{first}");
        ws.send(json!({ "id": "countdown", "type": "complete" })).await;
    } else {
        assert_eq!(first["type"], "error", "{first}");
    }
    wait_for(baseline).await;
    ws.subscribe(
        "by-id",
        "subscription($ids: [ID!]) { serviceRequestEvents(filter: { ids: $ids }) { kind serviceRequest { id } } }",
        json!({ "ids": [v.request] }),
    )
    .await;
    ws.subscribe("all", "subscription { serviceRequestEvents { kind serviceRequest { id title } } }", json!({})).await;
    wait_for(baseline + 2).await;
    // Northwind writes first, then Fabrikam: events go out in order, so if Northwind's
    // reached Fabrikam it would arrive before Fabrikam's own.
    let note = "mutation($id: ID!, $b: String!) { addServiceRequestNote(input: { id: $id, body: $b }) { serviceRequest { id } } }";
    t.data(NORTHWIND_ADMIN, note, json!({ "id": v.request, "b": "northwind only" })).await;
    let own = t
        .data(
            FABRIKAM_ADMIN,
            "{ serviceRequests(first: 1, filter: { status: [OPEN, IN_PROGRESS] }) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let own_request = own["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    t.data(FABRIKAM_ADMIN, note, json!({ "id": own_request, "b": "fabrikam's own" })).await;
    let got = ws.next("all").await;
    assert_eq!(
        got["data"]["serviceRequestEvents"]["serviceRequest"]["id"], own_request,
        "Fabrikam saw another partner's event first: {got}"
    );
    assert!(!text(&got).contains(&v.request));
}
