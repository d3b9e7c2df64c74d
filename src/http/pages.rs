//! The pages people open: GraphiQL at `/graphiql` and the live SLA board at `/board`.
//!
//! Every byte they load comes from this gateway: our own files under `web/` and the pinned
//! packages `web/vendor.sh` copies from the npm registry, embedded in the binary at build time
//! (read from disk in debug builds, so a page can be edited without rebuilding). Their
//! `Content-Security-Policy` allows nothing from anywhere else, so the pages work offline and
//! an injected script has nowhere to send what it reads.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use serde::Serialize;

use super::Shared;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "*.sh"]
struct Web;

/// Nothing from outside the gateway. Styles may be inline: GraphiQL and the explorer set them
/// on elements. Fonts and icons come as `data:` URLs inside GraphiQL's stylesheet.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data:; font-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Serves `web/<path>` with the page headers, or 404.
fn file(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Web::get(path) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    // Vendored files live under their version; ours change with the gateway, so they are
    // revalidated (cheaply, by ETag) on every load.
    let cache = if path.starts_with("vendor/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_str(file.metadata.mimetype()).unwrap_or(text_plain())),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::ETAG, HeaderValue::from_str(&etag).unwrap_or(text_plain())),
        ],
        file.data,
    )
        .into_response();
    secure(response.headers_mut());
    response
}

fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain")
}

fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn graphiql(headers: HeaderMap) -> Response {
    file("graphiql/index.html", &headers)
}

pub async fn graphiql_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file(&format!("graphiql/{path}"), &headers)
}

pub async fn board(headers: HeaderMap) -> Response {
    file("board/index.html", &headers)
}

pub async fn board_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file(&format!("board/{path}"), &headers)
}

pub async fn vendor_file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    file(&format!("vendor/{path}"), &headers)
}

/// One example operation of the README, as GraphiQL opens it in a tab.
#[derive(Debug, Serialize, PartialEq)]
pub struct Example {
    pub query: String,
    pub variables: Option<String>,
}

/// The README's example operations: each fenced `graphql` block, with the `json` block right
/// after it as its variables. Read from the README the binary was built with, so the
/// playground always opens on examples that work as written.
pub fn readme_examples(readme: &str) -> Vec<Example> {
    let mut examples = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```graphql\n") {
        let body = &rest[start + "```graphql\n".len()..];
        let Some(end) = body.find("```") else { break };
        let query = dedent(&body[..end]);
        rest = &body[end + 3..];
        let after = rest.trim_start_matches([' ', '\n']);
        let variables =
            after.strip_prefix("```json\n").and_then(|json| json.find("```").map(|end| dedent(&json[..end])));
        // Placeholders such as `<agent id>`, and variables the README does not give (an agent's
        // id to map), are for people to fill in, not examples to run.
        let needs_variables = async_graphql::parser::parse_query(&query)
            .map(|doc| doc.operations.iter().any(|(_, op)| !op.node.variable_definitions.is_empty()))
            .unwrap_or(true);
        let to_fill_in = query.contains('<') || (needs_variables && variables.is_none());
        if !to_fill_in {
            examples.push(Example { query, variables });
        }
    }
    examples
}

/// Removes the indentation every line shares (blocks inside list items are indented).
fn dedent(text: &str) -> String {
    let indent = text.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min();
    let indent = indent.unwrap_or(0);
    let lines: Vec<&str> = text.lines().map(|l| l.get(indent..).unwrap_or("")).collect();
    lines.join("\n").trim_end().to_owned() + "\n"
}

pub async fn graphiql_examples() -> Response {
    // Read from the README once per process.
    static EXAMPLES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let json = EXAMPLES.get_or_init(|| {
        serde_json::to_string(&readme_examples(include_str!("../../README.md"))).unwrap_or_else(|_| "[]".into())
    });
    let mut response = ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A demo agent the pages offer to sign in as.
#[derive(Serialize)]
struct DemoAgent {
    email: String,
    name: String,
    role: String,
    partner: String,
    token: String,
}

/// Development only: every agent with a fresh token signed by the development secret, for
/// the pages' "sign in as" pickers. Without that secret (any production set-up) it is 404.
pub async fn demo_agents(State(shared): State<Shared>) -> Response {
    let app = &shared.app;
    let development_secret = app.config.auth.secret.as_deref() == Some(crate::config::DEVELOPMENT_JWT_SECRET);
    if app.config.profile != crate::config::Profile::Development || !development_secret {
        return (StatusCode::NOT_FOUND, "demo sign-in is only offered by a development gateway").into_response();
    }
    let agents = match crate::repo::callers::all_agents(&app.db).await {
        Ok(agents) => agents,
        Err(e) => {
            tracing::warn!(error.detail = ?e, "listing the demo agents");
            return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
        }
    };
    let now = app.clock.now();
    let mut list = Vec::with_capacity(agents.len());
    for (agent, partner) in agents.into_iter().filter(|(a, _)| a.disabled_at.is_none()) {
        let token = match app.keys.issue(&agent.id, now, chrono::Duration::hours(8)) {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error.detail = ?e, "signing a demo token");
                return (StatusCode::INTERNAL_SERVER_ERROR, "could not sign a token").into_response();
            }
        };
        list.push(DemoAgent { email: agent.email, name: agent.display_name, role: agent.role, partner, token });
    }
    let mut response = axum::Json(list).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_examples_are_its_graphql_blocks_with_their_variables() {
        let readme = "x\n```graphql\nmutation { a(id: \"<agent id>\") }\n```\n```graphql\nmutation M($a: ID!) { m(id: $a) }\n```\n\n1. Q:\n   ```graphql\n   { customers { \
                      totalCount } }\n   ```\n```graphql\nmutation F($i: I!) { f(input: $i) }\n```\n```json\n{ \"i\": 1 }\n```\n";
        let examples = readme_examples(readme);
        assert_eq!(
            examples,
            vec![
                Example { query: "{ customers { totalCount } }\n".into(), variables: None },
                Example {
                    query: "mutation F($i: I!) { f(input: $i) }\n".into(),
                    variables: Some("{ \"i\": 1 }\n".into())
                },
            ]
        );
    }

    #[test]
    fn every_page_and_vendored_file_is_embedded() {
        for path in [
            "graphiql/index.html",
            "graphiql/graphiql.js",
            "board/index.html",
            "vendor/graphiql-4.1.2/graphiql.min.js",
            "vendor/react-18.3.1/react.production.min.js",
            "vendor/uplot-1.6.32/uPlot.esm.js",
        ] {
            assert!(Web::get(path).is_some(), "{path} is not embedded");
        }
        assert!(Web::get("vendor.sh").is_none());
    }
}
