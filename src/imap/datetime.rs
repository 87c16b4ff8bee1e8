//! IMAP date and date-time text (RFC 3501 `date-time`, `date`) to and from Unix time.
//! Hand-written because the only dates IMAP needs are these two fixed formats.

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The calendar date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// INTERNALDATE as the server shows it: `"17-Jul-1996 09:44:25 +0000"` (UTC).
pub fn format_internal_date(unix: i64) -> String {
    let days = unix.div_euclid(86400);
    let secs = unix.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
        d,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The month number (1-12) of a three-letter English month name, any case.
pub fn month_number(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

/// Parses `date-time` (`"dd-Mon-yyyy hh:mm:ss +zzzz"`, day may be space-padded) to Unix time.
pub fn parse_date_time(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let (date, rest) = text.split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut d = date.split('-');
    let day: u32 = d.next()?.parse().ok()?;
    let month = month_number(d.next()?)?;
    let year: i32 = d.next()?.parse().ok()?;
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let s: i64 = t.next()?.parse().ok()?;
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 || zone.len() != 5 {
        return None;
    }
    let sign = match &zone[..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let zh: i64 = zone[1..3].parse().ok()?;
    let zm: i64 = zone[3..5].parse().ok()?;
    let local = days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + s;
    Some(local - sign * (zh * 3600 + zm * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(format_internal_date(0), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(
            format_internal_date(837593065),
            "17-Jul-1996 08:44:25 +0000"
        );
        assert_eq!(
            parse_date_time("17-Jul-1996 02:44:25 -0700"),
            Some(837596665)
        );
        assert_eq!(
            parse_date_time(" 7-Jul-1996 02:44:25 +0000")
                .map(format_internal_date)
                .as_deref(),
            Some("07-Jul-1996 02:44:25 +0000")
        );
        assert_eq!(parse_date_time("17-Foo-1996 02:44:25 -0700"), None);
        for days in [-1000, 0, 59, 60, 11016, 20000, 50000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
