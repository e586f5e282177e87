//! Event Grid / CloudEvents restore point events: `events::parse_payload` on arbitrary
//! bytes read as JSON, and on well-formed events whose fields come from the fuzzer (so the
//! deep paths — operation, status, resourceUri, time — are reached).
#![no_main]

use ferry::events::{event_grid_event, parse_payload, EventKind, Parsed, Schema};
use ferry::ids::RestorePointId;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn check(v: &Value) {
    for r in parse_payload(v) {
        match r {
            Ok(Parsed::RestorePoint(ev)) => {
                // The parsed id is a valid id: it prints and re-parses to itself.
                let again: RestorePointId = ev.restore_point.to_string().parse().expect("reparse");
                assert_eq!(again, ev.restore_point);
                // Rebuilding the event in the Event Grid schema parses back to the same event.
                if let Some(t) = ev.time {
                    let rebuilt = event_grid_event(&ev.id, ev.kind, &ev.restore_point, t);
                    match ferry::events::parse_event(&rebuilt) {
                        Ok(Parsed::RestorePoint(back)) => {
                            assert_eq!(back.kind, ev.kind);
                            assert_eq!(back.restore_point, ev.restore_point);
                            assert_eq!(back.time, ev.time);
                            assert_eq!(back.schema, Schema::EventGrid);
                        }
                        other => panic!("rebuilt event does not parse back: {other:?}"),
                    }
                }
            }
            Ok(Parsed::Ignored(why)) => assert!(!why.is_empty()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary bytes read as JSON.
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        check(&v);
    }
    // Well-formed events with fuzzed fields: `id \n type \n operation \n status \n uri \n time`.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut f = text.split('\n');
    let mut next = || f.next().unwrap_or("").to_string();
    let (id, ty, op, status, uri, time) = (next(), next(), next(), next(), next(), next());
    let kind = if data.len() % 2 == 0 {
        EventKind::Write
    } else {
        EventKind::Delete
    };
    let (event_type, operation) = match kind {
        EventKind::Write => (ferry::events::WRITE_SUCCESS, ferry::events::WRITE_OPERATION),
        EventKind::Delete => (
            ferry::events::DELETE_SUCCESS,
            ferry::events::DELETE_OPERATION,
        ),
    };
    let pick = |fuzzed: &str, good: &str| {
        if fuzzed.is_empty() {
            good.to_string()
        } else {
            fuzzed.to_string()
        }
    };
    let data_obj = json!({
        "resourceUri": uri,
        "operationName": pick(&op, operation),
        "status": pick(&status, "Succeeded"),
    });
    let eg = json!({"id": id, "eventType": pick(&ty, event_type), "eventTime": time,
                    "subject": uri, "data": data_obj});
    let ce = json!({"id": id, "specversion": "1.0", "type": pick(&ty, event_type), "time": time,
                    "source": "/subscriptions/x", "subject": uri, "data": data_obj});
    check(&json!([eg, ce]));
});
