//! Creates every stale-event class of HAProxy's `_do_poll()` on purpose and
//! checks that the right `debug counters` row moves and that the stale event
//! never reaches a handler.
//!
//! The loop tests register two FDs that are both ready before `epoll_wait`,
//! so one wait returns both events. The handler of whichever comes first
//! then ends, reuses or migrates the *other* FD; the second event of the
//! same batch is then about an earlier incarnation. Tests in this binary
//! run one at a time (counters and FD numbers are process-wide) and assert
//! on counter deltas.

mod common;

use common::*;
use reactor::fd;
use reactor::poller::{classify_stale, count_stale, Stale};
use reactor::{counters, Events, LoopOptions, Reactor};
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::*;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// HAProxy's six texts, in the order of `Stale`'s counted variants.
const TEXTS: [(&str, Stale); 6] = [
    (
        "epoll report of HUP/ERR on a stale fd reopened on another thread (harmless)",
        Stale::HupErrReopenedOtherThread,
    ),
    (
        "epoll report of ERR on a stale fd reopened on the same thread (suspicious)",
        Stale::ErrReopenedSameThread,
    ),
    (
        "epoll report of HUP on a stale fd reopened on the same thread (suspicious)",
        Stale::HupReopenedSameThread,
    ),
    (
        "epoll report of a harmless event on a stale fd reopened on the same thread (suspicious)",
        Stale::HarmlessReopenedSameThread,
    ),
    (
        "epoll report of event on a closed recycled fd (rare)",
        Stale::ClosedRecycled,
    ),
    (
        "epoll report of event on a just closed fd (harmless)",
        Stale::JustClosed,
    ),
];

fn snapshot() -> [u32; 6] {
    let mut s = [0; 6];
    for (i, (text, _)) in TEXTS.iter().enumerate() {
        let needle = format!("[{text}]");
        s[i] = counters::find(&needle)
            .unwrap_or_else(|| panic!("no counter for {text:?}"))
            .count();
    }
    s
}

/// The counter deltas expected when exactly one event of `class` is counted.
fn expect_one(class: Option<Stale>) -> [u32; 6] {
    let mut d = [0; 6];
    if let Some(c) = class {
        let i = TEXTS.iter().position(|(_, s)| *s == c).expect("counted class");
        d[i] = 1;
    }
    d
}

fn delta(before: [u32; 6], after: [u32; 6]) -> [u32; 6] {
    let mut d = [0; 6];
    for i in 0..6 {
        d[i] = after[i].wrapping_sub(before[i]);
    }
    d
}

#[test]
fn count_stale_moves_exactly_its_row() {
    let _g = serial();
    for (_, class) in TEXTS {
        let before = snapshot();
        count_stale(class);
        assert_eq!(delta(before, snapshot()), expect_one(Some(class)), "{class:?}");
    }
    // Not counted by HAProxy either.
    let before = snapshot();
    count_stale(Stale::OtherReopenedOtherThread);
    assert_eq!(delta(before, snapshot()), [0; 6]);
}

#[test]
fn classify_made_up_events() {
    let _g = serial();
    let f = tcp_socket();
    let e = fd::entry(f);
    let ev = |bits| Events(bits);
    // A current incarnation owned by thread 2, generation 7; the events
    // carry generation 6 (the previous incarnation).
    e.generation.store(7, Release);
    fd::insert(f, 42, 1 << 2, 0);
    let cases = [
        (2, Events::READ, Stale::HarmlessReopenedSameThread),
        (2, Events::WRITE, Stale::HarmlessReopenedSameThread),
        (2, Events::HUP, Stale::HupReopenedSameThread),
        (2, Events::RDHUP | Events::READ, Stale::HupReopenedSameThread),
        (2, Events::ERR, Stale::ErrReopenedSameThread),
        (2, Events::ERR | Events::HUP, Stale::ErrReopenedSameThread),
        (0, Events::HUP, Stale::HupErrReopenedOtherThread),
        (0, Events::ERR, Stale::HupErrReopenedOtherThread),
        (5, Events::RDHUP, Stale::HupErrReopenedOtherThread),
        (0, Events::READ, Stale::OtherReopenedOtherThread),
        (0, Events::WRITE, Stale::OtherReopenedOtherThread),
    ];
    for (tid, bits, want) in cases {
        assert_eq!(classify_stale(f, 6, ev(bits), tid), want, "tid {tid} ev {bits:#x}");
    }
    // A listener-like mask with several threads: "same thread" for each.
    fd::insert(f, 42, 0b1010, 0);
    assert_eq!(classify_stale(f, 6, ev(Events::HUP), 3), Stale::HupReopenedSameThread);
    assert_eq!(
        classify_stale(f, 6, ev(Events::HUP), 2),
        Stale::HupErrReopenedOtherThread
    );
    // Closed: no owner. Generation now 8.
    fd::delete(f, &[]);
    assert_eq!(e.generation.load(Acquire), 8);
    for bits in [Events::READ, Events::HUP, Events::ERR] {
        assert_eq!(classify_stale(f, 7, ev(bits), 0), Stale::JustClosed);
        assert_eq!(classify_stale(f, 6, ev(bits), 0), Stale::ClosedRecycled);
        assert_eq!(classify_stale(f, 1, ev(bits), 0), Stale::ClosedRecycled);
    }
    // The generation wraps: only "+1" is tested, modulo 2^32.
    e.generation.store(0, Release);
    assert_eq!(classify_stale(f, u32::MAX, ev(Events::READ), 0), Stale::JustClosed);
    assert_eq!(
        classify_stale(f, u32::MAX - 1, ev(Events::READ), 0),
        Stale::ClosedRecycled
    );
}

/// What the two registered FDs report.
#[derive(Clone, Copy, Debug)]
enum Variant {
    /// Plain readability: a byte is waiting.
    Harmless,
    /// The peer closed: IN|RDHUP|HUP.
    Hup,
    /// A connect to a closed port: ERR|HUP.
    Err,
}

/// What the first event's handler does to the other FD.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    /// Closes it, reopens the number and inserts it on this thread.
    ReopenSame,
    /// Closes it, reopens the number and inserts it for thread 1.
    ReopenOther,
    /// Closes it.
    JustClose,
    /// Closes it, reopens it, closes it again.
    Recycle,
    /// Thread 1 takes it over (no close): same generation, other thread.
    TakeoverOnly,
    /// Thread 1 takes it over, closes it, reopens the number for itself,
    /// all while thread 0 still holds the old event.
    TakeoverCloseReopen,
}

const TOK_A: u64 = 0xA;
const TOK_B: u64 = 0xB;
const TOK_NEW: u64 = 0x1234;
const TOK_MID: u64 = 0x5678;

struct Outcome {
    deltas: [u32; 6],
    log: Vec<Seen>,
    drop_fd: u64,
    skip_fd: u64,
}

fn scenario(variant: Variant, action: Action) -> Outcome {
    let _g = serial();
    let mut peers: Vec<RawFd> = Vec::new();
    let (a, b) = match variant {
        Variant::Harmless => {
            let (a, pa) = socketpair();
            let (b, pb) = socketpair();
            assert!(write_byte(pa) && write_byte(pb));
            peers.extend([pa, pb]);
            (a, b)
        }
        Variant::Hup => {
            let (a, pa) = socketpair();
            let (b, pb) = socketpair();
            close(pa);
            close(pb);
            (a, b)
        }
        Variant::Err => (refused_socket(), refused_socket()),
    };
    let reactor: Reactor<Msg> = Reactor::new(2, LoopOptions::default()).unwrap();
    let remote = reactor.remote();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l2 = log.clone();
    let handles = reactor
        .spawn(move |_, _| Scripted {
            log: l2.clone(),
            hook: None,
        })
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel::<RawFd>();
    let before = snapshot();

    let hook: Hook = Box::new(move |cx, first, _tok, _ev| {
        let y = if first == a { b } else { a };
        match action {
            Action::ReopenSame => {
                cx.fd_delete(y);
                reopen_at(y);
                cx.fd_insert(y, TOK_NEW);
            }
            Action::ReopenOther => {
                cx.fd_delete(y);
                reopen_at(y);
                cx.fd_insert_with(y, TOK_NEW, 1 << 1, 0);
            }
            Action::JustClose => cx.fd_delete(y),
            Action::Recycle => {
                cx.fd_delete(y);
                reopen_at(y);
                cx.fd_insert(y, TOK_NEW);
                cx.fd_delete(y);
            }
            Action::TakeoverOnly | Action::TakeoverCloseReopen => {
                // Thread 1 does it while this thread waits with the old
                // event still in its batch, as a thread stealing an idle
                // connection would.
                let (tx, rx) = mpsc::channel();
                cx.send(
                    1,
                    Msg::Run(Box::new(move |cx| {
                        if action == Action::TakeoverOnly {
                            cx.fd_takeover(y, TOK_NEW);
                            // Not polled on thread 1: this test is about
                            // what thread 0 does with its old event.
                            cx.stop_recv(y);
                        } else {
                            cx.fd_takeover(y, TOK_MID);
                            cx.fd_delete(y);
                            reopen_at(y);
                            cx.fd_insert(y, TOK_NEW);
                        }
                        tx.send(()).unwrap();
                    })),
                );
                rx.recv_timeout(Duration::from_secs(5))
                    .expect("thread 1 did not run the takeover");
            }
        }
        cx.exit();
        done_tx.send(first).unwrap();
    });
    remote.send(0, Msg::OnFirstIo(hook));
    remote.send(
        0,
        Msg::Run(Box::new(move |cx| {
            cx.fd_insert(a, TOK_A);
            cx.fd_insert(b, TOK_B);
            cx.want_recv(a);
            cx.want_recv(b);
        })),
    );
    let first = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no event reached thread 0");
    let y = if first == a { b } else { a };
    // Let thread 0 finish its batch and exit, then stop thread 1.
    let h0_deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !handles[0].is_finished() {
        assert!(std::time::Instant::now() < h0_deadline, "thread 0 hung");
        std::thread::sleep(Duration::from_millis(1));
    }
    remote.send(1, Msg::Exit);
    join_all(handles, 5);

    let after = snapshot();
    let act = &remote.shared().activity()[0];
    let out = Outcome {
        deltas: delta(before, after),
        log: log.lock().unwrap().clone(),
        drop_fd: act.poll_drop_fd.load(Relaxed),
        skip_fd: act.poll_skip_fd.load(Relaxed),
    };

    // Only the first event reached a handler; nothing about `y` after the
    // hook, and never the new incarnation's token.
    assert_eq!(out.log.len(), 1, "{variant:?}/{action:?}: {:?}", out.log);
    assert_eq!(out.log[0].fd, first);
    assert_eq!(out.log[0].tid, 0);
    assert!(out
        .log
        .iter()
        .all(|s| s.token != TOK_NEW && s.token != TOK_MID && s.fd != y));

    // Clean up: everything this scenario opened is closed.
    fd::delete(first, &[]);
    if fd::is_owned(y) {
        fd::delete(y, &[]);
    } else if matches!(action, Action::ReopenSame | Action::ReopenOther) {
        panic!("new incarnation of {y} vanished");
    }
    for p in peers {
        close(p);
    }
    drop(remote);
    out
}

fn check(variant: Variant, action: Action, class: Option<Stale>) {
    let o = scenario(variant, action);
    assert_eq!(o.deltas, expect_one(class), "{variant:?}/{action:?} expected {class:?}");
    if action == Action::TakeoverOnly {
        // Same incarnation, no longer ours: skipped, not stale.
        assert_eq!((o.drop_fd, o.skip_fd), (0, 1), "{variant:?}/{action:?}");
    } else {
        assert_eq!((o.drop_fd, o.skip_fd), (1, 0), "{variant:?}/{action:?}");
    }
}

#[test]
fn reopened_same_thread_harmless() {
    check(
        Variant::Harmless,
        Action::ReopenSame,
        Some(Stale::HarmlessReopenedSameThread),
    );
}

#[test]
fn reopened_same_thread_hup() {
    check(Variant::Hup, Action::ReopenSame, Some(Stale::HupReopenedSameThread));
}

#[test]
fn reopened_same_thread_err() {
    check(Variant::Err, Action::ReopenSame, Some(Stale::ErrReopenedSameThread));
}

#[test]
fn reopened_other_thread_hup_and_err() {
    check(
        Variant::Hup,
        Action::ReopenOther,
        Some(Stale::HupErrReopenedOtherThread),
    );
    check(
        Variant::Err,
        Action::ReopenOther,
        Some(Stale::HupErrReopenedOtherThread),
    );
}

#[test]
fn reopened_other_thread_plain_event_is_dropped_uncounted() {
    check(Variant::Harmless, Action::ReopenOther, None);
}

#[test]
fn just_closed() {
    for v in [Variant::Harmless, Variant::Hup, Variant::Err] {
        check(v, Action::JustClose, Some(Stale::JustClosed));
    }
}

#[test]
fn closed_recycled() {
    for v in [Variant::Harmless, Variant::Hup, Variant::Err] {
        check(v, Action::Recycle, Some(Stale::ClosedRecycled));
    }
}

#[test]
fn taken_over_by_another_thread_is_skipped_not_stale() {
    check(Variant::Harmless, Action::TakeoverOnly, None);
    check(Variant::Hup, Action::TakeoverOnly, None);
}

#[test]
fn taken_over_closed_and_reopened_by_another_thread() {
    check(
        Variant::Hup,
        Action::TakeoverCloseReopen,
        Some(Stale::HupErrReopenedOtherThread),
    );
    check(
        Variant::Err,
        Action::TakeoverCloseReopen,
        Some(Stale::HupErrReopenedOtherThread),
    );
    check(Variant::Harmless, Action::TakeoverCloseReopen, None);
}
