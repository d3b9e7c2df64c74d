//! The query API through the real router, on SQLite and PostgreSQL: reading the graph,
//! batched loading, tenant isolation, paging, errors.

mod common;

use common::*;
use serde_json::{Value, json};

on_both_backends!(
    viewer_names_agent_and_partner,
    four_level_query_statement_count_does_not_grow_with_page_sizes,
    tenant_isolation_across_every_path,
    provider_sees_reseller_customers_read_only,
    customer_search_is_case_insensitive_by_name_and_domain,
    customer_search_pages_match_every_listed_customer_and_follow_writes,
    customer_filters,
    relay_paging_forward_and_backward,
    nested_pages_cut_in_the_database_match_the_counted_lists,
    nested_lists_of_few_fields_read_the_same_values_as_whole_requests,
    nested_subscriptions_of_few_fields_read_the_same_values_as_whole_ones,
    customer_pages_of_few_fields_read_the_same_values_as_whole_ones,
    page_size_is_bounded,
    service_request_filters_and_ordering,
    sla_state_filter_matches_served_state,
    node_and_nodes_resolve_every_type,
    malformed_ids_are_bad_user_input,
    marketplace_products_carry_isv_contacts,
    support_topics_and_calendars,
    request_details_navigate_both_ways,
);

async fn viewer_names_agent_and_partner(t: TestApp) {
    let d = t.data(NORTHWIND_HELPDESK, "{ viewer { agent { email role } partner { name kind cloud supportAgreements { advancedSupportForPartners } ownSubscriptions { nodes { owner productFamily } } } } }", json!({})).await;
    assert_eq!(d["viewer"]["agent"]["email"], NORTHWIND_HELPDESK);
    assert_eq!(d["viewer"]["agent"]["role"], "HELPDESK_AGENT");
    assert_eq!(d["viewer"]["partner"]["name"], "Northwind Cloud Services");
    assert_eq!(d["viewer"]["partner"]["kind"], "DIRECT");
    assert_eq!(d["viewer"]["partner"]["supportAgreements"]["advancedSupportForPartners"], true);
    let own = d["viewer"]["partner"]["ownSubscriptions"]["nodes"].as_array().unwrap();
    assert_eq!(own.len(), 2);
    assert!(own.iter().all(|s| s["owner"] == "PARTNER"));
}

const FOUR_LEVELS: &str = "query($n: Int!) {
  customers(first: $n) { edges { node { companyName
    subscriptions(first: $n) { edges { node { offerName
      serviceRequests(first: $n) { edges { node { title
        notes(first: $n) { totalCount edges { node { body } } } } } } } } } } } } }";

fn count_nodes(v: &Value, key: &str) -> usize {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| usize::from(k == key) + count_nodes(v, key)).sum(),
        Value::Array(a) => a.iter().map(|v| count_nodes(v, key)).sum(),
        _ => 0,
    }
}

async fn four_level_query_statement_count_does_not_grow_with_page_sizes(t: TestApp) {
    // Warm the caller cache: what is counted below is the query's own statements.
    t.data(NORTHWIND_ADMIN, "{ viewer { agent { email } } }", json!({})).await;
    let mut counts = Vec::new();
    // 14 per level is the largest page that stays under the default cost limit of 50,000
    // nodes (14 + 14² + 14³ + 14⁴ = 41,370).
    for n in [2, 14] {
        let before = t.statements();
        let d = t.data(NORTHWIND_ADMIN, FOUR_LEVELS, json!({ "n": n })).await;
        counts.push(t.statements() - before);
        if n == 14 {
            // The big query really fans out, so a constant count means batching, not emptiness.
            assert!(count_nodes(&d, "offerName") > 30, "{d}");
            assert!(count_nodes(&d, "body") > 50, "{d}");
        }
    }
    // 1 page of customers (no count: `totalCount` is not selected at the root) + 1 per nested
    // level; the caller comes from the cache.
    assert_eq!(counts[0], counts[1], "statements for first:2 vs first:14: {counts:?}");
    assert_eq!(counts[1], 4, "statements: {counts:?}");
}

/// Global ids of Northwind's objects, and a fetch of all of them as Tailspin.
async fn tenant_isolation_across_every_path(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ customers(first: 1) { edges { node { id subscriptions(first: 1) { edges { node { id } } } } } }
               serviceRequests(first: 1) { edges { node { id customer { id } } } }
               viewer { agent { id } partner { id } } }",
            json!({}),
        )
        .await;
    let customer = d["customers"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let subscription =
        d["customers"]["edges"][0]["node"]["subscriptions"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let request = d["serviceRequests"]["edges"][0]["node"]["id"].as_str().unwrap().to_owned();
    let agent = d["viewer"]["agent"]["id"].as_str().unwrap().to_owned();
    let partner = d["viewer"]["partner"]["id"].as_str().unwrap().to_owned();
    let ids = [&customer, &subscription, &request, &agent, &partner];

    for outsider in [TAILSPIN_ADMIN, ADATUM_ADMIN, FABRIKAM_ADMIN, LITWARE_ADMIN] {
        for id in ids {
            let d = t.data(outsider, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": id })).await;
            assert_eq!(d["node"], Value::Null, "{outsider} reached {id}");
        }
        let d = t.data(outsider, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": ids })).await;
        assert!(d["nodes"].as_array().unwrap().iter().all(Value::is_null), "{outsider}: {d}");
        let d = t
            .data(
                outsider,
                "query($r: ID!, $c: ID!) { serviceRequests(filter: { ids: [$r] }) { totalCount }
                   byCustomer: serviceRequests(filter: { customer: [$c] }) { totalCount }
                   customers(search: \"alpine\") { totalCount } }",
                json!({ "r": request, "c": customer }),
            )
            .await;
        assert_eq!(d["serviceRequests"]["totalCount"], 0, "{outsider}");
        assert_eq!(d["byCustomer"]["totalCount"], 0, "{outsider}");
        assert_eq!(d["customers"]["totalCount"], 0, "{outsider}: Alpine Ski House is Northwind's");
    }
    // The owner does reach them all.
    let d = t.data(NORTHWIND_ADMIN, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", json!({ "ids": ids })).await;
    assert!(d["nodes"].as_array().unwrap().iter().all(|n| !n.is_null()), "{d}");
}

async fn provider_sees_reseller_customers_read_only(t: TestApp) {
    // Fabrikam (indirect provider) serves 3 customers itself and sees Litware's 8.
    let d = t
        .data(
            FABRIKAM_ADMIN,
            "{ customers(first: 100) { totalCount edges { node { readOnly relationship reseller { name } serviceRequests { totalCount } } } } }",
            json!({}),
        )
        .await;
    let edges = d["customers"]["edges"].as_array().unwrap();
    assert_eq!(d["customers"]["totalCount"], 11);
    let read_only: Vec<_> = edges.iter().filter(|e| e["node"]["readOnly"] == true).collect();
    assert_eq!(read_only.len(), 8);
    for e in &read_only {
        assert_eq!(e["node"]["relationship"], "INDIRECT_RESELLER");
        assert_eq!(e["node"]["reseller"]["name"], "Litware Solutions");
        // Service requests are visible only to the partner that filed them.
        assert_eq!(e["node"]["serviceRequests"]["totalCount"], 0);
    }
    // The reseller sees its own customers, none of the provider's.
    let d =
        t.data(LITWARE_ADMIN, "{ customers(first: 100) { totalCount edges { node { readOnly } } } }", json!({})).await;
    assert_eq!(d["customers"]["totalCount"], 8);
    assert!(d["customers"]["edges"].as_array().unwrap().iter().all(|e| e["node"]["readOnly"] == false));
}

async fn customer_search_is_case_insensitive_by_name_and_domain(t: TestApp) {
    let q = "query($s: String) { customers(search: $s, first: 100) { totalCount edges { node { companyName primaryDomain } } } }";
    for search in ["ALPINE", "ski hou", "alpineskihouse.onmicrosoft", "AlpineSki"] {
        let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": search })).await;
        assert_eq!(d["customers"]["totalCount"], 1, "search {search}: {d}");
        assert_eq!(d["customers"]["edges"][0]["node"]["companyName"], "Alpine Ski House");
    }
    // LIKE wildcards in the input are literal.
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": "%" })).await;
    assert_eq!(d["customers"]["totalCount"], 0);
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": "_" })).await;
    assert_eq!(d["customers"]["totalCount"], 0);
    // An empty search lists everything.
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": "" })).await;
    assert_eq!(d["customers"]["totalCount"], 16);
}

/// Every customer `who` may list, in order, with its name and domains.
async fn listed_customers(t: &TestApp, who: &str) -> Vec<(String, String, Vec<String>)> {
    let d = t.data(who, "{ customers(first: 100) { edges { node { id companyName domains } } } }", json!({})).await;
    let edges = d["customers"]["edges"].as_array().unwrap();
    assert!(edges.len() < 100, "the listing is whole");
    edges
        .iter()
        .map(|e| {
            let n = &e["node"];
            let domains = n["domains"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
            (n["id"].as_str().unwrap().to_owned(), n["companyName"].as_str().unwrap().to_owned(), domains)
        })
        .collect()
}

/// The ids `customers(search:)` should give, from the whole listing: the text anywhere in the
/// company name or at the start of a domain, ignoring case.
fn expected_matches(listed: &[(String, String, Vec<String>)], search: &str) -> Vec<String> {
    let s = search.trim().to_lowercase();
    listed
        .iter()
        .filter(|(_, name, domains)| {
            name.to_lowercase().contains(&s) || domains.iter().any(|d| d.to_lowercase().starts_with(&s))
        })
        .map(|(id, ..)| id.clone())
        .collect()
}

/// The ids a search gives, read page by page (`first: 2`, without `totalCount`), and once
/// whole with `totalCount`; both must agree.
async fn searched(t: &TestApp, who: &str, search: &str) -> Vec<String> {
    let q = "query($s: String, $after: String) { customers(search: $s, first: 2, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { id } } } }";
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = t.data(who, q, json!({ "s": search, "after": after })).await;
        let c = &d["customers"];
        ids.extend(c["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()));
        if c["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let whole = "query($s: String) { customers(search: $s, first: 100) { totalCount edges { node { id } } } }";
    let d = t.data(who, whole, json!({ "s": search })).await;
    let all: Vec<String> = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(all, ids, "search {search:?} as {who}: page by page and whole");
    assert_eq!(d["customers"]["totalCount"], ids.len(), "search {search:?} as {who}: counted");
    ids
}

async fn execute(t: &TestApp, sql: &str) {
    use diesel_async::SimpleAsyncConnection;
    match &t.app.db.pool {
        support_gateway::db::Pool::Postgres(p) => p.get().await.unwrap().batch_execute(sql).await,
        support_gateway::db::Pool::Sqlite(p) => p.get().await.unwrap().batch_execute(sql).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn check_searches(t: &TestApp) {
    const SEARCHES: [&str; 9] = ["o", "CO", "on", "ski", " house ", "contoso", ".onmicrosoft", "e s", "zzz"];
    for who in [NORTHWIND_ADMIN, FABRIKAM_ADMIN, LITWARE_ADMIN] {
        let listed = listed_customers(t, who).await;
        for search in SEARCHES {
            assert_eq!(searched(t, who, search).await, expected_matches(&listed, search), "{search:?} as {who}");
        }
    }
}

/// The search reads terms the database keeps beside the customers (every suffix of each name,
/// each domain; migration 000011). Whatever changes a name, a domain or who serves a customer,
/// the search must give what the listing says, in the listing's order, a page at a time.
async fn customer_search_pages_match_every_listed_customer_and_follow_writes(t: TestApp) {
    check_searches(&t).await;
    // The provider finds its reseller's customers; the reseller finds none of the provider's.
    let litware = listed_customers(&t, LITWARE_ADMIN).await;
    let fabrikam = listed_customers(&t, FABRIKAM_ADMIN).await;
    let (reseller_customer, name, _) = &litware[0];
    assert!(searched(&t, FABRIKAM_ADMIN, name).await.contains(reseller_customer));
    let own: Vec<_> = fabrikam.iter().filter(|c| !litware.iter().any(|l| l.0 == c.0)).collect();
    assert!(!own.is_empty());
    for (id, name, _) in own {
        assert!(!searched(&t, LITWARE_ADMIN, name).await.contains(id), "{name} is the provider's");
        assert!(!searched(&t, NORTHWIND_ADMIN, name).await.contains(id), "{name} is another partner's");
    }

    // Writes, straight to the tables: the terms follow whatever path made them.
    let northwind = listed_customers(&t, NORTHWIND_ADMIN).await;
    let raw = |gid: &str| support_gateway::graphql::ids::decode(gid).map(|(_, raw)| raw).unwrap();
    let (renamed, moved, plain) = (raw(&northwind[0].0), raw(&northwind[1].0), raw(&northwind[2].0));
    execute(
        &t,
        &format!(
            "UPDATE customers SET company_name = 'Zephyr Quill Holdings' WHERE id = '{renamed}';
             INSERT INTO customer_domains (domain, customer_id, is_primary) VALUES ('ZQ-extra.example', '{renamed}', FALSE);
             DELETE FROM customer_domains WHERE customer_id = '{plain}' AND NOT is_primary;
             INSERT INTO customer_domains (domain, customer_id, is_primary) VALUES ('quillmove.example', '{plain}', FALSE);
             UPDATE customer_domains SET customer_id = '{moved}' WHERE domain = 'quillmove.example';"
        ),
    )
    .await;
    let northwind_after = listed_customers(&t, NORTHWIND_ADMIN).await;
    for search in ["zephyr", "quill", "y q", "zq-extra", "quillmove", &northwind[0].1] {
        assert_eq!(
            searched(&t, NORTHWIND_ADMIN, search).await,
            expected_matches(&northwind_after, search),
            "{search:?} after the writes"
        );
    }
    assert!(searched(&t, NORTHWIND_ADMIN, "quillmove").await.contains(&northwind[1].0), "the domain moved");
    check_searches(&t).await;

    // The terms are exactly what the view derives from the tables, nothing stale left.
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let stale = "SELECT count(*) AS n FROM (
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms
        EXCEPT SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source) x";
    let missing = "SELECT count(*) AS n FROM (
        SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms_source
        EXCEPT SELECT customer_id, viewer_id, term, company_name FROM customer_search_terms) x";
    let db = &t.app.db;
    for sql in [stale, missing] {
        let n: Result<i64, support_gateway::error::AppError> = async {
            use diesel_async::RunQueryDsl;
            Ok(support_gateway::with_conn!(db, |conn| diesel::sql_query(sql).get_result::<Count>(conn).await?.n))
        }
        .await;
        assert_eq!(n.unwrap(), 0, "{sql}");
    }
}

async fn customer_filters(t: TestApp) {
    let q = "query($f: CustomerFilter) { customers(filter: $f, first: 100) { totalCount edges { node { cloud delegatedAdminPrivileges relationship country } } } }";
    let d = t.data(ADATUM_ADMIN, q, json!({ "f": { "cloud": "US_GOVERNMENT" } })).await;
    assert_eq!(d["customers"]["totalCount"], 6);
    let d = t.data(ADATUM_ADMIN, q, json!({ "f": { "cloud": "COMMERCIAL" } })).await;
    assert_eq!(d["customers"]["totalCount"], 0);
    for dap in [true, false] {
        let d = t.data(NORTHWIND_ADMIN, q, json!({ "f": { "delegatedAdminPrivileges": dap } })).await;
        let edges = d["customers"]["edges"].as_array().unwrap();
        assert!(!edges.is_empty(), "demo data has customers with and without DAP");
        assert!(edges.iter().all(|e| e["node"]["delegatedAdminPrivileges"] == dap));
    }
    let d =
        t.data(NORTHWIND_ADMIN, q, json!({ "f": { "relationship": ["ADVISOR", "RESELLER"], "country": "de" } })).await;
    let edges = d["customers"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    assert!(edges.iter().all(|e| e["node"]["country"] == "DE"));
}

/// Nested connections asked for a forward page without `totalCount` are cut per parent by
/// the database (a window function); with `totalCount` (or backwards) the whole list is read
/// and cut here. Both must give the same pages, `hasNextPage` included, for every parent of a
/// batch, and a provider sees its resellers' customers' subscriptions either way.
async fn nested_pages_cut_in_the_database_match_the_counted_lists(t: TestApp) {
    fn ids(conn: &Value) -> Vec<String> {
        let ids: Vec<String> =
            conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()).collect();
        if let Some(total) = conn["totalCount"].as_u64() {
            assert_eq!(ids.len() as u64, total, "a whole list fits its page");
        }
        ids
    }
    // Pages large enough to hold every list of the demo data (checked against `totalCount`).
    let full = "{ customers(first: 40) { edges { node { id
        subscriptions(first: 20) { totalCount edges { cursor node { id serviceRequests(first: 30) { totalCount edges { cursor node { id } } } } } }
        serviceRequests(first: 100) { totalCount edges { cursor node { id } } } } } } }";
    let page = "query($n: Int!, $after: String) { customers(first: 40) { edges { node { id
        subscriptions(first: $n, after: $after) { pageInfo { hasNextPage hasPreviousPage } edges { node { id
          serviceRequests(first: $n, after: $after) { pageInfo { hasNextPage } edges { node { id } } } } } }
        serviceRequests(first: $n, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } } } } }";
    for agent in [NORTHWIND_ADMIN, FABRIKAM_ADMIN] {
        let whole = t.data(agent, full, json!({})).await;
        let customers = whole["customers"]["edges"].as_array().unwrap();
        // A cursor is a position, the same under every parent: take them from the longest list.
        let longest = customers
            .iter()
            .map(|c| &c["node"]["serviceRequests"])
            .max_by_key(|c| c["edges"].as_array().unwrap().len())
            .unwrap();
        assert!(longest["totalCount"].as_i64().unwrap() >= 5, "{agent}: the data has a customer with several requests");
        let cursor = |i: usize| longest["edges"][i]["cursor"].as_str().unwrap().to_owned();
        let mut compared = 0;
        for (after, start) in [(None, 0), (Some(cursor(1)), 2), (Some(cursor(3)), 4)] {
            let n = 2;
            let paged = t.data(agent, page, json!({ "n": n, "after": after })).await;
            let paged = paged["customers"]["edges"].as_array().unwrap();
            assert_eq!(paged.len(), customers.len());
            let window = |all: Vec<String>| all.iter().skip(start).take(n).cloned().collect::<Vec<_>>();
            for (w, p) in customers.iter().zip(paged) {
                let (w, p) = (&w["node"], &p["node"]);
                assert_eq!(w["id"], p["id"]);
                for field in ["subscriptions", "serviceRequests"] {
                    let all = ids(&w[field]);
                    assert_eq!(ids(&p[field]), window(all.clone()), "{agent}: {field} of {} from {start}", w["id"]);
                    assert_eq!(
                        p[field]["pageInfo"]["hasNextPage"],
                        all.len() > start + n,
                        "{agent}: {field} of {}",
                        w["id"]
                    );
                    compared += all.len().min(n);
                }
                // The requests of each subscription on this page, against that subscription's whole list.
                for s in p["subscriptions"]["edges"].as_array().unwrap() {
                    let whole_sub = w["subscriptions"]["edges"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|e| e["node"]["id"] == s["node"]["id"])
                        .unwrap();
                    let all = ids(&whole_sub["node"]["serviceRequests"]);
                    assert_eq!(ids(&s["node"]["serviceRequests"]), window(all.clone()));
                    assert_eq!(s["node"]["serviceRequests"]["pageInfo"]["hasNextPage"], all.len() > start + n);
                }
            }
        }
        assert!(compared > 0, "{agent}: some nested page was not empty");
        if agent == FABRIKAM_ADMIN {
            // Litware's customers (Fabrikam is their provider) show their subscriptions.
            let subs: usize =
                customers.iter().map(|c| c["node"]["subscriptions"]["totalCount"].as_u64().unwrap() as usize).sum();
            assert!(subs > 0);
        }
    }
}

async fn relay_paging_forward_and_backward(t: TestApp) {
    let q = "query($first: Int, $after: String, $last: Int, $before: String) {
      customers(first: $first, after: $after, last: $last, before: $before) {
        totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node { companyName } } } }";
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let d = t.data(NORTHWIND_ADMIN, q, json!({ "first": 5, "after": after })).await;
        let c = &d["customers"];
        names.extend(
            c["edges"].as_array().unwrap().iter().map(|e| e["node"]["companyName"].as_str().unwrap().to_owned()),
        );
        if c["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(names.len(), 16);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by company name");
    // Backward from the end.
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "last": 3 })).await;
    let last3: Vec<_> = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["companyName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(last3, names[13..].to_vec());
    assert_eq!(d["customers"]["pageInfo"]["hasPreviousPage"], true);
    let before = d["customers"]["pageInfo"]["startCursor"].as_str().unwrap().to_owned();
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "last": 2, "before": before })).await;
    let prev: Vec<_> = d["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["companyName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(prev, names[11..13].to_vec());

    // Without `totalCount` no count runs, and `hasNextPage` is still exact.
    let q = "query($after: String) { customers(first: 5, after: $after) { pageInfo { hasNextPage endCursor } edges { node { companyName } } } }";
    let (mut after, mut seen) = (Value::Null, Vec::new());
    loop {
        let before = t.statements();
        let d = t.data(NORTHWIND_ADMIN, q, json!({ "after": after })).await;
        assert_eq!(t.statements() - before, 1, "the page alone: no count (and the caller is cached)");
        seen.extend(
            d["customers"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["companyName"].as_str().unwrap().to_owned()),
        );
        if d["customers"]["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = d["customers"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, names, "paging without a count visits every customer once");
}

async fn page_size_is_bounded(t: TestApp) {
    for q in [
        "{ customers(first: 101) { totalCount } }",
        "{ serviceRequests(last: 500) { totalCount } }",
        "{ customers(first: 1) { edges { node { subscriptions(first: 1000) { totalCount } } } } }",
    ] {
        let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), q, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{q}: {body}");
    }
    let (_, body) = t
        .gql_as(Some(NORTHWIND_ADMIN), "{ customers(first: 2, after: \"not-a-cursor\") { totalCount } }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
}

async fn service_request_filters_and_ordering(t: TestApp) {
    let q = "query($f: ServiceRequestFilter, $o: ServiceRequestOrder) {
      serviceRequests(filter: $f, orderBy: $o, first: 100) { totalCount edges { node { status severity incidentKind productFamily createdAt sla { dueAt } } } } }";
    let all = t.data(NORTHWIND_ADMIN, q, json!({})).await;
    let total = all["serviceRequests"]["totalCount"].as_i64().unwrap();
    assert_eq!(total, northwind_demo_requests(), "every demo request Northwind's agents could file");
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "f": { "status": ["NEW", "OPEN"], "severity": ["A"] } })).await;
    let edges = d["serviceRequests"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    assert!(
        edges
            .iter()
            .all(|e| ["NEW", "OPEN"].contains(&e["node"]["status"].as_str().unwrap()) && e["node"]["severity"] == "A")
    );
    let d = t
        .data(NORTHWIND_ADMIN, q, json!({ "f": { "incidentKind": ["BILLING_DISPUTE"], "productFamily": ["AZURE"] } }))
        .await;
    assert!(
        d["serviceRequests"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["node"]["incidentKind"] == "BILLING_DISPUTE" && e["node"]["productFamily"] == "AZURE")
    );
    // Created range.
    let since = (test_now() - chrono::Duration::hours(6)).to_rfc3339();
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "f": { "createdAfter": since } })).await;
    for e in d["serviceRequests"]["edges"].as_array().unwrap() {
        assert!(e["node"]["createdAt"].as_str().unwrap() >= since.as_str());
    }
    // Ordering by due time, ascending.
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "o": { "field": "DUE_AT", "direction": "ASC" } })).await;
    let due: Vec<_> = d["serviceRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["node"]["sla"]["dueAt"].as_str().unwrap()).unwrap())
        .collect();
    assert!(due.windows(2).all(|w| w[0] <= w[1]));
    // Default: newest first.
    let created: Vec<_> = all["serviceRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["node"]["createdAt"].as_str().unwrap()).unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]));
}

async fn sla_state_filter_matches_served_state(t: TestApp) {
    let q = "query($s: SlaState) { serviceRequests(filter: { slaState: $s }, first: 100) { totalCount edges { node { sla { state remainingSeconds } } } } }";
    let mut sum = 0;
    for state in ["ON_TRACK", "AT_RISK", "BREACHED", "MET", "STOPPED"] {
        let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": state })).await;
        let c = &d["serviceRequests"];
        sum += c["totalCount"].as_i64().unwrap();
        assert!(state == "STOPPED" || c["totalCount"].as_i64().unwrap() > 0, "demo data has {state} requests");
        for e in c["edges"].as_array().unwrap() {
            assert_eq!(e["node"]["sla"]["state"], state);
            let left = e["node"]["sla"]["remainingSeconds"].as_i64().unwrap();
            match state {
                "ON_TRACK" | "AT_RISK" => assert!(left > 0),
                "BREACHED" => assert!(left <= 0),
                _ => {}
            }
        }
    }
    assert_eq!(sum, northwind_demo_requests(), "every request is in exactly one state");
    // Moving the clock moves the states: a week later nothing is on track.
    t.clock.advance(chrono::Duration::days(7));
    let d = t.data(NORTHWIND_ADMIN, q, json!({ "s": "ON_TRACK" })).await;
    assert_eq!(d["serviceRequests"]["totalCount"], 0);
}

async fn node_and_nodes_resolve_every_type(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ viewer { agent { id } partner { id } }
               customers(first: 1) { edges { node { id businessCalendar { id } subscriptions(first: 1) { edges { node { id } } } } } }
               serviceRequests(first: 1, filter: { productFamily: [MICROSOFT_365] }) { edges { node { id supportTopic { id } } } }
               marketplaceProducts(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let ids = [
        (&d["viewer"]["agent"]["id"], "Agent"),
        (&d["viewer"]["partner"]["id"], "Partner"),
        (&d["customers"]["edges"][0]["node"]["id"], "Customer"),
        (&d["customers"]["edges"][0]["node"]["businessCalendar"]["id"], "BusinessCalendar"),
        (&d["customers"]["edges"][0]["node"]["subscriptions"]["edges"][0]["node"]["id"], "Subscription"),
        (&d["serviceRequests"]["edges"][0]["node"]["id"], "ServiceRequest"),
        (&d["serviceRequests"]["edges"][0]["node"]["supportTopic"]["id"], "SupportTopic"),
        (&d["marketplaceProducts"]["edges"][0]["node"]["id"], "MarketplaceProduct"),
    ];
    for (id, type_name) in ids {
        assert!(id.is_string(), "{type_name}: {d}");
        let n =
            t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { __typename id } }", json!({ "id": id })).await;
        assert_eq!(n["node"]["__typename"], type_name);
        assert_eq!(&n["node"]["id"], id);
    }
    let all: Vec<_> = ids.iter().map(|(id, _)| (*id).clone()).collect();
    let before = t.statements();
    let n =
        t.data(NORTHWIND_ADMIN, "query($ids: [ID!]!) { nodes(ids: $ids) { __typename } }", json!({ "ids": all })).await;
    let spent = t.statements() - before;
    let types: Vec<_> =
        n["nodes"].as_array().unwrap().iter().map(|v| v["__typename"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ids.iter().map(|(_, t)| t.to_string()).collect::<Vec<_>>());
    // One caller lookup, then at most one statement per kind (calendars take three).
    assert!(spent <= 1 + 10, "nodes() ran {spent} statements");
}

async fn malformed_ids_are_bad_user_input(t: TestApp) {
    for q in [
        "{ node(id: \"garbage\") { id } }",
        "{ nodes(ids: [\"Q3VzdG9tZXI6\"]) { id } }",
        "{ serviceRequests(filter: { customer: [\"garbage\"] }) { totalCount } }",
    ] {
        let (_, body) = t.gql_as(Some(NORTHWIND_ADMIN), q, json!({})).await;
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{q}: {body}");
    }
    // An id of the wrong type where a customer id is expected.
    let d = t.data(NORTHWIND_ADMIN, "{ serviceRequests(first: 1) { edges { node { id } } } }", json!({})).await;
    let request_id = d["serviceRequests"]["edges"][0]["node"]["id"].clone();
    let (_, body) = t
        .gql_as(
            Some(NORTHWIND_ADMIN),
            "query($c: ID!) { serviceRequests(filter: { customer: [$c] }) { totalCount } }",
            json!({ "c": request_id }),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{body}");
    // A well-formed id that names nothing is simply null.
    let ghost = base64_id("Customer:does-not-exist");
    let d = t.data(NORTHWIND_ADMIN, "query($id: ID!) { node(id: $id) { id } }", json!({ "id": ghost })).await;
    assert_eq!(d["node"], Value::Null);
}

fn base64_id(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

async fn marketplace_products_carry_isv_contacts(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ marketplaceProducts(first: 100) { totalCount edges { node { name publisher supportContacts { websiteUrl email phone } customers { nodes { companyName } } } } }
               search: marketplaceProducts(search: \"PROSEWARE\") { totalCount edges { node { supportContacts { websiteUrl email phone } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(d["marketplaceProducts"]["totalCount"], 8);
    let edges = d["marketplaceProducts"]["edges"].as_array().unwrap();
    let full = edges.iter().find(|e| e["node"]["name"] == "Relecloud Analytics Suite").unwrap();
    assert!(full["node"]["supportContacts"]["websiteUrl"].is_string());
    assert!(full["node"]["supportContacts"]["email"].is_string());
    assert!(full["node"]["supportContacts"]["phone"].is_string());
    assert_eq!(d["search"]["totalCount"], 1);
    assert_eq!(d["search"]["edges"][0]["node"]["supportContacts"]["websiteUrl"], Value::Null);
    assert_eq!(d["search"]["edges"][0]["node"]["supportContacts"]["email"], "siem-help@proseware.example");
    // A product's customers are only the caller's.
    let customers: Vec<String> = edges
        .iter()
        .flat_map(|e| {
            let customers = e["node"]["customers"]["nodes"].as_array().unwrap();
            customers.iter().map(|c| c["companyName"].as_str().unwrap().to_owned())
        })
        .collect();
    let mine = t.data(NORTHWIND_ADMIN, "{ customers(first: 100) { edges { node { companyName } } } }", json!({})).await;
    let mine: Vec<&str> = mine["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["companyName"].as_str().unwrap())
        .collect();
    assert!(!customers.is_empty());
    assert!(customers.iter().all(|c| mine.contains(&c.as_str())), "{customers:?}");
}

async fn support_topics_and_calendars(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ supportTopics(productFamily: MICROSOFT_365) { productFamily category name }
               businessCalendars { name timeZone businessDayMinutes weeklyHours { isoWeekday start end } holidays { date name } } }",
            json!({}),
        )
        .await;
    let topics = d["supportTopics"].as_array().unwrap();
    assert!(topics.len() >= 3);
    assert!(topics.iter().all(|t| t["productFamily"] == "MICROSOFT_365"));
    let cals = d["businessCalendars"].as_array().unwrap();
    assert_eq!(cals.len(), 10);
    let de = cals.iter().find(|c| c["timeZone"] == "Europe/Berlin").unwrap();
    assert_eq!(de["businessDayMinutes"], 480);
    assert_eq!(de["weeklyHours"].as_array().unwrap().len(), 10, "two intervals a weekday");
    assert!(de["holidays"].as_array().unwrap().iter().any(|h| h["date"] == "2026-12-25"));
}

async fn request_details_navigate_both_ways(t: TestApp) {
    let d = t
        .data(
            NORTHWIND_ADMIN,
            "{ serviceRequests(first: 50, filter: { status: [CLOSED], productFamily: [AZURE] }) { edges { node {
                 id title route { kind portalUrl } contact { email } supportPlan feeCoverage closedAt version
                 customer { id primaryDomain serviceRequests(first: 100) { edges { node { id } } } }
                 subscription { id productFamily serviceRequests(first: 100) { edges { node { id } } } customer { id } }
                 createdBy { email }
                 history { totalCount edges { node { kind fromValue toValue createdAt actor { email } } } }
                 notes { edges { node { authorKind body author { email } } } }
                 sla { clock targetMinutes dueAt atRiskAt firstResponseAt state } } } } }",
            json!({}),
        )
        .await;
    let edges = d["serviceRequests"]["edges"].as_array().unwrap();
    assert!(!edges.is_empty());
    for e in edges {
        let r = &e["node"];
        let Some(domain) = r["customer"]["primaryDomain"].as_str() else { continue };
        assert_eq!(r["route"]["kind"], "AZURE_PORTAL");
        assert_eq!(r["route"]["portalUrl"], format!("https://portal.azure.com/{domain}"));
        assert!(
            r["contact"]["email"].as_str().unwrap().ends_with("@northwind-cloud.example"),
            "R7: the partner's contact: {}",
            r["contact"]
        );
        assert_eq!(r["supportPlan"], "CLOUD_SOLUTION_PROVIDER");
        assert!(r["closedAt"].is_string());
        assert_eq!(r["subscription"]["customer"]["id"], r["customer"]["id"]);
        let id = &r["id"];
        assert!(r["customer"]["serviceRequests"]["edges"].as_array().unwrap().iter().any(|x| &x["node"]["id"] == id));
        assert!(
            r["subscription"]["serviceRequests"]["edges"].as_array().unwrap().iter().any(|x| &x["node"]["id"] == id)
        );
        let history = r["history"]["edges"].as_array().unwrap();
        assert_eq!(history[0]["node"]["kind"], "CREATED");
        assert_eq!(history.last().unwrap()["node"]["toValue"], "CLOSED");
        assert!(r["createdBy"]["email"].as_str().unwrap().ends_with("@northwind-cloud.example"));
    }
}

/// How many demo requests Northwind filed (those the filing rules let its agents file).
fn northwind_demo_requests() -> i64 {
    support_gateway::seed::demo(common::test_now())
        .requests
        .iter()
        .filter(|r| r.partner_id == "partner-northwind")
        .count() as i64
}

/// Checks that each item `items` picks out of each query's answer has the values its global id
/// reads with `by_id` (a `node(id: $id)` query of every field), for both partners' admins.
async fn items_read_as_whole(t: &TestApp, queries: &[String], by_id: &str, items: impl Fn(&Value) -> Vec<Value>) {
    for agent in [NORTHWIND_ADMIN, FABRIKAM_ADMIN] {
        for query in queries {
            let d = t.data(agent, query, json!({})).await;
            let items = items(&d);
            assert!(items.len() >= 8, "{agent}: the demo data has the items of `{query}`");
            for item in items {
                let read = t.data(agent, by_id, json!({ "id": item["id"] })).await;
                for (key, value) in item.as_object().unwrap() {
                    assert_eq!(Some(value), read["node"].get(key), "{agent}: `{key}` of {} in `{query}`", item["id"]);
                }
            }
        }
    }
}

/// As [`nested_lists_of_few_fields_read_the_same_values_as_whole_requests`], for the root
/// page of customers: cut by the customers' own index and by the search's terms, seen by a
/// direct partner and by an indirect provider (whose resellers' customers are read-only).
async fn customer_pages_of_few_fields_read_the_same_values_as_whole_ones(t: TestApp) {
    let summary = selecting(
        support_gateway::graphql::types::CUSTOMER_SUMMARY_FIELDS,
        &[
            ("reseller", "reseller { id name }"),
            ("subscriptions", "subscriptions(first: 2) { nodes { id offerName } }"),
            ("serviceRequests", "serviceRequests(first: 2) { nodes { id title } }"),
            ("marketplaceProducts", "marketplaceProducts(first: 2) { nodes { id name } }"),
        ],
    );
    let whole = format!(
        "{summary} tenantId timeZone delegatedAdminPrivileges azureAccessGranted businessCalendar {{ id }}
         source upstreamId syncedAt relationshipEndedAt"
    );
    let pages = |customers: &str| {
        format!(
            "{{ customers(first: 8) {{ nodes {{ {customers} }} }}
               searched: customers(first: 8, search: \"o\") {{ edges {{ node {{ {customers} }} }} }} }}"
        )
    };
    let queries = [
        pages(&summary),
        pages(&whole),
        format!("{} fragment C on Customer {{ {whole} }}", pages("...C")),
        pages(&format!("{summary} ... on Customer {{ tenantId }}")),
    ];
    let by_id = format!("query($id: ID!) {{ node(id: $id) {{ ... on Customer {{ {whole} }} }} }}");
    items_read_as_whole(&t, &queries, &by_id, |d| {
        let mut items = d["customers"]["nodes"].as_array().unwrap().clone();
        items.extend(d["searched"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        items
    })
    .await;
}

/// The fields of a type's summary, each with a selection where it is an object or a list.
fn selecting<'a>(summary: &[&'a str], selections: &[(&str, &'a str)]) -> String {
    let field = |field: &&'a str| selections.iter().find(|(name, _)| name == field).map_or(*field, |(_, s)| *s);
    summary.iter().map(field).collect::<Vec<_>>().join(" ")
}

/// A nested list of requests whose items select only fields of the summary reads only its
/// columns (`SUMMARY_FIELDS`); every such field must resolve as on the request read whole
/// (`node(id:)`), and a list selecting any other field must read every column.
async fn nested_lists_of_few_fields_read_the_same_values_as_whole_requests(t: TestApp) {
    let summary = selecting(
        support_gateway::graphql::types::SUMMARY_FIELDS,
        &[
            ("customer", "customer { id companyName }"),
            ("subscription", "subscription { id offerName }"),
            ("notes", "notes(first: 3) { totalCount nodes { id body } }"),
            ("history", "history(last: 2) { nodes { kind createdAt } }"),
        ],
    );
    // And fields read from other columns: directly, in a fragment, under `edges` or `nodes`.
    let whole = format!("{summary} description contact {{ email }} sla {{ state dueAt targetMinutes }} upstreamState");
    let nested = |requests: &str| {
        format!(
            "{{ customers(first: 8) {{ nodes {{ serviceRequests(first: 4) {{ edges {{ node {{ {requests} }} }} }}
               subscriptions(first: 3) {{ nodes {{ serviceRequests(first: 3) {{ nodes {{ {requests} }} }} }} }} }} }} }}"
        )
    };
    let queries = [
        nested(&summary),
        nested(&whole),
        format!("{} fragment R on ServiceRequest {{ {whole} }}", nested("...R")),
        nested(&format!("{summary} ... on ServiceRequest {{ description }}")),
    ];
    let by_id = format!("query($id: ID!) {{ node(id: $id) {{ ... on ServiceRequest {{ {whole} }} }} }}");
    items_read_as_whole(&t, &queries, &by_id, |d| {
        let mut items = Vec::new();
        for customer in d["customers"]["nodes"].as_array().unwrap() {
            items.extend(customer["serviceRequests"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
            for subscription in customer["subscriptions"]["nodes"].as_array().unwrap() {
                items.extend(subscription["serviceRequests"]["nodes"].as_array().unwrap().iter().cloned());
            }
        }
        items
    })
    .await;
}

/// As [`nested_lists_of_few_fields_read_the_same_values_as_whole_requests`], for the
/// subscriptions customers list.
async fn nested_subscriptions_of_few_fields_read_the_same_values_as_whole_ones(t: TestApp) {
    let summary = selecting(
        support_gateway::graphql::types::SUBSCRIPTION_SUMMARY_FIELDS,
        &[
            ("customer", "customer { id companyName }"),
            ("serviceRequests", "serviceRequests(first: 2) { nodes { id title status } }"),
        ],
    );
    let whole = format!("{summary} owner billingCycle azureSubscriptionId source upstreamId syncedAt");
    let nested = |subscriptions: &str| {
        format!(
            "{{ customers(first: 8) {{ nodes {{ subscriptions(first: 3) {{ nodes {{ {subscriptions} }} }} }}
               edges {{ node {{ subscriptions(first: 2) {{ edges {{ node {{ {subscriptions} }} }} }} }} }} }} }}"
        )
    };
    let queries = [
        nested(&summary),
        nested(&whole),
        format!("{} fragment S on Subscription {{ {whole} }}", nested("...S")),
        nested(&format!("{summary} ... on Subscription {{ owner }}")),
    ];
    let by_id = format!("query($id: ID!) {{ node(id: $id) {{ ... on Subscription {{ {whole} }} }} }}");
    items_read_as_whole(&t, &queries, &by_id, |d| {
        let mut items = Vec::new();
        for customer in d["customers"]["nodes"].as_array().unwrap() {
            items.extend(customer["subscriptions"]["nodes"].as_array().unwrap().iter().cloned());
        }
        for edge in d["customers"]["edges"].as_array().unwrap() {
            items.extend(edge["node"]["subscriptions"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()));
        }
        items
    })
    .await;
}
