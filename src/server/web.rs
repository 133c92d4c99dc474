//! The browser front end: the live planning page (`GET /`, `/app.js`,
//! `/app.css`) and the API reference (`GET /docs`, `/docs.js`), embedded in
//! the binary from `web/` with `include_str!` (no build step, no CDN).
//!
//! Owns the static assets and their headers only. Every asset is served with
//! its media type, an `ETag` (a SHA-256 prefix of its bytes, computed once)
//! and `Cache-Control: no-cache`, so browsers revalidate cheaply and get 304
//! when nothing changed. HTML pages carry a strict Content-Security-Policy:
//! scripts, styles and connections from this origin only, no inline script.

use std::sync::OnceLock;

use super::reply::{Reply, ReplyBody};
use super::routes::RouteId;

/// The planning page.
pub(super) const INDEX_HTML: &str = include_str!("../../web/index.html");
/// The planning page's script.
pub(super) const APP_JS: &str = include_str!("../../web/app.js");
/// The shared stylesheet.
pub(super) const APP_CSS: &str = include_str!("../../web/app.css");
/// The API reference page.
pub(super) const DOCS_HTML: &str = include_str!("../../web/docs.html");
/// The API reference's renderer.
pub(super) const DOCS_JS: &str = include_str!("../../web/docs.js");

/// The Content-Security-Policy of the HTML pages. `connect-src 'self'` covers
/// the same-origin WebSocket (CSP 3 matches `ws:` for `http:` origins).
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The media type of an asset kind (`html`, `javascript`, `css`).
pub(super) fn media_type(kind: &str) -> &'static str {
    match kind {
        "html" => "text/html; charset=utf-8",
        "javascript" => "text/javascript; charset=utf-8",
        _ => "text/css; charset=utf-8",
    }
}

/// One embedded asset.
struct Asset {
    body: &'static str,
    kind: &'static str,
}

fn asset(route: RouteId) -> Option<Asset> {
    let (body, kind) = match route {
        RouteId::WebApp => (INDEX_HTML, "html"),
        RouteId::WebAppJs => (APP_JS, "javascript"),
        RouteId::WebAppCss => (APP_CSS, "css"),
        RouteId::WebDocs => (DOCS_HTML, "html"),
        RouteId::WebDocsJs => (DOCS_JS, "javascript"),
        _ => return None,
    };
    Some(Asset { body, kind })
}

/// The quoted ETag of an asset, computed once per asset.
fn etag(route: RouteId) -> &'static str {
    static TAGS: OnceLock<Vec<(RouteId, String)>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        [
            RouteId::WebApp,
            RouteId::WebAppJs,
            RouteId::WebAppCss,
            RouteId::WebDocs,
            RouteId::WebDocsJs,
        ]
        .into_iter()
        .filter_map(|r| asset(r).map(|a| (r, a.body)))
        .map(|(r, b)| {
            let hex = super::auth::sha256_hex(b);
            (r, format!("\"{}\"", &hex[..hex.len().min(20)]))
        })
        .collect()
    });
    tags.iter()
        .find(|(r, _)| *r == route)
        .map_or("\"0\"", |(_, t)| t.as_str())
}

/// Whether an `If-None-Match` header value matches `tag` (`*` matches all;
/// weak tags compare by their opaque part).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

/// The reply for a front-end route: 200 with the asset, or 304 when the
/// client's `If-None-Match` names the current ETag. `None` for other routes.
pub(crate) fn serve(route: RouteId, if_none_match: Option<&str>) -> Option<Reply> {
    let a = asset(route)?;
    let tag = etag(route);
    let fresh = if_none_match.is_some_and(|v| matches(v, tag));
    let mut reply = Reply {
        status: if fresh { 304 } else { 200 },
        body: ReplyBody::Static(if fresh { b"" } else { a.body.as_bytes() }),
        content_type: media_type(a.kind),
        headers: vec![
            ("ETag", tag.to_string()),
            ("Cache-Control", "no-cache".to_string()),
        ],
    };
    if a.kind == "html" {
        reply
            .headers
            .push(("Content-Security-Policy", CSP.to_string()));
        reply
            .headers
            .push(("Referrer-Policy", "no-referrer".to_string()));
        reply.headers.push(("X-Frame-Options", "DENY".to_string()));
    }
    Some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_have_types_tags_and_csp() {
        let r = serve(RouteId::WebApp, None).expect("asset");
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/html"));
        assert!(r
            .headers
            .iter()
            .any(|(k, _)| *k == "Content-Security-Policy"));
        let tag = r
            .headers
            .iter()
            .find(|(k, _)| *k == "ETag")
            .map(|(_, v)| v.clone())
            .expect("etag");
        let again = serve(RouteId::WebApp, Some(&format!("W/{tag}, \"x\""))).expect("asset");
        assert_eq!(again.status, 304);
        assert!(again.body.is_empty());
        let js = serve(RouteId::WebAppJs, Some("\"other\"")).expect("asset");
        assert_eq!(js.status, 200);
        assert!(js.content_type.starts_with("text/javascript"));
        assert!(serve(RouteId::WebAppCss, None)
            .expect("asset")
            .content_type
            .starts_with("text/css"));
        assert!(serve(RouteId::Livez, None).is_none());
    }

    #[test]
    fn html_pages_load_no_inline_script_and_no_external_asset() {
        for html in [INDEX_HTML, DOCS_HTML] {
            for tag in html.split("<script").skip(1) {
                // A script file of this server, by a path relative to the
                // page (so the page works under a proxy's path prefix).
                let open = tag.split('>').next().unwrap_or("");
                let src = open.split("src=\"").nth(1).unwrap_or("");
                assert!(
                    !src.is_empty() && !src.starts_with("//") && !src.contains(':'),
                    "inline or external script: {open}"
                );
            }
            assert!(!html.contains("http://") && !html.contains("https://"));
            assert!(!html.contains("style=\""), "inline style attribute");
        }
    }
}
