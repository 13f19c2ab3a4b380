//! Students with their grades, grade edits with their audit entry, and the
//! students table.

use super::keys::{GSI2, esc, roster_gsi, students_pk};
use super::{
    DynamoRecords, Item, failed, get_bool, get_n, get_s, invalid, key, n, parse_body, parse_certificate, s, unavailable,
};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use certifica_core::model::{Grade, Student};
use certifica_core::ports::{StoreError, StoreResult, StudentStore};
use certifica_core::records::{
    Actor, AuditAction, AuditEntry, StudentRecord, StudentUpdate, Tenant, check_control_number, describe_grade_changes,
};
use certifica_core::roster::{self, PageBuilder, RosterFilter, RosterPage, RosterStudent};

fn student_record(item: &Item, school_id: &str, cycle_id: &str) -> StoreResult<StudentRecord> {
    Ok(StudentRecord {
        school_id: school_id.to_string(),
        cycle_id: cycle_id.to_string(),
        student: parse_body(item)?,
        grades_edited: get_bool(item, "grades_edited"),
        version: get_n(item, "version").unwrap_or(0).max(0) as u64,
    })
}

/// Names of the summary attributes the table reads (some are reserved words).
const ROSTER_NAMES: [(&str, &str); 7] = [
    ("#c", "control"),
    ("#n", "full_name"),
    ("#g", "grp"),
    ("#p", "plan_id"),
    ("#l", "grade_level"),
    ("#a", "active"),
    ("#e", "grades_edited"),
];

impl StudentStore for DynamoRecords {
    async fn put_students(&self, t: &Tenant, school_id: &str, cycle_id: &str, students: &[Student]) -> StoreResult<()> {
        for st in students {
            check_control_number(&st.control_number).map_err(StoreError::Invalid)?;
        }
        self.require_school(t, school_id).await?;
        let mut groups: Vec<&str> = students.iter().map(|st| st.group.trim()).filter(|g| !g.is_empty()).collect();
        groups.sort_unstable();
        groups.dedup();
        // Upserts in parallel (bounded): each keeps the student's edit flag and bumps its version.
        let mut tasks: tokio::task::JoinSet<StoreResult<()>> = tokio::task::JoinSet::new();
        for st in students {
            let update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(students_pk(t, school_id, cycle_id), &esc(&st.control_number))))
                .update_expression(
                    "SET #c = :c, #n = :n, #g = :g, #p = :p, #l = :l, #a = :a, body = :body, \
                     #e = if_not_exists(#e, :false), version = if_not_exists(version, :zero) + :one",
                )
                .set_expression_attribute_names(Some(
                    ROSTER_NAMES.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
                ))
                .expression_attribute_values(":c", s(&st.control_number))
                .expression_attribute_values(":n", s(st.full_name()))
                .expression_attribute_values(":g", s(st.group.trim()))
                .expression_attribute_values(":p", s(&st.plan_id))
                .expression_attribute_values(":l", n(st.grade_level))
                .expression_attribute_values(":a", AttributeValue::Bool(st.active))
                .expression_attribute_values(":body", s(serde_json::to_string(st).map_err(invalid)?))
                .expression_attribute_values(":false", AttributeValue::Bool(false))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1));
            if tasks.len() >= 16
                && let Some(done) = tasks.join_next().await
            {
                done.map_err(invalid)??;
            }
            tasks.spawn(async move { update.send().await.map(|_| ()).map_err(unavailable) });
        }
        for g in groups {
            let sk = format!("GROUP#{}#{}#{}", esc(school_id), esc(cycle_id), esc(g));
            self.put_config(t, &sk, &g).await?;
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(invalid)??;
        }
        Ok(())
    }

    async fn student(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
    ) -> StoreResult<Option<StudentRecord>> {
        self.get_item(key(students_pk(t, school_id, cycle_id), &esc(control_number)))
            .await?
            .map(|i| student_record(&i, school_id, cycle_id))
            .transpose()
    }

    async fn edit_grades(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        control_number: &str,
        expected_version: u64,
        grades: Vec<Grade>,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        let mut record = self
            .student(t, school_id, cycle_id, control_number)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el alumno {control_number}")))?;
        if record.version != expected_version {
            return Err(StoreError::Conflict);
        }
        let detail = describe_grade_changes(&record.student.grades, &grades);
        record.student.grades = grades;
        record.grades_edited = true;
        record.version += 1;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(students_pk(t, school_id, cycle_id), &esc(control_number))))
            .update_expression("SET body = :body, grades_edited = :true, version = :nv")
            .condition_expression("version = :v")
            .expression_attribute_values(":body", s(serde_json::to_string(&record.student).map_err(invalid)?))
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":nv", n(record.version))
            .expression_attribute_values(":v", n(expected_version))
            .build()
            .map_err(invalid)?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.audit_item(t, &AuditEntry::of_student(by, AuditAction::GradesEdited, &record, detail))?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(record),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn update_student(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        expected_version: u64,
        student: &Student,
        update: &StudentUpdate,
        by: &Actor,
    ) -> StoreResult<StudentRecord> {
        check_control_number(&student.control_number).map_err(StoreError::Invalid)?;
        let control = student.control_number.as_str();
        let mut record = self
            .student(t, school_id, cycle_id, control)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("el alumno {control}")))?;
        if record.version != expected_version {
            return Err(StoreError::Conflict);
        }
        if !student.group.trim().is_empty() {
            let sk = format!("GROUP#{}#{}#{}", esc(school_id), esc(cycle_id), esc(student.group.trim()));
            self.put_config(t, &sk, &student.group.trim()).await?;
        }
        record.student = student.clone();
        record.grades_edited |= update.flag_grades_edited;
        record.version += 1;
        let item = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(students_pk(t, school_id, cycle_id), &esc(control))))
            .update_expression("SET #n = :n, #g = :g, #p = :p, #l = :l, #a = :a, body = :body, #e = :e, version = :nv")
            .condition_expression("version = :v")
            .set_expression_attribute_names(Some(
                ROSTER_NAMES
                    .iter()
                    .filter(|(k, _)| *k != "#c")
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect(),
            ))
            .expression_attribute_values(":n", s(student.full_name()))
            .expression_attribute_values(":g", s(student.group.trim()))
            .expression_attribute_values(":p", s(&student.plan_id))
            .expression_attribute_values(":l", n(student.grade_level))
            .expression_attribute_values(":a", AttributeValue::Bool(student.active))
            .expression_attribute_values(":body", s(serde_json::to_string(student).map_err(invalid)?))
            .expression_attribute_values(":e", AttributeValue::Bool(record.grades_edited))
            .expression_attribute_values(":nv", n(record.version))
            .expression_attribute_values(":v", n(expected_version))
            .build()
            .map_err(invalid)?;
        let entry = AuditEntry::of_student(by, update.action, &record, update.detail.clone());
        let items = vec![TransactWriteItem::builder().update(item).build(), self.audit_item(t, &entry)?];
        match self.transact(items).await {
            Ok(()) => Ok(record),
            Err(reasons) if failed(&reasons, 0) => Err(StoreError::Conflict),
            Err(reasons) => Err(reasons.into_error()),
        }
    }

    async fn groups(&self, t: &Tenant, school_id: &str, cycle_id: &str) -> StoreResult<Vec<String>> {
        self.list_config(t, &format!("GROUP#{}#{}#", esc(school_id), esc(cycle_id))).await
    }

    async fn roster_page(
        &self,
        t: &Tenant,
        school_id: &str,
        cycle_id: &str,
        filter: &RosterFilter,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<RosterPage> {
        let mut page = PageBuilder::new(filter, after, limit);
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(students_pk(t, school_id, cycle_id)))
                .projection_expression("#c, #n, #g, #p, #l, #a, #e")
                .set_expression_attribute_names(Some(
                    ROSTER_NAMES.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
                ))
                .limit(roster::BATCH as i32);
            query = match page.position() {
                Some(p) => query
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(esc(p))),
                None => query.key_condition_expression("pk = :pk"),
            };
            let out = query.send().await.map_err(unavailable)?;
            let batch: Vec<RosterStudent> = out
                .items()
                .iter()
                .map(|i| RosterStudent {
                    control_number: get_s(i, "control").unwrap_or_default().to_string(),
                    full_name: get_s(i, "full_name").unwrap_or_default().to_string(),
                    group: get_s(i, "grp").unwrap_or_default().to_string(),
                    plan_id: get_s(i, "plan_id").unwrap_or_default().to_string(),
                    grade_level: get_n(i, "grade_level").unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
                    active: get_bool(i, "active"),
                    grades_edited: get_bool(i, "grades_edited"),
                })
                .collect();
            let more = out.last_evaluated_key().is_some();
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                page.feed(Vec::new(), &[], false);
                break;
            };
            // The batch's certificates: keys `{matrícula}#…` between the first and the last student.
            let query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI2)
                .key_condition_expression("gsi2pk = :pk AND gsi2sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(roster_gsi(t, school_id, cycle_id)))
                .expression_attribute_values(":from", s(format!("{}#", esc(&first.control_number))))
                .expression_attribute_values(":to", s(format!("{}#~", esc(&last.control_number))));
            let certificates =
                self.all_pages(query).await?.iter().map(parse_certificate).collect::<StoreResult<Vec<_>>>()?;
            if page.feed(batch, &certificates, more) {
                break;
            }
        }
        Ok(page.finish())
    }
}
