//! The plumbing of response streams: each open stream counted against its
//! owner's limit, results a client leaves unread noticed, and a stream
//! ended at the caller's deadline.

use super::*;

pub(crate) type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// One open stream counted against its owner's limit while it lives.
pub(crate) struct StreamSlot {
    pub(super) open_streams: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    pub(super) key: String,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open_streams.lock().expect("not poisoned");
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// A response stream that notes when the client last took an item, so that
/// a stream whose results sit unread can be told from a quiet one.
pub(super) struct ReadTracking<T> {
    pub(super) inner: ReceiverStream<T>,
    pub(super) opened: std::time::Instant,
    pub(super) last_read_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl<T> Stream for ReadTracking<T> {
    type Item = T;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, std::task::Poll::Ready(Some(_))) {
            let read_ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.last_read_ms.store(read_ms, std::sync::atomic::Ordering::Relaxed);
        }
        polled
    }
}

/// The caller's deadline, from its `grpc-timeout` header (gRPC's wire form:
/// at most 8 digits and a unit, `H` `M` `S` `m` `u` `n`). tonic itself ends a
/// unary call (and the wait for a stream's first response) at the deadline
/// with `CANCELLED`; a response stream is ended here.
pub(crate) fn deadline_of<T>(request: &Request<T>) -> Option<tokio::time::Instant> {
    let value = request.metadata().get("grpc-timeout")?.to_str().ok()?;
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => std::time::Duration::from_secs(amount.checked_mul(3_600)?),
        "M" => std::time::Duration::from_secs(amount.checked_mul(60)?),
        "S" => std::time::Duration::from_secs(amount),
        "m" => std::time::Duration::from_millis(amount),
        "u" => std::time::Duration::from_micros(amount),
        "n" => std::time::Duration::from_nanos(amount),
        _ => return None,
    };
    tokio::time::Instant::now().checked_add(timeout)
}

/// A response stream that ends at the caller's deadline with
/// `DEADLINE_EXCEEDED`, after the items already waiting (at most
/// `STREAM_IN_FLIGHT_MAX` of them): results the server has are sent, not
/// dropped. Dropping the inner stream then lets its producer stop and give
/// its stream slot back.
pub(crate) struct UntilDeadline<S> {
    inner: S,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Items sent since the deadline passed.
    drained: Option<usize>,
    ended: bool,
}

impl<S> UntilDeadline<S> {
    pub(crate) fn new(inner: S, deadline: Option<tokio::time::Instant>) -> Self {
        Self { inner, deadline: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))), drained: None, ended: false }
    }
}

impl<T, S: Stream<Item = Result<T, Status>> + Unpin> Stream for UntilDeadline<S> {
    type Item = Result<T, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        if self.drained.is_none()
            && let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(context).is_ready()
        {
            self.drained = Some(0);
        }
        if let Some(drained) = self.drained {
            if drained < STREAM_IN_FLIGHT_MAX
                && let std::task::Poll::Ready(Some(item)) = Pin::new(&mut self.inner).poll_next(context)
            {
                self.drained = Some(drained + 1);
                return std::task::Poll::Ready(Some(item));
            }
            self.ended = true;
            return std::task::Poll::Ready(Some(Err(Status::deadline_exceeded(
                "the call's deadline (grpc-timeout) passed; resubmit what was not answered, or call again to continue",
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, std::task::Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }
}

/// A stream a bank or a terminal opened with a registered credential: it
/// ends with `UNAUTHENTICATED` once a durable registry change
/// (`SetCredentials`) takes that credential away, whatever it was waiting
/// for. Streams of configured credentials are never revoked this way.
pub(crate) struct UntilRevoked<S> {
    inner: S,
    changes: Option<tokio_stream::wrappers::WatchStream<u64>>,
    still: Box<dyn Fn() -> bool + Send + Sync>,
    ended: bool,
}

impl UntilRevoked<()> {
    /// The same revocation around `inner`, a stream made after the check
    /// of its credential.
    pub(crate) fn wrapping<S>(self, inner: S) -> UntilRevoked<S> {
        UntilRevoked { inner, changes: self.changes, still: self.still, ended: false }
    }
}

impl<S> UntilRevoked<S> {
    pub(crate) fn new(
        inner: S,
        changes: Option<tokio::sync::watch::Receiver<u64>>,
        still: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner,
            changes: changes.map(tokio_stream::wrappers::WatchStream::from_changes),
            still: Box::new(still),
            ended: false,
        }
    }
}

impl<T, S: Stream<Item = Result<T, Status>> + Unpin> Stream for UntilRevoked<S> {
    type Item = Result<T, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.ended {
            return std::task::Poll::Ready(None);
        }
        let mut changed = false;
        if let Some(changes) = self.changes.as_mut() {
            while let std::task::Poll::Ready(Some(_)) = Pin::new(&mut *changes).poll_next(context) {
                changed = true;
            }
        }
        if changed && !(self.still)() {
            self.ended = true;
            return std::task::Poll::Ready(Some(Err(Status::unauthenticated(
                "the credential this stream was opened with has been revoked (SetCredentials) or its terminal \
                 deactivated (SetActive)",
            ))));
        }
        let polled = Pin::new(&mut self.inner).poll_next(context);
        if matches!(polled, std::task::Poll::Ready(None)) {
            self.ended = true;
        }
        polled
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;

    fn timeout<T>(value: &str) -> Request<T>
    where
        T: Default,
    {
        let mut request = Request::new(T::default());
        request.metadata_mut().insert("grpc-timeout", value.parse().expect("ascii"));
        request
    }

    #[tokio::test]
    async fn grpc_timeout_follows_the_wire_format() {
        // The deadline is taken from "now" inside the call: it lies between
        // the instants before and after it.
        let within = |value: &str, expected: std::time::Duration| {
            let before = tokio::time::Instant::now();
            let at = deadline_of(&timeout::<()>(value)).expect("a deadline");
            assert!(at >= before + expected && at <= tokio::time::Instant::now() + expected, "{value}");
        };
        within("3S", std::time::Duration::from_secs(3));
        within("250m", std::time::Duration::from_millis(250));
        within("2M", std::time::Duration::from_secs(120));
        within("1H", std::time::Duration::from_secs(3_600));
        within("7u", std::time::Duration::from_micros(7));
        within("9n", std::time::Duration::from_nanos(9));
        let after = |value: &str| deadline_of(&timeout::<()>(value));
        for bad in ["", "S", "12", "1x", "123456789S", "-1S"] {
            assert_eq!(after(bad), None, "{bad:?} is not a grpc-timeout");
        }
        assert!(deadline_of(&Request::new(())).is_none(), "no header, no deadline");
    }

    #[tokio::test]
    async fn a_stream_past_its_deadline_sends_what_is_waiting_then_deadline_exceeded() {
        let (out, items) = mpsc::channel::<Result<u32, Status>>(8);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(100);
        let mut stream = UntilDeadline::new(ReceiverStream::new(items), Some(deadline));
        out.send(Ok(1)).await.expect("open");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 1, "before the deadline");
        tokio::time::sleep_until(deadline + std::time::Duration::from_millis(10)).await;
        out.send(Ok(2)).await.expect("open");
        out.send(Ok(3)).await.expect("open");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 2, "waiting at the deadline: sent");
        assert_eq!(stream.next().await.expect("an item").expect("ok"), 3);
        let status = stream.next().await.expect("the end").expect_err("deadline exceeded");
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(stream.next().await.is_none(), "nothing after the end");
        out.send(Ok(4)).await.expect("the producer is not told yet; the stream is dropped next");
    }
}
