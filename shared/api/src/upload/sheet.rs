//! The authority's results sheet (`resultados.csv`) in a returned zip: the
//! documents it refused move their certificates to Error with its message.
//! A sheet is not signed, so it speaks only about a batch exported for the
//! authority (`export-sealed` records each batch's folios): a sheet whose
//! folios no exported batch holds changes nothing.

use super::report::{DocumentResult, RetryLater};
use crate::issuing::Session;
use crate::lookup::CyclePages;
use crate::outcome::Status;
use crate::{Adapters, Api};
use certifica_core::ports::{ArtifactKind, ArtifactStore, CertificateStore};
use certifica_core::records::{CertificateStatus, Tenant, Transition};
use std::collections::BTreeSet;

/// The batches a sheet is compared with: the most recent exports of a cycle.
const BATCHES_CONSIDERED: usize = 100;

fn batch_name(school: &str, cycle: &str) -> String {
    format!("{school}/{cycle}/exportados.txt")
}

/// Records the folios de control exported together for the authority (each
/// export is a new version of the cycle's batch record).
pub async fn record_export_batch<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
    cycle: &str,
    folios: &[String],
) -> Result<(), crate::Problem> {
    let body = folios.join("\n").into_bytes();
    api.artifacts.put(t, ArtifactKind::ExportBatch, &batch_name(school, cycle), body, "text/plain").await?;
    Ok(())
}

/// The exported batch holding every folio in `folios`, if one does.
async fn batch_holding<X: Adapters>(
    api: &Api<X>,
    t: &Tenant,
    school: &str,
    cycle: &str,
    folios: &BTreeSet<&str>,
) -> Result<bool, RetryLater> {
    let key = ArtifactKind::ExportBatch.key(&batch_name(school, cycle));
    let versions = api.artifacts.versions(t, &key).await?;
    for version in versions.iter().rev().take(BATCHES_CONSIDERED) {
        let Some(bytes) = api.artifacts.get_version(t, &key, version).await? else { continue };
        let text = String::from_utf8_lossy(&bytes);
        let batch: BTreeSet<&str> = text.lines().collect();
        if folios.is_subset(&batch) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One row of the authority's results sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SheetRow {
    folio_control: String,
    status: String,
    message: String,
}

/// Lowercase, no accents, no separators: `Folio Control` = `folio_control` = `folioControl`.
fn normalized(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c {
            'á' | 'Á' => 'a',
            'é' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'Ó' => 'o',
            'ú' | 'Ú' | 'ü' | 'Ü' => 'u',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// Reads the results sheet: a CSV with a header naming the folio de control
/// and, optionally, a status and a message column. `None` when there is no
/// folio column.
fn sheet_rows(text: &str) -> Option<Vec<SheetRow>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().ok()?.iter().map(normalized).collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let folio = find(&["foliocontrol", "folio"])?;
    let status = find(&["estatus", "estado", "resultado", "status"]);
    let message = find(&["mensaje", "observaciones", "descripcion", "error", "motivo"]);
    let cell = |row: &csv::StringRecord, i: Option<usize>| {
        i.and_then(|i| row.get(i)).map(|s| s.trim().to_string()).unwrap_or_default()
    };
    Some(
        reader
            .records()
            .filter_map(Result::ok)
            .map(|row| SheetRow {
                folio_control: cell(&row, Some(folio)),
                status: cell(&row, status),
                message: cell(&row, message),
            })
            .filter(|r| !r.folio_control.is_empty())
            .collect(),
    )
}

fn successful(status: &str) -> bool {
    matches!(
        normalized(status).as_str(),
        "" | "ok" | "1" | "exito" | "exitoso" | "correcto" | "autenticado" | "timbrado" | "aceptado" | "valido"
    )
}

/// The authority's refusals listed in the results sheet for documents it did
/// not return: each certificate moves to Error with the authority's message.
pub(super) async fn results_sheet<X: Adapters>(
    api: &Api<X>,
    s: &Session<'_, X>,
    name: &str,
    sheet: &str,
    documents: &[DocumentResult],
) -> Result<Vec<DocumentResult>, RetryLater> {
    let Some(rows) = sheet_rows(sheet) else {
        return Ok(vec![DocumentResult::new(name).refused(
            "hoja_de_resultados_invalida",
            "la hoja de resultados no tiene una columna «folioControl»; se ignoró",
        )]);
    };
    let returned: Vec<&str> = documents.iter().filter_map(|d| d.folio_control.as_deref()).collect();
    let refusals: Vec<&SheetRow> =
        rows.iter().filter(|r| !returned.contains(&r.folio_control.as_str()) && !successful(&r.status)).collect();
    if refusals.is_empty() {
        return Ok(Vec::new());
    }
    let t = s.tenant;
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.folio_control.as_str()).collect();
    if !batch_holding(api, t, &s.school.id, s.cycle, &listed).await? {
        return Ok(vec![DocumentResult::new(name).refused(
            "hoja_fuera_de_lote",
            format!(
                "la hoja de resultados menciona {} folio(s) de control que no se exportaron juntos para la autoridad \
                 (exportar sellados); no se cambió ningún certificado",
                listed.len()
            ),
        )]);
    }
    // Certificates of the cycle by folioControl (only read when the sheet reports refusals).
    let mut by_folio = std::collections::HashMap::new();
    let mut pages = CyclePages::new(&api.records, t, &s.school.id, s.cycle, 200);
    while let Some(page) = pages.next().await? {
        by_folio.extend(page.into_iter().map(|c| (c.folio_control.clone(), c)));
    }
    let mut results = Vec::new();
    for row in refusals {
        let mut result = DocumentResult::new(&format!("{name}#{}", row.folio_control));
        result.folio_control = Some(row.folio_control.clone());
        let authority_says = if row.message.is_empty() { row.status.clone() } else { row.message.clone() };
        let message = format!("la autoridad rechazó el documento: {authority_says}");
        let Some(c) = by_folio.get(&row.folio_control) else {
            results.push(result.refused(
                "certificado_no_encontrado",
                format!("la hoja de resultados menciona el folio de control «{}», que no existe", row.folio_control),
            ));
            continue;
        };
        result.matricula = Some(c.control_number.clone());
        let result = result.certificate(c);
        match c.status {
            // Already recorded by an earlier delivery of this upload.
            CertificateStatus::Error if c.last_error.as_deref() == Some(message.as_str()) => {}
            CertificateStatus::Sellado | CertificateStatus::Error => {
                let change = Transition::StampFailed { message: message.clone() };
                api.records.transition(t, &c.id, c.version, change, &s.actor).await?;
            }
            CertificateStatus::Timbrado | CertificateStatus::Cancelado => {
                results.push(result.refused(
                    "estado_no_permite",
                    format!("{message}; el certificado ya está {}, no se cambió", c.status.label()),
                ));
                continue;
            }
        }
        results.push(result.ended(Status::Error, "rechazado_por_autoridad", message));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_results_sheet_is_read_by_column_name() {
        let rows =
            sheet_rows("Folio Control,Estatus,Mensaje\nF-1,Autenticado,\nF-2,Rechazado,CURP no coincide con RENAPO\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(successful(&rows[0].status));
        assert!(!successful(&rows[1].status));
        assert_eq!(rows[1].message, "CURP no coincide con RENAPO");
        assert!(sheet_rows("nombre,apellido\na,b\n").is_none());
    }
}
