//! Resolves an object's fields as one future, in the order of the selection set.
//!
//! async-graphql resolves an object by boxing a future per selected field and driving them
//! through a `FuturesUnordered` (an allocation and a reference-counted task each), then
//! inserting each value as it completes. For the objects a nested connection lists by the
//! thousand, whose fields are mostly plain values read from a row, that machinery cost more
//! than the values. [`Joined`] wraps such an object type: its fields' futures are of one type
//! (the object's own `resolve_field`), so they are polled in one vector, in selection order,
//! without a task or a dynamic call each. A field that is a plain value of the object
//! ([`Plain`]: no arguments, no context) has no future at all. Fields
//! that wait on a loader wait together, as before, so the loaders still batch across every
//! object of a level.
//!
//! The response keeps the selection's order by construction, the same values and the same
//! errors: a field that fails is recorded and left out, as async-graphql does. Two things it
//! does not do, which this schema does not use: per-field hooks of schema extensions
//! (`schema()` registers none; one added later would not see these objects' fields), custom
//! field directives (a selection that carries one is resolved by async-graphql instead;
//! `@skip` and `@include` were applied and removed before execution) and
//! `#[graphql(serial)]`.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::Poll;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::ContainerType;
use async_graphql::{Context, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use futures_util::future::{MaybeDone, maybe_done};

/// The fields of an object that are plain values of what it holds: no arguments, no
/// selection, no context, no waiting. [`resolve_joined`] takes them from [`Plain::plain`]
/// without a future, a box or async-graphql's dispatch by name (P3: 1,050 of the 1,388
/// fields it answers). The resolvers stay the schema's definition: a field `plain` does not
/// answer, or cannot (a stored enum that does not parse), goes to its resolver, which also
/// reports the error. `graphql::types`' tests compare every plain field of every joined type
/// with its resolver, on every row of the demo.
pub trait Plain {
    /// The value of the field named `name` (its GraphQL name), as its resolver would give it
    /// (made with the same `to_value`); `None` leaves the field to its resolver.
    fn plain(&self, _name: &str) -> Option<Value> {
        None
    }
}

/// A plain field's value, made as async-graphql makes the resolver's result into one (for
/// scalars and enums, `OutputType::resolve` is `to_value`).
pub fn plain_value<T: async_graphql::InputType>(value: T) -> Option<Value> {
    Some(value.to_value())
}

/// A stored UTC timestamp's value, the text async-graphql gives a `DateTime<Utc>`
/// (`to_rfc3339`: `2026-12-07T11:54:05.250+00:00`, sub-second digits in threes, as many as
/// needed). Written here digit by digit: chrono's general writer took ~790 instructions a
/// timestamp (1.4 % of P3's). Years outside 0–9999 and leap seconds go through chrono.
pub fn plain_time(t: chrono::NaiveDateTime) -> Option<Value> {
    Some(Value::String(rfc3339(t)))
}

/// An optional stored UTC timestamp's value.
pub fn plain_opt_time(t: Option<chrono::NaiveDateTime>) -> Option<Value> {
    Some(t.map_or(Value::Null, |t| Value::String(rfc3339(t))))
}

fn rfc3339(t: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (t.year(), t.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return t.and_utc().to_rfc3339();
    }
    // Every value below fits its digits: the year in four, the others in two.
    fn digits(out: &mut Vec<u8>, value: u32, width: u32) {
        for place in (0..width).rev() {
            out.push(b'0' + (value / 10u32.pow(place) % 10) as u8);
        }
    }
    let mut out = Vec::with_capacity(35);
    digits(&mut out, year as u32, 4);
    out.push(b'-');
    digits(&mut out, t.month(), 2);
    out.push(b'-');
    digits(&mut out, t.day(), 2);
    out.push(b'T');
    digits(&mut out, t.hour(), 2);
    out.push(b':');
    digits(&mut out, t.minute(), 2);
    out.push(b':');
    digits(&mut out, t.second(), 2);
    if nanos != 0 {
        out.push(b'.');
        match (nanos % 1_000_000, nanos % 1_000) {
            (0, _) => digits(&mut out, nanos / 1_000_000, 3),
            (_, 0) => digits(&mut out, nanos / 1_000, 6),
            _ => digits(&mut out, nanos, 9),
        }
    }
    out.extend_from_slice(b"+00:00");
    String::from_utf8(out).unwrap_or_else(|_| t.and_utc().to_rfc3339())
}

/// A text field's value (for `String` and `ID`, `to_value` would copy the text once more).
pub fn plain_text(text: impl Into<String>) -> Option<Value> {
    Some(Value::String(text.into()))
}

/// An optional text field's value.
pub fn plain_opt_text(text: Option<&str>) -> Option<Value> {
    Some(text.map_or(Value::Null, |text| Value::String(text.to_owned())))
}

/// A stored enum's value; `None` (left to the resolver, which reports it) when it does not
/// parse.
pub fn plain_enum<T: std::str::FromStr + async_graphql::InputType>(stored: &str) -> Option<Value> {
    stored.parse::<T>().ok().map(|value| value.to_value())
}

/// An optional stored enum's value.
pub fn plain_opt_enum<T: std::str::FromStr + async_graphql::InputType>(stored: Option<&str>) -> Option<Value> {
    stored.map_or(Some(Value::Null), plain_enum::<T>)
}

/// An object type `T`, resolved with its fields joined (see the module). It is `T` in the
/// schema: same name, same fields. A field of `T` cannot return a `Joined<T>`, directly or
/// through other joined objects (its future would contain itself); a connection between them
/// breaks the cycle ([`Conn`](super::connection::Conn) resolves behind a trait object), as does
/// a field left to async-graphql (a partner's partner).
pub struct Joined<T>(pub T);

impl<T> From<T> for Joined<T> {
    fn from(value: T) -> Self {
        Joined(value)
    }
}

impl<T: ContainerType + Plain> OutputType for Joined<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        resolve_joined(ctx, &self.0).await
    }
}

/// The fields of `root` that `ctx` selects, resolved together (see the module).
pub async fn resolve_joined<T: ContainerType + Plain>(ctx: &ContextSelectionSet<'_>, root: &T) -> ServerResult<Value> {
    // Sized for the selection without fragments: growing it from empty cost 1.8 % of P3's
    // instructions (5.78M → 5.68M per request).
    let mut fields = Vec::with_capacity(ctx.item.node.items.len());
    // An interface or a union resolves its fields through the object it holds, which
    // async-graphql finds for each fragment.
    let concrete = root.introspection_type_name() == T::type_name();
    if !concrete || !collect(ctx, root, &ctx.item.node, &mut fields) {
        // Boxed: held in place, async-graphql's future for this rare path made every joined
        // object's future, and so every field future of the object above it, as large (an
        // edge's field future: 696 → 456 bytes).
        return Box::pin(async_graphql::resolver_utils::resolve_container(ctx, root)).await;
    }
    // Each future owns its field's context, so one vector holds them all; a future is
    // dropped as soon as it completes: held until the whole object was done, the futures of
    // the plain fields of a hundred objects waiting on a loader field took 104 → 173 MB of
    // peak RSS on a wide list under 32 connections.
    //
    // Each box is allocated before its future is made (`new_uninit`, then `write`), so the
    // future can be written into it in place; `Box::pin(value_of(…))` made it on the stack
    // and copied it (0.5–1 KB a field here). `memmove` on P3: 6.7–7.0 → 5.3–6.1 % of the
    // gateway's samples.
    //
    // A plain field (see [`Plain`]) is done from the start.
    let mut slots: Vec<_> = fields
        .iter()
        .map(|field| match plain(root, field) {
            Some(value) => MaybeDone::Done(Ok(Some(value))),
            None => maybe_done(Box::into_pin(Box::write(Box::new_uninit(), value_of(root, ctx.with_field(field))))),
        })
        .collect();
    if !fields.is_empty()
        && slots.iter().all(|slot| matches!(slot, MaybeDone::Done(_)))
        && ctx.data_opt::<RawObjects>().is_some()
    {
        return Ok(raw_object(&fields, &mut slots));
    }
    std::future::poll_fn(|cx| {
        let mut running = false;
        for slot in &mut slots {
            running |= Pin::new(slot).poll(cx).is_pending();
        }
        if running { Poll::Pending } else { Poll::Ready(()) }
    })
    .await;
    let mut map = IndexMap::with_capacity_and_hasher(slots.len(), KEYS.clone());
    for (field, slot) in fields.iter().zip(&mut slots) {
        match Pin::new(slot).take_output().expect("every field completed") {
            Ok(value) => insert_hashed(&mut map, &field.node.response_key().node, value.unwrap_or_default()),
            Err(e) => ctx.add_error(e),
        }
    }
    Ok(if map.is_empty() { Value::Null } else { Value::Object(map) })
}

/// Set in a request's data (`Request::data`) when joined objects may be answered as JSON text
/// ([`raw_object`]): only for a document in which no selection set selects a response key
/// twice ([`selects_each_key_once`]). async-graphql merges the values of a key selected twice
/// object by object, and an object held as text has no fields to merge.
#[derive(Debug, Clone, Copy)]
pub struct RawObjects;

/// The JSON text of an object answered as text: an object whose one key is
/// `RAW_VALUE_TOKEN` (async-graphql-value's `raw_value` feature, which serializes the text as
/// it is, as `http::json` writes it).
pub fn raw_text(map: &IndexMap<Name, Value>) -> Option<&str> {
    match map.get_index(0) {
        Some((key, Value::String(text))) if map.len() == 1 && key.as_str() == async_graphql_value::RAW_VALUE_TOKEN => {
            Some(text)
        }
        _ => None,
    }
}

/// An object whose fields are all plain ([`Plain`]), written as its JSON text, the keys in
/// selection order (each selected once: [`RawObjects`]).
///
/// The objects at the bottom of a nested page (P3's 95 requests) were each a map of their
/// fields: allocated, hashed into, put in order after execution, walked again to write the
/// answer, then dropped. Written here once, they are copied into the answer whole. Q3: 4,927K
/// → 4,744K instructions per request (−3.7 %). Objects above them (an edge holding such a
/// node) are left as maps: written as text too, each level copied its children's text again,
/// and Q3 came to 4,941K.
fn raw_object(
    fields: &[&Positioned<Field>],
    slots: &mut [MaybeDone<impl Future<Output = ServerResult<Option<Value>>> + Unpin>],
) -> Value {
    // Sized for the usual field (an id in base64 is 60 bytes): grown from a smaller guess, the
    // text was reallocated and copied once or twice per object.
    let mut out = Vec::with_capacity(64 + 48 * fields.len());
    out.push(b'{');
    for (i, (field, slot)) in fields.iter().zip(slots).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::http::json::string(&mut out, &field.node.response_key().node);
        out.push(b':');
        match Pin::new(slot).take_output() {
            Some(Ok(Some(value))) => crate::http::json::value(&mut out, &value),
            _ => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
    // The writer writes UTF-8 only: its input is text, its escapes are ASCII.
    let text = String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let mut map = IndexMap::with_capacity_and_hasher(1, Default::default());
    map.insert(Name::new(async_graphql_value::RAW_VALUE_TOKEN), Value::String(text));
    Value::Object(map)
}

/// Whether no selection set of `doc` selects a response key twice, the fields of the
/// fragments spread in it counted as its own whatever their type condition (so
/// `... on A { x } ... on B { x }` counts `x` twice). `false` also when the walk would take
/// more than a bounded number of steps or levels (fragments spreading fragments): the answer
/// is then built as maps, as always.
pub fn selects_each_key_once(doc: &ExecutableDocument) -> bool {
    struct Check<'a> {
        doc: &'a ExecutableDocument,
        steps: usize,
    }
    const MAX_STEPS: usize = 10_000;
    const MAX_LEVELS: usize = 64;
    impl<'a> Check<'a> {
        fn flatten(&mut self, set: &'a SelectionSet, level: usize, out: &mut Vec<&'a Positioned<Field>>) -> bool {
            for selection in &set.items {
                self.steps += 1;
                if self.steps > MAX_STEPS || level > MAX_LEVELS {
                    return false;
                }
                let inner = match &selection.node {
                    Selection::Field(field) => {
                        out.push(field);
                        continue;
                    }
                    Selection::FragmentSpread(spread) => {
                        match self.doc.fragments.get(&spread.node.fragment_name.node) {
                            Some(fragment) => &fragment.node.selection_set.node,
                            None => return false,
                        }
                    }
                    Selection::InlineFragment(fragment) => &fragment.node.selection_set.node,
                };
                if !self.flatten(inner, level + 1, out) {
                    return false;
                }
            }
            true
        }

        fn set(&mut self, set: &'a SelectionSet, level: usize) -> bool {
            let mut fields = Vec::new();
            if !self.flatten(set, level, &mut fields) {
                return false;
            }
            let mut keys = std::collections::HashSet::with_capacity(fields.len());
            if !fields.iter().all(|field| keys.insert(field.node.response_key().node.as_str())) {
                return false;
            }
            fields.iter().all(|field| {
                let set = &field.node.selection_set.node;
                set.items.is_empty() || self.set(set, level + 1)
            })
        }
    }
    let mut check = Check { doc, steps: 0 };
    doc.operations.iter().all(|(_, op)| check.set(&op.node.selection_set.node, 0))
}

/// The hasher of every answer object built here. The type of an answer's map is
/// async-graphql's (SipHash, `RandomState`); its keys are ours to choose, and one set of keys
/// for all of them, random per process, lets a response key's hash be computed once
/// ([`key_hash`]) instead of once per object (~180 instructions a field, 4 % of P3).
static KEYS: std::sync::LazyLock<std::hash::RandomState> = std::sync::LazyLock::new(std::hash::RandomState::new);

thread_local! {
    /// Response keys seen on this thread, by address, with their hashes under [`KEYS`]. Each
    /// entry holds its `Name`, so the address cannot be reused by another key while the entry
    /// lives; emptied when it reaches [`KEY_HASHES_MAX`].
    static KEY_HASHES: std::cell::RefCell<crate::repo::batch::Map<usize, (Name, u64)>> = Default::default();
}

/// Distinct response keys a thread remembers the hashes of (documents' keys are few).
const KEY_HASHES_MAX: usize = 4096;

/// The hash of `key` under [`KEYS`].
fn key_hash(key: &Name) -> u64 {
    use std::hash::BuildHasher;
    let address = key.as_str().as_ptr() as usize;
    KEY_HASHES.with_borrow_mut(|hashes| {
        if let Some((_, hash)) = hashes.get(&address) {
            return *hash;
        }
        if hashes.len() >= KEY_HASHES_MAX {
            hashes.clear();
        }
        let hash = KEYS.hash_one(key);
        hashes.insert(address, (key.clone(), hash));
        hash
    })
}

/// [`insert`] into a map hashed by [`KEYS`], with the key's hash remembered.
fn insert_hashed(map: &mut IndexMap<Name, Value>, key: &Name, value: Value) {
    use async_graphql::indexmap::map::RawEntryApiV1;
    use async_graphql::indexmap::map::raw_entry_v1::RawEntryMut;
    let hash = key_hash(key);
    match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
        RawEntryMut::Vacant(vacant) => {
            vacant.insert_hashed_nocheck(hash, key.clone(), value);
        }
        RawEntryMut::Occupied(_) => insert(map, key.clone(), value),
    }
}

/// The value of `field` on `root` when it is plain: `__typename`, or a field [`Plain`] answers
/// and that is given no arguments.
fn plain<T: ContainerType + Plain>(root: &T, field: &Positioned<Field>) -> Option<Value> {
    let name = field.node.name.node.as_str();
    if name == "__typename" {
        return Some(Value::String(root.introspection_type_name().into_owned()));
    }
    if !field.node.arguments.is_empty() || !field.node.selection_set.node.items.is_empty() {
        return None;
    }
    root.plain(name)
}

async fn value_of<T: ContainerType>(root: &T, field: Context<'_>) -> ServerResult<Option<Value>> {
    root.resolve_field(&field).await
}

/// The fields `set` selects on `root`, fragments expanded where they apply, in document order;
/// false when one carries a directive (left to async-graphql).
fn collect<'a, T: ContainerType>(
    ctx: &ContextSelectionSet<'a>,
    root: &T,
    set: &'a SelectionSet,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> bool {
    for selection in &set.items {
        let set = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return false;
                }
                fields.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                if !spread.node.directives.is_empty() {
                    return false;
                }
                // Validation refused a document spreading an unknown fragment.
                let Some(fragment) = ctx.query_env.fragments.get(&spread.node.fragment_name.node) else {
                    return false;
                };
                Some((&fragment.node.type_condition.node.on.node, &fragment.node.selection_set.node))
            }
            Selection::InlineFragment(fragment) => {
                if !fragment.node.directives.is_empty() {
                    return false;
                }
                let condition = fragment.node.type_condition.as_ref().map(|c| &c.node.on.node);
                match condition {
                    Some(on) => Some((on, &fragment.node.selection_set.node)),
                    None => {
                        if !collect(ctx, root, &fragment.node.selection_set.node, fields) {
                            return false;
                        }
                        None
                    }
                }
            }
        };
        if let Some((on, set)) = set {
            let name = root.introspection_type_name();
            let applies = *on == *name
                || ctx.schema_env.registry.implements.get(name.as_ref()).is_some_and(|i| i.contains(on.as_str()));
            if applies && !collect(ctx, root, set, fields) {
                return false;
            }
        }
    }
    true
}

/// Adds a field's value under its response key; a key selected twice (with different
/// sub-selections) merges, as async-graphql merges it.
fn insert(map: &mut IndexMap<Name, Value>, key: Name, value: Value) {
    // One lookup (one hash of the key) per field: looked up, then inserted, the key was
    // hashed twice (~2 % of P3's instructions).
    let into = match map.entry(key) {
        Entry::Vacant(vacant) => {
            vacant.insert(value);
            return;
        }
        Entry::Occupied(occupied) => occupied.into_mut(),
    };
    match (into, value) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                insert(into, key, value);
            }
        }
        (Value::List(into), Value::List(from)) => {
            for (into, from) in into.iter_mut().zip(from) {
                if let (Value::Object(into), Value::Object(from)) = (into, from) {
                    for (key, value) in from {
                        insert(into, key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn timestamps_are_written_as_async_graphql_writes_them() {
        use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let mut times: Vec<NaiveDateTime> = Vec::new();
        for date in [day(2026, 12, 7), day(1, 1, 1), day(0, 1, 1), day(9999, 12, 31), day(10000, 1, 1), day(-1, 6, 30)]
        {
            for nanos in [0, 5_000_000, 250_000_000, 120_000, 999_999_000, 1, 123_456_789, 999_999_999, 1_500_000_000] {
                for (h, m, s) in [(0, 0, 0), (9, 5, 7), (23, 59, 59)] {
                    if let Some(time) = NaiveTime::from_hms_nano_opt(h, m, s, nanos) {
                        times.push(date.and_time(time));
                    }
                }
            }
        }
        // A spread of ordinary instants, to the nanosecond.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let secs = (seed % 8_000_000_000) as i64 - 1_000_000_000;
            let nanos =
                [0, (seed >> 40) as u32 % 1_000 * 1_000_000, (seed >> 32) as u32 % 1_000_000_000][(seed % 3) as usize];
            times.push(chrono::DateTime::from_timestamp(secs, nanos).unwrap().naive_utc());
        }
        for t in times {
            let expected = async_graphql::InputType::to_value(&t.and_utc());
            assert_eq!(super::plain_time(t), Some(expected), "{t:?}");
        }
        assert_eq!(super::plain_opt_time(None), Some(Value::Null));
    }
    use async_graphql::{EmptyMutation, EmptySubscription, Error, Interface, Object, Schema};

    use super::*;

    /// An object with plain fields, fields that wait, fields that fail, and an object field.
    #[derive(Clone)]
    pub(crate) struct Thing(pub(crate) i32);

    #[Object]
    impl Thing {
        async fn id(&self) -> i32 {
            self.0
        }
        async fn name(&self) -> String {
            format!("thing {}", self.0)
        }
        async fn slow(&self) -> i32 {
            tokio::task::yield_now().await;
            self.0 * 10
        }
        async fn broken(&self) -> async_graphql::Result<Option<i32>> {
            Err(Error::new("broken on purpose"))
        }
        async fn must(&self) -> async_graphql::Result<i32> {
            Err(Error::new("must failed"))
        }
        /// A plain `Thing`: a `Joined<Thing>` here would make the type of its own future.
        async fn next(&self) -> Thing {
            tokio::task::yield_now().await;
            Thing(self.0 + 1)
        }
        async fn args(&self, times: i32) -> i32 {
            self.0 * times
        }
    }

    /// `id` and `name` are plain; the others go to their resolvers.
    impl Plain for Thing {
        fn plain(&self, name: &str) -> Option<Value> {
            match name {
                "id" => plain_value(self.0),
                "name" => plain_text(format!("thing {}", self.0)),
                _ => None,
            }
        }
    }

    struct Other;

    #[Object]
    impl Other {
        async fn id(&self) -> i32 {
            0
        }
        async fn other(&self) -> bool {
            true
        }
    }

    impl Plain for Named {}

    #[derive(Interface)]
    #[graphql(field(name = "id", ty = "i32"))]
    enum Named {
        Thing(Thing),
        Other(Other),
    }

    struct Query;

    #[Object]
    impl Query {
        async fn plain(&self) -> Vec<Thing> {
            vec![Thing(1), Thing(2)]
        }
        async fn joined(&self) -> Vec<Joined<Thing>> {
            vec![Joined(Thing(1)), Joined(Thing(2))]
        }
        async fn plain_named(&self) -> Vec<Named> {
            vec![Named::Thing(Thing(7)), Named::Other(Other)]
        }
        async fn joined_named(&self) -> Vec<Joined<Named>> {
            vec![Joined(Named::Thing(Thing(7))), Joined(Named::Other(Other))]
        }
    }

    /// The response's data, and its errors' messages and paths.
    async fn run(query: &str) -> (serde_json::Value, serde_json::Value) {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription).finish();
        let response = schema.execute(query).await;
        let errors = response.errors.iter().map(|e| (e.message.clone(), serde_json::to_value(&e.path).unwrap()));
        (response.data.into_json().unwrap(), serde_json::to_value(errors.collect::<Vec<_>>()).unwrap())
    }

    /// The same document through `plain` (async-graphql) and `joined`: the same values and
    /// errors, and the joined objects' keys in selection order.
    async fn same(selection: &str, fragments: &str) -> Vec<String> {
        let (plain, plain_errors) = run(&format!("{{ items: plain {{ {selection} }} }} {fragments}")).await;
        let (joined, joined_errors) = run(&format!("{{ items: joined {{ {selection} }} }} {fragments}")).await;
        assert_eq!(plain, joined, "{selection}");
        assert_eq!(plain_errors, joined_errors, "{selection}");
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription).finish();
        let data = schema.execute(format!("{{ items: joined {{ {selection} }} }} {fragments}")).await.data;
        let Value::Object(root) = data else { panic!("no data") };
        let Some(Value::List(items)) = root.get("items") else { panic!("no items") };
        let Value::Object(first) = &items[0] else { panic!("not an object") };
        // The keys were inserted with remembered hashes: a lookup must find each.
        assert!(first.keys().all(|k| first.get(k.as_str()).is_some()), "{selection}: keys found by lookup");
        first.keys().map(|k| k.to_string()).collect()
    }

    #[tokio::test]
    async fn joined_objects_resolve_like_async_graphql_in_selection_order() {
        let keys = same("slow name id", "").await;
        assert_eq!(keys, ["slow", "name", "id"]);
        let keys = same("a: id b: slow id __typename args(times: 3)", "").await;
        assert_eq!(keys, ["a", "b", "id", "__typename", "args"]);
        // Fragments: a spread, one on an interface the type implements, one on no type, and a
        // key selected twice whose sub-selections merge.
        let keys = same(
            "next { id } ...F ... on Named { id } ... { name } next { slow next { name } }",
            "fragment F on Thing { slow }",
        )
        .await;
        assert_eq!(keys, ["next", "slow", "id", "name"]);
        // Failing fields: recorded with their paths, left out of the object, as async-graphql
        // leaves them.
        same("id broken name", "").await;
        same("id must name", "").await;
        let (data, errors) = run("{ joined { id broken name } }").await;
        assert_eq!(data["joined"][1], serde_json::json!({ "id": 2, "name": "thing 2" }));
        assert_eq!(errors[1], serde_json::json!(["broken on purpose", ["joined", 1, "broken"]]));
        // `@skip` and `@include`, applied (and removed) by async-graphql before execution.
        same("id ... @include(if: true) { slow } name @skip(if: false)", "").await;
    }

    #[test]
    fn a_document_selects_each_key_once_unless_a_set_repeats_one() {
        let once = |text: &str| selects_each_key_once(&async_graphql::parser::parse_query(text).unwrap());
        assert!(once("{ a { id name } b: a { id } }"));
        assert!(once("{ a { id ...F ... on T { other } } } fragment F on T { name next { id name } }"));
        assert!(once("query A { a { id } } query B { a { id } }"));
        for repeated in [
            "{ a { id } a { name } }",
            "{ a { id id } }",
            "{ a { x: id x: name } }",
            "{ a { id ...F } } fragment F on T { id }",
            "{ a { ... on A { x } ... on B { x } } }",
            "{ a { next { id } ... { next { name } } } }",
            // A spread of a fragment the document lacks, and a cycle (both refused later by
            // validation): no answer as text.
            "{ a { ...Missing } }",
            "{ a { ...F } } fragment F on T { next { ...F } }",
        ] {
            assert!(!once(repeated), "{repeated}");
        }
    }

    /// The answer as the HTTP writer writes it, with objects answered as text allowed or not.
    async fn written(query: &str, raw: bool) -> (String, Value) {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription).finish();
        let request = async_graphql::Request::new(query);
        let request = if raw { request.data(RawObjects) } else { request };
        let response = schema.execute(request).await;
        let mut out = Vec::new();
        crate::http::json::value(&mut out, &response.data);
        (String::from_utf8(out).unwrap(), response.data)
    }

    #[tokio::test]
    async fn objects_of_scalars_are_answered_as_their_text() {
        for query in [
            "{ joined { id name } }",
            "{ joined { slow a: id __typename } }",
            "{ joined { id broken name } }",
            "{ joined { id next { id name } } }",
            "{ joined { name ...F } } fragment F on Thing { id }",
        ] {
            let (text, data) = written(query, true).await;
            let (maps, _) = written(query, false).await;
            assert_eq!(text, maps, "{query}");
            // The serde path (WebSocket, tests) writes it the same.
            assert_eq!(serde_json::to_string(&data).unwrap(), maps, "{query}");
            let Value::Object(root) = &data else { panic!("no data") };
            let Some(Value::List(items)) = root.get("joined") else { panic!("no list") };
            let Value::Object(first) = &items[0] else { panic!("not an object") };
            // Text only where every field is plain.
            let as_text = ["broken", "next", "slow"].iter().all(|field| !query.contains(field));
            assert_eq!(raw_text(first).is_some(), as_text, "{query}");
        }
        let (text, _) = written("{ joined { slow a: id __typename } }", true).await;
        assert_eq!(
            text,
            r#"{"joined":[{"slow":10,"a":1,"__typename":"Thing"},{"slow":20,"a":2,"__typename":"Thing"}]}"#
        );
    }

    #[tokio::test]
    async fn an_interface_is_left_to_async_graphql() {
        let selection = "__typename id ... on Other { other } ... on Thing { name slow }";
        let (plain, _) = run(&format!("{{ items: plainNamed {{ {selection} }} }}")).await;
        let (joined, errors) = run(&format!("{{ items: joinedNamed {{ {selection} }} }}")).await;
        assert_eq!(errors, serde_json::json!([]));
        assert_eq!(plain, joined);
        assert_eq!(
            joined["items"],
            serde_json::json!([
                { "__typename": "Thing", "id": 7, "name": "thing 7", "slow": 70 },
                { "__typename": "Other", "id": 0, "other": true },
            ])
        );
    }
}
