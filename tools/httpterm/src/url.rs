//! httpterm's request-line grammar: `<letter>=<int>[kmgr]*` items after the
//! first `?`, the help-page trigger, and the Etag checksum over the URI.
//!
//! Pure functions over bytes, no I/O: the event loop (`server.rs`) owns the
//! sockets and must not re-implement any of this parsing.

/// The `ka` bit set, kept in the original's layout because the quirks are
/// defined in terms of it: bit 0 = keep-alive wanted, bit 1 = forced by the
/// URL (request `Connection:` headers are then ignored), bit 2 = HTTP/1.1.
pub const KA_ON: u8 = 1;
pub const KA_FORCED: u8 = 2;
pub const KA_V11: u8 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// Body size (`s`); -1 = not given.
    pub size: i64,
    /// Status code (`r`); -1 = server default (200).
    pub code: i64,
    /// Cacheability (`c`); -1 = server default (1), 0 adds `Cache-Control`.
    pub cache: i64,
    /// Delay before responding in ms (`t`); -1 = none.
    pub time: i64,
    /// Keep-alive idle time for the next request in ms (`w`); -1 = default.
    pub ka_time: i64,
    /// Pause after responding in ms (`P`); -1 = none.
    pub pause: i64,
    pub ka: u8,
    /// `k`: non-zero = chunked, 1-byte chunks.
    pub chunked: i64,
    /// `e` seed, replaced by the checksum once the line is parsed; 0 = none.
    pub etag: u64,
    /// `b`: <0 real Content-length, 0 none (when closing), >0 this value.
    pub bodylen: i64,
    /// `B`: at most this many request body bytes read before responding.
    pub maxbody: i64,
    /// `S`, `R`, `p`, `v` as given (splice does not exist here: `S` only
    /// changes nothing but is still parsed so `S=0` is not a parse stop).
    pub nosplice: bool,
    pub random: i64,
    pub pieces: i64,
    pub verbose: i64,
    pub head: bool,
    pub post: bool,
}

impl Params {
    pub fn new() -> Params {
        Params {
            size: -1,
            code: -1,
            cache: -1,
            time: -1,
            ka_time: -1,
            pause: -1,
            ka: 0,
            chunked: 0,
            etag: 0,
            bodylen: -1,
            maxbody: -1,
            nosplice: false,
            random: 0,
            pieces: 0,
            verbose: 0,
            head: false,
            post: false,
        }
    }
}

impl Default for Params {
    fn default() -> Self {
        Params::new()
    }
}

/// Source of the `r` suffix's randomness: values in [0, 2^31), like
/// `random()`, so that `n*v/2^31` is uniform in [0, n-1] as in the original.
pub trait Rand31 {
    fn next31(&mut self) -> u32;
}

/// xorshift64*: cheap, per thread, no locking on the request path.
pub struct XorShift(pub u64);

impl Rand31 for XorShift {
    fn next31(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as u32
    }
}

/// `strtol(s, &end, 0)`: optional blanks and sign, then `0x` hex, leading-0
/// octal or decimal. Returns (value, bytes consumed); consumed is 0 when no
/// digit was found, which is how the caller detects a malformed item.
pub fn strtol0(s: &[u8]) -> (i64, usize) {
    let mut i = 0;
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    let mut base = 10u32;
    if i < s.len() && s[i] == b'0' {
        if i + 2 < s.len() && (s[i + 1] | 0x20) == b'x' && s[i + 2].is_ascii_hexdigit() {
            base = 16;
            i += 2;
        } else {
            base = 8;
        }
    }
    let start = i;
    let mut v: i64 = 0;
    while i < s.len() {
        let d = match (s[i] as char).to_digit(base) {
            Some(d) => d as i64,
            None => break,
        };
        v = v.saturating_mul(base as i64).saturating_add(d);
        i += 1;
    }
    if i == start {
        return (0, 0);
    }
    (if neg { -v } else { v }, i)
}

/// Result of looking at a request line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// `/?`, `/? ` or `/?h…`: answer with the help page and close.
    Help,
    Request,
}

/// Parses one request line (without its CR/LF) into `p`, which the caller
/// has reset. Sets the method flags, the HTTP/1.1 keep-alive default, every
/// URL item, the chunked size adjustment and the Etag.
pub fn parse_request_line(line: &[u8], p: &mut Params, rng: &mut dyn Rand31) -> Line {
    match line.first() {
        Some(b'P') => p.post = true,
        Some(b'H') => p.head = true,
        _ => {}
    }
    // The original only looks at the last character of the line.
    if line.last() == Some(&b'1') {
        p.ka = KA_V11 | KA_ON;
    }
    let q = match line.iter().position(|&c| c == b'?') {
        Some(q) => q,
        None => return Line::Request,
    };
    let mut arg = q + 1;
    if arg >= line.len() || line[arg] == b' ' || line[arg] == b'h' {
        return Line::Help;
    }
    while arg + 2 <= line.len() && line[arg + 1] == b'=' {
        let (mut result, used) = strtol0(&line[arg + 2..]);
        let mut next = arg + 2 + used;
        if used > 0 {
            let mut mult = 0u32;
            let mut use_rand = false;
            while next < line.len() {
                match line[next] | 0x20 {
                    b'k' => mult += 10,
                    b'm' => mult += 20,
                    b'g' => mult += 30,
                    b'r' => use_rand = true,
                    _ => break,
                }
                next += 1;
            }
            if use_rand {
                // Drawn before the shift: `s=10kr` is a multiple of 1024.
                result = ((rng.next31() as i128 * result as i128) >> 31) as i64;
            }
            let shifted = result.checked_shl(mult).unwrap_or(0);
            match line[arg] {
                b's' if !p.head => p.size = shifted,
                b's' => {}
                b'r' => p.code = shifted,
                b't' => p.time = shifted,
                b'w' => p.ka_time = shifted,
                b'P' => p.pause = shifted,
                b'c' => p.cache = shifted,
                b'C' => p.ka = (p.ka & KA_V11) | KA_FORCED | (result == 0) as u8,
                b'K' => p.ka = (p.ka & KA_V11) | KA_FORCED | (result != 0) as u8,
                b'k' => p.chunked = result,
                b'e' => p.etag = result as u64,
                b'b' => p.bodylen = result,
                b'B' => p.maxbody = result,
                b'S' => p.nosplice = result == 0,
                b'R' => {
                    p.random = result;
                    if result != 0 {
                        p.nosplice = true
                    }
                }
                b'p' => {
                    p.pieces = result;
                    if result != 0 {
                        p.nosplice = true
                    }
                }
                b'v' => p.verbose = result,
                _ => {}
            }
            arg = next;
        }
        match line.get(arg) {
            Some(b'&' | b';' | b'/' | b'?' | b',') => arg += 1,
            _ => break,
        }
    }
    if p.chunked != 0 {
        // Each data byte travels as "1\r\n1\r\n", then "0\r\n\r\n". An unset
        // size counts as 0 here (the original would send no terminator at
        // all and leave the client hanging).
        p.size = p.size.max(0) * 6 + 5;
    }
    if p.etag != 0 {
        p.etag = etag(line, p.etag);
    }
    Line::Request
}

/// The Etag checksum: the seed plus the big-endian 32-bit words of the line
/// from the URI on, the tail bytes shifted as in the original (left-aligned
/// on bits 31..8), with the carry folded back twice so the result is never 0.
pub fn etag(line: &[u8], seed: u64) -> u64 {
    let mut hash = seed;
    let mut p = 1.min(line.len());
    while p < line.len() {
        let c = line[p];
        p += 1;
        if c == b' ' {
            break;
        }
    }
    let end = line.len();
    while p + 4 <= end {
        hash = hash.wrapping_add(u32::from_be_bytes([line[p], line[p + 1], line[p + 2], line[p + 3]]) as u64);
        p += 4;
    }
    let rest = end - p;
    if rest >= 3 {
        hash = hash.wrapping_add((line[end - 3] as u64) << 24);
    }
    if rest >= 2 {
        hash = hash.wrapping_add((line[end - 2] as u64) << 16);
    }
    if rest >= 1 {
        hash = hash.wrapping_add((line[end - 1] as u64) << 8);
    }
    hash = (hash & 0xffff_ffff) + (hash >> 32);
    hash = (hash & 0xffff_ffff) + (hash >> 32);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u32);
    impl Rand31 for Fixed {
        fn next31(&mut self) -> u32 {
            self.0
        }
    }

    fn parse(line: &str, r: u32) -> (Line, Params) {
        let mut p = Params::new();
        let l = parse_request_line(line.as_bytes(), &mut p, &mut Fixed(r));
        (l, p)
    }

    #[test]
    fn strtol_bases() {
        assert_eq!(strtol0(b"123x"), (123, 3));
        assert_eq!(strtol0(b"0x1f/"), (31, 4));
        assert_eq!(strtol0(b"017"), (15, 3));
        assert_eq!(strtol0(b"-5"), (-5, 2));
        assert_eq!(strtol0(b"abc"), (0, 0));
        assert_eq!(strtol0(b"0"), (0, 1));
    }

    #[test]
    fn seed_url() {
        // r = 2^30 is the middle of [0, 2^31): 2*0.5 = 1 → forced close.
        let (l, p) = parse("GET /?s=19k/C=2r HTTP/1.1", 1 << 30);
        assert_eq!(l, Line::Request);
        assert_eq!(p.size, 19 * 1024);
        assert_eq!(p.ka, KA_V11 | KA_FORCED);
        let (_, p) = parse("GET /?s=19k/C=2r HTTP/1.1", 0);
        assert_eq!(p.ka, KA_V11 | KA_FORCED | KA_ON, "C=0 forces keep-alive");
    }

    #[test]
    fn random_before_shift() {
        let (_, p) = parse("GET /?s=10kr HTTP/1.1", (1 << 31) - 1);
        assert_eq!(p.size, 9 * 1024);
        let (_, p) = parse("GET /?t=5000r HTTP/1.1", (1 << 31) - 1);
        assert_eq!(p.time, 4999);
    }

    #[test]
    fn suffixes_add() {
        let (_, p) = parse("GET /?s=1kk HTTP/1.0", 0);
        assert_eq!(p.size, 1 << 20);
        assert_eq!(p.ka, 0);
        let (_, p) = parse("GET /?s=1M&t=1g HTTP/1.0", 0);
        assert_eq!((p.size, p.time), (1 << 20, 1 << 30));
    }

    #[test]
    fn separators_and_stop() {
        let (_, p) = parse("GET /?r=500?s=0?c=0?t=1000 HTTP/1.0", 0);
        assert_eq!((p.code, p.size, p.cache, p.time), (500, 0, 0, 1000));
        let (_, p) = parse("GET /?s=1;r=404,c=0&t=3 HTTP/1.1", 0);
        assert_eq!((p.size, p.code, p.cache, p.time), (1, 404, 0, 3));
        let (_, p) = parse("GET /?s=1&xx=3&r=404 HTTP/1.1", 0);
        assert_eq!((p.size, p.code), (1, -1), "parsing stops at a bad item");
    }

    #[test]
    fn help() {
        assert_eq!(parse("GET /? HTTP/1.1", 0).0, Line::Help);
        assert_eq!(parse("GET /?h HTTP/1.1", 0).0, Line::Help);
        assert_eq!(parse("GET /?", 0).0, Line::Help);
        assert_eq!(parse("GET /?s=1 HTTP/1.1", 0).0, Line::Request);
    }

    #[test]
    fn head_ignores_size_and_k_mirror() {
        let (_, p) = parse("HEAD /?s=100&K=0 HTTP/1.1", 0);
        assert!(p.head);
        assert_eq!(p.size, -1);
        assert_eq!(p.ka, KA_V11 | KA_FORCED);
    }

    #[test]
    fn chunked_size() {
        let (_, p) = parse("GET /?s=3&k=1 HTTP/1.1", 0);
        assert_eq!(p.size, 23);
    }

    #[test]
    fn etag_nonzero_and_stable() {
        let a = etag(b"GET /?e=1 HTTP/1.1", 1);
        assert_eq!(a, etag(b"GET /?e=1 HTTP/1.1", 1));
        assert_ne!(a, etag(b"GET /?e=2 HTTP/1.1", 2));
        // "/?e=" "1 HT" "TP/1" then ".1" → 0x2E31 << 8.
        let mut h: u64 = 1;
        for w in [b"/?e=", b"1 HT", b"TP/1"] {
            h += u32::from_be_bytes(*w) as u64;
        }
        h += (b'.' as u64) << 16;
        h += (b'1' as u64) << 8;
        h = (h & 0xffff_ffff) + (h >> 32);
        h = (h & 0xffff_ffff) + (h >> 32);
        assert_eq!(a, h);
    }
}
