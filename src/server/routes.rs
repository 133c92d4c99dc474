//! The route table: every route the server answers, with its method, path
//! template, access rule and documented responses, and the router that maps a
//! request line onto it.
//!
//! Owns routing only. [`ROUTES`] is the one list that the router's `match`,
//! the OpenAPI document and the metrics labels all use; a unit test checks that
//! each template resolves to its own route, and the HTTP tests check the served
//! document against the router both ways. CORS preflights are routed with the
//! same table ([`resolve`] for the announced method, [`allowed_methods`] for
//! the answer). Must not read bodies or touch the app.

use super::error::Code;

/// Prefix of the party API (the prototype's mount point).
pub const API_PREFIX: &str = "/api/v1/event-driven";

/// An HTTP method the router knows. Anything else can only get 405.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GET (HEAD is answered as GET without a body).
    Get,
    /// POST.
    Post,
    /// DELETE.
    Delete,
    /// PUT (no route uses it; listed so 405 can name the allowed ones).
    Put,
    /// PATCH (no route uses it).
    Patch,
}

impl Method {
    /// Methods probed to build an `Allow` header, in header order.
    pub const PROBED: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }

    /// Parses a request method; HEAD routes as GET. `None` for other methods.
    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "GET" | "HEAD" => Some(Method::Get),
            "POST" => Some(Method::Post),
            "DELETE" => Some(Method::Delete),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            _ => None,
        }
    }
}

/// Every route, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteId {
    /// `POST /party`.
    CreateParty,
    /// `POST /party/{party_id}/input`.
    AddInput,
    /// `DELETE /party/{party_id}/input/{input_id}`.
    RemoveInput,
    /// `GET /party/{party_id}/status`.
    PartyStatus,
    /// `GET /party/{party_id}/plan`.
    PartyPlan,
    /// `GET /party/{party_id}/events`.
    PartyEvents,
    /// `DELETE /party/{party_id}`.
    DeleteParty,
    /// `GET /party/{party_id}/export`.
    PartyExport,
    /// `POST /party/{party_id}/token`.
    RotateToken,
    /// `GET /party/{party_id}/diff/{other_id}`.
    PartyDiff,
    /// `POST /party/{party_id}/fork`.
    ForkParty,
    /// `GET /party/{party_id}/digest`.
    PartyDigest,
    /// `GET /system/status`.
    SystemStatus,
    /// `GET /system/health`.
    SystemHealth,
    /// `GET /ws/{party_id}` (WebSocket upgrade).
    WebSocket,
    /// `GET /livez`.
    Livez,
    /// `GET /readyz`.
    Readyz,
    /// `GET /health`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// `GET /openapi.json`.
    OpenApi,
    /// `GET /`: the live planning page (HTML).
    WebApp,
    /// `GET /app.js`: the planning page's script.
    WebAppJs,
    /// `GET /app.css`: the stylesheet of the planning page and the docs.
    WebAppCss,
    /// `GET /docs`: the API reference, rendered from `/openapi.json` (HTML).
    WebDocs,
    /// `GET /docs.js`: the API reference's renderer.
    WebDocsJs,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// The party's token (or the admin token); open with `--auth off`.
    Party,
    /// The admin token, when one is configured.
    Admin,
}

/// What a route takes as a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body.
    None,
    /// A JSON object (schema name in the OpenAPI components).
    Json(&'static str),
}

/// One row of the route table.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// The route.
    pub id: RouteId,
    /// Its method.
    pub method: Method,
    /// Full path template, `{name}` for parameters.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One-line summary (OpenAPI `summary`).
    pub summary: &'static str,
    /// Request body.
    pub body: BodyKind,
    /// Query parameters: name, description.
    pub query: &'static [(&'static str, &'static str)],
    /// Success status.
    pub success: u16,
    /// Success response: schema name in the components, or `text`, `html`,
    /// `javascript` or `css` for a non-JSON body of that kind.
    pub response: &'static str,
    /// Error codes this route can answer with (besides `internal_error`).
    pub errors: &'static [Code],
}

use Code::*;

const PARTY_ERRORS: &[Code] = &[Unauthorized, Forbidden, PartyNotFound, NotReady];
/// Every route. The router's `match` below and this table must agree (tested).
pub const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        id: RouteId::CreateParty,
        method: Method::Post,
        path: "/api/v1/event-driven/party",
        access: Access::Public,
        summary: "Create a party, optionally with initial inputs; returns its access token",
        body: BodyKind::Json("CreatePartyRequest"),
        query: &[],
        success: 201,
        response: "CreatePartyResponse",
        errors: &[
            InvalidJson,
            Conflict,
            TooManyInputs,
            Capacity,
            PayloadTooLarge,
            UnsupportedMediaType,
            ValidationError,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::AddInput,
        method: Method::Post,
        path: "/api/v1/event-driven/party/{party_id}/input",
        access: Access::Party,
        summary: "Add an input (stored verbatim) and replan",
        body: BodyKind::Json("AddInputRequest"),
        query: &[],
        success: 201,
        response: "AddInputResponse",
        errors: &[
            InvalidJson,
            Unauthorized,
            Forbidden,
            PartyNotFound,
            Conflict,
            TooManyInputs,
            PayloadTooLarge,
            UnsupportedMediaType,
            ValidationError,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::RemoveInput,
        method: Method::Delete,
        path: "/api/v1/event-driven/party/{party_id}/input/{input_id}",
        access: Access::Party,
        summary: "Remove an input and replan without it",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "RemoveInputResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            InputNotFound,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::PartyStatus,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/status",
        access: Access::Party,
        summary: "The party's full state: inputs, agents (results and errors), budget, plan",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "PartyStatusResponse",
        errors: PARTY_ERRORS,
    },
    RouteSpec {
        id: RouteId::PartyPlan,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/plan",
        access: Access::Party,
        summary: "The final plan and budget alone",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "PartyPlanResponse",
        errors: PARTY_ERRORS,
    },
    RouteSpec {
        id: RouteId::PartyEvents,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/events",
        access: Access::Party,
        summary: "The party's events in seq order, paged",
        body: BodyKind::None,
        query: &[
            (
                "since",
                "Return events with seq greater than this (default 0)",
            ),
            ("limit", "Page size, 1 to 1000 (default 100)"),
        ],
        success: 200,
        response: "PartyEventsResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            ValidationError,
            NotReady,
            JournalUnavailable,
        ],
    },
    RouteSpec {
        id: RouteId::PartyExport,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/export",
        access: Access::Party,
        summary: "The plan to take away: budget lines and checklist, as JSON or CSV",
        body: BodyKind::None,
        query: &[("format", "json (default) or csv")],
        success: 200,
        response: "PartyExport",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            ValidationError,
            NotReady,
        ],
    },
    RouteSpec {
        id: RouteId::DeleteParty,
        method: Method::Delete,
        path: "/api/v1/event-driven/party/{party_id}",
        access: Access::Party,
        summary: "Delete the party; its WebSocket clients get a close frame",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "DeletePartyResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::RotateToken,
        method: Method::Post,
        path: "/api/v1/event-driven/party/{party_id}/token",
        access: Access::Party,
        summary:
            "Replace the party's token; returns the new one, the old one gets 403 from then on",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "RotateTokenResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::PartyDiff,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/diff/{other_id}",
        access: Access::Party,
        summary: "What differs from this party's plan to another's: facts, suppliers per area \
            and why, budget per category, completion; the other party's token in `X-Other-Token` \
            (or the admin token for both)",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "PlanDiff",
        errors: PARTY_ERRORS,
    },
    RouteSpec {
        id: RouteId::ForkParty,
        method: Method::Post,
        path: "/api/v1/event-driven/party/{party_id}/fork",
        access: Access::Party,
        summary: "What if…: a new party with this one's inputs as of `at_seq` (default: now), \
            then `changes`; agents whose inputs the changes leave alone reuse the original's \
            results. Returns the fork's own token",
        body: BodyKind::Json("ForkPartyRequest"),
        query: &[],
        success: 201,
        response: "ForkPartyResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            InvalidJson,
            Conflict,
            TooManyInputs,
            Capacity,
            PayloadTooLarge,
            UnsupportedMediaType,
            ValidationError,
            Overloaded,
            NotReady,
            Timeout,
            JournalUnavailable,
            JournalReadOnly,
            InsufficientStorage,
        ],
    },
    RouteSpec {
        id: RouteId::PartyDigest,
        method: Method::Get,
        path: "/api/v1/event-driven/party/{party_id}/digest",
        access: Access::Party,
        summary: "The party's chain digest over its events and the digest of its folded state, \
            as of a seq (docs/api.md, \"Determinism and verification\")",
        body: BodyKind::None,
        query: &[(
            "seq",
            "The party's state as of this seq (default: its latest event)",
        )],
        success: 200,
        response: "PartyDigestResponse",
        errors: &[
            Unauthorized,
            Forbidden,
            PartyNotFound,
            ValidationError,
            NotReady,
            CatchingUp,
            JournalUnavailable,
        ],
    },
    RouteSpec {
        id: RouteId::SystemStatus,
        method: Method::Get,
        path: "/api/v1/event-driven/system/status",
        access: Access::Admin,
        summary: "Bus, store, agents, dead letters, queue depths, uptime and connections",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "SystemStatusResponse",
        errors: &[Unauthorized, Forbidden, NotReady],
    },
    RouteSpec {
        id: RouteId::SystemHealth,
        method: Method::Get,
        path: "/api/v1/event-driven/system/health",
        access: Access::Public,
        summary: "Whether the orchestrator runs",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "SystemHealthResponse",
        errors: &[NotReady],
    },
    RouteSpec {
        id: RouteId::WebSocket,
        method: Method::Get,
        path: "/api/v1/event-driven/ws/{party_id}",
        access: Access::Party,
        summary: "Live event stream (WebSocket upgrade); replays events after `since` first",
        body: BodyKind::None,
        query: &[
            (
                "token",
                "The party token (browsers cannot set headers on WebSockets)",
            ),
            (
                "since",
                "Replay every event with seq greater than this before live events",
            ),
        ],
        success: 101,
        response: "WebSocketMessage",
        errors: &[
            BadUpgrade,
            Unauthorized,
            Forbidden,
            CorsOriginNotAllowed,
            PartyNotFound,
            ValidationError,
            TooManyClients,
            NotReady,
        ],
    },
    RouteSpec {
        id: RouteId::Livez,
        method: Method::Get,
        path: "/livez",
        access: Access::Public,
        summary: "Liveness: the process answers",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "Probe",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::Readyz,
        method: Method::Get,
        path: "/readyz",
        access: Access::Public,
        summary: "Readiness: 503 while starting or shutting down",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "Probe",
        errors: &[NotReady],
    },
    RouteSpec {
        id: RouteId::Health,
        method: Method::Get,
        path: "/health",
        access: Access::Public,
        summary: "Service health and version; 503 (`not_ready`, with the same fields) when unhealthy",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "Health",
        errors: &[NotReady],
    },
    RouteSpec {
        id: RouteId::Metrics,
        method: Method::Get,
        path: "/metrics",
        access: Access::Admin,
        summary: "Prometheus metrics (text exposition format 0.0.4); the admin token or the metrics token (`--metrics-token`)",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "text",
        errors: &[Unauthorized, Forbidden],
    },
    RouteSpec {
        id: RouteId::OpenApi,
        method: Method::Get,
        path: "/openapi.json",
        access: Access::Public,
        summary: "This OpenAPI 3.1 document",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "OpenApiDocument",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::WebApp,
        method: Method::Get,
        path: "/",
        access: Access::Public,
        summary: "The live planning page (a token-bearing share link is `/#party=ID&token=TOKEN`)",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "html",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::WebAppJs,
        method: Method::Get,
        path: "/app.js",
        access: Access::Public,
        summary: "The planning page's script",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "javascript",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::WebAppCss,
        method: Method::Get,
        path: "/app.css",
        access: Access::Public,
        summary: "The stylesheet of the planning page and the API reference",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "css",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::WebDocs,
        method: Method::Get,
        path: "/docs",
        access: Access::Public,
        summary: "The API reference, rendered in the browser from /openapi.json",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "html",
        errors: &[],
    },
    RouteSpec {
        id: RouteId::WebDocsJs,
        method: Method::Get,
        path: "/docs.js",
        access: Access::Public,
        summary: "The API reference's renderer",
        body: BodyKind::None,
        query: &[],
        success: 200,
        response: "javascript",
        errors: &[],
    },
];

/// Path parameters of a matched route.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// `{party_id}`.
    pub party_id: Option<String>,
    /// `{input_id}`.
    pub input_id: Option<String>,
    /// `{other_id}`: the second party of a diff.
    pub other_id: Option<String>,
}

/// Why a request line matched no route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// The path exists for other methods; the `Allow` header value.
    MethodNotAllowed(String),
}

impl RouteId {
    /// The route's row in [`ROUTES`].
    pub fn spec(self) -> &'static RouteSpec {
        // Every RouteId has exactly one row (unit-tested); fall back to the
        // first row rather than panic if that invariant were ever broken.
        ROUTES.iter().find(|r| r.id == self).unwrap_or(&ROUTES[0])
    }
}

/// Maps a method and a path (without query string) to a route.
pub fn resolve(method: &str, path: &str) -> Result<(&'static RouteSpec, Params), Miss> {
    let segs = segments(path);
    if let Some(m) = Method::parse(method) {
        if let Some((id, params)) = route(m, &segs) {
            return Ok((id.spec(), params));
        }
    }
    match allow(&segs) {
        None => Err(Miss::NotFound),
        Some(allow) => Err(Miss::MethodNotAllowed(allow)),
    }
}

/// The methods served at `path` (without query string), as an `Allow`
/// header value (`GET, HEAD`, `POST`, ...); `None` when no route has this
/// path. Used for 405 answers and CORS preflights alike.
pub fn allowed_methods(path: &str) -> Option<String> {
    allow(&segments(path))
}

fn segments(path: &str) -> Vec<&str> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

fn allow(segs: &[&str]) -> Option<String> {
    let allowed: Vec<&str> = Method::PROBED
        .into_iter()
        .filter(|m| route(*m, segs).is_some())
        .map(Method::as_str)
        .collect();
    if allowed.is_empty() {
        return None;
    }
    let mut allow = allowed.join(", ");
    if allowed.contains(&"GET") {
        allow.push_str(", HEAD");
    }
    Some(allow)
}

/// The router: one `match` over method and path segments.
fn route(method: Method, segs: &[&str]) -> Option<(RouteId, Params)> {
    use Method::{Delete, Get, Post};
    use RouteId::*;
    // The root alone is the planning page.
    if segs == [""] {
        return (method == Get).then_some((WebApp, Params::default()));
    }
    // An empty segment (`//`, a trailing `/`) never names anything.
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let none = Params::default();
    let party = |id: &str| Params {
        party_id: Some(id.to_string()),
        ..Params::default()
    };
    let (api, rest) = match segs {
        ["api", "v1", "event-driven", rest @ ..] => (true, rest),
        _ => (false, segs),
    };
    Some(match (method, api, rest) {
        (Get, false, ["livez"]) => (Livez, none),
        (Get, false, ["readyz"]) => (Readyz, none),
        (Get, false, ["health"]) => (Health, none),
        (Get, false, ["metrics"]) => (Metrics, none),
        (Get, false, ["openapi.json"]) => (OpenApi, none),
        (Get, false, ["app.js"]) => (WebAppJs, none),
        (Get, false, ["app.css"]) => (WebAppCss, none),
        (Get, false, ["docs"]) => (WebDocs, none),
        (Get, false, ["docs.js"]) => (WebDocsJs, none),
        (Post, true, ["party"]) => (CreateParty, none),
        (Post, true, ["party", id, "input"]) => (AddInput, party(id)),
        (Delete, true, ["party", id, "input", input]) => (
            RemoveInput,
            Params {
                party_id: Some(id.to_string()),
                input_id: Some(input.to_string()),
                ..Params::default()
            },
        ),
        (Get, true, ["party", id, "status"]) => (PartyStatus, party(id)),
        (Get, true, ["party", id, "plan"]) => (PartyPlan, party(id)),
        (Get, true, ["party", id, "events"]) => (PartyEvents, party(id)),
        (Get, true, ["party", id, "export"]) => (PartyExport, party(id)),
        (Delete, true, ["party", id]) => (DeleteParty, party(id)),
        (Post, true, ["party", id, "token"]) => (RotateToken, party(id)),
        (Post, true, ["party", id, "fork"]) => (ForkParty, party(id)),
        (Get, true, ["party", id, "diff", other]) => (
            PartyDiff,
            Params {
                party_id: Some(id.to_string()),
                other_id: Some(other.to_string()),
                ..Params::default()
            },
        ),
        (Get, true, ["party", id, "digest"]) => (PartyDigest, party(id)),
        (Get, true, ["system", "status"]) => (SystemStatus, none),
        (Get, true, ["system", "health"]) => (SystemHealth, none),
        (Get, true, ["ws", id]) => (WebSocket, party(id)),
        _ => return None,
    })
}

/// The `{party_id}` a party or WebSocket route's path names, without
/// resolving the route (for log lines: no allocation); `None` for any other
/// path. Whether the route exists is not checked.
pub fn party_id_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(API_PREFIX)?;
    let rest = rest
        .strip_prefix("/party/")
        .or_else(|| rest.strip_prefix("/ws/"))?;
    let id = rest.split('/').next().unwrap_or_default();
    (!id.is_empty()).then_some(id)
}

/// Fills a path template with sample values (`{party_id}` → `p1`, ...).
pub fn sample_path(template: &str) -> String {
    template
        .replace("{party_id}", "p1")
        .replace("{input_id}", "inp_1")
        .replace("{other_id}", "p2")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_template_resolves_to_its_own_route() {
        for spec in ROUTES {
            let (got, _) =
                resolve(spec.method.as_str(), &sample_path(spec.path)).unwrap_or_else(|e| {
                    panic!(
                        "{} {} does not resolve: {e:?}",
                        spec.method.as_str(),
                        spec.path
                    )
                });
            assert_eq!(got.id, spec.id, "{}", spec.path);
        }
    }

    #[test]
    fn each_route_has_exactly_one_row() {
        let ids: HashSet<RouteId> = ROUTES.iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), ROUTES.len());
        let pairs: HashSet<(Method, &str)> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(pairs.len(), ROUTES.len());
    }

    #[test]
    fn params_are_extracted() {
        let (spec, p) = resolve("DELETE", "/api/v1/event-driven/party/abc/input/inp_9").unwrap();
        assert_eq!(spec.id, RouteId::RemoveInput);
        assert_eq!(p.party_id.as_deref(), Some("abc"));
        assert_eq!(p.input_id.as_deref(), Some("inp_9"));
    }

    #[test]
    fn a_diff_names_both_parties() {
        let (spec, p) = resolve("GET", "/api/v1/event-driven/party/a1/diff/b2").unwrap();
        assert_eq!(spec.id, RouteId::PartyDiff);
        assert_eq!(p.party_id.as_deref(), Some("a1"));
        assert_eq!(p.other_id.as_deref(), Some("b2"));
        assert_eq!(
            resolve("POST", "/api/v1/event-driven/party/a1/diff/b2").unwrap_err(),
            Miss::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(
            resolve("GET", "/api/v1/event-driven/party/a1/diff").unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(
            resolve("GET", "/api/v1/event-driven/party/a1/diff/b2/x").unwrap_err(),
            Miss::NotFound
        );
    }

    #[test]
    fn wrong_method_lists_allowed_ones_and_unknown_path_is_not_found() {
        assert_eq!(
            resolve("PUT", "/api/v1/event-driven/party/x").unwrap_err(),
            Miss::MethodNotAllowed("DELETE".into())
        );
        assert_eq!(
            resolve("POST", "/livez").unwrap_err(),
            Miss::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(resolve("GET", "/").unwrap().0.id, RouteId::WebApp);
        assert_eq!(
            resolve("POST", "/").unwrap_err(),
            Miss::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(resolve("GET", "//").unwrap_err(), Miss::NotFound);
        assert_eq!(resolve("GET", "/docs/").unwrap_err(), Miss::NotFound);
        assert_eq!(
            resolve("GET", "/api/v1/event-driven/party/").unwrap_err(),
            Miss::NotFound
        );
        assert_eq!(resolve("BREW", "/nope").unwrap_err(), Miss::NotFound);
        assert_eq!(
            resolve("BREW", "/livez").unwrap_err(),
            Miss::MethodNotAllowed("GET, HEAD".into())
        );
        assert_eq!(resolve("HEAD", "/livez").unwrap().0.id, RouteId::Livez);
    }

    #[test]
    fn allowed_methods_name_what_a_path_serves() {
        assert_eq!(allowed_methods("/livez").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allowed_methods("/api/v1/event-driven/party").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allowed_methods("/api/v1/event-driven/party/x").as_deref(),
            Some("DELETE")
        );
        assert_eq!(allowed_methods("/nope"), None);
        assert_eq!(allowed_methods("/api/v1/event-driven/party//status"), None);
    }

    #[test]
    fn party_ids_are_read_from_party_and_websocket_paths() {
        let api = API_PREFIX;
        assert_eq!(party_id_of(&format!("{api}/party/p1/status")), Some("p1"));
        assert_eq!(party_id_of(&format!("{api}/party/p1")), Some("p1"));
        assert_eq!(party_id_of(&format!("{api}/ws/p2")), Some("p2"));
        assert_eq!(party_id_of(&format!("{api}/party")), None);
        assert_eq!(party_id_of(&format!("{api}/party//status")), None);
        assert_eq!(party_id_of("/party/p1/status"), None);
        assert_eq!(party_id_of("/livez"), None);
        // Every party route's template yields its sample id.
        for r in ROUTES.iter().filter(|r| r.path.contains("{party_id}")) {
            assert_eq!(party_id_of(&sample_path(r.path)), Some("p1"), "{}", r.path);
        }
    }
}
