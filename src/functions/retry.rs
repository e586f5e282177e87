//! "Retry later", once for every function: when ARM or the ledger is unavailable, the work
//! is sent back to its own queue, scheduled after a growing delay, rather than failing the
//! delivery (ten quick redeliveries would dead-letter it during a throttling burst). After
//! [`RETRY_HORIZON`](super::RETRY_HORIZON) of retrying, ferry gives up with one
//! `EventRejected` alert instead of retrying forever.

use super::{App, FnError, Outcome, ServiceBusEntity};
use crate::alerts::{Alert, AlertKind};
use crate::bus::OutgoingMessage;
use time::OffsetDateTime;

/// One piece of work to try again.
pub(crate) struct Retry {
    /// The queue it goes back to.
    pub entity: ServiceBusEntity,
    /// When it was first attempted, and how many retries it has had.
    pub first: OffsetDateTime,
    pub attempt: u32,
    /// What it is, for the log and the alert ("event <id>", "copying <rp> to <region>").
    pub what: String,
    /// Subject of the give-up alert's stable id (one alert per piece of work).
    pub subject: String,
}

/// What to do with work that failed transiently at `now`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// Send it again, as retry number `attempt`, at `at`.
    Again { attempt: u32, at: OffsetDateTime },
    /// Retried for too long: give up (with an alert).
    GiveUp,
}

/// The decision alone: give up past the horizon, else the next attempt's time.
pub(crate) fn plan(r: &Retry, e: &FnError, now: OffsetDateTime) -> Plan {
    if now - r.first > super::RETRY_HORIZON {
        return Plan::GiveUp;
    }
    Plan::Again {
        attempt: r.attempt + 1,
        at: now + super::retry_delay(r.attempt, e.retry_after()),
    }
}

/// Sends the work back (the message `build` makes for the next attempt and its time), or
/// gives up with an alert that `annotate` may add to.
pub(crate) async fn retry_later(
    app: &App,
    r: Retry,
    e: &FnError,
    now: OffsetDateTime,
    out: &mut Outcome,
    build: impl FnOnce(u32, OffsetDateTime) -> Result<OutgoingMessage, FnError>,
    annotate: impl FnOnce(&mut Alert),
) -> Result<(), FnError> {
    match plan(&r, e, now) {
        Plan::GiveUp => {
            let mut a = Alert::new(
                AlertKind::EventRejected,
                &r.subject,
                format!(
                    "gave up on {} after retrying since {}: {e}",
                    r.what, r.first
                ),
                now,
            );
            a.reason = Some(e.to_string());
            annotate(&mut a);
            app.alert_now(out, a).await
        }
        Plan::Again { attempt, at } => {
            let m = build(attempt, at)?;
            app.bus.send(r.entity, vec![m]).await?;
            out.log(format!("{}: {e}; retrying at {at}", r.what));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use time::Duration;

    #[test]
    fn retries_back_off_then_give_up_past_the_horizon() {
        let first = datetime!(2026-11-02 00:00 UTC);
        let r = |attempt| Retry {
            entity: ServiceBusEntity::CopyQueue,
            first,
            attempt,
            what: "x".into(),
            subject: "s".into(),
        };
        let e = FnError::Other("ARM unavailable".into());
        assert_eq!(
            plan(&r(0), &e, first),
            Plan::Again {
                attempt: 1,
                at: first + Duration::minutes(1)
            }
        );
        let Plan::Again { at, .. } = plan(&r(3), &e, first) else {
            panic!()
        };
        assert_eq!(at - first, Duration::minutes(8));
        let Plan::Again { at, .. } = plan(&r(20), &e, first) else {
            panic!()
        };
        assert_eq!(at - first, Duration::minutes(30), "capped");
        assert_eq!(
            plan(&r(1), &e, first + super::super::RETRY_HORIZON),
            Plan::Again {
                attempt: 2,
                at: first + super::super::RETRY_HORIZON + Duration::minutes(2)
            }
        );
        assert_eq!(
            plan(
                &r(1),
                &e,
                first + super::super::RETRY_HORIZON + Duration::seconds(1)
            ),
            Plan::GiveUp
        );
    }
}
