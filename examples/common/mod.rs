//! What the in-process benchmarks (bench_invoke, bench_poll) share.

// The allocator of ferry's binary (src/main.rs), so the in-process figures are the ones
// `ferry serve` has.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU nanoseconds so far of this process's threads, split into (the emulator's and the
/// broker's threads, named `emu*`; all the others), from /proc/self/task/*/schedstat.
pub fn thread_cpu() -> (u64, u64) {
    let (mut emu, mut other) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in dir.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if comm.trim_end().starts_with("emu") {
            emu += ns;
        } else {
            other += ns;
        }
    }
    (emu, other)
}
