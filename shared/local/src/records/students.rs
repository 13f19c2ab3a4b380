//! Students with their grades, grade edits with their audit entry, and the
//! students table.

use super::audit::audit_entry;
use super::institution::require_school;
use super::{Cached, LocalRecords, bodies, unavailable};
use certifica_core::model::{Grade, Student};
use certifica_core::ports::{StoreError, StoreResult, StudentStore};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, CertificateRecord, StudentRecord, StudentUpdate, Tenant, check_control_number,
    describe_grade_changes,
};
use certifica_core::roster::{self, PageBuilder, RosterFilter, RosterPage, RosterStudent};
use rusqlite::{Connection, OptionalExtension, params};

pub(super) fn load_student(
    conn: &Connection,
    tenant: &Tenant,
    school_id: &str,
    cycle_id: &str,
    control_number: &str,
) -> StoreResult<Option<StudentRecord>> {
    let row: Option<(String, i64, i64)> = conn
        .one(
            "SELECT body, grades_edited, version FROM students
             WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4",
            params![tenant.id(), school_id, cycle_id, control_number],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(unavailable)?;
    row.map(|(body, edited, version)| {
        Ok(StudentRecord {
            school_id: school_id.to_string(),
            cycle_id: cycle_id.to_string(),
            student: serde_json::from_str(&body).map_err(unavailable)?,
            grades_edited: edited != 0,
            version: version as u64,
        })
    })
    .transpose()
}

impl StudentStore for LocalRecords {
    async fn put_students(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        students: &[Student],
    ) -> StoreResult<()> {
        for s in students {
            check_control_number(&s.control_number).map_err(StoreError::Invalid)?;
        }
        let (tenant, school, cycle, students) =
            (tenant.clone(), school_id.to_string(), cycle_id.to_string(), students.to_vec());
        self.write(move |tx| {
            require_school(tx, &tenant, &school)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO students (tenant, school_id, cycle_id, control_number, full_name, grp, plan_id, grade_level,
                        active, grades_edited, version, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, 1, ?10)
                     ON CONFLICT (tenant, school_id, cycle_id, control_number) DO UPDATE SET
                        full_name = excluded.full_name, grp = excluded.grp, plan_id = excluded.plan_id,
                        grade_level = excluded.grade_level, active = excluded.active, body = excluded.body,
                        version = version + 1",
                )
                .map_err(unavailable)?;
            for s in &students {
                stmt.execute(params![
                    tenant.id(),
                    school,
                    cycle,
                    s.control_number,
                    s.full_name(),
                    s.group,
                    s.plan_id,
                    s.grade_level,
                    s.active,
                    serde_json::to_string(s).map_err(unavailable)?
                ])
                .map_err(unavailable)?;
            }
            Ok(())
        })
        .await
    }

    async fn student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Option<StudentRecord>> {
        let args = (tenant.clone(), school_id.to_string(), cycle_id.to_string(), control_number.to_string());
        self.read(move |conn| load_student(conn, &args.0, &args.1, &args.2, &args.3)).await
    }

    async fn edit_grades(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
        expected_version: u64,
        grades: Vec<Grade>,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        let args =
            (tenant.clone(), school_id.to_string(), cycle_id.to_string(), control_number.to_string(), by.clone());
        self.write(move |tx| {
            let (tenant, school, cycle, control, by) = &args;
            let mut record = load_student(tx, tenant, school, cycle, control)?
                .ok_or_else(|| StoreError::NotFound(format!("el alumno {control}")))?;
            if record.version != expected_version {
                return Err(StoreError::Conflict);
            }
            let detail = describe_grade_changes(&record.student.grades, &grades);
            record.student.grades = grades;
            record.grades_edited = true;
            record.version += 1;
            tx.run(
                "UPDATE students SET body = ?5, grades_edited = 1, version = ?6
                 WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4",
                params![
                    tenant.id(),
                    school,
                    cycle,
                    control,
                    serde_json::to_string(&record.student).map_err(unavailable)?,
                    record.version as i64
                ],
            )
            .map_err(unavailable)?;
            audit_entry(tx, tenant, &AuditEntry::of_student(by, AuditAction::GradesEdited, &record, detail))?;
            Ok(record)
        })
        .await
    }

    async fn update_student(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        expected_version: u64,
        student: &Student,
        update: &StudentUpdate,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        check_control_number(&student.control_number).map_err(StoreError::Invalid)?;
        let args =
            (tenant.clone(), school_id.to_string(), cycle_id.to_string(), student.clone(), update.clone(), by.clone());
        self.write(move |tx| {
            let (tenant, school, cycle, student, update, by) = &args;
            let control = &student.control_number;
            let mut record = load_student(tx, tenant, school, cycle, control)?
                .ok_or_else(|| StoreError::NotFound(format!("el alumno {control}")))?;
            if record.version != expected_version {
                return Err(StoreError::Conflict);
            }
            record.student = student.clone();
            record.grades_edited |= update.flag_grades_edited;
            record.version += 1;
            tx.run(
                "UPDATE students SET full_name = ?5, grp = ?6, plan_id = ?7, grade_level = ?8, active = ?9,
                    grades_edited = ?10, version = ?11, body = ?12
                 WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND control_number = ?4",
                params![
                    tenant.id(),
                    school,
                    cycle,
                    control,
                    student.full_name(),
                    student.group,
                    student.plan_id,
                    student.grade_level,
                    student.active,
                    record.grades_edited,
                    record.version as i64,
                    serde_json::to_string(student).map_err(unavailable)?
                ],
            )
            .map_err(unavailable)?;
            audit_entry(tx, tenant, &AuditEntry::of_student(by, update.action, &record, update.detail.clone()))?;
            Ok(record)
        })
        .await
    }

    async fn groups(&self, tenant: &Tenant, school_id: &str, cycle_id: &str) -> StoreResult<Vec<String>> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT DISTINCT grp FROM students WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND grp <> ''
                     ORDER BY grp",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map(params![args.0, args.1, args.2], |r| r.get(0)).map_err(unavailable)?;
            rows.collect::<Result<_, _>>().map_err(unavailable)
        })
        .await
    }

    async fn roster_page(
        &self,
        tenant: &Tenant,
        school_id: &str,
        cycle_id: &str,
        filter: &RosterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<RosterPage> {
        let args = (tenant.id().to_string(), school_id.to_string(), cycle_id.to_string());
        let (filter, after) = (filter.clone(), after.map(str::to_string));
        self.read(move |conn| {
            let mut page = PageBuilder::new(&filter, after.as_deref(), limit);
            let mut students_stmt = conn
                .prepare_cached(
                    "SELECT control_number, full_name, grp, plan_id, grade_level, active, grades_edited FROM students
                     WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3 AND (?4 IS NULL OR control_number > ?4)
                     ORDER BY control_number LIMIT ?5",
                )
                .map_err(unavailable)?;
            loop {
                let batch: Vec<RosterStudent> = students_stmt
                    .query_map(params![args.0, args.1, args.2, page.position(), roster::BATCH as i64], |r| {
                        Ok(RosterStudent {
                            control_number: r.get(0)?,
                            full_name: r.get(1)?,
                            group: r.get(2)?,
                            plan_id: r.get(3)?,
                            grade_level: r.get(4)?,
                            active: r.get(5)?,
                            grades_edited: r.get(6)?,
                        })
                    })
                    .map_err(unavailable)?
                    .collect::<Result<_, _>>()
                    .map_err(unavailable)?;
                let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                    page.feed(Vec::new(), &[], false);
                    break;
                };
                let certificates: Vec<CertificateRecord> = bodies(
                    conn,
                    "SELECT body FROM certificates WHERE tenant = ?1 AND school_id = ?2 AND cycle_id = ?3
                     AND control_number BETWEEN ?4 AND ?5",
                    params![args.0, args.1, args.2, first.control_number, last.control_number],
                )?;
                let more = batch.len() == roster::BATCH;
                if page.feed(batch, &certificates, more) {
                    break;
                }
            }
            Ok(page.finish())
        })
        .await
    }
}
