//! HTTP triggers (not forwarded): the request matched against the function's route
//! template and methods, encoded like the host's, and the `res` output turned into a reply.

use serde_json::Value;
use std::collections::BTreeMap;

use super::encode::{self, SysData};
use super::{Host, HostError, OutputKind, TriggerKind};

impl Host {
    /// Calls an HTTP-triggered function (non-forwarded). Returns the `res` output's status and
    /// body; a failed invocation is a 500, like the host's.
    pub async fn call_http(
        &self,
        function: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<(u16, Value), HostError> {
        let f = self
            .function(function)
            .filter(|f| matches!(f.trigger.kind, TriggerKind::Http { .. }))
            .ok_or_else(|| HostError::UnknownFunction(function.to_string()))?
            .clone();
        let TriggerKind::Http { methods, route } = &f.trigger.kind else {
            return Err(HostError::UnknownFunction(function.to_string()));
        };
        let method = method.to_ascii_uppercase();
        let (path, query_text) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut path = path.trim_start_matches('/').to_string();
        let prefix = &self.host_json.route_prefix;
        if !prefix.is_empty() {
            if let Some(rest) = path.strip_prefix(&format!("{prefix}/")) {
                path = rest.to_string();
            }
        }
        let Some(params) = match_route(route, &path) else {
            return Ok((404, Value::Null));
        };
        if !methods.is_empty() && !methods.contains(&method) {
            return Ok((404, Value::Null));
        }
        let mut query = BTreeMap::new();
        for (k, v) in url::form_urlencoded::parse(query_text.as_bytes()) {
            query
                .entry(k.to_string())
                .and_modify(|x: &mut String| {
                    x.push(',');
                    x.push_str(&v)
                })
                .or_insert_with(|| v.to_string());
        }
        let mut hmap: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in headers {
            hmap.entry(k.to_string()).or_default().push(v.to_string());
        }
        hmap.entry("Host".into())
            .or_insert_with(|| vec!["localhost:7071".into()]);
        let prefix_part = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        let q = if query_text.is_empty() {
            String::new()
        } else {
            format!("?{query_text}")
        };
        let url = format!("http://localhost:7071{prefix_part}/{path}{q}");
        let sys = SysData::new(&f.name, self.config.clock.now());
        let payload = encode::encode_http(
            &f.trigger.binding,
            &method,
            &url,
            &query,
            &hmap,
            &params,
            body,
            &sys,
        );
        let o = self.invoke(&f, &payload).await;
        if !o.succeeded {
            return Ok((500, Value::Null));
        }
        let http_out = f
            .outputs
            .iter()
            .find(|ob| ob.kind == OutputKind::Http)
            .and_then(|ob| o.outputs.get(&ob.name))
            .cloned();
        let Some(res) = http_out else {
            return Ok((204, Value::Null));
        };
        let Value::Object(res) = res else {
            self.warn(format!(
                "handler bug: `{}` http output is not an object",
                f.name
            ));
            return Ok((500, Value::Null));
        };
        let status = match res.get("statusCode").or_else(|| res.get("status")) {
            None | Some(Value::Null) => 200,
            Some(Value::Number(n)) => n
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .unwrap_or(500),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(500),
            Some(_) => 500,
        };
        let body = match res.get("body") {
            None => Value::Null,
            Some(Value::String(s)) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
            }
            Some(other) => other.clone(),
        };
        Ok((status, body))
    }
}

/// Matches an ASP.NET-style route template (`status/{view?}`, `items/{id:int}`).
fn match_route(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let t: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let p: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut params = BTreeMap::new();
    for (i, seg) in t.iter().enumerate() {
        if let Some(inner) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let optional = inner.ends_with('?');
            let inner = inner.trim_end_matches('?');
            let (name, constraint) = inner.split_once(':').unwrap_or((inner, ""));
            let name = name.trim_start_matches('*');
            match p.get(i) {
                Some(v) => {
                    let v = percent_encoding::percent_decode_str(v)
                        .decode_utf8_lossy()
                        .to_string();
                    let ok = match constraint {
                        "int" | "long" => v.parse::<i64>().is_ok(),
                        "alpha" => v.chars().all(|c| c.is_ascii_alphabetic()),
                        "guid" => uuid::Uuid::parse_str(&v).is_ok(),
                        _ => true,
                    };
                    if !ok {
                        return None;
                    }
                    params.insert(name.to_string(), v);
                }
                None if optional => {}
                None => return None,
            }
        } else if !p.get(i).is_some_and(|x| x.eq_ignore_ascii_case(seg)) {
            return None;
        }
    }
    if p.len() > t.len() {
        return None;
    }
    Some(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes() {
        let m = match_route("status/{view?}", "status/chains").unwrap();
        assert_eq!(m.get("view").map(String::as_str), Some("chains"));
        assert!(match_route("status/{view?}", "status").unwrap().is_empty());
        assert!(match_route("status/{view?}", "other").is_none());
        assert!(match_route("status/{view?}", "status/a/b").is_none());
        assert!(match_route("items/{id:int}", "items/x").is_none());
        assert_eq!(
            json!(match_route("items/{id:int}", "items/5")),
            json!({"id": "5"})
        );
    }
}
