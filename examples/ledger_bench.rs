//! Ledger benchmark against Azurite (not a test: figures depend on the machine).
//!
//! Measures the two hot paths of ferry's ledger use:
//! (a) the poller's query — active chains across all partitions
//!     (`RowKey ge 'chain' … and Active eq true`) over 1,000 chain partitions that each
//!     also hold a copy row and readings;
//! (b) a copy-progress update — one batch: Replace the copy row with its ETag + Insert a
//!     reading row.
//!
//! Run: start Azurite (`scripts/azurite.sh` prints the endpoint), then
//! `FERRY_TEST_AZURITE_TABLE=http://127.0.0.1:<port>/devstoreaccount1 cargo run --example ledger_bench`
//! Optional: `BENCH_QUERIES` (default 30), `BENCH_UPDATES` (default 1000).

use ferry::ledger::table::{setting, TableLedger};
use ferry::ledger::{query_all, ETag, Entity, Ledger, Op, Query, Value};
use std::time::{Duration, Instant};

const CHAINS: usize = 1000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn report(name: &str, mut lat: Vec<Duration>, total: Duration) {
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{name}: {} ops in {:.2} s = {:.1} ops/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        total.as_secs_f64(),
        lat.len() as f64 / total.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat[lat.len() - 1].as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(endpoint) = std::env::var("FERRY_TEST_AZURITE_TABLE") else {
        eprintln!("set FERRY_TEST_AZURITE_TABLE (scripts/azurite.sh starts Azurite and prints it)");
        std::process::exit(2);
    };
    let table = format!("bench{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let ledger = TableLedger::from_setting(
        &format!(
            "AccountName=devstoreaccount1;AccountKey={};TableEndpoint={};Table={table}",
            setting::DEV_KEY,
            endpoint.trim_end_matches('/')
        ),
        None,
    )?;
    ledger.ensure().await?;

    // Setup: per chain partition a chain row, its in-flight copy and two readings.
    let started = Instant::now();
    let mut copy_etags: Vec<ETag> = Vec::with_capacity(CHAINS);
    for i in 0..CHAINS {
        let pk = format!("chain-{i:04}");
        let etags = ledger
            .batch(
                &pk,
                vec![
                    Op::Insert(
                        Entity::new(&pk, "chain")
                            .with("Active", Value::Bool(true))
                            .with("Target", Value::String("westeurope".into())),
                    ),
                    Op::Insert(
                        Entity::new(&pk, "copy-0001")
                            .with("State", Value::String("copying".into()))
                            .with("Percent", Value::Int64(0)),
                    ),
                    Op::Insert(Entity::new(&pk, "reading-000000").with("Percent", Value::Int64(0))),
                    Op::Insert(Entity::new(&pk, "reading-000001").with("Percent", Value::Int64(0))),
                ],
            )
            .await?;
        copy_etags.push(etags[1].clone().ok_or("insert returned no ETag")?);
    }
    println!(
        "setup: {CHAINS} partitions x 4 rows in {:.2} s (table {table} at {endpoint})",
        started.elapsed().as_secs_f64()
    );

    // (a) The poller's query.
    let q = Query::default()
        .row_prefix("chain")
        .where_eq("Active", Value::Bool(true));
    let n = env_usize("BENCH_QUERIES", 30).max(1);
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let rows = query_all(&ledger, &q).await?;
        lat.push(t.elapsed());
        assert_eq!(
            rows.len(),
            CHAINS,
            "poller query must see every active chain"
        );
    }
    report(
        "(a) poller query (1,000 active chains of 4,000 rows)",
        lat,
        t0.elapsed(),
    );

    // (b) Copy-progress updates.
    let n = env_usize("BENCH_UPDATES", 1000).max(1);
    let mut lat = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let c = i % CHAINS;
        let pk = format!("chain-{c:04}");
        let percent = (i / CHAINS + 1) as i64;
        let t = Instant::now();
        let etags = ledger
            .batch(
                &pk,
                vec![
                    Op::Replace(
                        Entity::new(&pk, "copy-0001")
                            .with("State", Value::String("copying".into()))
                            .with("Percent", Value::Int64(percent)),
                        copy_etags[c].clone(),
                    ),
                    Op::Insert(
                        Entity::new(&pk, format!("reading-{:06}", i + 2))
                            .with("Percent", Value::Int64(percent)),
                    ),
                ],
            )
            .await?;
        lat.push(t.elapsed());
        copy_etags[c] = etags[0].clone().ok_or("replace returned no ETag")?;
    }
    report(
        "(b) copy-progress batch (Replace copy with ETag + Insert reading)",
        lat,
        t0.elapsed(),
    );
    Ok(())
}
