//! Persisted documents: trusted documents (an allow-list by SHA-256, refusing any other
//! document) and automatic persisted queries (a bounded cache clients fill by hash).
//!
//! A request names a document by hash in `extensions.persistedQuery.sha256Hash` (Apollo's
//! protocol, also over WebSocket) or `documentId: "sha256:<hex>"` (the GraphQL-over-HTTP
//! persisted documents proposal). [`Documents::resolve`] turns such a request into one with
//! its text, or refuses it, in [`crate::graphql::run::admit`] on every transport (over HTTP
//! before the GET/mutation check needs the text).
//!
//! [`Documents::parse`] also keeps the parsed form of recently run documents: a client sends
//! the same few documents over and over, and parsing one (async-graphql's pest grammar) was
//! ~13 % of the gateway's CPU on the benchmark's `node(id:)` lookup. With it, whether the
//! document passed the schema's full validation once ([`Parsed::validated`]; see
//! [`crate::graphql::run::execute`]).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError, Value};
use sha2::{Digest, Sha256};

/// Bytes of document text the automatic persisted query cache keeps by default (least
/// recently used out): 2,000 documents of 4 KiB, a busy frontend's whole set several times over.
pub const APQ_CACHE_BYTES: usize = 8 * 1024 * 1024;

/// How many parsed documents are kept (least recently used out), and the longest text kept:
/// together they bound the cache to a few megabytes whatever clients send.
pub const PARSED_CACHE_ENTRIES: usize = 256;
pub const PARSED_CACHE_MAX_TEXT: usize = 4_096;

pub struct Documents {
    /// When set, only these documents run (hash → text).
    trusted: Option<HashMap<String, String>>,
    /// Automatic persisted queries; off when trusted documents are on (anyone could register).
    apq: Option<Mutex<ByteBoundedCache>>,
    /// Parsed documents by text.
    parsed: Mutex<lru::LruCache<String, Parsed>>,
}

/// A parsed document, shared by every request that sends its text.
#[derive(Clone)]
pub struct Parsed {
    pub doc: Arc<ExecutableDocument>,
    /// Set once the schema's full validation passed on it: what does not depend on the
    /// variables holds for every later request (`run::execute`).
    pub validated: Arc<AtomicBool>,
    /// Whether it selects each response key once per selection set, worked out the first time
    /// it runs ([`super::joined::selects_each_key_once`]).
    pub keys_once: Arc<std::sync::OnceLock<bool>>,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Documents")
            .field("trusted", &self.trusted.as_ref().map(HashMap::len))
            .field("apq", &self.apq.is_some())
            .finish()
    }
}

/// The lowercase hex SHA-256 of a document.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Documents by hash, least recently used out once their text exceeds a number of bytes.
/// Evicted text is freed at once (the allocator gives it back to the system on its next purge).
struct ByteBoundedCache {
    entries: lru::LruCache<String, String>,
    bytes: usize,
    max_bytes: usize,
}

impl ByteBoundedCache {
    fn new(max_bytes: usize) -> ByteBoundedCache {
        ByteBoundedCache { entries: lru::LruCache::unbounded(), bytes: 0, max_bytes }
    }

    fn cost(hash: &str, text: &str) -> usize {
        hash.len() + text.len()
    }

    fn get(&mut self, hash: &str) -> Option<&String> {
        self.entries.get(hash)
    }

    fn put(&mut self, hash: String, text: String) {
        let cost = Self::cost(&hash, &text);
        if cost > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.pop(&hash) {
            self.bytes -= Self::cost(&hash, &old);
        }
        while self.bytes + cost > self.max_bytes {
            let Some((h, t)) = self.entries.pop_lru() else { break };
            self.bytes -= Self::cost(&h, &t);
        }
        self.bytes += cost;
        self.entries.put(hash, text);
    }
}

fn parsed_cache() -> Mutex<lru::LruCache<String, Parsed>> {
    Mutex::new(lru::LruCache::new(NonZeroUsize::new(PARSED_CACHE_ENTRIES).expect("a non-zero size")))
}

fn refusal(code: &str, message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    error.extensions = Some(ext);
    error
}

impl Documents {
    /// No allow-list; automatic persisted queries on or off, keeping at most `apq_bytes` of text.
    pub fn new(apq: bool, apq_bytes: usize) -> Documents {
        let cache = apq.then(|| Mutex::new(ByteBoundedCache::new(apq_bytes)));
        Documents { trusted: None, apq: cache, parsed: parsed_cache() }
    }

    /// Only the documents of a manifest may run. The manifest is either a JSON object of
    /// `hash → document`, or Apollo's `{"operations": [{"id", "body"}]}`; every hash is
    /// checked against its document.
    pub fn trusted(manifest: &str) -> Result<Documents, String> {
        let json: serde_json::Value =
            serde_json::from_str(manifest).map_err(|e| format!("the trusted documents manifest is not JSON: {e}"))?;
        let pairs: Vec<(String, String)> = match &json {
            serde_json::Value::Object(map) if map.contains_key("operations") => map["operations"]
                .as_array()
                .ok_or("`operations` must be a list")?
                .iter()
                .map(|op| match (op.get("id").and_then(|v| v.as_str()), op.get("body").and_then(|v| v.as_str())) {
                    (Some(id), Some(body)) => Ok((id.to_owned(), body.to_owned())),
                    _ => Err("every operation needs `id` and `body`".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str().map(|s| (k.clone(), s.to_owned())).ok_or_else(|| format!("document {k} is not a string"))
                })
                .collect::<Result<_, _>>()?,
            _ => return Err("the trusted documents manifest must be a JSON object".into()),
        };
        let mut trusted = HashMap::with_capacity(pairs.len());
        for (hash, body) in pairs {
            let hash = hash.strip_prefix("sha256:").unwrap_or(&hash).to_ascii_lowercase();
            if sha256_hex(&body) != hash {
                return Err(format!("trusted document {hash} does not hash to its id"));
            }
            trusted.insert(hash, body);
        }
        Ok(Documents { trusted: Some(trusted), apq: None, parsed: parsed_cache() })
    }

    /// The request's parsed document, from the cache when its text was parsed before; it
    /// stays in the request, so the schema does not parse it again. Only an authenticated
    /// caller's documents (`keep`) are added to the cache.
    pub fn parse(&self, request: &mut Request, keep: bool) -> Result<Parsed, ServerError> {
        let short = request.query.len() <= PARSED_CACHE_MAX_TEXT;
        if short {
            let mut cache = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
            // An anonymous caller may be served from the cache (an introspection query a tool
            // with a token ran before) but changes nothing in it, not even the recency order.
            let cached = if keep { cache.get(&request.query) } else { cache.peek(&request.query) }.cloned();
            drop(cache);
            if let Some(parsed) = cached {
                // Cloned outside the lock: the schema takes the document by value.
                request.set_parsed_query(ExecutableDocument::clone(&parsed.doc));
                return Ok(parsed);
            }
        }
        let key = (short && keep).then(|| request.query.clone());
        let parsed = Parsed {
            doc: Arc::new(request.parsed_query()?.clone()),
            validated: Default::default(),
            keys_once: Default::default(),
        };
        if let Some(key) = key {
            self.parsed.lock().unwrap_or_else(|e| e.into_inner()).put(key, parsed.clone());
        }
        Ok(parsed)
    }

    /// Bytes of document text kept for callers: the persisted query cache's text and the
    /// parsed cache's keys (for tests and metrics).
    pub fn kept_bytes(&self) -> usize {
        let apq = self.apq.as_ref().map_or(0, |c| c.lock().unwrap_or_else(|e| e.into_inner()).bytes);
        let parsed: usize = self.parsed.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, _)| k.len()).sum();
        apq + parsed
    }

    pub fn trusted_only(&self) -> bool {
        self.trusted.is_some()
    }

    /// Fills in the text of a request that names its document by hash, registers automatic
    /// persisted queries (for an authenticated caller only: `keep`), and refuses documents
    /// that are not trusted (when that is on).
    pub fn resolve(&self, request: &mut Request, keep: bool) -> Result<(), ServerError> {
        let hash = match request.extensions.0.get("persistedQuery") {
            Some(Value::Object(pq)) => match pq.get("sha256Hash") {
                Some(Value::String(h)) => Some(h.trim_start_matches("sha256:").to_ascii_lowercase()),
                _ => return Err(refusal("BAD_REQUEST", "`extensions.persistedQuery` needs a `sha256Hash` string")),
            },
            Some(_) => return Err(refusal("BAD_REQUEST", "`extensions.persistedQuery` must be an object")),
            None => None,
        };
        let has_text = !request.query.trim().is_empty();
        if let Some(trusted) = &self.trusted {
            match (has_text, hash) {
                (false, Some(hash)) => match trusted.get(&hash) {
                    Some(text) => request.query = text.clone(),
                    None => return Err(refusal("PERSISTED_QUERY_NOT_FOUND", "no trusted document has this hash")),
                },
                (true, hash) => {
                    let actual = sha256_hex(&request.query);
                    if hash.is_some_and(|h| h != actual) {
                        return Err(refusal(
                            "PERSISTED_QUERY_HASH_MISMATCH",
                            "the document does not match its sha256Hash",
                        ));
                    }
                    if !trusted.contains_key(&actual) {
                        return Err(refusal(
                            "PERSISTED_QUERY_NOT_ALLOWED",
                            "only trusted documents may run on this gateway; send a known document id",
                        ));
                    }
                }
                (false, None) => {}
            }
            return Ok(());
        }
        let Some(hash) = hash else { return Ok(()) };
        let Some(cache) = &self.apq else {
            return if has_text {
                Ok(())
            } else {
                Err(refusal("PERSISTED_QUERY_NOT_SUPPORTED", "persisted queries are not enabled"))
            };
        };
        let mut cache = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if has_text {
            if sha256_hex(&request.query) != hash {
                return Err(refusal("PERSISTED_QUERY_HASH_MISMATCH", "the document does not match its sha256Hash"));
            }
            if keep {
                cache.put(hash, request.query.clone());
            }
        } else {
            match cache.get(&hash) {
                Some(text) => request.query = text.clone(),
                // The message is the one Apollo clients look for before retrying with the text.
                None => return Err(refusal("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut r = Request::new(query);
        let mut pq = async_graphql::indexmap::IndexMap::new();
        pq.insert(async_graphql::Name::new("version"), Value::from(1));
        pq.insert(async_graphql::Name::new("sha256Hash"), Value::from(hash));
        r.extensions.0.insert("persistedQuery".into(), Value::Object(pq));
        r
    }

    fn code(e: ServerError) -> String {
        e.extensions.and_then(|x| x.get("code").cloned()).map(|v| v.to_string()).unwrap_or_default()
    }

    #[test]
    fn apq_registers_then_serves_by_hash() {
        let docs = Documents::new(true, APQ_CACHE_BYTES);
        let q = "{ viewer { email } }";
        let h = sha256_hex(q);
        assert_eq!(code(docs.resolve(&mut with_hash("", &h), true).unwrap_err()), "\"PERSISTED_QUERY_NOT_FOUND\"");
        docs.resolve(&mut with_hash(q, &h), false).unwrap();
        assert_eq!(
            code(docs.resolve(&mut with_hash("", &h), true).unwrap_err()),
            "\"PERSISTED_QUERY_NOT_FOUND\"",
            "an anonymous caller's document is not kept"
        );
        docs.resolve(&mut with_hash(q, &h), true).unwrap();
        let mut r = with_hash("", &h);
        docs.resolve(&mut r, false).unwrap();
        assert_eq!(r.query, q);
        assert_eq!(
            code(docs.resolve(&mut with_hash(q, &"0".repeat(64)), true).unwrap_err()),
            "\"PERSISTED_QUERY_HASH_MISMATCH\""
        );
    }

    #[test]
    fn the_apq_cache_is_bounded_by_bytes() {
        let docs = Documents::new(true, 10_000);
        let texts: Vec<String> =
            (0..10).map(|i| format!("{{ viewer {{ email }} }} # {i} {}", "x".repeat(2_000))).collect();
        for t in &texts {
            docs.resolve(&mut with_hash(t, &sha256_hex(t)), true).unwrap();
        }
        let cache = docs.apq.as_ref().unwrap().lock().unwrap();
        assert!(cache.bytes <= 10_000, "{} bytes kept", cache.bytes);
        assert_eq!(cache.entries.len(), 4, "the newest documents that fit");
        assert!(cache.entries.contains(&sha256_hex(&texts[9])));
        assert!(!cache.entries.contains(&sha256_hex(&texts[0])));
        drop(cache);
        // A document larger than the whole cache is not kept, and evicts nothing.
        let huge = format!("{{ viewer {{ email }} }} # {}", "y".repeat(20_000));
        docs.resolve(&mut with_hash(&huge, &sha256_hex(&huge)), true).unwrap();
        assert_eq!(docs.apq.as_ref().unwrap().lock().unwrap().entries.len(), 4);
    }

    #[test]
    fn a_document_is_parsed_once_and_served_from_the_cache() {
        let docs = Documents::new(false, APQ_CACHE_BYTES);
        let q = "query V { viewer { email } }";
        docs.parse(&mut Request::new(q), false).unwrap();
        assert_eq!(docs.parsed.lock().unwrap().len(), 0, "an anonymous caller's document is not kept");
        let first = docs.parse(&mut Request::new(q), true).unwrap();
        assert_eq!(docs.parsed.lock().unwrap().len(), 1);
        let again = docs.parse(&mut Request::new(q), true).unwrap();
        assert_eq!(format!("{:?}", first.doc), format!("{:?}", again.doc));
        assert!(Arc::ptr_eq(&first.validated, &again.validated), "one validation mark per document");
        assert_eq!(docs.parsed.lock().unwrap().len(), 1, "the second request hit the cache");
        assert!(docs.parse(&mut Request::new("{ viewer "), true).is_err(), "a syntax error is still an error");
        let long = format!("{{ viewer {{ email }} }} # {}", "x".repeat(PARSED_CACHE_MAX_TEXT));
        docs.parse(&mut Request::new(long), true).unwrap();
        assert_eq!(docs.parsed.lock().unwrap().len(), 1, "neither failures nor long texts are kept");
    }

    #[test]
    fn trusted_documents_refuse_everything_else() {
        let q = "{ viewer { email } }";
        let manifest = serde_json::json!({ sha256_hex(q): q }).to_string();
        let docs = Documents::trusted(&manifest).unwrap();
        let mut r = with_hash("", &sha256_hex(q));
        docs.resolve(&mut r, true).unwrap();
        assert_eq!(r.query, q);
        docs.resolve(&mut Request::new(q), true).unwrap();
        assert_eq!(
            code(docs.resolve(&mut Request::new("{ __typename }"), true).unwrap_err()),
            "\"PERSISTED_QUERY_NOT_ALLOWED\""
        );
        assert_eq!(
            code(docs.resolve(&mut with_hash("", &"1".repeat(64)), true).unwrap_err()),
            "\"PERSISTED_QUERY_NOT_FOUND\""
        );
        let apollo = serde_json::json!({ "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": sha256_hex(q), "body": q, "name": "V", "type": "query" }] });
        assert!(Documents::trusted(&apollo.to_string()).is_ok());
        assert!(Documents::trusted(&serde_json::json!({ "abc": q }).to_string()).is_err());
    }
}
