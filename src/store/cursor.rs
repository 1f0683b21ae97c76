//! The opaque keyset cursor of `runs` pages and the page-size rule.
//!
//! A cursor is the sort key `(finished_at, id)` of the last run of a page: 32 lowercase hex
//! digits (two 64-bit values). The next page holds runs strictly older in that order, so
//! runs inserted meanwhile neither repeat nor shift the pages.

use super::StoreError;

/// Default number of runs per page.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest number of runs per page.
pub const MAX_LIMIT: u32 = 500;

/// A position in the `(finished_at, id)` order of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// `finished_at` of the last run returned, epoch ms.
    pub finished_at: i64,
    /// Integer id of the last run returned.
    pub id: i64,
}

impl Cursor {
    /// The text handed to clients.
    pub fn encode(self) -> String {
        format!("{:016x}{:016x}", self.finished_at as u64, self.id as u64)
    }

    /// Parses a client's cursor.
    pub fn decode(text: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::Invalid {
            field: "cursor",
            message: "not a cursor returned by this API (pass next_cursor as is)".into(),
        };
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let half = |s: &str| u64::from_str_radix(s, 16).map(|v| v as i64);
        match (half(&text[..16]), half(&text[16..])) {
            (Ok(finished_at), Ok(id)) => Ok(Self { finished_at, id }),
            _ => Err(invalid()),
        }
    }
}

/// The page size for a requested `limit`: default 50, at most 500, never 0.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, StoreError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(n @ 1..=MAX_LIMIT) => Ok(n),
        Some(n) => Err(StoreError::Invalid {
            field: "limit",
            message: format!("{n} is outside 1..={MAX_LIMIT}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for (finished_at, id) in [(0, 0), (1_764_150_000_000, -5), (-1, i64::MAX)] {
            let c = Cursor { finished_at, id };
            let text = c.encode();
            assert_eq!(text.len(), 32);
            assert_eq!(Cursor::decode(&text).unwrap(), c);
        }
    }

    #[test]
    fn malformed_cursors_are_invalid() {
        for text in [
            "",
            "abc",
            &"g".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
            "+0000000000000000000000000000000",
        ] {
            assert!(
                matches!(
                    Cursor::decode(text),
                    Err(StoreError::Invalid {
                        field: "cursor",
                        ..
                    })
                ),
                "{text:?}"
            );
        }
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(1)).unwrap(), 1);
        assert_eq!(page_size(Some(500)).unwrap(), 500);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(501)).is_err());
    }
}
