//! Running behind a reverse proxy: the public URL clients reach us at
//! (`--public-url`, [`PublicUrl`]), the proxies whose forwarding headers are
//! believed (`--trusted-proxy`, [`TrustedProxies`] of [`Cidr`]s), and the
//! one decision of what a request says about its client ([`Resolved`]: the
//! client's IP, and the scheme and host it used).
//!
//! Owns the parsing of `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host` and RFC 7239 `Forwarded`, and the trust decision; pure
//! functions on header values, unit-tested here. Must not route, answer or
//! log: `request` stores the outcome on each [`super::request::Request`]
//! once, so handlers, the rate limiter and the access log never read these
//! headers themselves. A bad forwarding header never fails a request: what
//! cannot be read is ignored.
//!
//! # Trust model
//! - The headers are believed only when the TCP peer is inside a trusted
//!   range; from any other peer they are ignored entirely (anyone can send
//!   them), and the peer is the client.
//! - `Forwarded` wins over the `X-Forwarded-*` headers: when a request
//!   carries a non-empty `Forwarded`, the others are not read at all (a
//!   proxy that writes `Forwarded` may pass a client's own `X-Forwarded-*`
//!   through untouched).
//! - The client is found the standard way: the hops (`X-Forwarded-For`
//!   entries, or `Forwarded` elements' `for=`) are walked from the right,
//!   skipping addresses that are themselves trusted proxies; the first
//!   untrusted one is the client, and if all are trusted, the left-most. A
//!   hop that is not an address (`unknown`, an obfuscated `_hidden`, a
//!   missing `for=`, garbage) stops the walk: the client is then the
//!   nearest address already walked, or the peer.
//! - The scheme and host come from the hop where the walk stopped (the
//!   element its trusted proxy wrote, describing the request it received).
//!   `X-Forwarded-Proto` and `X-Forwarded-Host` are usually set rather than
//!   appended: when their list does not line up one-to-one with
//!   `X-Forwarded-For`, their right-most value (from the nearest proxy)
//!   counts. Only `http` and `https`, and well-formed hosts, are taken.
//! - IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, from dual-stack
//!   sockets) are compared and reported as the IPv4 address.
//!
//! Header sizes are already bounded by the HTTP layer (`max_header_bytes`),
//! so every walk here is linear in a bounded input.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// Longest host kept from `Host` or a forwarding header (a DNS name is at
/// most 253 characters, plus a port); a longer one is ignored.
pub(crate) const MAX_HOST: usize = 255;

/// Why a `--public-url` or `--trusted-proxy` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyConfigError {
    /// Neither an IP address nor `address/prefix`.
    #[error(
        "{0:?} is not an IP address or CIDR range: write e.g. 10.0.0.0/8, 192.0.2.7 or fd00::/8"
    )]
    CidrAddress(String),
    /// A prefix length that is not a number within the address's bits.
    #[error("{0:?} has an invalid prefix length: 0 to 32 for IPv4, 0 to 128 for IPv6")]
    CidrPrefix(String),
    /// `10.0.0.1/8`: bits set past the prefix, most likely a typo.
    #[error("{given:?} has bits set past its prefix length: did you mean {network}?")]
    CidrHostBits {
        /// The value as given.
        given: String,
        /// The range it probably meant.
        network: String,
    },
    /// Not a URL at all.
    #[error("{given:?} is not a URL ({reason}): write e.g. https://party.example.com")]
    Url {
        /// The value as given.
        given: String,
        /// What the URL parser said.
        reason: String,
    },
    /// A scheme other than http or https.
    #[error("{0:?}: the scheme must be http or https")]
    UrlScheme(String),
    /// `https://user:pass@host`.
    #[error("{0:?} has user information: write scheme://host[:port][/path]")]
    UrlUserInfo(String),
    /// A query string or fragment, which no API path could follow.
    #[error("{0:?} has a query or fragment: write scheme://host[:port][/path]")]
    UrlQuery(String),
    /// No host (`https:///x`).
    #[error("{0:?} has no host")]
    UrlHost(String),
}

/// The scheme of a URL we hand out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP; WebSockets as `ws`.
    Http,
    /// HTTP over TLS; WebSockets as `wss`.
    Https,
}

impl Scheme {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// The WebSocket scheme on the same transport: `ws` or `wss`.
    pub fn websocket(self) -> &'static str {
        match self {
            Scheme::Http => "ws",
            Scheme::Https => "wss",
        }
    }

    /// `http` or `https`, any case; anything else is not taken.
    fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }
}

/// Where the URLs in our answers point: a scheme, an authority
/// (`host[:port]`) and a path prefix (empty, or `/x` without a trailing
/// slash) put in front of the API's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlBase {
    /// `http` or `https` (`ws` or `wss` for WebSockets).
    pub scheme: Scheme,
    /// `host[:port]`, as clients write it.
    pub authority: String,
    /// Path in front of the API's own paths: empty, or `/x` (no trailing `/`).
    pub prefix: String,
}

impl UrlBase {
    /// The absolute HTTP(S) URL of `path` (an API path, from `/`).
    pub fn http(&self, path: &str) -> String {
        format!(
            "{}://{}{}{path}",
            self.scheme.as_str(),
            self.authority,
            self.prefix
        )
    }

    /// The absolute WebSocket URL of `path` (`wss` when the base is https).
    pub fn websocket(&self, path: &str) -> String {
        format!(
            "{}://{}{}{path}",
            self.scheme.websocket(),
            self.authority,
            self.prefix
        )
    }

    /// `path` as clients reach it: behind the prefix (for `Location`).
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

/// The URL clients reach the server at (`--public-url`): every URL the API
/// hands out is built from it. Validated once, at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Scheme, authority and path prefix.
    base: UrlBase,
}

impl PublicUrl {
    /// The base of every URL we hand out.
    pub fn base(&self) -> &UrlBase {
        &self.base
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base.http(""))
    }
}

impl FromStr for PublicUrl {
    type Err = ProxyConfigError;

    /// `http(s)://host[:port][/path]`: no user information, query or
    /// fragment. The host is normalised as browsers do (lower case,
    /// punycode), the scheme's default port dropped, trailing slashes of
    /// the path dropped.
    fn from_str(s: &str) -> Result<PublicUrl, ProxyConfigError> {
        let given = s.trim();
        let url = url::Url::parse(given).map_err(|e| ProxyConfigError::Url {
            given: given.to_string(),
            reason: e.to_string(),
        })?;
        let scheme = Scheme::parse(url.scheme())
            .ok_or_else(|| ProxyConfigError::UrlScheme(given.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ProxyConfigError::UrlUserInfo(given.to_string()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ProxyConfigError::UrlQuery(given.to_string()));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ProxyConfigError::UrlHost(given.to_string()))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(PublicUrl {
            base: UrlBase {
                scheme,
                authority,
                prefix: url.path().trim_end_matches('/').to_string(),
            },
        })
    }
}

/// An IP range, `address/prefix`; a bare address is the range of just it
/// (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The first address of the range (no bits past the prefix).
    network: IpAddr,
    /// Leading bits that must match.
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask32(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask128(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }

    /// Whether the range holds every address of its family (`0.0.0.0/0`,
    /// `::/0`): every client could then claim any address.
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = ProxyConfigError;

    /// `address/prefix` or a bare address, IPv4 or IPv6; surrounding spaces
    /// are ignored. Bits set past the prefix are refused (a typo, probably).
    fn from_str(s: &str) -> Result<Cidr, ProxyConfigError> {
        let given = s.trim();
        let (addr, prefix) = match given.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (given, None),
        };
        let written: IpAddr = addr
            .parse()
            .map_err(|_| ProxyConfigError::CidrAddress(given.to_string()))?;
        let bits = if written.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => Some(p)
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u8>().ok())
                .filter(|p| *p <= bits)
                .ok_or_else(|| ProxyConfigError::CidrPrefix(given.to_string()))?,
        };
        // An IPv4-mapped range (`::ffff:10.0.0.0/104`) is the IPv4 range,
        // as addresses are compared as IPv4 too.
        let addr = written.to_canonical();
        let prefix = match (written, addr) {
            (IpAddr::V6(_), IpAddr::V4(_)) if prefix >= 96 => prefix - 96,
            (IpAddr::V6(_), IpAddr::V4(_)) => {
                return Err(ProxyConfigError::CidrPrefix(given.to_string()))
            }
            _ => prefix,
        };
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(prefix)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(prefix)).into()),
        };
        let cidr = Cidr { network, prefix };
        if network != addr {
            return Err(ProxyConfigError::CidrHostBits {
                given: given.to_string(),
                network: cidr.to_string(),
            });
        }
        Ok(cidr)
    }
}

/// The proxies whose forwarding headers are believed (`--trusted-proxy`).
/// Empty (the default): none are, and the TCP peer is always the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// The trusted ranges, as configured.
    ranges: Vec<Cidr>,
}

/// What a request says about its client once the trust decision is made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// The client's IP: the peer's, or the forwarded one from a trusted
    /// proxy. `None` only when the peer is unknown.
    pub client: Option<IpAddr>,
    /// The scheme the client used, as a trusted proxy forwarded it.
    pub scheme: Option<Scheme>,
    /// The host the client asked for, as a trusted proxy forwarded it.
    pub host: Option<String>,
}

impl TrustedProxies {
    /// Trusting these ranges.
    pub fn new(ranges: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies { ranges }
    }

    /// Trusting each of `items` (as for `--trusted-proxy`); blank items are
    /// skipped (an empty variable, a trailing comma).
    pub fn parse_list<I, S>(items: I) -> Result<TrustedProxies, ProxyConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let ranges = items
            .into_iter()
            .filter(|s| !s.as_ref().trim().is_empty())
            .map(|s| s.as_ref().parse())
            .collect::<Result<Vec<Cidr>, _>>()?;
        Ok(TrustedProxies { ranges })
    }

    /// The trusted ranges.
    pub fn ranges(&self) -> &[Cidr] {
        &self.ranges
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    /// The client, scheme and host of a request from `peer` with `headers`
    /// (names as sent, in order; every header of a name counts, in order).
    /// From an untrusted (or unknown) peer the forwarding headers are
    /// ignored; see the module's trust model.
    pub fn resolve(&self, peer: Option<SocketAddr>, headers: &[(String, String)]) -> Resolved {
        let peer = peer.map(|p| p.ip().to_canonical());
        let direct = Resolved {
            client: peer,
            scheme: None,
            host: None,
        };
        let Some(peer) = peer.filter(|p| self.trusts(*p)) else {
            return direct;
        };
        let chain = Chain::from_headers(headers);
        let (client, at) = walk(&chain.hops, peer, |ip| self.trusts(ip));
        let hop = at.and_then(|i| chain.hops.get(i));
        Resolved {
            client: Some(client),
            scheme: hop.and_then(|h| h.proto).or(chain.proto),
            host: hop.and_then(|h| h.host.clone()).or(chain.host),
        }
    }
}

/// Walks `hops` (left-most first) from the right, starting after `peer`:
/// the client and the index of the hop where the walk stopped (`None` when
/// there are no hops).
fn walk(hops: &[Hop], peer: IpAddr, trusted: impl Fn(IpAddr) -> bool) -> (IpAddr, Option<usize>) {
    let mut client = peer;
    let mut at = None;
    for (i, hop) in hops.iter().enumerate().rev() {
        at = Some(i);
        let Some(ip) = hop.addr else {
            // Not an address: nothing left of it can be placed.
            return (client, at);
        };
        client = ip;
        if !trusted(ip) {
            return (client, at);
        }
    }
    (client, at)
}

/// One hop of a forwarding chain: an `X-Forwarded-For` entry or a
/// `Forwarded` element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Hop {
    /// The address the proxy received the request from; `None` when it is
    /// missing, `unknown`, obfuscated or unreadable.
    addr: Option<IpAddr>,
    /// The scheme of the request the proxy received.
    proto: Option<Scheme>,
    /// The `Host` of the request the proxy received.
    host: Option<String>,
}

/// The forwarding headers of a request, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Chain {
    /// Left-most (nearest the client) first.
    hops: Vec<Hop>,
    /// Scheme for any hop without its own (from an `X-Forwarded-Proto` not
    /// lined up with `X-Forwarded-For`).
    proto: Option<Scheme>,
    /// Host for any hop without its own (likewise).
    host: Option<String>,
}

impl Chain {
    /// From `Forwarded` when a request has a non-empty one, else from the
    /// `X-Forwarded-*` headers.
    fn from_headers(headers: &[(String, String)]) -> Chain {
        let forwarded = forwarded_hops(&list(headers, "Forwarded"));
        if !forwarded.is_empty() {
            return Chain {
                hops: forwarded,
                ..Chain::default()
            };
        }
        let mut hops: Vec<Hop> = list(headers, "X-Forwarded-For")
            .iter()
            .map(|v| Hop {
                addr: node_addr(v),
                ..Hop::default()
            })
            .collect();
        let protos = list(headers, "X-Forwarded-Proto");
        let hosts = list(headers, "X-Forwarded-Host");
        let mut chain = Chain::default();
        if !hops.is_empty() && protos.len() == hops.len() {
            for (hop, p) in hops.iter_mut().zip(&protos) {
                hop.proto = Scheme::parse(p);
            }
        } else {
            chain.proto = protos.last().and_then(|p| Scheme::parse(p));
        }
        if !hops.is_empty() && hosts.len() == hops.len() {
            for (hop, h) in hops.iter_mut().zip(&hosts) {
                hop.host = checked_host(h);
            }
        } else {
            chain.host = hosts.last().and_then(|h| checked_host(h));
        }
        chain.hops = hops;
        chain
    }
}

/// The comma-separated values of every header `name` (case ignored), in
/// order, trimmed, blanks dropped. Commas inside quoted strings (only
/// `Forwarded` has them) do not split.
fn list(headers: &[(String, String)], name: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| split_outside_quotes(v, ','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Splits `s` at each `sep` that is not inside a quoted string (with `\`
/// escapes).
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// RFC 7239 elements (`for=…;proto=…;host=…`, pairs in any order, names in
/// any case, values tokens or quoted strings). A pair that cannot be read
/// leaves its parameter unset.
fn forwarded_hops(elements: &[String]) -> Vec<Hop> {
    elements
        .iter()
        .map(|element| {
            let mut hop = Hop::default();
            for pair in split_outside_quotes(element, ';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let Some(value) = unquote(value.trim()) else {
                    continue;
                };
                match name.trim().to_ascii_lowercase().as_str() {
                    "for" => hop.addr = node_addr(&value),
                    "proto" => hop.proto = Scheme::parse(&value),
                    "host" => hop.host = checked_host(&value),
                    _ => {}
                }
            }
            hop
        })
        .collect()
}

/// A token as is, or a quoted string's content; `None` for an unterminated
/// quoted string.
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The address of a node: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`. `None` for `unknown`, an
/// obfuscated `_hidden`, or anything else.
fn node_addr(v: &str) -> Option<IpAddr> {
    let v = v.trim();
    let ip = if let Some(rest) = v.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !(after.is_empty() || valid_port(after.strip_prefix(':')?)) {
            return None;
        }
        IpAddr::V6(addr.parse().ok()?)
    } else if let Ok(ip) = v.parse::<IpAddr>() {
        ip
    } else {
        let (addr, port) = v.split_once(':')?;
        if !valid_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse().ok()?)
    };
    Some(ip.to_canonical())
}

/// A port as RFC 7239 allows: digits (or an obfuscated `_port`).
fn valid_port(p: &str) -> bool {
    match p.strip_prefix('_') {
        Some(obf) => {
            !obf.is_empty()
                && obf
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        }
        None => p.parse::<u16>().is_ok() && p.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// `h` if it is a well-formed `host[:port]`.
fn checked_host(h: &str) -> Option<String> {
    valid_host(h).then(|| h.to_string())
}

/// Whether `h` can be a `Host` value: bounded by [`MAX_HOST`], letters,
/// digits, `-`, `.`, `:` and IPv6 brackets only (so it cannot smuggle a path
/// or another URL into the ones we build).
pub(crate) fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOST
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error variant that quotes the value given.
    type Refusal = fn(String) -> ProxyConfigError;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP")
    }

    fn trusting(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::parse_list(ranges).expect("valid ranges")
    }

    fn headers(h: &[(&str, &str)]) -> Vec<(String, String)> {
        h.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn peer(s: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip(s), 40000))
    }

    #[test]
    fn cidrs_parse_and_match() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("10.0.0.0/8", &["10.0.0.1", "10.255.255.255"], &["11.0.0.1"]),
            (
                "127.0.0.1",
                &["127.0.0.1", "::ffff:127.0.0.1"],
                &["127.0.0.2"],
            ),
            ("127.0.0.1/32", &["127.0.0.1"], &["127.0.0.2", "::1"]),
            ("0.0.0.0/0", &["1.2.3.4", "10.0.0.1"], &["::1"]),
            ("::1", &["::1"], &["::2", "127.0.0.1"]),
            ("fd00::/8", &["fd12::1", "fdff::"], &["fe80::1", "10.0.0.1"]),
            ("2001:db8::/32", &["2001:db8:1::5"], &["2001:db9::1"]),
            ("::/0", &["::1", "2001:db8::1"], &["1.2.3.4"]),
            (" 192.168.1.0/24 ", &["192.168.1.77"], &["192.168.2.1"]),
            ("::ffff:10.0.0.0/104", &["10.1.2.3"], &["11.0.0.1"]),
        ];
        for (given, inside, outside) in cases {
            let cidr: Cidr = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
            for a in *inside {
                assert!(cidr.contains(ip(a)), "{given} should hold {a}");
            }
            for a in *outside {
                assert!(!cidr.contains(ip(a)), "{given} should not hold {a}");
            }
        }
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            "::1".parse::<Cidr>().map(|c| c.to_string()),
            Ok("::1/128".into())
        );
        assert!("0.0.0.0/0".parse::<Cidr>().is_ok_and(|c| c.is_everything()));
    }

    #[test]
    fn bad_cidrs_say_why() {
        use ProxyConfigError as E;
        let cases: &[(&str, Refusal)] = &[
            ("", E::CidrAddress),
            ("localhost", E::CidrAddress),
            ("10.0.0/8", E::CidrAddress),
            ("10.0.0.0/33", E::CidrPrefix),
            ("::/129", E::CidrPrefix),
            ("10.0.0.0/", E::CidrPrefix),
            ("10.0.0.0/+8", E::CidrPrefix),
            ("10.0.0.0/x", E::CidrPrefix),
            ("[::1]", E::CidrAddress),
        ];
        for (given, want) in cases {
            assert_eq!(
                given.parse::<Cidr>(),
                Err(want(given.to_string())),
                "{given}"
            );
        }
        let typo = "10.0.0.1/8".parse::<Cidr>();
        assert_eq!(
            typo,
            Err(E::CidrHostBits {
                given: "10.0.0.1/8".into(),
                network: "10.0.0.0/8".into()
            })
        );
        let msg = typo.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("did you mean 10.0.0.0/8"), "{msg}");
        assert_eq!(
            TrustedProxies::parse_list(["10.0.0.0/8", " ", "", "::1"]).map(|t| t.ranges().len()),
            Ok(2)
        );
        assert!(TrustedProxies::parse_list(["10.0.0.0/8", "nope"]).is_err());
    }

    #[test]
    fn public_urls_parse_into_bases() {
        let cases: &[(&str, Scheme, &str, &str)] = &[
            (
                "https://party.example.com",
                Scheme::Https,
                "party.example.com",
                "",
            ),
            (
                "https://party.example.com/",
                Scheme::Https,
                "party.example.com",
                "",
            ),
            (
                "HTTPS://Party.Example.COM:443/",
                Scheme::Https,
                "party.example.com",
                "",
            ),
            (
                "https://example.com/partybus",
                Scheme::Https,
                "example.com",
                "/partybus",
            ),
            (
                "https://example.com/a/b//",
                Scheme::Https,
                "example.com",
                "/a/b",
            ),
            ("http://10.0.0.5:8080", Scheme::Http, "10.0.0.5:8080", ""),
            ("http://[::1]:9000/p", Scheme::Http, "[::1]:9000", "/p"),
            (
                "https://bücher.example",
                Scheme::Https,
                "xn--bcher-kva.example",
                "",
            ),
        ];
        for (given, scheme, authority, prefix) in cases {
            let url: PublicUrl = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
            let want = UrlBase {
                scheme: *scheme,
                authority: authority.to_string(),
                prefix: prefix.to_string(),
            };
            assert_eq!(url.base(), &want, "{given}");
        }
        let base = "https://example.com/partybus"
            .parse::<PublicUrl>()
            .map(|u| u.base().clone())
            .expect("valid");
        assert_eq!(
            base.websocket("/api/ws/p1"),
            "wss://example.com/partybus/api/ws/p1"
        );
        assert_eq!(base.http("/api/x"), "https://example.com/partybus/api/x");
        assert_eq!(base.path("/api/x"), "/partybus/api/x");
    }

    #[test]
    fn bad_public_urls_say_why() {
        use ProxyConfigError as E;
        let cases: &[(&str, Refusal)] = &[
            ("ftp://example.com", E::UrlScheme),
            ("ws://example.com", E::UrlScheme),
            ("https://u:p@example.com", E::UrlUserInfo),
            ("https://u@example.com", E::UrlUserInfo),
            ("https://example.com/?a=1", E::UrlQuery),
            ("https://example.com/#top", E::UrlQuery),
            ("https://example.com?", E::UrlQuery),
        ];
        for (given, want) in cases {
            assert_eq!(
                given.parse::<PublicUrl>(),
                Err(want(given.to_string())),
                "{given}"
            );
        }
        for bad in [
            "",
            "example.com",
            "https://",
            "https://exa mple.com",
            "/partybus",
        ] {
            match bad.parse::<PublicUrl>() {
                Err(E::Url { given, .. }) => assert_eq!(given, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        let msg = "example.com"
            .parse::<PublicUrl>()
            .err()
            .map(|e| e.to_string());
        assert!(msg.is_some_and(|m| m.contains("https://party.example.com")));
    }

    #[test]
    fn nodes_are_read_with_ports_brackets_and_garbage() {
        let cases: &[(&str, Option<&str>)] = &[
            ("192.0.2.43", Some("192.0.2.43")),
            (" 192.0.2.43 ", Some("192.0.2.43")),
            ("192.0.2.43:47011", Some("192.0.2.43")),
            ("192.0.2.43:_port", Some("192.0.2.43")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8:cafe::17]", Some("2001:db8:cafe::17")),
            ("[2001:db8:cafe::17]:4711", Some("2001:db8:cafe::17")),
            ("::ffff:192.0.2.1", Some("192.0.2.1")),
            ("unknown", None),
            ("_hidden", None),
            ("_SEVKISEK", None),
            ("", None),
            ("192.0.2.43:99999", None),
            ("192.0.2.43:", None),
            ("[2001:db8::1", None),
            ("[2001:db8::1]x", None),
            ("[192.0.2.1]", None),
            ("example.com", None),
            ("1.2.3.4.5", None),
            ("1.2.3.4:80:90", None),
        ];
        for (given, want) in cases {
            assert_eq!(node_addr(given), want.map(ip), "{given:?}");
        }
    }

    #[test]
    fn forwarded_elements_are_parsed() {
        let list = |v: &str| super::list(&headers(&[("Forwarded", v)]), "Forwarded");
        let hops = forwarded_hops(&list(
            r#"for="_gazonk", For="[2001:db8:cafe::17]:4711";proto=HTTPS;host="a.example:8443", for=192.0.2.60;proto=http;by=203.0.113.43"#,
        ));
        assert_eq!(
            hops,
            vec![
                Hop::default(),
                Hop {
                    addr: Some(ip("2001:db8:cafe::17")),
                    proto: Some(Scheme::Https),
                    host: Some("a.example:8443".into()),
                },
                Hop {
                    addr: Some(ip("192.0.2.60")),
                    proto: Some(Scheme::Http),
                    host: None,
                },
            ]
        );
        // A comma or semicolon inside quotes does not split; escapes unquote.
        let hops = forwarded_hops(&list(r#"for="1.2.3.4";host="a,b;c", for="5.6.7.8""#));
        assert_eq!(hops.len(), 2);
        assert_eq!(hops[0].host, None, "not a host");
        assert_eq!(hops[1].addr, Some(ip("5.6.7.8")));
        assert_eq!(unquote(r#""a\"b""#), Some("a\"b".into()));
        assert_eq!(unquote(r#""open"#), None);
        // Junk pairs and unknown protocols are skipped; empty elements dropped.
        let hops = forwarded_hops(&list("for; proto=gopher; =x, ,for=9.9.9.9"));
        assert_eq!(
            hops,
            vec![
                Hop::default(),
                Hop {
                    addr: Some(ip("9.9.9.9")),
                    ..Hop::default()
                }
            ]
        );
    }

    /// One resolution case: trusted ranges, the peer, the headers, and the
    /// client, scheme and host expected.
    struct Case {
        what: &'static str,
        trusted: &'static [&'static str],
        peer: &'static str,
        headers: &'static [(&'static str, &'static str)],
        client: &'static str,
        scheme: Option<Scheme>,
        host: Option<&'static str>,
    }

    const LOOPBACK: &[&str] = &["127.0.0.1/32"];
    const PROXIES: &[&str] = &["10.0.0.0/8", "fd00::/8"];
    const HTTPS: Option<Scheme> = Some(Scheme::Https);

    #[test]
    fn the_client_scheme_and_host_are_resolved() {
        let cases = [
            Case {
                what: "no proxy trusted: headers ignored",
                trusted: &[],
                peer: "127.0.0.1",
                headers: &[
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", "evil.example"),
                ],
                client: "127.0.0.1",
                scheme: None,
                host: None,
            },
            Case {
                what: "spoofing from an untrusted peer",
                trusted: PROXIES,
                peer: "198.51.100.7",
                headers: &[
                    ("X-Forwarded-For", "10.0.0.1"),
                    ("Forwarded", "for=10.0.0.2;proto=https;host=evil.example"),
                ],
                client: "198.51.100.7",
                scheme: None,
                host: None,
            },
            Case {
                what: "trusted peer, no headers",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[],
                client: "127.0.0.1",
                scheme: None,
                host: None,
            },
            Case {
                what: "one proxy, X-Forwarded-*",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[
                    ("X-Forwarded-For", "203.0.113.9"),
                    ("x-forwarded-proto", "https"),
                    ("X-Forwarded-Host", "party.example.com"),
                ],
                client: "203.0.113.9",
                scheme: HTTPS,
                host: Some("party.example.com"),
            },
            Case {
                what: "the client's own spoofed entry is left of the real one",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[("X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.9")],
                client: "203.0.113.9",
                scheme: None,
                host: None,
            },
            Case {
                what: "several headers join in order",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[
                    ("X-Forwarded-For", "1.1.1.1"),
                    ("X-Forwarded-For", "203.0.113.9, 10.0.0.9"),
                ],
                client: "203.0.113.9",
                scheme: None,
                host: None,
            },
            Case {
                what: "all trusted: the left-most",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[("X-Forwarded-For", "10.1.1.1, 10.0.0.9")],
                client: "10.1.1.1",
                scheme: None,
                host: None,
            },
            Case {
                what: "garbage stops the walk at the nearest valid one",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[("X-Forwarded-For", "203.0.113.9, unknown, 10.0.0.9")],
                client: "10.0.0.9",
                scheme: None,
                host: None,
            },
            Case {
                what: "garbage right-most: the peer",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[("X-Forwarded-For", "203.0.113.9, not-an-ip")],
                client: "10.0.0.5",
                scheme: None,
                host: None,
            },
            Case {
                what: "IPv6 with ports and brackets in X-Forwarded-For",
                trusted: PROXIES,
                peer: "fd00::1",
                headers: &[("X-Forwarded-For", "[2001:db8::7]:5555, fd00::2")],
                client: "2001:db8::7",
                scheme: None,
                host: None,
            },
            Case {
                what: "IPv4-mapped peer and entries",
                trusted: LOOPBACK,
                peer: "::ffff:127.0.0.1",
                headers: &[("X-Forwarded-For", "::ffff:203.0.113.9")],
                client: "203.0.113.9",
                scheme: None,
                host: None,
            },
            Case {
                what: "Forwarded wins over X-Forwarded-*",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[
                    ("X-Forwarded-For", "198.51.100.1"),
                    ("X-Forwarded-Proto", "http"),
                    ("X-Forwarded-Host", "xf.example"),
                    (
                        "Forwarded",
                        r#"for="[2001:db8:cafe::17]:4711";proto=https;host=party.example.com"#,
                    ),
                ],
                client: "2001:db8:cafe::17",
                scheme: HTTPS,
                host: Some("party.example.com"),
            },
            Case {
                what: "Forwarded chain: the client's element gives scheme and host",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[(
                    "Forwarded",
                    "for=1.1.1.1;proto=http;host=spoof.example, for=203.0.113.9;proto=https;host=party.example.com, for=10.0.0.9;proto=http;host=internal",
                )],
                client: "203.0.113.9",
                scheme: HTTPS,
                host: Some("party.example.com"),
            },
            Case {
                what: "Forwarded obfuscated: the peer, scheme from its element",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[("Forwarded", "for=_hidden;proto=https")],
                client: "127.0.0.1",
                scheme: HTTPS,
                host: None,
            },
            Case {
                what: "Forwarded without for=: the peer",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[("Forwarded", "proto=https;host=party.example.com")],
                client: "127.0.0.1",
                scheme: HTTPS,
                host: Some("party.example.com"),
            },
            Case {
                what: "an empty Forwarded leaves X-Forwarded-* in charge",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[("Forwarded", " "), ("X-Forwarded-For", "203.0.113.9")],
                client: "203.0.113.9",
                scheme: None,
                host: None,
            },
            Case {
                what: "proto lined up with the chain",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[
                    ("X-Forwarded-For", "203.0.113.9, 10.0.0.9"),
                    ("X-Forwarded-Proto", "https, http"),
                    ("X-Forwarded-Host", "party.example.com, internal"),
                ],
                client: "203.0.113.9",
                scheme: HTTPS,
                host: Some("party.example.com"),
            },
            Case {
                what: "proto set, not appended: the right-most",
                trusted: PROXIES,
                peer: "10.0.0.5",
                headers: &[
                    ("X-Forwarded-For", "203.0.113.9, 10.0.0.9"),
                    ("X-Forwarded-Proto", "https"),
                ],
                client: "203.0.113.9",
                scheme: HTTPS,
                host: None,
            },
            Case {
                what: "proto and host without X-Forwarded-For",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "a.example:8443")],
                client: "127.0.0.1",
                scheme: HTTPS,
                host: Some("a.example:8443"),
            },
            Case {
                what: "bad scheme and host are ignored",
                trusted: LOOPBACK,
                peer: "127.0.0.1",
                headers: &[
                    ("X-Forwarded-Proto", "javascript"),
                    ("X-Forwarded-Host", "evil.example/path?x"),
                ],
                client: "127.0.0.1",
                scheme: None,
                host: None,
            },
        ];
        for c in cases {
            let got = trusting(c.trusted).resolve(peer(c.peer), &headers(c.headers));
            let want = Resolved {
                client: Some(ip(c.client)),
                scheme: c.scheme,
                host: c.host.map(str::to_string),
            };
            assert_eq!(got, want, "{}", c.what);
        }
        assert_eq!(trusting(LOOPBACK).resolve(None, &[]), Resolved::default());
    }

    #[test]
    fn hosts_are_restricted() {
        assert!(valid_host("party.example.com:8443"));
        assert!(valid_host("[::1]:9000"));
        assert!(!valid_host(""));
        assert!(!valid_host("a/b"));
        assert!(!valid_host("a b"));
        assert!(!valid_host(&"a".repeat(MAX_HOST + 1)));
    }
}
