//! Server assignment, connection slots and queueing (HAProxy's
//! `backend.c` `assign_server_and_queue()` and `queue.c`).
//!
//! A stream asks for a server of its backend: the LB picks among usable
//! servers that have a free slot under `maxconn`; if every usable server is
//! full (or others already wait), the stream joins the backend queue. When a
//! stream frees a slot, the slot goes straight to the oldest waiter, which
//! is messaged on its thread; the `served` count does not drop in between,
//! so a newcomer cannot overtake the queue.
//!
//! All slot and queue decisions of a backend happen under its queue lock,
//! and only for servers with a `maxconn` (others take a slot with one
//! atomic add). This module must not touch sockets or streams.

use crate::counters::{dec, inc, update_max};

use crate::lb::HashKey;
use crate::queue::Pending;
use crate::runtime::{ProxyRt, Runtime};
use std::sync::atomic::Ordering::Relaxed;

/// Result of asking for a server.
#[derive(Debug, PartialEq, Eq)]
pub enum Assign {
    /// A slot was taken on this server.
    Server(usize),
    /// Waiting in the backend queue.
    Queued,
    /// No usable server.
    NoServer,
    /// Queue full (`maxqueue`).
    QueueFull,
}

/// Picks a server and takes a slot, or queues the stream.
pub fn assign(be: &ProxyRt, key: HashKey, tid: usize, token: u64, now_ms: u64) -> Assign {
    let limited = be.servers.iter().any(|s| s.maxconn.load(Relaxed) > 0);
    if !limited {
        let pick = be
            .lb
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pick(&be.servers, be.cfg.options.allbackups, key);
        return match pick {
            Some(i) => {
                be.servers[i].served.fetch_add(1, Relaxed);
                Assign::Server(i)
            }
            None => Assign::NoServer,
        };
    }
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    if q.backend.is_empty() {
        let pick = {
            let mut lb = be.lb.lock().unwrap_or_else(|e| e.into_inner());
            pick_with_slot(be, &mut lb, key)
        };
        if let Some(i) = pick {
            be.servers[i].served.fetch_add(1, Relaxed);
            return Assign::Server(i);
        }
    }
    if !be.servers.iter().any(|s| s.usable()) {
        return Assign::NoServer;
    }
    q.seq += 1;
    let seq = q.seq;
    q.backend.push(Pending {
        tid,
        token,
        since_ms: now_ms,
        seq,
    });
    let n = q.backend.len() as u64;
    be.be_counters.nbpend.store(n, Relaxed);
    update_max(&be.be_counters.max_nbpend, n);
    Assign::Queued
}

/// LB pick restricted to servers with a free slot: the picked server is
/// skipped while full, as HAProxy's LB trees skip saturated servers.
fn pick_with_slot(be: &ProxyRt, lb: &mut crate::lb::LbState, key: HashKey) -> Option<usize> {
    // Try as many picks as there are servers so a full one is passed over
    // without disturbing the rotation more than necessary.
    for _ in 0..be.servers.len().max(1) {
        let i = lb.pick(&be.servers, be.cfg.options.allbackups, key)?;
        if be.servers[i].has_slot() {
            return Some(i);
        }
        if lb.is_hash() {
            // A hashed pick is bound to its server: wait for it.
            return None;
        }
    }
    None
}

/// Gives up a queued place (timeout or abort). False if the stream was
/// already dequeued: a `Dequeued` message with a slot is then on its way.
pub fn unqueue(be: &ProxyRt, tid: usize, token: u64) -> bool {
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    let found = q.backend.remove(tid, token) || q.per_srv.iter_mut().any(|s| s.remove(tid, token));
    be.be_counters.nbpend.store(q.backend.len() as u64, Relaxed);
    found
}

/// Frees a slot of server `srv`: hands it to the oldest waiter (returned,
/// for the caller to message) or decrements `served`.
pub fn release(rt: &Runtime, be_idx: usize, srv: usize) -> Option<Pending> {
    let be = &rt.proxies[be_idx];
    let s = &be.servers[srv];
    if !be.servers.iter().any(|s| s.maxconn.load(Relaxed) > 0) {
        // Nobody can be waiting for a slot: no lock needed.
        dec_served(s);
        return None;
    }
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    let usable = s.usable();
    let next = if usable && (s.maxconn.load(Relaxed) == 0 || s.served.load(Relaxed) <= s.maxconn.load(Relaxed)) {
        q.pop_for(srv)
    } else {
        None
    };
    match next {
        Some((p, _)) => {
            be.be_counters.nbpend.store(q.backend.len() as u64, Relaxed);
            inc(&s.counters.cum_lbconn);
            Some(p)
        }
        None => {
            dec_served(s);
            None
        }
    }
}

fn dec_served(s: &crate::runtime::ServerRt) {
    let prev = s.served.fetch_sub(1, Relaxed);
    if reactor::bug_on!(prev == 0, "server slot released twice") {
        s.served.store(0, Relaxed);
    }
}

/// Counts a stream leaving the backend.
pub fn be_leave(be: &ProxyRt) {
    dec(&be.be_counters.cur_sess);
    be.beconn.fetch_sub(1, Relaxed);
}
