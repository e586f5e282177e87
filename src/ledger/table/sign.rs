//! Shared Key authorization, Table service flavour.
//!
//! StringToSign = VERB\nContent-MD5\nContent-Type\nDate\nCanonicalizedResource, where
//! CanonicalizedResource is `/<account><encoded URI path>` plus `?comp=<value>` when the
//! request has a `comp` parameter (no other query parameters). With path-style URLs
//! (Azurite: `http://127.0.0.1:10002/devstoreaccount1/ferry`) the path already starts
//! with the account, so the resource reads `/devstoreaccount1/devstoreaccount1/ferry`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The canonicalized resource of a request URL for `account`.
pub fn canonicalized_resource(account: &str, url: &url::Url) -> String {
    let mut out = format!("/{account}{}", url.path());
    if let Some((_, comp)) = url
        .query_pairs()
        .find(|(k, _)| k.eq_ignore_ascii_case("comp"))
    {
        out.push_str("?comp=");
        out.push_str(&comp);
    }
    out
}

/// The Table service's string to sign. `date` is the `x-ms-date` value (ferry sends no
/// `Date` header, and the service then signs `x-ms-date` in its place).
pub fn string_to_sign(
    verb: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    canonicalized_resource: &str,
) -> String {
    format!("{verb}\n{content_md5}\n{content_type}\n{date}\n{canonicalized_resource}")
}

/// Base64 HMAC-SHA256 of `string_to_sign` with the (already base64-decoded) account key.
pub fn signature(key: &[u8], string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The `Authorization` header value for a request.
pub fn authorization(
    account: &str,
    key: &[u8],
    verb: &str,
    content_type: &str,
    date: &str,
    url: &url::Url,
) -> String {
    let sts = string_to_sign(
        verb,
        "",
        content_type,
        date,
        &canonicalized_resource(account, url),
    );
    format!("SharedKey {account}:{}", signature(key, &sts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_is_account_plus_path_and_only_comp() {
        let u = url::Url::parse(
            "https://acct.table.core.windows.net/ferry()?$filter=x&comp=acl&$top=5",
        )
        .unwrap();
        assert_eq!(canonicalized_resource("acct", &u), "/acct/ferry()?comp=acl");
        let u = url::Url::parse("http://127.0.0.1:10002/devstoreaccount1/ferry()?$top=1").unwrap();
        assert_eq!(
            canonicalized_resource("devstoreaccount1", &u),
            "/devstoreaccount1/devstoreaccount1/ferry()"
        );
    }

    #[test]
    fn signature_matches_rfc4231_hmac_sha256_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let sig = signature(b"Jefe", "what do ya want for nothing?");
        assert_eq!(
            B64.decode(sig).unwrap(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
