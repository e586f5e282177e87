//! Where bearer tokens come from: managed identity in Azure, the Azure CLI on an operator's
//! machine, or a fixed development token for the emulator. Tokens are secrets: they are
//! never logged, and [`AccessToken`]'s `Debug` hides them.
//!
//! Pick a provider with [`from_setting`] (the `FERRY_CREDENTIAL` app setting). Real
//! credentials come back wrapped in [`CachedTokens`], which keeps one token per scope until
//! five minutes before it expires and lets concurrent callers share one fetch.

mod azure_cli;
mod cache;
mod managed_identity;
mod transport;

pub use azure_cli::AzureCli;
pub use cache::{CachedTokens, REFRESH_MARGIN};
pub use managed_identity::{ManagedIdentity, ManagedIdentityOptions};

use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// OAuth scope for Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// OAuth scope for Service Bus data-plane calls.
pub const SERVICE_BUS_SCOPE: &str = "https://servicebus.azure.net/.default";
/// OAuth scope for Storage (Table) data-plane calls.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// The app setting that selects the credential.
pub const CREDENTIAL_SETTING: &str = "FERRY_CREDENTIAL";

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

// Clone so that one failed shared fetch can be handed to every caller waiting on it.
#[derive(Debug, Clone, thiserror::Error)]
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

/// Builds the token provider named by `FERRY_CREDENTIAL`:
///
/// - `managed-identity` (also the default when the setting is empty): the App Service /
///   Functions managed identity, system-assigned, or user-assigned when
///   `managed_identity_client_id` is given (blank counts as not given);
/// - `azure-cli`: `az account get-access-token` on an operator's machine;
/// - `dev-token:<token>`: a fixed token for the emulator.
///
/// Real credentials are wrapped in [`CachedTokens`]; the dev token is returned as is.
pub fn from_setting(
    setting: &str,
    managed_identity_client_id: Option<&str>,
) -> Result<Arc<dyn TokenProvider>, AuthError> {
    let setting = setting.trim();
    if let Some(token) = setting.strip_prefix("dev-token:") {
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::Unavailable(format!(
                "{CREDENTIAL_SETTING}=dev-token: needs a token after the colon (dev-token:<token>)"
            )));
        }
        return Ok(Arc::new(DevToken::new(token)));
    }
    match setting {
        "" | "managed-identity" => {
            let client_id = managed_identity_client_id
                .map(str::trim)
                .filter(|id| !id.is_empty());
            let provider = ManagedIdentity::new(client_id)?;
            Ok(Arc::new(CachedTokens::new(Arc::new(provider))))
        }
        "azure-cli" => Ok(Arc::new(CachedTokens::new(Arc::new(AzureCli::new()?)))),
        other => {
            // Show only what precedes a colon: a mistyped `dev_token:<secret>` must not end
            // up in a log line.
            let shown = match other.split_once(':') {
                Some((head, _)) => format!("{head}:…"),
                None => other.to_string(),
            };
            Err(AuthError::Unavailable(format!(
                "{CREDENTIAL_SETTING} has unsupported value '{shown}'; allowed values: \
                 managed-identity (default), azure-cli, dev-token:<token>"
            )))
        }
    }
}

/// azure_identity messages end with a troubleshooting link on a second line, and az's
/// stderr may span several; log lines want one.
fn one_line(err: &azure_core::Error) -> String {
    err.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dev_token_setting_yields_fixed_token() {
        let provider = from_setting("dev-token:abc123", None).expect("dev token");
        assert_eq!(provider.kind(), "dev-token");
        let token = provider.token(ARM_SCOPE).await.expect("token");
        assert_eq!(token.secret, "abc123");
    }

    #[test]
    fn dev_token_needs_a_token() {
        for setting in ["dev-token:", "dev-token:   "] {
            let err = from_setting(setting, None).err().expect("must fail");
            let msg = err.to_string();
            assert!(msg.contains("FERRY_CREDENTIAL"), "{msg}");
            assert!(msg.contains("dev-token:<token>"), "{msg}");
        }
    }

    #[test]
    fn unknown_setting_names_the_setting_and_allowed_values() {
        let err = from_setting("client-secret", None)
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(matches!(err, AuthError::Unavailable(_)));
        for needle in [
            "FERRY_CREDENTIAL",
            "client-secret",
            "managed-identity",
            "azure-cli",
            "dev-token:<token>",
        ] {
            assert!(msg.contains(needle), "{needle} missing from {msg}");
        }
    }

    #[test]
    fn unknown_setting_does_not_echo_what_follows_a_colon() {
        let err = from_setting("dev_token:supersecret", None)
            .err()
            .expect("must fail");
        let msg = err.to_string();
        assert!(!msg.contains("supersecret"), "{msg}");
        assert!(msg.contains("dev_token:"), "{msg}");
    }

    #[tokio::test]
    async fn azure_cli_setting_is_cached_cli() {
        let provider = from_setting(" azure-cli ", None).expect("azure-cli");
        assert_eq!(provider.kind(), "azure-cli");
    }

    #[test]
    fn access_token_debug_hides_secret() {
        let token = AccessToken {
            secret: "very-secret".into(),
            expires_on: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(!format!("{token:?}").contains("very-secret"));
    }
}
