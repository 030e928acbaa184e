//! Micro-benchmarks of the reactor's hot paths, printed as one line each
//! (recorded in docs/reactor.md):
//!
//! - ping-pong over socketpairs through a 1-thread loop (ns per dispatched
//!   event, including its read and write), next to the same read/write
//!   syscalls driven by a bare epoll loop, so the difference is what the
//!   reactor adds per event (generation check, token lookup, handler call,
//!   bookkeeping);
//! - pure wake-ups (`Cx::wake` → `on_wake`), i.e. one loop turn per batch;
//! - timers: arm + fire, lazy re-arm later, re-arm earlier;
//! - `count_if!` with a false condition (the hot path) and a true one.
//!
//! Run: `cargo bench -p reactor --bench loop_overhead` (add `-- quick` for a
//! shorter run). Owns nothing outside this binary.

use reactor::task::Timers;
use reactor::{Cx, Events, Handler, LoopOptions, Reactor};
use std::hint::black_box;
use std::os::fd::RawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn socketpair() -> (RawFd, RawFd) {
    let mut sv = [0; 2];
    // SAFETY: socketpair writes two ints into `sv`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0);
    (sv[0], sv[1])
}

fn rw(fd_in: RawFd, fd_out: RawFd) {
    let mut b = [0u8; 16];
    // SAFETY: live buffers of the given sizes.
    unsafe {
        let n = libc::read(fd_in, b.as_mut_ptr() as *mut libc::c_void, b.len());
        if n > 0 {
            libc::write(fd_out, b.as_ptr() as *const libc::c_void, n as usize);
        }
    }
}

/// Ping-pong handler: both ends of each socketpair are in the loop; an
/// event on one end reads the byte and writes it back on the same socket,
/// which makes the other end readable. One byte per pair is always in
/// flight, so each event = 1 read + 1 write + its share of one epoll_wait.
struct Pong {
    events: u64,
    target: u64,
    done: mpsc::Sender<(u64, Duration)>,
    start: Option<Instant>,
}

impl Handler for Pong {
    type Msg = Vec<(RawFd, RawFd)>;
    fn on_io(&mut self, cx: &mut Cx<'_, Self::Msg>, fd: RawFd, _tok: u64, _ev: Events) {
        rw(fd, fd);
        self.events += 1;
        if self.events == self.target {
            let _ = self.done.send((self.events, self.start.unwrap().elapsed()));
            cx.exit();
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx<'_, Self::Msg>, _t: u64) {}
    fn on_wake(&mut self, _cx: &mut Cx<'_, Self::Msg>, _t: u64) {}
    fn on_msg(&mut self, cx: &mut Cx<'_, Self::Msg>, pairs: Self::Msg) {
        for (a, b) in pairs {
            cx.fd_insert(a, a as u64);
            cx.fd_insert(b, b as u64);
            cx.want_recv(a);
            cx.want_recv(b);
            // SAFETY: one byte from a live buffer.
            unsafe {
                libc::write(a, b"x".as_ptr() as *const libc::c_void, 1);
            }
        }
        self.start = Some(Instant::now());
    }
}

fn bench_pingpong(pairs: usize, target: u64) -> f64 {
    let reactor: Reactor<Vec<(RawFd, RawFd)>> = Reactor::new(1, LoopOptions::default()).unwrap();
    let remote = reactor.remote();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handles = reactor
        .spawn(move |_, _| Pong {
            events: 0,
            target,
            done: tx.lock().unwrap().clone(),
            start: None,
        })
        .unwrap();
    let ps: Vec<(RawFd, RawFd)> = (0..pairs).map(|_| socketpair()).collect();
    remote.send(0, ps.clone());
    let (n, d) = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    for h in handles {
        h.join().unwrap();
    }
    for (a, b) in ps {
        reactor::fd::delete(a, &[]);
        reactor::fd::delete(b, &[]);
    }
    d.as_nanos() as f64 / n as f64
}

/// The same traffic with a bare epoll loop: `data = fd`, no table, no
/// handler; the floor the reactor is compared with.
fn bench_bare_epoll(pairs: usize, target: u64) -> f64 {
    // SAFETY: epoll_create1/ctl/wait with valid pointers; FDs are ours.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        let ps: Vec<(RawFd, RawFd)> = (0..pairs).map(|_| socketpair()).collect();
        for &(a, b) in &ps {
            for fd in [a, b] {
                let mut ev = libc::epoll_event {
                    events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
                    u64: fd as u64,
                };
                libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev);
            }
            libc::write(a, b"x".as_ptr() as *const libc::c_void, 1);
        }
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 200];
        let start = Instant::now();
        let mut n = 0u64;
        while n < target {
            let k = libc::epoll_wait(ep, evs.as_mut_ptr(), evs.len() as i32, -1);
            for e in &evs[..k.max(0) as usize] {
                let fd = e.u64 as RawFd;
                rw(fd, fd);
                n += 1;
            }
        }
        let d = start.elapsed();
        for (a, b) in ps {
            libc::close(a);
            libc::close(b);
        }
        libc::close(ep);
        d.as_nanos() as f64 / n as f64
    }
}

/// Pure wake-ups: `runqueue_depth` tokens re-wake themselves, so every loop
/// turn runs a full batch and then polls with a zero timeout.
struct Waker {
    n: u64,
    target: u64,
    start: Instant,
    done: mpsc::Sender<f64>,
}

impl Handler for Waker {
    type Msg = u32;
    fn on_io(&mut self, _cx: &mut Cx<'_, u32>, _f: RawFd, _t: u64, _e: Events) {}
    fn on_timer(&mut self, _cx: &mut Cx<'_, u32>, _t: u64) {}
    fn on_wake(&mut self, cx: &mut Cx<'_, u32>, t: u64) {
        self.n += 1;
        if self.n == self.target {
            let _ = self.done.send(self.start.elapsed().as_nanos() as f64 / self.n as f64);
            cx.exit();
        } else {
            cx.wake(t);
        }
    }
    fn on_msg(&mut self, cx: &mut Cx<'_, u32>, k: u32) {
        self.start = Instant::now();
        for t in 0..k {
            cx.wake(t as u64);
        }
    }
}

fn bench_wake(tokens: u32, target: u64) -> f64 {
    let reactor: Reactor<u32> = Reactor::new(1, LoopOptions::default()).unwrap();
    let remote = reactor.remote();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handles = reactor
        .spawn(move |_, _| Waker {
            n: 0,
            target,
            start: Instant::now(),
            done: tx.lock().unwrap().clone(),
        })
        .unwrap();
    remote.send(0, tokens);
    let r = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    for h in handles {
        h.join().unwrap();
    }
    r
}

fn bench_timers(n: u32) -> (f64, f64, f64) {
    let mut t = Timers::default();
    let ids: Vec<_> = (0..n).map(|i| t.create(i as u64)).collect();
    let mut rng = 88172645463325252u64;
    let mut rand = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    // Arm each at a random deadline, then fire them all.
    let s = Instant::now();
    for &id in &ids {
        t.arm(id, 1000 + rand() % 100_000);
    }
    let mut fired = 0;
    while t.pop_expired(u64::MAX - 1).is_some() {
        fired += 1;
    }
    assert_eq!(fired, n);
    let arm_fire = s.elapsed().as_nanos() as f64 / n as f64;
    // The proxy's common case: a timeout pushed later on every I/O.
    for &id in &ids {
        t.arm(id, 1_000_000);
    }
    let s = Instant::now();
    for round in 1..=10u64 {
        for &id in &ids {
            t.arm(id, 1_000_000 + round * 1000 + rand() % 1000);
        }
    }
    let later = s.elapsed().as_nanos() as f64 / (10 * n) as f64;
    let s = Instant::now();
    for round in 1..=10u64 {
        for &id in &ids {
            t.arm(id, 1_000_000 - round * 1000 - rand() % 1000);
        }
    }
    let earlier = s.elapsed().as_nanos() as f64 / (10 * n) as f64;
    black_box(t.next_deadline());
    (arm_fire, later, earlier)
}

fn bench_count_if(n: u64) -> (f64, f64, f64) {
    #[inline(never)]
    fn site(x: u64) -> bool {
        reactor::count_if!(x == u64::MAX, "bench probe")
    }
    #[inline(never)]
    fn site_true(x: u64) -> bool {
        reactor::count_if!(x != u64::MAX, "bench probe true")
    }
    let s = Instant::now();
    let mut k = 0u64;
    for i in 0..n {
        k += site(black_box(i)) as u64;
    }
    let false_ns = s.elapsed().as_nanos() as f64 / n as f64;
    let s = Instant::now();
    for i in 0..n {
        k += site_true(black_box(i)) as u64;
    }
    let true_on = s.elapsed().as_nanos() as f64 / n as f64;
    reactor::counters::set_enabled(false);
    let s = Instant::now();
    for i in 0..n {
        k += site_true(black_box(i)) as u64;
    }
    let true_off = s.elapsed().as_nanos() as f64 / n as f64;
    reactor::counters::set_enabled(true);
    black_box(k);
    (false_ns, true_on, true_off)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let runs = if quick { 1 } else { 5 };
    let scale = if quick { 10 } else { 1 };
    println!("reactor micro-benchmarks (median of {runs} runs)");
    for pairs in [1usize, 64] {
        let target = 2_000_000 / scale;
        let r = median((0..runs).map(|_| bench_pingpong(pairs, target)).collect());
        let b = median((0..runs).map(|_| bench_bare_epoll(pairs, target)).collect());
        println!(
            "ping-pong {pairs:>2} pairs: reactor {r:7.1} ns/event ({:.2} M events/s), \
             bare epoll {b:7.1} ns/event, reactor overhead {:+.1} ns/event",
            1e3 / r,
            r - b
        );
    }
    for tokens in [1u32, 200] {
        let w = median(
            (0..runs)
                .map(|_| bench_wake(tokens, 5_000_000 / scale as u64))
                .collect(),
        );
        println!("wake -> on_wake, {tokens:>3} tokens in flight: {w:6.1} ns/wake");
    }
    let t: Vec<_> = (0..runs).map(|_| bench_timers(100_000)).collect();
    println!(
        "timers (100k): arm+fire {:.1} ns, re-arm later (lazy) {:.1} ns, re-arm earlier {:.1} ns",
        median(t.iter().map(|x| x.0).collect()),
        median(t.iter().map(|x| x.1).collect()),
        median(t.iter().map(|x| x.2).collect())
    );
    let c: Vec<_> = (0..runs).map(|_| bench_count_if(50_000_000 / scale as u64)).collect();
    println!(
        "count_if!: false {:.2} ns, true+counting on {:.2} ns, true+counting off {:.2} ns",
        median(c.iter().map(|x| x.0).collect()),
        median(c.iter().map(|x| x.1).collect()),
        median(c.iter().map(|x| x.2).collect())
    );
}
