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
pub mod auth;
pub mod backend;
pub mod buffer;
pub mod capture;
pub mod checks;
pub mod cli;
pub mod cookie;
pub mod counters;
pub mod dns;
pub mod hash;
pub mod http_act;
pub mod http_reply;
pub mod idle;
pub mod json_query;
pub mod lb;
pub mod listener;
pub mod log;
pub mod logfmt;
pub mod map;
pub mod promex;
pub mod proxy_protocol;
pub mod queue;
pub mod regex;
pub mod resolvers;
pub mod runtime;
pub mod sample;
pub mod server;
pub mod slab;
pub mod sock;
pub mod ssl_sock;
pub mod stats;
pub mod stats_page;
pub mod stick_table;
pub mod stream;
pub mod support;
pub mod switching;
pub mod uri_normalizer;
pub mod worker;

use config::model::Config;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::*;
use std::sync::Arc;

/// Process options from the command line that affect running.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Thread count override (else `nbthread`, which the configuration check
    /// sets to the CPUs available when the file has none).
    pub nbthread: Option<usize>,
    /// The old process's listening sockets (`-x`), used instead of binding
    /// anew where addresses match; the others are closed.
    pub old_socks: Vec<cli::getsocks::OldSock>,
}

/// A configuration whose listeners are bound and whose runtime is built,
/// not running yet: no thread exists, so the process may still fork (daemon
/// mode) and tell old processes to leave before [`Bound::run`].
pub struct Bound {
    rt: runtime::Runtime,
    listeners: Vec<listener::Listener>,
    nbthread: usize,
}

/// The signals the main thread handles.
/// SIGCHLD: external checks' programs ended (children get an empty mask
/// from std's spawn).
const SIGNALS: [libc::c_int; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGCHLD];

/// Blocks the handled signals (every thread started afterwards inherits
/// the mask) and returns a signalfd reporting them, so the main thread
/// sleeps in `poll(2)` until a signal or a thread's end instead of waking
/// up periodically. SIGPIPE is ignored so writes to closed sockets return
/// EPIPE instead of killing the process.
fn install_signals() -> Result<std::os::fd::OwnedFd, String> {
    use std::os::fd::FromRawFd;
    // SAFETY: sigset_t is plain data filled by sigemptyset/sigaddset;
    // pthread_sigmask and signalfd only read it; no thread exists yet, so
    // blocking here covers every thread of the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK);
        if fd < 0 {
            return Err(format!("cannot create signalfd: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: a new descriptor that nothing else owns.
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// The next pending signal of the signalfd, if any.
fn read_signal(sfd: std::os::fd::RawFd) -> Option<i32> {
    // SAFETY: signalfd_siginfo is plain data; read() fills at most its size.
    unsafe {
        let mut info: libc::signalfd_siginfo = std::mem::zeroed();
        let n = libc::read(
            sfd,
            &mut info as *mut _ as *mut libc::c_void,
            std::mem::size_of::<libc::signalfd_siginfo>(),
        );
        (n == std::mem::size_of::<libc::signalfd_siginfo>() as isize).then_some(info.ssi_signo as i32)
    }
}

static HEADER_DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True the first time only: HAProxy prints its version and executable
/// path (two NOTICE lines) before the first warning or alert of a run.
pub fn claim_startup_header() -> bool {
    !HEADER_DONE.swap(true, SeqCst)
}

/// The NOTICE lines that precede the first start-up message.
pub fn startup_header(pid: u32) -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "rhaproxy".into());
    format!(
        "[NOTICE]   ({pid}) : haproxy version is {}\n[NOTICE]   ({pid}) : path to executable is {exe}\n",
        config::features::VERSION
    )
}

/// Prints one start-up message (`[WARNING]`/`[ALERT]`) as HAProxy does,
/// after the NOTICE header when it is the first.
pub fn startup_msg(level: &str, text: &str) {
    let pid = std::process::id();
    let head = if claim_startup_header() {
        startup_header(pid)
    } else {
        String::new()
    };
    eprintln!("{head}{level:<11}({pid}) : {text}");
}

/// Starts the proxy and blocks until it stops (SIGTERM/SIGINT: at once;
/// SIGUSR1: after current streams finish). Returns the exit status
/// HAProxy leaves with: 143 after SIGTERM, 130 after SIGINT, else 0.
/// Errors are alert texts.
pub fn run(cfg: Config, opts: RunOptions) -> Result<i32, String> {
    bind(cfg, opts)?.run()
}

/// Checks what rhaproxy supports, binds every listener (taking the old
/// process's sockets given in `opts`) and builds the runtime. Errors are
/// alert texts; nothing stays bound then.
pub fn bind(cfg: Config, mut opts: RunOptions) -> Result<Bound, String> {
    let report = support::check(&cfg);
    for w in &report.warnings {
        startup_msg("[WARNING]", &format!("config : {w}"));
    }
    if !report.alerts.is_empty() {
        return Err(report.alerts.join("\n"));
    }
    let nbthread = opts
        .nbthread
        .or(cfg.global.nbthread.map(|n| n as usize))
        .unwrap_or(1)
        .clamp(1, 64);
    http_act::global_set_vars(&cfg.global.set_vars)?;
    let (listeners, msgs, failed) = listener::open_all(&cfg, nbthread, &mut opts.old_socks);
    // Sockets of the old process that no bind line wants any more.
    for o in opts.old_socks.drain(..) {
        sock::close_raw(o.fd);
    }
    for m in &msgs {
        match m {
            listener::BindMsg::Warning(t) => startup_msg("[WARNING]", t),
            listener::BindMsg::Alert(t) => startup_msg("[ALERT]", t),
        }
    }
    if failed {
        let prog = std::env::args().next().unwrap_or_else(|| "rhaproxy".into());
        return Err(format!(
            "[{prog}.main()] Some protocols failed to start their listeners! Exiting."
        ));
    }
    let mut rt = match runtime::Runtime::build(cfg, nbthread) {
        Ok(rt) => rt,
        Err(e) => {
            for l in &listeners {
                if !l.inherited {
                    sock::close_raw(l.fd);
                }
            }
            return Err(e);
        }
    };
    rt.so_names = listeners.iter().map(|l| l.named.then(|| l.name.clone())).collect();
    Ok(Bound {
        rt,
        listeners,
        nbthread,
    })
}

impl Bound {
    /// Starts the threads and blocks until the proxy stops; the exit
    /// status as [`run`]'s.
    pub fn run(self) -> Result<i32, String> {
        run_bound(self)
    }
}

fn run_bound(b: Bound) -> Result<i32, String> {
    let Bound {
        mut rt,
        listeners,
        nbthread,
    } = b;
    // The process may have forked (daemon mode) since the runtime was built.
    rt.pid = std::process::id();
    let sfd = install_signals()?;
    // SAFETY: eventfd has no pointer arguments.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        return Err(format!("cannot create eventfd: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: a new descriptor that nothing else owns; it outlives the
    // threads (joined below before it is dropped).
    let efd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(efd) };
    let loop_opts = reactor::LoopOptions {
        max_poll_events: rt.cfg.global.tune_maxpollevents.max(1) as usize,
        runqueue_depth: rt.cfg.global.tune_runqueue_depth.max(1) as usize,
        cpu_map: Vec::new(),
        exit_notify: Some(efd.as_raw_fd()),
    };
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

    // The main thread only watches signals and the threads' ends, asleep
    // in poll() in between.
    let mut soft = false;
    let mut status = 0;
    let mut fds = [
        libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: efd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // Each thread adds 1 to the eventfd as it ends (counting, rather than
    // asking the join handles, which may still say "running" just after
    // a thread wrote its note).
    let mut ended = 0u64;
    while ended < handles.len() as u64 {
        // SAFETY: `fds` is a live array of two pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n <= 0 {
            continue;
        }
        if fds[1].revents != 0 {
            let mut v = 0u64;
            // SAFETY: reading 8 bytes into a live u64 from our eventfd.
            unsafe {
                if libc::read(efd.as_raw_fd(), &mut v as *mut u64 as *mut libc::c_void, 8) == 8 {
                    ended += v;
                }
            }
        }
        while let Some(sig) = read_signal(sfd.as_raw_fd()) {
            match sig {
                libc::SIGTERM | libc::SIGINT => {
                    if status == 0 {
                        status = 128 + sig;
                    }
                    rt.stopping.store(true, Relaxed);
                    for t in 0..nbthread {
                        remote.send(t, worker::Msg::HardStop);
                    }
                }
                libc::SIGCHLD => checks::reap_children(|t, m| remote.send(t, m)),
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
    }
    for h in handles {
        let _ = h.join();
    }
    for l in listeners.iter() {
        if !l.closed.load(Acquire) && reactor::fd::is_owned(l.fd) {
            reactor::fd::delete(l.fd, &[]);
        }
    }
    Ok(status)
}
