//! Accepted connections, bounded: how many are open at once, how many from
//! one address, and how long one may stay silent before it says anything.
//! Both listeners use it (the public API and the Raft port): a connection
//! past a bound is closed at once, before any byte is read, and one that
//! sends nothing within its deadline is closed then. (A connection that
//! says one byte and no more is the TLS handshake timeout's, or, in
//! plaintext, held until the peer goes: docs/SECURITY.md.)

use std::collections::HashMap;
use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::{Stream, StreamExt as _};

/// An accepted connection, counted against its listener's bound while
/// open, closed if its first bytes do not arrive within its deadline.
pub struct Counted {
    inner: TcpStream,
    _slot: tokio::sync::OwnedSemaphorePermit,
    _from: Option<AddressSlot>,
    /// Until the first byte is read: when the connection is given up.
    silent_until: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How many connections each address holds open.
type PerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One of an address's connections, given back when it closes.
struct AddressSlot {
    address: IpAddr,
    open: PerAddress,
}

impl AddressSlot {
    fn take(open: &PerAddress, address: IpAddr, max: usize) -> Option<Self> {
        let mut counts = open.lock().expect("not poisoned");
        let count = counts.entry(address).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Self { address, open: Arc::clone(open) })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().expect("not poisoned");
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// The bounds of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Connections open at once.
    pub max: usize,
    /// Connections open at once from one address (`None`: no bound; the
    /// public API serves terminals behind shared addresses).
    pub per_address_max: Option<usize>,
    /// Time to say the first bytes.
    pub first_bytes_within: Duration,
}

/// Refusals are logged at most this often per listener (with how many
/// there were since), so that a flood of connections is not also a flood
/// of log lines.
const REFUSAL_LOG_EVERY_MS: u64 = 1_000;

/// The connections `listener` accepts, at most `max` open at once (one past
/// it is closed at once, and logged as `name`'s), each closed if it sends
/// nothing within `first_bytes_within`; with `TCP_NODELAY` set (the
/// builder's TCP options apply only to listeners tonic binds itself:
/// without it, small replies wait for delayed ACKs).
pub fn limited(
    listener: TcpListener,
    bounds: Bounds,
    name: &'static str,
) -> impl Stream<Item = std::io::Result<Counted>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(bounds.max.max(1)));
    let per_address: PerAddress = Arc::default();
    let (refused, last_logged_ms) = (AtomicU64::new(0), AtomicU64::new(0));
    let refuse = move |why: &'static str| {
        let refused = refused.fetch_add(1, Ordering::Relaxed) + 1;
        let now_ms = crate::core::clock::now_unix_ms();
        let last = last_logged_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) >= REFUSAL_LOG_EVERY_MS
            && last_logged_ms.compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed).is_ok()
        {
            tracing::warn!(listener = name, refused_so_far = refused, "connection closed: {why}");
        }
    };
    TcpListenerStream::new(listener).filter_map(move |stream| {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => return Some(Err(error)),
        };
        let from = match (bounds.per_address_max, stream.peer_addr()) {
            (Some(max), Ok(peer)) => match AddressSlot::take(&per_address, peer.ip(), max) {
                Some(slot) => Some(slot),
                None => {
                    refuse("the address holds its most connections");
                    return None;
                }
            },
            _ => None,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            refuse("the listener holds its most connections");
            return None;
        };
        let silent_until = Some(Box::pin(tokio::time::sleep(bounds.first_bytes_within)));
        Some(stream.set_nodelay(true).map(|()| Counted { inner: stream, _slot: slot, _from: from, silent_until }))
    })
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let filled = buffer.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(context, buffer);
        if self.silent_until.is_none() {
            return read;
        }
        match read {
            Poll::Ready(Ok(())) if buffer.filled().len() > filled => {
                self.silent_until = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired =
                    self.silent_until.as_mut().is_some_and(|deadline| deadline.as_mut().poll(context).is_ready());
                if expired {
                    Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the connection sent nothing within its deadline",
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, context: &mut Context<'_>, bytes: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

impl tonic::transport::server::Connected for Counted {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_its_deadline_and_one_past_the_address_bound_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let bounds = Bounds { max: 4, per_address_max: Some(2), first_bytes_within: Duration::from_millis(200) };
        let mut incoming = Box::pin(limited(listener, bounds, "test"));

        let mut talker = TcpStream::connect(addr).await.expect("connects");
        let mut talked = incoming.next().await.expect("accepted").expect("a connection");
        talker.write_all(b"hello").await.expect("written");
        let mut bytes = [0u8; 5];
        talked.read_exact(&mut bytes).await.expect("the first bytes in time");
        assert_eq!(&bytes, b"hello");

        let _silent = TcpStream::connect(addr).await.expect("connects");
        let mut silent = incoming.next().await.expect("accepted").expect("a connection");
        let started = tokio::time::Instant::now();
        let error = silent.read(&mut bytes).await.expect_err("closed at its deadline");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Once a connection has spoken, the deadline is gone.
        tokio::time::sleep(Duration::from_millis(300)).await;
        talker.write_all(b"again").await.expect("written");
        talked.read_exact(&mut bytes).await.expect("a later read");

        // Two from this address are open: a third is closed at once, never
        // handed on.
        let mut third = TcpStream::connect(addr).await.expect("connects");
        let next = tokio::time::timeout(Duration::from_millis(300), incoming.next()).await;
        assert!(next.is_err(), "a connection past the address bound was handed on");
        let read = tokio::time::timeout(Duration::from_secs(2), third.read(&mut bytes)).await.expect("closed");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
}
