//! The web console's listener (`console_listen`, off by default): the
//! console's page (`clients/console/dist/`, embedded at build time) and
//! gRPC-Web, through tonic-web, for the read-only calls the page makes.
//!
//! The page talks to the same services as every other client, with the
//! credential its user signs in with, so the console can do nothing that
//! credential cannot do over gRPC; on this port it can do less: only the
//! calls in [`CONSOLE_METHODS`] are served (a stolen browser session mints
//! nothing), and only as gRPC-Web. Every answer carries a strict content
//! security policy (no script but the console's own, no connection but to
//! this origin) and refuses framing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use tonic::body::Body;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));
}

/// The calls the console may make on its port: reads only. Any other path
/// is answered `UNIMPLEMENTED`.
pub const CONSOLE_METHODS: &[&str] = &[
    "/settled.v1.LedgerService/GetInfo",
    "/settled.v1.LedgerService/GetBlock",
    "/settled.v1.LedgerService/WatchLedger",
    "/settled.v1.LedgerService/GetCaller",
    "/settled.v1.AdminService/GetProgrammeStats",
    "/settled.v1.AdminService/ListProgrammeMerchants",
    "/settled.v1.AdminService/ListProgrammes",
    "/settled.v1.AdminService/ListBanks",
    "/settled.v1.AdminService/ListMerchants",
    "/settled.v1.AlertService/WatchAlerts",
    "/settled.v1.PaymentService/GetPayment",
    "/settled.v1.ReconciliationService/GetNetPositions",
];

/// The gRPC-Web content types, exactly as tonic-web recognises them (it
/// passes any other on untranslated): every other POST is refused here, so
/// nothing reaches the services but translated gRPC-Web.
const GRPC_WEB_TYPES: &[&str] = &[
    "application/grpc-web",
    "application/grpc-web+proto",
    "application/grpc-web-text",
    "application/grpc-web-text+proto",
];

/// The page may run only its own script and style, and connect only to
/// this origin; nothing may frame it.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The console's files, by name (`index.html` is also `/`).
#[must_use]
pub fn asset(name: &str) -> Option<&'static [u8]> {
    assets::ASSETS.iter().find(|(file, _)| *file == name).map(|(_, bytes)| *bytes)
}

/// Wraps the gRPC-Web services: serves the page, refuses every call the
/// console does not make, and adds the security headers.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleLayer {
    /// Served over TLS: answers also ask browsers to keep to HTTPS.
    pub tls: bool,
}

impl<S> tower::Layer<S> for ConsoleLayer {
    type Service = Console<S>;

    fn layer(&self, inner: S) -> Console<S> {
        Console { inner, tls: self.tls }
    }
}

#[derive(Clone, Debug)]
pub struct Console<S> {
    inner: S,
    tls: bool,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S> tower::Service<Request<Body>> for Console<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let tls = self.tls;
        match route(&request) {
            Route::Call => {
                // The clone takes the place of the service made ready.
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move {
                    let mut response = inner.call(request).await?;
                    secure(response.headers_mut(), tls);
                    // A credential's answers are kept by no cache.
                    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    Ok(response)
                })
            }
            Route::Answer(mut response) => {
                secure(response.headers_mut(), tls);
                Box::pin(std::future::ready(Ok(response)))
            }
        }
    }
}

enum Route {
    /// A call the console makes: to the services.
    Call,
    /// Answered here: a file, or a refusal.
    Answer(Response<Body>),
}

fn route(request: &Request<Body>) -> Route {
    let path = request.uri().path();
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if request.method() == Method::POST && content_type.to_ascii_lowercase().starts_with("application/grpc") {
        if !GRPC_WEB_TYPES.contains(&content_type) {
            return Route::Answer(refused_call(
                "the console port speaks gRPC-Web only: call the API port for gRPC".to_owned(),
            ));
        }
        if CONSOLE_METHODS.contains(&path) {
            return Route::Call;
        }
        return Route::Answer(refused_call(format!(
            "{path} is not served on the console port, which serves only the console's reads: call the API port"
        )));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "GET, HEAD, or POST gRPC-Web");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return Route::Answer(response);
    }
    let name = match path.strip_prefix('/') {
        Some("") => "index.html",
        Some(name) => name,
        None => "",
    };
    Route::Answer(match asset(name) {
        Some(bytes) => {
            let mut response = Response::new(if request.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::new(http_body_util::Full::new(bytes::Bytes::from_static(bytes)))
            });
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type_of(name)));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            // Small files that change with the binary: asked again each time.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => plain(StatusCode::NOT_FOUND, "not found"),
    })
}

/// A gRPC-Web call refused before any service: `UNIMPLEMENTED`, as a
/// trailers-only answer.
fn refused_call(message: String) -> Response<Body> {
    let mut response = tonic::Status::unimplemented(message).into_http::<Body>();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc-web+proto"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::new(http_body_util::Full::new(bytes::Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn secure(headers: &mut http::HeaderMap, tls: bool) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    if tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_method_is_one_the_api_serves() {
        let served = crate::server::served_methods();
        for method in CONSOLE_METHODS {
            assert!(served.iter().any(|m| m == method), "{method} is not served");
        }
    }

    #[test]
    fn the_console_makes_no_call_that_writes() {
        for method in CONSOLE_METHODS {
            let name = method.rsplit('/').next().unwrap_or_default();
            assert!(["Get", "List", "Watch"].iter().any(|read| name.starts_with(read)), "{method} is not a read");
        }
    }
}
