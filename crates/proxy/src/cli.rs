//! The stats socket (HAProxy's `cli.c` applet): one in-loop session per
//! accepted connection on a `stats socket`, with HAProxy 2.6's request
//! framing — lines ended by LF or an unescaped `;`, an optional `\r`,
//! payloads after a trailing `<<` up to an empty line — its one-shot mode
//! (answer, blank line, close once no request is pending) and its
//! interactive `prompt` mode (`> `, or `+ ` while a payload is gathered),
//! the `stats timeout` idle timer and the per-socket `maxconn`.
//!
//! This module owns session I/O and state (level, modes, buffers, timer).
//! What each command does and prints lives in `cli/commands.rs` and
//! `stats.rs`. It must not touch streams' sockets or block: output that the
//! peer does not take at once waits in the session's buffer, and further
//! requests are not parsed until it drains.

pub(crate) mod commands;
pub mod getsocks;

use crate::listener::Listener;
use crate::worker::{token, Msg, Worker, K_APPLET, K_APPLET_TIMER};
use reactor::{Cx, Events, TimerId};
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

pub use commands::{execute_line, usage_message, Level};

/// Requests longer than this without an end of line stall the session
/// until its timeout, as HAProxy's do once its request buffer is full.
const MAX_LINE: usize = 16384;
/// Stop parsing further requests while this much output is pending.
const OUT_HIGH: usize = 256 * 1024;

/// One stats-socket session.
pub struct Applet {
    pub fd: RawFd,
    pub lidx: usize,
    pub sock: usize,
    pub level: Level,
    pub expert: bool,
    pub experimental: bool,
    pub prompt: bool,
    /// `user -`/`operator -` asked not to print the blank line once.
    pub nolf: bool,
    /// Bytes received and not yet parsed.
    inbuf: Vec<u8>,
    /// Gathered request while a `<<` payload is being read.
    payload: Option<Vec<u8>>,
    out: Vec<u8>,
    out_pos: usize,
    timer: TimerId,
    /// Idle timeout (ms): `stats timeout`, changed by `set timeout cli`.
    pub timeout_ms: u64,
    shut_r: bool,
    /// Close once the output is sent.
    ending: bool,
    /// An over-long request fills the buffer: stop reading.
    stalled: bool,
    pub accept_ms: u64,
}

impl Applet {
    /// Hands the session's socket and its unsent output to `f` (which
    /// writes it synchronously); the output counts as sent afterwards.
    pub(crate) fn take_pending_output(&mut self, f: impl FnOnce(RawFd, &[u8], &[Listener]), ls: &[Listener]) {
        f(self.fd, &self.out[self.out_pos..], ls);
        self.out.clear();
        self.out_pos = 0;
    }
}

/// A new connection on stats socket `sock` (listener `lidx`).
pub fn accept(w: &mut Worker, cx: &mut Cx<'_, Msg>, fd: RawFd, lidx: usize, sock: usize) {
    let rt = w.rt.clone();
    let Some(cfg) = rt.cfg.global.stats_sockets.get(sock) else {
        crate::sock::close_raw(fd);
        return;
    };
    let level = Level::from_config(&cfg.level);
    let timeout_ms = rt.cfg.global.stats_timeout_ms.max(1) as u64;
    let now = cx.now();
    // The listener's count was taken at accept (`Worker::reserve`).
    w.listeners[lidx].counters.sess_start_reserved(now);
    // Like every accepted connection and every stream in HAProxy, a CLI
    // session counts in CumConns and CumReq.
    rt.cum_conns.fetch_add(1, Relaxed);
    rt.cum_req.fetch_add(1, Relaxed);
    let (idx, gen) = w.applets.insert_with(|idx, gen| Applet {
        fd,
        lidx,
        sock,
        level,
        expert: false,
        experimental: false,
        prompt: false,
        nolf: false,
        inbuf: Vec::new(),
        payload: None,
        out: Vec::new(),
        out_pos: 0,
        timer: cx.timer_create(token(K_APPLET_TIMER, idx, gen)),
        timeout_ms,
        shut_r: false,
        ending: false,
        stalled: false,
        accept_ms: now,
    });
    cx.fd_insert(fd, token(K_APPLET, idx, gen));
    cx.want_recv(fd);
    if let Some(a) = w.applets.get_mut(idx, gen) {
        cx.timer_arm(a.timer, now + a.timeout_ms);
    }
}

/// Socket events for a session.
pub fn on_io(w: &mut Worker, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32, ev: Events) {
    let Some(mut a) = w.applets.take(idx, gen) else {
        return;
    };
    let alive = service(
        w,
        cx,
        &mut a,
        ev.readable() || ev.hup() || ev.rdhup() || ev.error(),
        ev.error(),
    );
    finish(w, cx, idx, a, alive);
}

/// The idle timeout expired: close, as HAProxy does, without a message.
pub fn on_timer(w: &mut Worker, cx: &mut Cx<'_, Msg>, idx: u32, gen: u32) {
    let Some(a) = w.applets.take(idx, gen) else {
        return;
    };
    finish(w, cx, idx, a, false);
}

fn finish(w: &mut Worker, cx: &mut Cx<'_, Msg>, idx: u32, a: Applet, alive: bool) {
    if alive {
        w.applets.restore(idx, a);
        return;
    }
    cx.timer_destroy(a.timer);
    cx.fd_delete(a.fd);
    w.listeners[a.lidx].counters.sess_end();
    w.applets.release(idx);
    w.resume_listeners(cx);
    cx.shared().load[cx.tid()].store((w.streams.len() + w.applets.len()) as u32, Relaxed);
}

/// Reads, runs complete requests, writes. Returns false once the session
/// must be closed.
fn service(w: &mut Worker, cx: &mut Cx<'_, Msg>, a: &mut Applet, readable: bool, error: bool) -> bool {
    if error {
        return false;
    }
    let mut active = false;
    if readable && !a.stalled && !a.shut_r {
        let mut chunk = [0u8; 4096];
        loop {
            let room = MAX_LINE.saturating_sub(a.inbuf.len()).min(chunk.len());
            if room == 0 {
                break;
            }
            match crate::sock::recv(a.fd, &mut chunk[..room]) {
                Ok(0) => {
                    a.shut_r = true;
                    break;
                }
                Ok(n) => {
                    a.inbuf.extend_from_slice(&chunk[..n]);
                    active = true;
                }
                Err(e) if crate::sock::is_would_block(&e) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }
    run_requests(w, cx, a);
    // Send what we can.
    while a.out_pos < a.out.len() {
        match crate::sock::send(a.fd, &a.out[a.out_pos..], false) {
            Ok(n) => {
                a.out_pos += n;
                active = true;
            }
            Err(e) if crate::sock::is_would_block(&e) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(_) => return false,
        }
    }
    if a.out_pos == a.out.len() {
        a.out.clear();
        a.out_pos = 0;
        cx.stop_send(a.fd);
        if a.ending {
            return false;
        }
        // Output drained: requests held back by a full output may go on.
        if !a.inbuf.is_empty() && has_request(a) {
            return service(w, cx, a, false, false);
        }
    } else {
        cx.want_send(a.fd);
    }
    if a.shut_r && !has_request(a) && a.out.is_empty() {
        // The peer closed with no complete request left: nothing more can
        // come (an incomplete last line is dropped, as HAProxy does).
        return false;
    }
    if a.inbuf.len() >= MAX_LINE && !has_request(a) {
        // HAProxy waits with a full buffer until the timeout; so do we,
        // without reading further.
        a.stalled = true;
        cx.stop_recv(a.fd);
    } else if !a.shut_r {
        cx.want_recv(a.fd);
    } else {
        cx.stop_recv(a.fd);
    }
    if active {
        let now = cx.now();
        cx.timer_arm(a.timer, now + a.timeout_ms);
    }
    true
}

/// Position of the end of the next request in `buf`: an LF, or (outside a
/// payload) a `;` not escaped by a backslash. Returns (end, delimiter len).
fn next_delim(buf: &[u8], in_payload: bool) -> Option<usize> {
    let mut i = 0;
    while i < buf.len() {
        match buf[i] {
            b'\\' if !in_payload => i += 2,
            b'\n' => return Some(i),
            b';' if !in_payload => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn has_request(a: &Applet) -> bool {
    next_delim(&a.inbuf, a.payload.is_some()).is_some()
}

/// Runs every complete request in the input buffer.
fn run_requests(w: &mut Worker, cx: &mut Cx<'_, Msg>, a: &mut Applet) {
    while !a.ending && a.out.len() - a.out_pos < OUT_HIGH {
        let in_payload = a.payload.is_some();
        let Some(end) = next_delim(&a.inbuf, in_payload) else {
            break;
        };
        let mut line: Vec<u8> = a.inbuf[..end].to_vec();
        a.inbuf.drain(..=end);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let mut run: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
        if let Some(mut gathered) = a.payload.take() {
            if line.is_empty() {
                // End of payload: drop the LF added after the last line.
                if gathered.last() == Some(&b'\n') {
                    gathered.pop();
                }
                let cut = gathered.iter().position(|&b| b == 0).unwrap_or(gathered.len());
                let cmd = gathered[..cut].to_vec();
                let payload = gathered.get(cut + 1..).map(|p| p.to_vec()).unwrap_or_default();
                run = Some((cmd, Some(payload)));
            } else {
                gathered.extend_from_slice(&line);
                gathered.push(b'\n');
                a.payload = Some(gathered);
            }
        } else if line.ends_with(b"<<") {
            // Payload follows; the command is kept NUL-terminated in front.
            let mut g = line;
            g.truncate(g.len() - 2);
            g.push(0);
            a.payload = Some(g);
        } else {
            run = Some((line, None));
        }
        if let Some((cmd, payload)) = run {
            let text = commands::execute_line(w, cx, a, &cmd, payload.as_deref());
            a.out.extend_from_slice(text.as_bytes());
        }
        if a.ending {
            break;
        }
        // The post-command prompt, as HAProxy prints it.
        if a.prompt {
            if a.payload.is_some() {
                a.out.extend_from_slice(b"+ ");
            } else {
                a.out.extend_from_slice(b"\n> ");
            }
        } else if a.payload.is_none() && !a.nolf {
            a.out.push(b'\n');
        }
        a.nolf = false;
        // One-shot mode: close once no request data remains.
        if !a.prompt && a.payload.is_none() && a.inbuf.is_empty() {
            a.ending = true;
        }
    }
}

/// Listeners of stats sockets, for `show cli sockets`.
pub fn cli_listeners(ls: &[Listener]) -> impl Iterator<Item = &Listener> {
    ls.iter().filter(|l| matches!(l.kind, crate::listener::Kind::Cli(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_respect_escapes_and_payload_mode() {
        assert_eq!(next_delim(b"show info;show stat\n", false), Some(9));
        assert_eq!(next_delim(b"a\\;b\n", false), Some(4));
        assert_eq!(next_delim(b"a;b\n", true), Some(3));
        assert_eq!(next_delim(b"no end", false), None);
    }
}
