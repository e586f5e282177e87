//! The poll sweep when ARM's read budget is smaller than one pass over every chain: each
//! sweep stops after a short run of throttled chains (no 429 storm), records where it
//! stopped, and the next one starts there, so every chain is polled within a few ticks.
//! (A sweep that always started at the first chain would poll the same chains every tick
//! and never reach the rest, whose copies would then run unwatched to the platform's
//! two-week termination; the heavy soak found exactly that.)

mod common;

use common::{collection, rp, World, SUB};
use ferry::clock::Clock;
use ferry::functions::poller::{poller, THROTTLED_IN_A_ROW};
use ferry::functions::{sequencer::sequencer, App, CopyRequestMessage, Purpose};
use ferry::ids::CollectionId;
use ferry::ledger::records::{chain_key, CopyRecord, COPY_PREFIX};
use ferry::ledger::{query_all, Ledger, Query};
use ferry::sim::emulator::LimitConfig;
use std::collections::BTreeMap;

const CHAINS: usize = 60;
/// Reads ARM grants per 10-minute tick here: about a third of what one pass needs.
const READS_PER_TICK: u32 = 24;
const CONCURRENCY: usize = 4;

async fn app(world: &World) -> App {
    // No client pacing: this test is about what the sweep does when ARM refuses.
    let mut app = common::app_on(
        world,
        &world.url,
        2,
        serde_json::json!({"rules": [{
            "scope": format!("/subscriptions/{SUB}/resourceGroups/rg-app"),
            "targets": [{"region": "westus2", "resourceGroup": "rg-dr"}],
        }]}),
    )
    .await;
    app.poll_concurrency = CONCURRENCY;
    app.poll_budget = std::time::Duration::from_secs(480);
    app
}

/// Readings recorded per chain (one copy in flight each).
async fn readings(ledger: &dyn Ledger, keys: &[String]) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for key in keys {
        let rows = query_all(ledger, &Query::partition(key).row_prefix(COPY_PREFIX))
            .await
            .unwrap();
        let n = rows
            .iter()
            .map(|e| CopyRecord::from_entity(e).unwrap().readings)
            .sum();
        out.insert(key.clone(), n);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_that_cannot_finish_resumes_where_it_stopped() {
    let world = World::with_config(|cfg| {
        // Slow enough that every copy is still in progress at the end.
        cfg.bandwidth_mbps = 0.01;
        cfg.restore_point_settle = time::Duration::ZERO;
        cfg.limits = LimitConfig {
            // The bucket refills a tick's reads over the tick and holds no more.
            reads: Some((READS_PER_TICK, f64::from(READS_PER_TICK) / 600.0)),
            writes: None,
            ..LimitConfig::default()
        };
    })
    .await;
    let app = app(&world).await;

    // Start one copy per chain through the sequencer, letting the read bucket refill
    // (simulated time) between them.
    let mut keys = Vec::new();
    for i in 0..CHAINS {
        let vm = format!("vm-{i:03}");
        world.vm(&vm).await;
        world.restore_point(&vm, "rp-1").await;
        let coll: CollectionId = collection(&vm).parse().unwrap();
        let key = chain_key(&coll, "westus2");
        let msg = CopyRequestMessage {
            source_restore_point: rp(&vm, "rp-1"),
            target_region: "westus2".into(),
            chain: key.clone(),
            event_id: Some(format!("event-{i}")),
            purpose: Purpose::Event,
            attempt: 0,
            first_attempt_at: None,
        };
        world.clock.advance(time::Duration::minutes(10));
        sequencer(
            &app,
            &serde_json::to_string(&msg).unwrap(),
            world.clock.now(),
        )
        .await
        .unwrap_or_else(|e| panic!("sequencer {vm}: {e}"));
        keys.push(key);
    }
    assert_eq!(world.emu.stats().copies_started, CHAINS as u64);
    assert!(readings(app.ledger.as_ref(), &keys)
        .await
        .values()
        .all(|n| *n == 0));

    let mut stopped_early = 0;
    for tick in 1..=6 {
        world.clock.advance(time::Duration::minutes(10));
        let throttled_before = world.emu.stats().throttled;
        let (_, stats) = poller(&app, world.clock.now()).await.unwrap();
        let throttled = world.emu.stats().throttled - throttled_before;
        // No storm: once the budget is spent, a few refused requests and the sweep stops.
        assert!(
            throttled <= (THROTTLED_IN_A_ROW + CONCURRENCY) as u64 * 2,
            "tick {tick}: {throttled} requests throttled ({stats:?})"
        );
        if stats.stopped.is_some() {
            stopped_early += 1;
            assert!(stats.resume_at.is_some(), "tick {tick}: {stats:?}");
            assert!(stats.chains < CHAINS, "tick {tick}: {stats:?}");
        }
    }
    assert!(stopped_early >= 3, "the budget is a third of a pass");
    let seen = readings(app.ledger.as_ref(), &keys).await;
    let never: Vec<_> = seen.iter().filter(|(_, n)| **n == 0).collect();
    assert!(
        never.is_empty(),
        "{} of {CHAINS} chains never polled in 6 ticks: {never:?}",
        never.len()
    );
}
