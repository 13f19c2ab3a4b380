//! Jobs, their results, and the queue of chunks `certifica serve`'s
//! worker takes (the local stand-in for SQS: a chunk is leased, not
//! removed, until the worker acknowledges it, so a stopped server's
//! chunks are taken again when it starts).

use super::{Cached, LocalRecords, bodies, is_unique_violation, unavailable};
use certifica_core::jobs::{Job, JobChunk, JobResult, page_of};
use certifica_core::ports::{JobQueue, JobStore, StoreError, StoreResult};
use certifica_core::records::{Actor, Tenant};
use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::BTreeMap;
use std::sync::Arc;

fn job_row(conn: &Connection, tenant: &Tenant, id: &str) -> StoreResult<Option<Job>> {
    let body: Option<String> = conn
        .one("SELECT body FROM jobs WHERE tenant = ?1 AND id = ?2", params![tenant.id(), id], |r| r.get(0))
        .optional()
        .map_err(unavailable)?;
    body.map(|b| serde_json::from_str(&b).map_err(unavailable)).transpose()
}

fn save_job(conn: &Connection, tenant: &Tenant, job: &Job) -> StoreResult<()> {
    conn.run(
        "UPDATE jobs SET body = ?3 WHERE tenant = ?1 AND id = ?2",
        params![tenant.id(), job.id, serde_json::to_string(job).map_err(unavailable)?],
    )
    .map_err(unavailable)?;
    Ok(())
}

fn require_job(conn: &Connection, tenant: &Tenant, id: &str) -> StoreResult<Job> {
    job_row(conn, tenant, id)?.ok_or_else(|| StoreError::NotFound(format!("el trabajo {id}")))
}

impl JobStore for LocalRecords {
    async fn create_job(&self, tenant: &Tenant, job: &Job) -> StoreResult<()> {
        let (tenant, job) = (tenant.clone(), job.clone());
        self.write(move |tx| {
            let inserted = tx.run(
                "INSERT INTO jobs (tenant, id, school_id, cycle_id, created_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    tenant.id(),
                    job.id,
                    job.school_id,
                    job.cycle_id,
                    job.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    serde_json::to_string(&job).map_err(unavailable)?
                ],
            );
            match inserted {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
                Err(e) => Err(unavailable(e)),
            }
        })
        .await
    }

    async fn job(&self, tenant: &Tenant, id: &str) -> StoreResult<Option<Job>> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.read(move |conn| job_row(conn, &tenant, &id)).await
    }

    async fn cycle_jobs(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        limit: usize,
    ) -> StoreResult<Vec<Job>> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string(), limit as i64);
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM jobs WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3
                 ORDER BY created_at DESC, id DESC LIMIT ?4",
                params![args.0, args.1, args.2, args.3],
            )
        })
        .await
    }

    async fn start_job(&self, tenant: &Tenant, id: &str) -> StoreResult<()> {
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.write(move |tx| {
            let mut job = require_job(tx, &tenant, &id)?;
            if job.started_at.is_none() {
                job.started_at = Some(Utc::now());
                save_job(tx, &tenant, &job)?;
            }
            Ok(())
        })
        .await
    }

    async fn record_results(&self, tenant: &Tenant, id: &str, results: &[JobResult]) -> StoreResult<usize> {
        let rows = results
            .iter()
            .map(|r| Ok((r.matricula.clone(), serde_json::to_string(r).map_err(unavailable)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let (tenant, id) = (tenant.clone(), id.to_string());
        self.write(move |tx| {
            require_job(tx, &tenant, &id)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO job_results (tenant, job, control_number, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(unavailable)?;
            let mut recorded = 0;
            for (matricula, body) in rows {
                recorded += insert.execute(params![tenant.id(), id, matricula, body]).map_err(unavailable)?;
            }
            Ok(recorded)
        })
        .await
    }

    async fn results_between(&self, tenant: &Tenant, id: &str, first: &str, last: &str) -> StoreResult<Vec<JobResult>> {
        let args = (tenant.id().to_string(), id.to_string(), first.to_string(), last.to_string());
        self.read(move |conn| {
            bodies(
                conn,
                "SELECT body FROM job_results WHERE tenant = ?1 AND job = ?2 AND control_number BETWEEN ?3 AND ?4
                 ORDER BY control_number",
                params![args.0, args.1, args.2, args.3],
            )
        })
        .await
    }

    async fn results_page(
        &self,
        tenant: &Tenant,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<JobResult>, Option<String>)> {
        let args = (tenant.id().to_string(), id.to_string(), after.unwrap_or("").to_string(), limit as i64 + 1);
        let fetched: Vec<JobResult> = self
            .read(move |conn| {
                bodies(
                    conn,
                    "SELECT body FROM job_results WHERE tenant = ?1 AND job = ?2 AND control_number > ?3
                     ORDER BY control_number LIMIT ?4",
                    params![args.0, args.1, args.2, args.3],
                )
            })
            .await?;
        Ok(page_of(fetched, limit))
    }

    async fn finish_chunk(
        &self,
        tenant: &Tenant,
        id: &str,
        chunk: u32,
        counts: &BTreeMap<String, u32>,
    ) -> StoreResult<bool> {
        let (tenant, id, counts) = (tenant.clone(), id.to_string(), counts.clone());
        self.write(move |tx| {
            let mut job = require_job(tx, &tenant, &id)?;
            let n = tx
                .run(
                    "INSERT OR IGNORE INTO job_chunks_counted (tenant, job, chunk) VALUES (?1, ?2, ?3)",
                    params![tenant.id(), id, chunk],
                )
                .map_err(unavailable)?;
            if n == 0 {
                return Ok(false);
            }
            for (status, count) in counts {
                job.done += count;
                *job.counts.entry(status).or_insert(0) += count;
            }
            job.chunks_done += 1;
            job.updated_at = Some(Utc::now());
            save_job(tx, &tenant, &job)?;
            Ok(true)
        })
        .await
    }

    async fn cancel_job(&self, tenant: &Tenant, id: &str, by: &Actor) -> StoreResult<Job> {
        let (tenant, id, by) = (tenant.clone(), id.to_string(), by.clone());
        self.write(move |tx| {
            let mut job = require_job(tx, &tenant, &id)?;
            if job.cancelled_at.is_none() && !job.status().is_final() {
                job.cancelled_at = Some(Utc::now());
                job.cancelled_by = Some(by);
                save_job(tx, &tenant, &job)?;
            }
            Ok(job)
        })
        .await
    }
}

impl JobQueue for LocalRecords {
    async fn enqueue(&self, chunks: &[JobChunk]) -> StoreResult<()> {
        let bodies: Vec<String> =
            chunks.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(unavailable)?;
        self.write(move |tx| {
            let mut insert = tx.prepare_cached("INSERT INTO job_queue (body) VALUES (?1)").map_err(unavailable)?;
            for body in bodies {
                insert.execute(params![body]).map_err(unavailable)?;
            }
            Ok(())
        })
        .await?;
        self.queued.notify_waiters();
        Ok(())
    }
}

/// A chunk a worker took from the local queue.
#[derive(Debug, Clone)]
pub struct TakenChunk {
    /// Its place in the queue (to acknowledge or release it).
    pub seq: i64,
    pub chunk: JobChunk,
    /// How many times it has been taken, this time included.
    pub deliveries: u32,
}

impl LocalRecords {
    /// What this store's [`JobQueue::enqueue`] notifies (all waiting) once
    /// its chunks are committed: a worker with nothing to do waits on it.
    pub fn chunks_queued(&self) -> Arc<tokio::sync::Notify> {
        self.queued.clone()
    }

    /// Takes the oldest free chunk for `lease` (it is free again after
    /// that, as an SQS message whose visibility timeout ends).
    pub async fn take_chunk(&self, lease: std::time::Duration) -> StoreResult<Option<TakenChunk>> {
        self.write(move |tx| {
            let now = Utc::now().timestamp_millis();
            let row: Option<(i64, String, u32)> = tx
                .one(
                    "SELECT seq, body, deliveries FROM job_queue WHERE lease_until <= ?1 ORDER BY seq LIMIT 1",
                    params![now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(unavailable)?;
            let Some((seq, body, deliveries)) = row else { return Ok(None) };
            tx.run(
                "UPDATE job_queue SET lease_until = ?2, deliveries = deliveries + 1 WHERE seq = ?1",
                params![seq, now + lease.as_millis() as i64],
            )
            .map_err(unavailable)?;
            let chunk = serde_json::from_str(&body).map_err(unavailable)?;
            Ok(Some(TakenChunk { seq, chunk, deliveries: deliveries + 1 }))
        })
        .await
    }

    /// Removes a chunk its worker finished.
    pub async fn acknowledge_chunk(&self, seq: i64) -> StoreResult<()> {
        self.write(move |tx| {
            tx.run("DELETE FROM job_queue WHERE seq = ?1", params![seq]).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Frees a chunk to be taken again after `delay`.
    pub async fn release_chunk(&self, seq: i64, delay: std::time::Duration) -> StoreResult<()> {
        self.write(move |tx| {
            let at = Utc::now().timestamp_millis() + delay.as_millis() as i64;
            tx.run("UPDATE job_queue SET lease_until = ?2 WHERE seq = ?1", params![seq, at]).map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    /// Frees every chunk taken by a server that stopped (one server works a
    /// data folder): its worker starts on them again at once.
    pub async fn free_taken_chunks(&self) -> StoreResult<usize> {
        self.write(|tx| tx.run("UPDATE job_queue SET lease_until = 0", []).map_err(unavailable)).await
    }

    /// Chunks waiting or taken.
    pub async fn queued_chunks(&self) -> StoreResult<usize> {
        self.read(|conn| {
            conn.one("SELECT COUNT(*) FROM job_queue", [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
                .map_err(unavailable)
        })
        .await
    }
}
