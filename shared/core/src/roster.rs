//! The students table of a school and cycle ("the roster"): which students
//! are listed, with their latest certificate, filtered and paginated the
//! same way by every adapter, and the opaque cursors handed to clients.
//!
//! Adapters read students in matrícula order in batches, with the
//! certificates of each batch, and feed them to [`PageBuilder`]; the join,
//! the filters and where the next page starts are decided here once.

use crate::records::{CertificateRecord, CertificateStatus, Tenant};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Students read from storage per batch.
pub const BATCH: usize = 200;
/// Students examined per page at most: a very selective filter answers a
/// shorter page with a cursor instead of reading the whole cycle at once.
pub const MAX_EXAMINED: usize = 2_000;
/// Largest page a client may ask for.
pub const MAX_LIMIT: usize = 200;

/// A plan whose students are listed, and its last grade (only students in
/// it are certified).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanScope {
    pub plan_id: String,
    pub last_grade: u32,
}

/// The status filter, in the product's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StatusFilter {
    #[default]
    Todos,
    /// No certificate yet.
    PorCertificar,
    Is(CertificateStatus),
}

impl StatusFilter {
    /// From the API's `status` value (`por_certificar`, `sellado`, `timbrado`,
    /// `error`, `cancelado`, `todos`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "todos" => Some(StatusFilter::Todos),
            "por_certificar" => Some(StatusFilter::PorCertificar),
            other => CertificateStatus::parse(other).map(StatusFilter::Is),
        }
    }
}

/// What the table shows. Students are listed when active, in one of
/// `plans` and in its last grade.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RosterFilter {
    pub plans: Vec<PlanScope>,
    pub status: StatusFilter,
    /// Issue-date range (inclusive) of the certificate; students without one are left out when set.
    pub issued_from: Option<NaiveDate>,
    pub issued_to: Option<NaiveDate>,
    pub group: Option<String>,
    /// Folded search text ([`fold`]): part of the name or the matrícula.
    pub search: Option<String>,
}

/// Lower case without accents (ñ as n), single-spaced: "José  NÚÑEZ" → "jose nunez".
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(match c {
                'á' | 'à' | 'ä' | 'â' => 'a',
                'é' | 'è' | 'ë' | 'ê' => 'e',
                'í' | 'ì' | 'ï' | 'î' => 'i',
                'ó' | 'ò' | 'ö' | 'ô' => 'o',
                'ú' | 'ù' | 'ü' | 'û' => 'u',
                // "nunez" finds Núñez: keyboards without ñ are common.
                'ñ' => 'n',
                other => other,
            });
        }
    }
    out
}

/// The searchable text of a student: matrícula and full name, folded.
pub fn search_text(control_number: &str, full_name: &str) -> String {
    fold(&format!("{control_number} {full_name}"))
}

/// What the table needs of a student (adapters store these beside the record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterStudent {
    pub control_number: String,
    pub full_name: String,
    pub group: String,
    pub plan_id: String,
    pub grade_level: u32,
    pub active: bool,
    pub grades_edited: bool,
}

/// One row of the table: the student and their latest certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterRow {
    pub student: RosterStudent,
    /// The most recent certificate (an active one, or the last cancelled one).
    pub certificate: Option<CertificateRecord>,
}

impl RosterRow {
    /// "calificaciones editadas": on the student now or on the certificate issued.
    pub fn grades_edited(&self) -> bool {
        self.student.grades_edited || self.certificate.as_ref().is_some_and(|c| c.grades_edited)
    }
}

/// One page of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterPage {
    pub rows: Vec<RosterRow>,
    /// Where the next page starts (a matrícula), when there is one. Hand it
    /// to clients only sealed in a [`CursorKey`] cursor.
    pub next: Option<String>,
}

impl RosterFilter {
    fn admits_student(&self, s: &RosterStudent) -> bool {
        s.active
            && self.plans.iter().any(|p| p.plan_id == s.plan_id && p.last_grade == s.grade_level)
            && self.group.as_ref().is_none_or(|g| g.trim().eq_ignore_ascii_case(s.group.trim()))
            && self.search.as_ref().is_none_or(|q| search_text(&s.control_number, &s.full_name).contains(q.as_str()))
    }

    fn admits_certificate(&self, c: Option<&CertificateRecord>) -> bool {
        let status_ok = match (self.status, c) {
            (StatusFilter::Todos, _) => true,
            (StatusFilter::PorCertificar, c) => c.is_none(),
            (StatusFilter::Is(s), Some(c)) => c.status == s,
            (StatusFilter::Is(_), None) => false,
        };
        let dates_ok = match (self.issued_from, self.issued_to) {
            (None, None) => true,
            (from, to) => {
                c.is_some_and(|c| from.is_none_or(|f| c.issue_date >= f) && to.is_none_or(|t| c.issue_date <= t))
            }
        };
        status_ok && dates_ok
    }
}

/// The latest certificate of `control_number` among `certificates`.
pub fn latest_certificate<'a>(
    certificates: &'a [CertificateRecord],
    control_number: &str,
) -> Option<&'a CertificateRecord> {
    certificates
        .iter()
        .filter(|c| c.control_number == control_number)
        .max_by(|a, b| a.created_at.cmp(&b.created_at).then_with(|| a.status.is_active().cmp(&b.status.is_active())))
}

/// Builds one page from batches of students (in storage order) and their certificates.
#[derive(Debug)]
pub struct PageBuilder<'f> {
    filter: &'f RosterFilter,
    limit: usize,
    rows: Vec<RosterRow>,
    examined: usize,
    position: Option<String>,
    next: Option<String>,
    done: bool,
}

impl<'f> PageBuilder<'f> {
    /// Starts after `after` (a position from an earlier page). `limit` is
    /// clamped to 1..=[`MAX_LIMIT`].
    pub fn new(filter: &'f RosterFilter, after: Option<&str>, limit: usize) -> Self {
        PageBuilder {
            filter,
            limit: limit.clamp(1, MAX_LIMIT),
            rows: Vec::new(),
            examined: 0,
            position: after.map(str::to_string),
            next: None,
            done: false,
        }
    }

    /// The last matrícula examined: read the next batch after it.
    pub fn position(&self) -> Option<&str> {
        self.position.as_deref()
    }

    /// Feeds one batch (students after [`Self::position`], in order) with the
    /// certificates of those students; `more_in_store` says whether students
    /// may follow the batch. Answers whether the page is complete.
    pub fn feed(
        &mut self,
        students: Vec<RosterStudent>,
        certificates: &[CertificateRecord],
        more_in_store: bool,
    ) -> bool {
        let count = students.len();
        for (i, student) in students.into_iter().enumerate() {
            self.examined += 1;
            self.position = Some(student.control_number.clone());
            let certificate = latest_certificate(certificates, &student.control_number);
            if self.filter.admits_student(&student) && self.filter.admits_certificate(certificate) {
                self.rows.push(RosterRow { student, certificate: certificate.cloned() });
            }
            let more = i + 1 < count || more_in_store;
            if self.rows.len() >= self.limit || (self.examined >= MAX_EXAMINED && more) {
                self.next = if more { self.position.clone() } else { None };
                self.done = true;
                return true;
            }
        }
        if !more_in_store || count == 0 {
            self.done = true;
        }
        self.done
    }

    pub fn finish(self) -> RosterPage {
        RosterPage { rows: self.rows, next: self.next }
    }
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("el cursor de paginación no es válido para esta consulta; vuelva a la primera página")]
pub struct InvalidCursor;

/// Seals page positions into opaque cursors bound to the tenant and the
/// query's scope (school and cycle), so a cursor cannot be forged, edited,
/// or replayed by another institution or against another list.
pub struct CursorKey(hmac::Key);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey")
    }
}

impl CursorKey {
    pub fn new(secret: &[u8]) -> Self {
        CursorKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// What the tag covers: tenant, scope and position, length-prefixed so
    /// parts cannot slide into each other.
    fn message(tenant: &Tenant, scope: &str, position: &str) -> Vec<u8> {
        let mut m = Vec::with_capacity(64 + position.len());
        for part in [tenant.id(), scope, position] {
            m.extend_from_slice(&(part.len() as u64).to_be_bytes());
            m.extend_from_slice(part.as_bytes());
        }
        m
    }

    /// The cursor a client gets for `position`.
    pub fn seal(&self, tenant: &Tenant, scope: &str, position: &str) -> String {
        let tag = hmac::sign(&self.0, &Self::message(tenant, scope, position));
        format!("{}.{}", URL_SAFE_NO_PAD.encode(position.as_bytes()), URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// The position sealed in `cursor`, if this key sealed it for this tenant and scope.
    pub fn open(&self, tenant: &Tenant, scope: &str, cursor: &str) -> Result<String, InvalidCursor> {
        let (payload, tag) = cursor.split_once('.').ok_or(InvalidCursor)?;
        let position = URL_SAFE_NO_PAD.decode(payload).map_err(|_| InvalidCursor)?;
        let position = String::from_utf8(position).map_err(|_| InvalidCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| InvalidCursor)?;
        hmac::verify(&self.0, &Self::message(tenant, scope, &position), &tag).map_err(|_| InvalidCursor)?;
        Ok(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ArtifactRefs, CertificateStatus};
    use chrono::Utc;

    fn student(control: &str, name: &str, group: &str, grade: u32) -> RosterStudent {
        RosterStudent {
            control_number: control.into(),
            full_name: name.into(),
            group: group.into(),
            plan_id: "lae".into(),
            grade_level: grade,
            active: true,
            grades_edited: false,
        }
    }

    fn certificate(control: &str, status: CertificateStatus, day: u32) -> CertificateRecord {
        CertificateRecord {
            id: uuid::Uuid::new_v4().to_string(),
            school_id: "esc".into(),
            cycle_id: "2026".into(),
            plan_id: "lae".into(),
            control_number: control.into(),
            status,
            version: 0,
            folio_control: String::new(),
            folio_digital: None,
            issue_date: NaiveDate::from_ymd_opt(2026, 7, day).unwrap(),
            created_at: Utc::now(),
            stamped_at: None,
            artifacts: ArtifactRefs::default(),
            grades_edited: false,
            last_error: None,
            cancellation: None,
        }
    }

    fn scope() -> RosterFilter {
        RosterFilter { plans: vec![PlanScope { plan_id: "lae".into(), last_grade: 8 }], ..RosterFilter::default() }
    }

    #[test]
    fn search_ignores_case_accents_and_spacing() {
        assert_eq!(fold("  José   PÉREZ Ñúñez "), "jose perez nunez");
        let f = RosterFilter { search: Some(fold("perez")), ..scope() };
        assert!(f.admits_student(&student("A1", "José Pérez", "A", 8)));
        assert!(!f.admits_student(&student("A2", "Ana Ruiz", "A", 8)));
        let by_matricula = RosterFilter { search: Some(fold("a2")), ..scope() };
        assert!(by_matricula.admits_student(&student("A2", "Ana Ruiz", "A", 8)));
    }

    #[test]
    fn only_active_students_in_the_last_grade_of_a_listed_plan() {
        let f = scope();
        assert!(!f.admits_student(&student("A1", "x", "A", 7)));
        assert!(!f.admits_student(&RosterStudent { active: false, ..student("A1", "x", "A", 8) }));
        assert!(!f.admits_student(&RosterStudent { plan_id: "otro".into(), ..student("A1", "x", "A", 8) }));
    }

    #[test]
    fn the_latest_certificate_decides_the_status() {
        let mut old = certificate("A1", CertificateStatus::Cancelado, 1);
        old.created_at -= chrono::Duration::days(3);
        let new = certificate("A1", CertificateStatus::Sellado, 2);
        let all = [new.clone(), old];
        assert_eq!(latest_certificate(&all, "A1"), Some(&new));
        assert_eq!(latest_certificate(&all, "A2"), None);
    }

    #[test]
    fn pages_stop_at_the_limit_and_resume_after_the_last_row() {
        let f = scope();
        let students: Vec<_> = (0..5).map(|i| student(&format!("A{i}"), "x", "A", 8)).collect();
        let mut page = PageBuilder::new(&f, None, 2);
        assert!(page.feed(students.clone(), &[], false));
        let first = page.finish();
        assert_eq!(first.rows.len(), 2);
        assert_eq!(first.next.as_deref(), Some("A1"));
        let mut last = PageBuilder::new(&f, Some("A3"), 2);
        assert!(last.feed(students[4..].to_vec(), &[], false));
        let last = last.finish();
        assert_eq!((last.rows.len(), last.next), (1, None));
    }

    #[test]
    fn an_exactly_full_last_page_has_no_next() {
        let f = scope();
        let students: Vec<_> = (0..2).map(|i| student(&format!("A{i}"), "x", "A", 8)).collect();
        let mut page = PageBuilder::new(&f, None, 2);
        assert!(page.feed(students, &[], false));
        assert_eq!(page.finish().next, None);
    }

    #[test]
    fn status_and_date_filters_use_the_certificate() {
        let c = certificate("A1", CertificateStatus::Timbrado, 15);
        let f = RosterFilter { status: StatusFilter::Is(CertificateStatus::Timbrado), ..scope() };
        assert!(f.admits_certificate(Some(&c)));
        assert!(!f.admits_certificate(None));
        let pending = RosterFilter { status: StatusFilter::PorCertificar, ..scope() };
        assert!(pending.admits_certificate(None) && !pending.admits_certificate(Some(&c)));
        let range = |from, to| RosterFilter {
            issued_from: NaiveDate::from_ymd_opt(2026, 7, from),
            issued_to: NaiveDate::from_ymd_opt(2026, 7, to),
            ..scope()
        };
        assert!(range(15, 15).admits_certificate(Some(&c)));
        assert!(!range(16, 20).admits_certificate(Some(&c)));
        assert!(!range(1, 31).admits_certificate(None));
    }

    #[test]
    fn cursors_open_only_for_their_tenant_and_scope() {
        let key = CursorKey::new(b"secreto de prueba");
        let (a, b) = (Tenant::from_verified_identity("a"), Tenant::from_verified_identity("b"));
        let cursor = key.seal(&a, "esc/2026", "A0042");
        assert_eq!(key.open(&a, "esc/2026", &cursor), Ok("A0042".into()));
        assert_eq!(key.open(&b, "esc/2026", &cursor), Err(InvalidCursor));
        assert_eq!(key.open(&a, "esc/2025", &cursor), Err(InvalidCursor));
        assert_eq!(CursorKey::new(b"otra clave").open(&a, "esc/2026", &cursor), Err(InvalidCursor));
        // Editing the position breaks the seal.
        let (_, tag) = cursor.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("A0001"));
        assert_eq!(key.open(&a, "esc/2026", &forged), Err(InvalidCursor));
        for junk in ["", ".", "abc", "!!.??", "QQ.QQ"] {
            assert_eq!(key.open(&a, "esc/2026", junk), Err(InvalidCursor), "{junk:?}");
        }
    }
}
