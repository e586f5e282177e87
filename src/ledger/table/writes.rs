//! Writes: each [`Op`] as its REST request; a lone write is sent alone, several as one entity
//! group transaction (`$batch`, rendered and parsed by [`super::batch`]), whose failing
//! operation is named in the error.

use reqwest::Method;

use super::batch;
use super::errors::error_detail;
use super::transport::Request;
use super::{wire, TableLedger};
use crate::ledger::{ETag, Entity, LedgerError, Op};

impl TableLedger {
    fn op_request(&self, pk: &str, op: &Op) -> Result<Request, LedgerError> {
        let json_body = |e: &Entity| {
            Some((
                "application/json".to_string(),
                wire::entity_json(e).to_string().into_bytes(),
            ))
        };
        let at = format!("{}/{pk}/{}", self.table, op.row_key());
        Ok(match op {
            Op::Insert(e) => Request {
                method: Method::POST,
                path: self.table.clone(),
                query: vec![],
                headers: vec![("Prefer", "return-no-content".into())],
                body: json_body(e),
                what: format!("insert {at}"),
            },
            Op::Replace(e, etag) => Request {
                method: Method::PUT,
                path: self.entity_url(pk, &e.row_key),
                query: vec![],
                headers: vec![("If-Match", etag.0.clone())],
                body: json_body(e),
                what: format!("replace {at}"),
            },
            Op::Upsert(e) => Request {
                method: Method::PUT,
                path: self.entity_url(pk, &e.row_key),
                query: vec![],
                headers: vec![],
                body: json_body(e),
                what: format!("upsert {at}"),
            },
            Op::Delete { row_key, etag } => Request {
                method: Method::DELETE,
                path: self.entity_url(pk, row_key),
                query: vec![],
                headers: vec![("If-Match", etag.0.clone())],
                body: None,
                what: format!("delete {at}"),
            },
        })
    }

    pub(super) async fn single(&self, pk: &str, op: &Op) -> Result<Option<ETag>, LedgerError> {
        let req = self.op_request(pk, op)?;
        let resp = self.send(&req).await?;
        if !resp.status.is_success() {
            return Err(self.error(&req.what, &resp));
        }
        Ok(match op {
            Op::Delete { .. } => None,
            _ => Some(ETag(resp.header("etag").ok_or_else(|| {
                LedgerError::Unavailable(format!("{}: response has no ETag", req.what))
            })?)),
        })
    }

    pub(super) async fn group(
        &self,
        pk: &str,
        ops: &[Op],
    ) -> Result<Vec<Option<ETag>>, LedgerError> {
        let mut parts = Vec::with_capacity(ops.len());
        for op in ops {
            let req = self.op_request(pk, op)?;
            let url = self.url(&req.path, &[])?;
            parts.push(batch::PartRequest {
                method: match op {
                    Op::Insert(_) => "POST",
                    Op::Replace(..) | Op::Upsert(_) => "PUT",
                    Op::Delete { .. } => "DELETE",
                },
                url: url.to_string(),
                if_match: req
                    .headers
                    .iter()
                    .find(|(k, _)| *k == "If-Match")
                    .map(|(_, v)| v.clone()),
                body: req
                    .body
                    .map(|(_, b)| String::from_utf8_lossy(&b).into_owned()),
            });
        }
        let (content_type, body) = batch::render(
            &crate::ids::random_uuid().to_string(),
            &crate::ids::random_uuid().to_string(),
            &parts,
        );
        let what = format!("batch of {} in {}/{pk}", ops.len(), self.table);
        let req = Request {
            method: Method::POST,
            path: "$batch".into(),
            query: vec![],
            headers: vec![],
            body: Some((content_type, body.into_bytes())),
            what: what.clone(),
        };
        let resp = self.send(&req).await?;
        if !resp.status.is_success() {
            return Err(self.error(&what, &resp));
        }
        let ct = resp.header("content-type").unwrap_or_default();
        let responses = batch::parse(&ct, &String::from_utf8_lossy(&resp.body))
            .map_err(|e| LedgerError::Unavailable(format!("{what}: {e}")))?;
        if let Some(failed) = responses.iter().find(|r| r.status >= 300) {
            let (code, message) = error_detail(None, &failed.body);
            // The service names the failing operation as an "<index>:" message prefix.
            let index = message
                .split_once(':')
                .and_then(|(i, _)| i.trim().parse::<usize>().ok())
                .or_else(|| {
                    failed
                        .header("content-id")
                        .and_then(|c| c.parse::<usize>().ok())
                        .and_then(|c| c.checked_sub(1))
                });
            let what = match index.and_then(|i| ops.get(i).map(|op| (i, op))) {
                Some((i, op)) => format!("{what}, operation {i} (row {})", op.row_key()),
                None => what,
            };
            return Err(self.status_error(&what, failed.status, &code, &message));
        }
        if responses.len() != ops.len() {
            return Err(LedgerError::Unavailable(format!(
                "{what}: {} responses for {} operations",
                responses.len(),
                ops.len()
            )));
        }
        ops.iter()
            .zip(&responses)
            .map(|(op, r)| match op {
                Op::Delete { .. } => Ok(None),
                _ => r
                    .header("etag")
                    .map(|e| Some(ETag(e.to_string())))
                    .ok_or_else(|| {
                        LedgerError::Unavailable(format!("{what}: a response part has no ETag"))
                    }),
            })
            .collect()
    }
}
