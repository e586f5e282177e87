//! Which endpoints ferry will talk to: `https`, or plain `http` only on this machine
//! (the emulator, Azurite, a local broker). A token, a shared-key signature or the ledger's
//! contents must never cross a network in clear text, wherever ferry runs; every client
//! (ARM, Table Storage, Service Bus) checks its endpoint with [`require_secure`] and follows
//! no redirects.

use url::Url;

/// Whether the URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `Ok` for `https` URLs and for `http` on loopback; otherwise a message naming `what`.
pub fn require_secure(what: &str, url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{what}: {url} must be https (plain http is allowed only on loopback: localhost, 127.0.0.1, ::1)"
        )),
        other => Err(format!("{what}: {url} must be an https URL, not {other}://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(u: &str) -> Result<(), String> {
        require_secure("X", &Url::parse(u).unwrap())
    }

    #[test]
    fn https_anywhere_http_only_on_loopback() {
        assert!(check("https://acct.table.core.windows.net/ferry").is_ok());
        for ok in [
            "http://127.0.0.1:10002/devstoreaccount1/ferry",
            "http://127.1.2.3:1/",
            "http://localhost:8089/",
            "http://LOCALHOST/",
            "http://[::1]:5/",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://elsewhere.example/ferry",
            "http://10.0.0.4/",
            "http://localhost.evil.example/",
            "http://127.0.0.1.nip.io/",
            "ftp://127.0.0.1/",
            "sb://ns.servicebus.windows.net/",
        ] {
            let e = check(bad).unwrap_err();
            assert!(e.starts_with("X: "), "{e}");
        }
    }
}
