//! The PROXY protocol handshake of a client connection (HAProxy's
//! `conn_recv_proxy` run as a handshake before the session): the stream
//! exists but only waits for the header, under `timeout client`; on
//! success the announced addresses replace the connection's and the
//! session starts (counters, `tcp-request session` rules, logs); on
//! failure the connection closes with HAProxy's log line. See
//! ../proxy_protocol/LIFECYCLE.md.
//!
//! This file owns the handshake I/O and what it decides for the stream.
//! It must not parse the header itself (`proxy_protocol` does) nor touch
//! the stream once the header is in (the stream's analyzers do).

use super::{Env, Stream, Wake};
use crate::listener::Listener;
use crate::proxy_protocol::{self as pp, Error, Tlvs};
use crate::sock;
use reactor::task::ETERNITY;
use std::io;

/// PROXY protocol state of a client connection.
#[derive(Debug, Default)]
pub struct Pp {
    /// The header has not arrived: nothing else runs on the stream, and
    /// its session has not started (not counted).
    pub waiting: bool,
    /// A header was received (`fc_rcvd_proxy`).
    pub rcvd: bool,
    /// v2 TLVs kept for `fc_pp_authority` / `fc_pp_unique_id`.
    pub tlvs: Option<Box<Tlvs>>,
}

impl Pp {
    pub fn waiting() -> Pp {
        Pp {
            waiting: true,
            ..Pp::default()
        }
    }
}

/// Whether the stream is still waiting for its PROXY header.
pub fn waiting(s: &Stream) -> bool {
    s.pp.as_ref().is_some_and(|p| p.waiting)
}

/// Runs a waiting stream's wake-up. Returns false when the stream ends.
pub fn wake(s: &mut Stream, env: &mut Env, why: Wake, l: &Listener) -> bool {
    match why {
        Wake::Start => {
            let tmo = s.timeout_client(env.rt);
            s.cli.exp = tmo.map_or(ETERNITY, |t| env.now() + t);
        }
        Wake::Cli(ev) => s.cli.apply(ev),
        Wake::Timer if env.now() >= s.cli.exp => return fail(s, env, l, Error::Timeout),
        _ => {}
    }
    if s.cli.ready_r {
        match read_header(s, env) {
            Ok(true) => return start_session(s, env, l),
            Ok(false) => {}
            Err(e) => return fail(s, env, l, e),
        }
    }
    if s.cli.is_open() {
        env.cx.want_recv(s.cli.fd);
    }
    s.update_timer(env);
    true
}

/// One attempt at the header: Ok(false) when the socket has nothing yet.
fn read_header(s: &mut Stream, env: &mut Env) -> Result<bool, Error> {
    let mut buf = env.pool.get();
    let r = loop {
        match sock::peek(s.cli.fd, buf.room()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r,
        }
    };
    let res = match r {
        Err(e) if sock::is_would_block(&e) => {
            s.cli.ready_r = false;
            Ok(false)
        }
        Err(_) => Err(Error::Abort),
        Ok(0) => Err(Error::Empty),
        Ok(n) => match pp::parse(&buf.room()[..n]) {
            Ok((len, h)) => {
                // Consume exactly the header; what follows stays for the
                // stream's first read.
                match sock::recv(s.cli.fd, &mut buf.room()[..len]) {
                    Ok(got) if got == len => {
                        if let Some((src, dst)) = h.addrs {
                            s.src = Some(src);
                            s.dst = Some(dst);
                            s.dst_fetched = true;
                        }
                        let p = s.pp.get_or_insert_with(Default::default);
                        p.waiting = false;
                        p.rcvd = true;
                        p.tlvs = h.tlvs;
                        Ok(true)
                    }
                    _ => Err(Error::Abort),
                }
            }
            Err(e) => Err(e),
        },
    };
    env.pool.put(buf);
    res
}

/// The header is in: the session starts as it would have at accept.
fn start_session(s: &mut Stream, env: &mut Env, l: &Listener) -> bool {
    let rt = env.rt;
    let fe = &rt.proxies[s.fe];
    let now = env.now();
    let r = &fe.rules;
    if !r.tcp_sess.is_empty() && !r.sess_at_request {
        let mut info = crate::sample::Info {
            fe_name: &fe.name,
            fe_id: fe.id,
            so_name: rt.so_names.get(s.lidx).and_then(|n| n.as_deref()),
            src: s.src,
            dst: s.dst,
            first_req: true,
            pp: s.pp.as_deref(),
            stk: Some(&s.stk),
            ..Default::default()
        };
        // Session rules do not change addresses (set-src is refused there).
        if crate::http_act::run_l4(&r.tcp_sess, &mut info).is_none() {
            // Refused by a rule: counted as a session that ends now.
            super::session_counters(rt, fe, now);
            return false;
        }
    }
    super::session_counters(rt, fe, now);
    s.stk.count_session();
    if !fe.log.targets.is_empty() || fe.log.uid_fmt.is_some() {
        // The transaction's timers started at the accept (s.tm), before
        // the PROXY header: HAProxy's log times include the handshake.
        crate::log::on_accept(s, fe, l.id);
    }
    s.wake(env, Wake::Start)
}

/// A broken or missing header: HAProxy's embryonic-session log line
/// (only for frontends with a log format, as `to_log` there), then close.
fn fail(s: &mut Stream, env: &mut Env, l: &Listener, e: Error) -> bool {
    let fe = &env.rt.proxies[s.fe];
    let pl = &fe.log;
    if pl.enabled() && !(pl.dontlognull && e.is_null()) {
        use std::io::Write;
        let mut line = Vec::with_capacity(160);
        match s.src {
            Some(a) => {
                let _ = write!(line, "{}:{} [", sock::ip_string(&a.ip()), a.port());
            }
            None => {
                let _ = write!(line, "unix:{} [", l.id);
            }
        }
        let wall = crate::log::wall_of(s.accept_ms, env.now());
        crate::logfmt::log_date(&mut line, wall);
        if l.named {
            let _ = write!(line, "] {}/{}: {}", fe.name, l.name, e.text());
        } else {
            let _ = write!(line, "] {}/{}: {}", fe.name, l.id, e.text());
        }
        let level = if pl.separate_errors {
            crate::log::LOG_ERR
        } else {
            crate::log::LOG_INFO
        };
        crate::log::send_text(pl, level, &line);
    }
    false
}
