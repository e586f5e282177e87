//! NCRONTAB schedules as the timer trigger reads them: six fields
//! `{second} {minute} {hour} {day} {month} {day-of-week}` (five fields = seconds `0`).
//! Fields take `*`, numbers, ranges `a-b`, steps `*/n` / `a-b/n`, lists `a,b`, and
//! English month / day names. Day and day-of-week must both match (NCrontab semantics).

use time::{Date, Duration, OffsetDateTime, Time};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    text: String,
    seconds: [bool; 60],
    minutes: [bool; 60],
    hours: [bool; 24],
    days: [bool; 32],
    months: [bool; 13],
    weekdays: [bool; 7],
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let fields: Vec<&str> = match fields.len() {
            6 => fields,
            5 => std::iter::once("0").chain(fields).collect(),
            n => {
                return Err(format!(
                    "schedule `{text}` has {n} fields; NCRONTAB needs 6 (second minute hour day month day-of-week)"
                ))
            }
        };
        let mut s = Schedule {
            text: text.to_string(),
            seconds: [false; 60],
            minutes: [false; 60],
            hours: [false; 24],
            days: [false; 32],
            months: [false; 13],
            weekdays: [false; 7],
        };
        fill(&mut s.seconds, fields[0], 0, 59, &[], "second")?;
        fill(&mut s.minutes, fields[1], 0, 59, &[], "minute")?;
        fill(&mut s.hours, fields[2], 0, 23, &[], "hour")?;
        fill(&mut s.days, fields[3], 1, 31, &[], "day")?;
        fill(&mut s.months, fields[4], 1, 12, &MONTHS, "month")?;
        // 7 is accepted as Sunday too.
        let mut wd = [false; 8];
        fill(&mut wd, fields[5], 0, 7, &WEEKDAYS, "day-of-week")?;
        for (i, on) in wd.iter().enumerate() {
            if *on {
                s.weekdays[i % 7] = true;
            }
        }
        Ok(s)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches_day(&self, d: Date) -> bool {
        self.months[u8::from(d.month()) as usize]
            && self.days[d.day() as usize]
            && self.weekdays[d.weekday().number_days_from_sunday() as usize]
    }

    /// The first occurrence strictly after `t` (UTC), or `None` if there is none within
    /// eight years (e.g. `0 0 0 30 2 *`).
    pub fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        let t = t.to_offset(time::UtcOffset::UTC);
        let mut c = t.replace_nanosecond(0).ok()? + Duration::seconds(1);
        let limit = t + Duration::days(366 * 8);
        while c <= limit {
            if !self.matches_day(c.date()) {
                c = c.date().next_day()?.with_time(Time::MIDNIGHT).assume_utc();
                continue;
            }
            if !self.hours[c.hour() as usize] {
                c = c.replace_time(Time::from_hms(c.hour(), 0, 0).ok()?) + Duration::hours(1);
                continue;
            }
            if !self.minutes[c.minute() as usize] {
                c = c.replace_time(Time::from_hms(c.hour(), c.minute(), 0).ok()?)
                    + Duration::minutes(1);
                continue;
            }
            if !self.seconds[c.second() as usize] {
                c += Duration::seconds(1);
                continue;
            }
            return Some(c);
        }
        None
    }

    /// The latest occurrence at or before `t`, searching back up to `within`.
    pub fn last_at_or_before(&self, t: OffsetDateTime, within: Duration) -> Option<OffsetDateTime> {
        let mut from = t - within;
        let mut last = None;
        while let Some(n) = self.next_after(from) {
            if n > t {
                break;
            }
            last = Some(n);
            from = n;
        }
        last
    }
}

fn fill(
    slots: &mut [bool],
    field: &str,
    min: u32,
    max: u32,
    names: &[&str],
    what: &str,
) -> Result<(), String> {
    let bad = |m: &str| format!("{what} field `{field}`: {m}");
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            // Month names are 1-based, day names 0-based.
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let v: u32 = s
            .parse()
            .map_err(|_| bad(&format!("`{s}` is not a number")))?;
        if v < min || v > max {
            return Err(bad(&format!("{v} is outside {min}-{max}")));
        }
        Ok(v)
    };
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| bad(&format!("bad step `{s}`")))?;
                if step == 0 {
                    return Err(bad("step 0"));
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        if lo > hi {
            return Err(bad(&format!("range {lo}-{hi} is backwards")));
        }
        let mut v = lo;
        while v <= hi {
            slots[v as usize] = true;
            v += step;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn every_ten_minutes() {
        let s = Schedule::parse("0 */10 * * * *").unwrap();
        assert_eq!(
            s.next_after(datetime!(2026-11-01 00:00 UTC)),
            Some(datetime!(2026-11-01 00:10 UTC))
        );
        assert_eq!(
            s.next_after(datetime!(2026-11-01 23:55:30 UTC)),
            Some(datetime!(2026-11-02 00:00 UTC))
        );
        assert_eq!(
            s.last_at_or_before(datetime!(2026-11-01 00:15 UTC), Duration::days(1)),
            Some(datetime!(2026-11-01 00:10 UTC))
        );
    }

    #[test]
    fn names_lists_and_errors() {
        let s = Schedule::parse("0 30 9 * Jan Mon-Fri").unwrap();
        // 2027-01-02 is a Saturday → Monday the 4th.
        assert_eq!(
            s.next_after(datetime!(2027-01-02 00:00 UTC)),
            Some(datetime!(2027-01-04 09:30 UTC))
        );
        assert!(Schedule::parse("* * *").is_err());
        assert!(Schedule::parse("61 * * * * *")
            .unwrap_err()
            .contains("second"));
        assert!(Schedule::parse("0 0 0 30 2 *")
            .unwrap()
            .next_after(datetime!(2026-01-01 00:00 UTC))
            .is_none());
    }
}
