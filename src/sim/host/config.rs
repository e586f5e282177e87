//! Reading `host.json` and `functions/*/function.json` the way the Functions host does,
//! with `%NAME%` binding expressions resolved from app settings.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cron::Schedule;
use super::HostError;

/// What the stand-in needs from `host.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    pub function_timeout: Duration,
    pub executable: Option<String>,
    pub arguments: Vec<String>,
    pub working_directory: Option<String>,
    pub enable_forwarding_http_request: bool,
    pub max_concurrent_sessions: usize,
    pub max_concurrent_calls: usize,
    pub max_auto_lock_renewal: Duration,
    pub route_prefix: String,
}

/// One function folder.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub trigger: Trigger,
    pub outputs: Vec<OutputBinding>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// The binding name: the key under `Data`.
    pub binding: String,
    pub kind: TriggerKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerKind {
    ServiceBus {
        queue: String,
        sessions: bool,
    },
    EventGrid,
    Timer {
        schedule: Schedule,
        run_on_startup: bool,
    },
    Http {
        methods: Vec<String>,
        route: String,
    },
}

impl TriggerKind {
    pub fn name(&self) -> &'static str {
        match self {
            TriggerKind::ServiceBus { .. } => "serviceBusTrigger",
            TriggerKind::EventGrid => "eventGridTrigger",
            TriggerKind::Timer { .. } => "timerTrigger",
            TriggerKind::Http { .. } => "httpTrigger",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputBinding {
    pub name: String,
    pub kind: OutputKind,
    /// `"binary"` switches off the host's base64 decoding of string outputs.
    pub data_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    ServiceBus {
        entity: String,
        is_topic: bool,
    },
    Http,
    /// Another binding type: values are collected but go nowhere.
    Other(String),
}

/// .NET TimeSpan text: `[d.]hh:mm:ss[.fffffff]`.
pub fn parse_timespan(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (days, rest) = match s.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.len() != 3 {
        return None;
    }
    let h: u64 = parts[0].parse().ok()?;
    let m: u64 = parts[1].parse().ok()?;
    let secs: f64 = parts[2].parse().ok()?;
    if m >= 60 || !(0.0..60.0).contains(&secs) {
        return None;
    }
    Some(Duration::from_secs_f64(
        (days * 86_400 + h * 3600 + m * 60) as f64 + secs,
    ))
}

/// Replaces `%NAME%` with app settings (then process environment, as app settings are env vars).
pub fn resolve(text: &str, settings: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else {
            return Err(format!("unterminated `%` in `{text}`"));
        };
        let name = &after[..end];
        if name.is_empty() {
            return Err(format!("empty `%%` in `{text}`"));
        }
        let value = settings
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok())
            .ok_or_else(|| format!("`{text}` needs app setting `{name}`, which is not set"))?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn read_host_json(
    app_root: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<HostJson, HostError> {
    let path = app_root.join("host.json");
    let err = |m: String| HostError::Config(format!("{}: {m}", path.display()));
    let text = std::fs::read_to_string(&path).map_err(|e| err(format!("cannot read: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    let Value::Object(root) = v else {
        return Err(err("must be a JSON object".into()));
    };
    match root.get("version").and_then(Value::as_str) {
        Some("2.0") => {}
        other => return Err(err(format!("`version` must be \"2.0\", found {other:?}"))),
    }
    let function_timeout = match root.get("functionTimeout") {
        None | Some(Value::Null) => Duration::from_secs(30 * 60),
        Some(Value::String(s)) => parse_timespan(s).ok_or_else(|| {
            err(format!(
                "`functionTimeout` `{s}` is not a TimeSpan (hh:mm:ss)"
            ))
        })?,
        Some(other) => {
            return Err(err(format!(
                "`functionTimeout` must be a string, got {other}"
            )))
        }
    };
    let empty = Map::new();
    let obj = |v: Option<&Value>| v.and_then(Value::as_object).cloned().unwrap_or_default();
    let ch = obj(root.get("customHandler"));
    let desc = obj(ch.get("description"));
    let executable = desc
        .get("defaultExecutablePath")
        .and_then(Value::as_str)
        .map(|s| resolve(s, settings).map_err(&err))
        .transpose()?;
    let arguments = match desc.get("arguments") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => resolve(s, settings).map_err(&err),
                other => Err(err(format!(
                    "`arguments` entries must be strings, got {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(err(format!("`arguments` must be an array, got {other}"))),
    };
    let working_directory = desc
        .get("workingDirectory")
        .and_then(Value::as_str)
        .map(str::to_string);
    let enable_forwarding_http_request = ch
        .get("enableForwardingHttpRequest")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let ext = obj(root.get("extensions"));
    let sb = ext
        .get("serviceBus")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let num = |k: &str, d: usize| -> Result<usize, HostError> {
        match sb.get(k) {
            None => Ok(d),
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| {
                    err(format!(
                        "`extensions.serviceBus.{k}` must be a positive number"
                    ))
                }),
        }
    };
    let max_concurrent_sessions = num("maxConcurrentSessions", 8)?;
    let max_concurrent_calls = num("maxConcurrentCalls", 16)?;
    if sb.get("autoCompleteMessages").and_then(Value::as_bool) == Some(false) {
        return Err(err(
            "`extensions.serviceBus.autoCompleteMessages` must be true for custom handlers".into(),
        ));
    }
    let max_auto_lock_renewal = match sb.get("maxAutoLockRenewalDuration").and_then(Value::as_str) {
        None => Duration::from_secs(5 * 60),
        Some(s) => parse_timespan(s).ok_or_else(|| {
            err(format!(
                "`extensions.serviceBus.maxAutoLockRenewalDuration` `{s}` is not a TimeSpan"
            ))
        })?,
    };
    let route_prefix = ext
        .get("http")
        .and_then(|h| h.get("routePrefix"))
        .and_then(Value::as_str)
        .unwrap_or("api")
        .trim_matches('/')
        .to_string();
    Ok(HostJson {
        function_timeout,
        executable,
        arguments,
        working_directory,
        enable_forwarding_http_request,
        max_concurrent_sessions,
        max_concurrent_calls,
        max_auto_lock_renewal,
        route_prefix,
    })
}

/// Reads every `functions/<name>/function.json` (sorted by name). Each bad file is named.
pub fn read_functions(
    app_root: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<Vec<FunctionDef>, HostError> {
    let dir = app_root.join("functions");
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| HostError::Config(format!("{}: cannot list: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("function.json"))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        match read_function(&p, settings) {
            Ok(Some(f)) => out.push(f),
            Ok(None) => {}
            Err(e) => problems.push(e),
        }
    }
    if !problems.is_empty() {
        return Err(HostError::Config(problems.join("; ")));
    }
    if out.is_empty() {
        return Err(HostError::Config(format!(
            "{}: no function.json found",
            dir.display()
        )));
    }
    Ok(out)
}

/// One function.json; `Ok(None)` for a disabled function.
pub fn read_function(
    path: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<Option<FunctionDef>, String> {
    let name = path
        .parent()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .ok_or_else(|| format!("{}: cannot tell the function name", path.display()))?
        .to_string();
    let err = |m: String| format!("{}: {m}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| err(format!("not JSON: {e}")))?;
    if v.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let bindings = v
        .get("bindings")
        .and_then(Value::as_array)
        .ok_or_else(|| err("`bindings` must be an array".into()))?;
    let mut trigger = None;
    let mut outputs = Vec::new();
    for (i, b) in bindings.iter().enumerate() {
        let b = b
            .as_object()
            .ok_or_else(|| err(format!("binding #{i} is not an object")))?;
        let s = |k: &str| -> Result<Option<String>, String> {
            match b.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(x)) => resolve(x, settings)
                    .map(Some)
                    .map_err(|m| err(format!("binding #{i} `{k}`: {m}"))),
                Some(other) => Err(err(format!(
                    "binding #{i} `{k}` must be a string, got {other}"
                ))),
            }
        };
        let ty = s("type")?.ok_or_else(|| err(format!("binding #{i} has no `type`")))?;
        let bname = s("name")?.ok_or_else(|| err(format!("binding #{i} has no `name`")))?;
        let direction = s("direction")?.unwrap_or_default();
        if ty.to_ascii_lowercase().ends_with("trigger") {
            if trigger.is_some() {
                return Err(err("more than one trigger binding".into()));
            }
            if direction != "in" {
                return Err(err(format!("trigger `{bname}` must have direction `in`")));
            }
            let kind = match ty.as_str() {
                "serviceBusTrigger" => {
                    // A topic subscription is received from like a queue, at its path
                    // `{topic}/Subscriptions/{subscription}`.
                    let queue = match (s("queueName")?, s("topicName")?, s("subscriptionName")?) {
                        (Some(q), None, None) => {
                            super::wire::check_entity_name(&q)
                                .map_err(|e| err(format!("trigger `{bname}`: {e}")))?;
                            q
                        }
                        (None, Some(t), Some(sub)) => {
                            for n in [&t, &sub] {
                                super::wire::check_entity_name(n)
                                    .map_err(|e| err(format!("trigger `{bname}`: {e}")))?;
                            }
                            super::servicebus::subscription_path(&t, &sub)
                        }
                        _ => {
                            return Err(err(format!(
                                "trigger `{bname}` needs `queueName`, or `topicName` and `subscriptionName`"
                            )))
                        }
                    };
                    let sessions = b
                        .get("isSessionsEnabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    TriggerKind::ServiceBus { queue, sessions }
                }
                "eventGridTrigger" => TriggerKind::EventGrid,
                "timerTrigger" => {
                    let text = s("schedule")?
                        .ok_or_else(|| err(format!("trigger `{bname}` needs `schedule`")))?;
                    let schedule = Schedule::parse(&text)
                        .map_err(|m| err(format!("trigger `{bname}`: {m}")))?;
                    let run_on_startup = b
                        .get("runOnStartup")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    TriggerKind::Timer {
                        schedule,
                        run_on_startup,
                    }
                }
                "httpTrigger" => {
                    let methods = match b.get("methods") {
                        None | Some(Value::Null) => vec![],
                        Some(Value::Array(a)) => a
                            .iter()
                            .map(|m| {
                                m.as_str().map(str::to_ascii_uppercase).ok_or_else(|| {
                                    err(format!("trigger `{bname}`: `methods` must be strings"))
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => {
                            return Err(err(format!(
                                "trigger `{bname}`: `methods` must be an array"
                            )))
                        }
                    };
                    let route = s("route")?.unwrap_or_else(|| name.clone());
                    TriggerKind::Http { methods, route }
                }
                other => {
                    return Err(err(format!(
                        "trigger type `{other}` is not supported by the host stand-in"
                    )))
                }
            };
            trigger = Some(Trigger {
                binding: bname,
                kind,
            });
        } else if direction == "out" {
            let kind = match ty.as_str() {
                "serviceBus" => {
                    let (entity, is_topic) = match (s("queueName")?, s("topicName")?) {
                        (Some(q), None) => (q, false),
                        (None, Some(t)) => (t, true),
                        _ => {
                            return Err(err(format!(
                                "output `{bname}` needs exactly one of `queueName` / `topicName`"
                            )))
                        }
                    };
                    super::wire::check_entity_name(&entity)
                        .map_err(|e| err(format!("output `{bname}`: {e}")))?;
                    OutputKind::ServiceBus { entity, is_topic }
                }
                "http" => OutputKind::Http,
                other => OutputKind::Other(other.to_string()),
            };
            outputs.push(OutputBinding {
                name: bname,
                kind,
                data_type: s("dataType")?,
            });
        }
    }
    let trigger = trigger.ok_or_else(|| err("no trigger binding".into()))?;
    Ok(Some(FunctionDef {
        name,
        trigger,
        outputs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:30:00"), Some(Duration::from_secs(1800)));
        assert_eq!(
            parse_timespan("1.00:00:01"),
            Some(Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_timespan("00:00:00.80"),
            Some(Duration::from_millis(800))
        );
        assert_eq!(parse_timespan("30"), None);
        assert_eq!(parse_timespan("00:61:00"), None);
    }

    #[test]
    fn binding_expressions() {
        let mut s = BTreeMap::new();
        s.insert("Q".to_string(), "copy".to_string());
        assert_eq!(resolve("%Q%", &s).unwrap(), "copy");
        assert_eq!(resolve("a-%Q%-b", &s).unwrap(), "a-copy-b");
        let e = resolve("%FERRY_SURELY_NOT_SET_X%", &s).unwrap_err();
        assert!(e.contains("FERRY_SURELY_NOT_SET_X"), "{e}");
        assert!(resolve("%Q", &s).is_err());
    }

    #[test]
    fn project_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut s = BTreeMap::new();
        for k in [
            "FERRY_EVENTS_QUEUE",
            "FERRY_COPY_QUEUE",
            "FERRY_ALERTS_TOPIC",
        ] {
            s.insert(k.to_string(), k.to_ascii_lowercase().replace('_', "-"));
        }
        s.insert("FERRY_DRILL_SCHEDULE".into(), "0 0 3 * * 0".into());
        let h = read_host_json(root, &s).unwrap();
        assert_eq!(h.function_timeout, Duration::from_secs(1800));
        assert_eq!(h.executable.as_deref(), Some("ferry"));
        assert_eq!(h.arguments, vec!["serve".to_string()]);
        assert_eq!(h.max_concurrent_sessions, 8);
        let fs = read_functions(root, &s).unwrap();
        let seq = fs.iter().find(|f| f.name == "sequencer").unwrap();
        assert_eq!(
            seq.trigger.kind,
            TriggerKind::ServiceBus {
                queue: "ferry-copy-queue".into(),
                sessions: true
            }
        );
        assert!(fs.iter().any(|f| f.name == "status"
            && matches!(&f.trigger.kind, TriggerKind::Http { route, .. } if route == "status/{view?}")));
        let e = read_functions(root, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("function.json") && e.contains("FERRY_"), "{e}");
    }
}
