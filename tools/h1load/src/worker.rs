//! h1load's per-thread load engine: one epoll instance, up to `maxconn`
//! client connections, the request/response cycle, per-thread counters and
//! latency histograms.
//!
//! It owns its sockets and counters; it must not print anything (the main
//! thread owns stdout) and only reads the shared run flags.

use crate::fmt::to_uf16;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

/// Measurement over: no new request, in-flight ones may finish.
pub const DUR_OVER: u32 = 1;
/// Stop now.
pub const ENDING: u32 = 2;
/// Stop now because of an error (`-e`).
pub const STOP_ALL: u32 = 4;

pub struct Config {
    pub dst: libc::sockaddr_storage,
    pub dst_len: libc::socklen_t,
    pub ka_req: Vec<u8>,
    pub cl_req: Vec<u8>,
    pub head: bool,
    pub rcon: i64,
    pub reqs: i64,
    pub wait_ms: i64,
    pub think_ms: u64,
    pub rate: u64,
    pub threads: usize,
    pub accu: bool,
    pub pctl: bool,
    pub serr: bool,
    pub fast: bool,
    pub verbose: u32,
}

// SAFETY: sockaddr_storage is plain data read-only after setup.
unsafe impl Sync for Config {}
// SAFETY: as above, no pointers inside.
unsafe impl Send for Config {}

/// Counters written by one worker, read by the main thread once a second.
#[derive(Default)]
#[repr(align(128))]
pub struct Stats {
    pub curconn: AtomicU64,
    pub tot_conn: AtomicU64,
    pub tot_done: AtomicU64,
    pub tot_err: AtomicU64,
    pub tot_rcvd: AtomicU64,
    pub tot_ttfb: AtomicU64,
    pub tot_ttlb: AtomicU64,
    pub tot_fbs: AtomicU64,
    pub tot_lbs: AtomicU64,
    pub tot_sc: [AtomicU64; 5],
    pub cur_req: AtomicU64,
}

fn bump(a: &AtomicU64, n: u64) {
    // Single writer: a plain load/store pair avoids a locked instruction.
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

pub struct Shared {
    pub cfg: Config,
    pub running: AtomicU32,
    pub global_req: AtomicU64,
    /// 0 = full load; otherwise fraction of 2^32 during `-s` soft start.
    pub throttle: AtomicU32,
    pub stats: Vec<Stats>,
    pub alive: AtomicU32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum St {
    Connecting,
    Sending,
    Receiving,
    Thinking,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Chunk {
    Size(u64),
    SizeExt(u64),
    Data(u64),
    DataEnd,
    Trailer(bool),
}

struct Conn {
    fd: i32,
    gen: u32,
    st: St,
    tot_req: u64,
    close_req: bool,
    send_off: usize,
    req_date: u64,
    /// Body bytes left; -1 = until the server closes.
    to_recv: i64,
    chunk: Option<Chunk>,
    got_headers: bool,
    hbuf: Vec<u8>,
    expire: u64,
    events: u32,
    /// Already holds a rate slot (woken from a `-R` wait).
    paced: bool,
}

pub struct Hist {
    pub ttfb: Vec<u32>,
    pub ttlb: Vec<u32>,
}

pub fn now_us() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills our local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub struct Worker {
    sh: Arc<Shared>,
    tid: usize,
    maxconn: u64,
    ep: i32,
    conns: Vec<Option<Conn>>,
    gens: Vec<u32>,
    free: Vec<u32>,
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    now: u64,
    last_scan: u64,
    next_slot: u64,
    interval_us: u64,
    buf: Vec<u8>,
    hist: Hist,
    rng: u64,
}

impl Worker {
    pub fn new(sh: Arc<Shared>, tid: usize, maxconn: u64) -> Worker {
        // SAFETY: plain syscall, checked below.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(ep >= 0, "epoll_create1");
        let rate = sh.cfg.rate;
        let threads = sh.cfg.threads as u64;
        let interval_us = if rate > 0 { 1_000_000 * threads / rate.max(1) } else { 0 };
        let pctl = sh.cfg.pctl;
        Worker {
            sh,
            tid,
            maxconn,
            ep,
            conns: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            now: now_us(),
            last_scan: 0,
            next_slot: 0,
            interval_us,
            buf: vec![0u8; 65536],
            hist: Hist {
                ttfb: if pctl { vec![0; 65536] } else { Vec::new() },
                ttlb: if pctl { vec![0; 65536] } else { Vec::new() },
            },
            rng: 0x9E37_79B9_7F4A_7C15 ^ ((tid as u64 + 1) << 17),
        }
    }

    fn st(&self) -> &Stats {
        &self.sh.stats[self.tid]
    }

    fn running(&self) -> u32 {
        self.sh.running.load(Relaxed)
    }

    fn measuring(&self) -> bool {
        self.running() & DUR_OVER == 0
    }

    fn eff_maxconn(&self) -> u64 {
        let t = self.sh.throttle.load(Relaxed);
        if t == 0 {
            self.maxconn
        } else {
            ((self.maxconn * t as u64) >> 32).max(1)
        }
    }

    fn may_add_req(&self) -> bool {
        let n = self.sh.cfg.reqs;
        if n <= 0 {
            return true;
        }
        self.sh
            .global_req
            .fetch_update(Relaxed, Relaxed, |v| if (v as i64) < n { Some(v + 1) } else { None })
            .is_ok()
    }

    fn reqs_exhausted(&self) -> bool {
        let n = self.sh.cfg.reqs;
        n > 0 && self.sh.global_req.load(Relaxed) as i64 >= n
    }

    fn stop_on_error(&self) {
        if self.sh.cfg.serr {
            self.sh.running.fetch_or(STOP_ALL, Relaxed);
        }
    }

    pub fn run(mut self) -> Hist {
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 400];
        loop {
            let r = self.running();
            let cur_req = self.st().cur_req.load(Relaxed);
            if r & (STOP_ALL | ENDING) != 0 || (r & DUR_OVER != 0 && cur_req == 0) {
                break;
            }
            if self.reqs_exhausted() && cur_req == 0 {
                break;
            }
            self.now = now_us();
            let mut opened = 0;
            let maxc = self.eff_maxconn();
            while opened < 800 && self.st().curconn.load(Relaxed) < maxc && r & DUR_OVER == 0 && !self.reqs_exhausted()
            {
                if self.interval_us > 0 && self.next_slot > self.now + self.interval_us {
                    break; // rate-limited: don't open connections that would only wait
                }
                if !self.open_conn() {
                    break;
                }
                opened += 1;
            }
            let mut timeout: i32 = 100;
            if let Some(Reverse((t, _, _))) = self.timers.peek() {
                timeout = timeout.min((t.saturating_sub(self.now) / 1000) as i32);
            }
            if self.st().curconn.load(Relaxed) < maxc && r & DUR_OVER == 0 {
                timeout = timeout.min(1);
            }
            // SAFETY: evs has evs.len() slots; ep is ours.
            let n = unsafe { libc::epoll_wait(self.ep, evs.as_mut_ptr(), evs.len() as i32, timeout) };
            self.now = now_us();
            for ev in evs.iter().take(n.max(0) as usize) {
                let (data, events) = (ev.u64, ev.events);
                let idx = data as u32;
                if self.gens.get(idx as usize) == Some(&((data >> 32) as u32)) {
                    self.on_event(idx, events);
                }
            }
            self.fire_timers();
            if self.now >= self.last_scan + 100_000 {
                self.last_scan = self.now;
                self.scan_timeouts();
            }
        }
        for idx in 0..self.conns.len() as u32 {
            self.kill(idx);
        }
        self.sh.alive.fetch_sub(1, Relaxed);
        self.hist
    }

    fn ctl(&self, op: i32, fd: i32, events: u32, data: u64) {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ep/fd are open descriptors we own; ev outlives the call.
        unsafe { libc::epoll_ctl(self.ep, op, fd, &mut ev) };
    }

    fn set_events(&mut self, idx: u32, events: u32) {
        let c = self.conns[idx as usize].as_mut().unwrap();
        if c.events != events {
            c.events = events;
            let (fd, data) = (c.fd, ((c.gen as u64) << 32) | idx as u64);
            self.ctl(libc::EPOLL_CTL_MOD, fd, events, data);
        }
    }

    fn conn(&mut self, idx: u32) -> &mut Conn {
        self.conns[idx as usize].as_mut().unwrap()
    }

    fn io_expire(&self) -> u64 {
        if self.sh.cfg.wait_ms >= 0 {
            self.now + self.sh.cfg.wait_ms as u64 * 1000
        } else {
            0
        }
    }

    fn open_conn(&mut self) -> bool {
        let cfg = &self.sh.cfg;
        let fam = cfg.dst.ss_family as i32;
        // SAFETY: socket setup on a descriptor created here; option values
        // are local ints; dst/dst_len describe a valid address.
        let (fd, rc) = unsafe {
            let fd = libc::socket(fam, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                (fd, -1)
            } else {
                let one: i32 = 1;
                let zero: i32 = 0;
                let p1 = &one as *const i32 as *const libc::c_void;
                libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, p1, 4);
                libc::setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, p1, 4);
                if cfg.fast {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_QUICKACK,
                        &zero as *const i32 as *const libc::c_void,
                        4,
                    );
                }
                let rc = libc::connect(fd, &cfg.dst as *const _ as *const libc::sockaddr, cfg.dst_len);
                (fd, rc)
            }
        };
        if fd < 0 || (rc < 0 && errno() != libc::EINPROGRESS) {
            if cfg.verbose > 0 {
                eprintln!(
                    "h1load: thread {}: socket/connect: {}",
                    self.tid,
                    std::io::Error::last_os_error()
                );
            }
            if fd >= 0 {
                // SAFETY: fd was created above and is not registered anywhere.
                unsafe { libc::close(fd) };
            }
            bump(&self.st().tot_err, 1);
            self.stop_on_error();
            return false;
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.gens.push(0);
                (self.conns.len() - 1) as u32
            }
        };
        let gen = self.gens[idx as usize].wrapping_add(1);
        self.gens[idx as usize] = gen;
        let hbuf = self.conns[idx as usize].take().map(|c| c.hbuf).unwrap_or_default();
        let connected = rc == 0;
        let events = if connected {
            libc::EPOLLIN as u32
        } else {
            libc::EPOLLOUT as u32
        };
        self.conns[idx as usize] = Some(Conn {
            fd,
            gen,
            st: St::Connecting,
            tot_req: 0,
            close_req: false,
            send_off: 0,
            req_date: 0,
            to_recv: 0,
            chunk: None,
            got_headers: false,
            hbuf,
            expire: self.io_expire(),
            events,
            paced: false,
        });
        self.ctl(libc::EPOLL_CTL_ADD, fd, events, ((gen as u64) << 32) | idx as u64);
        bump(&self.st().curconn, 1);
        bump(&self.st().tot_conn, 1);
        if connected {
            self.start_request(idx);
        }
        true
    }

    /// Closes a connection. `rst` = linger 0, as for errors and timeouts.
    fn close(&mut self, idx: u32, rst: bool) {
        let c = match self.conns[idx as usize].as_mut() {
            Some(c) if c.fd >= 0 => c,
            _ => return,
        };
        let fd = c.fd;
        let in_req = matches!(c.st, St::Sending | St::Receiving) && c.tot_req > 0;
        c.fd = -1;
        // SAFETY: fd is ours and open; the linger struct is local.
        unsafe {
            if rst {
                let l = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    &l as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::linger>() as u32,
                );
            }
            libc::close(fd);
        }
        if in_req {
            let s = &self.sh.stats[self.tid].cur_req;
            s.store(s.load(Relaxed).saturating_sub(1), Relaxed);
        }
        let s = &self.sh.stats[self.tid].curconn;
        s.store(s.load(Relaxed) - 1, Relaxed);
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.free.push(idx);
    }

    fn kill(&mut self, idx: u32) {
        self.close(idx, true);
    }

    fn rand(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn start_request(&mut self, idx: u32) {
        if self.running() & (DUR_OVER | ENDING | STOP_ALL) != 0 || !self.may_add_req() {
            self.kill(idx);
            return;
        }
        let paced = std::mem::take(&mut self.conn(idx).paced);
        if self.interval_us > 0 && !paced {
            let slot = self
                .next_slot
                .max(self.now.saturating_sub(1_000_000))
                .max(self.now.saturating_sub(self.interval_us));
            self.next_slot = slot.max(self.now) + self.interval_us;
            if slot > self.now {
                // Give the request slot back while waiting for it.
                if self.sh.cfg.reqs > 0 {
                    self.sh.global_req.fetch_sub(1, Relaxed);
                }
                self.conn(idx).paced = true;
                self.think(idx, slot);
                return;
            }
        }
        let last = self.reqs_exhausted();
        let rcon = self.sh.cfg.rcon;
        let expire = self.io_expire();
        let c = self.conn(idx);
        c.tot_req += 1;
        c.close_req = (rcon > 0 && c.tot_req as i64 >= rcon) || last;
        c.send_off = 0;
        c.st = St::Sending;
        c.got_headers = false;
        c.chunk = None;
        c.hbuf.clear();
        c.expire = expire;
        bump(&self.st().cur_req, 1);
        self.send(idx);
    }

    fn think(&mut self, idx: u32, until: u64) {
        let c = self.conn(idx);
        c.st = St::Thinking;
        c.expire = 0;
        let gen = c.gen;
        self.timers.push(Reverse((until, idx, gen)));
        // Watch for the server closing the idle connection meanwhile.
        self.set_events(idx, libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
    }

    fn send(&mut self, idx: u32) {
        let sh = self.sh.clone();
        let now = self.now;
        let c = self.conns[idx as usize].as_mut().unwrap();
        let req = if c.close_req { &sh.cfg.cl_req } else { &sh.cfg.ka_req };
        while c.send_off < req.len() {
            // SAFETY: sending from a live, immutable request buffer.
            let n = unsafe {
                libc::send(
                    c.fd,
                    req[c.send_off..].as_ptr() as *const libc::c_void,
                    req.len() - c.send_off,
                    libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                let e = errno();
                if e == libc::EAGAIN || e == libc::EINTR {
                    self.set_events(idx, libc::EPOLLOUT as u32);
                    return;
                }
                // A dead keep-alive connection is retried silently on a new
                // one; only a first request counts as an error.
                if c.tot_req == 1 {
                    bump(&sh.stats[self.tid].tot_err, 1);
                    bump(&sh.stats[self.tid].tot_done, 1);
                }
                self.close(idx, false);
                return;
            }
            c.send_off += n as usize;
        }
        c.req_date = now;
        c.st = St::Receiving;
        self.set_events(idx, libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
        // The response cannot be there yet: wait for epoll.
    }

    fn on_event(&mut self, idx: u32, events: u32) {
        let st = self.conn(idx).st;
        match st {
            St::Connecting => {
                let fd = self.conn(idx).fd;
                let mut err: i32 = 0;
                let mut len = 4u32;
                // SAFETY: SO_ERROR into a local int.
                unsafe {
                    libc::getsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_ERROR,
                        &mut err as *mut i32 as *mut libc::c_void,
                        &mut len,
                    )
                };
                if err != 0 || events & libc::EPOLLERR as u32 != 0 {
                    if self.sh.cfg.verbose > 0 {
                        eprintln!(
                            "h1load: thread {}: connect: {}",
                            self.tid,
                            std::io::Error::from_raw_os_error(err)
                        );
                    }
                    bump(&self.st().tot_err, 1);
                    self.stop_on_error();
                    self.kill(idx);
                    return;
                }
                self.start_request(idx);
            }
            St::Sending => self.send(idx),
            St::Receiving => self.recv(idx),
            St::Thinking => {
                // The server closed (or sent garbage) while idle: just close.
                self.close(idx, false);
            }
        }
    }

    fn fire_timers(&mut self) {
        while let Some(&Reverse((t, idx, gen))) = self.timers.peek() {
            if t > self.now {
                break;
            }
            self.timers.pop();
            if self.gens.get(idx as usize) != Some(&gen) || self.conn(idx).st != St::Thinking {
                continue;
            }
            self.start_request(idx);
        }
    }

    fn scan_timeouts(&mut self) {
        for idx in 0..self.conns.len() as u32 {
            let (exp, st) = match &self.conns[idx as usize] {
                Some(c) if c.fd >= 0 => (c.expire, c.st),
                _ => continue,
            };
            if exp == 0 || exp > self.now {
                continue;
            }
            // Like the original, timeouts are not errors; a request that
            // timed out still counts as done.
            if st != St::Connecting && st != St::Thinking {
                bump(&self.st().tot_done, 1);
            }
            self.kill(idx);
        }
    }

    fn recv(&mut self, idx: u32) {
        let accu_skip = self.sh.cfg.accu;
        let mut loops = 0;
        loop {
            loops += 1;
            if loops > 8 {
                return; // level-triggered: epoll will call us again
            }
            let (fd, to_recv, chunked, got) = {
                let c = self.conn(idx);
                (c.fd, c.to_recv, c.chunk.is_some(), c.got_headers)
            };
            if got && !chunked && to_recv > 0 {
                // Plain body: discard in the kernel without copying.
                let want = (to_recv as usize).min(self.buf.len());
                // SAFETY: the length never exceeds our buffer, so the call is
                // sound even if the kernel copied despite MSG_TRUNC.
                let n = unsafe {
                    libc::recv(
                        fd,
                        self.buf.as_mut_ptr() as *mut libc::c_void,
                        want,
                        libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                    )
                };
                if n > 0 {
                    bump(&self.st().tot_rcvd, n as u64);
                    let c = self.conn(idx);
                    c.to_recv -= n as i64;
                    if c.to_recv == 0 {
                        self.response_done(idx, accu_skip);
                        return;
                    }
                    continue;
                }
                if n < 0 && (errno() == libc::EAGAIN || errno() == libc::EINTR) {
                    return;
                }
                bump(&self.st().tot_err, 1);
                bump(&self.st().tot_done, 1);
                self.close(idx, n < 0);
                return;
            }
            // SAFETY: reading into our thread buffer.
            let n = unsafe {
                libc::recv(
                    fd,
                    self.buf.as_mut_ptr() as *mut libc::c_void,
                    self.buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 && (errno() == libc::EAGAIN || errno() == libc::EINTR) {
                return;
            }
            if n <= 0 {
                if n == 0 && got && to_recv == -1 {
                    // Close-delimited body: the close is the end.
                    self.response_done(idx, accu_skip);
                    return;
                }
                bump(&self.st().tot_err, 1);
                bump(&self.st().tot_done, 1);
                self.close(idx, n < 0);
                return;
            }
            let n = n as usize;
            bump(&self.st().tot_rcvd, n as u64);
            let mut data_start = 0;
            if !got {
                // Headers, possibly split across reads: accumulate only then.
                let mut hbuf = std::mem::take(&mut self.conn(idx).hbuf);
                let parsed = if hbuf.is_empty() {
                    parse_resp(&self.buf[..n], self.sh.cfg.head)
                } else {
                    hbuf.extend_from_slice(&self.buf[..n]);
                    parse_resp(&hbuf, self.sh.cfg.head)
                };
                match parsed {
                    Parse::Partial => {
                        if hbuf.is_empty() {
                            hbuf.extend_from_slice(&self.buf[..n]);
                        }
                        let too_big = hbuf.len() > 65536;
                        self.conn(idx).hbuf = hbuf;
                        if too_big {
                            bump(&self.st().tot_err, 1);
                            bump(&self.st().tot_done, 1);
                            self.kill(idx);
                            return;
                        }
                        continue;
                    }
                    Parse::Bad => {
                        bump(&self.st().tot_err, 1);
                        bump(&self.st().tot_done, 1);
                        self.kill(idx);
                        return;
                    }
                    Parse::Ok(r) => {
                        let prev = hbuf.len().saturating_sub(n);
                        hbuf.clear();
                        self.conn(idx).hbuf = hbuf;
                        bump(&self.st().tot_sc[(r.status as usize / 100).clamp(1, 5) - 1], 1);
                        let (req_date, tot_req) = {
                            let c = self.conn(idx);
                            c.got_headers = true;
                            c.to_recv = r.to_recv;
                            c.chunk = if r.chunked { Some(Chunk::Size(0)) } else { None };
                            (c.req_date, c.tot_req)
                        };
                        if self.measuring() && (tot_req > 1 || !accu_skip) {
                            let ttfb = self.now - req_date;
                            bump(&self.st().tot_fbs, 1);
                            bump(&self.st().tot_ttfb, ttfb);
                            if self.sh.cfg.pctl && self.sh.throttle.load(Relaxed) == 0 {
                                self.hist.ttfb[to_uf16(ttfb) as usize] += 1;
                            }
                        }
                        data_start = r.hdr_len - prev;
                    }
                }
            }
            // Body bytes that came with this read.
            let mut rest = &self.buf[data_start..n];
            let c = self.conns[idx as usize].as_mut().unwrap();
            let mut done = false;
            if let Some(mut st) = c.chunk {
                while !rest.is_empty() {
                    let b = rest[0];
                    match st {
                        Chunk::Data(k) => {
                            let take = (k as usize).min(rest.len());
                            rest = &rest[take..];
                            st = if take as u64 == k {
                                Chunk::DataEnd
                            } else {
                                Chunk::Data(k - take as u64)
                            };
                            continue;
                        }
                        Chunk::Size(v) => {
                            st = match (b as char).to_digit(16) {
                                Some(d) => Chunk::Size((v << 4) | d as u64),
                                None if b == b'\n' => {
                                    if v == 0 {
                                        Chunk::Trailer(true)
                                    } else {
                                        Chunk::Data(v)
                                    }
                                }
                                None if b == b'\r' || b == b';' || b == b' ' => Chunk::SizeExt(v),
                                None => {
                                    c.chunk = None;
                                    bump(&self.sh.stats[self.tid].tot_err, 1);
                                    bump(&self.sh.stats[self.tid].tot_done, 1);
                                    self.kill(idx);
                                    return;
                                }
                            }
                        }
                        Chunk::SizeExt(v) => {
                            if b == b'\n' {
                                st = if v == 0 { Chunk::Trailer(true) } else { Chunk::Data(v) };
                            }
                        }
                        Chunk::DataEnd => {
                            if b == b'\n' {
                                st = Chunk::Size(0);
                            }
                        }
                        Chunk::Trailer(empty) => {
                            if b == b'\n' {
                                if empty {
                                    done = true;
                                    break;
                                }
                                st = Chunk::Trailer(true);
                            } else if b != b'\r' {
                                st = Chunk::Trailer(false);
                            }
                        }
                    }
                    rest = &rest[1..];
                }
                c.chunk = Some(st);
            } else if c.to_recv > 0 {
                c.to_recv -= (rest.len() as i64).min(c.to_recv);
                done = c.to_recv == 0;
            } else if c.to_recv == 0 {
                done = true;
            }
            if done {
                c.chunk = None;
                c.to_recv = 0;
                self.response_done(idx, accu_skip);
                return;
            }
        }
    }

    fn response_done(&mut self, idx: u32, accu_skip: bool) {
        let (req_date, tot_req, close_req, to_recv) = {
            let c = self.conn(idx);
            (c.req_date, c.tot_req, c.close_req, c.to_recv)
        };
        if self.measuring() && (tot_req > 1 || !accu_skip) {
            let ttlb = self.now - req_date;
            bump(&self.st().tot_lbs, 1);
            bump(&self.st().tot_ttlb, ttlb);
            if self.sh.cfg.pctl && self.sh.throttle.load(Relaxed) == 0 {
                self.hist.ttlb[to_uf16(ttlb) as usize] += 1;
            }
        }
        bump(&self.st().tot_done, 1);
        let s = &self.sh.stats[self.tid].cur_req;
        s.store(s.load(Relaxed).saturating_sub(1), Relaxed);
        let c = self.conn(idx);
        c.st = St::Thinking; // no longer in a request for close() accounting
        if close_req || to_recv == -1 {
            self.close(idx, false);
            return;
        }
        let think = self.sh.cfg.think_ms;
        if think > 0 {
            let jitter = 4096 - 128 + self.rand() % 257;
            let wait_us = think * 1000 * jitter / 4096;
            self.think(idx, self.now + wait_us);
            return;
        }
        self.start_request(idx);
    }
}

pub struct Resp {
    pub status: u32,
    pub hdr_len: usize,
    pub chunked: bool,
    pub to_recv: i64,
}

pub enum Parse {
    Partial,
    Bad,
    Ok(Resp),
}

/// Parses a response header block the way the original does: status
/// 100..599, `Connection: close/keep-alive` (HTTP/1.0 defaults to close),
/// any `Transfer-Encoding` means chunked, the last `Content-Length` wins,
/// close-delimited when closing, no body for HEAD/204/304.
pub fn parse_resp(buf: &[u8], head: bool) -> Parse {
    if buf.len() < 13 {
        return Parse::Partial;
    }
    if &buf[..7] != b"HTTP/1." || buf[8] != b' ' {
        return Parse::Bad;
    }
    let ver = buf[7].wrapping_sub(b'0');
    if ver > 1 {
        return Parse::Bad;
    }
    if !matches!(buf[12], b' ' | b'\r' | b'\n') || !buf[9..12].iter().all(|b| b.is_ascii_digit()) {
        return Parse::Bad;
    }
    let status = (buf[9] - b'0') as u32 * 100 + (buf[10] - b'0') as u32 * 10 + (buf[11] - b'0') as u32;
    if !(100..=599).contains(&status) {
        return Parse::Bad;
    }
    let mut do_close = ver == 0;
    let mut chunked = false;
    let mut cl: u64 = 0;
    let mut p = match buf[12..].iter().position(|&b| b == b'\n') {
        Some(i) => 12 + i + 1,
        None => return Parse::Partial,
    };
    loop {
        let eol = match buf[p..].iter().position(|&b| b == b'\n') {
            Some(i) => p + i,
            None => return Parse::Partial,
        };
        let line = &buf[p..eol];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        p = eol + 1;
        if line.is_empty() {
            break;
        }
        let colon = match line.iter().position(|&b| b == b':') {
            Some(c) => c,
            None => return Parse::Bad,
        };
        let (name, val) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"connection") {
            let v = val.to_ascii_lowercase();
            if v.windows(10).any(|w| w == b"keep-alive") {
                do_close = false;
            }
            if v.windows(5).any(|w| w == b"close") {
                do_close = true;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"content-length") && !chunked && status != 204 && status != 304 {
            cl = val
                .iter()
                .skip_while(|&&b| b == b' ')
                .take_while(|b| b.is_ascii_digit())
                .fold(0u64, |a, &b| a * 10 + (b - b'0') as u64);
        }
    }
    let no_body = head || status == 204 || status == 304 || (100..200).contains(&status);
    let to_recv = if no_body {
        0
    } else if do_close && !chunked {
        -1
    } else {
        cl as i64
    };
    // A chunked body still ends by its last chunk even when closing.
    let chunked = chunked && !no_body;
    Parse::Ok(Resp {
        status,
        hdr_len: p,
        chunked,
        to_recv: if chunked { 0 } else { to_recv },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Resp {
        match parse_resp(s.as_bytes(), false) {
            Parse::Ok(r) => r,
            _ => panic!("not ok: {s:?}"),
        }
    }

    #[test]
    fn responses() {
        let r = ok("HTTP/1.1 200\r\nContent-length: 1024\r\n\r\nxx");
        assert_eq!((r.status, r.to_recv, r.chunked, r.hdr_len), (200, 1024, false, 38));
        let r = ok("HTTP/1.1 200\r\nConnection: close\r\nContent-length: 5\r\n\r\n");
        assert_eq!(r.to_recv, -1);
        let r = ok("HTTP/1.0 404\r\nConnection: keep-alive\r\nContent-length: 5\r\n\r\n");
        assert_eq!((r.status, r.to_recv), (404, 5));
        let r = ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(r.chunked);
        let r = ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n");
        assert_eq!(r.to_recv, 0);
        assert!(matches!(parse_resp(b"HTTP/1.1 200\r\nContent", false), Parse::Partial));
        assert!(matches!(parse_resp(b"HTTP/2.0 200\r\n\r\n", false), Parse::Bad));
        assert!(matches!(parse_resp(b"HTTP/1.1 700\r\n\r\n", false), Parse::Bad));
    }
}
