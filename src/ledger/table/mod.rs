//! The production ledger: Azure Table Storage over its REST API (JSON, OData v3), on
//! reqwest. Works against Azure (Shared Key or Entra bearer tokens) and Azurite.
//!
//! Entities are written with `@odata.type` annotations for the types JSON cannot carry
//! (Int64 as a string, DateTime, Double), so the portal and the official SDKs read them
//! with their proper types.
//!
//! [`transport`] sends one request (signed, retried), [`errors`] reads error responses,
//! [`writes`] turns [`Op`]s into requests and entity group transactions (`batch`), and
//! [`wire`] holds the JSON and OData forms.

mod batch;
mod errors;
pub mod setting;
pub mod sign;
mod transport;
pub mod wire;
mod writes;

use super::limits::{validate_batch, validate_key, MAX_PAGE};
use super::{Continuation, ETag, Entity, Ledger, LedgerError, Op, Page, Query};
use crate::auth::TokenProvider;
use reqwest::{Method, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

use errors::error_detail;
use transport::Request;

/// REST version sent on every request (bearer tokens need 2019-02-02 or later).
pub const API_VERSION: &str = "2019-02-02";

/// How requests are authorised.
#[derive(Clone)]
pub enum TableAuth {
    /// Account name and the base64-decoded account key.
    SharedKey { account: String, key: Vec<u8> },
    /// Entra bearer tokens for [`STORAGE_SCOPE`](crate::auth::STORAGE_SCOPE).
    Token(Arc<dyn TokenProvider>),
}

impl TableAuth {
    fn kind(&self) -> String {
        match self {
            TableAuth::SharedKey { account, .. } => format!("shared key of account {account}"),
            TableAuth::Token(t) => format!("bearer token ({})", t.kind()),
        }
    }
}

// Never print the key.
impl std::fmt::Debug for TableAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.kind())
    }
}

/// Retries of throttled, failed or unreachable requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(200),
        }
    }
}

/// A ledger on one Azure table.
pub struct TableLedger {
    http: reqwest::Client,
    table_url: Url,
    /// The table's URL with a trailing `/` removed from neither: `…/<account path>/`.
    base: Url,
    table: String,
    auth: TableAuth,
    retry: RetryPolicy,
}

impl TableLedger {
    /// `table_url` is the table's own URL: `https://acct.table.core.windows.net/ferry`, or
    /// path-style `http://127.0.0.1:10002/devstoreaccount1/ferry` for Azurite.
    pub fn new(table_url: Url, auth: TableAuth) -> Result<Self, LedgerError> {
        let table = setting::table_name_of(&table_url).map_err(LedgerError::Invalid)?;
        // A token or a shared-key signature crosses plain HTTP only to Azurite on loopback.
        crate::endpoint::require_secure("FERRY_LEDGER", &table_url)
            .map_err(LedgerError::Invalid)?;
        if let TableAuth::SharedKey { account, key } = &auth {
            if account.is_empty() || key.is_empty() {
                return Err(LedgerError::Invalid(
                    "shared key auth needs an account name and a key".into(),
                ));
            }
        }
        let mut base = table_url.clone();
        base.path_segments_mut()
            .map_err(|_| LedgerError::Invalid(format!("table URL {table_url} cannot be a base")))?
            .pop()
            .push("");
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // A redirect would carry the Authorization header somewhere unchecked.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LedgerError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        Ok(TableLedger {
            http,
            table_url,
            base,
            table,
            auth,
            retry: RetryPolicy::default(),
        })
    }

    /// Builds a ledger from a `FERRY_LEDGER` setting: a table URL (authorised with
    /// `tokens`), `UseDevelopmentStorage=true[;Table=<name>]`, or a connection string
    /// with `AccountName`, `AccountKey` and optionally `TableEndpoint` and `Table`.
    pub fn from_setting(
        setting: &str,
        tokens: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Self, LedgerError> {
        match setting::parse(setting).map_err(LedgerError::Invalid)? {
            setting::Parsed::Token(url) => {
                let tokens = tokens.ok_or_else(|| {
                    LedgerError::Invalid(format!(
                        "FERRY_LEDGER is the table URL {url}, which needs a token credential, \
                         but none is configured (or use a connection string)"
                    ))
                })?;
                TableLedger::new(url, TableAuth::Token(tokens))
            }
            setting::Parsed::SharedKey {
                table_url,
                account,
                key,
            } => TableLedger::new(table_url, TableAuth::SharedKey { account, key }),
        }
    }

    /// Replaces the retry policy (tests use short delays).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = RetryPolicy {
            attempts: retry.attempts.max(1),
            ..retry
        };
        self
    }

    pub fn table_url(&self) -> &Url {
        &self.table_url
    }
}

#[async_trait::async_trait]
impl Ledger for TableLedger {
    async fn ensure(&self) -> Result<(), LedgerError> {
        let body = serde_json::json!({ "TableName": self.table }).to_string();
        let req = Request {
            method: Method::POST,
            path: "Tables".into(),
            query: vec![],
            headers: vec![("Prefer", "return-no-content".into())],
            body: Some(("application/json".into(), body.into_bytes())),
            what: format!("create table {}", self.table),
        };
        let resp = self.send(&req).await?;
        if resp.status.is_success() {
            return Ok(());
        }
        match self.error(&req.what, &resp) {
            // Created earlier (by us or another instance): that is the point.
            LedgerError::Conflict(_) => Ok(()),
            e => Err(e),
        }
    }

    async fn get(&self, pk: &str, rk: &str) -> Result<Option<Entity>, LedgerError> {
        validate_key(pk)?;
        validate_key(rk)?;
        let req = Request {
            method: Method::GET,
            path: self.entity_url(pk, rk),
            query: vec![],
            headers: vec![],
            body: None,
            what: format!("get {}/{pk}/{rk}", self.table),
        };
        let resp = self.send(&req).await?;
        if resp.status == StatusCode::NOT_FOUND {
            // A missing row is an answer; a missing table is an error.
            let (code, _) = error_detail(
                resp.header("x-ms-error-code"),
                &String::from_utf8_lossy(&resp.body),
            );
            return if code == "TableNotFound" {
                Err(self.error(&req.what, &resp))
            } else {
                Ok(None)
            };
        }
        if !resp.status.is_success() {
            return Err(self.error(&req.what, &resp));
        }
        let json: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
            LedgerError::Unavailable(format!("{}: response is not JSON: {e}", req.what))
        })?;
        let obj = json.as_object().ok_or_else(|| {
            LedgerError::Unavailable(format!("{}: response is not a JSON object", req.what))
        })?;
        let etag = resp.header("etag").map(ETag);
        wire::entity_from_json(obj, etag)
            .map(Some)
            .map_err(|e| LedgerError::Unavailable(format!("{}: {e}", req.what)))
    }

    async fn query(
        &self,
        query: &Query,
        continuation: Option<&Continuation>,
    ) -> Result<Page, LedgerError> {
        let top = query
            .top
            .map(|t| t as usize)
            .unwrap_or(MAX_PAGE)
            .clamp(1, MAX_PAGE);
        let mut params = Vec::new();
        if let Some(f) = wire::filter(query)? {
            params.push(("$filter", f));
        }
        params.push(("$top", top.to_string()));
        if let Some(c) = continuation {
            params.push(("NextPartitionKey", c.next_partition_key.clone()));
            if let Some(rk) = &c.next_row_key {
                params.push(("NextRowKey", rk.clone()));
            }
        }
        let req = Request {
            method: Method::GET,
            path: format!("{}()", self.table),
            query: params,
            headers: vec![],
            body: None,
            what: format!("query {}", self.table),
        };
        let resp = self.send(&req).await?;
        if !resp.status.is_success() {
            return Err(self.error(&req.what, &resp));
        }
        let json: serde_json::Value = serde_json::from_slice(&resp.body).map_err(|e| {
            LedgerError::Unavailable(format!("{}: response is not JSON: {e}", req.what))
        })?;
        let rows = json["value"].as_array().ok_or_else(|| {
            LedgerError::Unavailable(format!("{}: response has no \"value\" array", req.what))
        })?;
        let mut entities = Vec::with_capacity(rows.len());
        for row in rows {
            let obj = row.as_object().ok_or_else(|| {
                LedgerError::Unavailable(format!("{}: a row is not a JSON object", req.what))
            })?;
            entities.push(
                wire::entity_from_json(obj, None)
                    .map_err(|e| LedgerError::Unavailable(format!("{}: {e}", req.what)))?,
            );
        }
        // Equality is typed (Int64 2 never matches the string "2"). Azure's filter already
        // works so; Azurite compares loosely, so the conditions are checked again here.
        entities.retain(|e| {
            query
                .equals
                .iter()
                .all(|(k, v)| e.properties.get(k) == Some(v))
        });
        let continuation =
            resp.header("x-ms-continuation-NextPartitionKey")
                .map(|pk| Continuation {
                    next_partition_key: pk,
                    next_row_key: resp.header("x-ms-continuation-NextRowKey"),
                });
        Ok(Page {
            entities,
            continuation,
        })
    }

    async fn batch(&self, pk: &str, ops: Vec<Op>) -> Result<Vec<Option<ETag>>, LedgerError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        validate_batch(pk, &ops)?;
        // A lone write needs no entity group transaction.
        if let [op] = ops.as_slice() {
            return Ok(vec![self.single(pk, op).await?]);
        }
        self.group(pk, &ops).await
    }

    fn describe(&self) -> String {
        format!("table {}", self.table_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_and_paths() {
        let l = TableLedger::from_setting("UseDevelopmentStorage=true;Table=abc", None).unwrap();
        assert_eq!(l.base.as_str(), "http://127.0.0.1:10002/devstoreaccount1/");
        let u = l
            .url("abc()", &[("$filter", "PartitionKey eq 'a b'".into())])
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/abc()?$filter=PartitionKey%20eq%20%27a%20b%27"
        );
        assert_eq!(
            l.url("$batch", &[]).unwrap().path(),
            "/devstoreaccount1/$batch"
        );
        assert_eq!(
            l.describe(),
            "table http://127.0.0.1:10002/devstoreaccount1/abc"
        );
    }

    #[test]
    fn table_url_needs_tokens() {
        let e = TableLedger::from_setting("https://acct.table.core.windows.net/ferry", None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("token credential"), "{e}");
    }

    #[test]
    fn auth_debug_hides_the_key() {
        let a = TableAuth::SharedKey {
            account: "acct".into(),
            key: b"supersecret".to_vec(),
        };
        assert!(!format!("{a:?}").contains("supersecret"));
    }
}
