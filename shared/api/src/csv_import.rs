//! Students from CSV (what school systems export): one row per student,
//! named columns, every problem reported with its line.

use certifica_core::catalogs::Genero;
use certifica_core::model::Student;
use chrono::NaiveDate;

/// The columns, in any order; the first row names them.
pub const COLUMNS: [&str; 13] = [
    "matricula",
    "curp",
    "nombre",
    "primerApellido",
    "segundoApellido",
    "genero",
    "fechaNacimiento",
    "emailPersonal",
    "emailInstitucional",
    "grupo",
    "grado",
    "activo",
    "plan",
];
const REQUIRED: [&str; 5] = ["matricula", "nombre", "primerApellido", "grado", "plan"];

/// Most problems listed for one file (the rest are counted).
const MAX_PROBLEMS: usize = 100;

/// The students of a CSV file of at most `max_rows` students, or the
/// problems found ("línea N: …"). A longer file is refused at its row
/// `max_rows + 1`, before the rest is read.
pub fn students(bytes: &[u8], max_rows: usize) -> Result<Vec<Student>, Vec<String>> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes))
        .map_err(|_| vec!["el archivo no está en UTF-8; guárdelo como «CSV UTF-8»".to_string()])?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| vec![format!("no se pudo leer el encabezado: {e}")])?
        .iter()
        .map(str::to_string)
        .collect();
    let mut problems = Vec::new();
    for h in &headers {
        if !COLUMNS.contains(&h.as_str()) {
            problems.push(format!("la columna «{h}» no existe; use: {}", COLUMNS.join(", ")));
        }
    }
    for r in REQUIRED {
        if !headers.iter().any(|h| h == r) {
            problems.push(format!("falta la columna obligatoria «{r}»"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        if i == max_rows {
            return Err(vec![format!(
                "el archivo tiene más de {max_rows} alumnos; divídalo en archivos de hasta {max_rows} e impórtelos uno por uno"
            )]);
        }
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("línea {line}: {e}"));
                continue;
            }
        };
        let get = |name: &str| {
            headers.iter().position(|h| h == name).and_then(|p| record.get(p)).unwrap_or_default().to_string()
        };
        let mut row_problems = Vec::new();
        let genero = match get("genero").to_uppercase().as_str() {
            "" => None,
            g => match Genero::from_letter(g) {
                Some(g) => Some(g),
                None => {
                    row_problems.push(format!("el género «{g}» no es F ni M"));
                    None
                }
            },
        };
        let fecha = match get("fechaNacimiento").as_str() {
            "" => None,
            f => match NaiveDate::parse_from_str(f, "%Y-%m-%d") {
                Ok(d) => Some(d),
                Err(_) => {
                    row_problems.push(format!("la fecha de nacimiento «{f}» no es AAAA-MM-DD"));
                    None
                }
            },
        };
        let grado = get("grado").parse::<u32>().unwrap_or_else(|_| {
            row_problems.push(format!("el grado «{}» no es un número", get("grado")));
            0
        });
        let activo = match get("activo").to_lowercase().as_str() {
            "" | "si" | "sí" | "1" | "true" => true,
            "no" | "0" | "false" => false,
            other => {
                row_problems.push(format!("activo «{other}» debe ser sí o no"));
                true
            }
        };
        let optional = |name: &str| Some(get(name)).filter(|v| !v.is_empty());
        if row_problems.is_empty() {
            out.push(Student {
                control_number: get("matricula"),
                curp: get("curp").to_uppercase(),
                nombre: get("nombre"),
                primer_apellido: get("primerApellido"),
                segundo_apellido: get("segundoApellido"),
                genero,
                fecha_nacimiento: fecha,
                email_personal: optional("emailPersonal"),
                email_institucional: optional("emailInstitucional"),
                group: get("grupo"),
                grade_level: grado,
                active: activo,
                plan_id: get("plan"),
                grades: Vec::new(),
            });
        } else {
            problems.extend(row_problems.into_iter().map(|p| format!("línea {line}: {p}")));
        }
    }
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(format!("… y {more} problema(s) más"));
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_students_and_every_problem_is_named_with_its_line() {
        let csv = "\u{feff}matricula,nombre,primerApellido,genero,fechaNacimiento,grado,plan,grupo,activo\n\
                   A1, Ana ,Núñez,F,1999-02-03,8,lae,8A,sí\n\
                   A2,Luis,Mora,,,8,lae,8B,no\n";
        let s = students(csv.as_bytes(), 10).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].nombre.as_str(), s[0].genero, s[0].group.as_str()), ("Ana", Some(Genero::Mujer), "8A"));
        assert!(!s[1].active && s[1].genero.is_none());
        let bad = "matricula,nombre,primerApellido,grado,plan,genero\nA1,Ana,Ruiz,ocho,lae,X\nA2,Luis,Mora,8,lae,M\n";
        assert_eq!(
            students(bad.as_bytes(), 10).unwrap_err(),
            ["línea 2: el género «X» no es F ni M", "línea 2: el grado «ocho» no es un número"]
        );
        let headers = "matricula,nombre,apellido\nA1,Ana,Ruiz\n";
        let problems = students(headers.as_bytes(), 10).unwrap_err();
        assert!(problems[0].starts_with("la columna «apellido» no existe"));
        assert!(problems.iter().any(|p| p == "falta la columna obligatoria «plan»"));
    }

    #[test]
    fn a_file_longer_than_the_limit_is_refused_and_problems_are_capped() {
        let rows: String = (0..6).map(|i| format!("A{i},Ana,Ruiz,8,lae\n")).collect();
        let csv = format!("matricula,nombre,primerApellido,grado,plan\n{rows}");
        assert_eq!(students(csv.as_bytes(), 6).unwrap().len(), 6);
        let refused = students(csv.as_bytes(), 5).unwrap_err();
        assert_eq!(refused.len(), 1);
        assert!(refused[0].starts_with("el archivo tiene más de 5 alumnos"), "{refused:?}");
        let bad: String = (0..300).map(|i| format!("A{i},Ana,Ruiz,ocho,lae\n")).collect();
        let problems =
            students(format!("matricula,nombre,primerApellido,grado,plan\n{bad}").as_bytes(), 5_000).unwrap_err();
        assert_eq!((problems.len(), problems[MAX_PROBLEMS].as_str()), (MAX_PROBLEMS + 1, "… y 200 problema(s) más"));
    }
}
