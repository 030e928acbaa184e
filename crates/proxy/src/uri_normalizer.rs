//! The URI normalizers of `http-request normalize-uri` (HAProxy's
//! `uri_normalizer.c`): pure functions from one part of a request target
//! to its normalized form, plus [`normalize`], which picks the part a
//! normalizer works on and rebuilds the whole target.
//!
//! Owns the normalizer names and their semantics only. It must not touch
//! the stream or the message: `http_act` runs the rule and hands the new
//! target to the stream as an edit.

/// One normalizer, as named after `normalize-uri`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    PathMergeSlashes,
    PathStripDot,
    /// `full`: leading `/..` segments that have nothing left to remove
    /// are dropped too.
    PathStripDotdot {
        full: bool,
    },
    QuerySortByName,
    /// `strict`: a `%` not followed by two hex digits fails the request.
    PercentToUppercase {
        strict: bool,
    },
    PercentDecodeUnreserved {
        strict: bool,
    },
    FragmentStrip,
    FragmentEncode,
}

/// A strict normalizer met an invalid percent sequence (HAProxy answers
/// 400).
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid;

impl Normalizer {
    /// Parses the words after `normalize-uri` up to the condition
    /// (`cond`: one follows), with the number of words it took (the
    /// caller refuses any other); errors are HAProxy's texts.
    ///
    /// HAProxy 2.6 leaves the normalizer unset when one of the three that
    /// take an optional word is directly followed by `if`/`unless`, so
    /// such a rule merges slashes instead (checked against 2.6.12:
    /// `normalize-uri path-strip-dotdot if TRUE` turns `/a//b/../c` into
    /// `/a/b/../c`). Configurations behave the same here.
    pub fn parse(args: &[String], cond: bool) -> Result<(Normalizer, usize), String> {
        let Some(name) = args.first() else {
            return Err("missing argument <normalizer>".into());
        };
        let opt = args.get(1).map(|s| s.as_str());
        // The optional word of the three normalizers that take one.
        if cond
            && args.len() == 1
            && matches!(
                name.as_str(),
                "path-strip-dotdot" | "percent-to-uppercase" | "percent-decode-unreserved"
            )
        {
            return Ok((Normalizer::PathMergeSlashes, 1));
        }
        let flag = |word: &str| -> Result<bool, String> {
            match opt {
                None => Ok(false),
                Some(w) if w == word => Ok(true),
                Some(w) => Err(format!("unknown argument '{w}' for '{name}' normalizer")),
            }
        };
        let n = match name.as_str() {
            "path-merge-slashes" => Normalizer::PathMergeSlashes,
            "path-strip-dot" => Normalizer::PathStripDot,
            "path-strip-dotdot" => Normalizer::PathStripDotdot { full: flag("full")? },
            "query-sort-by-name" => Normalizer::QuerySortByName,
            "percent-to-uppercase" => Normalizer::PercentToUppercase {
                strict: flag("strict")?,
            },
            "percent-decode-unreserved" => Normalizer::PercentDecodeUnreserved {
                strict: flag("strict")?,
            },
            "fragment-strip" => Normalizer::FragmentStrip,
            "fragment-encode" => Normalizer::FragmentEncode,
            o => return Err(format!("unknown normalizer '{o}'")),
        };
        let used = match n {
            Normalizer::PathStripDotdot { full: true }
            | Normalizer::PercentToUppercase { strict: true }
            | Normalizer::PercentDecodeUnreserved { strict: true } => 2,
            _ => 1,
        };
        Ok((n, used))
    }
}

/// Where the path starts in a request target (HAProxy's
/// `http_parse_path()`): None for `*`, an empty target, or an
/// absolute/authority form without a path. The path runs to the end
/// (query and fragment included).
fn path_start(uri: &[u8]) -> Option<usize> {
    match uri.first()? {
        b'*' => None,
        b'/' => Some(0),
        _ => {
            // Skip a scheme ("xxx://") when there is one, then the
            // authority up to the first slash.
            let mut from = 0;
            if let Some(i) = uri.windows(3).position(|w| w == b"://") {
                let scheme = &uri[..i];
                if scheme.first().is_some_and(|c| c.is_ascii_alphabetic())
                    && scheme
                        .iter()
                        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                {
                    from = i + 3;
                }
            }
            uri[from..].iter().position(|&c| c == b'/').map(|p| p + from)
        }
    }
}

/// Applies `n` to a request target. Ok(None): nothing to do (no path);
/// Ok(Some(t)): the new target (possibly equal to the old one).
pub fn normalize(uri: &[u8], n: Normalizer) -> Result<Option<Vec<u8>>, Invalid> {
    let Some(ps) = path_start(uri) else { return Ok(None) };
    let (head, path) = uri.split_at(ps);
    let qpos = path.iter().position(|&c| c == b'?').unwrap_or(path.len());
    let mut out = Vec::with_capacity(uri.len() + 8);
    out.extend_from_slice(head);
    match n {
        Normalizer::PathMergeSlashes | Normalizer::PathStripDot | Normalizer::PathStripDotdot { .. } => {
            // These see the path without its query, and keep the query.
            let p = &path[..qpos];
            match n {
                Normalizer::PathMergeSlashes => merge_slashes(p, &mut out),
                Normalizer::PathStripDot => strip_dot(p, &mut out),
                Normalizer::PathStripDotdot { full } => strip_dotdot(p, full, &mut out),
                _ => unreachable!(),
            }
            out.extend_from_slice(&path[qpos..]);
        }
        Normalizer::QuerySortByName => {
            out.extend_from_slice(&path[..qpos]);
            sort_query(&path[qpos..], &mut out);
        }
        Normalizer::PercentToUppercase { strict } => percent_upper(path, strict, &mut out)?,
        Normalizer::PercentDecodeUnreserved { strict } => percent_decode_unreserved(path, strict, &mut out)?,
        Normalizer::FragmentStrip => {
            let end = path.iter().position(|&c| c == b'#').unwrap_or(path.len());
            out.extend_from_slice(&path[..end]);
        }
        Normalizer::FragmentEncode => {
            for &c in path {
                if c == b'#' {
                    out.extend_from_slice(b"%23");
                } else {
                    out.push(c);
                }
            }
        }
    }
    Ok(Some(out))
}

/// Runs of slashes become one.
fn merge_slashes(p: &[u8], out: &mut Vec<u8>) {
    for (i, &c) in p.iter().enumerate() {
        if c != b'/' || i == 0 || p[i - 1] != b'/' {
            out.push(c);
        }
    }
}

/// Drops every `.` segment, with the slash that follows it.
fn strip_dot(p: &[u8], out: &mut Vec<u8>) {
    let mut rest = p;
    while !rest.is_empty() {
        let (seg, more) = match rest.iter().position(|&c| c == b'/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if seg != b"." {
            out.extend_from_slice(seg);
            if more.is_some() {
                out.push(b'/');
            }
        }
        rest = more.unwrap_or(b"");
    }
}

/// Each `/..` segment removes the segment before it, walking the path
/// backwards as HAProxy does (so `//..` removes the empty segment only).
/// `/..` that find nothing to remove stay at the start unless `full`.
fn strip_dotdot(p: &[u8], full: bool, out: &mut Vec<u8>) {
    // Built backwards, then reversed into `out`.
    let mut rev: Vec<u8> = Vec::with_capacity(p.len());
    let mut off = p.len() as isize - 1;
    let mut up = 0usize;
    let at = |o: isize, pat: &[u8]| o >= 0 && p[o as usize..].starts_with(pat);
    if off >= 2 && at(off - 2, b"/..") {
        up += 1;
        off -= 2;
    }
    while off >= 0 {
        if off >= 3 && at(off - 3, b"/../") {
            up += 1;
            off -= 3;
            continue;
        }
        if up > 0 {
            off -= 1;
            if off >= 0 {
                up -= 1;
                while off >= 0 && p[off as usize] != b'/' {
                    off -= 1;
                }
            }
        } else {
            rev.push(p[off as usize]);
            off -= 1;
            while off >= 0 && p[off as usize] != b'/' {
                rev.push(p[off as usize]);
                off -= 1;
            }
        }
    }
    if up > 0 {
        rev.push(b'/');
        if !full {
            for _ in 0..up {
                rev.extend_from_slice(b"../");
            }
        }
    }
    out.extend(rev.iter().rev());
}

/// Sorts the `&`-separated parameters of a query (`q` starts with its
/// `?`, or is empty) by name, bytewise, a shorter name first; equal names
/// keep their order.
fn sort_query(q: &[u8], out: &mut Vec<u8>) {
    let Some((&first, rest)) = q.split_first() else { return };
    out.push(first);
    if rest.is_empty() {
        return;
    }
    let mut params: Vec<&[u8]> = rest.split(|&c| c == b'&').collect();
    // A trailing '&' ends the last parameter without starting another.
    if rest.last() == Some(&b'&') {
        params.pop();
    }
    let name = |p: &[u8]| -> usize { p.iter().position(|&c| c == b'=').unwrap_or(p.len()) };
    params.sort_by(|a, b| a[..name(a)].cmp(&b[..name(b)]));
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(p);
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|v| v as u8)
}

/// The two hex digits after a `%` at `i`, if they are there.
fn pct_at(s: &[u8], i: usize) -> Option<(u8, u8)> {
    let (a, b) = (*s.get(i + 1)?, *s.get(i + 2)?);
    (hex_val(a).is_some() && hex_val(b).is_some()).then_some((a, b))
}

fn percent_upper(s: &[u8], strict: bool, out: &mut Vec<u8>) -> Result<(), Invalid> {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            if let Some((a, b)) = pct_at(s, i) {
                out.extend_from_slice(&[b'%', a.to_ascii_uppercase(), b.to_ascii_uppercase()]);
                i += 3;
                continue;
            }
            if strict {
                return Err(Invalid);
            }
        }
        out.push(c);
        i += 1;
    }
    Ok(())
}

/// RFC 3986's unreserved set.
fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn percent_decode_unreserved(s: &[u8], strict: bool, out: &mut Vec<u8>) -> Result<(), Invalid> {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            if let Some((a, b)) = pct_at(s, i) {
                let v = (hex_val(a).unwrap_or(0) << 4) | hex_val(b).unwrap_or(0);
                if unreserved(v) {
                    out.push(v);
                } else {
                    out.extend_from_slice(&[b'%', a, b]);
                }
                i += 3;
                continue;
            }
            if strict {
                return Err(Invalid);
            }
        }
        out.push(c);
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Normalizer as N;

    fn run(uri: &str, n: N) -> String {
        match normalize(uri.as_bytes(), n) {
            Ok(Some(v)) => String::from_utf8(v).unwrap(),
            Ok(None) => uri.to_string(),
            Err(Invalid) => "<invalid>".into(),
        }
    }

    #[test]
    fn merge_slashes_keeps_query() {
        let n = N::PathMergeSlashes;
        assert_eq!(run("/foo//bar", n), "/foo/bar");
        assert_eq!(run("///foo///bar///", n), "/foo/bar/");
        assert_eq!(run("///", n), "/");
        assert_eq!(run("//foo?bar=///", n), "/foo?bar=///");
        assert_eq!(run("*", n), "*");
        assert_eq!(run("http://h//a//b?x=//", n), "http://h/a/b?x=//");
        assert_eq!(normalize(b"http://h", n), Ok(None));
    }

    #[test]
    fn strip_dotdot_as_haproxy() {
        let d = N::PathStripDotdot { full: false };
        let f = N::PathStripDotdot { full: true };
        let cases = [
            ("/foo/bar", "/foo/bar", "/foo/bar"),
            ("/foo/..", "/", "/"),
            ("/foo/../", "/", "/"),
            ("/foo/bar/../", "/foo/", "/foo/"),
            ("/foo/../bar", "/bar", "/bar"),
            ("/foo/../../bar/", "/../bar/", "/bar/"),
            ("/foo//../../bar/", "/bar/", "/bar/"),
            ("/foo/../?bar=/foo/../", "/?bar=/foo/../", "/?bar=/foo/../"),
            ("/../../a", "/../../a", "/a"),
        ];
        for (i, o, of) in cases {
            assert_eq!(run(i, d), o, "{i}");
            assert_eq!(run(i, f), of, "{i} full");
        }
    }

    #[test]
    fn strip_dot() {
        let n = N::PathStripDot;
        for (i, o) in [
            ("/", "/"),
            ("/.", "/"),
            ("/./", "/"),
            ("/a/.", "/a/"),
            ("/a.", "/a."),
            ("/.a", "/.a"),
            ("/a/./a", "/a/a"),
            ("/a/../", "/a/../"),
            ("/?a=/./", "/?a=/./"),
        ] {
            assert_eq!(run(i, n), o, "{i}");
        }
    }

    #[test]
    fn query_sort_is_stable_by_name() {
        let n = N::QuerySortByName;
        assert_eq!(run("/?z=a&a=z", n), "/?a=z&z=a");
        assert_eq!(run("/?c&b&a&z&x&y", n), "/?a&b&c&x&y&z");
        assert_eq!(run("/?aaaa=&a=&aa=&aaa=", n), "/?a=&aa=&aaa=&aaaa=");
        assert_eq!(run("/?a=5&b=3&a=1&a=2&b=4", n), "/?a=5&a=1&a=2&b=3&b=4");
        assert_eq!(run("/", n), "/");
        assert_eq!(run("/?", n), "/?");
    }

    #[test]
    fn percent_normalizers() {
        assert_eq!(run("/%aa?a=%aa", N::PercentToUppercase { strict: false }), "/%AA?a=%AA");
        assert_eq!(run("/%zz?a=%zz", N::PercentToUppercase { strict: false }), "/%zz?a=%zz");
        assert_eq!(run("/%zz", N::PercentToUppercase { strict: true }), "<invalid>");
        let d = N::PercentDecodeUnreserved { strict: false };
        assert_eq!(run("/%61?%61=%61", d), "/a?a=a");
        assert_eq!(run("/%3F?foo=bar", d), "/%3F?foo=bar");
        assert_eq!(run("/%%36%36", d), "/%66");
        assert_eq!(
            run("/%%36%36", N::PercentDecodeUnreserved { strict: true }),
            "<invalid>"
        );
    }

    #[test]
    fn fragments() {
        assert_eq!(run("/#foo", N::FragmentStrip), "/");
        assert_eq!(run("/%23foo", N::FragmentStrip), "/%23foo");
        assert_eq!(run("/#foo/#foo", N::FragmentEncode), "/%23foo/%23foo");
    }

    #[test]
    fn parse_words() {
        let w = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(
            Normalizer::parse(&w("path-strip-dotdot full"), false),
            Ok((N::PathStripDotdot { full: true }, 2))
        );
        assert_eq!(
            Normalizer::parse(&w("percent-to-uppercase nope"), false),
            Err("unknown argument 'nope' for 'percent-to-uppercase' normalizer".into())
        );
        assert_eq!(
            Normalizer::parse(&w("foo"), false),
            Err("unknown normalizer 'foo'".into())
        );
        assert_eq!(
            Normalizer::parse(&[], false),
            Err("missing argument <normalizer>".into())
        );
        // HAProxy 2.6's quirk: an optional word left out before a condition.
        assert_eq!(
            Normalizer::parse(&w("path-strip-dotdot"), true),
            Ok((N::PathMergeSlashes, 1))
        );
        assert_eq!(
            Normalizer::parse(&w("path-strip-dotdot full"), true),
            Ok((N::PathStripDotdot { full: true }, 2))
        );
        assert_eq!(
            Normalizer::parse(&w("fragment-strip x"), true),
            Ok((N::FragmentStrip, 1))
        );
    }
}
