//! httpterm: an HTTP/1 origin server that does what its URL asks
//! (`/?s=19k/C=2r`), compatible with wtarreau/httpterm's command line, URL
//! grammar and response bytes. Written from scratch for rhaproxy's test rig.
//!
//! This file owns the command line, listener creation, daemonizing and the
//! threads; it must not parse requests (`url.rs`) nor build responses
//! (`resp.rs`). Differences from the original: `-L` may be repeated (one
//! listener per address), `-t <threads>` (default: one per CPU, each with
//! its own SO_REUSEPORT sockets), `-f <cfg>` is refused, splice is never
//! used (so `-P`, `-dS`, `S=` change nothing).

mod resp;
mod server;
mod url;

use std::ffi::CString;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;

struct Opts {
    listen: Vec<String>,
    daemon: bool,
    debug: bool,
    quiet: bool,
    check: bool,
    maxconn: i64,
    sndbuf: i32,
    pidfile: Option<String>,
    threads: usize,
}

fn usage(name: &str) -> ! {
    eprintln!("HTTPTerm version {} {}", resp::VERSION, resp::DATE);
    eprintln!(
        "Usage : {name} -L [<ip>]:<port> [-L ...] [ -vdVDq ] [ -n <maxconn> ] [ -B <size> ]\n\
         \x20       [ -p <pidfile> ] [ -t <threads> ]\n\
         \x20       -v displays version\n\
         \x20       -d enters debug mode (prints requests); -db only stays in foreground\n\
         \x20       -V verbose mode (disables quiet mode)\n\
         \x20       -D goes daemon, implies -q; -Da = -D -a; -DaL <addr> = -D -a -L <addr>\n\
         \x20       -a accepted for compatibility (threads already use every CPU)\n\
         \x20       -q quiet mode: no messages\n\
         \x20       -c check mode: validate the command line and exit\n\
         \x20       -n maximum number of concurrent connections (default: ulimit -Hn)\n\
         \x20       -m, -P, -de, -dp, -dS accepted and ignored (no memory cap, no splice)\n\
         \x20       -p writes the pid to this file\n\
         \x20       -B kernel socket send buffer size (bytes)\n\
         \x20       -t number of threads (default: one per CPU)\n\
         \x20       -L [<ip>]:<port> adds a listener; may be repeated\n\
         \x20       -f <cfgfile> is not supported by this implementation\n"
    );
    std::process::exit(1);
}

fn parse_args() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let name = args.first().cloned().unwrap_or_else(|| "httpterm".into());
    let mut o = Opts {
        listen: Vec::new(),
        daemon: false,
        debug: false,
        quiet: false,
        check: false,
        maxconn: 0,
        sndbuf: 0,
        pidfile: None,
        threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    };
    let mut verbose = false;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let mut val = || -> String {
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| usage(&name))
        };
        match a {
            "-v" => {
                println!("HTTPTerm version {} {}", resp::VERSION, resp::DATE);
                println!("Reimplemented in Rust for rhaproxy (Apache-2.0 OR MIT)\n");
                std::process::exit(0);
            }
            "-de" | "-dp" | "-dS" | "-a" => {}
            "-db" => {}
            "-d" => o.debug = true,
            "-V" => verbose = true,
            "-c" => o.check = true,
            "-q" => o.quiet = true,
            "-D" | "-Da" => {
                o.daemon = true;
                o.quiet = true;
            }
            "-DaL" => {
                o.daemon = true;
                o.quiet = true;
                o.listen.push(val());
            }
            "-n" => o.maxconn = val().parse().unwrap_or_else(|_| usage(&name)),
            "-t" => o.threads = val().parse().unwrap_or_else(|_| usage(&name)),
            "-B" => o.sndbuf = val().parse().unwrap_or_else(|_| usage(&name)),
            "-p" => o.pidfile = Some(val()),
            "-L" => o.listen.push(val()),
            "-m" | "-P" | "-N" => {
                val();
            }
            "-sf" | "-st" => break, // the remaining pids are ours to ignore
            "-f" => {
                eprintln!("[ALERT] {name}: configuration files (-f) are not supported, use -L [<ip>]:<port>");
                std::process::exit(1);
            }
            _ => usage(&name),
        }
        i += 1;
    }
    if verbose {
        o.quiet = false;
    }
    if o.listen.is_empty() {
        usage(&name);
    }
    o.threads = o.threads.max(1);
    o
}

/// `[<ip>]:<port>`: empty or `*` = any IPv4 address; IPv6 with or without
/// brackets (the last colon separates the port).
fn parse_addr(s: &str) -> Option<std::net::SocketAddr> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: std::net::IpAddr = if host.is_empty() || host == "*" {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else {
        host.parse().ok()?
    };
    Some(std::net::SocketAddr::new(ip, port))
}

fn sockaddr(a: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        std::net::SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and suitably aligned
            // for a sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            std::mem::size_of::<libc::sockaddr_in>()
        }
        std::net::SocketAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// One listening socket with SO_REUSEPORT so every thread can bind its own.
fn bind(a: &std::net::SocketAddr) -> Result<(i32, u16), String> {
    let fam = if a.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: socket/setsockopt/bind/listen on a descriptor we create here;
    // every pointer argument refers to a local that outlives the call.
    unsafe {
        let fd = libc::socket(fam, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(format!("socket: {}", std::io::Error::last_os_error()));
        }
        let one: i32 = 1;
        let p = &one as *const i32 as *const libc::c_void;
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, p, 4);
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, p, 4);
        let (ss, len) = sockaddr(a);
        if libc::bind(fd, &ss as *const _ as *const libc::sockaddr, len) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(format!("cannot bind {a}: {e}"));
        }
        if libc::listen(fd, 4096) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(format!("cannot listen on {a}: {e}"));
        }
        let mut got: libc::sockaddr_storage = std::mem::zeroed();
        let mut glen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getsockname(fd, &mut got as *mut _ as *mut libc::sockaddr, &mut glen);
        let port = if a.is_ipv4() {
            u16::from_be((*(&got as *const _ as *const libc::sockaddr_in)).sin_port)
        } else {
            u16::from_be((*(&got as *const _ as *const libc::sockaddr_in6)).sin6_port)
        };
        Ok((fd, port))
    }
}

fn raise_nofile() -> i64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit with a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        l.rlim_cur = l.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
    }
    if l.rlim_cur == libc::RLIM_INFINITY {
        1 << 20
    } else {
        l.rlim_cur as i64
    }
}

/// Goes to the background. The parent writes the child's pid to the pid
/// file before it exits (as HAProxy does), so the file is complete as soon
/// as the command returns.
fn daemonize(pidfile: Option<&str>) {
    // SAFETY: called before any thread is started, so fork() duplicates a
    // single-threaded process; the parent only writes the pid file and
    // exits without running destructors that could touch shared state.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!("[ALERT] cannot fork");
                std::process::exit(1)
            }
            0 => {}
            child => {
                if let Some(p) = pidfile {
                    let _ = std::fs::write(p, format!("{child}\n"));
                }
                libc::_exit(0)
            }
        }
        libc::setsid();
        let devnull = CString::new("/dev/null").unwrap();
        let fd = libc::open(devnull.as_ptr(), libc::O_RDWR);
        if fd >= 0 {
            libc::dup2(fd, 0);
            libc::dup2(fd, 1);
            libc::dup2(fd, 2);
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
}

fn main() {
    let o = parse_args();
    let mut addrs = Vec::new();
    for l in &o.listen {
        match parse_addr(l) {
            Some(a) => addrs.push(a),
            None => {
                eprintln!("[ALERT] invalid listen address '{l}'");
                std::process::exit(1);
            }
        }
    }
    if o.check {
        if !o.quiet {
            println!("Configuration file is valid : command line");
        }
        std::process::exit(0);
    }
    // SAFETY: ignoring SIGPIPE process-wide before threads start; writes to
    // closed sockets then fail with EPIPE instead of killing us.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let nofile = raise_nofile();
    let maxconn = if o.maxconn > 0 { o.maxconn } else { nofile };

    // Bind everything before forking so that errors reach the terminal and
    // a kernel-chosen port (`:0`) is the same for every thread.
    let mut per_thread: Vec<Vec<i32>> = vec![Vec::new(); o.threads];
    for a in addrs.iter_mut() {
        for (t, socks) in per_thread.iter_mut().enumerate() {
            match bind(a) {
                Ok((fd, port)) => {
                    if t == 0 {
                        a.set_port(port);
                    }
                    socks.push(fd);
                }
                Err(e) => {
                    eprintln!("[ALERT] Starting proxy dummy: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    if o.daemon {
        daemonize(o.pidfile.as_deref());
    } else if let Some(p) = &o.pidfile {
        let _ = std::fs::write(p, format!("{}\n", std::process::id()));
    }
    let shared = Arc::new(server::Shared {
        patterns: resp::Patterns::new(std::process::id() as u64 * 0x9E37_79B9),
        help: resp::help_page(),
        maxconn,
        actconn: AtomicI64::new(0),
        debug: o.debug && !o.daemon,
        sndbuf: o.sndbuf,
    });
    let seed = server::now_ms() ^ ((std::process::id() as u64) << 20);
    let mut socks = per_thread.into_iter();
    let main_socks = socks.next().unwrap();
    for (t, s) in socks.enumerate() {
        let sh = shared.clone();
        std::thread::Builder::new()
            .name(format!("httpterm-{}", t + 1))
            .spawn(move || server::Worker::new(sh, s, seed.wrapping_mul(t as u64 + 2)).run())
            .expect("spawn thread");
    }
    server::Worker::new(shared, main_socks, seed).run();
}
