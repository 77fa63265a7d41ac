//! Who may talk to the API: the checks every request passes before it reaches a route.
//!
//! 1. **Host** (DNS rebinding): on a loopback bind, a web page whose name was rebound to
//!    127.0.0.1 still sends its own name as `Host`, so only the bind address and the
//!    loopback names with our port are accepted. A non-loopback bind needs a token, which
//!    such a page cannot know, and is reached under names we cannot list, so any `Host`
//!    passes there.
//! 2. **Browsers** (CSRF): a page may send a "simple" POST (`text/plain` or form body, no
//!    preflight) to 127.0.0.1:8081. Browsers mark such requests with `Origin` and
//!    `Sec-Fetch-Site`; curl and scripts send neither. A foreign `Origin`, or a
//!    `Sec-Fetch-Site` of `cross-site`/`same-site`, gets 403. No CORS headers are ever
//!    sent, so a page cannot read any answer either.
//! 3. **Token**: when one is set, `Authorization: Bearer TOKEN`, compared in constant
//!    time, or 401.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::errors::ApiFailure;

#[derive(Debug, Clone)]
pub struct Guard {
    /// `None`: any Host is accepted (non-loopback bind, token required).
    allowed_hosts: Option<Vec<String>>,
    token: Option<Vec<u8>>,
}

impl Guard {
    /// The checks for an API listening on `local` (the bound address, real port).
    pub fn new(local: SocketAddr, token: &str) -> Self {
        let port = local.port();
        let allowed_hosts = local.ip().is_loopback().then(|| {
            let bind = match local {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            };
            let mut hosts: Vec<String> = [bind.as_str(), "localhost", "127.0.0.1", "[::1]"]
                .iter()
                .map(|h| format!("{h}:{port}"))
                .collect();
            if port == 80 {
                // A Host without a port means port 80.
                hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(str::to_string));
                hosts.push(bind);
            }
            hosts
        });
        Self {
            allowed_hosts,
            token: (!token.is_empty()).then(|| token.as_bytes().to_vec()),
        }
    }

    /// `Ok` when the request may go on to its route.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiFailure> {
        let host = headers
            .get(header::HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}").to_ascii_lowercase());
        if let (Some(allowed), Some(host)) = (&self.allowed_hosts, &host)
            && !allowed.iter().any(|a| a == host)
        {
            return Err(ApiFailure::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Host `{host}` is not this API's address; use {} (requests under other names are refused against DNS rebinding)",
                    allowed[0]
                ),
            ));
        }
        // Without a Host (HTTP/1.0 tools) there is nothing to rebind: only browsers
        // matter here, and they always send one.
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = host.as_ref().map(|h| format!("http://{h}"));
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            if own.as_deref() != Some(origin.as_str()) {
                return Err(ApiFailure::new(
                    StatusCode::FORBIDDEN,
                    format!("cross-origin requests are refused (Origin: {origin})"),
                ));
            }
        }
        if let Some(site) = headers.get("sec-fetch-site") {
            let site = site.to_str().unwrap_or("").to_ascii_lowercase();
            if site == "cross-site" || site == "same-site" {
                return Err(ApiFailure::new(
                    StatusCode::FORBIDDEN,
                    format!("requests from other web sites are refused (Sec-Fetch-Site: {site})"),
                ));
            }
        }
        if let Some(token) = &self.token {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (scheme, rest) = v.trim().split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| rest.trim().as_bytes())
                });
            let ok = given.is_some_and(|given| bool::from(given.ct_eq(token)));
            if !ok {
                let message = if given.is_some() {
                    "the bearer token is wrong"
                } else {
                    "this API needs `Authorization: Bearer TOKEN` (the [api] token in llws.toml)"
                };
                return Err(ApiFailure::new(StatusCode::UNAUTHORIZED, message)
                    .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"llws\""));
            }
        }
        Ok(())
    }
}

/// The axum middleware around every route and the fallbacks.
pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(failure) => failure.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn code(guard: &Guard, pairs: &[(&'static str, &str)]) -> u16 {
        match guard.check(&headers(pairs)) {
            Ok(()) => 200,
            Err(f) => f.status.as_u16(),
        }
    }

    #[test]
    fn loopback_accepts_its_own_names_only() {
        let g = Guard::new("127.0.0.1:8081".parse().unwrap(), "");
        assert_eq!(code(&g, &[("host", "127.0.0.1:8081")]), 200);
        assert_eq!(code(&g, &[("host", "localhost:8081")]), 200);
        assert_eq!(code(&g, &[("host", "LOCALHOST:8081")]), 200);
        assert_eq!(code(&g, &[("host", "[::1]:8081")]), 200);
        assert_eq!(code(&g, &[]), 200, "no Host: not a browser");
        assert_eq!(code(&g, &[("host", "evil.example:8081")]), 403);
        assert_eq!(code(&g, &[("host", "127.0.0.1:9999")]), 403);
        assert_eq!(
            code(&g, &[("host", "127.0.0.1")]),
            403,
            "port 80 is not ours"
        );
    }

    #[test]
    fn browsers_from_elsewhere_are_refused() {
        let g = Guard::new("127.0.0.1:8081".parse().unwrap(), "");
        let host = ("host", "127.0.0.1:8081");
        assert_eq!(code(&g, &[host, ("origin", "http://127.0.0.1:8081")]), 200);
        assert_eq!(code(&g, &[host, ("origin", "https://evil.example")]), 403);
        assert_eq!(code(&g, &[host, ("origin", "http://localhost:3000")]), 403);
        assert_eq!(code(&g, &[host, ("origin", "null")]), 403);
        assert_eq!(code(&g, &[host, ("sec-fetch-site", "cross-site")]), 403);
        assert_eq!(code(&g, &[host, ("sec-fetch-site", "same-site")]), 403);
        assert_eq!(code(&g, &[host, ("sec-fetch-site", "none")]), 200);
        assert_eq!(code(&g, &[host, ("sec-fetch-site", "same-origin")]), 200);
    }

    #[test]
    fn a_token_is_needed_when_set() {
        let g = Guard::new("0.0.0.0:8081".parse().unwrap(), "s3cret");
        let host = ("host", "gpubox.lan:8081");
        assert_eq!(code(&g, &[host]), 401);
        assert_eq!(code(&g, &[host, ("authorization", "Bearer nope")]), 401);
        assert_eq!(code(&g, &[host, ("authorization", "Bearer s3cret")]), 200);
        assert_eq!(code(&g, &[host, ("authorization", "bearer  s3cret ")]), 200);
        assert_eq!(code(&g, &[host, ("authorization", "Basic s3cret")]), 401);
        assert_eq!(code(&g, &[host, ("authorization", "Bearer s3cret2")]), 401);
        let f = g.check(&headers(&[host])).unwrap_err();
        assert_eq!(
            f.header.unwrap().0.clone(),
            header::WWW_AUTHENTICATE,
            "401 names the scheme"
        );
        // Loopback with a token: still required.
        let g = Guard::new("127.0.0.1:8081".parse().unwrap(), "s3cret");
        assert_eq!(code(&g, &[("host", "127.0.0.1:8081")]), 401);
    }
}
