//! In-memory ledger: unit tests and `demo`'s default. Same semantics as Table Storage:
//! ETags change on every write, batches are all-or-nothing, pages hold at most 1,000 rows.
//!
//! Rows are stored compactly, because `ferry serve` with `FERRY_LEDGER=memory` keeps every
//! chain, copy and reading of an estate in its own memory: partitions hold their rows
//! (the partition key is stored once), each row is its version (the ETag) and one byte
//! string of its properties, and property names are interned once per ledger. An entity
//! is decoded only when it is returned; a query's property filter reads the encoded row.

use super::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query, Value};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Bound;
use std::sync::Mutex;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Largest page Table Storage returns.
pub const MAX_PAGE: usize = 1000;
/// Largest entity group transaction Table Storage accepts.
pub const MAX_BATCH: usize = 100;

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

/// One stored entity: its version (the ETag is `W/"mem-{version}"`) and its properties,
/// encoded by [`encode`].
#[derive(Debug)]
struct Row {
    version: u64,
    data: Box<[u8]>,
}

/// Property names, interned: an encoded row refers to a name by its index. Names are few
/// (the records' field names) and are kept for the ledger's lifetime.
#[derive(Debug, Default)]
struct Names {
    by_id: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32, BuildHasherDefault<Fnv>>,
}

/// FNV-1a for [`Names`]: the names are short identifiers chosen by ferry's own records and
/// looked up on every write; SipHash's resistance to chosen keys buys nothing here.
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Names {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.by_id.len()).expect("fewer than 2^32 property names");
        self.by_id.push(name.into());
        self.ids.insert(name.into(), id);
        id
    }

    fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.by_id[id as usize]
    }
}

fn etag(version: u64) -> ETag {
    ETag(format!("W/\"mem-{version}\""))
}

/// The version an ETag of this ledger names; `None` for any other text (which then
/// matches no row, like a stale ETag).
fn etag_version(etag: &ETag) -> Option<u64> {
    etag.0
        .strip_prefix("W/\"mem-")?
        .strip_suffix('"')?
        .parse()
        .ok()
}

// Row encoding: `varint(number of properties)`, then per property
// `varint(name id) tag payload`, where the payload is
// String: varint(length) UTF-8 bytes; Int64 / Double: 8 bytes little-endian (a Double as
// its bits); Bool: none (two tags); DateTime: year (4 bytes), day of the year (2), hour,
// minute, second (1 each), nanosecond (4), plus the UTC offset in seconds (4) when it is
// not UTC (two tags).
const T_STRING: u8 = 0;
const T_INT64: u8 = 1;
const T_DOUBLE: u8 = 2;
const T_FALSE: u8 = 3;
const T_TRUE: u8 = 4;
const T_TIME_UTC: u8 = 5;
const T_TIME_OFFSET: u8 = 6;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn encode(names: &mut Names, e: &Entity) -> Box<[u8]> {
    let mut out = Vec::with_capacity(
        e.properties
            .values()
            .map(|v| match v {
                Value::String(s) => 3 + s.len(),
                _ => 18,
            })
            .sum(),
    );
    put_varint(&mut out, e.properties.len() as u64);
    for (name, v) in &e.properties {
        put_varint(&mut out, u64::from(names.intern(name)));
        match v {
            Value::String(s) => {
                out.push(T_STRING);
                put_varint(&mut out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Value::Int64(n) => {
                out.push(T_INT64);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Value::Double(x) => {
                out.push(T_DOUBLE);
                out.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            Value::Bool(b) => out.push(if *b { T_TRUE } else { T_FALSE }),
            Value::DateTime(t) => {
                let offset = t.offset().whole_seconds();
                out.push(if offset == 0 {
                    T_TIME_UTC
                } else {
                    T_TIME_OFFSET
                });
                // The time as given (its own offset's calendar fields): decoding then only
                // checks the fields instead of converting from a timestamp.
                let (year, ordinal) = t.to_ordinal_date();
                out.extend_from_slice(&year.to_le_bytes());
                out.extend_from_slice(&ordinal.to_le_bytes());
                out.extend_from_slice(&[t.hour(), t.minute(), t.second()]);
                out.extend_from_slice(&t.nanosecond().to_le_bytes());
                if offset != 0 {
                    out.extend_from_slice(&offset.to_le_bytes());
                }
            }
        }
    }
    out.into_boxed_slice()
}

/// A property value read in place from an encoded row.
enum Raw<'a> {
    String(&'a str),
    Int64(i64),
    Double(f64),
    Bool(bool),
    DateTime(OffsetDateTime),
}

impl Raw<'_> {
    fn to_value(&self) -> Value {
        match *self {
            Raw::String(s) => Value::String(s.to_owned()),
            Raw::Int64(n) => Value::Int64(n),
            Raw::Double(x) => Value::Double(x),
            Raw::Bool(b) => Value::Bool(b),
            Raw::DateTime(t) => Value::DateTime(t),
        }
    }

    /// `Value`'s own equality (typed: Int64 2 is not Double 2.0 nor "2"; times compare
    /// as instants).
    fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (Raw::String(a), Value::String(b)) => *a == b.as_str(),
            (Raw::Int64(a), Value::Int64(b)) => a == b,
            (Raw::Double(a), Value::Double(b)) => a == b,
            (Raw::Bool(a), Value::Bool(b)) => a == b,
            (Raw::DateTime(a), Value::DateTime(b)) => a == b,
            _ => false,
        }
    }
}

/// Walks an encoded row: `(name id, value)` per property, in the order written.
struct Props<'a> {
    data: &'a [u8],
}

impl<'a> Props<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().expect("N bytes")
    }
}

impl<'a> Iterator for Props<'a> {
    type Item = (u32, Raw<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        // Rows are written only by `encode` from validated entities; anything else here is
        // a bug in this file, hence the panics.
        let id = u32::try_from(self.varint()).expect("encoded name id");
        let tag = self.take(1)[0];
        let value = match tag {
            T_STRING => {
                let len = usize::try_from(self.varint()).expect("encoded length");
                Raw::String(std::str::from_utf8(self.take(len)).expect("encoded UTF-8"))
            }
            T_INT64 => Raw::Int64(i64::from_le_bytes(self.array())),
            T_DOUBLE => Raw::Double(f64::from_bits(u64::from_le_bytes(self.array()))),
            T_FALSE => Raw::Bool(false),
            T_TRUE => Raw::Bool(true),
            T_TIME_UTC | T_TIME_OFFSET => {
                let year = i32::from_le_bytes(self.array());
                let ordinal = u16::from_le_bytes(self.array());
                let [hour, minute, second] = self.array();
                let nanos = u32::from_le_bytes(self.array());
                let offset = if tag == T_TIME_OFFSET {
                    i32::from_le_bytes(self.array())
                } else {
                    0
                };
                let date = Date::from_ordinal_date(year, ordinal).expect("encoded date");
                let time = Time::from_hms_nano(hour, minute, second, nanos).expect("encoded time");
                let offset = UtcOffset::from_whole_seconds(offset).expect("encoded offset");
                Raw::DateTime(PrimitiveDateTime::new(date, time).assume_offset(offset))
            }
            other => panic!("memory ledger: unknown value tag {other}"),
        };
        Some((id, value))
    }
}

impl Row {
    /// The number of properties and the walk over them.
    fn props(&self) -> (usize, Props<'_>) {
        let mut props = Props { data: &self.data };
        let count = usize::try_from(props.varint()).expect("encoded count");
        (count, props)
    }

    fn entity(&self, names: &Names, pk: &str, rk: &str) -> Entity {
        let (count, walk) = self.props();
        let mut props = Vec::with_capacity(count);
        props.extend(walk.map(|(id, v)| (names.name(id).to_owned(), v.to_value())));
        Entity {
            partition_key: pk.to_owned(),
            row_key: rk.to_owned(),
            // Encoded in name order (from the entity's map), so the map is built in one
            // pass instead of a search per insert.
            properties: BTreeMap::from_iter(props),
            etag: Some(etag(self.version)),
        }
    }

    /// Every `(name id, value)` condition holds; a condition naming a property no row
    /// has ever had is `None` and never holds.
    fn matches(&self, conditions: &[(Option<u32>, &Value)]) -> bool {
        conditions.iter().all(|(id, want)| {
            id.is_some_and(|id| {
                self.props()
                    .1
                    .find(|(n, _)| *n == id)
                    .is_some_and(|(_, v)| v.equals(want))
            })
        })
    }
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

/// Largest entity Table Storage stores (its own size formula, see [`entity_size`]).
pub const MAX_ENTITY_BYTES: usize = 1024 * 1024;
/// Largest string property: 64 KiB of UTF-16.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most custom properties an entity may have (255 minus the three system ones).
pub const MAX_PROPERTIES: usize = 252;

/// Length in UTF-16 code units (how Table Storage counts strings); ASCII text, nearly
/// every key and property ferry writes, is counted without decoding it.
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// Size of an entity as Table Storage counts it: 4 bytes, plus the keys in UTF-16, plus
/// per property 8 bytes, its name in UTF-16 and its value.
pub fn entity_size(e: &Entity) -> usize {
    let utf16 = |s: &str| utf16_len(s) * 2;
    4 + utf16(&e.partition_key)
        + utf16(&e.row_key)
        + e.properties
            .iter()
            .map(|(name, v)| {
                8 + utf16(name)
                    + match v {
                        Value::String(s) => 4 + utf16(s),
                        Value::Bool(_) => 1,
                        Value::Int64(_) | Value::Double(_) | Value::DateTime(_) => 8,
                    }
            })
            .sum::<usize>()
}

/// Table Storage's rules for an entity's properties and size. Checked by both
/// implementations so that whatever the in-memory ledger accepts, Table Storage does too.
pub(crate) fn validate_entity(e: &Entity) -> Result<(), LedgerError> {
    let at = || format!("{}/{}", e.partition_key, e.row_key);
    if e.properties.len() > MAX_PROPERTIES {
        return Err(LedgerError::Invalid(format!(
            "entity {} has {} properties; Table Storage allows {MAX_PROPERTIES}",
            at(),
            e.properties.len()
        )));
    }
    for (name, v) in &e.properties {
        validate_property_name(name)
            .map_err(|why| LedgerError::Invalid(format!("entity {}: {why}", at())))?;
        match v {
            Value::String(s) if utf16_len(s) * 2 > MAX_STRING_BYTES => {
                return Err(LedgerError::Invalid(format!(
                    "entity {}: string property {name} is {} bytes as UTF-16; Table Storage allows {MAX_STRING_BYTES}",
                    at(),
                    s.encode_utf16().count() * 2
                )))
            }
            // Checked: `to_offset` panics when the UTC time is past year ±9999.
            Value::DateTime(t)
                if !t
                    .checked_to_offset(time::UtcOffset::UTC)
                    .is_some_and(|u| (1601..=9999).contains(&u.year())) =>
            {
                return Err(LedgerError::Invalid(format!(
                    "entity {}: DateTime property {name} ({t}) is outside Edm.DateTime's 1601..9999 range",
                    at()
                )))
            }
            _ => {}
        }
    }
    let size = entity_size(e);
    if size > MAX_ENTITY_BYTES {
        return Err(LedgerError::Invalid(format!(
            "entity {} is {size} bytes; Table Storage allows {MAX_ENTITY_BYTES}",
            at()
        )));
    }
    Ok(())
}

/// Property names are C# identifiers of at most 255 characters, and not the system
/// properties. Checking them also keeps names safe to splice into an OData filter.
pub(crate) fn validate_property_name(name: &str) -> Result<(), String> {
    // Byte by byte: a non-ASCII byte is never an ASCII letter or digit, as its char is not.
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || name.len() > 255 || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "invalid property name {name:?} (letters, digits and _, not starting with a digit, at most 255)"
        ));
    }
    if matches!(name, "PartitionKey" | "RowKey" | "Timestamp") {
        return Err(format!(
            "property name {name:?} is reserved by Table Storage"
        ));
    }
    Ok(())
}

/// Checks a batch the way Table Storage does before sending or applying it: size, keys,
/// one partition, no row twice, entity limits. Shared by both ledgers.
pub(crate) fn validate_batch(pk: &str, ops: &[Op]) -> Result<(), LedgerError> {
    if ops.len() > MAX_BATCH {
        return Err(LedgerError::Invalid(format!(
            "batch of {} operations exceeds {MAX_BATCH}",
            ops.len()
        )));
    }
    validate_key(pk)?;
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        validate_key(op.row_key())?;
        if !seen.insert(op.row_key()) {
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
            validate_entity(e)?;
        }
    }
    Ok(())
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

    #[test]
    fn property_names_are_identifiers() {
        for ok in ["State", "_x", "LastPercent2", &"a".repeat(255)] {
            assert!(validate_property_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2x",
            "a-b",
            "é",
            "aé",
            "a b",
            "PartitionKey",
            &"a".repeat(256),
        ] {
            assert!(validate_property_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utf16_length_counts_code_units() {
        assert_eq!(utf16_len(""), 0);
        assert_eq!(utf16_len("rp|vm-0001"), 10);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("a😀"), 3, "a surrogate pair counts twice");
        let mixed = "Zürich 東京 😀 x";
        assert_eq!(utf16_len(mixed), mixed.encode_utf16().count());
    }

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

    /// A time ARM or an event can carry (`9999-12-31T23:59:59-05:00` parses as RFC 3339)
    /// whose UTC reading is past year 9999 made `to_offset` panic here; now it is refused
    /// like any other time outside Edm.DateTime.
    #[test]
    fn datetime_past_9999_in_utc_is_refused_not_a_panic() {
        let t = time::OffsetDateTime::parse(
            "9999-12-31T23:59:59-05:00",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let e = Entity::new("p", "r").with("SourceTime", Value::DateTime(t));
        let err = validate_entity(&e).unwrap_err();
        assert!(err.to_string().contains("1601..9999"), "{err}");
        let ok = Entity::new("p", "r").with(
            "SourceTime",
            Value::DateTime(time::macros::datetime!(2026-11-01 00:00 -05:00)),
        );
        assert!(validate_entity(&ok).is_ok());
    }
}
