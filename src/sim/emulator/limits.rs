//! ARM request limits: per-subscription token buckets and the copy-rate window of a target
//! restore point collection. Both run on the emulator's clock, so simulated time refills them.

use std::collections::VecDeque;
use time::{Duration, OffsetDateTime};

/// Request limits the emulator enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitConfig {
    /// Read bucket per subscription: (burst, refill per second). `None` disables it.
    pub reads: Option<(u32, f64)>,
    /// Write bucket per subscription: (burst, refill per second). `None` disables it.
    pub writes: Option<(u32, f64)>,
    /// Copy PUTs accepted per rolling hour into one target collection.
    pub copies_per_hour_per_target_collection: u32,
    /// Refuse a VM's restore point made sooner than the platform's minimum interval after
    /// its previous one of the same kind (see `counts`). Tests that make restore points
    /// minutes apart, to spend little simulated time, turn it off.
    pub min_restore_point_interval: bool,
    /// Restore points one cross-region target collection may hold (modelled on the per-VM
    /// limit; see `counts`). Tests lower it to reach it quickly.
    pub copies_per_target_collection: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            reads: Some((250, 25.0)),
            writes: Some((200, 10.0)),
            copies_per_hour_per_target_collection: 3,
            min_restore_point_interval: true,
            copies_per_target_collection: super::counts::MAX_COPIES_PER_TARGET_COLLECTION,
        }
    }
}

/// A token bucket (ARM's throttling model: a burst that refills at a steady rate).
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    burst: f64,
    per_sec: f64,
    tokens: f64,
    at: OffsetDateTime,
}

impl TokenBucket {
    pub fn new(burst: u32, per_sec: f64, now: OffsetDateTime) -> Self {
        TokenBucket {
            burst: f64::from(burst),
            per_sec: if per_sec.is_finite() && per_sec > 0.0 {
                per_sec
            } else {
                0.0
            },
            tokens: f64::from(burst),
            at: now,
        }
    }

    fn refill(&mut self, now: OffsetDateTime) {
        if now > self.at {
            let secs = (now - self.at).as_seconds_f64();
            self.tokens = (self.tokens + secs * self.per_sec).min(self.burst);
            self.at = now;
        }
    }

    /// Takes a token; `Err(retry_after_secs)` when the bucket is empty.
    pub fn take(&mut self, now: OffsetDateTime) -> Result<u32, u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(self.tokens.floor() as u32)
        } else if self.per_sec > 0.0 {
            Err(((1.0 - self.tokens) / self.per_sec).ceil().max(1.0) as u64)
        } else {
            // A bucket that never refills: tell the client to come back much later.
            Err(3600)
        }
    }
}

/// Rolling one-hour window of copy starts into one target collection.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopyWindow {
    starts: VecDeque<OffsetDateTime>,
}

impl CopyWindow {
    /// `Err(retry_after_secs)` when `limit` copies already started within the last hour.
    pub fn check(&mut self, now: OffsetDateTime, limit: u32) -> Result<(), u64> {
        while self
            .starts
            .front()
            .is_some_and(|t| now - *t >= Duration::HOUR)
        {
            self.starts.pop_front();
        }
        if self.starts.len() < limit as usize {
            Ok(())
        } else {
            let oldest = self.starts.front().copied().unwrap_or(now);
            let wait = (oldest + Duration::HOUR - now).as_seconds_f64().ceil();
            Err(wait.max(1.0) as u64)
        }
    }

    pub fn record(&mut self, now: OffsetDateTime) {
        self.starts.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn bucket_drains_and_refills() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let mut b = TokenBucket::new(2, 1.0, t0);
        assert_eq!(b.take(t0), Ok(1));
        assert_eq!(b.take(t0), Ok(0));
        assert_eq!(b.take(t0), Err(1));
        assert!(b.take(t0 + Duration::seconds(1)).is_ok());
        // never above burst
        let _ = b.take(t0 + Duration::hours(1));
        assert_eq!(b.take(t0 + Duration::hours(1)), Ok(0));
    }

    #[test]
    fn copy_window_allows_three_per_hour() {
        let t0 = datetime!(2026-11-01 00:00 UTC);
        let mut w = CopyWindow::default();
        for i in 0..3 {
            let t = t0 + Duration::minutes(i * 10);
            assert!(w.check(t, 3).is_ok());
            w.record(t);
        }
        let t = t0 + Duration::minutes(30);
        assert_eq!(w.check(t, 3), Err(30 * 60));
        assert!(w.check(t0 + Duration::minutes(60), 3).is_ok());
    }
}
