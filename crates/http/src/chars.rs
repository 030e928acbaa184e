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
}
