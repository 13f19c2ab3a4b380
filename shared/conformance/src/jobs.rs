//! `JobStore`: a job's progress counts every student once, whatever is
//! delivered twice, and no tenant sees another's jobs.

use crate::fixtures::{by, fresh_tenant};
use certifica_core::jobs::{FAILED, Job, JobResult, JobStatus, JobWork, count};
use certifica_core::ports::{JobStore, StoreError};
use chrono::NaiveDate;

fn result(matricula: &str, status: &str) -> JobResult {
    JobResult {
        matricula: matricula.into(),
        status: status.into(),
        certificate_id: None,
        folio_digital: None,
        problems: Vec::new(),
    }
}

fn issue_job(id: &str, cycle: &str, total: usize) -> Job {
    let work = JobWork::Issue { issue_date: NaiveDate::from_ymd_opt(2026, 7, 1).expect("date") };
    Job::new(id, "esc-1", cycle, work, total, by("u-1"))
}

pub async fn a_job_counts_each_student_and_chunk_once<S: JobStore>(s: &S) {
    let t = fresh_tenant("trabajos");
    let job = issue_job(&uuid::Uuid::new_v4().to_string(), "2025-2026", 30);
    s.create_job(&t, &job).await.expect("create");
    assert_eq!(s.create_job(&t, &job).await, Err(StoreError::Conflict), "an id is one job");
    let read = s.job(&t, &job.id).await.expect("read").expect("job");
    assert_eq!(read, job, "a job reads back as created");
    assert_eq!(read.status(), JobStatus::EnCola);

    s.start_job(&t, &job.id).await.expect("start");
    let started = s.job(&t, &job.id).await.expect("read").expect("job");
    assert_eq!(started.status(), JobStatus::EnProceso);
    s.start_job(&t, &job.id).await.expect("start again");
    assert_eq!(s.job(&t, &job.id).await.expect("read").expect("job").started_at, started.started_at, "started once");

    // The first chunk: 25 students, one of them delivered twice.
    let first: Vec<JobResult> =
        (0..25).map(|n| result(&format!("A{n:03}"), if n < 20 { "timbrado" } else { "rechazado" })).collect();
    assert_eq!(s.record_results(&t, &job.id, &first).await.expect("record"), 25);
    let again = result("A003", "omitido");
    let recorded_again = s.record_results(&t, &job.id, std::slice::from_ref(&again)).await.expect("record again");
    assert_eq!(recorded_again, 0, "a result is recorded once");
    let kept = s.results_between(&t, &job.id, "A000", "A024").await.expect("between");
    assert_eq!(kept, first, "the first result stays, in matrícula order");
    assert_eq!(s.results_between(&t, &job.id, "A010", "A012").await.expect("between").len(), 3, "inclusive range");

    assert!(s.finish_chunk(&t, &job.id, 0, &count(&first)).await.expect("finish"));
    assert!(!s.finish_chunk(&t, &job.id, 0, &count(&first)).await.expect("finish again"), "a chunk counts once");
    let j = s.job(&t, &job.id).await.expect("read").expect("job");
    assert_eq!((j.done, j.chunks_done), (25, 1));
    assert_eq!(j.counts.get("timbrado"), Some(&20));
    assert_eq!(j.counts.get("rechazado"), Some(&5));
    assert_eq!(j.status(), JobStatus::EnProceso);

    // The last chunk, with a student that failed on every attempt.
    let second: Vec<JobResult> =
        (25..29).map(|n| result(&format!("A{n:03}"), "timbrado")).chain([result("A029", FAILED)]).collect();
    // An earlier delivery recorded two; the next records the other three,
    // and a student listed twice counts once (the first kept).
    assert_eq!(s.record_results(&t, &job.id, &second[..2]).await.expect("record"), 2);
    let redelivered: Vec<JobResult> = second.iter().cloned().chain([result("A027", "omitido")]).collect();
    assert_eq!(s.record_results(&t, &job.id, &redelivered).await.expect("record the rest"), 3);
    let recorded = s.results_between(&t, &job.id, "A025", "A029").await.expect("between");
    assert_eq!(recorded, second);
    assert!(s.finish_chunk(&t, &job.id, 1, &count(&recorded)).await.expect("finish"));
    let j = s.job(&t, &job.id).await.expect("read").expect("job");
    assert_eq!((j.done, j.chunks_done), (30, 2));
    assert_eq!(j.status(), JobStatus::Fallido, "a student that could not be worked fails the job");
    assert!(j.updated_at.is_some());

    // Pages of results.
    let (page, next) = s.results_page(&t, &job.id, None, 12).await.expect("page");
    assert_eq!(page.len(), 12);
    assert_eq!(next.as_deref(), Some("A011"));
    let (page, next) = s.results_page(&t, &job.id, Some("A023"), 12).await.expect("page");
    assert_eq!(
        page.iter().map(|r| r.matricula.as_str()).collect::<Vec<_>>(),
        ["A024", "A025", "A026", "A027", "A028", "A029"]
    );
    assert_eq!(next, None);

    // Unknown jobs.
    assert!(s.job(&t, "otro").await.expect("read").is_none());
    assert!(matches!(s.start_job(&t, "otro").await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.record_results(&t, "otro", &[again]).await, Err(StoreError::NotFound(_))));

    // More results at once than one DynamoDB transaction holds.
    let large = issue_job(&uuid::Uuid::new_v4().to_string(), "2025-2026", 150);
    s.create_job(&t, &large).await.expect("create");
    let many: Vec<JobResult> = (0..150).map(|n| result(&format!("C{n:03}"), "timbrado")).collect();
    assert_eq!(s.record_results(&t, &large.id, &many).await.expect("record many"), 150);
    assert_eq!(s.results_between(&t, &large.id, "C000", "C149").await.expect("between"), many);
    assert!(matches!(s.finish_chunk(&t, "otro", 0, &count(&first)).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.cancel_job(&t, "otro", &by("u-1")).await, Err(StoreError::NotFound(_))));
}

pub async fn a_cancelled_job_stays_cancelled_and_tenants_never_see_each_others_jobs<S: JobStore>(s: &S) {
    let t = fresh_tenant("trabajos-cancelados");
    let job = issue_job(&uuid::Uuid::new_v4().to_string(), "2025-2026", 60);
    s.create_job(&t, &job).await.expect("create");
    s.start_job(&t, &job.id).await.expect("start");
    let cancelled = s.cancel_job(&t, &job.id, &by("u-2")).await.expect("cancel");
    assert_eq!(cancelled.status(), JobStatus::Cancelado);
    assert_eq!(cancelled.cancelled_by.as_ref().map(|a| a.user.as_str()), Some("u-2"));
    let again = s.cancel_job(&t, &job.id, &by("u-3")).await.expect("cancel again");
    assert_eq!(again.cancelled_at, cancelled.cancelled_at, "cancelled once");
    assert_eq!(again.cancelled_by, cancelled.cancelled_by);
    assert_eq!(s.job(&t, &job.id).await.expect("read").expect("job").status(), JobStatus::Cancelado);

    // A finished job is not cancelled afterwards.
    let finished = issue_job(&uuid::Uuid::new_v4().to_string(), "2025-2026", 1);
    s.create_job(&t, &finished).await.expect("create");
    let one = [result("B001", "timbrado")];
    s.record_results(&t, &finished.id, &one).await.expect("record");
    s.finish_chunk(&t, &finished.id, 0, &count(&one)).await.expect("finish");
    let after = s.cancel_job(&t, &finished.id, &by("u-2")).await.expect("cancel");
    assert_eq!(after.status(), JobStatus::Terminado);
    assert!(after.cancelled_at.is_none());

    // A cycle's jobs, newest first; another cycle's and another tenant's are not listed.
    let other_cycle = issue_job(&uuid::Uuid::new_v4().to_string(), "2024-2025", 3);
    s.create_job(&t, &other_cycle).await.expect("create");
    let listed: Vec<String> =
        s.cycle_jobs(&t, "esc-1", "2025-2026", 10).await.expect("list").into_iter().map(|j| j.id).collect();
    assert_eq!(listed, [finished.id.clone(), job.id.clone()]);
    assert_eq!(s.cycle_jobs(&t, "esc-1", "2025-2026", 1).await.expect("list").len(), 1, "at most the limit");

    let stranger = fresh_tenant("trabajos-ajenos");
    assert!(s.job(&stranger, &job.id).await.expect("read").is_none(), "another tenant's job is unknown");
    assert!(s.cycle_jobs(&stranger, "esc-1", "2025-2026", 10).await.expect("list").is_empty());
    assert!(matches!(s.cancel_job(&stranger, &job.id, &by("u-9")).await, Err(StoreError::NotFound(_))));
    assert!(matches!(s.record_results(&stranger, &job.id, &one).await, Err(StoreError::NotFound(_))));
    assert!(s.results_between(&stranger, &finished.id, "A", "Z").await.expect("between").is_empty());
}
