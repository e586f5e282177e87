//! `Microsoft.Compute/restorePointCollections`: the collection, its list page, and the body of
//! the PUT that creates a cross-region copy target.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::common::{Extra, ResourceRef};
use super::restore_point::RestorePoint;

/// `Microsoft.Compute/restorePointCollections`.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollection {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub resource_type: Option<String>,
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub properties: Option<RestorePointCollectionProperties>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionProperties {
    pub source: Option<CollectionSource>,
    pub restore_point_collection_id: Option<String>,
    pub provisioning_state: Option<String>,
    pub restore_points: Option<Vec<RestorePoint>>,
    pub instant_access: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The resource a collection was created from: a VM, or (for a copy target) the source
/// collection. `location` is read-only.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CollectionSource {
    pub id: Option<String>,
    pub location: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl RestorePointCollection {
    pub fn provisioning_state(&self) -> Option<&str> {
        self.properties.as_ref()?.provisioning_state.as_deref()
    }

    /// `properties.source.id`: the VM, or the source collection of a copy target.
    pub fn source_id(&self) -> Option<&str> {
        self.properties.as_ref()?.source.as_ref()?.id.as_deref()
    }

    /// `properties.source.location`: where the source lives.
    pub fn source_location(&self) -> Option<&str> {
        self.properties
            .as_ref()?
            .source
            .as_ref()?
            .location
            .as_deref()
    }

    /// The restore points, present only when fetched with `$expand=restorePoints`.
    pub fn restore_points(&self) -> &[RestorePoint] {
        self.properties
            .as_ref()
            .and_then(|p| p.restore_points.as_deref())
            .unwrap_or(&[])
    }
}

/// Body of the PUT that creates a restore point collection in a target region for
/// cross-region copies: `{"location", "properties":{"source":{"id": <source collection>}},
/// "tags"}` (learn.microsoft.com, "Cross-region copy of VM restore points", and the example
/// `RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCollectionRequest {
    pub location: String,
    pub properties: CreateCollectionProperties,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateCollectionProperties {
    pub source: ResourceRef,
}

impl CreateCollectionRequest {
    pub fn new(
        location: impl Into<String>,
        source_collection_id: impl Into<String>,
        tags: BTreeMap<String, String>,
    ) -> Self {
        CreateCollectionRequest {
            location: location.into(),
            properties: CreateCollectionProperties {
                source: ResourceRef::new(source_collection_id),
            },
            tags,
        }
    }
}

/// One page of a restore point collection list.
#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestorePointCollectionList {
    pub value: Vec<RestorePointCollection>,
    pub next_link: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_collection_request_shape() {
        let mut tags = BTreeMap::new();
        tags.insert("ferry".to_string(), "target".to_string());
        let v = serde_json::to_value(CreateCollectionRequest::new("westus2", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src", tags)).unwrap();
        assert_eq!(
            v,
            json!({"location": "westus2",
                   "properties": {"source": {"id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/src"}},
                   "tags": {"ferry": "target"}})
        );
    }
}
