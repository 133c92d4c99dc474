//! End-to-end test of the planning page in Debian's headless `chromium`,
//! driven over the Chrome DevTools protocol with tungstenite (no browser
//! automation crate). The server runs in process on 127.0.0.1:0.
//!
//! The test types a party into the page and waits for the venues, adds a
//! cake input and watches the budget change, removes it, reloads and
//! compares the rendered state, drops the WebSocket and checks that the page
//! reconnects by itself and receives every event sent meanwhile exactly
//! once, then checks a phone-sized layout and the API reference page.
//! A second test checks the "What we understood" panel against the plan's
//! `final_plan.facts` as the API returns it (values, quoted words, input ids,
//! replaced statements), live as inputs change, and, through a status answer
//! rewritten in the page, every kind of provenance, the agents' notes and
//! user words that are markup. A third test plays a what-if: it leaves
//! out the "30 guests" input, adds "50 guests", tries it, and checks the
//! fork's plan beside the original's against the diff route and the agents
//! marked reused or re-ran against the fork's journal; then a fork of the
//! fork, an API error shown in words, and discarding. Screenshots go to
//! `target/web-screenshots/`.
//!
//! Every wait is for a DevTools message with a deadline: a condition in the
//! page is checked by the page itself (on each DOM change, and every
//! [`PAGE_CHECK_EVERY`] for state outside the DOM), which answers once it
//! holds; a navigation is waited for by its new execution context; the
//! browser's exit by the end of its stderr. Without `chromium` (or
//! `$CHROMIUM`) the test fails and says how to install it.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{self, TestServer, API, WAIT};
use serde_json::{json, Value};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How often the page re-checks a condition that no DOM change signals
/// (a variable of the app script, a WebSocket's state); in the page's own
/// timer, so that the test itself waits for the answer.
const PAGE_CHECK_EVERY: Duration = Duration::from_millis(40);

/// The chromium binary: `$CHROMIUM`, else the first of the usual names on PATH.
fn find_chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the web UI test needs Chromium, and none was found on PATH \
         (looked for chromium, chromium-browser, google-chrome, chrome). \
         Install it with `apt-get install -y chromium`, or set CHROMIUM=/path/to/chromium."
    );
}

/// A headless Chromium and one page, driven over the DevTools protocol.
struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// JavaScript exceptions and console/log errors seen so far.
    errors: Vec<String>,
    /// The last lines Chromium wrote to stderr (for failure messages);
    /// disconnected once every Chromium process has closed it.
    stderr: mpsc::Receiver<String>,
    /// Execution contexts created so far (one per page load): a wait whose
    /// context went away with a navigation resumes in the next one.
    contexts: u64,
}

impl Browser {
    fn launch() -> Browser {
        let exe = find_chromium();
        let profile = std::env::temp_dir().join(format!(
            "partybus-chromium-{}-{:016x}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&profile).expect("profile dir");
        let mut child = Command::new(&exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--mute-audio",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                let _ = std::fs::remove_dir_all(&profile);
                panic!(
                    "cannot start Chromium at {}: {e}. The web UI test needs it: \
                     install it with `apt-get install -y chromium`, or point CHROMIUM at it.",
                    exe.display()
                )
            });
        let stderr = child.stderr.take().expect("stderr");
        let (url_tx, url_rx) = mpsc::channel::<String>();
        let (line_tx, line_rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Reads stderr to the end so Chromium never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = url_tx.send(url.trim().to_string());
                }
                let _ = line_tx.send(line);
            }
        });
        let url = match url_rx.recv_timeout(WAIT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                let lines: Vec<String> = line_rx.try_iter().collect();
                panic!(
                    "chromium did not print its DevTools address within {WAIT:?}; stderr:\n{}",
                    lines.join("\n")
                );
            }
        };
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        let mut b = Browser {
            child,
            profile,
            ws,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            stderr: line_rx,
            contexts: 0,
        };
        let target = b.browser_call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = b.browser_call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        b.session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        b.call("Log.enable", json!({}));
        b.viewport(1280, 900, false);
        b
    }

    fn tcp(&self) -> &TcpStream {
        match self.ws.get_ref() {
            MaybeTlsStream::Plain(s) => s,
            _ => unreachable!("DevTools is plain TCP on loopback"),
        }
    }

    fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page's session; returns its `result`.
    fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.try_send(method, params, session)
            .unwrap_or_else(|err| panic!("DevTools {method} failed: {err}"))
    }

    /// Sends a command and waits for its answer: `Err` carries DevTools' error.
    fn try_send(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("DevTools send {method}: {e}"));
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.next_message(deadline, method);
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(err.clone());
                }
                return Ok(v["result"].clone());
            }
            self.observe(&v);
        }
    }

    /// The next DevTools message, by `deadline` (panics naming `during`).
    fn next_message(&mut self, deadline: Instant, during: &str) -> Value {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "DevTools timed out during {during}");
            self.tcp().set_read_timeout(Some(left)).expect("timeout");
            let frame = match self.ws.read() {
                Ok(Message::Text(t)) => t,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(e) => panic!("DevTools read during {during}: {e}"),
            };
            return serde_json::from_str(frame.as_str()).expect("DevTools JSON");
        }
    }

    /// Keeps page errors: exceptions, console errors, failed loads, CSP reports.
    fn observe(&mut self, v: &Value) {
        match v["method"].as_str() {
            Some("Runtime.executionContextCreated") => self.contexts += 1,
            Some("Runtime.exceptionThrown") => {
                let d = &v["params"]["exceptionDetails"];
                self.errors.push(format!(
                    "exception: {} {}",
                    d["text"],
                    d["exception"]["description"].as_str().unwrap_or("")
                ));
            }
            Some("Runtime.consoleAPICalled") if v["params"]["type"] == "error" => {
                self.errors
                    .push(format!("console.error: {}", v["params"]["args"]));
            }
            Some("Log.entryAdded") if v["params"]["entry"]["level"] == "error" => {
                self.errors
                    .push(format!("log: {}", v["params"]["entry"]["text"]));
            }
            _ => {}
        }
    }

    /// Evaluates an expression (awaiting promises) and returns its value.
    fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .unwrap_or_else(|e| panic!("evaluating `{expr}` failed: {e}"))
    }

    /// Like [`Browser::eval`], but a thrown exception or a context that went
    /// away with a navigation is an `Err` rather than a panic.
    fn try_eval(&mut self, expr: &str) -> Result<Value, String> {
        let session = self.session.clone();
        let r = self
            .try_send(
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
                Some(&session),
            )
            .map_err(|e| e.to_string())?;
        if let Some(ex) = r.get("exceptionDetails") {
            return Err(ex.to_string());
        }
        Ok(r["result"]["value"].clone())
    }

    /// Waits until `expr` is truthy in the page; returns its value. The page
    /// checks it on each DOM change and every [`PAGE_CHECK_EVERY`], and
    /// answers once it holds (or with `null` at the deadline). When the
    /// page goes away meanwhile (a navigation), the wait resumes in the
    /// next page once its execution context is created.
    fn wait_for(&mut self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last = Err("no answer".to_string());
        while Instant::now() < deadline {
            let contexts = self.contexts;
            // The page answers a little before the deadline, so that its
            // answer is read before this side gives up.
            let page_ms = deadline
                .saturating_duration_since(Instant::now())
                .saturating_sub(Duration::from_secs(1))
                .as_millis();
            let every_ms = PAGE_CHECK_EVERY.as_millis();
            let waiter = format!(
                "new Promise((resolve) => {{
                  const until = Date.now() + {page_ms};
                  let done = false, observer = null, timer = null;
                  const finish = (v) => {{
                    if (done) return;
                    done = true;
                    if (observer) observer.disconnect();
                    clearInterval(timer);
                    resolve(v);
                  }};
                  const check = () => {{
                    let v = null;
                    try {{ v = ({expr}); }} catch (e) {{ v = null; }}
                    if (v) finish(v); else if (Date.now() > until) finish(null);
                  }};
                  observer = new MutationObserver(check);
                  observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
                  timer = setInterval(check, {every_ms});
                  check();
                }})"
            );
            last = self.try_eval(&waiter);
            match &last {
                Ok(v) if truthy(v) => return v.clone(),
                // The page's own deadline passed.
                Ok(_) => break,
                // No context to evaluate in (mid-navigation), or it went away
                // with a navigation: wait for the next page's context.
                Err(_) => {
                    while self.contexts == contexts && Instant::now() < deadline {
                        let v = self.next_message(deadline, what);
                        self.observe(&v);
                    }
                }
            }
        }
        let page = self
            .try_eval("document.body ? document.body.innerText.slice(0, 3000) : ''")
            .unwrap_or_default();
        let now = self.try_eval(expr);
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        let tail = &stderr[stderr.len().saturating_sub(20)..];
        panic!(
            "timed out after {WAIT:?} waiting for {what} (`{expr}` is {now:?}; \
             the last wait answered {last:?}); errors: {:?}\n\
             page text:\n{}\nchromium stderr (last lines):\n{}",
            self.errors,
            page.as_str().unwrap_or(""),
            tail.join("\n")
        );
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for_load();
    }

    fn reload(&mut self) {
        self.eval("window.__reloading = true");
        self.call("Page.reload", json!({"ignoreCache": true}));
        self.wait_for_load();
    }

    fn wait_for_load(&mut self) {
        self.wait_for(
            "the page to load",
            "document.readyState === 'complete' && !window.__reloading && location.href !== 'about:blank'",
        );
    }

    fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        );
    }

    /// Types text into the element with this id, as a user would.
    fn type_into(&mut self, id: &str, text: &str) {
        self.eval(&format!(
            "(() => {{ const e = document.getElementById({id:?}); e.focus(); e.select && e.select(); return true; }})()"
        ));
        self.call("Input.insertText", json!({"text": text}));
        let got = self.eval(&format!("document.getElementById({id:?}).value"));
        assert_eq!(got.as_str(), Some(text), "typing into #{id}");
    }

    /// Clicks the element matching a CSS selector with a real mouse event at
    /// its centre (scrolled into view first).
    fn click(&mut self, selector: &str) {
        let rect = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.left + r.width / 2, r.top + r.height / 2]; }})()"
        ));
        let (x, y) = match (rect[0].as_f64(), rect[1].as_f64()) {
            (Some(x), Some(y)) => (x, y),
            _ => panic!("nothing to click at {selector}"),
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Saves the top of the page (at most `max_height` CSS pixels, the whole
    /// width) as `target/web-screenshots/<name>.png`.
    fn screenshot(&mut self, name: &str, max_height: f64) -> PathBuf {
        self.screenshot_from(name, None, max_height)
    }

    /// Like [`Browser::screenshot`], starting at the top of the element
    /// matching `selector` when one is given.
    fn screenshot_from(&mut self, name: &str, selector: Option<&str>, max_height: f64) -> PathBuf {
        let top = match selector {
            Some(sel) => self
                .eval(&format!(
                    "document.querySelector({sel:?}).getBoundingClientRect().top + window.scrollY - 8"
                ))
                .as_f64()
                .unwrap_or(0.0)
                .max(0.0),
            None => 0.0,
        };
        let size = self
            .eval("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]");
        let w = size[0].as_f64().unwrap_or(1280.0);
        let h = (size[1].as_f64().unwrap_or(900.0) - top).min(max_height);
        let shot = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": top, "width": w, "height": h, "scale": 1}}),
        );
        let data = shot["data"].as_str().expect("screenshot data");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, base64_decode(data)).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    /// Closes Chromium (politely, then by force), then deletes its profile.
    fn drop(&mut self) {
        self.next_id += 1;
        let msg = json!({"id": self.next_id, "method": "Browser.close"});
        let _ = self.ws.send(Message::text(msg.to_string()));
        // Every Chromium process (helpers included) holds its stderr: the
        // end of it is the end of them all, and so of their open files.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Lines until the end (disconnected), or the deadline.
            if self.stderr.recv_timeout(left).is_err() {
                break;
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// JavaScript's truthiness for a value DevTools returned by value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(u64::from(std::process::id()));
    h.finish()
}

/// Standard base64 (with padding), as DevTools sends screenshots.
fn base64_decode(s: &str) -> Vec<u8> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// What the page shows, reduced to comparable facts.
const FINGERPRINT: &str = "JSON.stringify({
  inputs: [...document.querySelectorAll('#inputs li.input .input-text')].map(e => e.textContent),
  agents: [...document.querySelectorAll('#agents tr[data-agent]')].map(e => e.dataset.agent + ':' + e.dataset.status),
  completion: document.getElementById('completion-text').textContent,
  total: (document.getElementById('budget-total') || {}).textContent,
  budget: [...document.querySelectorAll('#budget li[data-cat]')].map(e => e.dataset.cat + '=' + e.querySelector('.bar-value').textContent),
  venues: [...document.querySelectorAll('#venues .supplier')].map(e => e.dataset.name),
  bakeries: [...document.querySelectorAll('#bakeries .supplier')].map(e => e.dataset.name),
  vendors: [...document.querySelectorAll('#vendors .supplier')].map(e => e.dataset.name),
  recommendations: [...document.querySelectorAll('#recommendations li')].map(e => e.textContent),
  steps: [...document.querySelectorAll('#next-steps li')].map(e => e.textContent),
  checklist: [...document.querySelectorAll('#checklist li')].map(e => e.textContent),
  theme: (document.getElementById('theme-name') || {}).textContent,
})";

/// The forwarded events of a party after `since`, from the events route.
fn forwarded_seqs(s: &TestServer, party: &str, token: &str, since: u64) -> Vec<u64> {
    let r = s.get(
        &format!("{API}/party/{party}/events?since={since}&limit=1000"),
        Some(token),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["has_more"], false);
    v["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event_type"] != "party.agent.should_execute")
        .filter_map(|e| e["seq"].as_u64())
        .collect()
}

/// The party's status after its planning settled.
fn settled_status(s: &TestServer, party: &str, token: &str) -> Value {
    let seq = s.status(party, token)["party"]["last_seq"]
        .as_u64()
        .expect("last_seq");
    s.settle(party, seq);
    s.status(party, token)["party"].clone()
}

#[test]
fn planning_page_end_to_end_in_headless_chromium() {
    let s = TestServer::start();
    let base = format!("http://{}", s.addr);
    let mut b = Browser::launch();

    // The harness sees page errors (the last assertion relies on it).
    b.eval("console.error('harness self-check')");
    let deadline = Instant::now() + WAIT;
    while b.errors.is_empty() && Instant::now() < deadline {
        b.eval("1");
    }
    assert!(
        b.errors.iter().any(|e| e.contains("harness self-check")),
        "console errors are not captured: {:?}",
        b.errors
    );
    b.errors.clear();

    // The start page: a labelled textarea, keyboard reachable.
    b.navigate(&format!("{base}/"));
    b.wait_for("the app script", "!!window.__partybus");
    assert_eq!(
        b.eval("document.querySelector('label[for=create-text]') !== null && !document.getElementById('start').hidden"),
        json!(true)
    );
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
    );
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9}),
    );
    assert_eq!(
        b.eval("document.activeElement.className"),
        json!("skip"),
        "Tab reaches the skip link first"
    );
    b.screenshot("00-start", 900.0);

    // Export buttons appear exactly when the export route exists.
    let doc = s.get("/openapi.json", None).json();
    let has_export = doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .any(|p| p.ends_with("/party/{party_id}/export"));
    b.wait_for("export detection", "window.__partybus.info().exportChecked");
    assert_eq!(
        b.eval("!document.getElementById('export').hidden"),
        json!(has_export),
        "export buttons shown iff the export route exists"
    );

    // Create a party by typing, and watch the venues appear.
    b.type_into(
        "create-text",
        "jungle theme party for 75 guests in Springfield\nvegetarian catering, decorations and a photographer",
    );
    b.click("#create-btn");
    b.wait_for(
        "the venue list",
        "document.querySelectorAll('#venues .supplier').length",
    );
    let hash = b.eval("location.hash");
    let hash = hash.as_str().expect("hash");
    let params: Vec<(&str, &str)> = hash
        .trim_start_matches('#')
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let get = |k: &str| {
        params
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| panic!("share link lacks {k}: {hash}"))
    };
    let (party, token) = (get("party"), get("token"));
    assert!(b
        .eval("document.getElementById('share-link').value")
        .as_str()
        .is_some_and(|v| v.contains(&format!("#party={party}&token={token}"))));
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");
    b.wait_for(
        "the page to catch up with the server",
        &format!("window.__partybus.info().lastSeq >= {last}"),
    );
    b.wait_for(
        "agents completed",
        "document.querySelector('#agents tr[data-agent=venue_agent][data-status=completed]')",
    );
    // The fresh party's whole history was streamed: each forwarded event once, in order.
    let page_seqs: Vec<u64> = b
        .eval("window.__partybus.info().events.map(e => e.seq)")
        .as_array()
        .expect("events")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    assert_eq!(page_seqs, forwarded_seqs(&s, &party, &token, 0));
    if has_export {
        let text = b.eval("window.__partybus.exportText('json')");
        let v: Value =
            serde_json::from_str(text.as_str().expect("export text")).expect("JSON export");
        assert!(v.to_string().contains(&party), "the export is this party's");
        let csv = b.eval("window.__partybus.exportText('csv')");
        assert!(
            csv.as_str().is_some_and(|t| t.lines().count() > 1),
            "CSV export has rows"
        );
    }
    let budget_before = b.eval("document.getElementById('budget-total').textContent");
    assert_eq!(
        b.eval("document.querySelector('#budget li[data-cat=cake]') === null"),
        json!(true)
    );
    b.screenshot("01-planned", 4000.0);

    // Add a cake input (text and tags) and watch the budget change.
    b.type_into("input-text", "chocolate cake with animal decorations");
    b.type_into("input-tags", "cake, dessert");
    b.click("#input-btn");
    b.wait_for(
        "the cake input",
        "[...document.querySelectorAll('#inputs .input-text')].some(e => e.textContent.startsWith('chocolate cake'))",
    );
    b.wait_for(
        "a cake line in the budget",
        "document.querySelector('#budget li[data-cat=cake]')",
    );
    b.wait_for(
        "bakeries",
        "document.querySelectorAll('#bakeries .supplier').length",
    );
    let budget_after = b.eval("document.getElementById('budget-total').textContent");
    assert_ne!(budget_before, budget_after, "the budget total changed");
    let cake_id = b
        .eval("[...document.querySelectorAll('#inputs li.input')].find(e => e.textContent.includes('chocolate cake')).dataset.inputId")
        .as_str()
        .expect("input id")
        .to_string();
    assert_eq!(
        b.eval(&format!(
            "[...document.querySelectorAll('#inputs li[data-input-id=\"{cake_id}\"] .chip')].map(e => e.textContent)"
        )),
        json!(["cake", "dessert"])
    );
    b.screenshot("02-cake-added", 4000.0);
    b.screenshot("readme", 1850.0);

    // Remove it: the input, the cake line and the bakeries go away.
    b.click(&format!(
        "#inputs li[data-input-id=\"{cake_id}\"] button.remove"
    ));
    b.wait_for(
        "the cake input to go",
        &format!("!document.querySelector('#inputs li[data-input-id=\"{cake_id}\"]')"),
    );
    assert_eq!(
        b.eval("document.activeElement.id"),
        json!("input-text"),
        "focus moves to the input box when the focused input goes away"
    );
    b.wait_for(
        "the cake line to leave the budget",
        "!document.querySelector('#budget li[data-cat=cake]')",
    );
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");
    b.wait_for(
        "the page to catch up",
        &format!("window.__partybus.info().lastSeq >= {last}"),
    );
    assert_eq!(
        b.eval("document.getElementById('budget-total').textContent"),
        budget_before,
        "the budget is back to what it was"
    );

    // Reload: the same state, from the status route.
    let before = b.eval(FINGERPRINT);
    b.reload();
    b.wait_for(
        "the reloaded page to load the party",
        &format!("window.__partybus && window.__partybus.info().snapshotSeq >= {last} && window.__partybus.info().live"),
    );
    let after = b.eval(FINGERPRINT);
    assert_eq!(before, after, "the same state after a reload");

    // Cut the WebSocket; while the page is offline, change the party through
    // the API. The page must reconnect by itself and get what it missed.
    let snapshot = b
        .eval("window.__partybus.info().snapshotSeq")
        .as_u64()
        .expect("snapshotSeq");
    b.eval("window.__partybus.dropSocket(4000)");
    b.wait_for(
        "the page to notice the drop",
        "!window.__partybus.info().live && document.getElementById('conn').dataset.state === 'reconnecting'",
    );
    b.screenshot("03-reconnecting", 4000.0);
    let added = s.call(
        "POST",
        &format!("{API}/party/{party}/input"),
        Some(&token),
        Some(&json!({"content": "a magician for entertainment", "tags": ["fun"]})),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    let added = added.json();
    let added_seq = added["seq"].as_u64().expect("seq");
    let added_id = added["input_id"].as_str().expect("input_id").to_string();
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");
    assert!(
        b.eval("window.__partybus.info().lastSeq").as_u64() < Some(added_seq),
        "the page saw the event while it was meant to be offline"
    );
    b.wait_for(
        "the page to reconnect and show the input added meanwhile",
        &format!(
            "window.__partybus.info().live && window.__partybus.info().connects === 2 \
             && !!document.querySelector('#inputs li[data-input-id=\"{added_id}\"]') \
             && window.__partybus.info().lastSeq >= {last}"
        ),
    );
    let info = b.eval("window.__partybus.info()");
    let events = info["events"].as_array().expect("events");
    let got: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(
        got,
        forwarded_seqs(&s, &party, &token, snapshot),
        "every event after the reload, each exactly once, in order"
    );
    let replayed = events
        .iter()
        .find(|e| e["seq"].as_u64() == Some(added_seq))
        .expect("the input_added event reached the page");
    assert_eq!(replayed["type"], "input_added");
    assert_eq!(
        replayed["replayed"], true,
        "it came as a replay after reconnecting"
    );
    assert!(b
        .eval("document.querySelectorAll('#log li[data-type=input_added]').length")
        .as_u64()
        .is_some_and(|n| n >= 1));
    let shown: Value = serde_json::from_str(b.eval(FINGERPRINT).as_str().expect("fingerprint"))
        .expect("fingerprint JSON");
    assert_eq!(
        shown["inputs"].as_array().map(Vec::len),
        status["inputs"].as_array().map(Vec::len)
    );
    b.screenshot("04-recovered", 4000.0);

    // Phone width: no horizontal scrolling.
    b.viewport(375, 812, true);
    b.reload();
    b.wait_for(
        "the party at phone width",
        "window.__partybus && window.__partybus.info().live && document.querySelectorAll('#venues .supplier').length",
    );
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        json!(true),
        "no horizontal overflow at 375 px"
    );
    b.screenshot("05-phone", 1500.0);
    b.screenshot_from("05-phone-plan", Some("#budget-card"), 1500.0);
    b.viewport(1280, 900, false);

    // Agent updates are announced; the progress bar is exposed as one.
    assert_eq!(
        b.eval(
            "document.getElementById('log').getAttribute('aria-live') === 'polite' \
                && document.getElementById('completion').getAttribute('role') === 'progressbar'"
        ),
        json!(true)
    );

    // Delete (two clicks): the page stops editing and reconnecting.
    b.click("#delete-party");
    b.click("#delete-party");
    b.wait_for(
        "the party to be deleted",
        "document.getElementById('party').classList.contains('deleted') \
         && document.getElementById('conn').dataset.state === 'closed'",
    );
    s.get(&format!("{API}/party/{party}/status"), Some(&token))
        .assert_error(404, "party_not_found");

    // The API reference renders every operation of /openapi.json.
    let ops: usize = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|v| v.as_object().map_or(0, |o| o.len()))
        .sum();
    b.navigate(&format!("{base}/docs"));
    b.wait_for(
        "the rendered API reference",
        &format!("document.querySelectorAll('#doc details.op').length === {ops}"),
    );
    b.eval("document.querySelector('#doc details.op').open = true");
    b.screenshot("06-docs", 1400.0);
    assert!(b.errors.is_empty(), "page errors: {:#?}", b.errors);

    // Bad links say what is wrong: a wrong token, no token, a deleted party.
    let (other, _, _) = s.create(json!({}));
    let error_text = "(() => { const e = document.getElementById('party-error'); return e.hidden ? '' : e.textContent; })()";
    b.navigate(&format!(
        "{base}/#party={other}&token=0123456789abcdef0123456789abcdef"
    ));
    let msg = b.wait_for("the wrong-token message", error_text);
    assert!(
        msg.as_str()
            .is_some_and(|m| m.contains("token does not open")),
        "{msg}"
    );
    b.eval(&format!("location.hash = '#party={other}'"));
    let msg = b.wait_for(
        "the missing-token message",
        &format!("{error_text}.includes('no token') && {error_text}"),
    );
    assert!(
        msg.as_str().is_some_and(|m| m.contains("no token")),
        "{msg}"
    );
    b.eval(&format!("location.hash = '#party={party}&token={token}'"));
    let msg = b.wait_for(
        "the deleted-party message",
        &format!("{error_text}.includes('does not exist') && {error_text}"),
    );
    assert!(
        msg.as_str().is_some_and(|m| m.contains("does not exist")),
        "{msg}"
    );
    let console: Vec<String> = std::mem::take(&mut b.errors);
    // The browser logs each refused request (401, 403, 404) as a failed load; nothing else.
    assert!(
        console
            .iter()
            .all(|e| e.contains("Failed to load resource")),
        "page errors: {console:#?}"
    );
}

#[test]
fn assets_are_served_with_types_and_revalidation() {
    let s = TestServer::start();
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
        ("/docs", "text/html"),
        ("/docs.js", "text/javascript"),
    ] {
        let r = s.get(path, None);
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with(kind)),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"), "{path}");
        let tag = r.header("etag").expect("etag").to_string();
        let again = util::request(s.addr, "GET", path, &[("If-None-Match", &tag)], None);
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        if kind == "text/html" {
            let csp = r.header("content-security-policy").expect("csp");
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        }
    }
    // Only the exact root is the page; anything else under it stays a JSON 404.
    util::request(s.addr, "GET", "/index.html", &[], None).assert_error(404, "not_found");
    util::request(s.addr, "POST", "/", &[], None).assert_error(405, "method_not_allowed");
}

/// A fact's value as the "What we understood" panel shows it: dollars for
/// the budgets, lists comma-joined, booleans as yes or no.
fn shown_value(name: &str, v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(d) if name.ends_with("budget") => {
                let digits = d.to_string();
                let mut out = String::from("$");
                for (i, c) in digits.chars().enumerate() {
                    if i > 0 && (digits.len() - i) % 3 == 0 {
                        out.push(',');
                    }
                    out.push(c);
                }
                out
            }
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|i| shown_value(name, i))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// What the "What we understood" panel shows, one object per fact.
const FACTS_SHOWN: &str = "[...document.querySelectorAll('#facts-list .fact')].map(e => {
  const src = e.querySelector('.fact-source:not(.also)');
  const rep = e.querySelector('.fact-replaced');
  return {
    name: e.dataset.fact,
    value: e.querySelector('.fact-value').textContent,
    source: src ? src.textContent : null,
    quoted: src && src.querySelector('q') ? src.querySelector('q').textContent : null,
    source_id: src ? (src.dataset.inputId || '') : null,
    also: [...e.querySelectorAll('.fact-source.also')].map(a => a.textContent),
    replaced: rep ? rep.textContent : null,
  };
})";

/// Waits until the panel lists exactly the facts of `facts` (a plan's
/// `final_plan.facts`) with their values, then checks each one's sources.
fn assert_panel_shows(b: &mut Browser, what: &str, facts: &Value) {
    let facts = facts.as_object().expect("facts object");
    let mut want: Vec<(String, String)> = facts
        .iter()
        .map(|(name, f)| (name.clone(), shown_value(name, &f["value"])))
        .collect();
    want.sort();
    let want = serde_json::to_string(&want).expect("JSON");
    b.wait_for(
        what,
        &format!(
            "((want) => JSON.stringify({FACTS_SHOWN}.map(f => [f.name, f.value])\
             .sort((x, y) => (x[0] < y[0] ? -1 : 1))) === JSON.stringify(want))({want})"
        ),
    );
    // The page shows words on one line, whitespace runs as one space.
    let words = |v: &Value| {
        v.as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let shown = b.eval(FACTS_SHOWN);
    for row in shown.as_array().expect("facts shown") {
        let name = row["name"].as_str().expect("name");
        let f = &facts[name];
        let text = words(&f["text"]);
        let id = f["input_id"].as_str().unwrap_or("");
        if !text.is_empty() {
            assert_eq!(row["quoted"], json!(text), "{name}: the quoted words");
            assert_eq!(row["source_id"], json!(id), "{name}: the input id");
        } else if !id.is_empty() {
            assert_eq!(row["source"], json!(format!("from input {id}")), "{name}");
        } else {
            assert_eq!(row["source"], Value::Null, "{name}: no empty provenance");
        }
        let also: Vec<&Value> = f["also_from"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["text"] != "" || s["input_id"] != "")
                    .collect()
            })
            .unwrap_or_default();
        let shown_also = row["also"].as_array().expect("also");
        assert_eq!(
            shown_also.len(),
            also.len(),
            "{name}: items added by other inputs"
        );
        for (s, a) in shown_also.iter().zip(also) {
            let s = s.as_str().expect("text");
            assert!(
                s.starts_with(&shown_value(name, &a["value"])),
                "{name}: {s}"
            );
            assert!(s.contains(&words(&a["text"])), "{name}: {s}");
        }
        match f.get("replaced") {
            Some(r) => {
                let shown = row["replaced"].as_str().expect("the replaced statement");
                let head = format!("replaces {}", shown_value(name, &r["value"]));
                assert!(shown.starts_with(&head), "{name}: {shown}");
                assert!(shown.contains(&words(&r["text"])), "{name}: {shown}");
            }
            None => assert_eq!(row["replaced"], Value::Null, "{name}"),
        }
    }
}

/// Facts with every kind of provenance, and words that are markup.
fn constructed_facts() -> Value {
    json!({
        "guests": {"value": 35, "input_id": "inp_a", "text": "35 guests (15 kids, 20 adults)"},
        "budget": {"value": 1000, "input_id": "inp_b", "text": "budget of $1000",
                   "replaced": {"value": 800, "input_id": "inp_a", "text": "budget $800"}},
        "theme": {"value": "princess", "input_id": "inp_a",
                  "text": "loves <img src=x onerror=\"window.__pwned=1\">princesses"},
        "city": {"value": "San Jose", "input_id": "inp_a", "text": "in San Jose"},
        "dietary": {"value": ["vegan", "nut-free", "halal"], "input_id": "inp_a", "text": "vegan",
                    "also_from": [{"value": ["nut-free"], "input_id": "inp_b", "text": "no  nuts\n"},
                                  {"value": ["halal"], "input_id": "", "text": ""}]},
        "cake_budget": {"value": 60, "input_id": "inp_b", "text": ""},
        "birthday": {"value": true, "input_id": "", "text": ""},
        "time": {"value": "2–5 PM", "input_id": "inp_b", "text": "2-5pm"}
    })
}

#[test]
fn the_understood_panel_shows_the_plans_facts_live() {
    let s = TestServer::start();
    let base = format!("http://{}", s.addr);
    let (party, token, created) = s.create(json!({"initial_inputs": [
        {"content": "princess birthday party for 35 guests in Springfield"},
        {"content": "budget $800"},
        {"content": "budget of $1000, vegan and no nuts, outdoors, on March 15 from 2-5 PM"},
        {"content": "chocolate cake, catering and a photographer"},
    ]}));
    let seq = created["seq"].as_u64().unwrap_or(0);
    s.settle(&party, seq);
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");

    let mut b = Browser::launch();
    b.navigate(&format!("{base}/#party={party}&token={token}"));
    b.wait_for(
        "the page to load the party",
        &format!("window.__partybus && window.__partybus.info().live && window.__partybus.info().lastSeq >= {last}"),
    );
    assert_panel_shows(&mut b, "the plan's facts", &status["final_plan"]["facts"]);

    // A new input: the panel follows the plan the events bring.
    let added = s.call(
        "POST",
        &format!("{API}/party/{party}/input"),
        Some(&token),
        Some(&json!({"content": "actually 50 guests, budget $1500, gluten-free", "tags": []})),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");
    b.wait_for(
        "the page to receive the new plan",
        &format!("window.__partybus.info().lastSeq >= {last}"),
    );
    assert_panel_shows(
        &mut b,
        "the new plan's facts",
        &status["final_plan"]["facts"],
    );
    b.screenshot_from("07-understood-live", Some("#inputs-card"), 1400.0);

    // Provenance of every kind, and user words that are markup, through a
    // status answer rewritten in the page (today's analyzer leaves most
    // provenance empty). No events follow the snapshot, so it stays.
    let facts = constructed_facts();
    let notes = json!({
        "venue_agent": "No suppliers in Austin yet; showing venues in Springfield",
        "cake_agent": "No bakery within <b>$60</b>; showing the cheapest",
        "catering_agent": "No nut-free caterer; showing vegan ones",
        "vendor_agent": "No photographer within $150",
    });
    let rewrite = format!(
        "(() => {{
  const facts = {facts};
  const notes = {notes};
  const real = window.fetch;
  window.fetch = async (url, opts) => {{
    const r = await real(url, opts);
    if (!String(url).endsWith('/status') || !r.ok) return r;
    const data = await r.json();
    data.party.final_plan.facts = facts;
    for (const [agent, note] of Object.entries(notes)) {{
      const a = data.party.agents[agent];
      if (a && a.result) a.result.note = note;
    }}
    return new Response(JSON.stringify(data), {{ status: 200, headers: {{ 'Content-Type': 'application/json' }} }});
  }};
}})()"
    );
    let script = b.call(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": rewrite}),
    );
    b.reload();
    b.wait_for(
        "the page to load the rewritten status",
        "window.__partybus && window.__partybus.info().live && document.querySelector('#facts-list [data-fact=time]')",
    );
    assert_panel_shows(&mut b, "the constructed facts", &facts);
    assert_eq!(
        b.eval(
            "document.querySelector('#facts-list [data-fact=budget] .fact-replaced').textContent"
        ),
        json!("replaces $800 from budget $800"),
        "the replaced statement, quoted (the quotes come from <q>)"
    );
    assert_eq!(
        b.eval("document.querySelector('#facts-list [data-fact=guests] .fact-source').title"),
        json!("From input inp_a")
    );
    assert_eq!(
        b.eval("window.__pwned === undefined && !document.querySelector('#understood img, #understood b, #suppliers b')"),
        json!(true),
        "user words are text, never markup"
    );
    let shown_notes = b.eval(
        "Object.fromEntries([...document.querySelectorAll('#agent-notes li')].map(e => [e.dataset.agent, e.textContent]))",
    );
    let labels = [
        ("venue_agent", "Venues"),
        ("cake_agent", "Cake"),
        ("catering_agent", "Catering"),
        ("vendor_agent", "Vendors"),
    ];
    for (agent, label) in labels {
        if status["agents"][agent]["result"].is_object() {
            assert_eq!(
                shown_notes[agent],
                json!(format!("{label}: {}", notes[agent].as_str().expect("note"))),
                "{agent}'s note in the panel"
            );
        }
    }
    // The venues are there and so is the venue agent's note, above them.
    assert_eq!(
        b.eval("document.querySelector('#suppliers [data-note=venue]').textContent"),
        notes["venue_agent"]
    );
    b.screenshot_from("08-understood-provenance", Some("#inputs-card"), 1400.0);
    b.screenshot_from("09-supplier-notes", Some("#suppliers-card"), 900.0);
    b.call(
        "Page.removeScriptToEvaluateOnNewDocument",
        json!({"identifier": script["identifier"]}),
    );
    assert!(b.errors.is_empty(), "page errors: {:#?}", b.errors);
}

/// How each agent ran in a party, read from its journal the way the page
/// reads the stream: reused (completed with `reused_from`), re-ran
/// (completed without it), failed or result dropped; the last event wins.
fn agent_runs(s: &TestServer, party: &str, token: &str) -> Value {
    let r = s.get(
        &format!("{API}/party/{party}/events?since=0&limit=1000"),
        Some(token),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["has_more"], false);
    let mut runs = serde_json::Map::new();
    for e in v["events"].as_array().expect("events") {
        let agent = e["payload"]["agent_name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let run = match e["event_type"].as_str() {
            Some("party.agent.started") => "running",
            Some("party.agent.completed") if e["payload"]["reused_from"].is_string() => "reused",
            Some("party.agent.completed") => "rerun",
            Some("party.agent.failed") => "failed",
            Some("party.agent.data_removed") => "dropped",
            _ => continue,
        };
        runs.insert(agent, json!(run));
    }
    Value::Object(runs)
}

/// What the page's "Agents in the fork" list shows: agent → how it ran.
const RUNS_SHOWN: &str =
    "Object.fromEntries([...document.querySelectorAll('#whatif-agents li[data-agent]')]\
  .map(e => [e.dataset.agent, e.dataset.run]))";

/// The comparison's rows: `kind/key` → [original, what-if, difference, change].
const COMPARE_SHOWN: &str = "Object.fromEntries([...document.querySelectorAll('#whatif-compare tr[data-kind]')]\
  .map(e => [e.dataset.kind + '/' + e.dataset.key, [\
    e.querySelector('td[data-col=a]').innerText.trim(), e.querySelector('td[data-col=b]').innerText.trim(),\
    e.querySelector('td[data-col=d]').innerText.trim(), e.dataset.change]]))";

/// Text of an error paragraph, '' while hidden.
fn error_shown(id: &str) -> String {
    format!("(() => {{ const e = document.getElementById({id:?}); return e.hidden ? '' : e.textContent; }})()")
}

#[test]
fn what_if_forks_the_party_and_shows_both_plans_side_by_side() {
    let s = TestServer::start();
    let base = format!("http://{}", s.addr);
    let (party, token, created) = s.create(json!({"initial_inputs": [
        {"content": "dinosaur theme birthday party in Austin"},
        {"content": "30 guests"},
        {"content": "a chocolate cake and vegetarian catering"},
        {"content": "we need a photographer"},
    ]}));
    let guests_30 = created["input_ids"][1]
        .as_str()
        .expect("the 30 guests input id")
        .to_string();
    s.settle(&party, created["seq"].as_u64().unwrap_or(0));
    let status = settled_status(&s, &party, &token);
    let last = status["last_seq"].as_u64().expect("last_seq");

    let mut b = Browser::launch();
    b.navigate(&format!("{base}/#party={party}&token={token}"));
    b.wait_for(
        "the page to show the plan",
        &format!(
            "window.__partybus && window.__partybus.info().lastSeq >= {last} \
             && !document.getElementById('whatif-toggle').hidden"
        ),
    );

    // Open the editor: it starts from the party's inputs, focus on its heading.
    b.click("#whatif-toggle");
    b.wait_for(
        "the what-if editor",
        "!document.getElementById('whatif').hidden && document.activeElement.id === 'whatif-h'",
    );
    assert_eq!(
        b.eval("document.getElementById('whatif-toggle').getAttribute('aria-expanded')"),
        json!("true")
    );
    assert_eq!(
        b.eval("[...document.querySelectorAll('#whatif-inputs li[data-input-id]')].map(e => e.dataset.inputId)"),
        json!(status["inputs"]
            .as_array()
            .expect("inputs")
            .iter()
            .map(|i| i["input_id"].clone())
            .collect::<Vec<_>>()),
        "the editor lists the party's inputs"
    );
    // Every control of the editor has a label.
    assert_eq!(
        b.eval("[...document.querySelectorAll('#whatif textarea, #whatif input')].every(e => e.labels.length > 0) \
                && [...document.querySelectorAll('#whatif button')].every(e => (e.getAttribute('aria-label') || e.textContent).trim())"),
        json!(true)
    );

    // 30 guests out, 50 guests in (typed, then added with Enter).
    b.click(&format!(
        "#whatif-inputs li[data-input-id='{guests_30}'] button"
    ));
    b.wait_for(
        "the input marked left out",
        &format!(
            "document.querySelector(\"#whatif-inputs li[data-input-id='{guests_30}']\").classList.contains('removed') \
             && document.querySelector(\"#whatif-inputs li[data-input-id='{guests_30}'] button\").getAttribute('aria-pressed') === 'true'"
        ),
    );
    b.type_into("whatif-text", "50 guests");
    b.type_into("whatif-tags", "guests");
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}),
    );
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyUp", "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}),
    );
    b.wait_for(
        "the new input in the what-if",
        "[...document.querySelectorAll('#whatif-added .input-text')].map(e => e.textContent).join() === '50 guests'",
    );
    assert_eq!(
        b.eval("document.getElementById('whatif-text').value"),
        json!("")
    );
    b.screenshot_from("10-whatif-editor", Some("#whatif"), 900.0);

    // Try it: the page forks the party and follows the fork's stream.
    b.click("#whatif-try");
    let fork = b.wait_for(
        "the fork (or an error)",
        &format!(
            "window.__partybus.info().whatif || {}",
            error_shown("whatif-error")
        ),
    );
    assert!(fork.is_object(), "the page could not fork: {fork}");
    let fork_id = fork["forkId"].as_str().expect("forkId").to_string();
    let fork_token = fork["token"].as_str().expect("token").to_string();
    assert_ne!(fork_id, party);
    let fork_status = settled_status(&s, &fork_id, &fork_token);
    let fork_last = fork_status["last_seq"].as_u64().expect("last_seq");
    let fork_inputs: Vec<&str> = fork_status["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter_map(|i| i["content"].as_str())
        .collect();
    assert!(
        fork_inputs.contains(&"50 guests") && !fork_inputs.contains(&"30 guests"),
        "the fork has the changes: {fork_inputs:?}"
    );
    b.wait_for(
        "the fork's plan compared with the original's",
        &format!(
            "(() => {{ const w = window.__partybus.info().whatif; \
               return w && w.lastSeq >= {fork_last} && w.diffSeq >= {fork_last} \
                 && document.getElementById('whatif-state').dataset.state === 'ready'; }})()"
        ),
    );
    let err = b.eval(&error_shown("whatif-error"));
    assert_eq!(err, json!(""), "no error while comparing");

    // The guest change, beside each other, as the diff route has it.
    let shown = b.eval(COMPARE_SHOWN);
    let guests = &shown["fact/guests"];
    assert!(
        guests[0].as_str().is_some_and(|t| t.starts_with("30")),
        "{shown}"
    );
    assert!(
        guests[1].as_str().is_some_and(|t| t.starts_with("50")),
        "{shown}"
    );
    assert_eq!(guests[2], json!("30 → 50"), "{shown}");
    let other = format!("Bearer {token}");
    let diff = util::request(
        s.addr,
        "GET",
        &format!("{API}/party/{party}/diff/{fork_id}"),
        &[("Authorization", &other), ("X-Other-Token", &fork_token)],
        None,
    );
    assert_eq!(diff.status, 200, "{}", diff.text());
    let diff = diff.json();
    for area in diff["areas"].as_array().expect("areas") {
        let key = format!("area/{}", area["area"].as_str().expect("area"));
        assert_eq!(shown[&key][3], area["change"], "{key}: {shown}");
        if area["change"] == "changed" {
            if let Some(name) = area["b"]["supplier"]["name"].as_str() {
                assert!(
                    shown[&key][1].as_str().is_some_and(|t| t.contains(name)),
                    "{key}: the fork's supplier {name}: {shown}"
                );
            }
        }
    }
    let venue = diff["areas"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["area"] == "venue"))
        .expect("venue area");
    if venue["change"] == "changed" {
        let reasons = b.eval(
            "(document.querySelector('#whatif-compare tr[data-key=venue] .reasons') || {dataset: {}}).dataset.reasons",
        );
        let want: Vec<&str> = venue["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(reasons, json!(want.join(" ")), "the venue swap's reasons");
    }
    for c in diff["budget"]["categories"].as_array().expect("categories") {
        let key = format!("budget/{}", c["category"].as_str().expect("category"));
        assert_eq!(shown[&key][3], c["change"], "{key}: {shown}");
    }
    assert!(
        shown["total/total"].is_array(),
        "the total budget row: {shown}"
    );
    let summary =
        b.eval("[...document.querySelectorAll('#whatif-summary li')].map(e => e.textContent)");
    assert_eq!(summary, diff["summary"], "the diff's sentences");

    // Reused and re-run agents, exactly as the fork's journal has them.
    let runs = agent_runs(&s, &fork_id, &fork_token);
    assert_eq!(b.eval(RUNS_SHOWN), runs, "agents reused vs re-ran");
    let count = |kind: &str| {
        runs.as_object()
            .expect("runs")
            .values()
            .filter(|v| *v == kind)
            .count()
    };
    assert!(
        count("reused") > 0 && count("rerun") > 0,
        "a guest change re-runs some agents and reuses others: {runs}"
    );
    assert!(
        b.eval("document.querySelector('#whatif-agents li[data-run=reused]').title")
            .as_str()
            .is_some_and(|t| t.starts_with("Reused from event ")),
        "a reused agent names the event it reused"
    );
    b.screenshot_from("11-whatif-compare", Some("#whatif"), 2400.0);

    // A phone: nothing scrolls sideways.
    b.viewport(390, 844, true);
    b.wait_for(
        "the narrow layout",
        "document.documentElement.scrollWidth <= 390 && getComputedStyle(document.querySelector('#whatif-compare tr[data-kind]')).display === 'block'",
    );
    b.screenshot_from("12-whatif-narrow", Some("#whatif"), 2400.0);
    b.viewport(1280, 900, false);

    // Open the fork as its own party: it says where it came from, and a
    // what-if from there forks the fork.
    b.click("#whatif-open");
    b.wait_for(
        "the fork opened as its own party",
        &format!(
            "window.__partybus.info().partyId === '{fork_id}' && window.__partybus.info().live \
             && window.__partybus.info().lastSeq >= {fork_last} && !document.getElementById('whatif-toggle').hidden"
        ),
    );
    assert_eq!(
        b.eval("document.getElementById('whatif').hidden"),
        json!(true)
    );
    let forked_from = b.wait_for(
        "the fork's origin",
        "!document.getElementById('forked-from').hidden && document.getElementById('forked-from').textContent",
    );
    assert!(
        forked_from.as_str().is_some_and(|t| t.contains(&party)),
        "{forked_from}"
    );
    // Its agents table marks the results it reused, as its status does.
    let mut reused_rows: Vec<String> = fork_status["agents"]
        .as_object()
        .expect("agents")
        .iter()
        .filter(|(_, a)| a["reused_from"].is_string())
        .map(|(name, _)| name.clone())
        .collect();
    reused_rows.sort();
    assert!(!reused_rows.is_empty(), "{fork_status}");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#agents tr[data-reused=true]')].map(e => e.dataset.agent).sort()"),
        json!(reused_rows)
    );
    let fifty = fork_status["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .find(|i| i["content"] == "50 guests")
        .and_then(|i| i["input_id"].as_str())
        .expect("the 50 guests input")
        .to_string();

    // An error the API returns is shown in its words: the input the
    // what-if leaves out is removed meanwhile (while the page is offline).
    b.click("#whatif-toggle");
    b.wait_for(
        "the fork's what-if editor",
        &format!("document.querySelector(\"#whatif-inputs li[data-input-id='{fifty}'] button\")"),
    );
    b.click(&format!(
        "#whatif-inputs li[data-input-id='{fifty}'] button"
    ));
    b.eval("window.__partybus.dropSocket(600000)");
    b.wait_for("the page offline", "!window.__partybus.info().live");
    let removed = s.call(
        "DELETE",
        &format!("{API}/party/{fork_id}/input/{fifty}"),
        Some(&fork_token),
        None,
    );
    assert_eq!(removed.status, 200, "{}", removed.text());
    // Planning settles first, so both refusals name the same state.
    settled_status(&s, &fork_id, &fork_token);
    let refused = s.call(
        "POST",
        &format!("{API}/party/{fork_id}/fork"),
        Some(&fork_token),
        Some(&json!({"changes": [{"remove": fifty}]})),
    );
    // An input id the fork's start lacks names the change (docs/api.md, Forks).
    refused.assert_error(422, "validation_error");
    let detail = refused.json()["detail"]
        .as_str()
        .expect("detail")
        .to_string();
    b.click("#whatif-try");
    let shown_err = b.wait_for("the API's error", &error_shown("whatif-error"));
    assert_eq!(shown_err, json!(format!("Could not try it: {detail}")));

    // Back online (a reload), a fork of the fork, then discard it.
    b.reload();
    let fork_last = settled_status(&s, &fork_id, &fork_token)["last_seq"]
        .as_u64()
        .expect("last_seq");
    b.wait_for(
        "the fork reloaded",
        &format!(
            "window.__partybus && window.__partybus.info().live && window.__partybus.info().lastSeq >= {fork_last} \
             && !document.getElementById('whatif-toggle').hidden"
        ),
    );
    b.click("#whatif-toggle");
    b.type_into("whatif-text", "a magician and balloon decorations");
    b.click("#whatif-try");
    let second = b.wait_for(
        "the fork of the fork",
        "window.__partybus.info().whatif && window.__partybus.info().whatif",
    );
    let second_id = second["forkId"].as_str().expect("forkId").to_string();
    let second_token = second["token"].as_str().expect("token").to_string();
    let second_status = s.status(&second_id, &second_token);
    let from = second_status
        .get("forked_from")
        .or_else(|| second_status["party"].get("forked_from"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(from["party_id"], json!(fork_id), "{second_status}");
    let second_last = settled_status(&s, &second_id, &second_token)["last_seq"]
        .as_u64()
        .expect("last_seq");
    b.wait_for(
        "the fork of the fork compared",
        &format!(
            "(() => {{ const w = window.__partybus.info().whatif; \
               return w && w.diffSeq >= {second_last} && document.getElementById('whatif-state').dataset.state === 'ready'; }})()"
        ),
    );
    assert_eq!(
        b.eval(RUNS_SHOWN),
        agent_runs(&s, &second_id, &second_token)
    );
    b.click("#whatif-discard");
    b.wait_for(
        "the editor back after discarding",
        "!document.getElementById('whatif-form').hidden && document.getElementById('whatif-note').textContent.includes('discarded') \
         && window.__partybus.info().whatif === null && document.activeElement.id === 'whatif-try'",
    );
    s.get(
        &format!("{API}/party/{second_id}/status"),
        Some(&second_token),
    )
    .assert_error(404, "party_not_found");
    assert_eq!(
        b.eval(&error_shown("whatif-error")),
        json!(""),
        "discarding is no error"
    );
    // Escape closes the panel and gives focus back to its button.
    b.call(
        "Input.dispatchKeyEvent",
        json!({"type": "keyDown", "key": "Escape", "code": "Escape", "windowsVirtualKeyCode": 27}),
    );
    b.wait_for(
        "the panel closed",
        "document.getElementById('whatif').hidden && document.activeElement.id === 'whatif-toggle'",
    );
    let console: Vec<String> = std::mem::take(&mut b.errors);
    // The refused fork is logged by the browser as a failed load; nothing else.
    assert!(
        console
            .iter()
            .all(|e| e.contains("Failed to load resource")),
        "page errors: {console:#?}"
    );
}

/// "Start from" an earlier plan: the editor lists the inputs that plan was
/// made from, and the fork is the party as it was then (`at_seq`), plus the
/// what-if's change; inputs added after that plan are not in it.
#[test]
fn what_if_can_start_from_an_earlier_plan() {
    let s = TestServer::start();
    let base = format!("http://{}", s.addr);
    let (party, token, created) = s.create(json!({"initial_inputs": [
        {"content": "jungle theme birthday party in Austin"},
        {"content": "30 guests"},
    ]}));
    s.settle(&party, created["seq"].as_u64().unwrap_or(0));
    let first = settled_status(&s, &party, &token);
    let first_inputs = first["inputs"].clone();
    // A second plan, after one more input.
    let added = s.call(
        "POST",
        &format!("{API}/party/{party}/input"),
        Some(&token),
        Some(&json!({"content": "we would love a magician"})),
    );
    assert_eq!(added.status, 201, "{}", added.text());
    s.settle(&party, added.json()["seq"].as_u64().unwrap_or(0));
    let now = settled_status(&s, &party, &token);
    let last = now["last_seq"].as_u64().expect("last_seq");

    let mut b = Browser::launch();
    b.navigate(&format!("{base}/#party={party}&token={token}"));
    b.wait_for(
        "the page to show the plan",
        &format!(
            "window.__partybus && window.__partybus.info().lastSeq >= {last} \
             && !document.getElementById('whatif-toggle').hidden"
        ),
    );
    b.click("#whatif-toggle");
    // The earlier plan is offered (the latest is "now").
    let options = b.wait_for(
        "the earlier plans offered",
        "!document.getElementById('whatif-from').disabled \
         && [...document.querySelectorAll('#whatif-from option')].map(o => [o.value, o.textContent])",
    );
    let options = options.as_array().expect("options").clone();
    assert_eq!(options.len(), 2, "now and one earlier plan: {options:?}");
    assert_eq!(options[0][0], json!(""), "{options:?}");
    let earlier: u64 = options[1][0]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("the earlier plan's seq");
    assert!(
        options[1][1]
            .as_str()
            .is_some_and(|t| t.contains("2 inputs")),
        "{options:?}"
    );
    assert_eq!(
        b.eval("document.getElementById('whatif-from').labels.length > 0"),
        json!(true)
    );

    // Choosing it lists that plan's inputs, without the magician.
    b.eval(&format!(
        "(() => {{ const s = document.getElementById('whatif-from'); s.value = '{earlier}'; \
           s.dispatchEvent(new Event('change')); return true; }})()"
    ));
    let listed = b.wait_for(
        "the earlier plan's inputs",
        "(() => { const ids = [...document.querySelectorAll('#whatif-inputs li[data-input-id]')] \
           .map(e => e.dataset.inputId); return ids.length === 2 && ids; })()",
    );
    let want: Vec<Value> = first_inputs
        .as_array()
        .expect("inputs")
        .iter()
        .map(|i| i["input_id"].clone())
        .collect();
    assert_eq!(listed, json!(want), "the inputs of the earlier plan");
    b.screenshot_from("13-whatif-earlier-plan", Some("#whatif"), 900.0);

    b.type_into("whatif-text", "50 guests");
    b.click("#whatif-add");
    b.click("#whatif-try");
    let fork = b.wait_for(
        "the fork (or an error)",
        &format!(
            "window.__partybus.info().whatif || {}",
            error_shown("whatif-error")
        ),
    );
    assert!(fork.is_object(), "the page could not fork: {fork}");
    let fork_id = fork["forkId"].as_str().expect("forkId");
    let fork_token = fork["token"].as_str().expect("token");
    let fork_status = settled_status(&s, fork_id, fork_token);
    assert_eq!(
        fork_status["forked_from"],
        json!({"party_id": party, "seq": earlier}),
        "{fork_status}"
    );
    let contents: Vec<&str> = fork_status["inputs"]
        .as_array()
        .expect("inputs")
        .iter()
        .filter_map(|i| i["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        [
            "jungle theme birthday party in Austin",
            "30 guests",
            "50 guests"
        ],
        "the party as of the earlier plan, plus the change"
    );
    let console: Vec<String> = std::mem::take(&mut b.errors);
    assert!(console.is_empty(), "page errors: {console:#?}");
}
