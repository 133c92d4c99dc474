//! A small keep-alive HTTP/1.1 client over a std [`TcpStream`], for the load
//! generator and the HTTP benches.
//!
//! Owns one connection at a time: writes a request, parses the status line,
//! the headers and a body delimited by `Content-Length` or chunked encoding
//! (or the end of the stream), and keeps the connection for the next request
//! unless the server said `Connection: close`. A request on a reused
//! connection that the server had already closed (no byte of the response
//! received) is retried once on a fresh connection, as browsers do.
//!
//! Must not panic on anything the server sends: every malformed response is
//! a [`ClientError`]. Every read and write has a deadline, so a load loop
//! built on it is bounded in time.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a read or a write may block before the request fails.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest status line or header line accepted: real servers send well under
/// 1 KiB; more is a broken peer.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// Most header lines accepted in one response.
pub(crate) const MAX_HEADERS: usize = 128;

/// Largest body accepted (a party's full status is tens of KiB).
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

/// Why a request failed; the load generator counts each under a short
/// stable name (`connect`, `timeout`, `io`, `malformed`).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be opened.
    #[error("connecting: {0}")]
    Connect(std::io::Error),
    /// A read or write timed out.
    #[error("timed out")]
    Timeout,
    /// The connection failed or closed mid-response.
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// The response is not valid HTTP/1.1.
    #[error("malformed response: {0}")]
    Malformed(String),
}

impl ClientError {
    /// A short stable name for error tables (`connect`, `timeout`, `io`,
    /// `malformed`).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ClientError::Connect(_) => "connect",
            ClientError::Timeout => "timeout",
            ClientError::Io(_) => "io",
            ClientError::Malformed(_) => "malformed",
        }
    }

    fn from_io(e: std::io::Error) -> ClientError {
        match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => ClientError::Timeout,
            _ => ClientError::Io(e),
        }
    }
}

/// A response: status, headers and body, read whole.
#[derive(Debug, Clone, Default)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (decoded from chunked encoding if need be).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A keep-alive HTTP/1.1 client bound to one server address.
pub struct HttpClient {
    /// Where requests go.
    addr: SocketAddr,
    /// The `Host` header value.
    host: String,
    /// The open connection, if any; dropped on any error or `Connection: close`.
    conn: Option<BufReader<TcpStream>>,
    /// The request being written, reused between requests.
    out: Vec<u8>,
    /// A line being read, reused between lines.
    line: String,
    /// Connections opened so far (1 for a client that never reconnected).
    connects: u64,
}

impl HttpClient {
    /// A client for `addr`; connects on the first request.
    pub fn new(addr: SocketAddr) -> HttpClient {
        HttpClient {
            addr,
            host: addr.to_string(),
            conn: None,
            out: Vec::with_capacity(1024),
            line: String::with_capacity(256),
            connects: 0,
        }
    }

    /// Sends one request and reads its response. `headers` are added as
    /// given; `Host`, `Content-Length` and (with a body) `Content-Type:
    /// application/json` are added here.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, ClientError> {
        self.out.clear();
        let _ = write!(
            self.out,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n",
            self.host
        );
        for (k, v) in headers {
            let _ = write!(self.out, "{k}: {v}\r\n");
        }
        match body {
            Some(b) => {
                let _ = write!(
                    self.out,
                    "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    b.len()
                );
                self.out.extend_from_slice(b);
            }
            None if method == "POST" || method == "PUT" => {
                self.out.extend_from_slice(b"Content-Length: 0\r\n\r\n")
            }
            None => self.out.extend_from_slice(b"\r\n"),
        }
        let reused = self.conn.is_some();
        match self.exchange(method == "HEAD") {
            Err(Exchange::Stale) if reused => {
                // The server closed the idle connection before reading this
                // request: nothing was processed, so it is safe to resend.
                self.conn = None;
                self.exchange(method == "HEAD")
                    .map_err(Exchange::into_error)
            }
            other => other.map_err(Exchange::into_error),
        }
    }

    /// GET with an optional bearer token.
    pub fn get(&mut self, path: &str, token: Option<&str>) -> Result<Response, ClientError> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        self.request("GET", path, &headers, None)
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, ClientError> {
        if self.conn.is_none() {
            let stream =
                TcpStream::connect_timeout(&self.addr, IO_TIMEOUT).map_err(ClientError::Connect)?;
            stream.set_nodelay(true).map_err(ClientError::Connect)?;
            stream
                .set_read_timeout(Some(IO_TIMEOUT))
                .map_err(ClientError::Connect)?;
            stream
                .set_write_timeout(Some(IO_TIMEOUT))
                .map_err(ClientError::Connect)?;
            self.connects += 1;
            self.conn = Some(BufReader::with_capacity(16 * 1024, stream));
        }
        match self.conn.as_mut() {
            Some(c) => Ok(c),
            None => Err(ClientError::Malformed("no connection".into())),
        }
    }

    /// Writes the prepared request and reads the response; the connection
    /// is dropped on any failure.
    fn exchange(&mut self, head_only: bool) -> Result<Response, Exchange> {
        let result = self.exchange_inner(head_only);
        match &result {
            Ok(resp) => {
                let close = resp
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                if close {
                    self.conn = None;
                }
            }
            Err(_) => self.conn = None,
        }
        result
    }

    fn exchange_inner(&mut self, head_only: bool) -> Result<Response, Exchange> {
        let out = std::mem::take(&mut self.out);
        let written = self
            .connect()
            .map_err(Exchange::Failed)
            .and_then(|c| c.get_mut().write_all(&out).map_err(Exchange::stale_or_io));
        self.out = out;
        written?;
        let mut line = std::mem::take(&mut self.line);
        let result = self.read_response(&mut line, head_only);
        self.line = line;
        result
    }

    fn read_response(&mut self, line: &mut String, head_only: bool) -> Result<Response, Exchange> {
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => {
                return Err(Exchange::Failed(ClientError::Malformed(
                    "no connection".into(),
                )))
            }
        };
        // Status line: a clean EOF or reset before it means a stale connection.
        line.clear();
        match read_line(conn, line) {
            Ok(0) => return Err(Exchange::Stale),
            Ok(_) => {}
            Err(e) => return Err(Exchange::stale_or_io(e)),
        }
        let status = parse_status_line(line).map_err(Exchange::Failed)?;
        let mut resp = Response {
            status,
            headers: Vec::with_capacity(12),
            body: Vec::new(),
        };
        loop {
            line.clear();
            if read_line(conn, line).map_err(Exchange::io)? == 0 {
                return Err(Exchange::Failed(ClientError::Malformed(
                    "connection closed in the headers".into(),
                )));
            }
            let h = line.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            if resp.headers.len() >= MAX_HEADERS {
                return Err(Exchange::Failed(ClientError::Malformed(
                    "too many headers".into(),
                )));
            }
            let (k, v) = h.split_once(':').ok_or_else(|| {
                Exchange::Failed(ClientError::Malformed(format!("bad header line {h:?}")))
            })?;
            resp.headers
                .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if head_only || status == 101 || status == 204 || status == 304 || status < 200 {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        if chunked {
            read_chunked(conn, line, &mut resp.body)?;
        } else if let Some(len) = resp.header("content-length") {
            let n: usize = len.trim().parse().map_err(|_| {
                Exchange::Failed(ClientError::Malformed(format!(
                    "bad Content-Length {len:?}"
                )))
            })?;
            if n > MAX_BODY {
                return Err(Exchange::Failed(ClientError::Malformed(format!(
                    "body of {n} bytes is too large"
                ))));
            }
            resp.body.resize(n, 0);
            conn.read_exact(&mut resp.body).map_err(Exchange::io)?;
        } else {
            // No length: the body runs to the end of the stream.
            conn.take(MAX_BODY as u64 + 1)
                .read_to_end(&mut resp.body)
                .map_err(Exchange::io)?;
            resp.headers
                .push(("connection".to_string(), "close".to_string()));
        }
        Ok(resp)
    }
}

/// How one exchange failed.
enum Exchange {
    /// The reused connection was closed before any response byte arrived.
    Stale,
    /// Anything else.
    Failed(ClientError),
}

impl Exchange {
    fn io(e: std::io::Error) -> Exchange {
        Exchange::Failed(ClientError::from_io(e))
    }

    fn stale_or_io(e: std::io::Error) -> Exchange {
        match e.kind() {
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof => Exchange::Stale,
            _ => Exchange::io(e),
        }
    }

    fn into_error(self) -> ClientError {
        match self {
            Exchange::Stale => ClientError::Io(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            Exchange::Failed(e) => e,
        }
    }
}

/// Reads one line (up to [`MAX_LINE`] bytes) into `line`; 0 at end of stream.
fn read_line<R: BufRead>(r: &mut R, line: &mut String) -> std::io::Result<usize> {
    let n = r.take(MAX_LINE as u64).read_line(line)?;
    if n == MAX_LINE && !line.ends_with('\n') {
        return Err(std::io::Error::new(ErrorKind::InvalidData, "line too long"));
    }
    Ok(n)
}

/// `HTTP/1.1 201 Created` → 201.
fn parse_status_line(line: &str) -> Result<u16, ClientError> {
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(ClientError::Malformed(format!("bad status line {line:?}")));
    }
    code.parse::<u16>()
        .ok()
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| ClientError::Malformed(format!("bad status line {line:?}")))
}

/// Reads a chunked body into `body` (trailers skipped).
fn read_chunked<R: BufRead>(
    r: &mut R,
    line: &mut String,
    body: &mut Vec<u8>,
) -> Result<(), Exchange> {
    loop {
        line.clear();
        if read_line(r, line).map_err(Exchange::io)? == 0 {
            return Err(Exchange::Failed(ClientError::Malformed(
                "connection closed in a chunked body".into(),
            )));
        }
        let size = line.trim_end().split(';').next().unwrap_or("").trim();
        let n = usize::from_str_radix(size, 16).map_err(|_| {
            Exchange::Failed(ClientError::Malformed(format!("bad chunk size {size:?}")))
        })?;
        if n == 0 {
            // Trailers, up to the empty line.
            loop {
                line.clear();
                if read_line(r, line).map_err(Exchange::io)? == 0 || line.trim_end().is_empty() {
                    return Ok(());
                }
            }
        }
        if body.len() + n > MAX_BODY {
            return Err(Exchange::Failed(ClientError::Malformed(
                "chunked body too large".into(),
            )));
        }
        let start = body.len();
        body.resize(start + n, 0);
        r.read_exact(&mut body[start..]).map_err(Exchange::io)?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).map_err(Exchange::io)?;
        if &crlf != b"\r\n" {
            return Err(Exchange::Failed(ClientError::Malformed(
                "chunk not followed by CRLF".into(),
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 201 Created\r\n").ok(),
            Some(201)
        );
        assert_eq!(parse_status_line("HTTP/1.0 404\r\n").ok(), Some(404));
        assert!(parse_status_line("HTTP/2 200 OK").is_err());
        assert!(parse_status_line("HTTP/1.1 abc OK").is_err());
        assert!(parse_status_line("").is_err());
    }

    #[test]
    fn chunked_bodies() {
        let mut r = Cursor::new(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\nX-T: 1\r\n\r\n".to_vec());
        let mut body = Vec::new();
        let mut line = String::new();
        assert!(read_chunked(&mut r, &mut line, &mut body).is_ok());
        assert_eq!(body, b"Wikipedia");
        let mut bad = Cursor::new(b"zz\r\n".to_vec());
        assert!(read_chunked(&mut bad, &mut line, &mut Vec::new()).is_err());
    }

    /// A one-thread server that answers each request on a connection with
    /// the given canned responses, then closes it.
    fn canned(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for resp in responses {
                let Ok((s, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(s);
                let mut line = String::new();
                // Read the request head.
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let _ = r.get_mut().write_all(resp);
            }
        });
        addr
    }

    #[test]
    fn reads_length_chunked_and_close_delimited_bodies() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nto the end",
        ]);
        let mut c = HttpClient::new(addr);
        let r = c.get("/a", None).expect("first");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        // The canned server closed the first connection: the client
        // reconnects transparently.
        let r = c.get("/b", None).expect("second");
        assert_eq!(r.body, b"yo");
        let r = c.get("/c", None).expect("third");
        assert_eq!(r.body, b"to the end");
        assert_eq!(c.connects, 3);
    }

    #[test]
    fn malformed_responses_are_errors() {
        let addr = canned(vec![b"SMTP ready\r\n\r\n"]);
        let mut c = HttpClient::new(addr);
        let e = c.get("/", None).expect_err("malformed");
        assert_eq!(e.kind(), "malformed");
    }
}
