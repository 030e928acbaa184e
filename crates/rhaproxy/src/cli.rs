//! HAProxy's command line: flag parsing into [`Options`], the usage text,
//! `-v`/`-vv` output. Owns argument syntax only; loading configuration and
//! starting the proxy are `main`'s.

use std::path::PathBuf;

/// What the command line asked for. The lead passes this to `proxy::run`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-f` files and directories, and files after `--`, in order.
    pub cfg_files: Vec<PathBuf>,
    /// `-C <dir>`: chdir before loading files.
    pub chdir: Option<PathBuf>,
    /// `-c`: check only.
    pub check: bool,
    /// `-cc <cond>`: evaluate a condition and exit.
    pub check_condition: Option<String>,
    /// `-d`: debug mode (foreground, traces on stderr).
    pub debug: bool,
    /// `-db`: do not go to background.
    pub foreground: bool,
    /// `-D`: daemon mode.
    pub daemon: bool,
    /// `-p <file>`: pid file.
    pub pidfile: Option<PathBuf>,
    /// `-q`: quiet.
    pub quiet: bool,
    /// `-V`: verbose (cancels quiet).
    pub verbose: bool,
    /// `-n <maxconn>`.
    pub maxconn: Option<u32>,
    /// `-N <maxpconn>`: default per-proxy maxconn.
    pub default_proxy_maxconn: Option<u32>,
    /// `-m <megs>`: memory limit.
    pub mem_limit_mb: Option<u64>,
    /// `-L <name>`: local peer name.
    pub local_peer: Option<String>,
    /// `-de`: no epoll.
    pub no_epoll: bool,
    /// `-dp`: no poll.
    pub no_poll: bool,
    /// `-dS`: no splice.
    pub no_splice: bool,
    /// `-dG`: no getaddrinfo.
    pub no_getaddrinfo: bool,
    /// `-dR`: no SO_REUSEPORT.
    pub no_reuseport: bool,
    /// `-dr`: ignore server name resolution failures.
    pub ignore_unresolved: bool,
    /// `-dV`: no SSL verify on servers.
    pub no_ssl_verify: bool,
    /// `-dW`: warnings are fatal (zero-warning).
    pub zero_warning: bool,
    /// `-dD`: diagnostic mode.
    pub diag: bool,
    /// `-dL`: dump loaded libraries.
    pub dump_libs: bool,
    /// `-dM[...]`: memory debugging options as given.
    pub debug_mem: Option<String>,
    /// `-dK<classes>`: dump keywords.
    pub dump_keywords: Option<String>,
    /// `-sf`/`-st <pid>*`: processes to tell to leave once we listen.
    pub old_pids: Vec<i32>,
    /// `-st` (terminate them) rather than `-sf` (let them finish).
    pub old_terminate: bool,
    /// `-x <socket>`: take the listening sockets of the old process.
    pub old_socket: Option<String>,
    /// `-W`/`-Ws`: master-worker mode.
    pub master_worker: bool,
    /// `-Ws`: tell systemd (NOTIFY_SOCKET) about readiness and reloads.
    pub systemd: bool,
    /// `-S <bind>[,<options>]`: master CLI sockets.
    pub master_cli: Vec<String>,
    /// Program name (argv[0]).
    pub argv0: String,
}

/// What to do after parsing flags.
#[derive(Debug)]
pub enum Action {
    Run(Box<Options>),
    Version,
    BuildInfo,
    /// Usage on stderr, exit 1; optional alert first.
    Usage(Option<String>),
    /// A bad argument: alert text, exit 1 (no usage).
    Fatal(String),
}

/// Parses argv (without argv[0]).
pub fn parse(argv0: &str, args: &[String]) -> Action {
    let mut o = Options {
        argv0: argv0.to_string(),
        ..Options::default()
    };
    let mut i = 0;
    let mut version = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let next = |i: usize| args.get(i + 1).cloned();
        if !a.starts_with('-') || a == "-" {
            // bare words after options are config files, as HAProxy allows
            o.cfg_files.push(PathBuf::from(a));
            i += 1;
            continue;
        }
        match a {
            "--" => {
                o.cfg_files.extend(args[i + 1..].iter().map(PathBuf::from));
                break;
            }
            "-v" => version = version.max(1),
            "-vv" => version = 2,
            "-V" => o.verbose = true,
            "-d" => o.debug = true,
            "-db" => o.foreground = true,
            "-D" => o.daemon = true,
            "-q" => o.quiet = true,
            "-c" => o.check = true,
            "-de" => o.no_epoll = true,
            "-dp" => o.no_poll = true,
            "-dS" => o.no_splice = true,
            "-dG" => o.no_getaddrinfo = true,
            "-dR" => o.no_reuseport = true,
            "-dr" => o.ignore_unresolved = true,
            "-dV" => o.no_ssl_verify = true,
            "-dW" => o.zero_warning = true,
            "-dD" => o.diag = true,
            "-dL" => o.dump_libs = true,
            "-W" => o.master_worker = true,
            "-Ws" => {
                o.master_worker = true;
                o.systemd = true;
            }
            "-sf" | "-st" => {
                o.old_terminate = a == "-st";
                // Every following word up to the next option is a pid.
                while let Some(w) = args.get(i + 1).filter(|w| !w.starts_with('-')) {
                    let digits = w.trim_start();
                    let end = digits
                        .char_indices()
                        .find(|&(k, c)| !(c.is_ascii_digit() || (k == 0 && c == '+')))
                        .map_or(digits.len(), |(k, _)| k);
                    if !digits[end..].trim().is_empty() {
                        return Action::Fatal(format!(
                            "{a} option: some bytes unconsumed in PID list {{{}}}",
                            &digits[end..]
                        ));
                    }
                    match digits[..end].parse::<i64>() {
                        Ok(p) if p > 0 && p <= i64::from(i32::MAX) => o.old_pids.push(p as i32),
                        Ok(p) if p > 0 => {
                            return Action::Fatal(format!(
                                "{a} option: failed to parse {{{w}}}: Numerical result out of range"
                            ))
                        }
                        _ => return Action::Usage(None),
                    }
                    i += 1;
                }
            }
            "-x" => {
                let Some(v) = next(i) else {
                    return Action::Usage(Some(alert_line("Unix socket path expected with the -x flag\n")));
                };
                o.old_socket = Some(v);
                i += 2;
                continue;
            }
            "-S" => {
                let Some(v) = next(i).filter(|v| !v.starts_with('-')) else {
                    return Action::Usage(None);
                };
                o.master_cli.push(v);
                i += 2;
                continue;
            }
            "-cc" | "-f" | "-C" | "-p" | "-n" | "-N" | "-m" | "-L" => {
                let Some(v) = next(i) else {
                    return Action::Usage(None);
                };
                match a {
                    "-cc" => o.check_condition = Some(v),
                    "-f" => o.cfg_files.push(PathBuf::from(v)),
                    "-C" => o.chdir = Some(PathBuf::from(v)),
                    "-p" => o.pidfile = Some(PathBuf::from(v)),
                    "-n" => o.maxconn = Some(config::units::atol(&v).max(0) as u32),
                    "-N" => o.default_proxy_maxconn = Some(config::units::atol(&v).max(0) as u32),
                    "-m" => o.mem_limit_mb = Some(config::units::atol(&v).max(0) as u64),
                    _ => o.local_peer = Some(v),
                }
                i += 2;
                continue;
            }
            _ if a.starts_with("-dM") => o.debug_mem = Some(a[3..].to_string()),
            _ if a.starts_with("-dK") => o.dump_keywords = Some(a[3..].to_string()),
            _ => return Action::Usage(None),
        }
        i += 1;
    }
    if version == 2 {
        return Action::BuildInfo;
    }
    if version == 1 {
        return Action::Version;
    }
    if o.cfg_files.is_empty() && o.check_condition.is_none() && o.dump_keywords.is_none() {
        return Action::Usage(None);
    }
    Action::Run(Box::new(o))
}

/// An `[ALERT]` line as HAProxy prints it before the usage text.
fn alert_line(text: &str) -> String {
    format!("{:<11}({}) : {text}", "[ALERT]", std::process::id())
}

/// The version banner (first lines of `-v` and `-vv`).
pub fn version_text() -> String {
    let uname = uname();
    format!(
        "HAProxy version {} 2026/11/24 - https://github.com/rhaproxy\nStatus: rhaproxy, a Rust re-implementation of HAProxy {} (early).\nKnown bugs: see docs/feature-matrix.md\nRunning on: {uname}\n",
        config::features::VERSION,
        config::features::HAPROXY_VERSION,
    )
}

fn uname() -> String {
    // SAFETY: utsname is plain old data; uname(2) fills it and we only read
    // NUL-terminated fields afterwards.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "unknown".into();
        }
        let f = |p: &[libc::c_char]| std::ffi::CStr::from_ptr(p.as_ptr()).to_string_lossy().into_owned();
        format!(
            "{} {} {} {}",
            f(&u.sysname),
            f(&u.release),
            f(&u.version),
            f(&u.machine)
        )
    }
}

/// `-vv`: HAProxy's layout, listing only what rhaproxy has.
pub fn build_info() -> String {
    let mut s = version_text();
    s.push_str("Build options :\n");
    s.push_str("  TARGET  = linux-glibc\n");
    s.push_str("  CPU     = generic\n");
    s.push_str("  CC      = rustc\n");
    s.push_str(&format!(
        "  CFLAGS  = (cargo {} profile)\n",
        if cfg!(debug_assertions) { "dev" } else { "release" }
    ));
    s.push_str("  OPTIONS = \n");
    s.push_str("  DEBUG   = \n\n");
    s.push_str(&format!("Feature list : {}\n\n", config::features::BUILD_FEATURES));
    s.push_str("Default settings :\n  bufsize = 16384, maxrewrite = 1024, maxpollevents = 200\n\n");
    s.push_str(&format!(
        "Built with multi-threading support (MAX_THREADS={}, default=1).\n",
        config::features::MAX_THREADS
    ));
    // TLS is rustls, not OpenSSL: the feature is there (+OPENSSL gates
    // HAProxy's TLS reg-tests), the library lines say which one it is.
    s.push_str("Built with SSL library version : rustls 0.23 (ring crypto provider), not OpenSSL\n");
    s.push_str("SSL library supports TLS extensions : yes\n");
    s.push_str("SSL library supports SNI : yes\n");
    s.push_str("SSL library supports : TLSv1.2 TLSv1.3\n");
    s.push_str("Built with the Prometheus exporter as a service\n");
    s.push_str("Built without PCRE or PCRE2 support (using libc's regex instead)\n");
    s.push_str("Built without compression support (neither USE_ZLIB nor USE_SLZ are set).\n");
    s.push_str("Compression algorithms supported : identity(\"identity\")\n\n");
    s.push_str("Available polling systems :\n      epoll : pref=300,  test result OK\nTotal: 1 (1 usable), will use epoll.\n\n");
    s.push_str("Available multiplexer protocols :\n(protocols marked as <default> cannot be specified using 'proto' keyword)\n");
    s.push_str("  <default> : mode=HTTP  side=FE|BE  mux=H1    flags=HTX\n");
    s.push_str("         h1 : mode=HTTP  side=FE|BE  mux=H1    flags=HTX|NO_UPG\n");
    s.push_str("  <default> : mode=TCP   side=FE|BE  mux=PASS  flags=\n");
    s.push_str("       none : mode=TCP   side=FE|BE  mux=PASS  flags=NO_UPG\n\n");
    s.push_str(&format!("Available services : {}\n", config::features::SERVICES));
    s.push_str("Available filters : none\n");
    s
}

/// HAProxy's usage text, with our program name.
pub fn usage(name: &str) -> String {
    let pad = " ".repeat(name.len());
    format!(
        "Usage : {name} [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
        {pad}[ -p <pidfile> ] [ -m <max megs> ] [ -C <dir> ] [-- <cfgfile>*]
        -v displays version ; -vv shows known build options.
        -d enters debug mode ; -db only disables background mode.
        -dM[<byte>,help,...] debug memory (default: poison with <byte>/0x50)
        -V enters verbose mode (disables quiet mode)
        -D goes daemon ; -C changes to <dir> before loading files.
        -W master-worker mode.
        -Ws master-worker mode with systemd notify support.
        -q quiet mode : don't display messages
        -c check mode : only check config files and exit
        -cc check condition : evaluate a condition and exit
        -n sets the maximum total # of connections (uses ulimit -n)
        -m limits the usable amount of memory (in MB)
        -N sets the default, per-proxy maximum # of connections (0)
        -L set local peer name (default to hostname)
        -p writes pids of all children to this file
        -de disables epoll() usage even when available
        -dp disables poll() usage even when available
        -dS disables splice usage (broken on old kernels)
        -dG disables getaddrinfo() usage
        -dR disables SO_REUSEPORT usage
        -dL dumps loaded object files after config checks
        -dK{{class[,...]}} dump registered keywords (use 'help' for list)
        -dr ignores server address resolution failures
        -dV disables SSL verify on servers side
        -dW fails if any warning is emitted
        -dD diagnostic mode : warn about suspicious configuration statements
        -sf/-st [pid ]* finishes/terminates old pids.
        -x <unix_socket> get listening sockets from a unix socket
        -S <bind>[,<bind options>...] new master CLI

"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    fn p(a: &[&str]) -> Action {
        parse("rhaproxy", &a.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }
    #[test]
    fn flags() {
        match p(&["-c", "-f", "a.cfg", "-f", "dir", "-dr", "-q", "--", "b.cfg", "c.cfg"]) {
            Action::Run(o) => {
                assert!(o.check && o.ignore_unresolved && o.quiet);
                assert_eq!(
                    o.cfg_files,
                    vec![PathBuf::from("a.cfg"), "dir".into(), "b.cfg".into(), "c.cfg".into()]
                );
            }
            a => panic!("{a:?}"),
        }
        assert!(matches!(p(&["-v"]), Action::Version));
        assert!(matches!(p(&["-vv"]), Action::BuildInfo));
        assert!(matches!(p(&["-Z"]), Action::Usage(_)));
        assert!(matches!(p(&["-f"]), Action::Usage(_)));
        match p(&["-f", "x", "-sf", "12", "34", "-x", "/s"]) {
            Action::Run(o) => {
                assert_eq!(o.old_pids, vec![12, 34]);
                assert!(!o.old_terminate);
                assert_eq!(o.old_socket.as_deref(), Some("/s"));
                assert_eq!(o.cfg_files, vec![PathBuf::from("x")]);
            }
            a => panic!("{a:?}"),
        }
        match p(&["-st", "-f", "x"]) {
            Action::Run(o) => assert!(o.old_pids.is_empty() && o.old_terminate),
            a => panic!("{a:?}"),
        }
        assert!(matches!(p(&["-f", "x", "-sf", "0"]), Action::Usage(_)));
        assert!(matches!(p(&["-f", "x", "-sf", "12ab"]), Action::Fatal(_)));
        assert!(matches!(p(&["-f", "x", "-x"]), Action::Usage(Some(_))));
        match p(&["-Ws", "-S", "/m,level operator", "-f", "x"]) {
            Action::Run(o) => {
                assert!(o.master_worker && o.systemd);
                assert_eq!(o.master_cli, vec!["/m,level operator".to_string()]);
            }
            a => panic!("{a:?}"),
        }
        match p(&["-cc", "1"]) {
            Action::Run(o) => assert_eq!(o.check_condition.as_deref(), Some("1")),
            a => panic!("{a:?}"),
        }
        match p(&["-db", "-p", "/tmp/p", "-D", "-f", "x"]) {
            Action::Run(o) => assert!(o.foreground && o.daemon && o.pidfile.is_some()),
            a => panic!("{a:?}"),
        }
    }
    #[test]
    fn vv_lists_features() {
        let s = build_info();
        assert!(s.starts_with("HAProxy version 2.6.12-rhaproxy-"));
        assert!(s.contains("  TARGET  = linux-glibc\n"));
        assert!(s.contains("Feature list : ") && s.contains("+EPOLL") && s.contains("+OPENSSL"));
        assert!(s.contains("Available services : prometheus-exporter"));
    }
}
