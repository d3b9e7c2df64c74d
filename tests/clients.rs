//! What Relay, Apollo Client and generated clients rely on, through the real router on SQLite
//! and PostgreSQL: notes and history entries are nodes, mutations return what they created as
//! edges, countdown ticks carry the request, `nodes(ids:)` reports a bad id at its position,
//! and responses keep their keys in selection order.

mod common;

use axum::body::Body;
use axum::http::{Method, Request};
use common::ws::*;
use common::*;
use serde_json::{Value, json};

on_both_backends!(
    notes_and_history_entries_are_nodes,
    mutations_return_what_they_created_as_edges,
    countdown_ticks_carry_the_request,
    subscriptions_read_fresh_records_at_each_event,
    nodes_reports_a_bad_id_at_its_position,
    responses_keep_selection_order,
    objects_answered_as_text_read_as_objects_answered_as_maps,
);

async fn notes_and_history_entries_are_nodes(t: TestApp) {
    let r = file_request(&t, NORTHWIND_ADMIN, "MODERATE").await;
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { note { id body } } }",
            json!({ "i": { "id": r["id"], "body": "Called the customer." } }),
        )
        .await;
    let note = d["addServiceRequestNote"]["note"].clone();
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "query($id: ID!) { node(id: $id) { ... on ServiceRequest { history(first: 10) { nodes { id kind } } } } }",
            json!({ "id": r["id"] }),
        )
        .await;
    let entry = d["node"]["history"]["nodes"][0].clone();
    assert_eq!(entry["kind"], "CREATED");
    let q =
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on Note { body } ... on HistoryEntry { kind } } }";
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "ids": [note["id"], entry["id"]] })).await;
    assert_eq!(d["nodes"][0], json!({ "__typename": "Note", "id": note["id"], "body": "Called the customer." }));
    assert_eq!(d["nodes"][1], json!({ "__typename": "HistoryEntry", "id": entry["id"], "kind": "CREATED" }));
    // Another partner sees neither.
    let d = t.data(ADATUM_ADMIN, q, json!({ "ids": [note["id"], entry["id"]] })).await;
    assert_eq!(d["nodes"], json!([null, null]));
    // A note id naming a request that is not the note's finds nothing.
    let other = file_request(&t, NORTHWIND_ADMIN, "MINIMAL").await;
    let request_raw = raw_of(other["id"].as_str().unwrap());
    let note_raw = raw_of(note["id"].as_str().unwrap());
    let forged = gid("Note", &format!("{request_raw}/{}", note_raw.split_once('/').unwrap().1));
    let d = t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": forged })).await;
    assert_eq!(d["node"], Value::Null);
    // Administrative changes are nodes for those who may read the history, and no one else.
    for hook in ["x", "y"] {
        let add = "mutation($u: String!) { createWebhookEndpoint(input: { url: $u }) { secret } }";
        t.data(NORTHWIND_ADMIN, add, json!({ "u": format!("https://hooks.example.com/{hook}") })).await;
    }
    let d = t.data(NORTHWIND_ADMIN, "{ adminChanges(first: 2) { nodes { id action } } }", json!({})).await;
    let changes = d["adminChanges"]["nodes"].clone();
    let change = changes[0].clone();
    let q = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on AdminChange { id action } } }";
    // Both in one statement (the caller was read by the query above).
    let before = t.statements();
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "ids": [changes[0]["id"], changes[1]["id"]] })).await;
    assert_eq!(t.statements() - before, 1, "admin changes by id are one batch");
    assert_eq!(d["nodes"], changes);
    for outsider in [NORTHWIND_HELPDESK, ADATUM_ADMIN] {
        let d = t.data(outsider, q, json!({ "ids": [change["id"]] })).await;
        assert_eq!(d["nodes"], json!([null]), "{outsider}");
    }
}

/// The raw id inside a global id.
fn raw_of(id: &str) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).unwrap();
    String::from_utf8(text).unwrap().split_once(':').unwrap().1.to_owned()
}

async fn mutations_return_what_they_created_as_edges(t: TestApp) {
    let input = filing_input(&t, NORTHWIND_ADMIN, "MODERATE").await;
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "mutation($i: CreateServiceRequestInput!) { createServiceRequest(input: $i) {
               serviceRequest { id } serviceRequestEdge { cursor node { id title } } replayed } }",
            json!({ "i": input }),
        )
        .await;
    let created = &d["createServiceRequest"];
    let id = created["serviceRequest"]["id"].clone();
    assert_eq!(created["serviceRequestEdge"]["node"]["id"], id);
    // The edge's cursor is the request's place in `serviceRequests` (newest first).
    let list =
        t.data(NORTHWIND_ADMIN, "{ serviceRequests(first: 1) { edges { cursor node { id } } } }", json!({})).await;
    assert_eq!(list["serviceRequests"]["edges"][0]["node"]["id"], id);
    assert_eq!(list["serviceRequests"]["edges"][0]["cursor"], created["serviceRequestEdge"]["cursor"]);

    let add = "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) {
                 note { id body } noteEdge { cursor node { id body author { email } } } serviceRequest { id version } } }";
    let mut edges = Vec::new();
    for body in ["First call.", "Second call."] {
        let d = t.data(NORTHWIND_ADMIN, add, json!({ "i": { "id": id, "body": body } })).await;
        let p = d["addServiceRequestNote"].clone();
        assert_eq!(p["note"]["body"], body);
        assert_eq!(p["noteEdge"]["node"]["id"], p["note"]["id"]);
        assert_eq!(p["noteEdge"]["node"]["author"]["email"], NORTHWIND_ADMIN);
        assert_eq!(p["serviceRequest"]["id"], id);
        edges.push(p["noteEdge"].clone());
    }
    // Each edge is the one the request's notes list shows, cursor included, so a client can
    // append it to a cached list and page on from it.
    let d = t
        .data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { ... on ServiceRequest { notes(first: 10) { edges { cursor node { id body author { email } } } } } } }", json!({ "id": id }))
        .await;
    assert_eq!(d["node"]["notes"]["edges"], json!(edges));
}

async fn countdown_ticks_carry_the_request(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "MODERATE").await;
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let statements = t.statements();
    ws.subscribe(
        "c",
        "subscription($ids: [ID!]!) { slaCountdown(ids: $ids, intervalSeconds: 1) { at items {
           serviceRequestId remainingSeconds state
           serviceRequest { id title version sla { remainingSeconds state dueAt } } } } }",
        json!({ "ids": [r["id"]] }),
    )
    .await;
    let first = ws.next("c").await;
    let item = &first["data"]["slaCountdown"]["items"][0];
    assert_eq!(item["serviceRequest"]["id"], r["id"]);
    assert_eq!(item["serviceRequest"]["title"], "Mail delayed");
    // The request's `sla` is evaluated at the tick's instant: the same figures as the line.
    assert_eq!(item["serviceRequest"]["sla"]["remainingSeconds"], item["remainingSeconds"]);
    assert_eq!(item["serviceRequest"]["sla"]["state"], item["state"]);
    let loaded = t.statements() - statements;
    // Later ticks read nothing: the request comes from the countdown's memory.
    t.clock.advance(chrono::Duration::minutes(10));
    let before = t.statements();
    let mut tick = ws.next("c").await;
    while tick["data"]["slaCountdown"]["items"][0]["remainingSeconds"] == item["remainingSeconds"] {
        tick = ws.next("c").await;
    }
    let later = &tick["data"]["slaCountdown"]["items"][0];
    assert_eq!(later["remainingSeconds"], 4 * 3600 - 600);
    assert_eq!(later["serviceRequest"]["sla"]["remainingSeconds"], later["remainingSeconds"]);
    assert_eq!(t.statements(), before, "ticks cost no statement (the subscription's start took {loaded})");
    // A change pushed to the countdown shows in its request at once.
    let v = later["serviceRequest"]["version"].as_i64().unwrap();
    t.data(
        NORTHWIND_ADMIN,
        "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { note { id } } }",
        json!({ "i": { "id": r["id"], "body": "Update." } }),
    )
    .await;
    let mut pushed = ws.next("c").await;
    while pushed["data"]["slaCountdown"]["items"][0]["serviceRequest"]["version"] == v {
        pushed = ws.next("c").await;
    }
    assert_eq!(pushed["data"]["slaCountdown"]["items"][0]["serviceRequest"]["version"], v + 1);
}

/// A subscription keeps one context for its life; each event and tick still reads the records
/// as they are then (its loaders forget what earlier events read).
async fn subscriptions_read_fresh_records_at_each_event(t: TestApp) {
    let addr = serve(t.router.clone()).await;
    let r = file_request(&t, NORTHWIND_ADMIN, "MODERATE").await;
    let mut ws = Ws::open(addr, &t, NORTHWIND_ADMIN).await;
    let before = t.app.events.receiver_count();
    ws.subscribe(
        "e",
        "subscription($ids: [ID!]) { serviceRequestEvents(filter: { ids: $ids }) { kind serviceRequest { notes(first: 10) { totalCount } } } }",
        json!({ "ids": [r["id"]] }),
    )
    .await;
    ws.subscribe(
        "c",
        "subscription($ids: [ID!]!) { slaCountdown(ids: $ids, intervalSeconds: 3600) { items { serviceRequest { notes(first: 10) { totalCount } } } } }",
        json!({ "ids": [r["id"]] }),
    )
    .await;
    while t.app.events.receiver_count() < before + 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let add = "mutation($i: AddServiceRequestNoteInput!) { addServiceRequestNote(input: $i) { note { id } } }";
    for n in 1..=2 {
        t.data(NORTHWIND_ADMIN, add, json!({ "i": { "id": r["id"], "body": format!("Note {n}.") } })).await;
        // The note's event, and the tick it pushes, count it (the filing's own event and its
        // tick may still arrive first: at most a few messages).
        let (mut event, mut tick) = (false, false);
        for _ in 0..8 {
            if event && tick {
                break;
            }
            let msg = ws.recv().await.expect("a message");
            let data = &msg["payload"]["data"];
            match msg["id"].as_str() {
                Some("e") if data["serviceRequestEvents"]["kind"] == "NOTE_ADDED" => {
                    let count = &data["serviceRequestEvents"]["serviceRequest"]["notes"]["totalCount"];
                    if *count == n {
                        event = true;
                    }
                }
                Some("c") => {
                    tick |= data["slaCountdown"]["items"][0]["serviceRequest"]["notes"]["totalCount"] == n;
                }
                _ => {}
            }
        }
        assert!(event && tick, "note {n}: the event counted it: {event}, a tick counted it: {tick}");
    }
}

async fn nodes_reports_a_bad_id_at_its_position(t: TestApp) {
    let d = t.data(NORTHWIND_ADMIN, "{ customers(first: 2) { nodes { id } } }", json!({})).await;
    let (a, b) = (d["customers"]["nodes"][0]["id"].clone(), d["customers"]["nodes"][1]["id"].clone());
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [a, "not-an-id", b, gid("Nonsense", "1")] }),
        )
        .await;
    assert_eq!(body["data"]["nodes"], json!([{ "id": a }, null, { "id": b }, null]), "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{body}");
    assert_eq!(errors[0]["path"], json!(["nodes", 1]));
    assert_eq!(errors[1]["path"], json!(["nodes", 3]));
    assert!(errors.iter().all(|e| e["extensions"]["code"] == "BAD_USER_INPUT"), "{body}");
    // An id of a type that is not visible is null without an error, as before.
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [gid("Customer", "nope")] }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "nodes": [null] } }));
}

/// Sends a query and returns the response with its keys in the order they were sent
/// (`async_graphql::Value` keeps object keys in order; serde_json's map sorts them).
async fn ordered(t: &TestApp, query: &str, variables: Value) -> async_graphql::Value {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
        .body(Body::from(json!({ "query": query, "variables": variables }).to_string()))
        .unwrap();
    let (_, _, body) = t.send(req).await;
    serde_json::from_slice(&body).unwrap()
}

/// The answer's bytes.
async fn answer_text(t: &TestApp, query: &str) -> String {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/graphql")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", t.token(NORTHWIND_ADMIN)))
        .body(Body::from(json!({ "query": query }).to_string()))
        .unwrap();
    let (status, _, body) = t.send(req).await;
    assert_eq!(status, 200);
    String::from_utf8(body.to_vec()).unwrap()
}

/// Every object's keys, in order, with their paths.
fn key_orders(v: &async_graphql::Value, path: String, out: &mut Vec<(String, Vec<String>)>) {
    match v {
        async_graphql::Value::Object(map) => {
            out.push((path.clone(), map.keys().map(|k| k.to_string()).collect()));
            for (k, child) in map {
                key_orders(child, format!("{path}.{k}"), out);
            }
        }
        async_graphql::Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                key_orders(item, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

async fn responses_keep_selection_order(t: TestApp) {
    // Loader-backed fields (customer, createdBy, author, subscription) among plain ones, an
    // alias, a fragment spread, inline fragments with and without a type condition, a
    // skipped field, and the same key selected twice.
    let query = "query($skip: Boolean!) {
      serviceRequests(first: 20) {
        edges { node {
          customer { companyName id }
          title
          ...Sla
          first: createdBy { email }
          id
          ... @include(if: true) { status customer { domains } }
          severity @skip(if: $skip)
          subscription { offerName customer { companyName } id }
          notes(first: 3) { nodes { author { email } body id } totalCount }
          ... on ServiceRequest { version }
        } cursor }
        totalCount
      }
      viewer { partner { name } agent { email } }
    }
    fragment Sla on ServiceRequest { sla { state dueAt } createdAt }";
    let expected: &[(&str, &[&str])] = &[
        ("", &["data"]),
        (".data", &["serviceRequests", "viewer"]),
        (".data.serviceRequests", &["edges", "totalCount"]),
        (".data.serviceRequests.edges[0]", &["node", "cursor"]),
        (
            ".data.serviceRequests.edges[0].node",
            &["customer", "title", "sla", "createdAt", "first", "id", "status", "subscription", "notes", "version"],
        ),
        (".data.serviceRequests.edges[0].node.customer", &["companyName", "id", "domains"]),
        (".data.serviceRequests.edges[0].node.sla", &["state", "dueAt"]),
        (".data.viewer", &["partner", "agent"]),
    ];
    for round in 0..3 {
        let response = ordered(&t, query, json!({ "skip": true })).await;
        let mut orders = Vec::new();
        key_orders(&response, String::new(), &mut orders);
        for (path, keys) in expected {
            let found = orders.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("no object at {path}"));
            assert_eq!(found.1, *keys, "round {round}, at {path}");
        }
        // Every edge's node, and every nested object of a kind, has the same order.
        for (path, keys) in &orders {
            if path.ends_with(".node") && path.contains("edges[") {
                assert_eq!(keys, &expected[4].1.iter().map(|k| k.to_string()).collect::<Vec<_>>(), "{path}");
            }
            if path.ends_with(".subscription") {
                assert_eq!(keys, &["offerName", "customer", "id"], "{path}");
            }
            if path.contains(".notes.nodes[") && path.ends_with(']') {
                assert_eq!(keys, &["author", "body", "id"], "{path}");
            }
        }
    }
    // With `@skip(if: false)` the field is in its place; at an abstract position the
    // `__typename` picks the fragments that apply.
    let response = ordered(&t, query, json!({ "skip": false })).await;
    let mut orders = Vec::new();
    key_orders(&response, String::new(), &mut orders);
    let node = &orders.iter().find(|(p, _)| p == ".data.serviceRequests.edges[0].node").unwrap().1;
    assert_eq!(node[6..9], ["status", "severity", "subscription"]);
    let d = t.data(NORTHWIND_ADMIN, "{ customers(first: 1) { nodes { id } } }", json!({})).await;
    let response = ordered(
        &t,
        "query($id: ID!) { node(id: $id) { ... on Agent { id email } __typename ... on Customer { companyName subscriptions(first: 1) { nodes { id } } } ... on Node { id } } }",
        json!({ "id": d["customers"]["nodes"][0]["id"] }),
    )
    .await;
    let mut orders = Vec::new();
    key_orders(&response, String::new(), &mut orders);
    let node = &orders.iter().find(|(p, _)| p == ".data.node").unwrap().1;
    assert_eq!(node, &["__typename", "companyName", "subscriptions", "id"]);
    // Without `__typename`, the type its global id names decides.
    let response = ordered(
        &t,
        "query($id: ID!) { node(id: $id) { ... on Agent { id email } ... on Customer { companyName id } } }",
        json!({ "id": d["customers"]["nodes"][0]["id"] }),
    )
    .await;
    let mut orders = Vec::new();
    key_orders(&response, String::new(), &mut orders);
    assert_eq!(orders.iter().find(|(p, _)| p == ".data.node").unwrap().1, ["companyName", "id"]);
    // A variable's declared default decides `@include` when the request does not send it.
    let response = ordered(
        &t,
        "query($count: Boolean = true) { customers(first: 1) { totalCount @include(if: $count) nodes { id } } }",
        json!({}),
    )
    .await;
    let mut orders = Vec::new();
    key_orders(&response, String::new(), &mut orders);
    assert_eq!(orders.iter().find(|(p, _)| p == ".data.customers").unwrap().1, ["totalCount", "nodes"]);
}

/// Objects whose fields are all scalars are written as JSON text as they resolve, when the
/// document selects each key once per selection set; a document that selects a key twice has
/// its values merged in maps. Both give the same bytes.
async fn objects_answered_as_text_read_as_objects_answered_as_maps(t: TestApp) {
    let page = "serviceRequests(first: 20) { edges { cursor node { title id status severity createdAt version } } }
      customers(first: 5) { nodes { companyName id subscriptions(first: 3) { edges { node { offerName id quantity isTrial } } } } }";
    // The same answer; the second document repeats a key, so none of its objects is text.
    let once = answer_text(&t, &format!("{{ {page} }}")).await;
    let merged = answer_text(&t, &format!("{{ {page} customers(first: 5) {{ nodes {{ id }} }} }}")).await;
    assert!(once.contains("\"severity\":\"") && !once.contains("errors"), "{once}");
    assert_eq!(once, merged);
    // A key selected twice whose objects are all scalars: its fields merge.
    let twice = answer_text(
        &t,
        "{ a: customers(first: 5) { nodes { id } } a: customers(first: 5) { nodes { companyName country } } }",
    )
    .await;
    let together = answer_text(&t, "{ a: customers(first: 5) { nodes { id companyName country } } }").await;
    assert_eq!(twice, together);
    let nodes: Value = serde_json::from_str(&together).unwrap();
    assert_eq!(nodes["data"]["a"]["nodes"].as_array().map(Vec::len), Some(5));
    // Through a fragment, in its place.
    let spread = answer_text(
        &t,
        "{ a: customers(first: 5) { nodes { id ...F } } } fragment F on Customer { companyName country }",
    )
    .await;
    assert_eq!(spread, together);
}

/// The elements of the schema without a description: types, fields, arguments, input fields
/// and enum values (the built-in scalars and introspection types aside).
async fn undescribed() -> Vec<String> {
    let query = "{ __schema { types { name kind description
        fields(includeDeprecated: true) { name description args { name description } }
        inputFields { name description }
        enumValues(includeDeprecated: true) { name description } } } }";
    let response = support_gateway::graphql::schema().execute(query).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    let data = response.data.into_json().unwrap();
    let missing = |d: &Value| d.as_str().is_none_or(|s| s.trim().is_empty());
    let mut out = Vec::new();
    for ty in data["__schema"]["types"].as_array().unwrap() {
        let name = ty["name"].as_str().unwrap();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if missing(&ty["description"]) {
            out.push(name.to_owned());
        }
        for f in ty["fields"].as_array().into_iter().flatten() {
            if missing(&f["description"]) {
                out.push(format!("{name}.{}", f["name"].as_str().unwrap()));
            }
            for a in f["args"].as_array().into_iter().flatten() {
                if missing(&a["description"]) {
                    out.push(format!("{name}.{}({}:)", f["name"].as_str().unwrap(), a["name"].as_str().unwrap()));
                }
            }
        }
        for f in ty["inputFields"].as_array().into_iter().flatten() {
            if missing(&f["description"]) {
                out.push(format!("{name}.{}", f["name"].as_str().unwrap()));
            }
        }
        for v in ty["enumValues"].as_array().into_iter().flatten() {
            if missing(&v["description"]) {
                out.push(format!("{name}.{}", v["name"].as_str().unwrap()));
            }
        }
    }
    out
}

/// Every element of the schema says what it is to a frontend developer.
#[tokio::test]
async fn every_schema_element_is_described() {
    let missing = undescribed().await;
    assert!(missing.is_empty(), "{} elements have no description:\n{}", missing.len(), missing.join("\n"));
}
