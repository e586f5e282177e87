//! The table service's error responses (JSON or XML) as [`LedgerError`]s: which status and
//! code mean a conflict, a stale ETag, a missing row or table, a refusal or an outage.

use super::transport::Response;
use super::TableLedger;
use crate::ledger::LedgerError;

impl TableLedger {
    /// Maps an unsuccessful response to an error.
    pub(super) fn error(&self, what: &str, resp: &Response) -> LedgerError {
        let (code, message) = error_detail(
            resp.header("x-ms-error-code"),
            &String::from_utf8_lossy(&resp.body),
        );
        self.status_error(what, resp.status.as_u16(), &code, &message)
    }

    pub(super) fn status_error(
        &self,
        what: &str,
        status: u16,
        code: &str,
        message: &str,
    ) -> LedgerError {
        let detail = format!("{what} on table {}: {status} {code}: {message}", self.table);
        match status {
            401 | 403 => LedgerError::Auth(format!(
                "table {} refused the {} ({status} {code}): {message}",
                self.table_url,
                self.auth.kind()
            )),
            404 if code == "TableNotFound" => LedgerError::NotFound(format!(
                "table {} does not exist (ensure() creates it): {what}",
                self.table_url
            )),
            404 => LedgerError::NotFound(detail),
            409 if code == "TableBeingDeleted" => LedgerError::Unavailable(detail),
            409 => LedgerError::Conflict(detail),
            412 => LedgerError::PreconditionFailed(detail),
            429 | 500..=599 => LedgerError::Unavailable(detail),
            _ => LedgerError::Invalid(detail),
        }
    }
}

/// The error code and message of an error response (JSON or XML).
pub(super) fn error_detail(header_code: Option<String>, body: &str) -> (String, String) {
    let mut code = header_code.unwrap_or_default();
    let message;
    if let Ok(j) = serde_json::from_str::<serde_json::Value>(body) {
        let err = &j["odata.error"];
        if let Some(c) = err["code"].as_str() {
            code = c.to_string();
        }
        message = err["message"]["value"]
            .as_str()
            .or_else(|| err["message"].as_str())
            .unwrap_or_default()
            .to_string();
    } else if let Some(m) = xml_element(body, "Message") {
        message = m;
        if code.is_empty() {
            code = xml_element(body, "Code").unwrap_or_default();
        }
    } else {
        message = body.chars().take(300).collect();
    }
    // The request id and time trail the message; the first line says what went wrong.
    let first = message.lines().next().unwrap_or("").trim().to_string();
    (code, first)
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = body[start..].find(&format!("</{name}>"))? + start;
    Some(body[start..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_details_from_json_and_xml() {
        let (c, m) = error_detail(
            None,
            r#"{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"The specified entity already exists.\nRequestId:1\nTime:x"}}}"#,
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            (
                "EntityAlreadyExists",
                "The specified entity already exists."
            )
        );
        let (c, m) = error_detail(
            Some("AuthorizationFailure".into()),
            "<?xml version=\"1.0\"?><Error><Code>X</Code><Message>Server failed.\nRequestId:2</Message></Error>",
        );
        assert_eq!(
            (c.as_str(), m.as_str()),
            ("AuthorizationFailure", "Server failed.")
        );
    }
}
