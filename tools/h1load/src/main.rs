//! h1load: an HTTP/1 load generator compatible with wtarreau/h1load's
//! command line and output (one line per second, `-l`/`-ll` long forms,
//! `-S` status classes, `-P` percentiles). Written from scratch for
//! rhaproxy's test rig.
//!
//! This file owns the command line, the request bytes, the threads and
//! stdout; the per-connection engine is `worker.rs`, number formats are
//! `fmt.rs`. Differences from the original: no TLS (`https://` is refused),
//! and `-e` makes the exit status 1 when it stopped the run.

mod fmt;
mod worker;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;
use worker::{Config, Shared, Stats, DUR_OVER, ENDING, STOP_ALL};

fn die(msg: &str) -> ! {
    eprint!("{msg}");
    std::process::exit(1);
}

fn usage(name: &str, code: i32) -> ! {
    eprint!(
        "Usage: {name} [option]* URL\n\
         \n\
         Options:\n\
         \x20 -d <time>          test duration in seconds (0 = until -n or Ctrl-C)\n\
         \x20 -c <conn>          concurrent connections (1)\n\
         \x20 -n <reqs>          total requests to send (-1 = no limit)\n\
         \x20 -r <reqs>          requests per connection (-1 = no limit)\n\
         \x20 -s <time>          soft start: seconds to ramp up to full load\n\
         \x20 -t <threads>       worker threads (1), at most the connection count\n\
         \x20 -w <time>          I/O timeout in milliseconds (-1 = none)\n\
         \x20 -T <time>          think time in ms after each response (0)\n\
         \x20 -R <rate>          cap request attempts per second (0 = no cap)\n\
         \x20 -H \"name: value\"   extra request header (repeatable; Host: replaces ours)\n\
         \x20 -O extra/payload   count <extra> overhead bytes per <payload> bytes\n\
         \x20 -l                 long output; -ll: raw numbers\n\
         \x20 -A                 leave each connection's first request out of timings\n\
         \x20 -P                 print ttfb/ttlb percentiles at the end\n\
         \x20 -e                 stop at the first connection error (exit status 1)\n\
         \x20 -F                 merge the first send() with the connect ACK\n\
         \x20 -I                 send HEAD instead of GET\n\
         \x20 -S                 show the HTTP status class distribution\n\
         \x20 -h                 this help\n\
         \x20 -v                 more verbose (errors on stderr)\n\
         URL: [http://]<host>:<port>[/path]   (host 0 = local host)\n\n"
    );
    std::process::exit(code);
}

struct Args {
    dura: u64,
    conn: usize,
    reqs: i64,
    rcon: i64,
    slow_ms: u64,
    thrd: usize,
    wait: i64,
    think: u64,
    rate: u64,
    hdrs: String,
    has_host: bool,
    ovre: u64,
    ovrp: u64,
    long: u32,
    accu: bool,
    pctl: bool,
    serr: bool,
    fast: bool,
    head: bool,
    hscd: bool,
    verb: u32,
    url: String,
}

fn atoi(s: &str) -> i64 {
    // C's atoi/atol: leading digits, 0 when none.
    let t = s.trim_start();
    let (neg, d) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let v = d
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .fold(0i64, |a, c| a.saturating_mul(10).saturating_add(c as i64 - '0' as i64));
    if neg {
        -v
    } else {
        v
    }
}

fn parse_args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let name = argv.first().cloned().unwrap_or_else(|| "h1load".into());
    let mut a = Args {
        dura: 0,
        conn: 1,
        reqs: -1,
        rcon: -1,
        slow_ms: 0,
        thrd: 1,
        wait: -1,
        think: 0,
        rate: 0,
        hdrs: String::new(),
        has_host: false,
        ovre: 0,
        ovrp: 0,
        long: 0,
        accu: false,
        pctl: false,
        serr: false,
        fast: false,
        head: false,
        hscd: false,
        verb: 0,
        url: String::new(),
    };
    let mut i = 1;
    while i < argv.len() && argv[i].starts_with('-') {
        let o = argv[i].as_str();
        let mut val = || -> String {
            i += 1;
            argv.get(i).cloned().unwrap_or_else(|| usage(&name, 1))
        };
        match o {
            "-c" => a.conn = atoi(&val()).max(0) as usize,
            "-H" => {
                let h = val();
                if h.len() >= 5 && h[..5].eq_ignore_ascii_case("host:") {
                    a.has_host = true;
                }
                a.hdrs.push_str(&h);
                a.hdrs.push_str("\r\n");
            }
            "-n" => a.reqs = atoi(&val()),
            "-r" => a.rcon = atoi(&val()),
            "-s" => a.slow_ms = (val().parse::<f64>().unwrap_or(0.0) * 1000.0).max(0.0) as u64,
            "-t" => a.thrd = atoi(&val()).max(0) as usize,
            "-w" => a.wait = atoi(&val()),
            "-O" => {
                let v = val();
                let (e, p) = v.split_once('/').unwrap_or_else(|| usage(&name, 1));
                a.ovre = atoi(e).max(0) as u64;
                a.ovrp = atoi(p).max(0) as u64;
            }
            "-T" => a.think = atoi(&val()).max(0) as u64,
            "-R" => a.rate = atoi(&val()).max(0) as u64,
            "-d" => a.dura = atoi(&val()).max(0) as u64,
            "-l" => a.long += 1,
            "-ll" => a.long = 2,
            "-A" => a.accu = true,
            "-P" => a.pctl = true,
            "-e" => a.serr = true,
            "-F" => a.fast = true,
            "-I" => a.head = true,
            "-v" => a.verb += 1,
            "-S" => a.hscd = true,
            "-h" => usage(&name, 0),
            _ => usage(&name, 1),
        }
        i += 1;
    }
    if a.thrd > a.conn {
        die("Thread count must not exceed connection count\n");
    }
    if i >= argv.len() {
        usage(&name, 1);
    }
    if i + 1 < argv.len() {
        die(&format!("Unhandled extraneous argument '{}' after URL.\n", argv[i + 1]));
    }
    a.url = argv[i].clone();
    a
}

/// `[http://]host:port[/path]` → (host text, socket address, path).
fn parse_url(url: &str) -> (String, libc::sockaddr_storage, libc::socklen_t, String) {
    if url.starts_with("https://") {
        die("SSL support was disabled at build time\n");
    }
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.contains('?') {
        die(&format!(
            "'?' found before a '/' ({host}). Did you forget the path in url?\n"
        ));
    }
    let (h, port) = match host.rsplit_once(':') {
        Some(x) => x,
        None => die(&format!("Missing port number: '{host}'\n")),
    };
    let port = atoi(port) as u16;
    let h6 = h.trim_start_matches('[').trim_end_matches(']');
    // SAFETY: all-zero sockaddr_storage is valid plain data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len;
    let ip: std::net::IpAddr = if h6.contains(':') {
        match h6.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => v6.into(),
            Err(_) => die(&format!("Invalid server address: '{h}'\n")),
        }
    } else if h.is_empty() || h == "*" {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    } else if let Ok(v4) = h.parse::<std::net::Ipv4Addr>() {
        v4.into()
    } else if h.chars().all(|c| c.is_ascii_digit()) {
        // inet_pton refuses "0"; the original then resolves it, which
        // glibc maps to 0.0.0.0, i.e. the local host on Linux.
        std::net::Ipv4Addr::from(atoi(h) as u32).into()
    } else {
        use std::net::ToSocketAddrs;
        match (h, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut i| i.find(|a| a.is_ipv4()))
        {
            Some(a) => a.ip(),
            None => die(&format!("Invalid server name: '{h}'\n")),
        }
    };
    match ip {
        std::net::IpAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for
            // sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_port = port.to_be();
            sin.sin_addr.s_addr = u32::from(v4).to_be();
            len = std::mem::size_of::<libc::sockaddr_in>();
        }
        std::net::IpAddr::V6(v6) => {
            // SAFETY: as above for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_port = port.to_be();
            sin6.sin6_addr.s6_addr = v6.octets();
            len = std::mem::size_of::<libc::sockaddr_in6>();
        }
    }
    (h.to_string(), ss, len as libc::socklen_t, path.to_string())
}

fn raise_nofile() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: get/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        if l.rlim_max != libc::RLIM_INFINITY {
            l.rlim_cur = l.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) == -1 {
                eprintln!("Warning: couldn't raise the NOFILE limit to {}", l.rlim_max as u32);
            }
        }
    }
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

static SIGINT_SEEN: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_sigint(_: libc::c_int) {
    SIGINT_SEEN.store(1, Relaxed);
    // SAFETY: signal() is async-signal-safe; a second Ctrl-C kills us.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_DFL) };
}

#[derive(Default, Clone, Copy)]
struct Totals {
    cur_conn: u64,
    tot_conn: u64,
    tot_req: u64,
    tot_err: u64,
    tot_rcvd: u64,
    ttfb: u64,
    ttlb: u64,
    fbs: u64,
    lbs: u64,
    sc: [u64; 5],
}

fn totals(stats: &[Stats]) -> Totals {
    let mut t = Totals::default();
    for s in stats {
        t.cur_conn += s.curconn.load(Acquire);
        t.tot_conn += s.tot_conn.load(Acquire);
        t.tot_req += s.tot_done.load(Acquire);
        t.tot_err += s.tot_err.load(Acquire);
        t.tot_rcvd += s.tot_rcvd.load(Acquire);
        t.ttfb += s.tot_ttfb.load(Acquire);
        t.ttlb += s.tot_ttlb.load(Acquire);
        t.fbs += s.tot_fbs.load(Acquire);
        t.lbs += s.tot_lbs.load(Acquire);
        for i in 0..5 {
            t.sc[i] += s.tot_sc[i].load(Acquire);
        }
    }
    t
}

struct Reporter {
    prev: Totals,
    /// (monotonic ms, epoch s) of the previous line; None before the first.
    prev_date: Option<(u64, u64)>,
    start_ms: u64,
    long: u32,
    hscd: bool,
    ovre: u64,
    ovrp: u64,
}

impl Reporter {
    /// One output line; `last` = the final call after the workers stopped.
    fn line(&mut self, sh: &Shared, last: bool) {
        let t = totals(&sh.stats);
        let now_ms = worker::now_us() / 1000;
        let now_s = epoch_secs();
        if last {
            if let Some((pms, _)) = self.prev_date {
                let same_sec = (now_ms - self.start_ms) / 1000 == (pms - self.start_ms) / 1000;
                if same_sec
                    && t.tot_conn == self.prev.tot_conn
                    && t.tot_req == self.prev.tot_req
                    && t.tot_rcvd == self.prev.tot_rcvd
                {
                    return;
                }
            }
        }
        let interval = match self.prev_date {
            Some((pms, _)) => (now_ms.saturating_sub(pms)) as f64 / 1000.0,
            None => 1.0,
        };
        let interval = if interval <= 0.0 { 0.001 } else { interval };
        let p = &self.prev;
        let mut out = String::with_capacity(160);
        let time = if self.long > 0 {
            now_s
        } else {
            (now_ms - self.start_ms) / 1000
        };
        out.push_str(&format!(
            "{:10} {:5} {:8} {:8} {:14} {:6} ",
            time, t.cur_conn, t.tot_conn, t.tot_req, t.tot_rcvd, t.tot_err
        ));
        let mut bytes = t.tot_rcvd - p.tot_rcvd;
        if let Some(small) = bytes
            .checked_next_multiple_of(self.ovrp)
            .and_then(|m| m.checked_div(self.ovrp))
        {
            let small = small.max(t.tot_req - p.tot_req);
            bytes += small * self.ovre;
        }
        let cps = (t.tot_conn - p.tot_conn) as f64 / interval;
        let rps = (t.tot_req - p.tot_req) as f64 / interval;
        let bps = bytes as f64 / interval;
        if self.long >= 2 {
            let thr = sh.throttle.load(Relaxed);
            let thr = if thr == 0 {
                100
            } else {
                ((100u64 * thr as u64) >> 32) as u32
            };
            out.push_str(&format!("{thr:3} {cps:.1} {rps:.1} {bps:.1} {:.1} ", bps * 8.0));
            let fb = t.fbs - p.fbs;
            out.push_str(&if fb > 0 {
                format!("{:.1} ", (t.ttfb - p.ttfb) as f64 / fb as f64)
            } else {
                "- ".into()
            });
            let lb = t.lbs - p.lbs;
            out.push_str(&if lb > 0 {
                format!("{:.1} ", (t.ttlb - p.ttlb) as f64 / lb as f64)
            } else {
                "- ".into()
            });
        } else {
            out.push_str(&format!("{} {} ", fmt::human_number(cps), fmt::human_number(rps)));
            if self.long > 0 {
                out.push_str(&format!("{} ", fmt::human_number(bps)));
            }
            out.push_str(&format!("{} ", fmt::human_number(bps * 8.0)));
            let fb = t.fbs - p.fbs;
            out.push_str(&format!(
                "{} ",
                if fb == 0 {
                    "   -  ".to_string()
                } else {
                    fmt::short_delay((t.ttfb - p.ttfb) as f64 / fb as f64)
                }
            ));
            if self.long > 0 {
                let lb = t.lbs - p.lbs;
                out.push_str(&format!(
                    "{} ",
                    if lb == 0 {
                        "   -  ".to_string()
                    } else {
                        fmt::short_delay((t.ttlb - p.ttlb) as f64 / lb as f64)
                    }
                ));
            }
        }
        if self.hscd {
            for i in 0..5 {
                out.push_str(&format!("{:3} ", t.sc[i] - p.sc[i]));
            }
        }
        println!("{out}");
        self.prev = t;
        self.prev_date = Some((now_ms, now_s));
    }
}

/// The `-P` table, with the original's percentile points (accumulated in
/// floating point exactly as it does, so the printed values match).
fn report_percentiles(ttfb: &[u64], ttlb: &[u64]) {
    let mut points = Vec::new();
    let mut pct = 0.1f64;
    let steps: [(f64, f64); 14] = [
        (0.5, 0.1),
        (0.8, 0.05),
        (0.9, 0.02),
        (0.95, 0.01),
        (0.99, 0.005),
        (0.995, 0.001),
        (0.999, 0.0005),
        (0.9995, 0.0001),
        (0.9999, 0.00005),
        (0.99995, 0.00001),
        (0.99999, 0.000005),
        (0.999995, 0.000005),
        (0.999999, 0.000004),
        (1.0, 0.000001),
    ];
    for (lim, step) in steps {
        while pct < lim {
            points.push(pct);
            pct += step;
        }
    }
    let tot_fb: u64 = ttfb.iter().sum();
    let tot_lb: u64 = ttlb.iter().sum();
    println!("#======= Percentiles for time-to-first-byte and time-to-last-byte =======");
    println!("# use $3:$5 $3:$7 with logscale X");
    println!("# $1     $2      $3         $4       $5         $6       $7");
    println!("#pctl   tail   invtail   ttfbcnt ttfb(ms)   ttlbcnt ttlb(ms)");
    let (mut cur_fb, mut cur_lb, mut fi, mut li) = (0u64, 0u64, 0usize, 0usize);
    for &pt in &points {
        while fi < 65536 && ((cur_fb + ttfb[fi]) as f64) < pt * tot_fb as f64 {
            cur_fb += ttfb[fi];
            fi += 1;
        }
        while li < 65536 && ((cur_lb + ttlb[li]) as f64) < pt * tot_lb as f64 {
            cur_lb += ttlb[li];
            li += 1;
        }
        let inv = if pt == 1.0 { 250000.0 } else { 1.0 / (1.0 - pt) };
        println!(
            "{:<7} {:<6} {:<7.0} {:9} {:>8} {:9} {:>8}",
            fmt::g(pt * 100.0),
            fmt::g(100.0 * (1.0 - pt)),
            inv,
            cur_fb,
            fmt::g(fmt::from_uf16(fi.min(65535) as u16) as f64 / 1000.0),
            cur_lb,
            fmt::g(fmt::from_uf16(li.min(65535) as u16) as f64 / 1000.0),
        );
    }
}

fn main() {
    // SAFETY: process-wide signal disposition set before any thread exists.
    // Sockets use MSG_NOSIGNAL, so SIGPIPE can only come from stdout: die
    // quietly like a C program when piped into `head`.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let a = parse_args();
    raise_nofile();
    let (host, dst, dst_len, path) = parse_url(&a.url);
    let method = if a.head { "HEAD" } else { "GET" };
    let mut hdrs = String::new();
    if !a.has_host {
        hdrs.push_str(&format!("Host: {host}\r\n"));
    }
    hdrs.push_str(&a.hdrs);
    let ka_req = format!("{method} {path} HTTP/1.1\r\n{hdrs}\r\n").into_bytes();
    let cl_req = format!("{method} {path} HTTP/1.1\r\n{hdrs}Connection: close\r\n\r\n").into_bytes();
    if a.verb > 0 {
        eprintln!("h1load: request:\n{}", String::from_utf8_lossy(&ka_req));
    }
    let thrd = a.thrd.max(1);
    let sh = Arc::new(Shared {
        cfg: Config {
            dst,
            dst_len,
            ka_req,
            cl_req,
            head: a.head,
            rcon: a.rcon,
            reqs: a.reqs,
            wait_ms: a.wait,
            think_ms: a.think,
            rate: a.rate,
            threads: thrd,
            accu: a.accu,
            pctl: a.pctl,
            serr: a.serr,
            fast: a.fast,
            verbose: a.verb,
        },
        running: AtomicU32::new(0),
        global_req: AtomicU64::new(0),
        throttle: AtomicU32::new(if a.slow_ms > 0 { 1 } else { 0 }),
        stats: (0..thrd).map(|_| Stats::default()).collect(),
        alive: AtomicU32::new(thrd as u32),
    });
    // SAFETY: installing a handler that only touches an atomic and signal().
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };

    let start_ms = worker::now_us() / 1000;
    let mut handles = Vec::new();
    for th in 0..thrd {
        let maxconn = (a.conn / thrd + usize::from(th < a.conn % thrd)) as u64;
        let sh2 = sh.clone();
        handles.push(
            std::thread::Builder::new()
                .name(format!("h1load-{th}"))
                .spawn(move || worker::Worker::new(sh2, th, maxconn).run())
                .unwrap_or_else(|_| die(&format!("Failed to create thread {th}\n"))),
        );
    }
    let header = match a.long {
        0 => "#     time conns tot_conn  tot_req      tot_bytes    err  cps  rps  bps   ttfb",
        1 => "#     time conns tot_conn  tot_req      tot_bytes    err  cps  rps  Bps  bps   ttfb   ttlb",
        _ => "#_____time conns tot_conn  tot_req      tot_bytes    err thr cps rps Bps bps ttfb(us) ttlb(us)",
    };
    println!("{header}{}", if a.hscd { " 1xx 2xx 3xx 4xx 5xx" } else { "" });
    let mut rep = Reporter {
        prev: Totals::default(),
        prev_date: None,
        start_ms,
        long: a.long,
        hscd: a.hscd,
        ovre: a.ovre,
        ovrp: a.ovrp,
    };
    let mut show = start_ms + 1000;
    let stop_at = if a.dura > 0 {
        Some(start_ms + a.dura * 1000)
    } else {
        None
    };
    let mut end_at: Option<u64> = None;
    while sh.alive.load(Relaxed) > 0 {
        let now = worker::now_us() / 1000;
        let mut sleep = show.saturating_sub(now).min(20);
        if sleep == 0 {
            sleep = 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(sleep));
        let now = worker::now_us() / 1000;
        if SIGINT_SEEN.swap(0, Relaxed) == 1 || stop_at.is_some_and(|s| now >= s) && end_at.is_none() {
            // Stop measuring, let in-flight requests finish for 500 ms.
            sh.running.fetch_or(DUR_OVER, Relaxed);
            end_at.get_or_insert(now + 500);
        }
        if end_at.is_some_and(|e| now >= e) {
            sh.running.fetch_or(ENDING, Relaxed);
        }
        if a.slow_ms > 0 {
            let el = now - start_ms;
            let thr = if el >= a.slow_ms {
                0
            } else {
                (((el as u128) << 32) / a.slow_ms as u128).max(1) as u32
            };
            sh.throttle.store(thr, Relaxed);
        }
        if now >= show {
            rep.line(&sh, false);
            show += 1000;
        }
    }
    let mut fb = vec![0u64; 65536];
    let mut lb = vec![0u64; 65536];
    for h in handles {
        if let Ok(hist) = h.join() {
            for (i, v) in hist.ttfb.iter().enumerate() {
                fb[i] += *v as u64;
            }
            for (i, v) in hist.ttlb.iter().enumerate() {
                lb[i] += *v as u64;
            }
        }
    }
    rep.line(&sh, true);
    if a.pctl {
        report_percentiles(&fb, &lb);
    }
    if sh.running.load(Relaxed) & STOP_ALL != 0 {
        eprintln!("h1load: stopped on the first connection error (-e)");
        std::process::exit(1);
    }
}
