//! Exact decimal values with two places (grades, credits, averages) and the
//! one place where the document's number formatting lives.
//!
//! SEP-FORMAT.md: credits and the minimum passing grade are written with two
//! decimals (`8.00`, `6.00`); a grade of ten is written `10`, other grades
//! with two decimals (`8.50`). Integers in hundredths avoid float drift in
//! sums and make half-up rounding exact.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A non-negative decimal with two places, stored in hundredths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Value", into = "String")]
pub struct Decimal2(u64);

/// A decimal that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("«{0}» no es un número válido con hasta dos decimales (ejemplos: 8, 8.5, 10.00)")]
pub struct InvalidDecimal(pub String);

impl Decimal2 {
    pub const ZERO: Decimal2 = Decimal2(0);

    /// From hundredths (`850` is 8.50).
    pub const fn from_hundredths(h: u64) -> Self {
        Decimal2(h)
    }

    /// From a whole number.
    pub const fn from_int(n: u64) -> Self {
        Decimal2(n * 100)
    }

    pub const fn hundredths(self) -> u64 {
        self.0
    }

    pub fn is_whole(self) -> bool {
        self.0.is_multiple_of(100)
    }

    /// Parses `8`, `8.5`, `8.50`; rejects signs, exponents and a third decimal.
    pub fn parse(text: &str) -> Result<Self, InvalidDecimal> {
        let bad = || InvalidDecimal(text.to_string());
        let t = text.trim();
        let (int, frac) = match t.split_once('.') {
            Some((i, f)) => (i, f),
            None => (t, ""),
        };
        if int.is_empty()
            || int.len() > 12
            || frac.len() > 2
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || (t.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        let whole: u64 = int.parse().map_err(|_| bad())?;
        let mut cents: u64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
        if frac.len() == 1 {
            cents *= 10;
        }
        Ok(Decimal2(whole * 100 + cents))
    }

    /// Two decimals always (`8.00`).
    pub fn fixed2(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// The mean of `values`, rounded half-up to two decimals; zero when empty.
    pub fn mean_half_up(values: impl IntoIterator<Item = Decimal2>) -> Decimal2 {
        let (sum, n) = values.into_iter().fold((0u128, 0u128), |(s, n), v| (s + u128::from(v.0), n + 1));
        if n == 0 {
            return Decimal2::ZERO;
        }
        // round(sum / n) half-up == floor((2·sum + n) / (2·n)) for non-negative values.
        Decimal2(((2 * sum + n) / (2 * n)) as u64)
    }

    pub fn checked_add(self, other: Decimal2) -> Option<Decimal2> {
        self.0.checked_add(other.0).map(Decimal2)
    }
}

impl std::iter::Sum for Decimal2 {
    fn sum<I: Iterator<Item = Decimal2>>(iter: I) -> Self {
        Decimal2(iter.map(|d| d.0).sum())
    }
}

impl fmt::Display for Decimal2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() { write!(f, "{}", self.0 / 100) } else { f.write_str(&self.fixed2()) }
    }
}

impl From<Decimal2> for String {
    fn from(d: Decimal2) -> String {
        d.to_string()
    }
}

impl TryFrom<serde_json::Value> for Decimal2 {
    type Error = InvalidDecimal;
    fn try_from(v: serde_json::Value) -> Result<Self, Self::Error> {
        match v {
            serde_json::Value::String(s) => Decimal2::parse(&s),
            serde_json::Value::Number(n) => Decimal2::parse(&n.to_string()),
            other => Err(InvalidDecimal(other.to_string())),
        }
    }
}

impl std::str::FromStr for Decimal2 {
    type Err = InvalidDecimal;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal2::parse(s)
    }
}

/// How each number of the document is written. Change here, nowhere else.
pub mod format {
    use super::Decimal2;

    /// `calificacion`: ten is `10`, anything else two decimals.
    pub fn grade(g: Decimal2) -> String {
        if g == Decimal2::from_int(10) { "10".to_string() } else { g.fixed2() }
    }

    /// `calificacionMinima` / `calificacionMaxima`: written like grades.
    pub fn scale_bound(g: Decimal2) -> String {
        grade(g)
    }

    /// `calificacionMinimaAprobatoria`: two decimals.
    pub fn passing_grade(g: Decimal2) -> String {
        g.fixed2()
    }

    /// `creditos`, `totalCreditos`, `creditosObtenidos`: two decimals.
    pub fn credits(c: Decimal2) -> String {
        c.fixed2()
    }

    /// `promedio`: two decimals.
    pub fn average(a: Decimal2) -> String {
        a.fixed2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn grades_follow_the_documented_format() {
        assert_eq!(format::grade(Decimal2::parse("10").unwrap()), "10");
        assert_eq!(format::grade(Decimal2::parse("10.00").unwrap()), "10");
        assert_eq!(format::grade(Decimal2::parse("8.5").unwrap()), "8.50");
        assert_eq!(format::grade(Decimal2::parse("9").unwrap()), "9.00");
        assert_eq!(format::credits(Decimal2::parse("8").unwrap()), "8.00");
        assert_eq!(format::passing_grade(Decimal2::from_int(6)), "6.00");
    }

    #[test]
    fn parse_rejects_what_is_not_a_two_place_decimal() {
        for bad in ["", ".", "8.", ".5", "-1", "8.555", "1e3", "ocho", "8,5", "+8"] {
            assert!(Decimal2::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn mean_rounds_half_up() {
        let d = |s| Decimal2::parse(s).unwrap();
        assert_eq!(Decimal2::mean_half_up([d("7"), d("8"), d("8")]).fixed2(), "7.67");
        assert_eq!(Decimal2::mean_half_up([d("8.33"), d("8.34")]).fixed2(), "8.34"); // 8.335 → 8.34
        assert_eq!(Decimal2::mean_half_up([d("8.32"), d("8.33")]).fixed2(), "8.33"); // 8.325 → 8.33
        assert_eq!(Decimal2::mean_half_up([]), Decimal2::ZERO);
    }

    proptest! {
        #[test]
        fn fixed2_parses_back_to_the_same_value(h in 0u64..10_000_000) {
            let d = Decimal2::from_hundredths(h);
            prop_assert_eq!(Decimal2::parse(&d.fixed2()).unwrap(), d);
            prop_assert_eq!(Decimal2::parse(&format::grade(d)).unwrap(), d);
            prop_assert!(d.fixed2().split_once('.').map(|(_, f)| f.len()) == Some(2));
        }

        #[test]
        fn mean_is_within_half_a_hundredth_of_the_exact_mean(values in proptest::collection::vec(0u64..=1000, 1..60)) {
            let m = Decimal2::mean_half_up(values.iter().map(|&v| Decimal2::from_hundredths(v)));
            let exact = values.iter().sum::<u64>() as f64 / values.len() as f64;
            prop_assert!((m.hundredths() as f64 - exact).abs() <= 0.5 + 1e-9);
            let lo = *values.iter().min().unwrap();
            let hi = *values.iter().max().unwrap();
            prop_assert!(m.hundredths() >= lo && m.hundredths() <= hi);
        }
    }
}
