//! Our own HTTP response, [`Reply`]: status, body, content type and extra
//! headers, built by handlers and written by the HTTP layer.
//!
//! Owns the reply shapes (JSON, text, empty, the JSON error) and nothing
//! else: the headers every response carries (request id, `Cache-Control`,
//! `nosniff`, CORS) are added when it is written, and it never touches a
//! socket. A body is owned bytes, or bytes shared with a cache (a party's
//! encoded status) or built in (the front end's assets), so answering from a
//! cache copies nothing before the write.

use std::ops::Deref;
use std::sync::Arc;

use serde::Serialize;

use super::error::ApiError;

/// A response before it is written.
#[derive(Debug)]
pub(super) struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: ReplyBody,
    /// Content type (empty: no `Content-Type` header).
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

/// A reply's body: its own bytes, or bytes it shares.
#[derive(Debug, Clone)]
pub(crate) enum ReplyBody {
    /// Encoded for this reply.
    Owned(Vec<u8>),
    /// Shared with a cache (the status route's render cache).
    Shared(Arc<[u8]>),
    /// Built into the binary.
    Static(&'static [u8]),
}

impl Deref for ReplyBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ReplyBody::Owned(v) => v,
            ReplyBody::Shared(a) => a,
            ReplyBody::Static(s) => s,
        }
    }
}

/// Bodies are equal when their bytes are.
impl PartialEq for ReplyBody {
    fn eq(&self, other: &ReplyBody) -> bool {
        **self == **other
    }
}

impl AsRef<[u8]> for ReplyBody {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl From<Vec<u8>> for ReplyBody {
    fn from(v: Vec<u8>) -> ReplyBody {
        ReplyBody::Owned(v)
    }
}

impl From<Arc<[u8]>> for ReplyBody {
    fn from(a: Arc<[u8]>) -> ReplyBody {
        ReplyBody::Shared(a)
    }
}

impl Reply {
    /// A JSON reply.
    pub(crate) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::json_bytes(status, body),
            Err(e) => {
                log::error!("cannot serialise a response: {e}");
                Reply::error(&ApiError::Internal("-".to_string()))
            }
        }
    }

    /// A JSON reply from bytes encoded earlier (owned or shared).
    pub(crate) fn json_bytes(status: u16, body: impl Into<ReplyBody>) -> Reply {
        Reply {
            status,
            body: body.into(),
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    /// A reply without a body (and without `Content-Type`).
    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: ReplyBody::Static(b""),
            content_type: "",
            headers: Vec::new(),
        }
    }

    /// A plain-text reply.
    pub(crate) fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            body: body.into_bytes().into(),
            content_type,
            headers: Vec::new(),
        }
    }

    /// The JSON error reply.
    pub(crate) fn error(e: &ApiError) -> Reply {
        let mut r = Reply::json(e.status(), &e.body());
        r.status = e.status();
        r.headers = e.headers();
        r
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The value of the first extra header named `name` (case ignored).
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
