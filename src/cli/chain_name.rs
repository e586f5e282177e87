//! Naming a chain the way operators think of it: `<source collection name or id>:<region>`
//! (`rpc-app01:westus2`), or by its key (a UUID), wherever a chain is asked for.

use crate::ids::CollectionId;
use crate::ledger::records::{chain_key, Chain};

/// What `--chain` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainRef {
    /// The chain key, or computed from a full collection id (no lookup needed).
    Key(String),
    /// A collection name and a region: looked up among the ledger's chains.
    Named { collection: String, region: String },
}

/// Parses `--chain`; the error says what forms are accepted.
pub fn parse(arg: &str) -> Result<ChainRef, String> {
    let arg = arg.trim();
    if uuid::Uuid::parse_str(arg).is_ok() {
        return Ok(ChainRef::Key(arg.to_ascii_lowercase()));
    }
    let Some((collection, region)) = arg.rsplit_once(':') else {
        return Err(format!(
            "--chain {arg:?}: name a chain as <source collection name or id>:<target region> \
             (e.g. rpc-app01:westus2) or by its key (a UUID)"
        ));
    };
    let region = region.trim().to_ascii_lowercase();
    if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "--chain {arg:?}: {region:?} after the colon is not a region name (e.g. westus2)"
        ));
    }
    if collection.contains('/') {
        let id: CollectionId = collection
            .parse()
            .map_err(|e| format!("--chain {arg:?}: {e}"))?;
        return Ok(ChainRef::Key(chain_key(&id, &region)));
    }
    if collection.is_empty() {
        return Err(format!(
            "--chain {arg:?}: the source collection's name is missing before the colon"
        ));
    }
    Ok(ChainRef::Named {
        collection: collection.to_string(),
        region,
    })
}

/// The one chain of `chains` whose source collection is named `collection` (any case)
/// and whose target region is `region`; otherwise an error listing what there is.
pub fn pick<'a>(chains: &'a [Chain], collection: &str, region: &str) -> Result<&'a Chain, String> {
    let named: Vec<&Chain> = chains
        .iter()
        .filter(|c| c.source_collection.name.eq_ignore_ascii_case(collection))
        .collect();
    let matches: Vec<&Chain> = named
        .iter()
        .copied()
        .filter(|c| c.target_region.eq_ignore_ascii_case(region))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] if named.is_empty() => Err(format!(
            "--chain {collection}:{region}: no chain copies a source collection named {collection:?}"
        )),
        [] => Err(format!(
            "--chain {collection}:{region}: {collection:?} is copied only to {}",
            named
                .iter()
                .map(|c| c.target_region.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        many => Err(format!(
            "--chain {collection}:{region}: {} source collections are named {collection:?}; \
             name one by its id (<collection id>:{region}) or use its chain key:\n{}",
            many.len(),
            many.iter()
                .map(|c| format!("  {}  {}", c.key, c.source_collection))
                .collect::<Vec<_>>()
                .join("\n")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn chain(rg: &str, name: &str, region: &str) -> Chain {
        let src: CollectionId = format!("/subscriptions/s1/resourceGroups/{rg}/providers/Microsoft.Compute/restorePointCollections/{name}").parse().unwrap();
        let tgt: CollectionId = format!("/subscriptions/s1/resourceGroups/dr/providers/Microsoft.Compute/restorePointCollections/{name}-{region}").parse().unwrap();
        Chain::new(src, region, tgt, datetime!(2026-11-01 00:00 UTC))
    }

    #[test]
    fn forms() {
        let k = "0E360AA6-5CA2-557B-BC7C-7B81345D0233";
        assert_eq!(parse(k), Ok(ChainRef::Key(k.to_ascii_lowercase())));
        assert_eq!(
            parse("rpc-app01:WestUS2"),
            Ok(ChainRef::Named {
                collection: "rpc-app01".into(),
                region: "westus2".into()
            })
        );
        let c = chain("rg", "rpc-app01", "westus2");
        let by_id = format!("{}:westus2", c.source_collection);
        assert_eq!(parse(&by_id), Ok(ChainRef::Key(c.key.clone())));
        for bad in [
            "rpc-app01",
            ":westus2",
            "rpc-app01:",
            "rpc:west us",
            "/x/y:westus2",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.starts_with("--chain"), "{bad}: {e}");
        }
    }

    #[test]
    fn pick_finds_one_or_says_what_there_is() {
        let chains = vec![
            chain("rg-a", "rpc-app01", "westus2"),
            chain("rg-a", "rpc-app01", "centralus"),
            chain("rg-a", "rpc-app02", "westus2"),
            chain("rg-b", "rpc-app02", "westus2"),
        ];
        assert_eq!(
            pick(&chains, "RPC-APP01", "westus2").unwrap().key,
            chains[0].key
        );
        let e = pick(&chains, "rpc-app01", "northeurope").unwrap_err();
        assert!(e.contains("only to westus2, centralus"), "{e}");
        let e = pick(&chains, "rpc-app03", "westus2").unwrap_err();
        assert!(e.contains("no chain copies"), "{e}");
        let e = pick(&chains, "rpc-app02", "westus2").unwrap_err();
        assert!(
            e.contains("2 source collections") && e.contains("rg-a") && e.contains("rg-b"),
            "{e}"
        );
        assert!(
            e.contains(&chains[2].key) && e.contains(&chains[3].key),
            "{e}"
        );
    }
}
