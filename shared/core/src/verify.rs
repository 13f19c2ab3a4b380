//! Verification of a certificate document: structure, values, the school's
//! seal over the recomputed cadena original, the signer's certificate (number,
//! validity on the issue date, CURP), and — when stamped — the authority's
//! nodes (selloDec equals sello, authority seals valid for a trusted
//! authority certificate, folioDigital a UUID). Any edit to a signed value
//! after sealing breaks the seal check.

use crate::cadena::cadena_original;
use crate::checks::value_problems;
use crate::document::Dec;
use crate::efirma::SignerCertificate;
use crate::sello::from_base64;
use crate::stamping::{dreoe_cadena, sep_ipes_cadena};
use serde::Serialize;

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable machine name.
    pub code: &'static str,
    /// What was checked, in Spanish.
    pub title: &'static str,
    pub ok: bool,
    /// What was found (and where, when it failed).
    pub detail: String,
}

/// The outcome of verifying a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationReport {
    pub valid: bool,
    pub stamped: bool,
    pub folio_digital: Option<String>,
    pub cadena_original: Option<String>,
    pub checks: Vec<Check>,
}

struct Report(Vec<Check>);

impl Report {
    fn add(&mut self, code: &'static str, title: &'static str, ok: bool, detail: impl Into<String>) -> bool {
        self.0.push(Check { code, title, ok, detail: detail.into() });
        ok
    }
}

/// Verifies `xml`, trusting the given authority certificates for stamps.
pub fn verify(xml: &str, authorities: &[SignerCertificate]) -> VerificationReport {
    let mut r = Report(Vec::new());
    let dec = match Dec::parse(xml) {
        Ok(d) => {
            r.add(
                "estructura",
                "Estructura del documento Dec 3.0",
                true,
                "bien formado, elementos en el orden oficial",
            );
            d
        }
        Err(e) => {
            r.add("estructura", "Estructura del documento Dec 3.0", false, e.to_string());
            return finish(r, None, None);
        }
    };
    let problems = value_problems(&dec);
    let detail = if problems.is_empty() {
        "todos los valores requeridos presentes y con formato válido".to_string()
    } else {
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    };
    r.add("valores", "Valores requeridos y formatos", problems.is_empty(), detail);

    let cadena = match cadena_original(&dec) {
        Ok(c) => {
            r.add("cadena_original", "Cadena original", true, "calculada");
            Some(c)
        }
        Err(e) => {
            r.add("cadena_original", "Cadena original", false, e.to_string());
            None
        }
    };
    check_school_seal(&mut r, &dec, cadena.as_deref());
    if dec.is_stamped() {
        check_authority(&mut r, &dec, authorities);
    }
    finish(r, Some(&dec), cadena)
}

fn finish(r: Report, dec: Option<&Dec>, cadena: Option<String>) -> VerificationReport {
    VerificationReport {
        valid: r.0.iter().all(|c| c.ok),
        stamped: dec.is_some_and(Dec::is_stamped),
        folio_digital: dec.and_then(|d| d.folio_digital().map(str::to_string)),
        cadena_original: cadena,
        checks: r.0,
    }
}

fn check_school_seal(r: &mut Report, dec: &Dec, cadena: Option<&str>) {
    if !r.add(
        "sellado",
        "Documento sellado",
        dec.is_sealed(),
        if dec.is_sealed() { "tiene sello" } else { "falta el atributo sello" },
    ) {
        return;
    }
    let cert = match SignerCertificate::from_base64(&dec.certificado_responsable) {
        Ok(c) => {
            r.add("certificado_responsable", "Certificado del responsable", true, format!("número {}", c.number()));
            c
        }
        Err(e) => {
            r.add("certificado_responsable", "Certificado del responsable", false, e.to_string());
            return;
        }
    };
    let number_ok = cert.number().value == dec.no_certificado_responsable;
    r.add(
        "numero_certificado",
        "Número de certificado",
        number_ok,
        if number_ok {
            format!("{} coincide con el certificado", dec.no_certificado_responsable)
        } else {
            format!(
                "noCertificadoResponsable es «{}» y el certificado es {}",
                dec.no_certificado_responsable,
                cert.number()
            )
        },
    );
    if let Some(cadena) = cadena {
        let ok = from_base64(&dec.sello).is_some_and(|sig| cert.verify(cadena.as_bytes(), &sig));
        r.add(
            "sello",
            "Sello del responsable",
            ok,
            if ok {
                "válido sobre la cadena original"
            } else {
                "no corresponde a la cadena original: el documento fue alterado o el sello es de otro certificado"
            },
        );
    }
    match dec.issue_date() {
        Some(date) => {
            let v = cert.check_valid_on(date);
            r.add(
                "vigencia",
                "Vigencia del certificado en la fecha de expedición",
                v.is_ok(),
                match v {
                    Ok(()) => format!("vigente el {date}"),
                    Err(e) => e.to_string(),
                },
            );
        }
        None => {
            r.add(
                "vigencia",
                "Vigencia del certificado en la fecha de expedición",
                false,
                "fecha de expedición ilegible",
            );
        }
    }
    let curp_ok = cert.subject_curp() == Some(dec.responsable.curp.trim());
    r.add(
        "curp_responsable",
        "CURP del certificado igual a la del responsable",
        curp_ok,
        format!("certificado: {}; responsable: {}", cert.subject_curp().unwrap_or("(sin CURP)"), dec.responsable.curp),
    );
}

fn check_authority(r: &mut Report, dec: &Dec, authorities: &[SignerCertificate]) {
    let (Some(dreoe), Some(sep)) = (&dec.dreoe, &dec.sep_ipes) else {
        r.add("nodos_autoridad", "Nodos de la autoridad", false, "debe tener Dreoe y SepIpes");
        return;
    };
    r.add("nodos_autoridad", "Nodos de la autoridad", true, "Dreoe y SepIpes presentes");
    r.add(
        "sello_dec",
        "selloDec igual al sello del documento",
        dreoe.sello_dec == dec.sello,
        if dreoe.sello_dec == dec.sello { "coinciden" } else { "Dreoe/selloDec no es el sello del documento" },
    );
    r.add(
        "sello_dreoe_copia",
        "SepIpes/selloDreoe igual a Dreoe/selloDreoe",
        sep.sello_dreoe == dreoe.sello_dreoe,
        if sep.sello_dreoe == dreoe.sello_dreoe { "coinciden" } else { "no coinciden" },
    );
    let uuid_ok = uuid::Uuid::parse_str(&sep.folio_digital).is_ok();
    r.add(
        "folio_digital",
        "folioDigital",
        uuid_ok,
        if uuid_ok { sep.folio_digital.clone() } else { format!("«{}» no es un UUID", sep.folio_digital) },
    );

    let find = |number: &str| authorities.iter().find(|c| c.number().value == number);
    for (code, title, number, cadena, sello) in [
        (
            "sello_dreoe",
            "Sello de la autoridad (Dreoe)",
            &dreoe.no_certificado_dreoe,
            dreoe_cadena(dreoe),
            &dreoe.sello_dreoe,
        ),
        (
            "sello_sep_ipes",
            "Sello de la autoridad (SepIpes)",
            &sep.no_certificado_sep_ipes,
            sep_ipes_cadena(sep),
            &sep.sello_sep_ipes,
        ),
    ] {
        let Some(cert) = find(number) else {
            r.add(code, title, false, format!("el certificado {number} no es de una autoridad reconocida"));
            continue;
        };
        let ok = cadena.is_ok_and(|c| from_base64(sello).is_some_and(|sig| cert.verify(c.as_bytes(), &sig)));
        r.add(
            code,
            title,
            ok,
            if ok {
                format!("válido (certificado {number})")
            } else {
                "no corresponde: el nodo de la autoridad fue alterado".into()
            },
        );
    }
}
