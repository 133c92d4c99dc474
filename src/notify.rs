//! The systemd notification protocol (`sd_notify(3)`): tells a service
//! manager that `serve` is ready, is stopping, and what it is doing.
//!
//! Owns the `NOTIFY_SOCKET` datagram socket and the message format only.
//! Written with std's `UnixDatagram` rather than a crate: the protocol is
//! one datagram of `KEY=VALUE` lines to the socket named in the
//! environment, and std also reaches abstract socket names (`@…`) through
//! `SocketAddrExt`. Must never fail or block the server: without
//! `NOTIFY_SOCKET` every call does nothing, and a send that fails is logged
//! at debug level and forgotten (the manager then times us out, which is
//! its job, not ours).

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// The environment variable naming the manager's socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Longest `STATUS=` text sent; longer is cut (at a character boundary).
pub const MAX_STATUS_CHARS: usize = 200;

/// A connection to the service manager, or nothing when not run by one.
#[derive(Debug)]
pub struct Notifier {
    /// Our unbound datagram socket and the manager's address; `None` when
    /// `NOTIFY_SOCKET` is unset (or unusable, which is logged once).
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// A notifier that never sends anything.
    pub fn disabled() -> Notifier {
        Notifier { target: None }
    }

    /// The notifier `NOTIFY_SOCKET` asks for (disabled when it is unset
    /// or empty; a bad value is logged and disables it).
    pub fn from_env() -> Notifier {
        let Some(name) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
            return Notifier::disabled();
        };
        let name = name.to_string_lossy();
        if name.is_empty() {
            return Notifier::disabled();
        }
        match Notifier::to(&name) {
            Ok(n) => n,
            Err(e) => {
                log::warn!("{NOTIFY_SOCKET_ENV}={name:?} cannot be used, so systemd is not told we are ready: {e}");
                Notifier::disabled()
            }
        }
    }

    /// A notifier sending to `name`: a socket path, or `@name` for a
    /// Linux abstract socket.
    pub fn to(name: &str) -> io::Result<Notifier> {
        let addr = address(name)?;
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((socket, addr)),
        })
    }

    /// Whether anything will be sent.
    pub fn enabled(&self) -> bool {
        self.target.is_some()
    }

    /// `READY=1`, with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", status_text(status)));
    }

    /// `STOPPING=1`, with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", status_text(status)));
    }

    /// `STATUS=…`: what the service is doing (shown by `systemctl status`).
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", status_text(status)));
    }

    fn send(&self, message: &str) {
        let Some((socket, addr)) = &self.target else {
            return;
        };
        if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
            log::debug!("notifying the service manager failed: {e}");
        }
    }
}

/// The address `NOTIFY_SOCKET` names.
fn address(name: &str) -> io::Result<SocketAddr> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        abstract_address(abstract_name.as_bytes())
    } else if name.starts_with('/') {
        SocketAddr::from_pathname(name)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute socket path or an @abstract name",
        ))
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_address(name: &[u8]) -> io::Result<SocketAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_address(_name: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract socket names exist on Linux only",
    ))
}

/// `status` on one line (a newline would start another `KEY=`), at most
/// [`MAX_STATUS_CHARS`] characters.
fn status_text(status: &str) -> String {
    status
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_STATUS_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn receive(socket: &UnixDatagram) -> String {
        let mut buf = [0u8; 1024];
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("pb-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let manager = UnixDatagram::bind(&path).expect("bind");
        manager
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let n = Notifier::to(path.to_str().expect("utf-8 path")).expect("notifier");
        assert!(n.enabled());
        n.status("replaying journal 40%");
        assert_eq!(receive(&manager), "STATUS=replaying journal 40%");
        n.ready("serving on 127.0.0.1:9000");
        assert_eq!(
            receive(&manager),
            "READY=1\nSTATUS=serving on 127.0.0.1:9000"
        );
        n.stopping("line one\nREADY=1");
        assert_eq!(receive(&manager), "STOPPING=1\nSTATUS=line one READY=1");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn messages_reach_an_abstract_socket() {
        let name = format!("partybus-notify-test-{}", std::process::id());
        let manager = UnixDatagram::bind_addr(&abstract_address(name.as_bytes()).expect("addr"))
            .expect("bind");
        manager
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Notifier::to(&format!("@{name}"))
            .expect("notifier")
            .ready("ok");
        assert_eq!(receive(&manager), "READY=1\nSTATUS=ok");
    }

    #[test]
    fn bad_names_are_refused_and_disabled_sends_nothing() {
        assert!(Notifier::to("relative/path").is_err());
        assert!(Notifier::to("").is_err());
        let n = Notifier::disabled();
        assert!(!n.enabled());
        n.ready("nobody listens");
    }

    #[test]
    fn long_status_is_cut() {
        assert_eq!(status_text(&"x".repeat(500)).len(), MAX_STATUS_CHARS);
    }
}
