//! Demo records: one institution of each type, each with two schools and two
//! plans (one with independent recognition), realistic Spanish names with
//! accents, students with grades — some with failed subjects, some with
//! missing data, one with a malformed CURP — and the bundled demo e.firma.
//! Deterministic, so the demo and the tests see the same data.

use certifica_core::catalogs::*;
use certifica_core::curp::check_digit;
use certifica_core::efirma::{Efirma, EfirmaError};
use certifica_core::identity::Permission;
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use chrono::NaiveDate;

pub const DEMO_CER: &[u8] = include_bytes!("../../assets/demo-efirma/responsable.cer");
pub const DEMO_KEY: &[u8] = include_bytes!("../../assets/demo-efirma/responsable.key");
pub const DEMO_PASSWORD: &[u8] = b"demo-certifica";

/// The demo signer's e.firma (test material, no official validity).
pub fn demo_efirma() -> Result<Efirma, EfirmaError> {
    Efirma::load(DEMO_CER, DEMO_KEY, DEMO_PASSWORD)
}

/// One institution's records.
#[derive(Debug, Clone)]
pub struct DemoInstitution {
    pub institution: Institution,
    pub schools: Vec<School>,
    pub plans: Vec<Plan>,
    pub students: Vec<Student>,
    pub responsable: Responsable,
}

const NOMBRES_F: [&str; 12] = [
    "María José",
    "Ana Sofía",
    "Ximena",
    "Valentina",
    "Renata",
    "Camila",
    "Fernanda",
    "Itzel",
    "Guadalupe",
    "Regina",
    "Andrea",
    "Dulce María",
];
const NOMBRES_M: [&str; 12] = [
    "José Ángel",
    "Juan Pablo",
    "Emiliano",
    "Santiago",
    "Diego",
    "Cuauhtémoc",
    "Luis Ángel",
    "Joaquín",
    "Héctor",
    "Sebastián",
    "Iñaki",
    "Rubén",
];
const APELLIDOS: [&str; 20] = [
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Jiménez",
    "Reyes",
    "Díaz",
    "Muñoz",
    "Peña",
    "Ibáñez",
];

fn d(s: &str) -> Decimal2 {
    Decimal2::parse(s).unwrap_or_default()
}

fn date(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
}

/// Upper-case ASCII letters of a name (accents removed, Ñ → X as RENAPO does).
fn plain(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' | 'Á' => 'A',
            'é' | 'É' => 'E',
            'í' | 'Í' => 'I',
            'ó' | 'Ó' => 'O',
            'ú' | 'Ú' | 'ü' | 'Ü' => 'U',
            'ñ' | 'Ñ' => 'X',
            c => c.to_ascii_uppercase(),
        })
        .filter(char::is_ascii_uppercase)
        .collect()
}

fn first_inner(word: &str, vowel: bool) -> char {
    word.chars().skip(1).find(|c| "AEIOU".contains(*c) == vowel).unwrap_or('X')
}

/// A CURP built from the data the way RENAPO does (simplified), with its check digit.
pub fn demo_curp(nombre: &str, primer: &str, segundo: &str, birth: NaiveDate, genero: Genero, state: &str) -> String {
    let (n, p, s) = (plain(nombre.split_whitespace().next().unwrap_or("X")), plain(primer), plain(segundo));
    let first = |w: &str| w.chars().next().unwrap_or('X');
    let mut c = String::new();
    c.push(first(&p));
    c.push(first_inner(&p, true));
    c.push(first(&s));
    c.push(first(&n));
    c.push_str(&birth.format("%y%m%d").to_string());
    c.push(if genero == Genero::Mujer { 'M' } else { 'H' });
    c.push_str(state);
    c.push(first_inner(&p, false));
    c.push(first_inner(&s, false));
    c.push(first_inner(&n, false));
    c.push(if chrono::Datelike::year(&birth) < 2000 { '0' } else { 'A' });
    let digit = check_digit(&c).unwrap_or('0');
    c.push(digit);
    c
}

fn plan(id: &str, school: &str, career: (u64, &str, &str), recognition: Recognition, subjects: usize) -> Plan {
    let names = [
        "Fundamentos de Administración",
        "Matemáticas Financieras",
        "Contabilidad Básica",
        "Derecho Mercantil",
        "Economía para la Toma de Decisiones",
        "Mercadotecnia Estratégica",
        "Estadística Inferencial",
        "Comportamiento Organizacional",
        "Gestión de la Producción",
        "Finanzas Corporativas",
        "Ética y Responsabilidad Social",
        "Comercio Internacional",
        "Recursos Humanos",
        "Investigación de Operaciones",
        "Auditoría Administrativa",
        "Planeación Estratégica",
        "Emprendimiento e Innovación",
        "Seminario de Titulación",
        "Tecnologías de la Información",
        "Logística y Cadena de Suministro",
        "Inglés para los Negocios",
        "Administración Pública",
        "Desarrollo Sustentable",
        "Negociación y Solución de Conflictos",
    ];
    Plan {
        id: id.into(),
        school_id: school.into(),
        career: Career { mec_id: career.0, clave: career.1.into(), nombre: career.2.into() },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: d("5"), max: d("10"), passing: d("6") },
        total_credits: Decimal2::from_int(8 * subjects as u64),
        recognition,
        rvoe: Rvoe { numero: format!("2020{}", career.0 % 10_000), fecha_expedicion: date(2020, 7, 12) },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects: (0..subjects)
            .map(|i| Subject {
                clave: format!("{}{:03}", career.1, i + 1),
                nombre: names[i % names.len()].into(),
                certification: Some(SubjectCertification {
                    id_asignatura: 10_000 + career.0 % 1000 * 100 + i as u64,
                    tipo: if i % 7 == 6 { TipoAsignatura::Optativa } else { TipoAsignatura::Obligatoria },
                    creditos: d("8"),
                }),
            })
            .collect(),
    }
}

fn students(plan: &Plan, school_index: usize, count: usize, seed: usize) -> Vec<Student> {
    (0..count)
        .map(|i| {
            let k = seed + i;
            let genero = if k.is_multiple_of(2) { Genero::Mujer } else { Genero::Hombre };
            let nombre = if genero == Genero::Mujer { NOMBRES_F[k % 12] } else { NOMBRES_M[k % 12] };
            let (primer, segundo) = (APELLIDOS[(k * 7) % 20], APELLIDOS[(k * 3 + 5) % 20]);
            let birth = date(1999 + (k % 5) as i32, 1 + (k % 12) as u32, 1 + (k % 27) as u32);
            let mut s = Student {
                control_number: format!("{}{:05}", if school_index == 0 { "A" } else { "B" }, 20_000 + k),
                curp: demo_curp(nombre, primer, segundo, birth, genero, "DF"),
                nombre: nombre.into(),
                primer_apellido: primer.into(),
                segundo_apellido: segundo.into(),
                genero: Some(genero),
                fecha_nacimiento: Some(birth),
                email_personal: Some(format!(
                    "{}.{}{}@correo.example.mx",
                    plain(nombre).to_lowercase().replace(' ', ""),
                    plain(primer).to_lowercase(),
                    k
                )),
                email_institucional: (!k.is_multiple_of(3)).then(|| format!("{}@alumnos.example.edu.mx", 20_000 + k)),
                group: format!("8{}", ["A", "B", "C"][k % 3]),
                grade_level: if i % 10 == 9 { 7 } else { 8 },
                active: i % 15 != 14,
                plan_id: plan.id.clone(),
                grades: plan
                    .subjects
                    .iter()
                    .enumerate()
                    .map(|(j, subject)| Grade {
                        subject_clave: subject.clave.clone(),
                        value: d(["8", "9", "10", "7.5", "9.5", "8.5", "6"][(j + k) % 7]),
                        ciclo: format!("{}-{}", 2021 + j / 6, 1 + (j / 3) % 2),
                        observacion: if (j + k).is_multiple_of(13) {
                            Observacion::ExamenExtraordinario
                        } else {
                            Observacion::Normal
                        },
                    })
                    .collect(),
            };
            // Every fifth student failed a subject (a partial certificate).
            if i % 5 == 3
                && let Some(g) = s.grades.last_mut()
            {
                g.value = d("5");
            }
            // Some arrive with incomplete or malformed data, as real imports do.
            match i {
                4 => s.fecha_nacimiento = None,
                7 => s.genero = None,
                11 => s.curp = "HEGA990101MDFRRN0".into(),
                _ => {}
            }
            s
        })
        .collect()
}

/// The whole demo: an IPES and an autonomous university.
pub fn demo_institutions() -> Vec<DemoInstitution> {
    let responsable = Responsable {
        curp: "GOMC850412MDFRRR03".into(),
        nombre: "María Cristina".into(),
        primer_apellido: "Gómez".into(),
        segundo_apellido: "Ruiz".into(),
        cargo: Cargo::ResponsableExpedicion,
    };
    let ipes_plans = vec![
        plan(
            "lae-2020",
            "norte",
            (103_456, "LAE", "Licenciatura en Administración de Empresas"),
            Recognition::Rvoe,
            24,
        ),
        plan("lcp-2020", "sur", (103_457, "LCP", "Licenciatura en Contaduría Pública"), Recognition::Independent, 20),
    ];
    let ipes = DemoInstitution {
        institution: Institution {
            id: "uva".into(),
            mec_id: "090456".into(),
            name: "Universidad del Valle de Anáhuac".into(),
            kind: InstitutionType::Ipes,
            mode: CertificationMode::Electronic,
        },
        schools: vec![
            School {
                id: "norte".into(),
                institution_id: "uva".into(),
                name: "Campus Norte".into(),
                mec_campus_id: "150".into(),
                campus: "NORTE".into(),
                entidad: EntidadFederativa::CiudadDeMexico,
            },
            School {
                id: "sur".into(),
                institution_id: "uva".into(),
                name: "Campus Sur".into(),
                mec_campus_id: "151".into(),
                campus: "SUR".into(),
                entidad: EntidadFederativa::Morelos,
            },
        ],
        students: [students(&ipes_plans[0], 0, 20, 0), students(&ipes_plans[1], 1, 12, 40)].concat(),
        plans: ipes_plans,
        responsable: responsable.clone(),
    };
    let auto_plans = vec![
        plan(
            "ing-2019",
            "centro",
            (204_001, "ISC", "Ingeniería en Sistemas Computacionales"),
            Recognition::Independent,
            24,
        ),
        plan("der-2019", "oriente", (204_002, "DER", "Licenciatura en Derecho"), Recognition::Independent, 20),
    ];
    let autonomo = DemoInstitution {
        institution: Institution {
            id: "uaz".into(),
            mec_id: "320001".into(),
            name: "Universidad Autónoma de Zacatlán".into(),
            kind: InstitutionType::Autonomo,
            mode: CertificationMode::Electronic,
        },
        schools: vec![
            School {
                id: "centro".into(),
                institution_id: "uaz".into(),
                name: "Unidad Centro".into(),
                mec_campus_id: "01".into(),
                campus: "ÚNICO".into(),
                entidad: EntidadFederativa::Puebla,
            },
            School {
                id: "oriente".into(),
                institution_id: "uaz".into(),
                name: "Unidad Oriente".into(),
                mec_campus_id: "02".into(),
                campus: "ORIENTE".into(),
                entidad: EntidadFederativa::Puebla,
            },
        ],
        students: [students(&auto_plans[0], 0, 18, 80), students(&auto_plans[1], 1, 12, 120)].concat(),
        plans: auto_plans,
        responsable: Responsable { cargo: Cargo::Rector, ..responsable.clone() },
    };
    // Submits through the authority's portal (semi-electronic): issuing
    // stops at Sellado; export-sealed, then the returned zip goes to the inbox.
    let portal_plans =
        vec![plan("lde-2021", "centro", (305_010, "LDE", "Licenciatura en Diseño Editorial"), Recognition::Rvoe, 16)];
    let portal = DemoInstitution {
        institution: Institution {
            id: "itp".into(),
            mec_id: "210077".into(),
            name: "Instituto Tlaxcalteca del Pacífico".into(),
            kind: InstitutionType::Ipes,
            mode: CertificationMode::SemiElectronic,
        },
        schools: vec![School {
            id: "centro".into(),
            institution_id: "itp".into(),
            name: "Plantel Centro".into(),
            mec_campus_id: "300".into(),
            campus: "CENTRO".into(),
            entidad: EntidadFederativa::Tlaxcala,
        }],
        students: students(&portal_plans[0], 0, 12, 160),
        plans: portal_plans,
        responsable: responsable.clone(),
    };
    vec![ipes, autonomo, portal]
}

/// A demo user the local sign-in page offers: one per set of permissions the
/// certification view distinguishes.
pub struct DemoLogin {
    pub name: &'static str,
    pub institution_name: &'static str,
    pub institution: &'static str,
    pub description: &'static str,
    pub schools: &'static [&'static str],
    pub permissions: &'static [Permission],
    pub email: &'static str,
}

const UVA: &str = "Universidad del Valle de Anáhuac";

/// The first is the one `serve --demo` signs the printed address in as.
pub const DEMO_LOGINS: [DemoLogin; 6] = {
    use Permission::{Administrar, Editar, Timbrar, Ver};
    [
        DemoLogin {
            name: "Responsable de Control escolar",
            institution_name: UVA,
            institution: "uva",
            description: "consulta, timbra, edita y registra al firmante",
            schools: &["norte", "sur"],
            permissions: &[Ver, Timbrar, Editar, Administrar],
            email: "control.escolar@uva.edu.mx",
        },
        DemoLogin {
            name: "Consulta",
            institution_name: UVA,
            institution: "uva",
            description: "solo consulta y descarga (ver)",
            schools: &["norte", "sur"],
            permissions: &[Ver],
            email: "consulta@uva.edu.mx",
        },
        DemoLogin {
            name: "Timbrado",
            institution_name: UVA,
            institution: "uva",
            description: "consulta, emite, cancela y envía (ver, timbrar)",
            schools: &["norte", "sur"],
            permissions: &[Ver, Timbrar],
            email: "timbrado@uva.edu.mx",
        },
        DemoLogin {
            name: "Edición de calificaciones",
            institution_name: UVA,
            institution: "uva",
            description: "consulta y edita calificaciones (ver, editar)",
            schools: &["norte", "sur"],
            permissions: &[Ver, Editar],
            email: "edicion@uva.edu.mx",
        },
        DemoLogin {
            name: "Control escolar (autónoma)",
            institution_name: "Universidad Autónoma de Zacatlán",
            institution: "uaz",
            description: "consulta, timbra y edita",
            schools: &["centro", "oriente"],
            permissions: &[Ver, Timbrar, Editar],
            email: "control@uaz.edu.mx",
        },
        DemoLogin {
            name: "Control escolar (semielectrónica)",
            institution_name: "Instituto Tlaxcalteca del Pacífico",
            institution: "itp",
            description: "consulta, sella y edita; timbra por el portal de la autoridad",
            schools: &["centro"],
            permissions: &[Ver, Timbrar, Editar],
            email: "control@itp.edu.mx",
        },
    ]
};

#[cfg(test)]
mod tests {
    use super::*;
    use certifica_core::curp::Curp;

    #[test]
    fn the_demo_has_what_the_walkthrough_needs() {
        let all = demo_institutions();
        assert_eq!(all.len(), 3);
        assert!(all.iter().any(|i| i.institution.mode == CertificationMode::SemiElectronic));
        let students: usize = all.iter().map(|i| i.students.len()).sum();
        assert!(students >= 60, "{students}");
        let invalid = all.iter().flat_map(|i| &i.students).filter(|s| Curp::parse(&s.curp).is_err()).count();
        let plans: usize = all.iter().map(|i| i.plans.len()).sum();
        assert_eq!(invalid, plans, "one malformed CURP per plan group");
        assert!(
            all.iter().flat_map(|i| &i.students).any(|s| s.full_name().contains('ñ') || s.full_name().contains('á'))
        );
        assert!(all.iter().any(|i| i.plans.iter().any(|p| p.recognition == Recognition::Independent)));
        assert!(demo_efirma().is_ok());
    }
}
