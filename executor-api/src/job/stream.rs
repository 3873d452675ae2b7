//! Streams across executors: a producer task pumps a stream into a bounded
//! channel, and the consumer reads the channel, then the producer's outcome.
//!
//! Used both ways: [`JobStream`] (a stream produced by a job, consumed by
//! the caller) and [`IoStream`](crate::io::IoStream) (a stream of I/O driven
//! on the I/O runtime, consumed by a job).

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::error::JobError;
use crate::job::handle::JobHandle;

/// A channel holding at most `buffer` items: at least one, and at most
/// what Tokio's channel can count (`usize::MAX >> 3`).
pub(crate) fn channel<T>(buffer: usize) -> (mpsc::Sender<T>, mpsc::Receiver<T>) {
    mpsc::channel(buffer.clamp(1, tokio::sync::Semaphore::MAX_PERMITS))
}

/// Moves every item of `stream` into `items`. A slot is reserved before the
/// next item is pulled, so the producer never runs more than the channel's
/// capacity ahead of the consumer. Ends early when the consumer is gone.
pub(crate) async fn pump<S: Stream>(stream: S, items: mpsc::Sender<S::Item>) {
    let mut stream = pin!(stream);
    loop {
        let Ok(slot) = items.reserve().await else {
            return;
        };
        match poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
            Some(item) => slot.send(item),
            None => return,
        }
    }
}

/// The consumer side: the channel's items, then the producer's outcome.
pub(crate) struct Relay<T, P> {
    /// `None` once its outcome was reported. Declared first so that a drop
    /// cancels the producer before it sees the channel close.
    producer: Option<P>,
    items: mpsc::Receiver<T>,
}

impl<T, P, E> Relay<T, P>
where
    P: Future<Output = Result<(), E>> + Unpin,
{
    pub(crate) fn new(items: mpsc::Receiver<T>, producer: P) -> Self {
        Relay {
            items,
            producer: Some(producer),
        }
    }

    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, E>>> {
        let Some(producer) = self.producer.as_mut() else {
            return Poll::Ready(None);
        };
        match self.items.poll_recv(cx) {
            Poll::Ready(Some(item)) => Poll::Ready(Some(Ok(item))),
            Poll::Pending => Poll::Pending,
            // The producer dropped its sender: it ended, or is ending. Every
            // item it sent has been read; its outcome says whether it ended
            // well.
            Poll::Ready(None) => match Pin::new(producer).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(outcome) => {
                    self.producer = None;
                    Poll::Ready(outcome.err().map(Err))
                }
            },
        }
    }
}

/// The items of a stream produced by a job, started with
/// [`Executor::spawn_stream`](crate::Executor::spawn_stream): `Ok(item)`
/// for each item in order, then at most one `Err(JobError)` that ends it.
///
/// It can be consumed from any async runtime, or from a plain thread with
/// any `block_on`.
///
/// # Cancellation
///
/// Dropping it cancels the producer job, like dropping a
/// [`JobHandle`]: the producer is dropped at its next `.await`.
///
/// # Errors
///
/// The last item is an `Err` when the producer panicked
/// ([`JobError::Panicked`], after the items it yielded before the panic),
/// was cancelled by an immediate shutdown ([`JobError::Cancelled`]) or was
/// submitted after a shutdown began ([`JobError::ShutDown`]).
#[must_use = "streams do nothing unless polled; dropping a JobStream cancels its producer"]
pub struct JobStream<T> {
    relay: Relay<T, JobHandle<()>>,
}

impl<T> JobStream<T> {
    pub(crate) fn new(items: mpsc::Receiver<T>, producer: JobHandle<()>) -> Self {
        JobStream {
            relay: Relay::new(items, producer),
        }
    }
}

impl<T> fmt::Debug for JobStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobStream").finish_non_exhaustive()
    }
}

impl<T> Stream for JobStream<T> {
    type Item = Result<T, JobError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.relay.poll_next(cx)
    }
}
