//! In-memory ledger: unit tests and `demo`'s default. Same semantics as Table Storage:
//! ETags change on every write, batches are all-or-nothing, pages hold at most 1,000 rows.
//!
//! Rows are stored compactly, because `ferry serve` with `FERRY_LEDGER=memory` keeps every
//! chain, copy and reading of an estate in its own memory: partitions hold their rows
//! (the partition key is stored once), each row is its version (the ETag) and one byte
//! string of its properties, and property names are interned once per ledger. An entity
//! is decoded only when it is returned; a query's property filter reads the encoded row.
//!
//! The row encoding, interned names and in-place filter evaluation are in [`row`]; the
//! limits both ledgers check are in `ledger::limits` (re-exported here).

mod row;

pub use super::limits::{
    entity_size, MAX_BATCH, MAX_ENTITY_BYTES, MAX_PAGE, MAX_PROPERTIES, MAX_STRING_BYTES,
};

use super::limits::{validate_batch, validate_key, validate_property_name};
use super::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query, Value};
use row::{encode, etag, etag_version, Names, Row};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryLedger {
    store: Mutex<Store>,
}

#[derive(Debug, Default)]
struct Store {
    /// Partition key → row key → row. Iterating partitions then rows is (partition key,
    /// row key) order, the order Table Storage returns.
    partitions: BTreeMap<Box<str>, BTreeMap<Box<str>, Row>>,
    names: Names,
    /// Last version handed out; every write takes the next one.
    version: u64,
}

impl MemoryLedger {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // Writes check every precondition before changing anything, so a panicking holder
        // cannot leave a half-applied batch behind.
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl Ledger for MemoryLedger {
    async fn ensure(&self) -> Result<(), LedgerError> {
        Ok(())
    }

    async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, LedgerError> {
        validate_key(pk)?;
        validate_key(rk)?;
        let store = self.lock();
        Ok(store
            .partitions
            .get(pk)
            .and_then(|rows| rows.get(rk))
            .map(|row| row.entity(&store.names, pk, rk)))
    }

    async fn query(
        &self,
        query: &Query,
        continuation: Option<&Continuation>,
    ) -> Result<Page, LedgerError> {
        for (name, _) in &query.equals {
            validate_property_name(name).map_err(LedgerError::Invalid)?;
        }
        let limit = query
            .top
            .map(|t| t as usize)
            .unwrap_or(MAX_PAGE)
            .clamp(1, MAX_PAGE);
        let store = self.lock();
        let conditions: Vec<(Option<u32>, &Value)> = query
            .equals
            .iter()
            .map(|(name, v)| (store.names.id(name), v))
            .collect();
        // Where to start: the continuation, else the queried partition, else the start.
        let (first_pk, resume_rk) = match continuation {
            Some(c) => (
                Some(c.next_partition_key.as_str()),
                Some(c.next_row_key.as_deref().unwrap_or("")),
            ),
            None => (query.partition_key.as_deref(), None),
        };
        let first_pk = match (first_pk, query.partition_key.as_deref()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // A partition range (the poller's resumed sweep) starts at its first partition.
        let first_pk = match (first_pk, query.partition_key_from.as_deref()) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let partitions = match first_pk {
            Some(pk) => store
                .partitions
                .range::<str, _>((Bound::Included(pk), Bound::Unbounded)),
            None => store.partitions.range::<str, _>(..),
        };
        let mut entities = Vec::new();
        let mut next = None;
        'partitions: for (pk, rows) in partitions {
            if let Some(want) = &query.partition_key {
                if **pk != **want {
                    break;
                }
            }
            if query
                .partition_key_to
                .as_deref()
                .is_some_and(|to| **pk >= *to)
            {
                break;
            }
            // Rows from the later of the range start and the continuation's row (which
            // applies to its own partition only), up to the range end: a query for one
            // row kind across partitions reads only those rows of each.
            let mut from = query.row_key_from.as_deref().unwrap_or("");
            if let (Some(c), Some(rk)) = (continuation, resume_rk) {
                if *c.next_partition_key == **pk {
                    from = from.max(rk);
                }
            }
            let to = match query.row_key_to.as_deref() {
                Some(to) if to <= from => continue,
                Some(to) => Bound::Excluded(to),
                None => Bound::Unbounded,
            };
            for (rk, row) in rows.range::<str, _>((Bound::Included(from), to)) {
                if !row.matches(&conditions) {
                    continue;
                }
                if entities.len() == limit {
                    next = Some(Continuation {
                        next_partition_key: pk.to_string(),
                        next_row_key: Some(rk.to_string()),
                    });
                    break 'partitions;
                }
                entities.push(row.entity(&store.names, pk, rk));
            }
        }
        Ok(Page {
            entities,
            continuation: next,
        })
    }

    async fn batch(&self, pk: &str, ops: Vec<Op>) -> Result<Vec<Option<ETag>>, LedgerError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        validate_batch(pk, &ops)?;
        let mut store = self.lock();
        // Check every precondition before changing anything: all or nothing.
        {
            let rows = store.partitions.get(pk);
            for op in &ops {
                let current = rows.and_then(|rows| rows.get(op.row_key()));
                match op {
                    Op::Insert(_) if current.is_some() => {
                        return Err(LedgerError::Conflict(format!("{pk}/{}", op.row_key())))
                    }
                    Op::Replace(_, etag) | Op::Delete { etag, .. } => match current {
                        None => {
                            return Err(LedgerError::NotFound(format!("{pk}/{}", op.row_key())))
                        }
                        Some(c) if etag_version(etag) != Some(c.version) => {
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
        }
        let store = &mut *store;
        if !store.partitions.contains_key(pk) {
            store.partitions.insert(pk.into(), BTreeMap::new());
        }
        let rows = store
            .partitions
            .get_mut(pk)
            .expect("partition just ensured");
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) => {
                    store.version += 1;
                    let row = Row {
                        version: store.version,
                        data: encode(&mut store.names, &e),
                    };
                    match rows.get_mut(e.row_key.as_str()) {
                        Some(slot) => *slot = row,
                        None => {
                            rows.insert(e.row_key.into_boxed_str(), row);
                        }
                    }
                    out.push(Some(etag(store.version)));
                }
                Op::Delete { row_key, .. } => {
                    rows.remove(row_key.as_str());
                    out.push(None);
                }
            }
        }
        if rows.is_empty() {
            store.partitions.remove(pk);
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

    /// The compact encoding gives back exactly what was stored, at the edges of every
    /// type: multi-byte varints (long strings, more than 127 property names), times before
    /// 1970 and with offsets, NaN and negative zero, extreme integers.
    #[tokio::test]
    async fn rows_round_trip_exactly() {
        let ledger = MemoryLedger::new();
        // 300 names across rows, so later rows refer to names by two-byte ids.
        for i in 0..3 {
            let mut e = Entity::new("p", format!("names-{i}"));
            for j in 0..100 {
                e.properties
                    .insert(format!("N{i}_{j}"), Value::Int64((i * 100 + j) as i64));
            }
            ledger
                .batch("p", vec![Op::Insert(e.clone())])
                .await
                .unwrap();
            let got = ledger.get("p", &e.row_key).await.unwrap().unwrap();
            assert_eq!(got.properties, e.properties);
        }
        let long = "é".repeat(16_000); // 32,000 bytes: a three-byte length
        let e = Entity::new("p", "edges")
            .with("Long", Value::String(long.clone()))
            .with("Empty", Value::String(String::new()))
            .with("Min", Value::Int64(i64::MIN))
            .with("Max", Value::Int64(i64::MAX))
            .with("Nan", Value::Double(f64::NAN))
            .with("NegZero", Value::Double(-0.0))
            .with("Tiny", Value::Double(f64::MIN_POSITIVE))
            .with("No", Value::Bool(false))
            .with("Yes", Value::Bool(true))
            .with(
                "Early",
                Value::DateTime(time::macros::datetime!(1601-01-01 00:00:00.000000001 UTC)),
            )
            .with(
                "Late",
                Value::DateTime(time::macros::datetime!(9999-12-31 23:59:59.999999999 UTC)),
            )
            .with(
                "Offset",
                Value::DateTime(time::macros::datetime!(2026-07-08 11:10:11.654321 -09:30)),
            );
        ledger
            .batch("p", vec![Op::Insert(e.clone())])
            .await
            .unwrap();
        let got = ledger.get("p", "edges").await.unwrap().unwrap();
        assert_eq!(got.properties.len(), e.properties.len());
        for (name, want) in &e.properties {
            let have = &got.properties[name];
            match (have, want) {
                (Value::Double(a), Value::Double(b)) => {
                    assert_eq!(a.to_bits(), b.to_bits(), "{name}")
                }
                // Same instant and the same offset as given.
                (Value::DateTime(a), Value::DateTime(b)) => {
                    assert_eq!((a, a.offset()), (b, b.offset()), "{name}")
                }
                _ => assert_eq!(have, want, "{name}"),
            }
        }
        assert_eq!(got.str("Long"), Some(long.as_str()));
        // Filters read the encoded row with Value's typed equality.
        let q = |name: &str, v: Value| Query::partition("p").where_eq(name, v);
        let hits =
            |page: Page| -> Vec<String> { page.entities.into_iter().map(|e| e.row_key).collect() };
        for (query, want) in [
            (q("Min", Value::Int64(i64::MIN)), vec!["edges"]),
            (q("Max", Value::Double(i64::MAX as f64)), vec![]),
            (q("Nan", Value::Double(f64::NAN)), vec![]),
            (q("NegZero", Value::Double(0.0)), vec!["edges"]),
            (q("No", Value::Bool(false)), vec!["edges"]),
            (q("Long", Value::String(long.clone())), vec!["edges"]),
            (
                q(
                    "Offset",
                    Value::DateTime(time::macros::datetime!(2026-07-08 20:40:11.654321 UTC)),
                ),
                vec!["edges"],
            ),
            (q("N2_99", Value::Int64(299)), vec!["names-2"]),
            (q("NeverSeen", Value::Bool(true)), vec![]),
        ] {
            let got = hits(ledger.query(&query, None).await.unwrap());
            assert_eq!(got, want, "{query:?}");
        }
    }

    /// Partitions are kept apart and an emptied partition is gone (queries across
    /// partitions and continuations still walk in (partition, row) order).
    #[tokio::test]
    async fn partitions_and_continuations() {
        let ledger = MemoryLedger::new();
        for pk in ["a", "b", "c"] {
            let ops = ["chain", "rp|1", "rp|2"]
                .iter()
                .map(|rk| Op::Insert(Entity::new(pk, *rk).with("K", Value::Bool(true))))
                .collect();
            ledger.batch(pk, ops).await.unwrap();
        }
        let all = |q: Query| {
            let ledger = &ledger;
            async move {
                let mut keys = Vec::new();
                let mut next = None;
                loop {
                    let page = ledger.query(&q, next.as_ref()).await.unwrap();
                    assert!(page.entities.len() <= q.top.unwrap_or(1000) as usize);
                    keys.extend(
                        page.entities
                            .into_iter()
                            .map(|e| format!("{}/{}", e.partition_key, e.row_key)),
                    );
                    match page.continuation {
                        Some(c) => next = Some(c),
                        None => return keys,
                    }
                }
            }
        };
        let q = Query {
            top: Some(2),
            ..Query::default().row_prefix("rp|")
        };
        assert_eq!(
            all(q).await,
            ["a/rp|1", "a/rp|2", "b/rp|1", "b/rp|2", "c/rp|1", "c/rp|2"]
        );
        let q = Query {
            top: Some(1),
            ..Query::partition("b")
        };
        assert_eq!(all(q).await, ["b/chain", "b/rp|1", "b/rp|2"]);
        // Delete all of b: it no longer shows in any query.
        let rows = ledger.query(&Query::partition("b"), None).await.unwrap();
        let ops = rows
            .entities
            .into_iter()
            .map(|e| Op::Delete {
                row_key: e.row_key,
                etag: e.etag.unwrap(),
            })
            .collect();
        ledger.batch("b", ops).await.unwrap();
        assert_eq!(all(Query::partition("b")).await, Vec::<String>::new());
        assert_eq!(
            all(Query::default()
                .where_eq("K", Value::Bool(true))
                .row_prefix("chain"))
            .await,
            ["a/chain", "c/chain"]
        );
        // A foreign or garbled ETag is a stale one.
        let e = Entity::new("a", "chain");
        for tag in ["W/\"mem-x\"", "\"mem-1\"", "W/\"datetime'2026'\""] {
            let err = ledger
                .batch("a", vec![Op::Replace(e.clone(), ETag(tag.into()))])
                .await
                .unwrap_err();
            assert!(
                matches!(err, LedgerError::PreconditionFailed(_)),
                "{tag}: {err}"
            );
        }
    }
}
