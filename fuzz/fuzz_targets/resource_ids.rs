//! ARM resource ids (`ferry::ids`): every id type's `FromStr` on arbitrary text. A parsed
//! id prints (`Display`, which is how ids become URL paths) to text that re-parses to the
//! same id and cannot change a URL's meaning: no `?`, `#`, `%`, `//` or `..` segment.
#![no_main]

use ferry::ids::{
    eq_ignore_case, normalize_region, CollectionId, DiskEncryptionSetId, DiskRestorePointId,
    ResourceGroupId, RestorePointId, VmId,
};
use libfuzzer_sys::fuzz_target;
use std::fmt::{Debug, Display};
use std::str::FromStr;

fn check<T>(input: &str)
where
    T: FromStr + Display + PartialEq + Debug,
    T::Err: Display,
{
    match input.parse::<T>() {
        Ok(id) => {
            let shown = id.to_string();
            assert!(shown.starts_with("/subscriptions/"), "{shown:?}");
            for bad in ["?", "#", "%", "//", "\\"] {
                assert!(!shown.contains(bad), "{bad:?} in {shown:?} from {input:?}");
            }
            assert!(
                shown.split('/').all(|s| s != ".." && s != "."),
                "dot segment in {shown:?}"
            );
            assert!(
                !shown.chars().any(char::is_control),
                "control char in {shown:?}"
            );
            let again: T = shown
                .parse()
                .unwrap_or_else(|e| panic!("{shown:?} does not re-parse: {e}"));
            assert_eq!(again, id, "{input:?} → {shown:?}");
            assert!(eq_ignore_case(&shown, &again.to_string()));
            // Set as a URL path (as the ARM client does), it keeps exactly its segments.
            let mut url = url::Url::parse("https://management.azure.com").expect("constant");
            url.set_path(&shown);
            assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
            let got: Vec<String> = url
                .path_segments()
                .expect("https URL has segments")
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8_lossy()
                        .into_owned()
                })
                .collect();
            let want: Vec<&str> = shown.split('/').skip(1).collect();
            assert_eq!(got, want, "URL path of {shown:?} is {:?}", url.path());
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check::<ResourceGroupId>(input);
    check::<VmId>(input);
    check::<CollectionId>(input);
    check::<RestorePointId>(input);
    check::<DiskRestorePointId>(input);
    check::<DiskEncryptionSetId>(input);
    if let Ok(c) = input.parse::<CollectionId>() {
        assert_eq!(c.key(), c.to_string().to_ascii_lowercase());
        let rg = c.resource_group_id();
        assert_eq!(rg.to_string().parse::<ResourceGroupId>().as_ref(), Ok(&rg));
    }
    if let Some(r) = normalize_region(input) {
        assert!(
            !r.is_empty()
                && r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{r:?}"
        );
        assert_eq!(normalize_region(&r).as_deref(), Some(r.as_str()));
    }
});
