//! `--from`/`--to`: a range of flow start times, from days or times as people write them.
//!
//! A value names a unit of time: a day (`2026-11-21`), an hour (`2026-11-21T10`), a minute
//! (`2026-11-21T10:00`), a second (`2026-11-21T10:00:30`) or a fraction of one
//! (`2026-11-21T10:00:30.250`, down to microseconds). `--from` starts at the beginning of its
//! unit and `--to` takes in the whole of its unit, so `--to` is inclusive at the precision it is
//! written in, for days as for times: `--from 2026-11-21 --to 2026-11-21` is one day,
//! `--from 2026-11-21T10:00 --to 2026-11-21T10:59` one hour, and a range that ends just before
//! a time writes the unit before it. Times are UTC unless they carry an offset (`Z`, `+02:00`,
//! `-0500`, `+02`); days are UTC days. The date may also be written with slashes
//! (`2026/11/21T10:00:00.123`, as rwcut prints times) and the `T` as a blank.

use std::path::Path;

use chrono::NaiveDate;

use crate::error::{Error, Result};
use crate::ingest::fields::parse_date;

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;

/// The hive folder of rows without a start time (Hive, Spark and DuckDB read it as null).
pub(crate) const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// A half-open interval of flow start times, `[from, to)` in microseconds since the epoch (UTC);
/// either end may be open. A flow is in the range when its `stime` is; a flow without `stime` is
/// in the range only when the range is [`TimeRange::all`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
}

impl TimeRange {
    /// Every flow, including those without a start time.
    pub fn all() -> Self {
        TimeRange { from_us: None, to_us: None }
    }

    /// `--from`/`--to` as whole UTC days, both inclusive: `[from 00:00, to + 1 day 00:00)`.
    pub fn days(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<Self> {
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(Error::Usage(format!("--from {f} is after --to {t}: the range would be empty")));
            }
        }
        let start = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros();
        Ok(TimeRange {
            from_us: from.map(start),
            // The day after the last one; past chrono's last date the range is open-ended.
            to_us: to.and_then(|d| d.succ_opt()).map(start),
        })
    }

    /// `--from`/`--to` as written on the command line (see the module doc): from the start of
    /// `from`'s unit to the end of `to`'s. Errors name the option and say what is accepted.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self> {
        let unit = |flag: &str, v: Option<&str>| -> Result<Option<Unit>> {
            v.map(|v| {
                Unit::parse(v).ok_or_else(|| {
                    Error::Usage(format!(
                        "{flag} '{v}' is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]], \
                         optionally with an offset (Z, +02:00)"
                    ))
                })
            })
            .transpose()
        };
        let (f, t) = (unit("--from", from)?, unit("--to", to)?);
        if let (Some(f), Some(t)) = (f, t) {
            if f.start >= t.end {
                return Err(Error::Usage(format!(
                    "--from {} is after --to {}: the range would be empty",
                    from.unwrap_or_default().trim(),
                    to.unwrap_or_default().trim()
                )));
            }
        }
        Ok(TimeRange { from_us: f.map(|u| u.start), to_us: t.map(|u| u.end) })
    }

    pub fn is_all(&self) -> bool {
        self.from_us.is_none() && self.to_us.is_none()
    }

    pub fn contains(&self, t: i64) -> bool {
        self.from_us.is_none_or(|f| t >= f) && self.to_us.is_none_or(|e| t < e)
    }

    /// Whether `[start, end)` and the range share an instant.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        start < end && self.from_us.is_none_or(|f| end > f) && self.to_us.is_none_or(|e| start < e)
    }

    /// Whether files below `path` may hold flows of the range, judging by its hive folder names
    /// (`date=YYYY-MM-DD` components of the path as given). A value that is not a date says
    /// nothing, so the file is kept (its rows are filtered when read).
    pub fn may_hold(&self, path: &Path) -> bool {
        if self.is_all() {
            return true;
        }
        path.components().all(|c| {
            let Some(value) = c.as_os_str().to_str().and_then(|n| n.strip_prefix("date=")) else {
                return true;
            };
            if value == NULL_PARTITION {
                return false;
            }
            // One day of margin each side: `flowlens daily` files a day's whole archive under its
            // date=D folder, and an archive holds flows that started before midnight (or after, in
            // another zone's day). The row-group statistics and the row filter do the exact cut.
            match parse_date(value) {
                Some(day) => self.overlaps((day - 1) * DAY_US, (day + 2) * DAY_US),
                None => true,
            }
        })
    }
}

/// The unit of time a value names: `[start, end)` in microseconds since the epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub start: i64,
    pub end: i64,
}

impl Unit {
    /// Parses `YYYY-MM-DD[(T| )HH[:MM[:SS[.f…]]][offset]]` (or the date with `/`); `None` when
    /// the text is not such a value or names a day or time that does not exist.
    pub fn parse(text: &str) -> Option<Unit> {
        let s = text.trim().as_bytes();
        let date = s.get(..10)?;
        let sep = date[4];
        if !(sep == b'-' || sep == b'/') || date[7] != sep {
            return None;
        }
        let iso: Vec<u8> = date.iter().map(|&b| if b == b'/' { b'-' } else { b }).collect();
        let day = parse_date(std::str::from_utf8(&iso).ok()?)?;
        let midnight = day * DAY_US;
        let rest = &s[10..];
        if rest.is_empty() {
            return Some(Unit { start: midnight, end: midnight + DAY_US });
        }
        if !matches!(rest[0], b'T' | b't' | b' ') {
            return None;
        }
        let mut p = Parser { s: &rest[1..], at: 0 };
        let hour = p.two_digits(23)?;
        let mut unit = 3_600_000_000;
        let mut us = hour * unit;
        if p.eat(b':') {
            us += p.two_digits(59)? * 60_000_000;
            unit = 60_000_000;
            if p.eat(b':') {
                us += p.two_digits(59)? * 1_000_000;
                unit = 1_000_000;
                if p.eat(b'.') || p.eat(b',') {
                    let digits = p.digits();
                    if digits.is_empty() || digits.len() > 6 {
                        return None;
                    }
                    let mut frac = 0;
                    for &d in digits {
                        frac = frac * 10 + (d - b'0') as i64;
                        unit /= 10;
                    }
                    us += frac * unit;
                }
            }
        }
        let offset = p.offset()?;
        if p.at != p.s.len() {
            return None;
        }
        let start = midnight + us - offset;
        Some(Unit { start, end: start + unit })
    }
}

/// A cursor over the time part of a value.
struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.s.get(self.at) == Some(&b);
        self.at += hit as usize;
        hit
    }

    fn digits(&mut self) -> &[u8] {
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        &self.s[start..self.at]
    }

    /// Exactly two digits, at most `max`.
    fn two_digits(&mut self, max: i64) -> Option<i64> {
        let d = self.s.get(self.at..self.at + 2)?;
        if !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += 2;
        let v = ((d[0] - b'0') * 10 + (d[1] - b'0')) as i64;
        (v <= max).then_some(v)
    }

    /// An optional UTC offset (`Z`, `±HH`, `±HH:MM`, `±HHMM`) in microseconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return Some(0);
        };
        let h = self.two_digits(23)?;
        let m = if self.eat(b':') || self.at < self.s.len() { self.two_digits(59)? } else { 0 };
        Some(sign * (h * 3_600_000_000 + m * 60_000_000))
    }
}

/// Microseconds since the epoch of a UTC civil time.
#[cfg(test)]
pub(crate) fn utc_micros(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> i64 {
    crate::ingest::fields::days_from_civil(y, mo, d) * DAY_US + ((h * 60 + mi) * 60 + s) * 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-21T00:00:00Z in microseconds.
    const D2: i64 = 1_795_219_200_000_000;
    const H: i64 = 3_600_000_000;
    const M: i64 = 60_000_000;
    const S: i64 = 1_000_000;

    const D1: i64 = D2 - DAY_US;

    fn day(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    #[test]
    fn time_range_days() {
        let r = TimeRange::days(day("2026-11-21"), day("2026-11-21")).unwrap();
        assert_eq!(r, TimeRange { from_us: Some(D2), to_us: Some(D2 + DAY_US) });
        assert!(!r.is_all());
        assert!(r.contains(D2) && r.contains(D2 + DAY_US - 1));
        assert!(!r.contains(D2 - 1) && !r.contains(D2 + DAY_US));
        assert!(r.overlaps(D2 - 5, D2 + 1) && !r.overlaps(D2 - 5, D2) && !r.overlaps(D2 + DAY_US, D2 + 2 * DAY_US));
        let open = TimeRange::days(day("2026-11-21"), None).unwrap();
        assert_eq!(open, TimeRange { from_us: Some(D2), to_us: None });
        assert!(open.contains(i64::MAX) && !open.contains(D1));
        let until = TimeRange::days(None, day("2026-11-20")).unwrap();
        assert!(until.contains(i64::MIN) && until.contains(D2 - 1) && !until.contains(D2));
        let all = TimeRange::days(None, None).unwrap();
        assert!(all.is_all() && all == TimeRange::all() && all.contains(0));
        let e = TimeRange::days(day("2026-11-22"), day("2026-11-21")).unwrap_err();
        assert!(matches!(e, Error::Usage(_)));
        assert_eq!(e.to_string(), "--from 2026-11-22 is after --to 2026-11-21: the range would be empty");
    }

    fn unit(s: &str) -> (i64, i64) {
        let u = Unit::parse(s).unwrap_or_else(|| panic!("{s} does not parse"));
        (u.start - D2, u.end - D2)
    }

    #[test]
    fn units_of_days_and_times() {
        assert_eq!(utc_micros(2026, 11, 21, 0, 0, 0), D2);
        assert_eq!(unit("2026-11-21"), (0, DAY_US));
        assert_eq!(unit("2026/11/21"), (0, DAY_US));
        assert_eq!(unit(" 2026-11-21 "), (0, DAY_US));
        assert_eq!(unit("2026-11-21T10"), (10 * H, 11 * H));
        assert_eq!(unit("2026-11-21T10:00"), (10 * H, 10 * H + M));
        assert_eq!(unit("2026-11-21 10:00"), (10 * H, 10 * H + M));
        assert_eq!(unit("2026-11-21t10:00"), (10 * H, 10 * H + M));
        assert_eq!(unit("2026-11-21T10:00:30"), (10 * H + 30 * S, 10 * H + 31 * S));
        assert_eq!(unit("2026/11/21T10:00:30.250"), (10 * H + 30 * S + 250_000, 10 * H + 30 * S + 251_000));
        assert_eq!(unit("2026-11-21T10:00:30.5"), (10 * H + 30 * S + 500_000, 10 * H + 30 * S + 600_000));
        assert_eq!(unit("2026-11-21T10:00:30.000001"), (10 * H + 30 * S + 1, 10 * H + 30 * S + 2));
        assert_eq!(unit("2026-11-21T23:59:59.999999"), (DAY_US - 1, DAY_US));
        // Offsets: east of UTC is earlier in UTC.
        assert_eq!(unit("2026-11-21T10:00Z"), (10 * H, 10 * H + M));
        assert_eq!(unit("2026-11-21T10:00+02:00"), (8 * H, 8 * H + M));
        assert_eq!(unit("2026-11-21T10:00+0200"), (8 * H, 8 * H + M));
        assert_eq!(unit("2026-11-21T10:00+02"), (8 * H, 8 * H + M));
        assert_eq!(unit("2026-11-21T10:00:30-05:30"), (15 * H + 30 * M + 30 * S, 15 * H + 30 * M + 31 * S));
        assert_eq!(unit("2026-11-21T01:00+02:00"), (-H, -H + M));
        for bad in [
            "2026-11-31",
            "2026-13-01",
            "2026-11-21T24:00",
            "2026-11-21T10:60",
            "2026-11-21T10:00:60",
            "2026-11-21T1:00",
            "2026-11-21T10:0",
            "2026-11-21T10:00:30.",
            "2026-11-21T10:00:30.1234567",
            "2026-11-21T10:00+2",
            "2026-11-21T10:00+02:0",
            "2026-11-21T10:00 UTC",
            "2026-11-21X10:00",
            "2026-11-21T",
            "2026-11/21",
            "26-11-21",
            "yesterday",
            "",
            "2026-11-21T10:00+24:00",
            "2026-11-21T10:00+02:",
        ] {
            assert_eq!(Unit::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn ranges_take_in_the_whole_unit_of_to() {
        let r = |f: Option<&str>, t: Option<&str>| TimeRange::parse(f, t).unwrap();
        let rel = |r: TimeRange| (r.from_us.map(|v| v - D2), r.to_us.map(|v| v - D2));
        // Days as before: both inclusive.
        assert_eq!(
            r(Some("2026-11-21"), Some("2026-11-21")),
            TimeRange::days("2026-11-21".parse().ok(), "2026-11-21".parse().ok()).unwrap()
        );
        assert_eq!(rel(r(Some("2026-11-21"), Some("2026-11-21"))), (Some(0), Some(DAY_US)));
        assert_eq!(rel(r(Some("2026-11-21T10:00"), Some("2026-11-21T11:00"))), (Some(10 * H), Some(11 * H + M)));
        assert_eq!(rel(r(Some("2026-11-21T10:00"), Some("2026-11-21T10:59"))), (Some(10 * H), Some(11 * H)));
        assert_eq!(rel(r(None, Some("2026-11-21T10:00:30"))), (None, Some(10 * H + 31 * S)));
        assert_eq!(rel(r(Some("2026-11-21T10:00:30.5"), None)), (Some(10 * H + 30 * S + 500_000), None));
        // A day and a time mix: to the end of the day.
        assert_eq!(rel(r(Some("2026-11-21T22:00"), Some("2026-11-21"))), (Some(22 * H), Some(DAY_US)));
        // A start inside the unit of --to is a range.
        assert_eq!(
            rel(r(Some("2026-11-21T10:00:30"), Some("2026-11-21T10:00"))),
            (Some(10 * H + 30 * S), Some(10 * H + M))
        );
        assert!(r(None, None).is_all());
        let e = |f: &str, t: &str| TimeRange::parse(Some(f), Some(t)).unwrap_err().to_string();
        assert_eq!(
            e("2026-11-22", "2026-11-21"),
            "--from 2026-11-22 is after --to 2026-11-21: the range would be empty"
        );
        assert_eq!(
            e("2026-11-21T10:01", "2026-11-21T10:00"),
            "--from 2026-11-21T10:01 is after --to 2026-11-21T10:00: the range would be empty"
        );
        // The same instant in another zone.
        assert!(TimeRange::parse(Some("2026-11-21T12:00+02:00"), Some("2026-11-21T10:00")).is_ok());
        assert!(TimeRange::parse(Some("2026-11-21T12:01+02:00"), Some("2026-11-21T10:00")).is_err());
        let bad = TimeRange::parse(None, Some("2026-11-31")).unwrap_err();
        assert!(matches!(bad, Error::Usage(_)));
        assert_eq!(
            bad.to_string(),
            "--to '2026-11-31' is not a date or time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS[.ffffff]], \
             optionally with an offset (Z, +02:00)"
        );
        assert!(TimeRange::parse(Some("soon"), None).unwrap_err().to_string().starts_with("--from 'soon' is not"));
    }
}
