//! The preamble every batch route shares: the permission, the body, and
//! the selected students sorted and without repeats, within the route's
//! size, each a well-formed matrícula.

use crate::Problem;
use crate::request::json_body;
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
use certifica_core::records::check_control_number;
use http::Request;
use serde::de::DeserializeOwned;

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
