//! The custom-handler invocation body: `Invocation::from_slice` and every decoder the
//! functions use, on arbitrary bytes. None may panic; the decoders' documented shapes hold.
#![no_main]

use ferry::protocol::{parse_host_time, Invocation};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_host_time(text);
    }
    let Ok(inv) = Invocation::from_slice(data) else {
        return;
    };
    // Decoding the same JSON again through from_value gives the same invocation.
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        assert_eq!(Invocation::from_value(v).as_ref(), Ok(&inv));
    }
    let mut names: Vec<String> = inv.data.keys().cloned().collect();
    names.extend(["event", "request", "req", "absent"].map(String::from));
    for name in &names {
        match inv.data_json(name) {
            // A string binding only decodes to an object or array.
            Ok(v) => {
                if matches!(inv.data.get(name), Some(Value::String(_))) {
                    assert!(v.is_object() || v.is_array(), "data_json({name}) = {v}");
                }
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        let _ = inv.data_text(name);
        if let Ok(req) = inv.http_request(name) {
            assert_eq!(req.method, req.method.to_ascii_uppercase());
            for h in req.headers.keys() {
                let _ = req.header(h);
                let _ = req.header(&h.to_ascii_uppercase());
            }
        }
    }
    let mut keys: Vec<String> = inv.metadata.keys().cloned().collect();
    keys.extend(["MessageId", "DeliveryCount", "EnqueuedTimeUtc", "absent"].map(String::from));
    for key in &keys {
        let _ = inv.meta_str(key);
        let _ = inv.meta_u64(key);
        let _ = inv.meta_time(key);
        let _ = inv.meta_object(key);
    }
    let _ = inv.utc_now();
});
