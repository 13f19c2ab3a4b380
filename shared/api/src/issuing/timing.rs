//! Where a batch's time went, answered as a `Server-Timing` header.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

/// A stage of issuing a certificate, as `Server-Timing` names it.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Rules, XML, cadena original and sello.
    Seal,
    /// The authority (simulated or the institution's node).
    Stamp,
    /// Reading the stamped XML and rendering the PDF.
    Pdf,
    /// Storing documents (sealed XML, stamped XML, PDF).
    Documents,
    /// Records: certificates, credits, audit.
    Records,
}

impl Stage {
    const ALL: [Stage; 5] = [Stage::Seal, Stage::Stamp, Stage::Pdf, Stage::Documents, Stage::Records];

    /// The stages of the CPU floor: sealing, the authority, the PDF.
    fn is_cpu(self) -> bool {
        matches!(self, Stage::Seal | Stage::Stamp | Stage::Pdf)
    }

    fn name(self) -> &'static str {
        match self {
            Stage::Seal => "sello",
            Stage::Stamp => "timbre",
            Stage::Pdf => "pdf",
            Stage::Documents => "documentos",
            Stage::Records => "registros",
        }
    }
}

/// Time spent per stage in one batch, summed over its certificates (the
/// storage stages are time awaited, which overlaps between the
/// certificates issued at once). Beside them, `cpu`: the CPU time the
/// threads spent in sello, timbre and pdf — their clock time less the
/// time the system gave the core to another thread meanwhile.
#[derive(Debug, Default)]
pub struct StageTimes {
    micros: [AtomicU64; 5],
    cpu_nanos: AtomicU64,
}

/// The calling thread's CPU time in nanoseconds (`None` where the system
/// has no per-thread clock).
#[cfg(unix)]
fn thread_cpu() -> Option<u64> {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    let read = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    let (secs, nanos) = (u64::try_from(now.tv_sec).ok()?, u64::try_from(now.tv_nsec).ok()?);
    (read == 0).then(|| secs * 1_000_000_000 + nanos)
}

#[cfg(not(unix))]
fn thread_cpu() -> Option<u64> {
    None
}

/// Runs `f`, adding the calling thread's CPU time in it to `cpu_nanos`.
fn count_cpu<T>(cpu_nanos: &AtomicU64, f: impl FnOnce() -> T) -> T {
    let before = thread_cpu();
    let out = f();
    if let (Some(before), Some(after)) = (before, thread_cpu()) {
        cpu_nanos.fetch_add(after.saturating_sub(before), Ordering::Relaxed);
    }
    out
}

/// A future whose polls' CPU time is counted (each poll runs on one
/// thread, so its thread's clock measures it; time suspended is not counted).
struct CpuTimed<'a, F> {
    inner: Pin<&'a mut F>,
    cpu_nanos: &'a AtomicU64,
}

impl<F: Future> Future for CpuTimed<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        count_cpu(this.cpu_nanos, || this.inner.as_mut().poll(cx))
    }
}

impl StageTimes {
    /// Runs `f`, counting its time to `stage` (and, for sello, timbre and
    /// pdf, its CPU time to `cpu`).
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = if stage.is_cpu() { count_cpu(&self.cpu_nanos, f) } else { f() };
        self.add(stage, started);
        out
    }

    /// Awaits `f` (the authority's answer), counting its time to `stage`
    /// and the CPU time of its polls to `cpu` (a remote authority's wait is
    /// not CPU; the simulated one's signatures are).
    pub async fn time_async<F: Future>(&self, stage: Stage, f: F) -> F::Output {
        let started = Instant::now();
        let out = if stage.is_cpu() {
            CpuTimed { inner: std::pin::pin!(f), cpu_nanos: &self.cpu_nanos }.await
        } else {
            f.await
        };
        self.add(stage, started);
        out
    }

    pub fn add(&self, stage: Stage, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros[stage as usize].fetch_add(micros, Ordering::Relaxed);
    }

    /// `sello;dur=12.3, timbre;dur=…, registros;dur=…, cpu;dur=…` (milliseconds;
    /// `cpu` only where threads have a CPU clock).
    pub fn server_timing(&self) -> String {
        let mut stages: Vec<String> = Stage::ALL
            .iter()
            .map(|s| {
                let micros = self.micros[*s as usize].load(Ordering::Relaxed);
                format!("{};dur={:.1}", s.name(), micros as f64 / 1000.0)
            })
            .collect();
        if thread_cpu().is_some() {
            let nanos = self.cpu_nanos.load(Ordering::Relaxed);
            stages.push(format!("cpu;dur={:.1}", nanos as f64 / 1_000_000.0));
        }
        stages.join(", ")
    }
}
