//! What travels between functions and what the ledger hands back: the copy request message
//! (`ferry::functions::CopyRequestMessage`, serde) and ledger records
//! (`ferry::ledger::records::{Chain, CopyRecord, Reading}::from_entity`) on entities read from
//! Table Storage's JSON (`ledger::table::wire::entity_from_json`). Properties: nothing
//! panics; a record or entity written and read back is the same.
#![no_main]

mod common;

use ferry::functions::CopyRequestMessage;
use ferry::ledger::records::{Chain, CopyRecord, Reading};
use ferry::ledger::table::wire::{entity_from_json, entity_json, format_datetime};
use ferry::ledger::{Entity, Value};
use libfuzzer_sys::fuzz_target;

/// The Table wire keeps `Edm.DateTime` to 100 ns inside 1601..=9999 (the ledger refuses
/// others before writing), doubles exactly (NaN as NaN), everything else as is.
fn wire_eq(a: &Entity, b: &Entity) -> bool {
    a.partition_key == b.partition_key
        && a.row_key == b.row_key
        && a.properties.len() == b.properties.len()
        && a.properties
            .iter()
            .all(|(k, v)| match (v, b.properties.get(k)) {
                (Value::DateTime(x), Some(Value::DateTime(y))) => {
                    format_datetime(*x) == format_datetime(*y)
                }
                (Value::Double(x), Some(Value::Double(y))) => common::f64_eq(Some(*x), Some(*y)),
                (x, Some(y)) => x == y,
                (_, None) => false,
            })
}

fn storable(e: &Entity) -> bool {
    e.properties.values().all(|v| match v {
        Value::DateTime(t) => t
            .checked_to_offset(time::UtcOffset::UTC)
            .is_some_and(|u| (1601..=9999).contains(&u.year())),
        _ => true,
    })
}

fn records(e: &Entity) {
    // The ETag travels beside an entity (in the write's `Op`), not inside it.
    if let Ok(mut c) = Chain::from_entity(e) {
        let back = Chain::from_entity(&c.to_entity()).expect("written chain reads back");
        c.etag = None;
        assert_eq!(back, c);
    }
    if let Ok(mut c) = CopyRecord::from_entity(e) {
        let mut back = CopyRecord::from_entity(&c.to_entity()).expect("written copy reads back");
        assert!(common::f64_eq(back.last_percent, c.last_percent));
        (back.last_percent, c.last_percent) = (None, None);
        c.etag = None;
        assert_eq!(back, c);
    }
    if let Ok(r) = Reading::from_entity(e) {
        let back = Reading::from_entity(&r.to_entity()).expect("written reading reads back");
        assert!(common::f64_eq(back.percent, r.percent));
        assert_eq!(
            (&back.chain, &back.source_rp_name, back.at, &back.state),
            (&r.chain, &r.source_rp_name, r.at, &r.state)
        );
        let (x, y) = (
            serde_json::to_value(&back.disks).unwrap(),
            serde_json::to_value(&r.disks).unwrap(),
        );
        assert!(common::json_eq(&x, &y), "{x} != {y}");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<CopyRequestMessage>(data) {
        let text = serde_json::to_string(&m).expect("message serializes");
        let back: CopyRequestMessage =
            serde_json::from_str(&text).expect("written message reads back");
        assert_eq!(back, m);
        let out = m.to_message(None);
        assert_eq!(out.message_id, back.to_message(None).message_id);
    }
    let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice(data) else {
        return;
    };
    let Ok(e) = entity_from_json(&obj, None) else {
        return;
    };
    if storable(&e) {
        let json = entity_json(&e);
        let back = entity_from_json(json.as_object().expect("an object"), None)
            .unwrap_or_else(|err| panic!("written entity does not read back: {err}\n{json}"));
        assert!(wire_eq(&e, &back), "{e:?}\n{back:?}");
    }
    records(&e);
});
