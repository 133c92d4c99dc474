//! The handlers: each checks access, decodes and validates its input into a
//! command, calls the [`crate::App`], and shapes the answer. Thin by design:
//! rules about parties live in the app, JSON shapes in [`super::views`].
//!
//! Owns what each routed request gets back. [`handle`] takes our own
//! [`Request`] and [`Body`] and returns a [`Reply`] or an [`ApiError`], so it
//! is unit-tested on hand-built requests ([`Request::fake_http`]). Must not
//! see the HTTP library or a socket, and must not route: it is called with
//! the route already resolved (by `dispatch`).
//!
//! Validation happens before any command is sent, and the app validates again
//! before publishing, so a rejected request changes nothing. The request id
//! is passed to the app as the correlation id of every event a request causes.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::auth;
use super::body;
use super::config::AuthMode;
use super::ctx::Ctx;
use super::error::ApiError;
use super::reply::Reply;
use super::request::{Body, Request};
use super::routes::{Params, RouteId, API_PREFIX};
use super::views::{PartyView, PlanView};
use super::web;
use super::ws::WsError;
use crate::domain::AgentName;
use crate::event::{self, Event};
use crate::export::{Export, Format};
use crate::idempotency::{self, Begin};
use crate::store::Party;

/// Default page size of the events route.
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
/// Largest page size of the events route.
pub const MAX_EVENTS_LIMIT: usize = 1000;
/// Dead letters shown by `/system/status` (the most recent ones).
pub const DEAD_LETTERS_SHOWN: usize = 50;

/// Answers every route but the WebSocket one.
pub(crate) fn handle(
    ctx: &Ctx,
    route: RouteId,
    params: &Params,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply, ApiError> {
    let party_id = params.party_id.as_deref().unwrap_or("");
    match route {
        RouteId::CreateParty => idempotent(ctx, req, || create_party(ctx, req, body)),
        RouteId::AddInput => {
            authorize_party(ctx, party_id, req)?;
            idempotent(ctx, req, || add_input(ctx, party_id, req, body))
        }
        RouteId::PartyExport => {
            let party = authorize_party(ctx, party_id, req)?;
            export(&party, req)
        }
        RouteId::RemoveInput => {
            authorize_party(ctx, party_id, req)?;
            let input_id = params.input_id.as_deref().unwrap_or("");
            let ack = ctx
                .app
                .remove_input(party_id, input_id, None, Some(req.id()))
                .map_err(|e| ApiError::from_app(e, req.id()))?;
            Ok(Reply::json(
                200,
                &json!({
                    "success": true,
                    "party_id": party_id,
                    "input_id": input_id,
                    "message": "Input removed successfully",
                    "seq": ack.seq,
                }),
            ))
        }
        RouteId::PartyStatus => {
            let party = authorize_party(ctx, party_id, req)?;
            let body = ctx
                .status_cache
                .get_or_encode(&party.party_id, party.last_seq, || {
                    serde_json::to_vec(&StatusResponse::new(&party))
                })
                .map_err(|e| {
                    log::error!("request {}: cannot encode the status: {e}", req.id());
                    ApiError::Internal(req.id().to_string())
                })?;
            Ok(Reply::json_bytes(200, body.to_vec()))
        }
        RouteId::PartyPlan => {
            let party = authorize_party(ctx, party_id, req)?;
            Ok(Reply::json(200, &PlanView::from(party.as_ref())))
        }
        RouteId::PartyEvents => {
            let party = authorize_party(ctx, party_id, req)?;
            events(ctx, &party, req)
        }
        RouteId::DeleteParty => {
            authorize_party(ctx, party_id, req)?;
            let ack = ctx
                .app
                .delete_party(party_id, None, Some(req.id()))
                .map_err(|e| ApiError::from_app(e, req.id()))?;
            Ok(Reply::json(
                200,
                &json!({
                    "success": true,
                    "party_id": party_id,
                    "message": "Party deleted successfully",
                    "seq": ack.seq,
                }),
            ))
        }
        RouteId::RotateToken => {
            authorize_party(ctx, party_id, req)?;
            let token = auth::new_token().map_err(|e| {
                log::error!("request {}: the OS random generator failed: {e}", req.id());
                ApiError::Internal(req.id().to_string())
            })?;
            let ack = ctx
                .app
                .rotate_token(party_id, auth::sha256_hex(&token), Some(req.id()))
                .map_err(|e| ApiError::from_app(e, req.id()))?;
            Ok(Reply::json(
                200,
                &json!({
                    "success": true,
                    "party_id": party_id,
                    "party_token": token,
                    "message": "Token rotated; the previous token no longer grants access",
                    "seq": ack.seq,
                }),
            ))
        }
        RouteId::SystemStatus => {
            authorize_admin(ctx, req)?;
            system_status(ctx, req)
        }
        RouteId::SystemHealth => {
            if !ctx.app.is_running() {
                return Err(ApiError::NotReady(
                    "the orchestrator is not running".to_string(),
                ));
            }
            Ok(Reply::json(
                200,
                &json!({
                    "status": "healthy",
                    "service": "event-driven-orchestrator",
                    "running": true,
                    "timestamp": event::now_rfc3339(),
                }),
            ))
        }
        RouteId::Livez => Ok(Reply::json(200, &json!({"status": "alive"}))),
        RouteId::Readyz => {
            if ctx.ready.load(std::sync::atomic::Ordering::SeqCst) && ctx.app.is_running() {
                Ok(Reply::json(200, &json!({"status": "ready"})))
            } else {
                Err(ApiError::NotReady(
                    "not ready: starting or shutting down".to_string(),
                ))
            }
        }
        RouteId::Health => Ok(Reply::json(
            200,
            &json!({
                "status": if ctx.app.is_running() { "healthy" } else { "unhealthy" },
                "service": "partybus",
                "version": env!("CARGO_PKG_VERSION"),
                "timestamp": event::now_rfc3339(),
            }),
        )),
        RouteId::Metrics => {
            authorize_admin(ctx, req)?;
            let ready = ctx.ready.load(std::sync::atomic::Ordering::SeqCst);
            Ok(Reply::text(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                ctx.metrics.render(&ctx.app, ctx.hub.clients(), ready),
            ))
        }
        RouteId::OpenApi => Ok(Reply {
            status: 200,
            body: ctx.openapi.clone(),
            content_type: "application/json",
            headers: Vec::new(),
        }),
        RouteId::WebApp
        | RouteId::WebAppJs
        | RouteId::WebAppCss
        | RouteId::WebDocs
        | RouteId::WebDocsJs => web::serve(route, req.header("If-None-Match"))
            .ok_or_else(|| ApiError::Internal(req.id().to_string())),
        RouteId::WebSocket => Err(ApiError::BadUpgrade(
            "the WebSocket route needs an upgrade request".to_string(),
        )),
    }
}

/// Runs a POST handler under the request's `Idempotency-Key`, if it has
/// one: a key seen before (on the same method and path) gets the stored
/// response and nothing runs; a key in use by a concurrent request gets 409.
/// Successes and client errors are stored; 5xx (overload, timeouts) are not,
/// so a retry can still succeed.
fn idempotent(
    ctx: &Ctx,
    req: &Request,
    run: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    let Some(key) = req.header("Idempotency-Key") else {
        return run();
    };
    if !idempotency::valid_key(key) {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            format!(
                "Idempotency-Key must be 1-{} visible ASCII characters",
                idempotency::MAX_KEY_LEN
            ),
        ));
    }
    let route = format!("{} {}", req.method(), req.path());
    let journal_failed = |e: crate::journal::JournalError| {
        log::error!("request {}: idempotency store failed: {e}", req.id());
        ApiError::Internal(req.id().to_string())
    };
    match ctx
        .app
        .idempotency()
        .begin(key, &route)
        .map_err(journal_failed)?
    {
        Begin::Replay(stored) => Ok(Reply {
            status: stored.status,
            body: stored.body,
            content_type: "application/json",
            headers: vec![("Idempotent-Replayed", "true".to_string())],
        }),
        Begin::InProgress => Err(ApiError::Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly".to_string(),
        )),
        Begin::Mismatch(first) => Err(ApiError::invalid(
            "Idempotency-Key",
            format!("this Idempotency-Key was already used for {first}"),
        )),
        Begin::Proceed(pending) => {
            let reply = match run() {
                Ok(r) => r,
                Err(e) => Reply::error(&e),
            };
            if reply.status < 500 {
                pending
                    .finish(reply.status, &reply.body)
                    .map_err(journal_failed)?;
            }
            Ok(reply)
        }
    }
}

/// `GET .../export`: the plan as JSON or CSV.
fn export(party: &Party, req: &Request) -> Result<Reply, ApiError> {
    let format = match req.query("format") {
        None | Some("") => Format::Json,
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::invalid("format", "format must be json or csv"))?,
    };
    let ext = if format == Format::Csv { "csv" } else { "json" };
    Ok(Reply {
        status: 200,
        body: Export::of(party).render(format),
        content_type: format.content_type(),
        headers: vec![(
            "Content-Disposition",
            format!("attachment; filename=\"party-{}.{ext}\"", party.party_id),
        )],
    })
}

/// Access to a party: 503 when the core is down, 404 when the party does not
/// exist, then (auth on) 401 without a token and 403 with a wrong one. The
/// admin token, when set, opens every party.
fn authorize_party(ctx: &Ctx, party_id: &str, req: &Request) -> Result<Arc<Party>, ApiError> {
    if !ctx.app.is_running() {
        return Err(ApiError::NotReady("partybus is not running".to_string()));
    }
    let party = ctx
        .app
        .party(party_id)
        .ok_or_else(|| ApiError::PartyNotFound(party_id.to_string()))?;
    if ctx.auth == AuthMode::Off {
        return Ok(party);
    }
    let token = auth::presented(req.header("Authorization"), req.query("token"))
        .ok_or(ApiError::Unauthorized)?;
    let admin = ctx
        .admin_sha256
        .as_deref()
        .is_some_and(|h| auth::verify(token, h));
    let owner = party
        .token_sha256
        .as_deref()
        .is_some_and(|h| auth::verify(token, h));
    if admin || owner {
        Ok(party)
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Access to admin routes: open unless an admin token is configured.
fn authorize_admin(ctx: &Ctx, req: &Request) -> Result<(), ApiError> {
    let Some(expected) = ctx.admin_sha256.as_deref() else {
        return Ok(());
    };
    let token = auth::presented(req.header("Authorization"), req.query("token"))
        .ok_or(ApiError::Unauthorized)?;
    if auth::verify(token, expected) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// Checks a WebSocket request before the upgrade; returns the party id and
/// `since`. With auth off any well-formed id may be watched, even one not
/// created yet (the prototype's behaviour).
pub(crate) fn authorize_ws(
    ctx: &Ctx,
    params: &Params,
    req: &Request,
) -> Result<(String, Option<u64>), ApiError> {
    let party_id = params.party_id.as_deref().unwrap_or("");
    let since = match req.query("since") {
        None | Some("") => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                "since",
                "since must be a non-negative integer (an event seq)",
            )
        })?),
    };
    if ctx.auth == AuthMode::Off {
        if !ctx.app.is_running() {
            return Err(ApiError::NotReady("partybus is not running".to_string()));
        }
        if !event::is_valid_id(party_id) {
            return Err(ApiError::PartyNotFound(party_id.to_string()));
        }
    } else {
        authorize_party(ctx, party_id, req)?;
    }
    Ok((party_id.to_string(), since))
}

/// Maps a refused upgrade.
pub(crate) fn ws_error(e: WsError) -> ApiError {
    match e {
        WsError::TooManyClients => ApiError::TooManyClients,
        WsError::BadUpgrade(m) => ApiError::BadUpgrade(format!("not a WebSocket upgrade: {m}")),
        WsError::NotRunning => ApiError::NotReady("partybus is not running".to_string()),
    }
}

#[derive(Serialize)]
struct CreatePartyResponse<'a> {
    success: bool,
    party_id: &'a str,
    party_token: &'a str,
    input_ids: &'a [String],
    message: &'static str,
    websocket_url: String,
    status_url: String,
    seq: u64,
}

fn create_party(ctx: &Ctx, req: &Request, body: &mut Body<'_>) -> Result<Reply, ApiError> {
    let bytes = body.read_json(req, ctx.max_body, ctx.request_timeout)?;
    let mut cmd = body::create_party(bytes.as_deref())?;
    let token = auth::new_token().map_err(|e| {
        log::error!("request {}: the OS random generator failed: {e}", req.id());
        ApiError::Internal(req.id().to_string())
    })?;
    cmd.token_sha256 = Some(auth::sha256_hex(&token));
    let ack = ctx
        .app
        .create_party(cmd, Some(req.id()))
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    let host = req
        .host()
        .map_or_else(|| ctx.local_addr.to_string(), str::to_string);
    let status_path = format!("{API_PREFIX}/party/{}/status", ack.party_id);
    let response = CreatePartyResponse {
        success: true,
        party_id: &ack.party_id,
        party_token: &token,
        input_ids: &ack.input_ids,
        message: "Party created successfully",
        websocket_url: format!("ws://{host}{API_PREFIX}/ws/{}", ack.party_id),
        status_url: format!("http://{host}{status_path}"),
        seq: ack.seq,
    };
    Ok(Reply::json(201, &response).with_header("Location", status_path))
}

fn add_input(
    ctx: &Ctx,
    party_id: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply, ApiError> {
    let bytes = body.read_json(req, ctx.max_body, ctx.request_timeout)?;
    let input = body::add_input(bytes.as_deref())?;
    let ack = ctx
        .app
        .add_input(party_id, input, None, Some(req.id()))
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    let input_id = ack.input_ids.first().map(String::as_str).unwrap_or("");
    Ok(Reply::json(
        201,
        &json!({
            "success": true,
            "party_id": party_id,
            "input_id": input_id,
            "message": "Input added successfully",
            "seq": ack.seq,
        }),
    ))
}

#[derive(Serialize)]
struct StatusResponse<'a> {
    success: bool,
    party: PartyView<'a>,
    message: Option<&'static str>,
}

impl<'a> StatusResponse<'a> {
    fn new(p: &'a Party) -> Self {
        StatusResponse {
            success: true,
            party: PartyView::from(p),
            message: None,
        }
    }
}

#[derive(Serialize)]
struct EventsPage<'a> {
    success: bool,
    party_id: &'a str,
    events: &'a [Arc<Event>],
    next_since: u64,
    has_more: bool,
    last_seq: u64,
}

fn events(ctx: &Ctx, party: &Party, req: &Request) -> Result<Reply, ApiError> {
    let since = match req.query("since") {
        None | Some("") => 0,
        Some(s) => s.parse::<u64>().map_err(|_| {
            ApiError::invalid(
                "since",
                "since must be a non-negative integer (an event seq)",
            )
        })?,
    };
    let limit = match req.query("limit") {
        None | Some("") => DEFAULT_EVENTS_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_EVENTS_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("limit must be an integer from 1 to {MAX_EVENTS_LIMIT}"),
                )
            })?,
    };
    let mut events = ctx
        .app
        .events(&party.party_id, since, limit + 1)
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    let has_more = events.len() > limit;
    events.truncate(limit);
    let page = EventsPage {
        success: true,
        party_id: &party.party_id,
        next_since: events.last().map_or(since, |e| e.seq),
        events: &events,
        has_more,
        last_seq: party.last_seq,
    };
    Ok(Reply::json(200, &page))
}

fn system_status(ctx: &Ctx, req: &Request) -> Result<Reply, ApiError> {
    let s = ctx
        .app
        .system_status()
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    let dead = ctx.app.bus().map(|b| b.dead_letters()).unwrap_or_default();
    let recent = &dead[dead.len().saturating_sub(DEAD_LETTERS_SHOWN)..];
    let agents: Map<String, Value> = AgentName::ALL
        .iter()
        .map(|a| (a.as_str().to_string(), Value::Bool(s.running)))
        .collect();
    let body = json!({
        "success": true,
        "status": {
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": ctx.metrics.uptime().as_secs_f64(),
            "orchestrator": {
                "running": s.running,
                "background_tasks": AgentName::ALL.len(),
                "active_tasks": s.parties_planning_now,
            },
            "event_bus": s.event_bus,
            "state_store": s.state_store,
            "agents": agents,
            "agent_runs": s.agent_runs,
            "dead_letters": {
                "total": s.event_bus.dead_letters,
                "recent": recent,
            },
            "queue_depths": {
                "intake": s.event_bus.intake_depth,
                "subscribers": s.event_bus.queue_depths,
            },
            "connections": {
                "websocket_clients": ctx.hub.clients(),
                "http_in_flight": ctx.in_flight.get(),
                "http_open": ctx.open_connections(),
            },
        }
    });
    Ok(Reply::json(200, &body))
}
