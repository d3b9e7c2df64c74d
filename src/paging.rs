//! Relay cursor paging over an ordered list: validating `first/after/last/before` and turning
//! them into an offset window. Cursors are opaque (base64 of the offset).

use std::ops::Range;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The largest page a connection serves; larger `first`/`last` values are refused.
pub const MAX_PAGE_SIZE: usize = 100;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 20;
/// The largest position a cursor may name: `totalCount` is a GraphQL `Int`, so no list has a
/// position past it, and a larger one would wrap into a negative SQL `OFFSET` (read as 0).
pub const MAX_CURSOR_OFFSET: usize = i32::MAX as usize;

/// Validated paging arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageArgs {
    pub first: Option<usize>,
    pub after: Option<usize>,
    pub last: Option<usize>,
    pub before: Option<usize>,
    /// The caller did not select `totalCount`: a forward page may skip counting.
    pub skip_count: bool,
}

impl PageArgs {
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> AppResult<PageArgs> {
        fn size(name: &str, v: Option<i32>) -> AppResult<Option<usize>> {
            match v {
                None => Ok(None),
                Some(n) if n < 0 => Err(AppError::bad_input(format!("`{name}` must not be negative"))),
                Some(n) if n as usize > MAX_PAGE_SIZE => {
                    Err(AppError::bad_input(format!("`{name}` must be at most {MAX_PAGE_SIZE} (got {n})")))
                }
                Some(n) => Ok(Some(n as usize)),
            }
        }
        Ok(PageArgs {
            skip_count: false,
            first: size("first", first)?,
            after: after
                .map(|c| decode_cursor(c).ok_or_else(|| AppError::bad_input("`after` is not a valid cursor")))
                .transpose()?,
            last: size("last", last)?,
            before: before
                .map(|c| decode_cursor(c).ok_or_else(|| AppError::bad_input("`before` is not a valid cursor")))
                .transpose()?,
        })
    }

    /// The window of a forward page (`first`/`after` only) that can be read without counting
    /// the whole list: `None` when paging backwards or when `totalCount` was asked for.
    pub fn uncounted_window(&self) -> Option<Range<usize>> {
        if !self.skip_count || self.last.is_some() || self.before.is_some() {
            return None;
        }
        let start = self.after.map_or(0, |a| a.saturating_add(1));
        Some(start..start + self.first.unwrap_or(DEFAULT_PAGE_SIZE))
    }

    /// The same page, counting only when `totalCount` is selected.
    pub fn counting_if(mut self, total_selected: bool) -> PageArgs {
        self.skip_count = !total_selected;
        self
    }

    /// The slice of a list of `total` items this page covers.
    pub fn window(&self, total: usize) -> Range<usize> {
        let mut start = self.after.map_or(0, |a| a.saturating_add(1)).min(total);
        let mut end = self.before.map_or(total, |b| b.min(total)).max(start);
        match (self.first, self.last) {
            (Some(first), _) => {
                end = end.min(start + first);
                if let Some(last) = self.last {
                    start = start.max(end.saturating_sub(last));
                }
            }
            (None, Some(last)) => start = start.max(end.saturating_sub(last)),
            (None, None) => end = end.min(start + DEFAULT_PAGE_SIZE),
        }
        start..end
    }
}

pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// The position a cursor names; `None` for anything [`encode_cursor`] could not have made.
pub fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor.trim_end_matches('=')).ok()?;
    let digits = std::str::from_utf8(&bytes).ok()?.strip_prefix("o:")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&offset| offset <= MAX_CURSOR_OFFSET)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(first: Option<usize>, after: Option<usize>, last: Option<usize>, before: Option<usize>) -> PageArgs {
        PageArgs { first, after, last, before, skip_count: false }
    }

    #[test]
    fn windows() {
        assert_eq!(args(Some(2), None, None, None).window(5), 0..2);
        assert_eq!(args(Some(2), Some(1), None, None).window(5), 2..4);
        assert_eq!(args(None, None, Some(2), None).window(5), 3..5);
        assert_eq!(args(None, None, Some(2), Some(3)).window(5), 1..3);
        assert_eq!(args(None, None, None, None).window(50), 0..DEFAULT_PAGE_SIZE);
        assert_eq!(args(Some(10), Some(99), None, None).window(5), 5..5);
    }

    #[test]
    fn cursors_round_trip_and_limits_hold() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("garbage!"), None);
        assert_eq!(decode_cursor(&encode_cursor(MAX_CURSOR_OFFSET)), Some(MAX_CURSOR_OFFSET));
        for absurd in ["o:9223372036854775807", "o:18446744073709551615", "o:2147483648", "o:+5", "o:-1", "o:"] {
            assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode(absurd)), None, "{absurd}");
        }
        assert!(PageArgs::parse(Some(101), None, None, None).is_err());
        assert!(PageArgs::parse(Some(-1), None, None, None).is_err());
        assert!(PageArgs::parse(None, Some("nope"), None, None).is_err());
    }
}
