#!/usr/bin/env python3
"""Capture HAProxy 2.6's verdicts on raw HTTP/1 inputs.

Starts /usr/sbin/haproxy in front of a scripted origin on 127.0.0.1, sends
each case's bytes, and writes what the client got back (status or "fwd"),
whether haproxy closed the connection, and what the origin received.
Output: tests/fixtures/*.tsv (escaped with \\r \\n \\t \\xNN \\\\).
Run: python3 crates/http/tests/capture/capture.py
"""
import os, socket, subprocess, sys, threading, time, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures")
BASE = int(os.environ.get("CAPTURE_PORT", "28080"))
P_PLAIN, P_ORIGIN, P_ACCEPT, P_FWD, P_CLOSE = BASE, BASE + 1, BASE + 2, BASE + 3, BASE + 4

def esc(b):
    out = []
    for c in b:
        if c == 13: out.append("\\r")
        elif c == 10: out.append("\\n")
        elif c == 9: out.append("\\t")
        elif c == 92: out.append("\\\\")
        elif 32 <= c < 127: out.append(chr(c))
        else: out.append("\\x%02x" % c)
    return "".join(out)

origin_log = []
RESP = {}

def origin_conn(c):
    c.settimeout(0.4)
    data = b""
    try:
        while True:
            d = c.recv(65536)
            if not d: break
            data += d
    except socket.timeout:
        pass
    origin_log.append(data)
    first = data.split(b"\n", 1)[0]
    resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    parts = first.split(b" ")
    if len(parts) > 1 and parts[1].startswith(b"/resp/"):
        resp = RESP.get(parts[1][6:].decode(), resp)
    try:
        c.sendall(resp)
        time.sleep(0.05)
    except OSError:
        pass
    c.close()

def origin():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", P_ORIGIN)); s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=origin_conn, args=(c,), daemon=True).start()

CODES = [400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504]
CFG = f"""
global
    log stderr format raw local0 err
defaults
    mode http
    timeout client 3s
    timeout server 2s
    timeout connect 1s
    timeout http-request 2s
listen plain
    bind 127.0.0.1:{P_PLAIN}
    server s1 127.0.0.1:{P_ORIGIN}
listen accept
    bind 127.0.0.1:{P_ACCEPT}
    option accept-invalid-http-request
    option accept-invalid-http-response
    server s1 127.0.0.1:{P_ORIGIN}
listen fwd
    bind 127.0.0.1:{P_FWD}
    option forwardfor
    monitor-uri /mon
""" + "".join(f"    http-request deny deny_status {c} if {{ path /e/{c} }}\n" for c in CODES) + f"""    server s1 127.0.0.1:{P_ORIGIN}
listen close
    bind 127.0.0.1:{P_CLOSE}
    option httpclose
    option forwardfor header X-Client if-none
    server s1 127.0.0.1:{P_ORIGIN}
"""

def send(port, data, wait=1.2):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(wait)
    got = b""; closed = False
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True; break
            got += d
    except socket.timeout:
        pass
    s.close()
    return got, closed

def verdict(got):
    if not got: return "none"
    line = got.split(b"\r\n", 1)[0].split(b" ")
    return line[1].decode() if len(line) > 1 else "?"

def run_cases(cases, port, path):
    rows = []
    for name, data in cases:
        before = len(origin_log)
        got, closed = send(port, data)
        time.sleep(0.05)
        seen = b"".join(origin_log[before:])
        rows.append((name, esc(data), verdict(got), "close" if closed else "keep", esc(seen), esc(got)))
    with open(path, "w") as f:
        f.write("# name\tinput\tclient-status\tconn\torigin-received\tclient-received\n")
        for r in rows: f.write("\t".join(r) + "\n")
    return rows

def main():
    sys.path.insert(0, HERE)
    import cases
    RESP.update(cases.RESPONSES)
    threading.Thread(target=origin, daemon=True).start()
    cfg = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    cfg.write(CFG); cfg.close()
    hp = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", cfg.name], stderr=subprocess.DEVNULL)
    time.sleep(0.8)
    try:
        which = sys.argv[1:] or ["req", "acc", "resp", "fwd", "err"]
        if "req" in which: run_cases(cases.REQUESTS, P_PLAIN, os.path.join(FIX, "requests.tsv"))
        if "acc" in which: run_cases(cases.REQUESTS, P_ACCEPT, os.path.join(FIX, "requests_accept_invalid.tsv"))
        if "resp" in which:
            rc = [(n, b"GET /resp/" + n.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n") for n in cases.RESPONSES]
            run_cases(rc, P_PLAIN, os.path.join(FIX, "responses.tsv"))
            run_cases(rc, P_ACCEPT, os.path.join(FIX, "responses_accept_invalid.tsv"))
        if "fwd" in which:
            run_cases(cases.FORWARD, P_FWD, os.path.join(FIX, "forward.tsv"))
            run_cases(cases.FORWARD, P_CLOSE, os.path.join(FIX, "forward_httpclose.tsv"))
        if "err" in which:
            ec = [(f"e{c}", f"GET /e/{c} HTTP/1.1\r\nHost: a\r\n\r\n".encode()) for c in CODES]
            ec.append(("mon200", b"GET /mon HTTP/1.1\r\nHost: a\r\n\r\n"))
            run_cases(ec, P_FWD, os.path.join(FIX, "errors.tsv"))
    finally:
        hp.terminate(); hp.wait()
        os.unlink(cfg.name)

main()
