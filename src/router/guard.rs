//! Who may use the inference port: the management API's checks (api/auth.rs) with the
//! router's own twists. A web page must not drive the local model (DNS rebinding, CSRF),
//! so only loopback names with the right port pass as `Host`, and a browser's `Origin` or
//! `Sec-Fetch-Site` from elsewhere is refused unless `[router] cors_origins` lists the
//! origin. With `[server] api_key` set, `Authorization: Bearer KEY` (what Claude Code sends
//! for ANTHROPIC_AUTH_TOKEN) or `x-api-key: KEY` (ANTHROPIC_API_KEY, OpenAI SDKs' header
//! is the Bearer one) is required, compared in constant time.

use std::net::SocketAddr;

use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, HOST, HeaderMap, ORIGIN};
use subtle::ConstantTimeEq;

/// A refusal: the status and the message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct Guard {
    /// `None`: a non-loopback bind, reached under names we cannot list.
    allowed_hosts: Option<Vec<String>>,
    cors_origins: Vec<String>,
    key: Option<Vec<u8>>,
}

impl Guard {
    pub fn new(local: SocketAddr, cors_origins: &[String], key: Option<&str>) -> Self {
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
                hosts.extend(["localhost", "127.0.0.1", "[::1]"].map(str::to_string));
                hosts.push(bind);
            }
            hosts
        });
        Self {
            allowed_hosts,
            cors_origins: cors_origins
                .iter()
                .map(|o| o.to_ascii_lowercase())
                .collect(),
            key: key.filter(|k| !k.is_empty()).map(|k| k.as_bytes().to_vec()),
        }
    }

    /// The `Origin` to answer with CORS headers: one `[router] cors_origins` lists.
    pub fn cors_origin(&self, headers: &HeaderMap) -> Option<String> {
        let origin = headers.get(ORIGIN)?.to_str().ok()?.to_ascii_lowercase();
        self.cors_origins.contains(&origin).then_some(origin)
    }

    /// `Ok` when the request may be served.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let refuse = |status, message: String| Err(Refusal { status, message });
        let host = headers
            .get(HOST)
            .map(|h| h.to_str().unwrap_or("\u{fffd}").to_ascii_lowercase());
        if let (Some(allowed), Some(host)) = (&self.allowed_hosts, &host)
            && !allowed.iter().any(|a| a == host)
        {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "Host `{host}` is not this server's address; use {} (requests under other names are refused against DNS rebinding)",
                    allowed[0]
                ),
            );
        }
        let listed = self.cors_origin(headers).is_some();
        if let Some(origin) = headers.get(ORIGIN)
            && !listed
        {
            let own = host.as_ref().map(|h| format!("http://{h}"));
            let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
            if own.as_deref() != Some(origin.as_str()) {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!(
                        "cross-origin requests are refused (Origin: {origin}); list the origin in [router] cors_origins to allow it"
                    ),
                );
            }
        }
        if let Some(site) = headers.get("sec-fetch-site")
            && !listed
        {
            let site = site.to_str().unwrap_or("").to_ascii_lowercase();
            if site == "cross-site" || site == "same-site" {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("requests from other web sites are refused (Sec-Fetch-Site: {site})"),
                );
            }
        }
        if let Some(key) = &self.key {
            let bearer = headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    let (scheme, rest) = v.trim().split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("bearer")
                        .then(|| rest.trim().as_bytes())
                });
            let x_api_key = headers.get("x-api-key").map(|v| v.as_bytes());
            let given: Vec<&[u8]> = [bearer, x_api_key].into_iter().flatten().collect();
            if !given.iter().any(|g| bool::from(g.ct_eq(key))) {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    if given.is_empty() {
                        "this server needs its API key: `Authorization: Bearer KEY` or `x-api-key: KEY` ([server] api_key in llws.toml; `llws status` says where an \"auto\" key is kept)".into()
                    } else {
                        "the API key is wrong".into()
                    },
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn code(guard: &Guard, pairs: &[(&'static str, &str)]) -> u16 {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        match guard.check(&h) {
            Ok(()) => 200,
            Err(r) => r.status.as_u16(),
        }
    }

    #[test]
    fn hosts_origins_and_keys() {
        let g = Guard::new("127.0.0.1:8080".parse().unwrap(), &[], None);
        assert_eq!(code(&g, &[("host", "localhost:8080")]), 200);
        assert_eq!(code(&g, &[("host", "evil.example:8080")]), 403);
        assert_eq!(code(&g, &[("host", "127.0.0.1:8081")]), 403);
        let h = ("host", "127.0.0.1:8080");
        assert_eq!(code(&g, &[h, ("origin", "https://evil.example")]), 403);
        assert_eq!(code(&g, &[h, ("sec-fetch-site", "cross-site")]), 403);
        let g = Guard::new(
            "127.0.0.1:8080".parse().unwrap(),
            &["http://localhost:3000".into()],
            Some("k3y"),
        );
        let key = ("x-api-key", "k3y");
        assert_eq!(
            code(&g, &[h, key, ("origin", "http://localhost:3000")]),
            200
        );
        assert_eq!(
            code(&g, &[h, key, ("origin", "http://localhost:3001")]),
            403
        );
        assert_eq!(code(&g, &[h]), 401);
        assert_eq!(code(&g, &[h, ("authorization", "Bearer k3y")]), 200);
        assert_eq!(code(&g, &[h, ("authorization", "Bearer nope")]), 401);
    }
}
