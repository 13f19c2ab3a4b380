//! The records a school keeps about certification: institution, school
//! (campus), plan with its subjects, student with grades, signer.
//!
//! Field names are camelCase in JSON (like the Dec attributes), and unknown
//! fields are refused, so an integration's typo is an error, not a silent loss.
//!
//! Values that arrive from outside (integrations, imports) are kept as
//! given — possibly empty or malformed — so the pre-issue rules in
//! [`crate::rules`] can name every problem instead of failing at load time.

use crate::catalogs::{Cargo, EntidadFederativa, Genero, NivelEstudios, Observacion, TipoAsignatura, TipoPeriodo};
use crate::numbers::Decimal2;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// "Nombre PrimerApellido SegundoApellido": trimmed parts, empty ones left out.
pub fn full_name(nombre: &str, primer_apellido: &str, segundo_apellido: &str) -> String {
    [nombre, primer_apellido, segundo_apellido]
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the institution's certificates are authenticated by SEP (IPES)
/// or final when the university itself signs them (AUTONOMO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstitutionType {
    Ipes,
    Autonomo,
}

/// How the institution certifies: stamping on issue, export and upload, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificationMode {
    Electronic,
    SemiElectronic,
    Inactive,
}

/// The institution (tenant).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Institution {
    pub id: String,
    /// `idNombreInstitucion` (and `ServicioFirmante/idEntidad`) registered in MEC.
    pub mec_id: String,
    pub name: String,
    pub kind: InstitutionType,
    pub mode: CertificationMode,
}

/// A school (campus) of an institution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct School {
    pub id: String,
    pub institution_id: String,
    pub name: String,
    /// `idCampus` registered in MEC.
    pub mec_campus_id: String,
    /// `campus`: "ÚNICO" when the institution has one.
    pub campus: String,
    pub entidad: EntidadFederativa,
}

/// The official recognition of studies (RVOE) a plan was granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rvoe {
    pub numero: String,
    pub fecha_expedicion: NaiveDate,
}

/// Where the plan's validity comes from; previews are only for plans whose
/// recognition is independent of SEP (autonomous universities' own plans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recognition {
    Rvoe,
    Independent,
}

/// Which subjects the average is taken over. Default: every subject on the
/// certificate; some plans average approved subjects only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AverageRule {
    #[default]
    AllSubjects,
    ApprovedOnly,
}

/// The plan's grade scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GradeScale {
    pub min: Decimal2,
    pub max: Decimal2,
    pub passing: Decimal2,
}

impl GradeScale {
    pub fn contains(&self, g: Decimal2) -> bool {
        g >= self.min && g <= self.max
    }
    pub fn approves(&self, g: Decimal2) -> bool {
        g >= self.passing
    }
}

/// The career as registered in MEC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Career {
    /// `idCarrera`: integer registered in MEC.
    pub mec_id: u64,
    pub clave: String,
    pub nombre: String,
}

/// A study plan of a school.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    pub school_id: String,
    pub career: Career,
    /// `clavePlan`.
    pub clave_plan: String,
    pub tipo_periodo: TipoPeriodo,
    pub nivel: NivelEstudios,
    pub scale: GradeScale,
    pub total_credits: Decimal2,
    pub recognition: Recognition,
    pub rvoe: Rvoe,
    #[serde(default)]
    pub average_rule: AverageRule,
    /// The last grade (semester, year…) of the plan; only its students are certified.
    pub last_grade: u32,
    pub subjects: Vec<Subject>,
}

/// A subject of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    pub clave: String,
    pub nombre: String,
    /// Missing until the school configures the subject for certification.
    pub certification: Option<SubjectCertification>,
}

/// What SEP needs to know about a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubjectCertification {
    /// `idAsignatura`: numeric, unique within the plan.
    pub id_asignatura: u64,
    pub tipo: TipoAsignatura,
    pub creditos: Decimal2,
}

/// A student as the school's records hold them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Student {
    /// Matrícula (`numeroControl`).
    pub control_number: String,
    pub curp: String,
    pub nombre: String,
    pub primer_apellido: String,
    #[serde(default)]
    pub segundo_apellido: String,
    pub genero: Option<Genero>,
    pub fecha_nacimiento: Option<NaiveDate>,
    #[serde(default)]
    pub email_personal: Option<String>,
    #[serde(default)]
    pub email_institucional: Option<String>,
    #[serde(default)]
    pub group: String,
    pub grade_level: u32,
    pub active: bool,
    pub plan_id: String,
    #[serde(default)]
    pub grades: Vec<Grade>,
}

impl Student {
    /// "Nombre PrimerApellido SegundoApellido", single-spaced.
    pub fn full_name(&self) -> String {
        full_name(&self.nombre, &self.primer_apellido, &self.segundo_apellido)
    }
}

/// A grade for one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Grade {
    pub subject_clave: String,
    pub value: Decimal2,
    /// The cycle it was taken in, e.g. `2019-1`.
    pub ciclo: String,
    #[serde(default = "default_observacion")]
    pub observacion: Observacion,
}

fn default_observacion() -> Observacion {
    Observacion::Normal
}

/// The signer ("responsable") registered for a school.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Responsable {
    pub curp: String,
    pub nombre: String,
    pub primer_apellido: String,
    #[serde(default)]
    pub segundo_apellido: String,
    pub cargo: Cargo,
}

impl Responsable {
    pub fn full_name(&self) -> String {
        full_name(&self.nombre, &self.primer_apellido, &self.segundo_apellido)
    }
}
