//! The ARM REST client for the restore point surface: its configuration, and one method per
//! ARM operation it calls. Each operation names itself in a `const OP`, which
//! `src/permissions.rs` maps to the role action it needs.
//!
//! How a request goes out (URLs from typed ids, links kept on the endpoint, pacing, retries,
//! `Retry-After`) is in `transport.rs`; polling long-running operations in `lro.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::error::ArmError;
use super::model::{
    CopyRequest, CreateCollectionRequest, DiskRestorePoint, DiskRestorePointList, Paged,
    RestorePoint, RestorePointCollection, RestorePointCollectionList, RestorePointOrigin,
    RestorePointProgress,
};
use super::ratelimit::{Budget, RateLimit, SubscriptionLimiter};
use super::transport::{api_error, decode};
use crate::auth::TokenProvider;
use crate::ids::{CollectionId, DiskRestorePointId, RestorePointId};

pub use super::transport::parse_retry_after;

/// Public ARM endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// Compute RP api-version for restore points and collections.
pub const DEFAULT_COMPUTE_API_VERSION: &str = "2025-11-01";
/// Disk RP api-version for disk restore points.
pub const DEFAULT_DISK_API_VERSION: &str = "2026-03-02";

const USER_AGENT: &str = concat!("restore-point-ferry/", env!("CARGO_PKG_VERSION"));

/// A list that keeps handing out `nextLink`s beyond this is treated as broken.
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone)]
pub struct ArmConfig {
    pub endpoint: Url,
    pub compute_api_version: String,
    pub disk_api_version: String,
    /// Attempts per call, including the first (429, 5xx and connection errors are retried).
    pub max_attempts: u32,
    /// Upper bound of one backoff sleep; a `Retry-After` longer than this ends the call with
    /// [`ArmError::Throttled`] so the caller can reschedule instead of blocking.
    pub max_backoff: Duration,
    pub read_limit: Option<RateLimit>,
    pub write_limit: Option<RateLimit>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Default for ArmConfig {
    fn default() -> Self {
        ArmConfig {
            endpoint: Url::parse(DEFAULT_ENDPOINT).expect("constant URL parses"),
            compute_api_version: DEFAULT_COMPUTE_API_VERSION.to_string(),
            disk_api_version: DEFAULT_DISK_API_VERSION.to_string(),
            max_attempts: 6,
            max_backoff: Duration::from_secs(60),
            read_limit: Some(RateLimit::ARM_READS),
            write_limit: Some(RateLimit::ARM_WRITES),
            timeout: Duration::from_secs(60),
        }
    }
}

/// ARM's answer to a long-running PUT: the resource as ARM answered it, and where to follow
/// the operation.
#[derive(Debug, Clone)]
pub struct Started<T> {
    pub resource: T,
    pub async_operation: Option<Url>,
    pub location: Option<Url>,
    pub status: u16,
}

/// The answer to the PUT that starts a cross-region copy.
pub type StartedCopy = Started<RestorePoint>;

/// The answer to a DELETE.
#[derive(Debug, Clone, PartialEq)]
pub enum Deleted {
    /// ARM accepted the delete (200/202/204); a 202 carries the operation to poll.
    Done {
        status: u16,
        async_operation: Option<Url>,
        location: Option<Url>,
    },
    /// It was not there (404): deleting is done either way.
    AlreadyGone,
}

impl Deleted {
    /// The URL to poll, preferring `Azure-AsyncOperation` over `Location`.
    pub fn operation_url(&self) -> Option<&Url> {
        match self {
            Deleted::Done {
                async_operation,
                location,
                ..
            } => async_operation.as_ref().or(location.as_ref()),
            Deleted::AlreadyGone => None,
        }
    }
}

pub struct ArmClient {
    pub(super) http: reqwest::Client,
    pub(super) config: ArmConfig,
    pub(super) tokens: Arc<dyn TokenProvider>,
    pub(super) limiter: SubscriptionLimiter,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("config", &self.config)
            .field("tokens", &self.tokens.kind())
            .finish()
    }
}

impl ArmClient {
    pub fn new(config: ArmConfig, tokens: Arc<dyn TokenProvider>) -> Result<Self, ArmError> {
        let ep = &config.endpoint;
        // A bearer token may cross plain HTTP only on this machine (emulator, tests).
        crate::endpoint::require_secure("ARM endpoint", ep).map_err(ArmError::InvalidConfig)?;
        if ep.cannot_be_a_base() || ep.host().is_none() {
            return Err(ArmError::InvalidConfig(format!(
                "endpoint {ep} is not a base URL"
            )));
        }
        if ep.query().is_some() || ep.fragment().is_some() {
            return Err(ArmError::InvalidConfig(format!(
                "endpoint {ep} must not carry a query or fragment"
            )));
        }
        for (name, v) in [
            ("compute_api_version", &config.compute_api_version),
            ("disk_api_version", &config.disk_api_version),
        ] {
            let ok = v.len() >= 10
                && v.len() <= 32
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if !ok {
                return Err(ArmError::InvalidConfig(format!(
                    "{name} {v:?} is not an api-version like 2025-11-01"
                )));
            }
        }
        if config.max_attempts == 0 {
            return Err(ArmError::InvalidConfig(
                "max_attempts must be at least 1".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(ArmError::InvalidConfig("timeout must be positive".into()));
        }
        for l in config.read_limit.iter().chain(config.write_limit.iter()) {
            l.validate().map_err(ArmError::InvalidConfig)?;
        }
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.timeout)
            // ARM links are absolute and followed explicitly; a redirect would carry the
            // token somewhere unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ArmError::InvalidConfig(format!("HTTP client: {e}")))?;
        let limiter = SubscriptionLimiter::new(config.read_limit, config.write_limit);
        Ok(ArmClient {
            http,
            config,
            tokens,
            limiter,
        })
    }

    pub fn config(&self) -> &ArmConfig {
        &self.config
    }

    /// GET a restore point collection; `None` if it does not exist.
    pub async fn get_collection(
        &self,
        id: &CollectionId,
        expand_restore_points: bool,
    ) -> Result<Option<RestorePointCollection>, ArmError> {
        const OP: &str = "get restore point collection";
        let url = self.url(
            &id.to_id_string(),
            &self.config.compute_api_version,
            expand_restore_points.then_some("restorePoints"),
        );
        self.get_if_exists(OP, &url).await
    }

    /// PUT a restore point collection in a target region whose source is `source`
    /// (the collection copies will come from).
    pub async fn create_collection(
        &self,
        id: &CollectionId,
        location: &str,
        source: &CollectionId,
        tags: BTreeMap<String, String>,
    ) -> Result<RestorePointCollection, ArmError> {
        const OP: &str = "create restore point collection";
        let url = self.url(&id.to_id_string(), &self.config.compute_api_version, None);
        let body = Self::body(
            OP,
            &CreateCollectionRequest::new(location, source.to_string(), tags),
        )?;
        let raw = self
            .send(OP, Method::PUT, &url, Budget::Write, Some(body))
            .await?;
        match raw.status {
            200 | 201 => decode(OP, &raw.body),
            _ => Err(api_error(&raw)),
        }
    }

    /// GET a restore point (with `$expand=instanceView` for replication progress).
    pub async fn get_restore_point(
        &self,
        id: &RestorePointId,
        expand_instance_view: bool,
    ) -> Result<Option<RestorePoint>, ArmError> {
        self.read_restore_point(id, expand_instance_view).await
    }

    /// GET a restore point for whether it is a copy and of what (ingest's read; `None` if it
    /// does not exist). The same request as [`Self::get_restore_point`] without the instance
    /// view, decoded into [`RestorePointOrigin`].
    pub async fn get_restore_point_origin(
        &self,
        id: &RestorePointId,
    ) -> Result<Option<RestorePointOrigin>, ArmError> {
        self.read_restore_point(id, false).await
    }

    /// GET a restore point with `$expand=instanceView` for its disks' replication progress
    /// only (the poller's and the readiness check's read; `None` if it does not exist). The
    /// same request as [`Self::get_restore_point`], decoded into [`RestorePointProgress`].
    pub async fn get_copy_progress(
        &self,
        id: &RestorePointId,
    ) -> Result<Option<RestorePointProgress>, ArmError> {
        self.read_restore_point(id, true).await
    }

    /// One restore point GET, decoded into whichever view of it the caller needs.
    async fn read_restore_point<T: DeserializeOwned>(
        &self,
        id: &RestorePointId,
        expand_instance_view: bool,
    ) -> Result<Option<T>, ArmError> {
        const OP: &str = "get restore point";
        let url = self.url(
            &id.to_id_string(),
            &self.config.compute_api_version,
            expand_instance_view.then_some("instanceView"),
        );
        self.get_if_exists(OP, &url).await
    }

    /// PUT the target restore point that starts a cross-region copy.
    pub async fn start_copy(
        &self,
        target: &RestorePointId,
        body: &CopyRequest,
    ) -> Result<StartedCopy, ArmError> {
        const OP: &str = "start restore point copy";
        let url = self.url(
            &target.to_id_string(),
            &self.config.compute_api_version,
            None,
        );
        // The copy has started even if ARM sent no body (a bare 202): reported, not failed,
        // since a retry would be a second copy request.
        self.put_long_running(OP, &url, Self::body(OP, body)?, || RestorePoint {
            id: Some(target.to_string()),
            name: Some(target.name.clone()),
            ..Default::default()
        })
        .await
    }

    /// DELETE a restore point; a missing one counts as deleted.
    pub async fn delete_restore_point(&self, id: &RestorePointId) -> Result<Deleted, ArmError> {
        const OP: &str = "delete restore point";
        let url = self.url(&id.to_id_string(), &self.config.compute_api_version, None);
        self.delete_long_running(OP, &url).await
    }

    /// All disk restore points of a restore point, following `nextLink`.
    pub async fn list_disk_restore_points(
        &self,
        rp: &RestorePointId,
    ) -> Result<Vec<DiskRestorePoint>, ArmError> {
        const OP: &str = "list disk restore points";
        let url = self.url(
            &format!("{rp}/diskRestorePoints"),
            &self.config.disk_api_version,
            None,
        );
        self.list_pages::<DiskRestorePointList>(OP, url, false, |_| {})
            .await
    }

    /// Every restore point collection under `scope` (`/subscriptions/{id}` or
    /// `/subscriptions/{id}/resourceGroups/{rg}`, already validated), following `nextLink`;
    /// `on_page` hears the running count after each page (one read each).
    pub async fn list_collections(
        &self,
        scope: &str,
        on_page: impl FnMut(usize),
    ) -> Result<Vec<RestorePointCollection>, ArmError> {
        const OP: &str = "list restore point collections";
        let url = self.url(
            &format!(
                "{}/providers/Microsoft.Compute/restorePointCollections",
                scope.trim_end_matches('/')
            ),
            &self.config.compute_api_version,
            None,
        );
        self.list_pages::<RestorePointCollectionList>(OP, url, false, on_page)
            .await
    }

    /// A list read page by page from `url`, following `nextLink` (checked like every URL ferry
    /// sends its token to) for at most [`MAX_PAGES`] pages; `missing_is_empty`: a 404 is an
    /// empty list (a scope that does not exist yet holds nothing); `on_page` hears the running
    /// count after each page.
    pub(super) async fn list_pages<P: Paged + DeserializeOwned>(
        &self,
        op: &'static str,
        mut url: Url,
        missing_is_empty: bool,
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<P::Item>, ArmError> {
        let decode_error = |message: String| ArmError::Decode {
            what: op.to_string(),
            message,
        };
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let raw = self.send(op, Method::GET, &url, Budget::Read, None).await?;
            match raw.status {
                200 => {}
                404 if missing_is_empty => return Ok(out),
                _ => return Err(api_error(&raw)),
            }
            let (items, next_link) = decode::<P>(op, &raw.body)?.into_parts();
            out.extend(items);
            on_page(out.len());
            let Some(link) = next_link
                .as_deref()
                .map(str::trim)
                .filter(|l| !l.is_empty())
            else {
                return Ok(out);
            };
            let next = self
                .config
                .endpoint
                .join(link)
                .map_err(|e| decode_error(format!("bad nextLink {link:?}: {e}")))?;
            self.check_link(op, &next)?;
            if next == url {
                return Err(decode_error("nextLink points at the page just read".into()));
            }
            url = next;
        }
        Err(decode_error(format!("more than {MAX_PAGES} pages")))
    }

    /// GET one disk restore point; `None` if it does not exist.
    pub async fn get_disk_restore_point(
        &self,
        id: &DiskRestorePointId,
    ) -> Result<Option<DiskRestorePoint>, ArmError> {
        const OP: &str = "get disk restore point";
        let url = self.url(&id.to_string(), &self.config.disk_api_version, None);
        self.get_if_exists(OP, &url).await
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::auth::DevToken;

    pub(in crate::arm) fn client(endpoint: &str) -> Result<ArmClient, ArmError> {
        ArmClient::new(
            ArmConfig {
                endpoint: Url::parse(endpoint).unwrap(),
                ..Default::default()
            },
            Arc::new(DevToken::new("t")),
        )
    }

    #[test]
    fn endpoint_validation() {
        assert!(client("http://management.azure.com").is_err());
        assert!(client("http://localhost:1234").is_ok());
        assert!(client("https://management.azure.com/?x=1").is_err());
        let cfg = ArmConfig {
            compute_api_version: "2025-11-01&x=y".into(),
            ..Default::default()
        };
        assert!(ArmClient::new(cfg, Arc::new(DevToken::new("t"))).is_err());
        let cfg = ArmConfig {
            max_attempts: 0,
            ..Default::default()
        };
        assert!(matches!(
            ArmClient::new(cfg, Arc::new(DevToken::new("t"))),
            Err(ArmError::InvalidConfig(_))
        ));
    }
}
