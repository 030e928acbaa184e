//! The `json_query` converter (HAProxy's `sample_conv_json_query()` over
//! its bundled mjson): finds the value a JSON path designates in a
//! document and turns it into a sample.
//!
//! Paths are those mjson reads: `$`, then `.key` steps (a backslash makes
//! the next character part of the key, so `$.my\.key` names the key
//! `my.key`; keys are compared with the document's raw key bytes) and
//! `[n]` array indexes. The first key that matches is followed, with no
//! backtracking; the document must be valid JSON up to the value found
//! (what follows it is not read).
//!
//! Owns the lookup and the conversion rules (numbers as `%g` text or, with
//! `"int"`, a 53-bit integer read like `strtoll(.., 0)`; strings unescaped,
//! only `\u00XX` escapes allowed; true/false as booleans; null, arrays and
//! objects give nothing). It must not know about samples beyond
//! [`crate::sample::Smp`].

use crate::sample::Smp;

/// What the path designates.
#[derive(Debug, PartialEq, Eq)]
enum Tok<'a> {
    /// A string, with its quotes.
    Str(&'a [u8]),
    Num(&'a [u8]),
    True,
    False,
    Null,
    Array,
    Object,
}

/// Largest integer `json_query(..., "int")` returns (2^53 - 1, the
/// integers a double holds exactly; HAProxy's JSON_INT_MAX).
const JSON_INT_MAX: i64 = (1 << 53) - 1;

/// The converter: `doc` is the input sample's bytes, `path` the first
/// argument, `int` whether the second one is "int".
pub fn query(doc: &[u8], path: &[u8], int: bool) -> Option<Smp> {
    match find(doc, path)? {
        Tok::Num(t) if int => {
            let v = strtoll0(t);
            (-JSON_INT_MAX..=JSON_INT_MAX).contains(&v).then_some(Smp::Int(v))
        }
        Tok::Num(t) => {
            let v: f64 = std::str::from_utf8(number_prefix(t)).ok()?.parse().ok()?;
            Some(Smp::Str(fmt_g(v).into_bytes()))
        }
        Tok::True => Some(Smp::Bool(true)),
        Tok::False => Some(Smp::Bool(false)),
        Tok::Str(s) => unescape(&s[1..s.len() - 1]).map(Smp::Str),
        Tok::Null | Tok::Array | Tok::Object => None,
    }
}

/// Finds the value at `path` in `doc`; None when the path does not start
/// with `$`, designates nothing, or the document is invalid before it.
fn find<'a>(doc: &'a [u8], path: &[u8]) -> Option<Tok<'a>> {
    let rest = path.strip_prefix(b"$")?;
    let mut p = Parser { s: doc, i: 0 };
    p.ws();
    p.lookup(rest)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

/// Reading stops: the document is invalid (or cut) here.
struct Bad;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// The value at the cursor, following `path` into it.
    fn lookup(&mut self, path: &[u8]) -> Option<Tok<'a>> {
        if path.is_empty() {
            return self.value().ok();
        }
        match (self.peek()?, path[0]) {
            (b'{', b'.') => {
                let (key, rest) = split_key(&path[1..]);
                self.i += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    return None;
                }
                loop {
                    let k = self.string().ok()?;
                    self.ws();
                    if self.peek() != Some(b':') {
                        return None;
                    }
                    self.i += 1;
                    self.ws();
                    if key_matches(&k[1..k.len() - 1], key) {
                        return self.lookup(rest);
                    }
                    self.value().ok()?;
                    if !self.next_member(b'}')? {
                        return None;
                    }
                }
            }
            (b'[', b'[') => {
                let close = path.iter().position(|&c| c == b']')?;
                let want: usize = std::str::from_utf8(&path[1..close]).ok()?.trim().parse().ok()?;
                let rest = &path[close + 1..];
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    return None;
                }
                let mut n = 0;
                loop {
                    if n == want {
                        return self.lookup(rest);
                    }
                    self.value().ok()?;
                    if !self.next_member(b']')? {
                        return None;
                    }
                    n += 1;
                }
            }
            _ => None,
        }
    }

    /// After a member: Some(true) on a comma (another follows),
    /// Some(false) on the closing bracket, None when invalid.
    fn next_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                self.ws();
                Some(true)
            }
            c if c == close => Some(false),
            _ => None,
        }
    }

    /// Reads (validating) one value at the cursor.
    fn value(&mut self) -> Result<Tok<'a>, Bad> {
        match self.peek().ok_or(Bad)? {
            b'"' => self.string().map(Tok::Str),
            b'{' | b'[' => {
                let obj = self.peek() == Some(b'{');
                let close = if obj { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(if obj { Tok::Object } else { Tok::Array });
                }
                loop {
                    if obj {
                        self.string()?;
                        self.ws();
                        if self.peek() != Some(b':') {
                            return Err(Bad);
                        }
                        self.i += 1;
                        self.ws();
                    }
                    self.value()?;
                    match self.next_member(close) {
                        Some(true) => {}
                        Some(false) => {
                            self.i += 1;
                            return Ok(if obj { Tok::Object } else { Tok::Array });
                        }
                        None => return Err(Bad),
                    }
                }
            }
            b't' => self.word(b"true", Tok::True),
            b'f' => self.word(b"false", Tok::False),
            b'n' => self.word(b"null", Tok::Null),
            b'-' | b'0'..=b'9' => {
                let n = number_prefix(&self.s[self.i..]).len();
                if n == 0 || self.s[self.i..self.i + n] == *b"-" {
                    return Err(Bad);
                }
                let t = &self.s[self.i..self.i + n];
                self.i += n;
                Ok(Tok::Num(t))
            }
            _ => Err(Bad),
        }
    }

    fn word(&mut self, w: &[u8], t: Tok<'a>) -> Result<Tok<'a>, Bad> {
        if self.s[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(t)
        } else {
            Err(Bad)
        }
    }

    /// A string at the cursor, quotes included; control characters and
    /// a cut string are invalid.
    fn string(&mut self) -> Result<&'a [u8], Bad> {
        if self.peek() != Some(b'"') {
            return Err(Bad);
        }
        let start = self.i;
        self.i += 1;
        loop {
            match self.peek().ok_or(Bad)? {
                b'"' => {
                    self.i += 1;
                    return Ok(&self.s[start..self.i]);
                }
                b'\\' => self.i += 2,
                c if c < 0x20 => return Err(Bad),
                _ => self.i += 1,
            }
        }
    }
}

/// Splits a path after a '.': the key (escapes kept) and what follows.
fn split_key(p: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < p.len() && p[i] != b'.' && p[i] != b'[' {
        i += if p[i] == b'\\' { 2 } else { 1 };
    }
    let i = i.min(p.len());
    (&p[..i], &p[i..])
}

/// A document key (raw bytes between its quotes) against a path key whose
/// backslashes escape the next character.
fn key_matches(raw: &[u8], key: &[u8]) -> bool {
    let mut k = key.iter();
    let mut n = 0;
    while let Some(&c) = k.next() {
        let c = if c == b'\\' {
            match k.next() {
                Some(&e) => e,
                None => return false,
            }
        } else {
            c
        };
        if raw.get(n) != Some(&c) {
            return false;
        }
        n += 1;
    }
    n == raw.len()
}

/// The longest prefix of `s` that reads as a number (sign, digits,
/// fraction, exponent).
fn number_prefix(s: &[u8]) -> &[u8] {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let st = *i;
        while s.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > st
    };
    if s.first() == Some(&b'-') {
        i += 1;
    }
    digits(&mut i);
    if s.get(i) == Some(&b'.') {
        let mut j = i + 1;
        if digits(&mut j) {
            i = j;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if digits(&mut j) {
            i = j;
        }
    }
    &s[..i]
}

/// `strtoll(t, NULL, 0)`: optional sign, then hexadecimal after `0x`,
/// octal after a leading `0`, else decimal, up to the first other
/// character; saturating.
fn strtoll0(t: &[u8]) -> i64 {
    let (neg, mut d) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let radix = if d.len() > 2 && (d.starts_with(b"0x") || d.starts_with(b"0X")) && d[2].is_ascii_hexdigit() {
        d = &d[2..];
        16
    } else if d.first() == Some(&b'0') {
        8
    } else {
        10
    };
    let mut v: i64 = 0;
    for &c in d {
        let Some(x) = (c as char).to_digit(radix) else { break };
        v = v.saturating_mul(radix as i64).saturating_add(x as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// printf's `%g`: 6 significant digits, scientific when the exponent is
/// below -4 or at least 6, trailing zeros dropped.
fn fmt_g(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // The exponent after rounding to 6 digits decides the style.
    let sci = format!("{v:.5e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        trim(&format!("{v:.*}", (5 - exp) as usize))
    }
}

/// A JSON string's content unescaped as mjson does: `\uXXXX` only for
/// `\u00XX`, and `\b \f \n \r \t \\ \"`; anything else (`\/`
/// included, as in HAProxy 2.6.12) fails.
fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut o = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' || i + 1 >= s.len() {
            o.push(c);
            i += 1;
            continue;
        }
        if s[i + 1] == b'u' && i + 5 < s.len() {
            if &s[i + 2..i + 4] != b"00" {
                return None;
            }
            let h = std::str::from_utf8(&s[i + 4..i + 6]).ok()?;
            o.push(u8::from_str_radix(h, 16).ok()?);
            i += 6;
            continue;
        }
        o.push(match s[i + 1] {
            b'"' => b'"',
            b'\\' => b'\\',
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => return None,
        });
        i += 2;
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(doc: &str, path: &str, int: bool) -> Option<Smp> {
        query(doc.as_bytes(), path.as_bytes(), int)
    }

    #[test]
    fn paths_as_mjson_reads_them() {
        let s = |v: &str| Some(Smp::Str(v.as_bytes().to_vec()));
        assert_eq!(
            q(r#"{"iss":"kubernetes.io/serviceaccount"}"#, "$.iss", false),
            s("kubernetes.io/serviceaccount")
        );
        assert_eq!(q(r#"{"my.key":"myvalue"}"#, r"$.my\.key", false), s("myvalue"));
        assert_eq!(q(r#"{"a":{"b":[1,{"c":"x"}]}}"#, "$.a.b[1].c", false), s("x"));
        assert_eq!(q(r#"{"a":[10,20,30]}"#, "$.a[2]", true), Some(Smp::Int(30)));
        // The first matching key is followed, without backtracking.
        assert_eq!(q(r#"{"a":{"x":1},"a":{"b":2}}"#, "$.a.b", true), None);
        assert_eq!(q(r#"{"a":1}"#, "a", false), None);
        assert_eq!(q(r#"{"a":1}"#, "$.b", false), None);
        // Invalid before the value: nothing; after it: not read.
        assert_eq!(q(r#"{"x":tru,"a":1}"#, "$.a", true), None);
        assert_eq!(q(r#"{"a":1, garbage"#, "$.a", true), Some(Smp::Int(1)));
        assert_eq!(q(r#"{"a":null,"b":[],"c":{}}"#, "$.a", false), None);
        assert_eq!(q(r#"{"a":null,"b":[],"c":{}}"#, "$.c", false), None);
    }

    #[test]
    fn values_as_haproxy_converts_them() {
        assert_eq!(q(r#"{"i":4}"#, "$.i", true), Some(Smp::Int(4)));
        assert_eq!(q(r#"{"i":-4}"#, "$.i", true), Some(Smp::Int(-4)));
        assert_eq!(q(r#"{"i":4.9}"#, "$.i", true), Some(Smp::Int(4)));
        assert_eq!(q(r#"{"i":9007199254740992}"#, "$.i", true), None);
        assert_eq!(q(r#"{"d":4.5}"#, "$.d", false), Some(Smp::Str(b"4.5".to_vec())));
        assert_eq!(q(r#"{"t":true,"f":false}"#, "$.t", false), Some(Smp::Bool(true)));
        assert_eq!(q(r#"{"t":true,"f":false}"#, "$.f", false), Some(Smp::Bool(false)));
        assert_eq!(
            q(r#"{"s":"a\u0041\n\"b"}"#, "$.s", false),
            Some(Smp::Str(b"aA\n\"b".to_vec()))
        );
        assert_eq!(q(r#"{"s":"\u00e9\u0100"}"#, "$.s", false), None);
        assert_eq!(q(r#"{"s":"\/"}"#, "$.s", false), None);
    }

    #[test]
    fn printf_g() {
        for (v, s) in [
            (4.5, "4.5"),
            (100000.0, "100000"),
            (1234567.0, "1.23457e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (999999.5, "1e+06"),
            (-2.0, "-2"),
            (1e21, "1e+21"),
            (0.1, "0.1"),
        ] {
            assert_eq!(fmt_g(v), s, "{v}");
        }
        assert_eq!(strtoll0(b"010"), 8);
        assert_eq!(strtoll0(b"-12.5"), -12);
        assert_eq!(strtoll0(b"1e3"), 1);
    }
}
