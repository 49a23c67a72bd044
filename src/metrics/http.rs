//! The metrics port's HTTP/1.1 server (hyper): `GET /metrics`, the
//! liveness and readiness probes, one request per connection, every
//! connection bounded in number, in request size and in time.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Exposition;

/// Bytes of a scrape request's head (request line and headers); a longer
/// one is answered `431 Request Header Fields Too Large`. hyper reads at
/// least 8 KiB at a time, so this is also its least.
pub const METRICS_REQUEST_BYTES_MAX: usize = 8 * 1024;
/// Scrapes served at once; more wait, unaccepted, for a slot.
pub const METRICS_CONNECTIONS_MAX: usize = 8;
/// How long a scraper may take to send its request's head, from the
/// moment its connection is accepted: a client that sends nothing gives
/// its slot back then.
pub const METRICS_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all, request and answer: a client
/// that never reads the answer gives its slot back then.
pub const METRICS_CONNECTION_TIME_MAX: Duration = Duration::from_secs(30);
/// The pause after a failed accept (out of file descriptors, say) before
/// the next, so that the loop does not spin.
pub const METRICS_ACCEPT_RETRY: Duration = Duration::from_millis(100);

const _: () = assert!(METRICS_REQUEST_BYTES_MAX >= 8 * 1024, "hyper's least read buffer");

/// Serves on `listener`, until the task is dropped: `GET /metrics` (the
/// Prometheus text of `scrape`, or `OpenMetrics` when the scraper's `Accept`
/// asks for it), `GET /healthz` (200 while the process answers: a liveness
/// probe) and `GET /readyz` (200 while `ready`, the engine confirming
/// payments; 503 after a fail-stop: a readiness probe takes it out of a
/// load balancer); 404 for any other path, 405 for another method.
pub async fn serve(
    listener: TcpListener,
    scrape: impl Fn(Exposition) -> String + Send + Sync + 'static,
    ready: impl Fn() -> bool + Send + Sync + 'static,
) {
    let endpoints = Arc::new(Endpoints { scrape: Box::new(scrape), ready: Box::new(ready) });
    let slots = Arc::new(Semaphore::new(METRICS_CONNECTIONS_MAX));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "metrics port: accepting a connection");
                tokio::time::sleep(METRICS_ACCEPT_RETRY).await;
                continue;
            }
        };
        let endpoints = Arc::clone(&endpoints);
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = endpoints.answer(&request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(METRICS_READ_TIMEOUT)
                .max_buf_size(METRICS_REQUEST_BYTES_MAX)
                .keep_alive(false)
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(METRICS_CONNECTION_TIME_MAX, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, "metrics port: connection closed"),
                Err(_) => tracing::debug!(time_max = ?METRICS_CONNECTION_TIME_MAX, "metrics port: connection too long"),
            }
        });
    }
}

type Scrape = Box<dyn Fn(Exposition) -> String + Send + Sync>;
type Ready = Box<dyn Fn() -> bool + Send + Sync>;

struct Endpoints {
    scrape: Scrape,
    ready: Ready,
}

impl Endpoints {
    fn answer<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD here\n".to_owned());
            response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match request.uri().path() {
            "/metrics" => {
                let format = exposition(request.headers());
                let mut response = text(StatusCode::OK, (self.scrape)(format));
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(format.content_type()));
                response
            }
            "/healthz" => text(StatusCode::OK, "ok\n".to_owned()),
            "/readyz" if (self.ready)() => text(StatusCode::OK, "ready\n".to_owned()),
            "/readyz" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: the engine stopped after a storage failure\n".to_owned(),
            ),
            _ => text(StatusCode::NOT_FOUND, "GET /metrics, /healthz or /readyz here\n".to_owned()),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// `OpenMetrics` when `Accept` names it with a nonzero quality (Prometheus
/// does), else the Prometheus text format 0.0.4.
fn exposition(headers: &http::HeaderMap) -> Exposition {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parameters = range.split(';').map(str::trim);
            let media = parameters.next().unwrap_or_default();
            let refused = parameters.any(|parameter| {
                parameter.strip_prefix("q=").and_then(|q| q.parse::<f64>().ok()).is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        });
    if openmetrics { Exposition::OpenMetrics } else { Exposition::Prometheus }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(accept: &str) -> Exposition {
        let mut headers = http::HeaderMap::new();
        headers.insert(header::ACCEPT, header::HeaderValue::from_str(accept).expect("header"));
        exposition(&headers)
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";
        assert_eq!(accepting(prometheus), Exposition::OpenMetrics);
        assert_eq!(accepting("text/plain"), Exposition::Prometheus);
        assert_eq!(accepting("*/*"), Exposition::Prometheus);
        assert_eq!(accepting("application/openmetrics-text; q=0"), Exposition::Prometheus);
        assert_eq!(exposition(&http::HeaderMap::new()), Exposition::Prometheus);
    }
}
