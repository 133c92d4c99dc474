//! `partybus healthcheck`: one plain HTTP/1.1 `GET` of a running server's
//! readiness route over a std `TcpStream`, for a container's HEALTHCHECK or
//! a shell script; no HTTP client crate.
//!
//! Owns the URL form it accepts (`http://HOST[:PORT][/PATH]`), the request,
//! reading the answer within one deadline, and saying why a check failed.
//! Must not retry, follow redirects or speak TLS: one attempt, one verdict,
//! bounded by the timeout from connect to the last byte.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The route checked unless told otherwise.
pub const DEFAULT_PATH: &str = "/readyz";

/// Bytes of an answer read at most (a readiness answer is tiny; a huge one
/// is cut, not buffered).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Characters of a failing answer's body quoted in the error.
pub const MAX_BODY_SHOWN: usize = 300;

/// Where to send the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host` or `host:port` as the `Host` header names it.
    pub authority: String,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Target {
    /// The target for a server listening on `host:port` as `serve` reads
    /// them (`API_HOST`, `API_PORT`): a wildcard host (`0.0.0.0`, `::`,
    /// empty) is reached on loopback.
    pub fn for_listener(host: &str, port: u16, path: &str) -> Target {
        let host = match host.trim().trim_start_matches('[').trim_end_matches(']') {
            "" | "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            h => h,
        }
        .to_string();
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Target {
            authority,
            host,
            port,
            path: normalize_path(path),
        }
    }

    /// Parses `http://HOST[:PORT][/PATH]`; `path` replaces the URL's path
    /// when given.
    pub fn parse(url: &str, path: Option<&str>) -> Result<Target, CheckError> {
        let bad = |why: &str| CheckError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let rest = url.trim();
        let rest = if let Some(r) = rest.strip_prefix("http://") {
            r
        } else if rest.contains("://") {
            return Err(bad("only http:// is supported (no TLS)"));
        } else {
            rest
        };
        let (authority, url_path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(bad("expected http://HOST[:PORT][/PATH]"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("expected :PORT after ]")),
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port must be 1-65535"))?,
            None => 80,
        };
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("expected http://HOST[:PORT][/PATH]"));
        }
        Ok(Target {
            authority: authority.to_string(),
            host: host.to_string(),
            port,
            path: normalize_path(path.unwrap_or(url_path)),
        })
    }

    /// `http://authority/path`, for messages.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

/// `path` starting with `/` (empty: the default route), control
/// characters and spaces percent-encoded so the request line stays one line.
fn normalize_path(path: &str) -> String {
    let path = path.trim();
    let path = if path.is_empty() {
        DEFAULT_PATH.to_string()
    } else if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    path.chars()
        .map(|c| {
            if c.is_control() || c == ' ' {
                format!("%{:02X}", u32::from(c) & 0xff)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Why a check failed; the message is what the operator reads.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The URL is not one this check can use.
    #[error("bad url {url:?}: {why}")]
    BadUrl {
        /// As given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Nothing listens there (or a firewall says so).
    #[error("connection to {addr} refused: is partybus running there?")]
    Refused {
        /// The address tried.
        addr: SocketAddr,
    },
    /// No complete answer within the timeout.
    #[error("no answer from {url} within {timeout:?}")]
    Timeout {
        /// What was checked.
        url: String,
        /// The limit.
        timeout: Duration,
    },
    /// The connection failed otherwise.
    #[error("{url}: {source}")]
    Io {
        /// What was checked.
        url: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The answer is not HTTP.
    #[error("{url} answered something that is not HTTP: {start:?}")]
    NotHttp {
        /// What was checked.
        url: String,
        /// The answer's first characters.
        start: String,
    },
    /// The server answered, but not 2xx.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// What was checked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body (cut to [`MAX_BODY_SHOWN`] characters).
        body: String,
    },
}

/// Checks `target` once within `timeout`: `Ok(status)` for a 2xx answer.
pub fn check(target: &Target, timeout: Duration) -> Result<u16, CheckError> {
    let deadline = Instant::now() + timeout;
    let url = target.url();
    let timed_out = || CheckError::Timeout {
        url: url.clone(),
        timeout,
    };
    let io_err = |source: io::Error| {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            timed_out()
        } else {
            CheckError::Io {
                url: url.clone(),
                source,
            }
        }
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|source| CheckError::Resolve {
            host: target.host.clone(),
            source,
        })?
        .collect();
    let mut last: Option<CheckError> = None;
    let mut stream = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = Some(CheckError::Refused { addr });
            }
            Err(e) => last = Some(io_err(e)),
        }
    }
    let Some(mut stream) = stream else {
        return Err(last.unwrap_or_else(|| CheckError::Resolve {
            host: target.host.clone(),
            source: io::Error::new(io::ErrorKind::NotFound, "no addresses"),
        }));
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: partybus-healthcheck/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION")
    );
    let left = |deadline: Instant| {
        let d = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to std: use the smallest instead.
        d.max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(left(deadline)))
        .map_err(io_err)?;
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    let mut answer = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        if Instant::now() >= deadline {
            return Err(timed_out());
        }
        stream
            .set_read_timeout(Some(left(deadline)))
            .map_err(io_err)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() >= MAX_ANSWER_BYTES || complete(&answer) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    let (status, body) = parse_answer(&answer).ok_or_else(|| CheckError::NotHttp {
        url: url.clone(),
        start: String::from_utf8_lossy(&answer[..answer.len().min(40)]).into_owned(),
    })?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(CheckError::Status {
            url,
            status,
            body: shown(body),
        })
    }
}

/// Whether `answer` holds a whole response: its head and, when it declares
/// a `Content-Length`, that many body bytes (otherwise the server's close
/// ends it).
fn complete(answer: &[u8]) -> bool {
    let Some(end) = find(answer, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let length = head.lines().skip(1).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    });
    length.is_some_and(|n| answer.len() >= end + 4 + n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The status and body of an HTTP/1.x answer.
fn parse_answer(answer: &[u8]) -> Option<(u16, &[u8])> {
    let line_end = find(answer, b"\r\n")?;
    let line = std::str::from_utf8(&answer[..line_end]).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse::<u16>().ok()?;
    let body = find(answer, b"\r\n\r\n").map_or(&[][..], |i| &answer[i + 4..]);
    Some((status, body))
}

/// A body for a message: text, one line, at most [`MAX_BODY_SHOWN`] characters.
fn shown(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.is_empty() {
        return "(empty body)".to_string();
    }
    match one_line.char_indices().nth(MAX_BODY_SHOWN) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_parse_into_targets() {
        let t = Target::parse("http://127.0.0.1:9000", None).expect("url");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 9000, "/readyz")
        );
        let t = Target::parse("http://[::1]:81/livez", None).expect("v6");
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 81, "/livez")
        );
        assert_eq!(t.url(), "http://[::1]:81/livez");
        let t = Target::parse("localhost/health", Some("metrics")).expect("no scheme");
        assert_eq!((t.port, t.path.as_str()), (80, "/metrics"));
        for bad in [
            "https://x",
            "http://",
            "http://h:0",
            "http://h:99999",
            "http://u@h",
            "http://[::1",
        ] {
            assert!(
                matches!(Target::parse(bad, None), Err(CheckError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn wildcard_listeners_are_reached_on_loopback() {
        let t = Target::for_listener("0.0.0.0", 9000, "");
        assert_eq!(t.url(), "http://127.0.0.1:9000/readyz");
        let t = Target::for_listener("::", 9000, "/livez");
        assert_eq!(t.url(), "http://[::1]:9000/livez");
        let t = Target::for_listener("10.0.0.5", 80, "a b");
        assert_eq!(t.url(), "http://10.0.0.5:80/a%20b");
    }

    #[test]
    fn answers_are_parsed() {
        let a = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}";
        assert!(complete(a));
        assert_eq!(parse_answer(a), Some((503, &b"{}"[..])));
        assert!(!complete(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"));
        assert_eq!(parse_answer(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(shown(b"  "), "(empty body)");
        assert_eq!(shown(&[b'x'; 400]).chars().count(), MAX_BODY_SHOWN + 1);
    }

    /// Serves one connection with `answer` (after reading the request head).
    fn one_answer(answer: &'static [u8]) -> Target {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
                    head.push(b[0]);
                }
                let _ = s.write_all(answer);
                // Held open until the client closes: the check must stop
                // at Content-Length, not wait for the server's close.
                let _ = s.read(&mut b);
            }
        });
        Target::for_listener("127.0.0.1", port, "/readyz")
    }

    #[test]
    fn a_2xx_passes_and_anything_else_fails_with_its_body() {
        let t = one_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\n\r\n{\"status\":\"ready\"}");
        assert_eq!(check(&t, Duration::from_secs(2)).expect("healthy"), 200);
        let t = one_answer(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 11\r\n\r\nnot ready\r\n",
        );
        let e = check(&t, Duration::from_secs(2)).expect_err("503");
        assert!(matches!(e, CheckError::Status { status: 503, .. }), "{e}");
        assert!(e.to_string().contains("not ready"), "{e}");
    }

    #[test]
    fn a_silent_server_times_out() {
        // Accepts (the backlog does) but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let t = Target::for_listener("127.0.0.1", port, "");
        let began = Instant::now();
        let e = check(&t, Duration::from_millis(300)).expect_err("silent");
        assert!(matches!(e, CheckError::Timeout { .. }), "{e}");
        assert!(began.elapsed() < Duration::from_secs(2));
        drop(listener);
    }

    #[test]
    fn a_closed_port_is_refused() {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let e = check(
            &Target::for_listener("127.0.0.1", port, ""),
            Duration::from_secs(2),
        )
        .expect_err("closed");
        assert!(matches!(e, CheckError::Refused { .. }), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
    }
}
