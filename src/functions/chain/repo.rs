//! The chain repository: loading a chain and its copies, committing changes with their
//! ETags (a lost race is `Ok(false)`: re-read and decide again), and the constructors of new
//! chains and copy records.

use crate::functions::reads::Reads;
use crate::functions::{App, FnError};
use crate::ids::RestorePointId;
use crate::ledger::records::{copy_row, Chain, CopyRecord, CopyState, COPY_PREFIX};
use crate::ledger::{query_all, LedgerError, Op, Query, Value};
use crate::policy::Target;
use time::OffsetDateTime;

/// Attempts at one decision before giving up on a busy chain (the host retries later).
pub(crate) const MAX_RACES: usize = 8;

pub(crate) async fn load_chain(app: &App, key: &str) -> Result<Option<Chain>, FnError> {
    match app
        .ledger
        .get(key, crate::ledger::records::CHAIN_ROW)
        .await?
    {
        None => Ok(None),
        Some(e) => Chain::from_entity(&e)
            .map(Some)
            .map_err(|e| FnError::Other(e.to_string())),
    }
}

pub(crate) async fn load_copy(
    app: &App,
    key: &str,
    row: &str,
) -> Result<Option<CopyRecord>, FnError> {
    match app.ledger.get(key, row).await? {
        None => Ok(None),
        Some(e) => CopyRecord::from_entity(&e)
            .map(Some)
            .map_err(|e| FnError::Other(e.to_string())),
    }
}

pub(crate) async fn copies(
    app: &App,
    key: &str,
    state: Option<CopyState>,
) -> Result<Vec<CopyRecord>, FnError> {
    let mut q = Query::partition(key).row_prefix(COPY_PREFIX);
    if let Some(s) = state {
        q = q.where_eq("State", Value::String(s.as_str().into()));
    }
    let rows = query_all(app.ledger.as_ref(), &q).await?;
    rows.iter()
        .map(|e| CopyRecord::from_entity(e).map_err(|e| FnError::Other(e.to_string())))
        .collect()
}

/// Writes a chain and copies atomically; `Ok(false)` = lost a race (re-read and retry).
pub(crate) async fn commit(app: &App, chain: &Chain, ops: Vec<Op>) -> Result<bool, FnError> {
    match app.ledger.batch(&chain.key, ops).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_race() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes the chain row and one copy row atomically (with `more` operations in the same
/// batch); on success the two records carry the ETags the batch returned, so the next
/// write needs no re-read. `Ok(false)` = lost a race.
pub(crate) async fn commit_pair(
    app: &App,
    chain: &mut Chain,
    copy: &mut CopyRecord,
    more: Vec<Op>,
) -> Result<bool, FnError> {
    let mut ops = vec![replace_chain(chain)?, replace_copy(copy)?];
    ops.extend(more);
    match app.ledger.batch(&chain.key, ops).await {
        Ok(etags) => {
            let mut etags = etags.into_iter();
            chain.etag = etags.next().flatten();
            copy.etag = etags.next().flatten();
            Ok(true)
        }
        Err(e) if e.is_race() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn replace_chain(chain: &Chain) -> Result<Op, FnError> {
    let etag = chain
        .etag
        .clone()
        .ok_or_else(|| FnError::Other("chain without ETag".into()))?;
    Ok(Op::Replace(chain.to_entity(), etag))
}

pub(crate) fn replace_copy(copy: &CopyRecord) -> Result<Op, FnError> {
    let etag = copy
        .etag
        .clone()
        .ok_or_else(|| FnError::Other("copy without ETag".into()))?;
    Ok(Op::Replace(copy.to_entity(), etag))
}

/// Creates the chain row if it does not exist yet (first request for this source
/// collection → region), reading the source collection once for its region and VM.
pub(crate) async fn ensure_chain(
    app: &App,
    source: &crate::ids::CollectionId,
    target: &Target,
    reads: &mut Reads,
    now: OffsetDateTime,
) -> Result<Option<Chain>, FnError> {
    let key = crate::ledger::records::chain_key(source, &target.region);
    if let Some(c) = load_chain(app, &key).await? {
        return Ok(Some(c));
    }
    // With its restore points: the same read then serves the first start's discovery.
    let Some(coll) = reads.collection(app, source).await? else {
        return Ok(None);
    };
    let target_collection = target.collection_for(source).map_err(FnError::Other)?;
    let chain = Chain {
        source_region: coll
            .location
            .as_deref()
            .and_then(crate::ids::normalize_region),
        source_vm: coll.source_id().map(str::to_string),
        rpo_objective: app
            .policy
            .find_target(source, &target.region)
            .map(|(r, _)| r.rpo_objective),
        ..Chain::new(source.clone(), &target.region, target_collection, now)
    };
    match app
        .ledger
        .batch(&key, vec![Op::Insert(chain.to_entity())])
        .await
    {
        Ok(_) | Err(LedgerError::Conflict(_)) => load_chain(app, &key).await,
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn copy_row_of(rp: &RestorePointId) -> String {
    copy_row(&rp.name)
}
