//! Management locks (`Microsoft.Authorization/locks`) on restore points: what a lock is and
//! which ones block a delete. Azure checks locks before the resource provider sees a DELETE
//! and answers 409 `ScopeLocked`; the emulator does the same (see routes/locks.rs).

use std::collections::BTreeMap;

/// The lock levels ARM accepts (`LockLevel` in the management-locks REST reference).
pub(crate) const LEVELS: &[&str] = &["CanNotDelete", "ReadOnly"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lock {
    /// Full ARM id of the lock (scope + `/providers/Microsoft.Authorization/locks/{name}`).
    pub id: String,
    pub name: String,
    pub level: String,
    pub notes: Option<String>,
}

/// Locks by the locked resource's key (lower-cased id), then by lower-cased lock name.
#[derive(Debug, Default)]
pub(crate) struct Locks {
    by_scope: BTreeMap<String, BTreeMap<String, Lock>>,
}

impl Locks {
    /// Creates or replaces a lock; true when it was new.
    pub fn put(&mut self, scope_key: &str, lock: Lock) -> bool {
        self.by_scope
            .entry(scope_key.to_string())
            .or_default()
            .insert(lock.name.to_ascii_lowercase(), lock)
            .is_none()
    }

    pub fn get(&self, scope_key: &str, name: &str) -> Option<&Lock> {
        self.by_scope
            .get(scope_key)?
            .get(&name.to_ascii_lowercase())
    }

    /// Removes a lock; true when it existed.
    pub fn delete(&mut self, scope_key: &str, name: &str) -> bool {
        let Some(m) = self.by_scope.get_mut(scope_key) else {
            return false;
        };
        let had = m.remove(&name.to_ascii_lowercase()).is_some();
        if m.is_empty() {
            self.by_scope.remove(scope_key);
        }
        had
    }

    /// A lock that forbids deleting the resource `scope_key` or anything whose key starts
    /// with `scope_key + "/"` (a collection's restore points), if any. Every level forbids
    /// delete (ReadOnly is stricter than CanNotDelete).
    pub fn blocking_delete(&self, scope_key: &str) -> Option<&Lock> {
        let child = format!("{scope_key}/");
        self.by_scope
            .range(scope_key.to_string()..)
            .take_while(|(k, _)| *k == scope_key || k.starts_with(&child))
            .find_map(|(_, m)| m.values().next())
    }

    /// Locks present now.
    pub fn count(&self) -> usize {
        self.by_scope.values().map(BTreeMap::len).sum()
    }
}

/// Azure's wording for a delete refused by a lock.
pub(crate) fn scope_locked_message(scope: &str, lock_scope: &str) -> String {
    format!(
        "The scope '{scope}' cannot perform delete operation because following scope(s) are locked: '{lock_scope}'. Please remove the lock and try again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(name: &str) -> Lock {
        Lock {
            id: format!("x/providers/Microsoft.Authorization/locks/{name}"),
            name: name.into(),
            level: "CanNotDelete".into(),
            notes: None,
        }
    }

    #[test]
    fn a_lock_blocks_its_resource_and_children_only() {
        let mut l = Locks::default();
        assert!(l.put("/s/c/restorepoints/rp1", lock("Base")));
        assert!(!l.put("/s/c/restorepoints/rp1", lock("base")));
        assert_eq!(l.count(), 1);
        assert!(l.blocking_delete("/s/c/restorepoints/rp1").is_some());
        assert!(l.blocking_delete("/s/c").is_some());
        assert!(l.blocking_delete("/s/c/restorepoints/rp10").is_none());
        assert!(l.blocking_delete("/s/c2").is_none());
        assert!(l.get("/s/c/restorepoints/rp1", "BASE").is_some());
        assert!(l.delete("/s/c/restorepoints/rp1", "base"));
        assert!(!l.delete("/s/c/restorepoints/rp1", "base"));
        assert!(l.blocking_delete("/s/c").is_none());
        assert_eq!(l.count(), 0);
    }

    #[test]
    fn the_refusal_names_both_scopes() {
        let m = scope_locked_message("/a", "/a/b");
        assert!(m.contains("'/a' cannot perform delete operation"));
        assert!(m.contains("locked: '/a/b'"));
    }
}
