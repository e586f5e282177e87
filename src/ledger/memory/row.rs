//! One stored row of the memory ledger: its version (the ETag) and its properties encoded
//! into one byte string, property names interned once per ledger, decoded into an
//! [`Entity`] only when returned, and a query's equality conditions checked on the encoded
//! bytes in place.

use crate::ledger::{ETag, Entity, Value};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// One stored entity: its version (the ETag is `W/"mem-{version}"`) and its properties,
/// encoded by [`encode`].
#[derive(Debug)]
pub(super) struct Row {
    pub(super) version: u64,
    pub(super) data: Box<[u8]>,
}

/// Property names, interned: an encoded row refers to a name by its index. Names are few
/// (the records' field names) and are kept for the ledger's lifetime.
#[derive(Debug, Default)]
pub(super) struct Names {
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

    pub(super) fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    fn name(&self, id: u32) -> &str {
        &self.by_id[id as usize]
    }
}

pub(super) fn etag(version: u64) -> ETag {
    ETag(format!("W/\"mem-{version}\""))
}

/// The version an ETag of this ledger names; `None` for any other text (which then
/// matches no row, like a stale ETag).
pub(super) fn etag_version(etag: &ETag) -> Option<u64> {
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

pub(super) fn encode(names: &mut Names, e: &Entity) -> Box<[u8]> {
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

    pub(super) fn entity(&self, names: &Names, pk: &str, rk: &str) -> Entity {
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
    pub(super) fn matches(&self, conditions: &[(Option<u32>, &Value)]) -> bool {
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
