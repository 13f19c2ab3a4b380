//! `StudentStore`: imports, grade edits with their audit entry, and the
//! students table (filters, search, pages).

use crate::audit::expected_certs;
use crate::fixtures::{by, certificate_for, fresh_tenant, grade, plan, school, stamp, student};
use certifica_core::catalogs::MotivoCancelacion;
use certifica_core::model::Student;
use certifica_core::ports::{AuditStore, CertificateStore, CreditStore, InstitutionStore, StoreError, StudentStore};
use certifica_core::records::{AuditAction, Cancellation, CertificateStatus, StudentUpdate, Tenant, Transition};
use certifica_core::roster::{self, PlanScope, RosterFilter, RosterRow, StatusFilter};
use chrono::{Duration, NaiveDate, Utc};

pub async fn students_are_imported_edited_with_audit_and_kept_per_tenant<
    S: InstitutionStore + StudentStore + AuditStore,
>(
    s: &S,
) {
    let (t, other) = (fresh_tenant("alumnos"), fresh_tenant("alumnos-b"));
    assert!(matches!(
        s.put_students(&t, "norte", "2026", &[student("A1", "Ana", "Ruiz", "lae", "8A", 8)]).await,
        Err(StoreError::NotFound(_))
    ));
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    let blank = student(" ", "Sin", "Matrícula", "lae", "8A", 8);
    assert!(matches!(s.put_students(&t, "norte", "2026", &[blank]).await, Err(StoreError::Invalid(_))));
    let ana = student("A1", "Ana", "Ruiz", "lae", "8B", 8);
    s.put_students(&t, "norte", "2026", &[ana.clone(), student("A2", "Luis", "Mora", "lae", "8A", 8)])
        .await
        .expect("import");
    let record = s.student(&t, "norte", "2026", "A1").await.expect("get").expect("exists");
    assert_eq!((record.student.clone(), record.grades_edited), (ana.clone(), false));
    assert_eq!(s.groups(&t, "norte", "2026").await.expect("groups"), ["8A", "8B"]);
    // Editing grades is conditional on the version, flags the student and audits old → new.
    let new_grades = vec![grade("MAT1", 10), grade("FIS1", 9)];
    let stale = s.edit_grades(&t, "norte", "2026", "A1", record.version + 5, new_grades.clone(), &by("editor")).await;
    assert_eq!(stale, Err(StoreError::Conflict));
    let editor = by("editor@uva.edu.mx");
    let edited =
        s.edit_grades(&t, "norte", "2026", "A1", record.version, new_grades.clone(), &editor).await.expect("edit");
    assert_eq!(
        (edited.student.grades.clone(), edited.grades_edited, edited.version),
        (new_grades, true, record.version + 1)
    );
    let again = s.edit_grades(&t, "norte", "2026", "A1", record.version, vec![], &by("otro")).await;
    assert_eq!(again, Err(StoreError::Conflict), "a second edit from the same version loses");
    let audit = s.audit_of_student(&t, "norte", "2026", "A1").await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, AuditAction::GradesEdited);
    assert_eq!(
        (audit[0].actor.as_str(), audit[0].request_id.as_str()),
        (editor.user.as_str(), editor.request_id.as_str())
    );
    assert_eq!(audit[0].detail, "MAT1: 8.00 → 10.00");
    // A later import replaces the data but keeps the flag.
    let mut renamed = ana.clone();
    renamed.nombre = "Ana María".into();
    s.put_students(&t, "norte", "2026", &[renamed.clone()]).await.expect("import again");
    let after = s.student(&t, "norte", "2026", "A1").await.expect("get").expect("exists");
    assert_eq!((after.student, after.grades_edited), (renamed, true));
    assert!(after.version > edited.version);
    // Another institution sees nothing and cannot edit.
    assert_eq!(s.student(&other, "norte", "2026", "A1").await.expect("get"), None);
    assert!(s.groups(&other, "norte", "2026").await.expect("groups").is_empty());
    assert!(s.audit_of_student(&other, "norte", "2026", "A1").await.expect("audit").is_empty());
    assert!(matches!(
        s.edit_grades(&other, "norte", "2026", "A1", after.version, vec![], &by("intruso")).await,
        Err(StoreError::NotFound(_))
    ));
}

/// An import's change to an existing student: only at the version read,
/// with its audit entry in the same write, the flag only when asked for.
pub async fn an_imported_change_is_written_with_its_audit_entry<S: InstitutionStore + StudentStore + AuditStore>(
    s: &S,
) {
    let (t, other) = (fresh_tenant("cambio"), fresh_tenant("cambio-b"));
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    let ana = student("C1", "Ana", "Ruiz", "lae", "8A", 8);
    s.put_students(&t, "norte", "2026", std::slice::from_ref(&ana)).await.expect("import");
    let before = s.student(&t, "norte", "2026", "C1").await.expect("get").expect("exists");
    let mut corrected = ana.clone();
    corrected.nombre = "Ana María".into();
    corrected.group = "8C".into();
    let changes = certifica_core::records::student_changes(&ana, &corrected);
    assert_eq!(changes.describe(), "nombre: Ana → Ana María; grupo: 8A → 8C");
    let update =
        StudentUpdate { action: AuditAction::DataEdited, detail: changes.describe(), flag_grades_edited: false };
    let stale = s.update_student(&t, "norte", "2026", before.version + 1, &corrected, &update, &by("x")).await;
    assert_eq!(stale, Err(StoreError::Conflict));
    assert!(s.audit_of_student(&t, "norte", "2026", "C1").await.expect("audit").is_empty(), "nothing audited");
    let clerk = by("control.escolar@uva.edu.mx");
    let after =
        s.update_student(&t, "norte", "2026", before.version, &corrected, &update, &clerk).await.expect("update");
    assert_eq!(
        (after.student.clone(), after.grades_edited, after.version),
        (corrected.clone(), false, before.version + 1)
    );
    assert_eq!(s.student(&t, "norte", "2026", "C1").await.expect("get"), Some(after.clone()));
    assert!(
        s.groups(&t, "norte", "2026").await.expect("groups").contains(&"8C".to_string()),
        "the new group is listed"
    );
    let audit = s.audit_of_student(&t, "norte", "2026", "C1").await.expect("audit");
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action, audit[0].detail.as_str()),
        (AuditAction::DataEdited, "nombre: Ana → Ana María; grupo: 8A → 8C")
    );
    assert_eq!(audit[0].actor, clerk.user);
    // Grades corrected for a refused certificate: flagged.
    let mut regraded = corrected.clone();
    regraded.grades = vec![grade("MAT1", 9)];
    let grades = StudentUpdate {
        action: AuditAction::GradesEdited,
        detail: certifica_core::records::student_changes(&corrected, &regraded).describe(),
        flag_grades_edited: true,
    };
    let flagged =
        s.update_student(&t, "norte", "2026", after.version, &regraded, &grades, &clerk).await.expect("update");
    assert!(flagged.grades_edited);
    assert_eq!(s.audit_of_student(&t, "norte", "2026", "C1").await.expect("audit").len(), 2);
    // Another institution's student is not there to change; a missing one is not created.
    let theirs = s.update_student(&other, "norte", "2026", flagged.version, &regraded, &grades, &by("intruso")).await;
    assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
    let missing = student("C9", "Nadie", "Nunca", "lae", "8A", 8);
    assert!(matches!(
        s.update_student(&t, "norte", "2026", 1, &missing, &update, &clerk).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.student(&t, "norte", "2026", "C9").await.expect("get"), None);
}

/// Every page of the table, following the positions.
pub async fn whole_roster<S: StudentStore>(
    s: &S,
    t: &Tenant,
    school_id: &str,
    filter: &RosterFilter,
    limit: usize,
) -> Vec<RosterRow> {
    let (mut rows, mut after, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = s.roster_page(t, school_id, "2026", filter, after.as_deref(), limit).await.expect("page");
        assert!(page.rows.len() <= limit);
        rows.extend(page.rows);
        pages += 1;
        assert!(pages < 1_000, "pagination does not end");
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

pub(crate) fn controls(rows: &[RosterRow]) -> Vec<String> {
    rows.iter().map(|r| r.student.control_number.clone()).collect()
}

pub async fn the_roster_filters_searches_and_paginates<S>(s: &S)
where
    S: InstitutionStore + StudentStore + CertificateStore + CreditStore,
{
    let (t, other) = (fresh_tenant("tabla"), fresh_tenant("tabla-b"));
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    s.put_plan(&t, &plan("norte", "lae", 8)).await.expect("plan");
    s.put_plan(&t, &plan("norte", "ico", 10)).await.expect("plan");
    let mut students = vec![
        student("A01", "José", "Pérez", "lae", "8A", 8),
        student("A02", "Ana", "Ruiz", "lae", "8A", 8),
        student("A03", "Luis", "Mora", "lae", "8B", 8),
        student("A04", "María", "Núñez", "lae", "8B", 8),
        student("A05", "Pedro", "Sosa", "lae", "8B", 8),
        student("A06", "Sofía", "Perea", "lae", "7A", 7),
        student("B01", "Raúl", "Díaz", "ico", "10A", 10),
    ];
    let mut inactive = student("A07", "Inés", "Baja", "lae", "8A", 8);
    inactive.active = false;
    students.push(inactive);
    s.put_students(&t, "norte", "2026", &students).await.expect("import");
    s.add_credits(&t, 10, &by("admin")).await.expect("credits");
    // A02 Sellado (day 10), A03 Timbrado (day 15), A04 Error (day 20),
    // A05 cancelled and issued again (Sellado, day 25), B01 Timbrado (day 15).
    let mut ids = std::collections::HashMap::new();
    for (control, plan_id, day) in
        [("A02", "lae", 10), ("A03", "lae", 15), ("A04", "lae", 20), ("A05", "lae", 5), ("B01", "ico", 15)]
    {
        let c = certificate_for("norte", plan_id, control, day);
        s.create(&t, &c, &by("emisor")).await.expect("create");
        ids.insert(control, c);
    }
    for control in ["A03", "A05", "B01"] {
        stamp(s, &t, &ids[control]).await;
    }
    s.transition(&t, &ids["A04"].id, 0, Transition::StampFailed { message: "SELLO".into() }, &by("emisor"))
        .await
        .expect("error");
    let cancellation = Cancellation {
        motive: MotivoCancelacion::Otro,
        reason: None,
        by: "emisor".into(),
        by_email: None,
        at: Utc::now(),
    };
    s.transition(&t, &ids["A05"].id, 1, Transition::Cancelled { cancellation, pdf: "pdf/x.pdf".into() }, &by("emisor"))
        .await
        .expect("cancel");
    let mut reissued = certificate_for("norte", "lae", "A05", 25);
    reissued.created_at = Utc::now() + Duration::seconds(1);
    reissued.grades_edited = true;
    s.create(&t, &reissued, &by("emisor")).await.expect("reissue");

    let both =
        vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }, PlanScope { plan_id: "ico".into(), last_grade: 10 }];
    let lae = vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }];
    let all = RosterFilter { plans: both.clone(), ..RosterFilter::default() };
    let rows = whole_roster(s, &t, "norte", &all, 50).await;
    // Active students in the last grade of their plan only, in matrícula order.
    assert_eq!(controls(&rows), ["A01", "A02", "A03", "A04", "A05", "B01"]);
    let status_of = |rows: &[RosterRow], control: &str| {
        rows.iter().find(|r| r.student.control_number == control).and_then(|r| r.certificate.as_ref()).map(|c| c.status)
    };
    assert_eq!(status_of(&rows, "A01"), None);
    assert_eq!(status_of(&rows, "A05"), Some(CertificateStatus::Sellado), "the reissued certificate is the latest");
    assert!(rows.iter().find(|r| r.student.control_number == "A05").is_some_and(RosterRow::grades_edited));
    let tt = &t;
    let with = |f: RosterFilter| async move { controls(&whole_roster(s, tt, "norte", &f, 50).await) };
    let status = |st: StatusFilter| RosterFilter { plans: both.clone(), status: st, ..RosterFilter::default() };
    assert_eq!(
        with(RosterFilter { plans: lae.clone(), ..RosterFilter::default() }).await,
        ["A01", "A02", "A03", "A04", "A05"]
    );
    assert_eq!(with(status(StatusFilter::PorCertificar)).await, ["A01"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Sellado))).await, ["A02", "A05"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Timbrado))).await, ["A03", "B01"]);
    assert_eq!(with(status(StatusFilter::Is(CertificateStatus::Error))).await, ["A04"]);
    assert!(with(status(StatusFilter::Is(CertificateStatus::Cancelado))).await.is_empty());
    let dates = |from: u32, to: u32| RosterFilter {
        plans: both.clone(),
        issued_from: NaiveDate::from_ymd_opt(2026, 7, from),
        issued_to: NaiveDate::from_ymd_opt(2026, 7, to),
        ..RosterFilter::default()
    };
    assert_eq!(with(dates(15, 20)).await, ["A03", "A04", "B01"]);
    assert_eq!(with(dates(1, 9)).await, Vec::<String>::new());
    assert_eq!(
        with(RosterFilter { plans: both.clone(), group: Some("8b".into()), ..RosterFilter::default() }).await,
        ["A03", "A04", "A05"]
    );
    let search =
        |q: &str| RosterFilter { plans: both.clone(), search: Some(roster::fold(q)), ..RosterFilter::default() };
    assert_eq!(with(search("PEREZ")).await, ["A01"], "accents and case do not matter");
    assert_eq!(with(search("nunez")).await, ["A04"]);
    assert_eq!(with(search("b01")).await, ["B01"], "by matrícula");
    assert_eq!(with(search("pe")).await, ["A01", "A05"], "part of a name");
    // Small pages give the same rows as one big page.
    for limit in [1, 2, 4] {
        assert_eq!(controls(&whole_roster(s, &t, "norte", &all, limit).await), controls(&rows), "limit {limit}");
    }
    // The same school id in another institution lists nothing.
    assert!(whole_roster(s, &other, "norte", &all, 50).await.is_empty());
}

pub async fn the_roster_pages_through_a_large_class<S>(s: &S)
where
    S: InstitutionStore + StudentStore + CertificateStore,
{
    let t = fresh_tenant("generacion");
    s.put_school(&t, &school(&t, "norte")).await.expect("school");
    let students: Vec<Student> = (0..450)
        .map(|i| {
            student(
                &format!("G{i:04}"),
                "Alumno",
                &format!("Apellido{i}"),
                "lae",
                if i % 3 == 0 { "8A" } else { "8B" },
                8,
            )
        })
        .collect();
    s.put_students(&t, "norte", "2026", &students).await.expect("import");
    // A few certificates scattered across storage batches.
    let issued = [3, 199, 200, 201, 399, 449];
    for i in issued {
        s.create(&t, &certificate_for("norte", "lae", &format!("G{i:04}"), 15), &by("emisor")).await.expect("create");
    }
    let scope = vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }];
    let all = RosterFilter { plans: scope.clone(), ..RosterFilter::default() };
    let rows = whole_roster(s, &t, "norte", &all, 37).await;
    assert_eq!(rows.len(), 450);
    let expected: Vec<String> = (0..450).map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&rows), expected, "every student once, in order");
    let sealed = RosterFilter {
        plans: scope.clone(),
        status: StatusFilter::Is(CertificateStatus::Sellado),
        ..RosterFilter::default()
    };
    let expected: Vec<String> = issued.iter().map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&whole_roster(s, &t, "norte", &sealed, 4).await), expected);
    let pending = RosterFilter {
        plans: scope,
        status: StatusFilter::PorCertificar,
        group: Some("8A".into()),
        ..RosterFilter::default()
    };
    let expected: Vec<String> =
        (0..450).filter(|i| i % 3 == 0 && !issued.contains(i)).map(|i| format!("G{i:04}")).collect();
    assert_eq!(controls(&whole_roster(s, &t, "norte", &pending, 50).await), expected);
    // The bulk-download listing pages through the certificates too.
    let (mut all_certs, mut after) = (Vec::new(), None::<String>);
    loop {
        let (page, next) = s.certificates_page(&t, "norte", "2026", after.as_deref(), 4).await.expect("page");
        all_certs.extend(page.into_iter().map(|c| c.control_number));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(all_certs, expected_certs(&issued));
}
