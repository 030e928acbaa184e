//! Large bodies through 16 KiB buffers in `mode http`: an upload with
//! Content-Length, a chunked upload and a download, while rhaproxy's memory
//! is sampled from /proc/<pid>/status (VmRSS during the transfer, VmHWM at
//! the end). 1 GiB each way fits in about 12 s with the debug build.

use rhaproxy_tests::{free_port, spawn_rhaproxy, wait_listening, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// 1 GiB each way: about 12 s for the three in a debug build (measured:
/// upload CL 3.5 s, chunked 7.1 s, download 1.8 s; VmHWM ~5 MiB).
const SMALL: u64 = 1024 * MIB;
/// rhaproxy's resident memory must stay under this.
const HWM_LIMIT_KIB: u64 = 64 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    UploadCl,
    UploadChunked,
    Download,
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let l = s.lines().find(|l| l.starts_with(key))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

/// Origin: reads one request head; for uploads, consumes the body (CL or
/// chunked) and answers its length; for downloads, sends `n` bytes.
fn origin(dir: Dir, n: u64) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut w = c.try_clone().unwrap();
                let mut r = BufReader::with_capacity(1 << 16, c);
                let mut chunked = false;
                let mut cl = 0u64;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let t = line.trim_end().to_ascii_lowercase();
                    if t.is_empty() {
                        break;
                    }
                    if let Some(v) = t.strip_prefix("content-length:") {
                        cl = v.trim().parse().unwrap();
                    }
                    if t.starts_with("transfer-encoding:") && t.ends_with("chunked") {
                        chunked = true;
                    }
                }
                if dir == Dir::Download {
                    let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n");
                    let buf = vec![b'd'; 1 << 16];
                    let mut left = n;
                    while left > 0 {
                        let k = left.min(buf.len() as u64) as usize;
                        if w.write_all(&buf[..k]).is_err() {
                            return;
                        }
                        left -= k as u64;
                    }
                    return;
                }
                let mut got = 0u64;
                let mut sink = vec![0u8; 1 << 16];
                let mut skip = |r: &mut BufReader<TcpStream>, mut k: u64| -> bool {
                    while k > 0 {
                        let m = k.min(sink.len() as u64) as usize;
                        if r.read_exact(&mut sink[..m]).is_err() {
                            return false;
                        }
                        k -= m as u64;
                    }
                    true
                };
                if chunked {
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let sz = u64::from_str_radix(line.trim().split(';').next().unwrap(), 16).unwrap();
                        if sz == 0 {
                            let mut end = String::new();
                            let _ = r.read_line(&mut end);
                            break;
                        }
                        if !skip(&mut r, sz + 2) {
                            return;
                        }
                        got += sz;
                    }
                } else {
                    if !skip(&mut r, cl) {
                        return;
                    }
                    got = cl;
                }
                let body = got.to_string();
                let _ = write!(w, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            });
        }
    });
    a
}

struct Report {
    secs: f64,
    max_rss_kib: u64,
    hwm_kib: u64,
}

fn transfer(dir: Dir, n: u64) -> Report {
    let td = TempDir::new("bigbody");
    let o = origin(dir, n);
    let port = free_port();
    let cfg = format!(
        "global\n    tune.bufsize 16384\n    tune.maxrewrite 1024\ndefaults\n    mode http\n    timeout client 30s\n    timeout server 30s\n    timeout connect 2s\nlisten big\n    bind 127.0.0.1:{port}\n    server s1 {o}\n"
    );
    let p = spawn_rhaproxy(&td, "big.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)));
    let pid = p.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut max = 0;
        while !st.load(Ordering::Relaxed) {
            max = max.max(status_kib(pid, "VmRSS:").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(50));
        }
        max
    });
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let block = vec![b'u'; 1 << 16];
    let mut resp = Vec::new();
    match dir {
        Dir::UploadCl | Dir::UploadChunked => {
            let mut w = s.try_clone().unwrap();
            let writer = std::thread::spawn(move || {
                if dir == Dir::UploadCl {
                    write!(w, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {n}\r\n\r\n").unwrap();
                } else {
                    write!(w, "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
                }
                let mut left = n;
                while left > 0 {
                    let k = left.min(block.len() as u64) as usize;
                    if dir == Dir::UploadChunked {
                        write!(w, "{k:x}\r\n").unwrap();
                    }
                    w.write_all(&block[..k]).unwrap();
                    if dir == Dir::UploadChunked {
                        w.write_all(b"\r\n").unwrap();
                    }
                    left -= k as u64;
                }
                if dir == Dir::UploadChunked {
                    w.write_all(b"0\r\n\r\n").unwrap();
                }
            });
            let mut b = [0u8; 4096];
            let want = format!("\r\n\r\n{n}");
            while !String::from_utf8_lossy(&resp).ends_with(&want) {
                match s.read(&mut b) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => resp.extend_from_slice(&b[..k]),
                }
            }
            writer.join().unwrap();
            assert!(
                resp.starts_with(b"HTTP/1.1 200 OK"),
                "{}",
                String::from_utf8_lossy(&resp)
            );
            assert!(
                String::from_utf8_lossy(&resp).ends_with(&want),
                "origin did not get {n} bytes: {}",
                String::from_utf8_lossy(&resp)
            );
        }
        Dir::Download => {
            write!(s, "GET /down HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
            let mut b = vec![0u8; 1 << 16];
            let mut total = 0u64;
            let mut head_end = None;
            while head_end.is_none() || total < head_end.unwrap() + n {
                let k = s.read(&mut b).unwrap_or(0);
                if k == 0 {
                    break;
                }
                if head_end.is_none() {
                    resp.extend_from_slice(&b[..k]);
                    if let Some(p) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
                        head_end = Some(p as u64 + 4);
                    }
                }
                total += k as u64;
            }
            let h = head_end.expect("no response head");
            assert!(resp.starts_with(b"HTTP/1.1 200 OK"));
            assert_eq!(total - h, n, "body bytes received");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let max_rss_kib = sampler.join().unwrap();
    let hwm_kib = status_kib(pid, "VmHWM:").expect("VmHWM");
    drop(p);
    Report {
        secs,
        max_rss_kib,
        hwm_kib,
    }
}

fn check(dir: Dir, n: u64, what: &str) {
    let r = transfer(dir, n);
    eprintln!(
        "{what}: {} MiB in {:.1} s ({:.0} MiB/s), max VmRSS {} KiB, VmHWM {} KiB",
        n / MIB,
        r.secs,
        (n / MIB) as f64 / r.secs,
        r.max_rss_kib,
        r.hwm_kib
    );
    assert!(r.max_rss_kib > 0, "RSS was sampled");
    assert!(
        r.hwm_kib < HWM_LIMIT_KIB,
        "{what}: VmHWM {} KiB >= {} KiB",
        r.hwm_kib,
        HWM_LIMIT_KIB
    );
}

#[test]
fn upload_content_length_bounded_memory() {
    check(Dir::UploadCl, SMALL, "upload CL");
}

#[test]
fn upload_chunked_bounded_memory() {
    check(Dir::UploadChunked, SMALL, "upload chunked");
}

#[test]
fn download_bounded_memory() {
    check(Dir::Download, SMALL, "download");
}
