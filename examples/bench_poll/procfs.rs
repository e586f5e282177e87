//! Readings from /proc: CPU of this process's ferry threads or of another process, RSS and
//! its peak, and resetting the peak so it covers the sweep alone.

/// (user, system) CPU ticks (10 ms) so far of this process's threads other than `emu*`, from
/// /proc/self/task/*/stat: how much of ferry's CPU is spent in the kernel (sockets, wakeups).
pub(crate) fn ferry_user_sys_ticks() -> (u64, u64) {
    let (mut user, mut sys) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return (0, 0);
    };
    for t in dir.flatten() {
        let p = t.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with("emu") {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        user += tick(11);
        sys += tick(12);
    }
    (user, sys)
}

/// user + system CPU seconds of a process, from /proc/<pid>/stat (what getrusage reports).
pub(crate) fn proc_cpu(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0 // USER_HZ is 100 on Linux
}

pub(crate) fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak-RSS counter so VmHWM covers the sweep only (Linux ≥ 4.0).
pub(crate) fn reset_peak(pid: &str) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}
