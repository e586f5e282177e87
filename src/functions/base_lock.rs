//! Base protection, run by the poller for a rule with `protectBase`: PUTs a `CanNotDelete`
//! lock on the chain's base restore point once (the decision is
//! [`rules::base_lock::to_lock`], from the chain row alone) and records the locked base on
//! the chain row. A failure (e.g. the identity lacks `Microsoft.Authorization/locks/write`)
//! is logged and tried again at the chain's next success, not every tick.

use super::chain::{commit, load_chain, replace_chain};
use super::{App, FnError, Outcome};
use crate::ledger::records::Chain;
use crate::policy::Rule;
use crate::rules::base_lock::{self, LOCK_NAME, LOCK_NOTES};
use time::OffsetDateTime;

/// Whether this chain's base needs its lock now (from the chain row alone); after a failed
/// attempt, only once the chain has succeeded again.
pub(crate) fn due(chain: &Chain, rule: &Rule) -> bool {
    let u = &chain.upkeep;
    base_lock::to_lock(
        rule.protect_base,
        chain.base_restore_point.as_deref(),
        u.base_locked.as_deref(),
    )
    .is_some()
        && base_lock::retry_due(u.base_lock_failed_at, chain.last_success_at)
}

pub(crate) async fn run(
    app: &App,
    rule: &Rule,
    key: &str,
    now: OffsetDateTime,
    out: &mut Outcome,
) -> Result<(), FnError> {
    let Some(mut chain) = load_chain(app, key).await? else {
        return Ok(());
    };
    let Some(base) = base_lock::to_lock(
        rule.protect_base,
        chain.base_restore_point.as_deref(),
        chain.upkeep.base_locked.as_deref(),
    )
    .map(str::to_string) else {
        return Ok(());
    };
    let id = chain.source_collection.restore_point(&base);
    if let Err(e) = app.arm.lock_restore_point(&id, LOCK_NAME, LOCK_NOTES).await {
        out.log(format!(
            "locking base {id} failed: {e} (protectBase needs Microsoft.Authorization/locks/write on the source); tried again after the chain's next copy"
        ));
        chain.upkeep.base_lock_failed_at = Some(now);
        commit(app, &chain, vec![replace_chain(&chain)?]).await?;
        return Ok(());
    }
    chain.upkeep.base_locked = Some(base);
    chain.upkeep.base_lock_failed_at = None;
    if commit(app, &chain, vec![replace_chain(&chain)?]).await? {
        out.log(format!("locked base {id} (CanNotDelete)"));
    }
    Ok(())
}
