//! Query limits: what a single GraphQL document may ask for, checked before it executes.
//!
//! Two passes, both before any resolver (and so any SQL statement) runs:
//! 1. [`check_text`] reads the raw document once: token count and bracket nesting. It runs
//!    before parsing, so a megabyte of `{{{{…` never reaches the recursive parser.
//! 2. [`analyze`] walks the parsed document (fragments expanded, with a work bound so that
//!    fragments referencing fragments cannot blow up the walk): depth, aliases, root fields,
//!    directives per field, and cost.
//!
//! Cost follows GitHub's node limit: every connection field costs the number of nodes it may
//! return (`first`/`last`, or the default page size) times the nodes of the connections
//! around it; `nodes(ids:)` costs one per id. A query that could return more nodes than the
//! limit is refused whole instead of being cut off halfway.
//!
//! [`crate::graphql::run::admit`] runs both on every transport (HTTP, both WebSocket
//! protocols), so no path skips them.

use std::time::Duration;

use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet, VariableDefinition,
};
use async_graphql::{Name, Positioned, ServerError, Value, Variables};

use crate::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Every limit, with its default and why. Configured by `SG_LIMIT_*` settings (see
/// `config.rs` and the README's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest field nesting. The deepest useful query (customers → subscriptions → requests →
    /// notes, each through `edges { node }`, plus a back-link) is 14 fields deep; 16 leaves room
    /// and stops `customer { requests { customer { requests … } } }` walks early.
    pub max_depth: usize,
    /// Most nodes a query may return (see the module docs). 50,000 admits a full page of 100
    /// customers with 100 children each and 4 grandchildren per child (100 + 10,000 + 40,000),
    /// and bounds one response to roughly 10 MB of JSON.
    pub max_cost: u64,
    /// Most aliased fields. Aliases let one document repeat a field; 30 covers a dashboard
    /// comparing several filters and refuses `a1: … a1000: …` amplification.
    pub max_aliases: usize,
    /// Most root fields in one operation (through fragments too): a screen needs a handful;
    /// 20 bounds the work fanned out by one request.
    pub max_root_fields: usize,
    /// Most directives on one field, fragment spread or inline fragment: the schema has
    /// `@include`/`@skip`, so 4 is generous and refuses directive overloading.
    pub max_directives_per_field: usize,
    /// Most lexical tokens in a document. The README's largest example is ~150 tokens and
    /// GraphiQL's introspection query ~300; 5,000 keeps parsing and validation cheap.
    pub max_tokens: usize,
    /// Largest HTTP request body: documents are a few KiB; 1 MiB leaves room for variables
    /// (e.g. 100 ids for `nodes`) and bounds memory per request.
    pub max_body_bytes: usize,
    /// Longest a query or mutation may run before the caller gets `TIMEOUT`: interactive
    /// reads take milliseconds; 10 s bounds a stuck database without cutting slow but real work.
    pub execution_timeout: Duration,
    /// Most requests in one batched POST; 0 turns batching off (the default: batches defeat
    /// per-request limits, caching and per-operation metrics).
    pub max_batch: usize,
    /// Most subscriptions running on one WebSocket: a client page follows a few streams;
    /// 100 bounds per-connection memory.
    pub ws_max_subscriptions: usize,
    /// Largest WebSocket message: a `subscribe` is a document plus variables, 64 KiB is
    /// plenty and bounds what one frame can make the server buffer.
    pub ws_max_message_bytes: usize,
    /// How long a new WebSocket may take to send `connection_init`: a client sends it at once;
    /// 10 s allows a slow network and bounds sockets that never speak.
    pub ws_init_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_cost: 50_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_directives_per_field: 4,
            max_tokens: 5_000,
            max_body_bytes: 1024 * 1024,
            execution_timeout: Duration::from_secs(10),
            max_batch: 0,
            ws_max_subscriptions: 100,
            ws_max_message_bytes: 64 * 1024,
            ws_init_timeout: Duration::from_secs(10),
        }
    }
}

/// Fragment expansion steps allowed for one document: far above what `max_tokens` can spell
/// without fragments, far below what a fragment bomb needs.
const MAX_WALK_STEPS: usize = 100_000;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `extensions.code`.
    pub code: &'static str,
    pub message: String,
    pub limit: u64,
}

impl Refusal {
    fn new(code: &'static str, limit: u64, message: String) -> Refusal {
        Refusal { code, message, limit }
    }

    pub fn into_server_error(self) -> ServerError {
        let mut error = ServerError::new(self.message, None);
        let mut ext = async_graphql::ErrorExtensionValues::default();
        ext.set("code", self.code);
        ext.set("limit", self.limit);
        error.extensions = Some(ext);
        error
    }
}

/// What [`analyze`] measured of an accepted document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Measure {
    pub depth: usize,
    pub cost: u64,
    pub aliases: usize,
    pub root_fields: usize,
}

/// Counts tokens and bracket nesting of a raw document without parsing it.
pub fn check_text(query: &str, limits: &Limits) -> Result<(), Refusal> {
    let too_many = || {
        Refusal::new(
            "TOO_MANY_TOKENS",
            limits.max_tokens as u64,
            format!("the document has more than {} tokens", limits.max_tokens),
        )
    };
    // Brackets of selections and of input values nest; a legal query at the depth limit
    // nests only a little more than its depth.
    let max_nesting = limits.max_depth + 16;
    let bytes = query.as_bytes();
    let (mut i, mut tokens, mut nesting) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            0xEF if bytes[i..].starts_with("\u{feff}".as_bytes()) => i += 3,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                if bytes[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                        i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                    }
                    i += 3;
                } else {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                nesting += 1;
                if nesting > max_nesting {
                    return Err(Refusal::new(
                        "QUERY_TOO_DEEP",
                        limits.max_depth as u64,
                        format!("the document nests deeper than the depth limit of {}", limits.max_depth),
                    ));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            _ if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                tokens += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'-' | b'.' | b'+'))
                {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
        if tokens > limits.max_tokens {
            return Err(too_many());
        }
    }
    Ok(())
}

/// Measures every operation of a parsed document against the limits.
pub fn analyze(doc: &ExecutableDocument, variables: &Variables, limits: &Limits) -> Result<Measure, Refusal> {
    let mut walk =
        Walk { doc, variables, definitions: &[], limits, steps: 0, measure: Measure::default(), path: Vec::new() };
    for (_, op) in doc.operations.iter() {
        // Variables (and their defaults) belong to the operation, fragments included.
        walk.definitions = &op.node.variable_definitions;
        walk.check_directives(op.node.directives.len())?;
        // Root fields count per operation; everything else over the whole document.
        let roots_before = std::mem::take(&mut walk.measure.root_fields);
        walk.selection_set(&op.node.selection_set.node, 0, 1, true)?;
        walk.measure.root_fields = walk.measure.root_fields.max(roots_before);
    }
    Ok(walk.measure)
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The variables the operation being walked declares, with their defaults.
    definitions: &'a [Positioned<VariableDefinition>],
    limits: &'a Limits,
    steps: usize,
    measure: Measure,
    /// Fragments being expanded (a cycle is left for validation to report).
    path: Vec<&'a Name>,
}

impl<'a> Walk<'a> {
    fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        depth: usize,
        multiplier: u64,
        root: bool,
    ) -> Result<(), Refusal> {
        for selection in &set.items {
            self.steps += 1;
            if self.steps > MAX_WALK_STEPS {
                return Err(Refusal::new(
                    "QUERY_TOO_COMPLEX",
                    self.limits.max_cost,
                    "the document expands to too many selections (fragments within fragments)".into(),
                ));
            }
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.check_directives(field.directives.len())?;
                    if field.alias.is_some() {
                        self.measure.aliases += 1;
                        if self.measure.aliases > self.limits.max_aliases {
                            return Err(Refusal::new(
                                "TOO_MANY_ALIASES",
                                self.limits.max_aliases as u64,
                                format!("the document uses more than {} aliases", self.limits.max_aliases),
                            ));
                        }
                    }
                    if root {
                        self.measure.root_fields += 1;
                        if self.measure.root_fields > self.limits.max_root_fields {
                            return Err(Refusal::new(
                                "TOO_MANY_ROOT_FIELDS",
                                self.limits.max_root_fields as u64,
                                format!("an operation may select at most {} root fields", self.limits.max_root_fields),
                            ));
                        }
                    }
                    let depth = depth + 1;
                    self.measure.depth = self.measure.depth.max(depth);
                    if depth > self.limits.max_depth {
                        return Err(Refusal::new(
                            "QUERY_TOO_DEEP",
                            self.limits.max_depth as u64,
                            format!("the query is deeper than {} levels", self.limits.max_depth),
                        ));
                    }
                    let nodes = self.nodes_of(field);
                    let multiplier = match nodes {
                        Some(n) => {
                            let added = multiplier.saturating_mul(n);
                            self.measure.cost = self.measure.cost.saturating_add(added);
                            if self.measure.cost > self.limits.max_cost {
                                return Err(Refusal::new(
                                    "QUERY_TOO_COMPLEX",
                                    self.limits.max_cost,
                                    format!(
                                        "the query may return more than {} nodes (each connection counts `first`/`last`, or {}, \
                                         times the connections around it); ask for smaller pages",
                                        self.limits.max_cost, DEFAULT_PAGE_SIZE
                                    ),
                                ));
                            }
                            added
                        }
                        None => multiplier,
                    };
                    self.selection_set(&field.selection_set.node, depth, multiplier, false)?;
                }
                Selection::FragmentSpread(spread) => {
                    self.check_directives(spread.node.directives.len())?;
                    let name = &spread.node.fragment_name.node;
                    if self.path.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.fragment(name) else { continue };
                    self.path.push(name);
                    self.selection_set(&fragment.node.selection_set.node, depth, multiplier, root)?;
                    self.path.pop();
                }
                Selection::InlineFragment(inline) => {
                    self.check_directives(inline.node.directives.len())?;
                    self.selection_set(&inline.node.selection_set.node, depth, multiplier, root)?;
                }
            }
        }
        Ok(())
    }

    fn fragment(&self, name: &Name) -> Option<&'a Positioned<FragmentDefinition>> {
        self.doc.fragments.get(name)
    }

    fn check_directives(&self, count: usize) -> Result<(), Refusal> {
        if count > self.limits.max_directives_per_field {
            return Err(Refusal::new(
                "TOO_MANY_DIRECTIVES",
                self.limits.max_directives_per_field as u64,
                format!("at most {} directives per field", self.limits.max_directives_per_field),
            ));
        }
        Ok(())
    }

    /// The nodes a field may return when it is a connection or `nodes(ids:)`; `None` otherwise.
    /// Arguments are read as they will execute: literals, variables, variable defaults.
    fn nodes_of(&self, field: &async_graphql::parser::types::Field) -> Option<u64> {
        if let Some(ids) = field.get_argument("ids") {
            match self.resolve(&ids.node) {
                Value::List(list) => return Some(list.len() as u64),
                // A single id is coerced to a list of one.
                Value::Null => {}
                _ => return Some(1),
            }
        }
        let size = ["first", "last"]
            .iter()
            .filter_map(|arg| field.get_argument(arg))
            .map(|v| match self.resolve(&v.node) {
                Value::Number(n) => n.as_u64().unwrap_or(0).min(MAX_PAGE_SIZE as u64),
                _ => DEFAULT_PAGE_SIZE as u64,
            })
            .max();
        if size.is_some() {
            return size;
        }
        let is_connection = field.selection_set.node.items.iter().any(|s| match &s.node {
            Selection::Field(f) => matches!(f.node.name.node.as_str(), "edges" | "nodes" | "pageInfo"),
            _ => false,
        });
        is_connection.then_some(DEFAULT_PAGE_SIZE as u64)
    }

    /// An argument's value as execution will see it: a literal, or each variable in it taken
    /// from the request, else from its declared default, else `null`.
    fn resolve(&self, value: &async_graphql_value::Value) -> Value {
        let lookup = |name: Name| -> Result<Value, ()> {
            if let Some(v) = self.variables.get(&name) {
                return Ok(v.clone());
            }
            let declared = self.definitions.iter().find(|d| d.node.name.node == name);
            Ok(declared.and_then(|d| d.node.default_value.as_ref()).map_or(Value::Null, |d| d.node.clone()))
        };
        value.clone().into_const_with(lookup).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(query: &str) -> Result<Measure, Refusal> {
        let limits = Limits::default();
        check_text(query, &limits)?;
        let doc = async_graphql::parser::parse_query(query).expect("parses");
        analyze(&doc, &Variables::default(), &limits)
    }

    #[test]
    fn cost_multiplies_nested_connections() {
        let m = measure(
            "{ customers(first: 10) { edges { node { subscriptions(first: 5) { edges { node { id } } } } } } }",
        )
        .unwrap();
        assert_eq!(m.cost, 10 + 50);
        let m = measure("{ customers { nodes { id } } }").unwrap();
        assert_eq!(m.cost, DEFAULT_PAGE_SIZE as u64);
        let m = measure("{ nodes(ids: [\"a\", \"b\", \"c\"]) { id } }").unwrap();
        assert_eq!(m.cost, 3);
    }

    #[test]
    fn variables_set_page_sizes() {
        let doc =
            async_graphql::parser::parse_query("query($n: Int) { customers(first: $n) { edges { node { id } } } }")
                .unwrap();
        let vars = Variables::from_json(serde_json::json!({ "n": 7 }));
        assert_eq!(analyze(&doc, &vars, &Limits::default()).unwrap().cost, 7);
    }

    #[test]
    fn variable_defaults_and_variables_inside_lists_count_as_they_execute() {
        let cost = |query: &str, vars: serde_json::Value| {
            let doc = async_graphql::parser::parse_query(query).unwrap();
            analyze(&doc, &Variables::from_json(vars), &Limits::default())
        };
        let nested = "query($n: Int = 100) { customers(first: $n) { edges { node { subscriptions(first: $n) { edges { node { \
                      serviceRequests(first: $n) { nodes { id } } } } } } } } }";
        assert_eq!(cost(nested, serde_json::json!({})).unwrap_err().code, "QUERY_TOO_COMPLEX");
        assert_eq!(cost(nested, serde_json::json!({ "n": 5 })).unwrap().cost, 5 + 25 + 125);
        // An explicit null runs with the default page size.
        let m =
            cost("query($n: Int = 100) { customers(first: $n) { nodes { id } } }", serde_json::json!({ "n": null }));
        assert_eq!(m.unwrap().cost, DEFAULT_PAGE_SIZE as u64);
        let ids = cost(
            "query($a: ID!, $b: ID!) { nodes(ids: [$a, $b, \"c\"]) { id } }",
            serde_json::json!({ "a": "x", "b": "y" }),
        );
        assert_eq!(ids.unwrap().cost, 3);
        let listed = cost("query($ids: [ID!]! = [\"a\", \"b\"]) { nodes(ids: $ids) { id } }", serde_json::json!({}));
        assert_eq!(listed.unwrap().cost, 2);
        // `first` and `last` together: the larger counts.
        let both = cost("{ customers(first: 1, last: 100) { nodes { id } } }", serde_json::json!({}));
        assert_eq!(both.unwrap().cost, 100);
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        let m = measure(
            "query { customers(first: 10) { ...C } } fragment C on CustomerConnection { edges { node { subscriptions(first: 10) { edges { node { id } } } } } }",
        )
        .unwrap();
        assert_eq!(m.cost, 110);
        assert_eq!(m.depth, 7);
    }

    #[test]
    fn each_limit_refuses_with_its_code() {
        let deep = format!("{{ {} x {} }}", "a { ".repeat(20), "}".repeat(20));
        assert_eq!(measure(&deep).unwrap_err().code, "QUERY_TOO_DEEP");
        let nested = "{".repeat(100_000);
        assert_eq!(measure(&nested).unwrap_err().code, "QUERY_TOO_DEEP");
        let costly = "{ customers(first: 100) { edges { node { subscriptions(first: 100) { edges { node { serviceRequests(first: 100) { nodes { id } } } } } } } } }";
        assert_eq!(measure(costly).unwrap_err().code, "QUERY_TOO_COMPLEX");
        let aliases: String = (0..31).map(|i| format!("a{i}: email ")).collect();
        assert_eq!(measure(&format!("{{ viewer {{ {aliases} }} }}")).unwrap_err().code, "TOO_MANY_ALIASES");
        let roots: String = (0..21).map(|_| "viewer { email } ").collect();
        assert_eq!(measure(&format!("{{ {roots} }}")).unwrap_err().code, "TOO_MANY_ROOT_FIELDS");
        let directives = "@include(if: true) ".repeat(5);
        assert_eq!(measure(&format!("{{ viewer {directives} {{ email }} }}")).unwrap_err().code, "TOO_MANY_DIRECTIVES");
        let tokens = format!("{{ viewer {{ {} }} }}", "email ".repeat(6_000));
        assert_eq!(measure(&tokens).unwrap_err().code, "TOO_MANY_TOKENS");
    }

    #[test]
    fn fragment_bombs_stop_at_the_work_bound() {
        let mut doc = String::from("query { ...F9 } fragment F0 on Query { viewer { email } }");
        for i in 1..10 {
            let spreads = format!("...F{} ", i - 1).repeat(10);
            doc.push_str(&format!(" fragment F{i} on Query {{ {spreads} }}"));
        }
        let err = measure(&doc).unwrap_err();
        assert!(["QUERY_TOO_COMPLEX", "TOO_MANY_ROOT_FIELDS"].contains(&err.code), "{err:?}");
    }

    #[test]
    fn strings_and_comments_are_not_structure() {
        let q = format!("# {{{{{{{{\n{{ viewer {{ email }} search(text: \"{}\") }}", "{".repeat(200));
        check_text(&q, &Limits::default()).unwrap();
        let block = format!("{{ a(b: \"\"\"{}\"\"\") }}", "[".repeat(200));
        check_text(&block, &Limits::default()).unwrap();
    }

    #[test]
    fn the_introspection_query_of_graphiql_fits() {
        measure(INTROSPECTION).unwrap();
    }

    pub const INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name }
      types { ...FullType } directives { name description locations args { ...InputValue } } } }
    fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args { ...InputValue }
      type { ...TypeRef } isDeprecated deprecationReason } inputFields { ...InputValue } interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }";
}
