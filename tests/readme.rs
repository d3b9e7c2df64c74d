//! The README as a newcomer reads it: its example queries, the walkthrough's three outcomes and
//! its subscriptions run as written on both backends; it links nothing outside the repository;
//! the rules document names every rule; `--help` states the limits' real defaults.

mod common;

use common::*;
use serde_json::{Value, json};

const README: &str = include_str!("../README.md");
const RULES: &str = include_str!("../docs/rules.md");

/// The bodies of the README's fenced blocks of `lang`, in order.
fn blocks(lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = README;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("```").expect("a closed block");
        // Blocks inside list items are indented; GraphQL and JSON do not mind.
        out.push(body[..end].to_owned());
        rest = &body[end..];
    }
    out
}

on_both_backends!(readme_examples_run_as_written, the_walkthrough_ends_as_the_readme_says);

/// Whitespace does not matter to GraphQL (nor to this comparison).
fn squeezed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README's operations are the files of `docs/operations/` (which client tools read), one
/// named operation each, and every one is valid against the schema.
#[tokio::test]
async fn readme_operations_are_the_operation_files_and_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "graphql"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    files.sort();
    let readme: Vec<String> = blocks("graphql").iter().map(|b| squeezed(b)).collect();
    assert_eq!(files.len(), readme.len(), "one file per README operation");
    let schema = support_gateway::graphql::schema();
    for (name, text) in &files {
        assert!(readme.contains(&squeezed(text)), "{name}.graphql is not in the README as written");
        let doc = async_graphql::parser::parse_query(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let async_graphql::parser::types::DocumentOperations::Multiple(ops) = &doc.operations else {
            panic!("{name}: the operation has no name");
        };
        assert_eq!(
            ops.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
            std::slice::from_ref(name),
            "{name}: one operation, named as its file"
        );
        // Valid: without a caller, execution starts and every field refuses it; an invalid
        // document fails before any field runs (errors without a path).
        use futures_util::StreamExt;
        let response = schema.execute_stream(async_graphql::Request::new(text.as_str())).next().await.unwrap();
        let before_execution: Vec<_> = response.errors.iter().filter(|e| e.path.is_empty()).collect();
        assert!(before_execution.is_empty(), "{name}: {before_execution:?}");
    }
}

async fn readme_examples_run_as_written(t: TestApp) {
    let graphql = blocks("graphql");
    let queries: Vec<&String> =
        graphql.iter().filter(|b| b.trim_start().starts_with('{') || b.trim_start().starts_with("query ")).collect();
    assert!(queries.len() >= 6, "the example queries: {graphql:?}");
    for q in queries {
        let d = t.data(NORTHWIND_ADMIN, q, json!({})).await;
        assert!(!d.is_null(), "{q}");
    }
    // Mutations without placeholders to fill in (the webhook example).
    let mutations: Vec<&String> = graphql
        .iter()
        .filter(|b| b.trim_start().starts_with("mutation ") && !b.contains('<') && !b.contains('$'))
        .collect();
    assert!(mutations.iter().any(|m| m.contains("createWebhookEndpoint")), "the webhook example");
    for m in mutations {
        let d = t.data(NORTHWIND_ADMIN, m, json!({})).await;
        assert!(!d.is_null(), "{m}");
    }
    // The curl example's query.
    let curl = README.split("\"query\":\"").nth(1).and_then(|s| s.split("\"}'").next()).expect("the curl example");
    let d = t.data(NORTHWIND_ADMIN, curl, json!({})).await;
    assert_eq!(d["viewer"]["partner"]["name"], "Northwind Cloud Services");

    // Subscriptions: valid against the schema (a refused one answers at once with errors).
    use futures_util::StreamExt;
    let subscriptions: Vec<&String> = graphql.iter().filter(|b| b.trim_start().starts_with("subscription")).collect();
    assert!(subscriptions.iter().any(|s| s.contains("slaCountdown")), "a complete slaCountdown example");
    let caller = support_gateway::http::caller_of_agent(&t.app, "agent-northwind-admin").await.unwrap();
    let schema = support_gateway::graphql::schema_for(&t.app);
    for s in subscriptions {
        let request = async_graphql::Request::new(s.as_str());
        let mut stream = support_gateway::graphql::run::stream(&t.app, &schema, request, caller.clone(), None);
        // A valid subscription waits for events (or ticks at once); an invalid one errs at once.
        if let Ok(Some(first)) = tokio::time::timeout(std::time::Duration::from_millis(300), stream.next()).await {
            assert!(first.errors.is_empty(), "{s}: {:?}", first.errors);
        }
    }
}

async fn the_walkthrough_ends_as_the_readme_says(t: TestApp) {
    let mutation = blocks("graphql").into_iter().find(|b| b.contains("mutation File")).expect("the walkthrough");
    let variables: Value = serde_json::from_str(
        &blocks("json").into_iter().find(|b| b.contains("\"input\"")).expect("the walkthrough's variables"),
    )
    .unwrap();
    let file = |agent: &'static str, v: Value| {
        let (t, m) = (&t, &mutation);
        async move { t.gql_as(Some(agent), m, v).await.1 }
    };
    // 1. Accepted, as described; again with the same key: replayed.
    let body = file(NORTHWIND_ADMIN, variables.clone()).await;
    let r = &body["data"]["createServiceRequest"];
    assert_eq!(r["replayed"], false, "{body}");
    let sr = &r["serviceRequest"];
    assert_eq!(
        (sr["severity"].as_str(), sr["supportPlan"].as_str(), sr["feeCoverage"].as_str()),
        (Some("A"), Some("CLOUD_SOLUTION_PROVIDER"), Some("CSP_BENEFIT")),
        "{body}"
    );
    assert_eq!(sr["route"]["kind"], "AZURE_PORTAL");
    assert_eq!(sr["route"]["portalUrl"], "https://portal.azure.com/contoso.onmicrosoft.com");
    assert_eq!(
        (sr["sla"]["clock"].as_str(), sr["sla"]["targetMinutes"].as_i64()),
        (Some("TWENTY_FOUR_SEVEN"), Some(120))
    );
    assert_eq!(file(NORTHWIND_ADMIN, variables.clone()).await["data"]["createServiceRequest"]["replayed"], true);
    // 2. R10, with the product and the new key the README gives.
    let product = README.split("\"marketplaceProductId\": \"").nth(1).and_then(|s| s.split('"').next()).unwrap();
    let mut step2 = variables.clone();
    step2["input"]["marketplaceProductId"] = json!(product);
    step2["input"]["idempotencyKey"] = json!("walkthrough-2");
    assert!(README.contains("\"idempotencyKey\": \"walkthrough-2\""));
    let e = &file(NORTHWIND_ADMIN, step2).await["errors"][0];
    assert_eq!(
        (e["extensions"]["code"].as_str(), e["extensions"]["rule"].as_str()),
        (Some("POLICY_REFUSED"), Some("R10")),
        "{e}"
    );
    assert_eq!(e["extensions"]["isvSupport"]["publisher"], "Trey Research ISV");
    // 3. R5, for the helpdesk agent with the third key.
    let mut step3 = variables.clone();
    step3["input"]["idempotencyKey"] = json!("walkthrough-3");
    assert!(README.contains("\"idempotencyKey\": \"walkthrough-3\""));
    let e = &file(NORTHWIND_HELPDESK, step3).await["errors"][0];
    assert_eq!(e["extensions"]["rule"], "R5", "{e}");
    assert!(e["extensions"]["help"].as_str().unwrap().contains("support group"), "{e}");
}

#[test]
fn the_readme_and_docs_link_nothing_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, text) in [("README.md", README), ("docs/rules.md", RULES)] {
        assert!(!text.contains("../shared") && !text.contains("DOMAIN.md"), "{name} points outside the repository");
        // Every relative Markdown link names a file of the repository.
        for link in text.split("](").skip(1).filter_map(|s| s.split(')').next()) {
            if link.starts_with("http") || link.starts_with('#') {
                continue;
            }
            let path = link.split('#').next().unwrap();
            let base = if name.starts_with("docs/") { root.join("docs") } else { root.to_path_buf() };
            assert!(base.join(path).exists(), "{name} links to {link}, which is not in the repository");
        }
    }
}

#[test]
fn the_rules_document_names_every_rule() {
    for id in (1..=15).map(|n| format!("R{n}")).chain((1..=5).map(|n| format!("S{n}"))) {
        assert!(RULES.contains(&format!("## {id} — ")), "docs/rules.md has no section for {id}");
    }
    assert!(RULES.contains("ACCESS"), "the access rule, as refusals name it");
    assert!(RULES.to_lowercase().contains("report a problem on behalf of a customer"), "the source article");
}

#[test]
fn help_states_the_limits_real_defaults() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_support-gateway")).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let l = support_gateway::graphql::limits::Limits::default();
    for (flag, default) in [
        ("--limit-depth", l.max_depth.to_string()),
        ("--limit-cost", l.max_cost.to_string()),
        ("--limit-aliases", l.max_aliases.to_string()),
        ("--limit-root-fields", l.max_root_fields.to_string()),
        ("--limit-directives", l.max_directives_per_field.to_string()),
        ("--limit-tokens", l.max_tokens.to_string()),
        ("--limit-body-bytes", l.max_body_bytes.to_string()),
        ("--limit-timeout-ms", l.execution_timeout.as_millis().to_string()),
        ("--limit-batch", l.max_batch.to_string()),
        ("--limit-ws-subscriptions", l.ws_max_subscriptions.to_string()),
        ("--limit-ws-message-bytes", l.ws_max_message_bytes.to_string()),
        ("--limit-ws-init-timeout-ms", l.ws_init_timeout.as_millis().to_string()),
    ] {
        let at = help.find(&format!("{flag} <")).unwrap_or_else(|| panic!("{flag} is not in --help"));
        let described = &help[at..];
        let next = described[2..].find("  --").map_or(described.len(), |i| i + 2);
        assert!(described[..next].contains(&format!("[default: {default}]")), "{flag}: {}", &described[..next]);
    }
}
