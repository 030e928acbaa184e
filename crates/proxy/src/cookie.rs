//! Cookie-based persistence (the backend's `cookie` line and the servers'
//! `cookie <value>`) and `capture cookie` for the logs' `%CC`/`%CS`, as
//! HAProxy 2.6's `http_manage_client_side_cookies()`,
//! `http_manage_server_side_cookies()` and the Set-Cookie insertion of
//! `http_process_res_common()`.
//!
//! Owns the walk over `Cookie`/`Set-Cookie` values (with HAProxy's exact
//! edits: spaces around `=` removed, indirect cookies deleted, prefixes
//! stripped or added), the persistence decision and its log flags, the
//! date encoding of `maxidle`/`maxlife`, and the Set-Cookie HAProxy adds.
//! It must not touch streams, sockets or the LB: the stream hands it
//! header values and a way to look servers up, and applies the result.

use config::cookie::CookieOpts;

/// The request's cookie status (`%tsc` third char, HAProxy's `TX_CK_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ck {
    #[default]
    None,
    Invalid,
    Down,
    Valid,
    Expired,
    Old,
    Unused,
}

/// The response's Set-Cookie status (`%tsc` fourth char, `TX_SCK_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sck {
    #[default]
    None,
    Found,
    Deleted,
    Inserted,
    Replaced,
    Updated,
}

impl Ck {
    pub fn log_char(self) -> u8 {
        b"NIDVEOU"[self as usize]
    }
}

impl Sck {
    pub fn log_char(self) -> u8 {
        b"NPDIRU"[self as usize]
    }
}

/// One transaction's persistence state and cookie captures. Kept in the
/// transaction and cleared (not freed) between requests.
#[derive(Debug, Default)]
pub struct CkTxn {
    pub ck: Ck,
    pub sck: Sck,
    /// Dates carried by the request's cookie (seconds, multiple of 4).
    pub first_date: u32,
    pub last_date: u32,
    /// `ignore-persist` matched (HAProxy's `SF_IGNORE_PRST`).
    pub ignore: bool,
    /// `force-persist` matched or `option persist`: a down server named
    /// by the cookie is still used.
    pub force: bool,
    /// The request was cacheable (GET, HEAD, OPTIONS or TRACE).
    pub meth_cacheable: bool,
    pub is_post: bool,
    pub cli: Vec<u8>,
    pub srv: Vec<u8>,
    pub has_cli: bool,
    pub has_srv: bool,
}

impl CkTxn {
    pub fn reset(&mut self) {
        self.ck = Ck::None;
        self.sck = Sck::None;
        self.first_date = 0;
        self.last_date = 0;
        self.ignore = false;
        self.force = false;
        self.meth_cacheable = false;
        self.is_post = false;
        self.cli.clear();
        self.srv.clear();
        self.has_cli = false;
        self.has_srv = false;
    }
    pub fn cli_cookie(&self) -> Option<&[u8]> {
        self.has_cli.then_some(&self.cli[..])
    }
    pub fn srv_cookie(&self) -> Option<&[u8]> {
        self.has_srv.then_some(&self.srv[..])
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// A 30-bit value as the 5 base64 characters HAProxy writes in cookie
/// dates (most significant first, no padding).
pub fn s30_to_b64(v: u32, out: &mut Vec<u8>) {
    for i in (0..5).rev() {
        out.push(B64[((v >> (6 * i)) & 0x3f) as usize]);
    }
}

/// The inverse of [`s30_to_b64`] over the first 5 bytes; None on any byte
/// outside the alphabet (padding included).
pub fn b64_to_s30(s: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &c in s.get(..5)? {
        let d = B64.iter().position(|&x| x == c)? as u32;
        v = (v << 6) | d;
    }
    Some(v)
}

fn sp(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// HAProxy's `http_del_hdr_value()` over `v[..*end]`: removes the cookie
/// between `*from` (its leading delimiter, or 0) and `next`, keeping the
/// delimiter and one space when something follows. Updates `*from` and
/// `*end`; returns how far what followed moved (negative).
fn del_value(v: &mut [u8], end: &mut usize, from: &mut usize, mut next: usize) -> isize {
    let mut prev = *from;
    if prev == 0 {
        if next < *end {
            next += 1;
        }
        while next < *end && sp(v[next]) {
            next += 1;
        }
    } else {
        while prev > 0 && sp(v[prev - 1]) {
            prev -= 1;
        }
        *from = prev;
        if next < *end {
            v[prev] = v[next];
            prev += 1;
            next += 1;
            if prev + 1 < next {
                v[prev] = b' ';
                prev += 1;
            }
            while next < *end && sp(v[next]) {
                next += 1;
            }
        }
    }
    v.copy_within(next..*end, prev);
    let delta = prev as isize - next as isize;
    *end = (*end as isize + delta) as usize;
    delta
}

fn add(i: usize, d: isize) -> usize {
    (i as isize + d) as usize
}

/// What the request side needs from its backend and stream.
pub struct ReqSide<'a> {
    pub opts: Option<&'a CookieOpts>,
    /// `capture cookie` of the frontend: name prefix and length kept.
    pub capture: Option<(&'a [u8], usize)>,
    /// A server is already assigned (`use-server`), or `ignore-persist`
    /// matched: a persistence cookie is not used.
    pub skip: bool,
    /// Wall clock, seconds since the epoch.
    pub now: u32,
}

/// Looks a server up by cookie value from an index on: (index, down).
pub type FindSrv<'a> = dyn Fn(&[u8], usize) -> Option<(usize, bool)> + 'a;

/// Walks one `Cookie` header value in place (HAProxy handles each header
/// line on its own). Returns the new length (0: remove the header) and
/// the server the persistence cookie designates, if any. `find(value,
/// from)` returns the first server at index `from` or later whose
/// cookie is `value`, and whether it is down.
pub fn request_header(v: &mut [u8], rq: &ReqSide<'_>, st: &mut CkTxn, find: &FindSrv<'_>) -> (usize, Option<usize>) {
    let mut end = v.len();
    let mut chosen = None;
    let mut prev = 0;
    let mut first = true;
    let mut del_from: Option<usize> = None;
    let mut preserve = false;
    while prev < end {
        let mut att_beg = prev;
        if !first {
            att_beg += 1;
        }
        first = false;
        while att_beg < end && sp(v[att_beg]) {
            att_beg += 1;
        }
        let mut equal = att_beg;
        let mut att_end = att_beg;
        while equal < end {
            let c = v[equal];
            if c == b'=' || c == b',' || c == b';' {
                break;
            }
            equal += 1;
            if !sp(c) {
                att_end = equal;
            }
        }
        let (mut val_beg, mut val_end, mut next);
        if equal < end && v[equal] == b'=' {
            val_beg = equal + 1;
            while val_beg < end && sp(v[val_beg]) {
                val_beg += 1;
            }
            next = crate::sample::cookie_value_end(&v[..end], val_beg);
            val_end = next;
            while val_end > val_beg && sp(v[val_end - 1]) {
                val_end -= 1;
            }
        } else {
            val_beg = equal;
            val_end = equal;
            next = equal;
        }
        if att_beg < end && v[att_beg] == b'$' {
            prev = next;
            continue;
        }
        if equal == next {
            // Not a cookie of ours: keep it, but first cut what was
            // marked for removal before it.
            preserve = true;
            if let Some(mut df) = del_from.take() {
                let d = del_value(v, &mut end, &mut df, prev);
                next = add(next, d);
            }
            prev = next;
            continue;
        }
        if att_end != equal || val_beg > equal + 1 {
            // Spaces around '=' are removed from the forwarded header.
            let mut shift: isize = 0;
            if att_end != equal {
                v.copy_within(equal..end, att_end);
                shift = att_end as isize - equal as isize;
                equal = add(equal, shift);
                val_beg = add(val_beg, shift);
            }
            if val_beg > equal + 1 {
                let stop = add(end, shift);
                v.copy_within(val_beg..stop, equal + 1);
                let after = (equal + 1) as isize - val_beg as isize;
                val_beg = add(val_beg, after);
                shift += after;
            }
            val_end = add(val_end, shift);
            next = add(next, shift);
            end = add(end, shift);
        }
        if let Some((name, len)) = rq.capture {
            if !st.has_cli && val_end - att_beg >= name.len() && v[att_beg..].starts_with(name) {
                st.cli.clear();
                st.cli.extend_from_slice(&v[att_beg..val_end.min(att_beg + len)]);
                st.has_cli = true;
            }
        }
        let ours = rq.opts.filter(|o| &v[att_beg..att_end] == o.name.as_bytes());
        if let Some(o) = ours {
            let mut delim;
            if o.prefix {
                delim = v[val_beg..val_end]
                    .iter()
                    .position(|&c| c == b'~')
                    .map_or(val_end, |p| val_beg + p);
            } else {
                delim = val_end;
                if let Some(p) = v[val_beg..val_end].iter().position(|&c| c == b'|') {
                    delim = val_beg + p;
                    let d1 = delim + 1;
                    if val_end - d1 >= 5 {
                        if let Some(x) = b64_to_s30(&v[d1..]).filter(|x| *x > 0) {
                            st.last_date = x << 2;
                        }
                    }
                    if let Some(p2) = v[d1..val_end].iter().position(|&c| c == b'|') {
                        let d2 = d1 + p2;
                        if val_end - d2 > 5 {
                            if let Some(x) = b64_to_s30(&v[d2 + 1..]).filter(|x| *x > 0) {
                                st.first_date = x << 2;
                            }
                        }
                    }
                }
            }
            let late = |date: u32, max: u32| {
                (rq.now.wrapping_sub(date) as i32) > max as i32 || (date.wrapping_sub(rq.now) as i32) > 86400
            };
            if st.first_date != 0 && o.maxlife != 0 && late(st.first_date, o.maxlife) {
                st.ck = Ck::Old;
                delim = val_beg;
                st.first_date = 0;
                st.last_date = 0;
            } else if st.last_date != 0 && o.maxidle != 0 && late(st.last_date, o.maxidle) {
                st.ck = Ck::Expired;
                delim = val_beg;
                st.first_date = 0;
                st.last_date = 0;
            }
            let mut found = None;
            if delim != val_beg && !rq.skip && chosen.is_none() {
                let mut from = 0;
                while let Some((i, down)) = find(&v[val_beg..delim], from) {
                    if !down || st.force {
                        st.ck = if down { Ck::Down } else { Ck::Valid };
                        found = Some(i);
                        break;
                    }
                    st.ck = Ck::Down;
                    from = i + 1;
                }
            }
            if found.is_none() && st.ck == Ck::None {
                st.ck = if rq.skip || chosen.is_some() {
                    Ck::Unused
                } else {
                    Ck::Invalid
                };
            }
            if found.is_some() {
                chosen = found;
            }
            if o.prefix && delim != val_end {
                // The server part goes: the application sees its own value.
                v.copy_within(delim + 1..end, val_beg);
                let d = val_beg as isize - (delim + 1) as isize;
                next = add(next, d);
                end = add(end, d);
                del_from = None;
                preserve = true;
            } else if del_from.is_none() && o.insert && o.indirect {
                del_from = Some(prev);
            }
        } else {
            preserve = true;
            if let Some(mut df) = del_from.take() {
                let d = del_value(v, &mut end, &mut df, prev);
                next = add(next, d);
            }
        }
        prev = next;
    }
    if let Some(df) = del_from {
        end = if preserve { df } else { 0 };
    }
    (end, chosen)
}

/// What the response side does to one `Set-Cookie` header.
#[derive(Debug, PartialEq, Eq)]
pub enum SetCookie {
    Keep,
    Remove,
    /// A new value (spaces around '=' removed, or the server part
    /// rewritten or prefixed).
    Replace(Vec<u8>),
}

/// What the response side needs from its backend and stream.
pub struct ResSide<'a> {
    pub opts: Option<&'a CookieOpts>,
    pub capture: Option<(&'a [u8], usize)>,
    /// The server the response comes from and its `cookie` value.
    pub srv: Option<Option<&'a [u8]>>,
    /// The server was chosen by persistence (`SF_DIRECT`).
    pub direct: bool,
}

/// Walks one `Set-Cookie` header value (only its first `name=value`
/// matters, as for HAProxy).
pub fn response_header(v: &[u8], rs: &ResSide<'_>, st: &mut CkTxn) -> SetCookie {
    let end = v.len();
    let mut att_beg = 0;
    while att_beg < end && sp(v[att_beg]) {
        att_beg += 1;
    }
    let mut equal = att_beg;
    let mut att_end = att_beg;
    while equal < end {
        let c = v[equal];
        if c == b'=' || c == b';' {
            break;
        }
        equal += 1;
        if !sp(c) {
            att_end = equal;
        }
    }
    let (val_beg, val_end) = if equal < end && v[equal] == b'=' {
        let mut vb = equal + 1;
        while vb < end && sp(v[vb]) {
            vb += 1;
        }
        let next = crate::sample::cookie_value_end(v, vb);
        let mut ve = next;
        while ve > vb && sp(v[ve - 1]) {
            ve -= 1;
        }
        (vb, ve)
    } else {
        (equal, equal)
    };
    if equal == val_end {
        return SetCookie::Keep;
    }
    let stripped = att_end != equal || val_beg > equal + 1;
    // The value as HAProxy leaves it: name, '=', value, the rest.
    let name = &v[att_beg..att_end];
    let value = &v[val_beg..val_end];
    if let Some((cn, len)) = rs.capture {
        let whole = name.len() + 1 + value.len();
        if !st.has_srv && whole >= cn.len() {
            let mut tmp = Vec::with_capacity(whole);
            tmp.extend_from_slice(name);
            tmp.push(b'=');
            tmp.extend_from_slice(value);
            if tmp.starts_with(cn) {
                st.srv.clear();
                st.srv.extend_from_slice(&tmp[..whole.min(len)]);
                st.has_srv = true;
            }
        }
    }
    let rebuild = |val: &[u8]| {
        let mut out = Vec::with_capacity(end + val.len());
        out.extend_from_slice(&v[..att_beg]);
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(val);
        out.extend_from_slice(&v[val_end..]);
        out
    };
    let keep = || {
        if stripped {
            SetCookie::Replace(rebuild(value))
        } else {
            SetCookie::Keep
        }
    };
    let Some(o) = rs.opts.filter(|o| !st.ignore && name == o.name.as_bytes()) else {
        return keep();
    };
    st.sck = Sck::Found;
    if o.preserve {
        return keep();
    }
    if (rs.srv.is_some() && o.insert) || (rs.direct && o.indirect) {
        st.sck = Sck::Deleted;
        return SetCookie::Remove;
    }
    match rs.srv {
        Some(Some(sc)) if o.rewrite => {
            st.sck = Sck::Replaced;
            SetCookie::Replace(rebuild(sc))
        }
        Some(Some(sc)) if o.prefix => {
            st.sck = Sck::Replaced;
            let mut nv = Vec::with_capacity(sc.len() + 1 + value.len());
            nv.extend_from_slice(sc);
            nv.push(b'~');
            nv.extend_from_slice(value);
            SetCookie::Replace(rebuild(&nv))
        }
        _ => keep(),
    }
}

/// HAProxy 2.6.12's response cacheability as far as `nocache` needs it:
/// the request method and status, then `Pragma: no-cache`, the
/// `Cache-Control` values (`values` yields each comma-separated one), and
/// no cache at all without freshness information (`max-age`, `s-maxage`,
/// `Expires`: `expires`) or a validator (`ETag`/`Last-Modified`:
/// `validator`). `pragma` is the first Pragma header, if any.
pub fn cacheable<'v>(
    meth_cacheable: bool,
    status: u16,
    pragma: Option<&[u8]>,
    values: impl Iterator<Item = &'v [u8]>,
    expires: bool,
    validator: bool,
) -> bool {
    let mut c = meth_cacheable && matches!(status, 200 | 203 | 204 | 206 | 300 | 301 | 404 | 405 | 410 | 414 | 501);
    if status < 200 || pragma.is_some_and(|p| p.eq_ignore_ascii_case(b"no-cache")) {
        return false;
    }
    let starts = |v: &[u8], p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
    let (mut fresh, mut null_maxage) = (false, false);
    for v in values {
        if v.eq_ignore_ascii_case(b"public") {
            c = true;
        } else if v.eq_ignore_ascii_case(b"max-age=0") {
            null_maxage = true;
        } else if [&b"private"[..], b"no-cache", b"no-store", b"s-maxage=0"]
            .iter()
            .any(|x| v.eq_ignore_ascii_case(x))
        {
            c = false;
        } else if starts(v, b"no-cache=\"set-cookie") {
            // Only the cookie is uncacheable: the response still is.
        } else if starts(v, b"s-maxage") {
            fresh = true;
            null_maxage = false;
        } else if starts(v, b"max-age") {
            fresh = true;
        }
    }
    if null_maxage {
        c = false;
    }
    c && (fresh || expires || validator)
}

/// Whether HAProxy inserts a Set-Cookie into this response, and if so
/// writes its value into `out`. `srv_cookie`: the serving server's
/// `cookie` (None: it has none, the client's cookie is then cleared).
pub fn insert(
    o: &CookieOpts,
    st: &mut CkTxn,
    srv_cookie: Option<&[u8]>,
    direct: bool,
    now: u32,
    out: &mut Vec<u8>,
) -> bool {
    let date_due =
        (o.maxidle != 0 || st.last_date != 0) && (st.last_date == 0 || (st.last_date.wrapping_sub(now) as i32) < 0);
    let wanted = o.insert
        && !(st.sck == Sck::Found && o.preserve)
        && (!direct || date_due || (o.maxlife != 0 && st.first_date == 0) || (o.maxlife == 0 && st.first_date != 0))
        && (!o.postonly || st.is_post)
        && !st.ignore;
    if !wanted {
        return false;
    }
    out.clear();
    out.extend_from_slice(o.name.as_bytes());
    match srv_cookie {
        None => out.extend_from_slice(b"=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/"),
        Some(c) => {
            out.push(b'=');
            out.extend_from_slice(c);
            if o.maxidle != 0 || o.maxlife != 0 {
                let stamp = (now.wrapping_add(3) >> 2) & 0x3fff_ffff;
                out.push(b'|');
                s30_to_b64(stamp, out);
                if o.maxlife != 0 {
                    out.push(b'|');
                    let f = if st.first_date != 0 { st.first_date >> 2 } else { stamp };
                    s30_to_b64(f, out);
                }
            }
            out.extend_from_slice(b"; path=/");
        }
    }
    if let Some(d) = &o.domain {
        out.extend_from_slice(b"; domain=");
        out.extend_from_slice(d.as_bytes());
    }
    if o.httponly {
        out.extend_from_slice(b"; HttpOnly");
    }
    if o.secure {
        out.extend_from_slice(b"; Secure");
    }
    if let Some(a) = &o.attrs {
        out.extend_from_slice(b"; ");
        out.extend_from_slice(a.as_bytes());
    }
    st.sck = if srv_cookie.is_some() && direct {
        Sck::Updated
    } else {
        Sck::Inserted
    };
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(line: &str) -> CookieOpts {
        let w: Vec<String> = line.split_whitespace().map(String::from).collect();
        config::cookie::parse(&w, "t:1").unwrap().0
    }

    /// Servers s1 (cookie "a", up), s2 ("b", down), s3 ("b", up).
    fn find(v: &[u8], from: usize) -> Option<(usize, bool)> {
        let srv: [(&[u8], bool); 3] = [(b"a", false), (b"b", true), (b"b", false)];
        (from..3).find(|&i| srv[i].0 == v).map(|i| (i, srv[i].1))
    }

    fn req(o: &CookieOpts, hdr: &str, skip: bool) -> (String, Option<usize>, CkTxn) {
        let mut st = CkTxn::default();
        let mut v = hdr.as_bytes().to_vec();
        let rq = ReqSide {
            opts: Some(o),
            capture: Some((b"SID", 5)),
            skip,
            now: 1_700_000_000,
        };
        let (n, s) = request_header(&mut v, &rq, &mut st, &find);
        (String::from_utf8(v[..n].to_vec()).unwrap(), s, st)
    }

    #[test]
    fn insert_indirect_removes_our_cookie() {
        let o = opts("cookie SRV insert indirect");
        assert_eq!(req(&o, "SRV=a", false).0, "");
        let (h, s, st) = req(&o, "x=1; SRV=a; y=2", false);
        assert_eq!((h.as_str(), s, st.ck), ("x=1; y=2", Some(0), Ck::Valid));
        assert_eq!(req(&o, "SRV=a; y=2", false).0, "y=2");
        assert_eq!(req(&o, "x=1;SRV=a", false).0, "x=1");
        // A cookie of a down server: the next server with it is used.
        let (_, s, st) = req(&o, "SRV=b", false);
        assert_eq!((s, st.ck), (Some(2), Ck::Valid));
        let (_, s, st) = req(&o, "SRV=zz", false);
        assert_eq!((s, st.ck), (None, Ck::Invalid));
        let (_, s, st) = req(&o, "SRV=a", true);
        assert_eq!((s, st.ck), (None, Ck::Unused));
    }

    #[test]
    fn spaces_capture_and_prefix() {
        let o = opts("cookie SRV prefix");
        let (h, s, st) = req(&o, "SID = 12345678 ; SRV=a~app", false);
        assert_eq!((h.as_str(), s), ("SID=12345678 ; SRV=app", Some(0)));
        assert_eq!(st.cli_cookie(), Some(&b"SID=1"[..]));
        let o = opts("cookie SRV rewrite");
        assert_eq!(req(&o, "SRV=a; $Path=/", false).0, "SRV=a; $Path=/");
    }

    #[test]
    fn dates_round_trip_and_expire() {
        let mut b = Vec::new();
        s30_to_b64(425_000_000, &mut b);
        assert_eq!(b64_to_s30(&b), Some(425_000_000));
        assert_eq!(b64_to_s30(b"AAA=A"), None);
        let o = opts("cookie SRV insert maxidle 10");
        let mut v = Vec::new();
        s30_to_b64((1_700_000_000 - 100) >> 2, &mut v);
        let (_, s, st) = req(&o, &format!("SRV=a|{}", String::from_utf8(v).unwrap()), false);
        assert_eq!((s, st.ck), (None, Ck::Expired));
    }

    #[test]
    fn set_cookie_insertion_text() {
        let o = opts("cookie SRV insert indirect nocache domain a.b httponly secure attr SameSite=Lax maxlife 1h");
        let mut st = CkTxn::default();
        let mut out = Vec::new();
        assert!(insert(&o, &mut st, Some(b"s1"), false, 1_700_000_000, &mut out));
        let s = String::from_utf8(out.clone()).unwrap();
        assert!(s.starts_with("SRV=s1|"), "{s}");
        assert!(
            s.ends_with("; path=/; domain=a.b; HttpOnly; Secure; SameSite=Lax"),
            "{s}"
        );
        assert_eq!(st.sck, Sck::Inserted);
        // Direct access, no dates: nothing to insert.
        let o = opts("cookie SRV insert");
        let mut st = CkTxn::default();
        assert!(!insert(&o, &mut st, Some(b"s1"), true, 0, &mut out));
        assert!(insert(&o, &mut st, None, false, 0, &mut out));
        assert_eq!(out, b"SRV=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/");
    }

    #[test]
    fn set_cookie_from_server() {
        let o = opts("cookie SRV insert");
        let rs = ResSide {
            opts: Some(&o),
            capture: None,
            srv: Some(Some(b"s1")),
            direct: false,
        };
        let mut st = CkTxn::default();
        assert_eq!(response_header(b"SRV=x; path=/", &rs, &mut st), SetCookie::Remove);
        assert_eq!(st.sck, Sck::Deleted);
        assert_eq!(
            response_header(b"other = 1; path=/", &rs, &mut st),
            SetCookie::Replace(b"other=1; path=/".to_vec())
        );
        let o = opts("cookie SRV prefix");
        let rs = ResSide { opts: Some(&o), ..rs };
        assert_eq!(
            response_header(b"SRV=x; path=/", &rs, &mut st),
            SetCookie::Replace(b"SRV=s1~x; path=/".to_vec())
        );
        // As HAProxy 2.6.12 answers (checked on the wire).
        let cc =
            |v: &[&'static [u8]], m: bool, exp: bool, val: bool| cacheable(m, 200, None, v.iter().copied(), exp, val);
        assert!(!cc(&[b"private", b"max-age=5"], true, false, false));
        assert!(!cc(&[b"public"], true, false, false));
        assert!(cc(&[b"max-age=10"], true, false, false));
        assert!(cc(&[], true, false, true));
        assert!(cc(&[], true, true, false));
        assert!(!cc(&[b"max-age=0"], true, false, true));
        assert!(cc(&[b"max-age=0", b"s-maxage=9"], true, false, false));
        assert!(!cc(&[b"max-age=10"], false, false, false));
        assert!(cc(&[b"public", b"max-age=10"], false, false, false));
    }
}
