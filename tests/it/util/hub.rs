//! A WebSocket hub on its own, for the hub's tests: an [`App`], a [`WsHub`]
//! and a tiny_http server whose only route is `/api/v1/event-driven/ws/{id}`
//! (query `since=`), so a test can reach the hub itself (client counts,
//! shutdown). Clients are the harness's one [`Ws`]; tests wait on messages.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use partybus::app::{NewInput, NewParty};
use partybus::event::Topic;
use partybus::server::ws::{WsConfig, WsError, WsHub};
use partybus::{App, Config};
use serde_json::Value;

use super::Ws;

/// Router threads of the harness server.
const ROUTERS: usize = 2;

const PREFIX: &str = "/api/v1/event-driven/ws/";

/// The app configuration the tests start from.
pub fn config() -> Config {
    Config::default()
}

/// A running app, hub and HTTP server on 127.0.0.1:0.
pub struct Harness {
    pub app: Arc<App>,
    pub hub: Arc<WsHub>,
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    routers: Vec<JoinHandle<()>>,
}

impl Harness {
    /// Default app and hub.
    pub fn start() -> Harness {
        Harness::with(config(), WsConfig::default())
    }

    /// The given app and hub configuration.
    pub fn with(config: Config, ws: WsConfig) -> Harness {
        let app = Arc::new(App::start_new(config).expect("app starts"));
        let hub = WsHub::new(ws);
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let addr = server.server_addr().to_ip().expect("tcp address");
        let routers = (0..ROUTERS)
            .map(|i| {
                let (server, app, hub) = (server.clone(), app.clone(), hub.clone());
                std::thread::Builder::new()
                    .name(format!("test-http-{i}"))
                    .spawn(move || {
                        while let Ok(rq) = server.recv() {
                            route(&app, &hub, rq);
                        }
                    })
                    .expect("spawn router")
            })
            .collect();
        Harness {
            app,
            hub,
            addr,
            server,
            routers,
        }
    }

    /// The WebSocket URL of a party.
    pub fn url(&self, party: &str, since: Option<u64>) -> String {
        let mut url = format!("ws://{}{PREFIX}{party}", self.addr);
        if let Some(s) = since {
            url.push_str(&format!("?since={s}"));
        }
        url
    }

    /// Connects and reads the `connection` message.
    pub fn connect(&self, party: &str, since: Option<u64>) -> (Ws, Value) {
        let mut client = self.try_connect(party, since).expect("upgrade accepted");
        let hello = client.next_json();
        assert_eq!(hello["type"], "connection", "{hello}");
        assert_eq!(hello["status"], "connected");
        assert_eq!(hello["party_id"], party);
        (client, hello)
    }

    /// Connects; the handshake error when refused.
    pub fn try_connect(&self, party: &str, since: Option<u64>) -> Result<Ws, tungstenite::Error> {
        Ws::connect(&self.url(party, since))
    }

    /// Creates a party without inputs.
    pub fn create(&self, party: &str) -> u64 {
        self.app
            .create_party(
                NewParty {
                    party_id: Some(party.into()),
                    ..NewParty::default()
                },
                None,
            )
            .expect("create party")
            .seq
    }

    /// Adds a text input with a client-chosen id.
    pub fn add(&self, party: &str, input_id: &str, content: &str) -> u64 {
        self.app
            .add_input(
                party,
                NewInput {
                    input_id: Some(input_id.into()),
                    content: content.into(),
                    ..NewInput::default()
                },
                None,
                None,
            )
            .expect("add input")
            .seq
    }

    /// `seq`s of the party's forwarded events (every topic but
    /// `party.agent.should_execute`) with `since < seq <= until`.
    pub fn forwarded(&self, party: &str, since: u64, until: u64) -> Vec<u64> {
        self.app
            .events(party, since, usize::MAX)
            .expect("events")
            .iter()
            .filter(|e| e.topic() != Topic::AgentShouldExecute && e.seq <= until)
            .map(|e| e.seq)
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.hub.shutdown(Duration::from_secs(5));
        for _ in &self.routers {
            self.server.unblock();
        }
        for r in self.routers.drain(..) {
            let _ = r.join();
        }
    }
}

/// The harness's only route.
fn route(app: &Arc<App>, hub: &Arc<WsHub>, rq: tiny_http::Request) {
    let url = rq.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let Some(party) = path.strip_prefix(PREFIX) else {
        let _ = rq.respond(tiny_http::Response::empty(404));
        return;
    };
    let since = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("since="))
        .and_then(|v| v.parse().ok());
    if let Err((e, rq)) = hub.upgrade(app.clone(), rq, party.to_string(), since, None) {
        let status = match e {
            WsError::BadUpgrade(_) => 400,
            WsError::TooManyClients | WsError::NotRunning => 503,
        };
        let _ =
            rq.respond(tiny_http::Response::from_string(e.to_string()).with_status_code(status));
    }
}

/// The `seq` of an event message.
pub fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().unwrap_or_else(|| panic!("no seq in {v}"))
}

/// Whether `v` is the `input_added` message of `input_id`.
pub fn is_input(v: &Value, input_id: &str) -> bool {
    v["type"] == "input_added" && v["payload"]["input_id"] == input_id
}
