//! The preamble every batch route shares: the permission, the body, and
//! the selected students sorted and without repeats, within the route's
//! size, each a well-formed matrícula. Issue, email and cancel also take
//! a whole table's selection (`all` with its filters), which is worked as
//! a job ([`crate::jobs`]), as is a list above the inline limit.

use crate::Problem;
use crate::lookup::{plan_scope, require_cycle, status_filter};
use crate::request::{explain, json_body};
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::jobs::MAX_JOB_STUDENTS;
use certifica_core::ports::{InstitutionStore, StudentStore};
use certifica_core::records::check_control_number;
use certifica_core::roster::{self, RosterFilter};
use http::Request;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A request body that selects students.
pub(crate) trait Selects {
    fn students(&self) -> &[String];
}

/// Checks the caller's `permission` in `school`, reads the body and its
/// selection (sorted, repeats removed), and checks its size with `size`.
pub(crate) fn read<T: DeserializeOwned + Selects>(
    id: &Identity,
    school: &str,
    permission: Permission,
    request: &Request<Bytes>,
    size: impl FnOnce(&[String]) -> Result<(), Problem>,
) -> Result<(T, Vec<String>), Problem> {
    id.require(school, permission)?;
    let body: T = json_body(request)?;
    let students = sorted(body.students());
    size(&students)?;
    well_formed(&students)?;
    Ok((body, students))
}

/// Every matrícula of a selection is one that can exist: an empty or
/// malformed one makes the whole request a 422 (not a per-student "not found").
fn well_formed(students: &[String]) -> Result<(), Problem> {
    let bad: Vec<String> = students
        .iter()
        .filter(|m| check_control_number(m).is_err())
        .take(5)
        .map(|m| format!("«{}»", crate::request::excerpt(m)))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Problem::unprocessable(
        "matricula_invalida",
        format!(
            "la selección tiene matrículas no válidas ({}): use de 1 a 40 letras sin acento, números, guion, guion bajo o punto",
            bad.join(", ")
        ),
    ))
}

/// The students sorted, each once.
pub(crate) fn sorted(students: &[String]) -> Vec<String> {
    let mut s = students.to_vec();
    s.sort();
    s.dedup();
    s
}

/// The usual size rule: from 1 to `max` students.
pub(crate) fn one_to(max: usize) -> impl FnOnce(&[String]) -> Result<(), Problem> {
    move |students| {
        if students.is_empty() || students.len() > max {
            return Err(Problem::unprocessable(
                "seleccion_invalida",
                format!("seleccione de 1 a {max} alumnos por solicitud (llegaron {})", students.len()),
            ));
        }
        Ok(())
    }
}

/// A selection given outside a body (`export-sealed`'s optional one).
pub(crate) fn selection(students: &[String], max: usize) -> Result<Vec<String>, Problem> {
    let s = sorted(students);
    one_to(max)(&s)?;
    well_formed(&s)?;
    Ok(s)
}

/// The fields of a body that say which students (beside the route's own).
const SELECTION_FIELDS: [&str; 6] = ["students", "all", "plan", "status", "group", "q"];

/// Which students a batch body selects: a list, or every student of the
/// cycle's table with its filters (`all`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Selection {
    students: Option<Vec<String>>,
    #[serde(default)]
    all: bool,
    plan: Option<String>,
    status: Option<String>,
    group: Option<String>,
    q: Option<String>,
}

/// A selection resolved: its students (sorted, each once), and whether
/// they are worked as a job rather than inside the request.
#[derive(Debug)]
pub(crate) struct Selected {
    pub students: Vec<String>,
    pub as_job: bool,
}

/// Checks the caller's `permission` in `school` and reads the body: the
/// route's own fields as `T`, and its [`Selection`].
pub(crate) fn read_selecting<T: DeserializeOwned>(
    id: &Identity,
    school: &str,
    permission: Permission,
    request: &Request<Bytes>,
) -> Result<(T, Selection), Problem> {
    id.require(school, permission)?;
    let mut body: Map<String, Value> = json_body(request)?;
    let mut picked = Map::new();
    for field in SELECTION_FIELDS {
        if let Some(value) = body.remove(field) {
            picked.insert(field.to_string(), value);
        }
    }
    let bad = |e: serde_json::Error| Problem::bad_request("json_invalido", explain(&e));
    let selection: Selection = serde_json::from_value(Value::Object(picked)).map_err(bad)?;
    let own: T = serde_json::from_value(Value::Object(body)).map_err(bad)?;
    Ok((own, selection))
}

impl Selection {
    /// The students selected: a list up to `inline` is answered inside
    /// the request; a longer one (up to a job's size), or `all`, is a job.
    pub(crate) async fn resolve(
        self,
        records: &(impl InstitutionStore + StudentStore),
        id: &Identity,
        school: &str,
        cycle: &str,
        inline: usize,
    ) -> Result<Selected, Problem> {
        let filtered = self.plan.is_some() || self.status.is_some() || self.group.is_some() || self.q.is_some();
        // The cycle first, whatever the selection: students of a cycle that does not exist are not "unknown students".
        require_cycle(records, id, school, cycle).await?;
        let students = match (self.all, self.students) {
            (true, Some(_)) => {
                return Err(Problem::unprocessable(
                    "seleccion_ambigua",
                    "envíe la lista de alumnos (students) o «all»: true con los filtros de la tabla, no ambas",
                ));
            }
            (false, _) if filtered => {
                return Err(Problem::unprocessable(
                    "filtros_sin_all",
                    "los filtros plan, status, group y q solo se usan con «all»: true; para una lista envíe students",
                ));
            }
            (false, None) => return Err(empty()),
            (false, Some(list)) => {
                let students = sorted(&list);
                if students.is_empty() {
                    return Err(empty());
                }
                too_many(students.len())?;
                well_formed(&students)?;
                return Ok(Selected { as_job: students.len() > inline, students });
            }
            (true, None) => {
                let t = id.tenant();
                let filter = RosterFilter {
                    plans: plan_scope(records, t, school, self.plan.as_ref()).await?,
                    status: status_filter(self.status.as_deref())?,
                    issued_from: None,
                    issued_to: None,
                    group: self.group.map(|g| g.trim().to_string()).filter(|g| !g.is_empty()),
                    search: self.q.map(|q| roster::fold(&q)).filter(|q| !q.is_empty()),
                };
                every_student(records, id, school, cycle, &filter).await?
            }
        };
        if students.is_empty() {
            return Err(Problem::unprocessable(
                "sin_alumnos",
                "ningún alumno del ciclo coincide con los filtros; revise plan, estado, grupo y búsqueda",
            ));
        }
        Ok(Selected { students, as_job: true })
    }
}

fn empty() -> Problem {
    Problem::unprocessable(
        "sin_alumnos",
        "seleccione al menos un alumno (students), o todos los de la tabla con «all»: true",
    )
}

fn too_many(n: usize) -> Result<(), Problem> {
    if n > MAX_JOB_STUDENTS {
        return Err(Problem::unprocessable(
            "seleccion_demasiado_grande",
            format!(
                "un trabajo admite hasta {MAX_JOB_STUDENTS} alumnos (llegaron {n}); divida la selección por plan o grupo"
            ),
        ));
    }
    Ok(())
}

/// Every student of the table `filter` shows, in matrícula order.
async fn every_student(
    records: &impl StudentStore,
    id: &Identity,
    school: &str,
    cycle: &str,
    filter: &RosterFilter,
) -> Result<Vec<String>, Problem> {
    let mut students = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = records.roster_page(id.tenant(), school, cycle, filter, after.as_deref(), roster::MAX_LIMIT).await?;
        students.extend(page.rows.into_iter().map(|r| r.student.control_number));
        too_many(students.len())?;
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(students),
        }
    }
}
