//! Relay connections: `edges { cursor node }`, `nodes`, `pageInfo` and `totalCount`.
//!
//! The shape and names are async-graphql's (`ServiceRequestConnection`, `ServiceRequestEdge`,
//! `PageInfo`), but the lists resolve their items joined ([`JoinedList`]): async-graphql's
//! connection resolved each edge as an object of its own (a future per field, a task each,
//! a map), and the edges of a nested page number in the hundreds per request.

use std::borrow::Cow;
use std::pin::Pin;

use async_graphql::connection::{CursorType, PageInfo};
use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::ContainerType;
use async_graphql::{
    ContextSelectionSet, Object, OutputType, Positioned, SelectionField, ServerResult, TypeName, Value,
};

use super::joined::{Joined, Plain, plain_value, resolve_joined};
use crate::paging::{PageArgs, decode_cursor, encode_cursor};
use crate::repo::Columns;
use crate::repo::pages::Page;

/// An opaque cursor: a position in the ordered list.
pub struct Cursor(pub usize);

impl CursorType for Cursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        decode_cursor(s).map(Cursor).ok_or("invalid cursor")
    }

    fn encode_cursor(&self) -> String {
        encode_cursor(self.0)
    }
}

/// A type that connections list: the names of its connection and edge types, as constants.
/// Built with `format!`, each edge and connection allocated its type's name twice as it
/// resolved (the joined path compares it with the object's own): ~6 % of the gateway's
/// instructions on P3.
pub trait Listed {
    /// `<T>Connection`.
    const CONNECTION: &'static str;
    /// `<T>Edge`.
    const EDGE: &'static str;
}

/// Implements [`Listed`] for types whose GraphQL name is their Rust name.
macro_rules! listed {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::graphql::connection::Listed for $t {
            const CONNECTION: &'static str = concat!(stringify!($t), "Connection");
            const EDGE: &'static str = concat!(stringify!($t), "Edge");
        })*
    };
}
pub(crate) use listed;

/// A page of `T` (`<T>Connection`; its description is set where the schema is built), as the
/// fields that list `T` return it: the connection's own fields (`edges`, `pageInfo`…) resolve
/// joined too, where async-graphql resolved each connection as a container of its own (P3
/// lists 81 connections per request: gateway CPU 1.85 → 1.78 ms per request, 4 runs each).
pub struct Conn<T>(Connection<T>);

impl<T: ContainerType + Plain + Listed> OutputType for Conn<T> {
    fn type_name() -> Cow<'static, str> {
        <Connection<T> as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <Connection<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Connection<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        // A trait object, too: the type of a connection's future names the fields of the
        // objects it lists, which may list connections of their own.
        let resolving: Pin<Box<dyn Future<Output = ServerResult<Value>> + Send + '_>> =
            Box::pin(resolve_joined(ctx, &self.0));
        resolving.await
    }
}

/// The connection object itself (see [`Conn`]).
pub struct Connection<T> {
    edges: Vec<EdgeOf<T>>,
    has_previous_page: bool,
    has_next_page: bool,
    total_count: i32,
}

impl<T: Listed + Send + Sync> TypeName for Connection<T> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(T::CONNECTION)
    }
}

#[Object(name_type)]
impl<T: ContainerType + Plain + Listed> Connection<T> {
    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
            start_cursor: self.edges.first().map(|edge| edge.cursor.encode_cursor()),
            end_cursor: self.edges.last().map(|edge| edge.cursor.encode_cursor()),
        }
    }

    /// A list of edges.
    async fn edges(&self) -> JoinedList<'_, EdgeOf<T>> {
        JoinedList(self.edges.iter().collect())
    }

    /// A list of nodes.
    async fn nodes(&self) -> JoinedList<'_, T> {
        JoinedList(self.edges.iter().map(|edge| &edge.node.0).collect())
    }

    /// How many items match, across all pages.
    async fn total_count(&self) -> i32 {
        self.total_count
    }
}

impl<T> Plain for Connection<T> {
    fn plain(&self, name: &str) -> Option<Value> {
        match name {
            "totalCount" => plain_value(self.total_count),
            _ => None,
        }
    }
}

/// An edge of a connection (`<T>Edge`); a mutation's payload hands one out by itself.
pub struct EdgeOf<T> {
    cursor: Cursor,
    node: Joined<T>,
}

impl<T> EdgeOf<T> {
    pub fn new(cursor: Cursor, node: T) -> EdgeOf<T> {
        EdgeOf { cursor, node: Joined(node) }
    }
}

impl<T: Listed + Send + Sync> TypeName for EdgeOf<T> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(T::EDGE)
    }
}

/// An edge in a connection.
#[Object(name_type)]
impl<T: ContainerType + Plain + Listed> EdgeOf<T> {
    /// The item at the end of the edge
    async fn node(&self) -> &Joined<T> {
        &self.node
    }

    /// A cursor for use in pagination
    async fn cursor(&self) -> String {
        self.cursor.encode_cursor()
    }
}

impl<T> Plain for EdgeOf<T> {
    fn plain(&self, name: &str) -> Option<Value> {
        match name {
            "cursor" => plain_value(self.cursor.encode_cursor()),
            _ => None,
        }
    }
}

/// A list of objects (`[T!]!`) whose items resolve joined, as [`Joined`] resolves an object's
/// fields. The items' futures are joined in the list's order by `futures_util`'s `join_all`:
/// in one allocation for up to 30 items, through a `FuturesOrdered` (a task each) beyond.
pub struct JoinedList<'a, T>(Vec<&'a T>);

impl<T: ContainerType + Plain> OutputType for JoinedList<'_, T> {
    fn type_name() -> Cow<'static, str> {
        format!("[{}]", T::qualified_type_name()).into()
    }

    fn qualified_type_name() -> String {
        format!("[{}]!", T::qualified_type_name())
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry);
        Self::qualified_type_name()
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        let items = futures_util::future::join_all(self.0.iter().enumerate().map(|(i, item)| async move {
            let ctx = ctx.with_index(i);
            resolve_joined(&ctx, *item).await.map_err(|e| ctx.set_error_path(e))
        }))
        .await;
        items.into_iter().collect::<ServerResult<Vec<_>>>().map(Value::List)
    }
}

/// The columns the items of a connection need: [`Columns::Summary`] when every field its
/// items select (`edges { node { … } }`, `nodes { … }`, fragments included) is one of
/// `summary`, the fields of the item type that read only its summary's columns; else all.
pub fn item_columns(connection: SelectionField<'_>, summary: &[&str]) -> Columns {
    let fits = |item: SelectionField<'_>| item.selection_set().all(|field| summary.contains(&field.name()));
    let every_item_fits = connection.selection_set().all(|field| match field.name() {
        "nodes" => fits(field),
        "edges" => field.selection_set().filter(|f| f.name() == "node").all(fits),
        _ => true,
    });
    if every_item_fits { Columns::Summary } else { Columns::All }
}

/// A connection over a page the database cut.
pub fn from_page<R, T: ContainerType + Plain + Listed>(page: Page<R>, node: impl Fn(R) -> T) -> Conn<T> {
    let end = page.start + page.rows.len();
    Conn(Connection {
        has_previous_page: page.start > 0,
        has_next_page: end < page.total,
        total_count: page.total as i32,
        edges: page.rows.into_iter().enumerate().map(|(i, r)| EdgeOf::new(Cursor(page.start + i), node(r))).collect(),
    })
}

/// A connection over a full list the loader brought (a nested connection), cut here.
pub fn from_list<R: Clone, T: ContainerType + Plain + Listed>(
    items: &[R],
    args: &PageArgs,
    node: impl Fn(R) -> T,
) -> Conn<T> {
    let window = args.window(items.len());
    let page = Page { rows: items[window.clone()].to_vec(), start: window.start, total: items.len() };
    from_page(page, node)
}

/// A connection over the first rows of a list (from its beginning), read one past the page's
/// `window` by a loader that cut the list in the database: a forward page that does not count.
pub fn from_first<R: Clone, T: ContainerType + Plain + Listed>(
    items: &[R],
    window: std::ops::Range<usize>,
    node: impl Fn(R) -> T,
) -> Conn<T> {
    let rows = items.get(window.start..).unwrap_or_default();
    let rows = rows[..rows.len().min(window.len() + 1)].to_vec();
    from_page(Page::of(rows, window, None), node)
}

#[cfg(test)]
mod tests {
    use async_graphql::connection::{Edge, EmptyFields};
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};

    use super::*;
    use crate::graphql::joined::tests::Thing;

    listed!(Thing);

    const ROWS: [i32; 3] = [2, 3, 4];

    /// Ours: the page 2..5 of 5 items.
    struct Ours;

    #[Object(name = "Query")]
    impl Ours {
        async fn items(&self) -> Conn<Thing> {
            from_page(Page { rows: ROWS.to_vec(), start: 1, total: 5 }, Thing)
        }
    }

    #[derive(SimpleObject)]
    struct Totals {
        /// How many items match, across all pages.
        total_count: i32,
    }

    /// async-graphql's connection over the same page.
    struct Theirs;

    #[Object(name = "Query")]
    impl Theirs {
        async fn items(&self) -> async_graphql::connection::Connection<Cursor, Thing, Totals, EmptyFields> {
            let mut conn =
                async_graphql::connection::Connection::with_additional_fields(true, true, Totals { total_count: 5 });
            conn.edges.extend(ROWS.iter().enumerate().map(|(i, &n)| Edge::new(Cursor(1 + i), Thing(n))));
            conn
        }
    }

    async fn run<Q: async_graphql::ObjectType + 'static>(query: Q, document: &str) -> serde_json::Value {
        let response = Schema::build(query, EmptyMutation, EmptySubscription).finish().execute(document).await;
        let errors: Vec<_> = response.errors.iter().map(|e| (e.message.clone(), e.path.clone())).collect();
        serde_json::json!({ "data": response.data.into_json().unwrap(), "errors": serde_json::to_value(errors).unwrap() })
    }

    /// Records which columns its list's items would need, were `id` and `name` a summary.
    struct Probe;

    #[Object(name = "Query")]
    impl Probe {
        async fn items(&self, ctx: &async_graphql::Context<'_>) -> Conn<Thing> {
            let seen = ctx.data_unchecked::<std::sync::Mutex<Vec<Columns>>>();
            seen.lock().unwrap().push(item_columns(ctx.field(), &["id", "name"]));
            from_page(Page { rows: ROWS.to_vec(), start: 1, total: 5 }, Thing)
        }
    }

    #[tokio::test]
    async fn a_list_reads_its_summary_only_when_its_items_select_nothing_else() {
        for (document, columns) in [
            ("{ items { totalCount pageInfo { hasNextPage } edges { cursor node { id name } } } }", Columns::Summary),
            (
                "{ items { nodes { id ...F } edges { node { __typename } } } } fragment F on Thing { name }",
                Columns::All,
            ),
            ("{ items { nodes { id ...F } } } fragment F on Thing { name }", Columns::Summary),
            ("{ items { nodes { id } edges { node { slow } } } }", Columns::All),
            ("{ items { nodes { id ... on Thing { slow } } } }", Columns::All),
            ("{ items { edges { node { ...F } } } } fragment F on Thing { next { id } }", Columns::All),
        ] {
            let schema = Schema::build(Probe, EmptyMutation, EmptySubscription)
                .data(std::sync::Mutex::new(Vec::<Columns>::new()))
                .finish();
            let response = schema.execute(document).await;
            assert!(response.errors.is_empty(), "{document}: {:?}", response.errors);
            let seen = schema.data::<std::sync::Mutex<Vec<Columns>>>().unwrap().lock().unwrap().clone();
            assert_eq!(seen, [columns], "{document}");
        }
    }

    #[tokio::test]
    async fn connections_answer_and_describe_themselves_as_async_graphqls() {
        assert_eq!(
            Schema::build(Ours, EmptyMutation, EmptySubscription).finish().sdl(),
            Schema::build(Theirs, EmptyMutation, EmptySubscription).finish().sdl()
        );
        for document in [
            "{ items { totalCount pageInfo { hasPreviousPage hasNextPage startCursor endCursor } edges { cursor node { id slow } } } }",
            "{ items { nodes { __typename slow id } e: edges { node { ...F } c: cursor } } } fragment F on Thing { id slow }",
            "{ items { edges { node { id broken } } } }",
            // A non-null field that fails nulls its parents up to a nullable one (here the whole
            // answer), and the errors keep their paths.
            "{ items { totalCount edges { cursor node { id must } } } }",
            "{ items { nodes { id must } } }",
        ] {
            let ours = run(Ours, document).await;
            assert_eq!(ours, run(Theirs, document).await, "{document}");
            // Only errors of execution (with a path): the document itself was valid.
            assert!(ours["errors"].as_array().unwrap().iter().all(|e| e[1].as_array().is_some_and(|p| !p.is_empty())));
        }
        let answer = run(Ours, "{ items { edges { cursor node { slow } } } }").await;
        assert_eq!(answer["data"]["items"]["edges"][2]["node"]["slow"], 40);
    }
}
