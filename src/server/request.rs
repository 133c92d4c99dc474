//! Our own HTTP request, [`Request`] (the head: method, path, query,
//! headers, peer address, request id, and the client as resolved behind
//! trusted proxies) and its [`Body`] (read once, on demand), in the manner
//! of rouille's: handlers see these and never the HTTP library's types, so
//! they can be called on hand-built requests ([`Request::fake_http`])
//! without a socket.
//!
//! Owns the reading of a request: query decoding, header lookup, the request
//! id, the JSON body rules ([`Body::read_json`]: size limit, media type,
//! deadline). Must not route, authorise or answer: that is the handlers'.
//! The forwarding headers are read once, by [`Request::behind`] with
//! `proxy`'s rules; everything keyed by client (rate limits, the access log)
//! and every URL handed out uses [`Request::client_ip`],
//! [`Request::scheme`] and [`Request::external_host`], never the headers.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::error::ApiError;
use super::proxy::{self, Scheme, TrustedProxies};

/// Longest client-supplied `X-Request-Id` kept; longer ones are replaced.
pub(crate) const MAX_REQUEST_ID: usize = 128;

/// A request's head, decoded. Immutable once built; the body travels beside
/// it as a [`Body`], because it is a stream that can be read only once.
#[derive(Debug, Clone)]
pub struct Request {
    /// Request id: the client's `X-Request-Id` if acceptable, else generated.
    id: String,
    /// Method as sent.
    method: String,
    /// Path without the query string.
    path: String,
    /// Decoded query parameters, in order.
    query: Vec<(String, String)>,
    /// HTTP version, major and minor.
    http_version: (u8, u8),
    /// Headers in the order sent (names as sent; looked up ignoring case).
    headers: Vec<(String, String)>,
    /// The peer, when known.
    remote_addr: Option<SocketAddr>,
    /// The client: the peer's IP, or the one a trusted proxy forwarded
    /// ([`Request::behind`]).
    client_ip: Option<IpAddr>,
    /// The scheme the client used, as a trusted proxy forwarded it.
    forwarded_scheme: Option<Scheme>,
    /// The host the client asked for, as a trusted proxy forwarded it.
    forwarded_host: Option<String>,
    /// `Content-Length` when the body is not chunked.
    body_length: Option<usize>,
}

impl Request {
    /// A request from its parts as the HTTP layer received them. `url` is
    /// the request target (path and query); `body_length` the declared
    /// `Content-Length` (`None` when chunked or absent). The peer is the
    /// client until [`Request::behind`] says otherwise.
    pub fn new(
        method: &str,
        url: &str,
        http_version: (u8, u8),
        headers: Vec<(String, String)>,
        remote_addr: Option<SocketAddr>,
        body_length: Option<usize>,
    ) -> Request {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let mut req = Request {
            id: String::new(),
            method: method.to_string(),
            path: path.to_string(),
            query: parse_query(query),
            http_version,
            headers,
            remote_addr,
            client_ip: remote_addr.map(|a| a.ip().to_canonical()),
            forwarded_scheme: None,
            forwarded_host: None,
            body_length,
        };
        req.id = req
            .header("X-Request-Id")
            .filter(|v| valid_request_id(v))
            .map_or_else(crate::event::new_correlation_id, str::to_string);
        req
    }

    /// This request with its client, scheme and host resolved from the
    /// forwarding headers when its peer is one of `trusted` (unchanged
    /// otherwise: the headers are then ignored).
    pub fn behind(mut self, trusted: &TrustedProxies) -> Request {
        if trusted.is_empty() {
            return self;
        }
        let resolved = trusted.resolve(self.remote_addr, &self.headers);
        self.client_ip = resolved.client;
        self.forwarded_scheme = resolved.scheme;
        self.forwarded_host = resolved.host;
        self
    }

    /// A request built by hand, as a client would send it over HTTP/1.1
    /// from 127.0.0.1: for tests, like rouille's `Request::fake_http`. A
    /// non-empty `body` gets a `Content-Length` unless the headers carry one
    /// or `Transfer-Encoding`.
    pub fn fake_http(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (Request, Body<'static>) {
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let has = |headers: &[(String, String)], name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let chunked = has(&headers, "Transfer-Encoding");
        if !body.is_empty() && !chunked && !has(&headers, "Content-Length") {
            headers.push(("Content-Length".to_string(), body.len().to_string()));
        }
        let body_length = if chunked {
            None
        } else {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
                .and_then(|(_, v)| v.parse().ok())
        };
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
        let req = Request::new(method, url, (1, 1), headers, Some(peer), body_length);
        (req, Body::from_bytes(body.to_vec()))
    }

    /// Request id: the client's `X-Request-Id` if acceptable, else generated.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Method as sent.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Path without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// HTTP version, major and minor.
    pub fn http_version(&self) -> (u8, u8) {
        self.http_version
    }

    /// The peer, when known: the proxy's address behind one. Anything keyed
    /// by client uses [`Request::client_ip`] instead.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The client's IP: the peer's, or the one a trusted proxy forwarded
    /// (IPv4-mapped IPv6 addresses as IPv4). `None` when the peer is unknown.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// The scheme the client used: as a trusted proxy forwarded it, else
    /// `http` (we speak plain HTTP).
    pub fn scheme(&self) -> Scheme {
        self.forwarded_scheme.unwrap_or(Scheme::Http)
    }

    /// The host the client asked for: as a trusted proxy forwarded it, else
    /// the `Host` header if acceptable.
    pub fn external_host(&self) -> Option<&str> {
        self.forwarded_host.as_deref().or_else(|| self.host())
    }

    /// Declared `Content-Length` (`None` when chunked or absent).
    pub fn body_length(&self) -> Option<usize> {
        self.body_length
    }

    /// The first value of query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the first header named `name` (case ignored).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Host` header, if acceptable (at most `proxy::MAX_HOST` bytes of
    /// host name characters): the host the peer asked for.
    pub fn host(&self) -> Option<&str> {
        self.header("Host").filter(|h| proxy::valid_host(h))
    }

    /// `Origin` header: sent by browsers on cross-origin requests, on
    /// same-origin ones other than GET and HEAD, and on WebSocket handshakes.
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin")
    }

    /// Whether the method only reads (GET, HEAD, and OPTIONS, which CORS
    /// preflights use): the rate limiter's classes.
    pub fn is_read(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS")
    }

    /// The origin and the method asked about, when this is a CORS preflight
    /// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`). Any
    /// other `OPTIONS` is routed like any other method, i.e. gets 405.
    pub fn preflight(&self) -> Option<(&str, &str)> {
        if self.method != "OPTIONS" {
            return None;
        }
        Some((
            self.origin()?,
            self.header("Access-Control-Request-Method")?,
        ))
    }
}

/// Where a body's bytes come from. Opening it may tell the client to go on
/// sending (`100 Continue`), so it is opened only when a handler reads it.
pub trait BodySource {
    /// The body's bytes (already buffered when small and declared).
    fn open(&mut self) -> &mut dyn Read;
}

impl<T: BodySource + ?Sized> BodySource for &mut T {
    fn open(&mut self) -> &mut dyn Read {
        (**self).open()
    }
}

/// Bytes known in advance.
struct Bytes(std::io::Cursor<Vec<u8>>);

impl BodySource for Bytes {
    fn open(&mut self) -> &mut dyn Read {
        &mut self.0
    }
}

/// A request body, not read yet: a handler that takes one reads it through
/// [`Body::read_json`]; one that does not leaves it to the HTTP layer
/// (unopened).
pub struct Body<'a> {
    /// Where the bytes come from.
    source: Box<dyn BodySource + 'a>,
}

impl<'a> Body<'a> {
    /// A body read from `source` when a handler asks for it.
    pub fn new(source: impl BodySource + 'a) -> Body<'a> {
        Body {
            source: Box::new(source),
        }
    }

    /// A body of known bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Body<'static> {
        Body::new(Bytes(std::io::Cursor::new(bytes)))
    }

    /// Reads a JSON body's bytes: 413 over `limit` (by header, then while
    /// reading, so it is never read whole), 415 unless `application/json`
    /// (or `+json`). `None` when there is no body at all. A chunked body
    /// must arrive within `timeout` (on top of the socket's per-read
    /// timeout). Decoding (400 when malformed) is `body`'s.
    pub fn read_json(
        &mut self,
        req: &Request,
        limit: usize,
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let declared = req.body_length();
        if let Some(n) = declared {
            if n > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            if n == 0 {
                return Ok(None);
            }
        } else if req.header("Transfer-Encoding").is_none() {
            return Ok(None);
        }
        let content_type = req.header("Content-Type").unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType(if content_type.is_empty() {
                "(none)".to_string()
            } else {
                content_type.chars().take(100).collect()
            }));
        }
        let deadline = Instant::now() + timeout;
        let mut buf = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
        let mut reader = self.source.open().take(limit as u64 + 1);
        let mut chunk = [0u8; 8192];
        loop {
            let n = reader
                .read(&mut chunk)
                .map_err(|e| ApiError::InvalidJson(format!("cannot read the body: {e}")))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if Instant::now() > deadline {
                return Err(ApiError::InvalidJson(format!(
                    "the body did not arrive within {timeout:?}"
                )));
            }
        }
        if buf.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if buf.is_empty() {
            return Ok(None);
        }
        Ok(Some(buf))
    }
}

fn is_json(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_REQUEST_ID
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Splits and percent-decodes a query string (`+` is a space).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_decoded() {
        let q = parse_query("token=a%2Bb&since=5&x&e=%zz&sp=a+b&t=%41");
        assert_eq!(q[0], ("token".into(), "a+b".into()));
        assert_eq!(q[1], ("since".into(), "5".into()));
        assert_eq!(q[2], ("x".into(), "".into()));
        assert_eq!(q[3], ("e".into(), "%zz".into()));
        assert_eq!(q[4], ("sp".into(), "a b".into()));
        assert_eq!(q[5], ("t".into(), "A".into()));
        assert_eq!(parse_query("a=%4"), vec![("a".into(), "%4".into())]);
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn request_ids_are_restricted() {
        assert!(valid_request_id("abc-123_x.y:z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id(&"a".repeat(MAX_REQUEST_ID + 1)));
    }

    #[test]
    fn a_fake_request_reads_like_a_real_one() {
        let (req, _) = Request::fake_http(
            "GET",
            "/api/v1/party/p1/status?token=a%20b&since=3",
            &[("host", "example.test:8080"), ("X-Request-Id", "rid-1")],
            b"",
        );
        assert_eq!(req.id(), "rid-1");
        assert_eq!(req.path(), "/api/v1/party/p1/status");
        assert_eq!(req.query("token"), Some("a b"));
        assert_eq!(req.query("since"), Some("3"));
        assert_eq!(req.host(), Some("example.test:8080"));
        assert_eq!(req.header("HOST"), Some("example.test:8080"));
        assert_eq!(req.body_length(), None);
        assert!(req.is_read());
        let (bad, _) = Request::fake_http("GET", "/", &[("X-Request-Id", "a b")], b"");
        assert_ne!(bad.id(), "a b");
        assert!(!bad.id().is_empty());
    }

    #[test]
    fn the_client_is_resolved_behind_trusted_proxies_only() {
        let forwarded = [
            ("Host", "10.0.0.2:9000"),
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "party.example.com"),
        ];
        let (req, _) = Request::fake_http("GET", "/", &forwarded, b"");
        let peer = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(req.client_ip(), Some(peer));
        assert_eq!(req.scheme(), Scheme::Http);
        assert_eq!(req.external_host(), Some("10.0.0.2:9000"));

        let nobody = TrustedProxies::default();
        let same = req.clone().behind(&nobody);
        assert_eq!(same.client_ip(), Some(peer));
        let elsewhere = TrustedProxies::parse_list(["10.0.0.0/8"]).expect("valid");
        let spoofed = req.clone().behind(&elsewhere);
        assert_eq!(spoofed.client_ip(), Some(peer));
        assert_eq!(spoofed.scheme(), Scheme::Http);
        assert_eq!(spoofed.external_host(), Some("10.0.0.2:9000"));

        let loopback = TrustedProxies::parse_list(["127.0.0.1"]).expect("valid");
        let proxied = req.behind(&loopback);
        assert_eq!(proxied.client_ip(), Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(proxied.scheme(), Scheme::Https);
        assert_eq!(proxied.external_host(), Some("party.example.com"));
        assert_eq!(proxied.host(), Some("10.0.0.2:9000"), "Host is kept");
        assert_eq!(proxied.remote_addr().map(|a| a.ip()), Some(peer));
    }

    #[test]
    fn json_bodies_are_bounded_and_typed() {
        let timeout = Duration::from_secs(1);
        let json = [("Content-Type", "application/json")];
        let (req, mut body) = Request::fake_http("POST", "/x", &json, b"{\"a\":1}");
        assert_eq!(req.body_length(), Some(7));
        let read = body.read_json(&req, 64, timeout);
        assert_eq!(read, Ok(Some(b"{\"a\":1}".to_vec())));

        let (req, mut body) = Request::fake_http("POST", "/x", &json, b"");
        assert_eq!(body.read_json(&req, 64, timeout), Ok(None));

        let (req, mut body) = Request::fake_http("POST", "/x", &json, &[b'1'; 65]);
        let too_big = body.read_json(&req, 64, timeout);
        assert_eq!(too_big, Err(ApiError::PayloadTooLarge { limit: 64 }));

        let (req, mut body) = Request::fake_http("POST", "/x", &[], b"{}");
        let untyped = body.read_json(&req, 64, timeout);
        assert_eq!(
            untyped,
            Err(ApiError::UnsupportedMediaType("(none)".into()))
        );

        // Chunked: no length declared, the limit is enforced while reading.
        let chunked = [
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ];
        let (req, mut body) = Request::fake_http("POST", "/x", &chunked, &[b' '; 100]);
        assert_eq!(req.body_length(), None);
        let too_big = body.read_json(&req, 64, timeout);
        assert_eq!(too_big, Err(ApiError::PayloadTooLarge { limit: 64 }));
    }
}
