// partybus patch: its own test binary, because it lowers this process's
// descriptor limit; a second test running beside it would see the limit.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use tiny_http::{ConnectionLimits, Response, Server};

const EXHAUSTED: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 9\r\nConnection: close\r\n\r\nexhausted";

/// Opens `/dev/null` until the process has no descriptor left.
fn fill_descriptors() -> Vec<File> {
    let mut held = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => held.push(f),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => return held,
            Err(e) => panic!("opening /dev/null: {}", e),
        }
    }
}

fn lower_descriptor_limit(to: libc::rlim_t) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write `limit`.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = to.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// One request served: the accept thread runs (and holds its reserve
/// descriptor), and the connection is closed again on the server's side.
fn served(server: &Server, addr: std::net::SocketAddr) {
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let request = server
        .recv_timeout(Duration::from_secs(10))
        .expect("the accept thread is alive")
        .expect("a request within 10 s");
    request.respond(Response::from_string("served")).unwrap();
    let answer = read_all(client);
    assert!(answer.starts_with("HTTP/1.1 200"), "{:?}", answer);
    assert!(answer.ends_with("served"), "{:?}", answer);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.num_connections() > 0 {
        assert!(Instant::now() < deadline, "the connection never closed");
        std::thread::yield_now();
    }
}

fn read_all(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// An accept that takes the process's last descriptor leaves none for
/// splitting the socket into its read and write halves. The client is told
/// (the exhausted response), and once descriptors free the server serves
/// again: the accept thread survived.
#[test]
fn an_accept_that_takes_the_last_descriptor_is_refused_and_serving_goes_on() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = ConnectionLimits {
        exhausted_response: EXHAUSTED.to_vec(),
        ..ConnectionLimits::default()
    };
    let server = Server::from_listener_with_limits(listener, None, limits).unwrap();
    served(&server, addr);
    lower_descriptor_limit(256);

    // One descriptor free, for the client's socket. The server's accept
    // needs none: Linux reserves the descriptor of a blocked accept(2)
    // when it starts waiting, so the accept succeeds and `try_clone` finds
    // none left.
    let mut held = fill_descriptors();
    held.truncate(held.len() - 1);
    let client = TcpStream::connect(addr).unwrap();
    let answer = read_all(client);
    assert!(answer.starts_with("HTTP/1.1 503"), "{:?}", answer);
    assert!(answer.ends_with("exhausted"), "{:?}", answer);

    drop(held);
    served(&server, addr);
}
