//! Configuration conditions as HAProxy 2.6 evaluates them in `.if`/`.elif`
//! and `-cc`: terms (integers, predicates, parenthesised expressions, `!`),
//! `&&` binding tighter than `||`, left-to-right short-circuit. It owns the
//! expression grammar and predicates only; the `.if` nesting state machine
//! lives in `parser`.

use crate::features::{BUILD_FEATURES, VERSION};

/// A parse error: HAProxy's message and the byte offset it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub msg: String,
    pub pos: usize,
}

const MAX_DEPTH: usize = 1024;

struct P<'a> {
    s: &'a [u8],
    env: &'a dyn Fn(&str) -> Option<String>,
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// Parses like C strtol(..., 0): optional spaces and sign, then decimal,
/// 0x hex or leading-0 octal. Returns (value, end) or None when no digit.
fn strtol(s: &[u8], start: usize) -> Option<(i64, usize)> {
    let mut i = start;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let (radix, mut j) = if s.get(i) == Some(&b'0')
        && matches!(s.get(i + 1), Some(b'x' | b'X'))
        && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
    {
        (16, i + 2)
    } else if s.get(i) == Some(&b'0') {
        (8, i)
    } else {
        (10, i)
    };
    let digits_start = j;
    let mut v: i64 = 0;
    while j < s.len() && (s[j] as char).is_digit(radix) {
        v = v
            .saturating_mul(radix as i64)
            .saturating_add((s[j] as char).to_digit(radix).unwrap() as i64);
        j += 1;
    }
    if j == digits_start {
        return None;
    }
    Some((if neg { -v } else { v }, j))
}

/// One parsed node; evaluated after the whole expression parsed, as HAProxy
/// reports syntax errors even in branches that short-circuiting would skip.
enum Node {
    Const(bool),
    Pred(&'static str, Vec<String>),
    Or(Vec<Vec<(bool, Node)>>),
}

/// Terms of one `&&` chain (negated flag, term) and where parsing stopped.
type AndList = (Vec<(bool, Node)>, usize);

const PREDICATES: &[(&str, usize)] = &[
    ("defined", 1),
    ("feature", 1),
    ("streq", 2),
    ("strneq", 2),
    ("version_atleast", 1),
    ("version_before", 1),
    ("openssl_version_atleast", 1),
    ("openssl_version_before", 1),
    ("ssllib_name_startswith", 1),
];

impl P<'_> {
    fn err<T>(&self, msg: String, pos: usize) -> Result<T, CondError> {
        Err(CondError { msg, pos })
    }
    fn text_from(&self, i: usize) -> String {
        String::from_utf8_lossy(&self.s[i..]).into_owned()
    }

    /// term := '!'* ( integer | '(' expr ')' | predicate '(' args ')' )
    fn term(&self, start: usize, depth: usize) -> Result<Option<(bool, Node, usize)>, CondError> {
        let mut i = skip_ws(self.s, start);
        if i >= self.s.len() {
            return Ok(None);
        }
        if depth == 0 {
            return self.err(
                format!("unparsable conditional expression '{}'", self.text_from(start)),
                i,
            );
        }
        let mut neg = false;
        while self.s.get(i) == Some(&b'!') {
            neg = !neg;
            i = skip_ws(self.s, i + 1);
        }
        if let Some((v, end)) = strtol(self.s, i) {
            return Ok(Some((neg, Node::Const(v != 0), end)));
        }
        if self.s.get(i) == Some(&b'(') {
            let j = skip_ws(self.s, i + 1);
            match self.expr(j, depth - 1)? {
                None => {
                    return self.err(
                        format!("unparsable conditional expression '{}'", self.text_from(start)),
                        start,
                    )
                }
                Some((node, k)) => {
                    let k = skip_ws(self.s, k);
                    if self.s.get(k) != Some(&b')') {
                        return self.err(
                            format!("expected ')' after conditional expression '{}'", self.text_from(start)),
                            k,
                        );
                    }
                    let k = skip_ws(self.s, k + 1);
                    return Ok(Some((neg, node, k)));
                }
            }
        }
        let wend = self.s[i..]
            .iter()
            .position(|&c| c == b' ' || c == b'(')
            .map_or(self.s.len(), |p| i + p);
        let word = &self.s[i..wend];
        if let Some(&(name, nargs)) = PREDICATES.iter().find(|(n, _)| n.as_bytes() == word) {
            let (args, end) = self.args(wend, name, nargs)?;
            return Ok(Some((neg, Node::Pred(name, args), end)));
        }
        self.err(
            format!("unparsable conditional expression '{}'", self.text_from(start)),
            start,
        )
    }

    /// Predicate arguments, as HAProxy's argument list parser reads them:
    /// `(a,b)`, quotes and backslashes allowed inside.
    fn args(&self, start: usize, name: &str, nargs: usize) -> Result<(Vec<String>, usize), CondError> {
        let s = self.s;
        let fail = |msg: String, argn: usize, pos: usize| -> Result<(Vec<String>, usize), CondError> {
            Err(CondError {
                msg: format!("{msg} in argument {argn} of predicate '{name}' used in conditional expression"),
                pos,
            })
        };
        let mut args = Vec::new();
        let mut i = start;
        if s.get(i) != Some(&b'(') {
            return fail(
                format!("missing arguments (got 0/{nargs}), type 'string' expected"),
                1,
                i,
            );
        }
        i += 1;
        let mut closed = false;
        while i <= s.len() {
            let mut cur = Vec::new();
            let (mut sq, mut dq) = (false, false);
            while i < s.len() {
                let c = s[i];
                if c == b'\\' && !sq && i + 1 < s.len() {
                    cur.push(s[i + 1]);
                    i += 2;
                    continue;
                }
                if c == b'\'' && !dq {
                    sq = !sq;
                } else if c == b'"' && !sq {
                    dq = !dq;
                } else if !sq && !dq && (c == b',' || c == b')') {
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            }
            if sq || dq {
                return fail("unmatched quote".into(), args.len() + 1, i);
            }
            args.push(String::from_utf8_lossy(&cur).into_owned());
            match s.get(i) {
                Some(b')') => {
                    closed = true;
                    i += 1;
                    break;
                }
                Some(b',') => {
                    if args.len() >= nargs {
                        return fail(format!("expected ')' before '{}'", self.text_from(i)), 1, i);
                    }
                    i += 1;
                }
                _ => break,
            }
        }
        if !closed {
            return fail("expected ')'".into(), args.len(), i);
        }
        if args.len() < nargs {
            return fail(
                format!("missing arguments (got {}/{nargs}), type 'string' expected", args.len()),
                args.len(),
                i,
            );
        }
        Ok((args, i))
    }

    fn and(&self, start: usize, depth: usize) -> Result<Option<AndList>, CondError> {
        if start >= self.s.len() {
            return Ok(None);
        }
        let mut terms = Vec::new();
        let mut i = start;
        loop {
            match self.term(i, depth)? {
                None => {
                    return self.err(
                        format!("unparsable conditional sub-expression '{}'", self.text_from(i)),
                        i,
                    )
                }
                Some((neg, node, end)) => {
                    terms.push((neg, node));
                    i = skip_ws(self.s, end);
                }
            }
            if self.s.get(i) == Some(&b'&') && self.s.get(i + 1) == Some(&b'&') {
                i = skip_ws(self.s, i + 2);
                continue;
            }
            return Ok(Some((terms, i)));
        }
    }

    fn expr(&self, start: usize, depth: usize) -> Result<Option<(Node, usize)>, CondError> {
        if start >= self.s.len() {
            return Ok(None);
        }
        let mut ors = Vec::new();
        let mut i = start;
        loop {
            match self.and(i, depth)? {
                None => return self.err(format!("unparsable conditional expression '{}'", self.text_from(i)), i),
                Some((terms, end)) => {
                    ors.push(terms);
                    i = skip_ws(self.s, end);
                }
            }
            if self.s.get(i) == Some(&b'|') && self.s.get(i + 1) == Some(&b'|') {
                i = skip_ws(self.s, i + 2);
                continue;
            }
            return Ok(Some((Node::Or(ors), i)));
        }
    }

    fn eval(&self, n: &Node) -> Result<bool, String> {
        Ok(match n {
            Node::Const(b) => *b,
            Node::Or(ors) => {
                for ands in ors {
                    let mut all = true;
                    for (neg, t) in ands {
                        if self.eval(t)? == *neg {
                            all = false;
                            break;
                        }
                    }
                    if all {
                        return Ok(true);
                    }
                }
                false
            }
            Node::Pred(name, a) => match *name {
                "defined" => (self.env)(&a[0]).is_some(),
                "feature" => feature_enabled(&a[0]),
                "streq" => a[0] == a[1],
                "strneq" => a[0] != a[1],
                "version_atleast" => compare_version(VERSION, &a[0]) >= 0,
                "version_before" => compare_version(VERSION, &a[0]) < 0,
                // rhaproxy has no TLS library: HAProxy fails these
                // evaluations when built without one.
                "openssl_version_atleast" | "openssl_version_before" => return Err(String::new()),
                "ssllib_name_startswith" => false,
                _ => unreachable!("predicate table and evaluator disagree"),
            },
        })
    }
}

/// `feature(X)`: true when the feature list contains "+X".
pub fn feature_enabled(name: &str) -> bool {
    BUILD_FEATURES.split(' ').any(|f| f.strip_prefix('+') == Some(name))
}

/// Splits a version into numeric components the way HAProxy orders
/// versions: "2.6.12-1+deb" -> [2,6,12,...]; "-devN" sorts before the
/// release, "-dev" < "-pre" < "-rc" < release.
fn version_key(v: &str) -> Vec<i64> {
    let mut out = Vec::new();
    let (main, rest) = match v.find('-') {
        Some(p) => (&v[..p], &v[p + 1..]),
        None => (v, ""),
    };
    for part in main.split('.').take(3) {
        out.push(
            part.chars()
                .take_while(|c| c.is_ascii_digit())
                .collect::<String>()
                .parse()
                .unwrap_or(0),
        );
    }
    while out.len() < 3 {
        out.push(0);
    }
    let stage = |prefix: &str, rank: i64| -> Option<(i64, i64)> {
        rest.strip_prefix(prefix).map(|n| {
            (
                rank,
                n.chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0),
            )
        })
    };
    let (rank, n) = stage("dev", 1)
        .or_else(|| stage("pre", 2))
        .or_else(|| stage("rc", 3))
        .unwrap_or((4, 0));
    out.push(rank);
    out.push(n);
    out
}

/// Returns <0, 0, >0 as `have` is older, equal, newer than `want`.
pub fn compare_version(have: &str, want: &str) -> i32 {
    match version_key(have).cmp(&version_key(want)) {
        std::cmp::Ordering::Less => -1,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    }
}

/// Evaluates a condition text. `Ok(bool)` or a parse/eval error. An empty
/// condition is false.
pub fn eval_condition(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<bool, CondError> {
    let p = P {
        s: text.as_bytes(),
        env,
    };
    if text.is_empty() {
        return Ok(false);
    }
    let (node, end) = match p.expr(0, MAX_DEPTH)? {
        Some(x) => x,
        None => {
            return Err(CondError {
                msg: format!("unparsable conditional expression '{text}'"),
                pos: 0,
            })
        }
    };
    let end = skip_ws(p.s, end);
    if end < p.s.len() {
        return Err(CondError {
            msg: format!(
                "unexpected character '{}' at the end of conditional expression '{}'",
                p.s[end] as char,
                p.text_from(0)
            ),
            pos: end,
        });
    }
    p.eval(&node).map_err(|m| CondError { msg: m, pos: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    fn env(n: &str) -> Option<String> {
        (n == "TESTVAR").then(|| "1".to_string())
    }
    fn ev(s: &str) -> Result<bool, CondError> {
        eval_condition(s, &env)
    }

    #[test]
    fn basic_terms() {
        assert!(ev("1").unwrap());
        assert!(!ev("0").unwrap());
        assert!(!ev("").unwrap());
        assert!(ev("-1000 && 200").unwrap());
        assert!(ev("0x10").unwrap());
        assert!(ev("defined(TESTVAR) && streq(1,1)").unwrap());
        assert!(!ev("defined(NOPE)").unwrap());
        assert!(ev("feature(EPOLL)").unwrap());
        assert!(ev("feature(OPENSSL)").unwrap());
        assert!(!ev("feature(LUA)").unwrap());
        assert!(ev("feature(OPENSSL) || !feature(OPENSSL)").unwrap());
    }

    #[test]
    fn precedence_and_parens() {
        assert!(ev("1&&!0&&!((streq(a,b)||!streq(a,a)&&1)||strneq(a,a))").unwrap());
        assert!(ev("1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,a))").unwrap());
        assert!(!ev("1 && !0 && !((streq(a,b) || !streq(a,a) && 1) || strneq(a,b))").unwrap());
        assert!(!ev("1 && !0 && !((streq(a,a) || !streq(a,a) && 1) || strneq(a,a))").unwrap());
        assert!(ev("streq(foo bar,'foo bar')").unwrap());
    }

    #[test]
    fn errors_as_haproxy() {
        assert_eq!(
            ev("200rrr").unwrap_err().msg,
            "unexpected character 'r' at the end of conditional expression '200rrr'"
        );
        assert_eq!(
            ev("!(0))").unwrap_err().msg,
            "unexpected character ')' at the end of conditional expression '!(0))'"
        );
        assert_eq!(
            ev("foo(1)").unwrap_err().msg,
            "unparsable conditional expression 'foo(1)'"
        );
        assert_eq!(
            ev("streq(a)").unwrap_err().msg,
            "missing arguments (got 1/2), type 'string' expected in argument 1 of predicate 'streq' used in conditional expression"
        );
        assert_eq!(
            ev("streq(a,b,c)").unwrap_err().msg,
            "expected ')' before ',c)' in argument 1 of predicate 'streq' used in conditional expression"
        );
        assert_eq!(
            ev("defined(HOME").unwrap_err().msg,
            "expected ')' in argument 1 of predicate 'defined' used in conditional expression"
        );
    }

    #[test]
    fn versions() {
        assert!(ev("version_atleast(2.4)").unwrap());
        assert!(ev("version_atleast(2.5-dev0)").unwrap());
        assert!(ev("version_atleast(2.6.12)").unwrap());
        assert!(!ev("version_atleast(2.6.13)").unwrap());
        assert!(!ev("version_atleast(1024)").unwrap());
        assert!(ev("version_before(2.7)").unwrap());
        assert!(!ev("version_before(2.6)").unwrap());
    }
}
