//! A proptest state machine over the whole lifecycle: random sequences of
//! spawns (to the default class, a bounded and capped class, and a capped
//! one, with or without a job group), groups made and ended,
//! releases, handle drops, detaches, cancels, clones, shutdowns of
//! every kind, joins and executor drops, run on a backend and on a
//! reference model ([`Model`]).
//!
//! The model cannot know how the threads interleave, so for each job it
//! keeps the *set* of endings the contract allows (for example a quick job
//! whose handle was dropped may have completed or been cancelled; a job
//! still blocked on its gate when its handle is dropped can only be
//! cancelled). After each sequence the harness releases every gate, shuts
//! down, joins (bounded), and checks that:
//!
//! - every held handle resolved once, to an ending the model allows;
//! - the counters lie within the model's bounds and add up;
//! - no thread of the executor is left;
//! - everything each job captured was dropped;
//! - every group counts no job queued or running, and once the groups'
//!   handles are dropped, no class counts a live group.
//!
//! The case count comes from `EXECUTOR_PROPTEST_CASES` (default 64;
//! `cargo xtask test --thorough` runs 10 000). Failing seeds are kept in
//! `proptest-regressions/state_machine.txt` in the backend's crate.

use std::collections::BTreeSet;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use executor_api::backend::{ExecutorBackend, ExecutorCore};
use executor_api::{Executor, JobError, JobGroup, JobHandle, Metrics};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use rayon::prelude::*;

use crate::conformance::{Backend, Config};
use crate::support::{DropCounter, Gate, assert_no_threads_named, block_on_within};

/// What a job does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// A closure that returns at once.
    Quick,
    /// A closure that runs until its gate opens, checking its cancel token.
    Cooperative,
    /// A closure that blocks on its gate and ignores its cancel token.
    NonYielding,
    /// A future pending on its gate.
    Pending,
    /// A closure that panics.
    Panicking,
    /// A future that spawns two sub-tasks and awaits them.
    SubTasks,
    /// A closure that uses Rayon's `par_iter`.
    ParIter,
    /// A closure that holds a lock shared by every job of this kind across
    /// a `par_iter`: a job started nested inside another one's wait would
    /// deadlock on it.
    LockedParIter,
    /// A closure that panics with a payload whose destructor panics too.
    PanickingPayload,
    /// A future pending on its gate that captures a value whose destructor
    /// panics: completing, it ends `Panicked` (the destructor runs when the
    /// job ends); cancelled, it ends `Cancelled`.
    PanickingDrop,
    /// A future pending on its gate whose handle was first polled with a
    /// waker that panics when woken.
    PanickingWaker,
    /// A closure whose value has a destructor that panics: wherever the
    /// value is dropped (by the executor for a dropped or detached handle,
    /// by a handle dropped after the job ended), the panic is contained.
    PanickingOutput,
    /// A closure that hands work to the backend's own pool directly, not
    /// as a job (`rayon::spawn`, `tokio::spawn`), and returns: that work
    /// must have run or been dropped by the time `join` resolves.
    NativeWork,
}

/// What a job returns: its index, and for
/// [`JobKind::PanickingOutput`] a value whose destructor panics unless the
/// test defuses it.
pub struct Output {
    index: u64,
    bomb: Option<PanickingDrop>,
}

impl Output {
    fn plain(index: u64) -> Self {
        Output { index, bomb: None }
    }

    /// The index; defuses the bomb, which the test thread must not drop.
    fn into_index(self) -> u64 {
        if let Some(bomb) = self.bomb {
            std::mem::forget(bomb);
        }
        self.index
    }
}

impl JobKind {
    fn natural_ending(self) -> Ending {
        match self {
            JobKind::Panicking | JobKind::PanickingPayload | JobKind::PanickingDrop => {
                Ending::Panicked
            }
            _ => Ending::Completed,
        }
    }

    fn waits_on_gate(self) -> bool {
        matches!(
            self,
            JobKind::Cooperative
                | JobKind::NonYielding
                | JobKind::Pending
                | JobKind::PanickingDrop
                | JobKind::PanickingWaker
        )
    }

    /// A future (as opposed to a closure): a cancel drops it at its next
    /// await, so it may still complete in the poll that races the cancel.
    fn is_future(self) -> bool {
        matches!(
            self,
            JobKind::Pending | JobKind::PanickingDrop | JobKind::PanickingWaker
        )
    }
}

/// The workload class a job is submitted to: the state machine's executor
/// has a bounded class and a capped one beside the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmClass {
    /// No bound, no cap.
    Default,
    /// At most [`BOUND`] jobs waiting, and capped at a fifth of a core, so
    /// that jobs wait for its budget: later submissions may be refused, and
    /// must not be once the waiting jobs were cancelled.
    Bounded,
    /// Capped at a tenth of a core: its jobs may wait for their budget,
    /// through a graceful drain too.
    Capped,
}

/// How many jobs the bounded class lets wait.
pub const BOUND: usize = 2;

impl SmClass {
    fn name(self) -> &'static str {
        match self {
            SmClass::Default => executor_api::DEFAULT_CLASS,
            SmClass::Bounded => "bounded",
            SmClass::Capped => "capped",
        }
    }
}

/// How an admitted job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ending {
    /// It produced its value.
    Completed,
    /// It was cancelled.
    Cancelled,
    /// It panicked.
    Panicked,
}

/// The strongest shutdown requested so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShutdownKind {
    /// `shutdown`, or the last clone dropped.
    Graceful,
    /// `shutdown_timeout`.
    Deadline,
    /// `shutdown_now`.
    Immediate,
}

/// Where a job's handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleState {
    /// Held by the test.
    Held,
    /// Held, and `cancel` was called.
    Cancelled,
    /// Dropped (which cancels the job).
    Dropped,
    /// Detached.
    Detached,
}

/// The model of one submitted job.
#[derive(Clone, Debug)]
pub struct ModelJob {
    kind: JobKind,
    class: SmClass,
    rejected: bool,
    /// Its class may have been full: it may have been refused as
    /// overloaded.
    maybe_overloaded: bool,
    /// Submitted while another thread requested a shutdown: it may have
    /// been rejected or admitted.
    maybe_rejected: bool,
    released: bool,
    handle: HandleState,
    /// The endings the contract allows, given what happened so far.
    endings: BTreeSet<Ending>,
}

impl ModelJob {
    /// Still waiting on its gate, so certainly not finished.
    fn blocked(&self) -> bool {
        self.kind.waits_on_gate() && !self.released
    }

    /// The job is cancelled (handle dropped or cancelled, or immediate
    /// shutdown).
    ///
    /// A closure still blocked on its gate can only end cancelled: it sees
    /// the cancel when it returns, at the latest. A future may be in the
    /// middle of a poll when the cancel lands, and if its gate opens before
    /// that poll reads it, it completes in that poll and keeps its value (the
    /// contract drops a future at its *next* await). Anything else may have
    /// finished already.
    fn cancel(&mut self) {
        if self.rejected {
            return;
        }
        let closure_still_blocked = self.blocked() && !self.kind.is_future();
        if closure_still_blocked {
            self.endings = BTreeSet::from([Ending::Cancelled]);
        } else {
            self.endings.insert(Ending::Cancelled);
        }
    }
}

/// The reference model's state.
#[derive(Clone, Debug, Default)]
pub struct Model {
    clones: usize,
    shutdown: Option<ShutdownKind>,
    joined: bool,
    jobs: Vec<ModelJob>,
    /// Each group made: its class, and whether its handle is still held.
    groups: Vec<(SmClass, bool)>,
}

impl Model {
    /// Whether a join would wait forever: a job blocked on a gate that
    /// nothing but a release will open.
    fn join_would_hang(&self) -> bool {
        self.jobs.iter().any(|job| {
            !job.rejected
                && job.blocked()
                && (job.kind == JobKind::NonYielding
                    || (self.shutdown == Some(ShutdownKind::Graceful)
                        && job.handle != HandleState::Dropped
                        && job.handle != HandleState::Cancelled))
        })
    }

    fn live_groups(&self) -> Vec<usize> {
        (0..self.groups.len())
            .filter(|&group| self.groups[group].1)
            .collect()
    }

    fn held(&self, index: usize) -> bool {
        self.jobs
            .get(index)
            .is_some_and(|job| matches!(job.handle, HandleState::Held | HandleState::Cancelled))
    }
}

/// One step of a sequence.
#[derive(Clone, Debug)]
pub enum Op {
    /// Submit a job of this kind to this class.
    Spawn(JobKind, SmClass),
    /// Make a job group in this class.
    NewGroup(SmClass),
    /// Submit a job of this kind to group `n` (in its class).
    SpawnInGroup(JobKind, usize),
    /// Drop group `n`'s handle: it ends once its jobs have.
    EndGroup(usize),
    /// Open job `n`'s gate.
    Release(usize),
    /// Drop job `n`'s handle.
    DropHandle(usize),
    /// Detach job `n`.
    Detach(usize),
    /// Cancel job `n`, keeping its handle.
    Cancel(usize),
    /// Clone the executor.
    CloneExecutor,
    /// Drop one clone (not the last).
    DropClone,
    /// Graceful shutdown.
    Shutdown,
    /// Immediate shutdown.
    ShutdownNow,
    /// Deadline shutdown, in milliseconds.
    ShutdownTimeout(u64),
    /// Await `join`.
    Join,
    /// Drop every clone of the executor.
    DropExecutor,
    /// Submit [`RACING_SPAWNS`] quick jobs from another thread while this
    /// thread requests a shutdown of this kind: each is admitted (and then
    /// drained or cancelled) or rejected, never lost.
    RacingSpawns(ShutdownKind),
}

/// How many jobs [`Op::RacingSpawns`] submits.
pub const RACING_SPAWNS: usize = 3;

/// The reference state machine.
#[derive(Debug)]
pub struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Op;

    fn init_state() -> BoxedStrategy<Model> {
        Just(Model {
            clones: 1,
            ..Model::default()
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Op> {
        // Only offer operations whose preconditions hold, so that proptest
        // rarely has to reject and regenerate.
        let mut options: Vec<(u32, BoxedStrategy<Op>)> = Vec::new();
        if state.clones > 0 {
            let kind = prop_oneof![
                Just(JobKind::Quick),
                Just(JobKind::Cooperative),
                Just(JobKind::NonYielding),
                Just(JobKind::Pending),
                Just(JobKind::Panicking),
                Just(JobKind::SubTasks),
                Just(JobKind::ParIter),
                Just(JobKind::LockedParIter),
                Just(JobKind::PanickingPayload),
                Just(JobKind::PanickingDrop),
                Just(JobKind::PanickingWaker),
                Just(JobKind::PanickingOutput),
                Just(JobKind::NativeWork),
            ];
            let class = prop_oneof![
                2 => Just(SmClass::Default),
                1 => Just(SmClass::Bounded),
                1 => Just(SmClass::Capped),
            ];
            let live_groups = state.live_groups();
            if live_groups.is_empty() {
                options.push((
                    8,
                    (kind, class.clone())
                        .prop_map(|(kind, class)| Op::Spawn(kind, class))
                        .boxed(),
                ));
            } else {
                options.push((
                    5,
                    (kind.clone(), class.clone())
                        .prop_map(|(kind, class)| Op::Spawn(kind, class))
                        .boxed(),
                ));
                options.push((
                    3,
                    (kind, select(live_groups.clone()))
                        .prop_map(|(kind, group)| Op::SpawnInGroup(kind, group))
                        .boxed(),
                ));
                options.push((1, select(live_groups).prop_map(Op::EndGroup).boxed()));
            }
            options.push((1, class.prop_map(Op::NewGroup).boxed()));
            options.push((1, Just(Op::CloneExecutor).boxed()));
            options.push((1, Just(Op::Shutdown).boxed()));
            options.push((1, Just(Op::ShutdownNow).boxed()));
            options.push((1, (0..20u64).prop_map(Op::ShutdownTimeout).boxed()));
            options.push((1, Just(Op::DropExecutor).boxed()));
            let racing = prop_oneof![
                Just(ShutdownKind::Graceful),
                Just(ShutdownKind::Deadline),
                Just(ShutdownKind::Immediate),
            ];
            options.push((1, racing.prop_map(Op::RacingSpawns).boxed()));
        }
        if state.clones > 1 {
            options.push((1, Just(Op::DropClone).boxed()));
        }
        if !state.jobs.is_empty() {
            options.push((4, (0..state.jobs.len()).prop_map(Op::Release).boxed()));
        }
        let held: Vec<usize> = (0..state.jobs.len()).filter(|&n| state.held(n)).collect();
        if !held.is_empty() {
            options.push((2, select(held.clone()).prop_map(Op::DropHandle).boxed()));
            options.push((1, select(held).prop_map(Op::Detach).boxed()));
        }
        let cancellable: Vec<usize> = (0..state.jobs.len())
            .filter(|&n| state.jobs[n].handle == HandleState::Held)
            .collect();
        if !cancellable.is_empty() {
            options.push((1, select(cancellable).prop_map(Op::Cancel).boxed()));
        }
        if Self::preconditions(state, &Op::Join) {
            options.push((1, Just(Op::Join).boxed()));
        }
        if options.is_empty() {
            // Nothing else applies: every clone is gone and nothing hangs.
            return Just(Op::Join).boxed();
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &Model, op: &Op) -> bool {
        match op {
            Op::Spawn(..)
            | Op::CloneExecutor
            | Op::Shutdown
            | Op::ShutdownNow
            | Op::ShutdownTimeout(_)
            | Op::RacingSpawns(_)
            | Op::NewGroup(_)
            | Op::DropExecutor => state.clones > 0,
            Op::SpawnInGroup(_, group) => {
                state.clones > 0 && state.groups.get(*group).is_some_and(|group| group.1)
            }
            Op::EndGroup(group) => state.groups.get(*group).is_some_and(|group| group.1),
            Op::DropClone => state.clones > 1,
            Op::Release(n) => *n < state.jobs.len(),
            Op::DropHandle(n) | Op::Detach(n) => state.held(*n),
            Op::Cancel(n) => state
                .jobs
                .get(*n)
                .is_some_and(|job| job.handle == HandleState::Held),
            Op::Join => state.shutdown.is_some() && !state.join_would_hang(),
        }
    }

    fn apply(mut state: Model, op: &Op) -> Model {
        let joined = state.joined;
        // A job in a group is, to the contract, a job of the group's class.
        let op = &match *op {
            Op::SpawnInGroup(kind, group) => Op::Spawn(kind, state.groups[group].0),
            ref other => other.clone(),
        };
        match *op {
            Op::NewGroup(class) => state.groups.push((class, true)),
            Op::EndGroup(group) => state.groups[group].1 = false,
            Op::SpawnInGroup(..) => unreachable!("turned into a spawn above"),
            Op::Spawn(kind, class) => {
                let rejected = state.shutdown.is_some();
                // The bound counts jobs not yet started: once two that may
                // still wait are admitted to the class, a later one may find
                // it full. A job whose handle was dropped or cancelled waits
                // no more: it had started, or the cancel ended it at once
                // and freed its slot, however far its (capped) class is from
                // its budget. So a resubmission after cancelling the
                // waiting jobs must be admitted.
                let earlier = state
                    .jobs
                    .iter()
                    .filter(|job| {
                        job.class == SmClass::Bounded
                            && !job.rejected
                            && matches!(job.handle, HandleState::Held | HandleState::Detached)
                    })
                    .count();
                let maybe_overloaded = class == SmClass::Bounded && !rejected && earlier >= BOUND;
                state.jobs.push(ModelJob {
                    kind,
                    class,
                    rejected,
                    maybe_overloaded,
                    maybe_rejected: false,
                    released: false,
                    handle: HandleState::Held,
                    endings: if rejected {
                        BTreeSet::new()
                    } else {
                        BTreeSet::from([kind.natural_ending()])
                    },
                });
            }
            Op::Release(n) => state.jobs[n].released = true,
            Op::DropHandle(n) => {
                let job = &mut state.jobs[n];
                if job.handle == HandleState::Held && !joined {
                    job.cancel();
                }
                job.handle = HandleState::Dropped;
            }
            Op::Detach(n) => state.jobs[n].handle = HandleState::Detached,
            Op::Cancel(n) => {
                let job = &mut state.jobs[n];
                if !joined {
                    job.cancel();
                }
                job.handle = HandleState::Cancelled;
            }
            Op::CloneExecutor => state.clones += 1,
            Op::DropClone => state.clones -= 1,
            Op::Shutdown => state.shutdown = state.shutdown.max(Some(ShutdownKind::Graceful)),
            Op::DropExecutor => {
                state.clones = 0;
                state.shutdown = state.shutdown.max(Some(ShutdownKind::Graceful));
            }
            Op::ShutdownTimeout(_) => {
                state.shutdown = state.shutdown.max(Some(ShutdownKind::Deadline));
                if !joined {
                    // The deadline may pass before or after any job ends.
                    for job in state.jobs.iter_mut().filter(|job| !job.rejected) {
                        job.endings.insert(Ending::Cancelled);
                    }
                }
            }
            Op::ShutdownNow => {
                state.shutdown = Some(ShutdownKind::Immediate);
                if !joined {
                    state.jobs.iter_mut().for_each(ModelJob::cancel);
                }
            }
            Op::Join => state.joined = true,
            Op::RacingSpawns(kind) => {
                let rejected = state.shutdown.is_some();
                let endings = match kind {
                    ShutdownKind::Graceful => BTreeSet::from([Ending::Completed]),
                    ShutdownKind::Deadline | ShutdownKind::Immediate => {
                        BTreeSet::from([Ending::Completed, Ending::Cancelled])
                    }
                };
                for _ in 0..RACING_SPAWNS {
                    state.jobs.push(ModelJob {
                        kind: JobKind::Quick,
                        class: SmClass::Default,
                        rejected,
                        maybe_overloaded: false,
                        maybe_rejected: !rejected,
                        released: false,
                        handle: HandleState::Held,
                        endings: if rejected {
                            BTreeSet::new()
                        } else {
                            endings.clone()
                        },
                    });
                }
                if !joined && kind == ShutdownKind::Immediate {
                    // Jobs admitted before: the shutdown cancels them.
                    let racing = state.jobs.len() - RACING_SPAWNS;
                    state.jobs[..racing].iter_mut().for_each(ModelJob::cancel);
                }
                if !joined && kind == ShutdownKind::Deadline {
                    for job in state.jobs.iter_mut().filter(|job| !job.rejected) {
                        job.endings.insert(Ending::Cancelled);
                    }
                }
                state.shutdown = state.shutdown.max(Some(kind));
            }
        }
        state
    }
}

/// The system under test: an executor of backend `B` and the test's side
/// of every job.
pub struct System<B: Backend> {
    clones: Vec<B::Executor>,
    core: ExecutorCore,
    prefix: String,
    jobs: Vec<SystemJob>,
    drops: DropCounter,
    /// Held by every `LockedParIter` job across its `par_iter`.
    lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// The groups made, `None` once ended.
    groups: Vec<Option<JobGroup>>,
}

struct SystemJob {
    handle: Option<JobHandle<Output>>,
    gate: Gate,
}

/// Binds the reference model to backend `B`.
pub struct Harness<B>(PhantomData<B>);

/// The panic payload of `JobKind::Panicking`, silenced in the output.
const EXPECTED_PANIC: &str = "state machine: expected panic";

fn spawn_job<B: Backend>(
    executor: &B::Executor,
    kind: JobKind,
    (class, group): (SmClass, Option<&JobGroup>),
    index: u64,
    job: &SystemJob,
    drops: &DropCounter,
    lock: &std::sync::Arc<std::sync::Mutex<()>>,
) -> JobHandle<Output> {
    let probe = drops.probe();
    let gate = job.gate.clone();
    // The class is named even for a group's job: the group's own, which
    // must be accepted.
    let submit = || {
        let builder = executor.job().class(class.name());
        match group {
            Some(group) => builder.group(group),
            None => builder,
        }
    };
    match kind {
        JobKind::Quick => submit().spawn_cpu(move |_| {
            let _probe = probe;
            Output::plain(index)
        }),
        JobKind::Cooperative => submit().spawn_cpu(move |cancel| {
            let _probe = probe;
            while !cancel.is_cancelled() && !gate.wait_for(Duration::from_millis(1)) {}
            Output::plain(index)
        }),
        JobKind::NonYielding => submit().spawn_cpu(move |_| {
            let _probe = probe;
            gate.wait();
            Output::plain(index)
        }),
        JobKind::Pending => submit().spawn(async move {
            let _probe = probe;
            gate.opened().await;
            Output::plain(index)
        }),
        JobKind::Panicking => submit().spawn_cpu(move |_| {
            let _probe = probe;
            std::panic::panic_any(EXPECTED_PANIC)
        }),
        JobKind::SubTasks => submit().spawn(async move {
            let _probe = probe;
            for _ in 0..2 {
                let (tx, rx) = futures::channel::oneshot::channel::<()>();
                B::spawn_subtask(Box::pin(async move {
                    let _ = tx.send(());
                }));
                // A sub-task rejected by a shutdown drops its sender.
                let _ = rx.await;
            }
            Output::plain(index)
        }),
        JobKind::ParIter => submit().spawn_cpu(move |_| {
            let _probe = probe;
            let sum: u64 = (0..1_000u64).into_par_iter().sum();
            assert_eq!(sum, 499_500);
            Output::plain(index)
        }),
        JobKind::LockedParIter => {
            let lock = lock.clone();
            submit().spawn_cpu(move |_| {
                let _probe = probe;
                let _held = lock
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let sum: u64 = (0..10_000u64).into_par_iter().sum();
                assert_eq!(sum, 49_995_000);
                Output::plain(index)
            })
        }
        JobKind::PanickingPayload => submit().spawn_cpu(move |_| {
            let _probe = probe;
            std::panic::panic_any(PanickingDrop)
        }),
        JobKind::PanickingDrop => submit().spawn(async move {
            let _bomb = (PanickingDrop, probe);
            gate.opened().await;
            Output::plain(index)
        }),
        JobKind::PanickingOutput => submit().spawn_cpu(move |_| {
            let _probe = probe;
            Output {
                index,
                bomb: Some(PanickingDrop),
            }
        }),
        JobKind::NativeWork => {
            let work_probe = drops.probe();
            submit().spawn_cpu(move |_| {
                let _probe = probe;
                B::spawn_native_work(Box::new(move || drop(work_probe)));
                Output::plain(index)
            })
        }
        JobKind::PanickingWaker => {
            let mut handle = submit().spawn(async move {
                let _probe = probe;
                gate.opened().await;
                Output::plain(index)
            });
            // A rejected submission is ready at once: only an admitted job's
            // handle registers the waker.
            if !handle.is_finished() {
                let waker = std::task::Waker::from(std::sync::Arc::new(PanickingWaker));
                let first = std::pin::Pin::new(&mut handle)
                    .poll(&mut std::task::Context::from_waker(&waker));
                assert!(first.is_pending(), "a job blocked on its gate finished");
            }
            handle
        }
    }
}

/// A value whose destructor panics (unless the thread is already
/// unwinding), with the state machine's expected payload.
pub struct PanickingDrop;

impl Drop for PanickingDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            std::panic::panic_any(EXPECTED_PANIC);
        }
    }
}

/// A waker that panics when woken.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        std::panic::panic_any(EXPECTED_PANIC);
    }
}

impl<B: Backend> StateMachineTest for Harness<B> {
    type SystemUnderTest = System<B>;
    type Reference = Reference;

    fn init_test(_model: &Model) -> System<B> {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!("sm{}", CASE.fetch_add(1, Ordering::Relaxed));
        let executor = B::build(Config {
            classes: vec![
                executor_api::WorkloadClass::new(SmClass::Bounded.name())
                    .weight(4)
                    .max_queued(BOUND)
                    .cap(0.2)
                    .cap_window(Duration::from_millis(1)),
                executor_api::WorkloadClass::new(SmClass::Capped.name())
                    .cap(0.1)
                    .cap_window(Duration::from_millis(1)),
            ],
            ..Config::new(&prefix, 2)
        })
        .expect("build the executor under test");
        System {
            core: executor.core().clone(),
            clones: vec![executor],
            prefix: format!("{prefix}-"),
            jobs: Vec::new(),
            drops: DropCounter::new(),
            lock: std::sync::Arc::default(),
            groups: Vec::new(),
        }
    }

    fn apply(mut system: System<B>, model: &Model, op: Op) -> System<B> {
        match op {
            Op::NewGroup(class) => {
                let group = system.clones[0]
                    .group_in(class.name())
                    .expect("the state machine's classes exist");
                system.groups.push(Some(group));
            }
            Op::EndGroup(group) => drop(system.groups[group].take()),
            Op::Spawn(..) | Op::SpawnInGroup(..) => {
                let (kind, class, group) = match op {
                    Op::Spawn(kind, class) => (kind, class, None),
                    Op::SpawnInGroup(kind, group) => {
                        (kind, model.groups[group].0, system.groups[group].as_ref())
                    }
                    _ => unreachable!("a spawn"),
                };
                let job = SystemJob {
                    handle: None,
                    gate: Gate::new(),
                };
                let index = system.jobs.len() as u64;
                let handle = spawn_job::<B>(
                    &system.clones[0],
                    kind,
                    (class, group),
                    index,
                    &job,
                    &system.drops,
                    &system.lock,
                );
                system.jobs.push(SystemJob {
                    handle: Some(handle),
                    ..job
                });
            }
            Op::Release(n) => system.jobs[n].gate.open(),
            Op::DropHandle(n) => drop(system.jobs[n].handle.take()),
            Op::Detach(n) => {
                if let Some(handle) = system.jobs[n].handle.take() {
                    handle.detach();
                }
            }
            Op::Cancel(n) => {
                if let Some(handle) = &system.jobs[n].handle {
                    handle.cancel();
                }
            }
            Op::CloneExecutor => system.clones.push(system.clones[0].clone()),
            Op::DropClone => drop(system.clones.pop()),
            Op::Shutdown => system.clones[0].shutdown(),
            Op::ShutdownNow => system.clones[0].shutdown_now(),
            Op::ShutdownTimeout(ms) => system.clones[0].shutdown_timeout(Duration::from_millis(ms)),
            Op::RacingSpawns(kind) => {
                let executor = system.clones[0].clone();
                let first = system.jobs.len() as u64;
                let probes: Vec<_> = (0..RACING_SPAWNS).map(|_| system.drops.probe()).collect();
                let start = std::sync::Arc::new(std::sync::Barrier::new(2));
                let submitter = {
                    let start = start.clone();
                    std::thread::spawn(move || {
                        start.wait();
                        probes
                            .into_iter()
                            .zip(first..)
                            .map(|(probe, index)| {
                                executor.spawn_cpu(move |_| {
                                    let _probe = probe;
                                    Output::plain(index)
                                })
                            })
                            .collect::<Vec<_>>()
                    })
                };
                start.wait();
                match kind {
                    ShutdownKind::Graceful => system.clones[0].shutdown(),
                    ShutdownKind::Deadline => {
                        system.clones[0].shutdown_timeout(Duration::from_millis(1));
                    }
                    ShutdownKind::Immediate => system.clones[0].shutdown_now(),
                }
                let handles = submitter.join().expect("the racing submitter");
                system
                    .jobs
                    .extend(handles.into_iter().map(|handle| SystemJob {
                        handle: Some(handle),
                        gate: Gate::new(),
                    }));
            }
            Op::Join => {
                block_on_within("join in a sequence", system.core.join());
                assert_no_threads_named(&system.prefix);
            }
            Op::DropExecutor => system.clones.clear(),
        }
        system
    }

    fn teardown(mut system: System<B>, model: Model) {
        for job in &system.jobs {
            job.gate.open();
        }
        if let Some(executor) = system.clones.first() {
            executor.shutdown();
        }
        system.clones.clear();
        block_on_within("join at the end of a sequence", system.core.join());
        assert_no_threads_named(&system.prefix);

        for (index, (job, expected)) in system.jobs.iter_mut().zip(&model.jobs).enumerate() {
            let Some(handle) = job.handle.take() else {
                continue;
            };
            let outcome = block_on_within("a handle at the end of a sequence", handle);
            let ending = match outcome {
                Err(JobError::ShutDown) => {
                    assert!(
                        expected.rejected || expected.maybe_rejected,
                        "job {index} ({expected:?}) was rejected"
                    );
                    continue;
                }
                Ok(output) => {
                    let value = output.into_index();
                    assert_eq!(
                        value, index as u64,
                        "job {index} returned another job's value"
                    );
                    Ending::Completed
                }
                Err(JobError::Overloaded { class, .. }) => {
                    assert!(
                        expected.maybe_overloaded,
                        "job {index} ({expected:?}) was refused by class {class}"
                    );
                    assert_eq!(class, SmClass::Bounded.name());
                    continue;
                }
                Err(JobError::Cancelled) => Ending::Cancelled,
                Err(JobError::Panicked { message }) => {
                    let expected = if expected.kind == JobKind::PanickingPayload {
                        executor_api::NON_STRING_PANIC
                    } else {
                        EXPECTED_PANIC
                    };
                    assert_eq!(message, expected);
                    Ending::Panicked
                }
                Err(other) => panic!("job {index}: unexpected error {other:?}"),
            };
            assert!(
                !expected.rejected,
                "job {index} ({expected:?}) ran although rejected"
            );
            assert!(
                expected.endings.contains(&ending),
                "job {index} ended {ending:?}; the model allows {expected:?}"
            );
        }

        check_metrics(&system.core.metrics(), &model, B::SUBTASKS_ARE_JOBS);
        for group in system.groups.iter().flatten() {
            let metrics = group.metrics();
            assert_eq!(
                (metrics.queued, metrics.running),
                (0, 0),
                "a group counts jobs after the join: {metrics:?}"
            );
        }
        system.groups.clear();
        for class in system.core.class_metrics() {
            assert!(
                class.groups.iter().all(|&live| live == 0),
                "class {} counts live groups after the join and the groups' drop: {:?}",
                class.name,
                class.groups
            );
        }
        // A `NativeWork` job holds a second probe, moved into its work.
        let probes = model.jobs.len()
            + model
                .jobs
                .iter()
                .filter(|job| job.kind == JobKind::NativeWork)
                .count();
        assert_eq!(
            system.drops.drops(),
            probes,
            "not every job's captures (and native work) were dropped"
        );
    }
}

/// Checks the counters against the model's bounds.
fn check_metrics(metrics: &Metrics, model: &Model, subtasks_are_jobs: bool) {
    let admitted: Vec<&ModelJob> = model.jobs.iter().filter(|job| !job.rejected).collect();
    let rejected = model.jobs.len() - admitted.len();
    // Jobs submitted while another thread shut down: admitted or not.
    let maybe = admitted.iter().filter(|job| job.maybe_rejected).count() as u64;
    // Jobs submitted to a class that may have been full.
    let maybe_overloaded = admitted.iter().filter(|job| job.maybe_overloaded).count() as u64;
    // Sub-tasks that are jobs on this backend add to the counts.
    let slack = if subtasks_are_jobs {
        2 * admitted
            .iter()
            .filter(|job| job.kind == JobKind::SubTasks)
            .count() as u64
    } else {
        0
    };
    let within = |what: &str, value: u64, min: u64, max: u64| {
        assert!(
            (min..=max + slack).contains(&value),
            "{what} = {value}, the model allows {min}..={} ({metrics:?})",
            max + slack
        );
    };
    within(
        "submitted",
        metrics.submitted,
        admitted.len() as u64 - maybe - maybe_overloaded,
        admitted.len() as u64,
    );
    within("overloaded", metrics.overloaded, 0, maybe_overloaded);
    within(
        "rejected",
        metrics.rejected,
        rejected as u64,
        rejected as u64 + maybe,
    );
    for (what, ending, value) in [
        ("completed", Ending::Completed, metrics.completed),
        ("cancelled", Ending::Cancelled, metrics.cancelled),
        ("panicked", Ending::Panicked, metrics.panicked),
    ] {
        let certain = admitted
            .iter()
            .filter(|job| {
                !job.maybe_rejected
                    && !job.maybe_overloaded
                    && job.endings == BTreeSet::from([ending])
            })
            .count();
        let possible = admitted
            .iter()
            .filter(|job| job.endings.contains(&ending))
            .count();
        within(what, value, certain as u64, possible as u64);
    }
    // Every submission was admitted, refused or rejected, once.
    within(
        "submitted + overloaded + rejected",
        metrics.submitted + metrics.overloaded + metrics.rejected,
        model.jobs.len() as u64,
        model.jobs.len() as u64,
    );
    assert_eq!(
        metrics.completed + metrics.cancelled + metrics.panicked,
        metrics.submitted,
        "every admitted job ended once: {metrics:?}"
    );
    assert_eq!((metrics.queued, metrics.running), (0, 0), "{metrics:?}");
}

/// Runs the state machine on backend `B`.
///
/// # Panics
///
/// With the minimal failing sequence, when the backend breaks the contract.
pub fn run<B: Backend>() {
    silence_expected_panics();
    // `ParIter` jobs on a backend other than Rayon use Rayon's global pool.
    // Name its threads here: unnamed, they would inherit the name of the
    // executor thread that first used the pool, and look like leftovers.
    let _ = rayon::ThreadPoolBuilder::new()
        .thread_name(|index| format!("rayon-global-{index}"))
        .build_global();
    let cases = std::env::var("EXECUTOR_PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64);
    let config = ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/state_machine.txt",
        ))),
        // Each case builds an executor: keep shrinking bounded.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config.clone());
    let result = runner.run(
        &Reference::sequential_strategy(1..24),
        |(model, ops, seen)| {
            Harness::<B>::test_sequential(config.clone(), model, ops, seen);
            Ok(())
        },
    );
    if let Err(failure) = result {
        panic!("the state machine found a contract violation: {failure}");
    }
}

/// Keeps the output readable: the panics of `JobKind::Panicking` jobs are
/// expected; every other panic is still printed.
fn silence_expected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let expected = info.payload().downcast_ref::<&str>() == Some(&EXPECTED_PANIC)
                || info.payload().is::<PanickingDrop>();
            if !expected {
                default(info);
            }
        }));
    });
}

/// Expands to the state-machine test for a [`Backend`]:
/// `testkit::state_machine_tests!(MyBackend);`.
#[macro_export]
macro_rules! state_machine_tests {
    ($backend:ty) => {
        /// Random lifecycle sequences agree with the reference model.
        #[test]
        fn state_machine_matches_the_reference_model() {
            $crate::state_machine::run::<$backend>();
        }
    };
}
