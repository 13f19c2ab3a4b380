//! Checks on the values of a `Dec` document itself, for documents prepared
//! elsewhere (offline signing, uploads): required values present, numbers,
//! dates, catalog codes and CURPs well formed; and the academic totals
//! compared with the subjects (warnings only: a document prepared elsewhere
//! is not recomputed).

use crate::catalogs::{
    Cargo, EntidadFederativa, Genero, NivelEstudios, Observacion, TipoAsignatura, TipoCertificacion, TipoPeriodo,
};
use crate::curp::Curp;
use crate::document::{Dec, TIPO_CERTIFICADO, parse_date_time};
use crate::numbers::Decimal2;
use std::collections::HashSet;

/// One value that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ValueProblem {
    /// Where, as `Element/attribute` (`Asignatura[3]/creditos`).
    pub field: String,
    /// What is wrong, in Spanish.
    pub message: String,
}

impl std::fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

enum Kind {
    Text,
    Integer,
    Decimal,
    DateTime,
    Curp,
    Catalog(fn(u32) -> bool),
    Entidad,
}

struct Collector(Vec<ValueProblem>);

impl Collector {
    fn check(&mut self, field: impl Into<String>, value: &str, kind: Kind) {
        let field = field.into();
        let v = value.trim();
        let mut bad = |m: String| self.0.push(ValueProblem { field: field.clone(), message: m });
        if v.is_empty() {
            bad("falta el valor".into());
            return;
        }
        match kind {
            Kind::Text => {}
            Kind::Integer if !v.bytes().all(|b| b.is_ascii_digit()) => bad(format!("«{v}» debe ser un número entero")),
            Kind::Decimal if Decimal2::parse(v).is_err() => {
                bad(format!("«{v}» debe ser un número con hasta dos decimales"))
            }
            Kind::DateTime if parse_date_time(v).is_none() => {
                bad(format!("«{v}» debe ser una fecha con el formato AAAA-MM-DDThh:mm:ss"))
            }
            Kind::Curp => {
                if let Err(e) = Curp::parse(v) {
                    bad(e.to_string());
                }
            }
            Kind::Catalog(known) if !v.parse::<u32>().is_ok_and(known) => {
                bad(format!("«{v}» no es una clave del catálogo"))
            }
            Kind::Entidad if EntidadFederativa::from_code_str(v).is_none() || v.len() != 2 => {
                bad(format!("«{v}» debe ser la clave de dos dígitos de una entidad federativa (01 a 32)"))
            }
            _ => {}
        }
    }
}

/// Every missing or malformed value of the document.
pub fn value_problems(dec: &Dec) -> Vec<ValueProblem> {
    let mut c = Collector(Vec::new());
    if dec.tipo_certificado != TIPO_CERTIFICADO {
        c.0.push(ValueProblem {
            field: "Dec/tipoCertificado".into(),
            message: format!("debe ser «{TIPO_CERTIFICADO}» y es «{}»", dec.tipo_certificado),
        });
    }
    c.check("ServicioFirmante/idEntidad", &dec.servicio_firmante.id_entidad, Kind::Text);
    c.check("Ipes/idNombreInstitucion", &dec.ipes.id_nombre_institucion, Kind::Text);
    c.check("Ipes/nombreInstitucion", &dec.ipes.nombre_institucion, Kind::Text);
    c.check("Ipes/idCampus", &dec.ipes.id_campus, Kind::Text);
    c.check("Ipes/idEntidadFederativa", &dec.ipes.id_entidad_federativa, Kind::Entidad);
    c.check("Responsable/curp", &dec.responsable.curp, Kind::Curp);
    c.check("Responsable/nombre", &dec.responsable.nombre, Kind::Text);
    c.check("Responsable/primerApellido", &dec.responsable.primer_apellido, Kind::Text);
    c.check("Responsable/idCargo", &dec.responsable.id_cargo, Kind::Catalog(|n| Cargo::from_code(n).is_some()));
    c.check("Rvoe/numero", &dec.rvoe.numero, Kind::Text);
    c.check("Rvoe/fechaExpedicion", &dec.rvoe.fecha_expedicion, Kind::DateTime);
    c.check("Carrera/idCarrera", &dec.carrera.id_carrera, Kind::Integer);
    c.check("Carrera/nombreCarrera", &dec.carrera.nombre_carrera, Kind::Text);
    c.check(
        "Carrera/idTipoPeriodo",
        &dec.carrera.id_tipo_periodo,
        Kind::Catalog(|n| TipoPeriodo::from_code(n).is_some()),
    );
    c.check("Carrera/clavePlan", &dec.carrera.clave_plan, Kind::Text);
    c.check(
        "Carrera/idNivelEstudios",
        &dec.carrera.id_nivel_estudios,
        Kind::Catalog(|n| NivelEstudios::from_code(n).is_some()),
    );
    c.check("Carrera/calificacionMinima", &dec.carrera.calificacion_minima, Kind::Decimal);
    c.check("Carrera/calificacionMaxima", &dec.carrera.calificacion_maxima, Kind::Decimal);
    c.check("Carrera/calificacionMinimaAprobatoria", &dec.carrera.calificacion_minima_aprobatoria, Kind::Decimal);
    c.check("Alumno/numeroControl", &dec.alumno.numero_control, Kind::Text);
    c.check("Alumno/curp", &dec.alumno.curp, Kind::Curp);
    c.check("Alumno/nombre", &dec.alumno.nombre, Kind::Text);
    c.check("Alumno/primerApellido", &dec.alumno.primer_apellido, Kind::Text);
    c.check("Alumno/idGenero", &dec.alumno.id_genero, Kind::Catalog(|n| Genero::from_code(n).is_some()));
    c.check("Alumno/fechaNacimiento", &dec.alumno.fecha_nacimiento, Kind::DateTime);
    c.check(
        "Expedicion/idTipoCertificacion",
        &dec.expedicion.id_tipo_certificacion,
        Kind::Catalog(|n| TipoCertificacion::from_code(n).is_some()),
    );
    c.check("Expedicion/fecha", &dec.expedicion.fecha, Kind::DateTime);
    c.check("Expedicion/idLugarExpedicion", &dec.expedicion.id_lugar_expedicion, Kind::Entidad);
    c.check("Asignaturas/total", &dec.asignaturas.total, Kind::Integer);
    c.check("Asignaturas/asignadas", &dec.asignaturas.asignadas, Kind::Integer);
    c.check("Asignaturas/promedio", &dec.asignaturas.promedio, Kind::Decimal);
    c.check("Asignaturas/totalCreditos", &dec.asignaturas.total_creditos, Kind::Decimal);
    c.check("Asignaturas/creditosObtenidos", &dec.asignaturas.creditos_obtenidos, Kind::Decimal);
    c.check("Asignaturas/numeroCiclos", &dec.asignaturas.numero_ciclos, Kind::Integer);
    if dec.asignatura.is_empty() {
        c.0.push(ValueProblem { field: "Asignaturas".into(), message: "debe contener al menos una Asignatura".into() });
    }
    let mut ids = HashSet::new();
    for (i, a) in dec.asignatura.iter().enumerate() {
        let at = |attr: &str| format!("Asignatura[{}]/{attr}", i + 1);
        c.check(at("idAsignatura"), &a.id_asignatura, Kind::Integer);
        if !a.id_asignatura.trim().is_empty() && !ids.insert(a.id_asignatura.trim()) {
            c.0.push(ValueProblem {
                field: at("idAsignatura"),
                message: format!("«{}» está repetido; debe ser único en el plan", a.id_asignatura),
            });
        }
        c.check(at("nombre"), &a.nombre, Kind::Text);
        c.check(at("ciclo"), &a.ciclo, Kind::Text);
        c.check(at("calificacion"), &a.calificacion, Kind::Decimal);
        c.check(
            at("idTipoAsignatura"),
            &a.id_tipo_asignatura,
            Kind::Catalog(|n| TipoAsignatura::from_code(n).is_some()),
        );
        c.check(at("creditos"), &a.creditos, Kind::Decimal);
        if !a.id_observaciones.is_empty() {
            c.check(at("idObservaciones"), &a.id_observaciones, Kind::Catalog(|n| Observacion::from_code(n).is_some()));
        }
    }
    c.0
}

/// Where the stated totals disagree with the subjects (warnings).
pub fn totals_warnings(dec: &Dec) -> Vec<String> {
    let mut w = Vec::new();
    let n = dec.asignatura.len();
    if dec.asignaturas.asignadas.trim().parse::<usize>().ok() != Some(n) {
        w.push(format!(
            "Asignaturas/asignadas es «{}» pero el documento tiene {n} asignaturas",
            dec.asignaturas.asignadas
        ));
    }
    if let Ok(total) = dec.asignaturas.total.trim().parse::<usize>()
        && total < n
    {
        w.push(format!("Asignaturas/total ({total}) es menor que el número de asignaturas ({n})"));
    }
    let grades: Option<Vec<(Decimal2, Decimal2)>> = dec
        .asignatura
        .iter()
        .map(|a| Some((Decimal2::parse(&a.calificacion).ok()?, Decimal2::parse(&a.creditos).ok()?)))
        .collect();
    let passing = Decimal2::parse(&dec.carrera.calificacion_minima_aprobatoria).ok();
    if let (Some(grades), Some(passing)) = (grades, passing) {
        let obtained: Decimal2 = grades.iter().filter(|(g, _)| *g >= passing).map(|(_, c)| *c).sum();
        if Decimal2::parse(&dec.asignaturas.creditos_obtenidos).ok() != Some(obtained) {
            w.push(format!(
                "Asignaturas/creditosObtenidos es «{}» pero la suma de créditos aprobados es {}",
                dec.asignaturas.creditos_obtenidos,
                obtained.fixed2()
            ));
        }
        let all = Decimal2::mean_half_up(grades.iter().map(|(g, _)| *g));
        let approved = Decimal2::mean_half_up(grades.iter().filter(|(g, _)| *g >= passing).map(|(g, _)| *g));
        let stated = Decimal2::parse(&dec.asignaturas.promedio).ok();
        if stated != Some(all) && stated != Some(approved) {
            w.push(format!(
                "Asignaturas/promedio es «{}» pero el promedio calculado es {}",
                dec.asignaturas.promedio,
                all.fixed2()
            ));
        }
    }
    let cycles: HashSet<&str> = dec.asignatura.iter().map(|a| a.ciclo.trim()).collect();
    if dec.asignaturas.numero_ciclos.trim().parse::<usize>().ok() != Some(cycles.len()) {
        w.push(format!(
            "Asignaturas/numeroCiclos es «{}» pero hay {} ciclos distintos",
            dec.asignaturas.numero_ciclos,
            cycles.len()
        ));
    }
    w
}
