//! The students table, in process: 5,000 students of one school and cycle
//! (half with a certificate: Sellado, Error), every page of each filter
//! walked through the API (query parsing, the roster over SQLite, sealed
//! cursors, JSON), page latency p50 / p99 per filter. Budget: p99 ≤ 20 ms.
//!
//! Run: cargo bench -p certifica-api --bench list

use bytes::Bytes;
use certifica_api::{Api, Config};
use certifica_core::catalogs::{EntidadFederativa, Genero, NivelEstudios, Observacion, TipoAsignatura, TipoPeriodo};
use certifica_core::identity::{Identity, Permission};
use certifica_core::model::*;
use certifica_core::numbers::Decimal2;
use certifica_core::ports::{CertificateStore, InstitutionStore, StudentStore};
use certifica_core::records::{Actor, ArtifactRefs, CertificateRecord, CertificateStatus, Cycle, Tenant, Transition};
use certifica_core::secretbox::SecretBox;
use certifica_core::stamping::LocalAuthority;
use certifica_local::{Local, LocalArtifacts, LocalOutbox, LocalRecords};
use http::Request;
use std::time::{Duration, Instant};

const STUDENTS: usize = 5_000;

fn plan() -> Plan {
    let subjects = (0..40)
        .map(|i| Subject {
            clave: format!("M{i:02}"),
            nombre: format!("Materia {i}"),
            certification: Some(SubjectCertification {
                id_asignatura: i + 1,
                tipo: TipoAsignatura::Obligatoria,
                creditos: Decimal2::from_int(8),
            }),
        })
        .collect();
    Plan {
        id: "lae".into(),
        school_id: "norte".into(),
        career: Career { mec_id: 101, clave: "LAE".into(), nombre: "Licenciatura en Administración".into() },
        clave_plan: "2020".into(),
        tipo_periodo: TipoPeriodo::Semestre,
        nivel: NivelEstudios::Licenciatura,
        scale: GradeScale { min: Decimal2::from_int(5), max: Decimal2::from_int(10), passing: Decimal2::from_int(6) },
        total_credits: Decimal2::from_int(320),
        recognition: Recognition::Rvoe,
        rvoe: Rvoe { numero: "RVOE-1".into(), fecha_expedicion: chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() },
        average_rule: AverageRule::AllSubjects,
        last_grade: 8,
        subjects,
    }
}

fn student(n: usize) -> Student {
    let nombres = ["María José", "Juan Pablo", "Sofía", "Ángel", "Valentina", "Íñigo", "Renata", "Diego"];
    Student {
        control_number: format!("A{n:05}"),
        curp: format!("NUXA990101MDFNXN{:02}", n % 100),
        nombre: nombres[n % nombres.len()].into(),
        primer_apellido: ["Núñez", "Pérez", "Ibáñez", "García"][n % 4].into(),
        segundo_apellido: format!("Ruiz {n}"),
        genero: Some(if n.is_multiple_of(2) { Genero::Mujer } else { Genero::Hombre }),
        fecha_nacimiento: chrono::NaiveDate::from_ymd_opt(1999, 1 + (n % 12) as u32, 1 + (n % 28) as u32),
        email_personal: None,
        email_institucional: None,
        group: format!("8{}", ["A", "B", "C", "D"][n % 4]),
        grade_level: 8,
        active: true,
        plan_id: "lae".into(),
        grades: (0..40)
            .map(|i| Grade {
                subject_clave: format!("M{i:02}"),
                value: Decimal2::from_int(6 + (i + n as u64) % 5),
                ciclo: "2022-1".into(),
                observacion: Observacion::Normal,
            })
            .collect(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("db")).unwrap();
    let t = Tenant::from_verified_identity("uva");
    let setup = Instant::now();
    records
        .put_institution(
            &t,
            &Institution {
                id: "uva".into(),
                mec_id: "090456".into(),
                name: "Universidad".into(),
                kind: InstitutionType::Ipes,
                mode: CertificationMode::Electronic,
            },
        )
        .await
        .unwrap();
    records
        .put_school(
            &t,
            &School {
                id: "norte".into(),
                institution_id: "uva".into(),
                name: "Campus Norte".into(),
                mec_campus_id: "150".into(),
                campus: "NORTE".into(),
                entidad: EntidadFederativa::CiudadDeMexico,
            },
        )
        .await
        .unwrap();
    records
        .put_cycle(&t, &Cycle { id: "2026".into(), school_id: "norte".into(), name: "2025-2026".into() })
        .await
        .unwrap();
    records.put_plan(&t, &plan()).await.unwrap();
    let students: Vec<Student> = (0..STUDENTS).map(student).collect();
    for chunk in students.chunks(500) {
        records.put_students(&t, "norte", "2026", chunk).await.unwrap();
    }
    let actor = Actor::new("bench", "bench");
    for n in (0..STUDENTS).filter(|n| n.is_multiple_of(2)) {
        let c = CertificateRecord {
            id: format!("c{n}"),
            school_id: "norte".into(),
            cycle_id: "2026".into(),
            plan_id: "lae".into(),
            control_number: format!("A{n:05}"),
            status: CertificateStatus::Sellado,
            version: 0,
            folio_control: format!("norte-2026-A{n:05}-1"),
            folio_digital: None,
            issue_date: chrono::NaiveDate::from_ymd_opt(2026, 6, 1 + (n % 28) as u32).unwrap(),
            created_at: chrono::Utc::now(),
            stamped_at: None,
            artifacts: ArtifactRefs::default(),
            grades_edited: false,
            last_error: None,
            cancellation: None,
        };
        records.create(&t, &c, &actor).await.unwrap();
        if n.is_multiple_of(10) {
            let failed = Transition::StampFailed { message: "no disponible".into() };
            records.transition(&t, &c.id, 0, failed, &actor).await.unwrap();
        }
    }
    eprintln!("preparación: {STUDENTS} alumnos en {:.1} s", setup.elapsed().as_secs_f64());

    let artifacts = LocalArtifacts::new(&dir.path().join("docs"), "http://127.0.0.1:9/files/", &[1u8; 32]).unwrap();
    let sender = certifica_core::mail::Sender { name: "x".into(), address: "x@x.mx".into() };
    let outbox = LocalOutbox::new(&dir.path().join("outbox"), sender).unwrap();
    let config = Config::new(&[2u8; 32], SecretBox::new(&[3u8; 32]).unwrap(), "http://127.0.0.1:9/v1/verify/");
    let api: Api<Local> =
        Api::new(records, artifacts, LocalAuthority::simulated_sep().unwrap(), outbox, config).unwrap();
    let who = Identity::from_claims(
        "bench",
        None,
        Some("uva"),
        Some(&Identity::permissions_claim(&[("norte", Permission::Ver)])),
    )
    .unwrap();

    let filters = [
        ("todos", "status=todos&limit=50"),
        ("por certificar", "status=por_certificar&limit=50"),
        ("sellados", "status=sellado&limit=50"),
        ("con error", "status=error&limit=50"),
        ("grupo 8B", "group=8B&limit=50"),
        ("búsqueda «perez»", "q=perez&limit=50"),
        ("emitidos en junio", "issuedFrom=2026-06-01&issuedTo=2026-06-15&limit=50"),
        ("páginas de 200", "status=todos&limit=200"),
    ];
    println!("tabla de alumnos: {STUDENTS} alumnos, mitad con certificado (en proceso, SQLite, release)");
    let mut worst = Duration::ZERO;
    for (name, query) in filters {
        let mut latencies = Vec::new();
        let mut rows = 0;
        // Three full walks: the first warms the page cache.
        for round in 0..3 {
            let mut cursor: Option<String> = None;
            loop {
                let uri = match &cursor {
                    Some(c) => format!("/v1/schools/norte/cycles/2026/students?{query}&cursor={c}"),
                    None => format!("/v1/schools/norte/cycles/2026/students?{query}"),
                };
                let request = Request::builder().uri(uri).body(Bytes::new()).unwrap();
                let started = Instant::now();
                let response = api.handle(request, Ok(who.clone()), "bench", None).await;
                let elapsed = started.elapsed();
                assert_eq!(response.status(), 200);
                let page: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
                if round > 0 {
                    latencies.push(elapsed);
                }
                if round == 2 {
                    rows += page["students"].as_array().unwrap().len();
                }
                match page["nextCursor"].as_str() {
                    Some(c) => cursor = Some(c.to_string()),
                    None => break,
                }
            }
        }
        latencies.sort();
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
        worst = worst.max(p99);
        println!(
            "  {name:<20} {rows:>5} filas, {:>3} páginas: p50 {:>6.2} ms, p99 {:>6.2} ms",
            latencies.len() / 2,
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0
        );
    }
    println!(
        "  presupuesto p99 ≤ 20 ms: {} (peor p99 {:.2} ms)",
        if worst <= Duration::from_millis(20) { "cumple" } else { "NO cumple" },
        worst.as_secs_f64() * 1000.0
    );
}
