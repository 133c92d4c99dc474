//! One request to its [`Outcome`], without the HTTP library: shutdown and
//! rate-limit refusals, the declared body limit, CORS preflights, routing
//! misses (404/405), the WebSocket checks, then the handler, with a handler
//! panic caught as a JSON 500. Also the headers every response carries
//! ([`wire_headers`]) and the access log line with its metrics ([`record`]),
//! also for the answers the connection layer writes itself
//! ([`record_refusal`]).
//!
//! Owns the order of those checks; the HTTP layer (`http`) only converts a
//! request in and writes the outcome out, and the handlers (`api`) only
//! answer routed requests. Must not touch a socket: an upgrade or an
//! oversized body is an [`Outcome`] for the HTTP layer to carry out. The
//! access log has one line per request and never the query string (it may
//! carry a token).

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::api;
use super::cors;
use super::ctx::Ctx;
use super::error::{ApiError, Code};
use super::metrics;
use super::reply::Reply;
use super::request::{Body, Request};
use super::routes::{self, Miss, RouteId, RouteSpec};

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Write `reply`; `label` is the route template for the metrics.
    Reply {
        /// Route template, or [`metrics::UNMATCHED`].
        label: &'static str,
        /// The answer.
        reply: Reply,
    },
    /// 413 for a declared body over the limit, not read: the HTTP layer
    /// decides whether the connection can be kept (by draining the body).
    Oversized {
        /// Route template, or [`metrics::UNMATCHED`].
        label: &'static str,
        /// The 413.
        reply: Reply,
        /// The declared `Content-Length`.
        declared: usize,
    },
    /// An authorised WebSocket request: hand the connection to the hub.
    WebSocket {
        /// The WebSocket route's template.
        label: &'static str,
        /// The party to stream.
        party_id: String,
        /// Replay events after this `seq` first.
        since: Option<u64>,
        /// Hash of the party token that let the client in (see
        /// [`api::WsAccess`]).
        party_token: Option<String>,
    },
}

/// The access log's target: one line per request ([`record`]).
pub const ACCESS_LOG_TARGET: &str = "partybus::access";

fn answer(label: &'static str, reply: Reply) -> Outcome {
    Outcome::Reply { label, reply }
}

/// Decides what `req` gets; `now` is when it arrived (for the rate limiter).
/// Reads `body` only when the route takes one.
pub(crate) fn dispatch(ctx: &Ctx, req: &Request, body: &mut Body<'_>, now: Instant) -> Outcome {
    // Resolved first, so that even the refusals below are counted under
    // the route they were aimed at.
    let routed = routes::resolve(req.method(), req.path());
    let label = routed
        .as_ref()
        .map_or(metrics::UNMATCHED, |(spec, _)| spec.path);
    if ctx.stopping.load(Ordering::SeqCst) {
        let e = ApiError::NotReady("the server is shutting down".to_string());
        return answer(label, Reply::error(&e));
    }
    if let Some(ip) = req.client_ip() {
        let read = req.is_read();
        if let Err(wait) = ctx.limiter.check(ip, read, now) {
            let e = ApiError::RateLimited {
                class: if read { "read" } else { "write" },
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            };
            return answer(label, Reply::error(&e));
        }
    }
    if let Some(declared) = req.body_length().filter(|n| *n > ctx.max_body) {
        let reply = Reply::error(&ApiError::PayloadTooLarge {
            limit: ctx.max_body,
        });
        return Outcome::Oversized {
            label,
            reply,
            declared,
        };
    }
    if let Some((origin, method)) = req.preflight() {
        let (label, reply) = preflight(ctx, origin, method, req.path());
        return answer(label, reply);
    }
    match routed {
        Err(miss) => answer(
            metrics::UNMATCHED,
            Reply::error(&miss_error(miss, req.method(), req.path())),
        ),
        Ok((spec, params)) if spec.id == RouteId::WebSocket => websocket(ctx, spec, &params, req),
        Ok((spec, params)) => {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                api::handle(ctx, spec.id, &params, req, body)
            }));
            let reply = match outcome {
                Ok(Ok(reply)) => reply,
                Ok(Err(e)) => Reply::error(&e),
                Err(_) => {
                    log::error!(
                        request_id = req.id(),
                        party_id = routes::party_id_of(req.path()).unwrap_or_default();
                        "request {}: handler panicked",
                        req.id()
                    );
                    Reply::error(&ApiError::Internal(req.id().to_string()))
                }
            };
            answer(spec.path, reply)
        }
    }
}

fn miss_error(miss: Miss, method: &str, path: &str) -> ApiError {
    match miss {
        Miss::NotFound => ApiError::NotFound {
            method: method.to_string(),
            path: path.to_string(),
        },
        Miss::MethodNotAllowed(allow) => ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow,
        },
    }
}

/// Answers a CORS preflight for `method` at `path` from `origin`: 403 for an
/// origin that is not allowed; otherwise the request it announces is routed,
/// so an unknown path gets 404 and a method the path does not serve 405 with
/// `Allow`, just as the request itself would; a routable one gets 204 with
/// the methods the path serves. No token is needed (browsers send none on a
/// preflight) and nothing reaches the app.
fn preflight(ctx: &Ctx, origin: &str, method: &str, path: &str) -> (&'static str, Reply) {
    if !ctx.cors.allows(origin) {
        let e = ApiError::CorsOriginNotAllowed(cors::quoted(origin));
        return (metrics::UNMATCHED, Reply::error(&e));
    }
    match routes::resolve(method, path) {
        Err(miss) => (
            metrics::UNMATCHED,
            Reply::error(&miss_error(miss, method, path)),
        ),
        Ok((spec, _)) => {
            let mut reply = Reply::empty(204);
            let allow = routes::allowed_methods(path).unwrap_or_default();
            reply.headers = cors::preflight_headers(&allow);
            (spec.path, reply)
        }
    }
}

/// The checks before a WebSocket upgrade: the page's origin (CORS does not
/// cover WebSockets, so pages of other sites are refused here), then access
/// to the party. The handshake itself is the hub's to check.
fn websocket(
    ctx: &Ctx,
    spec: &'static RouteSpec,
    params: &routes::Params,
    req: &Request,
) -> Outcome {
    // The page may come through the public URL (a proxy that rewrites
    // `Host` and forwards no host, or forwards it without its port).
    let public = ctx.public_url.as_ref().map(|u| u.base().authority.as_str());
    let allowed = ctx.cors.allows_websocket(req.origin(), req.external_host())
        || public.is_some_and(|p| ctx.cors.allows_websocket(req.origin(), Some(p)));
    if !allowed {
        let origin = cors::quoted(req.origin().unwrap_or_default());
        let e = ApiError::CorsOriginNotAllowed(origin);
        return answer(spec.path, Reply::error(&e));
    }
    let checked = catch_unwind(AssertUnwindSafe(|| api::authorize_ws(ctx, params, req)));
    match checked {
        Ok(Ok(access)) => Outcome::WebSocket {
            label: spec.path,
            party_id: access.party_id,
            since: access.since,
            party_token: access.party_token,
        },
        Ok(Err(e)) => answer(spec.path, Reply::error(&e)),
        Err(_) => {
            let e = ApiError::Internal(req.id().to_string());
            answer(spec.path, Reply::error(&e))
        }
    }
}

/// Every header of `reply` as written for `req`, in order: its content type,
/// the request id, `Cache-Control: no-store` unless the reply sets its own,
/// `nosniff`, the reply's own headers, and the CORS headers for the
/// request's origin.
pub(crate) fn wire_headers(ctx: &Ctx, reply: &Reply, req: &Request) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(reply.headers.len() + 6);
    if !reply.content_type.is_empty() {
        headers.push(("Content-Type", reply.content_type.to_string()));
    }
    headers.push(("X-Request-Id", req.id().to_string()));
    if !reply.headers.iter().any(|(k, _)| *k == "Cache-Control") {
        headers.push(("Cache-Control", "no-store".to_string()));
    }
    headers.push(("X-Content-Type-Options", "nosniff".to_string()));
    headers.extend(reply.headers.iter().cloned());
    headers.extend(ctx.cors.response_headers(req.origin()));
    headers
}

/// Counts an answered request in the metrics and writes its access log line:
/// `CLIENT METHOD PATH STATUS MS REQUEST-ID`, the client as resolved behind
/// trusted proxies (`-` when unknown).
pub(crate) fn record(ctx: &Ctx, req: &Request, label: &'static str, status: u16, took: Duration) {
    ctx.metrics
        .observe_request(label, metrics::method_label(req.method()), status, took);
    let client = req
        .client_ip()
        .map_or_else(|| "-".to_string(), |ip| ip.to_string());
    // `request_id` and `party_id` (empty: none) are fields of a JSON log
    // line (crate::logging); the text line shows the request id only.
    log::info!(
        target: ACCESS_LOG_TARGET,
        request_id = req.id(),
        party_id = routes::party_id_of(req.path()).unwrap_or_default(),
        client = client.as_str();
        "{client} {} {} {} {:.3}ms {}",
        printable(req.method()),
        printable(req.path()),
        status,
        took.as_secs_f64() * 1000.0,
        req.id()
    );
}

/// Counts an answer the connection layer wrote itself (`code` says which)
/// and writes its access log line, in [`record`]'s layout: the client is
/// the peer (no header was read), and no method, path, time or request id
/// exist for it, so those fields are `-`, and `refused:<code>` ends it.
pub(crate) fn record_refusal(ctx: &Ctx, code: Code, peer: Option<SocketAddr>) {
    ctx.metrics.observe_refusal(code);
    let client = peer.map_or_else(|| "-".to_string(), |p| p.ip().to_string());
    log::info!(
        target: ACCESS_LOG_TARGET,
        client = client.as_str();
        "{client} - - {} - refused:{}",
        code.status(),
        code.as_str()
    );
}

/// `s` with control characters replaced, so a request cannot forge or
/// garble log lines.
fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        s.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::ServerConfig;
    use super::super::routes::API_PREFIX;
    use super::*;

    /// Dispatches a hand-built request on `ctx`.
    fn call(ctx: &Ctx, method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Outcome {
        let (req, mut body) = Request::fake_http(method, url, headers, body.as_bytes());
        let req = req.behind(&ctx.trusted_proxies);
        dispatch(ctx, &req, &mut body, Instant::now())
    }

    /// The label, status and `code` of an error answer.
    fn refusal(outcome: Outcome) -> (&'static str, u16, String) {
        let Outcome::Reply { label, reply } = outcome else {
            panic!("not a reply: {outcome:?}");
        };
        let v: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
        (
            label,
            reply.status,
            v["code"].as_str().unwrap_or("").to_string(),
        )
    }

    #[test]
    fn routing_misses_are_404_and_405() {
        let ctx = Ctx::for_tests(&ServerConfig::default());
        let r = refusal(call(&ctx, "GET", "/nowhere", &[], ""));
        assert_eq!(r, (metrics::UNMATCHED, 404, "not_found".to_string()));
        let Outcome::Reply { reply, .. } = call(&ctx, "PUT", "/livez", &[], "") else {
            panic!("not a reply");
        };
        assert_eq!(reply.status, 405);
        assert_eq!(reply.header("Allow"), Some("GET, HEAD"));
        ctx.app.stop();
    }

    #[test]
    fn a_routed_request_is_labelled_with_its_template() {
        let ctx = Ctx::for_tests(&ServerConfig::default());
        let url = format!("{API_PREFIX}/party/nope/status");
        let r = refusal(call(&ctx, "GET", &url, &[], ""));
        let template = "/api/v1/event-driven/party/{party_id}/status";
        assert_eq!(r, (template, 404, "party_not_found".to_string()));
        let Outcome::Reply { label, reply } = call(&ctx, "GET", "/livez", &[], "") else {
            panic!("not a reply");
        };
        assert_eq!((label, reply.status), ("/livez", 200));
        ctx.app.stop();
    }

    #[test]
    fn shutdown_and_oversized_bodies_are_refused_before_routing() {
        let ctx = Ctx::for_tests(&ServerConfig {
            max_body: 10,
            ..ServerConfig::default()
        });
        let url = format!("{API_PREFIX}/party");
        let json = [("Content-Type", "application/json")];
        match call(&ctx, "POST", &url, &json, "{\"user_id\": \"ana\"}") {
            Outcome::Oversized {
                label,
                reply,
                declared,
            } => {
                assert_eq!((label, reply.status, declared), (url.as_str(), 413, 18));
            }
            other => panic!("not refused: {other:?}"),
        }
        ctx.stopping.store(true, Ordering::SeqCst);
        let r = refusal(call(&ctx, "GET", "/livez", &[], ""));
        assert_eq!(r, ("/livez", 503, "not_ready".to_string()));
        let r = refusal(call(&ctx, "GET", "/nowhere", &[], ""));
        assert_eq!(r, (metrics::UNMATCHED, 503, "not_ready".to_string()));
        ctx.app.stop();
    }

    #[test]
    fn rate_limits_key_on_the_forwarded_client_behind_a_trusted_proxy() {
        use super::super::proxy::TrustedProxies;
        use super::super::ratelimit::{RateBudget, RateLimits};
        let limits = RateLimits {
            writes: RateBudget {
                per_second: 0.001,
                burst: 1.0,
            },
            ..RateLimits::default()
        };
        let url = format!("{API_PREFIX}/party");
        let from = |ip| [("X-Forwarded-For", ip)];
        let trusted = TrustedProxies::parse_list(["127.0.0.1"]).expect("valid");
        let ctx = Ctx::for_tests(&ServerConfig {
            rate_limits: limits,
            trusted_proxies: trusted,
            ..ServerConfig::default()
        });
        let status = |o: Outcome| match o {
            Outcome::Reply { reply, .. } => reply.status,
            other => panic!("not a reply: {other:?}"),
        };
        assert_eq!(
            status(call(&ctx, "POST", &url, &from("192.0.2.1"), "")),
            201
        );
        let r = refusal(call(&ctx, "POST", &url, &from("192.0.2.1"), ""));
        assert_eq!((r.1, r.2.as_str()), (429, "rate_limited"));
        assert_eq!(
            status(call(&ctx, "POST", &url, &from("192.0.2.2"), "")),
            201
        );
        ctx.app.stop();

        // Untrusted: the header is ignored and every client is the peer.
        let ctx = Ctx::for_tests(&ServerConfig {
            rate_limits: limits,
            ..ServerConfig::default()
        });
        assert_eq!(
            status(call(&ctx, "POST", &url, &from("192.0.2.1"), "")),
            201
        );
        let r = refusal(call(&ctx, "POST", &url, &from("192.0.2.2"), ""));
        assert_eq!((r.1, r.2.as_str()), (429, "rate_limited"));
        ctx.app.stop();
    }

    #[test]
    fn a_rate_limited_request_keeps_its_route_label() {
        use super::super::ratelimit::{RateBudget, RateLimits};
        let one = RateBudget {
            per_second: 0.001,
            burst: 1.0,
        };
        let ctx = Ctx::for_tests(&ServerConfig {
            rate_limits: RateLimits {
                reads: one,
                writes: one,
            },
            ..ServerConfig::default()
        });
        let Outcome::Reply { reply, .. } = call(&ctx, "GET", "/livez", &[], "") else {
            panic!("not a reply");
        };
        assert_eq!(reply.status, 200);
        let r = refusal(call(&ctx, "GET", "/livez", &[], ""));
        assert_eq!(r, ("/livez", 429, "rate_limited".to_string()));
        let r = refusal(call(&ctx, "GET", "/nowhere", &[], ""));
        assert_eq!(r, (metrics::UNMATCHED, 429, "rate_limited".to_string()));
        ctx.app.stop();
    }

    #[test]
    fn a_preflight_from_an_unknown_origin_is_403() {
        let ctx = Ctx::for_tests(&ServerConfig::default());
        let headers = [
            ("Origin", "https://elsewhere.example"),
            ("Access-Control-Request-Method", "POST"),
        ];
        let url = format!("{API_PREFIX}/party");
        let r = refusal(call(&ctx, "OPTIONS", &url, &headers, ""));
        assert_eq!(
            r,
            (
                metrics::UNMATCHED,
                403,
                "cors_origin_not_allowed".to_string()
            )
        );
        ctx.app.stop();
    }

    #[test]
    fn a_websocket_request_is_checked_then_handed_over() {
        let ctx = Ctx::for_tests(&ServerConfig {
            auth: super::super::config::AuthMode::Off,
            ..ServerConfig::default()
        });
        let url = format!("{API_PREFIX}/ws/p1?since=3");
        match call(&ctx, "GET", &url, &[], "") {
            Outcome::WebSocket {
                party_id, since, ..
            } => assert_eq!((party_id.as_str(), since), ("p1", Some(3))),
            other => panic!("not handed over: {other:?}"),
        }
        let other_site = [
            ("Origin", "https://elsewhere.example"),
            ("Host", "127.0.0.1"),
        ];
        let r = refusal(call(&ctx, "GET", &url, &other_site, ""));
        assert_eq!((r.1, r.2.as_str()), (403, "cors_origin_not_allowed"));
        ctx.app.stop();
    }

    #[test]
    fn every_reply_carries_the_request_id_and_no_store() {
        let ctx = Ctx::for_tests(&ServerConfig::default());
        let (req, _) = Request::fake_http("GET", "/livez", &[("X-Request-Id", "rid-7")], b"");
        let reply = Reply::json(200, &serde_json::json!({}));
        let headers = wire_headers(&ctx, &reply, &req);
        let names: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                "Content-Type",
                "X-Request-Id",
                "Cache-Control",
                "X-Content-Type-Options"
            ]
        );
        assert_eq!(headers[1].1, "rid-7");
        assert_eq!(headers[2].1, "no-store");
        let cached = Reply::empty(304).with_header("Cache-Control", "no-cache".to_string());
        let headers = wire_headers(&ctx, &cached, &req);
        let cache: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| *k == "Cache-Control")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cache, ["no-cache"]);
        assert!(!headers.iter().any(|(k, _)| *k == "Content-Type"));
        ctx.app.stop();
    }

    #[test]
    fn log_fields_lose_control_characters() {
        assert_eq!(printable("/a\x1b[31m\nb"), "/a?[31m?b");
        assert_eq!(printable("/plain"), "/plain");
    }
}
