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
//!
//! It also owns the periodic purge (HAProxy's `srv_cleanup_idle_conns`):
//! every `pool-purge-delay` while a server has idle connections, a timer
//! on the thread that scheduled it compares idle plus used connections
//! with what recent use needed, and has each thread close its share of
//! the excess. No timer runs for a server with nothing idle. This module
//! must not touch streams; it only closes the FDs of its own lists, on
//! the thread that owns them.

use crate::runtime::{Runtime, ServerRt};
use crate::worker::{token, Msg, K_PURGE};
use reactor::{Cx, TimerId};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed, Ordering::SeqCst};
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
        // Ordered against the purge scheduler's flag (see `parked`).
        self.total.fetch_add(1, SeqCst);
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

    /// (idle, safe) parked by thread `tid`.
    pub fn thread_counts(&self, tid: usize) -> (u32, u32) {
        let l = self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner());
        let safe = l.iter().filter(|c| c.safe).count() as u32;
        (l.len() as u32 - safe, safe)
    }

    /// Removes up to `n` connections of thread `tid` to be closed: the
    /// unproven ones first, then the safe ones, oldest first in each
    /// (HAProxy empties the idle tree before the safe one).
    pub fn take_for_purge(&self, tid: usize, n: usize) -> Vec<IdleConn> {
        let mut l = self.per_thread[tid].lock().unwrap_or_else(|e| e.into_inner());
        let mut order: Vec<usize> = (0..l.len()).collect();
        order.sort_by_key(|&i| (l[i].safe, l[i].since_ms));
        order.truncate(n);
        order.sort_unstable_by(|a, b| b.cmp(a));
        let out: Vec<IdleConn> = order.into_iter().map(|i| l.swap_remove(i)).collect();
        self.total.fetch_sub(out.len() as u32, Relaxed);
        out
    }
}

/// How many idle connections each thread must close in one purge round,
/// updating the server's need estimates as HAProxy does: the excess is
/// idle plus used beyond max(peak use since the last round, estimate),
/// half of it (rounded up) goes, spread over threads in proportion to
/// what each holds, plus one per thread. The estimate then decays
/// halfway toward the last peak, and a new peak period starts.
pub fn purge_plan(sv: &ServerRt) -> Vec<usize> {
    let n = sv.idle.per_thread.len();
    let curr_idle = sv.idle.total() as i64;
    if curr_idle == 0 {
        return vec![0; n];
    }
    let used = sv.served.load(Relaxed);
    let max_used = sv.max_used.load(Relaxed);
    let est = sv.est_need.load(Relaxed);
    let excess = used as i64 + curr_idle - max_used.max(est) as i64;
    let excess = excess / 2 + (excess & 1);
    sv.est_need.store(((est + max_used) / 2).max(max_used), Relaxed);
    sv.max_used.store(used, Relaxed);
    if excess <= 0 {
        return vec![0; n];
    }
    (0..n)
        .map(|t| match sv.idle.count_thread(t) as i64 {
            0 => 0,
            here => (excess * here / curr_idle + 1).min(here) as usize,
        })
        .collect()
}

/// A connection was just parked for server `srv` of backend `be`: makes
/// sure a purge is scheduled, on this thread if none is. The flag is set
/// once per cycle, so this costs one load on the request path.
pub fn parked(cx: &mut Cx<'_, Msg>, be: usize, srv: usize, sv: &ServerRt) {
    if !sv.purge_sched.load(SeqCst) && sv.purge_sched.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
        cx.wake(token(K_PURGE, be as u32, srv as u32));
    }
}

/// Closes up to `n` of this thread's idle connections to a server.
pub fn close_some(cx: &mut Cx<'_, Msg>, sv: &ServerRt, n: usize) {
    for c in sv.idle.take_for_purge(cx.tid(), n) {
        // An idle connection goes silently, with a reset, as HAProxy's
        // (no FIN the server would have to wait on).
        crate::sock::set_nolinger(c.fd);
        cx.fd_delete(c.fd);
    }
}

/// One thread's purge timers, one per server whose purge it scheduled.
#[derive(Default)]
pub struct PurgeTimers {
    timers: Vec<(u32, u32, TimerId)>,
}

impl PurgeTimers {
    /// Starts a purge cycle for a server: the first round runs one
    /// `pool-purge-delay` from now.
    pub fn schedule(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: u32, srv: u32) {
        let Some(sv) = rt.proxies.get(be as usize).and_then(|p| p.servers.get(srv as usize)) else {
            return;
        };
        let id = match self.timers.iter().find(|t| t.0 == be && t.1 == srv) {
            Some(t) => t.2,
            None => {
                let id = cx.timer_create(token(K_PURGE, be, srv));
                self.timers.push((be, srv, id));
                id
            }
        };
        cx.timer_arm(id, cx.now() + sv.cfg.pool_purge_delay_ms as u64);
    }

    /// A purge round is due: closes this thread's share, asks the other
    /// threads to close theirs, then re-arms while anything stays idle.
    pub fn fire(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: u32, srv: u32) {
        let Some(pos) = self.timers.iter().position(|t| t.0 == be && t.1 == srv) else {
            return;
        };
        let sv = &rt.proxies[be as usize].servers[srv as usize];
        let plan = purge_plan(sv);
        let me = cx.tid();
        for (t, &n) in plan.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if t == me {
                close_some(cx, sv, n);
            } else {
                cx.send(
                    t,
                    Msg::PurgeIdle {
                        be: be as usize,
                        srv: srv as usize,
                        n,
                    },
                );
            }
        }
        // Other threads close their share asynchronously: as HAProxy, keep
        // the cycle while anything is counted idle; a round finding
        // nothing ends it.
        let id = self.timers[pos].2;
        let at = cx.now() + sv.cfg.pool_purge_delay_ms as u64;
        if sv.idle.total() > 0 {
            cx.timer_arm(id, at);
            return;
        }
        // Nothing left: end the cycle. A connection parked meanwhile saw
        // the flag still set, so look again once it is cleared.
        sv.purge_sched.store(false, SeqCst);
        if sv.idle.total() > 0 && sv.purge_sched.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
            cx.timer_arm(id, at);
            return;
        }
        cx.timer_destroy(id);
        self.timers.swap_remove(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::model::Server;

    fn park(sv: &ServerRt, tid: usize, fd: RawFd, safe: bool) {
        sv.idle.push(
            tid,
            IdleConn {
                fd,
                reused: 0,
                since_ms: fd as u64,
                safe,
            },
        );
    }

    #[test]
    fn purge_rounds_follow_haproxy_arithmetic() {
        let mut sv = ServerRt::for_tests(Server::defaults(), 1);
        sv.idle = IdleLists::new(1);
        for fd in 0..4 {
            park(&sv, 0, fd, false);
        }
        sv.max_used.store(4, Relaxed);
        sv.est_need.store(4, Relaxed);
        // Rounds: excess 0 (estimate stays 4, peak resets), excess 0
        // (estimate 2), excess 2 -> 1 (+1 per thread: 2 closed, estimate
        // 1), excess 1 (the last 2 closed), then nothing.
        let mut closed = Vec::new();
        for _ in 0..5 {
            let n = purge_plan(&sv)[0];
            closed.push((n, sv.est_need.load(Relaxed)));
            sv.idle.take_for_purge(0, n);
        }
        assert_eq!(closed, [(0, 4), (0, 2), (2, 1), (2, 0), (0, 0)]);
        assert_eq!(sv.idle.total(), 0);
    }

    #[test]
    fn purge_takes_unproven_then_oldest() {
        let l = IdleLists::new(2);
        for (fd, safe) in [(5, true), (3, false), (9, false), (1, true)] {
            l.push(
                1,
                IdleConn {
                    fd,
                    reused: 0,
                    since_ms: fd as u64,
                    safe,
                },
            );
        }
        let got: Vec<RawFd> = l.take_for_purge(1, 3).iter().map(|c| c.fd).collect();
        let mut sorted = got.clone();
        sorted.sort();
        assert_eq!(sorted, [1, 3, 9]);
        assert_eq!(l.total(), 1);
        assert_eq!(l.thread_counts(1), (0, 1));
        assert_eq!(l.thread_counts(0), (0, 0));
    }

    #[test]
    fn parking_rule_is_haproxys() {
        let cfg = Server {
            pool_low_conn: 1,
            ..Server::defaults()
        };
        let mut sv = ServerRt::for_tests(cfg, 1);
        sv.idle = IdleLists::new(2);
        sv.served.store(1, Relaxed);
        sv.note_used();
        // Nothing parked on this thread: always.
        assert!(sv.may_park(0, false));
        park(&sv, 0, 10, false);
        // used 1 + idle 1 <= max(1, need 1) + low 1.
        assert!(sv.may_park(0, false));
        park(&sv, 0, 11, false);
        assert!(!sv.may_park(0, false), "beyond the need plus pool-low-conn");
        assert!(sv.may_park(1, false), "another thread with nothing parked");
        assert!(sv.may_park(0, true), "a safe one when the thread has no safe one");
        sv.cfg.pool_purge_delay_ms = 0;
        assert!(!sv.may_park(1, false), "pool-purge-delay 0 keeps nothing");
    }
}
