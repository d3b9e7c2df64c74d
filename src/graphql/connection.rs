//! Relay connections: `edges { cursor node }`, `pageInfo` and `totalCount`.

use async_graphql::SimpleObject;
use async_graphql::connection::{Connection, CursorType, Edge, EmptyFields};
use async_graphql::resolver_utils::ContainerType;

use super::joined::Joined;
use crate::paging::{PageArgs, decode_cursor, encode_cursor};
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

/// Fields every connection carries besides its edges.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many items match, across all pages.
    pub total_count: i32,
}

/// A page of `T`. Its nodes resolve their fields joined ([`Joined`]): a page lists them by the
/// hundred, nested pages by the thousand.
pub type Conn<T> = Connection<Cursor, Joined<T>, ConnectionTotals, EmptyFields>;

/// An edge outside a connection (a mutation's payload), the same type as a connection's edge.
pub type EdgeOf<T> = Edge<Cursor, Joined<T>, EmptyFields>;

/// A connection over a page the database cut.
pub fn from_page<R, T: ContainerType>(page: Page<R>, node: impl Fn(R) -> T) -> Conn<T> {
    let end = page.start + page.rows.len();
    let mut conn = Connection::with_additional_fields(
        page.start > 0,
        end < page.total,
        ConnectionTotals { total_count: page.total as i32 },
    );
    conn.edges
        .extend(page.rows.into_iter().enumerate().map(|(i, r)| Edge::new(Cursor(page.start + i), Joined(node(r)))));
    conn
}

/// A connection over a full list the loader brought (a nested connection), cut here.
pub fn from_list<R: Clone, T: ContainerType>(items: &[R], args: &PageArgs, node: impl Fn(R) -> T) -> Conn<T> {
    let window = args.window(items.len());
    let page = Page { rows: items[window.clone()].to_vec(), start: window.start, total: items.len() };
    from_page(page, node)
}

/// A connection over the first rows of a list (from its beginning), read one past the page's
/// `window` by a loader that cut the list in the database: a forward page that does not count.
pub fn from_first<R: Clone, T: ContainerType>(
    items: &[R],
    window: std::ops::Range<usize>,
    node: impl Fn(R) -> T,
) -> Conn<T> {
    let rows = items.get(window.start..).unwrap_or_default();
    let rows = rows[..rows.len().min(window.len() + 1)].to_vec();
    from_page(Page::of(rows, window, None), node)
}
