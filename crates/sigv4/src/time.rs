//! Timestamps as SigV4 writes them: ISO 8601 basic format (`20150830T123600Z`) in UTC, and the
//! IMF-fixdate form (`Sun, 30 Aug 2015 12:36:00 GMT`) that a `Date` header may carry instead.
//!
//! Only whole seconds exist in SigV4, so a timestamp is a count of seconds since the Unix epoch.
//! The civil-date arithmetic is the proleptic Gregorian calendar (Howard Hinnant's
//! `days_from_civil` algorithm), valid for years 0000..=9999, which is every year the formats
//! can spell.

use irsa_calendar::{civil_from_days, days_from_civil, days_in_month};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time with one-second resolution, as carried by `X-Amz-Date`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AmzDate {
    /// Seconds since 1970-01-01T00:00:00Z; negative before the epoch.
    secs: i64,
}

impl AmzDate {
    /// The timestamp `secs` seconds after the Unix epoch (negative: before it).
    pub fn from_unix_seconds(secs: i64) -> Self {
        Self { secs }
    }

    /// Truncates a `SystemTime` to whole seconds (times before 1970 are supported).
    pub fn from_system_time(t: SystemTime) -> Self {
        let secs = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => {
                let d = e.duration();
                // Round towards negative infinity so that 1969-12-31T23:59:59.5Z is ...:59.
                let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() > 0 {
                    whole.saturating_add(1).saturating_neg()
                } else {
                    whole.saturating_neg()
                }
            }
        };
        Self { secs }
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    /// This timestamp as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs())
        }
    }

    /// `self + secs`, saturating.
    pub(crate) fn plus(self, secs: i64) -> Self {
        Self {
            secs: self.secs.saturating_add(secs),
        }
    }

    /// Parses the ISO 8601 basic format `YYYYMMDD'T'HHMMSS'Z'` exactly (16 ASCII characters).
    pub fn parse_iso8601_basic(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
            return None;
        }
        let year = digits(&b[0..4])?;
        let month = digits(&b[4..6])?;
        let day = digits(&b[6..8])?;
        let hour = digits(&b[9..11])?;
        let minute = digits(&b[11..13])?;
        let second = digits(&b[13..15])?;
        Self::from_civil(year, month, day, hour, minute, second)
    }

    /// Parses an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 30 Aug 2015 12:36:00 GMT`.
    pub fn parse_imf_fixdate(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 29 || &b[3..5] != b", " || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
            return None;
        }
        if b[19] != b':' || b[22] != b':' || &b[25..29] != b" GMT" {
            return None;
        }
        const DAYS: [&[u8]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
        const MONTHS: [&[u8]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
        ];
        let day = digits(&b[5..7])?;
        let month = MONTHS.iter().position(|m| *m == &b[8..11])? as u32 + 1;
        let year = digits(&b[12..16])?;
        let hour = digits(&b[17..19])?;
        let minute = digits(&b[20..22])?;
        let second = digits(&b[23..25])?;
        let t = Self::from_civil(year, month, day, hour, minute, second)?;
        // The weekday must agree with the date.
        let weekday = t.secs.div_euclid(86_400).rem_euclid(7) as usize;
        (DAYS[weekday] == &b[0..3]).then_some(t)
    }

    fn from_civil(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(i64::from(year), month) {
            return None;
        }
        // A leap second (60) does not exist in SigV4 time and is rejected.
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(i64::from(year), month, day);
        Some(Self {
            secs: days * 86_400 + i64::from(hour * 3600 + minute * 60 + second),
        })
    }

    /// `(year, month, day, hour, minute, second)` in UTC.
    fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, rem / 3600, rem / 60 % 60, rem % 60)
    }

    /// The `YYYYMMDD` date stamp used in the credential scope.
    pub fn date_stamp(self) -> String {
        let (y, m, d, ..) = self.civil();
        format!("{y:04}{m:02}{d:02}")
    }
}

/// Formats as ISO 8601 basic format, `YYYYMMDD'T'HHMMSS'Z'`.
impl fmt::Display for AmzDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, mo, d, h, mi, s) = self.civil();
        write!(f, "{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_basic() {
        let t = AmzDate::parse_iso8601_basic("20150830T123600Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_440_938_160);
        assert_eq!(t.to_string(), "20150830T123600Z");
        assert_eq!(t.date_stamp(), "20150830");
    }

    #[test]
    fn rejects_malformed_basic() {
        for s in [
            "",
            "2015",
            "20150830T123600",
            "20150830T123600z",
            "20150830 123600Z",
            "2015083OT123600Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "+0150830T123600Z",
            "20150830T123600Z ",
            "２0150830T123600Z",
        ] {
            assert_eq!(AmzDate::parse_iso8601_basic(s), None, "{s:?}");
        }
        assert!(AmzDate::parse_iso8601_basic("20240229T000000Z").is_some());
        assert!(AmzDate::parse_iso8601_basic("20230229T000000Z").is_none());
        assert!(AmzDate::parse_iso8601_basic("21000229T000000Z").is_none());
        assert!(AmzDate::parse_iso8601_basic("20000229T000000Z").is_some());
    }

    #[test]
    fn imf_fixdate() {
        let t = AmzDate::parse_imf_fixdate("Sun, 30 Aug 2015 12:36:00 GMT").unwrap();
        assert_eq!(t.to_string(), "20150830T123600Z");
        assert_eq!(
            AmzDate::parse_imf_fixdate("Mon, 30 Aug 2015 12:36:00 GMT"),
            None,
            "wrong weekday"
        );
        assert_eq!(AmzDate::parse_imf_fixdate("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(AmzDate::parse_imf_fixdate("Sun, 30 Foo 2015 12:36:00 GMT"), None);
    }

    #[test]
    fn round_trips_every_day_for_centuries() {
        let mut secs = days_from_civil(1600, 1, 1) * 86_400 + 3_723;
        let end = days_from_civil(2500, 1, 1) * 86_400;
        while secs < end {
            let t = AmzDate::from_unix_seconds(secs);
            assert_eq!(AmzDate::parse_iso8601_basic(&t.to_string()), Some(t));
            secs += 86_400;
        }
    }

    #[test]
    fn system_time_conversion() {
        let t = AmzDate::parse_iso8601_basic("19691231T235959Z").unwrap();
        assert_eq!(t.unix_seconds(), -1);
        assert_eq!(AmzDate::from_system_time(t.to_system_time()), t);
        let half = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(AmzDate::from_system_time(half).unix_seconds(), -1);
        let later = UNIX_EPOCH + Duration::from_millis(1_500);
        assert_eq!(AmzDate::from_system_time(later).unix_seconds(), 1);
    }
}
