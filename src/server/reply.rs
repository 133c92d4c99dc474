//! Our own HTTP response, [`Reply`]: status, body, content type and extra
//! headers, built by handlers and written by the HTTP layer.
//!
//! Owns the reply shapes (JSON, text, empty, the JSON error) and nothing
//! else: the headers every response carries (request id, `Cache-Control`,
//! `nosniff`, CORS) are added when it is written, and it never touches a
//! socket.

use serde::Serialize;

use super::error::ApiError;

/// A response before it is written.
#[derive(Debug)]
pub(super) struct Reply {
    /// Status code.
    pub status: u16,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Content type (empty: no `Content-Type` header).
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
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

    /// A JSON reply from bytes encoded earlier.
    pub(crate) fn json_bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            body,
            content_type: "application/json",
            headers: Vec::new(),
        }
    }

    /// A reply without a body (and without `Content-Type`).
    pub(crate) fn empty(status: u16) -> Reply {
        Reply {
            status,
            body: Vec::new(),
            content_type: "",
            headers: Vec::new(),
        }
    }

    /// A plain-text reply.
    pub(crate) fn text(status: u16, content_type: &'static str, body: String) -> Reply {
        Reply {
            status,
            body: body.into_bytes(),
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
