//! rhaproxy's proxy: everything between a listening socket and a server,
//! on top of the reactor — listeners, streams (TCP and HTTP/1), backends,
//! server selection, queues, connection reuse, counters, and the stats
//! socket. [`run`] is the whole program after configuration parsing.
//!
//! One subsystem per module, named as in HAProxy's tree (listener, stream,
//! backend, lb, queue, idle, cli, counters). This crate must not parse
//! configuration text (the `config` crate does) nor implement HTTP syntax
//! (the `http` crate does).

pub mod acl;
pub mod backend;
pub mod buffer;
pub mod capture;
pub mod cli;
pub mod counters;
pub mod hash;
pub mod http_act;
pub mod http_reply;
pub mod idle;
pub mod lb;
pub mod listener;
pub mod log;
pub mod logfmt;
pub mod queue;
pub mod regex;
pub mod runtime;
pub mod sample;
pub mod server;
pub mod slab;
pub mod sock;
pub mod stats;
pub mod stream;
pub mod support;
pub mod worker;

use config::model::Config;
use std::sync::atomic::{AtomicI32, Ordering::*};
use std::sync::Arc;

/// Process options from the command line that affect running.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Thread count override (else `nbthread`, else 1).
    pub nbthread: Option<usize>,
}

static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, SeqCst);
}

fn install_signals() {
    // SAFETY: the handler only stores into an atomic, which is
    // async-signal-safe; SIGPIPE is ignored so writes to closed sockets
    // return EPIPE instead of killing the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
            libc::signal(s, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Starts the proxy and blocks until it stops (SIGTERM/SIGINT: at once;
/// SIGUSR1: after current streams finish). Errors are alert texts.
pub fn run(cfg: Config, opts: RunOptions) -> Result<(), String> {
    let report = support::check(&cfg);
    let pid = std::process::id();
    for w in &report.warnings {
        eprintln!("{:<11}({pid}) : config : {w}", "[WARNING]");
    }
    if !report.alerts.is_empty() {
        return Err(report.alerts.join("\n"));
    }
    let nbthread = opts
        .nbthread
        .or(cfg.global.nbthread.map(|n| n as usize))
        .unwrap_or(1)
        .clamp(1, 64);
    install_signals();
    let loop_opts = reactor::LoopOptions {
        max_poll_events: cfg.global.tune_maxpollevents.max(1) as usize,
        runqueue_depth: cfg.global.tune_runqueue_depth.max(1) as usize,
        cpu_map: Vec::new(),
    };
    http_act::global_set_vars(&cfg.global.set_vars)?;
    let listeners = listener::open_all(&cfg)?;
    let mut rt = runtime::Runtime::build(cfg, nbthread)?;
    rt.so_names = listeners.iter().map(|l| l.named.then(|| l.name.clone())).collect();
    let rt = Arc::new(rt);
    rt.listeners.store(listeners.len() as u32, Relaxed);
    let reactor: reactor::Reactor<worker::Msg> =
        reactor::Reactor::new(nbthread, loop_opts).map_err(|e| format!("cannot create pollers: {e}"))?;
    worker::register_listeners(&listeners, nbthread);
    let listeners = Arc::new(listeners);
    let remote = reactor.remote();
    for t in 0..nbthread {
        remote.send(t, worker::Msg::Start);
    }
    let rt2 = rt.clone();
    let l2 = listeners.clone();
    let handles = reactor
        .spawn(move |tid, _remote| worker::Worker::new(rt2.clone(), l2.clone(), tid))
        .map_err(|e| format!("cannot start threads: {e}"))?;

    // The main thread only watches signals.
    let mut soft = false;
    loop {
        std::thread::sleep(std::time::Duration::from_millis(20));
        if handles.iter().all(|h| h.is_finished()) {
            break;
        }
        match SIGNAL.swap(0, SeqCst) {
            libc::SIGTERM | libc::SIGINT => {
                rt.stopping.store(true, Relaxed);
                for t in 0..nbthread {
                    remote.send(t, worker::Msg::HardStop);
                }
            }
            libc::SIGUSR1 if !soft => {
                soft = true;
                rt.stopping.store(true, Relaxed);
                for t in 0..nbthread {
                    remote.send(t, worker::Msg::SoftStop);
                }
            }
            _ => {}
        }
    }
    for h in handles {
        let _ = h.join();
    }
    for l in listeners.iter() {
        if reactor::fd::is_owned(l.fd) {
            reactor::fd::delete(l.fd, &[]);
        }
    }
    Ok(())
}
