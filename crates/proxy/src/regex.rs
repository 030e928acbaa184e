//! Regular expressions for rules and ACLs (HAProxy's `regex.c` without
//! PCRE): POSIX extended regexes from the C library, compiled once at
//! start-up, plus HAProxy's `\N` back-reference replacement.
//!
//! Owns the only FFI to `regcomp`/`regexec`. It must not be used on a
//! rules-free path; matching copies the subject to NUL-terminate it.

use std::ffi::CString;

pub struct Regex {
    pat: String,
    icase: bool,
    re: Box<libc::regex_t>,
}

// SAFETY: a compiled regex_t is only read by regexec(), which POSIX
// specifies as thread-safe on a shared, already compiled pattern; it is
// freed once, in Drop, with exclusive access.
unsafe impl Send for Regex {}
// SAFETY: see Send: concurrent regexec() calls only read the pattern.
unsafe impl Sync for Regex {}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Regex({:?})", self.pat)
    }
}

impl PartialEq for Regex {
    fn eq(&self, o: &Regex) -> bool {
        self.pat == o.pat && self.icase == o.icase
    }
}

impl Clone for Regex {
    fn clone(&self) -> Regex {
        Regex::new(&self.pat, self.icase).expect("recompiling a valid regex")
    }
}

impl Drop for Regex {
    fn drop(&mut self) {
        // SAFETY: `re` was successfully compiled by regcomp in `new` and is
        // freed exactly once here.
        unsafe { libc::regfree(&mut *self.re) }
    }
}

const MAX_MATCH: usize = 10;

/// `\d` and `\D` as PCRE reads them (the HAProxy rhaproxy is compared
/// with is built with PCRE2): glibc's ERE knows `\w \s` and friends but
/// would read `\d` as a plain `d`. Outside brackets they become `[0-9]`
/// and `[^0-9]`; inside one, `\d` becomes the range `0-9` (`\D` there has
/// no POSIX spelling and is left to regcomp).
fn digit_classes(pat: &str) -> std::borrow::Cow<'_, str> {
    if !pat.contains("\\d") && !pat.contains("\\D") {
        return pat.into();
    }
    let b = pat.as_bytes();
    let mut o = String::with_capacity(pat.len() + 8);
    let (mut i, mut in_br) = (0, false);
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            match (b[i + 1], in_br) {
                (b'd', false) => o.push_str("[0-9]"),
                (b'D', false) => o.push_str("[^0-9]"),
                (b'd', true) => o.push_str("0-9"),
                (n, _) => {
                    o.push('\\');
                    o.push(n as char);
                }
            }
            i += 2;
            continue;
        }
        if c == b'[' && !in_br {
            in_br = true;
            o.push('[');
            i += 1;
            // A ']' right after '[' or '[^' is a member, not the end.
            if b.get(i) == Some(&b'^') {
                o.push('^');
                i += 1;
            }
            if b.get(i) == Some(&b']') {
                o.push(']');
                i += 1;
            }
            continue;
        }
        if c == b']' && in_br {
            in_br = false;
        }
        // Multi-byte characters are copied whole.
        let len = pat[i..].chars().next().map_or(1, char::len_utf8);
        o.push_str(&pat[i..i + len]);
        i += len;
    }
    o.into()
}

impl Regex {
    pub fn new(pat: &str, icase: bool) -> Result<Regex, String> {
        let c =
            CString::new(digit_classes(pat).into_owned()).map_err(|_| format!("regex '{pat}' contains a NUL byte"))?;
        // SAFETY: regex_t is a plain C struct; all-zero is a valid
        // initial state for regcomp to fill.
        let mut re: Box<libc::regex_t> = Box::new(unsafe { std::mem::zeroed() });
        let flags = libc::REG_EXTENDED | if icase { libc::REG_ICASE } else { 0 };
        // SAFETY: `re` points to writable storage and `c` is a valid
        // NUL-terminated string for the duration of the call.
        let rc = unsafe { libc::regcomp(&mut *re, c.as_ptr(), flags) };
        if rc != 0 {
            return Err(format!("regex '{pat}' is invalid"));
        }
        Ok(Regex {
            pat: pat.to_string(),
            icase,
            re,
        })
    }

    /// Match positions of the whole expression and its groups.
    fn exec(&self, s: &[u8]) -> Option<[Option<(usize, usize)>; MAX_MATCH]> {
        self.exec_flags(s, 0)
    }

    fn exec_flags(&self, s: &[u8], flags: libc::c_int) -> Option<[Option<(usize, usize)>; MAX_MATCH]> {
        let mut z = Vec::with_capacity(s.len() + 1);
        z.extend_from_slice(s);
        if z.contains(&0) {
            return None;
        }
        z.push(0);
        let mut m = [libc::regmatch_t { rm_so: -1, rm_eo: -1 }; MAX_MATCH];
        // SAFETY: `re` is compiled, `z` is NUL-terminated and `m` has
        // room for MAX_MATCH entries as passed.
        let rc = unsafe {
            libc::regexec(
                &*self.re,
                z.as_ptr() as *const libc::c_char,
                MAX_MATCH,
                m.as_mut_ptr(),
                flags,
            )
        };
        if rc != 0 {
            return None;
        }
        let mut out = [None; MAX_MATCH];
        for (o, x) in out.iter_mut().zip(m.iter()) {
            if x.rm_so >= 0 {
                *o = Some((x.rm_so as usize, x.rm_eo as usize));
            }
        }
        Some(out)
    }

    pub fn is_match(&self, s: &[u8]) -> bool {
        self.exec(s).is_some()
    }

    /// HAProxy's `exp_replace`: when `s` matches, the whole of it becomes
    /// `fmt` with `\N` replaced by group N (and `\\` by a backslash).
    pub fn replace(&self, s: &[u8], fmt: &[u8]) -> Option<Vec<u8>> {
        let m = self.exec(s)?;
        let mut o = Vec::with_capacity(fmt.len() + s.len());
        expand(fmt, s, &m, &mut o);
        Some(o)
    }

    /// The `regsub` converter: each match (the first one, or all with
    /// `global`) is replaced by `fmt` with its `\N` references; the rest
    /// of `s` is kept. An empty match copies one character and moves on.
    pub fn replace_all(&self, s: &[u8], fmt: &[u8], global: bool) -> Vec<u8> {
        let mut o = Vec::with_capacity(s.len() + fmt.len());
        let mut start = 0;
        let mut flags = 0;
        loop {
            let m = if global || flags & libc::REG_NOTBOL == 0 {
                self.exec_flags(&s[start..], flags)
            } else {
                None
            };
            let Some(m) = m else {
                o.extend_from_slice(&s[start..]);
                break;
            };
            let (so, mut eo) = m[0].unwrap_or((0, 0));
            let sub = &s[start..];
            o.extend_from_slice(&sub[..so]);
            expand(fmt, sub, &m, &mut o);
            if start >= s.len() {
                break;
            }
            if eo == 0 {
                o.push(sub[0]);
                eo = 1;
            }
            start += eo;
            flags |= libc::REG_NOTBOL;
        }
        o
    }
}

/// Appends `fmt` with `\N` replaced by group N of `m` (positions in `s`)
/// and `\c` by `c`.
fn expand(fmt: &[u8], s: &[u8], m: &[Option<(usize, usize)>; MAX_MATCH], o: &mut Vec<u8>) {
    {
        let mut i = 0;
        while i < fmt.len() {
            match (fmt[i], fmt.get(i + 1)) {
                (b'\\', Some(d)) if d.is_ascii_digit() => {
                    if let Some((a, b)) = m[(d - b'0') as usize] {
                        o.extend_from_slice(&s[a..b]);
                    }
                    i += 2;
                }
                (b'\\', Some(&c)) => {
                    o.push(c);
                    i += 2;
                }
                (c, _) => {
                    o.push(c);
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{digit_classes, Regex};

    #[test]
    fn digit_escapes_as_pcre() {
        assert_eq!(digit_classes(r"^/(\d+)/x\D$"), r"^/([0-9]+)/x[^0-9]$");
        assert_eq!(digit_classes(r"[\d.]+"), r"[0-9.]+");
        assert_eq!(digit_classes(r"\\d"), r"\\d");
        let r = Regex::new(r"^/img/(\d+)\.png$", false).unwrap();
        assert!(r.is_match(b"/img/42.png"));
        assert!(!r.is_match(b"/img/dd.png"));
        assert_eq!(r.replace(b"/img/42.png", b"n=\\1").as_deref(), Some(&b"n=42"[..]));
        // glibc's own GNU escapes keep working.
        assert!(Regex::new(r"^\w+\s\w+$", false).unwrap().is_match(b"ab cd"));
    }

    #[test]
    fn match_and_replace() {
        let r = Regex::new("^x.reg.$", false).unwrap();
        assert!(r.is_match(b"x-reg1"));
        assert!(!r.is_match(b"x-reg12"));
        assert!(Regex::new("ABC", true).unwrap().is_match(b"zabcz"));
        let r = Regex::new("(.*)", false).unwrap();
        assert_eq!(r.replace(b"/a", b"/foo\\1").unwrap(), b"/foo/a");
        let r = Regex::new("/([^?]*)\\?app=([^&]*)&?(.*)", false).unwrap();
        assert_eq!(r.replace(b"/p?app=rt&x=1", b"/\\2/\\1?\\3").unwrap(), b"/rt/p?x=1");
        assert!(Regex::new("(", false).is_err());
        let r2 = Regex::new("a", false).unwrap();
        assert_eq!(r2.replace_all(b"banana", b"[\\0]", false), b"b[a]nana");
        assert_eq!(r2.replace_all(b"banana", b"o", true), b"bonono");
        assert_eq!(
            Regex::new("x*", false).unwrap().replace_all(b"ab", b"-", true),
            b"-a-b-"
        );
        let c = r.clone();
        assert_eq!(c, r);
    }
}
