//! Per-thread activity counters (HAProxy's `activity[]`, printed by `show
//! activity`). Each thread writes only its own slot, so increments are a
//! relaxed load and store, not a locked add; readers on other threads see
//! values that may lag by one loop, which is all `show activity` promises.
//!
//! This module owns the counters' storage and names; it does not print them
//! (the stats socket does).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! activity_fields {
    ($($name:ident),* $(,)?) => {
        /// One thread's counters; field names are `show activity`'s rows.
        #[repr(align(64))]
        #[derive(Default)]
        pub struct Activity {
            $(pub $name: AtomicU64,)*
        }

        impl Activity {
            /// (row name, value) pairs in `show activity` order.
            pub fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name.load(Relaxed)),)*]
            }
            /// Zeroes every counter.
            pub fn clear(&self) {
                $(self.$name.store(0, Relaxed);)*
            }
        }
    };
}

activity_fields!(
    ctxsw,
    tasksw,
    empty_rq,
    long_rq,
    loops,
    wake_tasks,
    wake_signal,
    poll_io,
    poll_exp,
    poll_drop_fd,
    poll_skip_fd,
    conn_dead,
    stream_calls,
    pool_fail,
    buf_wait,
    accepted,
    accq_pushed,
    accq_full,
    fd_takeover,
);

/// Adds `n` to a counter owned by the calling thread.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}
