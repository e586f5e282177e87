//! The `FERRY_LEDGER` forms that name a table: a table URL (token auth), Azurite's
//! `UseDevelopmentStorage=true`, or a storage connection string (Shared Key).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use url::Url;

/// Azurite's well-known development account.
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
pub const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Azurite's default table endpoint.
pub const DEV_TABLE_ENDPOINT: &str = "http://127.0.0.1:10002/devstoreaccount1";
/// The table used when a connection string names none.
pub const DEFAULT_TABLE: &str = "ferry";

#[derive(PartialEq)]
pub enum Parsed {
    /// A table URL: authorised with bearer tokens.
    Token(Url),
    /// A table URL with an account key.
    SharedKey {
        table_url: Url,
        account: String,
        key: Vec<u8>,
    },
}

impl Parsed {
    /// The table's URL, whichever way it is authorised.
    pub fn table_url(&self) -> &Url {
        match self {
            Parsed::Token(u) => u,
            Parsed::SharedKey { table_url, .. } => table_url,
        }
    }
}

/// Never shows the account key (a derived `Debug` would, in any log or panic message).
impl std::fmt::Debug for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parsed::Token(u) => f.debug_tuple("Token").field(&u.as_str()).finish(),
            Parsed::SharedKey {
                table_url, account, ..
            } => f
                .debug_struct("SharedKey")
                .field("table_url", &table_url.as_str())
                .field("account", account)
                .field("key", &"<redacted>")
                .finish(),
        }
    }
}

/// Parses a setting; errors name what is wrong and never echo a key.
pub fn parse(setting: &str) -> Result<Parsed, String> {
    let setting = setting.trim();
    if setting.is_empty() {
        return Err("FERRY_LEDGER is empty".into());
    }
    if setting.starts_with("https://") || setting.starts_with("http://") {
        let url = Url::parse(setting).map_err(|e| format!("FERRY_LEDGER URL is invalid: {e}"))?;
        table_name_of(&url)?;
        return Ok(Parsed::Token(url));
    }
    if !setting.contains('=') {
        return Err(
            "FERRY_LEDGER is neither a table URL (https://<account>.table.core.windows.net/<table>) \
             nor a connection string (UseDevelopmentStorage=true or AccountName=…;AccountKey=…)"
                .into(),
        );
    }
    let mut fields = std::collections::BTreeMap::new();
    for item in setting.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            format!(
                "connection string item {:?} is not Name=Value",
                redact(item)
            )
        })?;
        fields.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let table = fields
        .get("table")
        .cloned()
        .unwrap_or_else(|| DEFAULT_TABLE.to_string());
    validate_table_name(&table)?;
    if fields.contains_key("sharedaccesssignature") {
        return Err("connection strings with SharedAccessSignature are not supported; use AccountKey or a table URL with a managed identity".into());
    }
    let dev = fields
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (account, key_b64, endpoint) = if dev {
        (
            DEV_ACCOUNT.to_string(),
            DEV_KEY.to_string(),
            fields
                .get("tableendpoint")
                .cloned()
                .unwrap_or_else(|| DEV_TABLE_ENDPOINT.to_string()),
        )
    } else {
        let account = fields
            .get("accountname")
            .cloned()
            .ok_or("connection string has no AccountName")?;
        let key = fields
            .get("accountkey")
            .cloned()
            .ok_or("connection string has no AccountKey")?;
        let endpoint = match fields.get("tableendpoint") {
            Some(e) => e.clone(),
            None => {
                let protocol = fields
                    .get("defaultendpointsprotocol")
                    .map(String::as_str)
                    .unwrap_or("https");
                if protocol != "https" && protocol != "http" {
                    return Err(format!(
                        "DefaultEndpointsProtocol must be https or http, not {protocol:?}"
                    ));
                }
                let suffix = fields
                    .get("endpointsuffix")
                    .map(String::as_str)
                    .unwrap_or("core.windows.net");
                format!("{protocol}://{account}.table.{suffix}")
            }
        };
        (account, key, endpoint)
    };
    let key = B64
        .decode(key_b64.as_bytes())
        .map_err(|_| "AccountKey is not valid base64".to_string())?;
    if key.is_empty() {
        return Err("AccountKey is empty".into());
    }
    let endpoint = endpoint.trim_end_matches('/');
    let table_url = Url::parse(&format!("{endpoint}/{table}"))
        .map_err(|e| format!("TableEndpoint {endpoint:?} is not a valid URL: {e}"))?;
    if !matches!(table_url.scheme(), "http" | "https") {
        return Err(format!("TableEndpoint {endpoint:?} must be http or https"));
    }
    Ok(Parsed::SharedKey {
        table_url,
        account,
        key,
    })
}

/// The table named by the last path segment of a table URL.
pub fn table_name_of(url: &Url) -> Result<String, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("table URL {url} must be http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "table URL {url} must not have a query or fragment (SAS tokens are not supported)"
        ));
    }
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("table URL {url} does not end with a table name"))?;
    validate_table_name(name)?;
    Ok(name.to_string())
}

/// Table names: 3–63 letters and digits, starting with a letter.
pub fn validate_table_name(name: &str) -> Result<(), String> {
    let ok = (3..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if ok && !name.eq_ignore_ascii_case("tables") {
        Ok(())
    } else {
        Err(format!(
            "invalid table name {name:?} (3-63 letters and digits, starting with a letter)"
        ))
    }
}

/// Hides the value of a connection-string item that may hold a secret.
fn redact(item: &str) -> String {
    if item.len() > 24 {
        format!("{}…", &item.chars().take(12).collect::<String>())
    } else {
        item.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_url_means_token_auth() {
        let p = parse("https://acct.table.core.windows.net/ferry").unwrap();
        assert_eq!(
            p,
            Parsed::Token(Url::parse("https://acct.table.core.windows.net/ferry").unwrap())
        );
        assert!(parse("https://acct.table.core.windows.net/").is_err());
        assert!(parse("https://acct.table.core.windows.net/fe-rry").is_err());
        assert!(
            parse("https://acct.table.core.windows.net/ferry?sv=1&sig=x")
                .unwrap_err()
                .contains("SAS")
        );
    }

    #[test]
    fn development_storage() {
        let Parsed::SharedKey {
            table_url,
            account,
            key,
        } = parse("UseDevelopmentStorage=true").unwrap()
        else {
            panic!("expected shared key")
        };
        assert_eq!(
            table_url.as_str(),
            "http://127.0.0.1:10002/devstoreaccount1/ferry"
        );
        assert_eq!(account, DEV_ACCOUNT);
        assert_eq!(key, B64.decode(DEV_KEY).unwrap());
        let Parsed::SharedKey { table_url, .. } =
            parse("UseDevelopmentStorage=true;Table=ledger2").unwrap()
        else {
            panic!("expected shared key")
        };
        assert_eq!(table_url.path(), "/devstoreaccount1/ledger2");
    }

    #[test]
    fn connection_strings() {
        let Parsed::SharedKey { table_url, account, .. } = parse(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.usgovcloudapi.net",
        )
        .unwrap() else {
            panic!("expected shared key")
        };
        assert_eq!(
            table_url.as_str(),
            "https://acct.table.core.usgovcloudapi.net/ferry"
        );
        assert_eq!(account, "acct");
        let Parsed::SharedKey { table_url, key, .. } = parse(
            "AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1234/devstoreaccount1/;Table=t123",
        )
        .unwrap() else {
            panic!("expected shared key")
        };
        assert_eq!(
            table_url.as_str(),
            "http://127.0.0.1:1234/devstoreaccount1/t123"
        );
        assert_eq!(key, b"key");
    }

    #[test]
    fn errors_name_the_problem_without_the_key() {
        let e = parse("AccountName=acct;AccountKey=!!notbase64secret").unwrap_err();
        assert!(e.contains("AccountKey is not valid base64"), "{e}");
        assert!(!e.contains("notbase64secret"));
        assert!(parse("AccountKey=a2V5")
            .unwrap_err()
            .contains("AccountName"));
        assert!(parse("AccountName=a").unwrap_err().contains("AccountKey"));
        assert!(parse("AccountName=a;AccountKey=a2V5;Table=x")
            .unwrap_err()
            .contains("table name"));
        assert!(parse("nonsense").unwrap_err().contains("neither"));
        assert!(parse("").unwrap_err().contains("empty"));
        assert!(parse("AccountName=a;SharedAccessSignature=sv=1")
            .unwrap_err()
            .contains("SharedAccessSignature"));
    }
}
