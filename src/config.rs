//! Settings from the environment (app settings in Azure), validated once at start.
//! Every problem is one line naming the setting; nothing falls back silently where a
//! fallback would hide a misconfiguration in Azure.

use crate::permissions::ServiceBusEntity;
use crate::policy::{parse_duration, Policy};
use std::collections::BTreeMap;
use time::Duration;

pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
pub const DEFAULT_COMPUTE_API: &str = "2025-11-01";
pub const DEFAULT_DISK_API: &str = "2026-03-02";

/// Where the ledger lives.
#[derive(Clone, PartialEq, Eq)]
pub enum LedgerSetting {
    Memory,
    /// A table URL or a connection string (see `ledger::table`).
    Table(String),
}

/// A connection string carries an account key: only its table URL is shown.
impl std::fmt::Debug for LedgerSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerSetting::Memory => f.write_str("Memory"),
            LedgerSetting::Table(s) => f.debug_tuple("Table").field(&redacted_ledger(s)).finish(),
        }
    }
}

/// What may be shown of a `FERRY_LEDGER` value: the table URL, never a key.
pub fn redacted_ledger(setting: &str) -> String {
    match crate::ledger::table::setting::parse(setting) {
        Ok(crate::ledger::table::setting::Parsed::Token(u)) => u.to_string(),
        Ok(p) => format!("{} (connection string, key redacted)", p.table_url()),
        Err(_) => "<unparsed ledger setting, redacted>".to_string(),
    }
}

/// What may be shown of a `FERRY_CREDENTIAL` value: its kind, never a dev token.
pub fn redacted_credential(credential: &str) -> &str {
    if credential.starts_with("dev-token:") {
        "dev-token:<redacted>"
    } else {
        credential
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// Token-bucket pacing for ARM calls: burst and refill per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub per_second: f64,
}

#[derive(Clone)]
pub struct Config {
    pub arm_endpoint: url::Url,
    pub compute_api_version: String,
    pub disk_api_version: String,
    pub arm_read_rate: Option<Rate>,
    pub arm_write_rate: Option<Rate>,
    pub servicebus_endpoint: url::Url,
    pub copy_queue: String,
    pub events_queue: String,
    pub alerts_topic: String,
    pub ledger: LedgerSetting,
    pub policy: Policy,
    pub credential: String,
    pub managed_identity_client_id: Option<String>,
    pub stall_after: Duration,
    pub expiry_warning: Duration,
    pub log_format: LogFormat,
    /// Copies polled at once by one poller invocation.
    pub poll_concurrency: usize,
    /// The longest `Retry-After` (or backoff) ferry waits out inside an invocation; a longer
    /// one ends the call and the work is rescheduled (the queue, the next tick).
    pub arm_max_retry_wait: Duration,
    /// How long one poll sweep may run before it stops and leaves the rest to the next
    /// tick (which starts where this one stopped).
    pub poll_budget: Duration,
    /// Worker threads of `ferry serve`'s runtime. One by default: ferry's work is waiting
    /// on ARM, Table Storage and Service Bus, and one thread does it with fewer wake-ups
    /// between threads (a third less CPU per polled copy, docs/performance.md).
    pub worker_threads: usize,
    /// Where metrics go (`APPLICATIONINSIGHTS_CONNECTION_STRING`, which the Functions host
    /// sets); `None`: no metrics.
    pub app_insights: Option<crate::telemetry::connection::ConnectionString>,
    /// `FERRY_ALERT_WEBHOOK`: alerts in the Common Alert Schema (its `Debug` hides the query).
    pub alert_webhook: Option<crate::alert_webhook::WebhookUrl>,
}

/// Written out so that the credential and the ledger setting are redacted: a derived
/// `Debug` would print a dev token or an account key into any log line or panic.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("arm_endpoint", &self.arm_endpoint.as_str())
            .field("compute_api_version", &self.compute_api_version)
            .field("disk_api_version", &self.disk_api_version)
            .field("arm_read_rate", &self.arm_read_rate)
            .field("arm_write_rate", &self.arm_write_rate)
            .field("servicebus_endpoint", &self.servicebus_endpoint.as_str())
            .field("copy_queue", &self.copy_queue)
            .field("events_queue", &self.events_queue)
            .field("alerts_topic", &self.alerts_topic)
            .field("ledger", &self.ledger)
            .field("policy", &self.policy)
            .field("credential", &redacted_credential(&self.credential))
            .field(
                "managed_identity_client_id",
                &self.managed_identity_client_id,
            )
            .field("stall_after", &self.stall_after)
            .field("expiry_warning", &self.expiry_warning)
            .field("log_format", &self.log_format)
            .field("poll_concurrency", &self.poll_concurrency)
            .field("arm_max_retry_wait", &self.arm_max_retry_wait)
            .field("poll_budget", &self.poll_budget)
            .field("worker_threads", &self.worker_threads)
            .field("app_insights", &self.app_insights)
            .field("alert_webhook", &self.alert_webhook)
            .finish()
    }
}

/// The longest sweep budget accepted: the sweep must end well inside `host.json`'s
/// `functionTimeout` (30 minutes), or the host kills it before it can record where it
/// stopped.
pub const MAX_POLL_BUDGET: Duration = Duration::minutes(25);

/// All the problems found, one per line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("configuration is invalid:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// Where the settings are read: `serve` in Azure is strict; `demo` fills in its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    Demo,
}

/// Whether the process runs inside Azure Functions / App Service.
pub fn running_in_azure(env: &BTreeMap<String, String>) -> bool {
    env.contains_key("WEBSITE_SITE_NAME") || env.contains_key("WEBSITE_INSTANCE_ID")
}

/// Service Bus entity names (Microsoft.ServiceBus naming rules): letters, digits, `.`, `-`,
/// `_`, starting and ending with a letter or digit. The ends matter: a name of `.` would
/// vanish from the request URL path (`url` drops dot segments) and ferry would send to the
/// namespace's `/messages` instead.
fn queue_name_ok(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.len() <= 260
        && !s.contains("..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_rate(name: &str, v: &str, problems: &mut Vec<String>) -> Option<Rate> {
    if v.eq_ignore_ascii_case("off") {
        return None;
    }
    let parsed = v.split_once('+').and_then(|(b, r)| {
        Some(Rate {
            burst: b.trim().parse().ok()?,
            per_second: r.trim().trim_end_matches("/s").parse().ok()?,
        })
    });
    match parsed {
        Some(r) if r.burst > 0 && r.per_second > 0.0 => Some(r),
        _ => {
            problems.push(format!(
                "{name}: {v:?} is not `<burst>+<per second>/s` (e.g. 250+25/s) or `off`"
            ));
            None
        }
    }
}

impl Config {
    /// Reads the configuration from a snapshot of the environment.
    pub fn from_env(env: &BTreeMap<String, String>, mode: Mode) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let in_azure = running_in_azure(env);

        let url_setting =
            |name: &str, value: Option<String>, problems: &mut Vec<String>| -> Option<url::Url> {
                let v = value?;
                match url::Url::parse(&v) {
                    Ok(u) => match crate::endpoint::require_secure(name, &u) {
                        Ok(()) => Some(u),
                        Err(e) => {
                            problems.push(e);
                            None
                        }
                    },
                    Err(e) => {
                        problems.push(format!("{name}: {v:?} is not a URL ({e})"));
                        None
                    }
                }
            };

        let arm_endpoint = url_setting(
            "FERRY_ARM_ENDPOINT",
            Some(get("FERRY_ARM_ENDPOINT").unwrap_or_else(|| DEFAULT_ARM_ENDPOINT.into())),
            &mut problems,
        );
        let servicebus_endpoint = match get("FERRY_SERVICEBUS_ENDPOINT") {
            None => {
                problems.push("FERRY_SERVICEBUS_ENDPOINT: missing (e.g. https://<namespace>.servicebus.windows.net)".into());
                None
            }
            Some(v) => url_setting("FERRY_SERVICEBUS_ENDPOINT", Some(v), &mut problems),
        };
        let mut queue = |name: &str, default: &str| {
            let v = get(name).unwrap_or_else(|| default.to_string());
            if !queue_name_ok(&v) {
                problems.push(format!(
                    "{name}: {v:?} is not a valid Service Bus entity name"
                ));
            }
            v
        };
        // Names and defaults from the declaration of ferry's entities (src/permissions.rs).
        let mut entity = |e: ServiceBusEntity| queue(e.setting(), e.default_name());
        let copy_queue = entity(ServiceBusEntity::CopyQueue);
        let events_queue = entity(ServiceBusEntity::EventsQueue);
        let alerts_topic = entity(ServiceBusEntity::AlertsTopic);

        let ledger = match get("FERRY_LEDGER") {
            None if mode == Mode::Demo => LedgerSetting::Memory,
            None => {
                problems.push("FERRY_LEDGER: missing (a Table endpoint such as https://<account>.table.core.windows.net/ferry, `UseDevelopmentStorage=true`, or `memory` for local experiments)".into());
                LedgerSetting::Memory
            }
            Some(v) if v.eq_ignore_ascii_case("memory") => {
                if in_azure {
                    problems.push("FERRY_LEDGER: `memory` is not allowed in Azure: state would be lost on every restart; point it at a Table endpoint".into());
                }
                LedgerSetting::Memory
            }
            Some(v) => {
                match crate::ledger::table::setting::parse(&v) {
                    Ok(p) => {
                        if let Err(e) =
                            crate::endpoint::require_secure("FERRY_LEDGER", p.table_url())
                        {
                            problems.push(e);
                        }
                    }
                    Err(e) => problems.push(format!("FERRY_LEDGER: {e}")),
                }
                LedgerSetting::Table(v)
            }
        };

        let policy = match get("FERRY_POLICY") {
            None => {
                problems
                    .push("FERRY_POLICY: missing (inline JSON or a path to a JSON file)".into());
                None
            }
            Some(v) => {
                let text = if v.starts_with('{') {
                    Ok(v)
                } else {
                    std::fs::read_to_string(&v)
                        .map_err(|e| format!("FERRY_POLICY: cannot read file {v:?}: {e}"))
                };
                match text {
                    Err(e) => {
                        problems.push(e);
                        None
                    }
                    Ok(t) => match Policy::parse(&t) {
                        Ok(p) => Some(p),
                        Err(e) => {
                            problems.extend(e.0.into_iter().map(|p| format!("FERRY_POLICY: {p}")));
                            None
                        }
                    },
                }
            }
        };

        let credential = get("FERRY_CREDENTIAL").unwrap_or_else(|| "managed-identity".into());
        let cred_ok = credential == "managed-identity"
            || credential == "azure-cli"
            || credential
                .strip_prefix("dev-token:")
                .is_some_and(|t| !t.is_empty());
        if !cred_ok {
            problems.push(format!(
                "FERRY_CREDENTIAL: {:?} is not managed-identity, azure-cli or dev-token:<token>",
                credential.split(':').next().unwrap_or("")
            ));
        } else if in_azure && credential.starts_with("dev-token:") {
            problems
                .push("FERRY_CREDENTIAL: dev-token is for the emulator only, not for Azure".into());
        }

        let mut dur = |name: &str, default: Duration| match get(name) {
            None => default,
            Some(v) => match parse_duration(&v) {
                Ok(d) if d.is_positive() => d,
                Ok(_) => {
                    problems.push(format!("{name}: must be positive"));
                    default
                }
                Err(e) => {
                    problems.push(format!("{name}: {e}"));
                    default
                }
            },
        };
        let stall_after = dur("FERRY_STALL_AFTER", Duration::hours(6));
        let expiry_warning = dur("FERRY_EXPIRY_WARNING", Duration::days(2));
        let poll_budget = dur("FERRY_POLL_BUDGET", Duration::minutes(8));
        // Zero is allowed: never wait in-process, always reschedule.
        let arm_max_retry_wait = match get("FERRY_ARM_MAX_RETRY_WAIT") {
            None => Duration::minutes(1),
            Some(v) => match parse_duration(&v) {
                Ok(d) if !d.is_negative() && d <= Duration::minutes(5) => d,
                Ok(_) => {
                    problems.push("FERRY_ARM_MAX_RETRY_WAIT: must be from PT0S to PT5M".into());
                    Duration::minutes(1)
                }
                Err(e) => {
                    problems.push(format!("FERRY_ARM_MAX_RETRY_WAIT: {e}"));
                    Duration::minutes(1)
                }
            },
        };
        if poll_budget > MAX_POLL_BUDGET {
            problems.push(format!(
                "FERRY_POLL_BUDGET: must be at most PT25M (the function timeout is 30 minutes), got {} minutes",
                poll_budget.whole_minutes()
            ));
        }

        let api = |name: &str, default: &str, problems: &mut Vec<String>| {
            let v = get(name).unwrap_or_else(|| default.to_string());
            let ok = v.len() >= 10
                && v.as_bytes()[..10].iter().enumerate().all(|(i, c)| {
                    if i == 4 || i == 7 {
                        *c == b'-'
                    } else {
                        c.is_ascii_digit()
                    }
                })
                && v[10..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                problems.push(format!(
                    "{name}: {v:?} is not an api-version like {default}"
                ));
            } else if v.as_str() < "2021-03-01" {
                problems.push(format!("{name}: {v} is older than 2021-03-01, the first version with cross-region copy"));
            }
            v
        };
        let compute_api_version = api(
            "FERRY_COMPUTE_API_VERSION",
            DEFAULT_COMPUTE_API,
            &mut problems,
        );
        let disk_api_version = api("FERRY_DISK_API_VERSION", DEFAULT_DISK_API, &mut problems);

        let arm_read_rate = match get("FERRY_ARM_READ_RATE") {
            None => Some(Rate {
                burst: 250,
                per_second: 25.0,
            }),
            Some(v) => parse_rate("FERRY_ARM_READ_RATE", &v, &mut problems),
        };
        let arm_write_rate = match get("FERRY_ARM_WRITE_RATE") {
            None => Some(Rate {
                burst: 200,
                per_second: 10.0,
            }),
            Some(v) => parse_rate("FERRY_ARM_WRITE_RATE", &v, &mut problems),
        };

        let log_format = match get("FERRY_LOG_FORMAT").as_deref() {
            None if in_azure => LogFormat::Json,
            None => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(v) => {
                problems.push(format!("FERRY_LOG_FORMAT: {v:?} is not json or text"));
                LogFormat::Text
            }
        };
        let poll_concurrency = match get("FERRY_POLL_CONCURRENCY") {
            None => 16,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "FERRY_POLL_CONCURRENCY: {v:?} is not a number from 1 to 256"
                    ));
                    16
                }
            },
        };

        let worker_threads = match get("FERRY_WORKER_THREADS") {
            None => 1,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=64).contains(&n) => n,
                _ => {
                    problems.push(format!(
                        "FERRY_WORKER_THREADS: {v:?} is not a number from 1 to 64"
                    ));
                    1
                }
            },
        };

        let app_insights = get(crate::telemetry::connection::SETTING).and_then(|v| {
            crate::telemetry::connection::ConnectionString::parse(&v)
                .map_err(|e| problems.push(e))
                .ok()
        });

        let alert_webhook = get(crate::alert_webhook::SETTING).and_then(|v| {
            crate::alert_webhook::WebhookUrl::parse(&v)
                .map_err(|e| problems.push(e))
                .ok()
        });

        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Config {
            arm_endpoint: arm_endpoint.expect("checked"),
            compute_api_version,
            disk_api_version,
            arm_read_rate,
            arm_write_rate,
            servicebus_endpoint: servicebus_endpoint.expect("checked"),
            copy_queue,
            events_queue,
            alerts_topic,
            ledger,
            policy: policy.expect("checked"),
            credential,
            managed_identity_client_id: get("FERRY_MANAGED_IDENTITY_CLIENT_ID"),
            stall_after,
            expiry_warning,
            log_format,
            poll_concurrency,
            arm_max_retry_wait,
            poll_budget,
            worker_threads,
            app_insights,
            alert_webhook,
        })
    }

    /// Reads the process environment.
    pub fn from_process_env(mode: Mode) -> Result<Config, ConfigError> {
        Self::from_env(&std::env::vars().collect(), mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str =
        r#"{"rules":[{"scope":"/subscriptions/s1","targets":[{"region":"westus2"}]}]}"#;

    #[test]
    fn app_insights_connection_string_is_checked() {
        let mut e = minimal();
        assert!(Config::from_env(&e, Mode::Serve)
            .unwrap()
            .app_insights
            .is_none());
        e.insert(
            crate::telemetry::connection::SETTING.into(),
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/".into(),
        );
        let c = Config::from_env(&e, Mode::Serve).unwrap();
        assert!(c.app_insights.is_some());
        e.insert(
            crate::telemetry::connection::SETTING.into(),
            "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://ingest.example/".into(),
        );
        let err = Config::from_env(&e, Mode::Serve).unwrap_err().to_string();
        assert!(
            err.contains("APPLICATIONINSIGHTS_CONNECTION_STRING: IngestionEndpoint"),
            "{err}"
        );
    }

    #[test]
    fn queue_names_start_and_end_with_a_letter_or_digit() {
        for ok in ["copy-requests", "a", "q.v2_x"] {
            assert!(queue_name_ok(ok), "{ok}");
        }
        for bad in [
            "", ".", "-q", "q-", "q.", "_q", "a..b", "a/b", "a?b", "a#b", "a%2Fb",
        ] {
            assert!(!queue_name_ok(bad), "{bad}");
        }
    }

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn minimal() -> BTreeMap<String, String> {
        env(&[
            (
                "FERRY_SERVICEBUS_ENDPOINT",
                "https://ns.servicebus.windows.net",
            ),
            ("FERRY_LEDGER", "https://acct.table.core.windows.net/ferry"),
            ("FERRY_POLICY", POLICY),
        ])
    }

    #[test]
    fn defaults() {
        let c = Config::from_env(&minimal(), Mode::Serve).unwrap();
        assert_eq!(c.arm_endpoint.as_str(), "https://management.azure.com/");
        assert_eq!(c.compute_api_version, "2025-11-01");
        assert_eq!(c.disk_api_version, "2026-03-02");
        assert_eq!(c.copy_queue, "copy-requests");
        assert_eq!(c.credential, "managed-identity");
        assert_eq!(c.stall_after, Duration::hours(6));
        assert_eq!(c.poll_budget, Duration::minutes(8));
        assert_eq!(c.arm_max_retry_wait, Duration::minutes(1));
        assert_eq!(c.worker_threads, 1);
        let mut e = minimal();
        e.insert("FERRY_ARM_MAX_RETRY_WAIT".into(), "PT0S".into());
        let c = Config::from_env(&e, Mode::Serve).unwrap();
        assert_eq!(c.arm_max_retry_wait, Duration::ZERO);
        assert_eq!(
            c.arm_read_rate,
            Some(Rate {
                burst: 250,
                per_second: 25.0
            })
        );
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn every_problem_on_its_own_line() {
        let e = Config::from_env(
            &env(&[
                ("FERRY_ARM_ENDPOINT", "not a url"),
                ("FERRY_COPY_QUEUE", "a/b"),
                ("FERRY_CREDENTIAL", "password:hunter2"),
                ("FERRY_STALL_AFTER", "6 hours"),
                ("FERRY_COMPUTE_API_VERSION", "2019-07-01"),
                ("FERRY_ARM_READ_RATE", "lots"),
                ("FERRY_POLL_BUDGET", "PT40M"),
                ("FERRY_ARM_MAX_RETRY_WAIT", "PT1H"),
                ("FERRY_POLICY", "{\"rules\":[]}"),
            ]),
            Mode::Serve,
        )
        .unwrap_err();
        let text = e.to_string();
        for name in [
            "FERRY_ARM_ENDPOINT",
            "FERRY_SERVICEBUS_ENDPOINT",
            "FERRY_COPY_QUEUE",
            "FERRY_LEDGER",
            "FERRY_POLICY",
            "FERRY_CREDENTIAL",
            "FERRY_STALL_AFTER",
            "FERRY_COMPUTE_API_VERSION",
            "FERRY_ARM_READ_RATE",
            "FERRY_POLL_BUDGET",
            "FERRY_ARM_MAX_RETRY_WAIT",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        // Secrets in a bad setting are not echoed.
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn memory_ledger_refused_in_azure() {
        let mut e = minimal();
        e.insert("FERRY_LEDGER".into(), "memory".into());
        assert!(Config::from_env(&e, Mode::Serve).is_ok());
        e.insert("WEBSITE_SITE_NAME".into(), "ferry-app".into());
        let err = Config::from_env(&e, Mode::Serve).unwrap_err().to_string();
        assert!(err.contains("FERRY_LEDGER") && err.contains("not allowed in Azure"));
    }

    #[test]
    fn azure_requires_https_and_no_dev_token() {
        let mut e = minimal();
        e.insert("WEBSITE_SITE_NAME".into(), "ferry-app".into());
        e.insert("FERRY_ARM_ENDPOINT".into(), "http://10.0.0.4:1".into());
        e.insert("FERRY_CREDENTIAL".into(), "dev-token:x".into());
        let err = Config::from_env(&e, Mode::Serve).unwrap_err().to_string();
        assert!(err.contains("FERRY_ARM_ENDPOINT: http://10.0.0.4:1/ must be https"));
        assert!(err.contains("dev-token is for the emulator"));
    }

    #[test]
    fn every_endpoint_is_https_except_on_loopback() {
        // In Azure or not: a storage token must not go to a plain-HTTP host.
        for azure in [true, false] {
            for (name, value) in [
                ("FERRY_LEDGER", "http://elsewhere.example/ferry"),
                (
                    "FERRY_LEDGER",
                    "DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=a2V5",
                ),
                (
                    "FERRY_LEDGER",
                    "AccountName=acct;AccountKey=a2V5;TableEndpoint=http://10.1.2.3:10002/acct",
                ),
                (
                    "FERRY_SERVICEBUS_ENDPOINT",
                    "http://ns.servicebus.windows.net",
                ),
                ("FERRY_ARM_ENDPOINT", "http://management.azure.com"),
            ] {
                let mut e = minimal();
                if azure {
                    e.insert("WEBSITE_SITE_NAME".into(), "ferry-app".into());
                }
                e.insert(name.into(), value.into());
                let err = Config::from_env(&e, Mode::Serve).unwrap_err().to_string();
                assert!(
                    err.contains(&format!("{name}: ")) && err.contains("must be https"),
                    "{name}={value} (azure {azure}): {err}"
                );
                assert!(!err.contains("a2V5"), "the key is echoed: {err}");
            }
        }
        // Loopback (emulator, Azurite, a local broker) stays allowed.
        let mut e = minimal();
        e.insert("FERRY_ARM_ENDPOINT".into(), "http://127.0.0.1:8089".into());
        e.insert(
            "FERRY_SERVICEBUS_ENDPOINT".into(),
            "http://localhost:9".into(),
        );
        e.insert("FERRY_LEDGER".into(), "UseDevelopmentStorage=true".into());
        assert!(Config::from_env(&e, Mode::Serve).is_ok());
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        const TOKEN: &str = "s3cr3t-dev-token-value";
        const KEY: &str = "c2VjcmV0LWFjY291bnQta2V5LXZhbHVl"; // base64 of a made-up key
        let mut e = minimal();
        e.insert("FERRY_ARM_ENDPOINT".into(), "http://127.0.0.1:8089".into());
        e.insert("FERRY_CREDENTIAL".into(), format!("dev-token:{TOKEN}"));
        e.insert(
            "FERRY_LEDGER".into(),
            format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={KEY}"),
        );
        let c = Config::from_env(&e, Mode::Serve).unwrap();
        let parsed =
            crate::ledger::table::setting::parse(&format!("AccountName=acct;AccountKey={KEY}"))
                .unwrap();
        let key_bytes = format!(
            "{:?}",
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, KEY).unwrap()
        );
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{parsed:?}"),
            format!("{:?}", c.ledger),
        ] {
            for secret in [TOKEN, KEY, key_bytes.as_str()] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(text.contains("redacted"), "{text}");
        }
        // What is safe to show still is.
        assert!(format!("{c:?}").contains("acct.table.core.windows.net"));
    }

    #[test]
    fn policy_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.json");
        std::fs::write(&p, POLICY).unwrap();
        let mut e = minimal();
        e.insert("FERRY_POLICY".into(), p.display().to_string());
        assert_eq!(
            Config::from_env(&e, Mode::Serve)
                .unwrap()
                .policy
                .rules
                .len(),
            1
        );
        e.insert("FERRY_POLICY".into(), "/nonexistent/policy.json".into());
        assert!(Config::from_env(&e, Mode::Serve)
            .unwrap_err()
            .to_string()
            .contains("cannot read file"));
    }

    #[test]
    fn rates() {
        let mut e = minimal();
        e.insert("FERRY_ARM_READ_RATE".into(), "off".into());
        e.insert("FERRY_ARM_WRITE_RATE".into(), "100+5/s".into());
        let c = Config::from_env(&e, Mode::Serve).unwrap();
        assert_eq!(c.arm_read_rate, None);
        assert_eq!(
            c.arm_write_rate,
            Some(Rate {
                burst: 100,
                per_second: 5.0
            })
        );
    }

    #[test]
    fn worker_threads_are_a_small_positive_number() {
        for (v, want) in [("1", Some(1)), ("4", Some(4)), (" 64 ", Some(64))] {
            let mut e = minimal();
            e.insert("FERRY_WORKER_THREADS".into(), v.into());
            assert_eq!(
                Config::from_env(&e, Mode::Serve)
                    .ok()
                    .map(|c| c.worker_threads),
                want,
                "{v}"
            );
        }
        for v in ["0", "65", "-1", "two", "1.5"] {
            let mut e = minimal();
            e.insert("FERRY_WORKER_THREADS".into(), v.into());
            let err = Config::from_env(&e, Mode::Serve).unwrap_err();
            assert!(
                err.to_string().contains("FERRY_WORKER_THREADS"),
                "{v}: {err}"
            );
        }
    }
}
