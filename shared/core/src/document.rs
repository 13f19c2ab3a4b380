//! The `Dec` document, version 3.0 (SEP-FORMAT.md, "The Dec document").
//!
//! Every attribute is kept as the exact text of the document so that a
//! document made elsewhere parses, verifies and re-serialises without loss.
//! Writing omits empty attributes; reading treats an absent attribute as
//! empty, so `parse(write(d)) == d`. Stamped documents are still stored byte
//! for byte: this type is for reading and building, not for rewriting the
//! legal document.
//!
//! The reader is strict: no DOCTYPE or entity declarations (so no entity
//! expansion or external fetch), only the known elements in the official
//! order, bounded size and subject count.

use crate::model::{Institution, Plan, Responsable, School, Student};
use crate::numbers::format;
use crate::rules::{AcademicSummary, certified_subjects};
use chrono::NaiveDate;
use quick_xml::events::{BytesDecl, BytesStart, Event};
use quick_xml::{Reader, Writer};
use serde::Serialize;

/// The default namespace of the document (the trailing slash belongs to it).
pub const NAMESPACE: &str = "https://www.siged.sep.gob.mx/certificados/";
pub const VERSION: &str = "3.0";
pub const TIPO_CERTIFICADO: &str = "5";
/// Largest document accepted (bytes).
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;
/// Most subjects accepted in one document.
pub const MAX_SUBJECTS: usize = 1000;

/// Declares a node: a struct of attribute texts in document order, with the
/// mapping to its XML attribute names.
macro_rules! node {
    ($(#[$meta:meta])* $name:ident = $element:literal { $($field:ident: $attr:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
        pub struct $name { $(pub $field: String,)+ }

        impl $name {
            pub const ELEMENT: &'static str = $element;

            /// (attribute, value) pairs in document order.
            pub fn attributes(&self) -> Vec<(&'static str, &str)> {
                vec![$(($attr, self.$field.as_str()),)+]
            }

            fn set(&mut self, attr: &str, value: String) -> bool {
                match attr {
                    $($attr => { self.$field = value; true })+
                    _ => false,
                }
            }
        }
    };
}

node! {
    /// `ServicioFirmante`.
    ServicioFirmante = "ServicioFirmante" { id_entidad: "idEntidad", }
}
node! {
    /// `Ipes` (its child `Responsable` is held by [`Dec`]).
    Ipes = "Ipes" {
        id_nombre_institucion: "idNombreInstitucion",
        nombre_institucion: "nombreInstitucion",
        id_campus: "idCampus",
        campus: "campus",
        id_entidad_federativa: "idEntidadFederativa",
        entidad_federativa: "entidadFederativa",
    }
}
node! {
    /// `Responsable`: the signer.
    ResponsableNode = "Responsable" {
        curp: "curp",
        nombre: "nombre",
        primer_apellido: "primerApellido",
        segundo_apellido: "segundoApellido",
        id_cargo: "idCargo",
        cargo: "cargo",
    }
}
node! {
    /// `Rvoe`.
    RvoeNode = "Rvoe" { numero: "numero", fecha_expedicion: "fechaExpedicion", }
}
node! {
    /// `Carrera`.
    Carrera = "Carrera" {
        id_carrera: "idCarrera",
        clave_carrera: "claveCarrera",
        nombre_carrera: "nombreCarrera",
        id_tipo_periodo: "idTipoPeriodo",
        tipo_periodo: "tipoPeriodo",
        clave_plan: "clavePlan",
        id_nivel_estudios: "idNivelEstudios",
        nivel_estudios: "nivelEstudios",
        calificacion_minima: "calificacionMinima",
        calificacion_maxima: "calificacionMaxima",
        calificacion_minima_aprobatoria: "calificacionMinimaAprobatoria",
    }
}
node! {
    /// `Alumno`.
    Alumno = "Alumno" {
        numero_control: "numeroControl",
        curp: "curp",
        nombre: "nombre",
        primer_apellido: "primerApellido",
        segundo_apellido: "segundoApellido",
        id_genero: "idGenero",
        fecha_nacimiento: "fechaNacimiento",
    }
}
node! {
    /// `Expedicion`.
    Expedicion = "Expedicion" {
        id_tipo_certificacion: "idTipoCertificacion",
        tipo_certificacion: "tipoCertificacion",
        fecha: "fecha",
        id_lugar_expedicion: "idLugarExpedicion",
        lugar_expedicion: "lugarExpedicion",
    }
}
node! {
    /// `Asignaturas` (its `Asignatura` children are held by [`Dec`]).
    Asignaturas = "Asignaturas" {
        total: "total",
        asignadas: "asignadas",
        promedio: "promedio",
        total_creditos: "totalCreditos",
        creditos_obtenidos: "creditosObtenidos",
        numero_ciclos: "numeroCiclos",
    }
}
node! {
    /// `Asignatura`.
    Asignatura = "Asignatura" {
        id_asignatura: "idAsignatura",
        clave_asignatura: "claveAsignatura",
        nombre: "nombre",
        ciclo: "ciclo",
        calificacion: "calificacion",
        id_observaciones: "idObservaciones",
        observaciones: "observaciones",
        id_tipo_asignatura: "idTipoAsignatura",
        tipo_asignatura: "tipoAsignatura",
        creditos: "creditos",
    }
}
node! {
    /// `Dreoe`: added by the authority (DGAIR seal).
    Dreoe = "Dreoe" {
        fecha_dreoe: "fechaDreoe",
        sello_dec: "selloDec",
        no_certificado_dreoe: "noCertificadoDreoe",
        curp: "curp",
        nombre_completo: "nombreCompleto",
        id_cargo: "idCargo",
        cargo: "cargo",
        sello_dreoe: "selloDreoe",
    }
}
node! {
    /// `SepIpes`: added by the authority (SEP stamp with `folioDigital`).
    SepIpes = "SepIpes" {
        version: "version",
        folio_digital: "folioDigital",
        fecha_sep_ipes: "fechaSepIpes",
        sello_dreoe: "selloDreoe",
        no_certificado_sep_ipes: "noCertificadoSepIpes",
        sello_sep_ipes: "selloSepIpes",
    }
}

/// One old generator spells the stamp node `SepIPes`; both are read, and the
/// spelling read is written back.
pub const SEP_IPES_LEGACY: &str = "SepIPes";

/// A certificate of studies (Dec 3.0), sealed or not, stamped or not.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Dec {
    pub version: String,
    pub tipo_certificado: String,
    pub folio_control: String,
    pub sello: String,
    pub certificado_responsable: String,
    pub no_certificado_responsable: String,
    pub servicio_firmante: ServicioFirmante,
    pub ipes: Ipes,
    pub responsable: ResponsableNode,
    pub rvoe: RvoeNode,
    pub carrera: Carrera,
    pub alumno: Alumno,
    pub expedicion: Expedicion,
    pub asignaturas: Asignaturas,
    pub asignatura: Vec<Asignatura>,
    pub dreoe: Option<Dreoe>,
    pub sep_ipes: Option<SepIpes>,
    /// True when the stamp node was spelled `SepIPes`.
    pub sep_ipes_legacy_name: bool,
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("el documento supera el tamaño máximo de {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("el documento no es XML bien formado: {0}")]
    Malformed(String),
    #[error("el documento contiene una declaración DOCTYPE o de entidades, que no se permite")]
    DoctypeForbidden,
    #[error("el elemento raíz debe ser «Dec» y es «{0}»")]
    WrongRoot(String),
    #[error("el espacio de nombres debe ser «{NAMESPACE}» y es «{0}»")]
    WrongNamespace(String),
    #[error("la versión debe ser «{VERSION}» y es «{0}»")]
    WrongVersion(String),
    #[error("elemento inesperado «{element}» dentro de «{parent}»")]
    UnexpectedElement { element: String, parent: String },
    #[error("atributo desconocido «{attribute}» en «{element}»")]
    UnknownAttribute { element: String, attribute: String },
    #[error("el elemento «{0}» aparece más de una vez")]
    Repeated(String),
    #[error("falta el elemento «{0}»")]
    MissingElement(&'static str),
    #[error("el documento tiene más de {MAX_SUBJECTS} asignaturas")]
    TooManySubjects,
    #[error("texto inesperado dentro de «{0}»")]
    UnexpectedText(String),
}

impl DocumentError {
    pub fn code(&self) -> &'static str {
        match self {
            DocumentError::TooLarge => "documento_muy_grande",
            DocumentError::Malformed(_) => "xml_mal_formado",
            DocumentError::DoctypeForbidden => "doctype_no_permitido",
            DocumentError::WrongRoot(_) => "raiz_incorrecta",
            DocumentError::WrongNamespace(_) => "espacio_de_nombres_incorrecto",
            DocumentError::WrongVersion(_) => "version_incorrecta",
            DocumentError::UnexpectedElement { .. } => "elemento_inesperado",
            DocumentError::UnknownAttribute { .. } => "atributo_desconocido",
            DocumentError::Repeated(_) => "elemento_repetido",
            DocumentError::MissingElement(_) => "elemento_faltante",
            DocumentError::TooManySubjects => "demasiadas_asignaturas",
            DocumentError::UnexpectedText(_) => "texto_inesperado",
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> DocumentError {
    DocumentError::Malformed(e.to_string())
}

/// Attributes namespaces use (xmlns, xsi:schemaLocation…) are not data.
fn is_namespace_attribute(name: &str) -> bool {
    name == "xmlns" || name.starts_with("xmlns:") || name.starts_with("xsi:")
}

impl Dec {
    /// Whether the school's seal is present.
    pub fn is_sealed(&self) -> bool {
        !self.sello.is_empty()
    }

    /// Whether the authority's nodes are present.
    pub fn is_stamped(&self) -> bool {
        self.dreoe.is_some() || self.sep_ipes.is_some()
    }

    /// The authority's folio, once stamped.
    pub fn folio_digital(&self) -> Option<&str> {
        self.sep_ipes.as_ref().map(|s| s.folio_digital.as_str()).filter(|f| !f.is_empty())
    }

    /// The issue date (`Expedicion/fecha`), if it reads as a date.
    pub fn issue_date(&self) -> Option<NaiveDate> {
        parse_date_time(&self.expedicion.fecha)
    }

    /// Serialises to UTF-8 XML with the declaration.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new(Vec::with_capacity(4096 + self.asignatura.len() * 256));
        // Writing into a Vec cannot fail; errors are impossible here.
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let mut root = BytesStart::new("Dec");
        root.push_attribute(("xmlns", NAMESPACE));
        for (k, v) in [
            ("version", &self.version),
            ("tipoCertificado", &self.tipo_certificado),
            ("folioControl", &self.folio_control),
            ("sello", &self.sello),
            ("certificadoResponsable", &self.certificado_responsable),
            ("noCertificadoResponsable", &self.no_certificado_responsable),
        ] {
            if !v.is_empty() {
                root.push_attribute((k, v.as_str()));
            }
        }
        let _ = w.write_event(Event::Start(root));
        let empty = |w: &mut Writer<Vec<u8>>, name: &str, attrs: Vec<(&str, &str)>| {
            let mut e = BytesStart::new(name);
            for (k, v) in attrs.into_iter().filter(|(_, v)| !v.is_empty()) {
                e.push_attribute((k, v));
            }
            let _ = w.write_event(Event::Empty(e));
        };
        empty(&mut w, ServicioFirmante::ELEMENT, self.servicio_firmante.attributes());
        let mut ipes = BytesStart::new(Ipes::ELEMENT);
        for (k, v) in self.ipes.attributes().into_iter().filter(|(_, v)| !v.is_empty()) {
            ipes.push_attribute((k, v));
        }
        let _ = w.write_event(Event::Start(ipes.borrow()));
        empty(&mut w, ResponsableNode::ELEMENT, self.responsable.attributes());
        let _ = w.write_event(Event::End(ipes.to_end()));
        empty(&mut w, RvoeNode::ELEMENT, self.rvoe.attributes());
        empty(&mut w, Carrera::ELEMENT, self.carrera.attributes());
        empty(&mut w, Alumno::ELEMENT, self.alumno.attributes());
        empty(&mut w, Expedicion::ELEMENT, self.expedicion.attributes());
        let mut subjects = BytesStart::new(Asignaturas::ELEMENT);
        for (k, v) in self.asignaturas.attributes().into_iter().filter(|(_, v)| !v.is_empty()) {
            subjects.push_attribute((k, v));
        }
        let _ = w.write_event(Event::Start(subjects.borrow()));
        for a in &self.asignatura {
            empty(&mut w, Asignatura::ELEMENT, a.attributes());
        }
        let _ = w.write_event(Event::End(subjects.to_end()));
        if let Some(d) = &self.dreoe {
            empty(&mut w, Dreoe::ELEMENT, d.attributes());
        }
        if let Some(s) = &self.sep_ipes {
            let name = if self.sep_ipes_legacy_name { SEP_IPES_LEGACY } else { SepIpes::ELEMENT };
            empty(&mut w, name, s.attributes());
        }
        let _ = w.write_event(Event::End(quick_xml::events::BytesEnd::new("Dec")));
        String::from_utf8(w.into_inner()).unwrap_or_default()
    }

    /// Reads a document strictly (see the module docs).
    pub fn parse(xml: &str) -> Result<Dec, DocumentError> {
        if xml.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge);
        }
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut dec = Dec::default();
        // The path of open elements; the structure is at most three deep.
        let mut stack: Vec<String> = Vec::new();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut root_seen = false;
        loop {
            let event = reader.read_event().map_err(malformed)?;
            let opens = matches!(event, Event::Start(_));
            match event {
                Event::Decl(_) | Event::Comment(_) => {}
                Event::DocType(_) => return Err(DocumentError::DoctypeForbidden),
                Event::PI(_) => return Err(malformed("instrucción de procesamiento no permitida")),
                Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(DocumentError::UnexpectedText(stack.last().cloned().unwrap_or_default()));
                }
                Event::Text(t) => {
                    if !t.into_inner().chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
                        return Err(match stack.last() {
                            Some(parent) => DocumentError::UnexpectedText(parent.clone()),
                            None => malformed("hay texto fuera del elemento raíz; el archivo no es un documento XML"),
                        });
                    }
                }
                Event::Start(e) | Event::Empty(e) if stack.is_empty() => {
                    if root_seen {
                        return Err(malformed("hay contenido después del elemento raíz"));
                    }
                    root_seen = true;
                    let name = local(&e);
                    if name != "Dec" {
                        return Err(DocumentError::WrongRoot(name));
                    }
                    dec.read_root(&e)?;
                    // An empty root (`<Dec/>`) opens nothing; the missing children are reported below.
                    if opens {
                        stack.push(name);
                    }
                }
                Event::Start(e) => {
                    let name = local(&e);
                    dec.read_child(&stack, &name, &e, &mut seen)?;
                    stack.push(name);
                }
                Event::Empty(e) => {
                    let name = local(&e);
                    dec.read_child(&stack, &name, &e, &mut seen)?;
                }
                Event::End(_) => {
                    stack.pop();
                }
                Event::Eof => break,
            }
        }
        if !root_seen {
            return Err(DocumentError::WrongRoot(String::new()));
        }
        for required in
            ["ServicioFirmante", "Ipes", "Responsable", "Rvoe", "Carrera", "Alumno", "Expedicion", "Asignaturas"]
        {
            if !seen.contains(&required) {
                return Err(DocumentError::MissingElement(required));
            }
        }
        Ok(dec)
    }

    fn read_root(&mut self, e: &BytesStart<'_>) -> Result<(), DocumentError> {
        let mut namespace = None;
        for attr in e.attributes() {
            let attr = attr.map_err(malformed)?;
            let key = attr.key.as_ref().to_string();
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(malformed)?.into_owned();
            match key.as_str() {
                "xmlns" => namespace = Some(value),
                "version" => self.version = value,
                "tipoCertificado" => self.tipo_certificado = value,
                "folioControl" => self.folio_control = value,
                "sello" => self.sello = value,
                "certificadoResponsable" => self.certificado_responsable = value,
                "noCertificadoResponsable" => self.no_certificado_responsable = value,
                k if is_namespace_attribute(k) => {}
                _ => return Err(DocumentError::UnknownAttribute { element: "Dec".into(), attribute: key }),
            }
        }
        match namespace {
            Some(ns) if ns == NAMESPACE => {}
            other => return Err(DocumentError::WrongNamespace(other.unwrap_or_default())),
        }
        if self.version != VERSION {
            return Err(DocumentError::WrongVersion(self.version.clone()));
        }
        Ok(())
    }

    fn read_child(
        &mut self,
        stack: &[String],
        name: &str,
        e: &BytesStart<'_>,
        seen: &mut Vec<&'static str>,
    ) -> Result<(), DocumentError> {
        let parent = stack.last().map(String::as_str).unwrap_or("");
        let unexpected = || DocumentError::UnexpectedElement { element: name.to_string(), parent: parent.to_string() };
        // Official order of Dec's children; each at most once.
        const ORDER: [&str; 10] = [
            "ServicioFirmante",
            "Ipes",
            "Rvoe",
            "Carrera",
            "Alumno",
            "Expedicion",
            "Asignaturas",
            "Dreoe",
            "SepIpes",
            "SepIPes",
        ];
        let once = |seen: &mut Vec<&'static str>, key: &'static str| -> Result<(), DocumentError> {
            if seen.contains(&key) {
                return Err(DocumentError::Repeated(key.to_string()));
            }
            if parent == "Dec" {
                let pos = ORDER.iter().position(|o| *o == key).unwrap_or(0);
                if seen.iter().any(|s| ORDER.iter().position(|o| o == s).unwrap_or(0) > pos) {
                    return Err(DocumentError::UnexpectedElement {
                        element: key.to_string(),
                        parent: "Dec (fuera del orden oficial)".into(),
                    });
                }
            }
            seen.push(key);
            Ok(())
        };
        match (parent, name) {
            ("Dec", "ServicioFirmante") => {
                once(seen, "ServicioFirmante")?;
                fill(e, name, |k, v| self.servicio_firmante.set(k, v))
            }
            ("Dec", "Ipes") => {
                once(seen, "Ipes")?;
                fill(e, name, |k, v| self.ipes.set(k, v))
            }
            ("Ipes", "Responsable") => {
                once(seen, "Responsable")?;
                fill(e, name, |k, v| self.responsable.set(k, v))
            }
            ("Dec", "Rvoe") => {
                once(seen, "Rvoe")?;
                fill(e, name, |k, v| self.rvoe.set(k, v))
            }
            ("Dec", "Carrera") => {
                once(seen, "Carrera")?;
                fill(e, name, |k, v| self.carrera.set(k, v))
            }
            ("Dec", "Alumno") => {
                once(seen, "Alumno")?;
                fill(e, name, |k, v| self.alumno.set(k, v))
            }
            ("Dec", "Expedicion") => {
                once(seen, "Expedicion")?;
                fill(e, name, |k, v| self.expedicion.set(k, v))
            }
            ("Dec", "Asignaturas") => {
                once(seen, "Asignaturas")?;
                fill(e, name, |k, v| self.asignaturas.set(k, v))
            }
            ("Asignaturas", "Asignatura") => {
                if self.asignatura.len() >= MAX_SUBJECTS {
                    return Err(DocumentError::TooManySubjects);
                }
                let mut a = Asignatura::default();
                fill(e, name, |k, v| a.set(k, v))?;
                self.asignatura.push(a);
                Ok(())
            }
            ("Dec", "Dreoe") => {
                once(seen, "Dreoe")?;
                let mut d = Dreoe::default();
                fill(e, name, |k, v| d.set(k, v))?;
                self.dreoe = Some(d);
                Ok(())
            }
            ("Dec", "SepIpes" | "SepIPes") => {
                once(seen, if name == "SepIpes" { "SepIpes" } else { "SepIPes" })?;
                if seen.contains(&"SepIpes") && seen.contains(&"SepIPes") {
                    return Err(DocumentError::Repeated("SepIpes".into()));
                }
                let mut s = SepIpes::default();
                fill(e, name, |k, v| s.set(k, v))?;
                self.sep_ipes = Some(s);
                self.sep_ipes_legacy_name = name == SEP_IPES_LEGACY;
                Ok(())
            }
            _ => Err(unexpected()),
        }
    }
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_string()
}

fn fill(e: &BytesStart<'_>, element: &str, mut set: impl FnMut(&str, String) -> bool) -> Result<(), DocumentError> {
    for attr in e.attributes() {
        let attr = attr.map_err(malformed)?;
        let key = attr.key.as_ref().to_string();
        if is_namespace_attribute(&key) {
            continue;
        }
        let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(malformed)?.into_owned();
        if !set(&key, value) {
            return Err(DocumentError::UnknownAttribute { element: element.to_string(), attribute: key });
        }
    }
    Ok(())
}

/// Formats a date as the document's dateTime (`2016-07-12T00:00:00`).
pub fn date_time(d: NaiveDate) -> String {
    format!("{}T00:00:00", d.format("%Y-%m-%d"))
}

/// Reads the date part of a dateTime (`2016-07-12T00:00:00`) or a bare date.
pub fn parse_date_time(text: &str) -> Option<NaiveDate> {
    let t = text.trim();
    NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok().filter(|_| t.len() == 10 || t.as_bytes()[10] == b'T')
}

/// Everything needed to build a student's document.
pub struct CertificateInput<'a> {
    pub institution: &'a Institution,
    pub school: &'a School,
    pub plan: &'a Plan,
    pub student: &'a Student,
    pub responsable: &'a Responsable,
    pub summary: &'a AcademicSummary,
    pub issue_date: NaiveDate,
    /// The school's own folio (`folioControl`).
    pub folio_control: String,
}

/// Builds the unsealed document from the records (numbers formatted by
/// [`crate::numbers::format`]).
pub fn build(input: &CertificateInput<'_>) -> Dec {
    let CertificateInput { institution, school, plan, student, responsable, summary, .. } = input;
    let subjects = certified_subjects(plan, student);
    Dec {
        version: VERSION.into(),
        tipo_certificado: TIPO_CERTIFICADO.into(),
        folio_control: input.folio_control.clone(),
        servicio_firmante: ServicioFirmante { id_entidad: institution.mec_id.clone() },
        ipes: Ipes {
            id_nombre_institucion: institution.mec_id.clone(),
            nombre_institucion: institution.name.clone(),
            id_campus: school.mec_campus_id.clone(),
            campus: school.campus.clone(),
            id_entidad_federativa: school.entidad.code_str(),
            entidad_federativa: school.entidad.label().into(),
        },
        responsable: ResponsableNode {
            curp: responsable.curp.trim().to_uppercase(),
            nombre: responsable.nombre.clone(),
            primer_apellido: responsable.primer_apellido.clone(),
            segundo_apellido: responsable.segundo_apellido.clone(),
            id_cargo: responsable.cargo.code().to_string(),
            cargo: responsable.cargo.label().into(),
        },
        rvoe: RvoeNode { numero: plan.rvoe.numero.clone(), fecha_expedicion: date_time(plan.rvoe.fecha_expedicion) },
        carrera: Carrera {
            id_carrera: plan.career.mec_id.to_string(),
            clave_carrera: plan.career.clave.clone(),
            nombre_carrera: plan.career.nombre.clone(),
            id_tipo_periodo: plan.tipo_periodo.code().to_string(),
            tipo_periodo: plan.tipo_periodo.label().into(),
            clave_plan: plan.clave_plan.clone(),
            id_nivel_estudios: plan.nivel.code().to_string(),
            nivel_estudios: plan.nivel.label().into(),
            calificacion_minima: format::scale_bound(plan.scale.min),
            calificacion_maxima: format::scale_bound(plan.scale.max),
            calificacion_minima_aprobatoria: format::passing_grade(plan.scale.passing),
        },
        alumno: Alumno {
            numero_control: student.control_number.trim().into(),
            curp: student.curp.trim().to_uppercase(),
            nombre: student.nombre.clone(),
            primer_apellido: student.primer_apellido.clone(),
            segundo_apellido: student.segundo_apellido.clone(),
            id_genero: student.genero.map(|g| g.code().to_string()).unwrap_or_default(),
            fecha_nacimiento: student.fecha_nacimiento.map(date_time).unwrap_or_default(),
        },
        expedicion: Expedicion {
            id_tipo_certificacion: summary.tipo.code().to_string(),
            tipo_certificacion: summary.tipo.label().into(),
            fecha: date_time(input.issue_date),
            id_lugar_expedicion: school.entidad.code_str(),
            lugar_expedicion: school.entidad.label().into(),
        },
        asignaturas: Asignaturas {
            total: summary.total_subjects.to_string(),
            asignadas: summary.assigned.to_string(),
            promedio: format::average(summary.average),
            total_creditos: format::credits(summary.total_credits),
            creditos_obtenidos: format::credits(summary.credits_obtained),
            numero_ciclos: summary.cycles.to_string(),
        },
        asignatura: subjects
            .iter()
            .map(|s| Asignatura {
                id_asignatura: s.config.id_asignatura.to_string(),
                clave_asignatura: s.subject.clave.clone(),
                nombre: s.subject.nombre.clone(),
                ciclo: s.grade.ciclo.trim().into(),
                calificacion: format::grade(s.grade.value),
                id_observaciones: s.grade.observacion.code().to_string(),
                observaciones: s.grade.observacion.label().into(),
                id_tipo_asignatura: s.config.tipo.code().to_string(),
                tipo_asignatura: s.config.tipo.label().into(),
                creditos: format::credits(s.config.creditos),
            })
            .collect(),
        ..Dec::default()
    }
}
