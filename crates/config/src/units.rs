//! Typed values as HAProxy reads them: times with units (`us ms s m h d`),
//! sizes with `k m g` suffixes, plain integers with C `atol` leniency where
//! HAProxy is lenient. Owns value parsing only, not keyword semantics.

/// Why a time value was rejected.
#[derive(Debug, PartialEq, Eq)]
pub enum TimeError {
    /// First unexpected character.
    BadChar(char),
    Overflow,
    Underflow,
    Empty,
}

/// Parses a time; `default_unit_ms` is the multiplier applied without a
/// suffix expressed in microseconds (1000 for ms defaults, 1_000_000 for s).
/// Returns milliseconds.
pub fn parse_time_ms(s: &str) -> Result<u32, TimeError> {
    parse_time(s, 1000).map(|us| (us / 1000) as u32)
}

/// Core time parser; returns a value in microseconds-of-the-unit space and
/// checks HAProxy's 2^31-1 ms limit.
fn parse_time(s: &str, default_us: u64) -> Result<u64, TimeError> {
    let us = parse_time_us(s, default_us)?;
    if us / 1000 > i32::MAX as u64 {
        return Err(TimeError::Overflow);
    }
    Ok(us)
}

/// Parses a time whose unit defaults to seconds (HAProxy's `TIME_UNIT_S`,
/// e.g. cookie `maxidle`): seconds, at most 2^31-1 of them, and a
/// non-null value below one second is an underflow.
pub fn parse_time_s(s: &str) -> Result<u32, TimeError> {
    let us = parse_time_us(s, 1_000_000)?;
    let secs = us / 1_000_000;
    if secs > i32::MAX as u64 {
        return Err(TimeError::Overflow);
    }
    if us != 0 && secs == 0 {
        return Err(TimeError::Underflow);
    }
    Ok(secs as u32)
}

fn parse_time_us(s: &str, default_us: u64) -> Result<u64, TimeError> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(TimeError::Empty);
    }
    let mut i = 0;
    let mut v: u64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((b[i] - b'0') as u64);
        i += 1;
    }
    if i == 0 {
        return Err(TimeError::BadChar(b[0] as char));
    }
    let rest = &s[i..];
    let mult_us: u64 = match rest {
        "" => default_us,
        "us" => 1,
        "ms" => 1000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => {
            // HAProxy reports the first character it could not consume
            let c = match rest.as_bytes()[0] {
                b'u' | b'm' if rest.len() > 1 => rest.as_bytes()[1],
                b's' | b'h' | b'd' if rest.len() > 1 => rest.as_bytes()[1],
                c => c,
            } as char;
            return Err(TimeError::BadChar(c));
        }
    };
    let us = v.saturating_mul(mult_us);
    let ms = us / 1000;
    if v != 0 && ms == 0 && mult_us < 1000 {
        return Err(TimeError::Underflow);
    }
    Ok(us)
}

/// Parses a size with optional k/m/g suffix (case-insensitive, powers of
/// 1024). Returns the first bad character on error.
pub fn parse_size(s: &str) -> Result<u64, char> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v: u64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add((b[i] - b'0') as u64);
        i += 1;
    }
    if i == 0 {
        return Err(b.first().map_or('\0', |&c| c as char));
    }
    let mult = match b.get(i).map(|c| c.to_ascii_lowercase()) {
        None => return Ok(v),
        Some(b'k') => 1024,
        Some(b'm') => 1024 * 1024,
        Some(b'g') => 1024 * 1024 * 1024,
        Some(c) => return Err(c as char),
    };
    if let Some(&c) = b.get(i + 1) {
        return Err(c as char);
    }
    Ok(v.saturating_mul(mult))
}

/// C `atol`: leading spaces, optional sign, digits, stops at the first
/// non-digit; 0 when nothing parses. HAProxy uses it for many integer
/// keywords, so `maxconn abc` silently means 0 there too.
pub fn atol(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for c in t.bytes() {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Strict unsigned integer: all digits.
pub fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn times() {
        assert_eq!(parse_time_ms("5s"), Ok(5000));
        assert_eq!(parse_time_ms("100"), Ok(100));
        assert_eq!(parse_time_ms("2m"), Ok(120_000));
        assert_eq!(parse_time_ms("1h"), Ok(3_600_000));
        assert_eq!(parse_time_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_time_ms("1500us"), Ok(1));
        assert_eq!(parse_time_ms("10x"), Err(TimeError::BadChar('x')));
        assert_eq!(parse_time_ms("100000d"), Err(TimeError::Overflow));
        assert_eq!(parse_time_ms("1us"), Err(TimeError::Underflow));
        assert_eq!(parse_time_ms("0"), Ok(0));
    }
    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("3x"), Err('x'));
        assert_eq!(parse_size("1kb"), Err('b'));
    }
    #[test]
    fn ints() {
        assert_eq!(atol("abc"), 0);
        assert_eq!(atol("12ab"), 12);
        assert_eq!(atol("-3"), -3);
        assert_eq!(parse_uint("12"), Some(12));
        assert_eq!(parse_uint("1x"), None);
    }
}
