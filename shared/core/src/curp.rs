//! CURP (Clave Única de Registro de Población) format validation: 18
//! characters, the official pattern (name letters, birth date, sex, state of
//! birth, internal consonants, homonymy differentiator) and the check digit.

use std::fmt;

/// A CURP that passed format and check-digit validation (upper case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Curp(String);

/// Why a CURP is not valid; each message tells the clerk what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurpError {
    #[error("la CURP «{0}» debe tener 18 caracteres y tiene {1}")]
    Length(String, usize),
    #[error("la CURP «{0}» no sigue el formato oficial: {1}")]
    Pattern(String, &'static str),
    #[error("la CURP «{0}» tiene un dígito verificador incorrecto (se esperaba {1})")]
    CheckDigit(String, char),
}

const STATES: [&str; 33] = [
    "AS", "BC", "BS", "CC", "CL", "CM", "CS", "CH", "DF", "DG", "GT", "GR", "HG", "JC", "MC", "MN", "MS", "NT", "NL",
    "OC", "PL", "QT", "QR", "SP", "SL", "SR", "TC", "TS", "TL", "VZ", "YN", "ZS", "NE",
];
const CHECK_ALPHABET: &str = "0123456789ABCDEFGHIJKLMNÑOPQRSTUVWXYZ";

fn is_consonant(c: char) -> bool {
    c.is_ascii_uppercase() && !"AEIOU".contains(c) || c == 'Ñ'
}

/// The check digit RENAPO computes over the first 17 characters.
pub fn check_digit(first17: &str) -> Option<char> {
    let mut sum: u32 = 0;
    for (i, c) in first17.chars().take(17).enumerate() {
        let value = CHECK_ALPHABET.chars().position(|a| a == c)? as u32;
        sum += value * (18 - i as u32);
    }
    let d = (10 - sum % 10) % 10;
    char::from_digit(d, 10)
}

impl Curp {
    /// Validates `text` (trimmed, case-insensitive).
    pub fn parse(text: &str) -> Result<Self, CurpError> {
        let up = text.trim().to_uppercase();
        let chars: Vec<char> = up.chars().collect();
        if chars.len() != 18 {
            return Err(CurpError::Length(up.clone(), chars.len()));
        }
        let bad = |why| Err(CurpError::Pattern(up.clone(), why));
        if !chars[0].is_ascii_uppercase()
            || !"AEIOUX".contains(chars[1])
            || !chars[2..4].iter().all(|c| c.is_ascii_uppercase())
        {
            return bad("las posiciones 1 a 4 deben ser las letras del nombre (la segunda, vocal)");
        }
        if !chars[4..10].iter().all(char::is_ascii_digit) {
            return bad("las posiciones 5 a 10 deben ser la fecha de nacimiento AAMMDD");
        }
        let num = |a: usize| chars[a].to_digit(10).unwrap_or(0) * 10 + chars[a + 1].to_digit(10).unwrap_or(0);
        let (month, day) = (num(6), num(8));
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return bad("la fecha de nacimiento (posiciones 5 a 10) no es una fecha válida");
        }
        if !"HMX".contains(chars[10]) {
            return bad("la posición 11 debe ser el sexo: H, M o X");
        }
        let state: String = chars[11..13].iter().collect();
        if !STATES.contains(&state.as_str()) {
            return bad("las posiciones 12 y 13 deben ser la clave de la entidad de nacimiento");
        }
        if !chars[13..16].iter().all(|&c| is_consonant(c)) {
            return bad("las posiciones 14 a 16 deben ser consonantes internas del nombre");
        }
        if !(chars[16].is_ascii_uppercase() || chars[16].is_ascii_digit()) || !chars[17].is_ascii_digit() {
            return bad("la posición 17 debe ser letra o dígito y la 18 un dígito");
        }
        let first17: String = chars[..17].iter().collect();
        match check_digit(&first17) {
            Some(d) if d == chars[17] => Ok(Curp(up)),
            Some(d) => Err(CurpError::CheckDigit(up.clone(), d)),
            None => bad("contiene caracteres no permitidos"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Curp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Curp {
    type Error = CurpError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Curp::parse(&s)
    }
}

impl From<Curp> for String {
    fn from(c: Curp) -> String {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Completes 17 characters with their check digit.
    fn with_digit(first17: &str) -> String {
        format!("{first17}{}", check_digit(first17).unwrap())
    }

    #[test]
    fn a_well_formed_curp_with_its_check_digit_is_accepted() {
        assert!(Curp::parse("BADD110313HCMLNS06").is_ok());
        assert!(Curp::parse(&with_digit("GOMC850412MDFRRR0")).is_ok());
        assert_eq!(Curp::parse(" badd110313hcmlns06 ").unwrap().as_str(), "BADD110313HCMLNS06");
    }

    #[test]
    fn each_kind_of_mistake_is_named() {
        assert!(matches!(Curp::parse("BADD110313HCMLNS0"), Err(CurpError::Length(_, 17))));
        assert!(matches!(Curp::parse("BADD111313HCMLNS06"), Err(CurpError::Pattern(..))));
        assert!(matches!(Curp::parse("BADD110313ZCMLNS06"), Err(CurpError::Pattern(..))));
        assert!(matches!(Curp::parse("BADD110313HXXLNS06"), Err(CurpError::Pattern(..))));
        assert!(matches!(Curp::parse("BADD110313HCMLNS08"), Err(CurpError::CheckDigit(_, '6'))));
        let msg = Curp::parse("BADD110313HCMLNS08").unwrap_err().to_string();
        assert!(msg.contains("dígito verificador"), "{msg}");
    }

    proptest! {
        #[test]
        fn only_the_computed_check_digit_is_accepted(first in "[A-Z][AEIOUX][A-Z]{2}[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])[HM](DF|JC|NL)[B-DF-HJ-NP-TV-Z]{3}[A-Z0-9]", d in 0u32..10) {
            let expected = check_digit(&first).unwrap();
            let candidate = format!("{first}{}", char::from_digit(d, 10).unwrap());
            prop_assert_eq!(Curp::parse(&candidate).is_ok(), char::from_digit(d, 10) == Some(expected));
        }
    }
}
