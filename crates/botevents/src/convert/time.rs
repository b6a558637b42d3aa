//! Timestamp parsing: the vendor's fixed `YYYY-MM-DDTHH:MM:SS.sssZ` on a fast path, anything
//! RFC 3339-like on a general one. Results are microseconds since the Unix epoch (UTC).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;
pub(crate) const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The earliest instant a table accepts, 0001-01-01T00:00:00Z: the first day that BigQuery,
/// Snowflake and DuckDB can all hold (and that an `event_date=` partition can name). The vendor's
/// timestamps are recent; an earlier one is a placeholder or corruption, rejected with its row.
pub const MIN_MICROS: i64 = -62_135_596_800_000_000;

/// The latest instant a table accepts, 9999-12-31T23:59:59.999999Z, for the same reason.
pub const MAX_MICROS: i64 = 253_402_300_799_999_999;

/// Whether an instant lies in [`MIN_MICROS`]`..=`[`MAX_MICROS`].
pub fn in_range(micros: i64) -> bool {
    (MIN_MICROS..=MAX_MICROS).contains(&micros)
}

/// The accepted range, as said in a rejection.
pub const RANGE_TEXT: &str = "0001-01-01 to 9999-12-31 UTC";

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The UTC day of an instant in microseconds.
pub fn day_of_micros(micros: i64) -> NaiveDate {
    let days = micros.div_euclid(MICROS_PER_DAY);
    NaiveDate::from_num_days_from_ce_opt((days + 719_163) as i32).unwrap_or(NaiveDate::MIN)
}

/// The runs of one UTC day in `micros`, in order: each day with the range of its positions. Days
/// are told apart by whole days since the epoch, so a date is made once per run, not per value.
pub fn day_runs(micros: &[i64]) -> impl Iterator<Item = (NaiveDate, std::ops::Range<usize>)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = *micros.get(start)?;
        let days = first.div_euclid(MICROS_PER_DAY);
        let len = micros[start..].iter().take_while(|t| t.div_euclid(MICROS_PER_DAY) == days).count();
        let run = start..start + len;
        start += len;
        Some((day_of_micros(first), run))
    })
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses the vendor's own form, `YYYY-MM-DDTHH:MM:SS.sssZ` (24 bytes, milliseconds), with its
/// separators and digits checked in one pass and no loop per field; `None` for any other shape
/// or an impossible date or time.
#[inline]
fn parse_vendor(s: &[u8]) -> Option<i64> {
    let s: &[u8; 24] = s.try_into().ok()?;
    Some(vendor_date(s)? * MICROS_PER_DAY + vendor_time(s)?)
}

/// The digit `s[i]` stands for, if it is one.
#[inline]
fn digit(s: &[u8; 24], i: usize) -> Option<u32> {
    let d = s[i].wrapping_sub(b'0');
    (d <= 9).then_some(u32::from(d))
}

/// The two-digit number at `s[i..i + 2]`.
#[inline]
fn two_digits(s: &[u8; 24], i: usize) -> Option<u32> {
    Some(digit(s, i)? * 10 + digit(s, i + 1)?)
}

/// Days since the epoch of the `YYYY-MM-DD` that starts the vendor's form, if it is a real date.
#[inline]
fn vendor_date(s: &[u8; 24]) -> Option<i64> {
    if s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (two_digits(s, 0)? * 100 + two_digits(s, 2)?, two_digits(s, 5)?, two_digits(s, 8)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    Some(days_from_civil(i64::from(y), mo, d))
}

/// Microseconds after midnight of the `THH:MM:SS.sssZ` that ends the vendor's form.
#[inline]
fn vendor_time(s: &[u8; 24]) -> Option<i64> {
    if s[10] != b'T' || s[13] != b':' || s[16] != b':' || s[19] != b'.' || s[23] != b'Z' {
        return None;
    }
    let (h, mi, sec) = (two_digits(s, 11)?, two_digits(s, 14)?, two_digits(s, 17)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let millis = two_digits(s, 20)? * 10 + digit(s, 22)?;
    Some((i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * 1_000_000 + i64::from(millis) * 1000)
}

/// Parses event timestamps as [`parse_timestamp`] does, remembering the date of the last one in
/// the vendor's form: the rows of a body share a handful of dates, so most only have their time
/// of day read.
#[derive(Debug, Clone, Default)]
pub struct TimestampParser {
    /// The last `YYYY-MM-DD` read in the vendor's form, with its days since the epoch.
    last_date: Option<([u8; 10], i64)>,
}

impl TimestampParser {
    /// Microseconds since the Unix epoch of `s`, as [`parse_timestamp`] gives them.
    #[inline]
    pub fn parse(&mut self, s: &str) -> Option<i64> {
        if let Ok(b) = <&[u8; 24]>::try_from(s.as_bytes()) {
            let days = match &self.last_date {
                Some((date, days)) if b[..10] == date[..] => Some(*days),
                _ => vendor_date(b).inspect(|&days| {
                    let mut date = [0u8; 10];
                    date.copy_from_slice(&b[..10]);
                    self.last_date = Some((date, days));
                }),
            };
            if let (Some(days), Some(time)) = (days, vendor_time(b)) {
                return Some(days * MICROS_PER_DAY + time);
            }
        }
        parse_timestamp(s)
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` without allocating; `None` for any other shape.
fn parse_fast(s: &[u8]) -> Option<i64> {
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || s[10] != b'T' || s[13] != b':' || s[16] != b':' {
        return None;
    }
    if *s.last()? != b'Z' {
        return None;
    }
    let (y, mo, d) = (digits(&s[0..4])?, digits(&s[5..7])?, digits(&s[8..10])?);
    let (h, mi, sec) = (digits(&s[11..13])?, digits(&s[14..16])?, digits(&s[17..19])?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let frac = &s[19..s.len() - 1];
    let micros_frac = match frac {
        [] => 0,
        [b'.', rest @ ..] if !rest.is_empty() && rest.len() <= 9 => {
            let v = i64::from(digits(rest)?);
            let scale = 10i64.pow(6u32.abs_diff(rest.len() as u32));
            if rest.len() <= 6 { v * scale } else { v / scale }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec);
    Some(days * MICROS_PER_DAY + secs * 1_000_000 + micros_frac)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        _ => 28,
    }
}

/// Parses an event timestamp: RFC 3339 with any offset (fast path for the vendor's `…Z`), the
/// same with a space before the time or the offset or an offset of `±HH` or `±HHMM`, or a naive
/// `YYYY-MM-DD[ T]HH:MM:SS[.f]` taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    if let Some(v) = parse_vendor(s.as_bytes()).or_else(|| parse_fast(s.as_bytes())) {
        return Some(v);
    }
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    // An offset without RFC 3339's colon (`-0400`, `-04`), or after a space: the instant it
    // names, never the local time taken as UTC.
    for fmt in
        ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %#z", "%Y-%m-%dT%H:%M:%S%.f %#z"]
    {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_micros());
        }
    }
    None
}

/// Parses the `Date` of the totals CSV, with the separate `Hour`/`Time` column when there is one,
/// into the period's start, or says why not.
///
/// * `YYYY-MM-DD`: the day; with a separate time (`14`, `14:00`, `14:00:00`), that time of it.
///   Under `hourly` a day without a time is an error, never read as midnight.
/// * A date with its time: `YYYY-MM-DD HH:MM[:SS]`, `YYYY-MM-DD HH`, `YYYY-MM-DDTHH:MM[:SS][.f]`
///   with or without `Z` or an offset (any form [`parse_timestamp`] reads), or epoch
///   milliseconds (12 digits or more). A separate time must then name the same hour.
pub fn parse_period(date: &str, time_of_day: Option<&str>, hourly: bool) -> Result<i64, String> {
    let date = date.trim();
    let tod = time_of_day.map(str::trim).filter(|h| !h.is_empty());
    if let Ok(d) = NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        let base = d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).ok_or("unparseable date")?;
        return match tod {
            Some(h) => Ok(base + parse_hour(h).ok_or_else(|| format!("not a time of day: {h:?}"))?),
            None if hourly => Err(format!("an hourly period without an hour: {date:?}")),
            None => Ok(base),
        };
    }
    let at = parse_instant(date).ok_or_else(|| format!("unparseable date {date:?}"))?;
    match tod {
        None => Ok(at),
        // A date that carries its time already: a separate hour must be the same hour.
        Some(h) => {
            let of_day = at.rem_euclid(MICROS_PER_DAY);
            let want = parse_hour(h).ok_or_else(|| format!("not a time of day: {h:?}"))?;
            if of_day - of_day % MICROS_PER_HOUR == want - want % MICROS_PER_HOUR {
                Ok(at)
            } else {
                Err(format!("date {date:?} is not at hour {h:?}"))
            }
        }
    }
}

/// An instant with its time of day, in the forms [`parse_period`] lists.
fn parse_instant(s: &str) -> Option<i64> {
    if s.len() >= 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        let ms: i64 = s.parse().ok()?;
        return ms.checked_mul(1000);
    }
    for fmt in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%MZ"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    // `YYYY-MM-DD HH`: chrono wants minutes, so they are added.
    if let Some((day, hour)) = s.split_once([' ', 'T'])
        && hour.len() <= 2
        && !hour.is_empty()
        && hour.bytes().all(|b| b.is_ascii_digit())
        && let Ok(t) = NaiveDateTime::parse_from_str(&format!("{day} {hour}:00"), "%Y-%m-%d %H:%M")
    {
        return Some(t.and_utc().timestamp_micros());
    }
    for fmt in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_micros());
        }
    }
    parse_timestamp(s)
}

/// Parses the separate time of an hourly totals row (`14`, `14:00`, `14:30:00`) into
/// microseconds after midnight; `None` unless it is a time of day (hours 0–23).
pub fn parse_hour(hour: &str) -> Option<i64> {
    let h = hour.trim();
    if h.is_empty() {
        return Some(0);
    }
    let mut parts = h.split(':');
    let mut next = |max: i64| -> Option<Option<i64>> {
        match parts.next() {
            None => Some(None),
            Some(p) if (1..=2).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()) => {
                let v: i64 = p.parse().ok()?;
                (v <= max).then_some(Some(v))
            }
            Some(_) => None,
        }
    };
    let hh = next(23)??;
    let mm = next(59)?.unwrap_or(0);
    let ss = next(59)?.unwrap_or(0);
    if parts.next().is_some() {
        return None;
    }
    Some(((hh * 60 + mm) * 60 + ss) * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_path_matches_chrono() {
        for s in [
            "2023-04-19T14:59:16.158Z",
            "2026-11-20T00:00:00.000Z",
            "2024-02-29T23:59:59.999Z",
            "1999-12-31T23:59:59Z",
            "2023-04-19T14:59:16.1234567Z",
        ] {
            let want = DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros();
            assert_eq!(parse_fast(s.as_bytes()), Some(want), "{s}");
        }
        assert_eq!(parse_fast(b"2023-02-29T00:00:00.000Z"), None);
        assert_eq!(parse_timestamp("2023-02-29T00:00:00.000Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn general_path_takes_offsets_and_naive_times() {
        assert_eq!(parse_timestamp("2023-04-19T00:00:00-04:00"), parse_timestamp("2023-04-19T04:00:00.000Z"));
        assert_eq!(parse_timestamp("2023-04-19 04:00:00"), parse_timestamp("2023-04-19T04:00:00Z"));
    }

    #[test]
    fn offsets_in_any_form_give_the_instant_they_name() {
        // 22:00 at UTC-4 is 02:00 UTC the next day: the row belongs to that day.
        let want = parse_timestamp("2023-04-20T02:00:00Z");
        assert!(want.is_some());
        for s in [
            "2023-04-19 22:00:00-0400",
            "2023-04-19 22:00:00-04:00",
            "2023-04-19T22:00:00-0400",
            "2023-04-19 22:00:00-04",
            "2023-04-19 22:00:00.000 -04:00",
            "2023-04-19T22:00:00 -0400",
            "2023-04-20 10:00:00+0800",
            "2023-04-20 02:00:00+00",
        ] {
            assert_eq!(parse_timestamp(s), want, "{s}");
        }
        assert_eq!(parse_timestamp("2023-04-19 22:00:00.5-0400"), want.map(|w| w + 500_000));
        assert_eq!(parse_timestamp("2023-04-19 22:00:00-04xx"), None);
        // The totals' dates take the same path.
        assert_eq!(parse_period("2023-04-19 16:00:00+0200", None, true).ok(), parse_timestamp("2023-04-19T14:00:00Z"));
    }

    #[test]
    fn periods() {
        let day = parse_timestamp("2023-04-19T00:00:00Z");
        let at14 = parse_timestamp("2023-04-19T14:00:00Z").unwrap();
        assert_eq!(parse_period("2023-04-19", None, false).ok(), day);
        assert_eq!(parse_period("2023-04-19", Some("14"), false), Ok(at14));
        assert_eq!(parse_period("2023-04-19", Some("14:00"), true), Ok(at14));
        assert_eq!(parse_period("2023-04-19", Some("25"), true), Err("not a time of day: \"25\"".into()));
        // A date with its time and a separate hour: the same hour, or an error.
        assert_eq!(parse_period("2023-04-19 14:00", Some("14"), true), Ok(at14));
        assert_eq!(
            parse_period("2023-04-19 10:00", Some("14"), true),
            Err("date \"2023-04-19 10:00\" is not at hour \"14\"".into())
        );
        assert_eq!(parse_period("19/04/2023", None, false), Err("unparseable date \"19/04/2023\"".into()));
    }

    #[test]
    fn hourly_dates_in_every_common_form() {
        let at14 = parse_timestamp("2023-04-19T14:00:00Z").unwrap();
        for date in [
            "2023-04-19 14:00",
            "2023-04-19 14",
            "2023-04-19T14",
            "2023-04-19T14:00",
            "2023-04-19T14:00Z",
            "2023-04-19T14:00:00",
            "2023-04-19T14:00:00Z",
            "2023-04-19T14:00:00.000Z",
            "2023-04-19T16:00:00+02:00",
            "2023-04-19T16:00+02:00",
            "2023-04-19 14:00:00",
            "1681912800000",
            " 2023-04-19 14:00 ",
        ] {
            assert_eq!(parse_period(date, None, true), Ok(at14), "{date}");
        }
        // The separate column, in any of its forms.
        for time in ["14", "14:00", "14:00:00", " 14 "] {
            assert_eq!(parse_period("2023-04-19", Some(time), true), Ok(at14), "{time}");
        }
        assert_eq!(parse_period("2023-04-19", Some("14:30"), true), Ok(at14 + 30 * 60_000_000));
        // Never midnight by default.
        assert_eq!(
            parse_period("2023-04-19", None, true),
            Err("an hourly period without an hour: \"2023-04-19\"".into())
        );
        assert_eq!(
            parse_period("2023-04-19", Some(""), true),
            Err("an hourly period without an hour: \"2023-04-19\"".into())
        );
        assert!(parse_period("2023-04-19 1400", None, true).is_err());
        assert!(parse_period("20230419", None, true).is_err(), "8 digits are not epoch milliseconds");
    }

    #[test]
    fn accepted_range_is_years_1_to_9999() {
        let first = DateTime::parse_from_rfc3339("0001-01-01T00:00:00Z").unwrap().timestamp_micros();
        let last = DateTime::parse_from_rfc3339("9999-12-31T23:59:59.999999Z").unwrap().timestamp_micros();
        assert_eq!((first, last), (MIN_MICROS, MAX_MICROS));
        assert!(in_range(first) && in_range(last) && in_range(0));
        assert!(!in_range(first - 1) && !in_range(last + 1));
        // Parseable, yet outside: year 0, and a local time whose UTC instant is in year 10000.
        assert!(!in_range(parse_timestamp("0000-06-01T00:00:00Z").unwrap()));
        assert!(!in_range(parse_timestamp("9999-12-31T23:00:00-02:00").unwrap()));
        assert!(!in_range(parse_period("0000-01-01", None, false).unwrap()));
    }

    #[test]
    fn hours() {
        assert_eq!(parse_hour("0"), Some(0));
        assert_eq!(parse_hour(" 23:00 "), Some(23 * 3_600_000_000));
        assert_eq!(parse_hour("07:30:15"), Some(((7 * 60 + 30) * 60 + 15) * 1_000_000));
        assert_eq!(parse_hour(""), Some(0));
        for bad in ["24", "-1", "noon", "12:60", "1:2:3:4", "123", "12:"] {
            assert_eq!(parse_hour(bad), None, "{bad}");
        }
    }

    proptest! {
        /// The vendor's form is read as the general fast path reads it, and nothing else is.
        #[test]
        fn the_vendor_form_reads_as_the_fast_path_reads_it(
            parts in (0u32..10_000, 0u32..14, 0u32..33, 0u32..26, 0u32..62, 0u32..62, 0u32..1000),
            mutate in proptest::option::of((0usize..26, proptest::sample::select(&b"09-T:.Z +x"[..]))),
        ) {
            let (y, mo, d, h, mi, sec, ms) = parts;
            let mut b = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{sec:02}.{ms:03}Z").into_bytes();
            if let Some((at, c)) = mutate {
                if at < b.len() { b[at] = c } else { b.push(c) }
            }
            let shaped = b.len() == 24 && b[19] == b'.' && b[23] == b'Z';
            prop_assert_eq!(parse_vendor(&b), if shaped { parse_fast(&b) } else { None });
            // The parser that remembers dates reads it as the function does, after any other.
            if let Ok(s) = std::str::from_utf8(&b) {
                let mut parser = TimestampParser::default();
                for before in ["2023-04-19T14:59:16.158Z", s, "2023-04-19T14:59:16Z"] {
                    prop_assert_eq!(parser.parse(before), parse_timestamp(before));
                    prop_assert_eq!(parser.parse(s), parse_timestamp(s));
                }
            }
        }

        #[test]
        fn days_from_civil_agrees_with_chrono(n in -100_000i32..100_000) {
            let d = NaiveDate::from_num_days_from_ce_opt(719_163 + n).unwrap();
            use chrono::Datelike;
            prop_assert_eq!(days_from_civil(i64::from(d.year()), d.month(), d.day()), i64::from(n));
            prop_assert_eq!(day_of_micros(i64::from(n) * MICROS_PER_DAY + 5), d);
        }

        #[test]
        fn day_runs_cover_every_value_with_its_day(hours in proptest::collection::vec(-100i64..100, 0..50)) {
            let micros: Vec<i64> = hours.iter().map(|h| h * 3_600_000_000 + 7).collect();
            let mut next = 0;
            for (day, run) in day_runs(&micros) {
                prop_assert_eq!(run.start, next);
                prop_assert!(!run.is_empty());
                prop_assert!(micros[run.clone()].iter().all(|&t| day_of_micros(t) == day));
                prop_assert!(micros.get(run.end).is_none_or(|&t| day_of_micros(t) != day));
                next = run.end;
            }
            prop_assert_eq!(next, micros.len());
        }
    }
}
