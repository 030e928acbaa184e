//! rhaproxy's reactor: HAProxy's threading and polling model in Rust.
//!
//! - [`fd`]: the process-wide FD table with generations and takeovers;
//! - [`poller`]: one epoll set per thread, its update list, and the
//!   generation check that drops stale events (HAProxy 8235a2478);
//! - [`task`]: per-thread timers with lazy requeueing;
//! - [`thread`]: the loop, the [`thread::Handler`] trait owners implement,
//!   cross-thread mailboxes;
//! - [`spread`]: which thread gets an accepted connection (the less
//!   loaded of two rotating candidates, as HAProxy's listeners);
//! - [`activity`]: per-thread counters for `show activity`;
//! - [`counters`]: `count_if!` and friends, dumped by `debug counters`.
//!
//! No async runtime: owners are plain state machines called by the loop.
//! This crate must not know about HTTP, proxies or configuration.

pub mod activity;
pub mod counters;
pub mod fd;
pub mod poller;
pub mod spread;
pub mod task;
pub mod thread;

pub use poller::Events;
pub use spread::AcceptSpread;
pub use task::TimerId;
pub use thread::{now_ms, Cx, Handler, LoopOptions, Reactor, Remote};
