//! Byte classes of the HTTP/1 grammar as HAProxy 2.6 applies them.
//!
//! Owns the lookup tables only; the parsers decide what each class means in
//! each state. Must not grow policy (accept/reject decisions live in `head`).

const TOK: u8 = 1;
const VER: u8 = 2;
const LWS: u8 = 4;
const SPHT: u8 = 8;
const CRLF: u8 = 16;

const fn build() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let mut f = 0;
        if b.is_ascii_alphanumeric() {
            f |= TOK;
        }
        if matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        ) {
            f |= TOK;
        }
        // HAProxy's version class is deliberately narrow: upper case,
        // digits, '.' and '/'. "http/1.1" therefore fails in the parser
        // itself, even with accept-invalid-http-request.
        if b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'/' {
            f |= VER;
        }
        if b == b' ' || b == b'\t' {
            f |= SPHT | LWS;
        }
        if b == b'\r' || b == b'\n' {
            f |= CRLF | LWS;
        }
        t[c] = f;
        c += 1;
    }
    t
}

static CLASSES: [u8; 256] = build();

#[inline(always)]
pub(crate) fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & TOK != 0
}
#[inline(always)]
pub(crate) fn is_ver(b: u8) -> bool {
    CLASSES[b as usize] & VER != 0
}
#[inline(always)]
pub(crate) fn is_lws(b: u8) -> bool {
    CLASSES[b as usize] & LWS != 0
}
#[inline(always)]
pub(crate) fn is_spht(b: u8) -> bool {
    CLASSES[b as usize] & SPHT != 0
}
#[inline(always)]
pub(crate) fn is_crlf(b: u8) -> bool {
    CLASSES[b as usize] & CRLF != 0
}

/// ASCII case-insensitive comparison (header names, tokens).
#[inline]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Iterates over the comma-separated elements of a header value with the
/// surrounding linear white space removed, the way HAProxy walks the
/// `Connection`, `Transfer-Encoding` and `Upgrade` values. Empty elements
/// between commas are yielded as empty slices (they make a TE invalid).
pub fn list_items(value: &[u8]) -> ListItems<'_> {
    ListItems {
        rest: value,
        done: false,
    }
}

/// Iterator returned by [`list_items`].
pub struct ListItems<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let end = self.rest.iter().position(|&b| b == b',');
        let piece = &self.rest[..end.unwrap_or(self.rest.len())];
        let mut w = piece;
        while let [first, tail @ ..] = w {
            if is_lws(*first) {
                w = tail;
            } else {
                break;
            }
        }
        while let [head @ .., last] = w {
            if is_lws(*last) {
                w = head;
            } else {
                break;
            }
        }
        match end {
            Some(e) => self.rest = &self.rest[e + 1..],
            None => {
                self.done = true;
                // The piece after the last comma only counts when it holds
                // something: "a," has one element, "a, ,b" has an empty one.
                if w.is_empty() {
                    return None;
                }
            }
        }
        Some(w)
    }
}

/// End of the list element starting at `i`: the next comma outside a
/// quoted string (backslash pairs inside quotes), or the end.
fn element_end(v: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut pair) = (false, false);
    while i < v.len() {
        let c = v[i];
        if pair {
            pair = false;
        } else if quoted {
            if c == b'\\' {
                pair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            return i;
        }
        i += 1;
    }
    i
}

/// The `Connection` value HAProxy's H1 side keeps once the close and
/// keep-alive tokens are taken out, handed to `emit` piece by piece. Until
/// a token is removed the value stays byte for byte as sent (spaces after
/// commas included); the elements after a removed one are joined with bare
/// commas. An empty result means the header is dropped. Nothing allocates:
/// the pieces are slices of `v` and `","`.
pub fn connection_value<'a>(v: &'a [u8], mut emit: impl FnMut(&'a [u8])) {
    // Some(n): nothing removed yet, the verbatim prefix is v[..n].
    let mut verbatim: Option<usize> = Some(0);
    let mut written = 0usize;
    let mut i = 0;
    while i < v.len() {
        if is_lws(v[i]) {
            i += 1;
            continue;
        }
        let n = element_end(v, i);
        let mut w = &v[i..n];
        while let [head @ .., last] = w {
            if !is_lws(*last) {
                break;
            }
            w = head;
        }
        let hop = eq_ignore_case(w, b"close") || eq_ignore_case(w, b"keep-alive");
        match (hop, verbatim) {
            (false, Some(_)) => verbatim = Some(n),
            (false, None) => {
                if written > 0 {
                    emit(b",");
                    written += 1;
                }
                emit(w);
                written += w.len();
            }
            (true, Some(l)) => {
                if l > 0 {
                    emit(&v[..l]);
                }
                written = l;
                verbatim = None;
            }
            (true, None) => {}
        }
        i = n + 1;
    }
    if let Some(l) = verbatim {
        if l > 0 {
            emit(&v[..l]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_token(b'a') && is_token(b'~') && !is_token(b'(') && !is_token(b':'));
        assert!(is_ver(b'H') && is_ver(b'/') && !is_ver(b'h'));
        assert!(is_lws(b'\r') && !is_spht(b'\r') && is_spht(b'\t'));
        assert!(is_crlf(b'\n') && !is_crlf(b' '));
    }

    #[test]
    fn list_items_trim_and_split() {
        let v: Vec<&[u8]> = list_items(b" close ,\tkeep-alive ,, x ").collect();
        assert_eq!(v, vec![&b"close"[..], b"keep-alive", b"", b"x"]);
        assert_eq!(list_items(b"a,").count(), 1);
        assert_eq!(list_items(b"   ").count(), 0);
    }

    fn conn(v: &[u8]) -> String {
        let mut o = Vec::new();
        connection_value(v, |p| o.extend_from_slice(p));
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn connection_value_as_haproxy() {
        // Verbatim until a token is removed (HAProxy 2.6 on the wire).
        assert_eq!(conn(b"Upgrade, HTTP2-Settings"), "Upgrade, HTTP2-Settings");
        assert_eq!(conn(b"Upgrade ,  x"), "Upgrade ,  x");
        assert_eq!(conn(b"keep-alive, X-Foo"), "X-Foo");
        assert_eq!(conn(b"a, b, close, c, d"), "a, b,c,d");
        assert_eq!(conn(b"close, Upgrade, x"), "Upgrade,x");
        assert_eq!(conn(b"a,close,,b"), "a,,b");
        assert_eq!(conn(b"close, keep-alive"), "");
        assert_eq!(conn(b"close,"), "");
        assert_eq!(conn(b"a=\"x,close\", close, b"), "a=\"x,close\",b");
    }
}
