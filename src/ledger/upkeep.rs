//! What a chain keeps about its target collection's upkeep (retention and the platform's
//! count limits), stored on the chain row. Every property is optional: rows written before
//! these existed read as "never checked".

use time::OffsetDateTime;

use super::{Entity, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upkeep {
    /// When retention last looked at the chain's copies.
    pub checked_at: Option<OffsetDateTime>,
    /// Copies the target collection held after that look.
    pub target_copies: Option<u32>,
    /// When the next copy ages out under `maxAge`, or when a look must continue (a tick's
    /// deletion budget ran out).
    pub due_at: Option<OffsetDateTime>,
    /// The copy (source restore point name) retention deletes next.
    pub next_deletion: Option<String>,
    /// Copies deleted by retention so far.
    pub deleted: u32,
    /// The default cap started deleting and that was alerted (once per chain).
    pub cap_alerted: bool,
    /// The count limit is near and that was alerted (once per chain until it clears).
    pub approaching_alerted: bool,
    /// Why the last copy was refused for a platform limit (cleared by the next success).
    pub limit_reached: Option<String>,
    /// When source pruning last looked (the chain of the rule's first target only).
    pub pruned_at: Option<OffsetDateTime>,
    /// Source restore points this chain pruned so far.
    pub pruned: u32,
    /// The base restore point (name) ferry locked for this chain (`protectBase`).
    pub base_locked: Option<String>,
    /// When locking the base last failed: tried again only after the chain's next success.
    pub base_lock_failed_at: Option<OffsetDateTime>,
}

impl Upkeep {
    pub(super) fn write(&self, e: &mut Entity) {
        let p = &mut e.properties;
        if let Some(t) = self.checked_at {
            p.insert("UpkeepCheckedAt".into(), Value::DateTime(t));
        }
        if let Some(n) = self.target_copies {
            p.insert("TargetCopies".into(), Value::Int64(i64::from(n)));
        }
        if let Some(t) = self.due_at {
            p.insert("UpkeepDueAt".into(), Value::DateTime(t));
        }
        if let Some(n) = &self.next_deletion {
            p.insert("NextDeletion".into(), Value::String(n.clone()));
        }
        if self.deleted > 0 {
            p.insert(
                "DeletedByRetention".into(),
                Value::Int64(i64::from(self.deleted)),
            );
        }
        if self.cap_alerted {
            p.insert("CapAlerted".into(), Value::Bool(true));
        }
        if self.approaching_alerted {
            p.insert("LimitApproachingAlerted".into(), Value::Bool(true));
        }
        if let Some(r) = &self.limit_reached {
            p.insert("LimitReached".into(), Value::String(r.clone()));
        }
        if let Some(t) = self.pruned_at {
            p.insert("PrunedAt".into(), Value::DateTime(t));
        }
        if self.pruned > 0 {
            p.insert("SourcePruned".into(), Value::Int64(i64::from(self.pruned)));
        }
        if let Some(t) = self.base_lock_failed_at {
            p.insert("BaseLockFailedAt".into(), Value::DateTime(t));
        }
        if let Some(b) = &self.base_locked {
            p.insert("BaseLocked".into(), Value::String(b.clone()));
        }
    }

    pub(super) fn read(e: &Entity) -> Upkeep {
        let count = |name: &str| e.i64(name).map(|n| n.clamp(0, u32::MAX as i64) as u32);
        let text = |name: &str| e.str(name).filter(|s| !s.is_empty()).map(str::to_string);
        Upkeep {
            checked_at: e.time("UpkeepCheckedAt"),
            target_copies: count("TargetCopies"),
            due_at: e.time("UpkeepDueAt"),
            next_deletion: text("NextDeletion"),
            deleted: count("DeletedByRetention").unwrap_or(0),
            cap_alerted: e.bool("CapAlerted").unwrap_or(false),
            approaching_alerted: e.bool("LimitApproachingAlerted").unwrap_or(false),
            limit_reached: text("LimitReached"),
            pruned_at: e.time("PrunedAt"),
            pruned: count("SourcePruned").unwrap_or(0),
            base_locked: text("BaseLocked"),
            base_lock_failed_at: e.time("BaseLockFailedAt"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn round_trips_and_an_old_row_reads_as_never_checked() {
        let u = Upkeep {
            checked_at: Some(datetime!(2026-11-01 00:00 UTC)),
            target_copies: Some(401),
            due_at: Some(datetime!(2026-11-02 00:00 UTC)),
            next_deletion: Some("rp-1".into()),
            deleted: 7,
            cap_alerted: true,
            approaching_alerted: true,
            limit_reached: Some("refused".into()),
            pruned_at: Some(datetime!(2026-11-03 00:00 UTC)),
            pruned: 4,
            base_locked: Some("rp-0".into()),
            base_lock_failed_at: Some(datetime!(2026-11-04 00:00 UTC)),
        };
        let mut e = Entity::new("k", "chain");
        u.write(&mut e);
        assert_eq!(Upkeep::read(&e), u);
        assert_eq!(Upkeep::read(&Entity::new("k", "chain")), Upkeep::default());
    }
}
