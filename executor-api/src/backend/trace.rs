//! Job spans: a job runs inside the tracing span that was current when it
//! was submitted, and inside a `job` span of its own.
//!
//! A service's request handler typically runs inside a span carrying the
//! request's fields (an id, a tenant, a query). The CPU work it hands to an
//! executor runs on other threads, where that span is not current: events
//! logged there would lose the request's context. So each job captures the
//! submitter's current span, and its polls enter a `job` span whose parent
//! it is (what `tracing::Instrument` does for a future, and DataFusion's
//! `JoinSetTracer` for its tasks).
//!
//! The span lives behind a `Box` in the job: a job without one (no
//! subscriber interested, or spans turned off with
//! [`Builder::without_job_spans`](crate::Builder::without_job_spans)) pays
//! eight bytes and no allocation.

use std::time::Instant;

use tracing::Span;

/// What a traced job carries.
pub(crate) struct JobTrace {
    /// The `job` span, or the submitter's span if no subscriber wants `job`
    /// spans.
    span: Span,
    /// When the job was submitted, until its first poll records its queue
    /// time.
    submitted: Option<Instant>,
}

impl JobTrace {
    /// The trace of a job submitted now, on the calling thread, to the
    /// executor `executor`: `None` if no subscriber is interested in the
    /// job's span or the submitter's.
    pub(crate) fn new(executor: &str, job: Option<&str>) -> Option<Box<JobTrace>> {
        // No subscriber at all: nothing to record. (Checked first because a
        // callsite that a scoped subscriber, now gone, found interesting
        // stays cached as interesting, and would build a span that records
        // nowhere.)
        let no_subscriber = tracing::dispatcher::get_default(|dispatch| {
            dispatch.is::<tracing::subscriber::NoSubscriber>()
        });
        if no_subscriber {
            return None;
        }
        let parent = Span::current();
        let span = tracing::info_span!(
            parent: &parent,
            "job",
            executor,
            job = job.unwrap_or(""),
            queue_us = tracing::field::Empty,
        );
        let span = if span.is_disabled() { parent } else { span };
        if span.is_disabled() {
            return None;
        }
        Some(Box::new(JobTrace {
            span,
            submitted: Some(Instant::now()),
        }))
    }

    /// The span a poll enters; the first call records the queue time.
    pub(crate) fn span_for_poll(&mut self) -> &Span {
        if let Some(submitted) = self.submitted.take() {
            let queued = u64::try_from(submitted.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.span.record("queue_us", queued);
        }
        &self.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscriber interested in everything, recording nothing.
    struct Interested;

    impl tracing::Subscriber for Interested {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// With a subscriber, a job gets a trace; with none, it gets none (no
    /// allocation), even after a scoped subscriber found the `job` span
    /// interesting (which tracing caches).
    #[test]
    fn a_job_is_traced_only_while_a_subscriber_listens() {
        let traced = tracing::subscriber::with_default(Interested, || {
            JobTrace::new("executor", Some("job")).is_some()
        });
        assert!(traced);
        assert!(JobTrace::new("executor", Some("job")).is_none());
    }
}
