//! The per-thread event loop (HAProxy's `run_poll_loop`), the handle owners
//! use to talk to it ([`Cx`]), and cross-thread messages.
//!
//! Each of `nbthread` OS threads owns an epoll set, a run queue of woken
//! tokens, a timer queue and a cached clock, and runs:
//!
//! ```text
//! loop {
//!     fire expired timers;  run a bounded batch of woken tokens;
//!     take messages from other threads;
//!     converge FD wishes (epoll_ctl);  epoll_wait(next timer or 0);
//!     for each event: generation check, thread check, then the owner
//! }
//! ```
//!
//! Everything an application does happens in its [`Handler`], one instance
//! per thread, called only from that thread: no locks on the hot path.
//! Messages to another thread go through its mailbox, a mutex-protected
//! queue plus an eventfd written only when the target sleeps.
//!
//! This module owns the loop and thread life cycle; it must not know what
//! tokens mean (owners choose them and must keep them unique per thread,
//! e.g. slab index plus a generation).

use crate::activity::{bump, Activity};
use crate::fd::{self, ST_WANT_RECV, ST_WANT_SEND};
use crate::poller::{classify_stale, count_stale, Events, Poller, WAKEUP_DATA};
use crate::task::{TimerId, Timers};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Maximum number of threads: thread masks are 64-bit, as in HAProxy 2.6
/// (MAX_THREADS=64).
pub const MAX_THREADS: usize = 64;

/// An application's per-thread state and callbacks.
pub trait Handler: 'static {
    /// What other threads may send this one.
    type Msg: Send + 'static;
    /// An FD owned by this thread with `token` is ready.
    fn on_io(&mut self, cx: &mut Cx<'_, Self::Msg>, fd: RawFd, token: u64, ev: Events);
    /// A timer created with `token` expired.
    fn on_timer(&mut self, cx: &mut Cx<'_, Self::Msg>, token: u64);
    /// `token` was woken with [`Cx::wake`].
    fn on_wake(&mut self, cx: &mut Cx<'_, Self::Msg>, token: u64);
    /// A message from another thread (or from outside the loop).
    fn on_msg(&mut self, cx: &mut Cx<'_, Self::Msg>, msg: Self::Msg);
}

/// Loop settings (`tune.*`).
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// `tune.maxpollevents`: events taken per `epoll_wait`.
    pub max_poll_events: usize,
    /// `tune.runqueue-depth`: woken tokens run per loop before polling again.
    pub runqueue_depth: usize,
    /// `cpu-map`: CPU set of each thread (index = thread id), if any.
    pub cpu_map: Vec<Option<Vec<usize>>>,
    /// An eventfd each loop thread writes once when it ends (also by a
    /// panic), so whoever waits for the threads can sleep in `poll(2)`
    /// instead of checking them periodically. Owned by the caller.
    pub exit_notify: Option<RawFd>,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            max_poll_events: 200,
            runqueue_depth: 200,
            cpu_map: Vec::new(),
            exit_notify: None,
        }
    }
}

/// Monotonic milliseconds since the process's first call.
pub fn now_ms() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_millis() as u64
}

struct Mailbox<M> {
    queue: Mutex<VecDeque<M>>,
    efd: RawFd,
    sleeping: AtomicBool,
}

/// What all threads of one reactor share.
pub struct Shared<M> {
    mailboxes: Box<[Mailbox<M>]>,
    epoll_fds: Box<[RawFd]>,
    activity: Box<[Activity]>,
    /// Current load of each thread, maintained by the application (for
    /// accept spreading); the loop never writes it.
    pub load: Box<[AtomicU32]>,
    stopping: AtomicBool,
}

/// A cloneable handle to send messages to the reactor's threads from
/// anywhere.
pub struct Remote<M>(Arc<Shared<M>>);

impl<M> Clone for Remote<M> {
    fn clone(&self) -> Self {
        Remote(self.0.clone())
    }
}

impl<M: Send + 'static> Remote<M> {
    pub fn nbthread(&self) -> usize {
        self.0.mailboxes.len()
    }
    /// Queues `msg` for thread `tid` and wakes it if it sleeps.
    pub fn send(&self, tid: usize, msg: M) {
        self.0.send(tid, msg)
    }
    pub fn shared(&self) -> &Shared<M> {
        &self.0
    }
}

impl<M> Shared<M> {
    fn send(&self, tid: usize, msg: M) {
        let mb = &self.mailboxes[tid];
        mb.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(msg);
        // Pairs with the fence in the loop: either the target sees the
        // message before sleeping, or we see it asleep and wake it.
        fence(SeqCst);
        if mb.sleeping.load(SeqCst) {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a live u64 to our eventfd.
            unsafe {
                libc::write(mb.efd, &one as *const u64 as *const libc::c_void, 8);
            }
        }
    }
    pub fn activity(&self) -> &[Activity] {
        &self.activity
    }
    pub fn epoll_fds(&self) -> &[RawFd] {
        &self.epoll_fds
    }
    pub fn nbthread(&self) -> usize {
        self.mailboxes.len()
    }
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Relaxed)
    }
}

impl<M> Drop for Shared<M> {
    fn drop(&mut self) {
        for mb in self.mailboxes.iter() {
            // SAFETY: the eventfds are ours and nothing uses them any more.
            unsafe {
                libc::close(mb.efd);
            }
        }
        // The epoll sets live as long as this shared state, since any thread
        // may address another's set by number (see `Poller::close_on_drop`).
        for &ep in self.epoll_fds.iter() {
            // SAFETY: created by Reactor::new, not closed by the pollers, and
            // no thread or Cx remains (we are the last reference).
            unsafe {
                libc::close(ep);
            }
        }
    }
}

/// One thread's private loop state.
pub struct ThreadState {
    tid: usize,
    poller: Poller,
    runq: VecDeque<u64>,
    timers: Timers,
    now: u64,
    exit: bool,
}

/// The loop, as seen from a handler: FD wishes, timers, wake-ups, messages.
pub struct Cx<'a, M> {
    st: &'a mut ThreadState,
    sh: &'a Arc<Shared<M>>,
}

impl<'a, M: Send + 'static> Cx<'a, M> {
    /// This thread's id, 0-based.
    #[inline]
    pub fn tid(&self) -> usize {
        self.st.tid
    }
    pub fn nbthread(&self) -> usize {
        self.sh.mailboxes.len()
    }
    /// The loop's cached clock (ms), refreshed after each `epoll_wait`.
    #[inline]
    pub fn now(&self) -> u64 {
        self.st.now
    }
    /// Re-reads the clock (for long handler runs).
    pub fn refresh_now(&mut self) -> u64 {
        self.st.now = now_ms();
        self.st.now
    }
    pub fn activity(&self) -> &Activity {
        &self.sh.activity[self.st.tid]
    }
    pub fn shared(&self) -> &Arc<Shared<M>> {
        self.sh
    }
    pub fn remote(&self) -> Remote<M> {
        Remote(self.sh.clone())
    }

    /// Takes ownership of `fd` on this thread, events reported with `token`.
    /// Nothing is polled until `want_recv`/`want_send`.
    pub fn fd_insert(&mut self, fdn: RawFd, token: u64) {
        fd::insert(fdn, token, 1u64 << self.st.tid, 0);
    }
    /// Inserts with extra `fd::ST_*` bits (cloned, listener, exclusive) and
    /// a thread mask (shared listeners are owned by several threads).
    pub fn fd_insert_with(&mut self, fdn: RawFd, token: u64, thread_mask: u64, extra: u32) {
        fd::insert(fdn, token, thread_mask, extra);
    }
    #[inline]
    fn set_bits(&mut self, fdn: RawFd, set: u32, clear: u32) {
        let e = fd::entry(fdn);
        let old = e.state.load(Acquire);
        let new = (old | set) & !clear;
        if new != old {
            // An atomic read-modify-write, not a store of `new`: an FD with
            // several threads in its mask (a shared listener) may have its
            // wishes changed by two threads at once, and a plain store
            // would let one undo the other. Only paid when a wish changes.
            if set != 0 {
                e.state.fetch_or(set, AcqRel);
            }
            if clear != 0 {
                e.state.fetch_and(!clear, AcqRel);
            }
            self.st.poller.note_update(fdn);
        }
    }
    #[inline]
    pub fn want_recv(&mut self, fdn: RawFd) {
        self.set_bits(fdn, ST_WANT_RECV, 0)
    }
    #[inline]
    pub fn stop_recv(&mut self, fdn: RawFd) {
        self.set_bits(fdn, 0, ST_WANT_RECV)
    }
    #[inline]
    pub fn want_send(&mut self, fdn: RawFd) {
        self.set_bits(fdn, ST_WANT_SEND, 0)
    }
    #[inline]
    pub fn stop_send(&mut self, fdn: RawFd) {
        self.set_bits(fdn, 0, ST_WANT_SEND)
    }
    /// Makes this thread re-examine `fd`'s registration at the next loop
    /// (e.g. a shared listener this thread must register too).
    pub fn fd_refresh(&mut self, fdn: RawFd) {
        self.st.poller.note_update(fdn);
    }
    /// Bumps the generation and closes.
    pub fn fd_delete(&mut self, fdn: RawFd) {
        fd::delete(fdn, &self.sh.epoll_fds);
    }
    /// Closes a shared listener whose socket may live on elsewhere (handed
    /// to a new process): closing would not remove it from our epoll sets
    /// then, and they would keep taking its exclusive wake-ups.
    pub fn fd_delete_shared(&mut self, fdn: RawFd) {
        for &ep in self.sh.epoll_fds.iter() {
            fd::epoll_del(ep, fdn);
        }
        fd::delete(fdn, &self.sh.epoll_fds);
    }
    /// Moves `fd` (owned by another thread, removed from its shared list by
    /// the caller) to this thread with a new token.
    pub fn fd_takeover(&mut self, fdn: RawFd, token: u64) {
        fd::takeover(fdn, self.st.tid, &self.sh.epoll_fds);
        fd::set_token(fdn, token);
        bump(&self.sh.activity[self.st.tid].fd_takeover, 1);
        // Our polled bits are clear: re-register here if wishes are set.
        self.st.poller.note_update(fdn);
    }

    /// Queues `token` for [`Handler::on_wake`] in this loop or the next.
    #[inline]
    pub fn wake(&mut self, token: u64) {
        self.st.runq.push_back(token);
    }

    pub fn timer_create(&mut self, token: u64) -> TimerId {
        self.st.timers.create(token)
    }
    #[inline]
    pub fn timer_arm(&mut self, id: TimerId, at_ms: u64) {
        self.st.timers.arm(id, at_ms)
    }
    #[inline]
    pub fn timer_disarm(&mut self, id: TimerId) {
        self.st.timers.disarm(id)
    }
    pub fn timer_destroy(&mut self, id: TimerId) {
        self.st.timers.destroy(id)
    }

    /// Sends `msg` to thread `tid` (may be this one; delivered next loop).
    pub fn send(&self, tid: usize, msg: M) {
        self.sh.send(tid, msg)
    }
    /// Ends this thread's loop after the current iteration.
    pub fn exit(&mut self) {
        self.st.exit = true;
    }
    /// Marks the whole reactor as stopping (handlers read it to drain).
    pub fn set_stopping(&self) {
        self.sh.stopping.store(true, Relaxed);
    }
}

/// A set of loop threads sharing one mailbox array.
pub struct Reactor<M> {
    shared: Arc<Shared<M>>,
    opts: LoopOptions,
    pollers: Vec<Option<Poller>>,
}

impl<M: Send + 'static> Reactor<M> {
    /// Creates the epoll sets and mailboxes of `nbthread` threads (not yet
    /// running), so that FDs can be registered and messages queued before
    /// the threads start.
    pub fn new(nbthread: usize, opts: LoopOptions) -> io::Result<Reactor<M>> {
        if nbthread == 0 || nbthread > MAX_THREADS {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "nbthread must be 1..=64"));
        }
        fd::table();
        let mut pollers = Vec::new();
        let mut mailboxes = Vec::new();
        // On error, the pollers created so far close their epoll FDs when
        // dropped (close_on_drop is still true) and the eventfds are closed
        // here; ownership passes to `Shared` only once everything exists.
        let close_efds = |mbs: &[Mailbox<M>]| {
            for mb in mbs {
                // SAFETY: eventfds created below, not shared with anything yet.
                unsafe {
                    libc::close(mb.efd);
                }
            }
        };
        for tid in 0..nbthread {
            let p = match Poller::new(tid, opts.max_poll_events) {
                Ok(p) => p,
                Err(e) => {
                    close_efds(&mailboxes);
                    return Err(e);
                }
            };
            // SAFETY: eventfd has no pointer arguments.
            let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if efd < 0 {
                let e = io::Error::last_os_error();
                close_efds(&mailboxes);
                return Err(e);
            }
            mailboxes.push(Mailbox {
                queue: Mutex::new(VecDeque::new()),
                efd,
                sleeping: AtomicBool::new(false),
            });
            if let Err(e) = p.add_wakeup(efd) {
                close_efds(&mailboxes);
                return Err(e);
            }
            pollers.push(Some(p));
        }
        for p in pollers.iter_mut().flatten() {
            p.close_on_drop = false;
        }
        let epoll_fds = pollers.iter().map(|p| p.as_ref().unwrap().ep).collect();
        let shared = Arc::new(Shared {
            mailboxes: mailboxes.into_boxed_slice(),
            epoll_fds,
            activity: (0..nbthread).map(|_| Activity::default()).collect(),
            load: (0..nbthread).map(|_| AtomicU32::new(0)).collect(),
            stopping: AtomicBool::new(false),
        });
        Ok(Reactor { shared, opts, pollers })
    }

    pub fn remote(&self) -> Remote<M> {
        Remote(self.shared.clone())
    }

    /// Starts the threads; `make(tid)` builds each thread's handler on that
    /// thread. Returns the join handles.
    pub fn spawn<H, F>(mut self, make: F) -> io::Result<Vec<std::thread::JoinHandle<()>>>
    where
        H: Handler<Msg = M>,
        F: Fn(usize, &Remote<M>) -> H + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let mut handles = Vec::new();
        for tid in 0..self.pollers.len() {
            let poller = self.pollers[tid].take().unwrap();
            let shared = self.shared.clone();
            let make = make.clone();
            let opts = self.opts.clone();
            let h = std::thread::Builder::new()
                .name(format!("rhaproxy-{tid}"))
                .spawn(move || {
                    let _note = ExitNote(opts.exit_notify);
                    if let Some(Some(cpus)) = opts.cpu_map.get(tid) {
                        set_affinity(cpus);
                    }
                    let remote = Remote(shared.clone());
                    let mut handler = make(tid, &remote);
                    run_loop(&mut handler, tid, poller, &shared, &opts);
                })?;
            handles.push(h);
        }
        Ok(handles)
    }
}

/// Writes the exit eventfd when the thread's closure ends, normally or by
/// unwinding.
struct ExitNote(Option<RawFd>);

impl Drop for ExitNote {
    fn drop(&mut self) {
        if let Some(efd) = self.0 {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a live u64; the caller keeps the
            // eventfd open until every thread has been joined.
            unsafe {
                libc::write(efd, &one as *const u64 as *const libc::c_void, 8);
            }
        }
    }
}

fn set_affinity(cpus: &[usize]) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Runs one thread's loop until a handler calls [`Cx::exit`].
fn run_loop<H: Handler>(h: &mut H, tid: usize, poller: Poller, sh: &Arc<Shared<H::Msg>>, opts: &LoopOptions) {
    let mut st = ThreadState {
        tid,
        poller,
        runq: VecDeque::new(),
        timers: Timers::default(),
        now: now_ms(),
        exit: false,
    };
    let act = &sh.activity[tid];
    let mb = &sh.mailboxes[tid];
    let bit = 1u64 << tid;
    let mut inbox: VecDeque<H::Msg> = VecDeque::new();
    loop {
        bump(&act.loops, 1);
        st.now = now_ms();

        // Expired timers, at most a run queue's depth per loop like
        // HAProxy's wake_expired_tasks(): a handler re-arming a timer at or
        // before `now` would otherwise keep this loop from ever polling.
        // Leftovers make the next poll timeout 0.
        for _ in 0..opts.runqueue_depth.max(1) {
            let Some(tok) = st.timers.pop_expired(st.now) else {
                break;
            };
            bump(&act.wake_tasks, 1);
            h.on_timer(&mut Cx { st: &mut st, sh }, tok);
        }

        // A bounded batch of woken tokens, so I/O is polled regularly.
        let n = st.runq.len().min(opts.runqueue_depth.max(1));
        if n == 0 {
            bump(&act.empty_rq, 1);
        } else if st.runq.len() > n {
            bump(&act.long_rq, 1);
        }
        for _ in 0..n {
            let Some(tok) = st.runq.pop_front() else {
                break;
            };
            bump(&act.tasksw, 1);
            h.on_wake(&mut Cx { st: &mut st, sh }, tok);
        }

        // Messages.
        {
            let mut q = mb.queue.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut *q, &mut inbox);
        }
        while let Some(m) = inbox.pop_front() {
            h.on_msg(&mut Cx { st: &mut st, sh }, m);
        }
        if st.exit {
            break;
        }

        st.poller.apply_updates();

        // Sleep only if nothing is runnable, announcing it first so senders
        // know to write the eventfd.
        let mut timeout: i32 = if st.runq.is_empty() {
            match st.timers.next_deadline() {
                None => -1,
                Some(at) => at.saturating_sub(now_ms()).min(i32::MAX as u64) as i32,
            }
        } else {
            0
        };
        if timeout != 0 {
            mb.sleeping.store(true, SeqCst);
            fence(SeqCst);
            if !mb.queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
                timeout = 0;
            }
        }
        let nev = st.poller.wait(timeout);
        mb.sleeping.store(false, Relaxed);
        st.now = now_ms();
        if nev == 0 {
            bump(&act.poll_exp, 1);
        }

        // Dispatch. The event array is taken out so handlers may use the
        // poller through Cx while we walk it.
        let events = std::mem::take(&mut st.poller.events);
        for ev in &events[..nev] {
            let data = ev.u64;
            let kev = ev.events;
            if data == WAKEUP_DATA {
                let mut buf = 0u64;
                // SAFETY: reading 8 bytes into a live u64 from our eventfd.
                unsafe {
                    libc::read(mb.efd, &mut buf as *mut u64 as *mut libc::c_void, 8);
                }
                bump(&act.wake_signal, 1);
                continue;
            }
            let (fdn, ev_gen) = fd::untag(data);
            let evs = Events::from_epoll(kev);
            let e = fd::entry(fdn);
            if e.generation.load(Acquire) != ev_gen {
                // An earlier incarnation of this number: skip and count.
                count_stale(classify_stale(fdn, ev_gen, evs, tid));
                bump(&act.poll_drop_fd, 1);
                continue;
            }
            // Token first, then mask, then the generation again. A takeover
            // stores the mask before the new token, and a new incarnation is
            // inserted only after the generation was bumped, so:
            // - a new owner's token (read with Acquire) implies we also see
            //   the mask that excludes us, or the bumped generation;
            // - a mask that includes us but belongs to a new incarnation
            //   implies we see the bumped generation on the re-check.
            // Reading the mask before the token (as this loop first did) let
            // another thread's token reach this thread's handler when a
            // takeover landed between the two loads.
            let token = e.token.load(Acquire);
            let tmask = e.thread_mask.load(Acquire);
            if e.generation.load(Acquire) != ev_gen {
                count_stale(classify_stale(fdn, ev_gen, evs, tid));
                bump(&act.poll_drop_fd, 1);
                continue;
            }
            if tmask & bit == 0 {
                // Taken over by (or given to) another thread: forget our
                // registration so level-triggering does not spin here.
                fd::epoll_del(st.poller.ep, fdn);
                e.polled_recv.fetch_and(!bit, AcqRel);
                e.polled_send.fetch_and(!bit, AcqRel);
                bump(&act.poll_skip_fd, 1);
                continue;
            }
            bump(&act.poll_io, 1);
            h.on_io(&mut Cx { st: &mut st, sh }, fdn, token, evs);
        }
        st.poller.events = events;
    }
}
