//! The JSON text of GraphQL responses over HTTP, written here instead of through serde.
//!
//! Two costs of `serde_json::to_vec` on large answers (the 20 → 10 → 5 nested page, Q3, is
//! ~38 KB) were worth removing:
//! - it checks a string for the bytes JSON escapes one byte at a time, through a table
//!   (`format_escaped_str_contents`: 6 % of Q3's instructions); [`string`] checks eight bytes
//!   at a time and copies the runs between escapes whole;
//! - it grows its output from empty, copying it at each doubling (jemalloc's `large_ralloc`,
//!   ~1 %); [`to_bytes`] writes into a buffer each thread keeps, then copies the text once
//!   into an allocation of its exact size.
//!
//! The text is serde_json's, byte for byte (the tests compare them): the same escapes
//! (`\b \t \n \f \r \" \\`, other control characters as `\u00xx`, everything else as is), the
//! same numbers, and the fields in the order async-graphql's `Response` serializes them. Only
//! the answer's `data` is written here; errors and extensions, small and rare, still go
//! through serde.

use std::cell::RefCell;

use async_graphql::{Response, Value};
use axum::body::Bytes;

/// A value that writes itself as JSON text.
pub trait WriteJson {
    /// Appends the text to `out`. Fails only where serde fails on a part it writes.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;
}

/// The most bytes a thread's buffer keeps between responses: larger answers are written into
/// it as well, and the buffer is let go after them.
const KEPT_CAPACITY: usize = 256 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The JSON text of `value`.
pub fn to_bytes(value: &impl WriteJson) -> serde_json::Result<Bytes> {
    BUFFER.with(|buffer| {
        // Taken out of the cell: nothing written here re-enters this function, but a panic in
        // a serde impl must not leave the cell borrowed.
        let mut out = std::mem::take(&mut *buffer.borrow_mut());
        out.clear();
        let written = value.write_json(&mut out).map(|()| Bytes::copy_from_slice(&out));
        if out.capacity() <= KEPT_CAPACITY {
            *buffer.borrow_mut() = out;
        }
        written
    })
}

/// A response as async-graphql serializes it: `data`, then `extensions` and `errors` when
/// there are any.
pub fn response(out: &mut Vec<u8>, response: &Response) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"data\":");
    value(out, &response.data);
    if !response.extensions.is_empty() {
        out.extend_from_slice(b",\"extensions\":");
        serde_json::to_writer(&mut *out, &response.extensions)?;
    }
    if !response.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        serde_json::to_writer(&mut *out, &response.errors)?;
    }
    out.push(b'}');
    Ok(())
}

/// A GraphQL value, as its `Serialize` impl writes it through serde_json.
pub fn value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => {
            // serde_json's own writer (itoa, ryu): a number cannot fail to serialize.
            let _ = serde_json::to_writer(&mut *out, number);
        }
        Value::String(text) => string(out, text),
        Value::Enum(name) => string(out, name),
        // serde_json writes bytes as an array of numbers.
        Value::Binary(bytes) => {
            out.push(b'[');
            for (i, byte) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let digits = [byte / 100, byte / 10 % 10, byte % 10].map(|d| b'0' + d);
                let first = match *byte {
                    100.. => 0,
                    10.. => 1,
                    _ => 2,
                };
                out.extend_from_slice(&digits[first..]);
            }
            out.push(b']');
        }
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            // An object answered as its JSON text (`graphql::joined::raw_object`).
            if let Some(text) = crate::graphql::joined::raw_text(fields) {
                out.extend_from_slice(text.as_bytes());
                return;
            }
            out.push(b'{');
            for (i, (key, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, key);
                out.push(b':');
                self::value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// `text` as a JSON string, escaped as serde_json escapes it.
pub fn string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Most strings of an answer (keys, ids, names, timestamps) have nothing to escape: they
    // are checked first, a word at a time, and copied in one piece.
    let clean = match first_escaped(bytes) {
        None => {
            out.reserve(bytes.len() + 2);
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
            return;
        }
        Some(at) => at,
    };
    out.reserve(bytes.len() + 8);
    out.push(b'"');
    out.extend_from_slice(&bytes[..clean]);
    // `bytes[run..at]` is copied as is when an escape or the end is reached.
    let (mut run, mut at) = (clean, clean);
    while at < bytes.len() {
        let byte = bytes[at];
        let escape = ESCAPES[byte as usize];
        if escape == 0 {
            at += 1;
            continue;
        }
        out.extend_from_slice(&bytes[run..at]);
        match escape {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xf) as usize],
                ]);
            }
            short => out.extend_from_slice(&[b'\\', short]),
        }
        at += 1;
        run = at;
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

/// The position of the first word (eight bytes), or of the first byte of the tail, that holds
/// a byte JSON escapes; `None` when there is none.
fn first_escaped(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    for (i, word) in words.by_ref().enumerate() {
        if any_escaped(u64::from_le_bytes(word.try_into().expect("eight bytes"))) {
            return Some(i * 8);
        }
    }
    let tail = words.remainder();
    let at = bytes.len() - tail.len();
    tail.iter().position(|&b| ESCAPES[b as usize] != 0).map(|i| at + i)
}

/// Whether any of the eight bytes of `word` is one JSON escapes: a control character (below
/// 0x20), `"` or `\`. Exact for the whole word (each test may flag the wrong byte of a word
/// that has one, never a word that has none).
fn any_escaped(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = zero_in(word ^ (ONES * b'"' as u64));
    let backslash = zero_in(word ^ (ONES * b'\\' as u64));
    (control | quote | backslash) & HIGH != 0
}

/// For each byte: 0 when it is written as is, else the letter of its escape (`u` for
/// `\u00xx`).
static ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[cfg(test)]
mod tests {
    use async_graphql::indexmap::IndexMap;
    use async_graphql::{Name, Number, ServerError};
    use proptest::prelude::*;

    use super::*;

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        value(&mut out, v);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn every_character_is_escaped_as_serde_json_escapes_it() {
        // Every ASCII character, alone and at each position of a word, and a few beyond.
        for c in (0u8..0x80).map(char::from).chain(['é', '€', '😀', '\u{7f}', '\u{2028}']) {
            for at in 0..17 {
                let text: String = (0..20).map(|i| if i == at { c } else { 'a' }).collect();
                assert_eq!(ours(&Value::String(text.clone())), serde_json::to_string(&text).unwrap(), "{c:?} at {at}");
            }
        }
        for text in ["", "\"", "\\", "\"\\\"", "\u{1}\u{1f}", "line\nbreak\ttab\r\u{8}\u{c}", "0123456789abcdef\""] {
            assert_eq!(ours(&Value::String(text.into())), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(text in any::<String>(), ascii in "[ -~\\x00-\\x1f]{0,40}") {
            for text in [text, ascii] {
                prop_assert_eq!(ours(&Value::String(text.clone())), serde_json::to_string(&text).unwrap());
            }
        }
    }

    #[test]
    fn every_kind_of_value_is_written_as_serde_json_writes_it() {
        let mut object = IndexMap::new();
        object.insert(Name::new("id"), Value::String("SR-1".into()));
        object.insert(Name::new("quote\"d"), Value::Null);
        object.insert(Name::new("count"), Value::Number(Number::from(-42)));
        object.insert(Name::new("big"), Value::Number(Number::from(u64::MAX)));
        object.insert(Name::new("ratio"), Value::Number(Number::from_f64(0.1 + 0.2).unwrap()));
        object.insert(Name::new("whole"), Value::Number(Number::from_f64(3.0).unwrap()));
        object.insert(Name::new("yes"), Value::Boolean(true));
        object.insert(Name::new("no"), Value::Boolean(false));
        object.insert(Name::new("severity"), Value::Enum(Name::new("A")));
        object.insert(Name::new("bytes"), Value::Binary(vec![0u8, 7, 255].into()));
        object.insert(Name::new("none"), Value::Binary(Vec::new().into()));
        object.insert(Name::new("empty"), Value::Object(IndexMap::new()));
        object.insert(
            Name::new("list"),
            Value::List(vec![Value::Null, Value::List(vec![]), Value::String("é\n".into())]),
        );
        let value = Value::List(vec![Value::Object(object.clone()), Value::Object(object)]);
        assert_eq!(ours(&value), serde_json::to_string(&value).unwrap());
    }

    #[test]
    fn a_response_is_written_as_async_graphql_serializes_it() {
        let data = Value::from_json(serde_json::json!({ "node": { "id": "x", "n": [1, 2.5, null] } })).unwrap();
        let mut full = Response::new(data.clone());
        full.extensions.insert("cost".into(), Value::Number(7.into()));
        let mut error = ServerError::new("no such \"thing\"", Some(async_graphql::Pos { line: 1, column: 3 }));
        error.path = vec![async_graphql::PathSegment::Field("node".into()), async_graphql::PathSegment::Index(0)];
        full.errors.push(error);
        for response in [Response::new(data), Response::new(Value::Null), full] {
            let mut out = Vec::new();
            super::response(&mut out, &response).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&response).unwrap());
        }
    }

    #[test]
    fn the_buffer_is_kept_for_ordinary_answers_and_let_go_after_large_ones() {
        struct Text(usize);
        impl WriteJson for Text {
            fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
                string(out, &"x".repeat(self.0));
                Ok(())
            }
        }
        let kept = || BUFFER.with_borrow(|b| b.capacity());
        assert_eq!(to_bytes(&Text(1000)).unwrap().len(), 1002);
        assert!(kept() >= 1002);
        assert_eq!(to_bytes(&Text(3)).unwrap(), Bytes::from_static(b"\"xxx\""), "nothing of the last answer");
        assert_eq!(to_bytes(&Text(KEPT_CAPACITY * 2)).unwrap().len(), KEPT_CAPACITY * 2 + 2);
        assert_eq!(kept(), 0, "a large answer's buffer is let go");
    }
}
