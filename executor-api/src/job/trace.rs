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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use tracing::Span;

use crate::contain::{drop_contained, drop_payload};

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
        // The subscriber's code is user code: a panic in it gives the job no
        // span, never a panic in the submitter.
        match catch_unwind(AssertUnwindSafe(|| JobTrace::try_new(executor, job))) {
            Ok(trace) => trace,
            Err(payload) => {
                drop_payload(payload);
                None
            }
        }
    }

    fn try_new(executor: &str, job: Option<&str>) -> Option<Box<JobTrace>> {
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
        if !span.is_disabled() {
            return Some(Box::new(JobTrace {
                span,
                submitted: Some(Instant::now()),
            }));
        }
        if parent.is_disabled() {
            return None;
        }
        // No `job` span, but the submitter's: enter that one, recording
        // nothing into it (it may be another job's span).
        Some(Box::new(JobTrace {
            span: parent,
            submitted: None,
        }))
    }

    /// Enters the job's span for one poll (the first records the queue
    /// time). A subscriber that panics, entering or exiting, costs the poll
    /// its span, never a panic in the executor's thread.
    pub(crate) fn enter(&mut self) -> EnteredSpan {
        let entered = catch_unwind(AssertUnwindSafe(|| self.span_for_poll().clone().entered()));
        match entered {
            Ok(entered) => EnteredSpan(Some(entered)),
            Err(payload) => {
                drop_payload(payload);
                EnteredSpan(None)
            }
        }
    }

    /// The span a poll enters; the first call records the queue time.
    fn span_for_poll(&mut self) -> &Span {
        if let Some(submitted) = self.submitted.take() {
            let queued = u64::try_from(submitted.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.span.record("queue_us", queued);
        }
        &self.span
    }
}

/// A job's span entered for a poll; exited (and the clone closed) when
/// dropped, with a panicking subscriber contained.
pub(crate) struct EnteredSpan(Option<tracing::span::EnteredSpan>);

impl Drop for EnteredSpan {
    fn drop(&mut self) {
        drop_contained(self.0.take());
    }
}

/// Drops a job's trace (closing its span), containing a panicking
/// subscriber.
pub(crate) fn drop_trace(trace: Option<Box<JobTrace>>) {
    drop_contained(trace);
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

    /// A subscriber that panics when asked for a span, or when one is
    /// entered or exited.
    struct Panicking {
        in_new_span: bool,
    }

    impl tracing::Subscriber for Panicking {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            if self.in_new_span {
                panic!("a subscriber's own panic");
            }
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {
            panic!("a subscriber's own panic");
        }
        fn exit(&self, _: &tracing::span::Id) {
            panic!("a subscriber's own panic");
        }
    }

    /// A subscriber's panic costs the job its span, and never escapes:
    /// not while the span is made (the job is being submitted), nor when a
    /// poll enters or leaves it (on the executor's thread).
    #[test]
    fn a_panicking_subscriber_costs_the_job_its_span() {
        let panicking = Panicking { in_new_span: true };
        let trace = tracing::subscriber::with_default(panicking, || JobTrace::new("e", None));
        assert!(trace.is_none());
        let panicking = Panicking { in_new_span: false };
        tracing::subscriber::with_default(panicking, || {
            let mut trace = JobTrace::new("e", None).expect("a span");
            let entered = trace.enter();
            drop(entered);
            drop_trace(Some(trace));
        });
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
