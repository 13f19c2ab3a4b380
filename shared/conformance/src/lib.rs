//! One conformance suite for every adapter of the storage ports: each check
//! is an async function generic over the ports, and
//! [`conformance_tests!`] turns them into `#[tokio::test]`s for one adapter.
//! Each check works in fresh tenants, so adapters may share one store.
//! One file per port; [`fixtures`] has what the checks build records from.

mod artifacts;
mod audit;
mod certificates;
mod credits;
pub mod fixtures;
mod idempotency;
mod inbox;
mod institution;
mod jobs;
mod mail;
pub mod stamping;
mod students;

pub use artifacts::*;
pub use audit::*;
pub use certificates::*;
pub use credits::*;
pub use fixtures::{by, fresh_tenant, sealed_certificate, student};
pub use idempotency::*;
pub use inbox::*;
pub use institution::*;
pub use jobs::*;
pub use mail::*;
pub use stamping::{
    a_failed_cancellation_leaves_the_certificate_as_it_was, a_stamp_is_never_lost_nor_obtained_twice,
    a_success_stays_a_success_when_its_idempotency_record_is_lost,
};
pub use students::*;

/// Generates the stamping and cancelling checks under injected failures for the records
/// built by `$records` and the documents built by `$artifacts` (one set).
#[macro_export]
macro_rules! stamping_conformance_tests {
    ($records:expr, $artifacts:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_stamp_is_never_lost_nor_obtained_twice() {
            $crate::a_stamp_is_never_lost_nor_obtained_twice(&$records.await, &$artifacts.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_failed_cancellation_leaves_the_certificate_as_it_was() {
            $crate::a_failed_cancellation_leaves_the_certificate_as_it_was(&$records.await, &$artifacts.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_success_stays_a_success_when_its_idempotency_record_is_lost() {
            $crate::a_success_stays_a_success_when_its_idempotency_record_is_lost(&$records.await, &$artifacts.await)
                .await
        }
    };
}

/// Generates one `#[tokio::test]` per inbox check for the inbox built by
/// `$make` and the [`Dropper`] built by `$drop`.
#[macro_export]
macro_rules! inbox_conformance_tests {
    ($make:expr, $drop:expr) => {
        #[tokio::test]
        async fn an_upload_is_read_as_dropped_and_moved_with_its_report() {
            $crate::an_upload_is_read_as_dropped_and_moved_with_its_report(&$make.await, &$drop).await
        }
        #[tokio::test]
        async fn a_refused_upload_goes_to_rejected() {
            $crate::a_refused_upload_goes_to_rejected(&$make.await, &$drop).await
        }
        #[tokio::test]
        async fn a_redelivered_upload_is_settled_once() {
            $crate::a_redelivered_upload_is_settled_once(&$make.await, &$drop).await
        }
        #[tokio::test]
        async fn an_upload_that_never_arrived_is_none() {
            $crate::an_upload_that_never_arrived_is_none(&$make.await).await
        }
    };
}

/// Generates one `#[tokio::test]` per artifact check for the store built by `$make`.
#[macro_export]
macro_rules! artifact_conformance_tests {
    ($make:expr) => {
        #[tokio::test]
        async fn artifacts_are_versioned_and_kept() {
            $crate::artifacts_are_versioned_and_kept(&$make.await).await
        }
        #[tokio::test]
        async fn artifacts_of_one_tenant_are_invisible_to_another() {
            $crate::artifacts_of_one_tenant_are_invisible_to_another(&$make.await).await
        }
        #[tokio::test]
        async fn artifact_names_cannot_escape_their_place() {
            $crate::artifact_names_cannot_escape_their_place(&$make.await).await
        }
        #[tokio::test]
        async fn documents_written_in_parts_arrive_whole() {
            $crate::documents_written_in_parts_arrive_whole(&$make.await).await
        }
        #[tokio::test]
        async fn an_aborted_document_leaves_nothing() {
            $crate::an_aborted_document_leaves_nothing(&$make.await).await
        }
    };
}

/// Generates one `#[tokio::test]` per check for the adapter built by `$make`
/// (an expression evaluating to a future of the store).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_second_active_certificate_for_a_student_is_refused() {
            $crate::a_second_active_certificate_for_a_student_is_refused(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn transitions_apply_only_from_the_expected_state_and_version() {
            $crate::transitions_apply_only_from_the_expected_state_and_version(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_cancelled_student_can_be_certified_again() {
            $crate::a_cancelled_student_can_be_certified_again(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other() {
            $crate::the_folio_lookup_answers_the_owner_and_tenants_never_see_each_other(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn reserve_commit_and_release_keep_balance_and_ledger() {
            $crate::reserve_commit_and_release_keep_balance_and_ledger(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_certificate_is_recorded_with_its_credit_held() {
            $crate::a_certificate_is_recorded_with_its_credit_held(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_credit_invariant_holds_under_concurrency() {
            $crate::the_credit_invariant_holds_under_concurrency(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_folio_digital_belongs_to_one_certificate() {
            $crate::a_folio_digital_belongs_to_one_certificate(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn reservations_of_a_crashed_invocation_expire_and_are_released() {
            $crate::reservations_of_a_crashed_invocation_expire_and_are_released(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_job_counts_each_student_and_chunk_once() {
            $crate::a_job_counts_each_student_and_chunk_once(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_cancelled_job_stays_cancelled_and_tenants_never_see_each_others_jobs() {
            $crate::a_cancelled_job_stays_cancelled_and_tenants_never_see_each_others_jobs(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn an_idempotent_retry_returns_the_first_result() {
            $crate::an_idempotent_retry_returns_the_first_result(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant() {
            $crate::the_institution_schools_cycles_plans_and_signers_are_kept_per_tenant(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn students_are_imported_edited_with_audit_and_kept_per_tenant() {
            $crate::students_are_imported_edited_with_audit_and_kept_per_tenant(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn an_imported_change_is_written_with_its_audit_entry() {
            $crate::an_imported_change_is_written_with_its_audit_entry(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_roster_filters_searches_and_paginates() {
            $crate::the_roster_filters_searches_and_paginates(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn the_roster_pages_through_a_large_class() {
            $crate::the_roster_pages_through_a_large_class(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn every_certificate_change_is_audited_with_its_ledger() {
            $crate::every_certificate_change_is_audited_with_its_ledger(&$make.await).await
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_students_certificates_are_its_history() {
            $crate::a_students_certificates_are_its_history(&$make.await).await
        }
    };
}
