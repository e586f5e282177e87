//! Tokens from the Azure CLI, for operators running ferry against real Azure from their
//! own machine (`az login` first).

use super::{one_line, AccessToken, AuthError, TokenProvider};
use azure_core::credentials::TokenCredential;
use azure_identity::{AzureCliCredential, AzureCliCredentialOptions};
use std::sync::Arc;

/// Runs `az account get-access-token --scope <scope> -o json` through azure_identity.
pub struct AzureCli {
    credential: Arc<AzureCliCredential>,
}

impl AzureCli {
    pub fn new() -> Result<Self, AuthError> {
        Self::build(AzureCliCredentialOptions::default())
    }

    /// Same, but running `az` through `executor` (tests point it at a stand-in `az`).
    #[cfg(test)]
    fn with_executor(executor: Arc<dyn azure_identity::Executor>) -> Result<Self, AuthError> {
        Self::build(AzureCliCredentialOptions {
            executor: Some(executor),
            ..Default::default()
        })
    }

    fn build(options: AzureCliCredentialOptions) -> Result<Self, AuthError> {
        let credential = AzureCliCredential::new(Some(options))
            .map_err(|err| AuthError::Unavailable(one_line(&err)))?;
        Ok(AzureCli { credential })
    }
}

#[async_trait::async_trait]
impl TokenProvider for AzureCli {
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        // Every CLI failure (not installed, not logged in, too old, no network) needs the
        // operator's hand, so all of them are `Unavailable`.
        let token = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(|err| AuthError::Unavailable(one_line(&err)))?;
        Ok(AccessToken {
            secret: token.token.secret().to_owned(),
            expires_on: token.expires_on,
        })
    }

    fn kind(&self) -> &'static str {
        "azure-cli"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::io;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::Output;

    /// Runs the command azure_identity builds (`/bin/sh -c "cd /bin && az …"`) for real,
    /// with a directory holding a scripted `az` first on the child's PATH, so the test
    /// leaves the process environment alone.
    #[derive(Debug)]
    struct PathExecutor(PathBuf);

    #[async_trait::async_trait]
    impl azure_identity::Executor for PathExecutor {
        async fn run(&self, program: &OsStr, args: &[&OsStr]) -> io::Result<Output> {
            let path = format!("{}:/usr/bin:/bin", self.0.display());
            tokio::process::Command::new(program)
                .args(args)
                .env("PATH", path)
                .output()
                .await
        }
    }

    fn script(dir: &Path, body: &str) {
        let path = dir.join("az");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write az");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[tokio::test]
    async fn parses_cli_token_and_passes_scope() {
        let dir = tempfile::tempdir().expect("tempdir");
        let args_file = dir.path().join("args");
        script(
            dir.path(),
            &format!(
                "echo \"$@\" > {}\necho '{{\"accessToken\":\"cli-secret\",\"expiresOn\":\"2026-01-01 01:00:00.000000\",\"expires_on\":1767229200,\"subscription\":\"s\",\"tenant\":\"t\",\"tokenType\":\"Bearer\"}}'",
                args_file.display()
            ),
        );
        let cli = AzureCli::with_executor(Arc::new(PathExecutor(dir.path().to_owned())))
            .expect("credential");
        let token = cli.token(crate::auth::ARM_SCOPE).await.expect("token");
        assert_eq!(token.secret, "cli-secret");
        assert_eq!(token.expires_on.unix_timestamp(), 1_767_229_200);
        let args = std::fs::read_to_string(&args_file).expect("args");
        assert!(
            args.contains(
                "account get-access-token -o json --scope https://management.azure.com/.default"
            ),
            "{args}"
        );
        assert_eq!(cli.kind(), "azure-cli");
    }

    #[tokio::test]
    async fn not_logged_in_is_unavailable_with_cli_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        script(
            dir.path(),
            "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1",
        );
        let cli = AzureCli::with_executor(Arc::new(PathExecutor(dir.path().to_owned())))
            .expect("credential");
        let err = cli
            .token(crate::auth::ARM_SCOPE)
            .await
            .expect_err("must fail");
        assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("az login"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[tokio::test]
    async fn missing_az_is_unavailable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cli = AzureCli::with_executor(Arc::new(PathExecutor(dir.path().to_owned())))
            .expect("credential");
        let err = cli
            .token(crate::auth::ARM_SCOPE)
            .await
            .expect_err("must fail");
        assert!(matches!(err, AuthError::Unavailable(_)), "{err}");
        assert!(err.to_string().contains("az not found"), "{err}");
    }
}
