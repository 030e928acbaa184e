//! Per-thread timers (HAProxy's wait queue) with lazy requeueing.
//!
//! Proxies re-arm timeouts on nearly every I/O and almost never let them
//! fire, so arming must be cheap: moving a deadline *later* only records the
//! new value, and the stale heap entry, when it surfaces, is pushed back at
//! the recorded deadline instead of firing. Moving it *earlier* pushes a new
//! entry and retires the old one by sequence number.
//!
//! This module owns timer slots and their ordering; it knows nothing of what
//! a timer's token means (the owner decides on `on_timer`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A timer slot of one thread. Valid only on the thread that created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(pub u32);

/// "Never": a disarmed timer.
pub const ETERNITY: u64 = u64::MAX;

struct Slot {
    token: u64,
    /// Deadline in ms, or ETERNITY.
    expire: u64,
    /// Key of the live heap entry, if any.
    queued_at: Option<u64>,
    /// Identifies the live heap entry; older entries are ignored.
    seq: u32,
    in_use: bool,
}

/// The timer queue.
#[derive(Default)]
pub struct Timers {
    slots: Vec<Slot>,
    free: Vec<u32>,
    heap: BinaryHeap<Reverse<(u64, u32, u32)>>,
}

impl Timers {
    /// A disarmed timer reporting `token` when it fires.
    pub fn create(&mut self, token: u64) -> TimerId {
        let slot = Slot {
            token,
            expire: ETERNITY,
            queued_at: None,
            seq: 0,
            in_use: true,
        };
        if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            let seq = s.seq.wrapping_add(1);
            *s = slot;
            s.seq = seq;
            TimerId(i)
        } else {
            self.slots.push(slot);
            TimerId(self.slots.len() as u32 - 1)
        }
    }

    /// Sets the deadline (ms, same clock as `expired`).
    pub fn arm(&mut self, id: TimerId, at: u64) {
        let s = &mut self.slots[id.0 as usize];
        s.expire = at;
        match s.queued_at {
            Some(q) if q <= at => {} // fires early, then requeues lazily
            _ => {
                s.seq = s.seq.wrapping_add(1);
                s.queued_at = Some(at);
                self.heap.push(Reverse((at, id.0, s.seq)));
            }
        }
    }

    pub fn disarm(&mut self, id: TimerId) {
        self.slots[id.0 as usize].expire = ETERNITY;
    }

    pub fn expire_of(&self, id: TimerId) -> u64 {
        self.slots[id.0 as usize].expire
    }

    /// Releases the slot; its pending heap entry becomes inert.
    pub fn destroy(&mut self, id: TimerId) {
        let s = &mut self.slots[id.0 as usize];
        s.in_use = false;
        s.expire = ETERNITY;
        s.queued_at = None;
        s.seq = s.seq.wrapping_add(1);
        self.free.push(id.0);
    }

    /// Next deadline worth waking for, if any.
    pub fn next_deadline(&mut self) -> Option<u64> {
        while let Some(&Reverse((at, idx, seq))) = self.heap.peek() {
            let s = &self.slots[idx as usize];
            if !s.in_use || s.seq != seq || s.expire == ETERNITY {
                self.heap.pop();
                if s.seq == seq {
                    self.slots[idx as usize].queued_at = None;
                }
                continue;
            }
            return Some(at);
        }
        None
    }

    /// Pops one timer whose deadline is `<= now` and returns its token.
    pub fn pop_expired(&mut self, now: u64) -> Option<u64> {
        while let Some(&Reverse((at, idx, seq))) = self.heap.peek() {
            if at > now {
                return None;
            }
            self.heap.pop();
            let s = &mut self.slots[idx as usize];
            if !s.in_use || s.seq != seq {
                continue;
            }
            s.queued_at = None;
            if s.expire == ETERNITY {
                continue;
            }
            if s.expire > now {
                // Moved later since queued: requeue at the real deadline.
                let e = s.expire;
                s.seq = s.seq.wrapping_add(1);
                s.queued_at = Some(e);
                let seq = s.seq;
                self.heap.push(Reverse((e, idx, seq)));
                continue;
            }
            s.expire = ETERNITY;
            return Some(s.token);
        }
        None
    }

    /// Live heap entries (for `show activity`-style introspection and tests).
    pub fn queued(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_once() {
        let mut t = Timers::default();
        let a = t.create(1);
        let b = t.create(2);
        t.arm(a, 30);
        t.arm(b, 10);
        assert_eq!(t.next_deadline(), Some(10));
        assert_eq!(t.pop_expired(5), None);
        assert_eq!(t.pop_expired(40), Some(2));
        assert_eq!(t.pop_expired(40), Some(1));
        assert_eq!(t.pop_expired(40), None);
    }

    #[test]
    fn later_rearm_is_lazy_and_correct() {
        let mut t = Timers::default();
        let a = t.create(9);
        t.arm(a, 10);
        for i in 0..1000 {
            t.arm(a, 10 + i); // many re-arms, no heap growth
        }
        assert_eq!(t.queued(), 1);
        assert_eq!(t.pop_expired(10), None); // requeued at 1009
        assert_eq!(t.next_deadline(), Some(1009));
        assert_eq!(t.pop_expired(1009), Some(9));
    }

    #[test]
    fn earlier_rearm_and_disarm_and_destroy() {
        let mut t = Timers::default();
        let a = t.create(1);
        t.arm(a, 100);
        t.arm(a, 50);
        assert_eq!(t.pop_expired(60), Some(1));
        assert_eq!(t.pop_expired(200), None); // old entry inert
        let b = t.create(2);
        t.arm(b, 10);
        t.disarm(b);
        assert_eq!(t.pop_expired(20), None);
        let c = t.create(3);
        t.arm(c, 10);
        t.destroy(c);
        let d = t.create(4); // reuses c's slot
        assert_eq!(d, c);
        assert_eq!(t.pop_expired(20), None);
        t.arm(d, 30);
        assert_eq!(t.pop_expired(30), Some(4));
    }
}
