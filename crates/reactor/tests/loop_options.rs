//! `cpu-map` and `tune.maxpollevents` as seen from inside handlers, and the
//! lifetime of a thread's epoll set. Tests run one at a time (they look at
//! FD numbers and CPU masks of the process).

mod common;

use common::*;
use reactor::{Cx, Events, Handler, LoopOptions, Reactor};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn status_field(path: &str, key: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{key} not in {path}"))
}

/// CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data filled by sched_getaffinity.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

#[test]
fn cpu_map_pins_each_thread() {
    let _g = serial();
    let cpus = allowed_cpus();
    let c0 = cpus[0];
    let c1 = *cpus.get(1).unwrap_or(&c0);
    let opts = LoopOptions {
        cpu_map: vec![Some(vec![c0]), Some(vec![c1]), None],
        ..LoopOptions::default()
    };
    let reactor: Reactor<Msg> = Reactor::new(3, opts).unwrap();
    let remote = reactor.remote();
    let handles = reactor
        .spawn(|_, _| Scripted {
            log: Arc::new(Mutex::new(Vec::new())),
            hook: None,
        })
        .unwrap();
    let (tx, rx) = mpsc::channel();
    for tid in 0..3 {
        let tx = tx.clone();
        remote.send(
            tid,
            Msg::Run(Box::new(move |cx| {
                // Read by the loop thread itself, about itself.
                let s = status_field("/proc/thread-self/status", "Cpus_allowed_list:");
                tx.send((cx.tid(), s)).unwrap();
                cx.exit();
            })),
        );
    }
    let mut got = BTreeMap::new();
    for _ in 0..3 {
        let (tid, s) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        got.insert(tid, s);
    }
    join_all(handles, 5);
    assert_eq!(got[&0], c0.to_string());
    assert_eq!(got[&1], c1.to_string());
    // No cpu-map entry: the thread keeps the process's mask.
    assert_eq!(got[&2], status_field("/proc/self/status", "Cpus_allowed_list:"));
}

/// Records the loop number of every event and stops polling the FD, so
/// each ready FD reports exactly once.
struct Batches {
    seen: Arc<Mutex<Vec<(u64, RawFd)>>>,
    want: usize,
    done: mpsc::Sender<()>,
}

impl Handler for Batches {
    type Msg = Vec<RawFd>;
    fn on_io(&mut self, cx: &mut Cx<'_, Vec<RawFd>>, fd: RawFd, _t: u64, _e: Events) {
        let loops = cx.activity().loops.load(Relaxed);
        cx.stop_recv(fd);
        let mut s = self.seen.lock().unwrap();
        s.push((loops, fd));
        if s.len() == self.want {
            cx.exit();
            let _ = self.done.send(());
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx<'_, Vec<RawFd>>, _t: u64) {}
    fn on_wake(&mut self, _cx: &mut Cx<'_, Vec<RawFd>>, _t: u64) {}
    fn on_msg(&mut self, cx: &mut Cx<'_, Vec<RawFd>>, fds: Vec<RawFd>) {
        for (i, &a) in fds.iter().enumerate() {
            cx.fd_insert(a, i as u64);
            cx.want_recv(a);
        }
    }
}

#[test]
fn maxpollevents_bounds_each_batch() {
    let _g = serial();
    const N: usize = 10;
    const MAX: usize = 3;
    let mut pairs = Vec::new();
    for _ in 0..N {
        let (a, p) = socketpair();
        assert!(write_byte(p));
        pairs.push((a, p));
    }
    let opts = LoopOptions {
        max_poll_events: MAX,
        ..LoopOptions::default()
    };
    let reactor: Reactor<Vec<RawFd>> = Reactor::new(1, opts).unwrap();
    let remote = reactor.remote();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let (s2, tx2) = (seen.clone(), Mutex::new(tx));
    let handles = reactor
        .spawn(move |_, _| Batches {
            seen: s2.clone(),
            want: N,
            done: tx2.lock().unwrap().clone(),
        })
        .unwrap();
    // All ten are readable before the first epoll_wait that includes them.
    remote.send(0, pairs.iter().map(|p| p.0).collect());
    rx.recv_timeout(Duration::from_secs(5))
        .expect("not all events delivered");
    join_all(handles, 5);
    let seen = seen.lock().unwrap().clone();
    let mut per_loop: BTreeMap<u64, usize> = BTreeMap::new();
    for (l, _) in &seen {
        *per_loop.entry(*l).or_default() += 1;
    }
    let mut fds: Vec<RawFd> = seen.iter().map(|s| s.1).collect();
    fds.sort();
    fds.dedup();
    assert_eq!(fds.len(), N, "each fd exactly once: {seen:?}");
    assert!(
        per_loop.values().all(|&n| n <= MAX),
        "a batch exceeded tune.maxpollevents={MAX}: {per_loop:?}"
    );
    // 10 events at 3 per wait: at least 4 waits, and full batches happen.
    assert!(per_loop.len() >= N.div_ceil(MAX), "{per_loop:?}");
    assert_eq!(per_loop.values().max(), Some(&MAX), "{per_loop:?}");
    for (a, p) in pairs {
        reactor::fd::delete(a, &[]);
        close(p);
    }
}

/// A thread's epoll set must outlive the thread: other threads still name
/// it by number in `fd_takeover` and when closing cloned FDs. Before the
/// fix it was closed on thread exit and its number could be reused.
#[test]
fn epoll_set_outlives_its_thread() {
    let _g = serial();
    let reactor: Reactor<Msg> = Reactor::new(2, LoopOptions::default()).unwrap();
    let remote = reactor.remote();
    let ep1 = remote.shared().epoll_fds()[1];
    let handles = reactor
        .spawn(|_, _| Scripted {
            log: Arc::new(Mutex::new(Vec::new())),
            hook: None,
        })
        .unwrap();
    remote.send(1, Msg::Exit);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !handles[1].is_finished() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    let link = |fd: RawFd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
    assert_eq!(
        link(ep1).map(|p| p.display().to_string()).as_deref(),
        Some("anon_inode:[eventpoll]"),
        "thread 1's epoll fd was closed while the reactor still names it"
    );
    // A takeover from thread 0 issues EPOLL_CTL_DEL on thread 1's set by
    // number: it must hit that set (harmless ENOENT), not another file.
    let (a, p) = socketpair();
    reactor::fd::insert(a, 1, 1 << 1, 0);
    reactor::fd::entry(a)
        .polled_recv
        .store(1 << 1, std::sync::atomic::Ordering::Relaxed);
    reactor::fd::takeover(a, 0, remote.shared().epoll_fds());
    remote.send(0, Msg::Exit);
    join_all(handles, 5);
    reactor::fd::delete(a, &[]);
    close(p);
    drop(remote);
    // Now that the last reference is gone, the set is closed.
    assert_ne!(
        link(ep1).map(|p| p.display().to_string()).as_deref(),
        Some("anon_inode:[eventpoll]"),
        "epoll fd leaked after the reactor was dropped"
    );
}

/// Waits up to `ms` for the eventfd to become readable; returns its count.
fn read_eventfd(efd: RawFd, ms: i32) -> u64 {
    let mut p = libc::pollfd {
        fd: efd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd for the call.
    if unsafe { libc::poll(&mut p, 1, ms) } != 1 {
        return 0;
    }
    let mut v = 0u64;
    // SAFETY: reading 8 bytes into a live u64 from our eventfd.
    let n = unsafe { libc::read(efd, &mut v as *mut u64 as *mut libc::c_void, 8) };
    if n == 8 {
        v
    } else {
        0
    }
}

#[test]
fn exit_notify_counts_each_ended_thread() {
    let _g = serial();
    // SAFETY: eventfd has no pointer arguments.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(efd >= 0);
    let opts = LoopOptions {
        exit_notify: Some(efd),
        ..LoopOptions::default()
    };
    let reactor: Reactor<Msg> = Reactor::new(2, opts).unwrap();
    let remote = reactor.remote();
    let handles = reactor
        .spawn(|_, _| Scripted {
            log: Arc::new(Mutex::new(Vec::new())),
            hook: None,
        })
        .unwrap();
    assert_eq!(read_eventfd(efd, 100), 0, "nothing before a thread ends");
    remote.send(0, Msg::Exit);
    assert_eq!(read_eventfd(efd, 5000), 1, "one note for thread 0");
    // A panicking loop still says it ended.
    remote.send(1, Msg::Run(Box::new(|_| panic!("handler bug (expected by the test)"))));
    assert_eq!(read_eventfd(efd, 5000), 1, "one note for the panicked thread 1");
    for h in handles {
        let _ = h.join();
    }
    // SAFETY: our eventfd, no longer used by any thread.
    unsafe {
        libc::close(efd);
    }
}
