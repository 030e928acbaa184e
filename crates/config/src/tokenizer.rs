//! The line tokenizer: turns one configuration line into words the way
//! HAProxy 2.6 does (comments, quotes, backslash escapes, `${VAR}` expansion
//! with defaults and `[*]` word splitting, pseudo-variables `.FILE`, `.LINE`,
//! `.SECTION`). It owns lexing only; it must not know about sections or
//! keywords (that is `parser`'s job).

/// Why a line could not be split. `pos` is the byte offset in the input line
/// where HAProxy points its caret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub kind: LineErrorKind,
    pub pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineErrorKind {
    Quote,
    Brace,
    VarName,
    Hex,
    WrongExpand,
}

impl LineErrorKind {
    /// HAProxy's wording for each lexing error (followed by " at position N").
    pub fn text(self) -> &'static str {
        match self {
            LineErrorKind::Quote => "unmatched quote",
            LineErrorKind::Brace => "unmatched brace in environment variable name",
            LineErrorKind::VarName => "forbidden first char in environment variable name",
            LineErrorKind::Hex => "truncated or invalid hexadecimal sequence",
            LineErrorKind::WrongExpand => "truncated or invalid word expansion sequence",
        }
    }
}

/// Where the line comes from, for the `.FILE`/`.LINE`/`.SECTION` pseudo
/// variables, and how to look environment variables up (injectable so tests
/// do not depend on the process environment).
pub struct LineCtx<'a> {
    pub file: &'a str,
    pub line: usize,
    pub section: &'a str,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// Reads the process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn is_space(c: u8) -> bool {
    // C isspace(): space, \t, \n, \v, \f, \r
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits `input` into words. The returned vector always has at least one
/// element (possibly empty), like HAProxy's args[] whose first entry is "" on
/// an empty line. A trailing empty word produced by trailing spaces is not
/// returned.
pub fn split_line(input: &[u8], ctx: &LineCtx) -> Result<Vec<String>, LineError> {
    let mut words: Vec<Vec<u8>> = vec![Vec::new()];
    let mut squote = false;
    let mut dquote = false;
    let mut quote_pos: Option<usize> = None;
    let mut i = 0;
    let at = |i: usize| -> u8 { input.get(i).copied().unwrap_or(0) };
    // leading blanks never start a word (HAProxy skips them before lexing)
    while is_space(at(i)) && at(i) != b'\n' && at(i) != b'\r' {
        i += 1;
    }
    loop {
        let c = at(i);
        if c == 0 || c == b'\n' || c == b'\r' {
            break;
        }
        if c == b'#' && !squote && !dquote {
            break;
        }
        if c == b'"' && !squote {
            dquote = !dquote;
            quote_pos = if dquote { Some(i) } else { None };
            i += 1;
            continue;
        }
        if c == b'\'' && !dquote {
            squote = !squote;
            quote_pos = if squote { Some(i) } else { None };
            i += 1;
            continue;
        }
        if c == b'\\' && !squote {
            let n = at(i + 1);
            let out = match n {
                b' ' | b'\\' => {
                    i += 1;
                    n
                }
                b't' => {
                    i += 1;
                    b'\t'
                }
                b'n' => {
                    i += 1;
                    b'\n'
                }
                b'r' => {
                    i += 1;
                    b'\r'
                }
                b'#' | b'\'' | b'"' => {
                    i += 1;
                    n
                }
                b'$' if dquote => {
                    i += 1;
                    n
                }
                b'x' => {
                    let h = |b: u8| (b as char).to_digit(16);
                    match (h(at(i + 2)), h(at(i + 3))) {
                        (Some(a), Some(b)) => {
                            i += 3;
                            (a * 16 + b) as u8
                        }
                        _ => {
                            return Err(LineError {
                                kind: LineErrorKind::Hex,
                                pos: i,
                            })
                        }
                    }
                }
                // other combinations are not escapes: the backslash stays
                _ => b'\\',
            };
            i += 1;
            words.last_mut().unwrap().push(out);
            continue;
        }
        if is_space(c) && !squote && !dquote {
            while is_space(at(i)) {
                i += 1;
            }
            words.push(Vec::new());
            continue;
        }
        if c == b'$' && dquote {
            i += 1;
            let mut brace: Option<usize> = None;
            if at(i) == b'{' {
                brace = Some(i);
                i += 1;
            }
            let first = at(i);
            if !(first.is_ascii_alphabetic() || first == b'_' || first == b'.') {
                return Err(LineError {
                    kind: LineErrorKind::VarName,
                    pos: i,
                });
            }
            let name_start = i;
            if first == b'.' {
                i += 1;
            }
            while at(i).is_ascii_alphanumeric() || at(i) == b'_' {
                i += 1;
            }
            let name = String::from_utf8_lossy(&input[name_start..i]).into_owned();
            let mut value = if let Some(pseudo) = name.strip_prefix('.') {
                match pseudo {
                    "LINE" => Some(ctx.line.to_string()),
                    "FILE" => Some(ctx.file.to_string()),
                    "SECTION" => Some(ctx.section.to_string()),
                    _ => {
                        return Err(LineError {
                            kind: LineErrorKind::VarName,
                            pos: name_start,
                        })
                    }
                }
            } else {
                (ctx.env)(&name)
            };
            let mut expand = false;
            if at(i) == b'[' && brace.is_some() {
                let p = i;
                if at(i + 1) != b'*' || at(i + 2) != b']' {
                    return Err(LineError {
                        kind: LineErrorKind::WrongExpand,
                        pos: p,
                    });
                }
                i += 3;
                expand = true;
            }
            if let Some(b) = brace {
                if at(i) == b'-' {
                    let dstart = i + 1;
                    while at(i) != 0 && at(i) != b'}' {
                        i += 1;
                    }
                    if at(i) == 0 {
                        return Err(LineError {
                            kind: LineErrorKind::Brace,
                            pos: b,
                        });
                    }
                    if value.is_none() {
                        value = Some(String::from_utf8_lossy(&input[dstart..i]).into_owned());
                    }
                } else if at(i) != b'}' {
                    return Err(LineError {
                        kind: LineErrorKind::Brace,
                        pos: b,
                    });
                }
                i += 1;
            }
            if let Some(v) = value {
                let vb = v.as_bytes();
                let mut k = 0;
                while k < vb.len() {
                    if expand && is_space(vb[k]) {
                        words.push(Vec::new());
                        while k < vb.len() && is_space(vb[k]) {
                            k += 1;
                        }
                    } else {
                        words.last_mut().unwrap().push(vb[k]);
                        k += 1;
                    }
                }
            }
            continue;
        }
        words.last_mut().unwrap().push(c);
        i += 1;
    }
    if let Some(p) = quote_pos {
        return Err(LineError {
            kind: LineErrorKind::Quote,
            pos: p,
        });
    }
    // HAProxy ends the list at the first empty word; a trailing separator
    // leaves one such empty word behind.
    if words.len() > 1 && words.last().is_some_and(|w| w.is_empty()) {
        words.pop();
    }
    Ok(words
        .into_iter()
        .map(|w| String::from_utf8_lossy(&w).into_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "HOST" => Some("1.2.3.4".into()),
            "LIST" => Some("a  b c".into()),
            _ => None,
        }
    }
    fn sp(s: &str) -> Result<Vec<String>, LineError> {
        let ctx = LineCtx {
            file: "f.cfg",
            line: 7,
            section: "listen",
            env: &env,
        };
        split_line(s.as_bytes(), &ctx)
    }

    #[test]
    fn words_comments_quotes() {
        assert_eq!(sp("  bind :80  # c").unwrap(), vec!["bind", ":80"]);
        assert_eq!(sp("a 'b c' \"d e\"").unwrap(), vec!["a", "b c", "d e"]);
        assert_eq!(sp("a 'x#y' z").unwrap(), vec!["a", "x#y", "z"]);
        assert_eq!(sp("a\\ b").unwrap(), vec!["a b"]);
        assert_eq!(sp("\\x41\\x4a").unwrap(), vec!["AJ"]);
        assert_eq!(sp("a\\1").unwrap(), vec!["a\\1"]);
        assert_eq!(sp("'a\\x41'").unwrap(), vec!["a\\x41"]);
        assert_eq!(sp("").unwrap(), vec![""]);
    }

    #[test]
    fn env_expansion() {
        assert_eq!(sp("\"${HOST}:80\"").unwrap(), vec!["1.2.3.4:80"]);
        assert_eq!(sp("\"$HOST\"").unwrap(), vec!["1.2.3.4"]);
        assert_eq!(sp("$HOST").unwrap(), vec!["$HOST"]);
        assert_eq!(sp("\"${NOPE-9.9.9.9}\"").unwrap(), vec!["9.9.9.9"]);
        assert_eq!(sp("x \"${LIST[*]}\" y").unwrap(), vec!["x", "a", "b", "c", "y"]);
        assert_eq!(sp("\"${.LINE}\" \"${.FILE}\"").unwrap(), vec!["7", "f.cfg"]);
        assert_eq!(sp("\"\\$HOST\"").unwrap(), vec!["$HOST"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            sp("a 'b").unwrap_err(),
            LineError {
                kind: LineErrorKind::Quote,
                pos: 2
            }
        );
        assert_eq!(sp("\"${HOST\"").unwrap_err().kind, LineErrorKind::Brace);
        assert_eq!(sp("\"$1\"").unwrap_err().kind, LineErrorKind::VarName);
        assert_eq!(sp("\\xZZ").unwrap_err().kind, LineErrorKind::Hex);
        assert_eq!(sp("\"${LIST[x]}\"").unwrap_err().kind, LineErrorKind::WrongExpand);
    }
}
