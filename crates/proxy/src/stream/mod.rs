//! Streams: one client connection and the server connection it uses,
//! with a channel in each direction (HAProxy's `stream.c` plus the stream
//! connectors and the raw transport). See LIFECYCLE.md beside this file.
//!
//! A stream is woken by I/O on either side, its timer, a wake-up, or a
//! queue hand-over; every wake runs [`Stream::process`], which moves as many
//! bytes as the sockets allow in both directions, runs the mode's analyzers
//! (`tcp`: none; `http`: the HTTP/1 transaction), propagates shutdowns,
//! then converges poll wishes and the timer. Speculative I/O: a side is
//! read or written until the kernel says EAGAIN, and only then polled.
//!
//! This module owns stream life cycles, forwarding and timeouts. It must
//! not parse HTTP (the `http` crate does) nor choose servers (`backend`).

pub mod http;
pub mod proxy_hs;

use crate::backend::{self, Assign};
use crate::buffer::{Buf, Pool};
use crate::counters::{add, inc};
use crate::runtime::{Runtime, Target};
use crate::sock;
use crate::worker::{token, Msg, Worker, K_CLI_SIDE, K_SRV_SIDE, K_TIMER, K_WAKE};
use config::model::Mode;
use reactor::task::ETERNITY;
use reactor::{Cx, Events, TimerId};
use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

/// The stream must end now (returned by analyzers).
#[derive(Debug)]
pub struct End;

/// Why a stream runs.
#[derive(Clone, Copy, Debug)]
pub enum Wake {
    Start,
    Cli(Events),
    Srv(Events),
    Timer,
    Task,
    Dequeued { be: usize, srv: usize },
}

/// What a stream needs from its thread while it runs.
pub struct Env<'a, 'b> {
    pub cx: &'a mut Cx<'b, Msg>,
    pub rt: &'a Runtime,
    pub pool: &'a mut Pool,
    /// The thread's listeners (for the stats page's listener rows).
    pub listeners: &'a [crate::listener::Listener],
    pub idx: u32,
    pub gen: u32,
}

impl Env<'_, '_> {
    pub fn tok(&self, kind: u64) -> u64 {
        token(kind, self.idx, self.gen)
    }
    pub fn now(&self) -> u64 {
        self.cx.now()
    }
}

/// One side's socket state.
#[derive(Debug)]
pub struct Side {
    pub fd: RawFd,
    /// Not known to be empty/full: worth trying `recv`/`send`.
    pub ready_r: bool,
    pub ready_w: bool,
    /// Read side closed by the peer / write side closed by us.
    pub shut_r: bool,
    pub shut_w: bool,
    pub connecting: bool,
    pub err: bool,
    /// The poller said the peer closed its side (EPOLLRDHUP/HUP): a read
    /// will end in EOF once the buffered bytes are consumed.
    pub rdhup: bool,
    /// Inactivity deadline (ms) or ETERNITY.
    pub exp: u64,
}

impl Side {
    pub fn none() -> Side {
        Side {
            fd: -1,
            ready_r: false,
            ready_w: false,
            shut_r: false,
            shut_w: false,
            connecting: false,
            err: false,
            rdhup: false,
            exp: ETERNITY,
        }
    }
    /// Shuts our write side (after close_notify on TLS).
    pub fn shutw(&mut self, tls: &mut Option<Box<crate::ssl_sock::Tls>>) {
        if let Some(t) = tls.as_deref_mut() {
            t.close_notify(self.fd);
        }
        sock::shutdown_write(self.fd);
        self.shut_w = true;
    }
    pub fn is_open(&self) -> bool {
        self.fd >= 0
    }
    fn apply(&mut self, ev: Events) {
        if ev.readable() || ev.hup() || ev.rdhup() || ev.error() {
            self.ready_r = true;
        }
        if ev.rdhup() || ev.hup() {
            self.rdhup = true;
        }
        if ev.writable() || ev.error() || ev.hup() {
            self.ready_w = true;
        }
    }
}

/// One direction: bytes received from one side, waiting to go to the
/// other. `obuf` holds bytes we produced (rewritten heads, error pages),
/// sent before the first `fwd` bytes of `ibuf`.
pub struct Chan {
    pub ibuf: Option<Buf>,
    pub obuf: Option<Buf>,
    /// Bytes at the head of `ibuf` cleared for forwarding.
    pub fwd: usize,
    /// Bytes forwarded so far.
    pub total: u64,
    /// Cap on what may be read into `ibuf` (bufsize − maxrewrite while a
    /// message head is awaited).
    pub read_limit: usize,
}

impl Chan {
    fn new(limit: usize) -> Chan {
        Chan {
            ibuf: None,
            obuf: None,
            fwd: 0,
            total: 0,
            read_limit: limit,
        }
    }
    pub fn in_len(&self) -> usize {
        self.ibuf.as_ref().map_or(0, |b| b.len())
    }
    pub fn out_len(&self) -> usize {
        self.obuf.as_ref().map_or(0, |b| b.len())
    }
    /// Something is ready to be sent.
    pub fn has_output(&self) -> bool {
        self.out_len() > 0 || (self.fwd > 0 && self.in_len() > 0)
    }
    /// Nothing left to send, whatever is analysed or not.
    pub fn drained(&self) -> bool {
        self.out_len() == 0 && self.fwd == 0
    }
    fn release_empty(&mut self, pool: &mut Pool) {
        if self.ibuf.as_ref().is_some_and(|b| b.is_empty()) {
            pool.put(self.ibuf.take().unwrap());
        }
        if self.obuf.as_ref().is_some_and(|b| b.is_empty()) {
            pool.put(self.obuf.take().unwrap());
        }
    }
    pub fn release_all(&mut self, pool: &mut Pool) {
        if let Some(b) = self.ibuf.take() {
            pool.put(b);
        }
        if let Some(b) = self.obuf.take() {
            pool.put(b);
        }
        self.fwd = 0;
    }
    /// The output buffer, taken from the pool if needed.
    pub fn obuf(&mut self, pool: &mut Pool) -> &mut Buf {
        self.obuf.get_or_insert_with(|| pool.get())
    }
}

/// Server-side progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrvPhase {
    /// No server yet (HTTP: waiting for the request).
    None,
    /// Waiting in a queue since the given time.
    Queued,
    Connecting,
    /// Waiting for the turn-around delay before retrying a connection.
    Retry,
    Connected,
    /// Finished with the server (closed or given back to an idle list).
    Done,
}

/// How a stream ended, for logs and counters (HAProxy's termination
/// flags: first letter who, second letter when).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Term {
    pub who: u8,
    pub when: u8,
}

pub struct Stream {
    pub fe: usize,
    pub lidx: usize,
    pub be: Option<usize>,
    pub srv: Option<usize>,
    /// The server a `use-server` rule pinned this request to (load
    /// balancing is skipped; a redispatch forgets it).
    pub forced_srv: Option<usize>,
    /// Holds a slot on `srv` (counted in its `served`).
    pub has_slot: bool,
    pub cli: Side,
    pub sv: Side,
    pub req: Chan,
    pub res: Chan,
    pub timer: TimerId,
    pub phase: SrvPhase,
    pub mode: Mode,
    pub retries_left: u32,
    pub accept_ms: u64,
    pub src: Option<SocketAddr>,
    /// Local address the client reached; fetched on first use
    /// ([`Stream::ensure_dst`]): most streams never need it.
    pub dst: Option<SocketAddr>,
    dst_fetched: bool,
    /// HTTP requests seen on this client connection (spans transactions).
    pub req_count: u32,
    /// The HTTP transaction in progress. None before the first request,
    /// and while a keep-alive client is idle between requests
    /// (`req_count > 0`): its transaction went back to the thread's pool
    /// and the keep-alive deadline is `cli.exp` (see `http::park`).
    pub http: Option<Box<http::Txn>>,
    pub queue_exp: u64,
    pub term: Term,
    /// The stream asked for another run right away.
    pub rerun: bool,
    /// HTTP switched to a tunnel (upgrade, CONNECT): `timeout tunnel`.
    pub tunnel: bool,
    /// When the next connection attempt may start (SrvPhase::Retry).
    pub retry_at: u64,
    /// The server of a failed attempt being redispatched: the LB avoids it.
    pub redisp_from: Option<usize>,
    /// Timers of the current transaction (log line and time averages).
    pub tm: crate::log::TxnTimes,
    /// Counts and captures for the log line (see `log`), only for
    /// frontends that log or build unique ids: others pay one pointer.
    pub logs: Option<Box<crate::log::StrmLogs>>,
    /// PROXY protocol state of the client connection (None: no header
    /// expected): waiting for it, then what it announced.
    pub pp: Option<Box<proxy_hs::Pp>>,
    /// The client connection's addresses while http-request or
    /// tcp-request content rules changed this transaction's (`set-src`,
    /// `set-dst`...): the next transaction starts from them again, as
    /// HAProxy's per-stream addresses do.
    pub conn_addrs: Option<Box<[Option<SocketAddr>; 2]>>,
    /// The PROXY header the current server connection starts with
    /// (`send-proxy*`), kept while the connection lives: a private
    /// connection is reused only for a request that would send the same.
    pub pp_out: Option<Box<PpOut>>,
    /// A request of this client needed a PROXY header other than its
    /// server connection's: HAProxy 2.6 reuses none of this client's
    /// server connections from then on (2.6.12 opens one per request for
    /// ids foo, bar, bar, bar), and neither does rhaproxy.
    pub pp_noreuse: bool,
    /// The TLS layers over the client and server sockets (`bind ... ssl`,
    /// `server ... ssl`); None on plain connections, whose I/O pays only
    /// this check. Kept out of `Side` so that replacing a side stays free
    /// of drop glue; whoever opens or closes a side sets its layer.
    pub cli_tls: Option<Box<crate::ssl_sock::Tls>>,
    pub sv_tls: Option<Box<crate::ssl_sock::Tls>>,
    /// Tracked stick counters (`track-sc*`); empty slots cost nothing.
    pub stk: crate::stick_table::StkCtrs,
    /// Stick keys waiting for the server to be known (`stick on`,
    /// `store-request`, `store-response`).
    pub stick_store: crate::http_act::StickStore,
    /// The last rule that gave a final verdict in this transaction
    /// (`last_rule_file`/`last_rule_line`).
    pub last_rule: Option<(&'static str, u32)>,
}

/// The server a `stick match` found by id, if it may be used (up, or
/// persistence forced by `option persist` or `force-persist`).
pub fn stick_server(be: &crate::runtime::ProxyRt, id: u32, force: bool) -> Option<usize> {
    let i = be.servers.iter().position(|sv| !sv.is_deleted() && sv.id == id)?;
    let sv = &be.servers[i];
    let usable = sv.up.load(Relaxed) && !sv.in_maint();
    (usable || force || be.cfg.options.persist).then_some(i)
}

/// Stores the stream's server under its queued stick keys (HAProxy's
/// `process_store_rules`, once the server answered or, in TCP mode, is
/// connected).
pub fn stick_store(s: &mut Stream, rt: &Runtime) {
    let (Some(be), Some(srv)) = (s.be, s.srv) else {
        s.stick_store.clear();
        return;
    };
    let sv = &rt.proxies[be].servers[srv];
    crate::http_act::stick_store(&mut s.stick_store, sv.id, &sv.name, sv.cfg.non_stick);
}

/// A PROXY header for a server connection, and how much of it left.
pub struct PpOut {
    pub bytes: Vec<u8>,
    pub sent: usize,
}

impl PpOut {
    fn pending(&self) -> bool {
        self.sent < self.bytes.len()
    }
}

/// TLS records wait for room in the socket.
#[inline]
pub fn tls_pending(t: &Option<Box<crate::ssl_sock::Tls>>) -> bool {
    t.as_ref().is_some_and(|t| t.pending())
}

/// Accepts a client connection into a new stream on this thread.
pub fn accept(
    w: &mut Worker,
    cx: &mut Cx<'_, Msg>,
    rt: &Runtime,
    fd: RawFd,
    src: Option<SocketAddr>,
    lidx: usize,
    px: usize,
) {
    let fe = &rt.proxies[px];
    let now = cx.now();
    let l = &w.listeners[lidx];
    // tcp-request connection (and variable-free session) rules.
    let r = &fe.rules;
    let mut src = src;
    // `accept-proxy`, or an `expect-proxy layer4` rule below.
    let mut wait_pp = l.accept_proxy;
    // Session rules wait for the PROXY header when one is expected: they
    // see the announced addresses.
    let sess_now = !r.tcp_sess.is_empty() && !r.sess_at_request;
    // Set when a tcp-request connection rule changed the local address.
    let mut dst_set = None;
    // Counters tracked by these rules, handed to the stream below.
    let stk = crate::stick_table::StkCtrs::default();
    if !r.tcp_conn.is_empty() || sess_now {
        let dst = sock::local_addr(fd).ok().and_then(|a| a.to_inet());
        let mut info = crate::sample::Info {
            fe_name: &fe.name,
            fe_id: fe.id,
            so_name: rt.so_names.get(lidx).and_then(|n| n.as_deref()),
            src,
            dst,
            first_req: true,
            stk: Some(&stk),
            ..Default::default()
        };
        let mut ok = match crate::http_act::run_l4(&r.tcp_conn, &mut info) {
            Some(expect) => {
                wait_pp |= expect;
                true
            }
            None => false,
        };
        if ok && sess_now && !wait_pp {
            ok = crate::http_act::run_l4(&r.tcp_sess, &mut info).is_some();
        }
        src = info.src;
        if info.dst != dst {
            dst_set = Some(info.dst);
        }
        if !ok {
            sock::close_raw(fd);
            Worker::unreserve(rt, l);
            w.resume_listeners(cx);
            return;
        }
    }
    let _ = sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    // curr_conns, feconn and the listener's count were taken at accept
    // (`Worker::reserve`).
    inc_u64(&rt.cum_conns);
    inc(&fe.fe_counters.cum_conn);
    fe.fe_counters.conn_rate.hit(now);
    crate::counters::update_max(&fe.fe_counters.max_conn_rate, fe.fe_counters.conn_rate.rate(now));
    // The listener counts connections whether or not a session follows.
    l.counters.sess_start_reserved(now);
    // A PROXY header to wait for: the session starts once it is read
    // (see proxy_hs.rs).
    if !wait_pp {
        session_counters(rt, fe, now);
        stk.count_session();
    }
    let bufsize = rt.cfg.global.tune_bufsize as usize;
    let head_limit = bufsize.saturating_sub(rt.cfg.global.tune_maxrewrite as usize).max(1);
    let tls = w.listeners[lidx].tls.as_ref().and_then(crate::ssl_sock::Tls::accept);
    let mode = fe.mode;
    let retries = fe.cfg.retries;
    let (idx, gen) = w.streams.insert_with(|i, g| {
        let timer = cx.timer_create(token(K_TIMER, i, g));
        Stream {
            fe: px,
            lidx,
            be: None,
            srv: None,
            forced_srv: None,
            has_slot: false,
            cli: Side {
                fd,
                ready_r: true,
                ready_w: true,
                ..Side::none()
            },
            sv: Side::none(),
            req: Chan::new(if mode == Mode::Http { head_limit } else { bufsize }),
            res: Chan::new(if mode == Mode::Http { head_limit } else { bufsize }),
            timer,
            phase: SrvPhase::None,
            mode,
            retries_left: retries,
            accept_ms: now,
            src,
            dst: dst_set.flatten(),
            dst_fetched: dst_set.is_some(),
            conn_addrs: None,
            pp_out: None,
            pp_noreuse: false,
            last_rule: None,
            req_count: 0,
            http: None,
            queue_exp: ETERNITY,
            term: Term::default(),
            rerun: false,
            tunnel: false,
            retry_at: ETERNITY,
            redisp_from: None,
            tm: crate::log::TxnTimes::new(now),
            logs: None,
            pp: None,
            cli_tls: tls,
            sv_tls: None,
            stk,
            stick_store: Vec::new(),
        }
    });
    cx.fd_insert(fd, token(K_CLI_SIDE, idx, gen));
    if wait_pp {
        if let Some(s) = w.streams.get_mut(idx, gen) {
            s.pp = Some(Box::new(proxy_hs::Pp::waiting()));
        }
    } else if !fe.log.targets.is_empty() || fe.log.uid_fmt.is_some() {
        let lid = w.listeners[lidx].id;
        if let Some(s) = w.streams.get_mut(idx, gen) {
            crate::log::on_accept(s, fe, lid);
        }
    }
    w.run_stream(cx, idx, gen, Wake::Start);
}

/// What a new session counts (HAProxy's `session_count_new` and the
/// frontend's stream count), once its connection is usable: at accept, or
/// after the PROXY header.
fn session_counters(rt: &Runtime, fe: &crate::runtime::ProxyRt, now: u64) {
    if fe.mode != config::model::Mode::Http {
        // HAProxy's CumReq counts streams; in HTTP each request is one
        // (counted where the request is), in TCP each connection is.
        inc_u64(&rt.cum_req);
    }
    // The connection was counted in the global connection rate when
    // accepted; it becomes a session now that the L4 rules let it in.
    rt.sess_rate.hit(now);
    crate::counters::update_max(&rt.max_sess_rate, rt.sess_rate.rate(now));
    fe.fe_counters.sess_start(now);
}

fn inc_u64(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// Gives a freed slot to the next waiter, on whatever thread it lives.
pub fn release_slot(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, srv: usize) {
    backend::release(rt, be, srv, |p| {
        cx.send(
            p.tid,
            Msg::Dequeued {
                token: p.token,
                be,
                srv,
            },
        )
    });
}

/// An event on a parked idle server connection (see `http.rs`).
pub fn idle_event(w: &mut Worker, cx: &mut Cx<'_, Msg>, fd: RawFd, tok: u64) {
    http::idle_event(w, cx, fd, tok)
}

/// Outcome of one I/O attempt.
enum Io {
    Progress,
    Nothing,
}

impl Stream {
    /// Fetches the local address of the client connection once.
    pub fn ensure_dst(&mut self) {
        if !self.dst_fetched && self.cli.is_open() {
            self.dst_fetched = true;
            self.dst = sock::local_addr(self.cli.fd).ok().and_then(|a| a.to_inet());
        }
    }

    fn fe<'r>(&self, rt: &'r Runtime) -> &'r crate::runtime::ProxyRt {
        &rt.proxies[self.fe]
    }

    /// Timeouts: (client, server, connect, tunnel) in ms, from the frontend
    /// for the client side and the backend for the server side.
    pub fn timeout_client(&self, rt: &Runtime) -> Option<u64> {
        self.fin_timeout_client(rt)
            .or(self.fe(rt).cfg.timeouts.client.map(u64::from))
    }
    pub fn timeout_server(&self, rt: &Runtime) -> Option<u64> {
        self.fin_timeout_server(rt)
            .or(self.be_timeouts(rt).server.map(u64::from))
    }
    /// `timeout client-fin`: once we shut our write side toward the client,
    /// as HAProxy's half-closed timeout (it then replaces the client and
    /// tunnel timeouts on that side).
    fn fin_timeout_client(&self, rt: &Runtime) -> Option<u64> {
        self.cli
            .shut_w
            .then(|| self.fe(rt).cfg.timeouts.client_fin.map(u64::from))
            .flatten()
    }
    /// `timeout server-fin`: once we shut our write side toward the server.
    fn fin_timeout_server(&self, rt: &Runtime) -> Option<u64> {
        self.sv
            .shut_w
            .then(|| self.be_timeouts(rt).server_fin.map(u64::from))
            .flatten()
    }
    fn be_timeouts<'r>(&self, rt: &'r Runtime) -> &'r config::model::Timeouts {
        &self.be.map(|b| &rt.proxies[b]).unwrap_or(self.fe(rt)).cfg.timeouts
    }
    fn timeout_tunnel(&self, rt: &Runtime) -> Option<u64> {
        let be = self.be.map(|b| &rt.proxies[b]).unwrap_or(self.fe(rt));
        be.cfg.timeouts.tunnel.map(u64::from)
    }
    fn timeout_connect(&self, rt: &Runtime) -> u64 {
        let be = self.be.map(|b| &rt.proxies[b]).unwrap_or(self.fe(rt));
        be.cfg.timeouts.connect.map(u64::from).unwrap_or(ETERNITY)
    }

    /// Records who ended the stream unless a cause is known already, with
    /// the phase it was in (HAProxy's SF_ERR_*/SF_FINST_* flags).
    pub fn set_term(&mut self, who: u8) {
        if self.term.who == 0 {
            let when = match self.phase {
                SrvPhase::Queued => b'Q',
                SrvPhase::None | SrvPhase::Connecting | SrvPhase::Retry => b'C',
                _ => b'D',
            };
            self.term = Term { who, when };
        }
    }

    /// Switches an HTTP stream to a tunnel (after 101 or a CONNECT 2xx).
    pub fn mode_tunnel(&mut self) {
        self.tunnel = true;
    }

    /// Refreshes a side's inactivity deadline after progress.
    fn touch_cli(&mut self, env: &Env) {
        let tunnel = self.mode == Mode::Tcp && self.phase == SrvPhase::Connected;
        let t = if tunnel {
            self.fin_timeout_client(env.rt)
                .or(self.timeout_tunnel(env.rt))
                .or(self.timeout_client(env.rt))
        } else {
            self.timeout_client(env.rt)
        };
        self.cli.exp = t.map_or(ETERNITY, |t| env.now() + t);
    }
    fn touch_srv(&mut self, env: &Env) {
        let tunnel = self.mode == Mode::Tcp && self.phase == SrvPhase::Connected;
        let t = if tunnel {
            self.fin_timeout_server(env.rt)
                .or(self.timeout_tunnel(env.rt))
                .or(self.timeout_server(env.rt))
        } else {
            self.timeout_server(env.rt)
        };
        self.sv.exp = t.map_or(ETERNITY, |t| env.now() + t);
    }

    /// Entry point for every wake-up. Returns false when the stream is over.
    pub fn wake(&mut self, env: &mut Env, why: Wake) -> bool {
        match why {
            Wake::Cli(ev) => self.cli.apply(ev),
            Wake::Srv(ev) => {
                self.sv.apply(ev);
                if self.sv.connecting && (ev.writable() || ev.error() || ev.hup()) {
                    match sock::take_error(self.sv.fd) {
                        Ok(None) if !ev.error() => self.connected(env),
                        _ => {
                            if !self.connect_failed(env, false) {
                                return false;
                            }
                        }
                    }
                }
            }
            Wake::Start => {
                self.touch_cli(env);
                if self.mode == Mode::Tcp && !self.tcp_start(env) {
                    return false;
                }
            }
            Wake::Dequeued { be, srv } => {
                if self.phase != SrvPhase::Queued || self.be != Some(be) {
                    // Not waiting any more: pass the slot on.
                    release_slot(env.cx, env.rt, be, srv);
                } else {
                    self.srv = Some(srv);
                    self.has_slot = true;
                    self.queue_exp = ETERNITY;
                    env.rt.proxies[be].servers[srv].counters.sess_start(env.now());
                    let q = env.now().saturating_sub(self.accept_ms);
                    crate::counters::update_max(&env.rt.proxies[be].be_counters.q_time_max, q);
                    if !self.start_connect(env) {
                        return false;
                    }
                }
            }
            Wake::Timer => {
                if !self.on_timer(env) {
                    return false;
                }
            }
            Wake::Task => {}
        }
        self.process(env)
    }

    /// Moves data, runs analyzers, then converges wishes and the timer.
    fn process(&mut self, env: &mut Env) -> bool {
        let mut rounds = 0;
        loop {
            rounds += 1;
            let progress = match self.mode {
                Mode::Http => match self.http_round(env) {
                    Some(p) => p,
                    None => return false,
                },
                Mode::Tcp => {
                    let p = self.tcp_round(env);
                    if !self.tcp_shutdowns(env) {
                        return false;
                    }
                    p
                }
            };
            if self.cli.err && self.mode == Mode::Tcp {
                self.set_term(b'C');
                return false;
            }
            if !progress {
                break;
            }
            if rounds >= 16 {
                // Still making progress: yield to other streams and come
                // back through the run queue. Poll wishes cannot express
                // this (the sockets are known ready, so none is set).
                self.rerun = true;
                break;
            }
        }
        if self.mode == Mode::Http && http::finished(self, env) {
            return false;
        }
        self.req.release_empty(env.pool);
        self.res.release_empty(env.pool);
        self.update_wishes(env);
        self.update_timer(env);
        if self.rerun {
            self.rerun = false;
            env.cx.wake(env.tok(K_WAKE));
        }
        true
    }

    /// One HTTP round: read both sides, analyse what arrived, then send.
    /// Analysing between the reads and the sends lets bytes read in this
    /// round leave in this round: a 19 KiB response then costs two reads
    /// and two sends, as in HAProxy, instead of trailing one send behind.
    /// None when the stream must end.
    fn http_round(&mut self, env: &mut Env) -> Option<bool> {
        let mut progress = matches!(self.recv_cli(env), Io::Progress);
        progress |= matches!(self.recv_srv(env), Io::Progress);
        match http::analyze(self, env) {
            Ok(p) => progress |= p,
            Err(End) => return None,
        }
        progress |= matches!(self.send_srv(env), Io::Progress);
        progress |= matches!(self.send_cli(env), Io::Progress);
        Some(progress)
    }

    /// One TCP round: everything read is forwarded as is.
    fn tcp_round(&mut self, env: &mut Env) -> bool {
        let mut progress = matches!(self.recv_cli(env), Io::Progress);
        self.req.fwd = self.req.in_len();
        progress |= matches!(self.send_srv(env), Io::Progress);
        progress |= matches!(self.recv_srv(env), Io::Progress);
        self.res.fwd = self.res.in_len();
        progress |= matches!(self.send_cli(env), Io::Progress);
        progress
    }

    /// Whether the client side may be read now.
    fn want_read_cli(&self) -> bool {
        if self.cli.shut_r || !self.cli.is_open() || self.cli.err {
            return false;
        }
        match self.mode {
            Mode::Tcp => true,
            Mode::Http => http::want_read_cli(self),
        }
    }

    fn want_read_srv(&self) -> bool {
        if self.sv.shut_r || !self.sv.is_open() || self.sv.connecting || self.sv.err {
            return false;
        }
        match self.mode {
            Mode::Tcp => true,
            Mode::Http => http::want_read_srv(self),
        }
    }

    fn recv_cli(&mut self, env: &mut Env) -> Io {
        if !self.cli.ready_r || !self.want_read_cli() {
            return Io::Nothing;
        }
        match recv_into(&mut self.cli, self.cli_tls.as_deref_mut(), &mut self.req, env.pool) {
            Some(n) => {
                if n > 0 {
                    if let Some(l) = self.logs.as_deref_mut() {
                        l.bytes_in += n as u64;
                    }
                    let fe = &env.rt.proxies[self.fe];
                    add(&fe.fe_counters.bytes_in, n as u64);
                    if let Some(be) = self.be {
                        add(&env.rt.proxies[be].be_counters.bytes_in, n as u64);
                        if let Some(s) = self.srv {
                            add(&env.rt.proxies[be].servers[s].counters.bytes_in, n as u64);
                        }
                    }
                }
                self.touch_cli(env);
                Io::Progress
            }
            None => Io::Nothing,
        }
    }

    fn recv_srv(&mut self, env: &mut Env) -> Io {
        if !self.sv.ready_r || !self.want_read_srv() {
            return Io::Nothing;
        }
        match recv_into(&mut self.sv, self.sv_tls.as_deref_mut(), &mut self.res, env.pool) {
            Some(_) if self.sv.err && self.sv_tls.as_ref().is_some_and(|t| t.handshaking()) => {
                // A failed TLS handshake is a failed connection (HAProxy's
                // L6 errors): retried or answered with a 503.
                self.sv.err = false;
                if !self.connect_failed(env, false) {
                    self.cli.err = true;
                }
                Io::Progress
            }
            Some(n) => {
                if n > 0 {
                    let fe = &env.rt.proxies[self.fe];
                    add(&fe.fe_counters.bytes_out, n as u64);
                    if let Some(be) = self.be {
                        add(&env.rt.proxies[be].be_counters.bytes_out, n as u64);
                        if let Some(s) = self.srv {
                            add(&env.rt.proxies[be].servers[s].counters.bytes_out, n as u64);
                        }
                    }
                }
                self.touch_srv(env);
                Io::Progress
            }
            None => Io::Nothing,
        }
    }

    fn send_srv(&mut self, env: &mut Env) -> Io {
        if !self.sv.is_open() || self.sv.shut_w || self.sv.err || (self.sv.connecting && !self.sv.ready_w) {
            return Io::Nothing;
        }
        if !(self.req.has_output() || self.pp_pending() || tls_pending(&self.sv_tls)) || !self.sv.ready_w {
            return Io::Nothing;
        }
        if self.pp_pending() {
            // The PROXY header goes first; its bytes are not the stream's
            // (not counted in bytes_out).
            let was_connecting = self.sv.connecting;
            let sent_before = self.pp_out.as_ref().map_or(0, |p| p.sent);
            match self.flush_pp() {
                Ok(done) => {
                    let progress = self.pp_out.as_ref().map_or(0, |p| p.sent) > sent_before;
                    if progress && was_connecting {
                        self.connected(env);
                    }
                    if !done || !(self.req.has_output() || tls_pending(&self.sv_tls)) {
                        return if progress { Io::Progress } else { Io::Nothing };
                    }
                }
                Err(()) => {
                    if was_connecting {
                        self.sv.err = false;
                        if !self.connect_failed(env, false) {
                            self.cli.err = true;
                        }
                    }
                    return Io::Progress;
                }
            }
        }
        if self.mode == Mode::Http {
            http::before_send_srv(self, env);
        }
        let was_connecting = self.sv.connecting;
        match send_from(&mut self.sv, self.sv_tls.as_deref_mut(), &mut self.req) {
            Some(_) => {
                if was_connecting {
                    self.connected(env);
                }
                self.touch_srv(env);
                Io::Progress
            }
            None => {
                if was_connecting && self.sv.err {
                    // A failed connect surfaces here as EPIPE/ECONNREFUSED.
                    self.sv.err = false;
                    if !self.connect_failed(env, false) {
                        self.cli.err = true;
                    }
                    return Io::Progress;
                }
                Io::Nothing
            }
        }
    }

    fn send_cli(&mut self, env: &mut Env) -> Io {
        if !self.cli.is_open()
            || self.cli.shut_w
            || self.cli.err
            || !self.cli.ready_w
            || !(self.res.has_output() || tls_pending(&self.cli_tls))
        {
            return Io::Nothing;
        }
        match send_from(&mut self.cli, self.cli_tls.as_deref_mut(), &mut self.res) {
            Some(_) => {
                self.touch_cli(env);
                Io::Progress
            }
            None => Io::Nothing,
        }
    }

    /// TCP half-closes: a side that stopped sending is shut toward the
    /// other once everything it sent was delivered. False when both
    /// directions are done (or an error ends the stream).
    fn tcp_shutdowns(&mut self, env: &Env) -> bool {
        if self.cli.err || self.sv.err {
            self.set_term(if self.cli.err { b'C' } else { b'S' });
            return false;
        }
        if self.cli.shut_r
            && self.req.drained()
            && self.req.in_len() == 0
            && self.sv.is_open()
            && !self.sv.connecting
            && !self.sv.shut_w
            && !tls_pending(&self.sv_tls)
        {
            self.sv.shutw(&mut self.sv_tls);
            // The server's half-closed timeout starts now.
            self.touch_srv(env);
        }
        if self.sv.shut_r
            && self.res.drained()
            && self.res.in_len() == 0
            && !self.cli.shut_w
            && !tls_pending(&self.cli_tls)
        {
            self.cli.shutw(&mut self.cli_tls);
            self.touch_cli(env);
        }
        // Over when both directions are closed end to end, or when the
        // client is gone and nothing can reach it any more.
        let req_done = self.cli.shut_r && (self.sv.shut_w || !self.sv.is_open());
        let res_done = self.sv.shut_r && self.cli.shut_w;
        !(req_done && res_done)
    }

    /// TCP mode: pick a server and connect right away.
    fn tcp_start(&mut self, env: &mut Env) -> bool {
        let rt = env.rt;
        let fe = &rt.proxies[self.fe];
        // Switching rules see the connection only (tcp-request content
        // rules, which would wait for data, are refused in TCP mode).
        let chosen = if fe.switching.trivial {
            fe.switching.first_static()
        } else {
            let mut info = self.l4_info(rt, None);
            info.pp = self.pp.as_deref();
            info.tls = self.cli_tls.as_deref();
            crate::http_act::with_l4_cx(info, |cx| fe.switching.select(&rt.cfg, cx))
        };
        let Some(be) = chosen.or(fe.default_backend) else {
            self.term = Term { who: b'P', when: b'R' };
            return false;
        };
        self.enter_backend(env, be);
        let b = &rt.proxies[be];
        if !b.srv_rules.is_empty() {
            let mut info = self.l4_info(rt, Some(b));
            info.pp = self.pp.as_deref();
            info.tls = self.cli_tls.as_deref();
            let sr = &b.srv_rules;
            self.forced_srv = crate::http_act::with_l4_cx(info, |cx| {
                let force = sr.persist(cx) == crate::switching::Persist::Force;
                sr.select(
                    cx,
                    force || b.cfg.options.persist,
                    |name| {
                        b.servers
                            .iter()
                            .position(|sv| !sv.is_deleted() && sv.name.as_bytes() == name)
                    },
                    |i| !b.servers[i].up.load(Relaxed) || b.servers[i].in_maint(),
                )
            });
        }
        if !b.rules.stick_req.is_empty() {
            let mut info = self.l4_info(rt, Some(b));
            info.pp = self.pp.as_deref();
            info.stk = Some(&self.stk);
            let assigned = self.forced_srv.is_some();
            let mut store = std::mem::take(&mut self.stick_store);
            let id = crate::http_act::with_l4_cx(info, |cx| {
                crate::http_act::stick_request(&b.rules.stick_req, cx, assigned, &mut store)
            });
            self.stick_store = store;
            if let Some(i) = id.and_then(|id| stick_server(b, id, false)) {
                self.forced_srv = Some(i);
            }
        }
        self.assign_and_connect(env)
    }

    /// What the sample fetches of a TCP stream know (the connection).
    fn l4_info<'r>(&mut self, rt: &'r Runtime, be: Option<&'r crate::runtime::ProxyRt>) -> crate::sample::Info<'r> {
        self.ensure_dst();
        let fe = &rt.proxies[self.fe];
        crate::sample::Info {
            fe_name: &fe.name,
            fe_id: fe.id,
            be_name: be.map_or("", |b| b.name.as_str()),
            be_id: be.map(|b| b.id),
            so_name: rt.so_names.get(self.lidx).and_then(|n| n.as_deref()),
            src: self.src,
            dst: self.dst,
            first_req: true,
            ..Default::default()
        }
    }

    /// Counts the stream into backend `be`.
    pub fn enter_backend(&mut self, env: &mut Env, be: usize) {
        self.be = Some(be);
        let b = &env.rt.proxies[be];
        b.be_counters.sess_start(env.now());
        b.beconn.fetch_add(1, Relaxed);
        self.retries_left = b.cfg.retries;
    }

    /// Assigns a server and connects, or queues. False if the stream must
    /// end (TCP) — HTTP callers turn failures into error responses.
    pub fn assign_and_connect(&mut self, env: &mut Env) -> bool {
        let be = self.be.expect("backend set");
        let b = &env.rt.proxies[be];
        if b.servers.is_empty() {
            if let Some(t) = b.dispatch.clone() {
                return self.connect_to(env, t);
            }
            self.term = Term { who: b'S', when: b'C' };
            return self.no_server(env);
        }
        let key = if self.mode == Mode::Http {
            http::hash_key(self, env, b)
        } else {
            tcp_hash_key(self, b)
        };
        let prev = self.redisp_from.take();
        let forced = if prev.is_some() { None } else { self.forced_srv };
        if prev.is_some() {
            self.forced_srv = None;
        }
        let r = match forced {
            Some(i) => backend::assign_direct(b, i, env.cx.tid(), env.tok(K_WAKE), env.now()),
            None => backend::assign(b, key, env.cx.tid(), env.tok(K_WAKE), env.now(), prev),
        };
        if let Some(p) = prev {
            // HAProxy counts a redispatch when the new choice differs from
            // the failed server, a retry otherwise.
            if r == Assign::Server(p) {
                inc(&b.servers[p].counters.retries);
                inc(&b.be_counters.retries);
            } else {
                if let Some(l) = self.logs.as_deref_mut() {
                    l.redispatched = true;
                }
                inc(&b.servers[p].counters.redispatches);
                inc(&b.be_counters.redispatches);
            }
        }
        match r {
            Assign::Server(i) => {
                self.srv = Some(i);
                self.has_slot = true;
                if forced.is_none() {
                    inc(&b.servers[i].counters.cum_lbconn);
                    inc(&b.be_counters.cum_lbconn);
                }
                b.servers[i].counters.sess_start(env.now());
                self.start_connect(env)
            }
            Assign::Queued(_) => {
                self.phase = SrvPhase::Queued;
                if let Some(l) = self.logs.as_deref_mut() {
                    l.be_queue = b.be_counters.nbpend.load(Relaxed).saturating_sub(1) as i64;
                }
                let t = b.cfg.timeouts.queue.or(b.cfg.timeouts.connect).map(u64::from);
                self.queue_exp = t.map_or(ETERNITY, |t| env.now() + t);
                true
            }
            Assign::QueueFull(i) => {
                // HAProxy: the server's queue is full, 503 with "sQ".
                inc(&b.servers[i].counters.failed_conns);
                inc(&b.be_counters.failed_conns);
                self.term = Term { who: b's', when: b'Q' };
                self.phase = SrvPhase::Done;
                self.no_server(env)
            }
            Assign::NoServer => {
                inc(&b.be_counters.failed_conns);
                self.term = Term { who: b'S', when: b'C' };
                self.phase = SrvPhase::Done;
                self.no_server(env)
            }
        }
    }

    fn no_server(&mut self, env: &mut Env) -> bool {
        match self.mode {
            Mode::Tcp => false,
            Mode::Http => {
                http::local_error(self, env, 503);
                true
            }
        }
    }

    /// Connects to the assigned server (a slot is held).
    fn start_connect(&mut self, env: &mut Env) -> bool {
        let (be, srv) = (self.be.unwrap(), self.srv.unwrap());
        let s = &env.rt.proxies[be].servers[srv];
        let line = self.pp_line(env, be, srv);
        if self.mode == Mode::Http {
            if let Some(r) = http::try_reuse(self, env, line.as_deref()) {
                return r;
            }
        }
        self.pp_out = line.map(|bytes| Box::new(PpOut { bytes, sent: 0 }));
        let target = s.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.connect_to(env, target)
    }

    /// The PROXY header server `srv` of `be` takes from this stream
    /// (HAProxy's `make_proxy_line()` with the stream's addresses), if it
    /// takes one.
    fn pp_line(&mut self, env: &Env, be: usize, srv: usize) -> Option<Vec<u8>> {
        let sp = crate::proxy_protocol::SendProxy::of_server(&env.rt.proxies[be].servers[srv].cfg)?;
        self.ensure_dst();
        let authority = self
            .pp
            .as_deref()
            .and_then(|p| p.tlvs.as_deref())
            .and_then(|t| t.authority.as_deref());
        // The stream's unique id (empty without one, as HAProxy's
        // generated id from an empty format).
        let uid: &[u8] = match self.logs.as_deref() {
            Some(l) if l.has_uid => &l.uid,
            _ => b"",
        };
        let mut out = Vec::with_capacity(64);
        sp.encode(&mut out, self.src, self.dst, authority, Some(uid));
        Some(out)
    }

    /// Sends what is left of the PROXY header, before anything else on
    /// the server connection. Ok(true): nothing left; Ok(false): the
    /// socket takes no more now; Err: the connection failed.
    fn flush_pp(&mut self) -> Result<bool, ()> {
        let more = self.req.has_output();
        let Some(p) = self.pp_out.as_mut().filter(|p| p.pending()) else {
            return Ok(true);
        };
        loop {
            match sock::send(self.sv.fd, &p.bytes[p.sent..], more) {
                Ok(n) => {
                    p.sent += n;
                    if !p.pending() {
                        return Ok(true);
                    }
                }
                Err(e) if sock::is_would_block(&e) || e.raw_os_error() == Some(libc::ENOTCONN) => {
                    self.sv.ready_w = false;
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.sv.err = true;
                    self.sv.ready_w = false;
                    return Err(());
                }
            }
        }
    }

    fn pp_pending(&self) -> bool {
        self.pp_out.as_ref().is_some_and(|p| p.pending())
    }

    fn connect_to(&mut self, env: &mut Env, target: Target) -> bool {
        if matches!(target, Target::InetPortOffset(..)) {
            self.ensure_dst();
        }
        let dst_port = self.dst.map_or(0, |d| d.port());
        let target = target.resolve(dst_port);
        if self.tm.t_queue < 0 {
            self.tm.t_queue = self.tm.since(env.now());
        }
        if let Some(l) = self.logs.as_deref_mut() {
            if let Target::Inet(a) = &target {
                l.srv_addr = Some(*a);
            }
        }
        let raw = match &target {
            Target::Inet(a) => Ok(sock::RawAddr::from_inet(a)),
            Target::Unix(p) => sock::RawAddr::from_unix(p, false),
            Target::Abns(p) => sock::RawAddr::from_unix(p, true),
            Target::InetPortOffset(..) => unreachable!("resolved above"),
        };
        let be = &env.rt.proxies[self.be.unwrap()];
        inc(&be.be_counters.connect);
        if let Some(s) = self.srv {
            inc(&be.servers[s].counters.connect);
        }
        let result = raw.and_then(|raw| {
            let fd = sock::socket(raw.family(), libc::SOCK_STREAM)?;
            if raw.family() != libc::AF_UNIX {
                let _ = sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            }
            match sock::connect(fd, &raw) {
                Ok(done) => Ok((fd, done)),
                Err(e) => {
                    sock::close_raw(fd);
                    Err(e)
                }
            }
        });
        match result {
            Ok((fd, done)) => {
                env.cx.fd_insert(fd, env.tok(K_SRV_SIDE));
                if let Some(l) = self.logs.as_deref_mut() {
                    if env.rt.proxies[self.fe].log.needs.be_src {
                        l.be_src = sock::local_addr(fd).ok().and_then(|a| a.to_inet());
                    }
                }
                self.sv = Side {
                    fd,
                    ready_r: false,
                    ready_w: true,
                    connecting: !done,
                    ..Side::none()
                };
                self.sv_tls = self.srv_tls(env, &target);
                self.phase = SrvPhase::Connecting;
                self.sv.exp = env.now().saturating_add(self.timeout_connect(env.rt));
                if done {
                    self.connected(env);
                }
                true
            }
            Err(_) => self.connect_failed_early(env),
        }
    }

    /// The TLS layer of a new connection to the assigned server, when the
    /// server speaks TLS (`server ... ssl`).
    fn srv_tls(&self, env: &Env, target: &Target) -> Option<Box<crate::ssl_sock::Tls>> {
        let sv = &env.rt.proxies[self.be?].servers[self.srv?];
        let ctx = sv.tls.as_deref().filter(|_| sv.cfg.ssl.enabled)?;
        let host = match (&ctx.sni, self.mode) {
            (crate::ssl_sock::SniSrc::ReqHost, Mode::Http) => http::outgoing_host(self),
            _ => None,
        };
        let front = self.cli_tls.as_deref().and_then(|t| t.sni());
        let ip = match target {
            Target::Inet(a) => Some(a.ip()),
            _ => None,
        };
        crate::ssl_sock::Tls::connect(ctx, ctx.name(host, front, ip))
    }

    fn connected(&mut self, env: &mut Env) {
        self.sv.connecting = false;
        // A failure here shows on the next send or read.
        let _ = self.flush_pp();
        self.tm.t_connect = self.tm.since(env.now());
        self.phase = SrvPhase::Connected;
        self.touch_srv(env);
        self.touch_cli(env);
        if self.mode != Mode::Http && !self.stick_store.is_empty() {
            stick_store(self, env.rt);
        }
        if self.mode == Mode::Http {
            http::on_connected(self, env);
        }
    }

    /// A connect that failed before reaching the poller.
    fn connect_failed_early(&mut self, env: &mut Env) -> bool {
        self.connect_failed(env, false)
    }

    /// Handles a failed connection attempt (HAProxy's
    /// `back_handle_st_cer()`): retry if `retry-on` has `conn-failure` and
    /// retries are left, on the same server after the turn-around delay of
    /// min(timeout connect, 1s) (not after a timeout, nor on a reused
    /// connection), or redispatched; else give up with a 503. False if the
    /// stream must end.
    pub fn connect_failed(&mut self, env: &mut Env, timed_out: bool) -> bool {
        let be_idx = self.be.unwrap();
        let be = &env.rt.proxies[be_idx];
        let reused = self.mode == Mode::Http && http::conn_was_reused(self);
        self.close_srv(env, false);
        if self.retries_left == 0 || be.cfg.retry_on & config::model::RE_CONN_FAILED == 0 {
            inc(&be.be_counters.failed_conns);
            if let Some(s) = self.srv {
                inc(&be.servers[s].counters.failed_conns);
            }
            self.term = Term { who: b'S', when: b'C' };
            self.phase = SrvPhase::Done;
            return match self.mode {
                Mode::Tcp => false,
                Mode::Http => {
                    http::local_error(self, env, 503);
                    true
                }
            };
        }
        self.retries_left -= 1;
        let same = !self.choose_redispatch(env);
        let rr = be.lb.lock().unwrap_or_else(|e| e.into_inner()).is_rr_kind();
        if !timed_out && !reused && (same || !rr || active_servers(be) <= 1) {
            self.phase = SrvPhase::Retry;
            self.retry_at = env.now() + self.timeout_connect(env.rt).min(1000);
            return true;
        }
        self.retry_now(env)
    }

    /// HAProxy's `stream_choose_redispatch()`, after a failed attempt:
    /// with `option redispatch [N]` the server is dropped and the LB runs
    /// again when the server is down, on every N-th retry (N < 0: counted
    /// from the last one), or at once when the LB is not deterministic and
    /// other servers are active. Otherwise the same server is retried
    /// (counted as a retry). True when redispatching.
    pub fn choose_redispatch(&mut self, env: &mut Env) -> bool {
        let be_idx = self.be.unwrap();
        let be = &env.rt.proxies[be_idx];
        let Some(s) = self.srv else {
            return false;
        };
        let retries = be.cfg.retries as i64;
        let done = retries - self.retries_left as i64;
        let every = |n: i64| n != 0 && done % n == 0;
        let redisp = match be.cfg.options.redispatch {
            None => false,
            Some(after) => {
                !be.servers[s].usable()
                    || (after > 0 && every(after as i64))
                    || (after < 0 && every(retries + 1 + after as i64))
                    || (active_servers(be) > 1 && be.lb.lock().unwrap_or_else(|e| e.into_inner()).is_rr_kind())
            }
        };
        if !redisp {
            inc(&be.servers[s].counters.retries);
            inc(&be.be_counters.retries);
            return false;
        }
        be.servers[s].counters.sess_end();
        if self.has_slot {
            self.has_slot = false;
            release_slot(env.cx, env.rt, be_idx, s);
        }
        self.srv = None;
        self.redisp_from = Some(s);
        true
    }

    /// Starts the next connection attempt after a failure.
    pub fn retry_now(&mut self, env: &mut Env) -> bool {
        self.retry_at = ETERNITY;
        if self.srv.is_none() && self.redisp_from.is_some() {
            return self.assign_and_connect(env);
        }
        let be = &env.rt.proxies[self.be.unwrap()];
        match self.srv {
            Some(_) => self.start_connect(env),
            None => match be.dispatch.clone() {
                Some(t) => self.connect_to(env, t),
                None => false,
            },
        }
    }

    /// Closes the server side. `keep` is for HTTP reuse (handled there).
    pub fn close_srv(&mut self, env: &mut Env, _keep: bool) {
        if self.mode == Mode::Http {
            http::forget_conn(self);
        }
        if self.sv.is_open() {
            env.cx.fd_delete(self.sv.fd);
        }
        self.sv = Side::none();
        if self.sv_tls.is_some() {
            self.sv_tls = None;
        }
        self.res.release_all(env.pool);
        self.res.read_limit = env.pool.size();
    }

    /// Timer expiry: decides which deadline passed.
    fn on_timer(&mut self, env: &mut Env) -> bool {
        let now = env.now();
        if self.phase == SrvPhase::Queued && now >= self.queue_exp {
            let be = &env.rt.proxies[self.be.unwrap()];
            if backend::unqueue(be, env.cx.tid(), env.tok(K_WAKE)) {
                self.phase = SrvPhase::Done;
                self.queue_exp = ETERNITY;
                self.term = Term { who: b's', when: b'Q' };
                return match self.mode {
                    Mode::Tcp => false,
                    Mode::Http => {
                        http::local_error(self, env, 503);
                        true
                    }
                };
            }
            // Already dequeued: the slot is on its way.
            self.queue_exp = ETERNITY;
        }
        if self.phase == SrvPhase::Retry && now >= self.retry_at {
            return self.retry_now(env);
        }
        if self.mode == Mode::Http {
            return http::on_timer(self, env);
        }
        if self.sv.connecting && now >= self.sv.exp {
            return self.connect_failed(env, true);
        }
        if now >= self.cli.exp {
            self.term = Term { who: b'c', when: b'D' };
            inc(&env.rt.proxies[self.fe].fe_counters.cli_aborts);
            return false;
        }
        if self.sv.is_open() && now >= self.sv.exp {
            self.term = Term { who: b's', when: b'D' };
            if let Some(be) = self.be {
                inc(&env.rt.proxies[be].be_counters.srv_aborts);
            }
            return false;
        }
        true
    }

    /// Converges poll wishes with what the stream waits for.
    fn update_wishes(&mut self, env: &mut Env) {
        let cx = &mut *env.cx;
        // Reads stay polled while nothing is known to be pending, even when
        // the stream does not want to read now: an event then only marks the
        // side ready and the next pass stops polling it (HAProxy's lazy
        // fd_stop_recv). This saves two epoll_ctl per keep-alive request.
        if self.cli.is_open() {
            let want_r = !self.cli.ready_r && !self.cli.shut_r && !self.cli.err;
            if want_r {
                cx.want_recv(self.cli.fd)
            } else {
                cx.stop_recv(self.cli.fd)
            }
            if (self.res.has_output() || tls_pending(&self.cli_tls)) && !self.cli.ready_w && !self.cli.shut_w {
                cx.want_send(self.cli.fd)
            } else {
                cx.stop_send(self.cli.fd)
            }
        }
        if self.sv.is_open() {
            let want_r = !self.sv.ready_r && !self.sv.shut_r && !self.sv.err && !self.sv.connecting;
            if want_r {
                cx.want_recv(self.sv.fd)
            } else {
                cx.stop_recv(self.sv.fd)
            }
            let want_w = self.sv.connecting
                || ((self.req.has_output() || self.pp_pending() || tls_pending(&self.sv_tls))
                    && !self.sv.ready_w
                    && !self.sv.shut_w);
            if want_w {
                cx.want_send(self.sv.fd)
            } else {
                cx.stop_send(self.sv.fd)
            }
        }
    }

    fn req_room(&self) -> bool {
        self.req.ibuf.as_ref().is_none_or(|b| b.len() < self.req.read_limit)
    }

    fn update_timer(&mut self, env: &mut Env) {
        let mut exp = self.queue_exp.min(self.retry_at);
        if self.cli.is_open() {
            exp = exp.min(self.cli.exp);
        }
        if self.sv.is_open() {
            exp = exp.min(self.sv.exp);
        }
        if let Some(h) = &self.http {
            exp = exp.min(h.exp);
        }
        if exp == ETERNITY {
            env.cx.timer_disarm(self.timer);
        } else {
            env.cx.timer_arm(self.timer, exp);
        }
    }

    /// Adds the transaction's queue, connect, response and total times to
    /// its backend's and server's averages and maxima (HAProxy's
    /// `stream_update_time_stats`), once: at the end of an HTTP
    /// transaction, or of the stream. Transactions that never reached a
    /// server (or, in HTTP, got no response head) are not counted.
    pub fn update_time_stats(&mut self, env: &Env) {
        let tm = self.tm;
        let Some(be_i) = self.be else { return };
        if tm.counted || tm.t_connect < 0 {
            return;
        }
        let be = &env.rt.proxies[be_i];
        let http = be.mode == Mode::Http;
        let t_data = if http { tm.t_data } else { tm.t_connect };
        if t_data < 0 {
            return;
        }
        self.tm.counted = true;
        // Each step is measured from the previous one; clamps keep a
        // clock step from wrapping the sums.
        let t_request = tm.t_request.max(0);
        let times = [
            (tm.t_queue - t_request).max(0) as u32,
            (tm.t_connect - tm.t_queue).max(0) as u32,
            (t_data - tm.t_connect).max(0) as u32,
            tm.since(env.now()) as u32,
        ];
        let samples = |k: &crate::counters::Counters| if http { &k.cum_req } else { &k.cum_lbconn }.load(Relaxed);
        if let Some(sv) = self.srv.and_then(|i| be.servers.get(i)) {
            sv.counters.add_times(samples(&sv.counters), times);
        }
        be.be_counters.add_times(samples(&be.be_counters), times);
    }

    /// Frees everything the stream holds. Called once, at the end.
    pub fn release(&mut self, env: &mut Env) {
        let rt = env.rt;
        self.update_time_stats(env);
        if self.stk.any() {
            self.stk.sync_bytes(self.req.total, self.res.total);
        }
        if let Some(l) = self.logs.take() {
            if l.pending {
                self.logs = Some(l);
                crate::log::stream_end(self, env);
                if let Some(l) = self.logs.take() {
                    crate::log::StrmLogs::give(l);
                }
            } else {
                crate::log::StrmLogs::give(l);
            }
        }
        if self.mode == Mode::Http {
            http::release(self, env);
        }
        if self.phase == SrvPhase::Queued {
            if let Some(be) = self.be {
                if !backend::unqueue(&rt.proxies[be], env.cx.tid(), env.tok(K_WAKE)) {
                    // Dequeued concurrently: the Dequeued message will find
                    // no stream and pass the slot on.
                }
            }
        }
        if self.sv.is_open() {
            env.cx.fd_delete(self.sv.fd);
            self.sv = Side::none();
        }
        self.sv_tls = None;
        if self.cli.is_open() {
            if !self.cli.shut_w && !self.cli.err {
                if let Some(t) = self.cli_tls.as_deref_mut() {
                    t.close_notify(self.cli.fd);
                }
            }
            env.cx.fd_delete(self.cli.fd);
            self.cli = Side::none();
        }
        self.cli_tls = None;
        self.req.release_all(env.pool);
        self.res.release_all(env.pool);
        env.cx.timer_destroy(self.timer);
        if let (Some(be), Some(srv)) = (self.be, self.srv) {
            rt.proxies[be].servers[srv].counters.sess_end();
            if self.has_slot {
                self.has_slot = false;
                release_slot(env.cx, rt, be, srv);
            }
        }
        if let Some(be) = self.be {
            backend::be_leave(&rt.proxies[be]);
        }
        let fe = &rt.proxies[self.fe];
        if self.pp.as_ref().is_none_or(|p| !p.waiting) {
            fe.fe_counters.sess_end();
        }
        fe.feconn.fetch_sub(1, Relaxed);
        rt.curr_conns.fetch_sub(1, Relaxed);
        self.stk.stop_all();
    }
}

/// Usable active servers (HAProxy's `srv_act`).
fn active_servers(be: &crate::runtime::ProxyRt) -> usize {
    be.servers.iter().filter(|s| !s.cfg.backup && s.usable()).count()
}

/// Source-address hash for `balance source` in TCP mode.
fn tcp_hash_key(s: &Stream, be: &crate::runtime::ProxyRt) -> crate::lb::HashKey {
    match &be.cfg.balance {
        config::model::Balance::Source => s.src.map(|a| crate::lb::hash_source(&a.ip())),
        _ => None,
    }
}

/// Reads once from a side into a channel. Some(n) on progress (n = bytes,
/// 0 for a shutdown or an error), None when nothing could be read.
fn recv_into(side: &mut Side, tls: Option<&mut crate::ssl_sock::Tls>, ch: &mut Chan, pool: &mut Pool) -> Option<usize> {
    let limit = ch.read_limit;
    let buf = ch.ibuf.get_or_insert_with(|| pool.get());
    if buf.len() >= limit {
        return None;
    }
    let max = limit - buf.len();
    let room = buf.room();
    let room_len = room.len().min(max);
    if room_len == 0 {
        return None;
    }
    if let Some(t) = tls {
        return recv_tls(side, t, buf, room_len);
    }
    match sock::recv(side.fd, &mut room[..room_len]) {
        Ok(0) => {
            side.shut_r = true;
            side.ready_r = false;
            Some(0)
        }
        Ok(n) => {
            buf.produce(n);
            if n < room_len {
                // A short read drained the socket: wait for the poller
                // instead of paying a recv that returns EAGAIN (HAProxy's
                // raw_sock does the same). A FIN that follows is reported
                // by EPOLLRDHUP.
                side.ready_r = false;
            }
            Some(n)
        }
        Err(e) if sock::is_would_block(&e) => {
            side.ready_r = false;
            None
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        Err(_) => {
            side.err = true;
            side.shut_r = true;
            side.ready_r = false;
            Some(0)
        }
    }
}

/// Sends `obuf` then the forwardable part of `ibuf`. Some(n) on progress.
fn send_from(side: &mut Side, tls: Option<&mut crate::ssl_sock::Tls>, ch: &mut Chan) -> Option<usize> {
    if let Some(t) = tls {
        return send_tls(side, t, ch);
    }
    let out: &[u8] = ch.obuf.as_ref().map_or(&[], |b| b.data());
    let fwd = ch.fwd.min(ch.in_len());
    let body: &[u8] = match &ch.ibuf {
        Some(b) => &b.data()[..fwd],
        None => &[],
    };
    if out.is_empty() && body.is_empty() {
        return None;
    }
    match sock::send2(side.fd, out, body) {
        Ok(n) => {
            if n < out.len() + body.len() {
                // The socket buffer is full: poll for room rather than
                // trying again for an EAGAIN.
                side.ready_w = false;
            }
            let from_out = n.min(out.len());
            if from_out > 0 {
                ch.obuf.as_mut().unwrap().consume(from_out);
            }
            let from_in = n - from_out;
            if from_in > 0 {
                ch.ibuf.as_mut().unwrap().consume(from_in);
                ch.fwd -= from_in;
            }
            ch.total += n as u64;
            Some(n)
        }
        Err(e) if sock::is_would_block(&e) => {
            side.ready_w = false;
            None
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            side.ready_w = false;
            None
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => None,
        Err(_) => {
            side.err = true;
            side.ready_w = false;
            None
        }
    }
}

/// `recv_into` through a TLS layer (kept out of line: plain streams never
/// run it and their path stays as small as before).
#[inline(never)]
fn recv_tls(side: &mut Side, t: &mut crate::ssl_sock::Tls, buf: &mut Buf, room_len: usize) -> Option<usize> {
    match t.recv(side.fd, &mut buf.room()[..room_len], &mut side.ready_r) {
        crate::ssl_sock::Rx::Data(n) => {
            buf.produce(n);
            Some(n)
        }
        crate::ssl_sock::Rx::Again => None,
        crate::ssl_sock::Rx::Eof => {
            side.shut_r = true;
            side.ready_r = false;
            Some(0)
        }
        crate::ssl_sock::Rx::Error => {
            side.err = true;
            side.shut_r = true;
            side.ready_r = false;
            Some(0)
        }
    }
}

/// `send_from` through a TLS layer (out of line, as `recv_tls`).
#[inline(never)]
fn send_tls(side: &mut Side, t: &mut crate::ssl_sock::Tls, ch: &mut Chan) -> Option<usize> {
    let out: &[u8] = ch.obuf.as_ref().map_or(&[], |b| b.data());
    let fwd = ch.fwd.min(ch.in_len());
    let body: &[u8] = match &ch.ibuf {
        Some(b) => &b.data()[..fwd],
        None => &[],
    };
    let n = match t.send(side.fd, out, body, &mut side.ready_w) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::Interrupted => return None,
        Err(_) => {
            side.err = true;
            side.ready_w = false;
            return None;
        }
    };
    if n == 0 {
        return None;
    }
    let from_out = n.min(out.len());
    if from_out > 0 {
        ch.obuf.as_mut().unwrap().consume(from_out);
    }
    let from_in = n - from_out;
    if from_in > 0 {
        ch.ibuf.as_mut().unwrap().consume(from_in);
        ch.fwd -= from_in;
    }
    ch.total += n as u64;
    Some(n)
}
