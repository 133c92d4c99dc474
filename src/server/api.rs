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
use super::proxy::UrlBase;
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
pub(super) const DEFAULT_EVENTS_LIMIT: usize = 100;
/// Largest page size of the events route.
pub(super) const MAX_EVENTS_LIMIT: usize = 1000;
/// Dead letters shown by `/system/status` (the most recent ones).
pub(super) const DEAD_LETTERS_SHOWN: usize = 50;
/// Longest a request naming `X-Partybus-After` waits for this node to have
/// applied that `seq` (a cluster node behind the one the client wrote to).
pub(super) const AFTER_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Read your writes across cluster nodes: a party request that names the
/// `seq` its client last saw (`X-Partybus-After: <seq>` or `?after=<seq>`)
/// is served once this node has applied the party's partition up to it,
/// waiting at most [`AFTER_WAIT`] (then 503 `catching_up`).
fn await_after(ctx: &Ctx, party_id: &str, req: &Request) -> Result<(), ApiError> {
    let (field, raw) = match (req.header("X-Partybus-After"), req.query("after")) {
        (Some(h), _) => ("X-Partybus-After", h),
        (None, Some(q)) => ("after", q),
        (None, None) => return Ok(()),
    };
    let seq: u64 = raw.trim().parse().map_err(|_| {
        ApiError::invalid(
            field,
            format!("{field} must be a seq (a non-negative integer)"),
        )
    })?;
    match ctx.app.caught_up(party_id, seq, AFTER_WAIT) {
        crate::app::CaughtUp::Yes => Ok(()),
        crate::app::CaughtUp::NoSuchSeq { last } => Err(ApiError::invalid(
            field,
            format!("{field} names seq {seq}, but the latest event is seq {last}"),
        )),
        crate::app::CaughtUp::Behind => Err(ApiError::CatchingUp(format!(
            "this node has not applied seq {seq} of party {party_id}'s partition within {AFTER_WAIT:?}; retry shortly"
        ))),
    }
}

/// Answers every route but the WebSocket one.
pub(crate) fn handle(
    ctx: &Ctx,
    route: RouteId,
    params: &Params,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply, ApiError> {
    let party_id = params.party_id.as_deref().unwrap_or("");
    if !party_id.is_empty() {
        await_after(ctx, party_id, req)?;
    }
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
            Ok(Reply::json_bytes(200, body))
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
            let token = new_party_token(req)?;
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
        RouteId::ForkParty => {
            authorize_party(ctx, party_id, req)?;
            idempotent(ctx, req, || fork_party(ctx, party_id, req, body))
        }
        RouteId::PartyDiff => {
            let party = authorize_party(ctx, party_id, req)?;
            let other_id = params.other_id.as_deref().unwrap_or("");
            let other = authorize_other(ctx, other_id, req)?;
            Ok(Reply::json(200, &crate::diff::diff(&party, &other)))
        }
        RouteId::PartyDigest => {
            let party = authorize_party(ctx, party_id, req)?;
            party_digest(ctx, &party, req)
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
            if !ctx.ready.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ApiError::NotReady(
                    "not ready: starting or shutting down".to_string(),
                ));
            }
            match ctx.app.readiness() {
                Ok(()) => Ok(Reply::json(200, &json!({"status": "ready"}))),
                Err(why) => Err(ApiError::NotReady(format!("not ready: {why}"))),
            }
        }
        RouteId::Health => {
            // The body and the status agree: 503 whenever it says unhealthy
            // (not running, the bus stopped, the journal cannot be written,
            // a cluster node's shared log unreachable).
            // A 503 is also an error body (`not_ready`), as the API documents.
            let (status, body) = match ctx.app.readiness() {
                Ok(()) => (200, json!({"status": "healthy"})),
                Err(why) => (
                    503,
                    json!({"status": "unhealthy", "success": false, "code": "not_ready",
                           "detail": format!("unhealthy: {why}")}),
                ),
            };
            let mut body = body;
            body["service"] = json!("partybus");
            body["version"] = json!(env!("CARGO_PKG_VERSION"));
            body["commit"] = json!(crate::build_info::COMMIT);
            body["timestamp"] = json!(event::now_rfc3339());
            let mut reply = Reply::json(status, &body);
            if status == 503 {
                reply.headers.push(("Retry-After", "1".to_string()));
            }
            Ok(reply)
        }
        RouteId::Metrics => {
            authorize_metrics(ctx, req)?;
            let ready = ctx.ready.load(std::sync::atomic::Ordering::SeqCst);
            Ok(Reply::text(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                ctx.metrics.render(&ctx.app, ctx.hub.clients(), ready),
            ))
        }
        RouteId::OpenApi => Ok(Reply {
            status: 200,
            body: ctx.openapi.clone().into(),
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
        log::error!(
            "request {}: idempotency store failed: {}",
            req.id(),
            crate::journal::Chain(&e)
        );
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
            body: stored.body.into(),
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
        body: Export::of(party).render(format).into(),
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

/// Header carrying the second party's token on a diff.
pub(super) const OTHER_TOKEN_HEADER: &str = "X-Other-Token";

/// Access to the second party of a diff (after the first was authorized):
/// 404 when it does not exist, then (auth on) the admin token (as the
/// request's token or in [`OTHER_TOKEN_HEADER`]) or the party's own token in
/// [`OTHER_TOKEN_HEADER`]; 401 without one, 403 with a wrong one.
fn authorize_other(ctx: &Ctx, party_id: &str, req: &Request) -> Result<Arc<Party>, ApiError> {
    let party = ctx
        .app
        .party(party_id)
        .ok_or_else(|| ApiError::PartyNotFound(party_id.to_string()))?;
    if ctx.auth == AuthMode::Off {
        return Ok(party);
    }
    let is_admin = |t: &str| {
        ctx.admin_sha256
            .as_deref()
            .is_some_and(|h| auth::verify(t, h))
    };
    let main = auth::presented(req.header("Authorization"), req.query("token"));
    if main.is_some_and(is_admin) {
        return Ok(party);
    }
    let token = req
        .header(OTHER_TOKEN_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let owner = party
        .token_sha256
        .as_deref()
        .is_some_and(|h| auth::verify(token, h));
    if owner || is_admin(token) {
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

/// `/metrics`: the metrics token or the admin token, whichever is set (open
/// when neither is).
fn authorize_metrics(ctx: &Ctx, req: &Request) -> Result<(), ApiError> {
    let accepted: Vec<&str> = [&ctx.admin_sha256, &ctx.metrics_sha256]
        .into_iter()
        .filter_map(|t| t.as_deref())
        .collect();
    if accepted.is_empty() {
        return Ok(());
    }
    let token = auth::presented(req.header("Authorization"), req.query("token"))
        .ok_or(ApiError::Unauthorized)?;
    // Every candidate is checked (constant time each), so the answer's
    // timing does not tell which token matched.
    let matched = accepted
        .iter()
        .fold(false, |any, expected| auth::verify(token, expected) | any);
    if matched {
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
) -> Result<WsAccess, ApiError> {
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
    let mut party_token = None;
    if ctx.auth == AuthMode::Off {
        if !ctx.app.is_running() {
            return Err(ApiError::NotReady("partybus is not running".to_string()));
        }
        if !event::is_valid_id(party_id) {
            return Err(ApiError::PartyNotFound(party_id.to_string()));
        }
    } else {
        authorize_party(ctx, party_id, req)?;
        let token = auth::presented(req.header("Authorization"), req.query("token"));
        let admin = |t: &str| {
            ctx.admin_sha256
                .as_deref()
                .is_some_and(|h| auth::verify(t, h))
        };
        party_token = token.filter(|t| !admin(t)).map(auth::sha256_hex);
    }
    Ok(WsAccess {
        party_id: party_id.to_string(),
        since,
        party_token,
    })
}

/// A WebSocket request let in: what to stream, and how it was let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsAccess {
    /// The party.
    pub(crate) party_id: String,
    /// Replay events after this `seq` first.
    pub(crate) since: Option<u64>,
    /// SHA-256 (hex) of the party token that let the client in; `None` for
    /// the admin token or with auth off. A rotation away from it closes
    /// the client.
    pub(crate) party_token: Option<String>,
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
    /// A fork's origin (forks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    forked_from: Option<&'a crate::event::ForkedFrom>,
    /// Agents whose results a fork copied (forks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    copied_results: Option<&'a [crate::domain::AgentName]>,
}

fn create_party(ctx: &Ctx, req: &Request, body: &mut Body<'_>) -> Result<Reply, ApiError> {
    let bytes = body.read_json(req, ctx.max_body, ctx.request_timeout)?;
    let mut cmd = body::create_party(bytes.as_deref())?;
    let token = new_party_token(req)?;
    cmd.token_sha256 = Some(auth::sha256_hex(&token));
    let ack = ctx
        .app
        .create_party(cmd, Some(req.id()))
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    Ok(party_made(ctx, req, &ack, &token, None))
}

fn fork_party(
    ctx: &Ctx,
    original: &str,
    req: &Request,
    body: &mut Body<'_>,
) -> Result<Reply, ApiError> {
    let bytes = body.read_json(req, ctx.max_body, ctx.request_timeout)?;
    let mut cmd = body::fork_party(bytes.as_deref())?;
    let token = new_party_token(req)?;
    cmd.token_sha256 = Some(auth::sha256_hex(&token));
    let forked = ctx
        .app
        .fork_party(original, cmd, Some(req.id()))
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    Ok(party_made(ctx, req, &forked.ack, &token, Some(&forked)))
}

/// A new party's access token (only its hash is kept).
fn new_party_token(req: &Request) -> Result<String, ApiError> {
    auth::new_token().map_err(|e| {
        log::error!("request {}: the OS random generator failed: {e}", req.id());
        ApiError::Internal(req.id().to_string())
    })
}

/// 201 for a party `req` created (or forked, with `fork`): its id, token,
/// URLs and `Location`.
fn party_made(
    ctx: &Ctx,
    req: &Request,
    ack: &crate::app::Ack,
    token: &str,
    fork: Option<&crate::app::Forked>,
) -> Reply {
    let base = url_base(ctx, req);
    let status_path = format!("{API_PREFIX}/party/{}/status", ack.party_id);
    let response = CreatePartyResponse {
        success: true,
        party_id: &ack.party_id,
        party_token: token,
        input_ids: &ack.input_ids,
        message: match fork {
            Some(_) => "Party forked successfully",
            None => "Party created successfully",
        },
        websocket_url: base.websocket(&format!("{API_PREFIX}/ws/{}", ack.party_id)),
        status_url: base.http(&status_path),
        seq: ack.seq,
        forked_from: fork.map(|f| &f.forked_from),
        copied_results: fork.map(|f| f.copied_results.as_slice()),
    };
    Reply::json(201, &response).with_header("Location", base.path(&status_path))
}

/// Where the URLs handed out to `req` point: `--public-url` when set, else
/// the scheme and host the client used (as a trusted proxy forwarded them,
/// else `http` and `Host`, else the bound address).
fn url_base(ctx: &Ctx, req: &Request) -> UrlBase {
    if let Some(public) = &ctx.public_url {
        return public.base().clone();
    }
    UrlBase {
        scheme: req.scheme(),
        authority: req
            .external_host()
            .map_or_else(|| ctx.local_addr.to_string(), str::to_string),
        prefix: String::new(),
    }
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

/// `GET /party/{party_id}/digest[?seq=N]`, computed on demand from the
/// party's events ([`crate::digest`]): the chain over its events up to the
/// seq, and the digest of its state then (the state this node serves, when
/// no seq is named; else the party folded from its events up to it).
fn party_digest(ctx: &Ctx, party: &Party, req: &Request) -> Result<Reply, ApiError> {
    let at = match req.query("seq") {
        None | Some("") => None,
        Some(s) => Some(s.trim().parse::<u64>().map_err(|_| {
            ApiError::invalid("seq", "seq must be a non-negative integer (an event seq)")
        })?),
    };
    if let Some(seq) = at {
        match ctx.app.caught_up(&party.party_id, seq, AFTER_WAIT) {
            crate::app::CaughtUp::Yes => {}
            crate::app::CaughtUp::NoSuchSeq { last } => {
                return Err(ApiError::invalid(
                    "seq",
                    format!("seq {seq} is past the latest event, seq {last}"),
                ))
            }
            crate::app::CaughtUp::Behind => {
                return Err(ApiError::CatchingUp(format!(
                    "this node has not applied seq {seq} of party {}'s partition within {AFTER_WAIT:?}; retry shortly",
                    party.party_id
                )))
            }
        }
    }
    let events = ctx
        .app
        .events(&party.party_id, 0, usize::MAX)
        .map_err(|e| ApiError::from_app(e, req.id()))?;
    let failed = |e: crate::digest::DigestError| {
        log::error!("request {}: cannot compute a digest: {e}", req.id());
        ApiError::Internal(req.id().to_string())
    };
    let digest = match at {
        Some(seq) => crate::digest::party_digest(&party.party_id, &events, seq)
            .map_err(failed)?
            .ok_or_else(|| ApiError::PartyNotFound(party.party_id.clone()))?,
        None => {
            let mut chain = crate::digest::Chain::new(party.party_id.as_str());
            for e in events.iter().take_while(|e| e.seq <= party.last_seq) {
                chain.push(e).map_err(failed)?;
            }
            crate::digest::PartyDigest {
                seq: party.last_seq,
                events: chain.events(),
                chain: chain.head(),
                state: crate::digest::state_digest(party).map_err(failed)?,
            }
        }
    };
    Ok(Reply::json(
        200,
        &json!({
            "success": true,
            "party_id": party.party_id,
            "seq": digest.seq,
            "events": digest.events,
            "chain": digest.chain,
            "state": digest.state,
        }),
    ))
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
            "cluster": ctx.app.cluster_status(),
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

#[cfg(test)]
mod tests {
    //! Handlers called on hand-built requests, no socket: routed with
    //! [`super::super::routes::resolve`], answered by [`handle`], errors
    //! rendered as the HTTP layer renders them.

    use super::super::config::ServerConfig;
    use super::super::routes;
    use super::*;

    const JSON: (&str, &str) = ("Content-Type", "application/json");

    /// A started app behind a context; stops the app when dropped.
    struct Fixture(Ctx);

    impl Fixture {
        fn new(config: ServerConfig) -> Fixture {
            Fixture(Ctx::for_tests(&config))
        }

        /// Answers one request as the server would (minus the transport).
        fn call(&self, method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
            let (req, mut body) = Request::fake_http(method, url, headers, body.as_bytes());
            let req = req.behind(&self.0.trusted_proxies);
            let (spec, params) = routes::resolve(req.method(), req.path()).expect("a route");
            handle(&self.0, spec.id, &params, &req, &mut body).unwrap_or_else(|e| Reply::error(&e))
        }

        /// Creates a party; returns its id and token.
        fn create(&self) -> (String, String) {
            let body = r#"{"initial_inputs": [{"content": "jungle party for 20 guests"}]}"#;
            let r = self.call("POST", &format!("{API_PREFIX}/party"), &[JSON], body);
            assert_eq!(r.status, 201, "{}", text(&r));
            let v = json_of(&r);
            let id = v["party_id"].as_str().expect("party_id").to_string();
            let token = v["party_token"].as_str().expect("party_token").to_string();
            (id, token)
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            self.0.app.stop();
        }
    }

    fn text(r: &Reply) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    fn json_of(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).expect("a JSON body")
    }

    /// The status and stable `code` of an error reply.
    fn error_of(r: &Reply) -> (u16, String) {
        let v = json_of(r);
        assert_eq!(v["success"], false, "{v}");
        (r.status, v["code"].as_str().expect("code").to_string())
    }

    #[test]
    fn create_party_answers_201_with_a_token_and_urls_from_the_host() {
        let f = Fixture::new(ServerConfig::default());
        let body = r#"{"initial_inputs": [{"content": "jungle party for 20 guests"}]}"#;
        let url = format!("{API_PREFIX}/party");
        let r = f.call("POST", &url, &[JSON, ("Host", "party.example:8080")], body);
        assert_eq!(r.status, 201, "{}", text(&r));
        assert_eq!(r.content_type, "application/json");
        let v = json_of(&r);
        assert_eq!(v["success"], true);
        let id = v["party_id"].as_str().expect("party_id");
        let token = v["party_token"].as_str().expect("party_token");
        assert_eq!(token.len(), 32);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(v["input_ids"].as_array().map(Vec::len), Some(1));
        let status_path = format!("{API_PREFIX}/party/{id}/status");
        assert_eq!(r.header("Location"), Some(status_path.as_str()));
        assert_eq!(
            v["websocket_url"],
            format!("ws://party.example:8080{API_PREFIX}/ws/{id}")
        );
        assert_eq!(
            v["status_url"],
            format!("http://party.example:8080{status_path}")
        );
        // Only the token's hash is kept.
        let party = f.0.app.party(id).expect("stored");
        assert_eq!(
            party.token_sha256.as_deref(),
            Some(auth::sha256_hex(token).as_str())
        );
    }

    #[test]
    fn a_public_url_is_the_base_of_every_url_handed_out() {
        let public: super::super::proxy::PublicUrl =
            "https://example.com/partybus/".parse().expect("valid");
        let f = Fixture::new(ServerConfig {
            public_url: Some(public),
            ..ServerConfig::default()
        });
        let url = format!("{API_PREFIX}/party");
        let r = f.call("POST", &url, &[("Host", "10.0.0.2:9000")], "");
        assert_eq!(r.status, 201, "{}", text(&r));
        let v = json_of(&r);
        let id = v["party_id"].as_str().expect("party_id");
        let status_path = format!("/partybus{API_PREFIX}/party/{id}/status");
        assert_eq!(r.header("Location"), Some(status_path.as_str()));
        assert_eq!(
            v["websocket_url"],
            format!("wss://example.com/partybus{API_PREFIX}/ws/{id}")
        );
        assert_eq!(v["status_url"], format!("https://example.com{status_path}"));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_scheme_and_host_of_the_urls() {
        let forwarded = [
            ("Host", "10.0.0.2:9000"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "party.example.com"),
        ];
        let url = format!("{API_PREFIX}/party");
        let trusted = super::super::proxy::TrustedProxies::parse_list(["127.0.0.0/8"]);
        let f = Fixture::new(ServerConfig {
            trusted_proxies: trusted.expect("valid"),
            ..ServerConfig::default()
        });
        let v = json_of(&f.call("POST", &url, &forwarded, ""));
        let ws = v["websocket_url"].as_str().unwrap_or("");
        assert!(ws.starts_with("wss://party.example.com/api/"), "{ws}");
        let status = v["status_url"].as_str().unwrap_or("");
        assert!(
            status.starts_with("https://party.example.com/api/"),
            "{status}"
        );
        // Not trusted: the same headers change nothing.
        let f = Fixture::new(ServerConfig::default());
        let v = json_of(&f.call("POST", &url, &forwarded, ""));
        let ws = v["websocket_url"].as_str().unwrap_or("");
        assert!(ws.starts_with("ws://10.0.0.2:9000/api/"), "{ws}");
    }

    #[test]
    fn without_a_host_the_urls_use_the_bound_address() {
        let f = Fixture::new(ServerConfig::default());
        let r = f.call("POST", &format!("{API_PREFIX}/party"), &[], "");
        assert_eq!(r.status, 201, "{}", text(&r));
        let url = json_of(&r)["status_url"].as_str().unwrap_or("").to_string();
        assert!(url.starts_with("http://127.0.0.1:8080/"), "{url}");
    }

    #[test]
    fn add_input_needs_the_token_and_answers_201() {
        let f = Fixture::new(ServerConfig::default());
        let (id, token) = f.create();
        let url = format!("{API_PREFIX}/party/{id}/input");
        let body = r#"{"content": "chocolate cake please"}"#;
        let r = f.call("POST", &url, &[JSON], body);
        assert_eq!(error_of(&r), (401, "unauthorized".to_string()));
        let bearer = format!("Bearer {token}");
        let r = f.call("POST", &url, &[JSON, ("Authorization", &bearer)], body);
        assert_eq!(r.status, 201, "{}", text(&r));
        let v = json_of(&r);
        assert_eq!(v["party_id"], id.as_str());
        assert_eq!(v["message"], "Input added successfully");
        assert!(!v["input_id"].as_str().unwrap_or("").is_empty());
        let party = f.0.app.party(&id).expect("stored");
        assert_eq!(party.inputs.len(), 2);
    }

    #[test]
    fn status_with_and_without_a_token() {
        let f = Fixture::new(ServerConfig::default());
        let (id, token) = f.create();
        let url = format!("{API_PREFIX}/party/{id}/status");
        let r = f.call("GET", &url, &[], "");
        assert_eq!(error_of(&r), (401, "unauthorized".to_string()));
        assert!(r.header("WWW-Authenticate").is_some());
        let r = f.call("GET", &url, &[("Authorization", "Bearer 0000")], "");
        assert_eq!(error_of(&r), (403, "forbidden".to_string()));
        let bearer = format!("Bearer {token}");
        let r = f.call("GET", &url, &[("Authorization", &bearer)], "");
        assert_eq!(r.status, 200, "{}", text(&r));
        let v = json_of(&r);
        assert_eq!(v["success"], true);
        assert_eq!(v["party"]["party_id"], id.as_str());
        // The token may come in the query instead.
        let r = f.call("GET", &format!("{url}?token={token}"), &[], "");
        assert_eq!(r.status, 200, "{}", text(&r));
    }

    #[test]
    fn status_needs_no_token_with_auth_off() {
        let f = Fixture::new(ServerConfig {
            auth: AuthMode::Off,
            ..ServerConfig::default()
        });
        let (id, _) = f.create();
        let r = f.call("GET", &format!("{API_PREFIX}/party/{id}/status"), &[], "");
        assert_eq!(r.status, 200, "{}", text(&r));
    }

    #[test]
    fn an_unknown_party_is_404_before_any_token_check() {
        let f = Fixture::new(ServerConfig::default());
        for (method, url, body) in [
            ("GET", format!("{API_PREFIX}/party/nope/status"), ""),
            ("POST", format!("{API_PREFIX}/party/nope/input"), "not json"),
            ("DELETE", format!("{API_PREFIX}/party/nope"), ""),
        ] {
            let r = f.call(method, &url, &[JSON], body);
            assert_eq!(error_of(&r), (404, "party_not_found".to_string()), "{url}");
        }
    }

    #[test]
    fn bad_bodies_get_their_status_and_code() {
        let f = Fixture::new(ServerConfig::default());
        let url = format!("{API_PREFIX}/party");
        let r = f.call("POST", &url, &[JSON], "{not json");
        assert_eq!(error_of(&r), (400, "invalid_json".to_string()));
        let r = f.call("POST", &url, &[("Content-Type", "text/plain")], "{}");
        assert_eq!(error_of(&r), (415, "unsupported_media_type".to_string()));
        let big = format!("\"{}\"", "x".repeat(MAX_BODY));
        let r = f.call("POST", &url, &[JSON], &big);
        assert_eq!(error_of(&r), (413, "payload_too_large".to_string()));
        let r = f.call("POST", &url, &[JSON], r#"{"initial_inputs": 5}"#);
        assert_eq!(error_of(&r), (422, "validation_error".to_string()));

        let (id, token) = f.create();
        let bearer = format!("Bearer {token}");
        let auth = ("Authorization", bearer.as_str());
        let input = format!("{API_PREFIX}/party/{id}/input");
        let r = f.call("POST", &input, &[JSON, auth], "[1,");
        assert_eq!(error_of(&r), (400, "invalid_json".to_string()));
        // Nothing was added.
        assert_eq!(f.0.app.party(&id).map(|p| p.inputs.len()), Some(1));
    }

    /// The body limit the default config sets.
    const MAX_BODY: usize = super::super::config::MAX_BODY_BYTES;

    #[test]
    fn an_idempotency_key_replays_the_first_answer() {
        let f = Fixture::new(ServerConfig::default());
        let url = format!("{API_PREFIX}/party");
        let key = ("Idempotency-Key", "key-1");
        let first = f.call("POST", &url, &[JSON, key], "{}");
        assert_eq!(first.status, 201, "{}", text(&first));
        let again = f.call("POST", &url, &[JSON, key], "{}");
        assert_eq!(again.status, 201);
        assert_eq!(again.body, first.body);
        assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    }

    #[test]
    fn the_websocket_check_reads_since_and_the_token() {
        let f = Fixture::new(ServerConfig::default());
        let (id, token) = f.create();
        let url = format!("{API_PREFIX}/ws/{id}");
        let (spec, params) = routes::resolve("GET", &url).expect("a route");
        assert_eq!(spec.id, RouteId::WebSocket);
        let check = |url: &str| {
            let (req, _) = Request::fake_http("GET", url, &[], b"");
            authorize_ws(&f.0, &params, &req)
        };
        assert_eq!(check(&url), Err(ApiError::Unauthorized));
        let ok = check(&format!("{url}?token={token}&since=7")).expect("let in");
        assert_eq!((ok.party_id.as_str(), ok.since), (id.as_str(), Some(7)));
        assert_eq!(ok.party_token, Some(auth::sha256_hex(&token)));
        let bad = check(&format!("{url}?token={token}&since=-1"));
        assert_eq!(bad.map_err(|e| e.code().as_str()), Err("validation_error"));
    }

    #[test]
    fn a_diff_needs_both_tokens_or_the_admin_token() {
        let f = Fixture::new(ServerConfig {
            admin_token: Some("root-secret".into()),
            ..ServerConfig::default()
        });
        let (a, ta) = f.create();
        let (b, tb) = f.create();
        let url = format!("{API_PREFIX}/party/{a}/diff/{b}");
        let bearer = |t: &str| format!("Bearer {t}");
        let (ba, bb) = (bearer(&ta), bearer(&tb));
        let r = f.call(
            "GET",
            &url,
            &[("Authorization", &ba), (OTHER_TOKEN_HEADER, &tb)],
            "",
        );
        assert_eq!(r.status, 200, "{}", text(&r));
        let v = json_of(&r);
        assert_eq!(
            (v["a"].as_str(), v["b"].as_str()),
            (Some(a.as_str()), Some(b.as_str()))
        );
        // a's token alone, or b's token as a's: not enough.
        let r = f.call("GET", &url, &[("Authorization", &ba)], "");
        assert_eq!(error_of(&r), (401, "unauthorized".to_string()));
        let r = f.call(
            "GET",
            &url,
            &[("Authorization", &ba), (OTHER_TOKEN_HEADER, &ta)],
            "",
        );
        assert_eq!(error_of(&r), (403, "forbidden".to_string()));
        let r = f.call(
            "GET",
            &url,
            &[("Authorization", &bb), (OTHER_TOKEN_HEADER, &tb)],
            "",
        );
        assert_eq!(error_of(&r), (403, "forbidden".to_string()));
        // The admin token opens both.
        let r = f.call("GET", &url, &[("Authorization", "Bearer root-secret")], "");
        assert_eq!(r.status, 200, "{}", text(&r));
        // An unknown party on either side is 404 naming it.
        let r = f.call(
            "GET",
            &format!("{API_PREFIX}/party/{a}/diff/nope"),
            &[("Authorization", &ba)],
            "",
        );
        assert_eq!(error_of(&r), (404, "party_not_found".to_string()));
        assert!(json_of(&r)["detail"]
            .as_str()
            .is_some_and(|d| d.contains("nope")));
        let r = f.call("GET", &format!("{API_PREFIX}/party/nope/diff/{b}"), &[], "");
        assert_eq!(error_of(&r), (404, "party_not_found".to_string()));
    }
}
