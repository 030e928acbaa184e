//! The epoll poller of one thread (HAProxy's `ev_epoll.c`): its epoll set,
//! its update list, and the generation check of every reported event.
//!
//! Level-triggered, as HAProxy: an FD stays in the set while its owner wants
//! it, with `EPOLLRDHUP` so a peer's close is seen without an extra `recv`.
//! Owners change their wishes with `want_*`/`stop_*`; the change is only
//! noted (the FD joins the thread's update list) and converged with
//! `epoll_ctl` once per loop, just before `epoll_wait`, so wishes that flip
//! back and forth within one loop cost no system call.
//!
//! This module owns the epoll FD and the translation of kernel events; it
//! must not interpret events for owners (the loop in `thread.rs` dispatches)
//! nor close FDs it does not own.

use crate::fd::{self, ST_EXCLUSIVE, ST_OWNED, ST_WANT_RECV, ST_WANT_SEND};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::*;

/// Readiness reported to owners.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events(pub u32);

impl Events {
    pub const READ: u32 = 1;
    pub const WRITE: u32 = 2;
    pub const HUP: u32 = 4;
    pub const ERR: u32 = 8;
    pub const RDHUP: u32 = 16;

    pub fn readable(self) -> bool {
        self.0 & Self::READ != 0
    }
    pub fn writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    pub fn hup(self) -> bool {
        self.0 & Self::HUP != 0
    }
    pub fn error(self) -> bool {
        self.0 & Self::ERR != 0
    }
    pub fn rdhup(self) -> bool {
        self.0 & Self::RDHUP != 0
    }

    /// Translates epoll bits.
    pub fn from_epoll(ev: u32) -> Events {
        let mut e = 0;
        if ev & libc::EPOLLIN as u32 != 0 {
            e |= Self::READ;
        }
        if ev & libc::EPOLLOUT as u32 != 0 {
            e |= Self::WRITE;
        }
        if ev & libc::EPOLLHUP as u32 != 0 {
            e |= Self::HUP;
        }
        if ev & libc::EPOLLERR as u32 != 0 {
            e |= Self::ERR;
        }
        if ev & libc::EPOLLRDHUP as u32 != 0 {
            e |= Self::RDHUP;
        }
        Events(e)
    }
}

/// Why a reported event was not for the FD's current incarnation: the six
/// classes HAProxy counts in `_do_poll()` since commit 5012b6c6d.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stale {
    /// Reopened, now owned by another thread, and the event was HUP/ERR.
    HupErrReopenedOtherThread,
    /// Reopened, now owned by another thread, any other event (not counted
    /// by HAProxy either: the new owner's thread mask already refuses it).
    OtherReopenedOtherThread,
    /// Reopened on this thread, the event says ERR.
    ErrReopenedSameThread,
    /// Reopened on this thread, the event says HUP or RDHUP.
    HupReopenedSameThread,
    /// Reopened on this thread, a plain readiness report.
    HarmlessReopenedSameThread,
    /// Closed, reopened and closed again (or more) since the event was queued.
    ClosedRecycled,
    /// Closed once since the event was queued, not reused yet.
    JustClosed,
}

/// Classifies an event whose generation `ev_gen` differs from the table's.
/// Pure over the table's current state, so tests can feed it made-up events.
pub fn classify_stale(fdn: RawFd, ev_gen: u32, ev: Events, tid: usize) -> Stale {
    let e = fd::entry(fdn);
    let fd_gen = e.generation.load(Acquire);
    let owned = e.state.load(Acquire) & ST_OWNED != 0;
    if owned {
        let tmask = e.thread_mask.load(Acquire);
        if tmask & (1u64 << tid) == 0 {
            if ev.0 & (Events::HUP | Events::ERR | Events::RDHUP) != 0 {
                Stale::HupErrReopenedOtherThread
            } else {
                Stale::OtherReopenedOtherThread
            }
        } else if ev.error() {
            Stale::ErrReopenedSameThread
        } else if ev.hup() || ev.rdhup() {
            Stale::HupReopenedSameThread
        } else {
            Stale::HarmlessReopenedSameThread
        }
    } else if ev_gen.wrapping_add(1) != fd_gen {
        Stale::ClosedRecycled
    } else {
        Stale::JustClosed
    }
}

/// Counts a stale event at HAProxy's six sites, with HAProxy's texts, so
/// `debug counters` output can be compared line for line with HAProxy's.
pub fn count_stale(class: Stale) {
    match class {
        Stale::HupErrReopenedOtherThread => {
            crate::count_if!("epoll report of HUP/ERR on a stale fd reopened on another thread (harmless)");
        }
        Stale::OtherReopenedOtherThread => {}
        Stale::ErrReopenedSameThread => {
            crate::count_if!("epoll report of ERR on a stale fd reopened on the same thread (suspicious)");
        }
        Stale::HupReopenedSameThread => {
            crate::count_if!("epoll report of HUP on a stale fd reopened on the same thread (suspicious)");
        }
        Stale::HarmlessReopenedSameThread => {
            crate::count_if!("epoll report of a harmless event on a stale fd reopened on the same thread (suspicious)");
        }
        Stale::ClosedRecycled => {
            crate::count_if!("epoll report of event on a closed recycled fd (rare)");
        }
        Stale::JustClosed => {
            crate::count_if!("epoll report of event on a just closed fd (harmless)");
        }
    }
}

/// `epoll_event.data` of the thread's wake-up eventfd: not a valid tag,
/// since FD numbers never reach `u32::MAX`.
pub const WAKEUP_DATA: u64 = u64::MAX;

/// One thread's epoll set and update list.
pub struct Poller {
    pub(crate) ep: RawFd,
    pub(crate) tid: usize,
    pub(crate) updates: Vec<RawFd>,
    pub(crate) events: Vec<libc::epoll_event>,
    /// False when a [`crate::Reactor`] owns the epoll FD: other threads
    /// address this set by number (takeover, cloned-FD close), so it must
    /// stay open until the reactor's shared state is dropped, not only
    /// until this thread exits; otherwise the number could be reused and an
    /// `EPOLL_CTL_DEL` would hit an unrelated file.
    pub(crate) close_on_drop: bool,
}

impl Poller {
    /// Creates an epoll set; `max_events` is `tune.maxpollevents`.
    pub fn new(tid: usize, max_events: usize) -> io::Result<Poller> {
        // SAFETY: epoll_create1 has no pointer arguments.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller {
            ep,
            tid,
            updates: Vec::with_capacity(256),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; max_events.max(1)],
            close_on_drop: true,
        })
    }

    pub fn epoll_fd(&self) -> RawFd {
        self.ep
    }

    /// Notes that `fd`'s wishes changed on this thread.
    #[inline]
    pub fn note_update(&mut self, fdn: RawFd) {
        let bit = 1u64 << self.tid;
        let e = fd::entry(fdn);
        if e.update_mask.fetch_or(bit, AcqRel) & bit == 0 {
            self.updates.push(fdn);
        }
    }

    /// Converges this thread's registrations with the owners' wishes.
    /// Returns the number of `epoll_ctl` calls made.
    pub fn apply_updates(&mut self) -> usize {
        let mut calls = 0;
        let bit = 1u64 << self.tid;
        let mut list = std::mem::take(&mut self.updates);
        for &fdn in &list {
            let e = fd::entry(fdn);
            e.update_mask.fetch_and(!bit, AcqRel);
            calls += self.update_one(fdn, bit);
        }
        list.clear();
        self.updates = list;
        calls
    }

    fn update_one(&mut self, fdn: RawFd, bit: u64) -> usize {
        let e = fd::entry(fdn);
        let st = e.state.load(Acquire);
        let mine = st & ST_OWNED != 0 && e.thread_mask.load(Acquire) & bit != 0;
        let want_r = mine && st & ST_WANT_RECV != 0;
        let want_w = mine && st & ST_WANT_SEND != 0;
        let pr = e.polled_recv.load(Acquire) & bit != 0;
        let pw = e.polled_send.load(Acquire) & bit != 0;
        if want_r == pr && want_w == pw {
            return 0;
        }
        let mut calls = 1;
        if !want_r && !want_w {
            fd::epoll_del(self.ep, fdn);
        } else {
            let exclusive = st & ST_EXCLUSIVE != 0;
            let mut events = 0u32;
            if want_r {
                events |= libc::EPOLLIN as u32;
                if exclusive {
                    events |= libc::EPOLLEXCLUSIVE as u32;
                } else {
                    events |= libc::EPOLLRDHUP as u32;
                }
            }
            if want_w {
                events |= libc::EPOLLOUT as u32;
            }
            let data = fd::tag(fdn);
            let first = !pr && !pw;
            if !first && exclusive {
                // An exclusive registration cannot be modified.
                fd::epoll_del(self.ep, fdn);
                calls += 1;
            }
            let op = if first || exclusive {
                libc::EPOLL_CTL_ADD
            } else {
                libc::EPOLL_CTL_MOD
            };
            if self.ctl(op, fdn, events, data) != 0 {
                let err = io::Error::last_os_error().raw_os_error();
                calls += 1;
                match (op, err) {
                    (libc::EPOLL_CTL_ADD, Some(libc::EEXIST)) => {
                        // A registration survived (we missed a removal):
                        // replace it so it carries the current tag.
                        self.ctl(libc::EPOLL_CTL_MOD, fdn, events, data);
                    }
                    (libc::EPOLL_CTL_MOD, Some(libc::ENOENT)) => {
                        self.ctl(libc::EPOLL_CTL_ADD, fdn, events, data);
                    }
                    _ => {
                        crate::check_if!(true, "epoll_ctl() failed when it should not");
                    }
                }
            }
        }
        if want_r {
            e.polled_recv.fetch_or(bit, AcqRel);
        } else {
            e.polled_recv.fetch_and(!bit, AcqRel);
        }
        if want_w {
            e.polled_send.fetch_or(bit, AcqRel);
        } else {
            e.polled_send.fetch_and(!bit, AcqRel);
        }
        calls
    }

    fn ctl(&self, op: i32, fdn: RawFd, events: u32, data: u64) -> i32 {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: valid epoll FD and event pointer for the duration of the call.
        unsafe { libc::epoll_ctl(self.ep, op, fdn, &mut ev) }
    }

    /// Registers the thread's wake-up eventfd (never in the FD table).
    pub fn add_wakeup(&self, efd: RawFd) -> io::Result<()> {
        if self.ctl(libc::EPOLL_CTL_ADD, efd, libc::EPOLLIN as u32, WAKEUP_DATA) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for events; returns how many are in `self.events`.
    pub fn wait(&mut self, timeout_ms: i32) -> usize {
        // SAFETY: the buffer holds `events.len()` initialised entries.
        let n = unsafe { libc::epoll_wait(self.ep, self.events.as_mut_ptr(), self.events.len() as i32, timeout_ms) };
        if n < 0 {
            0
        } else {
            n as usize
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        if self.close_on_drop {
            // SAFETY: we own the epoll FD and nothing else refers to it.
            unsafe {
                libc::close(self.ep);
            }
        }
    }
}
