//! ARM's read budget (25 per second per subscription) is ferry's scarcest resource: this
//! counts the requests each operation costs, through a recording proxy in front of the
//! emulator, with `ferry serve` driven by the host stand-in. What docs/performance.md lists
//! per operation is what this test holds ferry to.

mod common;

use common::*;
use ferry::sim::host::{EventDelivery, Host};
use time::Duration;

async fn start_host(world: &World, arm: &str) -> Host {
    start_serve_host(world, serve_env(arm, &policy(), "memory")).await
}

/// The requests logged since `from`, as `METHOD path?query` lines, and how many.
fn since(proxy: &ArmProxy, from: usize) -> (usize, Vec<String>) {
    let log = proxy.log.lock().unwrap();
    let lines: Vec<String> = log[from..]
        .iter()
        .map(|(m, p, q)| format!("{m} {p}?{q}"))
        .collect();
    (lines.len(), lines)
}

/// Delivers the emulator's events and runs ingest and the sequencer to idle; returns the
/// ARM requests that cost.
async fn deliver(world: &World, host: &Host, proxy: &ArmProxy) -> (usize, Vec<String>) {
    let from = proxy.log.lock().unwrap().len();
    host.publish_events(
        world.emu.drain_events(),
        EventDelivery::Queue("restore-point-events".into()),
    )
    .await
    .unwrap();
    host.run_until_idle().await.unwrap();
    since(proxy, from)
}

/// How many logged requests match `method` and a path ending in `suffix` (query ignored
/// unless `suffix` contains `?`).
fn count(lines: &[String], method: &str, suffix: &str) -> usize {
    lines
        .iter()
        .filter(|l| {
            let (m, rest) = l.split_once(' ').unwrap();
            let target = if suffix.contains('?') {
                rest.to_string()
            } else {
                rest.split('?').next().unwrap().to_string()
            };
            m == method && target.ends_with(suffix)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_operation() {
    let world = World::new(2000.0).await;
    let proxy = ArmProxy::start(world.url.clone()).await;
    let host = start_host(&world, &proxy.url).await;
    world.vm("vm1").await;
    world.restore_point("vm1", "rp1").await;
    world.clock.advance(Duration::minutes(6));
    let regions = 2; // common::policy(): westus2 and centralus

    // A new collection's first restore point: per chain (one per region) the source
    // collection once (with its restore points: region, VM, discovery), the source restore
    // point and its disk restore points once, the target collection checked and created,
    // the copy PUT; plus ingest's one GET. 5 reads + 2 writes for one region.
    let (n, lines) = deliver(&world, &host, &proxy).await;
    assert_eq!(world.emu.stats().copies_started, 2, "{lines:#?}");
    assert_eq!(n, 1 + 6 * regions, "{lines:#?}");
    assert_eq!(
        count(&lines, "GET", "/restorePoints/rp1"),
        1 + regions,
        "{lines:#?}"
    );
    assert_eq!(count(&lines, "GET", "/rp1/diskRestorePoints"), regions);
    assert_eq!(
        count(
            &lines,
            "GET",
            "/rpc-vm1?api-version=2025-11-01&%24expand=restorePoints"
        ),
        regions
    );
    assert_eq!(count(&lines, "PUT", "/restorePoints/rp1"), regions);

    // The poller: exactly one GET per copy in flight.
    world.clock.advance(Duration::minutes(10));
    let from = proxy.log.lock().unwrap().len();
    host.fire_timer("poller").await.unwrap();
    host.run_until_idle().await.unwrap();
    let (n, lines) = since(&proxy, from);
    assert_eq!(n, regions, "{lines:#?}");
    assert_eq!(
        count(
            &lines,
            "GET",
            "?api-version=2025-11-01&%24expand=instanceView"
        ),
        regions
    );

    // Finish: polls until both copies succeed; finishing costs nothing beyond the poll.
    for _ in 0..200 {
        if world.emu.stats().copies_succeeded == 2 {
            break;
        }
        world.clock.advance(Duration::minutes(10));
        let from = proxy.log.lock().unwrap().len();
        host.fire_timer("poller").await.unwrap();
        host.run_until_idle().await.unwrap();
        let (n, lines) = since(&proxy, from);
        // Each tick: a GET per copy in flight, plus a chain's reconciliation now and then
        // (one collection read per chain every few hours).
        let reconcile = count(&lines, "GET", "&%24expand=restorePoints");
        assert!(n <= regions + reconcile, "{lines:#?}");
        assert!(reconcile <= regions, "{lines:#?}");
    }
    assert_eq!(world.emu.stats().copies_succeeded, 2);

    // The next restore point of an idle chain: ingest's GET, then per chain the source
    // restore point and its disks, discovery's collection read, the PUT. 4 reads + 1 write
    // for one region.
    world.restore_point("vm1", "rp2").await;
    world.clock.advance(Duration::minutes(6));
    let (n, lines) = deliver(&world, &host, &proxy).await;
    assert_eq!(world.emu.stats().copies_started, 4, "{lines:#?}");
    assert_eq!(n, 1 + 4 * regions, "{lines:#?}");
    assert_eq!(
        count(&lines, "GET", "/restorePoints/rp2"),
        1 + regions,
        "{lines:#?}"
    );

    host.shutdown().await;
}
