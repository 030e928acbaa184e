//! Server assignment, connection slots and queueing (HAProxy's
//! `backend.c` `assign_server_and_queue()` and `queue.c`).
//!
//! A stream asks for a server of its backend: the LB picks among usable
//! servers that have a free slot under their (dynamic, `minconn` /
//! `fullconn`) `maxconn`; if every usable server is full (or others already
//! wait), the stream joins the backend queue. A hashed request bound to a
//! full server waits in that server's queue instead, bounded by
//! `maxqueue` (503 beyond). When a stream frees a slot, the slot goes
//! straight to the oldest waiter of the server's or the backend's queue,
//! which is messaged on its thread; the `served` count does not drop in
//! between, so a newcomer cannot overtake the queue.
//!
//! All slot and queue decisions of a backend happen under its queue lock,
//! and only for servers with a `maxconn` (others take a slot with one
//! atomic add). This module must not touch sockets or streams.

use crate::counters::{dec, inc, update_max};

use crate::lb::{HashKey, Pick};
use crate::queue::{Pending, QueueSet};
use crate::runtime::{ProxyRt, Runtime, ServerRt};
use std::sync::atomic::Ordering::Relaxed;

/// Result of asking for a server.
#[derive(Debug, PartialEq, Eq)]
pub enum Assign {
    /// A slot was taken on this server.
    Server(usize),
    /// Waiting in the backend queue, or in this server's queue.
    Queued(Option<usize>),
    /// No usable server.
    NoServer,
    /// The server the request is bound to has `maxqueue` streams waiting.
    QueueFull(usize),
}

/// HAProxy's `srv_dynamic_maxconn()`: with `minconn` below `maxconn`, the
/// limit grows from minconn to maxconn as the backend's load (`beconn`)
/// approaches `fullconn`. 0 means unlimited.
pub fn dynamic_maxconn(be: &ProxyRt, s: &ServerRt) -> u32 {
    let max = s.maxconn.load(Relaxed);
    let min = s.minconn();
    let beconn = be.beconn.load(Relaxed);
    let full = be.fullconn.load(Relaxed).max(1);
    if max == 0 || beconn >= full || min >= max {
        max
    } else {
        min.max((beconn as u64 * max as u64 / full as u64) as u32)
    }
}

/// A server is saturated when it has a limit and either streams already
/// wait for it or its slots are all taken (the LB then passes over it).
fn saturated(be: &ProxyRt, q: &QueueSet, i: usize) -> bool {
    let s = &be.servers[i];
    s.maxconn.load(Relaxed) > 0
        && (q.per_srv.get(i).is_some_and(|q| !q.is_empty()) || s.served.load(Relaxed) >= dynamic_maxconn(be, s))
}

/// Picks a server and takes a slot, or queues the stream (HAProxy's
/// `assign_server_and_queue()`). `avoid` is the server of a failed attempt
/// being redispatched.
pub fn assign(be: &ProxyRt, key: HashKey, tid: usize, token: u64, now_ms: u64, avoid: Option<usize>) -> Assign {
    let limited = be.servers.iter().any(|s| s.maxconn.load(Relaxed) > 0);
    let factor = be.cfg.hash_balance_factor;
    if !limited {
        let pick = be.lb.lock().unwrap_or_else(|e| e.into_inner()).pick_with(
            &be.servers,
            be.cfg.options.allbackups,
            key,
            &Pick {
                avoid,
                full: None,
                balance_factor: factor,
            },
        );
        return match pick {
            Some(i) => {
                be.servers[i].served.fetch_add(1, Relaxed);
                be.servers[i].note_used();
                Assign::Server(i)
            }
            None => Assign::NoServer,
        };
    }
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    let mut lb = be.lb.lock().unwrap_or_else(|e| e.into_inner());
    if !lb.has_eligible(&be.servers) {
        return Assign::NoServer;
    }
    let all_full = lb.queue_means_full() && !q.backend.is_empty() && q.backend.len() as u32 != be.beconn.load(Relaxed);
    let pick = if all_full {
        None
    } else {
        let full = |i: usize| saturated(be, &q, i);
        lb.pick_with(
            &be.servers,
            be.cfg.options.allbackups,
            key,
            &Pick {
                avoid,
                full: Some(&full),
                balance_factor: factor,
            },
        )
    };
    drop(lb);
    let bound = match pick {
        Some(i) if !saturated(be, &q, i) => {
            be.servers[i].served.fetch_add(1, Relaxed);
            be.servers[i].note_used();
            return Assign::Server(i);
        }
        Some(i) => {
            // A hashed request stays with its server: wait in its queue,
            // unless `maxqueue` streams already do.
            let mq = be.servers[i].maxqueue.load(Relaxed);
            if mq > 0 && q.per_srv[i].len() as u32 >= mq {
                return Assign::QueueFull(i);
            }
            Some(i)
        }
        None => None,
    };
    q.seq += 1;
    let p = Pending {
        tid,
        token,
        since_ms: now_ms,
        seq: q.seq,
    };
    match bound {
        Some(i) => {
            q.per_srv[i].push(p);
            let c = &be.servers[i].counters;
            let n = q.per_srv[i].len() as u64;
            c.nbpend.store(n, Relaxed);
            update_max(&c.max_nbpend, n);
        }
        None => {
            q.backend.push(p);
            let n = q.backend.len() as u64;
            be.be_counters.nbpend.store(n, Relaxed);
            update_max(&be.be_counters.max_nbpend, n);
        }
    }
    Assign::Queued(bound)
}

/// Takes a slot on server `i`, chosen by a `use-server` rule rather than
/// by load balancing, or waits in that server's queue when it is full
/// (HAProxy's `assign_server_and_queue()` on an already assigned stream).
pub fn assign_direct(be: &ProxyRt, i: usize, tid: usize, token: u64, now_ms: u64) -> Assign {
    let sv = &be.servers[i];
    if sv.maxconn.load(Relaxed) == 0 {
        sv.served.fetch_add(1, Relaxed);
        sv.note_used();
        return Assign::Server(i);
    }
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    if !saturated(be, &q, i) {
        sv.served.fetch_add(1, Relaxed);
        sv.note_used();
        return Assign::Server(i);
    }
    let mq = sv.maxqueue.load(Relaxed);
    if mq > 0 && q.per_srv[i].len() as u32 >= mq {
        return Assign::QueueFull(i);
    }
    q.seq += 1;
    let p = Pending {
        tid,
        token,
        since_ms: now_ms,
        seq: q.seq,
    };
    q.per_srv[i].push(p);
    let n = q.per_srv[i].len() as u64;
    sv.counters.nbpend.store(n, Relaxed);
    update_max(&sv.counters.max_nbpend, n);
    Assign::Queued(Some(i))
}

/// Gives up a queued place (timeout or abort). False if the stream was
/// already dequeued: a `Dequeued` message with a slot is then on its way.
pub fn unqueue(be: &ProxyRt, tid: usize, token: u64) -> bool {
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    let mut found = q.backend.remove(tid, token);
    if !found {
        for (i, sq) in q.per_srv.iter_mut().enumerate() {
            if sq.remove(tid, token) {
                be.servers[i].counters.nbpend.store(sq.len() as u64, Relaxed);
                found = true;
                break;
            }
        }
    }
    be.be_counters.nbpend.store(q.backend.len() as u64, Relaxed);
    found
}

/// Frees a slot of server `srv`: hands it to the oldest waiter, and while
/// the (dynamic) limit leaves room, to the next ones too, as HAProxy's
/// `process_srv_queue()`. `wake` is called for each stream given a slot.
pub fn release(rt: &Runtime, be_idx: usize, srv: usize, mut wake: impl FnMut(Pending)) {
    let be = &rt.proxies[be_idx];
    let s = &be.servers[srv];
    if !be.servers.iter().any(|s| s.maxconn.load(Relaxed) > 0) {
        // Nobody can be waiting for a slot: no lock needed.
        dec_served(s);
        return;
    }
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    // The releasing stream's slot counts in `served` until handed over.
    let mut handed = false;
    if s.usable() {
        loop {
            let max = dynamic_maxconn(be, s);
            let served = s.served.load(Relaxed);
            let room = max == 0 || if handed { served < max } else { served <= max };
            if !room {
                break;
            }
            let Some((p, from_srv)) = q.pop_for(srv) else { break };
            if from_srv {
                s.counters.nbpend.store(q.per_srv[srv].len() as u64, Relaxed);
            }
            if handed {
                s.served.fetch_add(1, Relaxed);
                s.note_used();
            }
            handed = true;
            inc(&s.counters.cum_lbconn);
            wake(p);
        }
    }
    be.be_counters.nbpend.store(q.backend.len() as u64, Relaxed);
    if !handed {
        dec_served(s);
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

/// Whether server `i` may take streams from the backend queue now: usable
/// and, for a backup, only while no active server is (the first usable
/// backup, or any with `option allbackups`).
fn may_take_from_px(be: &ProxyRt, i: usize) -> bool {
    let s = &be.servers[i];
    if !s.usable() || s.uweight.load(Relaxed) == 0 {
        return false;
    }
    if !s.cfg.backup {
        return true;
    }
    let live = |x: &&ServerRt| !x.is_deleted() && x.usable() && x.uweight.load(Relaxed) > 0;
    if be.servers.iter().filter(live).any(|x| !x.cfg.backup) {
        return false;
    }
    be.cfg.options.allbackups || be.servers.iter().position(|x| x.cfg.backup && live(&x)) == Some(i)
}

/// A server coming up takes what waits in the backend queue, within its
/// (dynamic) maxconn (HAProxy's `pendconn_grab_from_px()`). `wake` gets
/// each stream given a slot and the server. Returns how many moved.
pub fn grab_from_px(rt: &Runtime, be_idx: usize, srv: usize, mut wake: impl FnMut((Pending, usize))) -> usize {
    let be = &rt.proxies[be_idx];
    if !may_take_from_px(be, srv) {
        return 0;
    }
    let s = &be.servers[srv];
    let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
    let mut n = 0;
    while !q.backend.is_empty() {
        let max = dynamic_maxconn(be, s);
        if max > 0 && s.served.load(Relaxed) >= max {
            break;
        }
        let Some(p) = q.backend.pop() else { break };
        s.served.fetch_add(1, Relaxed);
        s.note_used();
        inc(&s.counters.cum_lbconn);
        wake((p, srv));
        n += 1;
    }
    be.be_counters.nbpend.store(q.backend.len() as u64, Relaxed);
    n
}

/// A server going down with `option redispatch`: the streams waiting in
/// its own queue go back to the backend queue, in their arrival order,
/// and the servers still usable take what they can (HAProxy's
/// `pendconn_redistribute()`, whose woken streams re-run the LB).
pub fn redistribute(rt: &Runtime, be_idx: usize, srv: usize, mut wake: impl FnMut((Pending, usize))) -> usize {
    let be = &rt.proxies[be_idx];
    let moved = {
        let mut q = be.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sq) = q.per_srv.get_mut(srv) else { return 0 };
        let taken: Vec<Pending> = sq.items.drain(..).collect();
        be.servers[srv].counters.nbpend.store(0, Relaxed);
        for p in &taken {
            let pos = q
                .backend
                .items
                .iter()
                .position(|x| x.seq > p.seq)
                .unwrap_or(q.backend.items.len());
            q.backend.items.insert(pos, *p);
        }
        let n = q.backend.len() as u64;
        be.be_counters.nbpend.store(n, Relaxed);
        update_max(&be.be_counters.max_nbpend, n);
        taken.len()
    };
    if moved > 0 {
        for i in 0..be.servers.len() {
            if i != srv {
                grab_from_px(rt, be_idx, i, &mut wake);
            }
        }
    }
    moved
}
