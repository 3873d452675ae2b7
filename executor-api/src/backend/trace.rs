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
