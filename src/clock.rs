//! Time sources. Production reads the system clock; the emulator, the host stand-in and
//! `demo` share a simulated clock so that 20 days of copies run in seconds.

use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::{Duration, OffsetDateTime};

/// Something that knows what time it is.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

/// The machine's UTC clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to (`demo`, tests).
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<OffsetDateTime>>);

impl ManualClock {
    pub fn new(start: OffsetDateTime) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }

    pub fn set(&self, to: OffsetDateTime) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Simulated time running `scale` times faster than real time from `start`
/// (`ferry emulate --time-scale N`).
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: OffsetDateTime,
    origin: Instant,
    scale: f64,
}

impl ScaledClock {
    pub fn new(start: OffsetDateTime, scale: f64) -> Self {
        ScaledClock {
            start,
            origin: Instant::now(),
            scale,
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> OffsetDateTime {
        let real = self.origin.elapsed().as_secs_f64();
        self.start + Duration::seconds_f64(real * self.scale)
    }
}

/// A shareable clock handle.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = time::macros::datetime!(2026-11-01 00:00 UTC);
        let c = ManualClock::new(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::minutes(10));
        assert_eq!(c.now(), t0 + Duration::minutes(10));
    }

    #[test]
    fn scaled_clock_runs_faster() {
        let t0 = time::macros::datetime!(2026-11-01 00:00 UTC);
        let c = ScaledClock::new(t0, 3600.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(c.now() - t0 >= Duration::seconds(60));
    }
}
