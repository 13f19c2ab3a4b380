//! Idempotency records: a claim, the answer kept, or the claim given up.

use super::keys::idem_pk;
use super::{DynamoRecords, get_s, key, n, s, unavailable};
use certifica_core::ports::{IdempotencyStore, StoreError, StoreResult};
use certifica_core::records::{IdempotencyState, Tenant};
use chrono::{Duration, Utc};

impl IdempotencyStore for DynamoRecords {
    async fn begin(&self, t: &Tenant, k: &str, ttl: Duration) -> StoreResult<IdempotencyState> {
        let now = Utc::now();
        let expires = now + ttl;
        let mut item = key(idem_pk(t, k), "IDEM");
        item.insert("expires_at".into(), n(expires.timestamp_millis()));
        // DynamoDB's own TTL removes old records (seconds since the epoch).
        item.insert("ttl".into(), n(expires.timestamp().max(now.timestamp())));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(IdempotencyState::Started),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                let existing = self.get_item(key(idem_pk(t, k), "IDEM")).await?;
                Ok(match existing.as_ref().and_then(|i| get_s(i, "result")) {
                    Some(result) => IdempotencyState::Completed(result.to_string()),
                    None => IdempotencyState::InProgress,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn complete(&self, t: &Tenant, k: &str, result: &str, keep: Duration) -> StoreResult<()> {
        let expires = Utc::now() + keep;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(idem_pk(t, k), "IDEM")))
            .update_expression("SET #result = :r, expires_at = :e, #ttl = :t")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#result)")
            .expression_attribute_names("#result", "result")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":r", s(result))
            .expression_attribute_values(":e", n(expires.timestamp_millis()))
            .expression_attribute_values(":t", n(expires.timestamp()))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn abandon(&self, t: &Tenant, k: &str) -> StoreResult<()> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(idem_pk(t, k), "IDEM")))
            .condition_expression("attribute_not_exists(#result)")
            .expression_attribute_names("#result", "result")
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}
