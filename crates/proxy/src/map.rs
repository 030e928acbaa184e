//! Pattern references and maps (HAProxy's `pattern.c`/`map.c` subset):
//! the files behind `map*` converters and ACL `-f` flags, loaded once per
//! file at start-up and shared by every user, the matching indexes each
//! user compiles over them, and the run-time changes (`set-map`,
//! `del-map`, `add-acl`, `del-acl` actions, CLI map commands).
//!
//! Sharing: one [`PatRef`] per file (and flavour: map lines are split in
//! key and value, ACL lines are whole patterns) in a process-wide
//! registry. Each user holds an [`Expr`] whose compiled index is an
//! `Arc` swapped under a short lock (RCU-like): a lookup clones the `Arc`
//! and matches without holding anything, a change builds new indexes for
//! every user first (refusing the change if one cannot take it, e.g. a
//! non-integer value for a `map_*_int`) and then swaps them in.
//!
//! It must not know rules or streams: `sample` calls [`Expr::map`], `acl`
//! calls [`Expr::matches`], `http_act` and the CLI call [`PatRef`]'s
//! editing methods.

use crate::acl::MatchKind;
use crate::regex::Regex;
use crate::sample::Smp;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, RwLock, Weak};

/// The type of a map's values (`map_<in>_<out>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    Str,
    Int,
    Ip,
}

/// One line of a pattern file (or one added at run time).
#[derive(Clone, Debug)]
pub struct Entry {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    /// Line in the file (0: added at run time), for error texts.
    pub line: usize,
    /// Stable identity for the CLI's `show map` (HAProxy prints pointers).
    pub id: u64,
}

#[derive(Debug)]
struct RefInner {
    entries: Vec<Entry>,
    users: Vec<Weak<Expr>>,
    next_id: u64,
}

/// A pattern file as loaded, shared by its users.
#[derive(Debug)]
pub struct PatRef {
    pub name: String,
    /// Lines are `key value` (maps, ACL `-M`) rather than whole patterns.
    pub is_map: bool,
    /// HAProxy's reference id (`show map` lists them), in load order.
    pub id: u32,
    inner: Mutex<RefInner>,
}

static REFS: Mutex<Vec<Arc<PatRef>>> = Mutex::new(Vec::new());

/// Every pattern reference loaded so far, in load order.
pub fn all_refs() -> Vec<Arc<PatRef>> {
    REFS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// A reference by file name (maps first, as `set-map` and the CLI's map
/// commands want), or `#<id>`.
pub fn find_ref(name: &str, want_map: bool) -> Option<Arc<PatRef>> {
    let refs = REFS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(id) = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok()) {
        return refs.iter().find(|r| r.id == id).cloned();
    }
    refs.iter()
        .filter(|r| r.name == name)
        .max_by_key(|r| r.is_map == want_map)
        .cloned()
}

fn trim_ws(mut b: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = b {
        if !c.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    while let [rest @ .., c] = b {
        if !c.is_ascii_whitespace() {
            break;
        }
        b = rest;
    }
    b
}

/// Splits a pattern file: `#` comments and blank lines skipped; a map
/// line is a key up to the first blank and a value (the rest, trimmed);
/// an ACL line is one pattern (trimmed).
pub fn parse_file(data: &[u8], is_map: bool) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (n, line) in data.split(|&c| c == b'\n').enumerate() {
        let l = trim_ws(line);
        if l.is_empty() || l[0] == b'#' {
            continue;
        }
        if !is_map {
            out.push((n + 1, l.to_vec(), Vec::new()));
            continue;
        }
        let k = l.iter().position(|c| c.is_ascii_whitespace()).unwrap_or(l.len());
        out.push((n + 1, l[..k].to_vec(), trim_ws(&l[k..]).to_vec()));
    }
    out
}

/// Loads (or finds) the reference for `file`. The error is HAProxy's
/// "failed to open pattern file <f>".
pub fn load_ref(file: &str, is_map: bool) -> Result<Arc<PatRef>, String> {
    let mut refs = REFS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = refs.iter().find(|r| r.name == file) {
        if r.is_map != is_map {
            let (was, now) = if r.is_map { ("two", "one") } else { ("one", "two") };
            return Err(format!(
                "The file \"{file}\" is already used as {was} column file and cannot be used by as {now} column file."
            ));
        }
        return Ok(r.clone());
    }
    let data = std::fs::read(file).map_err(|_| format!("failed to open pattern file <{file}>"))?;
    let mut next_id = 0;
    let entries = parse_file(&data, is_map)
        .into_iter()
        .map(|(line, key, value)| {
            next_id += 1;
            Entry {
                key,
                value,
                line,
                id: next_id,
            }
        })
        .collect();
    let r = Arc::new(PatRef {
        name: file.to_string(),
        is_map,
        id: refs.len() as u32,
        inner: Mutex::new(RefInner {
            entries,
            users: Vec::new(),
            next_id,
        }),
    });
    refs.push(r.clone());
    Ok(r)
}

/// The reference `set-map`/`add-acl`-style actions name: the loaded one,
/// else one loaded now from the file if it exists, else a new empty one
/// (HAProxy creates it; the actions and the CLI then fill it).
pub fn ref_or_new(file: &str, is_map: bool) -> Arc<PatRef> {
    if let Some(r) = find_ref(file, is_map) {
        return r;
    }
    if let Ok(r) = load_ref(file, is_map) {
        return r;
    }
    let mut refs = REFS.lock().unwrap_or_else(|e| e.into_inner());
    let r = Arc::new(PatRef {
        name: file.to_string(),
        is_map,
        id: refs.len() as u32,
        inner: Mutex::new(RefInner {
            entries: Vec::new(),
            users: Vec::new(),
            next_id: 0,
        }),
    });
    refs.push(r.clone());
    r
}

/// A compiled pattern.
#[derive(Clone, Debug)]
enum Pat {
    Bytes(Vec<u8>),
    Range(i64, i64),
    Net(IpAddr, u8),
    Re(Regex),
}

/// One user's index over a reference's entries.
#[derive(Debug, Default)]
struct Compiled {
    pats: Vec<Pat>,
    /// `str` without `-i`: exact lookups (the first entry of a key wins).
    exact: HashMap<Vec<u8>, usize>,
    values: Vec<Option<Smp>>,
}

/// One use of a reference: how it matches and what it returns.
#[derive(Debug)]
pub struct Expr {
    pub pat_ref: Arc<PatRef>,
    kind: MatchKind,
    /// `map_regm`: the value's `\N` take the regex's groups.
    regm: bool,
    icase: bool,
    out: Option<Out>,
    cur: RwLock<Arc<Compiled>>,
}

impl PartialEq for Expr {
    fn eq(&self, o: &Expr) -> bool {
        std::ptr::eq(self, o)
    }
}

/// Parses a key for `kind`; errors are HAProxy's texts.
fn parse_pat(kind: MatchKind, icase: bool, key: &[u8]) -> Result<Pat, String> {
    let text = String::from_utf8_lossy(key);
    Ok(match kind {
        MatchKind::Int | MatchKind::Len => {
            let bad = || format!("'{text}' is not a number");
            let num = |s: &str, d: i64| -> Result<i64, String> {
                if s.is_empty() {
                    Ok(d)
                } else {
                    s.parse().map_err(|_| bad())
                }
            };
            match text.split_once(':') {
                Some((a, b)) => Pat::Range(num(a, i64::MIN)?, num(b, i64::MAX)?),
                None => {
                    let v = num(&text, 0)?;
                    if text.is_empty() {
                        return Err(bad());
                    }
                    Pat::Range(v, v)
                }
            }
        }
        MatchKind::Ip => {
            let bad = || format!("'{text}' is not a valid IPv4 or IPv6 address");
            let (a, bits) = match text.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (&text[..], None),
            };
            let ip: IpAddr = a.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => match b.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => match b.parse::<std::net::Ipv4Addr>() {
                        Ok(m) if ip.is_ipv4() => u32::from(m).count_ones() as u8,
                        _ => return Err(bad()),
                    },
                },
            };
            Pat::Net(ip, bits)
        }
        MatchKind::Reg => Pat::Re(Regex::new(&text, icase)?),
        _ => Pat::Bytes(if icase { key.to_ascii_lowercase() } else { key.to_vec() }),
    })
}

/// Parses a value for `out` ("unable to parse 'x'" as HAProxy).
pub fn parse_value(out: Out, v: &[u8]) -> Result<Smp, String> {
    let text = || String::from_utf8_lossy(v).into_owned();
    match out {
        Out::Str => Ok(Smp::Str(v.to_vec())),
        Out::Int => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Smp::Int)
            .ok_or_else(|| format!("unable to parse '{}'", text())),
        Out::Ip => std::str::from_utf8(v)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Smp::Ip)
            .ok_or_else(|| format!("unable to parse '{}'", text())),
    }
}

impl Expr {
    fn compile(&self, entries: &[Entry]) -> Result<Compiled, String> {
        compile(self.kind, self.icase, self.out, self.regm, entries, &self.pat_ref.name)
    }
}

fn compile(
    kind: MatchKind,
    icase: bool,
    out: Option<Out>,
    regm: bool,
    entries: &[Entry],
    file: &str,
) -> Result<Compiled, String> {
    let mut c = Compiled::default();
    for e in entries {
        let at = |m: String| {
            if e.line > 0 {
                format!("{m} at line {} of file '{file}'", e.line)
            } else {
                m
            }
        };
        let p = parse_pat(kind, icase, &e.key).map_err(at)?;
        let v = match out {
            // map_regm expands the value per match; keep the text.
            Some(o) if !regm => Some(parse_value(o, &e.value).map_err(at)?),
            Some(_) => Some(Smp::Str(e.value.clone())),
            None => None,
        };
        if kind == MatchKind::Str && !icase {
            if let Pat::Bytes(b) = &p {
                c.exact.entry(b.clone()).or_insert(c.pats.len());
            }
        }
        c.pats.push(p);
        c.values.push(v);
    }
    Ok(c)
}

/// Registers a new use of `r`. Errors name the file line as HAProxy does.
pub fn new_expr(
    r: Arc<PatRef>,
    kind: MatchKind,
    icase: bool,
    out: Option<Out>,
    regm: bool,
) -> Result<Arc<Expr>, String> {
    let mut inner = r.inner.lock().unwrap_or_else(|e| e.into_inner());
    let c = compile(kind, icase, out, regm, &inner.entries, &r.name)?;
    let e = Arc::new(Expr {
        pat_ref: r.clone(),
        kind,
        regm,
        icase,
        out,
        cur: RwLock::new(Arc::new(c)),
    });
    inner.users.retain(|u| u.strong_count() > 0);
    inner.users.push(Arc::downgrade(&e));
    Ok(e)
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) if net.is_ipv4() => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        IpAddr::V4(v4) if net.is_ipv6() => IpAddr::V6(v4.to_ipv6_mapped()),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if bits == 0 { 0 } else { u32::MAX << (32 - bits as u32) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if bits == 0 { 0 } else { u128::MAX << (128 - bits as u32) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

impl Expr {
    /// The value type (None: an ACL's file).
    pub fn out(&self) -> Option<Out> {
        self.out
    }

    fn current(&self) -> Arc<Compiled> {
        self.cur.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The index of the entry `v` matches, HAProxy's way: exact keys by
    /// lookup, prefixes (`beg` without `-i`) and networks by longest
    /// match, the other methods in file order.
    fn find(&self, c: &Compiled, v: &Smp) -> Option<(usize, Option<Vec<u8>>)> {
        match self.kind {
            MatchKind::Int | MatchKind::Len => {
                let x = match self.kind {
                    MatchKind::Len => v.clone().into_bytes().len() as i64,
                    _ => v.to_int()?,
                };
                c.pats
                    .iter()
                    .position(|p| matches!(*p, Pat::Range(lo, hi) if lo <= x && x <= hi))
                    .map(|i| (i, None))
            }
            MatchKind::Ip => {
                let ip = v.to_ip()?;
                let mut best: Option<(usize, u8)> = None;
                for (i, p) in c.pats.iter().enumerate() {
                    if let Pat::Net(n, bits) = *p {
                        if in_net(ip, n, bits) && best.is_none_or(|(_, b)| bits > b) {
                            best = Some((i, bits));
                        }
                    }
                }
                best.map(|(i, _)| (i, None))
            }
            MatchKind::Reg => {
                let s = str_of(v);
                for (i, p) in c.pats.iter().enumerate() {
                    if let Pat::Re(r) = p {
                        if self.regm {
                            let tmpl = match &c.values[i] {
                                Some(Smp::Str(t)) => t.as_slice(),
                                _ => b"",
                            };
                            if let Some(o) = r.replace(&s, tmpl) {
                                return Some((i, Some(o)));
                            }
                        } else if r.is_match(&s) {
                            return Some((i, None));
                        }
                    }
                }
                None
            }
            _ => {
                let raw = str_of(v);
                let s = if self.icase { raw.to_ascii_lowercase() } else { raw };
                if self.kind == MatchKind::Str && !self.icase {
                    return c.exact.get(&s).map(|&i| (i, None));
                }
                let mut best: Option<(usize, usize)> = None;
                for (i, p) in c.pats.iter().enumerate() {
                    let Pat::Bytes(pat) = p else { continue };
                    let ok = match self.kind {
                        MatchKind::Str => s == *pat,
                        MatchKind::Beg => s.starts_with(pat),
                        MatchKind::End => s.ends_with(pat),
                        MatchKind::Sub => pat.is_empty() || s.windows(pat.len()).any(|w| w == &pat[..]),
                        MatchKind::Dir => crate::acl::delimited(&s, pat, b'/'),
                        MatchKind::Dom => crate::acl::delimited(&s, pat, b'.'),
                        _ => false,
                    };
                    if !ok {
                        continue;
                    }
                    if self.kind != MatchKind::Beg || self.icase {
                        return Some((i, None));
                    }
                    if best.is_none_or(|(_, l)| pat.len() > l) {
                        best = Some((i, pat.len()));
                    }
                }
                best.map(|(i, _)| (i, None))
            }
        }
    }

    /// ACL use: whether any entry matches.
    pub fn matches(&self, v: &Smp) -> bool {
        let c = self.current();
        self.find(&c, v).is_some()
    }

    /// Map use: the value of the entry `v` matches.
    pub fn map(&self, v: &Smp) -> Option<Smp> {
        let c = self.current();
        let (i, regm) = self.find(&c, v)?;
        if let Some(o) = regm {
            return Some(Smp::Str(o));
        }
        c.values.get(i).cloned().flatten()
    }
}

/// A sample read as a string (binary stops at its first NUL).
fn str_of(v: &Smp) -> Vec<u8> {
    match v {
        Smp::Bin(b) => b.iter().take_while(|&&c| c != 0).copied().collect(),
        o => o.clone().into_bytes(),
    }
}

impl PatRef {
    /// A copy of the entries, in order (CLI `show map`).
    pub fn entries(&self) -> Vec<Entry> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.clone()
    }

    /// Applies `change` to the entries, then recompiles every user; if one
    /// of them cannot take the new entries, nothing changes.
    fn edit(&self, change: impl FnOnce(&mut Vec<Entry>, &mut u64)) -> Result<(), String> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = inner.entries.clone();
        let mut next = inner.next_id;
        change(&mut entries, &mut next);
        inner.users.retain(|u| u.strong_count() > 0);
        let users: Vec<Arc<Expr>> = inner.users.iter().filter_map(|u| u.upgrade()).collect();
        let mut built = Vec::with_capacity(users.len());
        for u in &users {
            built.push(Arc::new(u.compile(&entries)?));
        }
        for (u, c) in users.iter().zip(built) {
            *u.cur.write().unwrap_or_else(|e| e.into_inner()) = c;
        }
        inner.entries = entries;
        inner.next_id = next;
        Ok(())
    }

    /// Adds an entry (duplicates allowed, as HAProxy's `add map`).
    pub fn add(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.edit(|e, next| {
            *next += 1;
            e.push(Entry {
                key: key.to_vec(),
                value: value.to_vec(),
                line: 0,
                id: *next,
            });
        })
    }

    /// `set-map`: changes the value of every entry with this key, or adds
    /// one when there is none.
    pub fn set(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.edit(|e, next| {
            let mut found = false;
            for x in e.iter_mut().filter(|x| x.key == key) {
                x.value = value.to_vec();
                found = true;
            }
            if !found {
                *next += 1;
                e.push(Entry {
                    key: key.to_vec(),
                    value: value.to_vec(),
                    line: 0,
                    id: *next,
                });
            }
        })
    }

    /// `set map` on the CLI: only existing keys; false when none.
    pub fn set_existing(&self, key: &[u8], value: &[u8]) -> Result<bool, String> {
        let mut found = false;
        self.edit(|e, _| {
            for x in e.iter_mut().filter(|x| x.key == key) {
                x.value = value.to_vec();
                found = true;
            }
        })?;
        Ok(found)
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.iter().any(|e| e.key == key)
    }

    /// Removes every entry with this key; false when there was none.
    pub fn del(&self, key: &[u8]) -> bool {
        let mut found = false;
        let _ = self.edit(|e, _| {
            let n = e.len();
            e.retain(|x| x.key != key);
            found = e.len() != n;
        });
        found
    }

    pub fn clear(&self) {
        let _ = self.edit(|e, _| e.clear());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> String {
        let p = std::env::temp_dir().join(format!("rhaproxy-map-{}-{name}", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
    fn s(v: &str) -> Smp {
        Smp::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn file_format() {
        let l = parse_file(b"# c\n\n  k1   v one  \r\nk2\n", true);
        assert_eq!(l[0], (3, b"k1".to_vec(), b"v one".to_vec()));
        assert_eq!(l[1], (4, b"k2".to_vec(), b"".to_vec()));
        let l = parse_file(b" a b \n", false);
        assert_eq!(l[0].1, b"a b");
    }

    #[test]
    fn lookups_like_haproxy() {
        let f = tmp("m1", "/a x\n/a/b y\n/ z\nexact e1\nexact e2\n");
        let r = load_ref(&f, true).unwrap();
        let beg = new_expr(r.clone(), MatchKind::Beg, false, Some(Out::Str), false).unwrap();
        assert_eq!(beg.map(&s("/a/b/c")), Some(s("y")), "longest prefix");
        assert_eq!(beg.map(&s("/q")), Some(s("z")));
        let st = new_expr(r.clone(), MatchKind::Str, false, Some(Out::Str), false).unwrap();
        assert_eq!(st.map(&s("exact")), Some(s("e1")), "first entry of a key");
        assert_eq!(st.map(&s("nope")), None);
        let sub = new_expr(r.clone(), MatchKind::Sub, false, Some(Out::Str), false).unwrap();
        assert_eq!(sub.map(&s("xx/a/b")), Some(s("x")), "file order");
        // Changes reach every user; a value a user cannot take is refused.
        r.set(b"exact", b"e3").unwrap();
        assert_eq!(st.map(&s("exact")), Some(s("e3")));
        assert!(r.del(b"/a/b"));
        assert_eq!(beg.map(&s("/a/b/c")), Some(s("x")));
        r.add(b"new", b"n").unwrap();
        assert_eq!(st.map(&s("new")), Some(s("n")));

        let f = tmp("m2", "10.0.0.0/8 1\n10.1.0.0/16 2\n::1 3\n");
        let r = load_ref(&f, true).unwrap();
        let ip = new_expr(r.clone(), MatchKind::Ip, false, Some(Out::Int), false).unwrap();
        assert_eq!(ip.map(&s("10.1.2.3")), Some(Smp::Int(2)));
        assert_eq!(ip.map(&Smp::Ip("10.2.0.1".parse().unwrap())), Some(Smp::Int(1)));
        assert_eq!(ip.map(&s("::1")), Some(Smp::Int(3)));
        assert!(r.set(b"::1", b"notint").is_err());
        assert_eq!(ip.map(&s("::1")), Some(Smp::Int(3)));
        let e = new_expr(r, MatchKind::Int, false, Some(Out::Str), false).unwrap_err();
        assert!(e.starts_with("'10.0.0.0/8' is not a number at line 1 of file '"), "{e}");

        let f = tmp("m3", "^(.*)\\.(.*)$ \\1_AND_\\2\n");
        let r = load_ref(&f, true).unwrap();
        let m = new_expr(r, MatchKind::Reg, false, Some(Out::Str), true).unwrap();
        assert_eq!(m.map(&s("example.org")), Some(s("example_AND_org")));
        assert_eq!(m.map(&s("www.example.org")), Some(s("www.example_AND_org")));
        assert_eq!(m.map(&s("nodot")), None);

        let f = tmp("m4", "1:5 low\n6: high\n");
        let r = load_ref(&f, true).unwrap();
        let i = new_expr(r, MatchKind::Int, false, Some(Out::Str), false).unwrap();
        assert_eq!(i.map(&Smp::Int(3)), Some(s("low")));
        assert_eq!(i.map(&s("99")), Some(s("high")));
        let e = load_ref(&f, false).unwrap_err();
        assert!(
            e.ends_with("is already used as two column file and cannot be used by as one column file."),
            "{e}"
        );
        assert!(load_ref("/nonexistent.map", true)
            .unwrap_err()
            .contains("failed to open pattern file </nonexistent.map>"));
    }
}
