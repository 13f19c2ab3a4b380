//! Idempotency records: a claim, the answer kept, or the claim given up.

use super::{Cached, LocalRecords, unavailable};
use certifica_core::ports::{IdempotencyStore, StoreError, StoreResult};
use certifica_core::records::{IdempotencyState, Tenant};
use chrono::{Duration, Utc};
use rusqlite::{OptionalExtension, params};

impl IdempotencyStore for LocalRecords {
    async fn begin(&self, tenant: &Tenant, key: &str, ttl: Duration) -> StoreResult<IdempotencyState> {
        let (tenant, key) = (tenant.clone(), key.to_string());
        self.write(move |tx| {
            let now = Utc::now();
            let row: Option<(Option<String>, i64)> = tx
                .one(
                    "SELECT result, expires_at FROM idempotency WHERE tenant = ?1 AND key = ?2",
                    params![tenant.id(), key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            match row {
                Some((Some(result), expires)) if expires > now.timestamp_millis() => Ok(IdempotencyState::Completed(result)),
                Some((None, expires)) if expires > now.timestamp_millis() => Ok(IdempotencyState::InProgress),
                _ => {
                    tx.run(
                        "INSERT OR REPLACE INTO idempotency (tenant, key, result, expires_at) VALUES (?1, ?2, NULL, ?3)",
                        params![tenant.id(), key, (now + ttl).timestamp_millis()],
                    )
                    .map_err(unavailable)?;
                    Ok(IdempotencyState::Started)
                }
            }
        })
        .await
    }

    async fn complete(&self, tenant: &Tenant, key: &str, result: &str, keep: Duration) -> StoreResult<()> {
        let (tenant, key, result) = (tenant.clone(), key.to_string(), result.to_string());
        self.write(move |tx| {
            let expires = (Utc::now() + keep).timestamp_millis();
            let n = tx
                .run(
                    "UPDATE idempotency SET result = ?3, expires_at = ?4 WHERE tenant = ?1 AND key = ?2 AND result IS NULL",
                    params![tenant.id(), key, result, expires],
                )
                .map_err(unavailable)?;
            if n == 1 { Ok(()) } else { Err(StoreError::Conflict) }
        })
        .await
    }

    async fn abandon(&self, tenant: &Tenant, key: &str) -> StoreResult<()> {
        let (tenant, key) = (tenant.clone(), key.to_string());
        self.write(move |tx| {
            tx.run(
                "DELETE FROM idempotency WHERE tenant = ?1 AND key = ?2 AND result IS NULL",
                params![tenant.id(), key],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
