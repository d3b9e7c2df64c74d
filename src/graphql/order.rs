//! Puts a response's keys in the order of its selection sets, as the GraphQL spec asks
//! (`CollectFields`: fields in document order, fragments expanded where they are spread).
//!
//! async-graphql resolves an object's fields concurrently and records each as it completes,
//! so fields that wait on a batched loader came back after the others, in an order that
//! varied between identical requests; it has no setting for this. Clients that diff, snapshot
//! or stream-parse responses depend on the order, so every response is put in order here,
//! once, after execution: a walk over the response beside the document, which costs far less
//! than resolving it and leaves objects already in order untouched.

use std::rc::Rc;
use std::sync::OnceLock;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
    TypeCondition, TypeKind,
};
use async_graphql::{Name, Positioned, Value, Variables};
// foldhash's maps, not SipHash's: their keys are the schema's own type and field names, looked
// up a few times for every object of an answer, and SipHash cost ~5,000 instructions of a
// `node(id:)` lookup.
use foldhash::{HashMap, HashSet};

/// What the walk needs to know of the schema: each type's fields' named types, which types
/// are abstract, and which object types each abstract type covers.
struct Types {
    fields: HashMap<String, HashMap<String, String>>,
    /// For every interface and union: the object types it covers.
    covers: HashMap<String, HashSet<String>>,
    roots: [String; 3],
}

impl Types {
    fn of_schema() -> Types {
        let doc = async_graphql::parser::parse_schema(super::sdl()).expect("the schema's own SDL parses");
        let mut types = Types {
            fields: HashMap::default(),
            covers: HashMap::default(),
            roots: ["Query".into(), "Mutation".into(), "Subscription".into()],
        };
        for def in doc.definitions {
            match def {
                async_graphql::parser::types::TypeSystemDefinition::Schema(s) => {
                    let s = s.node;
                    let name = |n: Option<Positioned<Name>>, d: &str| n.map_or(d.to_owned(), |n| n.node.to_string());
                    types.roots =
                        [name(s.query, "Query"), name(s.mutation, "Mutation"), name(s.subscription, "Subscription")];
                }
                async_graphql::parser::types::TypeSystemDefinition::Type(t) => {
                    let t = t.node;
                    let name = t.name.node.to_string();
                    match t.kind {
                        TypeKind::Object(o) => {
                            for i in &o.implements {
                                types.covers.entry(i.node.to_string()).or_default().insert(name.clone());
                            }
                            types.fields.insert(name, fields(&o.fields));
                        }
                        TypeKind::Interface(i) => {
                            types.covers.entry(name.clone()).or_default();
                            types.fields.insert(name, fields(&i.fields));
                        }
                        TypeKind::Union(u) => {
                            types.covers.insert(name, u.members.iter().map(|m| m.node.to_string()).collect());
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        types
    }

    fn get() -> &'static Types {
        static TYPES: OnceLock<Types> = OnceLock::new();
        TYPES.get_or_init(Types::of_schema)
    }

    fn is_abstract(&self, ty: &str) -> bool {
        self.covers.contains_key(ty)
    }

    /// Whether an object of type `ty` (unknown: assume so) gets a fragment on `condition`.
    fn applies(&self, condition: &str, ty: Option<&str>) -> bool {
        match ty {
            Some(ty) => condition == ty || self.covers.get(condition).is_some_and(|c| c.contains(ty)),
            None => true,
        }
    }

    fn field_type(&'static self, ty: &str, field: &str) -> Option<&'static str> {
        self.fields.get(ty)?.get(field).map(String::as_str)
    }
}

fn fields(defs: &[Positioned<async_graphql::parser::types::FieldDefinition>]) -> HashMap<String, String> {
    defs.iter()
        .map(|f| {
            let mut ty = &f.node.ty.node;
            while let async_graphql::parser::types::BaseType::List(inner) = &ty.base {
                ty = inner;
            }
            let named = match &ty.base {
                async_graphql::parser::types::BaseType::Named(n) => n.to_string(),
                async_graphql::parser::types::BaseType::List(_) => unreachable!("lists were unwrapped"),
            };
            (f.node.name.node.to_string(), named)
        })
        .collect()
}

/// One response key of an object: the field it came from, the selection sets of every
/// occurrence (they merge), and what its value is, when that is an object.
struct Entry<'d> {
    key: &'d str,
    field: &'d str,
    sets: Vec<&'d SelectionSet>,
    /// The field's named type, when the object's type is known.
    child: Option<&'static str>,
    /// Whether that type is an interface or a union (the object names its own type).
    child_abstract: bool,
    /// Whether the value holds objects to walk (the field has a selection set).
    walk: bool,
}

/// A position in the document: the selection sets (by address: each lives as long as the
/// walk) and the runtime type.
type Position = (usize, usize, usize);

/// Collected fields per position: a list of a thousand objects is collected once. A document
/// has a handful of positions, so a list beats hashing.
type Collected<'d> = Vec<(Position, Rc<Vec<Entry<'d>>>)>;

struct Walk<'d> {
    doc: &'d ExecutableDocument,
    variables: &'d Variables,
    types: &'static Types,
    collected: Collected<'d>,
}

/// The operation a request runs (the document's only one, or the one it names), with its name
/// in a document of several.
pub fn operation<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<(Option<&'d str>, &'d OperationDefinition)> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some((None, &op.node)),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.get_key_value(name).map(|(n, op)| (Some(n.as_str()), &op.node))
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.iter().next().map(|(n, op)| (Some(n.as_str()), &op.node))
        }
        _ => None,
    }
}

/// Puts the keys of `data` in the order the request's operation selects them. `variables` are
/// those it ran with, declared defaults included (see `run::admit`).
pub fn order_response(doc: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables, data: &mut Value) {
    let Some((_, op)) = operation(doc, operation_name) else { return };
    let types = Types::get();
    let root = match op.ty {
        OperationType::Query => &types.roots[0],
        OperationType::Mutation => &types.roots[1],
        OperationType::Subscription => &types.roots[2],
    };
    let mut walk = Walk { doc, variables, types, collected: Vec::new() };
    walk.value(data, &[&op.selection_set.node], Some(root), false);
}

impl<'d> Walk<'d> {
    /// Walks a value of type `ty` (`abstract_ty`: an interface or union) selected by `sets`.
    fn value(&mut self, value: &mut Value, sets: &[&'d SelectionSet], ty: Option<&'static str>, abstract_ty: bool) {
        match value {
            Value::List(items) => {
                for item in items {
                    self.value(item, sets, ty, abstract_ty);
                }
            }
            // An object answered as text was written in selection order.
            Value::Object(map) if super::joined::raw_text(map).is_some() => {}
            Value::Object(map) => {
                let runtime = if abstract_ty { self.typename(map, sets) } else { ty };
                if abstract_ty && runtime.is_none() {
                    // Which fragments apply depends on a type the object does not name: left as is.
                    return;
                }
                let entries = self.collect(sets, runtime);
                if !in_order(map, &entries) {
                    // Keys the selection does not name (none expected) go last.
                    let position = |key: &Name| entries.iter().position(|e| same_key(e.key, key)).unwrap_or(usize::MAX);
                    map.sort_by(|a, _, b, _| position(a).cmp(&position(b)));
                }
                // The keys are now in the entries' order: walk both together.
                let mut next = entries.iter();
                for (key, child) in map.iter_mut() {
                    let Some(entry) = next.find(|e| same_key(e.key, key)) else { break };
                    if entry.walk {
                        self.value(child, &entry.sets, entry.child, entry.child_abstract);
                    }
                }
            }
            _ => {}
        }
    }

    /// The runtime type of an object at an abstract position: its `__typename` when selected
    /// (Relay and Apollo always select it), else the type its global `id` names; `None` when
    /// neither was selected.
    fn typename(
        &mut self,
        map: &async_graphql::indexmap::IndexMap<Name, Value>,
        sets: &[&'d SelectionSet],
    ) -> Option<&'static str> {
        let entries = self.collect(sets, None);
        let named = |field: &str| entries.iter().find(|e| e.field == field).and_then(|e| map.get(e.key));
        let name = match (named("__typename"), named("id")) {
            (Some(Value::String(name)), _) => name.clone(),
            (_, Some(Value::String(id))) => super::ids::decode(id)?.0.type_name().to_owned(),
            _ => return None,
        };
        let types: &'static Types = self.types;
        types.fields.get_key_value(name.as_str()).map(|(k, _)| k.as_str())
    }

    fn collect(&mut self, sets: &[&'d SelectionSet], ty: Option<&'static str>) -> Rc<Vec<Entry<'d>>> {
        let position = (sets.as_ptr() as usize, sets.len(), ty.map_or(0, |t| t.as_ptr() as usize));
        if let Some((_, found)) = self.collected.iter().find(|(p, _)| *p == position) {
            return found.clone();
        }
        let mut entries = Vec::new();
        let mut spread = HashSet::default();
        for set in sets {
            self.collect_set(set, ty, &mut entries, &mut spread);
        }
        for entry in &mut entries {
            entry.child = ty.and_then(|t| self.types.field_type(t, entry.field));
            entry.child_abstract = entry.child.is_some_and(|t| self.types.is_abstract(t));
            entry.walk = entry.sets.iter().any(|s| !s.items.is_empty());
        }
        let entries = Rc::new(entries);
        self.collected.push((position, entries.clone()));
        entries
    }

    fn collect_set(
        &self,
        set: &'d SelectionSet,
        ty: Option<&str>,
        entries: &mut Vec<Entry<'d>>,
        spread: &mut HashSet<&'d str>,
    ) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(f) => {
                    let f = &f.node;
                    if !self.included(&f.directives) {
                        continue;
                    }
                    let key = f.response_key().node.as_str();
                    match entries.iter_mut().find(|e| e.key == key) {
                        Some(e) => e.sets.push(&f.selection_set.node),
                        None => entries.push(Entry {
                            key,
                            field: f.name.node.as_str(),
                            sets: vec![&f.selection_set.node],
                            child: None,
                            child_abstract: false,
                            walk: false,
                        }),
                    }
                }
                Selection::FragmentSpread(s) => {
                    let name = s.node.fragment_name.node.as_str();
                    if !self.included(&s.node.directives) || spread.contains(name) {
                        continue;
                    }
                    let Some(fragment) = self.doc.fragments.get(name) else { continue };
                    if self.types.applies(fragment.node.type_condition.node.on.node.as_str(), ty) {
                        spread.insert(name);
                        self.collect_set(&fragment.node.selection_set.node, ty, entries, spread);
                    }
                }
                Selection::InlineFragment(i) => {
                    let i = &i.node;
                    let applies = i
                        .type_condition
                        .as_ref()
                        .is_none_or(|c: &Positioned<TypeCondition>| self.types.applies(c.node.on.node.as_str(), ty));
                    if self.included(&i.directives) && applies {
                        self.collect_set(&i.selection_set.node, ty, entries, spread);
                    }
                }
            }
        }
    }

    /// `@skip` and `@include`, with the request's variables.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|d| {
            let want = match d.node.name.node.as_str() {
                "skip" => false,
                "include" => true,
                _ => return true,
            };
            let condition = match d.node.get_argument("if").map(|v| &v.node) {
                Some(async_graphql_value::Value::Boolean(b)) => *b,
                Some(async_graphql_value::Value::Variable(name)) => {
                    matches!(self.variables.get(name), Some(Value::Boolean(true)))
                }
                _ => return true,
            };
            condition == want
        })
    }
}

/// Whether the object's keys already come in the entries' order (one pass over both).
fn in_order(map: &async_graphql::indexmap::IndexMap<Name, Value>, entries: &[Entry<'_>]) -> bool {
    let mut next = entries.iter();
    map.keys().all(|key| next.any(|e| same_key(e.key, key)))
}

/// Whether a response key is the selection's `key`. The objects resolved joined hold the
/// document's own names (shared, not copied), so the text is compared only when the
/// addresses differ: comparing it every time was ~1.4 % of a nested page's instructions
/// (`memcmp`, P3).
fn same_key(key: &str, name: &Name) -> bool {
    let name = name.as_str();
    std::ptr::eq(key, name) || key == name
}
