//! Faults beyond `kill -9`, against the built binary: the disk fills up, the
//! file system turns read-only under the server, the process runs out of
//! file descriptors. Each checks what the operator and the clients see
//! (status, stable code, `/readyz` and `/health` saying why), that reads go
//! on, that nothing acknowledged is lost (a restart finds it all) and that
//! nothing refused was half-written.
//!
//! The disk and file-system faults need root, to mount a small tmpfs and
//! an ext4 image on a loop device. Without (a developer's machine) they
//! skip, saying so; with `PARTYBUS_REQUIRE_FAULTS=1` (CI) they fail instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::util::{
    clear_bin_env, exit_within, poll_until, request, signal, try_request, Resp, Served, TempDir,
    API, BIN, WAIT,
};

/// Set (to 1) where the fault tests must run: a missing privilege fails
/// them instead of skipping them.
const REQUIRE_ENV: &str = "PARTYBUS_REQUIRE_FAULTS";

/// A file system mounted for one test, unmounted (and its image removed)
/// on drop.
struct Mount {
    dir: TempDir,
    image: Option<PathBuf>,
}

impl Mount {
    /// A tmpfs of `size` (e.g. `8m`), or `None` (skip) where mounting is
    /// not allowed.
    fn tmpfs(name: &str, size: &str) -> Option<Mount> {
        let dir = TempDir::new(name);
        let ok = run(
            "mount",
            &["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"],
            &dir.0,
        );
        ok.then_some(Mount { dir, image: None })
    }

    /// An ext4 image of `mib` MiB on a loop device, mounted with
    /// `errors=remount-ro` (what a disk error does to it), or `None`.
    fn ext4(name: &str, mib: u64) -> Option<Mount> {
        let dir = TempDir::new(name);
        let image = dir.0.with_extension("img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(mib << 20))
            .expect("image file");
        let made = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-m", "0"])
            .arg(&image)
            .status()
            .is_ok_and(|s| s.success());
        let mounted = made
            && Command::new("mount")
                .args(["-o", "loop,errors=remount-ro"])
                .arg(&image)
                .arg(&dir.0)
                .status()
                .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_file(&image);
            return None;
        }
        Some(Mount {
            dir,
            image: Some(image),
        })
    }

    fn path(&self) -> &Path {
        &self.dir.0
    }

    /// The block device's name (`loop3`), from `/proc/mounts`.
    fn device(&self) -> String {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        let dir = self.path().to_string_lossy().into_owned();
        mounts
            .lines()
            .find_map(|l| {
                let mut f = l.split_whitespace();
                let (dev, at) = (f.next()?, f.next()?);
                (at == dir).then(|| dev.trim_start_matches("/dev/").to_string())
            })
            .expect("mounted")
    }

    /// Whether the kernel has this mount read-only now (`emergency_ro`: ext4
    /// after an error, the mount options unchanged).
    fn is_read_only(&self) -> bool {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("/proc/mounts");
        let dir = self.path().to_string_lossy().into_owned();
        mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == dir && f[3].split(',').any(|o| o == "ro" || o == "emergency_ro")
        })
    }

    /// Unmounts, repairs the image (a disk error marks it) and mounts it
    /// again read-write: what an operator does after fixing the disk.
    fn repair(&self) {
        let image = self.image.as_ref().expect("an image");
        assert!(run("umount", &[], self.path()), "umount");
        let fsck = Command::new("e2fsck")
            .args(["-f", "-y"])
            .arg(image)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run e2fsck");
        // 0: clean; 1: errors corrected.
        assert!(matches!(fsck.code(), Some(0 | 1)), "e2fsck: {fsck:?}");
        let ok = Command::new("mount")
            .args(["-o", "loop,errors=remount-ro"])
            .arg(image)
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount the repaired image");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.path())
            .stderr(std::process::Stdio::null())
            .status();
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}

/// Runs `program args... dir`; true on success.
fn run(program: &str, args: &[&str], dir: &Path) -> bool {
    Command::new(program)
        .args(args)
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Skips (returns true) when the privilege is missing, unless it is
/// required here.
fn skip(mount: &Option<Mount>, what: &str) -> bool {
    if mount.is_some() {
        return false;
    }
    if std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE_ENV}=1 but {what} could not be mounted (root and mount(8) are needed)");
    }
    eprintln!("skipped: cannot mount {what} here (needs root); CI runs this with {REQUIRE_ENV}=1");
    true
}

fn create(addr: std::net::SocketAddr, content: &str) -> Resp {
    let body = json!({
        "user_id": "faults",
        "initial_inputs": [{"content": content, "source_type": "text"}],
    })
    .to_string();
    request(
        addr,
        "POST",
        &format!("{API}/party"),
        &[("Content-Type", "application/json")],
        Some(body.as_bytes()),
    )
}

fn party_count(addr: std::net::SocketAddr) -> u64 {
    let r = request(addr, "GET", &format!("{API}/system/status"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["status"]["state_store"]["total_parties"]
        .as_u64()
        .expect("total_parties")
}

/// A party id and token from a 201.
fn created(r: &Resp) -> (String, String) {
    let v = r.json();
    (
        v["party_id"].as_str().expect("party_id").to_string(),
        v["party_token"].as_str().expect("party_token").to_string(),
    )
}

fn status_of(addr: std::net::SocketAddr, party: &(String, String)) -> Resp {
    request(
        addr,
        "GET",
        &format!("{API}/party/{}/status", party.0),
        &[("Authorization", &format!("Bearer {}", party.1))],
        None,
    )
}

/// Stops the server with SIGTERM and requires a clean exit.
fn stop(mut served: Served) {
    signal(served.pid(), "-TERM");
    let status = exit_within(served.take(), WAIT);
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

/// Every acknowledged party is there after a restart, and nothing else.
fn restart_finds(data: &Path, acknowledged: &[(String, String)]) {
    let served = Served::start(&["--port", "0", "--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(party_count(served.addr), acknowledged.len() as u64);
    for p in acknowledged {
        let r = status_of(served.addr, p);
        assert_eq!(r.status, 200, "{} after the restart: {}", p.0, r.text());
    }
    stop(served);
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers_by_itself() {
    let mount = Mount::tmpfs("diskfull", "6m");
    if skip(&mount, "a tmpfs") {
        return;
    }
    let mount = mount.unwrap();
    let data = mount.path().join("data");
    let served = Served::start(&["--port", "0", "--data-dir", data.to_str().unwrap()], &[]);
    let addr = served.addr;
    let mut acknowledged = Vec::new();
    let r = create(addr, "a jungle party for 12 kids in Springfield");
    assert_eq!(r.status, 201, "{}", r.text());
    acknowledged.push(created(&r));

    // Fill the disk, all but nothing.
    let filler = mount.path().join("filler");
    {
        let mut f = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![7u8; 64 << 10];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
    }
    // Writes go on while SQLite still finds room in its pages, then are
    // refused with 507: nothing of them written.
    let long = "a princess party with a castle cake and a magician ".repeat(30);
    let mut refused = None;
    for _ in 0..400 {
        let r = create(addr, &long);
        match r.status {
            201 => acknowledged.push(created(&r)),
            _ => {
                refused = Some(r);
                break;
            }
        }
    }
    let refused = refused.expect("a full disk must refuse a write within 400 parties");
    refused.assert_error(507, "insufficient_storage");
    assert!(refused.header("retry-after").is_some());
    // Refused at once from now on, with the same answer.
    create(addr, "one more").assert_error(507, "insufficient_storage");
    // Reads go on.
    for p in &acknowledged {
        assert_eq!(status_of(addr, p).status, 200);
    }
    // Readiness and health say why.
    let ready = request(addr, "GET", "/readyz", &[], None);
    ready.assert_error(503, "not_ready");
    assert!(
        ready.json()["detail"].as_str().unwrap().contains("full"),
        "{}",
        ready.text()
    );
    let health = request(addr, "GET", "/health", &[], None);
    assert_eq!(health.status, 503, "{}", health.text());
    assert_eq!(health.json()["status"], "unhealthy");
    let metrics = request(addr, "GET", "/metrics", &[], None).text();
    assert!(
        metrics.contains("\npartybus_journal_writable 0\n"),
        "{metrics}"
    );

    // Space is freed: writes resume by themselves.
    std::fs::remove_file(&filler).expect("remove the filler");
    poll_until("writes resume", Instant::now() + WAIT, || {
        request(addr, "GET", "/readyz", &[], None).status == 200
    });
    let r = create(addr, "after the disk was freed");
    assert_eq!(r.status, 201, "{}", r.text());
    acknowledged.push(created(&r));
    assert_eq!(request(addr, "GET", "/health", &[], None).status, 200);
    let metrics = request(addr, "GET", "/metrics", &[], None).text();
    assert!(
        metrics.contains("\npartybus_journal_writable 1\n"),
        "{metrics}"
    );

    stop(served);
    restart_finds(&data, &acknowledged);
}

#[test]
fn a_file_system_turned_read_only_refuses_writes_and_loses_nothing() {
    let mount = Mount::ext4("readonly", 16);
    if skip(&mount, "an ext4 image on a loop device") {
        return;
    }
    let mount = mount.unwrap();
    let data = mount.path().join("data");
    // A disk error drops what the OS had not yet written: only fsynced
    // commits (`--durability full`) survive it, as they survive power loss.
    let args = [
        "--port",
        "0",
        "--durability",
        "full",
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let served = Served::start(&args, &[]);
    let addr = served.addr;
    let r = create(addr, "a space party for 8 kids");
    assert_eq!(r.status, 201, "{}", r.text());
    let acknowledged = vec![created(&r)];

    // A disk error: ext4 remounts itself read-only under the open files.
    let trigger = format!("/sys/fs/ext4/{}/trigger_fs_error", mount.device());
    std::fs::write(&trigger, "partybus fault test").expect("trigger an ext4 error");
    assert!(mount.is_read_only(), "ext4 did not turn read-only");

    let r = create(addr, "a dinosaur party");
    r.assert_error(503, "journal_read_only");
    assert!(r.json()["detail"].as_str().unwrap().contains("not written"));
    create(addr, "another").assert_error(503, "journal_read_only");
    assert_eq!(status_of(addr, &acknowledged[0]).status, 200, "reads go on");
    let ready = request(addr, "GET", "/readyz", &[], None);
    ready.assert_error(503, "not_ready");
    assert!(
        ready.json()["detail"]
            .as_str()
            .unwrap()
            .contains("Read-only"),
        "{}",
        ready.text()
    );

    // The operator stops it, repairs the disk, starts it again.
    stop(served);
    mount.repair();
    restart_finds(&data, &acknowledged);
}

#[test]
fn running_out_of_file_descriptors_refuses_connections_cleanly_and_recovers() {
    let data = TempDir::new("fds");
    // prlimit(1) (util-linux) caps the child's descriptors; the test holds
    // more connections open than the server has descriptors left.
    let mut cmd = Command::new("prlimit");
    cmd.args([
        "--nofile=64:64",
        "--",
        BIN,
        "serve",
        "--port",
        "0",
        "--data-dir",
    ])
    .arg(&data.0);
    clear_bin_env(&mut cmd);
    let served = Served::spawn(cmd);
    let addr = served.addr;
    // A connect the kernel refuses is not the server's answer: what counts
    // is that a client is told (below) and that serving resumes.
    let mut held: Vec<_> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(addr).ok())
        .collect();
    // A new client is told, not left hanging: 503 with a JSON body.
    let deadline = Instant::now() + WAIT;
    let refused = loop {
        match try_request(addr, "GET", "/livez", &[], None) {
            Ok(r) if r.status == 503 => break r,
            // Accepted before the descriptors ran out (a backlog's worth).
            Ok(_) | Err(_) => {
                assert!(Instant::now() < deadline, "never refused");
                held.extend(std::net::TcpStream::connect(addr).ok());
            }
        }
    };
    let v: Value = refused.json();
    assert_eq!(
        (v["success"].clone(), v["code"].clone()),
        (json!(false), json!("too_many_connections")),
        "{v}"
    );
    assert!(
        v["detail"].as_str().unwrap().contains("file descriptor"),
        "{v}"
    );
    // Descriptors free (as the server's threads see the closes): served
    // again, writes included, and the process never died.
    drop(held);
    poll_until("a party is created again", Instant::now() + WAIT, || {
        let body = r#"{"initial_inputs":[{"content":"after the descriptors freed"}]}"#;
        let json = [("Content-Type", "application/json")];
        match try_request(
            addr,
            "POST",
            &format!("{API}/party"),
            &json,
            Some(body.as_bytes()),
        ) {
            Ok(r) if r.status == 201 => true,
            Ok(r) if r.status == 503 => {
                assert_eq!(r.json()["code"], "too_many_connections", "{}", r.text());
                false
            }
            Ok(r) => panic!("unexpected answer {}: {}", r.status, r.text()),
            Err(_) => false,
        }
    });
    stop(served);
}
