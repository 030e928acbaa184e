#!/usr/bin/env python3
"""Side-by-side benchmarks: rhaproxy vs real HAProxy 2.6 on the same config.

Run through bench/run.sh (throughput, latency, CPU/request, RSS, idle memory)
and bench/callgrind.sh (user-space instructions per request). Loopback only,
bounded durations, every child process is reaped on exit (also on Ctrl-C).
Nothing here runs in CI. See bench/RESULTS.md for usage and latest numbers.
"""
import argparse
import fnmatch
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHILDREN = []  # every Popen we started, reaped in cleanup()


class Unsupported(Exception):
    """The proxy refused the config with 'not supported yet' (reported as N/A)."""


# ---------------------------------------------------------------- processes

def spawn(cmd, out=None, err=None, **kw):
    p = subprocess.Popen(cmd, stdout=out or subprocess.DEVNULL,
                         stderr=err or subprocess.DEVNULL, **kw)
    CHILDREN.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=5.0):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in CHILDREN:
        CHILDREN.remove(p)


def cleanup(*_):
    for p in list(CHILDREN):
        try:
            stop(p, grace=2.0)
        except Exception:
            pass
    if _:
        sys.exit(130)


def tree_pids(pid):
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        try:
            for t in os.listdir(f"/proc/{q}/task"):
                with open(f"/proc/{q}/task/{t}/children") as f:
                    todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def cpu_secs(pid):
    """utime+stime (all threads) of pid and its descendants, in seconds."""
    tot = 0
    for q in tree_pids(pid):
        try:
            with open(f"/proc/{q}/stat") as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        tot += int(rest[11]) + int(rest[12])
    return tot / HZ


def status_kb(pid, key):
    """Sum of a /proc/PID/status kB field (VmHWM, VmRSS) over the tree."""
    tot = 0
    for q in tree_pids(pid):
        try:
            with open(f"/proc/{q}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        tot += int(line.split()[1])
        except OSError:
            pass
    return tot


def sys_busy_secs():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / HZ


def listening(port):
    want = ":%04X" % port
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                next(f)
                for line in f:
                    c = line.split()
                    if c[1].endswith(want) and c[3] == "0A":
                        return True
        except OSError:
            pass
    return False


def wait_listen(p, port, errfile, timeout=10.0, what="process"):
    t_end = time.time() + timeout
    while time.time() < t_end:
        if p.poll() is not None:
            msg = open(errfile).read() if errfile else ""
            if "not supported yet" in msg:
                line = [l for l in msg.splitlines() if "not supported yet" in l][0]
                raise Unsupported(line.strip())
            raise RuntimeError(f"{what} exited with {p.returncode}: {msg.strip()[-600:]}")
        if listening(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


# ---------------------------------------------------------------- configs

def haproxy_cfg(case, a):
    g = [f"    nbthread {case['nbthread']}"]
    if case.get("maxconn_global"):
        g.append(f"    maxconn {case['maxconn_global']}")
    tmo = case.get("timeout", "5s")
    lines = ["global"] + g + [
        "defaults",
        f"    mode {case['mode']}",
        "    timeout connect 5s",
        f"    timeout client {tmo}",
        f"    timeout server {tmo}",
    ]
    if case["mode"] == "http" and case.get("timeout") :
        lines.append(f"    timeout http-keep-alive {tmo}")
    lines += ["listen bench", f"    bind 127.0.0.1:{a.port_proxy}"]
    if case.get("reuse") and case["mode"] == "http":
        lines.append(f"    http-reuse {case['reuse']}")
    lines += [f"    {r}" for r in case.get("rules", [])]
    port = a.port_nginx if case["origin"] == "nginx" else a.port_origin
    # "servers": N servers on the same origin, so the LB picks among N
    for k in range(1, case.get("servers", 1) + 1):
        srv = f"    server s{k} 127.0.0.1:{port}"
        if case.get("srv_maxconn"):
            srv += f" maxconn {case['srv_maxconn']}"
        lines.append(srv)
    return "\n".join(lines) + "\n"


def nginx_conf(tmp, a):
    return f"""daemon off;
master_process on;
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.err warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=100;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path {tmp}/ngx_body;
    proxy_temp_path {tmp}/ngx_proxy;
    fastcgi_temp_path {tmp}/ngx_fcgi;
    uwsgi_temp_path {tmp}/ngx_uwsgi;
    scgi_temp_path {tmp}/ngx_scgi;
    server {{
        listen 127.0.0.1:{a.port_nginx};
        root {tmp}/www;
    }}
}}
"""


# ---------------------------------------------------------------- cases

SIZES = {"1k": 1024, "19k": 19456}
CASES = {}


def add_case(name, **kw):
    c = dict(name=name, kind="load", mode="tcp", nbthread=1, size="1k",
             close=False, origin="httpterm", tool="wrk", conns=100, threads=1)
    c.update(kw)
    CASES[name] = c


for _m in ("tcp", "http"):
    add_case(f"{_m}-ka-1k", mode=_m)
    add_case(f"{_m}-ka-19k", mode=_m, size="19k")
    add_case(f"{_m}-close-1k", mode=_m, close=True)
    add_case(f"{_m}-close-19k", mode=_m, size="19k", close=True)
    add_case(f"{_m}-ka-1k-nt2", mode=_m, nbthread=2)
    add_case(f"{_m}-ka-19k-nt2", mode=_m, size="19k", nbthread=2)
    add_case(f"{_m}-close-1k-nt2", mode=_m, close=True, nbthread=2)
    add_case(f"{_m}-ka-1k-h1load", mode=_m, tool="h1load")
    add_case(f"{_m}-ka-19k-h1load", mode=_m, size="19k", tool="h1load")
    add_case(f"{_m}-ka-1k-nginx", mode=_m, origin="nginx")
    add_case(f"{_m}-ka-19k-nginx", mode=_m, size="19k", origin="nginx")
    # the seed scenario: 64 threads, maxconn 4 per server, reuse always,
    # 19 KiB responses the server closes half of the time, 1 req/conn clients
    add_case(f"{_m}-seed", mode=_m, nbthread=64, srv_maxconn=4, reuse="always",
             path="/?s=19k/C=2r", tool="h1load", threads=4, conns=256,
             close=True, stop_on_error=True)
    add_case(f"{_m}-idle", mode=_m, kind="idle", timeout="60s",
             maxconn_global=9990)
# what most real configurations carry: forwardfor, a header set on the
# request, an ACL on a header, response header edits
add_case("http-ka-1k-rules", mode="http", servers=2, rules=[
    "option forwardfor",
    "http-request set-header X-Forwarded-Proto http",
    "acl blocked hdr(host) -m str blocked.example",
    "http-request deny if blocked",
    "http-response set-header X-Frame-Options DENY",
    "http-response del-header X-Powered-By",
])


def url_path(case):
    if case.get("path"):
        return case["path"]
    if case["origin"] == "nginx":
        return f"/s{case['size']}"
    return f"/?s={case['size']}"


# ---------------------------------------------------------------- load tools

def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)$", v)
    x = float(m.group(1))
    return {"us": x / 1000, "ms": x, "s": x * 1000}[m.group(2)]


def pin_cmd(a, cpus):
    """Command prefix pinning a process to `cpus`; with --rt it also runs
    SCHED_RR (priority 10), so that builds and tests of other users of a
    shared box cannot preempt the load generator, origin or proxy. Both
    targets get the same treatment; numbers under --rt are a different
    scheduling regime (no wake-up preemption between load generator and
    origin), only comparable with other --rt runs."""
    pre = ["chrt", "-r", "10"] if getattr(a, "rt", False) else []
    return pre + ["taskset", "-c", cpus]


def load_cmd(case, a, dur):
    url_host = f"127.0.0.1:{a.port_proxy}"
    path = url_path(case)
    pin = pin_cmd(a, a.pin_load)
    if case["tool"] == "wrk":
        cmd = pin + ["wrk", "-t", str(case["threads"]), "-c", str(case["conns"]),
                     "-d", f"{dur}s", "--latency"]
        if case["close"]:
            cmd += ["-H", "Connection: close"]
        return cmd + [f"http://{url_host}{path}"]
    cmd = pin + [os.path.join(a.bin, "h1load"), "-t", str(case["threads"]),
                 "-c", str(case["conns"]), "-d", str(dur), "-P"]
    if case["close"]:
        cmd += ["-r", "1"]
    if case.get("stop_on_error"):
        cmd += ["-e"]
    return cmd + [url_host + path]


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    r["p50"] = to_ms(lat["50"]) if "50" in lat else None
    r["p99"] = to_ms(lat["99"]) if "99" in lat else None
    errs = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs += int(m.group(1))
    r["errors"] = errs
    return r


def parse_h1load(out):
    r = {"requests": 0, "errors": 0, "p50": None, "p99": None}
    for line in out.splitlines():
        c = line.split()
        if not c or line.startswith("#"):
            continue
        if len(c) >= 9 and c[0].isdigit() and c[2].isdigit() and c[3].isdigit():
            r["requests"] = int(c[3])
            r["errors"] = int(c[5])
        elif len(c) == 7 and c[0] in ("50", "99"):
            r["p" + c[0]] = float(c[6])  # ttlb(ms)
    return r


def run_load(case, a, dur):
    """Run one load process; returns parsed results + its wall and CPU time."""
    cmd = load_cmd(case, a, dur)
    t0 = time.time()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    CHILDREN.append(p)
    try:
        out, _ = p.communicate(timeout=dur + 30)
    finally:
        if p in CHILDREN:
            CHILDREN.remove(p)
    wall = time.time() - t0
    r = parse_wrk(out) if case["tool"] == "wrk" else parse_h1load(out)
    r["wall"] = wall
    r["rc"] = p.returncode
    r["raw_tail"] = out[-400:]
    if case["tool"] == "wrk":
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        r["rps"] = float(m.group(1)) if m else 0.0
    else:
        r["rps"] = r["requests"] / wall if wall else 0.0
    return r


# ---------------------------------------------------------------- runs

class Env:
    """Temp dir + origin(s) for one case."""

    def __init__(self, a, case):
        self.a, self.case = a, case
        self.tmp = tempfile.mkdtemp(prefix="rhbench.")
        os.chmod(self.tmp, 0o755)
        self.origin = None

    def start_origin(self):
        a, case = self.a, self.case
        if case["origin"] == "nginx":
            www = os.path.join(self.tmp, "www")
            os.makedirs(www)
            for k, n in SIZES.items():
                with open(os.path.join(www, "s" + k), "w") as f:
                    f.write("x" * n)
            conf = os.path.join(self.tmp, "nginx.conf")
            with open(conf, "w") as f:
                f.write(nginx_conf(self.tmp, a))
            err = os.path.join(self.tmp, "nginx.stderr")
            self.origin = spawn(pin_cmd(a, a.pin_origin) + [a.nginx, "-c", conf,
                                 "-p", self.tmp], err=open(err, "w"))
            wait_listen(self.origin, a.port_nginx, err, what="nginx")
        else:
            err = os.path.join(self.tmp, "httpterm.stderr")
            self.origin = spawn(pin_cmd(a, a.pin_origin) + [
                                 os.path.join(a.bin, "httpterm"), "-t", "1",
                                 "-L", f"127.0.0.1:{a.port_origin}"],
                                err=open(err, "w"))
            wait_listen(self.origin, a.port_origin, err, what="httpterm")

    def start_proxy(self, target):
        a = self.a
        cfg = os.path.join(self.tmp, "bench.cfg")
        with open(cfg, "w") as f:
            f.write(haproxy_cfg(self.case, a))
        err = os.path.join(self.tmp, f"{target}.stderr")
        binary = target_binary(a, target)
        p = spawn(pin_cmd(a, a.pin_proxy) + [binary, "-db", "-f", cfg],
                  err=open(err, "w"))
        try:
            wait_listen(p, a.port_proxy, err, what=target)
        except Exception:
            stop(p)
            raise
        return p

    def close(self):
        if self.origin:
            stop(self.origin, signal.SIGQUIT if self.case["origin"] == "nginx" else signal.SIGTERM)
        subprocess.run(["rm", "-rf", self.tmp])


def target_binary(a, target):
    base = target.rstrip("0123456789#")
    if base == "haproxy" or target.startswith("haproxy"):
        return a.haproxy
    if target == "base":
        # Another rhaproxy build (the parent commit) for before/after runs.
        return os.path.join(os.environ["BENCH_BASE_BIN"], "rhaproxy")
    return os.path.join(a.bin, "rhaproxy")


def children_cpu():
    ru = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one_load_run(env, target):
    a, case = env.a, env.case
    p = env.start_proxy(target)
    try:
        if a.warmup > 0:
            run_load(case, a, a.warmup)
        c0, o0, s0, l0 = cpu_secs(p.pid), cpu_secs(env.origin.pid), sys_busy_secs(), children_cpu()
        t0 = time.time()
        r = run_load(case, a, a.duration)
        t1 = time.time()
        c1, o1, s1, l1 = cpu_secs(p.pid), cpu_secs(env.origin.pid), sys_busy_secs(), children_cpu()
        r["rss_mib"] = status_kb(p.pid, "VmHWM") / 1024
        alive = p.poll() is None
    finally:
        stop(p)
    win = t1 - t0
    pcpu = c1 - c0
    r["proxy_cpu_pct"] = 100 * pcpu / win
    r["origin_cpu_pct"] = 100 * (o1 - o0) / win
    r["load_cpu_pct"] = 100 * (l1 - l0) / win
    r["us_per_req"] = 1e6 * pcpu / r["requests"] if r["requests"] else None
    r["oth_pct"] = max(0.0, 100 * ((s1 - s0) - pcpu - (o1 - o0) - (l1 - l0)) / win)
    r["proxy_died"] = not alive
    return r


# ------------------------------------------------------------- idle memory

def idle_clients(a, n, path, batch=500):
    """Open n keep-alive connections, one request each, read the response and
    leave them open. Returns (sockets, errors)."""
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    socks, errs = [], 0
    for i in range(0, n, batch):
        cur = []
        for _ in range(min(batch, n - i)):
            s = socket.socket()
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", a.port_proxy))
                s.sendall(req)
                cur.append(s)
            except OSError:
                errs += 1
                s.close()
        for s in cur:
            try:
                read_response(s)
                socks.append(s)
            except (OSError, ValueError):
                errs += 1
                s.close()
    return socks, errs


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ValueError("closed")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        d = s.recv(65536)
        if not d:
            raise ValueError("closed")
        body += d


def one_idle_run(env, target):
    a, case = env.a, env.case
    n = a.idle_conns
    p = env.start_proxy(target)
    socks = []
    try:
        # warm-up: a few requests so lazily created pools/threads exist
        warm, _ = idle_clients(a, 50, url_path(case))
        for s in warm:
            s.close()
        time.sleep(0.3)
        r0 = status_kb(p.pid, "VmRSS")
        socks, errs = idle_clients(a, n, url_path(case))
        time.sleep(0.5)
        r1 = status_kb(p.pid, "VmRSS")
        hwm = status_kb(p.pid, "VmHWM")
        fds = len(os.listdir(f"/proc/{p.pid}/fd"))
        alive = p.poll() is None
    finally:
        for s in socks:
            s.close()
        stop(p)
    ok = len(socks)
    return {"conns": ok, "errors": errs, "rss0_mib": r0 / 1024, "rss1_mib": r1 / 1024,
            "rss_mib": hwm / 1024, "fds": fds,
            "bytes_per_conn": 1024 * (r1 - r0) / ok if ok else None,
            "proxy_died": not alive, "oth_pct": 0.0}


# ---------------------------------------------------------------- report

LOAD_COLS = [("rps", "req/s", "%.0f"), ("p50", "p50 ms", "%.2f"), ("p99", "p99 ms", "%.2f"),
             ("proxy_cpu_pct", "pcpu%", "%.0f"), ("us_per_req", "us/req", "%.2f"),
             ("rss_mib", "RSS MiB", "%.1f"), ("oth_pct", "oth%", "%.0f"),
             ("errors", "errs", "%d")]
IDLE_COLS = [("conns", "conns", "%d"), ("rss0_mib", "RSS0 MiB", "%.1f"),
             ("rss1_mib", "RSS1 MiB", "%.1f"), ("fds", "proxy fds", "%d"),
             ("bytes_per_conn", "B/conn", "%.0f"),
             ("errors", "errs", "%d")]
RATIO_KEYS = {"load": ["rps", "p50", "p99", "us_per_req", "rss_mib"],
              "idle": ["bytes_per_conn"]}


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(f, v):
    return "-" if v is None else f % v


def report(case, targets, runs, na):
    cols = IDLE_COLS if case["kind"] == "idle" else LOAD_COLS
    lines = [f"### {case['name']}", "",
             "| target | " + " | ".join(h for _, h, _ in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for t in targets:
        if t in na:
            lines.append(f"| {t} | N/A: {na[t]} |" + " |" * (len(cols) - 1))
            continue
        rr = runs[t]
        row = [fmt(f, med([r[k] for r in rr])) if k != "errors" else
               fmt(f, sum(r[k] for r in rr)) for k, _, f in cols]
        lines.append(f"| {t} | " + " | ".join(row) + " |")
    base = targets[0]
    for t in targets[1:]:
        if t in na or base in na:
            continue
        parts = []
        for k in RATIO_KEYS[case["kind"]]:
            per_round = [x[k] / y[k] for x, y in zip(runs[t], runs[base])
                         if x.get(k) and y.get(k)]
            if per_round:
                parts.append(f"{k} {statistics.median(per_round):.2f}"
                             f" [{min(per_round):.2f}-{max(per_round):.2f}]")
        lines.append("")
        lines.append(f"ratio {t}/{base} (median of per-round ratios [min-max]): " + ", ".join(parts))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- callgrind

ALLOC_FNS = ("malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign")


def callgrind_total(path):
    """(total Ir, calls into the C allocator) of a callgrind output file.
    Calls are read from the call edges ("cfn=" then "calls=" lines, with
    callgrind's "(id) name" compression); both proxies allocate through
    glibc's malloc family (HAProxy for what its pools do not cover)."""
    tot, allocs, names, callee = None, 0, {}, None
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                tot = int(line.split()[1])
            elif line.startswith(("fn=", "cfn=")):
                # fn= and cfn= share one id space: a name is given once,
                # on whichever line mentions the function first.
                m = re.match(r"c?fn=(?:\((\d+)\))?\s*(.*)", line.strip())
                if m.group(1) and m.group(2):
                    names[m.group(1)] = m.group(2)
                if line.startswith("cfn="):
                    callee = m.group(2) or names.get(m.group(1), "")
            elif line.startswith("calls=") and callee is not None:
                if callee.split("'")[0] in ALLOC_FNS:
                    allocs += int(line.split()[0][6:])
                callee = None
    return tot, allocs


def callgrind_run(a, case, target, nreq, tmp):
    """Proxy under callgrind (nbthread 1), h1load -n nreq -c conns keep-alive.
    Returns total user-space instructions (Ir) of the whole proxy run."""
    cfg = os.path.join(tmp, "cg.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_cfg(case, a))
    out = os.path.join(tmp, f"cg.{target}.{case['name']}.{nreq}.out")
    err = os.path.join(tmp, f"cg.{target}.stderr")
    p = spawn(["taskset", "-c", a.pin_proxy, "valgrind", "--tool=callgrind",
               f"--callgrind-out-file={out}", "--dump-instr=no",
               target_binary(a, target), "-db", "-f", cfg], err=open(err, "w"))
    try:
        wait_listen(p, a.port_proxy, err, timeout=60, what=f"valgrind {target}")
        lc = ["taskset", "-c", a.pin_load, os.path.join(a.bin, "h1load"), "-t", "1",
              "-c", str(a.cg_conns), "-n", str(nreq), "-w", "20000",
              f"127.0.0.1:{a.port_proxy}{url_path(case)}"]
        r = subprocess.run(lc, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        res = parse_h1load(r.stdout)
        if res["requests"] != nreq or res["errors"]:
            raise RuntimeError(f"h1load: {res['requests']} of {nreq} requests, "
                               f"{res['errors']} errors: {r.stdout[-300:]}")
    finally:
        stop(p, grace=60)
    return callgrind_total(out), out


def callgrind_main(argv):
    ap = argparse.ArgumentParser(
        description="User-space instructions per request under callgrind "
                    "(nbthread 1, keep-alive), startup cost removed by "
                    "running N1 and N2 requests and dividing the difference.")
    ap.add_argument("cases", nargs="*", default=["tcp-ka-1k", "tcp-ka-19k", "http-ka-1k", "http-ka-19k"])
    ap.add_argument("--targets", default="haproxy,rhaproxy")
    ap.add_argument("--n1", type=int, default=2000)
    ap.add_argument("--n2", type=int, default=22000)
    ap.add_argument("--conns", dest="cg_conns", type=int, default=10)
    ap.add_argument("--keep", help="keep the callgrind.out files of the N2 runs in this dir")
    ap.add_argument("--bin", default=os.environ.get("BENCH_BIN", os.path.join(REPO, "target/release")))
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--pin", default="0/0/1")
    ap.add_argument("--port-base", type=int, default=28900)
    a = ap.parse_args(argv)
    a.pin_load, a.pin_origin, a.pin_proxy = a.pin.split("/")
    a.port_origin, a.port_nginx, a.port_proxy = a.port_base, a.port_base + 1, a.port_base + 2
    a.nginx = "/usr/sbin/nginx"
    signal.signal(signal.SIGINT, cleanup)
    signal.signal(signal.SIGTERM, cleanup)
    targets = a.targets.split(",")
    rows = []
    try:
        for name in a.cases:
            case = dict(CASES[name], nbthread=1)
            env = Env(a, case)
            try:
                env.start_origin()
                for t in targets:
                    try:
                        i1, _ = callgrind_run(a, case, t, a.n1, env.tmp)
                        i2, f2 = callgrind_run(a, case, t, a.n2, env.tmp)
                    except Unsupported as e:
                        rows.append((name, t, None, None, str(e), None))
                        print(f"{name} {t}: N/A ({e})", file=sys.stderr, flush=True)
                        continue
                    (i1, m1), (i2, m2) = i1, i2
                    per = (i2 - i1) / (a.n2 - a.n1)
                    mper = (m2 - m1) / (a.n2 - a.n1)
                    rows.append((name, t, per, i1 - a.n1 * per, "", mper))
                    print(f"{name} {t}: Ir({a.n1})={i1} Ir({a.n2})={i2} -> {per:.0f}/req, "
                          f"allocations {m1} -> {m2}: {mper:.2f}/req",
                          file=sys.stderr, flush=True)
                    if a.keep:
                        os.makedirs(a.keep, exist_ok=True)
                        subprocess.run(["cp", f2, a.keep])
            finally:
                env.close()
    finally:
        cleanup()
    print(f"\n| case | target | instructions/req | startup Ir | ratio to {targets[0]} | malloc calls/req |")
    print("|---|---|---:|---:|---:|---:|")
    ref = {r[0]: r[2] for r in rows if r[1] == targets[0]}
    for name, t, per, start, na, mper in rows:
        if per is None:
            print(f"| {name} | {t} | N/A | | {na} | |")
            continue
        ratio = f"{per / ref[name]:.2f}" if ref.get(name) else "-"
        print(f"| {name} | {t} | {per:.0f} | {start / 1e6:.1f}M | {ratio} | {mper:.2f} |")
    return 0


# ---------------------------------------------------------------- syscalls

SYSCALLS = ["epoll_wait", "epoll_pwait", "epoll_ctl", "recvfrom", "recvmsg", "read",
            "readv", "sendto", "sendmsg", "write", "writev", "splice", "accept4",
            "connect", "close", "shutdown", "setsockopt", "getsockopt", "getsockname",
            "getpeername", "socket", "fcntl", "futex", "clock_nanosleep", "sched_yield"]


def syscalls_main(argv):
    ap = argparse.ArgumentParser(
        description="System calls per request (perf stat on syscall tracepoints, "
                    "attached to the proxy during the measured window).")
    ap.add_argument("cases", nargs="*", default=["http-ka-1k"])
    ap.add_argument("--targets", default="haproxy,rhaproxy")
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--bin", default=os.environ.get("BENCH_BIN", os.path.join(REPO, "target/release")))
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--pin", default="0/0/1")
    ap.add_argument("--port-base", type=int, default=28900)
    a = ap.parse_args(argv)
    a.pin_load, a.pin_origin, a.pin_proxy = a.pin.split("/")
    a.port_origin, a.port_nginx, a.port_proxy = a.port_base, a.port_base + 1, a.port_base + 2
    signal.signal(signal.SIGINT, cleanup)
    signal.signal(signal.SIGTERM, cleanup)
    targets = a.targets.split(",")
    evs = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in SYSCALLS]
    res = {}
    try:
        for name in a.cases:
            case = CASES[name]
            env = Env(a, case)
            try:
                env.start_origin()
                for t in targets:
                    try:
                        p = env.start_proxy(t)
                    except Unsupported as e:
                        print(f"{name} {t}: N/A ({e})", file=sys.stderr)
                        continue
                    try:
                        run_load(case, a, 1)
                        out = os.path.join(env.tmp, "perf.stat")
                        ps = spawn(["perf", "stat", "-x,", "-o", out, "-e", ",".join(evs),
                                    "-p", str(p.pid), "--", "sleep", str(a.duration + 0.6)])
                        time.sleep(0.2)
                        r = run_load(case, a, a.duration)
                        ps.wait(timeout=a.duration + 10)
                        CHILDREN.remove(ps)
                        counts = {}
                        for line in open(out):
                            c = line.strip().split(",")
                            if len(c) > 2 and c[0].replace(".", "").isdigit():
                                counts[c[2].split("sys_enter_")[-1].replace("raw_syscalls:sys_enter", "ALL")] = float(c[0])
                        res[(name, t)] = (r["requests"], counts)
                    finally:
                        stop(p)
            finally:
                env.close()
    finally:
        cleanup()
    names = ["ALL"] + SYSCALLS
    used = [n for n in names if any(c.get(n, 0) for _, c in res.values())]
    print("| case | target | requests | " + " | ".join(used) + " |")
    print("|---|---|---:|" + "---:|" * len(used))
    for (name, t), (req, c) in res.items():
        print(f"| {name} | {t} | {req} | " + " | ".join(
            f"{c.get(n, 0) / req:.3f}" if req else "-" for n in used) + " |")
    return 0


# ---------------------------------------------------------------- summary

def summary_main(argv):
    """One line per case from --json files: medians per target and the
    per-round-ratio medians against the first target, checked against the
    targets of issue 9 (req/s >= 1.0, p99 <= 1.0, CPU/req <= 0.9,
    idle RSS/conn <= 0.5)."""
    ap = argparse.ArgumentParser(description=summary_main.__doc__)
    ap.add_argument("json", nargs="+")
    a = ap.parse_args(argv)
    rows = {}
    for fn in a.json:
        with open(fn) as f:
            rows.update(json.load(f))
    print("| case | ref req/s | req/s ratio | p50 ratio | p99 ratio | CPU/req ratio "
          "| ref us/req | RSS ratio | ref oth% / other oth% | targets |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, d in rows.items():
        runs, na = d["runs"], d["na"]
        targets = list(runs.keys())
        if len(targets) < 2:
            continue
        ref, oth = targets[0], targets[1]
        if oth in na or ref in na:
            print(f"| {name} | | N/A: {na.get(oth) or na.get(ref)} | | | | | | | |")
            continue
        rr, ro = runs[ref], runs[oth]

        def rat(k):
            v = [x[k] / y[k] for x, y in zip(ro, rr) if x.get(k) and y.get(k)]
            return statistics.median(v) if v else None

        if d["case"]["kind"] == "idle":
            b = rat("bytes_per_conn")
            ok = "ok" if b is not None and b <= 0.5 else "MISS"
            print(f"| {name} | {med([r['bytes_per_conn'] for r in rr]):.0f} B/conn | | | | | | "
                  f"{b:.2f} (B/conn: {med([r['bytes_per_conn'] for r in ro]):.0f}) | | {ok} (<= 0.5) |")
            continue
        q, p50, p99, cpu, rss = rat("rps"), rat("p50"), rat("p99"), rat("us_per_req"), rat("rss_mib")
        miss = []
        if q is not None and q < 1.0:
            miss.append("req/s")
        if p99 is not None and p99 > 1.0:
            miss.append("p99")
        if cpu is not None and cpu > 0.9:
            miss.append("CPU")
        print(f"| {name} | {med([r['rps'] for r in rr]):.0f} | {fmt('%.2f', q)} | {fmt('%.2f', p50)} "
              f"| {fmt('%.2f', p99)} | {fmt('%.2f', cpu)} | {fmt('%.1f', med([r['us_per_req'] for r in rr]))} "
              f"| {fmt('%.2f', rss)} | {med([r['oth_pct'] for r in rr]):.0f} / {med([r['oth_pct'] for r in ro]):.0f} "
              f"| {'ok' if not miss else 'miss: ' + ', '.join(miss)} |")
    return 0


# ---------------------------------------------------------------- main

def run_case(a, case, targets):
    env = Env(a, case)
    runs = {t: [] for t in targets}
    na = {}
    try:
        env.start_origin()
        rnd, redo = 0, 0
        while rnd < a.rounds:
            quiet_wait(a)
            got = {}
            for t in targets:
                if t in na:
                    continue
                try:
                    f = one_idle_run if case["kind"] == "idle" else one_load_run
                    got[t] = f(env, t)
                except Unsupported as e:
                    na[t] = str(e)
                    continue
                r = got[t]
                log(a, f"  {case['name']} round {rnd + 1} {t}: " + ", ".join(
                    f"{k}={fmt('%.2f', r[k]) if isinstance(r[k], float) else r[k]}"
                    for k in ("rps", "p50", "p99", "proxy_cpu_pct", "us_per_req",
                              "rss_mib", "oth_pct", "errors", "conns",
                              "bytes_per_conn", "fds", "load_cpu_pct", "origin_cpu_pct")
                    if k in r))
                if r.get("proxy_died"):
                    log(a, f"  !! {t} died during the run")
            noisy = [t for t, r in got.items() if r.get("oth_pct", 0) > a.max_oth]
            if noisy and redo < a.max_redo:
                redo += 1
                log(a, f"  round {rnd + 1} redone: oth% > {a.max_oth} for {noisy}")
                continue
            for t, r in got.items():
                runs[t].append(r)
            rnd += 1
    finally:
        env.close()
    return runs, na


def quiet_wait(a):
    """Waits (up to --quiet-wait s) until the box is idle apart from us: CPU
    busy over 0.5 s below --max-oth % of a core (our origin is idle here)."""
    t_end = time.time() + a.quiet_wait
    while True:
        b0 = sys_busy_secs()
        time.sleep(0.5)
        busy = 100 * (sys_busy_secs() - b0) / 0.5
        if busy < a.max_oth or time.time() >= t_end:
            if busy >= a.max_oth:
                log(a, f"  box still busy ({busy:.0f}% of a core), going on")
            return busy
        log(a, f"  box busy ({busy:.0f}% of a core), waiting")
        time.sleep(2)


def log(a, msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cases", nargs="*", help="case names or globs (default: all); see --list")
    ap.add_argument("--list", action="store_true", help="list cases and exit")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=5, help="measured seconds per run")
    ap.add_argument("--warmup", type=int, default=1, help="unmeasured seconds before each run")
    ap.add_argument("--targets", default="haproxy,rhaproxy",
                    help="comma list; first is the reference. 'haproxy2' = haproxy again (A/A); "
                         "'base' = the rhaproxy in $BENCH_BASE_BIN (before/after)")
    ap.add_argument("--bin", default=os.environ.get("BENCH_BIN", os.path.join(REPO, "target/release")),
                    help="dir with rhaproxy, httpterm, h1load (default target/release, env BENCH_BIN)")
    ap.add_argument("--haproxy", default="/usr/sbin/haproxy")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--pin", default="0/0/1", help="CPUs for load/origin/proxy")
    ap.add_argument("--rt", action="store_true",
                    help="run load generator, origin and proxies SCHED_RR (shared, noisy boxes)")
    ap.add_argument("--port-base", type=int, default=28900)
    ap.add_argument("--idle-conns", type=int, default=9000)
    ap.add_argument("--max-oth", type=float, default=15.0, help="redo a round above this oth%%")
    ap.add_argument("--max-redo", type=int, default=4, help="redos per case")
    ap.add_argument("--quiet-wait", type=float, default=30,
                    help="before each round, wait up to this many s for the box to be idle")
    ap.add_argument("--json", help="write every run's raw numbers here")
    a = ap.parse_args(argv)
    a.pin_load, a.pin_origin, a.pin_proxy = a.pin.split("/")
    a.port_origin, a.port_nginx, a.port_proxy = a.port_base, a.port_base + 1, a.port_base + 2
    return a


def main(argv):
    a = parse_args(argv)
    if a.list:
        for n, c in CASES.items():
            print(f"{n:20s} {c['kind']:5s} mode={c['mode']} nbthread={c['nbthread']} "
                  f"tool={c['tool']} -c {c['conns']} origin={c['origin']} path={url_path(c)}"
                  f"{' close' if c['close'] else ''}")
        return 0
    pats = a.cases or ["*"]
    sel = []
    for p in pats:  # command-line order
        sel += [c for n, c in CASES.items() if fnmatch.fnmatch(n, p) and c not in sel]
    if not sel:
        print("no case matches", pats, file=sys.stderr)
        return 2
    targets = a.targets.split(",")
    signal.signal(signal.SIGINT, cleanup)
    signal.signal(signal.SIGTERM, cleanup)
    allruns = {}
    out = []
    try:
        with open("/proc/loadavg") as f:
            out.append(f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, loadavg {f.read().split()[:3]}, "
                       f"rounds={a.rounds} duration={a.duration}s warmup={a.warmup}s pin={a.pin} bin={a.bin}\n")
        print(out[-1], flush=True)
        for c in sel:
            log(a, f"case {c['name']}")
            runs, na = run_case(a, c, targets)
            allruns[c["name"]] = {"case": c, "runs": runs, "na": na}
            out.append(report(c, targets, runs, na))
            print(out[-1], flush=True)
    finally:
        cleanup()
        if a.json:
            with open(a.json, "w") as f:
                json.dump(allruns, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["callgrind"]:
        sys.exit(callgrind_main(sys.argv[2:]))
    if sys.argv[1:2] == ["summary"]:
        sys.exit(summary_main(sys.argv[2:]))
    if sys.argv[1:2] == ["syscalls"]:
        sys.exit(syscalls_main(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
