//! Captures (HAProxy's `cap_hdr` slots): `capture request|response header
//! <name> len <n>`, `declare capture request|response len <n>` and the
//! slots `http-request capture <sample> len <n>` allocates, numbered per
//! frontend in declaration order; and the values one transaction captured
//! into them, for `capture.req.hdr(n)`/`capture.res.hdr(n)` and the logs'
//! `%hr`/`%hs`.
//!
//! Owns the slot layout (compiled at start-up from the configuration, with
//! HAProxy's refusals), the per-transaction value store and its per-thread
//! pool (no allocation per request once a thread has served one), and the
//! header captures. It must not evaluate rules (`http_act` runs the
//! `capture` actions and stores through [`Captures::set`]) nor touch
//! sockets.

use config::model::{Loc, Proxy, RawLine};
use std::cell::RefCell;

/// One slot: a header name for `capture ... header` (lower-case), none for
/// declared or rule-allocated slots, and the maximum length kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub hdr: Option<Vec<u8>>,
    pub len: usize,
}

/// A frontend's slots, request and response side, in index order, plus
/// which `http-request capture ... len` line allocated which index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pub req: Vec<Slot>,
    pub res: Vec<Slot>,
    /// (rule location, request slot index) for `http-request capture
    /// <sample> len <n>` lines.
    pub rule_slots: Vec<(Loc, usize)>,
    /// `capture cookie <name> len <n>`: the name prefix and the length
    /// kept (the logs' `%CC`/`%CS`; the last line wins, as in HAProxy).
    pub cookie: Option<(Vec<u8>, usize)>,
}

/// HAProxy's default `tune.http.cookielen` (`CAPTURE_LEN`): a captured
/// cookie keeps at most one byte less.
pub const COOKIE_CAPTURE_MAX: usize = 64 - 1;

impl Layout {
    pub fn is_empty(&self) -> bool {
        self.req.is_empty() && self.res.is_empty()
    }

    /// Numbers a proxy's slots as HAProxy does: each declaration takes the
    /// next index of its direction, in configuration order; the slots a
    /// defaults section declared (its `http-request capture` rules) come
    /// first, as the frontend inherits them. Errors are alert texts.
    pub fn build(p: &Proxy) -> Result<Layout, String> {
        let mut l = Layout::default();
        // Inherited rule lines (from a defaults section) first, then this
        // section's own lines in line order.
        let own = |loc: &Loc| loc.file == p.loc.file && loc.line > p.loc.line;
        let mut lines: Vec<&RawLine> = p
            .http_request
            .iter()
            .filter(|r| !own(&r.loc) && is_len_capture_rule(r))
            .collect();
        let mut mine: Vec<&RawLine> = p
            .http_request
            .iter()
            .filter(|r| own(&r.loc) && is_len_capture_rule(r))
            .chain(p.captures.iter())
            .collect();
        mine.sort_by_key(|r| r.loc.line);
        lines.extend(mine);
        for r in lines {
            let w: Vec<&str> = r.words.iter().map(|s| s.as_str()).collect();
            let arg = |i: usize| w.get(i).copied().unwrap_or("");
            let pfx = format!("parsing [{}] :", r.loc);
            match arg(0) {
                "http-request" => {
                    if !p.cap.frontend {
                        return Err(format!(
                            "{pfx} error detected in proxy '{}' while parsing 'http-request capture' rule : proxy '{}' has no frontend capability.",
                            p.name, p.name
                        ));
                    }
                    let len = capture_rule_len(&w).unwrap_or(0);
                    l.rule_slots.push((r.loc.clone(), l.req.len()));
                    l.req.push(Slot { hdr: None, len });
                }
                "declare" => {
                    let e = |m: String| Err(format!("{pfx} {m}"));
                    if arg(1) != "capture" {
                        return e(format!("unknown declaration type '{}' (supports 'capture')", arg(1)));
                    }
                    let dir = arg(2);
                    if dir != "request" && dir != "response" {
                        return e("'declare capture' requires a direction ('request' or 'response')".into());
                    }
                    if arg(3) != "len" {
                        return e("'declare capture' requires a capture length ('len')".into());
                    }
                    if arg(4).is_empty() {
                        return e(
                            "'declare capture': 'len' requires a numeric value that represents the capture length"
                                .into(),
                        );
                    }
                    let len: i64 = match arg(4).parse() {
                        Ok(v) => v,
                        Err(_) => return e(format!("'declare capture': cannot parse the length '{}'.", arg(3))),
                    };
                    if len <= 0 {
                        return e("length must be > 0".into());
                    }
                    let s = Slot {
                        hdr: None,
                        len: len as usize,
                    };
                    if dir == "request" {
                        l.req.push(s);
                    } else {
                        l.res.push(s);
                    }
                }
                _ => {
                    // capture cookie|request header|response header
                    let too_many = w.len() > 6;
                    match (arg(1), arg(2)) {
                        ("cookie", _) => {
                            if w.len() > 5 {
                                return Err(format!(
                                    "{pfx} '{} {}' cannot handle unexpected argument '{}'.",
                                    arg(0),
                                    arg(1),
                                    arg(5)
                                ));
                            }
                            if arg(4).is_empty() {
                                return Err(format!(
                                    "{pfx} '{}' expects 'cookie' <cookie_name> 'len' <len>.",
                                    arg(0)
                                ));
                            }
                            let len = config::units::atol(arg(4)).max(0) as usize;
                            l.cookie = Some((arg(2).as_bytes().to_vec(), len.min(COOKIE_CAPTURE_MAX)));
                        }
                        (d @ ("request" | "response"), "header") => {
                            if too_many {
                                return Err(format!(
                                    "{pfx} '{} {}' cannot handle unexpected argument '{}'.",
                                    arg(0),
                                    arg(1),
                                    arg(6)
                                ));
                            }
                            if arg(3).is_empty() || arg(4) != "len" || arg(5).is_empty() {
                                return Err(format!(
                                    "{pfx} '{} {d}' expects 'header' <header_name> 'len' <len>.",
                                    arg(0)
                                ));
                            }
                            let s = Slot {
                                hdr: Some(arg(3).to_ascii_lowercase().into_bytes()),
                                len: config::units::atol(arg(5)).max(0) as usize,
                            };
                            if d == "request" {
                                l.req.push(s);
                            } else {
                                l.res.push(s);
                            }
                        }
                        _ => {
                            return Err(format!(
                                "{pfx} '{}' expects 'cookie' or 'request header' or 'response header'.",
                                arg(0)
                            ))
                        }
                    }
                }
            }
        }
        Ok(l)
    }

    /// The request slot a `http-request capture ... len` line allocated.
    pub fn rule_slot(&self, loc: &Loc) -> Option<usize> {
        self.rule_slots.iter().find(|(l, _)| l == loc).map(|(_, i)| *i)
    }
}

/// `http-request capture <sample> len <n> [if|unless ...]`.
fn is_len_capture_rule(r: &RawLine) -> bool {
    r.words.get(1).map(|s| s.as_str()) == Some("capture") && capture_rule_len(&r.words).is_some()
}

/// The `len` argument of a capture rule (the word after the sample).
fn capture_rule_len<S: AsRef<str>>(w: &[S]) -> Option<usize> {
    match w.get(3).map(|s| s.as_ref()) {
        Some("len") => Some(config::units::atol(w.get(4).map_or("", |s| s.as_ref())).max(0) as usize),
        _ => None,
    }
}

/// One captured value: kept at most the slot's length.
#[derive(Debug, Default)]
struct Val {
    set: bool,
    max: usize,
    bytes: Vec<u8>,
}

impl Val {
    fn put(&mut self, v: &[u8]) {
        self.bytes.clear();
        self.bytes.extend_from_slice(&v[..v.len().min(self.max)]);
        self.set = true;
    }
    fn get(&self) -> Option<&[u8]> {
        self.set.then_some(&self.bytes[..])
    }
}

/// What one transaction captured, slot by slot (request and response
/// sides), in the frontend's slot order.
#[derive(Debug, Default)]
pub struct Captures {
    req: Vec<Val>,
    res: Vec<Val>,
}

thread_local! {
    /// Capture stores not in use by a transaction of this thread: their
    /// value buffers keep their capacity, so a busy thread stops
    /// allocating once it has served as many concurrent transactions.
    static POOL: RefCell<Vec<Captures>> = const { RefCell::new(Vec::new()) };
}

impl Captures {
    /// A store shaped for `layout`, from the thread's pool when possible.
    pub fn take(layout: &Layout) -> Captures {
        let mut c = POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default();
        c.shape(layout);
        c
    }

    /// Gives a store back to the thread's pool.
    pub fn give(c: Captures) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < 4096 {
                p.push(c);
            }
        });
    }

    fn shape(&mut self, layout: &Layout) {
        for (vals, slots) in [(&mut self.req, &layout.req), (&mut self.res, &layout.res)] {
            vals.resize_with(slots.len(), Val::default);
            for (v, s) in vals.iter_mut().zip(slots) {
                v.max = s.len;
                v.set = false;
                v.bytes.clear();
            }
        }
    }

    /// Forgets every value (next transaction on the connection).
    pub fn clear(&mut self) {
        for v in self.req.iter_mut().chain(self.res.iter_mut()) {
            v.set = false;
            v.bytes.clear();
        }
    }

    /// Stores a value into slot `idx` of a direction (truncated to the
    /// slot's length); an unknown slot is ignored, as HAProxy does.
    pub fn set(&mut self, response: bool, idx: usize, v: &[u8]) {
        let vals = if response { &mut self.res } else { &mut self.req };
        if let Some(slot) = vals.get_mut(idx) {
            slot.put(v);
        }
    }

    /// The value of request slot `idx`, if captured.
    pub fn req(&self, idx: usize) -> Option<&[u8]> {
        self.req.get(idx).and_then(Val::get)
    }

    /// The value of response slot `idx`, if captured.
    pub fn res(&self, idx: usize) -> Option<&[u8]> {
        self.res.get(idx).and_then(Val::get)
    }

    /// Request slots in declaration order (None: nothing captured), as the
    /// logs print them for `%hr`.
    pub fn req_slots(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.req.iter().map(Val::get)
    }

    /// Response slots in declaration order, for `%hs`.
    pub fn res_slots(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.res.iter().map(Val::get)
    }

    /// Captures the headers `capture request|response header` names from
    /// a parsed head: the last occurrence of a name wins, as in HAProxy.
    pub fn headers<'b>(&mut self, layout: &Layout, response: bool, hdrs: impl Iterator<Item = (&'b [u8], &'b [u8])>) {
        let (slots, vals) = if response {
            (&layout.res, &mut self.res)
        } else {
            (&layout.req, &mut self.req)
        };
        if !slots.iter().any(|s| s.hdr.is_some()) {
            return;
        }
        for (n, v) in hdrs {
            for (s, val) in slots.iter().zip(vals.iter_mut()) {
                if s.hdr.as_deref().is_some_and(|h| http::eq_ignore_case(h, n)) {
                    val.put(v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str, n: usize) -> RawLine {
        RawLine {
            words: s.split_whitespace().map(String::from).collect(),
            loc: Loc {
                file: "t.cfg".into(),
                line: n,
            },
        }
    }

    fn fe() -> Proxy {
        let mut p = Proxy {
            name: "fe".into(),
            loc: Loc {
                file: "t.cfg".into(),
                line: 10,
            },
            ..Proxy::default()
        };
        p.cap.frontend = true;
        p
    }

    #[test]
    fn slots_are_numbered_in_declaration_order() {
        let mut p = fe();
        // Inherited from a defaults section (lines before the frontend).
        p.http_request.push(line("http-request capture hdr(host) len 64", 3));
        p.http_request.push(line("http-request capture hdr(x-id) id 0", 12));
        p.http_request.push(line("http-request capture path len 8", 14));
        p.captures.push(line("declare capture request len 32", 11));
        p.captures.push(line("capture response header Server len 5", 13));
        p.captures.push(line("capture request header User-Agent len 4", 15));
        let l = Layout::build(&p).unwrap();
        let lens: Vec<usize> = l.req.iter().map(|s| s.len).collect();
        assert_eq!(lens, [64, 32, 8, 4]);
        assert_eq!(l.req[3].hdr.as_deref(), Some(&b"user-agent"[..]));
        assert_eq!(l.res[0].hdr.as_deref(), Some(&b"server"[..]));
        assert_eq!(l.rule_slot(&line("", 14).loc), Some(2));
        assert_eq!(l.rule_slot(&line("", 3).loc), Some(0));

        let mut c = Captures::take(&l);
        c.headers(
            &l,
            false,
            [(&b"User-Agent"[..], &b"curl/8"[..]), (b"user-agent", b"wget")].into_iter(),
        );
        c.set(false, 2, b"/a/long/path");
        c.set(false, 9, b"ignored");
        assert_eq!(c.req(3), Some(&b"wget"[..]));
        assert_eq!(c.req(2), Some(&b"/a/long/"[..]));
        let all: Vec<Option<&[u8]>> = c.req_slots().collect();
        assert_eq!(all, [None, None, Some(&b"/a/long/"[..]), Some(&b"wget"[..])]);
        c.clear();
        assert_eq!(c.req(3), None);
        Captures::give(c);
    }

    #[test]
    fn malformed_declarations_are_refused_like_haproxy() {
        for (l, msg) in [
            (
                "declare capture len 3",
                "'declare capture' requires a direction ('request' or 'response')",
            ),
            ("declare capture request len 0", "length must be > 0"),
            (
                "capture request header host",
                "'capture request' expects 'header' <header_name> 'len' <len>.",
            ),
            (
                "capture foo",
                "'capture' expects 'cookie' or 'request header' or 'response header'.",
            ),
        ] {
            let mut p = fe();
            p.captures.push(line(l, 11));
            let e = Layout::build(&p).unwrap_err();
            assert!(e.ends_with(msg), "{l}: {e}");
        }
    }
}
