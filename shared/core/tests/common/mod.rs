//! Shared fixtures for the core's tests: e.firma material generated at test
//! time with openssl (scripts/gen-efirma.sh) and a sample school's records.
#![allow(dead_code)]

use certifica_core::catalogs::*;
use certifica_core::efirma::Efirma;
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const SIGNER_CURP: &str = "GOMC850412MDFRRR03";
pub const OTHER_CURP: &str = "BADD110313HCMLNS06";

/// One generated e.firma: paths of its files.
#[derive(Debug, Clone)]
pub struct Material {
    pub cer: PathBuf,
    pub key: PathBuf,
    pub password: PathBuf,
}

impl Material {
    pub fn load(&self) -> Efirma {
        Efirma::load(
            &std::fs::read(&self.cer).unwrap(),
            &std::fs::read(&self.key).unwrap(),
            &std::fs::read(&self.password).unwrap(),
        )
        .unwrap()
    }
    /// The unencrypted private key as PEM, for signing with openssl.
    pub fn openssl_key_pem(&self) -> PathBuf {
        let out = self.key.with_extension("pem");
        if !out.exists() {
            run(Command::new("openssl")
                .args(["pkcs8", "-inform", "DER", "-in"])
                .arg(&self.key)
                .arg("-passin")
                .arg(format!("file:{}", self.password.display()))
                .arg("-out")
                .arg(&out));
        }
        out
    }
    /// The public key as PEM, for verifying with openssl.
    pub fn openssl_pub_pem(&self) -> PathBuf {
        let out = self.cer.with_extension("pub.pem");
        if !out.exists() {
            run(Command::new("openssl")
                .args(["x509", "-inform", "DER", "-noout", "-pubkey", "-in"])
                .arg(&self.cer)
                .arg("-out")
                .arg(&out));
        }
        out
    }
}

pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("command runs");
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Every e.firma the tests use, generated once per test binary.
pub struct Fixtures {
    pub dir: PathBuf,
    /// Signer, 3DES + HMAC-SHA1 key (older SAT keys), valid 2024–2035.
    pub des3: Material,
    /// Same holder, AES-256 key (newer SAT keys).
    pub aes: Material,
    /// Expired in 2021.
    pub expired: Material,
    /// Another person's certificate (different CURP).
    pub other: Material,
}

pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        // Under the target dir, one folder per test binary, made afresh each run.
        let binary = std::env::current_exe().unwrap().file_stem().unwrap().to_string_lossy().into_owned();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("certifica-core-tests").join(binary);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/gen-efirma.sh");
        let gen_ = |name: &str, holder: &str, curp: &str, serial: &str, start: &str, end: &str, cipher: &str| {
            run(Command::new("bash").arg(&script).arg(&dir).args([
                name,
                holder,
                curp,
                serial,
                start,
                end,
                cipher,
                "clave-de-prueba",
            ]));
            Material {
                cer: dir.join(format!("{name}.cer")),
                key: dir.join(format!("{name}.key")),
                password: dir.join(format!("{name}.password")),
            }
        };
        Fixtures {
            des3: gen_(
                "firmante-3des",
                "MARÍA CRISTINA GÓMEZ RUIZ",
                SIGNER_CURP,
                "00001000000500000001",
                "20240101000000Z",
                "20351231235959Z",
                "des3",
            ),
            aes: gen_(
                "firmante-aes",
                "MARÍA CRISTINA GÓMEZ RUIZ",
                SIGNER_CURP,
                "00001000000500000002",
                "20240101000000Z",
                "20351231235959Z",
                "aes256",
            ),
            expired: gen_(
                "vencido",
                "MARÍA CRISTINA GÓMEZ RUIZ",
                SIGNER_CURP,
                "00001000000500000003",
                "20170101000000Z",
                "20210101000000Z",
                "aes256",
            ),
            other: gen_(
                "otra-persona",
                "DIEGO BAÑUELOS DÍAZ",
                OTHER_CURP,
                "00001000000500000004",
                "20240101000000Z",
                "20351231235959Z",
                "des3",
            ),
            dir,
        }
    })
}

pub fn d(s: &str) -> Decimal2 {
    Decimal2::parse(s).unwrap()
}

pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

pub fn institution() -> Institution {
    Institution {
        id: "inst-1".into(),
        mec_id: "090123".into(),
        name: "Universidad Tecnológica del Valle de Anáhuac".into(),
        kind: InstitutionType::Ipes,
        mode: CertificationMode::Electronic,
    }
}

pub fn school() -> School {
    School {
        id: "esc-1".into(),
        institution_id: "inst-1".into(),
        name: "Campus Coyoacán".into(),
        mec_campus_id: "150".into(),
        campus: "COYOACÁN".into(),
        entidad: EntidadFederativa::CiudadDeMexico,
    }
}

/// A plan of `n` subjects of 8 credits, 8 semesters.
pub fn plan(n: usize) -> Plan {
    Plan {
        id: "plan-lic-admin".into(),
        school_id: "esc-1".into(),
        career: Career {
            mec_id: 103456,
            clave: "LAE".into(),
            nombre: "Licenciatura en Administración de Empresas".into(),
        },
        clave_plan: "2018".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: d("5"), max: d("10"), passing: d("6") },
        total_credits: Decimal2::from_int(8 * n as u64),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe { numero: "20160712".into(), fecha_expedicion: date("2016-07-12") },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects: (1..=n)
            .map(|i| Subject {
                clave: format!("ADM{i:03}"),
                nombre: if i == 1 {
                    "Introducción a la Administración y Contabilidad Básica".into()
                } else {
                    format!("Materia número {i} de tronco común")
                },
                certification: Some(SubjectCertification {
                    id_asignatura: 5000 + i as u64,
                    tipo: TipoAsignatura::Obligatoria,
                    creditos: d("8"),
                }),
            })
            .collect(),
    }
}

/// A student with every subject of `plan` graded (cycling through 8, 9, 10, 8.5).
pub fn student(plan: &Plan) -> Student {
    let grades = ["8", "9", "10", "8.5"];
    Student {
        control_number: "A0012345".into(),
        curp: "PENA000101HDFRRL04".into(),
        nombre: "José Ángel".into(),
        primer_apellido: "Peña".into(),
        segundo_apellido: "Ñúñez".into(),
        genero: Some(Genero::Hombre),
        fecha_nacimiento: Some(date("2000-01-01")),
        email_personal: Some("jose.pena@example.com".into()),
        email_institucional: None,
        group: "8A".into(),
        grade_level: 8,
        active: true,
        plan_id: plan.id.clone(),
        grades: plan
            .subjects
            .iter()
            .enumerate()
            .map(|(i, s)| Grade {
                subject_clave: s.clave.clone(),
                value: d(grades[i % 4]),
                ciclo: format!("{}-{}", 2019 + i / 10, 1 + (i / 5) % 2),
                observacion: if i == 2 { Observacion::ExamenExtraordinario } else { Observacion::Normal },
            })
            .collect(),
    }
}

/// A valid CURP for the sample student (check digit computed).
pub fn fix_curp(first17: &str) -> String {
    format!("{first17}{}", certifica_core::curp::check_digit(first17).unwrap())
}

pub fn responsable() -> Responsable {
    Responsable {
        curp: SIGNER_CURP.into(),
        nombre: "María Cristina".into(),
        primer_apellido: "Gómez".into(),
        segundo_apellido: "Ruiz".into(),
        cargo: Cargo::ResponsableExpedicion,
    }
}

/// Seals the sample student's certificate for a plan of `n` subjects.
pub fn seal_sample(n: usize, efirma: &Efirma, issue_date: &str) -> certifica_core::issue::Sealed {
    let (inst, school, plan) = (institution(), school(), plan(n));
    let student = student(&plan);
    let resp = responsable();
    let ctx = certifica_core::rules::IssueContext {
        institution: &inst,
        plan: &plan,
        student: &student,
        signer: Some((&resp, efirma)),
        credits_available: 1,
        issue_date: date(issue_date),
    };
    certifica_core::issue::seal_certificate(&ctx, &school, "FC-2026-0001").unwrap()
}
