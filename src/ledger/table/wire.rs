//! Table Storage's JSON and OData forms: entity bodies with `@odata.type` annotations,
//! `$filter` expressions with typed literals, and entity addresses in URL paths.

use crate::ledger::limits::validate_property_name;
use crate::ledger::{ETag, Entity, LedgerError, Query, Value};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{Map, Number, Value as Json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Everything but RFC 3986 unreserved characters gets percent-encoded.
pub const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `Edm.DateTime` as Azure writes it: UTC, seven fraction digits (100 ns ticks).
pub fn format_datetime(t: OffsetDateTime) -> String {
    // `to_offset` panics when the UTC time falls outside year ±9999 (e.g. 9999-12-31T23:00
    // at -02:00); such a value is outside Edm.DateTime and refused before any write, so the
    // local reading only ever reaches a query literal, which then matches nothing.
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

pub fn parse_datetime(s: &str) -> Result<OffsetDateTime, String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| format!("invalid Edm.DateTime {s:?}: {e}"))?;
    // Checked: an offset can push the UTC time past year 9999, where `to_offset` panics.
    t.checked_to_offset(UtcOffset::UTC).ok_or_else(|| {
        format!("invalid Edm.DateTime {s:?}: outside the representable range in UTC")
    })
}

/// An OData string literal: single quotes, inner quotes doubled.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The typed OData literal for a value in a `$filter`.
pub fn literal(v: &Value) -> Result<String, LedgerError> {
    Ok(match v {
        Value::String(s) => quote(s),
        Value::Int64(i) => format!("{i}L"),
        // `{:?}` always writes a fraction or exponent (3.0, 1e20), so the literal stays a
        // double rather than an Int32.
        Value::Double(d) if d.is_finite() => format!("{d:?}"),
        Value::Double(d) => {
            return Err(LedgerError::Invalid(format!(
                "cannot query for equality with the non-finite double {d}"
            )))
        }
        Value::Bool(b) => b.to_string(),
        Value::DateTime(t) => format!("datetime'{}'", format_datetime(*t)),
    })
}

/// The `$filter` for a query, `None` when it selects everything.
pub fn filter(q: &Query) -> Result<Option<String>, LedgerError> {
    let mut parts = Vec::new();
    if let Some(pk) = &q.partition_key {
        parts.push(format!("PartitionKey eq {}", quote(pk)));
    }
    if let Some(from) = &q.partition_key_from {
        parts.push(format!("PartitionKey ge {}", quote(from)));
    }
    if let Some(to) = &q.partition_key_to {
        parts.push(format!("PartitionKey lt {}", quote(to)));
    }
    if let Some(from) = &q.row_key_from {
        parts.push(format!("RowKey ge {}", quote(from)));
    }
    if let Some(to) = &q.row_key_to {
        parts.push(format!("RowKey lt {}", quote(to)));
    }
    for (name, v) in &q.equals {
        // Names are spliced into the expression unquoted: only identifiers may pass.
        validate_property_name(name).map_err(LedgerError::Invalid)?;
        parts.push(format!("{name} eq {}", literal(v)?));
    }
    Ok(if parts.is_empty() {
        None
    } else {
        Some(parts.join(" and "))
    })
}

/// `(PartitionKey='…',RowKey='…')`, percent-encoded for a URL path.
pub fn entity_address(table: &str, pk: &str, rk: &str) -> String {
    let enc = |k: &str| utf8_percent_encode(&k.replace('\'', "''"), STRICT).to_string();
    format!("{table}(PartitionKey='{}',RowKey='{}')", enc(pk), enc(rk))
}

/// The JSON body of an insert or replace.
pub fn entity_json(e: &Entity) -> Json {
    let mut m = Map::new();
    m.insert("PartitionKey".into(), Json::String(e.partition_key.clone()));
    m.insert("RowKey".into(), Json::String(e.row_key.clone()));
    for (name, v) in &e.properties {
        let typed = |m: &mut Map<String, Json>, ty: &str, v: Json| {
            m.insert(format!("{name}@odata.type"), Json::String(ty.into()));
            m.insert(name.clone(), v);
        };
        match v {
            // Strings and booleans are JSON's own types, which Table Storage infers.
            Value::String(s) => {
                m.insert(name.clone(), Json::String(s.clone()));
            }
            Value::Bool(b) => {
                m.insert(name.clone(), Json::Bool(*b));
            }
            // Int64 travels as a string (JSON numbers lose precision past 2^53).
            Value::Int64(i) => typed(&mut m, "Edm.Int64", Json::String(i.to_string())),
            // Annotated so that 3.0 is not read back as an Int32; non-finite values are
            // written the way the service writes them.
            Value::Double(d) => match Number::from_f64(*d) {
                Some(n) => typed(&mut m, "Edm.Double", Json::Number(n)),
                None => {
                    let s = if d.is_nan() {
                        "NaN"
                    } else if *d > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    };
                    typed(&mut m, "Edm.Double", Json::String(s.into()))
                }
            },
            Value::DateTime(t) => typed(&mut m, "Edm.DateTime", Json::String(format_datetime(*t))),
        }
    }
    Json::Object(m)
}

/// Reads an entity from a minimal-metadata JSON object. Tolerates Int32 and untyped
/// values; Guid and Binary (which ferry never writes) are kept as strings.
pub fn entity_from_json(obj: &Map<String, Json>, etag: Option<ETag>) -> Result<Entity, String> {
    let key = |k: &str| match obj.get(k) {
        Some(Json::String(s)) => Ok(s.clone()),
        _ => Err(format!("entity without a string {k}")),
    };
    let mut e = Entity::new(key("PartitionKey")?, key("RowKey")?);
    e.etag = etag.or_else(|| match obj.get("odata.etag") {
        Some(Json::String(s)) => Some(ETag(s.clone())),
        _ => None,
    });
    for (name, v) in obj {
        if name.contains('@')
            || name.starts_with("odata.")
            || matches!(name.as_str(), "PartitionKey" | "RowKey" | "Timestamp")
        {
            continue;
        }
        let ty = match obj.get(&format!("{name}@odata.type")) {
            Some(Json::String(t)) => Some(t.as_str()),
            Some(other) => {
                return Err(format!(
                    "property {name}: odata.type {other} is not a string"
                ))
            }
            None => None,
        };
        let bad = || format!("property {name}: value {v} does not fit its type {ty:?}");
        let value = match (ty, v) {
            (Some("Edm.Int64"), Json::String(s)) => Value::Int64(s.parse().map_err(|_| bad())?),
            (Some("Edm.Int64") | Some("Edm.Int32"), Json::Number(n)) => {
                Value::Int64(n.as_i64().ok_or_else(bad)?)
            }
            (Some("Edm.Double"), Json::Number(n)) => Value::Double(n.as_f64().ok_or_else(bad)?),
            (Some("Edm.Double"), Json::String(s)) => Value::Double(match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                other => other.parse().map_err(|_| bad())?,
            }),
            (Some("Edm.DateTime"), Json::String(s)) => Value::DateTime(parse_datetime(s)?),
            (Some("Edm.Boolean") | None, Json::Bool(b)) => Value::Bool(*b),
            (Some("Edm.String" | "Edm.Guid" | "Edm.Binary") | None, Json::String(s)) => {
                Value::String(s.clone())
            }
            // Untyped numbers: integers are Int32, the rest doubles.
            (None, Json::Number(n)) => match n.as_i64() {
                Some(i) if !n.is_f64() => Value::Int64(i),
                _ => Value::Double(n.as_f64().ok_or_else(bad)?),
            },
            (None, Json::Null) => continue,
            _ => return Err(bad()),
        };
        e.properties.insert(name.clone(), value);
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `copy_request_message` fuzz target
    /// (fuzz/regressions/copy_request_message/datetime-offset-past-9999.json): the offset
    /// moves the UTC time into year 10000 and `to_offset` panicked.
    #[test]
    fn datetime_whose_utc_is_out_of_range_is_an_error_not_a_panic() {
        let e = parse_datetime("9999-12-31T23:59:59-01:00").unwrap_err();
        assert!(e.contains("outside the representable range"), "{e}");
        let obj = serde_json::json!({"PartitionKey": "p", "RowKey": "r",
            "X@odata.type": "Edm.DateTime", "X": "9999-12-31T23:59:59-01:00"});
        let e = entity_from_json(obj.as_object().unwrap(), None).unwrap_err();
        assert!(e.contains("9999-12-31T23:59:59-01:00"), "{e}");
        assert_eq!(
            parse_datetime("0000-01-01T00:30:00+01:00").map(|t| t.year()),
            Ok(-1)
        );
    }
    use time::macros::datetime;

    #[test]
    fn datetime_has_seven_digits_and_round_trips_to_100ns() {
        let t = datetime!(2026-03-04 05:06:07.123456789 +02:00);
        let s = format_datetime(t);
        assert_eq!(s, "2026-03-04T03:06:07.1234567Z");
        assert_eq!(
            parse_datetime(&s).unwrap(),
            datetime!(2026-03-04 03:06:07.1234567 UTC)
        );
        assert_eq!(
            parse_datetime("2026-03-04T03:06:07Z").unwrap(),
            datetime!(2026-03-04 03:06:07 UTC)
        );
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn filter_uses_typed_literals() {
        let q = Query::partition("it's")
            .row_prefix("copy-")
            .where_eq("Name", Value::String("o'hara".into()))
            .where_eq("Count", Value::Int64(-123))
            .where_eq("Ratio", Value::Double(3.0))
            .where_eq("Active", Value::Bool(true))
            .where_eq("At", Value::DateTime(datetime!(2026-01-02 03:04:05.5 UTC)));
        assert_eq!(
            filter(&q).unwrap().unwrap(),
            "PartitionKey eq 'it''s' and RowKey ge 'copy-' and RowKey lt 'copy-\u{10FFFF}' \
             and Name eq 'o''hara' and Count eq -123L and Ratio eq 3.0 and Active eq true \
             and At eq datetime'2026-01-02T03:04:05.5000000Z'"
        );
        assert_eq!(filter(&Query::default()).unwrap(), None);
        let injected = Query::default().where_eq("A eq 1 or B", Value::Bool(true));
        assert!(matches!(filter(&injected), Err(LedgerError::Invalid(_))));
        let nan = Query::default().where_eq("A", Value::Double(f64::NAN));
        assert!(matches!(filter(&nan), Err(LedgerError::Invalid(_))));
    }

    #[test]
    fn address_escapes_quotes_and_encodes() {
        assert_eq!(
            entity_address("ferry", "a'b c", "é"),
            "ferry(PartitionKey='a%27%27b%20c',RowKey='%C3%A9')"
        );
    }

    #[test]
    fn entity_json_round_trips_every_type() {
        let e = Entity::new("p", "r")
            .with("S", Value::String("x".into()))
            .with("I", Value::Int64(i64::MAX))
            .with("D", Value::Double(2.0))
            .with("N", Value::Double(f64::NEG_INFINITY))
            .with("B", Value::Bool(false))
            .with(
                "T",
                Value::DateTime(datetime!(2026-01-02 03:04:05.000001 UTC)),
            );
        let j = entity_json(&e);
        assert_eq!(j["I@odata.type"], "Edm.Int64");
        assert_eq!(j["I"], i64::MAX.to_string());
        assert_eq!(j["T"], "2026-01-02T03:04:05.0000010Z");
        assert_eq!(j["D@odata.type"], "Edm.Double");
        let back = entity_from_json(j.as_object().unwrap(), Some(ETag("e".into()))).unwrap();
        assert_eq!(back.properties, e.properties);
        assert_eq!(back.etag, Some(ETag("e".into())));
    }

    #[test]
    fn reads_untyped_and_int32_values_and_skips_metadata() {
        let j: Json = serde_json::from_str(
            r#"{"odata.etag":"W/\"x\"","PartitionKey":"p","RowKey":"r","Timestamp":"2026-01-01T00:00:00Z",
                "Timestamp@odata.type":"Edm.DateTime","A":5,"B":1.5,"C@odata.type":"Edm.Int32","C":7,
                "G@odata.type":"Edm.Guid","G":"c9da6455-213d-42c9-9a79-3e9149a57833"}"#,
        )
        .unwrap();
        let e = entity_from_json(j.as_object().unwrap(), None).unwrap();
        assert_eq!(e.etag, Some(ETag("W/\"x\"".into())));
        assert_eq!(e.i64("A"), Some(5));
        assert_eq!(e.properties["B"], Value::Double(1.5));
        assert_eq!(e.i64("C"), Some(7));
        assert!(e.str("G").is_some());
        assert_eq!(e.properties.len(), 4);
        let bad: Json = serde_json::from_str(
            r#"{"PartitionKey":"p","RowKey":"r","X@odata.type":"Edm.Int64","X":"twelve"}"#,
        )
        .unwrap();
        assert!(entity_from_json(bad.as_object().unwrap(), None).is_err());
        let nokey: Json = serde_json::from_str(r#"{"RowKey":"r"}"#).unwrap();
        assert!(entity_from_json(nokey.as_object().unwrap(), None).is_err());
    }
}
