//! What ferry's identity must be allowed to do, declared once.
//!
//! - [`ServiceBusEntity`]: every Service Bus entity ferry sends to or is triggered by, with
//!   the app setting that names it. Sends go through [`crate::bus::Outbox`], which takes a
//!   `ServiceBusEntity`, so a send to an entity not declared here does not compile, and a
//!   send to a declared entity not marked [`ServiceBusEntity::ferry_sends`] fails.
//! - [`LEDGER`]: the one table ferry reads and writes.
//! - [`ARM_NEEDS`]: the ARM actions behind each call of [`crate::arm::ArmClient`], on the
//!   source side and on the target side.
//!
//! `ferry permissions --output json` prints [`report`]; the infra tests compare it with
//! the role assignments in `infra/`.

use serde_json::{json, Value};

/// Built-in role definition ids (the same in every tenant).
pub mod roles {
    pub const SERVICE_BUS_DATA_SENDER: &str = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39";
    pub const SERVICE_BUS_DATA_RECEIVER: &str = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0";
    pub const STORAGE_TABLE_DATA_CONTRIBUTOR: &str = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";

    /// The role's name as Azure shows it.
    pub fn name(id: &str) -> &'static str {
        match id {
            SERVICE_BUS_DATA_SENDER => "Azure Service Bus Data Sender",
            SERVICE_BUS_DATA_RECEIVER => "Azure Service Bus Data Receiver",
            STORAGE_TABLE_DATA_CONTRIBUTOR => "Storage Table Data Contributor",
            _ => "?",
        }
    }
}

/// Queue or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Queue,
    Topic,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Queue => "queue",
            EntityKind::Topic => "topic",
        }
    }
}

/// A Service Bus entity ferry uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceBusEntity {
    /// Restore point events from Event Grid; `ingest` re-queues an event here (scheduled)
    /// when ARM cannot answer.
    EventsQueue,
    /// Copy requests, one session per chain.
    CopyQueue,
    /// Operator alerts.
    AlertsTopic,
}

impl ServiceBusEntity {
    pub const ALL: [ServiceBusEntity; 3] = [
        ServiceBusEntity::EventsQueue,
        ServiceBusEntity::CopyQueue,
        ServiceBusEntity::AlertsTopic,
    ];

    /// The app setting holding the entity's name.
    pub const fn setting(self) -> &'static str {
        match self {
            ServiceBusEntity::EventsQueue => "FERRY_EVENTS_QUEUE",
            ServiceBusEntity::CopyQueue => "FERRY_COPY_QUEUE",
            ServiceBusEntity::AlertsTopic => "FERRY_ALERTS_TOPIC",
        }
    }

    /// The name used when the setting is absent.
    pub const fn default_name(self) -> &'static str {
        match self {
            ServiceBusEntity::EventsQueue => "restore-point-events",
            ServiceBusEntity::CopyQueue => "copy-requests",
            ServiceBusEntity::AlertsTopic => "alerts",
        }
    }

    pub const fn kind(self) -> EntityKind {
        match self {
            ServiceBusEntity::EventsQueue | ServiceBusEntity::CopyQueue => EntityKind::Queue,
            ServiceBusEntity::AlertsTopic => EntityKind::Topic,
        }
    }

    /// Why ferry itself sends to the entity (REST, `POST {entity}/messages`), or `None` if
    /// it never does. [`crate::bus::Outbox`] refuses sends to an entity without one.
    pub const fn ferry_sends(self) -> Option<&'static str> {
        match self {
            ServiceBusEntity::EventsQueue => Some(
                "ingest re-queues an event, scheduled for later, when ARM cannot answer (Event Grid would resend the whole batch)",
            ),
            ServiceBusEntity::CopyQueue => Some(
                "ingest queues copy requests (SessionId = chain, MessageId = dedupe key); a copy request that must wait (ARM unavailable, the chain busy) is re-queued, scheduled",
            ),
            ServiceBusEntity::AlertsTopic => Some(
                "every operator alert, sent before the ledger records it (MessageId = the alert's id)",
            ),
        }
    }

    /// The function the Functions host triggers from the entity (the function.json whose
    /// serviceBusTrigger names `%setting%`), if any.
    pub const fn trigger(self) -> Option<&'static str> {
        match self {
            ServiceBusEntity::EventsQueue => Some(crate::functions::INGEST),
            ServiceBusEntity::CopyQueue => Some(crate::functions::SEQUENCER),
            // Through its `webhook` subscription: the Common Alert Schema webhook.
            ServiceBusEntity::AlertsTopic => Some(crate::functions::ALERT_WEBHOOK),
        }
    }
}

/// The entity names ferry runs with (from [`crate::config::Config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityNames {
    pub events_queue: String,
    pub copy_queue: String,
    pub alerts_topic: String,
}

impl EntityNames {
    /// The defaults of [`ServiceBusEntity::default_name`].
    pub fn defaults() -> Self {
        EntityNames {
            events_queue: ServiceBusEntity::EventsQueue.default_name().into(),
            copy_queue: ServiceBusEntity::CopyQueue.default_name().into(),
            alerts_topic: ServiceBusEntity::AlertsTopic.default_name().into(),
        }
    }

    pub fn from_config(config: &crate::config::Config) -> Self {
        EntityNames {
            events_queue: config.events_queue.clone(),
            copy_queue: config.copy_queue.clone(),
            alerts_topic: config.alerts_topic.clone(),
        }
    }

    pub fn get(&self, entity: ServiceBusEntity) -> &str {
        match entity {
            ServiceBusEntity::EventsQueue => &self.events_queue,
            ServiceBusEntity::CopyQueue => &self.copy_queue,
            ServiceBusEntity::AlertsTopic => &self.alerts_topic,
        }
    }
}

/// A table ferry uses, named by a setting.
#[derive(Debug, Clone, Copy)]
pub struct TableNeed {
    pub setting: &'static str,
    pub role: &'static str,
    pub why: &'static str,
}

/// The ledger: `FERRY_LEDGER` is the table's URL. Entities are queried, inserted, replaced
/// (ETags) and upserted, in entity group transactions; at start ferry asks to create the
/// table and takes "already exists" as success.
pub const LEDGER: TableNeed = TableNeed {
    setting: "FERRY_LEDGER",
    role: roles::STORAGE_TABLE_DATA_CONTRIBUTOR,
    why: "the ledger: chains, copies, progress readings and lineage (query, insert, replace with ETags, upsert)",
};

/// Which side of a copy an ARM action is needed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The policy's source scopes: where the restore points being copied live.
    Source,
    /// The target resource groups: where target collections and copies are created.
    Target,
    /// The drill resource group of each target region: where restore drills create, read and
    /// delete their disks, and nothing else.
    Drill,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
            Side::Drill => "drill",
        }
    }
}

/// One ARM action ferry needs, the [`crate::arm::ArmClient`] operations behind it (their
/// `OP` names) and why.
#[derive(Debug, Clone, Copy)]
pub struct ArmNeed {
    pub side: Side,
    pub action: &'static str,
    pub operations: &'static [&'static str],
    pub why: &'static str,
}

/// Every ARM action ferry's identity needs; nothing on the source side writes or deletes.
pub const ARM_NEEDS: &[ArmNeed] = &[
    ArmNeed {
        side: Side::Source,
        action: "Microsoft.Compute/restorePointCollections/read",
        operations: &["get restore point collection"],
        why: "read the source collection: its tags pick the policy rule, its restore point list finds missed ones ($expand=restorePoints); ARM also checks this read when a target collection names it as its source",
    },
    ArmNeed {
        side: Side::Source,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/read",
        operations: &["get restore point"],
        why: "read the source restore point (copy or not, consistency, disks, security type, encryption); ARM also checks this read when a copy request names it (sourceRestorePoint.id)",
    },
    ArmNeed {
        side: Side::Source,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/read",
        operations: &["list disk restore points", "get disk restore point"],
        why: "read each source disk restore point to reject private-link disks (networkAccessPolicy, diskAccessId) before asking for a copy",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/read",
        operations: &["get restore point collection"],
        why: "find the chain's target collection",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/write",
        operations: &["create restore point collection"],
        why: "create a missing target collection (policy createTargetCollections)",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/read",
        operations: &["get restore point"],
        why: "poll a copy's progress ($expand=instanceView), the readiness check, and adopting a copy that already exists",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/write",
        operations: &["start restore point copy"],
        why: "start a copy: PUT the target restore point with sourceRestorePoint.id",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/delete",
        operations: &["delete restore point"],
        why: "delete an expired copy (past maxCopyDuration, at most the platform's two weeks) from the target so the chain moves on",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/diskEncryptionSets/read",
        operations: &[],
        why: "no call of its own: ARM checks that the caller can read the target disk encryption set a CMK copy request names",
    },
    ArmNeed {
        side: Side::Target,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/read",
        operations: &[],
        why: "no call of its own: ARM checks that the caller can read the copied disk restore point a restore drill's disk PUT names as its sourceResourceId",
    },
    ArmNeed {
        side: Side::Drill,
        action: "Microsoft.Compute/disks/write",
        operations: &["restore disk"],
        why: "restore drills: create a disk from a copied disk restore point (createOption Restore) in the drill resource group",
    },
    ArmNeed {
        side: Side::Drill,
        action: "Microsoft.Compute/disks/read",
        operations: &["get disk", "list disks"],
        why: "restore drills: wait for a drill disk and check it; list the drill resource group to find earlier drills' leftovers by tag",
    },
    ArmNeed {
        side: Side::Drill,
        action: "Microsoft.Compute/disks/delete",
        operations: &["delete disk"],
        why: "restore drills: delete a drill's disks once checked, and earlier drills' leftovers",
    },
    ArmNeed {
        side: Side::Drill,
        action: "Microsoft.Compute/locations/DiskOperations/read",
        operations: &["get disk operation"],
        why: "restore drills: read a drill disk's restore operation (its Azure-AsyncOperation URL) for its endTime, the exact time the disk was ready",
    },
];

/// An ARM action needed only when an opt-in policy setting is on: granted by its own role,
/// at the source scopes, only when the Bicep parameter is true.
#[derive(Debug, Clone, Copy)]
pub struct OptInNeed {
    /// The policy setting (per rule) that makes ferry call it.
    pub policy: &'static str,
    /// The Bicep parameter (infra/main.bicep) that grants it.
    pub bicep_parameter: &'static str,
    pub side: Side,
    pub action: &'static str,
    pub operations: &'static [&'static str],
    pub why: &'static str,
}

/// The opt-in ARM actions (each off by default: the source side then only reads).
pub const OPT_IN_ARM_NEEDS: &[OptInNeed] = &[
    OptInNeed {
        policy: "pruneSource",
        bicep_parameter: "allowSourcePruning",
        side: Side::Source,
        action: "Microsoft.Compute/restorePointCollections/restorePoints/delete",
        operations: &["delete restore point"],
        why: "source pruning: delete source restore points copied to every target (never a chain's base)",
    },
    OptInNeed {
        policy: "protectBase",
        bicep_parameter: "protectBaseRestorePoints",
        side: Side::Source,
        action: "Microsoft.Authorization/locks/write",
        operations: &["lock restore point"],
        why: "base protection: PUT a CanNotDelete management lock on each chain's base restore point (once; ferry never reads or deletes locks)",
    },
];

/// [`crate::arm::ArmClient`] operations that ferry's functions never perform in Azure, so
/// no role grants them: the client can wait on an `Azure-AsyncOperation` URL, but the
/// functions read the restore point itself instead (the poller, every 10 minutes).
/// Listing collections is `ferry plan`'s, run by an operator with their own identity
/// (Reader on the scope), never by the functions.
pub const UNGRANTED_OPERATIONS: &[&str] =
    &["get operation status", "list restore point collections"];

/// Everything above, for `ferry permissions --output json`.
pub fn report() -> Value {
    let mut data_plane = Vec::new();
    for e in ServiceBusEntity::ALL {
        let mut row = |role: &str, why: &str| {
            data_plane.push(json!({
                "setting": e.setting(),
                "defaultName": e.default_name(),
                "resource": format!("Microsoft.ServiceBus/namespaces/{}s", e.kind().as_str()),
                "role": roles::name(role),
                "roleDefinitionId": role,
                "why": why,
            }));
        };
        if let Some(why) = e.ferry_sends() {
            row(roles::SERVICE_BUS_DATA_SENDER, why);
        }
        if let Some(f) = e.trigger() {
            row(
                roles::SERVICE_BUS_DATA_RECEIVER,
                &format!("the Functions host triggers `{f}` from it (serviceBusTrigger, the app's identity)"),
            );
        }
    }
    data_plane.push(json!({
        "setting": LEDGER.setting,
        "defaultName": null,
        "resource": "Microsoft.Storage/storageAccounts/tableServices/tables",
        "role": roles::name(LEDGER.role),
        "roleDefinitionId": LEDGER.role,
        "why": LEDGER.why,
    }));
    let arm: Vec<Value> = ARM_NEEDS
        .iter()
        .map(|n| {
            json!({
                "side": n.side.as_str(),
                "action": n.action,
                "operations": n.operations,
                "why": n.why,
            })
        })
        .collect();
    let opt_in: Vec<Value> = OPT_IN_ARM_NEEDS
        .iter()
        .map(|n| {
            json!({
                "policy": n.policy,
                "bicepParameter": n.bicep_parameter,
                "side": n.side.as_str(),
                "action": n.action,
                "operations": n.operations,
                "why": n.why,
            })
        })
        .collect();
    json!({
        "dataPlane": data_plane,
        "arm": arm,
        "armOptIn": opt_in,
        "armOperationsNotGranted": UNGRANTED_OPERATIONS,
    })
}

/// The report as text, one line per grant.
pub fn report_text() -> String {
    let r = report();
    let mut out = String::from("Data plane (the app's identity):\n");
    for row in r["dataPlane"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<32} on {} named by {}: {}\n",
            row["role"].as_str().unwrap_or(""),
            row["resource"].as_str().unwrap_or(""),
            row["setting"].as_str().unwrap_or(""),
            row["why"].as_str().unwrap_or(""),
        ));
    }
    for side in [Side::Source, Side::Target, Side::Drill] {
        out.push_str(&format!("ARM actions on the {} side:\n", side.as_str()));
        for n in ARM_NEEDS.iter().filter(|n| n.side == side) {
            out.push_str(&format!("  {}: {}\n", n.action, n.why));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    /// (setting, function) for every serviceBusTrigger in functions/*/function.json.
    fn triggers_in_function_json() -> BTreeSet<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions");
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path().join("function.json");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let function = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let doc: Value = serde_json::from_str(&text).unwrap();
            for b in doc["bindings"].as_array().unwrap() {
                let ty = b["type"].as_str().unwrap_or("").to_ascii_lowercase();
                if !ty.starts_with("servicebus") {
                    continue;
                }
                // ferry sends itself (REST): an output binding would be a send this
                // declaration does not see.
                assert_eq!(
                    ty, "servicebustrigger",
                    "{function}: Service Bus binding {b} is not a trigger"
                );
                let name = b["queueName"]
                    .as_str()
                    .or(b["topicName"].as_str())
                    .unwrap_or_else(|| panic!("{function}: trigger without queueName/topicName"));
                let setting = name
                    .strip_prefix('%')
                    .and_then(|s| s.strip_suffix('%'))
                    .unwrap_or_else(|| {
                        panic!("{function}: {name:?} is not an app setting reference (%SETTING%)")
                    });
                out.insert((setting.to_string(), function.clone()));
            }
        }
        out
    }

    #[test]
    fn received_entities_are_exactly_the_service_bus_triggers() {
        let declared: BTreeSet<(String, String)> = ServiceBusEntity::ALL
            .iter()
            .filter_map(|e| {
                e.trigger()
                    .map(|f| (e.setting().to_string(), f.to_string()))
            })
            .collect();
        let found = triggers_in_function_json();
        assert!(!found.is_empty());
        assert_eq!(declared, found);
    }

    #[test]
    fn settings_and_default_names_are_distinct_and_valid() {
        let settings: BTreeSet<_> = ServiceBusEntity::ALL.iter().map(|e| e.setting()).collect();
        let names: BTreeSet<_> = ServiceBusEntity::ALL
            .iter()
            .map(|e| e.default_name())
            .collect();
        assert_eq!(settings.len(), ServiceBusEntity::ALL.len());
        assert_eq!(names.len(), ServiceBusEntity::ALL.len());
        for e in ServiceBusEntity::ALL {
            crate::bus::validate_entity_name(e.default_name()).unwrap();
            assert_eq!(EntityNames::defaults().get(e), e.default_name(), "{e:?}");
        }
    }

    /// Every `.rs` file under `src/arm`, with its path relative to `src/arm`.
    fn arm_sources() -> Vec<(String, String)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    out.push((name, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/arm");
        let mut out = Vec::new();
        walk(&root, &root, &mut out);
        out.sort();
        out
    }

    /// Every `const OP` in the ARM client (any file under `src/arm`) is either behind a
    /// declared action or declared as not granted: a new ARM call cannot go unnoticed by the
    /// role definitions.
    #[test]
    fn every_arm_client_operation_is_declared() {
        let sources = arm_sources();
        let mut ops = BTreeSet::new();
        let mut files = BTreeSet::new();
        for (path, src) in &sources {
            for op in src
                .lines()
                .filter_map(|l| l.trim().strip_prefix("const OP: &str = \""))
                .map(|rest| rest.trim_end_matches("\";"))
            {
                ops.insert(op.to_string());
                files.insert(path.as_str());
            }
        }
        // The scan sees the operations where they live (the client and the operation poller).
        assert!(ops.len() >= 8, "{ops:?}");
        assert!(
            files.contains("client.rs") && files.contains("lro.rs"),
            "{files:?}"
        );
        let ops: BTreeSet<&str> = ops.iter().map(String::as_str).collect();
        let declared: BTreeSet<&str> = ARM_NEEDS
            .iter()
            .flat_map(|n| n.operations.iter().copied())
            .chain(UNGRANTED_OPERATIONS.iter().copied())
            .chain(
                OPT_IN_ARM_NEEDS
                    .iter()
                    .flat_map(|n| n.operations.iter().copied()),
            )
            .collect();
        assert_eq!(ops, declared);
    }

    #[test]
    fn source_side_only_reads() {
        for n in ARM_NEEDS.iter().filter(|n| n.side == Side::Source) {
            assert!(n.action.ends_with("/read"), "{}", n.action);
        }
        let actions: BTreeSet<(&str, &str)> = ARM_NEEDS
            .iter()
            .map(|n| (n.side.as_str(), n.action))
            .collect();
        assert_eq!(
            actions.len(),
            ARM_NEEDS.len(),
            "an action is declared twice"
        );
    }

    #[test]
    fn report_lists_a_sender_and_a_receiver_where_needed() {
        let r = report();
        let rows: BTreeSet<(String, String)> = r["dataPlane"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["setting"].as_str().unwrap().to_string(),
                    row["role"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String)> = [
            ("FERRY_EVENTS_QUEUE", "Azure Service Bus Data Sender"),
            ("FERRY_EVENTS_QUEUE", "Azure Service Bus Data Receiver"),
            ("FERRY_COPY_QUEUE", "Azure Service Bus Data Sender"),
            ("FERRY_COPY_QUEUE", "Azure Service Bus Data Receiver"),
            ("FERRY_ALERTS_TOPIC", "Azure Service Bus Data Sender"),
            ("FERRY_ALERTS_TOPIC", "Azure Service Bus Data Receiver"),
            ("FERRY_LEDGER", "Storage Table Data Contributor"),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(rows, want);
        assert!(report_text().contains("FERRY_EVENTS_QUEUE"));
    }
}
