//! The `rhaproxy` binary: HAProxy's command line, configuration loading and
//! process life cycle. It owns flags, message printing and the start-up
//! sequence; the event loop lives in `reactor`, the proxy logic in `proxy`,
//! the configuration language in `config`.

mod cli;
mod mworker;

pub use cli::Options;
use config::{Diag, Level};
use std::io::Write;
use std::process::exit;

/// Prints diagnostics like HAProxy: on the first warning or alert of the
/// run, two notices (version, executable path) come first; `-q` silences
/// everything.
struct Printer {
    pid: u32,
    quiet: bool,
}

impl Printer {
    fn emit(&mut self, d: &Diag) {
        if self.quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        if matches!(d.level, Level::Alert | Level::Warning) && proxy::claim_startup_header() {
            let _ = write!(err, "{}", proxy::startup_header(self.pid));
        }
        let _ = writeln!(err, "{}", d.render(self.pid));
    }
    fn alert(&mut self, text: impl Into<String>) {
        self.emit(&Diag {
            level: Level::Alert,
            text: text.into(),
        });
    }
}

/// Sends `sig` to each old pid (`-sf`/`-st`), as HAProxy's
/// `tell_old_pids`: a pid that is gone is skipped silently.
fn tell_old_pids(pids: &[i32], sig: i32) -> usize {
    pids.iter()
        // SAFETY: kill(2) has no pointer arguments; the pids were given
        // by the user for exactly this.
        .filter(|&&p| unsafe { libc::kill(p, sig) } == 0)
        .count()
}

/// Leaves after the proxy stopped: a hard stop asked by SIGTERM/SIGINT
/// ends by that signal, as HAProxy 2.6's worker (which leaves them to
/// their default action) does, so a parent sees the same status.
pub(crate) fn leave(code: i32) -> ! {
    if code > 128 {
        let sig = code - 128;
        // SAFETY: restoring the default action and unblocking the signal
        // so that raising it ends the process as the default action does.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::raise(sig);
        }
    }
    exit(code)
}

/// Points stdin, stdout and stderr at /dev/null (a daemon has no tty).
pub(crate) fn stdio_quiet() {
    // SAFETY: open/dup2/close on descriptors this process owns; 0-2 are
    // replaced atomically by dup2.
    unsafe {
        let fd = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            for t in 0..3 {
                libc::dup2(fd, t);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

/// Starts proxying with a loaded configuration, in HAProxy's order: take
/// the old process's sockets (`-x`), bind every listener, create the pid
/// file, tell the old processes to leave (`-sf`/`-st`), go to the
/// background when asked (`-D` / `daemon`, unless `-d`/`-db`; the parent
/// writes the child's pid and exits), then run until stopped.
fn start(mut cfg: config::Config, opts: &Options, out: &mut Printer) -> ! {
    if let Some(n) = opts.maxconn {
        cfg.global.maxconn = Some(n);
    }
    let daemon = (opts.daemon || cfg.global.daemon) && !opts.debug && !opts.foreground;
    let mut old_socks = Vec::new();
    if let Some(x) = opts.old_socket.as_deref().filter(|x| *x != "/dev/null") {
        match proxy::cli::getsocks::fetch(x) {
            Ok(v) => old_socks = v,
            Err(w) => {
                if !out.quiet {
                    proxy::startup_msg("[WARNING]", &w);
                }
                out.alert_plain("Failed to get the sockets from the old process!");
                exit(1);
            }
        }
    }
    let run_opts = proxy::RunOptions {
        nbthread: None,
        old_socks,
    };
    let pidfile = opts.pidfile.clone().or(cfg.global.pidfile.clone().map(Into::into));
    let bound = match proxy::bind(cfg, run_opts) {
        Ok(b) => b,
        Err(e) => {
            for line in e.lines() {
                out.alert_plain(line);
            }
            exit(1)
        }
    };
    let mut pidfd = None;
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
        match std::fs::File::create(p) {
            Ok(f) => pidfd = Some(f),
            Err(_) => {
                out.alert_plain(&format!(
                    "[{}.main()] Cannot create pidfile {}",
                    opts.argv0,
                    p.display()
                ));
                exit(1);
            }
        }
    }
    let sig = if opts.old_terminate {
        libc::SIGTERM
    } else {
        libc::SIGUSR1
    };
    tell_old_pids(&opts.old_pids, sig);
    if daemon {
        // SAFETY: no thread has been started yet (bind() starts none), so
        // fork() duplicates a single-threaded process; the parent only
        // writes the pid file and exits.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            out.alert_plain(&format!("[{}.main()] Cannot fork.", opts.argv0));
            exit(1);
        }
        if pid > 0 {
            if let Some(f) = &mut pidfd {
                let _ = writeln!(f, "{pid}");
            }
            exit(0);
        }
        // SAFETY: detaching from the controlling terminal in the child.
        unsafe {
            libc::setsid();
        }
        stdio_quiet();
        out.quiet = true;
    } else if let Some(f) = &mut pidfd {
        let _ = writeln!(f, "{}", std::process::id());
    }
    drop(pidfd);
    match bound.run() {
        Ok(code) => leave(code),
        Err(e) => {
            for line in e.lines() {
                out.alert_plain(line);
            }
            exit(1)
        }
    }
}

impl Printer {
    /// An alert without the "config : " context (start-up messages).
    fn alert_plain(&mut self, text: &str) {
        if self.quiet {
            return;
        }
        proxy::startup_msg("[ALERT]", text);
    }
}

fn check_condition(cond: &str, out: &mut Printer) -> ! {
    use config::tokenizer::{process_env, split_line, LineCtx, LineErrorKind};
    let ctx = LineCtx {
        file: "",
        line: 0,
        section: "",
        env: &process_env,
    };
    let words = match split_line(cond.as_bytes(), &ctx) {
        Ok(w) => w,
        Err(e) => {
            let msg = match e.kind {
                LineErrorKind::Quote => "Syntax Error in condition: Unmatched quote.",
                LineErrorKind::Hex => "Syntax Error in condition: Truncated or invalid hexadecimal sequence.",
                _ => "Unhandled error in condition, please report this to the developers.",
            };
            out.alert(msg);
            exit(2)
        }
    };
    match config::cond::eval_condition(&words.join(" "), &process_env) {
        Ok(true) => exit(0),
        Ok(false) => exit(1),
        Err(e) => {
            if !e.msg.is_empty() {
                out.alert(format!("Failed to evaluate condition: {}", e.msg));
            }
            exit(2)
        }
    }
}

fn main() {
    let mut args = std::env::args();
    let argv0 = args.next().unwrap_or_else(|| "rhaproxy".into());
    let rest: Vec<String> = args.collect();
    let pid = std::process::id();
    let prog = std::path::Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rhaproxy".into());
    let opts = match cli::parse(&argv0, &rest) {
        cli::Action::Version => {
            print!("{}", cli::version_text());
            exit(0)
        }
        cli::Action::BuildInfo => {
            print!("{}", cli::build_info());
            exit(0)
        }
        cli::Action::Usage(msg) => {
            print!("{}", cli::version_text());
            if let Some(m) = msg {
                eprintln!("{m}");
            }
            eprint!("{}", cli::usage(&prog));
            exit(1)
        }
        cli::Action::Fatal(msg) => {
            eprintln!("{:<11}({pid}) : {msg}", "[ALERT]");
            exit(1)
        }
        cli::Action::Run(o) => *o,
    };
    let mut out = Printer {
        pid,
        quiet: opts.quiet && !opts.verbose,
    };
    if let Some(c) = &opts.check_condition {
        check_condition(c, &mut out);
    }
    if let Some(dir) = &opts.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            out.alert(format!("Cannot chdir to {} : {}", dir.display(), config::io_text(&e)));
            fail_load(&opts);
        }
    }
    let files = match config::expand_paths(&opts.cfg_files) {
        Ok(f) => f,
        Err(m) => {
            out.alert(m);
            fail_load(&opts)
        }
    };
    let lopts = config::LoadOptions {
        ignore_unresolved: opts.ignore_unresolved,
        diag_mode: opts.diag,
        rule_check: Some(proxy::http_act::check_rule_line),
        local_peer: opts.local_peer.clone(),
    };
    let loaded = config::load(&files, &lopts);
    for d in &loaded.diags {
        if d.level == Level::Diag && !opts.diag {
            continue;
        }
        out.emit(d);
    }
    let master = opts.master_worker || loaded.config.global.master_worker;
    if !loaded.config.programs.is_empty() && !master {
        out.alert("Can't use a 'program' section without master worker mode.");
        if !loaded.fatal {
            out.alert("Fatal errors found in configuration.");
        }
        fail_load(&opts);
    }
    if loaded.fatal {
        if !loaded.aborted {
            out.alert("Fatal errors found in configuration.");
        }
        fail_load(&opts);
    }
    if loaded.unresolved {
        fail_load(&opts);
    }
    if loaded.warnings && (opts.zero_warning || loaded.config.global.zero_warning) {
        out.alert("Some warnings were found and 'zero-warning' is set. Aborting.");
        fail_load(&opts);
    }
    let has_listener = loaded.config.has_listener();
    if opts.check {
        if loaded.warnings && !out.quiet {
            println!("Warnings were found.");
        }
        if !has_listener {
            if !out.quiet {
                println!("Configuration file has no error but will not start (no listener) => exit(2).");
            }
            exit(2);
        }
        if !out.quiet {
            println!("Configuration file is valid");
        }
        exit(0);
    }
    if !has_listener {
        out.alert("[haproxy.main()] No enabled listener found (check for 'bind' directives) ! Exiting.");
        fail_load(&opts);
    }
    if master {
        mworker::run(loaded.config, &opts, &mut out)
    }
    let mut cfg = loaded.config;
    // `-L` names the local peer, over the configuration's `localpeer`.
    if let Some(l) = &opts.local_peer {
        cfg.global.localpeer = Some(l.clone());
    }
    start(cfg, &opts, &mut out)
}

/// A configuration that cannot start: exit 1, except in a master
/// re-executed to reload, which keeps its workers (HAProxy's wait mode).
fn fail_load(opts: &Options) -> ! {
    if mworker::is_reexec() && !opts.check {
        mworker::failed_reload(opts)
    }
    exit(1)
}
