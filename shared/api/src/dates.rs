//! The issue date: today in Mexico by default; when given, a real calendar
//! date written `AAAA-MM-DD`, not in the future, not before electronic
//! certificates existed, and within the signer's certificate — checked once
//! for the whole request, not student by student.

use crate::Problem;
use certifica_core::efirma::SignerCertificate;
use chrono::{Datelike, NaiveDate};

/// No electronic certificate of studies (Dec) is dated before this.
const EARLIEST_ISSUE_YEAR: i32 = 2000;

pub use certifica_core::calendar::today_in_mexico;

/// The requested issue date (today in Mexico when absent).
pub(crate) fn issue_date_or_today(requested: Option<&str>) -> Result<NaiveDate, Problem> {
    let today = today_in_mexico();
    let Some(text) = requested else { return Ok(today) };
    let shape_ok = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().filter(|_| shape_ok).ok_or_else(|| {
        let shown = crate::request::excerpt(text);
        Problem::unprocessable(
            "fecha_invalida",
            format!("la fecha de expedición «{shown}» no es una fecha válida: escríbala como AAAA-MM-DD (por ejemplo {today})"),
        )
    })?;
    if date.year() < EARLIEST_ISSUE_YEAR {
        return Err(Problem::unprocessable(
            "fecha_invalida",
            format!("la fecha de expedición {date} es anterior a {EARLIEST_ISSUE_YEAR}: revise el año"),
        ));
    }
    if date > today {
        return Err(Problem::unprocessable(
            "fecha_futura",
            format!("la fecha de expedición {date} es posterior a hoy ({today})"),
        ));
    }
    Ok(date)
}

/// A server that seals now needs the signer's certificate valid now, not
/// only on the issue date: an expired e.firma cannot seal with an earlier date.
pub(crate) fn signer_valid_today(cer: &[u8]) -> Result<(), Problem> {
    let Ok(certificate) = SignerCertificate::from_der(cer) else { return Ok(()) };
    let (today, to) = (today_in_mexico(), certifica_core::calendar::date_in_mexico(certificate.not_after()));
    if today > to {
        return Err(Problem::unprocessable(
            "firmante_vencido",
            format!(
                "la e.firma del responsable venció el {to}: ya no puede sellar hoy ({today}), aunque la fecha de \
                 expedición sea anterior; registre su e.firma vigente"
            ),
        ));
    }
    Ok(())
}

/// The issue date must fall within the signer's certificate (its der):
/// otherwise every student would be refused for the same reason.
pub(crate) fn within_signer(issue_date: NaiveDate, cer: &[u8]) -> Result<(), Problem> {
    let Ok(certificate) = SignerCertificate::from_der(cer) else { return Ok(()) };
    let mexico = certifica_core::calendar::date_in_mexico;
    let (from, to) = (mexico(certificate.not_before()), mexico(certificate.not_after()));
    if issue_date < from {
        return Err(Problem::unprocessable(
            "fecha_anterior_al_firmante",
            format!(
                "la fecha de expedición {issue_date} es anterior al certificado de la e.firma del responsable \
                 (vigente desde {from}); elija una fecha desde entonces"
            ),
        ));
    }
    if issue_date > to {
        return Err(Problem::unprocessable(
            "firmante_vencido",
            format!(
                "la e.firma del responsable venció el {to} y la fecha de expedición es {issue_date}: registre su e.firma vigente"
            ),
        ));
    }
    Ok(())
}
