//! Per-scope token cache with single-flight refresh.

use super::{AccessToken, AuthError, TokenProvider};
use crate::clock::{SharedClock, SystemClock};
use futures::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use time::Duration;

/// A cached token is replaced once it is this close to expiry, so a request never leaves
/// with a token that dies in flight (the same margin azure_identity uses).
pub const REFRESH_MARGIN: Duration = Duration::minutes(5);

type Fetch = Shared<BoxFuture<'static, Result<AccessToken, AuthError>>>;

enum Slot {
    Ready(AccessToken),
    /// A fetch is under way; every caller for this scope awaits this same future.
    InFlight(Fetch),
}

/// Wraps any [`TokenProvider`]: keeps one token per scope until [`REFRESH_MARGIN`] before
/// it expires; concurrent callers for a scope share one in-flight fetch; errors are handed
/// to the callers of that fetch and then forgotten (the next call tries again).
pub struct CachedTokens<P: TokenProvider + ?Sized> {
    inner: Arc<P>,
    clock: SharedClock,
    slots: Mutex<HashMap<String, Slot>>,
}

impl<P: TokenProvider + ?Sized> CachedTokens<P> {
    pub fn new(inner: Arc<P>) -> Self {
        Self::with_clock(inner, Arc::new(SystemClock))
    }

    /// `clock` decides when a cached token counts as close to expiry.
    pub fn with_clock(inner: Arc<P>, clock: SharedClock) -> Self {
        CachedTokens {
            inner,
            clock,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Returns a fresh cached token or the fetch to await (joining one already running).
    fn cached_or_fetch(&self, scope: &str) -> Result<AccessToken, Fetch> {
        let mut slots = self.lock();
        match slots.get(scope) {
            Some(Slot::Ready(token)) if token.expires_on - REFRESH_MARGIN > self.clock.now() => {
                Ok(token.clone())
            }
            Some(Slot::InFlight(fetch)) => Err(fetch.clone()),
            _ => {
                let inner = Arc::clone(&self.inner);
                let owned_scope = scope.to_owned();
                let fetch = async move { inner.token(&owned_scope).await }
                    .boxed()
                    .shared();
                slots.insert(scope.to_owned(), Slot::InFlight(fetch.clone()));
                Err(fetch)
            }
        }
    }

    /// Records the outcome of `fetch`, unless another caller already did.
    fn settle(&self, scope: &str, fetch: &Fetch, result: &Result<AccessToken, AuthError>) {
        let mut slots = self.lock();
        let ours = matches!(slots.get(scope), Some(Slot::InFlight(f)) if f.ptr_eq(fetch));
        if !ours {
            return;
        }
        match result {
            Ok(token) => {
                slots.insert(scope.to_owned(), Slot::Ready(token.clone()));
            }
            Err(_) => {
                slots.remove(scope);
            }
        }
    }
}

#[async_trait::async_trait]
impl<P: TokenProvider + ?Sized> TokenProvider for CachedTokens<P> {
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        let fetch = match self.cached_or_fetch(scope) {
            Ok(token) => return Ok(token),
            Err(fetch) => fetch,
        };
        let result = fetch.clone().await;
        self.settle(scope, &fetch, &result);
        match &result {
            Ok(token) => tracing::debug!(
                credential = self.inner.kind(),
                scope,
                expires_on = %token.expires_on,
                "fetched token"
            ),
            Err(err) => tracing::warn!(
                credential = self.inner.kind(),
                scope,
                error = %err,
                "token fetch failed"
            ),
        }
        result
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::OffsetDateTime;
    use tokio::sync::{watch, Semaphore};

    /// A provider that counts fetches and can hold them at a gate, so a test can pile
    /// callers up behind one fetch; it has no cache of its own.
    struct Counting {
        calls: AtomicUsize,
        gate: Semaphore,
        lifetime: Duration,
        clock: ManualClock,
        fail: watch::Sender<bool>,
    }

    impl Counting {
        fn new(clock: ManualClock, open: bool) -> Arc<Self> {
            Arc::new(Counting {
                calls: AtomicUsize::new(0),
                gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
                lifetime: Duration::hours(1),
                clock,
                fail: watch::channel(false).0,
            })
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl TokenProvider for Counting {
        async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let permit = self
                .gate
                .acquire()
                .await
                .map_err(|_| AuthError::Transient("gate closed".into()))?;
            permit.forget();
            if *self.fail.borrow() {
                return Err(AuthError::Transient(format!("fetch {n} failed")));
            }
            Ok(AccessToken {
                secret: format!("{scope}#{n}"),
                expires_on: self.clock.now() + self.lifetime,
            })
        }
        fn kind(&self) -> &'static str {
            "counting"
        }
    }

    fn start() -> OffsetDateTime {
        time::macros::datetime!(2026-01-01 00:00 UTC)
    }

    #[tokio::test]
    async fn second_call_is_served_from_cache() {
        let clock = ManualClock::new(start());
        let inner = Counting::new(clock.clone(), true);
        let cache = CachedTokens::with_clock(inner.clone(), Arc::new(clock));
        let a = cache.token("s1").await.expect("token");
        let b = cache.token("s1").await.expect("token");
        assert_eq!(a.secret, "s1#1");
        assert_eq!(b.secret, "s1#1");
        assert_eq!(inner.calls(), 1);
        assert_eq!(cache.kind(), "counting");
    }

    #[tokio::test]
    async fn scopes_are_cached_separately() {
        let clock = ManualClock::new(start());
        let inner = Counting::new(clock.clone(), true);
        let cache = CachedTokens::with_clock(inner.clone(), Arc::new(clock));
        assert_eq!(cache.token("a").await.expect("a").secret, "a#1");
        assert_eq!(cache.token("b").await.expect("b").secret, "b#2");
        assert_eq!(cache.token("a").await.expect("a").secret, "a#1");
        assert_eq!(inner.calls(), 2);
    }

    #[tokio::test]
    async fn refreshes_within_margin_of_expiry() {
        let clock = ManualClock::new(start());
        let inner = Counting::new(clock.clone(), true);
        let cache = CachedTokens::with_clock(inner.clone(), Arc::new(clock.clone()));
        cache.token("s").await.expect("token");
        // 1 h token: still good 1 s before the margin starts...
        clock.advance(Duration::minutes(55) - Duration::seconds(1));
        assert_eq!(cache.token("s").await.expect("token").secret, "s#1");
        // ...and replaced once inside it.
        clock.advance(Duration::seconds(1));
        assert_eq!(cache.token("s").await.expect("token").secret, "s#2");
        assert_eq!(inner.calls(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let clock = ManualClock::new(start());
        let inner = Counting::new(clock.clone(), false);
        let cache = Arc::new(CachedTokens::with_clock(inner.clone(), Arc::new(clock)));
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.token("s").await })
            })
            .collect();
        // Wait until the one fetch has started, then let every caller pile up behind it.
        while inner.calls() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        // Plenty of permits: were callers not sharing the fetch, each would get its own
        // and the count below would show it.
        inner.gate.add_permits(100);
        for caller in callers {
            let token = caller.await.expect("join").expect("token");
            assert_eq!(token.secret, "s#1");
        }
        assert_eq!(inner.calls(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failed_fetch_is_shared_then_forgotten() {
        let clock = ManualClock::new(start());
        let inner = Counting::new(clock.clone(), false);
        inner.fail.send_replace(true);
        let cache = Arc::new(CachedTokens::with_clock(inner.clone(), Arc::new(clock)));
        let callers: Vec<_> = (0..5)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.token("s").await })
            })
            .collect();
        while inner.calls() == 0 {
            tokio::task::yield_now().await;
        }
        // Open the gate for good: a caller arriving after the failure settles starts (and
        // fails) a fetch of its own, which is the "errors are not cached" rule at work.
        inner.gate.add_permits(1000);
        for caller in callers {
            let err = caller.await.expect("join").expect_err("must fail");
            assert!(matches!(err, AuthError::Transient(_)), "{err}");
        }
        let failed_fetches = inner.calls();
        assert!(failed_fetches >= 1);
        // The error was not cached: the next call fetches again and succeeds.
        inner.fail.send_replace(false);
        let token = cache.token("s").await.expect("token after recovery");
        assert_eq!(inner.calls(), failed_fetches + 1);
        assert_eq!(token.secret, format!("s#{}", failed_fetches + 1));
    }
}
