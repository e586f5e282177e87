//! The App Service / Functions managed identity, through `azure_identity`.

use super::{one_line, AccessToken, AuthError, TokenProvider};
use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};
use std::sync::Arc;

/// Set by App Service / Functions when the app has a managed identity.
const IDENTITY_ENDPOINT: &str = "IDENTITY_ENDPOINT";
/// Secret the platform expects back in `X-IDENTITY-HEADER`.
const IDENTITY_HEADER: &str = "IDENTITY_HEADER";

/// How [`ManagedIdentity`] is set up.
#[derive(Debug, Clone)]
pub struct ManagedIdentityOptions {
    /// Client id (a GUID) of a user-assigned identity; `None` for the system-assigned one.
    pub client_id: Option<String>,
    /// Further attempts after a failed token request (network error, 408, 429, 5xx), with
    /// exponential backoff from 200 ms. 0 disables retries. Callers above retry too, so
    /// this stays small rather than azure_core's default of 8 attempts over a minute.
    pub max_retries: u32,
}

impl Default for ManagedIdentityOptions {
    fn default() -> Self {
        ManagedIdentityOptions {
            client_id: None,
            max_retries: 3,
        }
    }
}

/// Tokens from the App Service / Functions managed identity endpoint
/// (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), system-assigned or user-assigned by client id.
///
/// azure_identity keeps its own per-scope cache inside the credential; wrap this in
/// [`super::CachedTokens`] anyway for single-flight fetches and a scope-independent lock.
pub struct ManagedIdentity {
    credential: Arc<ManagedIdentityCredential>,
}

impl ManagedIdentity {
    /// System-assigned when `client_id` is `None`, else the user-assigned identity with
    /// that client id. Default retries.
    pub fn new(client_id: Option<&str>) -> Result<Self, AuthError> {
        Self::with_options(ManagedIdentityOptions {
            client_id: client_id.map(str::to_owned),
            ..Default::default()
        })
    }

    pub fn with_options(options: ManagedIdentityOptions) -> Result<Self, AuthError> {
        let user_assigned_id = user_assigned(options.client_id.as_deref())?;
        check_app_service_env(|name| std::env::var(name).ok())?;
        let retry = if options.max_retries == 0 {
            RetryOptions::none()
        } else {
            RetryOptions::exponential(ExponentialRetryOptions {
                initial_delay: azure_core::time::Duration::milliseconds(200),
                max_retries: options.max_retries,
                max_total_elapsed: azure_core::time::Duration::seconds(30),
                max_delay: azure_core::time::Duration::seconds(5),
            })
        };
        let credential = ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
            user_assigned_id,
            client_options: ClientOptions {
                retry,
                // ferry's own HTTP client: azure_core is built without one of its own.
                transport: Some(
                    super::transport::transport()
                        .map_err(|err| AuthError::Unavailable(one_line(&err)))?,
                ),
                ..Default::default()
            },
        }))
        .map_err(|err| AuthError::Unavailable(one_line(&err)))?;
        Ok(ManagedIdentity { credential })
    }
}

#[async_trait::async_trait]
impl TokenProvider for ManagedIdentity {
    async fn token(&self, scope: &str) -> Result<AccessToken, AuthError> {
        if scope.trim().is_empty() {
            return Err(AuthError::Unavailable(
                "managed identity: empty token scope".into(),
            ));
        }
        let token = self
            .credential
            .get_token(&[scope], None)
            .await
            .map_err(map_error)?;
        Ok(AccessToken {
            secret: token.token.secret().to_owned(),
            expires_on: token.expires_on,
        })
    }

    fn kind(&self) -> &'static str {
        "managed-identity"
    }
}

fn user_assigned(client_id: Option<&str>) -> Result<Option<UserAssignedId>, AuthError> {
    let Some(id) = client_id else {
        return Ok(None);
    };
    let id = id.trim();
    uuid::Uuid::parse_str(id).map_err(|_| {
        AuthError::Unavailable(format!(
            "managed identity client id '{id}' is not a GUID \
             (give the user-assigned identity's client id)"
        ))
    })?;
    Ok(Some(UserAssignedId::ClientId(id.to_owned())))
}

/// Without both settings azure_identity would fall back to the VM metadata endpoint
/// (169.254.169.254) and retry it for over a minute; in a Functions app their absence
/// means the identity is not enabled, so say that at once.
fn check_app_service_env(var: impl Fn(&str) -> Option<String>) -> Result<(), AuthError> {
    let missing: Vec<&str> = [IDENTITY_ENDPOINT, IDENTITY_HEADER]
        .into_iter()
        .filter(|name| var(name).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if !missing.is_empty() {
        return Err(AuthError::Unavailable(format!(
            "managed identity needs {IDENTITY_ENDPOINT} and {IDENTITY_HEADER}, which App \
             Service / Functions set when the app has a managed identity; missing: {}. \
             Enable the identity, or set FERRY_CREDENTIAL=azure-cli (local) or \
             dev-token:<token> (emulator)",
            missing.join(", ")
        )));
    }
    if let Some(endpoint) = var(IDENTITY_ENDPOINT) {
        if url::Url::parse(endpoint.trim()).is_err() {
            return Err(AuthError::Unavailable(format!(
                "{IDENTITY_ENDPOINT} is not a URL: '{endpoint}'"
            )));
        }
    }
    Ok(())
}

/// Sorts an azure_identity failure into "fix the configuration" and "try again later".
fn map_error(err: azure_core::Error) -> AuthError {
    let message = one_line(&err);
    // azure_identity wraps the cause in `Credential` errors; the first other kind down
    // the chain says what actually happened.
    let mut current = Some(&err);
    while let Some(e) = current {
        match e.kind() {
            ErrorKind::Credential => current = e.downcast_ref::<azure_core::Error>(),
            ErrorKind::HttpResponse { status, .. } => {
                let code = u16::from(*status);
                // 400: identity not assigned to this app; 401/403: wrong X-IDENTITY-HEADER;
                // 404: wrong endpoint. None of these heal by waiting.
                let permanent = (400..500).contains(&code) && code != 408 && code != 429;
                return if permanent {
                    AuthError::Unavailable(format!("{message} (HTTP {code})"))
                } else {
                    AuthError::Transient(format!("{message} (HTTP {code})"))
                };
            }
            // Network failures, timeouts, a garbled response: the service may recover.
            _ => return AuthError::Transient(message),
        }
    }
    // Nothing but credential errors: a configuration problem (bad scope, unsupported
    // identity kind, CLI not logged in).
    AuthError::Unavailable(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::StatusCode;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn env_check_names_missing_settings() {
        let err = check_app_service_env(env(&[])).expect_err("must fail");
        let msg = err.to_string();
        assert!(matches!(err, AuthError::Unavailable(_)));
        assert!(msg.contains("IDENTITY_ENDPOINT, IDENTITY_HEADER"), "{msg}");

        let err = check_app_service_env(env(&[(IDENTITY_ENDPOINT, "http://127.0.0.1:1/x")]))
            .expect_err("must fail");
        assert!(
            err.to_string().contains("missing: IDENTITY_HEADER"),
            "{err}"
        );

        let err = check_app_service_env(env(&[(IDENTITY_ENDPOINT, "  "), (IDENTITY_HEADER, "h")]))
            .expect_err("blank counts as missing");
        assert!(
            err.to_string().contains("missing: IDENTITY_ENDPOINT"),
            "{err}"
        );
    }

    #[test]
    fn env_check_rejects_non_url_endpoint() {
        let err = check_app_service_env(env(&[
            (IDENTITY_ENDPOINT, "not a url"),
            (IDENTITY_HEADER, "h"),
        ]))
        .expect_err("must fail");
        assert!(err.to_string().contains("not a URL"), "{err}");
        check_app_service_env(env(&[
            (IDENTITY_ENDPOINT, "http://127.0.0.1:41741/msi/token"),
            (IDENTITY_HEADER, "h"),
        ]))
        .expect("valid");
    }

    fn http_error(code: u16) -> azure_core::Error {
        let inner = azure_core::Error::new(
            ErrorKind::HttpResponse {
                status: StatusCode::from(code),
                error_code: None,
                raw_response: None,
            },
            "The request failed",
        );
        // The shape azure_identity returns: a Credential error wrapping the cause.
        azure_core::Error::with_error(
            ErrorKind::Credential,
            inner,
            "ManagedIdentityCredential authentication failed. The request failed\nTo troubleshoot, visit https://aka.ms/x",
        )
    }

    #[test]
    fn client_errors_are_unavailable_server_errors_transient() {
        for code in [400, 401, 403, 404] {
            let err = map_error(http_error(code));
            assert!(matches!(err, AuthError::Unavailable(_)), "{code}: {err}");
            assert!(err.to_string().contains(&format!("HTTP {code}")), "{err}");
            assert!(!err.to_string().contains('\n'));
        }
        for code in [408, 429, 500, 502, 503, 504] {
            let err = map_error(http_error(code));
            assert!(matches!(err, AuthError::Transient(_)), "{code}: {err}");
        }
    }

    #[test]
    fn network_errors_are_transient_config_errors_unavailable() {
        let io = azure_core::Error::with_error(
            ErrorKind::Credential,
            azure_core::Error::with_message(ErrorKind::Connection, "connection refused"),
            "ManagedIdentityCredential authentication failed. connection refused",
        );
        assert!(matches!(map_error(io), AuthError::Transient(_)));
        let config = azure_core::Error::with_message(ErrorKind::Credential, "invalid scope");
        assert!(matches!(map_error(config), AuthError::Unavailable(_)));
    }

    #[test]
    fn client_id_must_be_a_guid() {
        assert!(user_assigned(None).expect("none").is_none());
        let id = "5E29463D-71DA-4FE0-8E69-999B57DB23B0";
        match user_assigned(Some(&format!(" {id} "))).expect("guid") {
            Some(UserAssignedId::ClientId(got)) => assert_eq!(got, id),
            other => panic!("unexpected {other:?}"),
        }
        let err = user_assigned(Some("my-identity")).expect_err("must fail");
        assert!(
            err.to_string().contains("'my-identity' is not a GUID"),
            "{err}"
        );
    }
}
