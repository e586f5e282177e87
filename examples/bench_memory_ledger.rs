//! Memory-ledger micro-benchmark (not a test: figures depend on the machine).
//!
//! 10,000 chains as the sequencer writes them (a chain row and its in-flight copy row per
//! partition, built from the real records), then, best of 5 repetitions, per operation:
//! - `get` of a chain row + `Chain::from_entity` (what every poll and sequencer call does);
//! - `get` of a copy row + `CopyRecord::from_entity`;
//! - the poller's query (chain rows of every partition with `Active eq true`), per row;
//! - `get` + parse + `Replace` of a copy row (a progress update).
//!
//! `PHASES` (default `0123`) picks which of the four run, so that instruction counts
//! (`valgrind --tool=callgrind`) can be taken per phase by difference.
//!
//! Run: `cargo run --release --example bench_memory_ledger`

use ferry::ids::CollectionId;
use ferry::ledger::memory::MemoryLedger;
use ferry::ledger::records::{chain_key, Chain, CopyRecord, CopyState};
use ferry::ledger::{query_all, Ledger, Op, Query, Value};
use std::time::Instant;
use time::macros::datetime;

const N: usize = 10_000;
const REPS: usize = 5;
const SUB: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-bench/providers/Microsoft.Compute";

fn records(i: usize) -> (Chain, CopyRecord) {
    let src: CollectionId = format!("{SUB}/restorePointCollections/rpc-{i:05}")
        .parse()
        .expect("collection id");
    let tgt: CollectionId = format!("{SUB}/restorePointCollections/rpc-{i:05}-westus2")
        .parse()
        .expect("collection id");
    let key = chain_key(&src, "westus2");
    let vm = format!("{SUB}/virtualMachines/vm-{i:05}");
    let chain = Chain {
        key: key.clone(),
        source_collection: src.clone(),
        source_region: Some("eastus".into()),
        source_vm: Some(vm.clone()),
        target_region: "westus2".into(),
        target_collection: tgt.clone(),
        created_at: datetime!(2026-11-01 00:00 UTC),
        in_flight: Some("rp|rp-1".into()),
        active: true,
        watermark: Some(datetime!(2026-11-01 01:00 UTC)),
        base_restore_point: Some("rp-1".into()),
        last_success_source_time: None,
        last_success_restore_point: None,
        last_success_at: None,
        recent_starts: vec![datetime!(2026-11-01 01:00 UTC)],
        rpo_alerted: None,
        upkeep: Default::default(),
        target_ready: true,
        history: Default::default(),
        etag: None,
        rpo_objective: None,
    };
    let copy = CopyRecord {
        source_vm: Some(vm),
        state: CopyState::InFlight,
        started_at: Some(datetime!(2026-11-01 01:06 UTC)),
        ..CopyRecord::pending(
            &chain,
            &src.restore_point("rp-1"),
            datetime!(2026-11-01 01:00 UTC),
            datetime!(2026-11-01 01:05 UTC),
        )
    };
    (chain, copy)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let phases = std::env::var("PHASES").unwrap_or_else(|_| "0123".into());
    let ledger = MemoryLedger::new();
    let mut keys = Vec::with_capacity(N);
    for i in 0..N {
        let (chain, copy) = records(i);
        ledger
            .batch(
                &chain.key,
                vec![Op::Insert(chain.to_entity()), Op::Insert(copy.to_entity())],
            )
            .await
            .expect("insert");
        keys.push(chain.key);
    }
    let per_op = |t: Instant| t.elapsed().as_secs_f64() * 1e9 / N as f64;
    let mut best = [f64::MAX; 4];
    for _ in 0..REPS {
        if phases.contains('0') {
            let t = Instant::now();
            for k in &keys {
                let e = ledger.get(k, "chain").await.expect("get").expect("row");
                std::hint::black_box(Chain::from_entity(&e).expect("chain"));
            }
            best[0] = best[0].min(per_op(t));
        }
        if phases.contains('1') {
            let t = Instant::now();
            for k in &keys {
                let e = ledger.get(k, "rp|rp-1").await.expect("get").expect("row");
                std::hint::black_box(CopyRecord::from_entity(&e).expect("copy"));
            }
            best[1] = best[1].min(per_op(t));
        }
        if phases.contains('2') {
            let t = Instant::now();
            let q = Query::default()
                .row_prefix("chain")
                .where_eq("Active", Value::Bool(true));
            let all = query_all(&ledger, &q).await.expect("query");
            assert_eq!(all.len(), N);
            best[2] = best[2].min(per_op(t));
        }
        if phases.contains('3') {
            let t = Instant::now();
            for k in &keys {
                let e = ledger.get(k, "rp|rp-1").await.expect("get").expect("row");
                let mut c = CopyRecord::from_entity(&e).expect("copy");
                c.readings += 1;
                let etag = e.etag.clone().expect("etag");
                ledger
                    .batch(k, vec![Op::Replace(c.to_entity(), etag)])
                    .await
                    .expect("replace");
            }
            best[3] = best[3].min(per_op(t));
        }
    }
    let show = |v: f64| {
        if v == f64::MAX {
            "-".to_string()
        } else {
            format!("{v:.0}")
        }
    };
    println!(
        "memory ledger, {N} chains, ns per operation (best of {REPS}): get+parse chain {}, get+parse copy {}, poller query per row {}, get+parse+replace copy {}",
        show(best[0]),
        show(best[1]),
        show(best[2]),
        show(best[3])
    );
}
