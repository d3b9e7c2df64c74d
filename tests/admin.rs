//! What a partner maintains itself: agents and roles, signing in through an identity provider,
//! its domains, its support agreements, its own products, the administrative history, and
//! `import` of Partner Center's exports and product lists. Through the real router and the
//! real import on both backends.

mod common;

use axum::http::StatusCode;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support_gateway::import::{ImportKind, import_file};

on_both_backends!(
    global_admins_manage_agents_and_every_change_is_in_history,
    identity_provider_tokens_map_to_agents_by_a_claim,
    domains_and_support_agreements,
    partners_keep_their_own_products,
    importing_customers_is_all_or_nothing_and_idempotent,
    importing_subscriptions_and_products,
);

const GLOBAL: &str = "global@northwind-cloud.example";

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default()
}

const CREATE_AGENT: &str = "mutation($input: CreateAgentInput!) {
    createAgent(input: $input) { agent { id email displayName role identity removedAt } } }";
const UPDATE_AGENT: &str = "mutation($id: ID!, $input: UpdateAgentInput!) {
    updateAgent(id: $id, input: $input) { agent { id role identity displayName } } }";
const REMOVE_AGENT: &str = "mutation($id: ID!) { removeAgent(id: $id) { agent { id removedAt } } }";
const HISTORY: &str = "query($subject: AdminSubject) { adminChanges(first: 50, subject: $subject) {
    totalCount edges { node { subject subjectId action agentId detail at } } } }";

async fn global_admins_manage_agents_and_every_change_is_in_history(t: TestApp) {
    let input = json!({ "input": {
        "email": "Dana@Northwind-Cloud.example", "displayName": "Dana", "role": "HELPDESK_AGENT" } });
    // Only global admins manage agents (as in Partner Center).
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), CREATE_AGENT, input.clone()).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["rule"], "ACCESS", "{body}");
    let created = t.data(GLOBAL, CREATE_AGENT, input.clone()).await["createAgent"]["agent"].clone();
    assert_eq!(created["email"], "dana@northwind-cloud.example");
    assert_eq!(created["role"], "HELPDESK_AGENT");
    // The same address twice, or one outside the partner's domains, is refused.
    let (_, body) = t.gql_as(Some(GLOBAL), CREATE_AGENT, input).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let outside = json!({ "input": { "email": "eve@contoso.com", "displayName": "Eve", "role": "ADMIN_AGENT" } });
    let (_, body) = t.gql_as(Some(GLOBAL), CREATE_AGENT, outside).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("northwind-cloud.example"), "{body}");
    // A new agent signs in and works under its role.
    let id = created["id"].as_str().unwrap().to_owned();
    let promoted = t
        .data(GLOBAL, UPDATE_AGENT, json!({ "id": id, "input": { "role": "ADMIN_AGENT", "displayName": "Dana A." } }))
        .await;
    assert_eq!(promoted["updateAgent"]["agent"]["role"], "ADMIN_AGENT");
    // Another partner's agent is not found, and the last global admin stays one.
    let (_, body) = t.gql_as(Some(FABRIKAM_ADMIN), REMOVE_AGENT, json!({ "id": id })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let global_id = gid("Agent", "agent-northwind-global");
    let (_, body) =
        t.gql_as(Some(GLOBAL), UPDATE_AGENT, json!({ "id": global_id, "input": { "role": "ADMIN_AGENT" } })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("global admin"), "{body}");
    let (_, body) = t.gql_as(Some(GLOBAL), REMOVE_AGENT, json!({ "id": global_id })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A removed agent can no longer sign in; its row stays.
    let removed = t.data(GLOBAL, REMOVE_AGENT, json!({ "id": id })).await;
    assert!(removed["removeAgent"]["agent"]["removedAt"].is_string());
    let raw =
        support_gateway::graphql::ids::decode_as(support_gateway::graphql::ids::NodeKind::Agent, &id.into()).unwrap();
    let token = t.app.keys.issue(&raw, chrono::Utc::now(), chrono::Duration::hours(1)).unwrap();
    let caller = support_gateway::http::caller_of_agent(&t.app, &raw).await;
    assert!(caller.is_err_and(|e| e.message().contains("removed")));
    assert!(!token.is_empty());
    // Every change is in the history, newest first, with who made it.
    let history = t.data(GLOBAL, HISTORY, json!({ "subject": "AGENT" })).await["adminChanges"].clone();
    let actions: Vec<&str> =
        history["edges"].as_array().unwrap().iter().map(|e| e["node"]["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["REMOVED", "UPDATED", "CREATED"]);
    assert_eq!(history["edges"][1]["node"]["detail"]["role"], "ADMIN_AGENT");
    assert_eq!(history["edges"][2]["node"]["agentId"], "agent-northwind-global");
    // Helpdesk agents do not read the history; other partners see none of it.
    let (_, body) = t.gql_as(Some(NORTHWIND_HELPDESK), HISTORY, json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let theirs = t.data(FABRIKAM_ADMIN, HISTORY, json!({})).await;
    assert_eq!(theirs["adminChanges"]["totalCount"], 0);
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)).expect("fixture")
}

async fn identity_provider_tokens_map_to_agents_by_a_claim(t: TestApp) {
    const ISS: &str = "https://login.example.test/";
    const AUD: &str = "api://support-gateway";
    let jwks = String::from_utf8(fixture("jwks.json")).unwrap();
    let idp = t
        .reconfigured(|c| {
            c.auth.jwks = Some(jwks);
            c.auth.issuer = ISS.into();
            c.auth.audience = AUD.into();
            c.auth.identity_claim = Some("oid".into());
        })
        .await;
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).unwrap();
    let oid = "5A1D3C2B-0000-4000-8000-00000000AB12";
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("test-rsa-1".into());
        jsonwebtoken::encode(&header, &claims, &rsa).unwrap()
    };
    let token =
        sign(json!({ "sub": "opaque-pairwise-sub", "oid": oid, "iss": ISS, "aud": AUD, "iat": now, "exp": now + 600 }));
    let viewer = |token: String| {
        let idp = &idp;
        async move {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/graphql")
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(json!({ "query": "{ viewer { agent { email } } }" }).to_string()))
                .unwrap();
            let (status, _, bytes) = idp.send(req).await;
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    // Unknown identities are refused, saying what to do.
    let (status, body) = viewer(token.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("oid") && message.contains("updateAgent"), "{message}");
    // A token without the claim is refused too.
    let (status, body) =
        viewer(sign(json!({ "sub": "x", "iss": ISS, "aud": AUD, "iat": now, "exp": now + 600 }))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("`oid`"), "{body}");
    // A global admin maps the identity (any case) to the helpdesk agent; the token signs in as it.
    let helpdesk = gid("Agent", "agent-northwind-helpdesk");
    let mapped = idp.data(GLOBAL, UPDATE_AGENT, json!({ "id": helpdesk, "input": { "identity": oid } })).await;
    assert_eq!(mapped["updateAgent"]["agent"]["identity"], oid.to_lowercase());
    let (status, body) = viewer(token.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["viewer"]["agent"]["email"], NORTHWIND_HELPDESK);
    // One identity, one agent.
    let sales = gid("Agent", "agent-northwind-sales");
    let (_, body) = idp.gql_as(Some(GLOBAL), UPDATE_AGENT, json!({ "id": sales, "input": { "identity": oid } })).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    // The gateway's own tokens still name the agent id.
    assert_eq!(
        idp.data(NORTHWIND_SALES, "{ viewer { agent { email } } }", json!({})).await["viewer"]["agent"]["email"],
        NORTHWIND_SALES
    );
    // Clearing the mapping (null) signs the identity out (after the caller cache's few seconds).
    let cleared = idp.data(GLOBAL, UPDATE_AGENT, json!({ "id": helpdesk, "input": { "identity": null } })).await;
    assert!(cleared["updateAgent"]["agent"]["identity"].is_null());
    let fresh = idp.reconfigured(|c| c.caller_cache_ttl = std::time::Duration::ZERO).await;
    let identity = support_gateway::auth::Identity::Mapped { claim: "oid".into(), value: oid.to_lowercase() };
    assert!(support_gateway::http::caller_of(&fresh.app, &identity).await.is_err());
}

const PARTNER: &str = "{ viewer { partner { domains supportAgreements { premier mpnContractId } } } }";

async fn domains_and_support_agreements(t: TestApp) {
    let add = "mutation($d: String!) { addPartnerDomain(domain: $d) { partner { domains } } }";
    let remove = "mutation($d: String!) { removePartnerDomain(domain: $d) { partner { domains } } }";
    let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), add, json!({ "d": "nw.example" })).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let added = t.data(GLOBAL, add, json!({ "d": "NW.example." })).await;
    assert_eq!(added["addPartnerDomain"]["partner"]["domains"], json!(["northwind-cloud.example", "nw.example"]));
    // Another partner's domain, or a bad one, is refused.
    let (_, body) = t.gql_as(Some(GLOBAL), add, json!({ "d": "fabrikam-distribution.example" })).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let (_, body) = t.gql_as(Some(GLOBAL), add, json!({ "d": "not a domain" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A domain agents have addresses at stays.
    let (_, body) = t.gql_as(Some(GLOBAL), remove, json!({ "d": "northwind-cloud.example" })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let removed = t.data(GLOBAL, remove, json!({ "d": "nw.example" })).await;
    assert_eq!(removed["removePartnerDomain"]["partner"]["domains"], json!(["northwind-cloud.example"]));
    // Agreements: fields left out stay; null clears the contract.
    let update = "mutation($i: SupportAgreementsInput!) { updateSupportAgreements(input: $i) {
        partner { supportAgreements { premier azureSupportPlan mpnContractId } } } }";
    let before = t.data(GLOBAL, PARTNER, json!({})).await["viewer"]["partner"]["supportAgreements"].clone();
    let after = t.data(GLOBAL, update, json!({ "i": { "premier": true, "mpnContractId": "MPN-4242" } })).await;
    let agreements = &after["updateSupportAgreements"]["partner"]["supportAgreements"];
    assert_eq!(agreements["premier"], true);
    assert_eq!(agreements["mpnContractId"], "MPN-4242");
    let (_, body) = t.gql_as(Some(GLOBAL), update, json!({ "i": { "mpnContractId": "no spaces please" } })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let cleared = t.data(GLOBAL, update, json!({ "i": { "mpnContractId": null, "premier": before["premier"] } })).await;
    assert!(cleared["updateSupportAgreements"]["partner"]["supportAgreements"]["mpnContractId"].is_null());
    let history = t.data(GLOBAL, HISTORY, json!({})).await["adminChanges"]["edges"].clone();
    let subjects: Vec<&str> =
        history.as_array().unwrap().iter().map(|e| e["node"]["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["SUPPORT_AGREEMENTS", "SUPPORT_AGREEMENTS", "PARTNER_DOMAIN", "PARTNER_DOMAIN"]);
}

const CREATE_PRODUCT: &str = "mutation($i: MarketplaceProductInput!) { createMarketplaceProduct(input: $i) {
    marketplaceProduct { id name publisher supportContacts { websiteUrl email phone } } } }";

async fn partners_keep_their_own_products(t: TestApp) {
    let input = json!({ "i": { "name": "Backup Vault Pro", "publisher": "Fabrikam Software",
        "summary": "Backups.", "supportEmail": "Help@Fabrikam-Software.example" } });
    let (_, body) = t.gql_as(Some(NORTHWIND_HELPDESK), CREATE_PRODUCT, input.clone()).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let created =
        t.data(NORTHWIND_ADMIN, CREATE_PRODUCT, input).await["createMarketplaceProduct"]["marketplaceProduct"].clone();
    assert_eq!(created["supportContacts"]["email"], "help@fabrikam-software.example");
    let id = created["id"].as_str().unwrap();
    // Without a support contact (R10 sends customers there) it is refused.
    let (_, body) =
        t.gql_as(Some(NORTHWIND_ADMIN), CREATE_PRODUCT, json!({ "i": { "name": "X", "publisher": "Y" } })).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // Northwind sees it; no other partner does, by any path.
    let search = "query($s: String) { marketplaceProducts(first: 5, search: $s) { totalCount } }";
    let node = "query($id: ID!) { node(id: $id) { id } }";
    assert_eq!(
        t.data(NORTHWIND_ADMIN, search, json!({ "s": "vault pro" })).await["marketplaceProducts"]["totalCount"],
        1
    );
    assert_eq!(
        t.data(FABRIKAM_ADMIN, search, json!({ "s": "vault pro" })).await["marketplaceProducts"]["totalCount"],
        0
    );
    assert!(t.data(FABRIKAM_ADMIN, node, json!({ "id": id })).await["node"].is_null());
    assert_eq!(t.data(NORTHWIND_ADMIN, node, json!({ "id": id })).await["node"]["id"], id);
    let update = "mutation($id: ID!, $i: MarketplaceProductInput!) { updateMarketplaceProduct(id: $id, input: $i) {
        marketplaceProduct { supportContacts { phone } } } }";
    let changed = json!({ "id": id, "i": { "name": "Backup Vault Pro", "publisher": "Fabrikam Software",
        "supportPhone": "+1 425 555 0199" } });
    let (_, body) = t.gql_as(Some(FABRIKAM_ADMIN), update, changed.clone()).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let after = t.data(NORTHWIND_ADMIN, update, changed).await;
    assert_eq!(after["updateMarketplaceProduct"]["marketplaceProduct"]["supportContacts"]["phone"], "+1 425 555 0199");
    // The public catalogue is read-only.
    let public = t
        .data(NORTHWIND_ADMIN, "{ marketplaceProducts(first: 50) { edges { node { id name publisher } } } }", json!({}))
        .await;
    let edges = public["marketplaceProducts"]["edges"].as_array().unwrap();
    let p = &edges.iter().find(|e| e["node"]["id"] != id).expect("a catalogue product")["node"];
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            update,
            json!({ "id": p["id"], "i": { "name": p["name"], "publisher": p["publisher"], "supportPhone": "1" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

/// A directory of its own, removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `text` to a file named `name` in a fresh directory.
fn file(name: &str, text: &str) -> (TempDir, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("sg-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (TempDir(dir), path)
}

async fn northwind_admin(t: &TestApp) -> support_gateway::db::models::AgentRow {
    support_gateway::repo::callers::agent_by_email_or_id(&t.app.db, NORTHWIND_ADMIN).await.unwrap().unwrap()
}

const CUSTOMERS: &str = "\u{feff}Microsoft ID,Company name,Primary domain name,Relationship,Country
0b6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b6c,Zeta Imports GmbH,blueyonder-import.example,Reseller,DE
1c7b4d2f-9a1f-4a72-8b4d-2e3f4a5b6c7d,Omega Vineyards,coho-import.example,Advisor,
";

async fn customer_count(t: &TestApp) -> i64 {
    t.data(NORTHWIND_ADMIN, "{ customers(first: 1) { totalCount } }", json!({})).await["customers"]["totalCount"]
        .as_i64()
        .unwrap()
}

async fn importing_customers_is_all_or_nothing_and_idempotent(t: TestApp) {
    let agent = northwind_admin(&t).await;
    let before = customer_count(&t).await;
    // One bad row among good ones: nothing is written, and each bad row is named by line.
    let bad = format!(
        "{CUSTOMERS}not-a-guid,Trey Research,trey-import.example,Reseller,US\n\
         2d8c5e3a-0b2a-4b83-9c5e-3f4a5b6c7d8e,Fourth Coffee,fourth-import.example,Friend,US\n\
         0b6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b6c,Zeta again,by2.example,Reseller,DE\n"
    );
    let (_dir, path) = file("customers.csv", &bad);
    let report = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!(report.kind, ImportKind::Customers);
    assert!(!report.applied());
    let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [4, 5, 6], "{:?}", report.rejected);
    assert!(report.rejected[0].reason.contains("GUID"));
    assert!(report.rejected[1].reason.contains("Relationship"));
    assert!(report.rejected[2].reason.contains("line 2"));
    assert_eq!(customer_count(&t).await, before);
    // The good file applies; again, it changes nothing.
    let (_dir, path) = file("customers.csv", CUSTOMERS);
    let first = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (2, 0, 0), "{first:?}");
    assert_eq!(customer_count(&t).await, before + 2);
    let again = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 2), "{again:?}");
    // The customers are Northwind's, marked as imported, on the calendar of their country.
    let q = "query($s: String) { customers(first: 5, search: $s) { edges { node { companyName source upstreamId
        country businessCalendar { id } } } } }";
    let found = t.data(NORTHWIND_ADMIN, q, json!({ "s": "Zeta Imports" })).await;
    let c = &found["customers"]["edges"][0]["node"];
    assert_eq!((c["source"].as_str(), c["country"].as_str()), (Some("IMPORT"), Some("DE")), "{c}");
    assert_eq!(c["upstreamId"], "0b6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b6c");
    assert_eq!(t.data(FABRIKAM_ADMIN, q, json!({ "s": "Zeta Imports" })).await["customers"]["edges"], json!([]));
    // A changed row updates its customer; a domain of another customer is refused.
    let (_dir, path) = file("customers.csv", &CUSTOMERS.replace("Omega Vineyards", "Omega Wines"));
    let changed = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!((changed.updated, changed.unchanged), (1, 1));
    let clash = "Microsoft ID,Company name,Primary domain name,Relationship\n\
                 3e9d6f4b-1c3b-4c94-8d6f-4a5b6c7d8e9f,Copycat,blueyonder-import.example,Reseller\n";
    let (_dir, path) = file("clash.csv", clash);
    let report = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].reason.contains("another customer"));
    // Another partner's customer is refused, not taken over.
    let theirs = t.data(FABRIKAM_ADMIN, "{ customers(first: 1) { edges { node { tenantId } } } }", json!({})).await;
    let tenant = theirs["customers"]["edges"][0]["node"]["tenantId"].as_str().unwrap().to_owned();
    let (_dir, path) = file(
        "theirs.csv",
        &format!(
            "Microsoft ID,Company name,Primary domain name,Relationship\n{tenant},Taken,taken-import.example,Reseller\n"
        ),
    );
    let report = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert!(report.rejected[0].reason.contains("another partner"), "{report:?}");
    // Each object created or changed is in the history, as imported from the file.
    let history = t.data(NORTHWIND_ADMIN, HISTORY, json!({ "subject": "CUSTOMER" })).await["adminChanges"].clone();
    assert_eq!(history["totalCount"], 3);
    assert_eq!(history["edges"][0]["node"]["action"], "IMPORTED");
    assert_eq!(history["edges"][0]["node"]["detail"]["file"], "customers.csv");
    // A file that is neither export is refused with what is expected.
    let (_dir, path) = file("other.csv", "a,b\n1,2\n");
    let err = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap_err();
    assert!(err.message().contains("Microsoft ID"), "{}", err.message());
}

async fn importing_subscriptions_and_products(t: TestApp) {
    let agent = northwind_admin(&t).await;
    let (_dir, path) = file("customers.csv", CUSTOMERS);
    import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    let subs = "Customer Microsoft ID,Subscription ID,Offer name,Status,Quantity,Billing cycle\n\
                0b6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b6c,aa6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b01,Microsoft 365 E3,Active,25,Monthly\n\
                0b6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b6c,aa6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b02,Azure plan,Active,1,None\n";
    let unknown = format!(
        "{subs}ffffffff-8f0e-4f61-9a3c-1d2e3f4a5b6c,aa6a3c1e-8f0e-4f61-9a3c-1d2e3f4a5b03,Dynamics 365 Sales,Active,3,Annual\n"
    );
    let (_dir, path) = file("subscriptions.csv", &unknown);
    let refused = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!(refused.kind, ImportKind::Subscriptions);
    assert_eq!(refused.rejected.len(), 1);
    assert_eq!(refused.rejected[0].line, 4);
    assert!(refused.rejected[0].reason.contains("import the customer export first"));
    let (_dir, path) = file("subscriptions.csv", subs);
    let report = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!((report.created, report.rejected.len()), (2, 0), "{report:?}");
    let again = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!(again.unchanged, 2);
    let q = "query($s: String) { customers(first: 1, search: $s) { edges { node { subscriptions(first: 5) {
        edges { node { offerName productFamily quantity source } } } } } } }";
    let found = t.data(NORTHWIND_ADMIN, q, json!({ "s": "Zeta Imports" })).await;
    let edges = &found["customers"]["edges"][0]["node"]["subscriptions"]["edges"];
    let mut families: Vec<&str> =
        edges.as_array().unwrap().iter().map(|e| e["node"]["productFamily"].as_str().unwrap()).collect();
    families.sort();
    assert_eq!(families, ["AZURE", "MICROSOFT_365"], "{edges}");
    assert!(edges.as_array().unwrap().iter().all(|e| e["node"]["source"] == "IMPORT"));
    // Products as JSON: the same list again changes nothing; a changed contact updates.
    let products = json!({ "products": [
        { "name": "Contoso Analytics", "publisher": "Contoso ISV", "summary": "Dashboards.",
          "supportContacts": { "websiteUrl": "https://support.contoso-isv.example", "email": "help@contoso-isv.example" } },
        { "name": "Tailwind Sync", "publisher": "Tailwind", "supportContacts": { "phone": "+1 206 555 0100" } }
    ] });
    let (_dir, path) = file("products.json", &products.to_string());
    let created = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    assert_eq!((created.kind, created.created), (ImportKind::Products, 2));
    assert_eq!(import_file(&t.app.db, &agent, &path, test_now()).await.unwrap().unchanged, 2);
    let search = "query($s: String) { marketplaceProducts(first: 5, search: $s) {
        edges { node { supportContacts { phone } } } } }";
    assert_eq!(
        t.data(NORTHWIND_ADMIN, search, json!({ "s": "tailwind sync" })).await["marketplaceProducts"]["edges"][0]["node"]
            ["supportContacts"]["phone"],
        "+1 206 555 0100"
    );
    assert_eq!(
        t.data(FABRIKAM_ADMIN, search, json!({ "s": "tailwind sync" })).await["marketplaceProducts"]["edges"],
        json!([])
    );
    let bad = json!([{ "name": "No Contact", "publisher": "Nobody" }, { "title": "wrong shape" }]);
    let (_dir, path) = file("bad.json", &bad.to_string());
    let refused = import_file(&t.app.db, &agent, &path, test_now()).await.unwrap();
    let lines: Vec<u64> = refused.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [1, 2]);
    assert!(refused.rejected[0].reason.contains("R10"));
    // Products as CSV.
    let csv = "Name,Publisher,Summary,Support website,Support email,Support phone\n\
               Litware Guard,Litware ISV,Security.,https://litware-isv.example/support,,\n";
    let (_dir, path) = file("products.csv", csv);
    assert_eq!(import_file(&t.app.db, &agent, &path, test_now()).await.unwrap().created, 1);
}
