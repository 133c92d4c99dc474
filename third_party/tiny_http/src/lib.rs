//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```no_run
//! let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```no_run
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]
// partybus patch: upstream's code is kept as published so that a diff against
// tiny_http 0.12.0 shows only our patches (PATCHES.md). These are the style
// lints newer clippy raises on that upstream code; each is allowed here by
// name rather than rewritten. Our patches are written to pass them.
#![allow(
    clippy::doc_overindented_list_items,
    clippy::io_other_error,
    clippy::needless_borrow,
    clippy::unbuffered_bytes,
    clippy::unnecessary_map_or
)]

#[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
use zeroize::Zeroizing;

use std::error::Error;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use client::ClientConnection;
use connection::Connection;
use util::MessagesQueue;

pub use common::{HTTPVersion, Header, HeaderField, Method, StatusCode};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use request::{RawUpgrade, ReadWrite, Request};
pub use response::{Response, ResponseBox};
pub use test::TestRequest;

mod client;
mod common;
mod connection;
mod request;
mod response;
mod ssl;
mod test;
mod util;

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket and the reading
///  part of all the client's connections. Requests that have already been returned by
///  the `recv()` function will not close and the responses will be transferred to the client.
pub struct Server {
    // should be false as long as the server exists
    // when set to true, all the subtasks will close within a few hundreds ms
    close: Arc<AtomicBool>,

    // queue for messages received by child threads
    messages: Arc<MessagesQueue<Message>>,

    // result of TcpListener::local_addr()
    listening_addr: ListenAddr,

    // partybus patch: connections open right now
    open: Arc<AtomicUsize>,
}

/// partybus patch: called with each request on its connection's thread
/// (see `Server::from_listener_with_handler`).
pub type Handler = Arc<dyn Fn(Request) + Send + Sync>;

/// partybus patch: limits on connections, applied by the accept thread and
/// the per-connection threads before a request reaches `recv`.
///
/// The default is tiny_http 0.12's behaviour: no limits.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once; beyond it a new connection gets
    /// `refused_response` and is closed, without a thread.
    pub max_connections: usize,
    /// Raw bytes (a whole HTTP response) written to a refused connection.
    pub refused_response: Vec<u8>,
    /// partybus patch: the response written to a connection accepted on
    /// the reserve descriptor while the process has none left (empty:
    /// `refused_response`).
    pub exhausted_response: Vec<u8>,
    /// Per-read timeout of every socket: an idle keep-alive connection is
    /// closed after it, and a stalled read (headers, body, WebSocket) fails.
    pub read_timeout: Option<Duration>,
    /// Per-write timeout of every socket: a peer that stops reading makes
    /// writes fail after it instead of blocking forever.
    pub write_timeout: Option<Duration>,
    /// Time from a request's first byte until its head (and a body small
    /// enough to be buffered) must have arrived; then 408 and close.
    pub request_timeout: Option<Duration>,
    /// Bytes of request line plus headers; beyond it 431 and close.
    pub max_header_bytes: usize,
    /// JSON body of the 431 answer.
    pub header_too_large_body: Vec<u8>,
    /// JSON body of the 400 answer to a request line or header that cannot
    /// be read (empty: no body).
    pub bad_request_body: Vec<u8>,
    /// Bodies with a `Content-Length` up to this are read whole on the
    /// connection's own thread before the request is handed out, so a slow
    /// upload never holds a `recv` caller.
    pub prebuffer_body: usize,
    /// JSON body of the 408 answer (empty: no body).
    pub request_timeout_body: Vec<u8>,
    /// JSON body of the 417 answer to an `Expect` other than
    /// `100-continue` (empty: no body).
    pub expectation_failed_body: Vec<u8>,
    /// JSON body of the 505 answer to an HTTP version above 1.1 (empty:
    /// upstream's plain-text sentence).
    pub version_not_supported_body: Vec<u8>,
    /// Told of every answer the library writes on its own (see
    /// [`Refusal`]), after writing it.
    pub on_refusal: Option<RefusalHook>,
}

impl ConnectionLimits {
    /// The answer to a connection taken while the process is out of
    /// descriptors.
    fn exhausted_or_refused(&self) -> &[u8] {
        match self.exhausted_response.is_empty() {
            true => &self.refused_response,
            false => &self.exhausted_response,
        }
    }
}

/// partybus patch: an answer the library writes itself, before (or
/// instead of) handing a request out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// 503: a connection over `max_connections` (`refused_response`).
    TooManyConnections,
    /// 431: the request line and headers exceed `max_header_bytes`.
    HeaderTooLarge,
    /// 408: the request did not arrive within `request_timeout`, or stalled.
    RequestTimeout,
    /// 400: a request line or header that cannot be read.
    BadRequest,
    /// 417: an `Expect` header other than `100-continue`.
    ExpectationFailed,
    /// 505: an HTTP version above 1.1.
    VersionNotSupported,
}

impl Refusal {
    /// Every refusal.
    pub const ALL: [Refusal; 6] = [
        Refusal::TooManyConnections,
        Refusal::HeaderTooLarge,
        Refusal::RequestTimeout,
        Refusal::BadRequest,
        Refusal::ExpectationFailed,
        Refusal::VersionNotSupported,
    ];

    /// The status code written.
    pub fn status(self) -> u16 {
        match self {
            Refusal::TooManyConnections => 503,
            Refusal::HeaderTooLarge => 431,
            Refusal::RequestTimeout => 408,
            Refusal::BadRequest => 400,
            Refusal::ExpectationFailed => 417,
            Refusal::VersionNotSupported => 505,
        }
    }
}

/// partybus patch: called with each [`Refusal`] and the client's address
/// (`None` on a Unix socket, or when the OS no longer knows it), after the
/// answer is written: on the accept thread for `TooManyConnections`, on the
/// connection's thread otherwise. Must return quickly (count, log).
#[derive(Clone)]
pub struct RefusalHook(pub Arc<dyn Fn(Refusal, Option<std::net::SocketAddr>) + Send + Sync>);

impl std::fmt::Debug for RefusalHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefusalHook")
    }
}

impl RefusalHook {
    pub(crate) fn call(hook: &Option<RefusalHook>, r: Refusal, addr: Option<std::net::SocketAddr>) {
        if let Some(h) = hook {
            (h.0)(r, addr);
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: usize::MAX,
            refused_response: b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
            exhausted_response: Vec::new(),
            read_timeout: None,
            write_timeout: None,
            request_timeout: None,
            max_header_bytes: usize::MAX,
            header_too_large_body: Vec::new(),
            bad_request_body: Vec::new(),
            prebuffer_body: 1024,
            request_timeout_body: Vec::new(),
            expectation_failed_body: Vec::new(),
            version_not_supported_body: Vec::new(),
            on_refusal: None,
        }
    }
}

/// partybus patch: counts a connection as open while it lives.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// partybus patch: answers a connection over the cap and closes it, reading
/// what already arrived first so the close is a FIN rather than a reset.
/// partybus patch: how long the accept thread waits before trying again when
/// it has no descriptor to spare.
const ACCEPT_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// partybus patch: accept errors that say nothing about the listener: the
/// process or system is out of descriptors or buffers (EMFILE, ENFILE,
/// ENOBUFS, ENOMEM), or the peer gave up first (ECONNABORTED, EPROTO,
/// EINTR).
fn accept_error_is_transient(e: &IoError) -> bool {
    const TRANSIENT: [i32; 7] = [24, 23, 105, 12, 103, 71, 4];
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::Interrupted
    ) || e.raw_os_error().is_some_and(|n| TRANSIENT.contains(&n))
}

/// partybus patch: logs transient accept errors when they start and then at
/// most every ten seconds, with how many there were meanwhile.
#[derive(Default)]
struct ExhaustionLog {
    since: Option<std::time::Instant>,
    count: u64,
}

impl ExhaustionLog {
    fn note(&mut self, e: &IoError) {
        self.count += 1;
        let due = self
            .since
            .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(10));
        if due {
            log::warn!(
                "cannot accept connections ({} times): {}; refusing them until descriptors free",
                self.count,
                e
            );
            self.since = Some(std::time::Instant::now());
            self.count = 0;
        }
    }
}

fn refuse(mut sock: Connection, response: &[u8]) {
    use std::io::{Read, Write};
    let _ = sock.set_nonblocking(true);
    let mut buf = [0u8; 4096];
    let _ = sock.read(&mut buf);
    let _ = sock.write_all(response);
    let _ = sock.shutdown(Shutdown::Write);
    let _ = sock.read(&mut buf);
}

enum Message {
    Error(IoError),
    NewRequest(Request),
}

impl From<IoError> for Message {
    fn from(e: IoError) -> Message {
        Message::Error(e)
    }
}

impl From<Request> for Message {
    fn from(rq: Request) -> Message {
        Message::NewRequest(rq)
    }
}

// Makes sure that Server implements Sync and Send. (partybus patch: a
// const assertion instead of upstream's never-used `MustBeShareDummy` trait,
// which newer rustc reports as dead code.)
const _: fn() = || {
    fn assert_sync_send<T: Sync + Send>() {}
    assert_sync_send::<Server>();
};

pub struct IncomingRequests<'a> {
    server: &'a Server,
}

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,

    /// If `Some`, then the server will use SSL to encode the communications.
    pub ssl: Option<SslConfig>,
}

/// Configuration of the server for SSL.
#[derive(Debug, Clone)]
pub struct SslConfig {
    /// Contains the public certificate to send to clients.
    pub certificate: Vec<u8>,
    /// Contains the ultra-secret private key used to decode communications.
    pub private_key: Vec<u8>,
}

impl Server {
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: None,
        })
    }

    /// Shortcut for an HTTPS server on a specific address.
    #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
    #[inline]
    pub fn https<A>(
        addr: A,
        config: SslConfig,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
            ssl: Some(config),
        })
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub fn http_unix(
        path: &std::path::Path,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::unix_from_path(path),
            ssl: None,
        })
    }

    /// Builds a new server that listens on the specified address.
    pub fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = config.addr.bind()?;
        Self::from_listener(listener, config.ssl)
    }

    /// Builds a new server using the specified TCP listener.
    ///
    /// This is useful if you've constructed TcpListener using some less usual method
    /// such as from systemd. For other cases, you probably want the `new()` function.
    pub fn from_listener<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::from_listener_with_limits(listener, ssl_config, ConnectionLimits::default())
    }

    /// partybus patch: like `from_listener`, with limits on connections.
    pub fn from_listener_with_limits<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
        limits: ConnectionLimits,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Self::from_listener_with_handler(listener, ssl_config, limits, None)
    }

    /// partybus patch: like `from_listener_with_limits`; with a `handler`,
    /// each plain-HTTP request is passed to it on its connection's own
    /// thread (the next request on that connection is read once it returns)
    /// instead of being queued for `recv`.
    pub fn from_listener_with_handler<L: Into<Listener>>(
        listener: L,
        ssl_config: Option<SslConfig>,
        limits: ConnectionLimits,
        handler: Option<Handler>,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = listener.into();
        let limits = Arc::new(limits);
        let open = Arc::new(AtomicUsize::new(0));
        let inside_open = open.clone();
        // building the "close" variable
        let close_trigger = Arc::new(AtomicBool::new(false));

        // building the TcpListener
        let (server, local_addr) = {
            let local_addr = listener.local_addr()?;
            log::debug!("Server listening on {}", local_addr);
            (listener, local_addr)
        };

        // building the SSL capabilities
        #[cfg(all(feature = "ssl-openssl", feature = "ssl-rustls"))]
        compile_error!(
            "Features 'ssl-openssl' and 'ssl-rustls' must not be enabled at the same time"
        );
        #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
        type SslContext = ();
        #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
        type SslContext = crate::ssl::SslContextImpl;
        let ssl: Option<SslContext> = {
            match ssl_config {
                #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                Some(config) => Some(SslContext::from_pem(
                    config.certificate,
                    Zeroizing::new(config.private_key),
                )?),
                #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                Some(_) => return Err(
                    "Building a server with SSL requires enabling the `ssl` feature in tiny-http"
                        .into(),
                ),
                None => None,
            }
        };

        // creating a task where server.accept() is continuously called
        // and ClientConnection objects are pushed in the messages queue
        let messages = MessagesQueue::with_capacity(8);

        let inside_close_trigger = close_trigger.clone();
        let inside_messages = messages.clone();
        thread::spawn(move || {
            // a tasks pool is used to dispatch the connections into threads
            let tasks_pool = util::TaskPool::new();

            log::debug!("Running accept thread");
            // partybus patch: one descriptor held back for refusing a
            // connection when the process has none left.
            let mut reserve = std::fs::File::open("/dev/null").ok();
            let mut exhausted = ExhaustionLog::default();
            while !inside_close_trigger.load(Relaxed) {
                let new_client = match server.accept() {
                    Ok((sock, _)) => {
                        use util::RefinedTcpStream;
                        if inside_open.load(Ordering::Acquire) >= limits.max_connections {
                            let mut sock = sock;
                            let addr = sock.peer_addr().ok().flatten();
                            refuse(sock, &limits.refused_response);
                            RefusalHook::call(
                                &limits.on_refusal,
                                Refusal::TooManyConnections,
                                addr,
                            );
                            continue;
                        }
                        if let Err(e) = sock.set_timeouts(limits.read_timeout, limits.write_timeout)
                        {
                            log::debug!("cannot set socket timeouts: {}", e);
                            continue;
                        }
                        inside_open.fetch_add(1, Ordering::AcqRel);
                        let guard = OpenGuard(inside_open.clone());
                        let split = match ssl {
                            None => RefinedTcpStream::new(sock),
                            #[cfg(any(feature = "ssl-openssl", feature = "ssl-rustls"))]
                            Some(ref ssl) => {
                                // trying to apply SSL over the connection
                                // if an error occurs, we just close the socket and resume listening
                                let sock = match ssl.accept(sock) {
                                    Ok(s) => s,
                                    Err(_) => continue,
                                };

                                RefinedTcpStream::new(sock)
                            }
                            #[cfg(not(any(feature = "ssl-openssl", feature = "ssl-rustls")))]
                            Some(ref _ssl) => unreachable!(),
                        };
                        // partybus patch: the accept took the last descriptor
                        // and the socket cannot be split into its two halves:
                        // refused like an accept that found none.
                        let (read_closable, write_closable) = match split {
                            Ok(halves) => halves,
                            Err((e, stream)) => {
                                exhausted.note(&e);
                                if let Some(mut sock) = stream.into_plain() {
                                    let addr = sock.peer_addr().ok().flatten();
                                    refuse(sock, limits.exhausted_or_refused());
                                    RefusalHook::call(
                                        &limits.on_refusal,
                                        Refusal::TooManyConnections,
                                        addr,
                                    );
                                }
                                continue;
                            }
                        };

                        Ok((
                            ClientConnection::new(write_closable, read_closable)
                                .with_limits(limits.clone()),
                            guard,
                        ))
                    }
                    Err(e) => Err(e),
                };

                match new_client {
                    Ok((client, guard)) => {
                        let messages = inside_messages.clone();
                        let handler = handler.clone();
                        let mut client = Some((client, guard));
                        tasks_pool.spawn(Box::new(move || {
                            if let Some((client, _guard)) = client.take() {
                                // Synchronization is needed for HTTPS requests to avoid a deadlock
                                if client.secure() {
                                    let (sender, receiver) = mpsc::channel();
                                    for rq in client {
                                        messages.push(rq.with_notify_sender(sender.clone()).into());
                                        receiver.recv().unwrap();
                                    }
                                } else if let Some(handler) = handler.as_ref() {
                                    for rq in client {
                                        handler(rq);
                                    }
                                } else {
                                    for rq in client {
                                        messages.push(rq.into());
                                    }
                                }
                            }
                        }));
                    }

                    // partybus patch: out of file descriptors (or memory
                    // for a socket), the listener itself is fine. Upstream
                    // stopped accepting for good. Instead: free the reserve
                    // descriptor, take the waiting connection, answer it
                    // with the refusal, and take the reserve back, so a
                    // client hears why instead of hanging in the backlog;
                    // without a reserve, wait a moment. Accepting resumes by
                    // itself once descriptors are free.
                    Err(e) if accept_error_is_transient(&e) => {
                        exhausted.note(&e);
                        match reserve.take() {
                            Some(fd) => {
                                drop(fd);
                                if let Ok((mut sock, _)) = server.accept() {
                                    let addr = sock.peer_addr().ok().flatten();
                                    refuse(sock, limits.exhausted_or_refused());
                                    RefusalHook::call(
                                        &limits.on_refusal,
                                        Refusal::TooManyConnections,
                                        addr,
                                    );
                                }
                                reserve = std::fs::File::open("/dev/null").ok();
                            }
                            None => {
                                thread::sleep(ACCEPT_RETRY_PAUSE);
                                reserve = std::fs::File::open("/dev/null").ok();
                            }
                        }
                    }
                    Err(e) => {
                        log::error!("Error accepting new client: {}", e);
                        inside_messages.push(e.into());
                        break;
                    }
                }
            }
            log::debug!("Terminating accept thread");
        });

        // result
        Ok(Server {
            messages,
            close: close_trigger,
            listening_addr: local_addr,
            open,
        })
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub fn incoming_requests(&self) -> IncomingRequests<'_> {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub fn server_addr(&self) -> ListenAddr {
        self.listening_addr.clone()
    }

    /// Returns the number of clients currently connected to the server
    /// (partybus patch: counted by the accept thread).
    pub fn num_connections(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Blocks until an HTTP request has been submitted and returns it.
    pub fn recv(&self) -> IoResult<Request> {
        match self.messages.pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(rq),
            None => Err(IoError::new(IoErrorKind::Other, "thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub fn recv_timeout(&self, timeout: Duration) -> IoResult<Option<Request>> {
        match self.messages.pop_timeout(timeout) {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Same as `recv()` but doesn't block.
    pub fn try_recv(&self) -> IoResult<Option<Request>> {
        match self.messages.try_pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub fn unblock(&self) {
        self.messages.unblock();
    }
}

impl Iterator for IncomingRequests<'_> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        self.server.recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close.store(true, Relaxed);
        // Connect briefly to ourselves to unblock the accept thread
        let maybe_stream = match &self.listening_addr {
            ListenAddr::IP(addr) => TcpStream::connect(addr).map(Connection::from),
            #[cfg(unix)]
            ListenAddr::Unix(addr) => {
                // TODO: use connect_addr when its stabilized.
                let path = addr.as_pathname().unwrap();
                std::os::unix::net::UnixStream::connect(path).map(Connection::from)
            }
        };
        if let Ok(stream) = maybe_stream {
            let _ = stream.shutdown(Shutdown::Both);
        }

        #[cfg(unix)]
        if let ListenAddr::Unix(addr) = &self.listening_addr {
            if let Some(path) = addr.as_pathname() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}
