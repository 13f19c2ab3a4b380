//! Jobs: the job item (what it does in `body`, its progress in counters
//! that conditional updates change), one item per student's result, and
//! one marker per counted chunk.

use super::keys::{GSI2, esc, job_pk, jobs_gsi};
use super::{DynamoRecords, Item, failed, get_n, get_s, invalid, key, n, parse_body, s, unavailable};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update};
use certifica_core::jobs::{Job, JobResult, page_of};
use certifica_core::ports::{JobStore, StoreError, StoreResult};
use certifica_core::records::{Actor, Tenant};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

const JOB: &str = "JOB";
/// Result sort keys: `RES#{matrícula}`.
const RESULT: &str = "RES#";
/// Counters of results by status: `count_{status}`.
const COUNT: &str = "count_";

fn result_sk(matricula: &str) -> String {
    format!("{RESULT}{}", esc(matricula))
}

/// Results recorded in one transaction: at most 100 items, one of them the
/// check that the job exists.
const RESULTS_PER_TRANSACTION: usize = 99;

fn not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("el trabajo {id}"))
}

fn time(item: &Item, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get_s(item, name)
        .map(|v| DateTime::parse_from_rfc3339(v).map(|d| d.with_timezone(&Utc)).map_err(invalid))
        .transpose()
}

/// The job as created, with the progress its counters hold.
fn parse_job(item: &Item) -> StoreResult<Job> {
    let mut job: Job = parse_body(item)?;
    job.started_at = time(item, "started_at")?;
    job.updated_at = time(item, "updated_at")?;
    job.cancelled_at = time(item, "cancelled_at")?;
    job.cancelled_by = get_s(item, "cancelled_by").map(serde_json::from_str).transpose().map_err(invalid)?;
    job.done = get_n(item, "done").unwrap_or(0).max(0) as u32;
    job.chunks_done = get_n(item, "chunks_done").unwrap_or(0).max(0) as u32;
    job.counts = item
        .iter()
        .filter_map(|(name, v)| {
            let status = name.strip_prefix(COUNT)?;
            let count = v.as_n().ok()?.parse::<u32>().ok()?;
            Some((status.to_string(), count))
        })
        .collect();
    Ok(job)
}

fn parse_results(items: &[Item]) -> StoreResult<Vec<JobResult>> {
    items.iter().map(parse_body).collect()
}

fn now() -> AttributeValue {
    s(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

impl JobStore for DynamoRecords {
    async fn create_job(&self, t: &Tenant, job: &Job) -> StoreResult<()> {
        let mut item = key(job_pk(t, &job.id), JOB);
        item.insert("body".into(), s(serde_json::to_string(job).map_err(invalid)?));
        item.insert("chunks".into(), n(job.chunks));
        item.insert("done".into(), n(0));
        item.insert("chunks_done".into(), n(0));
        item.insert("gsi2pk".into(), s(jobs_gsi(t, &job.school_id, &job.cycle_id)));
        item.insert(
            "gsi2sk".into(),
            s(format!("{}#{}", job.created_at.format("%Y-%m-%dT%H:%M:%S%.9fZ"), esc(&job.id))),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn job(&self, t: &Tenant, id: &str) -> StoreResult<Option<Job>> {
        self.get_item(key(job_pk(t, id), JOB)).await?.map(|i| parse_job(&i)).transpose()
    }

    async fn cycle_jobs(&self, t: &Tenant, school_id: &str, cycle_id: &str, limit: usize) -> StoreResult<Vec<Job>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :pk")
            .expression_attribute_values(":pk", s(jobs_gsi(t, school_id, cycle_id)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(unavailable)?;
        out.items().iter().take(limit).map(parse_job).collect()
    }

    async fn start_job(&self, t: &Tenant, id: &str) -> StoreResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(t, id), JOB)))
            .update_expression("SET started_at = if_not_exists(started_at, :now)")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", now())
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                Err(not_found(id))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn record_results(&self, t: &Tenant, id: &str, results: &[JobResult]) -> StoreResult<usize> {
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<&JobResult> = results.iter().filter(|r| seen.insert(r.matricula.as_str())).collect();
        let mut recorded = 0;
        for part in distinct.chunks(RESULTS_PER_TRANSACTION) {
            recorded += self.record_part(t, id, part).await?;
        }
        Ok(recorded)
    }

    async fn results_between(&self, t: &Tenant, id: &str, first: &str, last: &str) -> StoreResult<Vec<JobResult>> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :first AND :last")
            .expression_attribute_values(":pk", s(job_pk(t, id)))
            .expression_attribute_values(":first", s(result_sk(first)))
            .expression_attribute_values(":last", s(result_sk(last)))
            .consistent_read(true);
        parse_results(&self.all_pages(query).await?)
    }

    async fn results_page(
        &self,
        t: &Tenant,
        id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<(Vec<JobResult>, Option<String>)> {
        // ',' sorts below every character a matrícula may hold and above its
        // end: `RES#A1,` comes after `RES#A1` and before `RES#A10` or `RES#A1-`.
        let from = after.map(|a| format!("{},", result_sk(a))).unwrap_or_else(|| RESULT.to_string());
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(job_pk(t, id)))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":to", s("RES$"))
            .limit(limit as i32 + 1)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(page_of(parse_results(out.items())?, limit))
    }

    async fn finish_chunk(
        &self,
        t: &Tenant,
        id: &str,
        chunk: u32,
        counts: &BTreeMap<String, u32>,
    ) -> StoreResult<bool> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(t, id), JOB)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":done", n(counts.values().sum::<u32>()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":now", now());
        let mut adds = vec!["done :done".to_string(), "chunks_done :one".to_string()];
        for (i, (status, count)) in counts.iter().enumerate() {
            // Statuses are the API's words; anything else would make a strange attribute.
            if status.is_empty() || !status.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(StoreError::Invalid(format!("estado de resultado no válido: {status}")));
            }
            update = update
                .expression_attribute_names(format!("#c{i}"), format!("{COUNT}{status}"))
                .expression_attribute_values(format!(":c{i}"), n(count));
            adds.push(format!("#c{i} :c{i}"));
        }
        let update = update
            .update_expression(format!("ADD {} SET updated_at = :now", adds.join(", ")))
            .build()
            .map_err(invalid)?;
        let marker = key(job_pk(t, id), &format!("CHUNK#{chunk:06}"));
        let items = vec![
            self.put(marker, Some("attribute_not_exists(sk)"))?,
            TransactWriteItem::builder().update(update).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            Err(f) if failed(&f, 1) => Err(not_found(id)),
            Err(f) if failed(&f, 0) => Ok(false),
            Err(f) => Err(f.into_error()),
        }
    }

    async fn cancel_job(&self, t: &Tenant, id: &str, by: &Actor) -> StoreResult<Job> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(t, id), JOB)))
            .update_expression("SET cancelled_at = :now, cancelled_by = :by")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(cancelled_at) AND chunks_done < chunks",
            )
            .expression_attribute_values(":now", now())
            .expression_attribute_values(":by", s(serde_json::to_string(by).map_err(invalid)?))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => parse_job(out.attributes().ok_or_else(|| invalid("sin atributos"))?),
            // Already cancelled or finished: as it is.
            Err(e) if e.as_service_error().is_some_and(|x| x.is_conditional_check_failed_exception()) => {
                self.job(t, id).await?.ok_or_else(|| not_found(id))
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

impl DynamoRecords {
    /// Records `part` in one transaction, each result only if its student
    /// has none; when some have one (a redelivered chunk), each on its own.
    async fn record_part(&self, t: &Tenant, id: &str, part: &[&JobResult]) -> StoreResult<usize> {
        let exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(job_pk(t, id), JOB)))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(invalid)?;
        let mut items = vec![TransactWriteItem::builder().condition_check(exists).build()];
        for result in part {
            let mut item = key(job_pk(t, id), &result_sk(&result.matricula));
            item.insert("body".into(), s(serde_json::to_string(result).map_err(invalid)?));
            items.push(self.put(item, Some("attribute_not_exists(sk)"))?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(part.len()),
            Err(f) if failed(&f, 0) => Err(not_found(id)),
            Err(f) if (1..=part.len()).any(|i| failed(&f, i)) => {
                if part.len() == 1 {
                    return Ok(0);
                }
                let mut recorded = 0;
                for result in part {
                    recorded += Box::pin(self.record_part(t, id, &[result])).await?;
                }
                Ok(recorded)
            }
            Err(f) => Err(f.into_error()),
        }
    }
}
