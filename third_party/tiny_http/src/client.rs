use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use crate::common::{HTTPVersion, Method};
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder, SequentialWriterBuilder};
use crate::Request;

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
pub struct ClientConnection {
    // address of the client
    remote_addr: IoResult<Option<SocketAddr>>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<RefinedTcpStream>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1
    sink: SequentialWriterBuilder<BufWriter<RefinedTcpStream>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<RefinedTcpStream>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // true if the connection goes through SSL
    secure: bool,

    // partybus patch: header cap, request deadline, body buffering
    limits: Arc<crate::ConnectionLimits>,
}

/// partybus patch: how much of the current request head may still arrive, and when by.
struct HeadBudget {
    bytes: usize,
    deadline: Option<Instant>,
    started: bool,
}

/// Error that can happen when reading a request.
#[derive(Debug)]
enum ReadError {
    WrongRequestLine,
    WrongHeader(HTTPVersion),
    /// partybus patch: the request line and headers exceed the cap
    HeaderTooLarge(HTTPVersion),
    /// the client sent an unrecognized `Expect` header
    ExpectationFailed(HTTPVersion),
    ReadIoError(IoError),
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the `TcpStream`.
    pub fn new(
        write_socket: RefinedTcpStream,
        mut read_socket: RefinedTcpStream,
    ) -> ClientConnection {
        let remote_addr = read_socket.peer_addr();
        let secure = read_socket.secure();

        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, read_socket));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: SequentialWriterBuilder::new(BufWriter::with_capacity(1024, write_socket)),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            secure,
            limits: Arc::new(crate::ConnectionLimits::default()),
        }
    }

    /// partybus patch: applies connection limits.
    pub(crate) fn with_limits(mut self, limits: Arc<crate::ConnectionLimits>) -> Self {
        self.limits = limits;
        self
    }

    /// true if the connection is HTTPS
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    fn read_next_line(
        &mut self,
        budget: &mut HeadBudget,
        version: HTTPVersion,
    ) -> Result<AsciiString, ReadError> {
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;
        let timed_out =
            || ReadError::ReadIoError(IoError::new(ErrorKind::TimedOut, "request head too slow"));

        loop {
            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                // partybus patch: a request that stalls mid-head until the
                // socket's read timeout is answered 408, not closed silently
                // (Linux reports that timeout as WouldBlock). Before the
                // first byte it is an idle keep-alive connection: closed.
                Some(Err(e)) if budget.started && is_read_timeout(&e) => return Err(timed_out()),
                Some(b) => b.map_err(ReadError::ReadIoError)?,
                None => {
                    return Err(ReadError::ReadIoError(IoError::new(
                        ErrorKind::ConnectionAborted,
                        "Unexpected EOF",
                    )))
                }
            };

            // partybus patch: the deadline runs from the request's first byte
            if !budget.started {
                budget.started = true;
                budget.deadline = self.limits.request_timeout.map(|t| Instant::now() + t);
            }
            if budget.bytes == 0 {
                return Err(ReadError::HeaderTooLarge(version));
            }
            budget.bytes -= 1;
            let line_end = byte == b'\n' && prev_byte_was_cr;
            if (line_end || budget.bytes.is_multiple_of(8))
                && budget.deadline.is_some_and(|d| Instant::now() > d)
            {
                return Err(timed_out());
            }

            if line_end {
                buf.pop(); // removing the '\r'
                return AsciiString::from_ascii(buf).map_err(|_| {
                    ReadError::ReadIoError(IoError::new(
                        ErrorKind::InvalidInput,
                        "Header is not in ASCII",
                    ))
                });
            }

            prev_byte_was_cr = byte == b'\r';

            buf.push(byte);
        }
    }

    /// Reads a request from the stream.
    /// Blocks until the header has been read.
    fn read(&mut self) -> Result<Request, ReadError> {
        let mut budget = HeadBudget {
            bytes: self.limits.max_header_bytes,
            deadline: None,
            started: false,
        };
        let (method, path, version, headers) = {
            // reading the request line
            let (method, path, version) = {
                let line = self.read_next_line(&mut budget, HTTPVersion(1, 1))?;

                parse_request_line(
                    line.as_str().trim(), // TODO: remove this conversion
                )?
            };

            // getting all headers
            let headers = {
                let mut headers: Vec<crate::Header> = Vec::new();
                loop {
                    let line = self.read_next_line(&mut budget, version.clone())?;

                    if line.is_empty() {
                        break;
                    };
                    headers.push(match FromStr::from_str(line.as_str().trim()) {
                        // TODO: remove this conversion
                        Ok(h) => h,
                        _ => return Err(ReadError::WrongHeader(version)),
                    });
                }

                headers
            };

            (method, path, version, headers)
        };

        // building the writer for the request
        let writer = self.sink.next().unwrap();

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        // partybus patch: an upgrade request keeps the connection's reader
        // typed, so that `Request::upgrade_raw` can hand the socket out.
        let upgrade = headers.iter().any(|h| {
            h.field.equiv("Connection") && h.value.as_str().to_ascii_lowercase().contains("upgrade")
        });
        let (raw, source): (_, Box<dyn Read + Send>) = if upgrade {
            (Some(data_source), Box::new(std::io::empty()))
        } else {
            (None, Box::new(data_source))
        };

        // building the next reader
        let request = crate::request::new_request(
            self.secure,
            method,
            path,
            version.clone(),
            headers,
            *self.remote_addr.as_ref().unwrap(),
            source,
            writer,
            self.limits.prebuffer_body,
            budget.deadline,
        )
        .map_err(|e| {
            use crate::request;
            match e {
                request::RequestCreationError::CreationIoError(e) => ReadError::ReadIoError(e),
                request::RequestCreationError::ExpectationFailed => {
                    ReadError::ExpectationFailed(version)
                }
            }
        })?;
        let mut request = request;
        if let Some(raw) = raw {
            request.set_raw_source(raw);
        }

        // return the request
        Ok(request)
    }
}

impl ClientConnection {
    /// partybus patch: the answer to `refusal`, with its configured JSON
    /// body (upstream: empty, or plain text for 505).
    fn refusal_response(
        &self,
        refusal: crate::Refusal,
    ) -> crate::Response<std::io::Cursor<Vec<u8>>> {
        use crate::Refusal;
        let limits = &self.limits;
        let body = match refusal {
            Refusal::BadRequest => &limits.bad_request_body,
            Refusal::HeaderTooLarge => &limits.header_too_large_body,
            Refusal::RequestTimeout => &limits.request_timeout_body,
            Refusal::ExpectationFailed => &limits.expectation_failed_body,
            Refusal::VersionNotSupported => &limits.version_not_supported_body,
            // written by the accept thread, never here
            Refusal::TooManyConnections => &limits.bad_request_body,
        };
        let mut response = if body.is_empty() && refusal == Refusal::VersionNotSupported {
            crate::Response::from_data(&b"This server only supports HTTP versions 1.0 and 1.1"[..])
        } else {
            crate::Response::from_data(body.clone())
        }
        .with_status_code(crate::StatusCode(refusal.status()));
        if !body.is_empty() {
            if let Ok(h) = crate::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
            {
                response.add_header(h);
            }
        }
        response
    }

    /// partybus patch: writes the answer to `refusal` on the connection's
    /// next writer (no request holds one), then tells the `on_refusal` hook.
    fn refuse(&mut self, refusal: crate::Refusal, ver: HTTPVersion) {
        let response = self.refusal_response(refusal);
        let writer = self.sink.next().unwrap();
        response.raw_print(writer, ver, &[], false, None).ok();
        self.refused(refusal);
    }

    /// partybus patch: tells the `on_refusal` hook of an answer written.
    fn refused(&self, refusal: crate::Refusal) {
        let addr = self.remote_addr.as_ref().ok().copied().flatten();
        crate::RefusalHook::call(&self.limits.on_refusal, refusal, addr);
    }
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        use crate::Refusal;

        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        if self.no_more_requests {
            return None;
        }

        loop {
            let rq = match self.read() {
                // partybus patch: every answer written here goes through
                // `refuse` (the configured JSON body, then the hook)
                Err(ReadError::WrongRequestLine) => {
                    self.refuse(Refusal::BadRequest, HTTPVersion(1, 1));
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::WrongHeader(ver)) => {
                    self.refuse(Refusal::BadRequest, ver);
                    return None; // we don't know where the next request would start,
                                 // se we have to close
                }

                Err(ReadError::HeaderTooLarge(ver)) => {
                    // partybus patch: 431, then close
                    self.refuse(Refusal::HeaderTooLarge, ver);
                    return None;
                }

                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::TimedOut => {
                    // request timeout
                    self.refuse(Refusal::RequestTimeout, HTTPVersion(1, 1));
                    return None; // closing the connection
                }

                Err(ReadError::ExpectationFailed(ver)) => {
                    self.refuse(Refusal::ExpectationFailed, ver);
                    return None; // TODO: should be recoverable, but needs handling in case of body
                }

                Err(ReadError::ReadIoError(ref err)) if err.kind() == ErrorKind::InvalidInput => {
                    // partybus patch: a non-ASCII request line or header gets 400
                    // (upstream closed without an answer), then close
                    self.refuse(Refusal::BadRequest, HTTPVersion(1, 1));
                    return None;
                }

                Err(ReadError::ReadIoError(_)) => return None,

                Ok(rq) => rq,
            };

            // checking HTTP version
            if *rq.http_version() > (1, 1) {
                // partybus patch: answered through the request, which holds
                // the connection's writer (upstream took the next writer,
                // which waits for this one: the answer never left)
                let response = self.refusal_response(Refusal::VersionNotSupported);
                rq.respond(response).ok();
                self.refused(Refusal::VersionNotSupported);
                continue;
            }

            // updating the status of the connection
            let connection_header = rq
                .headers()
                .iter()
                .find(|h| h.field.equiv("Connection"))
                .map(|h| h.value.as_str());

            let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

            match lowercase {
                Some(ref val) if val.contains("close") => self.no_more_requests = true,
                Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
                Some(ref val)
                    if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
                {
                    self.no_more_requests = true
                }
                None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
                _ => (),
            };

            // returning the request
            return Some(rq);
        }
    }
}

/// Parses a "HTTP/1.1" string.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let (major, minor) = match version {
        "HTTP/0.9" => (0, 9),
        "HTTP/1.0" => (1, 0),
        "HTTP/1.1" => (1, 1),
        "HTTP/2.0" => (2, 0),
        "HTTP/3.0" => (3, 0),
        _ => return Err(ReadError::WrongRequestLine),
    };

    Ok(HTTPVersion(major, minor))
}

/// Parses the request line of the request.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');

    let method = parts.next().and_then(|w| w.parse().ok());
    let path = parts.next().map(ToOwned::to_owned);
    let version = parts.next().and_then(|w| parse_http_version(w).ok());

    method
        .and_then(|method| Some((method, path?, version?)))
        .ok_or(ReadError::WrongRequestLine)
}

/// Whether a read failed because the socket's read timeout expired: Linux
/// reports it as `WouldBlock`, other systems as `TimedOut`.
pub(crate) fn is_read_timeout(e: &IoError) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
