//! The scheduler: decides which processors may run, and runs their tasks on a pool of OS
//! threads fed over a crossbeam channel. Readiness is pushed, not polled: a processor is
//! offered to the pool when input arrives, when back pressure on its outputs clears, when
//! its timer or cron time comes, or when its own I/O wakes it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;

use crate::bulletin::Level;
use crate::node::{Eligibility, ProcessorNode, STATE_RUNNING};
use crate::runtime::Runtime;
use crate::schedule::Strategy;
use crate::session::ProcessSession;

/// How long a source that found nothing to do rests before it is tried again, unless its
/// own I/O wakes it first.
const IDLE_SOURCE_BACKOFF_MS: i64 = 10;

/// Asks the scheduler to consider a processor now; cheap to clone, safe to call from any
/// thread (connections call it on enqueue; listeners on data arrival).
#[derive(Clone, Default)]
pub struct Waker {
    node: Weak<ProcessorNode>,
    sched: Weak<SchedulerInner>,
}

impl Waker {
    /// Offers the processor to the scheduler if it can run.
    pub fn wake(&self) {
        if let (Some(n), Some(s)) = (self.node.upgrade(), self.sched.upgrade()) {
            s.try_schedule(&n);
        }
    }

    /// Marks that the processor's own I/O has data for it, then wakes it (a source with the
    /// event-driven strategy runs only after this).
    pub fn wake_with_data(&self) {
        if let Some(n) = self.node.upgrade() {
            n.woken.store(true, Ordering::Release);
        }
        self.wake();
    }
}

pub(crate) struct SchedulerInner {
    ready: Sender<Arc<ProcessorNode>>,
    timers: Mutex<BinaryHeap<Reverse<(i64, usize, TimerEntry)>>>,
    timer_signal: Sender<()>,
    runtime: Arc<Runtime>,
    shutdown: AtomicBool,
}

struct TimerEntry(Weak<ProcessorNode>);
impl PartialEq for TimerEntry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// The worker pool and timer.
pub struct Scheduler {
    inner: Arc<SchedulerInner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Scheduler {
    /// Starts `workers` worker threads and a timer thread.
    pub fn start(runtime: Arc<Runtime>, workers: usize) -> Self {
        let (tx, rx) = unbounded::<Arc<ProcessorNode>>();
        let (sig_tx, sig_rx) = unbounded::<()>();
        let inner = Arc::new(SchedulerInner {
            ready: tx,
            timers: Mutex::new(BinaryHeap::new()),
            timer_signal: sig_tx,
            runtime,
            shutdown: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let inner = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("sluice-worker-{i}"))
                    .spawn(move || worker_loop(inner, rx))
                    .expect("spawn worker thread"),
            );
        }
        let t_inner = inner.clone();
        threads.push(
            std::thread::Builder::new()
                .name("sluice-timer".into())
                .spawn(move || timer_loop(t_inner, sig_rx))
                .expect("spawn timer thread"),
        );
        Scheduler { inner, threads: Mutex::new(threads) }
    }

    /// A waker for `node`.
    pub fn waker(&self, node: &Arc<ProcessorNode>) -> Waker {
        Waker { node: Arc::downgrade(node), sched: Arc::downgrade(&self.inner) }
    }

    /// Offers `node` to the pool if it can run now.
    pub fn wake(&self, node: &Arc<ProcessorNode>) {
        self.inner.try_schedule(node);
    }

    /// Stops the threads after the tasks running now complete.
    pub fn shutdown(&self) {
        self.inner.shutdown.store(true, Ordering::Release);
        let _ = self.inner.timer_signal.send(());
        let threads = std::mem::take(&mut *self.threads.lock());
        // Workers exit when the ready channel is closed; drop our sender by replacing it is
        // not possible, so each worker also checks the shutdown flag after a timeout.
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl SchedulerInner {
    pub(crate) fn try_schedule(&self, node: &Arc<ProcessorNode>) {
        if self.shutdown.load(Ordering::Acquire) {
            return;
        }
        loop {
            if node.state.load(Ordering::Acquire) != STATE_RUNNING {
                return;
            }
            let max = node.run.read().max_tasks;
            let active = node.active.load(Ordering::SeqCst);
            if active >= max {
                return;
            }
            let now = self.runtime.now();
            match node.eligibility(now) {
                Eligibility::Now => {
                    if node.active.compare_exchange(active, active + 1, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                        self.claim_slot(node, now);
                        let _ = self.ready.send(node.clone());
                        return;
                    }
                }
                Eligibility::NotUntil(t) => {
                    self.add_timer(node, t);
                    return;
                }
                Eligibility::No => return,
            }
        }
    }

    /// Advances the next run time of timer- and cron-driven processors as a task is
    /// dispatched, so that concurrent tasks do not fire twice for one period.
    fn claim_slot(&self, node: &ProcessorNode, now: i64) {
        let run = node.run.read().clone();
        match run.strategy {
            Strategy::TimerDriven if run.period_ms > 0 => node.next_run.store(now + run.period_ms, Ordering::Release),
            Strategy::CronDriven => {
                if let Some(c) = &run.cron {
                    node.next_run.store(c.next_after(now).unwrap_or(i64::MAX), Ordering::Release)
                }
            }
            _ => {}
        }
    }

    fn add_timer(&self, node: &Arc<ProcessorNode>, at: i64) {
        let current = node.timer_at.load(Ordering::Acquire);
        let now = self.runtime.now();
        if current <= at && current > now {
            return; // an earlier (or equal) timer is already pending
        }
        node.timer_at.store(at, Ordering::Release);
        let seq = Arc::as_ptr(node) as usize;
        self.timers.lock().push(Reverse((at, seq, TimerEntry(Arc::downgrade(node)))));
        let _ = self.timer_signal.send(());
    }
}

fn worker_loop(inner: Arc<SchedulerInner>, rx: Receiver<Arc<ProcessorNode>>) {
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(node) => {
                if node.state.load(Ordering::Acquire) == STATE_RUNNING && !inner.shutdown.load(Ordering::Acquire) {
                    run_task(&inner, &node);
                }
                node.active.fetch_sub(1, Ordering::SeqCst);
                inner.try_schedule(&node);
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
        }
        if inner.shutdown.load(Ordering::Acquire) {
            // Drain what is queued so active counts return to zero, without running it.
            while let Ok(node) = rx.try_recv() {
                node.active.fetch_sub(1, Ordering::SeqCst);
            }
            return;
        }
    }
}

fn timer_loop(inner: Arc<SchedulerInner>, signal: Receiver<()>) {
    let manual = inner.runtime.clock.is_manual();
    loop {
        if inner.shutdown.load(Ordering::Acquire) {
            return;
        }
        let now = inner.runtime.now();
        let mut due = Vec::new();
        let wait = {
            let mut timers = inner.timers.lock();
            while let Some(Reverse((at, _, _))) = timers.peek() {
                if *at > now {
                    break;
                }
                let Reverse((_, _, TimerEntry(w))) = timers.pop().expect("peeked");
                due.push(w);
            }
            match timers.peek() {
                Some(Reverse((at, _, _))) if !manual => Duration::from_millis((*at - now).clamp(1, 1000) as u64),
                _ if manual => Duration::from_millis(2),
                _ => Duration::from_millis(1000),
            }
        };
        for w in due {
            if let Some(node) = w.upgrade() {
                node.timer_at.store(i64::MAX, Ordering::Release);
                inner.try_schedule(&node);
            }
        }
        let _ = signal.recv_timeout(wait);
    }
}

fn run_task(inner: &SchedulerInner, node: &Arc<ProcessorNode>) {
    let Some(ctx) = node.context.read().clone() else { return };
    let run = node.run.read().clone();
    let rt = &inner.runtime;
    let started = Instant::now();
    let instance = node.instance.read();
    loop {
        node.woken.store(false, Ordering::Release);
        let t0 = Instant::now();
        let mut session = ProcessSession::new(node, rt, &run);
        // A panicking processor is a failed task, not a dead worker: its session rolls back
        // (inputs return penalized) and a bulletin names the panic.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| instance.on_trigger(&ctx, &mut session)))
            .unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".into());
                Err(crate::processor::ProcessError::other(format!("panicked: {msg}")))
            });
        let did_work = session.did_work();
        let outcome = match result {
            Ok(()) => session.commit().map_err(|e| (e, false)),
            Err(e) => {
                session.rollback(true);
                Err((e, true))
            }
        };
        let elapsed = t0.elapsed().as_nanos() as u64;
        node.counters.tasks.fetch_add(1, Ordering::Relaxed);
        node.counters.task_nanos.fetch_add(elapsed, Ordering::Relaxed);
        let now = rt.now();
        if let Err((e, from_processor)) = outcome {
            let what = if from_processor { "failed" } else { "could not commit" };
            rt.bulletins.post(
                Level::Error,
                &node.id,
                &ctx.name,
                format!("{} {what}: {e}; yielding for {} ms", ctx.name, run.yield_ms),
            );
            node.yield_until.store(now + run.yield_ms, Ordering::Release);
            break;
        }
        if ctx.take_yield() {
            node.yield_until.store(now + run.yield_ms, Ordering::Release);
            break;
        }
        if !did_work {
            if run.is_source && run.strategy == Strategy::TimerDriven && run.period_ms == 0 {
                node.next_run.store(now + IDLE_SOURCE_BACKOFF_MS, Ordering::Release);
            }
            break;
        }
        if run.run_duration.is_zero()
            || started.elapsed() >= run.run_duration
            || node.state.load(Ordering::Acquire) != STATE_RUNNING
        {
            break;
        }
        if node.eligibility(now) != Eligibility::Now {
            break;
        }
    }
}
