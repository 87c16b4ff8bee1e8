//! The dates SMAP takes (`STORE ... INTERNALDATE=`, `ADD INTERNALDATE=`): RFC 822 dates
//! read as leniently as Courier's imapd reads them (its `rfc822_parsedate_chk`), so the
//! same word sets the same time on both servers or is ignored by both.
//!
//! The grammar accepted, in order: anything up to a day number and a month name in either
//! order (a weekday or other word before them is skipped; a second day number or month
//! name is an error), the year (two digits: below 70 is 20xx, else 19xx), the time
//! `hh:mm[:ss]`, then an optional zone: `+hhmm`/`-hhmm` (out of range counts as +0000),
//! a name (UT, GMT, the US zones, military letters; unknown names count as +0000), or
//! nothing. Years before 1970 or after 9999 are refused.

/// Seconds since the epoch of an RFC 822 date, `None` when it does not parse.
pub fn parse_rfc822(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let mut at = 0;
    let (mut day, mut month) = (0u32, 0u32);
    while day == 0 || month == 0 {
        let c = *b.get(at)?;
        if c.is_ascii_alphabetic() {
            if month != 0 {
                return None;
            }
            match prefix_key(&b[at..], &MONTHS) {
                Some((m, len)) => {
                    month = m as u32 + 1;
                    at += len;
                }
                None => {
                    while b.get(at).is_some_and(u8::is_ascii_alphabetic) {
                        at += 1;
                    }
                }
            }
        } else if c.is_ascii_digit() {
            if day != 0 {
                return None;
            }
            day = digits(b, &mut at);
            if day == 0 {
                return None;
            }
        } else {
            at += 1;
        }
    }
    skip_space(b, &mut at);
    if !b.get(at).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut year = digits(b, &mut at);
    if year < 70 {
        year += 2000;
    }
    if year < 100 {
        year += 1900;
    }
    skip_space(b, &mut at);
    if month > 12 || day > month_days(month, year) {
        return None;
    }
    let secs = time_of_day(b, &mut at)?;
    while let Some(&c) = b.get(at) {
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'-' {
            break;
        }
        at += 1;
    }
    let offset = match b.get(at) {
        Some(c) if c.is_ascii_alphabetic() => {
            prefix_key(&b[at..], &ZONES).map_or(0, |(i, _)| ZONE_HOURS[i] * 3600)
        }
        Some(&c) => {
            let sign = if c == b'-' { -1 } else { 1 };
            if c == b'-' || c == b'+' {
                at += 1;
            }
            if b.get(at).is_some_and(u8::is_ascii_digit) {
                let mut n = digits(b, &mut at);
                if n > 2359 || n % 100 > 59 {
                    n = 0;
                }
                sign * i64::from(n % 100 * 60 + n / 100 * 3600)
            } else {
                0
            }
        }
        None => 0,
    };
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let days = crate::imap::datetime::days_from_civil(year as i32, month, day);
    Some(days * 86400 + secs - offset)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Zone names, tried in this order as prefixes (so `UTC` is `UT`, `MEZ` the letter `M`).
const ZONES: [&str; 35] = [
    "UT", "GMT", "EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "Z", "A", "B", "C", "D",
    "E", "F", "G", "H", "I", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W", "X",
    "Y",
];

const ZONE_HOURS: [i64; 35] = [
    0, 0, -5, -4, -6, -5, -7, -6, -8, -7, 0, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, 1,
    2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

/// The first of `keys` that `text` starts with (case-insensitive), and its length.
fn prefix_key(text: &[u8], keys: &[&str]) -> Option<(usize, usize)> {
    keys.iter().enumerate().find_map(|(i, k)| {
        let k = k.as_bytes();
        (text.len() >= k.len() && text[..k.len()].eq_ignore_ascii_case(k)).then_some((i, k.len()))
    })
}

/// A run of digits (none: 0), wrapping as a 32-bit counter does.
fn digits(b: &[u8], at: &mut usize) -> u32 {
    let mut n = 0u32;
    while let Some(&c) = b.get(*at).filter(|c| c.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(u32::from(c - b'0'));
        *at += 1;
    }
    n
}

fn skip_space(b: &[u8], at: &mut usize) {
    while b
        .get(*at)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
    {
        *at += 1;
    }
}

/// `hh:mm[:ss]` as seconds into the day.
fn time_of_day(b: &[u8], at: &mut usize) -> Option<i64> {
    let digit_at = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if !digit_at(*at) {
        return None;
    }
    let h = digits(b, at);
    if h > 23 || b.get(*at) != Some(&b':') {
        return None;
    }
    *at += 1;
    if !digit_at(*at) {
        return None;
    }
    let m = digits(b, at);
    let mut s = 0;
    if b.get(*at) == Some(&b':') {
        *at += 1;
        if !digit_at(*at) {
            return None;
        }
        s = digits(b, at);
    }
    if m > 59 || s > 59 {
        return None;
    }
    Some(i64::from(h * 3600 + m * 60 + s))
}

fn month_days(month: u32, year: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(400) || (year.is_multiple_of(4) && !year.is_multiple_of(100)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_rfc822;

    #[test]
    fn dates_as_courier_reads_them() {
        let base = 1_704_067_200; // 2024-01-01 00:00:00 UTC
        assert_eq!(parse_rfc822("Mon, 1 Jan 2024 00:00:00 +0000"), Some(base));
        assert_eq!(parse_rfc822("1 jan 2024 01:00 +0100"), Some(base));
        assert_eq!(parse_rfc822("Jan 1 2024 00:00:00 GMT"), Some(base));
        assert_eq!(parse_rfc822("MON, 01 JAN 24 00:00:00"), Some(base));
        assert_eq!(parse_rfc822("31 Dec 2023 19:00:00 EST"), Some(base));
        assert_eq!(parse_rfc822("1 Jan 2024 00:00:00 UTC"), Some(base));
        // A comment is not skipped: its first letter is the military zone X (+1100).
        assert_eq!(
            parse_rfc822("1 Jan 2024 00:00:00 (x) -0000"),
            Some(base - 11 * 3600)
        );
        assert_eq!(parse_rfc822("1 Jan 2024 00:00:00 +9999"), Some(base));
        assert_eq!(
            parse_rfc822("1 Jan 2024 12:00:00 M"),
            Some(base + 24 * 3600)
        );
        assert_eq!(parse_rfc822("1 Jan 99 00:00:00"), Some(915_148_800));
        assert_eq!(
            parse_rfc822("29 Feb 2024 00:00:00"),
            Some(base + 59 * 86400)
        );
        for bad in [
            "",
            "garbage",
            "1 January 2024 00:00:00",
            "1 2 Jan 2024 00:00:00",
            "Jan Feb 1 2024 00:00:00",
            "30 Feb 2024 00:00:00",
            "1 Jan 2024",
            "1 Jan 2024 24:00:00",
            "1 Jan 2024 10:60",
            "1 Jan 1969 00:00:00",
            "0 Jan 2024 00:00:00",
            "01-Jan-2024 00:00:00 +0000",
        ] {
            assert_eq!(parse_rfc822(bad), None, "{bad:?}");
        }
    }
}
