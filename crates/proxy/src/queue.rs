//! Pending streams waiting for a server slot (HAProxy's `queue.c`
//! pendconns): one FIFO per server (streams bound to that server) and one
//! per backend (streams that may use any server).
//!
//! An entry names the owning thread and the stream's token; when a slot
//! frees, whoever frees it takes the oldest entry of the server's queue or
//! its backend's, and messages the owning thread that it may connect.
//! This module owns the FIFOs only; it must not touch streams.

use std::collections::VecDeque;

/// A queued stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub tid: usize,
    pub token: u64,
    /// When it was queued (ms), to serve the older of two queues first.
    pub since_ms: u64,
    /// Global order of arrival, to break ties between queues.
    pub seq: u64,
}

#[derive(Default)]
pub struct Queue {
    pub items: VecDeque<Pending>,
}

impl Queue {
    pub fn push(&mut self, p: Pending) {
        self.items.push_back(p);
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn front(&self) -> Option<&Pending> {
        self.items.front()
    }
    pub fn pop(&mut self) -> Option<Pending> {
        self.items.pop_front()
    }
    /// Removes a stream that gave up (timeout, client abort).
    pub fn remove(&mut self, tid: usize, token: u64) -> bool {
        if let Some(pos) = self.items.iter().position(|p| p.tid == tid && p.token == token) {
            self.items.remove(pos);
            true
        } else {
            false
        }
    }
}

/// All queues of one backend.
pub struct QueueSet {
    /// Streams that may use any server.
    pub backend: Queue,
    /// Streams bound to one server, by server index.
    pub per_srv: Vec<Queue>,
    /// Arrival counter, to serve the older of two queues first.
    pub seq: u64,
}

impl QueueSet {
    pub fn new(nsrv: usize) -> QueueSet {
        QueueSet {
            backend: Queue::default(),
            per_srv: (0..nsrv).map(|_| Queue::default()).collect(),
            seq: 0,
        }
    }

    /// Streams waiting in server `srv`'s own queue.
    pub fn srv_len(&self, srv: usize) -> usize {
        self.per_srv.get(srv).map_or(0, |q| q.len())
    }

    /// Takes the oldest stream that server `srv` may serve.
    pub fn pop_for(&mut self, srv: usize) -> Option<(Pending, bool)> {
        let a = self.per_srv.get(srv).and_then(|q| q.front()).map(|p| p.seq);
        let b = self.backend.front().map(|p| p.seq);
        match (a, b) {
            (Some(x), Some(y)) if x < y => self.per_srv[srv].pop().map(|p| (p, true)),
            (Some(_), None) => self.per_srv[srv].pop().map(|p| (p, true)),
            (_, Some(_)) => self.backend.pop().map(|p| (p, false)),
            (None, None) => None,
        }
    }
}
