//! Cross-origin access for browsers: which origins may call the API
//! (`--cors-origin`), the values of the `Access-Control-*` headers, and the
//! `Origin` check of WebSocket handshakes.
//!
//! Owns origin parsing, validation and matching, and nothing else: it never
//! routes and never touches the app. `dispatch` asks it whether an origin is
//! allowed, routes a preflight with [`super::routes`] like the request it
//! announces, and adds the headers built here.
//!
//! # Rules
//! - No allowed origins (the default): same-origin only. No response carries
//!   an `Access-Control-*` header and every preflight gets 403
//!   `cors_origin_not_allowed`.
//! - An allowed origin's preflight gets 204 with the methods its path serves;
//!   every response to it (errors included, so scripts can read them) carries
//!   `Access-Control-Allow-Origin` with the origin echoed (never `*`) and
//!   `Access-Control-Expose-Headers`; with any origin allowed, every response
//!   carries `Vary: Origin`.
//! - CORS does not protect WebSockets, so handshakes are checked here: one
//!   without `Origin` (not a browser), from the server's own origin (`Origin`
//!   matches `Host`) or from an allowed origin passes; any other gets 403.
//! - No credentials mode: tokens travel in `Authorization` or `?token=`, never
//!   in cookies, so `Access-Control-Allow-Credentials` is never sent.

use std::fmt;
use std::str::FromStr;

/// How long a browser may reuse a preflight answer (`Access-Control-Max-Age`):
/// two hours, Chromium's cap. Long is safe: the actual response's own
/// `Access-Control-Allow-Origin` is still checked, so removing an origin takes
/// effect at once for reads and writes alike.
pub(crate) const PREFLIGHT_MAX_AGE_SECS: u32 = 7200;

/// Request headers a page may send cross-origin (`Access-Control-Allow-Headers`):
/// everything the API reads. The same list for every route, so one cached
/// preflight answer covers them all.
pub(crate) const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Other-Token, X-Partybus-After, X-Request-Id";

/// Response headers a page may read besides the CORS-safelisted ones
/// (`Access-Control-Expose-Headers`): every header the API sets for clients.
pub(crate) const EXPOSED_HEADERS: &str =
    "X-Request-Id, Retry-After, ETag, Location, Allow, Idempotent-Replayed, WWW-Authenticate";

/// Longest `Origin` value quoted back in an error detail.
pub(crate) const MAX_QUOTED_ORIGIN: usize = 100;

/// An origin that may use the API from a browser: one `--cors-origin` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigin {
    /// `*`: any origin (echoed back, so it works like a list of all of them).
    Any,
    /// One origin as browsers serialise it: lower-case `scheme://host[:port]`,
    /// the scheme's default port left out.
    Exact(String),
}

/// Why a `--cors-origin` value is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Nothing was given.
    #[error("an empty origin: write scheme://host[:port], e.g. https://app.example.com")]
    Empty,
    /// `null` is the origin of sandboxed frames and local files, shared by
    /// all of them: allowing it would allow any of them.
    #[error("the origin \"null\" cannot be allowed: any sandboxed page or local file sends it")]
    Null,
    /// No `scheme://`.
    #[error("{0:?} has no scheme: write scheme://host[:port], e.g. https://{0}")]
    NoScheme(String),
    /// A scheme other than http or https.
    #[error("{0:?}: the scheme must be http or https")]
    Scheme(String),
    /// A path (even `/`), query or fragment.
    #[error("{0:?} has a path, query or fragment: an origin is scheme://host[:port] only, without a trailing /")]
    Path(String),
    /// `user@host`.
    #[error("{0:?} has user information: an origin is scheme://host[:port] only")]
    UserInfo(String),
    /// `https://*.example.com`.
    #[error(
        "{0:?}: wildcards in the host are not supported; list each origin, or allow any with *"
    )]
    Wildcard(String),
    /// An empty or malformed host.
    #[error("{0:?} has an invalid host (ASCII letters, digits, - and . or a [bracketed] IPv6 address; write international names in punycode)")]
    Host(String),
    /// A port that is not 1 to 65535.
    #[error("{0:?} has an invalid port (1 to 65535)")]
    Port(String),
}

impl FromStr for AllowedOrigin {
    type Err = OriginError;

    /// `*`, or `scheme://host[:port]` with scheme http or https. Surrounding
    /// spaces are ignored (`PARTYBUS_CORS_ORIGINS="a, b"`).
    fn from_str(s: &str) -> Result<AllowedOrigin, OriginError> {
        let s = s.trim();
        if s == "*" {
            return Ok(AllowedOrigin::Any);
        }
        Origin::parse(s).map(|o| AllowedOrigin::Exact(o.to_string()))
    }
}

impl fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedOrigin::Any => f.write_str("*"),
            AllowedOrigin::Exact(o) => f.write_str(o),
        }
    }
}

/// Which browser origins may use the API cross-origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// Origins allowed besides the server's own. Empty (the default):
    /// same-origin only, no CORS headers at all.
    pub allowed_origins: Vec<AllowedOrigin>,
}

impl CorsConfig {
    /// A configuration allowing these origins (each as for `--cors-origin`).
    pub fn allowing<I, S>(origins: I) -> Result<CorsConfig, OriginError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let allowed_origins = origins
            .into_iter()
            .map(|o| o.as_ref().parse())
            .collect::<Result<_, _>>()?;
        Ok(CorsConfig { allowed_origins })
    }

    /// Whether any origin besides the server's own is allowed.
    pub fn is_enabled(&self) -> bool {
        !self.allowed_origins.is_empty()
    }

    /// Whether a page from `origin` (an `Origin` header value) may call the
    /// API: it is listed, or `*` is.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|a| match a {
            AllowedOrigin::Any => true,
            AllowedOrigin::Exact(o) => o.eq_ignore_ascii_case(origin),
        })
    }

    /// Whether a WebSocket handshake with this `Origin` and `Host` may
    /// proceed: no `Origin` (not a browser), the server's own origin, or an
    /// allowed one.
    pub fn allows_websocket(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(o) => host.is_some_and(|h| same_origin(o, h)) || self.allows(o),
        }
    }

    /// Headers for any response to a request from `origin`: `Vary: Origin`
    /// whenever some origin is allowed (answers differ by origin, so caches
    /// must keep them apart), plus `Access-Control-Allow-Origin` and
    /// `Access-Control-Expose-Headers` when `origin` is allowed.
    pub fn response_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        if !self.is_enabled() {
            return Vec::new();
        }
        let mut headers = vec![("Vary", "Origin".to_string())];
        if let Some(o) = origin.filter(|o| self.allows(o)) {
            headers.push(("Access-Control-Allow-Origin", o.to_string()));
            headers.push(("Access-Control-Expose-Headers", EXPOSED_HEADERS.to_string()));
        }
        headers
    }
}

/// The headers of a successful preflight answer, besides those of
/// [`CorsConfig::response_headers`]; `allow` is the methods the path serves.
pub(crate) fn preflight_headers(allow: &str) -> Vec<(&'static str, String)> {
    vec![
        ("Access-Control-Allow-Methods", allow.to_string()),
        ("Access-Control-Allow-Headers", ALLOWED_HEADERS.to_string()),
        ("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECS.to_string()),
    ]
}

/// `origin`, cut to [`MAX_QUOTED_ORIGIN`] characters for an error detail.
pub(crate) fn quoted(origin: &str) -> String {
    origin.chars().take(MAX_QUOTED_ORIGIN).collect()
}

/// Whether `origin` (an `Origin` value) names the host and port of the
/// `host` header: the page was served by this server. The scheme is not
/// compared (a TLS proxy in front makes it differ); a missing port is the
/// origin scheme's default.
fn same_origin(origin: &str, host: &str) -> bool {
    let (Ok(o), Ok((h, port))) = (Origin::parse(origin), authority(host, host)) else {
        return false;
    };
    let default = default_port(o.scheme);
    o.host == h && o.port.unwrap_or(default) == port.unwrap_or(default)
}

/// A parsed origin, normalised: lower-case host, default port dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: &'static str,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(s: &str) -> Result<Origin, OriginError> {
        let err = |f: fn(String) -> OriginError| f(s.to_string());
        if s.is_empty() {
            return Err(OriginError::Empty);
        }
        if s.eq_ignore_ascii_case("null") {
            return Err(OriginError::Null);
        }
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(err(OriginError::NoScheme));
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "http",
            "https" => "https",
            _ => return Err(err(OriginError::Scheme)),
        };
        if rest.contains(['/', '?', '#']) {
            return Err(err(OriginError::Path));
        }
        if rest.contains('@') {
            return Err(err(OriginError::UserInfo));
        }
        if rest.contains('*') {
            return Err(err(OriginError::Wildcard));
        }
        let (host, port) = authority(rest, s)?;
        Ok(Origin {
            scheme,
            host,
            port: port.filter(|p| *p != default_port(scheme)),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

/// Splits `host[:port]` (a bracketed IPv6 address allowed) into the
/// lower-cased host and the port; `whole` names the value in errors.
fn authority(s: &str, whole: &str) -> Result<(String, Option<u16>), OriginError> {
    let (host, port) = match s.strip_prefix('[') {
        Some(inner) => {
            let Some((addr, after)) = inner.split_once(']') else {
                return Err(OriginError::Host(whole.to_string()));
            };
            let valid = !addr.is_empty()
                && addr.contains(':')
                && addr
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !valid {
                return Err(OriginError::Host(whole.to_string()));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| OriginError::Host(whole.to_string()))?,
                ),
            };
            (&s[..addr.len() + 2], port)
        }
        None => match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        },
    };
    let labels_ok = host.starts_with('[')
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            }));
    if !labels_ok {
        return Err(OriginError::Host(whole.to_string()));
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n = p
                .parse::<u16>()
                .ok()
                .filter(|n| *n != 0 && p.bytes().all(|b| b.is_ascii_digit()));
            Some(n.ok_or_else(|| OriginError::Port(whole.to_string()))?)
        }
    };
    Ok((host.to_ascii_lowercase(), port))
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> AllowedOrigin {
        AllowedOrigin::Exact(s.to_string())
    }

    #[test]
    fn origins_are_parsed_and_normalised() {
        for (given, want) in [
            ("https://app.example.com", "https://app.example.com"),
            (" https://App.Example.COM ", "https://app.example.com"),
            ("HTTPS://app.example.com:443", "https://app.example.com"),
            ("http://localhost:80", "http://localhost"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("https://app.example.com:80", "https://app.example.com:80"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://[2001:DB8::1]", "http://[2001:db8::1]"),
            (
                "http://xn--bcher-kva.example",
                "http://xn--bcher-kva.example",
            ),
        ] {
            assert_eq!(given.parse::<AllowedOrigin>(), Ok(exact(want)), "{given}");
        }
        assert_eq!("*".parse::<AllowedOrigin>(), Ok(AllowedOrigin::Any));
        assert_eq!(exact("https://a.example").to_string(), "https://a.example");
        assert_eq!(AllowedOrigin::Any.to_string(), "*");
    }

    #[test]
    fn invalid_origins_say_what_is_wrong() {
        use OriginError as E;
        type Variant = fn(String) -> E;
        let cases: [(&str, Variant); 15] = [
            ("app.example.com", E::NoScheme),
            ("localhost:3000", E::NoScheme),
            ("ftp://files.example.com", E::Scheme),
            ("ws://app.example.com", E::Scheme),
            ("https://app.example.com/", E::Path),
            ("https://app.example.com/app", E::Path),
            ("https://app.example.com?x=1", E::Path),
            ("https://user@app.example.com", E::UserInfo),
            ("https://*.example.com", E::Wildcard),
            ("https://", E::Host),
            ("https://a..example", E::Host),
            ("https://bücher.example", E::Host),
            ("http://[::1", E::Host),
            ("http://localhost:0", E::Port),
            ("http://localhost:99999", E::Port),
        ];
        for (given, want) in cases {
            assert_eq!(
                given.parse::<AllowedOrigin>(),
                Err(want(given.to_string())),
                "{given}"
            );
        }
        assert_eq!("".parse::<AllowedOrigin>(), Err(E::Empty));
        assert_eq!("null".parse::<AllowedOrigin>(), Err(E::Null));
        assert_eq!(
            "http://localhost:+80".parse::<AllowedOrigin>(),
            Err(E::Port("http://localhost:+80".to_string()))
        );
        let message = "https://a.example/".parse::<AllowedOrigin>().unwrap_err();
        assert!(message.to_string().contains("trailing /"), "{message}");
    }

    #[test]
    fn only_listed_origins_are_allowed_and_star_allows_any() {
        let none = CorsConfig::default();
        assert!(!none.is_enabled());
        assert!(!none.allows("https://a.example"));
        let some = CorsConfig::allowing(["https://a.example", "http://localhost:3000"]).unwrap();
        assert!(some.allows("https://a.example"));
        assert!(some.allows("HTTPS://A.example"));
        assert!(some.allows("http://localhost:3000"));
        assert!(!some.allows("http://a.example"), "the scheme counts");
        assert!(!some.allows("https://a.example:8443"), "the port counts");
        assert!(!some.allows("https://a.example.evil.com"));
        assert!(!some.allows("null"));
        let any = CorsConfig::allowing(["*"]).unwrap();
        assert!(any.allows("https://anything.example"));
        assert_eq!(
            CorsConfig::allowing(["https://a.example", "nope"]),
            Err(OriginError::NoScheme("nope".into()))
        );
    }

    #[test]
    fn response_headers_echo_an_allowed_origin_only() {
        assert!(CorsConfig::default()
            .response_headers(Some("https://a.example"))
            .is_empty());
        let c = CorsConfig::allowing(["https://a.example"]).unwrap();
        let h = c.response_headers(Some("https://a.example"));
        assert!(h.contains(&("Vary", "Origin".into())));
        assert!(h.contains(&("Access-Control-Allow-Origin", "https://a.example".into())));
        assert!(h.iter().any(|(k, _)| *k == "Access-Control-Expose-Headers"));
        assert_eq!(
            c.response_headers(Some("https://b.example")),
            vec![("Vary", "Origin".to_string())]
        );
        assert_eq!(
            c.response_headers(None),
            vec![("Vary", "Origin".to_string())]
        );
        let p = preflight_headers("GET, HEAD");
        assert!(p.contains(&("Access-Control-Allow-Methods", "GET, HEAD".into())));
        assert!(p.contains(&("Access-Control-Max-Age", "7200".into())));
    }

    #[test]
    fn websocket_handshakes_pass_from_no_origin_the_same_origin_or_an_allowed_one() {
        let none = CorsConfig::default();
        let host = Some("127.0.0.1:9000");
        assert!(none.allows_websocket(None, host));
        assert!(none.allows_websocket(None, None));
        assert!(none.allows_websocket(Some("http://127.0.0.1:9000"), host));
        assert!(none.allows_websocket(Some("https://127.0.0.1:9000"), host));
        assert!(!none.allows_websocket(Some("http://127.0.0.1:9001"), host));
        assert!(!none.allows_websocket(Some("https://evil.example"), host));
        assert!(!none.allows_websocket(Some("null"), host));
        assert!(!none.allows_websocket(Some("http://127.0.0.1:9000"), None));
        // Default ports on either side.
        assert!(none.allows_websocket(Some("https://app.example"), Some("app.example")));
        assert!(none.allows_websocket(Some("https://app.example"), Some("App.Example:443")));
        assert!(!none.allows_websocket(Some("https://app.example"), Some("app.example:80")));
        assert!(none.allows_websocket(Some("http://[::1]:9000"), Some("[::1]:9000")));
        let some = CorsConfig::allowing(["https://a.example"]).unwrap();
        assert!(some.allows_websocket(Some("https://a.example"), host));
        assert!(!some.allows_websocket(Some("https://b.example"), host));
    }

    #[test]
    fn quoted_origins_are_bounded() {
        assert_eq!(quoted(&"a".repeat(500)).len(), MAX_QUOTED_ORIGIN);
        assert_eq!(quoted("https://a.example"), "https://a.example");
    }
}
