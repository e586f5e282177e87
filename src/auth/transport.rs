//! The HTTP transport azure_identity sends its token requests through: ferry's own reqwest
//! client (the one ARM, Service Bus and Table Storage calls use), so the binary carries one
//! HTTP stack and one TLS crypto provider. azure_core is built without its bundled reqwest
//! (`default-features = false`); a credential built without this transport would panic on
//! its first request, so every credential ferry builds gets [`transport`].

use azure_core::error::{Error, ErrorKind, ResultExt};
use azure_core::http::headers::{HeaderName, HeaderValue, Headers};
use azure_core::http::request::{Body, Request};
use azure_core::http::{AsyncRawResponse, HttpClient, Method, StatusCode, Transport};
use futures::AsyncReadExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The same limits azure_core's own reqwest client uses.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A reqwest 0.12 client as azure_core's [`HttpClient`].
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Built like azure_core's default client: connect and read timeouts, and no redirects
    /// (a redirect would carry the identity header to wherever it points).
    pub fn new() -> azure_core::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .with_context(ErrorKind::Other, "failed to build the HTTP client")?;
        Ok(ReqwestTransport { client })
    }
}

/// The transport to put into every azure_identity credential's `ClientOptions`.
pub fn transport() -> azure_core::Result<Transport> {
    Ok(Transport::new(Arc::new(ReqwestTransport::new()?)))
}

fn method(m: Method) -> azure_core::Result<reqwest::Method> {
    reqwest::Method::from_bytes(m.as_str().as_bytes())
        .with_context(ErrorKind::Other, "unsupported HTTP method")
}

async fn body_bytes(body: &Body) -> azure_core::Result<bytes::Bytes> {
    match body {
        Body::Bytes(b) => Ok(b.clone()),
        // Token requests carry small form bodies as bytes; a stream is read whole from
        // its start (the request is not consumed: retries send it again).
        Body::SeekableStream(stream) => {
            let mut stream = stream.clone();
            stream.reset().await?;
            let mut buf = Vec::new();
            stream
                .read_to_end(&mut buf)
                .await
                .with_context(ErrorKind::Io, "failed to read the request body")?;
            Ok(buf.into())
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut req = self
            .client
            .request(method(request.method())?, request.url().clone());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = req
            .body(body_bytes(request.body()).await?)
            .build()
            .with_context(ErrorKind::Other, "failed to build the HTTP request")?;
        // Connection failures are `Connection`, everything else on the wire `Io`: both are
        // what azure_core's retry policy and ferry's error mapping treat as transient.
        let wire = |err: reqwest::Error| {
            let kind = if err.is_connect() {
                ErrorKind::Connection
            } else {
                ErrorKind::Io
            };
            Error::with_error(kind, err, "HTTP request failed")
        };
        let rsp = self.client.execute(req).await.map_err(wire)?;
        let status = StatusCode::from(rsp.status().as_u16());
        let headers: HashMap<HeaderName, HeaderValue> = rsp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                // A header that is not text cannot be a token response's business.
                let v = v.to_str().ok()?;
                Some((
                    HeaderName::from(k.as_str().to_owned()),
                    HeaderValue::from(v.to_owned()),
                ))
            })
            .collect();
        let body = rsp.bytes().await.map_err(wire)?;
        Ok(AsyncRawResponse::from_bytes(
            status,
            Headers::from(headers),
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::http::Url;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt};

    /// One-shot HTTP/1.1 server on loopback: records the raw request, sends `response`.
    async fn server(response: &'static str) -> (Url, Arc<Mutex<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = Url::parse(&format!(
            "http://{}/token?x=1",
            listener.local_addr().unwrap()
        ))
        .expect("url");
        let seen = Arc::new(Mutex::new(String::new()));
        let seen2 = Arc::clone(&seen);
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = sock.read(&mut chunk).await.expect("read");
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            *seen2.lock().unwrap() = String::from_utf8_lossy(&buf).to_string();
            sock.write_all(response.as_bytes()).await.expect("write");
            sock.shutdown().await.ok();
        });
        (url, seen)
    }

    #[tokio::test]
    async fn sends_method_headers_body_and_returns_status_headers_body() {
        let (url, seen) = server(
            "HTTP/1.1 418 I'm a teapot\r\ncontent-type: application/json\r\nx-ms-request-id: r1\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"a\":\"b\"}\n\n",
        )
        .await;
        let mut request = Request::new(url, Method::Post);
        request.insert_header("x-identity-header", "secret-h");
        request.set_body("resource=https%3A%2F%2Fmanagement.azure.com");
        let transport = ReqwestTransport::new().expect("client");
        let rsp = transport.execute_request(&request).await.expect("response");
        assert_eq!(u16::from(rsp.status()), 418);
        assert_eq!(
            rsp.headers()
                .get_optional_str(&HeaderName::from_static("x-ms-request-id")),
            Some("r1")
        );
        let body = rsp.into_body().collect().await.expect("body");
        assert_eq!(&body[..], b"{\"a\":\"b\"}\n\n");
        let raw = seen.lock().unwrap().clone();
        assert!(raw.starts_with("POST /token?x=1 HTTP/1.1\r\n"), "{raw}");
        assert!(raw.contains("x-identity-header: secret-h\r\n"), "{raw}");
        assert!(
            raw.ends_with("\r\n\r\nresource=https%3A%2F%2Fmanagement.azure.com"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn a_streamed_body_is_sent_whole_and_again_on_a_retry() {
        let transport = ReqwestTransport::new().expect("client");
        let stream: Box<dyn azure_core::stream::SeekableStream> = Box::new(
            azure_core::stream::BytesStream::new(bytes::Bytes::from_static(b"grant=streamed")),
        );
        let mut request = Request::new(Url::parse("http://127.0.0.1:9/").unwrap(), Method::Put);
        request.set_body(Body::SeekableStream(stream));
        // The same request twice (as azure_core's retry policy sends it): the body each time.
        for _ in 0..2 {
            let (url, seen) = server("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
            *request.url_mut() = url;
            let rsp = transport.execute_request(&request).await.expect("response");
            assert_eq!(u16::from(rsp.status()), 204);
            let raw = seen.lock().unwrap().clone();
            assert!(raw.starts_with("PUT /token?x=1 "), "{raw}");
            assert!(raw.ends_with("\r\n\r\ngrant=streamed"), "{raw}");
        }
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (url, _) = server(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        let transport = ReqwestTransport::new().expect("client");
        let rsp = transport
            .execute_request(&Request::new(url, Method::Get))
            .await
            .expect("response");
        assert_eq!(u16::from(rsp.status()), 302);
    }

    #[tokio::test]
    async fn refused_connection_is_a_connection_error() {
        // Bind then drop: nothing listens on the port any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let url = Url::parse(&format!("http://{addr}/token")).unwrap();
        let transport = ReqwestTransport::new().expect("client");
        let err = transport
            .execute_request(&Request::new(url, Method::Get))
            .await
            .expect_err("nothing listens");
        assert!(matches!(err.kind(), ErrorKind::Connection), "{err:?}");
    }
}
