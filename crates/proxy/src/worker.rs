//! One thread's share of the proxy: the reactor [`Handler`] that owns this
//! thread's streams, stats-socket sessions and buffer pool, accepts
//! connections from shared listeners and spreads them over threads, and
//! routes every event, timer and message to the object its token names.
//!
//! Tokens are `kind << 56 | index << 32 | generation`: the index and
//! generation of a slab slot, so an event for a freed object finds nothing.
//! This module owns dispatch and object life cycles; protocol logic lives in
//! `stream` and `cli`.

use crate::buffer::Pool;
use crate::listener::{Kind as LKind, Listener};
use crate::runtime::Runtime;
use crate::slab::Slab;
use crate::stream::{Env, Stream};
use reactor::{Cx, Events, Handler};
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::Arc;

pub const K_LISTENER: u64 = 1;
pub const K_CLI_SIDE: u64 = 2;
pub const K_SRV_SIDE: u64 = 3;
pub const K_TIMER: u64 = 4;
pub const K_WAKE: u64 = 5;
pub const K_APPLET: u64 = 6;
pub const K_APPLET_TIMER: u64 = 7;
pub const K_IDLE: u64 = 8;
/// Idle-connection purge of a server (wake: schedule; timer: a round).
pub const K_PURGE: u64 = 9;
/// End of a wait imposed by the global connection/session rate limits.
pub const K_RATE: u64 = 10;
/// A health check of a server (its timer and its connection).
pub const K_CHECK: u64 = 11;
/// A `resolvers` section: its name servers' sockets (index = section,
/// generation = name server) and its timer (generation = u32::MAX).
pub const K_DNS: u64 = 12;

#[inline]
pub fn token(kind: u64, idx: u32, gen: u32) -> u64 {
    kind << 56 | (idx as u64) << 32 | gen as u64
}

#[inline]
pub fn untoken(t: u64) -> (u64, u32, u32) {
    (t >> 56, ((t >> 32) & 0x00ff_ffff) as u32, t as u32)
}

/// Messages between threads.
pub enum Msg {
    /// First message of every thread: register shared listeners.
    Start,
    /// A connection accepted by another thread, for this one to serve.
    Accepted {
        fd: RawFd,
        src: Option<std::net::SocketAddr>,
        listener: usize,
    },
    /// A queued stream may now use a slot of server `srv` of backend `be`.
    Dequeued { token: u64, be: usize, srv: usize },
    /// Soft stop: stop accepting, finish what runs, then exit.
    SoftStop,
    /// Hard stop: exit now.
    HardStop,
    /// `show sess` from another thread's CLI: this thread's lines.
    CollectSess {
        want: Option<u64>,
        reply: std::sync::mpsc::Sender<String>,
    },
    /// `shutdown session` for a stream of this thread.
    KillStream { idx: u32, gen: u32 },
    /// `shutdown sessions server`: this thread's streams on that server.
    /// `why`: the termination cause letter (K: killed from the CLI, D: the
    /// server went down, U: a server came up, for `on-marked-*`).
    KillServerStreams { be: usize, srv: usize, why: u8 },
    /// A listener this thread paused at a connection limit has room again.
    Resume { listener: usize },
    /// `set server <be>/<srv> fqdn`: thread 0 moves the server to a
    /// resolution of the new name.
    SetFqdn { be: usize, srv: usize, fqdn: String },
    /// A purge round asks this thread to close `n` of its idle
    /// connections to server `srv` of backend `be`.
    PurgeIdle { be: usize, srv: usize, n: usize },
    /// An external check's program ended (from the main thread's SIGCHLD
    /// handling): its wait status.
    ExtCheckDone { be: u32, srv: u32, pid: i32, status: i32 },
}

/// The per-thread handler.
pub struct Worker {
    pub rt: Arc<Runtime>,
    pub listeners: Arc<Vec<Listener>>,
    pub streams: Slab<Stream>,
    pub applets: Slab<crate::cli::Applet>,
    pub pool: Pool,
    soft_stopping: bool,
    /// Listeners this thread stopped polling because a connection limit was
    /// reached (HAProxy's full listener); resumed when a connection ends.
    paused: Vec<bool>,
    any_paused: bool,
    /// Wakes this thread's rate-limited listeners (created on first use).
    rate_timer: Option<reactor::TimerId>,
    /// Idle-connection purge timers this thread runs.
    purge: crate::idle::PurgeTimers,
    /// Health checks this thread runs.
    checks: crate::checks::Runner,
    /// DNS resolutions (thread 0 only).
    resolv: crate::resolvers::Runner,
}

impl Worker {
    pub fn new(rt: Arc<Runtime>, listeners: Arc<Vec<Listener>>, _tid: usize) -> Worker {
        let bufsize = rt.cfg.global.tune_bufsize as usize;
        Worker {
            rt,
            listeners,
            streams: Slab::default(),
            applets: Slab::default(),
            pool: Pool::new(bufsize, 1024),
            soft_stopping: false,
            paused: Vec::new(),
            any_paused: false,
            rate_timer: None,
            purge: Default::default(),
            checks: Default::default(),
            resolv: Default::default(),
        }
    }

    fn load(&self) -> u32 {
        (self.streams.len() + self.applets.len()) as u32
    }

    /// Accepts a batch from a shared listener and hands each connection to
    /// the less loaded of this thread and one other (HAProxy's
    /// least-loaded-of-two over per-thread accept queues).
    fn accept(&mut self, cx: &mut Cx<'_, Msg>, lidx: usize) {
        let listeners = self.listeners.clone();
        let l = &listeners[lidx];
        let maxaccept = match self.rt.cfg.global.tune_maxaccept {
            n if n > 0 => n as usize,
            -1 => usize::MAX,
            _ => 64,
        };
        let nbt = cx.nbthread();
        for _ in 0..maxaccept {
            let rt = &self.rt;
            if rt.stopping.load(Relaxed) {
                break;
            }
            // Global and per-listener limits: leave connections in the
            // backlog and stop polling the listener here (it is level-
            // triggered: polling a full listener would spin), as HAProxy
            // pauses full listeners until a connection ends.
            if !Self::reserve(rt, l) {
                self.pause_listener(cx, lidx, true);
                break;
            }
            // The global connection/session rates (maxconnrate,
            // maxsessrate, set rate-limit): like HAProxy, the listener waits
            // until the next event fits; stats sockets are exempt.
            let proxy_side = matches!(l.kind, LKind::Proxy(_));
            if proxy_side {
                if let Some(wait) = rt.accept_rate_wait(cx.now()) {
                    Self::unreserve(rt, l);
                    self.pause_listener(cx, lidx, false);
                    self.arm_rate_timer(cx, wait);
                    break;
                }
            }
            if l.sockpair {
                match crate::cli::getsocks::recv_fd(l.fd) {
                    Ok(Some(fd)) => {
                        self.start_conn(cx, fd, None, lidx);
                        continue;
                    }
                    Ok(None) => {
                        // The master is gone: a worker does not outlive it
                        // (HAProxy exits with a failure status, without a
                        // clean deinit, other threads may be busy).
                        std::process::exit(1);
                    }
                    Err(e) => {
                        Self::unreserve(rt, l);
                        if e.raw_os_error() == Some(libc::EINTR) {
                            continue;
                        }
                        break;
                    }
                }
            }
            let (fd, src) = match crate::sock::accept(l.fd) {
                Ok((fd, addr)) => (fd, addr.to_inet()),
                Err(e) => {
                    Self::unreserve(rt, l);
                    if crate::sock::is_would_block(&e) {
                        break;
                    }
                    if e.raw_os_error() == Some(libc::EINTR) || e.raw_os_error() == Some(libc::ECONNABORTED) {
                        continue;
                    }
                    // EMFILE/ENFILE/ENOMEM: stop this batch; the listener
                    // stays polled and we retry on the next wake-up.
                    break;
                }
            };
            if proxy_side {
                let now = cx.now();
                rt.conn_rate.hit(now);
                crate::counters::update_max(&rt.max_conn_rate, rt.conn_rate.rate(now));
            }
            reactor::activity::bump(&cx.activity().accepted, 1);
            let tid = cx.tid();
            let target = if nbt <= 1 {
                tid
            } else {
                let mask = l.thread_mask & if nbt >= 64 { u64::MAX } else { (1u64 << nbt) - 1 };
                cx.shared().load[tid].store(self.load(), Relaxed);
                l.spread.pick(tid, mask, &cx.shared().load)
            };
            if target == tid {
                self.start_conn(cx, fd, src, lidx);
            } else {
                cx.shared().load[target].fetch_add(1, Relaxed);
                reactor::activity::bump(&cx.activity().accq_pushed, 1);
                cx.send(
                    target,
                    Msg::Accepted {
                        fd,
                        src,
                        listener: lidx,
                    },
                );
            }
        }
        cx.shared().load[cx.tid()].store(self.load(), Relaxed);
    }

    /// Takes a connection slot on the listener, its frontend and the
    /// process before accept(2), as HAProxy's listener_accept does: a limit
    /// checked first and counted later (maybe on another thread, after a
    /// hand-off) lets concurrent accepts overshoot it. The accepted
    /// connection owns the slots (`stream::accept`, `cli::accept` count the
    /// session without taking them again); a failed accept gives them back.
    fn reserve(rt: &Runtime, l: &Listener) -> bool {
        let under = |max: u64| move |v: u64| (max == 0 || v < max).then_some(v + 1);
        if l.counters
            .cur_sess
            .fetch_update(Relaxed, Relaxed, under(l.maxconn as u64))
            .is_err()
        {
            return false;
        }
        let LKind::Proxy(px) = l.kind else { return true };
        let fe = &rt.proxies[px];
        let fe_max = fe.fe_maxconn.load(Relaxed);
        if fe
            .feconn
            .fetch_update(Relaxed, Relaxed, |v| (fe_max == 0 || v < fe_max).then_some(v + 1))
            .is_err()
        {
            crate::counters::dec(&l.counters.cur_sess);
            return false;
        }
        let max = rt.maxconn.load(Relaxed);
        if rt
            .curr_conns
            .fetch_update(Relaxed, Relaxed, |v| (v < max).then_some(v + 1))
            .is_err()
        {
            fe.feconn.fetch_sub(1, Relaxed);
            crate::counters::dec(&l.counters.cur_sess);
            return false;
        }
        true
    }

    /// Gives back what `reserve` took, for a connection that will not run.
    pub fn unreserve(rt: &Runtime, l: &Listener) {
        crate::counters::dec(&l.counters.cur_sess);
        if let LKind::Proxy(px) = l.kind {
            rt.proxies[px].feconn.fetch_sub(1, Relaxed);
            rt.curr_conns.fetch_sub(1, Relaxed);
        }
    }

    /// The bind's own limit, its frontend's `maxconn` (over all of the
    /// frontend's listeners) and the global one, as HAProxy's
    /// listener_accept checks them.
    fn listener_full(rt: &Runtime, l: &Listener) -> bool {
        if l.maxconn > 0 && l.counters.cur_sess.load(Relaxed) >= l.maxconn as u64 {
            return true;
        }
        let LKind::Proxy(px) = l.kind else { return false };
        let fe = &rt.proxies[px];
        let fe_max = fe.fe_maxconn.load(Relaxed);
        (fe_max > 0 && fe.feconn.load(Relaxed) >= fe_max) || rt.curr_conns.load(Relaxed) >= rt.maxconn.load(Relaxed)
    }

    /// Stops polling a listener on this thread. `limit`: paused at a
    /// connection limit, which a connection ending on any thread lifts
    /// (else a rate wait, lifted by this thread's rate timer).
    fn pause_listener(&mut self, cx: &mut Cx<'_, Msg>, lidx: usize, limit: bool) {
        if self.paused.len() < self.listeners.len() {
            self.paused.resize(self.listeners.len(), false);
        }
        if !self.paused[lidx] {
            self.paused[lidx] = true;
            self.any_paused = true;
            let fd = self.listeners[lidx].fd;
            cx.stop_recv(fd);
            cx.fd_refresh(fd);
        }
        if !limit {
            return;
        }
        let l = &self.listeners[lidx];
        let bit = 1u64 << cx.tid();
        if l.paused_on.fetch_or(bit, SeqCst) & bit == 0 {
            self.rt.paused_listeners.fetch_add(1, SeqCst);
        }
        // A slot freed between the limit check and the line above found no
        // paused bit to act on: look again now that the bit is visible.
        std::sync::atomic::fence(SeqCst);
        if !Self::listener_full(&self.rt, l) {
            self.resume_listeners(cx);
        }
    }

    fn arm_rate_timer(&mut self, cx: &mut Cx<'_, Msg>, wait_ms: u64) {
        let t = *self
            .rate_timer
            .get_or_insert_with(|| cx.timer_create(token(K_RATE, 0, 0)));
        let now = cx.now();
        cx.timer_arm(t, now + wait_ms);
    }

    /// A connection ended, a rate wait is over, or another thread freed a
    /// slot: listeners paused below their limits again are polled again.
    /// Those paused at a limit by other threads are handed to them: a
    /// thread that paused may have no connection of its own whose end
    /// would wake it.
    pub fn resume_listeners(&mut self, cx: &mut Cx<'_, Msg>) {
        if self.rt.stopping.load(Relaxed) {
            return;
        }
        let me = cx.tid();
        std::sync::atomic::fence(SeqCst);
        if self.rt.paused_listeners.load(SeqCst) > 0 {
            let listeners = self.listeners.clone();
            for (i, l) in listeners.iter().enumerate() {
                if l.paused_on.load(SeqCst) & !(1u64 << me) == 0 || Self::listener_full(&self.rt, l) {
                    continue;
                }
                let on = l.paused_on.fetch_and(1u64 << me, SeqCst) & !(1u64 << me);
                self.rt.paused_listeners.fetch_sub(on.count_ones(), SeqCst);
                for t in (0..64).filter(|t| on & (1u64 << t) != 0) {
                    cx.send(t, Msg::Resume { listener: i });
                }
            }
        }
        if !self.any_paused {
            return;
        }
        self.any_paused = false;
        let rate_wait = self.rt.accept_rate_wait(cx.now());
        for i in 0..self.paused.len() {
            if !self.paused[i] {
                continue;
            }
            let l = &self.listeners[i];
            if Self::listener_full(&self.rt, l) {
                self.any_paused = true;
                continue;
            }
            if let (Some(wait), LKind::Proxy(_)) = (rate_wait, &l.kind) {
                self.any_paused = true;
                self.arm_rate_timer(cx, wait);
                continue;
            }
            self.paused[i] = false;
            if l.paused_on.fetch_and(!(1u64 << me), SeqCst) & (1u64 << me) != 0 {
                self.rt.paused_listeners.fetch_sub(1, SeqCst);
            }
            cx.want_recv(l.fd);
            cx.fd_refresh(l.fd);
        }
    }

    /// Starts serving an accepted connection on this thread.
    fn start_conn(&mut self, cx: &mut Cx<'_, Msg>, fd: RawFd, src: Option<std::net::SocketAddr>, lidx: usize) {
        let l = &self.listeners[lidx];
        match l.kind {
            LKind::Proxy(px) => {
                let rt = self.rt.clone();
                crate::stream::accept(self, cx, &rt, fd, src, lidx, px);
            }
            LKind::Cli(sock) => {
                crate::cli::accept(self, cx, fd, lidx, sock);
            }
        }
        cx.shared().load[cx.tid()].store(self.load(), Relaxed);
    }

    /// Runs a stream after an event and frees it if it finished.
    pub fn run_stream(&mut self, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32, what: crate::stream::Wake) {
        let Some(mut s) = self.streams.take(idx, gen) else {
            return;
        };
        let rt = self.rt.clone();
        let alive = {
            let mut env = Env {
                cx,
                rt: &rt,
                pool: &mut self.pool,
                listeners: &self.listeners,
                idx,
                gen,
            };
            if crate::stream::proxy_hs::waiting(&s) {
                let lidx = s.lidx;
                crate::stream::proxy_hs::wake(&mut s, &mut env, what, &self.listeners[lidx])
            } else {
                s.wake(&mut env, what)
            }
        };
        if alive {
            self.streams.restore(idx, s);
        } else {
            self.end_stream(cx, idx, gen, s);
        }
    }

    /// Frees a stream taken out of the slab, and what its end changes for
    /// the thread: listener counts, load, paused listeners, soft stop.
    fn end_stream(&mut self, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32, mut s: Stream) {
        let rt = self.rt.clone();
        let mut env = Env {
            cx,
            rt: &rt,
            pool: &mut self.pool,
            listeners: &self.listeners,
            idx,
            gen,
        };
        s.release(&mut env);
        self.listeners[s.lidx].counters.sess_end();
        self.streams.release(idx);
        cx.shared().load[cx.tid()].store(self.load(), Relaxed);
        self.resume_listeners(cx);
        self.maybe_exit(cx);
    }

    /// Ends a stream at once (`shutdown session`), releasing everything
    /// it holds as a normal end would.
    pub fn kill_stream(&mut self, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32) {
        self.kill_stream_why(cx, idx, gen, b'K');
    }

    fn kill_stream_why(&mut self, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32, why: u8) {
        let Some(mut s) = self.streams.take(idx, gen) else {
            return;
        };
        // A server going down or up (`on-marked-*`) cuts a TCP stream with
        // no stage letter, as HAProxy's stream_shutdown() leaves it.
        let when = if why != b'K' && s.http.is_none() { b'-' } else { b'D' };
        s.term = crate::stream::Term { who: why, when };
        self.end_stream(cx, idx, gen, s);
    }

    /// Ends this thread's streams using server `srv` of backend `be`.
    pub fn kill_server_streams(&mut self, cx: &mut Cx<'_, Msg>, be: usize, srv: usize, why: u8) {
        let victims: Vec<(u32, u32)> = self
            .streams
            .iter()
            .filter(|(_, _, s)| s.be == Some(be) && s.srv == Some(srv))
            .map(|(i, g, _)| (i, g))
            .collect();
        for (i, g) in victims {
            self.kill_stream_why(cx, i, g, why);
        }
    }

    fn maybe_exit(&mut self, cx: &mut Cx<'_, Msg>) {
        if self.soft_stopping && self.streams.is_empty() {
            cx.exit();
        }
    }
}

/// Enters the listeners in the FD table, shared by all threads, before
/// the threads start (each registers them in its own epoll on `Start`).
pub fn register_listeners(listeners: &[Listener], nbthread: usize) {
    let all = if nbthread >= 64 {
        u64::MAX
    } else {
        (1u64 << nbthread) - 1
    };
    for (i, l) in listeners.iter().enumerate() {
        let mut extra = reactor::fd::ST_LISTENER | reactor::fd::ST_EXCLUSIVE;
        if l.inherited {
            extra |= reactor::fd::ST_CLONED;
        }
        reactor::fd::insert(l.fd, token(K_LISTENER, i as u32, 0), all & l.thread_mask, extra);
    }
}

impl Worker {
    fn poll_listeners(&mut self, cx: &mut Cx<'_, Msg>) {
        let me = 1u64 << cx.tid();
        for l in self.listeners.iter().filter(|l| l.thread_mask & me != 0) {
            cx.want_recv(l.fd);
            cx.fd_refresh(l.fd);
        }
    }

    /// Soft stop: HTTP clients idle between two requests are closed at
    /// once, as HAProxy 2.6 does, rather than kept until their keep-alive
    /// timeout holds the process. Checked against HAProxy 2.6: connections
    /// busy with a request (their response keeps its keep-alive), or not
    /// yet past their first request, are left to end by themselves.
    fn close_idle_clients(&mut self, cx: &mut Cx<'_, Msg>) {
        let idle: Vec<(u32, u32)> = self
            .streams
            .iter()
            .filter(|(_, _, s)| crate::stream::http::idle_between_requests(s))
            .map(|(i, g, _)| (i, g))
            .collect();
        for (i, g) in idle {
            if let Some(s) = self.streams.take(i, g) {
                self.end_stream(cx, i, g, s);
            }
        }
    }

    /// Soft stop, once per process: the frontends' sockets are closed so
    /// that the kernel sends new connections to the process that replaces
    /// us (its own SO_REUSEPORT socket, or this very socket it took over
    /// with `-x`). Connections the kernel already queued on a socket only
    /// we hold would be reset by the close: they are accepted and served
    /// first.
    fn unbind_listeners(&mut self, cx: &mut Cx<'_, Msg>) {
        let listeners = self.listeners.clone();
        for (i, l) in listeners.iter().enumerate() {
            if !matches!(l.kind, LKind::Proxy(_)) || l.closed.load(Acquire) {
                continue;
            }
            while Self::reserve(&self.rt, l) {
                match crate::sock::accept(l.fd) {
                    Ok((fd, addr)) => self.start_conn(cx, fd, addr.to_inet(), i),
                    Err(e) => {
                        Self::unreserve(&self.rt, l);
                        if !matches!(e.raw_os_error(), Some(libc::EINTR) | Some(libc::ECONNABORTED)) {
                            break;
                        }
                    }
                }
            }
            l.closed.store(true, Release);
            if l.inherited {
                // Not ours to close (fd@): only stop polling it.
                continue;
            }
            cx.fd_delete_shared(l.fd);
        }
        // HAProxy's notice that each frontend stopped listening, with its
        // totals (on stderr; a run-time warning has no version header).
        if self.rt.cfg.global.quiet {
            return;
        }
        let mut seen = Vec::new();
        for l in listeners.iter() {
            if let LKind::Proxy(px) = l.kind {
                if !seen.contains(&px) {
                    seen.push(px);
                }
            }
        }
        seen.sort_unstable();
        let pid = std::process::id();
        for px in seen {
            let p = &self.rt.proxies[px];
            eprintln!(
                "{:<11}({pid}) : Proxy {} stopped (cumulated conns: FE: {}, BE: {}).",
                "[WARNING]",
                self.rt.cfg.proxies[px].name,
                p.fe_counters.cum_conn.load(Relaxed),
                p.be_counters.cum_conn.load(Relaxed)
            );
        }
    }

    fn stop_listeners(&mut self, cx: &mut Cx<'_, Msg>) {
        for l in self.listeners.iter() {
            if matches!(l.kind, LKind::Proxy(_)) {
                cx.stop_recv(l.fd);
                cx.fd_refresh(l.fd);
            }
        }
    }
}

impl Handler for Worker {
    type Msg = Msg;

    fn on_io(&mut self, cx: &mut Cx<'_, Msg>, fd: RawFd, tok: u64, ev: Events) {
        let (kind, idx, gen) = untoken(tok);
        match kind {
            K_LISTENER => self.accept(cx, idx as usize),
            K_CLI_SIDE => self.run_stream(cx, idx, gen, crate::stream::Wake::Cli(ev)),
            K_SRV_SIDE => self.run_stream(cx, idx, gen, crate::stream::Wake::Srv(ev)),
            K_APPLET => crate::cli::on_io(self, cx, idx, gen, ev),
            K_IDLE => crate::stream::idle_event(self, cx, fd, tok),
            K_CHECK => self.checks.on_io(cx, &self.rt, idx, gen, ev),
            K_DNS => self.resolv.on_io(cx, &self.rt, idx, gen, ev),
            _ => {
                reactor::bug_on!(true, "event for an unknown token kind");
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_, Msg>, tok: u64) {
        let (kind, idx, gen) = untoken(tok);
        match kind {
            K_TIMER => self.run_stream(cx, idx, gen, crate::stream::Wake::Timer),
            K_APPLET_TIMER => crate::cli::on_timer(self, cx, idx, gen),
            K_PURGE => self.purge.fire(cx, &self.rt, idx, gen),
            K_RATE => self.resume_listeners(cx),
            K_CHECK => self.checks.on_timer(cx, &self.rt, idx, gen),
            K_DNS => self.resolv.on_timer(cx, &self.rt, idx),
            _ => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_, Msg>, tok: u64) {
        let (kind, idx, gen) = untoken(tok);
        match kind {
            K_WAKE => self.run_stream(cx, idx, gen, crate::stream::Wake::Task),
            K_PURGE => self.purge.schedule(cx, &self.rt, idx, gen),
            _ => {}
        }
    }

    fn on_msg(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Start => {
                self.poll_listeners(cx);
                let rt = self.rt.clone();
                self.checks.start(cx, &rt);
                if cx.tid() == 0 {
                    self.resolv.start(cx, &rt);
                }
            }
            Msg::Resume { .. } => self.resume_listeners(cx),
            Msg::Accepted { fd, src, listener } => {
                cx.shared().load[cx.tid()].fetch_sub(1, Relaxed);
                self.start_conn(cx, fd, src, listener);
            }
            Msg::Dequeued { token: t, be, srv } => {
                let (_, idx, gen) = untoken(t);
                if self.streams.get(idx, gen).is_some() {
                    self.run_stream(cx, idx, gen, crate::stream::Wake::Dequeued { be, srv });
                } else {
                    // The stream vanished after being dequeued: give the
                    // slot to the next waiter.
                    crate::stream::release_slot(cx, &self.rt, be, srv);
                }
            }
            Msg::SoftStop => {
                self.soft_stopping = true;
                self.stop_listeners(cx);
                if !self.rt.unbound.swap(true, AcqRel) {
                    self.unbind_listeners(cx);
                }
                self.close_idle_clients(cx);
                self.maybe_exit(cx);
            }
            Msg::HardStop => cx.exit(),
            Msg::CollectSess { want, reply } => {
                let lines = crate::cli::commands::sess_lines(self, cx.tid(), want, cx.now());
                // The asker may have given up waiting: nothing to do then.
                let _ = reply.send(lines);
            }
            Msg::KillStream { idx, gen } => self.kill_stream(cx, idx, gen),
            Msg::KillServerStreams { be, srv, why } => self.kill_server_streams(cx, be, srv, why),
            Msg::ExtCheckDone { be, srv, pid, status } => {
                let rt = self.rt.clone();
                self.checks.on_ext_done(cx, &rt, be, srv, pid, status);
            }
            Msg::SetFqdn { be, srv, fqdn } => {
                let rt = self.rt.clone();
                self.resolv.set_fqdn(cx, &rt, be, srv, &fqdn);
            }
            Msg::PurgeIdle { be, srv, n } => {
                if let Some(sv) = self.rt.proxies.get(be).and_then(|p| p.servers.get(srv)) {
                    crate::idle::close_some(cx, sv, n);
                }
            }
        }
    }
}
