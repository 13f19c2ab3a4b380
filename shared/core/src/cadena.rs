//! The cadena original: the canonical string that is signed
//! (SEP-FORMAT.md, "Cadena original and sello").
//!
//! `||` + the listed values separated by `|` + `||`; every value
//! whitespace-normalised like XPath `normalize-space`; an empty optional value
//! keeps its place; a `|` inside a value is invalid input.

use crate::document::Dec;

/// A value that cannot go into a cadena.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("el valor «{value}» de {field} contiene el carácter «|», que no se permite en la cadena original")]
pub struct PipeInValue {
    pub field: String,
    pub value: String,
}

/// XPath `normalize-space`: trim and collapse runs of XML white space
/// (space, tab, CR, LF) to one space.
pub fn normalize_space(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for word in value.split([' ', '\t', '\r', '\n']).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Joins named values into a cadena (`||a|b|…||`).
pub fn cadena_of<'a>(fields: impl IntoIterator<Item = (String, &'a str)>) -> Result<String, PipeInValue> {
    let mut out = String::with_capacity(2048);
    out.push('|');
    for (name, value) in fields {
        if value.contains('|') {
            return Err(PipeInValue { field: name, value: value.to_string() });
        }
        out.push('|');
        out.push_str(&normalize_space(value));
    }
    out.push_str("||");
    Ok(out)
}

/// The cadena original of a Dec 3.0 document, in the official field order.
pub fn cadena_original(dec: &Dec) -> Result<String, PipeInValue> {
    cadena_of(signed_values(dec))
}

/// The signed values of a Dec 3.0 document with their names
/// (`Alumno/curp`, `Asignatura[3]/calificacion`), in the cadena's order, as written.
pub fn signed_values(dec: &Dec) -> Vec<(String, &str)> {
    let n = |name: &str| name.to_string();
    let mut fields: Vec<(String, &str)> = vec![
        (n("Dec/version"), &dec.version),
        (n("Dec/tipoCertificado"), &dec.tipo_certificado),
        (n("ServicioFirmante/idEntidad"), &dec.servicio_firmante.id_entidad),
        (n("Ipes/idNombreInstitucion"), &dec.ipes.id_nombre_institucion),
        (n("Ipes/idCampus"), &dec.ipes.id_campus),
        (n("Ipes/idEntidadFederativa"), &dec.ipes.id_entidad_federativa),
        (n("Responsable/curp"), &dec.responsable.curp),
        (n("Responsable/idCargo"), &dec.responsable.id_cargo),
        (n("Rvoe/numero"), &dec.rvoe.numero),
        (n("Rvoe/fechaExpedicion"), &dec.rvoe.fecha_expedicion),
        (n("Carrera/idCarrera"), &dec.carrera.id_carrera),
        (n("Carrera/idTipoPeriodo"), &dec.carrera.id_tipo_periodo),
        (n("Carrera/clavePlan"), &dec.carrera.clave_plan),
        (n("Carrera/idNivelEstudios"), &dec.carrera.id_nivel_estudios),
        (n("Carrera/calificacionMinima"), &dec.carrera.calificacion_minima),
        (n("Carrera/calificacionMaxima"), &dec.carrera.calificacion_maxima),
        (n("Carrera/calificacionMinimaAprobatoria"), &dec.carrera.calificacion_minima_aprobatoria),
        (n("Alumno/numeroControl"), &dec.alumno.numero_control),
        (n("Alumno/curp"), &dec.alumno.curp),
        (n("Alumno/nombre"), &dec.alumno.nombre),
        (n("Alumno/primerApellido"), &dec.alumno.primer_apellido),
        (n("Alumno/segundoApellido"), &dec.alumno.segundo_apellido),
        (n("Alumno/idGenero"), &dec.alumno.id_genero),
        (n("Alumno/fechaNacimiento"), &dec.alumno.fecha_nacimiento),
        (n("Expedicion/idTipoCertificacion"), &dec.expedicion.id_tipo_certificacion),
        (n("Expedicion/fecha"), &dec.expedicion.fecha),
        (n("Expedicion/idLugarExpedicion"), &dec.expedicion.id_lugar_expedicion),
        (n("Asignaturas/total"), &dec.asignaturas.total),
        (n("Asignaturas/asignadas"), &dec.asignaturas.asignadas),
        (n("Asignaturas/promedio"), &dec.asignaturas.promedio),
        (n("Asignaturas/totalCreditos"), &dec.asignaturas.total_creditos),
        (n("Asignaturas/creditosObtenidos"), &dec.asignaturas.creditos_obtenidos),
        (n("Asignaturas/numeroCiclos"), &dec.asignaturas.numero_ciclos),
    ];
    for (i, a) in dec.asignatura.iter().enumerate() {
        let at = |attr: &str| format!("Asignatura[{}]/{attr}", i + 1);
        fields.push((at("idAsignatura"), &a.id_asignatura));
        fields.push((at("ciclo"), &a.ciclo));
        fields.push((at("calificacion"), &a.calificacion));
        fields.push((at("idTipoAsignatura"), &a.id_tipo_asignatura));
        fields.push((at("creditos"), &a.creditos));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_are_normalised_and_empty_ones_keep_their_place() {
        let c = cadena_of([("a".into(), "  uno \t dos\n"), ("b".into(), ""), ("c".into(), "tres")]).unwrap();
        assert_eq!(c, "||uno dos||tres||");
    }

    #[test]
    fn a_pipe_in_a_value_is_rejected_naming_the_field() {
        let e = cadena_of([("Alumno/nombre".into(), "Ana|Luisa")]).unwrap_err();
        assert_eq!(e.field, "Alumno/nombre");
        assert!(e.to_string().contains("Alumno/nombre"));
    }

    proptest! {
        #[test]
        fn normalize_space_is_idempotent_and_has_no_edge_or_double_spaces(s in "[ \t\r\na-zñáé|]{0,40}") {
            let once = normalize_space(&s);
            prop_assert_eq!(normalize_space(&once), once.clone());
            prop_assert!(!once.starts_with(' ') && !once.ends_with(' '));
            prop_assert!(!once.contains("  ") && !once.contains(['\t', '\r', '\n']));
            let words: Vec<&str> = s.split_whitespace().collect();
            prop_assert_eq!(once, words.join(" "));
        }

        #[test]
        fn cadena_has_one_field_per_value_unless_a_pipe_appears(values in proptest::collection::vec("[ a-z|]{0,8}", 1..12)) {
            let named = values.iter().enumerate().map(|(i, v)| (i.to_string(), v.as_str()));
            match cadena_of(named) {
                Ok(c) => {
                    prop_assert!(values.iter().all(|v| !v.contains('|')));
                    prop_assert!(c.starts_with("||") && c.ends_with("||"));
                    let inner = &c[2..c.len() - 2];
                    let count = inner.split('|').count();
                    prop_assert_eq!(count, values.len());
                }
                Err(_) => prop_assert!(values.iter().any(|v| v.contains('|'))),
            }
        }
    }
}
