//! Every gRPC call counted by method and status and timed, by a tower layer
//! around the whole tonic server (`server.rs` adds it).
//!
//! The status is the `grpc-status` a call ends with: in the response
//! headers for an answer that is only a status (every refusal, an unknown
//! path), otherwise in the trailers after the last message, so a call is
//! recorded when its response body ends, and a stream is timed over its
//! whole life. A response dropped before its status was sent (the client
//! went away, the connection closed) counts as `CANCELLED`, the code a
//! client sees for it.
//!
//! Labels are bounded, so that no caller can grow the scrape or the
//! server's memory: the `method` label is one of the paths the server was
//! built with (at most [`GRPC_METHODS_MAX`]) or [`GRPC_METHOD_UNKNOWN`], and
//! the `code` label one of gRPC's 17 code names or [`GRPC_CODE_UNKNOWN`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Paths counted under their own `method` label; a server built with more
/// counts the rest as [`GRPC_METHOD_UNKNOWN`]. The public API, health and
/// reflection have about 45.
pub const GRPC_METHODS_MAX: usize = 128;
/// The `method` label of a path the server does not serve.
pub const GRPC_METHOD_UNKNOWN: &str = "unknown";
/// The `code` label of a response whose `grpc-status` is not a gRPC code,
/// or that ended without one.
pub const GRPC_CODE_UNKNOWN: &str = "unknown";

/// gRPC's status codes by number, as the specification names them.
const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: &str = GRPC_CODES[1];

/// Seconds a call takes, to the end of its response: the payment path's
/// buckets, and longer ones for streams.
const CALL_SECONDS: [f64; 17] =
    [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0, 600.0, 3600.0];

fn call_histogram() -> Histogram {
    Histogram::new(CALL_SECONDS)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    method: Arc<str>,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: Arc<str>,
}

/// The calls' counters and histograms (clones share them).
#[derive(Clone)]
pub(super) struct GrpcMetrics {
    requests: Family<CallLabels, Counter>,
    seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
}

impl Default for GrpcMetrics {
    fn default() -> Self {
        Self { requests: Family::default(), seconds: Family::new_with_constructor(call_histogram as fn() -> Histogram) }
    }
}

impl GrpcMetrics {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "settled_grpc_requests",
            "gRPC calls answered, by method (the served paths, else \"unknown\") and status code name",
            self.requests.clone(),
        );
        registry.register(
            "settled_grpc_request_seconds",
            "gRPC call to the end of its response (a stream over its whole life), by method",
            self.seconds.clone(),
        );
    }

    fn record(&self, method: &Arc<str>, code: &'static str, started: Instant) {
        self.requests.get_or_create(&CallLabels { method: Arc::clone(method), code }).inc();
        self.seconds
            .get_or_create(&MethodLabels { method: Arc::clone(method) })
            .observe(started.elapsed().as_secs_f64());
    }
}

/// The paths a server serves (`/package.Service/Method`), each its own
/// `method` label; any other path is [`GRPC_METHOD_UNKNOWN`].
pub struct GrpcMethods {
    known: HashMap<String, Arc<str>>,
    unknown: Arc<str>,
}

impl GrpcMethods {
    /// The first [`GRPC_METHODS_MAX`] distinct `paths`; any past them are
    /// counted as unknown (and said so in the log).
    pub fn new(paths: impl IntoIterator<Item = String>) -> Self {
        let mut known = HashMap::new();
        for path in paths {
            if known.len() == GRPC_METHODS_MAX {
                tracing::warn!(%path, max = GRPC_METHODS_MAX, "more gRPC methods than the metrics name; counted as unknown");
                continue;
            }
            let label: Arc<str> = Arc::from(path.as_str());
            known.insert(path, label);
        }
        Self { known, unknown: Arc::from(GRPC_METHOD_UNKNOWN) }
    }

    /// How many paths have a label of their own.
    #[must_use]
    pub fn len(&self) -> usize {
        self.known.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The `method` label of a request to `path`.
    #[must_use]
    pub fn label(&self, path: &str) -> &Arc<str> {
        self.known.get(path).unwrap_or(&self.unknown)
    }
}

/// The name of a `grpc-status` value: one of gRPC's codes, or unknown.
fn code_name(status: &http::HeaderValue) -> &'static str {
    std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|digits| digits.parse::<usize>().ok())
        .and_then(|code| GRPC_CODES.get(code).copied())
        .unwrap_or(GRPC_CODE_UNKNOWN)
}

/// Wraps a gRPC server's service: see the module documentation.
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    metrics: GrpcMetrics,
    methods: Arc<GrpcMethods>,
}

impl GrpcMetricsLayer {
    pub(super) fn new(metrics: GrpcMetrics, methods: Arc<GrpcMethods>) -> Self {
        Self { metrics, methods }
    }
}

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService { inner, metrics: self.metrics.clone(), methods: Arc::clone(&self.methods) }
    }
}

/// The service [`GrpcMetricsLayer`] makes.
#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: GrpcMetrics,
    methods: Arc<GrpcMethods>,
}

/// One call, recorded once: when its status is known, or as `CANCELLED`
/// when dropped before.
struct Call {
    metrics: GrpcMetrics,
    method: Arc<str>,
    started: Instant,
    recorded: bool,
}

impl Call {
    fn finish(&mut self, code: &'static str) {
        if !self.recorded {
            self.recorded = true;
            self.metrics.record(&self.method, code, self.started);
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.finish(CANCELLED);
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, RequestBody, ResponseBody> tower::Service<http::Request<RequestBody>> for GrpcMetricsService<S>
where
    S: tower::Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>,
    S::Future: Send + 'static,
    ResponseBody: Body + Unpin,
{
    type Response = http::Response<RecordedBody<ResponseBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let mut call = Call {
            metrics: self.metrics.clone(),
            method: Arc::clone(self.methods.label(request.uri().path())),
            started: Instant::now(),
            recorded: false,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(error) => {
                    call.finish(GRPC_CODE_UNKNOWN);
                    return Err(error);
                }
            };
            if let Some(status) = response.headers().get("grpc-status") {
                call.finish(code_name(status));
            } else if response.body().is_end_stream() {
                call.finish(GRPC_CODE_UNKNOWN);
            }
            Ok(response.map(|body| RecordedBody { inner: body, call }))
        })
    }
}

/// A response body that records its call when the trailers carrying the
/// status go by, or when it ends.
pub struct RecordedBody<B> {
    inner: B,
    call: Call,
}

impl<B: Body + Unpin> Body for RecordedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(|trailers| trailers.get("grpc-status")) {
                    this.call.finish(code_name(status));
                }
            }
            Poll::Ready(Some(Err(_)) | None) => this.call.finish(GRPC_CODE_UNKNOWN),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_named_by_its_code_and_anything_else_is_unknown() {
        let name = |value: &'static str| code_name(&http::HeaderValue::from_static(value));
        assert_eq!(name("0"), "OK");
        assert_eq!(name("9"), "FAILED_PRECONDITION");
        assert_eq!(name("16"), "UNAUTHENTICATED");
        for bad in ["17", "-1", "", "ok", "99999999999999999999999"] {
            assert_eq!(name(bad), GRPC_CODE_UNKNOWN, "{bad:?}");
        }
    }

    #[test]
    fn methods_past_the_limit_and_unserved_paths_share_the_unknown_label() {
        let paths: Vec<String> = (0..GRPC_METHODS_MAX + 5).map(|i| format!("/p.S/M{i}")).collect();
        let methods = GrpcMethods::new(paths.clone());
        assert_eq!(methods.len(), GRPC_METHODS_MAX);
        assert_eq!(&**methods.label(&paths[0]), paths[0].as_str());
        assert_eq!(&**methods.label(&paths[GRPC_METHODS_MAX - 1]), paths[GRPC_METHODS_MAX - 1].as_str());
        assert_eq!(&**methods.label(&paths[GRPC_METHODS_MAX]), GRPC_METHOD_UNKNOWN);
        assert_eq!(&**methods.label("/evil.Service/Anything"), GRPC_METHOD_UNKNOWN);
    }
}
