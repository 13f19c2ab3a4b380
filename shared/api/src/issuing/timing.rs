//! Where a batch's time went, answered as a `Server-Timing` header.

use std::sync::atomic::{AtomicU64, Ordering};
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
/// certificates issued at once).
#[derive(Debug, Default)]
pub struct StageTimes {
    micros: [AtomicU64; 5],
}

impl StageTimes {
    /// Runs `f`, counting its time to `stage`.
    pub fn time<T>(&self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.add(stage, started);
        out
    }

    pub fn add(&self, stage: Stage, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.micros[stage as usize].fetch_add(micros, Ordering::Relaxed);
    }

    /// `sello;dur=12.3, timbre;dur=…` (milliseconds).
    pub fn server_timing(&self) -> String {
        Stage::ALL
            .iter()
            .map(|s| {
                let micros = self.micros[*s as usize].load(Ordering::Relaxed);
                format!("{};dur={:.1}", s.name(), micros as f64 / 1000.0)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}
