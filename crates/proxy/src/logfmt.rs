//! Log-format strings (HAProxy's `log.c` format parser, subset): literal
//! text and `%[sample,conv,...]` expressions, enough for rule arguments
//! such as `set-header` values and `return lf-string`.
//!
//! Owns compiling a format at start-up and rendering it over a
//! [`sample::Ctx`]. It must not emit logs (nothing sends them yet); the
//! `%ci`-style log variables are refused at start-up rather than ignored.

use crate::sample::{parse_expr, Ctx, Dir, Expr};

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Lit(Vec<u8>),
    Smp(Expr),
}

/// A compiled log-format string.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogFmt {
    nodes: Vec<Node>,
}

impl LogFmt {
    pub fn parse(s: &str, dir: Dir) -> Result<LogFmt, String> {
        let mut nodes = Vec::new();
        let mut lit = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                Some(b'%') => {
                    lit.push(b'%');
                    i += 2;
                }
                Some(b'[') => {
                    let end = s[i + 2..]
                        .find(']')
                        .ok_or_else(|| format!("missing ']' in log-format expression '{}'", &s[i..]))?
                        + i
                        + 2;
                    if !lit.is_empty() {
                        nodes.push(Node::Lit(std::mem::take(&mut lit)));
                    }
                    nodes.push(Node::Smp(parse_expr(&s[i + 2..end], dir)?));
                    i = end + 1;
                }
                _ => {
                    let var: String = s[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '{' || *c == '}' || *c == '+')
                        .collect();
                    return Err(format!(
                        "log-format variable '%{var}' is not supported yet by rhaproxy (only %[sample] expressions)"
                    ));
                }
            }
        }
        if !lit.is_empty() {
            nodes.push(Node::Lit(lit));
        }
        Ok(LogFmt { nodes })
    }

    /// Appends the rendering to `out`; a missing sample prints nothing
    /// (HAProxy prints "-" only in logs, not in header values).
    pub fn render(&self, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
        for n in &self.nodes {
            match n {
                Node::Lit(l) => out.extend_from_slice(l),
                Node::Smp(e) => {
                    match e.eval(cx) {
                        // Printed as a string: binary stops at a NUL.
                        Some(crate::sample::Smp::Bin(b)) => {
                            out.extend(b.iter().take_while(|&&c| c != 0));
                        }
                        Some(v) => v.write_to(out),
                        None => {}
                    }
                }
            }
        }
    }

    /// The format is plain text (no sample to evaluate).
    pub fn literal(&self) -> Option<&[u8]> {
        match &self.nodes[..] {
            [] => Some(b""),
            [Node::Lit(l)] => Some(l),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::tests::with_req;

    fn render(f: &str) -> String {
        let lf = LogFmt::parse(f, Dir::Req).unwrap();
        let mut out = Vec::new();
        with_req(b"GET /p?q=1 HTTP/1.1\r\nX-A: v\r\n\r\n", |cx| lf.render(cx, &mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(render("plain"), "plain");
        assert_eq!(render("%[req.hdr(x-a)]"), "v");
        assert_eq!(render("a=%[req.hdr(x-a),upper] p=%[path]%%"), "a=V p=/p%");
        assert_eq!(render("<%[req.hdr(none)]>"), "<>");
        assert_eq!(render("/fe%[path]"), "/fe/p");
        assert_eq!(LogFmt::parse("x", Dir::Req).unwrap().literal(), Some(&b"x"[..]));
        assert!(LogFmt::parse("%ci", Dir::Req).unwrap_err().contains("%ci"));
        assert!(LogFmt::parse("%[path", Dir::Req).is_err());
        assert!(LogFmt::parse("%[nope]", Dir::Req).unwrap_err().contains("'nope'"));
    }
}
