//! What the stand-in reads of the Service Bus REST wire format and of `function.json`
//! entity names, written here from the service's documentation rather than taken from the
//! product's sender (`bus::message`): a mistake there must not be mirrored here, or the
//! stand-in would accept what Service Bus refuses.

use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// Content type of a batch send (a JSON array of `{Body, BrokerProperties, UserProperties}`).
pub const BATCH_CONTENT_TYPE: &str = "application/vnd.microsoft.servicebus.json";

/// An RFC 1123 date as `BrokerProperties` carries it (`ScheduledEnqueueTimeUtc`), always in
/// GMT: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn parse_rfc1123(s: &str) -> Option<OffsetDateTime> {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let t = PrimitiveDateTime::parse(s.trim(), format)
        .ok()?
        .assume_utc();
    // The weekday is redundant, but a wrong one means a wrong date.
    let weekday = &s.trim()[..3];
    (t.weekday().to_string()[..3] == *weekday).then_some(t)
}

/// A queue or topic name as Service Bus accepts it: 1–260 letters, digits, `.`, `-` and
/// `_`, starting and ending with a letter or digit. (Service Bus also allows `/` for
/// hierarchical names; the stand-in serves one path segment per entity and refuses them.)
pub fn check_entity_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid queue or topic name `{name}`: {why}"));
    if name.is_empty() || name.len() > 260 {
        return bad("must be 1 to 260 characters");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return bad(&format!(
            "`{c}` is not a letter, digit, `.`, `-` or `_` (the stand-in has no hierarchical names)"
        ));
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return bad("must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn rfc1123_dates() {
        assert_eq!(
            parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(datetime!(1994-11-06 08:49:37 UTC))
        );
        assert_eq!(
            parse_rfc1123(" Fri, 04 Dec 2026 21:00:00 GMT "),
            Some(datetime!(2026-12-04 21:00:00 UTC))
        );
        for bad in [
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "1994-11-06T08:49:37Z",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "",
        ] {
            assert_eq!(parse_rfc1123(bad), None, "{bad}");
        }
    }

    #[test]
    fn entity_names() {
        for ok in ["copy-requests", "a", "restore-point-events", "alerts_1.v2"] {
            assert_eq!(check_entity_name(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(261);
        for bad in [
            "",
            "-a",
            "a-",
            "a/b",
            "a b",
            "..",
            "q?x",
            "é",
            long.as_str(),
        ] {
            assert!(check_entity_name(bad).is_err(), "{bad}");
        }
    }
}
