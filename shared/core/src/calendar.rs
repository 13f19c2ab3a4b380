//! Mexico's calendar: dates of certificates, e.firmas and their CAs are
//! read in the country's time (UTC−6 all year since 2022), so an instant
//! late in the evening in Mexico — already tomorrow in UTC — is still today.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// The date of `instant` in Mexico.
pub fn date_in_mexico(instant: DateTime<Utc>) -> NaiveDate {
    match FixedOffset::west_opt(6 * 3600) {
        Some(mexico) => instant.with_timezone(&mexico).date_naive(),
        None => instant.date_naive(),
    }
}

/// Today in Mexico.
pub fn today_in_mexico() -> NaiveDate {
    date_in_mexico(Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_evening_in_mexico_is_still_today_there() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(date_in_mexico(at("2026-12-04T02:10:00Z")), day(3));
        assert_eq!(date_in_mexico(at("2026-12-04T05:59:59Z")), day(3));
        assert_eq!(date_in_mexico(at("2026-12-04T06:00:00Z")), day(4));
    }
}
