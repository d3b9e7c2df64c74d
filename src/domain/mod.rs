//! Plain, synchronous, database-free domain code: the vocabulary of partner support
//! (`model`), the filing rules (`policy`, R1–R15), business calendars and the SLA clock (`sla`,
//! rules S1–S5), what free text may hold (`text`), and how
//! Microsoft's vocabulary reads in ours (`upstream`), and what a partner maintains itself
//! (`admin`: agents, domains, agreements, products).
//!
//! Nothing here touches diesel, async or HTTP, so it can be tested exhaustively and fast.
//! Enums derive `async_graphql::Enum` only so the GraphQL schema can name them without a
//! parallel copy; their logic does not depend on it.

pub mod admin;
pub mod calendar;
pub mod holidays;
pub mod import;
pub mod model;
pub mod policy;
pub mod sla;
pub mod text;
pub mod upstream;
pub mod webhooks;
pub mod workflow;
