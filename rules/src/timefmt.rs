//! Epoch milliseconds as RFC 3339 text, in UTC: the one way linkguard prints a
//! time, for chat replies, the CLI's reports and audit exports, and scan
//! reports alike. It lives in this pure crate because both the service and the
//! export scanner print times and both depend on it.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Epoch milliseconds as RFC 3339 in UTC, with the milliseconds when there are
/// any (`2024-01-02T00:00:01Z`, `2024-01-02T00:00:01.25Z`), or `None` for a
/// time outside the years RFC 3339 can write (0000–9999).
pub fn rfc3339(ms: i64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&Rfc3339).ok()
}

/// [`rfc3339`] to the whole second (rounded down), for people and reports.
pub fn rfc3339_seconds(ms: i64) -> Option<String> {
    rfc3339(ms.div_euclid(1000) * 1000)
}

/// [`rfc3339`], or `<ms>ms` for a time it cannot write, so that an audit
/// record or a report line never loses its time.
pub fn format_time(ms: i64) -> String {
    rfc3339(ms).unwrap_or_else(|| format!("{ms}ms"))
}

/// [`rfc3339_seconds`], or `<ms>ms`: for people, to whom an exception's end
/// reads better without a fraction.
pub fn format_time_seconds(ms: i64) -> String {
    rfc3339_seconds(ms).unwrap_or_else(|| format!("{ms}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_have_no_fraction() {
        assert_eq!(format_time(1_704_153_601_000), "2024-01-02T00:00:01Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn milliseconds_are_kept_unless_asked_for_seconds() {
        assert_eq!(format_time(1_704_153_601_250), "2024-01-02T00:00:01.25Z");
        assert_eq!(
            format_time_seconds(1_704_153_601_250),
            "2024-01-02T00:00:01Z"
        );
        assert_eq!(format_time_seconds(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_seconds(1_577_836_800_999).as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
    }

    #[test]
    fn times_rfc_3339_cannot_write_are_not_lost() {
        assert_eq!(rfc3339(i64::MAX), None);
        assert_eq!(format_time(i64::MAX), format!("{}ms", i64::MAX));
        // Year 10000 and year -1 exist for `time` but not for RFC 3339.
        assert_eq!(rfc3339(253_402_300_800_000), None);
        assert_eq!(rfc3339(-62_167_219_200_001), None);
    }
}
