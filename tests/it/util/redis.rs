//! A `redis-server` of the test's own ([`Redis`]): Debian's binary from PATH
//! on a free loopback port, with a scratch dir, no RDB snapshots and AOF on
//! or off, killed when the fixture drops. Never a system instance: nothing
//! here connects to 6379.
//!
//! Commands go over raw RESP on a `TcpStream` ([`Redis::cli`]), so the tests
//! need no Redis client crate.
//!
//! Without `redis-server` on PATH, [`Redis::start`] returns `None` and the
//! test skips, unless `PARTYBUS_REQUIRE_REDIS` is set (CI sets it), where it
//! panics instead:
//!
//! ```ignore
//! let Some(redis) = Redis::start() else {
//!     eprintln!("skipped: redis-server not installed");
//!     return;
//! };
//! ```

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{exit_within, poll, signal, TempDir, WAIT};

/// The environment variable that turns a missing `redis-server` from a skip
/// into a failure.
pub const REQUIRE_ENV: &str = "PARTYBUS_REQUIRE_REDIS";

/// The server's log, in its dir (stdout and stderr both).
const LOG_FILE: &str = "redis.log";

/// Starts on a fresh port when the first ones are taken between our probe
/// and the server's bind.
const START_ATTEMPTS: usize = 3;

/// A `redis-server` child for one test. Dropping it kills the child (SIGKILL)
/// and removes its dir.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    aof: bool,
    /// Dropped after the child is killed (see `Drop`).
    dir: TempDir,
}

impl Redis {
    /// `partybus serve` as cluster node `id` on this Redis, with
    /// `partitions` partitions, on a free port; `extra` arguments after.
    pub fn node(&self, id: &str, partitions: u32, extra: &[&str]) -> super::Served {
        let url = self.url();
        let partitions = partitions.to_string();
        let base = [
            "--port",
            "0",
            "--journal",
            &url,
            "--partitions",
            &partitions,
            "--node-id",
            id,
        ];
        super::Served::start(&[&base[..], extra].concat(), &[])
    }

    /// Whether `redis-server` is on PATH.
    pub fn available() -> bool {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).any(|d| d.join("redis-server").is_file())
    }

    /// Whether `PARTYBUS_REQUIRE_REDIS` asks for Redis (set, and neither
    /// empty nor `0`).
    pub fn required() -> bool {
        std::env::var_os(REQUIRE_ENV).is_some_and(|v| !v.is_empty() && v != "0")
    }

    /// A server without AOF, answering PING; `None` when `redis-server` is
    /// not installed (see the module docs).
    pub fn start() -> Option<Redis> {
        Redis::start_with(false)
    }

    /// A server with `--appendonly yes` (and `--appendfsync always`, so a
    /// reply means the write is on disk) when `aof`, answering PING; `None`
    /// when `redis-server` is not installed and [`Redis::required`] is false.
    pub fn start_with(aof: bool) -> Option<Redis> {
        if !Redis::available() {
            assert!(
                !Redis::required(),
                "redis-server not found; install Debian's redis-server \
                 (`apt-get install -y redis-server`); {REQUIRE_ENV} is set, \
                 so the Redis tests may not skip"
            );
            return None;
        }
        let mut redis = Redis {
            child: None,
            port: 0,
            aof,
            dir: TempDir::new("redis"),
        };
        for attempt in 1..=START_ATTEMPTS {
            redis.port = free_port();
            match redis.spawn_ready() {
                Ok(()) => return Some(redis),
                // It exited before answering: most likely the port was taken
                // after we let it go. Another port, at most START_ATTEMPTS.
                Err(e) if attempt < START_ATTEMPTS => {
                    eprintln!(
                        "redis-server did not start on {} ({e}); retrying",
                        redis.port
                    );
                }
                Err(e) => panic!(
                    "redis-server did not start ({e}); its log:\n{}",
                    redis.log()
                ),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The loopback port it listens on (kept across [`Redis::restart`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its `--dir` (the AOF dir and the log are in it).
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// Whether it runs with AOF.
    pub fn aof(&self) -> bool {
        self.aof
    }

    /// The child's process id; `None` after [`Redis::kill`] or [`Redis::stop`].
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log so far (all its starts), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join(LOG_FILE)).unwrap_or_default()
    }

    /// SIGKILL, and waits for the exit. The dir stays; [`Redis::restart`]
    /// starts it again. A no-op when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A clean shutdown: SIGTERM, and its exit within [`WAIT`] (with AOF,
    /// Redis fsyncs the AOF before it exits). The dir stays. A no-op when it
    /// is not running.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            signal(c.id(), "-TERM");
            let status = exit_within(c, WAIT);
            assert!(
                status.success(),
                "redis-server exited with {status} on SIGTERM; its log:\n{}",
                self.log()
            );
        }
    }

    /// `kill -9`, then the server again on the same port and dir (so with AOF
    /// its data is reloaded), answering PING.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(e) = self.spawn_ready() {
            panic!(
                "redis-server did not restart on {} ({e}); its log:\n{}",
                self.port,
                self.log()
            );
        }
    }

    /// Sends one command (a RESP array of `args`) and returns the reply as
    /// text: a simple string or bulk string as is, an integer in decimal,
    /// the elements of an array (nested ones too) one per line, a nil as
    /// `(nil)` and an error as `(error) MESSAGE` (as redis-cli shows them).
    /// Panics when the server does not answer within [`WAIT`].
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|e| panic!("redis {args:?} on port {} failed: {e}", self.port))
    }

    /// Like [`Redis::cli`], but a refused or broken connection is an `Err`.
    pub fn try_cli(&self, args: &[&str]) -> io::Result<String> {
        let mut cmd = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            cmd.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            cmd.extend_from_slice(a.as_bytes());
            cmd.extend_from_slice(b"\r\n");
        }
        let mut stream = connect(self.port, WAIT)?;
        stream.write_all(&cmd)?;
        let mut lines = Vec::new();
        read_reply(&mut BufReader::new(stream), &mut lines)?;
        Ok(lines.join("\n"))
    }

    /// Spawns `redis-server` on `self.port` and `self.dir`, and waits (within
    /// [`WAIT`]) until it answers PING. `Err` when it exits first.
    fn spawn_ready(&mut self) -> io::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir().join(LOG_FILE))?;
        let dir = self.dir().to_str().expect("a UTF-8 temp dir").to_string();
        let port_arg = self.port.to_string();
        let aof = if self.aof { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &port_arg, "--bind", "127.0.0.1", "--dir", &dir])
            .args(["--save", "", "--appendonly", aof, "--appendfsync", "always"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        // Redis gives nothing to wait on for readiness: no line at
        // `--loglevel warning` ("Ready to accept connections" is a notice),
        // and sd_notify needs a systemd socket. So poll: connect and PING,
        // which also says the AOF is loaded (while loading it answers
        // -LOADING), until it answers, it exits, or WAIT passes.
        let port = self.port;
        let deadline = Instant::now() + WAIT;
        let mut exited = None;
        let ready = poll(deadline, || {
            let c = self.child.as_mut().expect("child just spawned");
            if let Ok(Some(status)) = c.try_wait() {
                exited = Some(status);
                return true;
            }
            pong(port)
        });
        if let Some(status) = exited {
            self.child = None;
            return Err(io::Error::other(format!("it exited with {status}")));
        }
        if !ready {
            self.kill();
            return Err(io::Error::other(format!("no PONG within {WAIT:?}")));
        }
        Ok(())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Before `dir` (a field) is removed.
        self.kill();
    }
}

/// A loopback connection to `port` with `timeout` on connect, reads and
/// writes.
fn connect(port: u16, timeout: Duration) -> io::Result<TcpStream> {
    // The port is always one of ours: never a system instance.
    assert_ne!(port, 6379, "the fixture never talks to 6379");
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port));
    let s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    Ok(s)
}

/// Whether `port` answers an inline `PING` with `+PONG`.
fn pong(port: u16) -> bool {
    let answer = || -> io::Result<bool> {
        let mut s = connect(port, Duration::from_secs(1))?;
        s.write_all(b"PING\r\n")?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        Ok(line.starts_with("+PONG"))
    };
    answer().unwrap_or(false)
}

/// A port the kernel just gave a loopback listener, free once it is dropped.
fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Reads one RESP2 reply into `out`, one line per simple value.
fn read_reply<R: Read>(r: &mut BufReader<R>, out: &mut Vec<String>) -> io::Result<()> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a reply",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || io::Error::other(format!("bad RESP line {line:?}"));
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    match kind {
        "+" | ":" => out.push(rest.to_string()),
        "-" => out.push(format!("(error) {rest}")),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                out.push("(nil)".to_string());
            } else {
                let mut body = vec![0; n as usize + 2];
                r.read_exact(&mut body)?;
                body.truncate(n as usize);
                out.push(String::from_utf8_lossy(&body).into_owned());
            }
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                out.push("(nil)".to_string());
            }
            for _ in 0..n.max(0) {
                read_reply(r, out)?;
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}
