//! `APPLICATIONINSIGHTS_CONNECTION_STRING`, as the Functions host sets it:
//! `InstrumentationKey=<guid>;IngestionEndpoint=https://<region>.in.applicationinsights.azure.com/;…`.
//! Checked here rather than by the exporter, which silently turns `http://` into `https://`
//! and accepts any key: ferry wants one clear line naming the setting, and its own endpoint
//! rule (https, plain http only on loopback for a local capture endpoint).

use url::Url;

pub const SETTING: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";

/// Used when the string names neither an ingestion endpoint nor an endpoint suffix (what
/// the Application Insights SDKs default to).
const DEFAULT_INGESTION: &str = "https://dc.services.visualstudio.com/";

#[derive(Clone, PartialEq)]
pub struct ConnectionString {
    pub instrumentation_key: String,
    /// Scheme, host and port (and a base path if any), ending in `/`.
    pub ingestion_endpoint: Url,
}

/// The instrumentation key is not a secret (it identifies, it does not authorise: local
/// auth is off), but it has no business in every debug line either.
impl std::fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionString")
            .field("instrumentation_key", &"<set>")
            .field("ingestion_endpoint", &self.ingestion_endpoint.as_str())
            .finish()
    }
}

impl ConnectionString {
    /// Parses and checks the setting; the error names the problem (without repeating the
    /// whole value).
    pub fn parse(s: &str) -> Result<ConnectionString, String> {
        let mut key = None;
        let mut endpoint = None;
        let mut suffix = None;
        let mut location = None;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(format!(
                    "{SETTING}: {:?} is not Name=Value (fields are separated by ';')",
                    part.split('=').next().unwrap_or(part)
                ));
            };
            let v = v.trim().to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "instrumentationkey" => key = Some(v),
                "ingestionendpoint" => endpoint = Some(v),
                "endpointsuffix" => suffix = Some(v),
                "location" => location = Some(v),
                "authorization" if v.eq_ignore_ascii_case("aad") || v.eq_ignore_ascii_case("ikey") => {}
                "authorization" => {
                    return Err(format!(
                        "{SETTING}: Authorization={v:?} is not supported (ferry always authenticates with Microsoft Entra ID)"
                    ))
                }
                // LiveEndpoint, ApplicationId and future fields: not used for metrics.
                _ => {}
            }
        }
        let key = key.ok_or_else(|| format!("{SETTING}: InstrumentationKey is missing"))?;
        if uuid::Uuid::parse_str(&key).is_err() {
            return Err(format!(
                "{SETTING}: InstrumentationKey {key:?} is not a GUID"
            ));
        }
        let endpoint = match (endpoint, suffix) {
            (Some(e), _) => e,
            (None, Some(sfx)) => match location {
                Some(l) => format!("https://{l}.dc.{sfx}/"),
                None => format!("https://dc.{sfx}/"),
            },
            (None, None) => DEFAULT_INGESTION.to_string(),
        };
        let mut url = Url::parse(&endpoint)
            .map_err(|e| format!("{SETTING}: IngestionEndpoint {endpoint:?} is not a URL: {e}"))?;
        crate::endpoint::require_secure(&format!("{SETTING}: IngestionEndpoint"), &url)?;
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(format!(
                "{SETTING}: IngestionEndpoint must be scheme, host and path only"
            ));
        }
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(ConnectionString {
            instrumentation_key: key,
            ingestion_endpoint: url,
        })
    }

    /// The form the exporter parses (it only needs the key; ferry's HTTP client sends to
    /// [`ConnectionString::ingestion_endpoint`] itself).
    pub fn for_exporter(&self) -> String {
        format!(
            "InstrumentationKey={};IngestionEndpoint={}",
            self.instrumentation_key, self.ingestion_endpoint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00000000-0000-0000-0000-0000000fe77e";

    #[test]
    fn the_functions_host_form_parses() {
        let c = ConnectionString::parse(&format!("InstrumentationKey={KEY};IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=abc")).unwrap();
        assert_eq!(c.instrumentation_key, KEY);
        assert_eq!(
            c.ingestion_endpoint.as_str(),
            "https://westeurope-5.in.applicationinsights.azure.com/"
        );
        let c = ConnectionString::parse(&format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:9999"
        ))
        .unwrap();
        assert_eq!(c.ingestion_endpoint.as_str(), "http://127.0.0.1:9999/");
        let c = ConnectionString::parse(&format!("InstrumentationKey={KEY};EndpointSuffix=applicationinsights.azure.cn;Location=chinaeast2")).unwrap();
        assert_eq!(
            c.ingestion_endpoint.as_str(),
            "https://chinaeast2.dc.applicationinsights.azure.cn/"
        );
        let c = ConnectionString::parse(&format!("InstrumentationKey={KEY}")).unwrap();
        assert_eq!(c.ingestion_endpoint.as_str(), DEFAULT_INGESTION);
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[test]
    fn bad_strings_name_the_problem() {
        for (s, want) in [
            (
                "IngestionEndpoint=https://x/".to_string(),
                "InstrumentationKey is missing",
            ),
            ("InstrumentationKey=nope".to_string(), "is not a GUID"),
            ("garbage".to_string(), "is not Name=Value"),
            (
                format!("InstrumentationKey={KEY};IngestionEndpoint=http://10.0.0.4/"),
                "must be https",
            ),
            (
                format!("InstrumentationKey={KEY};IngestionEndpoint=not a url"),
                "is not a URL",
            ),
            (
                format!("InstrumentationKey={KEY};Authorization=Basic"),
                "not supported",
            ),
        ] {
            let e = ConnectionString::parse(&s).unwrap_err();
            assert!(e.starts_with(SETTING), "{e}");
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
