//! Master-worker mode (`-W`, `-Ws`, `master-worker`), HAProxy 2.6's process
//! model: a master process that forks the worker, writes its own pid to
//! the pid file, re-executes itself to reload (SIGUSR2, SIGHUP or `reload`
//! on the master CLI), soft-stops the old workers once the new one runs,
//! reports the workers' ends and serves the master CLI (`-S`).
//!
//! The master never binds the proxies' sockets: the worker it forks binds
//! them (taking the current worker's sockets over its socketpair, as
//! `-x sockpair@` does) and says "ready" on a pipe; a worker that fails
//! before that is a failed load. Across a re-execution the master keeps
//! its workers' socketpairs and its CLI sockets (their FDs survive exec)
//! and describes them in the environment (`RHAPROXY_MWORKER`).
//!
//! This module owns the master's life; the worker is the ordinary proxy
//! (`proxy::bind` + `Bound::run`). It must not touch traffic.

use crate::cli::Options;
use crate::Printer;
use std::io::Write;
use std::os::fd::RawFd;
use std::process::exit;

const STATE_ENV: &str = "RHAPROXY_MWORKER";

/// One worker the master knows.
#[derive(Debug, Clone)]
struct Proc {
    pid: i32,
    /// The master's end of the worker's socketpair.
    ipc: RawFd,
    /// Reloads this worker has lived through.
    reloads: u32,
    /// Start time (seconds since the epoch).
    ts: u64,
    version: String,
    leaving: bool,
    /// A `program` section's process (its name), not a worker.
    prog: Option<String>,
}

/// A master CLI session.
struct Session {
    fd: RawFd,
    inbuf: Vec<u8>,
    prompt: bool,
    /// `@<n>` alone: where commands without a prefix go (0: the master).
    target: i32,
    level: u8,
    done: bool,
}

const LVL_USER: u8 = 1;
const LVL_OPER: u8 = 2;
const LVL_ADMIN: u8 = 3;

pub struct Master {
    opts: Options,
    start: u64,
    reloads: u32,
    failed: u32,
    /// Master CLI listening sockets (`-S`) with their level.
    cli: Vec<(RawFd, u8)>,
    sessions: Vec<Session>,
    workers: Vec<Proc>,
    systemd: bool,
    exit_on_failure: bool,
    exitcode: i32,
    sfd: RawFd,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn msg(level: &str, text: &str) {
    proxy::startup_msg(level, text);
}

fn notice(text: &str) {
    // NOTICE lines do not trigger the version header.
    let pid = std::process::id();
    eprintln!("{:<11}({pid}) : {text}", "[NOTICE]");
}

fn set_cloexec(fd: RawFd, on: bool) {
    // SAFETY: fcntl on an FD this process owns.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFD);
        if fl >= 0 {
            let nfl = if on {
                fl | libc::FD_CLOEXEC
            } else {
                fl & !libc::FD_CLOEXEC
            };
            libc::fcntl(fd, libc::F_SETFD, nfl);
        }
    }
}

fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing an FD this process owns and no longer uses.
        unsafe {
            libc::close(fd);
        }
    }
}

/// systemd's notification (`-Ws`): one datagram to $NOTIFY_SOCKET.
fn sd_notify(text: &str) {
    let Ok(path) = std::env::var("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(s) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    if let Some(name) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        if let Ok(a) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) {
            let _ = s.send_to_addr(text.as_bytes(), &a);
        }
    } else {
        let _ = s.send_to(text.as_bytes(), &path);
    }
}

/// The signals the master handles, blocked and read from a signalfd.
const SIGNALS: [i32; 9] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGHUP,
    libc::SIGCHLD,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGPIPE,
];

fn sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data filled by sigemptyset/sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn unblock_all_signals() {
    // SAFETY: an empty set unblocks everything; the set is live.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Whether this process is a master re-executed to reload.
pub fn is_reexec() -> bool {
    std::env::var_os(STATE_ENV).is_some()
}

impl Master {
    /// The master after a (re)start: the state the previous image left in
    /// the environment, or a new one.
    fn new(opts: &Options, cfg: Option<&config::Config>) -> Master {
        let systemd = opts.systemd;
        let exit_on_failure = cfg.is_none_or(|c| !c.global.mworker_no_exit_on_failure);
        let mut m = Master {
            opts: opts.clone(),
            start: now(),
            reloads: 0,
            failed: 0,
            cli: Vec::new(),
            sessions: Vec::new(),
            workers: Vec::new(),
            systemd,
            exit_on_failure,
            exitcode: -1,
            sfd: -1,
        };
        if let Ok(st) = std::env::var(STATE_ENV) {
            std::env::remove_var(STATE_ENV);
            m.restore(&st);
        }
        m
    }

    fn restore(&mut self, st: &str) {
        for part in st.split(';') {
            let Some((k, v)) = part.split_once('=') else { continue };
            match k {
                "start" => self.start = v.parse().unwrap_or(self.start),
                "reloads" => self.reloads = v.parse().unwrap_or(0),
                "failed" => self.failed = v.parse().unwrap_or(0),
                "cli" => {
                    for c in v.split(',').filter(|c| !c.is_empty()) {
                        if let Some((fd, lvl)) = c.split_once(':') {
                            if let (Ok(fd), Ok(lvl)) = (fd.parse::<RawFd>(), lvl.parse::<u8>()) {
                                set_cloexec(fd, true);
                                self.cli.push((fd, lvl));
                            }
                        }
                    }
                }
                "w" => {
                    for w in v.split(',').filter(|w| !w.is_empty()) {
                        let f: Vec<&str> = w.split(':').collect();
                        if f.len() != 6 {
                            continue;
                        }
                        let (Ok(pid), Ok(ipc), Ok(reloads), Ok(ts)) =
                            (f[0].parse(), f[1].parse(), f[2].parse(), f[3].parse())
                        else {
                            continue;
                        };
                        if ipc >= 0 {
                            set_cloexec(ipc, true);
                        }
                        self.workers.push(Proc {
                            pid,
                            ipc,
                            reloads,
                            ts,
                            version: f[4].to_string(),
                            leaving: false,
                            prog: (!f[5].is_empty()).then(|| f[5].to_string()),
                        });
                    }
                }
                _ => {}
            }
        }
        // The current workers are those with the fewest reloads.
        let min = self.workers.iter().map(|w| w.reloads).min().unwrap_or(0);
        for w in &mut self.workers {
            w.leaving = w.reloads > min;
        }
    }

    fn save(&self) -> String {
        let cli: Vec<String> = self.cli.iter().map(|(fd, l)| format!("{fd}:{l}")).collect();
        let ws: Vec<String> = self
            .workers
            .iter()
            .map(|w| {
                let clean = |t: &str| -> String { t.chars().filter(|c| !":,;=".contains(*c)).collect() };
                let v = clean(&w.version);
                let n = clean(w.prog.as_deref().unwrap_or(""));
                format!("{}:{}:{}:{}:{v}:{n}", w.pid, w.ipc, w.reloads, w.ts)
            })
            .collect();
        format!(
            "start={};reloads={};failed={};cli={};w={}",
            self.start,
            self.reloads,
            self.failed,
            cli.join(","),
            ws.join(",")
        )
    }

    /// Opens the `-S` sockets (first start only; a re-executed master
    /// inherited them).
    fn open_cli(&mut self, out: &mut Printer) {
        if is_reexec_cli(&self.cli) {
            return;
        }
        for spec in self.opts.master_cli.clone() {
            match open_master_cli(&spec) {
                Ok(x) => self.cli.push(x),
                Err(e) => {
                    out.alert_plain(&e);
                    exit(1);
                }
            }
        }
    }

    fn current(&self) -> Option<&Proc> {
        self.workers.iter().find(|w| !w.leaving && w.prog.is_none())
    }

    /// Starts the `program` sections (HAProxy's `mworker_ext_launch_all`):
    /// on a reload, a program with `no option start-on-reload` keeps its
    /// running instance.
    fn launch_programs(&mut self, cfg: &config::Config, reexec: bool) {
        for p in &cfg.programs {
            if reexec && !p.start_on_reload {
                for w in self
                    .workers
                    .iter_mut()
                    .filter(|w| w.prog.as_deref() == Some(p.name.as_str()))
                {
                    w.leaving = false;
                }
                continue;
            }
            let _ = std::io::stderr().flush();
            // SAFETY: the master is single-threaded; the child only
            // changes identity and executes the command.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                msg("[ALERT]", &format!("Cannot fork program '{}'.", p.name));
                exit(1);
            }
            if pid == 0 {
                close(self.sfd);
                for (fd, _) in &self.cli {
                    close(*fd);
                }
                for w in &self.workers {
                    close(w.ipc);
                }
                unblock_all_signals();
                let argv0 = &p.command[0];
                // SAFETY: setgroups/setgid/setuid with plain values in the
                // child before exec.
                unsafe {
                    if let Some(g) = p.gid {
                        if libc::getgroups(0, std::ptr::null_mut()) > 0 && libc::setgroups(0, std::ptr::null()) == -1 {
                            msg("[WARNING]", &format!("[{argv0}.main()] Failed to drop supplementary groups. Using 'gid'/'group' without 'uid'/'user' is generally useless."));
                        }
                        if libc::setgid(g) == -1 {
                            msg("[ALERT]", &format!("[{argv0}.main()] Cannot set gid {g}."));
                            exit(1);
                        }
                    }
                    if let Some(u) = p.uid {
                        if libc::setuid(u) == -1 {
                            msg(
                                "[ALERT]",
                                &format!("[{argv0}.main()] Cannot set uid {}.", p.gid.map_or(-1, |g| g as i64)),
                            );
                            exit(1);
                        }
                    }
                }
                let args: Vec<std::ffi::CString> = p
                    .command
                    .iter()
                    .map(|a| std::ffi::CString::new(a.as_str()).unwrap_or_default())
                    .collect();
                let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
                argv.push(std::ptr::null());
                // SAFETY: a NULL-terminated array of live C strings.
                unsafe {
                    libc::execvp(argv[0], argv.as_ptr());
                }
                let e = std::io::Error::last_os_error();
                let t = e.to_string();
                let t = &t[..t.find(" (os error").unwrap_or(t.len())];
                msg("[ALERT]", &format!("Cannot execute {argv0}: {t}"));
                exit(1);
            }
            notice(&format!("New program '{}' ({pid}) forked", p.name));
            self.workers.push(Proc {
                pid,
                ipc: -1,
                reloads: 0,
                ts: now(),
                version: "-".into(),
                leaving: false,
                prog: Some(p.name.clone()),
            });
        }
    }
}

fn is_reexec_cli(cli: &[(RawFd, u8)]) -> bool {
    !cli.is_empty()
}

/// `-S <addr>[,<option> <value>...]`: a UNIX path, `fd@<n>`, or
/// `[ipv4@|ipv6@]<ip>:<port>`; options `mode`, `level`, `user`/`uid`,
/// `group`/`gid` are honoured for paths as on `stats socket`.
fn open_master_cli(spec: &str) -> Result<(RawFd, u8), String> {
    let mut parts = spec.split(',');
    let addr = parts.next().unwrap_or("");
    let mut level = LVL_ADMIN;
    let mut mode = None;
    for opt in parts {
        let mut w = opt.split_whitespace();
        let (k, v) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
        match k {
            "level" => {
                level = match v {
                    "user" => LVL_USER,
                    "operator" => LVL_OPER,
                    "admin" => LVL_ADMIN,
                    _ => return Err(format!("Cannot create the master CLI on '{spec}': 'level' only supports 'user', 'operator', and 'admin' (got '{v}').")),
                }
            }
            "mode" => mode = u32::from_str_radix(v, 8).ok(),
            "" => {}
            _ => {
                return Err(format!(
                    "Cannot create the master CLI on '{spec}': '{k}' is not supported yet on the master CLI (rhaproxy)."
                ))
            }
        }
    }
    let fail = |e: std::io::Error| format!("Cannot create the master CLI on '{spec}': {e}");
    if let Some(n) = addr.strip_prefix("fd@") {
        let fd: RawFd = n
            .parse()
            .map_err(|_| format!("Cannot create the master CLI on '{spec}': bad fd"))?;
        set_cloexec(fd, true);
        return Ok((fd, level));
    }
    let inet = addr
        .strip_prefix("ipv4@")
        .or_else(|| addr.strip_prefix("ipv6@"))
        .or_else(|| addr.strip_prefix("tcp@"))
        .unwrap_or(addr);
    if let Ok(sa) = inet.parse::<std::net::SocketAddr>() {
        let l = std::net::TcpListener::bind(sa).map_err(fail)?;
        return Ok((std::os::fd::IntoRawFd::into_raw_fd(l), level));
    }
    let path = addr.strip_prefix("unix@").unwrap_or(addr);
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).map_err(fail)?;
    if let Some(m) = mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(m));
    }
    Ok((std::os::fd::IntoRawFd::into_raw_fd(l), level))
}

fn signalfd() -> RawFd {
    let set = sigset();
    // SAFETY: the set is live; the master has one thread, so the mask
    // covers the whole process.
    unsafe {
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    }
}

/// Starts (or, re-executed, reloads) with a loaded configuration: forks
/// the worker and becomes the master. Never returns.
pub fn run(cfg: config::Config, opts: &Options, out: &mut Printer) -> ! {
    let reexec = is_reexec();
    let mut m = Master::new(opts, Some(&cfg));
    m.open_cli(out);
    let daemon = (opts.daemon || cfg.global.daemon) && !opts.debug && !opts.foreground;
    if daemon && !reexec {
        // SAFETY: single-threaded process; the parent only exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            out.alert_plain(&format!("[{}.main()] Cannot fork.", opts.argv0));
            exit(1);
        }
        if pid > 0 {
            exit(0);
        }
        // SAFETY: the child leaves its session and terminal.
        unsafe {
            libc::setsid();
        }
        crate::stdio_quiet();
        out.quiet = true;
    }
    let pidfile = opts.pidfile.clone().or(cfg.global.pidfile.clone().map(Into::into));
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
        if std::fs::write(p, format!("{}\n", std::process::id())).is_err() {
            out.alert_plain(&format!(
                "[{}.main()] Cannot create pidfile {}",
                opts.argv0,
                p.display()
            ));
            if !reexec {
                exit(1);
            }
        }
    }
    m.sfd = signalfd();
    // Every known process is from before this load until said otherwise.
    for w in &mut m.workers {
        w.leaving = true;
    }
    let known: Vec<i32> = m.workers.iter().map(|w| w.pid).collect();
    m.launch_programs(&cfg, reexec);
    match m.spawn_worker(cfg, out) {
        Ok(pid) => {
            notice(&format!("New worker ({pid}) forked"));
            notice("Loading success.");
            m.failed = 0;
            let old: Vec<i32> = m.workers.iter().filter(|w| w.leaving).map(|w| w.pid).collect();
            for p in old {
                // SAFETY: kill(2) on a worker of ours (not reaped yet).
                unsafe {
                    libc::kill(p, libc::SIGUSR1);
                }
            }
        }
        Err(()) => {
            // Programs started for this load go with it.
            for w in m.workers.iter().filter(|w| !known.contains(&w.pid)) {
                // SAFETY: kill(2) on a child we just forked.
                unsafe {
                    libc::kill(w.pid, libc::SIGTERM);
                }
            }
            m.workers.retain(|w| known.contains(&w.pid));
            if !reexec {
                exit(1);
            }
            m.load_failed();
        }
    }
    m.main_loop()
}

/// A re-executed master whose new configuration does not load: keeps the
/// workers it has and waits.
pub fn failed_reload(opts: &Options) -> ! {
    let mut m = Master::new(opts, None);
    m.sfd = signalfd();
    m.load_failed();
    m.main_loop()
}

impl Master {
    fn load_failed(&mut self) {
        self.failed += 1;
        let min = self.workers.iter().map(|w| w.reloads).min().unwrap_or(0);
        for w in &mut self.workers {
            w.leaving = w.reloads > min;
        }
        msg("[WARNING]", "Loading failure!");
    }

    /// Forks a worker with `cfg`; Ok(pid) once it listens.
    fn spawn_worker(&mut self, mut cfg: config::Config, out: &mut Printer) -> Result<i32, ()> {
        let mut sv = [0; 2];
        let mut pp = [0; 2];
        // SAFETY: socketpair/pipe2 fill two-int arrays.
        unsafe {
            if libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            ) < 0
                || libc::pipe2(pp.as_mut_ptr(), libc::O_CLOEXEC) < 0
            {
                out.alert_plain("[mworker] cannot create the worker's socketpair.");
                return Err(());
            }
        }
        let _ = std::io::stderr().flush();
        // SAFETY: the master is single-threaded; the child goes on with
        // this code only.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            out.alert_plain(&format!("[{}.main()] Cannot fork.", self.opts.argv0));
            return Err(());
        }
        if pid == 0 {
            close(sv[0]);
            close(pp[0]);
            close(self.sfd);
            for (fd, _) in &self.cli {
                close(*fd);
            }
            for s in &self.sessions {
                close(s.fd);
            }
            unblock_all_signals();
            let mut old_socks = Vec::new();
            if let Some(cur) = self.current() {
                match proxy::cli::getsocks::fetch(&format!("sockpair@{}", cur.ipc)) {
                    Ok(v) => old_socks = v,
                    Err(w) => {
                        msg("[WARNING]", &w);
                        out.alert_plain("Failed to get the sockets from the old process!");
                    }
                }
            }
            for w in &self.workers {
                close(w.ipc);
            }
            // The master reaches this worker's CLI through the socketpair.
            cfg.global.stats_sockets.push(config::model::StatsSocket {
                addr: config::addr::Addr::Fd(sv[1]),
                level: "admin".into(),
                mode: None,
                uid: None,
                gid: None,
                user: None,
                group: None,
                expose_fd_listeners: true,
                name: None,
                maxconn: None,
                process: None,
                thread: None,
                loc: config::model::Loc::default(),
            });
            let run_opts = proxy::RunOptions {
                nbthread: None,
                old_socks,
            };
            let bound = match proxy::bind(cfg, run_opts) {
                Ok(b) => b,
                Err(e) => {
                    for line in e.lines() {
                        out.alert_plain(line);
                    }
                    exit(1)
                }
            };
            // SAFETY: one byte to the master on our pipe end.
            unsafe {
                libc::write(pp[1], b"R".as_ptr() as *const libc::c_void, 1);
            }
            close(pp[1]);
            match bound.run() {
                Ok(code) => crate::leave(code),
                Err(e) => {
                    for line in e.lines() {
                        out.alert_plain(line);
                    }
                    exit(1)
                }
            }
        }
        close(sv[1]);
        close(pp[1]);
        let mut b = [0u8; 1];
        let n = loop {
            // SAFETY: reading one byte into a live buffer from our pipe.
            let r = unsafe { libc::read(pp[0], b.as_mut_ptr() as *mut libc::c_void, 1) };
            if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break r;
        };
        close(pp[0]);
        if n != 1 {
            // It failed before listening: reap it (its alerts are out).
            let mut st = 0;
            // SAFETY: waiting for our own child.
            unsafe {
                libc::waitpid(pid, &mut st, 0);
            }
            close(sv[0]);
            return Err(());
        }
        self.workers.push(Proc {
            pid,
            ipc: sv[0],
            reloads: 0,
            ts: now(),
            version: config::features::VERSION.to_string(),
            leaving: false,
            prog: None,
        });
        Ok(pid)
    }

    fn kill_all(&self, sig: i32) {
        for w in &self.workers {
            // SAFETY: kill(2) on our own children, not reaped yet.
            unsafe {
                libc::kill(w.pid, sig);
            }
        }
    }

    fn main_loop(&mut self) -> ! {
        if self.systemd {
            sd_notify(&format!("READY=1\nMAINPID={}", std::process::id()));
        }
        // Children that ended while we were not watching (re-execution).
        self.reap();
        loop {
            let mut fds: Vec<libc::pollfd> = Vec::new();
            fds.push(libc::pollfd {
                fd: self.sfd,
                events: libc::POLLIN,
                revents: 0,
            });
            for (fd, _) in &self.cli {
                fds.push(libc::pollfd {
                    fd: *fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            for s in &self.sessions {
                fds.push(libc::pollfd {
                    fd: s.fd,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: fds is a live array of pollfd for the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n <= 0 {
                continue;
            }
            if fds[0].revents != 0 {
                while let Some(sig) = read_signal(self.sfd) {
                    self.on_signal(sig);
                }
            }
            let ncli = self.cli.len();
            for i in 0..ncli {
                if fds[1 + i].revents != 0 {
                    self.accept_cli(i);
                }
            }
            let ready: Vec<usize> = (0..self.sessions.len().min(fds.len() - 1 - ncli))
                .filter(|&i| fds[1 + ncli + i].revents != 0)
                .collect();
            for i in ready {
                self.session_io(i);
            }
            self.sessions.retain(|s| {
                if s.done {
                    close(s.fd);
                }
                !s.done
            });
        }
    }

    fn on_signal(&mut self, sig: i32) {
        match sig {
            libc::SIGCHLD => self.reap(),
            libc::SIGUSR2 | libc::SIGHUP => self.reload(),
            libc::SIGTERM | libc::SIGINT | libc::SIGUSR1 => {
                if self.systemd {
                    sd_notify("STOPPING=1");
                }
                msg("[WARNING]", "Exiting Master process...");
                self.kill_all(sig);
            }
            libc::SIGTTIN | libc::SIGTTOU => self.kill_all(sig),
            _ => {}
        }
    }

    /// HAProxy's `mworker_catch_sigchld`: reports each ended child; the
    /// master leaves with the last one.
    fn reap(&mut self) {
        loop {
            let mut st = 0;
            // SAFETY: waitpid on any child, non-blocking.
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid > 0 {
                let status = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else if libc::WIFSIGNALED(st) {
                    128 + libc::WTERMSIG(st)
                } else {
                    255
                };
                let why = if status >= 128 {
                    strsignal(status - 128)
                } else {
                    "Exit".to_string()
                };
                let Some(i) = self.workers.iter().position(|w| w.pid == pid) else {
                    msg("[WARNING]", &format!("Process {pid} exited with code {status} ({why})"));
                    continue;
                };
                let w = self.workers.remove(i);
                close(w.ipc);
                if !w.leaving {
                    let text = match &w.prog {
                        None => format!("Current worker ({pid}) exited with code {status} ({why})"),
                        Some(n) => format!("Current program '{n}' ({pid}) exited with code {status} ({why})"),
                    };
                    if status < 128 && w.prog.is_none() {
                        msg("[WARNING]", &text);
                    } else {
                        msg("[ALERT]", &text);
                    }
                    if status != 0 && status != 130 && status != 143 && self.exit_on_failure {
                        msg("[ALERT]", "exit-on-failure: killing every processes with SIGTERM");
                        self.kill_all(libc::SIGTERM);
                    }
                    if self.exitcode < 0 && status != 0 && status != 143 {
                        self.exitcode = status;
                    }
                } else {
                    let text = match &w.prog {
                        None => format!("Former worker ({pid}) exited with code {status} ({why})"),
                        Some(n) => format!("Former program '{n}' ({pid}) exited with code {status} ({why})"),
                    };
                    msg("[WARNING]", &text);
                }
                continue;
            }
            if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
                let code = if self.exitcode > 0 { self.exitcode } else { 0 };
                msg("[WARNING]", &format!("All workers exited. Exiting... ({code})"));
                exit(code);
            }
            return;
        }
    }

    /// Re-executes the master with the same command line (HAProxy's
    /// `mworker_reload`): the new image loads the configuration again.
    fn reload(&mut self) {
        notice("Reloading HAProxy");
        if self.systemd {
            sd_notify("RELOADING=1");
        }
        self.reloads += 1;
        for w in &mut self.workers {
            w.reloads += 1;
        }
        for (fd, _) in &self.cli {
            set_cloexec(*fd, false);
        }
        for w in &self.workers {
            set_cloexec(w.ipc, false);
        }
        std::env::set_var(STATE_ENV, self.save());
        let _ = std::io::stderr().flush();
        let args: Vec<std::ffi::CString> = std::env::args_os()
            .map(|a| std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())).unwrap_or_default())
            .collect();
        let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        // SAFETY: argv is a NULL-terminated array of live C strings; on
        // success this process image is replaced.
        unsafe {
            libc::execvp(argv[0], argv.as_ptr());
        }
        // The binary may be gone from PATH: try our own image.
        if let Ok(exe) = std::env::current_exe() {
            if let Ok(c) = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(exe.as_os_str())) {
                // SAFETY: as above.
                unsafe {
                    libc::execv(c.as_ptr(), argv.as_ptr());
                }
            }
        }
        let e = std::io::Error::last_os_error();
        msg("[ALERT]", &format!("Cannot re-execute the master process: {e}"));
        std::env::remove_var(STATE_ENV);
        self.reloads -= 1;
        for w in &mut self.workers {
            w.reloads -= 1;
        }
        for (fd, _) in &self.cli {
            set_cloexec(*fd, true);
        }
        for w in &self.workers {
            set_cloexec(w.ipc, true);
        }
    }

    fn accept_cli(&mut self, i: usize) {
        let (lfd, level) = self.cli[i];
        // SAFETY: accept4 on our listening socket, addresses not wanted.
        let fd = unsafe { libc::accept4(lfd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
        if fd < 0 {
            return;
        }
        let tv = libc::timeval { tv_sec: 10, tv_usec: 0 };
        for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
            // SAFETY: the option value is a live timeval.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &tv as *const libc::timeval as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
            }
        }
        self.sessions.push(Session {
            fd,
            inbuf: Vec::new(),
            prompt: false,
            target: 0,
            level,
            done: false,
        });
    }

    fn session_io(&mut self, i: usize) {
        let fd = self.sessions[i].fd;
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a live buffer from the session's socket.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock {
                // Commands still unterminated at the end run as is.
                let rest = std::mem::take(&mut self.sessions[i].inbuf);
                if !rest.is_empty() {
                    self.run_line(i, &rest);
                }
                self.sessions[i].done = true;
            }
            return;
        }
        self.sessions[i].inbuf.extend_from_slice(&buf[..n as usize]);
        let mut ran = false;
        while let Some(end) = self.sessions[i].inbuf.iter().position(|&c| c == b'\n') {
            let line: Vec<u8> = self.sessions[i].inbuf.drain(..=end).collect();
            self.run_line(i, &line[..line.len() - 1]);
            ran = true;
            if self.sessions[i].done {
                return;
            }
        }
        // Without the prompt, the session ends once nothing more is pending.
        if ran && !self.sessions[i].prompt && self.sessions[i].inbuf.is_empty() {
            self.sessions[i].done = true;
        }
    }

    fn write(&self, fd: RawFd, data: &[u8]) {
        let mut off = 0;
        while off < data.len() {
            // SAFETY: sending from a live buffer on the session's socket.
            let r = unsafe {
                libc::send(
                    fd,
                    data[off..].as_ptr() as *const libc::c_void,
                    data.len() - off,
                    libc::MSG_NOSIGNAL,
                )
            };
            if r <= 0 {
                return;
            }
            off += r as usize;
        }
    }

    fn prompt_text(&self, s: &Session) -> String {
        if s.target == 0 {
            format!("master{}> ", if self.failed > 0 { "[ReloadFailed]" } else { "" })
        } else {
            format!("{}> ", s.target)
        }
    }

    /// One line: commands split at unescaped `;`.
    fn run_line(&mut self, i: usize, line: &[u8]) {
        let mut cmds: Vec<Vec<u8>> = vec![Vec::new()];
        let mut k = 0;
        while k < line.len() {
            let c = line[k];
            if c == b'\\' && k + 1 < line.len() {
                cmds.last_mut().unwrap().extend_from_slice(&line[k..k + 2]);
                k += 2;
                continue;
            }
            if c == b';' {
                cmds.push(Vec::new());
            } else {
                cmds.last_mut().unwrap().push(c);
            }
            k += 1;
        }
        for cmd in cmds {
            if self.sessions[i].done {
                return;
            }
            self.run_cmd(i, &cmd);
        }
    }

    fn prefix_to_pid(&self, p: &str) -> i32 {
        let p = &p[1..];
        if p.is_empty() || p == "master" {
            return 0;
        }
        if let Some(pid) = p.strip_prefix('!') {
            return match pid.parse::<i32>() {
                Ok(pid) if self.workers.iter().any(|w| w.pid == pid && w.prog.is_none()) => pid,
                _ => -1,
            };
        }
        match p.parse::<i32>() {
            Ok(0) => 0,
            Ok(_) => self
                .workers
                .iter()
                .filter(|w| w.prog.is_none())
                .min_by_key(|w| w.reloads)
                .map(|w| w.pid)
                .unwrap_or(-1),
            Err(_) => -1,
        }
    }

    fn run_cmd(&mut self, i: usize, cmd: &[u8]) {
        let text = String::from_utf8_lossy(cmd).into_owned();
        let words: Vec<&str> = text.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        let fd = self.sessions[i].fd;
        let mut target = self.sessions[i].target;
        let mut rest: &[&str] = &words;
        if let Some(first) = words.first().filter(|w| w.starts_with('@')) {
            let pid = self.prefix_to_pid(first);
            if pid < 0 {
                self.write(
                    fd,
                    format!("Can't find the target PID matching the prefix '{first}'\n").as_bytes(),
                );
                self.sessions[i].done = true;
                return;
            }
            if words.len() == 1 {
                self.sessions[i].target = pid;
                self.end_answer(i, true);
                return;
            }
            target = pid;
            rest = &words[1..];
        }
        match rest {
            ["prompt", ..] => {
                self.sessions[i].prompt = !self.sessions[i].prompt;
                if self.sessions[i].prompt {
                    let p = self.prompt_text(&self.sessions[i]);
                    self.write(fd, p.as_bytes());
                }
                return;
            }
            ["quit", ..] => {
                self.sessions[i].done = true;
                return;
            }
            ["operator", ..] | ["user", ..] => {
                let want = if rest[0] == "operator" { LVL_OPER } else { LVL_USER };
                if self.sessions[i].level < want {
                    self.write(fd, b"Permission denied!\n");
                    self.sessions[i].done = true;
                    return;
                }
                self.sessions[i].level = want;
                self.end_answer(i, true);
                return;
            }
            [] => {
                self.end_answer(i, true);
                return;
            }
            _ => {}
        }
        if target != 0 {
            // The worker's CLI session starts at admin: lower it first,
            // as HAProxy's master proxy does.
            let mut fwd = String::new();
            match self.sessions[i].level {
                LVL_USER => fwd.push_str("user; "),
                LVL_OPER => fwd.push_str("operator; "),
                _ => {}
            }
            fwd.push_str(&rest.join(" "));
            let answer = self.forward(target, &fwd);
            self.write(fd, &answer);
            self.end_answer(i, true);
            return;
        }
        let answer = match rest {
            ["show", "proc", ..] => self.show_proc(),
            ["show", "version", ..] => format!("{}\n", config::features::VERSION),
            ["show", "cli", "level", ..] => match self.sessions[i].level {
                LVL_USER => "user\n".into(),
                LVL_OPER => "operator\n".into(),
                _ => "admin\n".into(),
            },
            ["reload", ..] => {
                if self.sessions[i].level < LVL_OPER {
                    "Permission denied\n".into()
                } else {
                    self.reload();
                    String::new()
                }
            }
            ["help", ..] => format!("The following commands are valid at this level:\n{}", master_help()),
            _ => unknown_command(rest),
        };
        self.write(fd, answer.as_bytes());
        self.end_answer(i, false);
    }

    /// After an answer: the blank line, then the prompt in interactive
    /// mode. A worker's answer carries its own blank line; commands the
    /// master proxy consumes itself (`@<n>` alone, `operator`...) print
    /// only the prompt (`forwarded` true for both).
    fn end_answer(&mut self, i: usize, forwarded: bool) {
        let fd = self.sessions[i].fd;
        if self.sessions[i].prompt {
            let p = self.prompt_text(&self.sessions[i]);
            let sep = if forwarded { "" } else { "\n" };
            self.write(fd, format!("{sep}{p}").as_bytes());
        } else if !forwarded {
            self.write(fd, b"\n");
        }
    }

    /// Runs `cmd` on a worker's CLI (a new connection passed over its
    /// socketpair) and returns the answer.
    fn forward(&self, pid: i32, cmd: &str) -> Vec<u8> {
        let Some(w) = self.workers.iter().find(|w| w.pid == pid && w.ipc >= 0) else {
            return Vec::new();
        };
        let mut sv = [0; 2];
        // SAFETY: socketpair fills the two-int array.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        } < 0
        {
            return Vec::new();
        }
        let sent = proxy::cli::getsocks::send_fd(w.ipc, sv[1]);
        close(sv[1]);
        if sent.is_err() {
            close(sv[0]);
            return Vec::new();
        }
        // SAFETY: sv[0] is our new socket; OwnedFd takes it over.
        let s: std::os::unix::net::UnixStream =
            unsafe { <std::os::unix::net::UnixStream as std::os::fd::FromRawFd>::from_raw_fd(sv[0]) };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
        let _ = s.set_write_timeout(Some(std::time::Duration::from_secs(10)));
        let mut s = s;
        let _ = s.write_all(format!("{cmd}\n").as_bytes());
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut out);
        out
    }

    fn show_proc(&self) -> String {
        let up = |ts: u64| {
            let u = now().saturating_sub(ts);
            format!(
                "{}d{:02}h{:02}m{:02}s",
                u / 86400,
                (u % 86400) / 3600,
                (u % 3600) / 60,
                u % 60
            )
        };
        let mut s = format!(
            "#{:<14} {:<15} {:<15} {:<15} {:<15}\n",
            "<PID>", "<type>", "<reloads>", "<uptime>", "<version>"
        );
        s.push_str(&format!(
            "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
            std::process::id(),
            "master",
            format!("{} [failed: {}]", self.reloads, self.failed),
            up(self.start),
            config::features::VERSION
        ));
        s.push_str("# workers\n");
        let workers = || self.workers.iter().filter(|w| w.prog.is_none());
        let programs = || self.workers.iter().filter(|w| w.prog.is_some());
        for w in workers().filter(|w| !w.leaving) {
            s.push_str(&format!(
                "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
                w.pid,
                "worker",
                w.reloads,
                up(w.ts),
                w.version
            ));
        }
        if workers().any(|w| w.leaving) {
            s.push_str("# old workers\n");
            for w in workers().filter(|w| w.leaving) {
                s.push_str(&format!(
                    "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
                    w.pid,
                    "worker",
                    w.reloads,
                    up(w.ts),
                    w.version
                ));
            }
        }
        s.push_str("# programs\n");
        let line = |w: &Proc| {
            format!(
                "{:<15} {:<15} {:<15} {:<15} {:<15}\n",
                w.pid,
                w.prog.as_deref().unwrap_or(""),
                w.reloads,
                up(w.ts),
                "-"
            )
        };
        for w in programs().filter(|w| !w.leaving) {
            s.push_str(&line(w));
        }
        if programs().any(|w| w.leaving) {
            s.push_str("# old programs\n");
            for w in programs().filter(|w| w.leaving) {
                s.push_str(&line(w));
            }
        }
        s
    }
}

const MASTER_CMDS: &[(&str, &str)] = &[
    ("@!<pid>", "send a command to the <pid> process"),
    ("@<relative pid>", "send a command to the <relative pid> process"),
    ("@master", "send a command to the master process"),
    ("operator", "lower the level of the current CLI session to operator"),
    ("reload", "reload haproxy"),
    ("show cli level", "display the level of the current CLI session"),
    ("show proc", "show processes status"),
    ("show version", "show version of the current process"),
    ("user", "lower the level of the current CLI session to user"),
];

fn master_help() -> String {
    let mut s = String::new();
    for (k, v) in MASTER_CMDS {
        s.push_str(&format!("  {k:<40}: {v}\n"));
    }
    s.push_str("  help [<command>]                        : list matching or all commands\n");
    s.push_str("  prompt                                  : toggle interactive mode with prompt\n");
    s.push_str("  quit                                    : disconnect\n");
    s
}

/// An unknown master command: the commands sharing its first word, else
/// all of them (HAProxy ranks by similarity; rhaproxy lists by prefix).
fn unknown_command(words: &[&str]) -> String {
    let first = words.first().copied().unwrap_or("");
    let close: Vec<&(&str, &str)> = MASTER_CMDS
        .iter()
        .filter(|(k, _)| !first.is_empty() && k.split(' ').next() == Some(first))
        .collect();
    if close.is_empty() {
        return format!(
            "Unknown command. Please enter one of the following commands only:\n{}",
            master_help()
        );
    }
    let mut s = String::from("Unknown command, but maybe one of the following ones is a better match:\n");
    for (k, v) in close {
        s.push_str(&format!("  {k:<40}: {v}\n"));
    }
    s.push_str("  help [<command>]                        : list matching or all commands\n");
    s.push_str("  prompt                                  : toggle interactive mode with prompt\n");
    s.push_str("  quit                                    : disconnect\n");
    s
}

fn strsignal(sig: i32) -> String {
    // SAFETY: strsignal returns a pointer to a static or thread-local
    // NUL-terminated string, copied at once.
    unsafe {
        let p = libc::strsignal(sig);
        if p.is_null() {
            return format!("Signal {sig}");
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

fn read_signal(sfd: RawFd) -> Option<i32> {
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
