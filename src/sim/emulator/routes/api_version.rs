//! The api-versions the emulator accepts and the `api-version` check ARM makes first.

use super::http::{Reply, Req};

/// Compute api-versions accepted for VMs, collections, restore points and operations.
pub const COMPUTE_API_VERSIONS: &[&str] = &[
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-04-01",
];
/// Disk RP api-versions accepted for disk restore points.
pub const DISK_API_VERSIONS: &[&str] = &[
    "2021-04-01",
    "2021-08-01",
    "2021-12-01",
    "2022-03-02",
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",
];

pub(super) fn api_version_check(req: &Req, accepted: &[&str]) -> Result<(), Reply> {
    match req.q("api-version") {
        None | Some("") => Err(Reply::error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )),
        Some(v) if accepted.contains(&v) => Ok(()),
        Some(v) => Err(Reply::error(
            400,
            "InvalidApiVersionParameter",
            &format!(
                "The api-version '{v}' is invalid. The supported versions are '{}'.",
                accepted.join(",")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use warp::http::{HeaderMap, Method};

    use super::*;

    fn req(q: &str) -> Req {
        Req {
            method: Method::GET,
            path: "/".into(),
            query: url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect(),
            raw_query: q.into(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn api_versions() {
        assert!(api_version_check(&req("api-version=2026-04-01"), COMPUTE_API_VERSIONS).is_ok());
        assert!(api_version_check(&req("API-VERSION=2021-03-01"), COMPUTE_API_VERSIONS).is_ok());
        let missing = api_version_check(&req(""), COMPUTE_API_VERSIONS)
            .err()
            .map(|r| r.body);
        assert_eq!(
            missing.unwrap().unwrap()["error"]["code"],
            "MissingApiVersionParameter"
        );
        let old = api_version_check(&req("api-version=2020-12-01"), COMPUTE_API_VERSIONS)
            .err()
            .map(|r| r.body);
        assert_eq!(
            old.unwrap().unwrap()["error"]["code"],
            "InvalidApiVersionParameter"
        );
        assert!(api_version_check(&req("api-version=2025-11-01"), DISK_API_VERSIONS).is_err());
    }
}
