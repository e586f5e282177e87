//! The ledger: ferry's durable memory (chains, copies, progress readings, alerts sent).
//!
//! The trait is deliberately the shape of Azure Table Storage — partition key, row key,
//! typed properties, ETags, atomic batches within one partition, paged queries — so that
//! the in-memory implementation (unit tests, `demo`) and the Table Storage implementation
//! (production, Azurite) are drop-in replacements and pass one conformance suite
//! (`tests/support/ledger_conformance/`).
//! Typed records (chain, copy, reading) live in [`records`] and map onto [`Entity`].

pub mod drills;
mod limits;
pub mod memory;
pub mod records;
pub mod table;
pub mod upkeep;

use std::collections::BTreeMap;
use time::OffsetDateTime;

/// An opaque version tag. Any write to an entity changes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

/// A property value. Mirrors the Table Storage EDM types ferry uses, so that the
/// entities stay readable to the portal and the official SDKs.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Int64(i64),
    Double(f64),
    Bool(bool),
    /// `Edm.DateTime`, always UTC.
    DateTime(OffsetDateTime),
}

/// One stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub partition_key: String,
    pub row_key: String,
    pub properties: BTreeMap<String, Value>,
    /// Set on entities read from the ledger; ignored on writes (the ETag of a write is
    /// given in the [`Op`]).
    pub etag: Option<ETag>,
}

impl Entity {
    pub fn new(partition_key: impl Into<String>, row_key: impl Into<String>) -> Self {
        Entity {
            partition_key: partition_key.into(),
            row_key: row_key.into(),
            properties: BTreeMap::new(),
            etag: None,
        }
    }

    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.properties.insert(name.to_string(), value);
        self
    }

    pub fn str(&self, name: &str) -> Option<&str> {
        match self.properties.get(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.properties.get(name) {
            Some(Value::Int64(v)) => Some(*v),
            Some(Value::Double(v)) => Some(*v as i64),
            _ => None,
        }
    }

    pub fn f64(&self, name: &str) -> Option<f64> {
        match self.properties.get(name) {
            Some(Value::Double(v)) => Some(*v),
            Some(Value::Int64(v)) => Some(*v as f64),
            _ => None,
        }
    }

    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.properties.get(name) {
            Some(Value::Bool(v)) => Some(*v),
            _ => None,
        }
    }

    pub fn time(&self, name: &str) -> Option<OffsetDateTime> {
        match self.properties.get(name) {
            Some(Value::DateTime(v)) => Some(*v),
            _ => None,
        }
    }
}

/// One write of a batch. All writes of a batch are in one partition and succeed or fail
/// together.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Fails with [`LedgerError::Conflict`] if the row exists.
    Insert(Entity),
    /// Replaces the row if its ETag still matches; [`LedgerError::PreconditionFailed`]
    /// if it changed, [`LedgerError::NotFound`] if it is gone.
    Replace(Entity, ETag),
    /// Inserts or replaces unconditionally.
    Upsert(Entity),
    /// Deletes the row if its ETag still matches.
    Delete { row_key: String, etag: ETag },
}

impl Op {
    pub fn row_key(&self) -> &str {
        match self {
            Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) => &e.row_key,
            Op::Delete { row_key, .. } => row_key,
        }
    }
}

/// Which rows a query returns. Conditions are ANDed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Only this partition (cheap). `None` scans every partition.
    pub partition_key: Option<String>,
    /// Only partition keys `>= start` and `< end` (a sweep that resumes where the last one
    /// stopped).
    pub partition_key_from: Option<String>,
    pub partition_key_to: Option<String>,
    /// Only row keys `>= start` and `< end`.
    pub row_key_from: Option<String>,
    pub row_key_to: Option<String>,
    /// Only rows whose property equals the value.
    pub equals: Vec<(String, Value)>,
    /// Page size; implementations cap it at 1,000 like Table Storage.
    pub top: Option<u32>,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            partition_key: Some(pk.into()),
            ..Query::default()
        }
    }

    /// Row keys starting with `prefix`.
    pub fn row_prefix(mut self, prefix: &str) -> Self {
        self.row_key_from = Some(prefix.to_string());
        self.row_key_to = Some(format!("{prefix}\u{10FFFF}"));
        self
    }

    /// Partition keys in `[from, to)`; `None` leaves that side open.
    pub fn partitions(mut self, from: Option<&str>, to: Option<&str>) -> Self {
        self.partition_key_from = from.map(str::to_string);
        self.partition_key_to = to.map(str::to_string);
        self
    }

    pub fn where_eq(mut self, name: &str, value: Value) -> Self {
        self.equals.push((name.to_string(), value));
        self
    }
}

/// Where the next page of a query starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    pub next_partition_key: String,
    pub next_row_key: Option<String>,
}

/// One page of results, in (partition key, row key) order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entities: Vec<Entity>,
    pub continuation: Option<Continuation>,
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger entity already exists: {0}")]
    Conflict(String),
    #[error("ledger entity changed since it was read (ETag mismatch): {0}")]
    PreconditionFailed(String),
    #[error("ledger entity not found: {0}")]
    NotFound(String),
    #[error("invalid ledger request: {0}")]
    Invalid(String),
    /// Network, throttling or server errors: worth retrying later.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    /// Credentials or permissions: retrying will not help.
    #[error("ledger access denied: {0}")]
    Auth(String),
}

impl LedgerError {
    /// Lost an optimistic-concurrency race: re-read and decide again.
    pub fn is_race(&self) -> bool {
        matches!(
            self,
            LedgerError::Conflict(_) | LedgerError::PreconditionFailed(_)
        )
    }

    /// Transient: the invocation should fail so the host retries it.
    pub fn is_transient(&self) -> bool {
        self.is_race() || matches!(self, LedgerError::Unavailable(_))
    }
}

/// Durable storage with Table Storage semantics.
#[async_trait::async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Creates the table if it does not exist. Idempotent.
    async fn ensure(&self) -> Result<(), LedgerError>;

    /// Reads one row, with its ETag.
    async fn get(&self, partition_key: &str, row_key: &str) -> Result<Option<Entity>, LedgerError>;

    /// Reads one page of a query; pass the previous page's continuation to go on.
    async fn query(
        &self,
        query: &Query,
        continuation: Option<&Continuation>,
    ) -> Result<Page, LedgerError>;

    /// Applies writes atomically within one partition (at most 100, like Table Storage).
    /// Returns the new ETag of each write, in order (`None` for deletes).
    async fn batch(
        &self,
        partition_key: &str,
        ops: Vec<Op>,
    ) -> Result<Vec<Option<ETag>>, LedgerError>;

    /// Short name for logs (`memory`, `table https://…/ferry`).
    fn describe(&self) -> String;
}

/// Reads every page of a query.
pub async fn query_all(ledger: &dyn Ledger, query: &Query) -> Result<Vec<Entity>, LedgerError> {
    let mut out = Vec::new();
    let mut next: Option<Continuation> = None;
    loop {
        let page = ledger.query(query, next.as_ref()).await?;
        out.extend(page.entities);
        match page.continuation {
            Some(c) => next = Some(c),
            None => return Ok(out),
        }
    }
}
