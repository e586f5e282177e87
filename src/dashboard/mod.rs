//! The operators' dashboard: one self-contained HTML page (its CSS and script inline, no
//! fonts, images or scripts from elsewhere, so it works offline and behind a firewall).
//! The `status` function serves it at `status/dashboard`; the page then reads the
//! `status/overview` view next to it. The page source lives beside this file
//! (`page.html`, `dashboard.css`, `dashboard.js`) and is put together once.
//!
//! Its Content-Security-Policy allows exactly that inline style and script (by their
//! SHA-256) and requests to its own origin: even if some text slipped past the page's
//! escaping, no other script could run, load or send anything.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

const TEMPLATE: &str = include_str!("page.html");
const STYLE: &str = include_str!("dashboard.css");
const SCRIPT: &str = include_str!("dashboard.js");

/// The page and its Content-Security-Policy.
pub struct Page {
    pub html: String,
    pub csp: String,
}

fn sha256(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
}

/// The dashboard page (built once).
pub fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| Page {
        html: TEMPLATE
            .replace("{{STYLE}}", STYLE)
            .replace("{{SCRIPT}}", SCRIPT),
        csp: format!(
            "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
             connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
            sha256(SCRIPT),
            sha256(STYLE)
        ),
    })
}

/// The response headers the page is served with: HTML, its CSP, never cached (the data
/// is fetched fresh anyway), and no referrer (the URL can carry the function key).
pub fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("Content-Type", "text/html; charset=utf-8".into()),
        ("Content-Security-Policy", page().csp.clone()),
        ("X-Content-Type-Options", "nosniff".into()),
        ("Referrer-Policy", "no-referrer".into()),
        ("Cache-Control", "no-store".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained() {
        let p = page();
        assert!(p.html.starts_with("<!doctype html>"));
        assert!(!p.html.contains("{{"), "a placeholder was left in the page");
        for external in ["src=\"http", "href=\"http", "@import", "url(http", "//cdn"] {
            assert!(!p.html.contains(external), "the page loads {external}");
        }
        // The script cannot end its own element early.
        assert!(!SCRIPT.contains("</script"));
        assert!(!STYLE.contains("</style"));
    }

    #[test]
    fn csp_allows_exactly_the_inline_script_and_style() {
        let p = page();
        let script = format!("'sha256-{}'", sha256(SCRIPT));
        assert!(
            p.csp.contains(&format!("script-src {script};")),
            "{}",
            p.csp
        );
        assert!(p.csp.starts_with("default-src 'none';"));
        assert!(!p.csp.contains("unsafe-inline"));
        assert!(!p.csp.contains("unsafe-eval"));
        // The hashed text is exactly what is between the tags.
        assert!(p.html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(p.html.contains(&format!("<style>{STYLE}</style>")));
    }

    #[test]
    fn script_never_writes_markup() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "dashboard.js uses {sink}");
        }
    }
}
