//! Shared Access Signature tokens and connection strings.
//!
//! Token format (Service Bus docs, "Service Bus access control with Shared Access
//! Signatures"): `SharedAccessSignature sr={url-encoded resource URI}&sig={url-encoded
//! base64 HMAC-SHA256}&se={expiry epoch seconds}&skn={key name}`, where the HMAC is over
//! `{url-encoded resource URI}\n{expiry}` keyed with the key's UTF-8 bytes.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

/// Like .NET's `WebUtility.UrlEncode`: everything but unreserved characters is escaped.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_ENCODE).to_string()
}

/// Builds a SAS token for `resource_uri`, valid until `expiry` (epoch seconds).
pub fn sas_token(resource_uri: &str, key_name: &str, key: &str, expiry: i64) -> String {
    let encoded_uri = url_encode(resource_uri);
    let to_sign = format!("{encoded_uri}\n{expiry}");
    // HMAC accepts keys of any length, so this cannot fail.
    let sig = match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mut mac) => {
            mac.update(to_sign.as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!(
        "SharedAccessSignature sr={encoded_uri}&sig={}&se={expiry}&skn={}",
        url_encode(&sig),
        url_encode(key_name)
    )
}

/// Checks a SAS token's signature (used by the local broker and tests).
pub fn verify_sas(token: &str, key: &str) -> bool {
    let Some(rest) = token.strip_prefix("SharedAccessSignature ") else {
        return false;
    };
    let mut sr = None;
    let mut sig = None;
    let mut se = None;
    let mut skn = None;
    for part in rest.split('&') {
        let Some((k, v)) = part.split_once('=') else {
            return false;
        };
        let v = percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .to_string();
        match k {
            "sr" => sr = Some(v),
            "sig" => sig = Some(v),
            "se" => se = v.parse::<i64>().ok(),
            "skn" => skn = Some(v),
            _ => {}
        }
    }
    match (sr, sig, se, skn) {
        (Some(sr), Some(_), Some(se), Some(skn)) => sas_token(&sr, &skn, key, se) == token,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shape_and_verification() {
        let t = sas_token(
            "https://ns.servicebus.windows.net/q",
            "send",
            "k3y",
            1_700_000_000,
        );
        assert!(t.starts_with(
            "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fq&sig="
        ));
        assert!(t.ends_with("&se=1700000000&skn=send"));
        assert!(verify_sas(&t, "k3y"));
        assert!(!verify_sas(&t, "other"));
        assert!(!verify_sas("Bearer x", "k3y"));
    }
}
