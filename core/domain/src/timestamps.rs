//! Timestamps: stored as integer milliseconds since the Unix epoch, shown as RFC 3339.

use time::OffsetDateTime;

/// The current time, truncated to whole milliseconds (the stored precision).
pub fn now() -> OffsetDateTime {
    from_millis(to_millis(OffsetDateTime::now_utc()))
}

/// Milliseconds since the Unix epoch, as stored in the database.
pub fn to_millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The time `millis` milliseconds after the Unix epoch (UTC). Out-of-range values clamp to the
/// epoch, which a database written by Komander never holds.
pub fn from_millis(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip() {
        let at = now();
        assert_eq!(from_millis(to_millis(at)), at);
    }
}
