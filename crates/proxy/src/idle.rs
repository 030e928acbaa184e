//! Idle server connections kept for reuse (HAProxy's per-server, per-thread
//! idle/safe lists), and the takeover of another thread's idle connection.
//!
//! A connection enters a list after a complete response on a connection
//! the server keeps alive; a stream needing a connection to that server
//! first looks in its own thread's list, then steals from another thread's
//! (the FD then moves with the reactor's takeover). Lists are small mutexes:
//! only the owning thread touches its list in the common case, so the lock
//! is uncontended.
//!
//! `safe` connections have already served a request and may be handed to
//! any stream under `http-reuse safe`; `idle` ones have not been proven
//! reusable yet (HAProxy's distinction, §5.4 of the internals notes).
//! This module owns the lists; it must not do I/O on the FDs.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Mutex;

/// An idle connection parked in a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleConn {
    pub fd: RawFd,
    /// Requests already sent on it (for `max-reuse`).
    pub reused: u32,
    /// When it became idle (ms), for `pool-purge-delay`.
    pub since_ms: u64,
    /// Proven reusable (already served a request).
    pub safe: bool,
}

/// One server's lists, one per thread.
pub struct IdleLists {
    per_thread: Box<[Mutex<Vec<IdleConn>>]>,
    /// Connections parked over all threads (kept next to the lists so the
    /// pool bound can be checked without locking every list).
    total: AtomicU32,
}

impl IdleLists {
    pub fn new(nbthread: usize) -> IdleLists {
        IdleLists {
            per_thread: (0..nbthread.max(1)).map(|_| Mutex::new(Vec::new())).collect(),
            total: AtomicU32::new(0),
        }
    }

    pub fn push(&self, tid: usize, c: IdleConn) {
        self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner()).push(c);
        self.total.fetch_add(1, Relaxed);
    }

    /// Connections parked over all threads.
    pub fn total(&self) -> u32 {
        self.total.load(Relaxed)
    }

    /// Takes the most recently parked connection of thread `tid` matching
    /// `accept` (LIFO keeps the warmest connection in use).
    pub fn take(&self, tid: usize, accept: impl Fn(&IdleConn) -> bool) -> Option<IdleConn> {
        let mut l = self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner());
        let pos = l.iter().rposition(accept)?;
        {
            self.total.fetch_sub(1, Relaxed);
            Some(l.swap_remove(pos))
        }
    }

    /// Steals from another thread, trying each once, without waiting on a
    /// busy lock (HAProxy uses a trylock here too).
    pub fn steal(&self, me: usize, accept: impl Fn(&IdleConn) -> bool) -> Option<(usize, IdleConn)> {
        let n = self.per_thread.len();
        for k in 1..n {
            let t = (me + k) % n;
            if let Ok(mut l) = self.per_thread[t].try_lock() {
                if let Some(pos) = l.iter().rposition(&accept) {
                    self.total.fetch_sub(1, Relaxed);
                    return Some((t, l.swap_remove(pos)));
                }
            }
        }
        None
    }

    /// Removes a specific FD (the server closed it while idle).
    pub fn remove(&self, tid: usize, fd: RawFd) -> Option<IdleConn> {
        let mut l = self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner());
        let pos = l.iter().position(|c| c.fd == fd)?;
        {
            self.total.fetch_sub(1, Relaxed);
            Some(l.swap_remove(pos))
        }
    }

    /// Counts (idle, safe) over all threads, for `show servers conn`.
    pub fn counts(&self) -> (usize, usize) {
        let mut idle = 0;
        let mut safe = 0;
        for l in self.per_thread.iter() {
            for c in l.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                if c.safe {
                    safe += 1
                } else {
                    idle += 1
                }
            }
        }
        (idle, safe)
    }

    pub fn count_thread(&self, tid: usize) -> usize {
        self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
