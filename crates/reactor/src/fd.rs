//! The process-wide FD table (HAProxy's `fdtab`): one entry per file
//! descriptor number, holding who owns the FD, which threads may poll it,
//! what its owner wants polled, what each thread has registered with its
//! epoll, and the FD's **generation**.
//!
//! The generation counts completed closes of that number. Every epoll
//! registration carries `(generation << 32) | fd` ([`tag`]), and it is bumped
//! in exactly one place, [`delete`], *before* `close(2)` lets the kernel hand
//! the number out again. A wake-up whose generation differs from the table's
//! is therefore about an earlier incarnation of the number and is dropped by
//! the poller (see `poller.rs`).
//!
//! Ownership rule: an FD is used and closed only by a thread in its
//! `thread_mask`. The one exception is [`takeover`], which moves the mask to
//! another thread; callers serialise takeovers with whatever protects the
//! object owning the FD (the idle-connection lists). This module owns the
//! table and the close path; it must not call into owners (that is the
//! poller's job) nor decide who may take an FD over.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::OnceLock;

/// The entry is in use: inserted and not yet deleted.
pub const ST_OWNED: u32 = 1 << 0;
/// The owner wants to be told when it can receive.
pub const ST_WANT_RECV: u32 = 1 << 1;
/// The owner wants to be told when it can send.
pub const ST_WANT_SEND: u32 = 1 << 2;
/// Another process (or our parent) holds a reference to the same open file
/// (inherited `fd@N` sockets): closing our number does not end the epoll
/// registration, so the close path must remove it explicitly.
pub const ST_CLONED: u32 = 1 << 3;
/// Registered with `EPOLLEXCLUSIVE` (shared listeners): an exclusive
/// registration cannot be modified, only removed and added again.
pub const ST_EXCLUSIVE: u32 = 1 << 4;
/// A listening socket (for `show fd` and the accept path).
pub const ST_LISTENER: u32 = 1 << 5;

/// One FD's state. Fields are atomics because other threads read them (the
/// poller's generation check, `show fd`, takeovers); writes follow the
/// ownership rule above.
#[derive(Default)]
pub struct FdEntry {
    /// Owner's token: what the owning thread's handler is told on an event.
    pub token: AtomicU64,
    /// Completed closes of this number (wraps; only equality is tested).
    pub generation: AtomicU32,
    /// `ST_*` bits.
    pub state: AtomicU32,
    /// Threads allowed to poll and use this FD (bit N = thread N).
    pub thread_mask: AtomicU64,
    /// Threads whose epoll set holds this FD for receiving.
    pub polled_recv: AtomicU64,
    /// Threads whose epoll set holds this FD for sending.
    pub polled_send: AtomicU64,
    /// Threads that have this FD in their update list.
    pub update_mask: AtomicU64,
    /// Takeovers since the FD was inserted (`tkov=` in `show fd`).
    pub takeovers: AtomicU32,
}

static TABLE: OnceLock<Box<[FdEntry]>> = OnceLock::new();

/// Number of entries: the process's RLIMIT_NOFILE, raised to the hard limit
/// first, as HAProxy does when it computes `maxsock`.
fn table_size() -> usize {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            if rl.rlim_cur < rl.rlim_max {
                let want = libc::rlimit {
                    rlim_cur: rl.rlim_max.min(1 << 20),
                    rlim_max: rl.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                    rl.rlim_cur = want.rlim_cur;
                }
            }
            (rl.rlim_cur as usize).clamp(1024, 1 << 20)
        } else {
            65536
        }
    }
}

/// The table, created on first use.
pub fn table() -> &'static [FdEntry] {
    TABLE.get_or_init(|| (0..table_size()).map(|_| FdEntry::default()).collect())
}

/// Entry of `fd`. Panics if `fd` is negative or beyond the table, which the
/// kernel cannot return once RLIMIT_NOFILE is the table size.
#[inline]
pub fn entry(fd: RawFd) -> &'static FdEntry {
    &table()[fd as usize]
}

/// `epoll_event.data` for `fd` in its current incarnation.
#[inline]
pub fn tag(fd: RawFd) -> u64 {
    ((entry(fd).generation.load(Acquire) as u64) << 32) | fd as u32 as u64
}

/// Splits an `epoll_event.data` back into (fd, generation).
#[inline]
pub fn untag(data: u64) -> (RawFd, u32) {
    (data as u32 as RawFd, (data >> 32) as u32)
}

/// Makes `fd` known to the table, owned by the threads of `thread_mask`,
/// reporting events with `token`. The generation is inherited from the
/// previous incarnation (it was bumped when that one closed). `extra` adds
/// `ST_CLONED`/`ST_LISTENER`/`ST_EXCLUSIVE` bits.
pub fn insert(fd: RawFd, token: u64, thread_mask: u64, extra: u32) {
    let e = entry(fd);
    // Release: a poller that reads this token must also see the generation
    // bump of the previous incarnation's close (see the dispatch re-check
    // in thread.rs).
    e.token.store(token, Release);
    e.takeovers.store(0, Relaxed);
    e.polled_recv.store(0, Relaxed);
    e.polled_send.store(0, Relaxed);
    e.thread_mask.store(thread_mask, Release);
    // OWNED last: a concurrent poller classifying a stale event must see a
    // complete entry once it sees an owner.
    e.state.store(ST_OWNED | extra, Release);
}

/// Changes the token of an owned FD (the owner object moved).
pub fn set_token(fd: RawFd, token: u64) {
    entry(fd).token.store(token, Release);
}

/// True when the entry is in use.
pub fn is_owned(fd: RawFd) -> bool {
    entry(fd).state.load(Acquire) & ST_OWNED != 0
}

/// Ends an FD's life: clears the entry, removes explicit registrations where
/// closing would not (cloned files), bumps the generation, then closes. The
/// generation bump is ordered before `close(2)` so that no thread can get
/// the same number from `accept`/`socket` and register it with the old tag.
/// `epoll_fds` maps thread id → that thread's epoll FD.
pub fn delete(fd: RawFd, epoll_fds: &[RawFd]) {
    let e = entry(fd);
    let st = e.state.swap(0, AcqRel);
    let polled = e.polled_recv.swap(0, AcqRel) | e.polled_send.swap(0, AcqRel);
    e.thread_mask.store(0, Release);
    if st & ST_CLONED != 0 && polled != 0 {
        for (tid, &ep) in epoll_fds.iter().enumerate() {
            if tid < 64 && polled & (1u64 << tid) != 0 {
                epoll_del(ep, fd);
            }
        }
    }
    e.generation.fetch_add(1, AcqRel);
    // SAFETY: `fd` is owned by the calling thread per the ownership rule; no
    // other code uses it after this point (the entry no longer says OWNED).
    unsafe {
        libc::close(fd);
    }
}

/// Gives `fd` to thread `new_tid`, removing it from the previous owners'
/// epoll sets. Returns the previous thread mask. The caller must own the
/// object holding `fd` exclusively (it was taken out of a shared list under
/// that list's lock), so no other thread will use the FD for I/O after this;
/// a stale event already returned by the old thread's `epoll_wait` is
/// dropped there because the thread mask no longer includes it.
pub fn takeover(fd: RawFd, new_tid: usize, epoll_fds: &[RawFd]) -> u64 {
    let e = entry(fd);
    let old = e.thread_mask.swap(1u64 << new_tid, AcqRel);
    let new_bit = 1u64 << new_tid;
    let others = !new_bit;
    let pr = e.polled_recv.fetch_and(!others, AcqRel);
    let ps = e.polled_send.fetch_and(!others, AcqRel);
    let polled_elsewhere = (pr | ps) & others;
    for (tid, &ep) in epoll_fds.iter().enumerate() {
        if tid < 64 && polled_elsewhere & (1u64 << tid) != 0 {
            epoll_del(ep, fd);
        }
    }
    e.takeovers.fetch_add(1, Relaxed);
    old
}

/// Removes `fd` from epoll set `ep`; a missing registration is fine (another
/// thread may have removed it first).
pub(crate) fn epoll_del(ep: RawFd, fd: RawFd) {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: epoll_ctl with valid pointers; failure (ENOENT, EBADF) is harmless here.
    unsafe {
        libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, &mut ev);
    }
}

/// A snapshot of one entry, for `show fd`.
#[derive(Clone, Copy, Debug, Default)]
pub struct FdInfo {
    pub fd: RawFd,
    pub state: u32,
    pub token: u64,
    pub generation: u32,
    pub thread_mask: u64,
    pub update_mask: u64,
    pub polled_recv: u64,
    pub polled_send: u64,
    pub takeovers: u32,
}

/// Entries in use, in FD order.
pub fn snapshot() -> Vec<FdInfo> {
    let mut v = Vec::new();
    for (i, e) in table().iter().enumerate() {
        let st = e.state.load(Acquire);
        if st & ST_OWNED == 0 {
            continue;
        }
        v.push(FdInfo {
            fd: i as RawFd,
            state: st,
            token: e.token.load(Relaxed),
            generation: e.generation.load(Relaxed),
            thread_mask: e.thread_mask.load(Relaxed),
            update_mask: e.update_mask.load(Relaxed),
            polled_recv: e.polled_recv.load(Relaxed),
            polled_send: e.polled_send.load(Relaxed),
            takeovers: e.takeovers.load(Relaxed),
        });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_fd() -> RawFd {
        // SAFETY: plain socket(2) call.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        fd
    }

    #[test]
    fn tag_roundtrip_and_generation_bumps_before_reuse() {
        let fd = new_fd();
        insert(fd, 7, 1, 0);
        let g0 = entry(fd).generation.load(Relaxed);
        let t = tag(fd);
        assert_eq!(untag(t), (fd, g0));
        delete(fd, &[]);
        assert!(!is_owned(fd));
        assert_eq!(entry(fd).generation.load(Relaxed), g0.wrapping_add(1));
        // The old tag no longer matches whatever reuses the number.
        assert_ne!(untag(t).1, entry(fd).generation.load(Relaxed));
    }

    #[test]
    fn takeover_moves_mask_and_counts() {
        let fd = new_fd();
        insert(fd, 1, 1 << 2, 0);
        let old = takeover(fd, 5, &[]);
        assert_eq!(old, 1 << 2);
        assert_eq!(entry(fd).thread_mask.load(Relaxed), 1 << 5);
        assert_eq!(entry(fd).takeovers.load(Relaxed), 1);
        delete(fd, &[]);
    }
}
