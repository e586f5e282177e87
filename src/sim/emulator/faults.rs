//! HTTP-level fault injection: throttling, server errors, dropped connections and latency.
//!
//! Every decision comes from the emulator's seeded RNG so that a run with the same seed and
//! the same request sequence injects the same faults.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Probabilities (0.0..=1.0) of each fault, per request, plus copy-level faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// 429 `TooManyRequests` with `Retry-After`, independent of the token buckets.
    pub throttle_rate: f64,
    /// 500 `InternalServerError` or 503 `ServiceUnavailable` with an ARM error body.
    pub server_error_rate: f64,
    /// Close the connection without a response (before or after the request took effect).
    pub drop_rate: f64,
    /// Added to every ARM request (real time, not simulated time).
    pub latency: Option<std::time::Duration>,
    /// Share of copies that fail part-way (status failed, no details, percent reset to 0).
    pub copy_failure_rate: f64,
    /// Share of copies that never progress past 0 % until the platform terminates them.
    pub copy_stall_rate: f64,
    /// Share of disk restores (`createOption: Restore`) that end `Failed` instead of
    /// `Succeeded`: the disk's `provisioningState` and its operation's `status`.
    pub restore_failure_rate: f64,
}

impl FaultConfig {
    /// The named presets of `--faults`: `none`, `default`, `heavy`.
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "none" => Some(FaultConfig::default()),
            "default" => Some(FaultConfig::default_faults()),
            "heavy" => Some(FaultConfig::heavy()),
            _ => None,
        }
    }

    /// A hostile platform: frequent throttling, errors, drops and failing copies.
    pub fn heavy() -> Self {
        FaultConfig {
            throttle_rate: 0.10,
            server_error_rate: 0.05,
            drop_rate: 0.03,
            latency: Some(std::time::Duration::from_millis(5)),
            copy_failure_rate: 0.15,
            copy_stall_rate: 0.05,
            restore_failure_rate: 0.02,
        }
    }

    /// A realistic background level of trouble, used by `ferry emulate` and `demo`.
    pub fn default_faults() -> Self {
        FaultConfig {
            throttle_rate: 0.01,
            server_error_rate: 0.01,
            drop_rate: 0.005,
            latency: None,
            copy_failure_rate: 0.03,
            copy_stall_rate: 0.01,
            // None: the default demo's goal is a successful drill of every chain each period.
            restore_failure_rate: 0.0,
        }
    }

    /// Clamps every rate into 0..=1 (NaN becomes 0) so a bad setting cannot break sampling.
    pub(crate) fn sanitized(&self) -> Self {
        let c = |r: f64| {
            if r.is_finite() {
                r.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        FaultConfig {
            throttle_rate: c(self.throttle_rate),
            server_error_rate: c(self.server_error_rate),
            drop_rate: c(self.drop_rate),
            latency: self.latency,
            copy_failure_rate: c(self.copy_failure_rate),
            copy_stall_rate: c(self.copy_stall_rate),
            restore_failure_rate: c(self.restore_failure_rate),
        }
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFault {
    None,
    Throttle,
    ServerError(u16),
    /// Drop the connection without processing the request.
    DropBefore,
    /// Process the request, then drop the connection: the client cannot know it took effect.
    DropAfter,
}

pub(crate) fn roll_request(cfg: &FaultConfig, rng: &mut ChaCha8Rng) -> RequestFault {
    // One draw per knob keeps the stream aligned whatever the rates are.
    let t: f64 = rng.random();
    let e: f64 = rng.random();
    let d: f64 = rng.random();
    let which: bool = rng.random();
    if t < cfg.throttle_rate {
        RequestFault::Throttle
    } else if e < cfg.server_error_rate {
        RequestFault::ServerError(if which { 500 } else { 503 })
    } else if d < cfg.drop_rate {
        if which {
            RequestFault::DropAfter
        } else {
            RequestFault::DropBefore
        }
    } else {
        RequestFault::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zero_rates_never_fault() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cfg = FaultConfig::default();
        assert!((0..1000).all(|_| roll_request(&cfg, &mut rng) == RequestFault::None));
    }

    #[test]
    fn full_throttle_always_throttles_and_is_reproducible() {
        let cfg = FaultConfig {
            throttle_rate: 1.0,
            ..Default::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(roll_request(&cfg, &mut rng), RequestFault::Throttle);
        let mixed = FaultConfig::heavy();
        let a: Vec<_> = {
            let mut r = ChaCha8Rng::seed_from_u64(9);
            (0..200).map(|_| roll_request(&mixed, &mut r)).collect()
        };
        let b: Vec<_> = {
            let mut r = ChaCha8Rng::seed_from_u64(9);
            (0..200).map(|_| roll_request(&mixed, &mut r)).collect()
        };
        assert_eq!(a, b);
        assert!(a.iter().any(|f| *f != RequestFault::None));
    }

    #[test]
    fn sanitize_clamps() {
        let s = FaultConfig {
            throttle_rate: f64::NAN,
            server_error_rate: 3.0,
            drop_rate: -1.0,
            ..Default::default()
        }
        .sanitized();
        assert_eq!(s.throttle_rate, 0.0);
        assert_eq!(s.server_error_rate, 1.0);
        assert_eq!(s.drop_rate, 0.0);
    }
}
