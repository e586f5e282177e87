//! Where bearer tokens come from: managed identity in Azure, the Azure CLI on an operator's
//! machine, or a fixed development token for the emulator. Tokens are secrets: they are
//! never logged, and [`AccessToken`]'s `Debug` hides them.

use std::fmt;
use time::OffsetDateTime;

/// OAuth scope for Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// OAuth scope for Service Bus data-plane calls.
pub const SERVICE_BUS_SCOPE: &str = "https://servicebus.azure.net/.default";
/// OAuth scope for Storage (Table) data-plane calls.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

#[derive(Clone)]
pub struct AccessToken {
    pub secret: String,
    pub expires_on: OffsetDateTime,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The credential is not usable here (no managed identity endpoint, CLI not logged in):
    /// a configuration problem, not worth retrying.
    #[error("credential unavailable: {0}")]
    Unavailable(String),
    /// The token service failed; may succeed later.
    #[error("token request failed: {0}")]
    Transient(String),
}

/// A source of bearer tokens.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + 'static {
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError>;
    /// For logs: `managed-identity`, `azure-cli`, `dev-token` (never the token itself).
    fn kind(&self) -> &'static str;
}

/// A fixed token for the emulator and local tests (`FERRY_CREDENTIAL=dev-token:<token>`).
pub struct DevToken(String);

impl DevToken {
    pub fn new(token: impl Into<String>) -> Self {
        DevToken(token.into())
    }
}

#[async_trait::async_trait]
impl TokenProvider for DevToken {
    async fn token(&self, _scope: &str) -> Result<AccessToken, AuthError> {
        Ok(AccessToken {
            secret: self.0.clone(),
            expires_on: OffsetDateTime::now_utc() + time::Duration::days(365),
        })
    }
    fn kind(&self) -> &'static str {
        "dev-token"
    }
}
