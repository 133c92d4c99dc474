#!/usr/bin/env python3
"""Soak test: the release binary under mixed legitimate load with abusive
clients mixed in, for SOAK_SECS seconds (default 60; 600 locally).

Legitimate clients create parties, add inputs and read status over
keep-alive connections; abusive ones trickle headers (slowloris), send
oversized bodies and bad JSON, flood from one address, and open WebSockets
that never read. Throughout: legit p99 < 50 ms, RSS flat (last third within
25 % of the first third, plus 20 KiB per kept legit party), no thread leak (/proc/<pid>/task back near its
start once the abuse stops), and every acknowledged write present at the end,
and again after a restart on the same data directory (a fresh temp dir).

    cargo build --release && SOAK_SECS=60 python3 scripts/soak.py

Exit status: 0 all held; 1 a loss or a leak; 3 only the latency bound failed.
Only the standard library; loopback only; every loop bounded in time.
"""
import http.client, json, os, random, shutil, socket, subprocess, sys, tempfile, threading, time

SECS = float(os.environ.get("SOAK_SECS", "60"))
BIN = os.environ.get("PARTYBUS_BIN", "target/release/partybus")
API = "/api/v1/event-driven"

def start(data_dir):
    p = subprocess.Popen([BIN, "serve", "--port", "0", "--log-level", "warn",
                          "--data-dir", os.path.join(data_dir, "data"),
                          "--request-timeout", "2s", "--read-timeout", "5s",
                          "--write-timeout", "5s", "--rate-writes", "200",
                          "--rate-write-burst", "400"],
                         stderr=open(os.path.join(data_dir, "server.log"), "a"))
    # --log-level warn hides the listening line: find the port via /proc.
    # The server listens while it replays its journal: wait for /readyz too.
    deadline = time.time() + 60
    while time.time() < deadline:
        port = listening_port(p.pid)
        if port and ready(port):
            return p, port
        time.sleep(0.05)
    p.kill(); sys.exit("server did not start (log: %s/server.log)" % data_dir)

def ready(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", "/readyz")
        return c.getresponse().status == 200
    except OSError:
        return False

def listening_port(pid):
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            t = os.readlink(f"/proc/{pid}/fd/{fd}")
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
        for line in open("/proc/net/tcp").read().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                return int(f[1].split(":")[1], 16)
    except OSError:
        return None
    return None

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0

def threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))

stop = threading.Event()
lat, acked, errors, lock = [], [], [], threading.Lock()

def legit(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        try:
            t = time.perf_counter()
            c.request("POST", API + "/party", json.dumps({"initial_inputs": [{"content": "jungle party for 20 kids"}]}),
                      {"Content-Type": "application/json"})
            r = c.getresponse(); body = json.loads(r.read())
            dt = time.perf_counter() - t
            if r.status == 201:
                with lock:
                    lat.append(dt); acked.append((body["party_id"], body["party_token"], body["input_ids"][0]))
                t = time.perf_counter()
                c.request("GET", f"{API}/party/{body['party_id']}/status",
                          headers={"Authorization": "Bearer " + body["party_token"]})
                r = c.getresponse(); r.read()
                with lock:
                    lat.append(time.perf_counter() - t)
            elif r.status != 429:
                with lock: errors.append(r.status)
        except Exception as e:  # reconnect and go on; counted
            with lock: errors.append(repr(e))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        time.sleep(0.01)

def slowloris(port):
    socks = []
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
            for s in socks[:]:
                try: s.sendall(b"X-a: b\r\n")
                except OSError: socks.remove(s); s.close()
        except OSError:
            pass
        socks = socks[-200:]
        time.sleep(0.2)

def abuse_bodies(port):
    while not stop.is_set():
        for body, ctype in ((b"{" * 70000, "application/json"), (b"{not json", "application/json"),
                            (b"x", "text/plain")):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", API + "/party", body, {"Content-Type": ctype})
                c.getresponse().read(); c.close()
            except Exception:
                pass
        time.sleep(0.05)

def flood(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        try:
            # Writes that cost state-free work (404): the flood tests the
            # rate limiter, not memory growth.
            c.request("POST", API + "/party/nope/input", "{}", {"Content-Type": "application/json"})
            c.getresponse().read()
        except Exception:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

def ws_never_reads(port, party, token):
    held = []
    while not stop.is_set() and len(held) < 50:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            s.sendall((f"GET {API}/ws/{party}?token={token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
            held.append(s)
        except OSError:
            pass
        time.sleep(0.1)
    stop.wait(SECS)
    for s in held: s.close()

def count_lost(port, sample):
    """How many of the sampled acknowledged inputs the server no longer has."""
    lost = 0
    for party, token, inp in sample:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", f"{API}/party/{party}/status", headers={"Authorization": "Bearer " + token})
        r = c.getresponse(); body = r.read()
        if r.status != 200 or inp.encode() not in body:
            lost += 1
    return lost

def main():
    data_dir = tempfile.mkdtemp(prefix="partybus-soak-")
    p, port = start(data_dir)
    pid = p.pid
    t0_threads = threads(pid)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", API + "/party", "{}", {"Content-Type": "application/json"})
    first = json.loads(c.getresponse().read())
    workers = [threading.Thread(target=legit, args=(port, i)) for i in range(4)]
    workers += [threading.Thread(target=f, args=(port,)) for f in (slowloris, abuse_bodies, flood)]
    workers.append(threading.Thread(target=ws_never_reads, args=(port, first["party_id"], first["party_token"])))
    for w in workers: w.start()
    rss, began = [], time.time()
    while time.time() - began < SECS:
        rss.append(rss_kib(pid)); time.sleep(1)
    peak_threads = threads(pid)
    stop.set()
    for w in workers: w.join(timeout=15)
    time.sleep(7)  # read/request timeouts reap what the abusers left
    end_threads = threads(pid)
    sample = random.sample(acked, min(500, len(acked)))
    lost = count_lost(port, sample)
    # The journal kept them too: a restart on the same data directory
    # replays every acknowledged write.
    p.terminate(); p.wait(timeout=10)
    p, port = start(data_dir)
    lost_after_restart = count_lost(port, sample)
    p.terminate(); p.wait(timeout=10)
    shutil.rmtree(data_dir, ignore_errors=True)
    lat.sort()
    p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else float("nan")
    third = max(1, len(rss) // 3)
    first_rss, last_rss = sum(rss[:third]) / third, sum(rss[-third:]) / third
    report = {"secs": SECS, "legit_requests": len(lat), "p99_ms": round(p99, 2),
              "acked_writes": len(acked), "checked": len(sample), "lost": lost, "lost_after_restart": lost_after_restart,
              "rss_first_third_kib": int(first_rss), "rss_last_third_kib": int(last_rss),
              "threads_start": t0_threads, "threads_peak": peak_threads, "threads_end": end_threads,
              "legit_errors": len(errors), "error_sample": errors[:5]}
    # Legit parties are kept (to check none is lost): allow their read model
    # (about 15 KiB each, benches/memory.rs; 20 KiB with slack) on top, and
    # the status each one's GET left in the render cache (a planned jungle
    # party's status is about 10 KiB; the cache holds 1024,
    # src/server/render_cache.rs).
    allowed = first_rss * 1.25 + 4096 + 20 * len(acked) + 10 * min(len(acked), 1024)
    report["rss_allowed_kib"] = int(allowed)
    print(json.dumps(report, indent=1))
    sound = lost == 0 and lost_after_restart == 0 and last_rss <= allowed and end_threads <= t0_threads + 8
    if not sound:
        sys.exit(1)
    # Exit 3: only the latency bound failed (no loss, no leak), which a
    # disk stall on a shared VM can cause; callers may run it again.
    sys.exit(0 if p99 < 50 else 3)

if __name__ == "__main__":
    main()
