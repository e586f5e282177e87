//! ARM's error envelope, as ARM sends it and as the emulator answers with it.

use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use super::common::Extra;

/// ARM's error envelope: `{"error":{"code","message","target","details"}}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmErrorBody {
    pub error: ArmErrorDetail,
}

#[skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArmErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    pub target: Option<String>,
    pub details: Option<Vec<ArmErrorDetail>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ArmErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ArmErrorBody {
            error: ArmErrorDetail {
                code: code.into(),
                message: message.into(),
                ..Default::default()
            },
        }
    }
}
