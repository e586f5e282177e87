//! Client-side pacing so ferry stays inside ARM's own token buckets (per subscription: reads
//! 250 burst + 25/s, writes 200 burst + 10/s) instead of finding the limit with 429s. A poller
//! sweeping thousands of copies waits here, briefly, rather than triggering a retry storm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Bucket size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimit {
    /// ARM's documented read budget per subscription.
    pub const ARM_READS: RateLimit = RateLimit {
        burst: 250,
        per_second: 25.0,
    };
    /// ARM's documented write budget per subscription.
    pub const ARM_WRITES: RateLimit = RateLimit {
        burst: 200,
        per_second: 10.0,
    };

    pub fn validate(&self) -> Result<(), String> {
        if self.burst == 0 {
            return Err("rate limit burst must be at least 1".into());
        }
        if !(self.per_second.is_finite() && self.per_second > 0.0) {
            return Err(format!(
                "rate limit per_second must be a positive number, got {}",
                self.per_second
            ));
        }
        Ok(())
    }
}

/// A token bucket on tokio time. Callers reserve a token immediately (the balance may go
/// negative) and sleep off their debt outside the lock, so waiters are served in order and
/// no caller can starve another.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            limit,
            state: Mutex::new(BucketState {
                tokens: f64::from(limit.burst),
                last: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BucketState> {
        // The state is two numbers, always consistent: a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refill(&self, st: &mut BucketState, now: Instant) {
        let elapsed = now.saturating_duration_since(st.last).as_secs_f64();
        st.tokens = (st.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        st.last = now;
    }

    /// Takes one token and returns how long the caller must wait before using it.
    pub fn reserve(&self) -> Duration {
        let now = Instant::now();
        let mut st = self.lock();
        self.refill(&mut st, now);
        st.tokens -= 1.0;
        if st.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-st.tokens / self.limit.per_second)
        }
    }

    /// Waits until a token is available and takes it.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// ARM said 429 with this `Retry-After`: hold every later caller back at least that long.
    pub fn penalize(&self, retry_after: Duration) {
        let now = Instant::now();
        let mut st = self.lock();
        self.refill(&mut st, now);
        let debt = -(retry_after.as_secs_f64() * self.limit.per_second);
        if st.tokens > debt {
            st.tokens = debt;
        }
    }

    /// Tokens available now (negative when callers are queued).
    pub fn available(&self) -> f64 {
        let now = Instant::now();
        let mut st = self.lock();
        self.refill(&mut st, now);
        st.tokens
    }
}

/// Read or write budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Budget {
    Read,
    Write,
}

/// Separate read and write buckets per subscription, created on first use.
#[derive(Debug)]
pub struct SubscriptionLimiter {
    read: Option<RateLimit>,
    write: Option<RateLimit>,
    buckets: Mutex<HashMap<(String, Budget), Arc<TokenBucket>>>,
}

impl SubscriptionLimiter {
    pub fn new(read: Option<RateLimit>, write: Option<RateLimit>) -> Self {
        SubscriptionLimiter {
            read,
            write,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The bucket for this subscription and budget, or `None` when that budget is unlimited.
    pub fn bucket(&self, subscription: &str, budget: Budget) -> Option<Arc<TokenBucket>> {
        let limit = match budget {
            Budget::Read => self.read?,
            Budget::Write => self.write?,
        };
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            map.entry((subscription.to_ascii_lowercase(), budget))
                .or_insert_with(|| Arc::new(TokenBucket::new(limit)))
                .clone(),
        )
    }

    pub async fn acquire(&self, subscription: &str, budget: Budget) {
        if let Some(b) = self.bucket(subscription, budget) {
            b.acquire().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paused tokio time is exact up to the 1ms timer tick and float rounding.
    fn about(d: Duration, ms: u64) -> bool {
        d >= Duration::from_millis(ms).saturating_sub(Duration::from_micros(10))
            && d <= Duration::from_millis(ms + 2)
    }

    const LIMIT: RateLimit = RateLimit {
        burst: 3,
        per_second: 2.0,
    };

    #[tokio::test(start_paused = true)]
    async fn burst_is_free_then_paced() {
        let b = TokenBucket::new(LIMIT);
        let start = Instant::now();
        for _ in 0..3 {
            b.acquire().await;
        }
        assert_eq!(Instant::now(), start, "the burst must not wait");
        b.acquire().await;
        assert!(about(Instant::now() - start, 500));
        b.acquire().await;
        assert!(about(Instant::now() - start, 1000));
    }

    #[tokio::test(start_paused = true)]
    async fn refills_up_to_burst_only() {
        let b = TokenBucket::new(LIMIT);
        for _ in 0..3 {
            b.acquire().await;
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!((b.available() - 3.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_are_spread_out() {
        let b = Arc::new(TokenBucket::new(LIMIT));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..7 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                b.acquire().await;
                Instant::now() - start
            }));
        }
        let mut waits = Vec::new();
        for t in tasks {
            waits.push(t.await.unwrap());
        }
        waits.sort();
        // 3 immediately, then one every 500ms.
        assert_eq!(waits[2], Duration::ZERO);
        assert!(about(waits[3], 500));
        assert!(about(waits[6], 2000));
    }

    #[tokio::test(start_paused = true)]
    async fn penalize_holds_callers_back() {
        let b = TokenBucket::new(LIMIT);
        let start = Instant::now();
        b.penalize(Duration::from_secs(5));
        b.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn subscriptions_and_budgets_are_separate() {
        let l = SubscriptionLimiter::new(Some(LIMIT), None);
        let start = Instant::now();
        for _ in 0..3 {
            l.acquire("SUB-A", Budget::Read).await;
        }
        // Other subscription and the unlimited write budget are unaffected.
        l.acquire("sub-b", Budget::Read).await;
        for _ in 0..10 {
            l.acquire("sub-a", Budget::Write).await;
        }
        assert_eq!(Instant::now(), start);
        l.acquire("sub-a", Budget::Read).await;
        assert!(about(Instant::now() - start, 500));
        assert!(l.bucket("sub-a", Budget::Write).is_none());
    }

    #[test]
    fn validation() {
        assert!(RateLimit::ARM_READS.validate().is_ok());
        assert!(RateLimit {
            burst: 0,
            per_second: 1.0
        }
        .validate()
        .is_err());
        assert!(RateLimit {
            burst: 1,
            per_second: f64::NAN
        }
        .validate()
        .is_err());
    }
}
