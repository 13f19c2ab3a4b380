//! `certifica serve`'s jobs worker: takes chunks from the queue table in
//! the data folder's database and works them with the same code as the
//! worker Lambda ([`certifica_api::Api::work_chunk`]). A chunk is leased,
//! not removed, until it is done, so a server stopped mid-job continues
//! the job when it starts again.

use certifica_api::{Adapters, Api};
use certifica_core::jobs::MAX_DELIVERIES;
use certifica_local::LocalRecords;
use std::time::Duration;

/// How long a taken chunk is the worker's (as the SQS visibility timeout):
/// well above what a chunk of 25 takes.
const LEASE: Duration = Duration::from_secs(6 * 60);
/// How often an idle worker looks at the queue when no job is queued
/// meanwhile (a chunk released for later comes back by time).
const IDLE: Duration = Duration::from_millis(200);

/// The wait before a chunk that asked to be retried is taken again.
fn backoff(deliveries: u32) -> Duration {
    Duration::from_secs((2u64 << deliveries.min(5)).min(60))
}

/// Works the queue for ever (one loop per call; the server runs three per core).
pub async fn work<X: Adapters>(api: &Api<X>, queue: &LocalRecords) {
    let queued = queue.chunks_queued();
    loop {
        // Listening before looking: a job queued in between still wakes this worker.
        let notified = queued.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let taken = match queue.take_chunk(LEASE).await {
            Ok(Some(taken)) => taken,
            Ok(None) => {
                let _ = tokio::time::timeout(IDLE, notified).await;
                continue;
            }
            Err(e) => {
                eprintln!("cola de trabajos no disponible: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let last = taken.deliveries >= MAX_DELIVERIES;
        let done = match api.work_chunk(&taken.chunk, last).await {
            Ok(report) => {
                eprintln!("trabajo {} bloque {}: {report}", taken.chunk.job, taken.chunk.chunk);
                queue.acknowledge_chunk(taken.seq).await
            }
            // Nothing is dropped: past the last delivery it keeps coming, a minute apart.
            Err(e) => {
                eprintln!("{e} (entrega {})", taken.deliveries);
                queue.release_chunk(taken.seq, backoff(taken.deliveries)).await
            }
        };
        if let Err(e) = done {
            // The lease lapses by itself: the chunk comes again, and what it did is not redone.
            eprintln!("bloque de trabajo sin confirmar: {e}");
        }
    }
}
