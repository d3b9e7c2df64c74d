//! The schema's own scalars, published with a description and a `@specifiedBy` URL, so that
//! client generators can map them (see the README's "Clients" section).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// How `DateTime` is described (the type is chrono's, whose own description says nothing).
pub const DATE_TIME_DESCRIPTION: &str = "An instant: an RFC 3339 date and time with an offset, e.g. \
`2026-11-25T15:00:00Z`. The gateway always answers in UTC (`Z`) and accepts any offset.";

/// A calendar date without a time of day or a time zone.
pub struct Date(pub NaiveDate);

/// A calendar date without a time of day or a time zone: `YYYY-MM-DD` (ISO 8601), e.g.
/// `2026-12-24`.
#[Scalar(name = "Date", specified_by_url = "https://scalars.graphql.org/andimarek/local-date.html")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("`{s}` is not a date: expected YYYY-MM-DD"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Any JSON value (RFC 8259): an object, array, string, number, boolean or null.
pub struct Json(pub serde_json::Value);

/// Any JSON value (RFC 8259): an object, array, string, number, boolean or null. The field
/// that returns it says what shape to expect.
#[Scalar(name = "JSON", specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259")]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(Json).map_err(|e| InputValueError::custom(e.to_string()))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}
