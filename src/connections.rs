//! Accepted connections, bounded: how many are open at once, and how long
//! one may stay silent before it says anything. Both listeners use it (the
//! public API and the Raft port), so that neither can be filled with idle
//! sockets: a connection past the bound is closed at once, before any byte
//! is read, and one that sends nothing (no TLS hello, no HTTP/2 preface)
//! within its deadline is closed then.

use std::pin::Pin;
use std::sync::Arc;
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
    /// Until the first byte is read: when the connection is given up.
    silent_until: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The connections `listener` accepts, at most `max` open at once (one past
/// it is closed at once, and logged as `name`'s), each closed if it sends
/// nothing within `first_bytes_within`; with `TCP_NODELAY` set (the
/// builder's TCP options apply only to listeners tonic binds itself:
/// without it, small replies wait for delayed ACKs).
pub fn limited(
    listener: TcpListener,
    max: usize,
    first_bytes_within: Duration,
    name: &'static str,
) -> impl Stream<Item = std::io::Result<Counted>> {
    let slots = Arc::new(tokio::sync::Semaphore::new(max.max(1)));
    TcpListenerStream::new(listener).filter_map(move |stream| {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => return Some(Err(error)),
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(listener = name, connections_max = max, "connection closed: the listener holds its most");
            return None;
        };
        let silent_until = Some(Box::pin(tokio::time::sleep(first_bytes_within)));
        Some(stream.set_nodelay(true).map(|()| Counted { inner: stream, _slot: slot, silent_until }))
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
