//! The Dec document: build, write, parse, cadena original (golden), sealing
//! cross-checked with openssl, verification and the tamper matrix.

mod common;

use certifica_core::cadena::cadena_original;
use certifica_core::document::{Dec, DocumentError};
use certifica_core::efirma::{Efirma, EfirmaError};
use certifica_core::issue::{IssueError, seal_certificate};
use certifica_core::rules::{IssueContext, IssueProblem};
use certifica_core::sello::{from_base64, seal};
use certifica_core::stamping::{LocalAuthority, simulated_sep_certificate};
use certifica_core::verify::verify;
use common::*;
use std::process::Command;

fn sealed_with(n: usize, efirma: &Efirma) -> certifica_core::issue::Sealed {
    seal_sample(n, efirma, "2026-07-15")
}

#[test]
fn a_built_document_round_trips_through_xml_without_loss() {
    let efirma = fixtures().des3.load();
    let sealed = sealed_with(12, &efirma);
    let parsed = Dec::parse(&sealed.xml).unwrap();
    assert_eq!(parsed, sealed.dec);
    assert_eq!(parsed.to_xml(), sealed.xml);
    assert!(
        sealed
            .xml
            .contains(r#"<Dec xmlns="https://www.siged.sep.gob.mx/certificados/" version="3.0" tipoCertificado="5""#)
    );
    // Official child order.
    let order = [
        "<ServicioFirmante",
        "<Ipes",
        "<Responsable",
        "<Rvoe",
        "<Carrera",
        "<Alumno",
        "<Expedicion",
        "<Asignaturas",
        "<Asignatura ",
    ];
    let positions: Vec<usize> = order.iter().map(|t| sealed.xml.find(t).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
}

#[test]
fn numbers_are_written_as_the_format_says() {
    let efirma = fixtures().des3.load();
    let dec = sealed_with(4, &efirma).dec;
    let grades: Vec<&str> = dec.asignatura.iter().map(|a| a.calificacion.as_str()).collect();
    assert_eq!(grades, ["8.00", "9.00", "10", "8.50"]);
    assert!(dec.asignatura.iter().all(|a| a.creditos == "8.00"));
    assert_eq!(dec.carrera.calificacion_minima_aprobatoria, "6.00");
    assert_eq!(dec.asignaturas.promedio, "8.88"); // 35.5 / 4 = 8.875 → 8.88 half-up
    assert_eq!(dec.asignaturas.creditos_obtenidos, "32.00");
    assert_eq!(dec.expedicion.id_tipo_certificacion, "79");
    assert_eq!(dec.alumno.fecha_nacimiento, "2000-01-01T00:00:00");
    assert_eq!(dec.ipes.id_entidad_federativa, "09");
}

/// Hand-checked against SEP-FORMAT.md's field list.
#[test]
fn golden_cadena_original() {
    let efirma = fixtures().des3.load();
    let dec = sealed_with(2, &efirma).dec;
    let expected = "||3.0|5|090123|090123|150|09|GOMC850412MDFRRR03|5|20160712|2016-07-12T00:00:00|\
103456|91|2018|81|5.00|10|6.00|\
A0012345|PENA000101HDFRRL04|José Ángel|Peña|Ñúñez|251|2000-01-01T00:00:00|\
79|2026-07-15T00:00:00|09|\
2|2|8.50|16.00|16.00|1|\
5001|2019-1|8.00|263|8.00|5002|2019-1|9.00|263|8.00||";
    assert_eq!(cadena_original(&dec).unwrap(), expected);
}

#[test]
fn empty_optional_values_keep_their_place_and_spaces_are_normalised() {
    let efirma = fixtures().des3.load();
    let mut dec = sealed_with(1, &efirma).dec;
    dec.alumno.segundo_apellido = String::new();
    dec.alumno.nombre = "  José \n  Ángel ".into();
    let c = cadena_original(&dec).unwrap();
    assert!(c.contains("|José Ángel|Peña||251|"), "{c}");
    dec.alumno.nombre = "José|Ángel".into();
    let e = cadena_original(&dec).unwrap_err();
    assert_eq!(e.field, "Alumno/nombre");
}

#[test]
fn every_sello_verifies_with_openssl_over_the_printed_cadena() {
    let f = fixtures();
    for (material, number) in [(&f.des3, "00001000000500000001"), (&f.aes, "00001000000500000002")] {
        let efirma = material.load();
        let sealed = sealed_with(40, &efirma);
        let dir = &f.dir;
        let cadena = dir.join("cadena.txt");
        let sig = dir.join("sello.bin");
        std::fs::write(&cadena, &sealed.cadena_original).unwrap();
        std::fs::write(&sig, from_base64(&sealed.dec.sello).unwrap()).unwrap();
        let out = run(Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(material.openssl_pub_pem())
            .arg("-signature")
            .arg(&sig)
            .arg(&cadena));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Verified OK");
        assert_eq!(sealed.dec.no_certificado_responsable, number);
    }
}

#[test]
fn a_document_sealed_outside_the_project_passes_verification() {
    let f = fixtures();
    let efirma = f.aes.load();
    let mut dec = sealed_with(5, &efirma).dec;
    // Re-seal with openssl: cadena built by the test, signature by openssl.
    dec.sello.clear();
    let cadena = cadena_original(&dec).unwrap();
    let cadena_path = f.dir.join("externa.txt");
    std::fs::write(&cadena_path, &cadena).unwrap();
    let out =
        run(Command::new("openssl").args(["dgst", "-sha256", "-sign"]).arg(f.aes.openssl_key_pem()).arg(&cadena_path));
    dec.sello = certifica_core::sello::to_base64(&out.stdout);
    let report = verify(&dec.to_xml(), &[]);
    assert!(report.valid, "{:#?}", report.checks);
    // PKCS#1 v1.5 is deterministic: our signature is byte-identical to openssl's.
    let mut ours = dec.clone();
    seal(&mut ours, &efirma).unwrap();
    assert_eq!(ours.sello, dec.sello);
}

#[test]
fn tamper_matrix_every_edit_after_sealing_is_detected() {
    let f = fixtures();
    let efirma = f.des3.load();
    let authority = LocalAuthority::simulated_sep().unwrap();
    let trusted = [simulated_sep_certificate().unwrap()];
    let sealed = sealed_with(6, &efirma);
    let stamped = authority.authenticate(&sealed.xml).unwrap();
    assert!(verify(&sealed.xml, &trusted).valid);
    assert!(verify(&stamped.xml, &trusted).valid);
    let other_cert = f.other.load().certificate().to_base64();

    type Edit = Box<dyn Fn(&mut Dec)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("grade", Box::new(|d| d.asignatura[0].calificacion = "10".into())),
        ("name", Box::new(|d| d.alumno.nombre = "Josefina".into())),
        ("curp", Box::new(|d| d.alumno.curp = fix_curp("PENA000101HDFRRL0").replace("04", "13"))),
        ("credits", Box::new(|d| d.asignatura[1].creditos = "9.00".into())),
        ("total credits", Box::new(|d| d.asignaturas.creditos_obtenidos = "40.00".into())),
        ("certificate swapped", Box::new(move |d| d.certificado_responsable = other_cert.clone())),
        (
            "subject deleted",
            Box::new(|d| {
                d.asignatura.remove(3);
            }),
        ),
        ("cycle", Box::new(|d| d.asignatura[2].ciclo = "2020-2".into())),
        ("issue date", Box::new(|d| d.expedicion.fecha = "2026-07-16T00:00:00".into())),
        ("rvoe", Box::new(|d| d.rvoe.numero = "20160713".into())),
    ];
    for (what, edit) in &edits {
        for base in [&sealed.xml, &stamped.xml] {
            let mut dec = Dec::parse(base).unwrap();
            edit(&mut dec);
            let report = verify(&dec.to_xml(), &trusted);
            assert!(!report.valid, "editing the {what} was not detected");
        }
    }
    // Editing the authority's nodes.
    let stamped_edits: Vec<(&str, Edit)> = vec![
        ("folio", Box::new(|d| d.sep_ipes.as_mut().unwrap().folio_digital = uuid::Uuid::new_v4().to_string())),
        ("stamp date", Box::new(|d| d.sep_ipes.as_mut().unwrap().fecha_sep_ipes = "2030-01-01T00:00:00".into())),
        ("selloDec", Box::new(|d| d.dreoe.as_mut().unwrap().sello_dec = "QUJD".into())),
        ("dreoe date", Box::new(|d| d.dreoe.as_mut().unwrap().fecha_dreoe = "2030-01-01T00:00:00".into())),
        ("authority node removed", Box::new(|d| d.dreoe = None)),
    ];
    for (what, edit) in &stamped_edits {
        let mut dec = Dec::parse(&stamped.xml).unwrap();
        edit(&mut dec);
        assert!(!verify(&dec.to_xml(), &trusted).valid, "editing the {what} was not detected");
    }
    // An authority nobody trusts.
    assert!(!verify(&stamped.xml, &[]).valid);
}

#[test]
fn the_parser_refuses_doctype_entities_and_foreign_documents() {
    let efirma = fixtures().des3.load();
    let xml = sealed_with(1, &efirma).xml;
    let with_doctype = xml.replacen("<Dec ", "<!DOCTYPE Dec [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Dec ", 1);
    assert_eq!(Dec::parse(&with_doctype), Err(DocumentError::DoctypeForbidden));
    let with_entity = xml.replacen("nombre=\"José Ángel\"", "nombre=\"&x;\"", 1);
    assert!(matches!(Dec::parse(&with_entity), Err(DocumentError::Malformed(_))));
    let wrong_ns = xml.replace("https://www.siged.sep.gob.mx/certificados/", "https://www.siged.sep.gob.mx/titulos/");
    assert!(matches!(Dec::parse(&wrong_ns), Err(DocumentError::WrongNamespace(_))));
    let wrong_version = xml.replacen("version=\"3.0\"", "version=\"2.0\"", 1);
    assert!(matches!(Dec::parse(&wrong_version), Err(DocumentError::WrongVersion(_))));
    let extra = xml.replacen("<Rvoe ", "<Extra/><Rvoe ", 1);
    assert!(matches!(Dec::parse(&extra), Err(DocumentError::UnexpectedElement { .. })));
    let unknown_attr = xml.replacen("<Rvoe ", "<Rvoe foo=\"1\" ", 1);
    assert!(matches!(Dec::parse(&unknown_attr), Err(DocumentError::UnknownAttribute { .. })));
    assert!(matches!(Dec::parse("<html/>"), Err(DocumentError::WrongRoot(_))));
    assert!(matches!(Dec::parse("no es xml"), Err(DocumentError::Malformed(_))));
    assert!(matches!(Dec::parse(&"<".repeat(3 * 1024 * 1024)), Err(DocumentError::TooLarge)));
    let reordered = {
        let start = xml.find("<Rvoe ").unwrap();
        let end = xml[start..].find("/>").unwrap() + start + 2;
        let rvoe = &xml[start..end];
        xml.replacen(rvoe, "", 1).replacen("<Asignaturas ", &format!("{rvoe}<Asignaturas "), 1)
    };
    assert!(Dec::parse(&reordered).is_err(), "Rvoe after Expedicion must be refused");
}

#[test]
fn legacy_sepipes_spelling_is_read_and_written_back() {
    let efirma = fixtures().des3.load();
    let stamped = LocalAuthority::simulated_sep().unwrap().authenticate(&sealed_with(2, &efirma).xml).unwrap();
    let legacy = stamped.xml.replace("<SepIpes ", "<SepIPes ");
    let dec = Dec::parse(&legacy).unwrap();
    assert!(dec.sep_ipes_legacy_name);
    assert_eq!(dec.to_xml(), legacy);
    assert!(verify(&legacy, &[simulated_sep_certificate().unwrap()]).valid);
}

#[test]
fn rules_block_sealing_and_nothing_is_signed() {
    let (inst, school, plan) = (institution(), school(), plan(3));
    let mut student = student(&plan);
    student.curp = "PENA000101HDFRRL05".into();
    student.active = false;
    let resp = responsable();
    let efirma = fixtures().expired.load();
    let ctx = IssueContext {
        institution: &inst,
        plan: &plan,
        student: &student,
        signer: Some((&resp, &efirma)),
        credits_available: 0,
        issue_date: date("2026-07-15"),
    };
    let Err(IssueError::Rules(problems)) = seal_certificate(&ctx, &school, "F1") else { panic!("must be refused") };
    let codes: Vec<&str> = problems.iter().map(IssueProblem::code).collect();
    assert_eq!(codes, ["alumno_inactivo", "curp_invalida", "certificado_no_vigente", "sin_creditos"]);
    assert!(matches!(&problems[2], IssueProblem::Signer(EfirmaError::NotValidOn { .. })));
}

#[test]
fn documents_are_compared_by_value_not_by_how_they_are_written() {
    use certifica_core::issue::first_difference;
    let efirma = fixtures().aes.load();
    let ours = sealed_with(5, &efirma).dec;
    // Another writer's spelling of the same values.
    let mut theirs = ours.clone();
    theirs.carrera.calificacion_minima = "5".into();
    theirs.carrera.calificacion_minima_aprobatoria = "06.0".into();
    theirs.asignatura[0].calificacion = format!("0{}", theirs.asignatura[0].calificacion);
    theirs.expedicion.fecha = theirs.expedicion.fecha.replace("T00:00:00", "T12:00:00");
    theirs.alumno.nombre = format!("  {} ", theirs.alumno.nombre);
    assert_ne!(cadena_original(&theirs).unwrap(), cadena_original(&ours).unwrap());
    assert_eq!(first_difference(&ours, &theirs), None);
    // Different values are still told apart, naming the value.
    let mut grade = ours.clone();
    grade.asignatura[1].calificacion = "9.99".into();
    let (expected, found) = first_difference(&ours, &grade).expect("a grade differs");
    assert!(expected.starts_with("Asignatura[2]/calificacion: ") && found == "Asignatura[2]/calificacion: 9.99");
    let mut day = ours.clone();
    day.expedicion.fecha = "2026-07-16T00:00:00".into();
    assert!(first_difference(&ours, &day).is_some_and(|(e, _)| e.starts_with("Expedicion/fecha")));
    let mut name = ours.clone();
    name.alumno.curp = name.alumno.curp.to_lowercase();
    assert!(first_difference(&ours, &name).is_some());
    let mut fewer = ours.clone();
    fewer.asignatura.pop();
    assert_eq!(first_difference(&ours, &fewer), Some(("5 asignaturas".into(), "4 asignaturas".into())));
}
