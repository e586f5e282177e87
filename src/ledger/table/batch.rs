//! Entity group transactions: the `multipart/mixed` request with one changeset, and the
//! parsing of the nested multipart response.

/// One operation inside a changeset, already rendered.
pub struct PartRequest {
    pub method: &'static str,
    /// Absolute URL of the entity (or the table, for inserts).
    pub url: String,
    pub if_match: Option<String>,
    pub body: Option<String>,
}

/// Renders the `$batch` body; returns (content type, body).
pub fn render(batch_id: &str, changeset_id: &str, parts: &[PartRequest]) -> (String, String) {
    let batch = format!("batch_{batch_id}");
    let changeset = format!("changeset_{changeset_id}");
    let mut out = String::new();
    out.push_str(&format!("--{batch}\r\n"));
    out.push_str(&format!(
        "Content-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
    ));
    for (i, p) in parts.iter().enumerate() {
        out.push_str(&format!("--{changeset}\r\n"));
        out.push_str("Content-Type: application/http\r\n");
        out.push_str("Content-Transfer-Encoding: binary\r\n\r\n");
        out.push_str(&format!("{} {} HTTP/1.1\r\n", p.method, p.url));
        out.push_str(&format!("Content-ID: {}\r\n", i + 1));
        out.push_str("Accept: application/json;odata=minimalmetadata\r\n");
        out.push_str("DataServiceVersion: 3.0\r\n");
        if let Some(etag) = &p.if_match {
            out.push_str(&format!("If-Match: {etag}\r\n"));
        }
        match &p.body {
            Some(body) => {
                out.push_str("Content-Type: application/json\r\n");
                out.push_str("Prefer: return-no-content\r\n");
                out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                out.push_str(body);
                out.push_str("\r\n");
            }
            None => out.push_str("\r\n"),
        }
    }
    out.push_str(&format!("--{changeset}--\r\n"));
    out.push_str(&format!("--{batch}--\r\n"));
    (format!("multipart/mixed; boundary={batch}"), out)
}

/// One HTTP response found inside the batch response.
#[derive(Debug, Clone, PartialEq)]
pub struct PartResponse {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl PartResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Flattens a (possibly nested) multipart response into its HTTP responses, in order.
pub fn parse(content_type: &str, body: &str) -> Result<Vec<PartResponse>, String> {
    let boundary = boundary(content_type)
        .ok_or_else(|| format!("batch response content type {content_type:?} has no boundary"))?;
    let mut out = Vec::new();
    for part in split(body, &boundary)? {
        let (headers, content) = split_head(part);
        let headers = parse_headers(headers);
        let ct = headers
            .iter()
            .find(|(k, _)| k == "content-type")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if ct.to_ascii_lowercase().starts_with("multipart/mixed") {
            out.extend(parse(ct, content)?);
        } else if ct.to_ascii_lowercase().starts_with("application/http") {
            out.push(parse_http(content)?);
        } else {
            return Err(format!("unexpected batch response part of type {ct:?}"));
        }
    }
    Ok(out)
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The parts between `--boundary` lines, up to the closing `--boundary--`.
fn split<'a>(body: &'a str, boundary: &str) -> Result<Vec<&'a str>, String> {
    let delim = format!("--{boundary}");
    let mut chunks = body.split(delim.as_str());
    chunks.next(); // preamble
    let mut parts = Vec::new();
    for chunk in chunks {
        if chunk.starts_with("--") {
            return Ok(parts);
        }
        let chunk = chunk
            .strip_prefix("\r\n")
            .or_else(|| chunk.strip_prefix('\n'))
            .unwrap_or(chunk);
        let chunk = chunk
            .strip_suffix("\r\n")
            .or_else(|| chunk.strip_suffix('\n'))
            .unwrap_or(chunk);
        parts.push(chunk);
    }
    Err(format!(
        "batch response is missing its closing boundary {delim}--"
    ))
}

/// Splits a header block from what follows the first blank line.
fn split_head(s: &str) -> (&str, &str) {
    let crlf = s.find("\r\n\r\n").map(|i| (i, 4));
    let lf = s.find("\n\n").map(|i| (i, 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => {
            let (i, n) = if a.0 <= b.0 { a } else { b };
            (&s[..i], &s[i + n..])
        }
        (Some((i, n)), None) | (None, Some((i, n))) => (&s[..i], &s[i + n..]),
        (None, None) => (s, ""),
    }
}

fn parse_headers(block: &str) -> Vec<(String, String)> {
    block
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

fn parse_http(s: &str) -> Result<PartResponse, String> {
    let (head, body) = split_head(s);
    let mut lines = head.lines();
    let status_line = lines.next().unwrap_or("").trim();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| status_line.starts_with("HTTP/"))
        .ok_or_else(|| format!("batch response part has no status line: {status_line:?}"))?;
    let rest: Vec<&str> = lines.collect();
    Ok(PartResponse {
        status,
        headers: parse_headers(&rest.join("\n")),
        body: body.trim_end().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_changeset() {
        let (ct, body) = render(
            "b1",
            "c1",
            &[
                PartRequest {
                    method: "PUT",
                    url: "http://h/a/t(PartitionKey='p',RowKey='r')".into(),
                    if_match: Some("W/\"1\"".into()),
                    body: Some("{}".into()),
                },
                PartRequest {
                    method: "DELETE",
                    url: "http://h/a/t(PartitionKey='p',RowKey='s')".into(),
                    if_match: Some("*".into()),
                    body: None,
                },
            ],
        );
        assert_eq!(ct, "multipart/mixed; boundary=batch_b1");
        assert!(body.starts_with(
            "--batch_b1\r\nContent-Type: multipart/mixed; boundary=changeset_c1\r\n\r\n--changeset_c1\r\n"
        ));
        assert!(body.contains(
            "PUT http://h/a/t(PartitionKey='p',RowKey='r') HTTP/1.1\r\nContent-ID: 1\r\n"
        ));
        assert!(body.contains("If-Match: W/\"1\"\r\n"));
        assert!(body.contains("Content-Length: 2\r\n\r\n{}\r\n--changeset_c1\r\n"));
        assert!(body.ends_with("--changeset_c1--\r\n--batch_b1--\r\n"));
    }

    // The sample responses of "Performing entity group transactions" (Azure docs).
    #[test]
    fn parses_success_and_error_responses() {
        let ok = "--batchresponse_e6\r\nContent-Type: multipart/mixed; boundary=changesetresponse_f7\r\n\r\n\
            --changesetresponse_f7\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 204 No Content\r\nContent-ID: 1\r\nX-Content-Type-Options: nosniff\r\nETag: W/\"datetime'2026-01-01T00%3A00%3A00.1Z'\"\r\n\r\n\r\n\
            --changesetresponse_f7\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            HTTP/1.1 204 No Content\r\nContent-ID: 2\r\n\r\n\r\n\
            --changesetresponse_f7--\r\n--batchresponse_e6--\r\n";
        let parts = parse("multipart/mixed; boundary=batchresponse_e6", ok).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].status, 204);
        assert_eq!(
            parts[0].header("etag"),
            Some("W/\"datetime'2026-01-01T00%3A00%3A00.1Z'\"")
        );
        assert_eq!(parts[1].header("content-id"), Some("2"));

        let err = "--batchresponse_e6\nContent-Type: multipart/mixed; boundary=changesetresponse_f7\n\n\
            --changesetresponse_f7\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n\
            HTTP/1.1 409 Conflict\nContent-ID: 3\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\n\n\
            {\"odata.error\":{\"code\":\"EntityAlreadyExists\",\"message\":{\"lang\":\"en-US\",\"value\":\"2:The specified entity already exists.\"}}}\n\
            --changesetresponse_f7--\n--batchresponse_e6--\n";
        let parts = parse("multipart/mixed; boundary=\"batchresponse_e6\"", err).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].status, 409);
        assert!(parts[0].body.starts_with("{\"odata.error\""));
    }

    #[test]
    fn rejects_malformed_responses() {
        assert!(parse("multipart/mixed", "").is_err());
        assert!(parse(
            "multipart/mixed; boundary=x",
            "--x\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204\r\n\r\n"
        )
        .is_err());
        assert!(parse(
            "multipart/mixed; boundary=x",
            "--x\r\nContent-Type: application/http\r\n\r\ngarbage\r\n--x--"
        )
        .is_err());
        assert!(parse(
            "multipart/mixed; boundary=x",
            "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--"
        )
        .is_err());
    }
}
