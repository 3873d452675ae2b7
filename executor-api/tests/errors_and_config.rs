//! Errors and configuration: messages, panic payloads, validation.

use executor_api::Priority;
use executor_api::backend::DEFAULT_NICE;
use executor_api::{BuildError, JobError, NON_STRING_PANIC, validate_name, validate_nice};

/// Panic payloads become messages: `&str` and `String` verbatim, anything
/// else a fixed text.
#[test]
fn panic_payloads_become_messages() {
    let message = |payload: Box<dyn std::any::Any + Send>| match JobError::from_panic(payload) {
        JobError::Panicked { message } => message,
        other => panic!("not a panic: {other:?}"),
    };
    assert_eq!(message(Box::new("static")), "static");
    assert_eq!(message(Box::new(String::from("owned"))), "owned");
    assert_eq!(message(Box::new(42_u32)), NON_STRING_PANIC);
}

/// Each error says what happened and what to do.
#[test]
fn error_messages_say_what_to_do() {
    let shut_down = JobError::ShutDown.to_string();
    assert!(shut_down.contains("shutting down") && shut_down.contains("submit work before"));
    let cancelled = JobError::Cancelled.to_string();
    assert!(cancelled.contains("cancelled") && cancelled.contains("detach"));
    let panicked = JobError::Panicked {
        message: "boom".into(),
    }
    .to_string();
    assert!(panicked.contains("boom") && panicked.contains("still running"));
    assert!(JobError::Cancelled.is_cancelled() && !JobError::Cancelled.is_panic());
    assert!(JobError::ShutDown.is_shut_down());

    let io = BuildError::Io(std::io::Error::other("no threads"));
    assert!(std::error::Error::source(&io).is_some());
    assert!(io.to_string().contains("no threads"));
    assert!(std::error::Error::source(&BuildError::ZeroWorkers).is_none());
}

/// Names and niceness are validated the same way for every backend.
#[test]
fn configuration_is_validated() {
    assert!(validate_name("cpu").is_ok());
    for bad in ["", "nul\0", "tab\there"] {
        assert!(
            matches!(validate_name(bad), Err(BuildError::InvalidName { .. })),
            "{bad:?}"
        );
    }
    assert!(validate_nice(0).is_ok() && validate_nice(19).is_ok());
    assert!(matches!(
        validate_nice(-1),
        Err(BuildError::InvalidNice { nice: -1 })
    ));
    assert!(matches!(
        validate_nice(20),
        Err(BuildError::InvalidNice { nice: 20 })
    ));

    assert_eq!(Priority::DEFAULT, Priority::Nice(DEFAULT_NICE));
    assert_eq!(Priority::default(), Priority::DEFAULT);
    let builder = executor_tokio::DedicatedExecutor::builder;
    assert!(matches!(
        builder().worker_threads(0).build(),
        Err(BuildError::ZeroWorkers)
    ));
    assert!(matches!(
        builder().nice(42).build(),
        Err(BuildError::InvalidNice { nice: 42 })
    ));
    assert!(matches!(
        builder().priority(Priority::Nice(-1)).build(),
        Err(BuildError::InvalidNice { nice: -1 })
    ));
    // The last priority call decides: a bad niceness replaced by a valid
    // priority is not an error.
    let executor = builder()
        .nice(42)
        .idle_priority()
        .worker_threads(1)
        .build()
        .expect("the niceness was replaced");
    executor_api::Executor::shutdown(&executor);
}
