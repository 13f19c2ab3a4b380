//! Jobs: one piece of work (issue, email, cancel) over a whole selection of
//! a school's cycle, done in the background in chunks of students — or a
//! large cycle's zip, built in one piece (download) — by
//! the worker Lambda from SQS in the cloud, by `certifica serve`'s worker
//! from its queue table locally — with its progress and per-student
//! results kept by the [`crate::ports::JobStore`].
//!
//! A job's per-student work is idempotent: each student's result is
//! recorded once (a redelivered chunk skips the students it already has),
//! and each chunk is counted into the job's progress once.

use crate::identity::Permission;
use crate::records::Actor;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Students per chunk (one queue message): small enough that a redelivered
/// chunk redoes little and a cancellation stops soon, large enough that a
/// class of 1,000 is 40 messages.
pub const CHUNK_STUDENTS: usize = 25;

/// The most students one job takes (an autonomous university's cycle).
pub const MAX_JOB_STUDENTS: usize = 50_000;

/// Deliveries of a chunk before what still fails is recorded as failed:
/// the cloud queue's `maxReceiveCount` (then the message goes to the dead
/// letters), and the local worker's count.
pub const MAX_DELIVERIES: u32 = 5;

/// What a job does to each student of its selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobWork {
    /// Seal and stamp each certificate with this issue date.
    Issue { issue_date: NaiveDate },
    /// Mail each Timbrado certificate to the student.
    Email,
    /// Cancel each Timbrado certificate with this motive (catalog code).
    Cancel {
        motive: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Zip the cycle's certificates in these states (`timbrado`, `sellado`,
    /// `cancelado`), with their PDFs when `pdf`, stored as `zip` (a name
    /// that says what the zip holds). One chunk, with no students.
    Download { pdf: bool, statuses: Vec<String>, zip: String },
}

impl JobWork {
    /// The word the API answers (the route's name).
    pub fn kind(&self) -> &'static str {
        match self {
            JobWork::Issue { .. } => "issue",
            JobWork::Email => "email",
            JobWork::Cancel { .. } => "cancel",
            JobWork::Download { .. } => "download",
        }
    }

    /// What a user must hold in the job's school to queue it, read it and
    /// cancel it: issuing, mailing and cancelling are all "timbrar"; a
    /// download only "ver".
    pub fn permission(&self) -> Permission {
        match self {
            JobWork::Download { .. } => Permission::Ver,
            _ => Permission::Timbrar,
        }
    }
}

/// A download job's count: certificates the zip holds.
pub const IN_ZIP: &str = "incluido";

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker.
    EnCola,
    /// A worker has started it.
    EnProceso,
    /// Every student has a result (some may have been refused: see the counts).
    Terminado,
    /// Every chunk ended, but some students could not be worked at all (the
    /// storage or the authority kept failing through every retry): their
    /// result is [`FAILED`]; the others are done.
    Fallido,
    /// Stopped by a user: what had not started was not done.
    Cancelado,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::EnCola => "en_cola",
            JobStatus::EnProceso => "en_proceso",
            JobStatus::Terminado => "terminado",
            JobStatus::Fallido => "fallido",
            JobStatus::Cancelado => "cancelado",
        }
    }

    /// Nothing more will happen to it.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Terminado | JobStatus::Fallido | JobStatus::Cancelado)
    }
}

/// The result of a student whose work failed on every attempt.
pub const FAILED: &str = "fallido";

/// A job: what it does, to how many students, who asked, and its progress
/// (the store keeps `started_at`, `cancelled_*`, `done`, `chunks_done` and
/// `counts`; a new job has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: String,
    pub school_id: String,
    pub cycle_id: String,
    pub work: JobWork,
    /// Students selected (each once).
    pub total: u32,
    /// Chunks the students were queued in.
    pub chunks: u32,
    pub created_by: Actor,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When the last chunk was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<Actor>,
    /// Students of counted chunks.
    #[serde(default)]
    pub done: u32,
    #[serde(default)]
    pub chunks_done: u32,
    /// Counted students by result status (`timbrado`, `rechazado`, … [`FAILED`]).
    #[serde(default)]
    pub counts: BTreeMap<String, u32>,
}

impl Job {
    /// A new job, queued.
    pub fn new(
        id: impl Into<String>,
        school_id: &str,
        cycle_id: &str,
        work: JobWork,
        total: usize,
        created_by: Actor,
    ) -> Self {
        let chunks = match work {
            JobWork::Download { .. } => 1,
            _ => total.div_ceil(CHUNK_STUDENTS) as u32,
        };
        Job {
            id: id.into(),
            school_id: school_id.to_string(),
            cycle_id: cycle_id.to_string(),
            work,
            total: total as u32,
            chunks,
            created_by,
            created_at: Utc::now(),
            started_at: None,
            updated_at: None,
            cancelled_at: None,
            cancelled_by: None,
            done: 0,
            chunks_done: 0,
            counts: BTreeMap::new(),
        }
    }

    pub fn status(&self) -> JobStatus {
        if self.chunks_done >= self.chunks {
            if self.counts.get(FAILED).is_some_and(|n| *n > 0) { JobStatus::Fallido } else { JobStatus::Terminado }
        } else if self.cancelled_at.is_some() {
            JobStatus::Cancelado
        } else if self.started_at.is_some() {
            JobStatus::EnProceso
        } else {
            JobStatus::EnCola
        }
    }

    /// The chunks of `students` (sorted, each once), in order, as queue
    /// messages; a download's one chunk has none.
    pub fn chunks_of(&self, tenant: &crate::records::Tenant, students: &[String]) -> Vec<JobChunk> {
        if let JobWork::Download { .. } = self.work {
            return vec![JobChunk {
                tenant: tenant.id().to_string(),
                job: self.id.clone(),
                chunk: 0,
                students: Vec::new(),
            }];
        }
        students
            .chunks(CHUNK_STUDENTS)
            .enumerate()
            .map(|(n, s)| JobChunk {
                tenant: tenant.id().to_string(),
                job: self.id.clone(),
                chunk: n as u32,
                students: s.to_vec(),
            })
            .collect()
    }
}

/// One queue message: a chunk of a job's students (sorted), and whose job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobChunk {
    /// The institution, as the API that queued the job had verified it.
    pub tenant: String,
    pub job: String,
    pub chunk: u32,
    pub students: Vec<String>,
}

/// One problem of a student's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobProblem {
    pub code: String,
    pub detail: String,
}

/// What became of one student of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    pub matricula: String,
    /// The outcome's word (`timbrado`, `enviado`, `cancelado`, `rechazado`,
    /// `omitido`, `error`, `sellado`) or [`FAILED`].
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folio_digital: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<JobProblem>,
}

/// A page of results out of `fetched`, read with one more than `limit`:
/// at most `limit` of them, and the matrícula the next page starts after
/// when there was more.
pub fn page_of(mut fetched: Vec<JobResult>, limit: usize) -> (Vec<JobResult>, Option<String>) {
    if fetched.len() <= limit {
        return (fetched, None);
    }
    fetched.truncate(limit);
    let next = fetched.last().map(|r| r.matricula.clone()).unwrap_or_default();
    (fetched, Some(next))
}

/// The counts of `results` by status (what a chunk adds to its job).
pub fn count(results: &[JobResult]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for r in results {
        *counts.entry(r.status.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Tenant;

    fn job(total: usize) -> Job {
        Job::new("j", "s", "c", JobWork::Email, total, Actor::new("u", "r"))
    }

    #[test]
    fn status_follows_the_progress() {
        let mut j = job(30);
        assert_eq!(j.chunks, 2);
        assert_eq!(j.status(), JobStatus::EnCola);
        j.started_at = Some(Utc::now());
        assert_eq!(j.status(), JobStatus::EnProceso);
        j.chunks_done = 2;
        assert_eq!(j.status(), JobStatus::Terminado);
        j.counts.insert(FAILED.into(), 1);
        assert_eq!(j.status(), JobStatus::Fallido);
    }

    #[test]
    fn a_cancelled_job_is_cancelled_until_every_chunk_ended() {
        let mut j = job(60);
        j.started_at = Some(Utc::now());
        j.cancelled_at = Some(Utc::now());
        j.chunks_done = 1;
        assert_eq!(j.status(), JobStatus::Cancelado);
        j.chunks_done = 3;
        assert_eq!(j.status(), JobStatus::Terminado);
    }

    #[test]
    fn chunks_cover_the_selection_in_order() {
        let students: Vec<String> = (0..60).map(|n| format!("A{n:03}")).collect();
        let j = job(students.len());
        let chunks = j.chunks_of(&Tenant::from_verified_identity("t"), &students);
        assert_eq!(chunks.len(), j.chunks as usize);
        assert_eq!(chunks.iter().map(|c| c.students.len()).collect::<Vec<_>>(), [25, 25, 10]);
        assert_eq!(chunks.iter().flat_map(|c| c.students.clone()).collect::<Vec<_>>(), students);
        assert_eq!(chunks[2].chunk, 2);
    }

    #[test]
    fn a_download_is_one_chunk_read_with_ver() {
        let work = JobWork::Download { pdf: true, statuses: vec!["timbrado".into()], zip: "z.zip".into() };
        let j = Job::new("j", "s", "c", work, 5000, Actor::new("u", "r"));
        assert_eq!((j.total, j.chunks), (5000, 1));
        let chunks = j.chunks_of(&Tenant::from_verified_identity("t"), &[]);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].students.is_empty());
        assert_eq!(j.work.permission(), Permission::Ver);
        assert_eq!(JobWork::Email.permission(), Permission::Timbrar);
    }

    #[test]
    fn work_keeps_its_parameters_through_json() {
        let w = JobWork::Cancel { motive: "R1".into(), reason: Some("x".into()) };
        let text = serde_json::to_string(&w).unwrap();
        assert!(text.contains("\"kind\":\"cancel\""), "{text}");
        assert_eq!(serde_json::from_str::<JobWork>(&text).unwrap(), w);
    }
}
