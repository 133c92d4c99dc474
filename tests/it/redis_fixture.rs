//! The Redis fixture itself ([`crate::util::redis::Redis`]): it starts and
//! answers, `cli` reads replies, and `restart` (`kill -9`, same port and dir)
//! keeps a key with AOF and loses it without.

use std::time::Instant;

use crate::util::redis::Redis;

/// `SET k v`, then `GET k` after `restart`; returns what `GET` answered.
fn get_after_restart(redis: &mut Redis) -> String {
    assert_eq!(redis.cli(&["SET", "party:1", "jungle"]), "OK");
    assert_eq!(redis.cli(&["GET", "party:1"]), "jungle");
    let port = redis.port();
    let t = Instant::now();
    redis.restart();
    eprintln!("redis (aof {}) restarted in {:?}", redis.aof(), t.elapsed());
    assert_eq!(redis.port(), port, "restart keeps the port");
    assert_eq!(redis.cli(&["PING"]), "PONG");
    redis.cli(&["GET", "party:1"])
}

#[test]
fn redis_fixture_starts_answers_and_restarts() {
    let t = Instant::now();
    let Some(mut plain) = Redis::start() else {
        eprintln!("skipped: redis-server not installed");
        return;
    };
    eprintln!("redis (aof false) started in {:?}", t.elapsed());
    assert_ne!(plain.port(), 6379);
    assert_eq!(plain.url(), format!("redis://127.0.0.1:{}/0", plain.port()));
    assert!(plain.dir().is_dir());

    // Replies of each kind.
    assert_eq!(plain.cli(&["PING"]), "PONG");
    assert_eq!(plain.cli(&["DBSIZE"]), "0");
    assert_eq!(plain.cli(&["GET", "missing"]), "(nil)");
    assert!(plain.cli(&["NOSUCHCOMMAND"]).starts_with("(error) ERR"));
    assert_eq!(plain.cli(&["SET", "crlf", "a b\r\nc"]), "OK");
    assert_eq!(plain.cli(&["GET", "crlf"]), "a b\r\nc");
    let id = plain.cli(&["XADD", "s", "*", "k", "v"]);
    assert!(id.contains('-'), "a stream id: {id}");
    plain.cli(&["XADD", "s", "*", "k", "w"]);
    assert_eq!(plain.cli(&["XLEN", "s"]), "2");
    assert_eq!(
        plain.cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nno"
    );
    assert_eq!(plain.cli(&["CONFIG", "GET", "save"]), "save\n");
    assert!(plain
        .cli(&["INFO", "persistence"])
        .contains("aof_enabled:0"));

    // Without AOF (and no snapshots) a kill -9 loses the key.
    assert_eq!(get_after_restart(&mut plain), "(nil)");
    assert_eq!(plain.cli(&["DBSIZE"]), "0");
    assert_eq!(plain.cli(&["XLEN", "s"]), "0");

    // With AOF (fsync always) it keeps it.
    let t = Instant::now();
    let mut aof = Redis::start_with(true).expect("redis-server was there a moment ago");
    eprintln!("redis (aof true) started in {:?}", t.elapsed());
    assert_ne!(aof.port(), plain.port());
    assert!(aof.cli(&["INFO", "persistence"]).contains("aof_enabled:1"));
    assert_eq!(get_after_restart(&mut aof), "jungle");

    // A clean stop, then a start on the same dir still has it; a stopped
    // server refuses.
    aof.stop();
    assert!(aof.pid().is_none());
    assert!(aof.try_cli(&["PING"]).is_err());
    aof.restart();
    assert_eq!(aof.cli(&["GET", "party:1"]), "jungle");
    assert!(!aof.log().contains("# Bad file format"), "{}", aof.log());
}
