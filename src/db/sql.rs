//! SQL text inside a diesel query that diesel still prepares once per connection and reuses.
//!
//! diesel never caches the statement of a query holding a `dsl::sql` literal: its cache is
//! keyed by the statement's text, and a literal could make that text different every time.
//! PostgreSQL then parsed and planned the benchmark's Q2 (customer search), Q3 (nested pages)
//! and Q4 (open requests by due time) on every request. [`sql`] builds the same kind of
//! fragment without that mark, so it must only be given text drawn from a fixed set (this
//! crate's constants, table and column names), never anything a caller sent: every value goes
//! through [`Sql::bind`].

use std::borrow::Cow;
use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, AsExpression, Expression, SelectableExpression, TypedExpressionType, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::SqlType;

/// SQL text of type `ST` with its binds, as `diesel::dsl::sql`, but cacheable (see the module).
#[derive(Debug, Clone)]
pub struct Sql<ST, T> {
    parts: T,
    _type: PhantomData<ST>,
}

/// SQL text from a fixed set; see the module for why it must never come from input.
pub fn sql<ST: TypedExpressionType>(text: impl Into<Cow<'static, str>>) -> Sql<ST, Text> {
    Sql { parts: Text(text.into()), _type: PhantomData }
}

impl<ST, T> Sql<ST, T> {
    /// Appends text.
    pub fn sql(self, text: impl Into<Cow<'static, str>>) -> Sql<ST, Then<T, Text>> {
        Sql { parts: Then(self.parts, Text(text.into())), _type: PhantomData }
    }

    /// Appends a bind parameter.
    pub fn bind<BindST, U>(self, value: U) -> Sql<ST, Then<T, U::Expression>>
    where
        BindST: SqlType + TypedExpressionType,
        U: AsExpression<BindST>,
    {
        Sql { parts: Then(self.parts, value.as_expression()), _type: PhantomData }
    }
}

/// A piece of text.
#[derive(Debug, Clone)]
pub struct Text(Cow<'static, str>);

/// One piece after another.
#[derive(Debug, Clone)]
pub struct Then<A, B>(A, B);

impl<DB: Backend> QueryFragment<DB> for Text {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(&self.0);
        Ok(())
    }
}

impl<DB: Backend, A: QueryFragment<DB>, B: QueryFragment<DB>> QueryFragment<DB> for Then<A, B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        self.1.walk_ast(out.reborrow())
    }
}

impl<DB: Backend, ST, T: QueryFragment<DB>> QueryFragment<DB> for Sql<ST, T> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.parts.walk_ast(out)
    }
}

impl<ST: TypedExpressionType, T> Expression for Sql<ST, T> {
    type SqlType = ST;
}

/// No static id: diesel keys the cached statement by its text (and bind types).
impl<ST, T> QueryId for Sql<ST, T> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS, ST, T> SelectableExpression<QS> for Sql<ST, T> where Self: Expression {}

impl<QS, ST, T> AppearsOnTable<QS> for Sql<ST, T> where Self: Expression {}

impl<ST, T, GB> ValidGrouping<GB> for Sql<ST, T> {
    type IsAggregate = is_aggregate::Never;
}

/// A text expression a statement may filter by but never reach rows through: a partner's scope
/// in a batched statement, whose rows are reached through its keys (a partner's index would
/// walk everything the partner owns, whatever the keys). On SQLite `+column`, the documented
/// way to keep a term from driving an index; on PostgreSQL `(column || '')`, an expression no
/// index covers. Without it, both chose between the keys and the partner's index by the
/// statistics: PostgreSQL read every request of the partner through an index for the notes of
/// 100 requests at `--scale 500` (`tests/plans.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Unindexed<E>(E);

/// See [`Unindexed`].
pub fn unindexed<E: Expression>(expression: E) -> Unindexed<E> {
    Unindexed(expression)
}

impl<E: Expression> Expression for Unindexed<E> {
    type SqlType = E::SqlType;
}

impl<E: QueryId> QueryId for Unindexed<E> {
    type QueryId = Unindexed<E::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = E::HAS_STATIC_QUERY_ID;
}

impl<QS, E: SelectableExpression<QS>> SelectableExpression<QS> for Unindexed<E> where Self: AppearsOnTable<QS> {}

impl<QS, E: AppearsOnTable<QS>> AppearsOnTable<QS> for Unindexed<E> where Self: Expression {}

impl<E: ValidGrouping<GB>, GB> ValidGrouping<GB> for Unindexed<E> {
    type IsAggregate = E::IsAggregate;
}

#[cfg(feature = "sqlite")]
impl<E: QueryFragment<diesel::sqlite::Sqlite>> QueryFragment<diesel::sqlite::Sqlite> for Unindexed<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        out.push_sql("+");
        self.0.walk_ast(out)
    }
}

#[cfg(feature = "postgres")]
impl<E: QueryFragment<diesel::pg::Pg>> QueryFragment<diesel::pg::Pg> for Unindexed<E> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" || '')");
        Ok(())
    }
}

/// The `QuerySource` of a wrapper around one table `T` ([`IndexedBy`], [`Derived`]): it selects
/// the table's columns, and it appears in a statement wherever the table does.
macro_rules! reads_one_table {
    ($(#[$attr:meta])* $source:ident<T, $p:ident: $bound:path>) => {
        $(#[$attr])*
        impl<T, $p: $bound> diesel::QuerySource for $source<T, $p>
        where
            T: diesel::Table + Clone,
            T::DefaultSelection: ValidGrouping<()> + SelectableExpression<$source<T, $p>>,
        {
            type FromClause = Self;
            type DefaultSelection = T::DefaultSelection;

            fn from_clause(&self) -> Self {
                self.clone()
            }

            fn default_selection(&self) -> Self::DefaultSelection {
                self.table.default_selection()
            }
        }

        $(#[$attr])*
        impl<T, $p, U> diesel::query_source::AppearsInFromClause<U> for $source<T, $p>
        where
            T: diesel::query_source::AppearsInFromClause<U>,
        {
            type Count = T::Count;
        }
    };
}

/// A table read through a named index: `table INDEXED BY index` on SQLite, which refuses to
/// prepare the statement rather than plan it any other way; the plain table on PostgreSQL.
/// The batched statements read their driving table through it, so that a small table or a
/// batch whose keys cover most of a table (every product of a page's customers) is still read
/// through its keys (`tests/plans.rs`). Build it with [`indexed_by`] and an index of
/// [`crate::db::schema::indexes`]; columns of a table declared with [`table!`](crate::table)
/// can be selected from it. It reads one table (no joins): a batched statement that needs
/// another table's rows reads them by id, or scopes its rows through a subquery.
///
/// The index is a type, so the statement keeps a static query id: diesel finds its prepared
/// statement by type instead of building the statement's text to look it up.
#[derive(Debug, Clone, Copy)]
pub struct IndexedBy<T, I> {
    table: T,
    index: PhantomData<I>,
}

/// An index, by name (see [`crate::db::schema::indexes`]).
pub trait IndexName: Copy + Send + Sync + 'static {
    const NAME: &'static str;
}

/// A query of `table` read through `index` (see [`IndexedBy`]).
pub fn indexed_by<T, I>(
    table: T,
    _index: I,
) -> diesel::query_builder::SelectStatement<diesel::query_builder::FromClause<IndexedBy<T, I>>>
where
    T: diesel::Table + Clone,
    I: IndexName,
    T::DefaultSelection: ValidGrouping<()> + SelectableExpression<IndexedBy<T, I>>,
{
    diesel::query_builder::AsQuery::as_query(IndexedBy { table, index: PhantomData })
}

impl<T: QueryId, I: IndexName> QueryId for IndexedBy<T, I> {
    type QueryId = IndexedBy<T::QueryId, I>;
    const HAS_STATIC_QUERY_ID: bool = T::HAS_STATIC_QUERY_ID;
}

reads_one_table!(IndexedBy<T, I: IndexName>);

#[cfg(feature = "sqlite")]
impl<T: QueryFragment<diesel::sqlite::Sqlite>, I: IndexName> QueryFragment<diesel::sqlite::Sqlite> for IndexedBy<T, I> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::sqlite::Sqlite>) -> QueryResult<()> {
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" INDEXED BY ");
        out.push_identifier(I::NAME)
    }
}

#[cfg(feature = "postgres")]
impl<T: QueryFragment<diesel::pg::Pg>, I> QueryFragment<diesel::pg::Pg> for IndexedBy<T, I> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.table.walk_ast(out)
    }
}

impl<T, I> diesel::query_builder::AsQuery for IndexedBy<T, I>
where
    T: diesel::Table + Clone,
    I: IndexName,
    T::DefaultSelection: ValidGrouping<()> + SelectableExpression<IndexedBy<T, I>>,
{
    type SqlType = <T::DefaultSelection as Expression>::SqlType;
    type Query = diesel::query_builder::SelectStatement<diesel::query_builder::FromClause<Self>>;

    fn as_query(self) -> Self::Query {
        diesel::query_builder::SelectStatement::simple(self)
    }
}

/// A table's rows as a derived table on PostgreSQL: `FROM <from> AS "table"`, where `from`
/// yields rows of the table's columns (e.g. `unnest(…) CROSS JOIN LATERAL (SELECT x.* FROM
/// table x …)`). The statement still selects the table's columns by diesel's DSL, read by
/// position, but from the rows `from` produced, where a filter on the table's id made
/// PostgreSQL find every one of them again through the primary key. Build it with [`derived`];
/// like [`IndexedBy`] it reads one table (no joins).
///
/// The fragment's text is part of the statement's cache key (no static query id), so, as with
/// [`sql`], it must come from a fixed set.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone)]
pub struct Derived<T, F> {
    table: T,
    from: F,
}

/// A query of `table`'s rows as `from` yields them (see [`Derived`]).
#[cfg(feature = "postgres")]
pub fn derived<T, F>(
    table: T,
    from: F,
) -> diesel::query_builder::SelectStatement<diesel::query_builder::FromClause<Derived<T, F>>>
where
    T: diesel::Table + Clone,
    F: Clone,
    T::DefaultSelection: ValidGrouping<()> + SelectableExpression<Derived<T, F>>,
{
    diesel::query_builder::SelectStatement::simple(Derived { table, from })
}

#[cfg(feature = "postgres")]
impl<T, F> QueryId for Derived<T, F> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

reads_one_table!(#[cfg(feature = "postgres")] Derived<T, F: Clone>);

#[cfg(feature = "postgres")]
impl<T: QueryFragment<diesel::pg::Pg>, F: QueryFragment<diesel::pg::Pg>> QueryFragment<diesel::pg::Pg>
    for Derived<T, F>
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, diesel::pg::Pg>) -> QueryResult<()> {
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" AS ");
        self.table.walk_ast(out)
    }
}

/// `diesel::table!`, for the tables of [`crate::db::schema`], with each column selectable from
/// the table read through an index ([`IndexedBy`]).
#[macro_export]
macro_rules! table {
    ($name:ident ($($key:ident),+) { $($column:ident -> $type:ty,)* }) => {
        diesel::table! {
            $name ($($key),+) {
                $($column -> $type,)*
            }
        }
        $(impl<I> diesel::SelectableExpression<$crate::db::sql::IndexedBy<$name::table, I>> for $name::$column {})*
        $(
            #[cfg(feature = "postgres")]
            impl<F> diesel::SelectableExpression<$crate::db::sql::Derived<$name::table, F>> for $name::$column {}
        )*
    };
}

/// `T::as_select()`, its column list rendered once per row type and backend ([`row_columns`]).
///
/// diesel walks a select clause column by column every time it builds a statement (to write
/// its text, to collect its binds, to decide whether it may be cached), quoting every name
/// with an allocation: for the 45 columns of a service request, ~57,000 instructions a
/// statement, a fifth of a whole `node(id:)` request (`benches/instructions.sh`). This writes
/// the text diesel wrote the first time. Its type, its query id (the statement cache's key)
/// and the rows it loads are those of `T::as_select()`.
pub struct Rendered<T, DB>(PhantomData<fn() -> (T, DB)>);

/// The columns of row type `T`, as `T::as_select()` selects them (see [`Rendered`]).
pub fn row_columns<T, DB>() -> Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
{
    Rendered(PhantomData)
}

type SelectBy<T, DB> = diesel::helper_types::AsSelect<T, DB>;

impl<T, DB> Expression for Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
    SelectBy<T, DB>: Expression,
{
    type SqlType = <SelectBy<T, DB> as Expression>::SqlType;
}

impl<T, DB> QueryId for Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
    SelectBy<T, DB>: QueryId,
{
    type QueryId = <SelectBy<T, DB> as QueryId>::QueryId;
    const HAS_STATIC_QUERY_ID: bool = <SelectBy<T, DB> as QueryId>::HAS_STATIC_QUERY_ID;
}

impl<T, DB, GB> ValidGrouping<GB> for Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
    SelectBy<T, DB>: ValidGrouping<GB>,
{
    type IsAggregate = <SelectBy<T, DB> as ValidGrouping<GB>>::IsAggregate;
}

impl<T, DB, QS> SelectableExpression<QS> for Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
    SelectBy<T, DB>: SelectableExpression<QS>,
    Self: AppearsOnTable<QS>,
{
}

impl<T, DB, QS> AppearsOnTable<QS> for Rendered<T, DB>
where
    T: diesel::Selectable<DB>,
    DB: Backend,
    SelectBy<T, DB>: AppearsOnTable<QS>,
    Self: Expression,
{
}

impl<T, DB> QueryFragment<DB> for Rendered<T, DB>
where
    T: diesel::Selectable<DB> + 'static,
    DB: Backend + Default + 'static,
    DB::QueryBuilder: Default,
    SelectBy<T, DB>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(rendered::<T, DB>()?);
        Ok(())
    }
}

/// The text of `T::as_select()` on `DB`, written once (a few dozen row types in all).
fn rendered<T, DB>() -> QueryResult<&'static str>
where
    T: diesel::Selectable<DB> + 'static,
    DB: Backend + Default + 'static,
    DB::QueryBuilder: Default,
    SelectBy<T, DB>: QueryFragment<DB>,
{
    use diesel::query_builder::QueryBuilder;
    use std::any::TypeId;
    use std::collections::HashMap;
    use std::sync::{OnceLock, RwLock};
    static TEXTS: OnceLock<RwLock<HashMap<TypeId, &'static str>>> = OnceLock::new();
    let texts = TEXTS.get_or_init(Default::default);
    let key = TypeId::of::<(T, DB)>();
    if let Some(text) = texts.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(text);
    }
    let mut builder = DB::QueryBuilder::default();
    <T as diesel::SelectableHelper<DB>>::as_select().to_sql(&mut builder, &DB::default())?;
    let text: &'static str = Box::leak(builder.finish().into_boxed_str());
    Ok(*texts.write().unwrap_or_else(|e| e.into_inner()).entry(key).or_insert(text))
}

#[cfg(all(test, feature = "postgres", feature = "sqlite"))]
mod tests {
    use diesel::query_builder::QueryFragment;
    use diesel::sql_types::{Bool, Text};
    use diesel::{ExpressionMethods, QueryDsl};

    use crate::db::schema::customers;

    fn cacheable<DB: diesel::backend::Backend>(query: &impl QueryFragment<DB>, backend: &DB) -> bool {
        query.is_safe_to_cache_prepared(backend).unwrap()
    }

    #[test]
    fn a_query_with_fixed_text_stays_cacheable_on_both_backends() {
        let q = customers::table
            .filter(customers::partner_id.eq("p"))
            .filter(super::sql::<Bool>("customers.id IN (SELECT 1 WHERE ").bind::<Text, _>("x").sql(" = 'x')"));
        assert!(cacheable(&q, &diesel::pg::Pg));
        assert!(cacheable(&q, &diesel::sqlite::Sqlite));
        let with_literal = customers::table.filter(diesel::dsl::sql::<Bool>("true"));
        assert!(!cacheable(&with_literal, &diesel::pg::Pg), "diesel's own literal is never cached");
    }

    #[test]
    fn binds_and_text_come_out_in_order() {
        let q = customers::table
            .select(customers::id)
            .filter(super::sql::<Bool>("a = ").bind::<Text, _>("x").sql(" AND b = ").bind::<Text, _>("y"));
        let text = diesel::debug_query::<diesel::pg::Pg, _>(&q).to_string();
        assert!(text.contains(r#"WHERE a = $1 AND b = $2 -- binds: ["x", "y"]"#), "{text}");
    }

    #[test]
    fn rendered_columns_are_the_text_diesel_writes_and_stay_cacheable() {
        use diesel::SelectableHelper;
        use diesel::debug_query;

        use crate::db::models::{CustomerRow, ServiceRequestRow};
        use crate::db::schema::service_requests;

        fn both<DB>() -> (String, String)
        where
            DB: diesel::backend::Backend + Default + 'static,
            DB::QueryBuilder: Default,
            CustomerRow: diesel::Selectable<DB>,
            ServiceRequestRow: diesel::Selectable<DB>,
            diesel::helper_types::AsSelect<ServiceRequestRow, DB>: QueryFragment<DB>,
            diesel::helper_types::AsSelect<CustomerRow, DB>: QueryFragment<DB>,
        {
            let mut ours = String::new();
            // Twice: the second time from the stored text.
            for _ in 0..2 {
                let mut builder = DB::QueryBuilder::default();
                super::row_columns::<ServiceRequestRow, DB>().to_sql(&mut builder, &DB::default()).unwrap();
                super::row_columns::<CustomerRow, DB>().to_sql(&mut builder, &DB::default()).unwrap();
                ours = diesel::query_builder::QueryBuilder::finish(builder);
            }
            let mut builder = DB::QueryBuilder::default();
            ServiceRequestRow::as_select().to_sql(&mut builder, &DB::default()).unwrap();
            CustomerRow::as_select().to_sql(&mut builder, &DB::default()).unwrap();
            (ours, diesel::query_builder::QueryBuilder::finish(builder))
        }
        let (ours, theirs) = both::<diesel::pg::Pg>();
        assert_eq!(ours, theirs);
        assert!(ours.contains("\"service_requests\".\"sla_due_at\""), "{ours}");
        let (ours, theirs) = both::<diesel::sqlite::Sqlite>();
        assert_eq!(ours, theirs);
        // A whole statement: the same text and binds, and still prepared once per connection.
        let q = service_requests::table.filter(service_requests::id.eq("r-1"));
        let ours = q.select(super::row_columns::<ServiceRequestRow, _>());
        let theirs = q.select(ServiceRequestRow::as_select());
        assert_eq!(
            debug_query::<diesel::pg::Pg, _>(&ours).to_string(),
            debug_query::<diesel::pg::Pg, _>(&theirs).to_string()
        );
        assert!(cacheable(&ours, &diesel::pg::Pg));
        let on_sqlite = q.select(super::row_columns::<ServiceRequestRow, diesel::sqlite::Sqlite>());
        assert!(cacheable(&on_sqlite, &diesel::sqlite::Sqlite));
    }
}
