//! Timer triggers: fired by the host clock with the schedule monitor's last and next run;
//! a failed run is not retried.

use time::OffsetDateTime;

use super::encode::{self, SysData};
use super::{lock, Host, HostError, InvocationOutcome, TriggerKind};

#[derive(Debug, Clone, Default)]
pub(super) struct TimerState {
    last: Option<OffsetDateTime>,
    expected_next: Option<OffsetDateTime>,
}

impl Host {
    /// Whether a timer function's schedule fires in `(after, until]`: what the host's timer
    /// would do between two steps of a caller's simulated clock.
    pub fn timer_due(
        &self,
        function: &str,
        after: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<bool, HostError> {
        let f = self
            .function(function)
            .ok_or_else(|| HostError::UnknownFunction(function.to_string()))?;
        let TriggerKind::Timer { schedule, .. } = &f.trigger.kind else {
            return Err(HostError::UnknownFunction(function.to_string()));
        };
        Ok(schedule.next_after(after).is_some_and(|n| n <= until))
    }

    /// Fires a timer function now (by the host clock). Failures are not retried.
    pub async fn fire_timer(&self, function: &str) -> Result<InvocationOutcome, HostError> {
        let f = self
            .function(function)
            .filter(|f| matches!(f.trigger.kind, TriggerKind::Timer { .. }))
            .ok_or_else(|| HostError::UnknownFunction(function.to_string()))?
            .clone();
        let TriggerKind::Timer { schedule, .. } = &f.trigger.kind else {
            return Err(HostError::UnknownFunction(function.to_string()));
        };
        let now = self.config.clock.now();
        let next = schedule.next_after(now).ok_or_else(|| {
            HostError::Config(format!(
                "schedule `{}` of `{}` never fires",
                schedule.as_str(),
                f.name
            ))
        })?;
        let state = lock(&self.timers).get(&f.name).cloned().unwrap_or_default();
        let is_past_due = state.expected_next.is_some_and(|n| now > n);
        let sys = SysData::new(&f.name, now);
        let payload =
            encode::encode_timer(&f.trigger.binding, state.last, next, now, is_past_due, &sys);
        let o = self.invoke(&f, &payload).await;
        // The schedule monitor records the run whatever its outcome.
        lock(&self.timers).insert(
            f.name.clone(),
            TimerState {
                last: Some(now),
                expected_next: Some(next),
            },
        );
        Ok(o)
    }
}
