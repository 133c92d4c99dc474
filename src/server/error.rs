//! The API's errors: one enum, [`ApiError`], and the single mapping from each
//! variant to an HTTP status, a stable machine-readable `code`, and the JSON
//! body `{"success": false, "detail": "...", "code": "..."}` (DESIGN.md).
//!
//! Owns that mapping and nothing else. Codes are part of the public contract:
//! never rename one. Input-derived failures are never 500; `internal_error`
//! is kept for the server's own faults (a panic caught in a handler, a failed
//! journal), and its detail never carries internal text.

use serde::Serialize;

use crate::AppError;

/// A stable error code, with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// 400: the body is not valid JSON.
    InvalidJson,
    /// 400: a WebSocket route was called without a valid upgrade handshake.
    BadUpgrade,
    /// 400: the request line or a header cannot be read (not ASCII, or not
    /// `name: value`); written by the connection layer, which then closes.
    MalformedRequest,
    /// 401: no token was presented.
    Unauthorized,
    /// 403: the token presented is not the right one.
    Forbidden,
    /// 403: a browser page from an origin that is not allowed (a CORS
    /// preflight, or a WebSocket handshake from another site).
    CorsOriginNotAllowed,
    /// 404: no such party.
    PartyNotFound,
    /// 404: no such input in the party.
    InputNotFound,
    /// 404: no such route.
    NotFound,
    /// 405: the path exists, the method does not (see `Allow`).
    MethodNotAllowed,
    /// 409: the id is taken.
    Conflict,
    /// 409: the party already has its maximum number of inputs.
    TooManyInputs,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 422: the JSON does not match the schema; `field` names the culprit.
    ValidationError,
    /// 408: the request did not arrive within the request timeout, or
    /// stalled part-way (written by the connection layer, which then
    /// closes).
    RequestTimeout,
    /// 417: an `Expect` header other than `100-continue` (written by the
    /// connection layer, which then closes).
    ExpectationFailed,
    /// 429: the client's IP is over its rate limit (see `Retry-After`).
    RateLimited,
    /// 431: the request line and headers exceed the header limit (written by
    /// the connection layer, before routing).
    HeaderTooLarge,
    /// 503: too many commands are waiting.
    Overloaded,
    /// 503: the app holds its maximum number of parties.
    Capacity,
    /// 503: too many open HTTP connections (written by the accept loop).
    TooManyConnections,
    /// 503: starting, shutting down, or the core is not running.
    NotReady,
    /// 503: too many WebSocket clients.
    TooManyClients,
    /// 503: the command was accepted but not applied in time.
    Timeout,
    /// The cluster's shared log (Redis) cannot be reached, or the journal
    /// cannot be written (for a reason other than the two below) or read.
    JournalUnavailable,
    /// 507: the journal's disk is full.
    InsufficientStorage,
    /// 503: the journal's data directory or file system is read-only.
    JournalReadOnly,
    /// This node has not yet applied what the client says it saw
    /// (`X-Partybus-After`).
    CatchingUp,
    /// 500: a fault of the server itself.
    Internal,
    /// 505: an HTTP version above 1.1 (written by the connection layer).
    HttpVersionNotSupported,
}

impl Code {
    /// Every code, in status order.
    pub const ALL: [Code; 31] = [
        Code::InvalidJson,
        Code::BadUpgrade,
        Code::MalformedRequest,
        Code::Unauthorized,
        Code::Forbidden,
        Code::CorsOriginNotAllowed,
        Code::PartyNotFound,
        Code::InputNotFound,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Conflict,
        Code::TooManyInputs,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::ValidationError,
        Code::RequestTimeout,
        Code::ExpectationFailed,
        Code::RateLimited,
        Code::HeaderTooLarge,
        Code::Overloaded,
        Code::Capacity,
        Code::TooManyConnections,
        Code::NotReady,
        Code::TooManyClients,
        Code::Timeout,
        Code::JournalUnavailable,
        Code::JournalReadOnly,
        Code::CatchingUp,
        Code::Internal,
        Code::HttpVersionNotSupported,
        Code::InsufficientStorage,
    ];

    /// Codes any route can answer with, documented on every operation:
    /// server faults, the connection layer's refusals, and routing misses
    /// (an empty path parameter, e.g. `party//status`, routes nowhere).
    pub const GLOBAL: [Code; 10] = [
        Code::Internal,
        Code::MalformedRequest,
        Code::RequestTimeout,
        Code::ExpectationFailed,
        Code::HttpVersionNotSupported,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::RateLimited,
        Code::HeaderTooLarge,
        Code::TooManyConnections,
    ];

    /// The HTTP status.
    pub fn status(self) -> u16 {
        match self {
            Code::InvalidJson | Code::BadUpgrade | Code::MalformedRequest => 400,
            Code::Unauthorized => 401,
            Code::Forbidden | Code::CorsOriginNotAllowed => 403,
            Code::PartyNotFound | Code::InputNotFound | Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::Conflict | Code::TooManyInputs => 409,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::ValidationError => 422,
            Code::RequestTimeout => 408,
            Code::ExpectationFailed => 417,
            Code::HttpVersionNotSupported => 505,
            Code::RateLimited => 429,
            Code::HeaderTooLarge => 431,
            Code::Overloaded
            | Code::Capacity
            | Code::TooManyConnections
            | Code::NotReady
            | Code::TooManyClients
            | Code::Timeout
            | Code::JournalUnavailable
            | Code::JournalReadOnly
            | Code::CatchingUp => 503,
            Code::Internal => 500,
            Code::InsufficientStorage => 507,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJson => "invalid_json",
            Code::BadUpgrade => "bad_upgrade",
            Code::MalformedRequest => "malformed_request",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::CorsOriginNotAllowed => "cors_origin_not_allowed",
            Code::PartyNotFound => "party_not_found",
            Code::InputNotFound => "input_not_found",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Conflict => "conflict",
            Code::TooManyInputs => "too_many_inputs",
            Code::HeaderTooLarge => "header_too_large",
            Code::RateLimited => "rate_limited",
            Code::Capacity => "capacity",
            Code::TooManyConnections => "too_many_connections",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::ValidationError => "validation_error",
            Code::Overloaded => "overloaded",
            Code::NotReady => "not_ready",
            Code::TooManyClients => "too_many_clients",
            Code::Timeout => "timeout",
            Code::JournalUnavailable => "journal_unavailable",
            Code::InsufficientStorage => "insufficient_storage",
            Code::JournalReadOnly => "journal_read_only",
            Code::CatchingUp => "catching_up",
            Code::Internal => "internal_error",
            Code::RequestTimeout => "request_timeout",
            Code::ExpectationFailed => "expectation_failed",
            Code::HttpVersionNotSupported => "http_version_not_supported",
        }
    }

    /// What the code means, for the OpenAPI document.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::InvalidJson => "The body is not valid JSON.",
            Code::BadUpgrade => "Not a valid WebSocket upgrade request.",
            Code::MalformedRequest => {
                "The request line or a header cannot be read (not ASCII, or not `name: value`); the connection is closed."
            }
            Code::Unauthorized => "No token: send `Authorization: Bearer <token>` or `?token=`.",
            Code::Forbidden => "The token does not grant access.",
            Code::CorsOriginNotAllowed => {
                "A browser page from an origin the server does not allow (`--cors-origin`)."
            }
            Code::PartyNotFound => "No such party (or it was deleted).",
            Code::InputNotFound => "No such input in this party.",
            Code::NotFound => "No such route.",
            Code::MethodNotAllowed => "The path exists for other methods; see `Allow`.",
            Code::Conflict => "The chosen id is already taken.",
            Code::TooManyInputs => "The party has its maximum number of inputs (default 200).",
            Code::PayloadTooLarge => "The body exceeds the body limit (64 KiB by default).",
            Code::HeaderTooLarge => "The request line and headers exceed the header limit.",
            Code::RateLimited => {
                "Too many requests from this IP; retry after `Retry-After` seconds."
            }
            Code::Capacity => "partybus holds its maximum number of parties.",
            Code::TooManyConnections => "Too many open HTTP connections; retry shortly.",
            Code::UnsupportedMediaType => "The body is not `application/json`.",
            Code::ValidationError => {
                "The body or a parameter violates the schema; `field` names it."
            }
            Code::Overloaded => "Too many commands are waiting; retry shortly.",
            Code::NotReady => "Starting, shutting down, or not running.",
            Code::TooManyClients => "Too many WebSocket clients.",
            Code::Timeout => "Accepted but not applied in time; it will still be applied.",
            Code::JournalUnavailable => {
                "The journal cannot be used: a cluster node cannot reach its shared log (Redis), or the disk failed (a read, or a write: nothing was written unless the detail says it may have been). Retry after `Retry-After`."
            }
            Code::InsufficientStorage => {
                "The journal's disk is full: nothing of the command was written, and writes are refused until space is freed (reads go on). Retry after `Retry-After`."
            }
            Code::JournalReadOnly => {
                "The journal's data directory is read-only: nothing of the command was written, and writes are refused until it is writable again (reads go on). Retry after `Retry-After`."
            }
            Code::CatchingUp => {
                "This cluster node has not yet applied the `seq` named by `X-Partybus-After` within its wait (2 s); retry, or ask another node."
            }
            Code::Internal => "A fault of the server itself.",
            Code::RequestTimeout => {
                "The request line, headers and body did not arrive within the request timeout (`--request-timeout`); the connection is closed."
            }
            Code::ExpectationFailed => {
                "An `Expect` header other than `100-continue`; the connection is closed."
            }
            Code::HttpVersionNotSupported => "Only HTTP/1.0 and HTTP/1.1 are served.",
        }
    }
}

/// Why a request failed. Each variant maps to one [`Code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON.
    #[error("malformed JSON body: {0}")]
    InvalidJson(String),
    /// Not a WebSocket handshake.
    #[error("{0}")]
    BadUpgrade(String),
    /// No token presented.
    #[error("missing access token: send `Authorization: Bearer <token>` or `?token=<token>`")]
    Unauthorized,
    /// Wrong token.
    #[error("the token does not grant access to this resource")]
    Forbidden,
    /// A CORS preflight or WebSocket handshake from an origin that is not
    /// allowed; carries the origin (cut to a readable length).
    #[error("origin {0:?} may not use this server from a browser; its operator can allow it with --cors-origin")]
    CorsOriginNotAllowed(String),
    /// Unknown party.
    #[error("Party {0} not found")]
    PartyNotFound(String),
    /// Unknown input.
    #[error("Input {input_id} not found in party {party_id}")]
    InputNotFound {
        /// Party.
        party_id: String,
        /// Input.
        input_id: String,
    },
    /// Unknown route.
    #[error("no route for {method} {path}")]
    NotFound {
        /// Request method.
        method: String,
        /// Request path.
        path: String,
    },
    /// Wrong method.
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// Request method.
        method: String,
        /// Value of the `Allow` header.
        allow: String,
    },
    /// Duplicate id.
    #[error("{0}")]
    Conflict(String),
    /// Body too large.
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Body not JSON.
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
    /// Schema violation.
    #[error("{message}")]
    Validation {
        /// The offending field, e.g. `initial_inputs[1].source_type`.
        field: String,
        /// What is wrong, naming the field.
        message: String,
    },
    /// Too many commands waiting.
    #[error("partybus is overloaded; retry shortly")]
    Overloaded,
    /// The client's IP is over its rate limit.
    #[error("too many {class} requests from your address; retry in {retry_after_secs} s")]
    RateLimited {
        /// `read` or `write`.
        class: &'static str,
        /// Whole seconds until a request will be allowed (at least 1).
        retry_after_secs: u64,
    },
    /// The party cap is reached; the detail names it.
    #[error("{0}")]
    Capacity(String),
    /// The party's input cap is reached; the detail names it.
    #[error("{0}")]
    TooManyInputs(String),
    /// Not ready.
    #[error("{0}")]
    NotReady(String),
    /// Too many WebSocket clients.
    #[error("too many WebSocket clients; retry later")]
    TooManyClients,
    /// Accepted but not applied in time.
    #[error("{0}")]
    Timeout(String),
    /// The cluster's shared log is unreachable, or the journal failed.
    #[error("{0}")]
    JournalUnavailable(String),
    /// The journal cannot be written; nothing of the command was.
    #[error("the command was not written: {}; writes are refused until the journal can be written again, reads go on", .0.message)]
    Unwritable(crate::journal::StorageFault),
    /// This node is behind what the client saw.
    #[error("{0}")]
    CatchingUp(String),
    /// A server fault; the detail is generic, the cause goes to the log.
    #[error("internal error; see the server log for request {0}")]
    Internal(String),
}

/// The JSON error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    /// Always false.
    pub success: bool,
    /// Human-readable message.
    pub detail: String,
    /// Stable code.
    pub code: &'static str,
    /// The offending field, for `validation_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

impl ApiError {
    /// A schema violation of `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The stable code.
    pub fn code(&self) -> Code {
        match self {
            ApiError::InvalidJson(_) => Code::InvalidJson,
            ApiError::BadUpgrade(_) => Code::BadUpgrade,
            ApiError::Unauthorized => Code::Unauthorized,
            ApiError::Forbidden => Code::Forbidden,
            ApiError::CorsOriginNotAllowed(_) => Code::CorsOriginNotAllowed,
            ApiError::PartyNotFound(_) => Code::PartyNotFound,
            ApiError::InputNotFound { .. } => Code::InputNotFound,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::MethodNotAllowed { .. } => Code::MethodNotAllowed,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            ApiError::UnsupportedMediaType(_) => Code::UnsupportedMediaType,
            ApiError::Validation { .. } => Code::ValidationError,
            ApiError::Overloaded => Code::Overloaded,
            ApiError::RateLimited { .. } => Code::RateLimited,
            ApiError::Capacity(_) => Code::Capacity,
            ApiError::TooManyInputs(_) => Code::TooManyInputs,
            ApiError::NotReady(_) => Code::NotReady,
            ApiError::TooManyClients => Code::TooManyClients,
            ApiError::Timeout(_) => Code::Timeout,
            ApiError::JournalUnavailable(_) => Code::JournalUnavailable,
            ApiError::Unwritable(fault) => match fault.kind {
                crate::journal::FaultKind::Full => Code::InsufficientStorage,
                crate::journal::FaultKind::ReadOnly => Code::JournalReadOnly,
                crate::journal::FaultKind::Failed => Code::JournalUnavailable,
            },
            ApiError::CatchingUp(_) => Code::CatchingUp,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code().status()
    }

    /// Extra response headers this error calls for.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::MethodNotAllowed { allow, .. } => vec![("Allow", allow.clone())],
            ApiError::Unauthorized => vec![("WWW-Authenticate", "Bearer".to_string())],
            ApiError::Forbidden => vec![(
                "WWW-Authenticate",
                "Bearer error=\"invalid_token\"".to_string(),
            )],
            ApiError::Overloaded
            | ApiError::NotReady(_)
            | ApiError::TooManyClients
            | ApiError::JournalUnavailable(_)
            | ApiError::CatchingUp(_) => {
                vec![("Retry-After", "1".to_string())]
            }
            ApiError::Unwritable(_) => vec![(
                "Retry-After",
                crate::bus::STALL_RETRY_MAX.as_secs().to_string(),
            )],
            ApiError::RateLimited {
                retry_after_secs, ..
            } => vec![("Retry-After", retry_after_secs.to_string())],
            _ => Vec::new(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            success: false,
            detail: self.to_string(),
            code: self.code().as_str(),
            field: match self {
                ApiError::Validation { field, .. } => Some(field.as_str()),
                _ => None,
            },
        }
    }

    /// Maps a core error. `request_id` labels internal faults for the log.
    pub fn from_app(e: AppError, request_id: &str) -> ApiError {
        match e {
            AppError::NotRunning => ApiError::NotReady("partybus is not running".to_string()),
            AppError::PartyNotFound(id) => ApiError::PartyNotFound(id),
            AppError::InputNotFound { party_id, input_id } => {
                ApiError::InputNotFound { party_id, input_id }
            }
            e @ (AppError::DuplicateParty(_) | AppError::DuplicateInput(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ AppError::InvalidId { field } => ApiError::invalid(field, e.to_string()),
            AppError::Overloaded => ApiError::Overloaded,
            e @ AppError::Capacity { .. } => ApiError::Capacity(e.to_string()),
            e @ AppError::TooManyInputs { .. } => ApiError::TooManyInputs(e.to_string()),
            AppError::InvalidInput { field, message } => ApiError::invalid(field, message),
            e @ AppError::Timeout(_) => ApiError::Timeout(format!(
                "{e}; it will still be applied: check the party's status before retrying"
            )),
            AppError::Unwritable(fault) => ApiError::Unwritable(fault),
            AppError::Unavailable(why) => ApiError::JournalUnavailable(format!(
                "the cluster's shared log (Redis) cannot be reached: {why}"
            )),
            AppError::Journal(cause) => {
                log::error!(
                    request_id = request_id;
                    "request {request_id}: journal failure: {}",
                    crate::journal::Chain(&cause)
                );
                // Not a 500: the request was fine and the server is not
                // broken, its storage is. The cause (paths, SQLite's words)
                // stays in the log.
                ApiError::JournalUnavailable(format!(
                    "the journal could not be read or written; the server log has the cause \
                     (request {request_id}), and /readyz says whether writes are refused"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let names: HashSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for c in Code::ALL {
            assert!(c.status() >= 400, "{c:?}");
        }
    }

    #[test]
    fn app_errors_map_to_client_statuses() {
        let cases = [
            (AppError::NotRunning, 503),
            (AppError::PartyNotFound("p".into()), 404),
            (
                AppError::InputNotFound {
                    party_id: "p".into(),
                    input_id: "i".into(),
                },
                404,
            ),
            (AppError::DuplicateParty("p".into()), 409),
            (AppError::DuplicateInput("i".into()), 409),
            (AppError::InvalidId { field: "party_id" }, 422),
            (AppError::Overloaded, 503),
            (AppError::Timeout(std::time::Duration::from_secs(1)), 503),
            (AppError::Journal("disk".into()), 503),
            (AppError::Capacity { max: 1 }, 503),
            (AppError::Unavailable("down".into()), 503),
            (
                AppError::TooManyInputs {
                    party_id: "p".into(),
                    max: 1,
                },
                409,
            ),
            (
                AppError::InvalidInput {
                    field: "content".into(),
                    message: "too long".into(),
                },
                422,
            ),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from_app(e.clone(), "r").status(), status, "{e:?}");
        }
        let v = ApiError::from_app(AppError::InvalidId { field: "party_id" }, "r");
        assert_eq!(v.body().field, Some("party_id"));
        let j = ApiError::from_app(AppError::Journal("secret path".into()), "r1");
        assert!(!j.to_string().contains("secret"));
        assert!(j.to_string().contains("request r1"), "{j}");
        assert_eq!(j.code(), Code::JournalUnavailable);
    }
}
