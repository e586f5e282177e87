//! Table Storage's limits and rules for keys, property names, entities and batches. Both
//! ledgers check them, so that whatever the in-memory ledger accepts, Table Storage does too.

use super::{Entity, LedgerError, Op, Value};

/// Largest page Table Storage returns.
pub const MAX_PAGE: usize = 1000;
/// Largest entity group transaction Table Storage accepts.
pub const MAX_BATCH: usize = 100;

pub(crate) fn validate_key(k: &str) -> Result<(), LedgerError> {
    // Table Storage forbids these characters in keys; refusing them here keeps the two
    // implementations interchangeable.
    if k.len() > 1024
        || k.chars()
            .any(|c| matches!(c, '/' | '\\' | '#' | '?') || c.is_control())
    {
        return Err(LedgerError::Invalid(format!("invalid key {k:?}")));
    }
    Ok(())
}

/// Largest entity Table Storage stores (its own size formula, see [`entity_size`]).
pub const MAX_ENTITY_BYTES: usize = 1024 * 1024;
/// Largest string property: 64 KiB of UTF-16.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most custom properties an entity may have (255 minus the three system ones).
pub const MAX_PROPERTIES: usize = 252;

/// Length in UTF-16 code units (how Table Storage counts strings); ASCII text, nearly
/// every key and property ferry writes, is counted without decoding it.
pub(crate) fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.encode_utf16().count()
    }
}

/// Size of an entity as Table Storage counts it: 4 bytes, plus the keys in UTF-16, plus
/// per property 8 bytes, its name in UTF-16 and its value.
pub fn entity_size(e: &Entity) -> usize {
    let utf16 = |s: &str| utf16_len(s) * 2;
    4 + utf16(&e.partition_key)
        + utf16(&e.row_key)
        + e.properties
            .iter()
            .map(|(name, v)| {
                8 + utf16(name)
                    + match v {
                        Value::String(s) => 4 + utf16(s),
                        Value::Bool(_) => 1,
                        Value::Int64(_) | Value::Double(_) | Value::DateTime(_) => 8,
                    }
            })
            .sum::<usize>()
}

/// Table Storage's rules for an entity's properties and size. Checked by both
/// implementations so that whatever the in-memory ledger accepts, Table Storage does too.
pub(crate) fn validate_entity(e: &Entity) -> Result<(), LedgerError> {
    let at = || format!("{}/{}", e.partition_key, e.row_key);
    if e.properties.len() > MAX_PROPERTIES {
        return Err(LedgerError::Invalid(format!(
            "entity {} has {} properties; Table Storage allows {MAX_PROPERTIES}",
            at(),
            e.properties.len()
        )));
    }
    for (name, v) in &e.properties {
        validate_property_name(name)
            .map_err(|why| LedgerError::Invalid(format!("entity {}: {why}", at())))?;
        match v {
            Value::String(s) if utf16_len(s) * 2 > MAX_STRING_BYTES => {
                return Err(LedgerError::Invalid(format!(
                    "entity {}: string property {name} is {} bytes as UTF-16; Table Storage allows {MAX_STRING_BYTES}",
                    at(),
                    s.encode_utf16().count() * 2
                )))
            }
            // Checked: `to_offset` panics when the UTC time is past year ±9999.
            Value::DateTime(t)
                if !t
                    .checked_to_offset(time::UtcOffset::UTC)
                    .is_some_and(|u| (1601..=9999).contains(&u.year())) =>
            {
                return Err(LedgerError::Invalid(format!(
                    "entity {}: DateTime property {name} ({t}) is outside Edm.DateTime's 1601..9999 range",
                    at()
                )))
            }
            _ => {}
        }
    }
    let size = entity_size(e);
    if size > MAX_ENTITY_BYTES {
        return Err(LedgerError::Invalid(format!(
            "entity {} is {size} bytes; Table Storage allows {MAX_ENTITY_BYTES}",
            at()
        )));
    }
    Ok(())
}

/// Property names are C# identifiers of at most 255 characters, and not the system
/// properties. Checking them also keeps names safe to splice into an OData filter.
pub(crate) fn validate_property_name(name: &str) -> Result<(), String> {
    // Byte by byte: a non-ASCII byte is never an ASCII letter or digit, as its char is not.
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || name.len() > 255 || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "invalid property name {name:?} (letters, digits and _, not starting with a digit, at most 255)"
        ));
    }
    if matches!(name, "PartitionKey" | "RowKey" | "Timestamp") {
        return Err(format!(
            "property name {name:?} is reserved by Table Storage"
        ));
    }
    Ok(())
}

/// Checks a batch the way Table Storage does before sending or applying it: size, keys,
/// one partition, no row twice, entity limits. Shared by both ledgers.
pub(crate) fn validate_batch(pk: &str, ops: &[Op]) -> Result<(), LedgerError> {
    if ops.len() > MAX_BATCH {
        return Err(LedgerError::Invalid(format!(
            "batch of {} operations exceeds {MAX_BATCH}",
            ops.len()
        )));
    }
    validate_key(pk)?;
    let mut seen = std::collections::HashSet::new();
    for op in ops {
        validate_key(op.row_key())?;
        if !seen.insert(op.row_key()) {
            return Err(LedgerError::Invalid(format!(
                "row {} appears twice in one batch",
                op.row_key()
            )));
        }
        if let Op::Insert(e) | Op::Replace(e, _) | Op::Upsert(e) = op {
            if e.partition_key != pk {
                return Err(LedgerError::Invalid(
                    "batch spans more than one partition".into(),
                ));
            }
            validate_entity(e)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_are_identifiers() {
        for ok in ["State", "_x", "LastPercent2", &"a".repeat(255)] {
            assert!(validate_property_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2x",
            "a-b",
            "é",
            "aé",
            "a b",
            "PartitionKey",
            &"a".repeat(256),
        ] {
            assert!(validate_property_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utf16_length_counts_code_units() {
        assert_eq!(utf16_len(""), 0);
        assert_eq!(utf16_len("rp|vm-0001"), 10);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("a😀"), 3, "a surrogate pair counts twice");
        let mixed = "Zürich 東京 😀 x";
        assert_eq!(utf16_len(mixed), mixed.encode_utf16().count());
    }

    /// A time ARM or an event can carry (`9999-12-31T23:59:59-05:00` parses as RFC 3339)
    /// whose UTC reading is past year 9999 made `to_offset` panic here; now it is refused
    /// like any other time outside Edm.DateTime.
    #[test]
    fn datetime_past_9999_in_utc_is_refused_not_a_panic() {
        let t = time::OffsetDateTime::parse(
            "9999-12-31T23:59:59-05:00",
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let e = Entity::new("p", "r").with("SourceTime", Value::DateTime(t));
        let err = validate_entity(&e).unwrap_err();
        assert!(err.to_string().contains("1601..9999"), "{err}");
        let ok = Entity::new("p", "r").with(
            "SourceTime",
            Value::DateTime(time::macros::datetime!(2026-11-01 00:00 -05:00)),
        );
        assert!(validate_entity(&ok).is_ok());
    }
}
