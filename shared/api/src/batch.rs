//! The preamble every batch route shares: the permission, the body, and
//! the selected students sorted and without repeats, within the route's size.

use crate::Problem;
use crate::request::json_body;
use bytes::Bytes;
use certifica_core::identity::{Identity, Permission};
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
    Ok((body, students))
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
    Ok(s)
}
