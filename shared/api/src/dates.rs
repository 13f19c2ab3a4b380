//! The issue date: today in Mexico by default, never in the future.

use crate::Problem;
use chrono::{FixedOffset, NaiveDate, Utc};

/// Today in Mexico (UTC−6 all year since 2022): the default issue date.
pub fn today_in_mexico() -> NaiveDate {
    match FixedOffset::west_opt(6 * 3600) {
        Some(offset) => Utc::now().with_timezone(&offset).date_naive(),
        None => Utc::now().date_naive(),
    }
}

/// The requested issue date (today in Mexico when absent); never in the future.
pub(crate) fn issue_date_or_today(requested: Option<NaiveDate>) -> Result<NaiveDate, Problem> {
    let today = today_in_mexico();
    let issue_date = requested.unwrap_or(today);
    if issue_date > today {
        return Err(Problem::unprocessable(
            "fecha_futura",
            format!("la fecha de expedición {issue_date} es posterior a hoy ({today})"),
        ));
    }
    Ok(issue_date)
}
