//! In-memory ledger: unit tests and `demo`'s default. Same semantics as Table Storage:
//! ETags change on every write, batches are all-or-nothing, pages hold at most 1,000 rows.

use super::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Largest page Table Storage returns.
pub const MAX_PAGE: usize = 1000;
/// Largest entity group transaction Table Storage accepts.
pub const MAX_BATCH: usize = 100;

#[derive(Debug, Default)]
pub struct MemoryLedger {
    rows: Mutex<BTreeMap<(String, String), Entity>>,
    version: AtomicU64,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    fn next_etag(&self) -> ETag {
        let v = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        ETag(format!("W/\"mem-{v}\""))
    }
}

pub(crate) fn matches(query: &Query, e: &Entity) -> bool {
    if let Some(pk) = &query.partition_key {
        if &e.partition_key != pk {
            return false;
        }
    }
    if let Some(from) = &query.row_key_from {
        if e.row_key.as_str() < from.as_str() {
            return false;
        }
    }
    if let Some(to) = &query.row_key_to {
        if e.row_key.as_str() >= to.as_str() {
            return false;
        }
    }
    query
        .equals
        .iter()
        .all(|(k, v)| e.properties.get(k) == Some(v))
}

pub(crate) fn validate_key(k: &str) -> Result<(), LedgerError> {
    // Table Storage forbids these characters in keys; refusing them here keeps the two
    // implementations interchangeable.
    if k.len() > 1024
        || k.chars()
            .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(LedgerError::Invalid(format!("invalid key {k:?}")));
    }
    Ok(())
}

#[async_trait::async_trait]
impl Ledger for MemoryLedger {
    async fn ensure(&self) -> Result<(), LedgerError> {
        Ok(())
    }

    async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, LedgerError> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rows.get(&(pk.to_string(), rk.to_string())).cloned())
    }

    async fn query(
        &self,
        query: &Query,
        continuation: Option<&Continuation>,
    ) -> Result<Page, LedgerError> {
        let limit = query
            .top
            .map(|t| t as usize)
            .unwrap_or(MAX_PAGE)
            .clamp(1, MAX_PAGE);
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let start = continuation.map(|c| {
            (
                c.next_partition_key.clone(),
                c.next_row_key.clone().unwrap_or_default(),
            )
        });
        let iter: Box<dyn Iterator<Item = (&(String, String), &Entity)>> = match &start {
            Some(s) => Box::new(rows.range(s.clone()..)),
            None => Box::new(rows.iter()),
        };
        let mut entities = Vec::new();
        let mut continuation = None;
        for ((pk, rk), e) in iter {
            if !matches(query, e) {
                continue;
            }
            if entities.len() == limit {
                continuation = Some(Continuation {
                    next_partition_key: pk.clone(),
                    next_row_key: Some(rk.clone()),
                });
                break;
            }
            entities.push(e.clone());
        }
        Ok(Page {
            entities,
            continuation,
        })
    }

    async fn batch(&self, pk: &str, ops: Vec<Op>) -> Result<Vec<Option<ETag>>, LedgerError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        if ops.len() > MAX_BATCH {
            return Err(LedgerError::Invalid(format!(
                "batch of {} operations exceeds {MAX_BATCH}",
                ops.len()
            )));
        }
        validate_key(pk)?;
        let mut seen = std::collections::HashSet::new();
        for op in &ops {
            validate_key(op.row_key())?;
            if !seen.insert(op.row_key().to_string()) {
                return Err(LedgerError::Invalid(format!(
                    "row {} appears twice in one batch",
                    op.row_key()
                )));
            }
            if let Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) = op {
                if e.partition_key != pk {
                    return Err(LedgerError::Invalid(
                        "batch spans more than one partition".into(),
                    ));
                }
            }
        }
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        // Check every precondition before changing anything: all or nothing.
        for op in &ops {
            let key = (pk.to_string(), op.row_key().to_string());
            let current = rows.get(&key);
            match op {
                Op::Insert(_) if current.is_some() => {
                    return Err(LedgerError::Conflict(format!("{pk}/{}", op.row_key())))
                }
                Op::Replace(_, etag) | Op::Delete { etag, .. } => match current {
                    None => return Err(LedgerError::NotFound(format!("{pk}/{}", op.row_key()))),
                    Some(c) if c.etag.as_ref() != Some(etag) => {
                        return Err(LedgerError::PreconditionFailed(format!(
                            "{pk}/{}",
                            op.row_key()
                        )))
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Insert(mut e) | Op::Replace(mut e, _) | Op::Upsert(mut e) => {
                    let etag = self.next_etag();
                    e.etag = Some(etag.clone());
                    rows.insert((pk.to_string(), e.row_key.clone()), e);
                    out.push(Some(etag));
                }
                Op::Delete { row_key, .. } => {
                    rows.remove(&(pk.to_string(), row_key));
                    out.push(None);
                }
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conformance() {
        crate::ledger::conformance::run(&MemoryLedger::new()).await;
    }
}
