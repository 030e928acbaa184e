//! Body framing: an incremental decoder for Content-Length, chunked,
//! close-delimited and tunnelled bodies, plus the chunk-size emitter used
//! when re-chunking on output.
//!
//! Owns the framing grammar after the head (chunk sizes, extensions, CRLFs,
//! trailers) with HAProxy 2.6's limits. It never copies payload: each call
//! classifies a prefix of the caller's bytes as payload or framing and the
//! caller forwards or skips them. It must not touch the head, sockets, or
//! decide what to answer beyond the status in [`BodyError`].
//!
//! States and transitions: see `LIFECYCLE.md` beside this file.

use crate::head::BodyFraming;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Length,
    ChunkSize,
    ChunkData,
    ChunkCrlf,
    Trailers,
    UntilClose,
    Tunnel,
    Done,
}

/// What the first bytes of the input are. The caller consumes exactly the
/// reported count and calls again with the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyEvent {
    /// This many payload bytes.
    Data(usize),
    /// A chunk-size line (extensions included) of `len` bytes announcing
    /// `size` payload bytes; `size == 0` is the last chunk.
    ChunkSize { len: usize, size: u64 },
    /// The CRLF (or bare LF) closing a chunk's data.
    ChunkEnd(usize),
    /// The trailer block after the last chunk, up to and including its
    /// empty line (so `2` means no trailers). The message is complete.
    Trailers(usize),
    /// The message body is complete; nothing consumed.
    Done,
    /// Nothing can be decided on these bytes; wait for more.
    NeedMore,
}

/// A framing violation. `pos` is relative to the slice given to
/// [`BodyDecoder::decode`]; `status` is HAProxy's answer (400 for a request,
/// 502 for a response).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyError {
    pub pos: usize,
    pub status: u16,
    pub truncated: bool,
}

/// Incremental body decoder for one message.
#[derive(Clone, Copy, Debug)]
pub struct BodyDecoder {
    state: State,
    remaining: u64,
    total: u64,
    response: bool,
}

/// HAProxy refuses chunk sizes of 2^52 and more (14+ significant hex
/// digits), so languages with float integers never see bogus sizes.
const CHUNK_SIZE_LIMIT_MASK: u64 = 0xF0_0000_0000_0000;

impl BodyDecoder {
    /// A decoder for a body framed as `framing`. `response` selects the
    /// error status (502 instead of 400).
    pub fn new(framing: BodyFraming, response: bool) -> BodyDecoder {
        let (state, remaining) = match framing {
            BodyFraming::None => (State::Done, 0),
            BodyFraming::Length(n) => (State::Length, n),
            BodyFraming::Chunked => (State::ChunkSize, 0),
            BodyFraming::UntilClose => (State::UntilClose, 0),
            BodyFraming::Tunnel => (State::Tunnel, 0),
        };
        BodyDecoder {
            state,
            remaining,
            total: 0,
            response,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes still expected in the current Content-Length body or
    /// chunk.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Payload bytes reported so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    fn err(&self, pos: usize) -> BodyError {
        BodyError {
            pos,
            status: if self.response { 502 } else { 400 },
            truncated: false,
        }
    }

    /// Classifies the start of `input`.
    pub fn decode(&mut self, input: &[u8]) -> Result<BodyEvent, BodyError> {
        match self.state {
            State::Done => Ok(BodyEvent::Done),
            State::UntilClose | State::Tunnel => {
                if input.is_empty() {
                    return Ok(BodyEvent::NeedMore);
                }
                self.total += input.len() as u64;
                Ok(BodyEvent::Data(input.len()))
            }
            State::Length | State::ChunkData => {
                if self.remaining == 0 {
                    // Only reachable for a zero Length: finish.
                    self.state = State::Done;
                    return Ok(BodyEvent::Done);
                }
                if input.is_empty() {
                    return Ok(BodyEvent::NeedMore);
                }
                let n = (input.len() as u64).min(self.remaining) as usize;
                self.remaining -= n as u64;
                self.total += n as u64;
                if self.remaining == 0 {
                    self.state = if self.state == State::Length {
                        State::Done
                    } else {
                        State::ChunkCrlf
                    };
                }
                Ok(BodyEvent::Data(n))
            }
            State::ChunkCrlf => {
                let mut p = 0;
                match input.first() {
                    None => return Ok(BodyEvent::NeedMore),
                    Some(b'\r') => p = 1,
                    Some(_) => {}
                }
                match input.get(p) {
                    None => Ok(BodyEvent::NeedMore),
                    Some(b'\n') => {
                        self.state = State::ChunkSize;
                        Ok(BodyEvent::ChunkEnd(p + 1))
                    }
                    Some(_) => Err(self.err(p)),
                }
            }
            State::ChunkSize => match parse_chunk_size(input) {
                Ok(None) => Ok(BodyEvent::NeedMore),
                Ok(Some((len, size))) => {
                    self.remaining = size;
                    self.state = if size == 0 { State::Trailers } else { State::ChunkData };
                    Ok(BodyEvent::ChunkSize { len, size })
                }
                Err(pos) => Err(self.err(pos)),
            },
            State::Trailers => match measure_trailers(input) {
                Ok(None) => Ok(BodyEvent::NeedMore),
                Ok(Some(len)) => {
                    self.state = State::Done;
                    Ok(BodyEvent::Trailers(len))
                }
                Err(pos) => Err(self.err(pos)),
            },
        }
    }

    /// The peer closed its side. Close-delimited bodies and tunnels end
    /// cleanly; any other unfinished body is truncated.
    pub fn on_close(&mut self) -> Result<(), BodyError> {
        match self.state {
            State::Done => Ok(()),
            State::UntilClose | State::Tunnel => {
                self.state = State::Done;
                Ok(())
            }
            _ => Err(BodyError {
                truncated: true,
                ..self.err(0)
            }),
        }
    }
}

/// `1*HEXDIG *WSP [ ";" ext ] CRLF` with HAProxy's tolerance (bare LF,
/// anything after ';' up to the line end). Returns (line length, size).
fn parse_chunk_size(b: &[u8]) -> Result<Option<(usize, u64)>, usize> {
    let mut p = 0;
    let mut size: u64 = 0;
    while let Some(&c) = b.get(p) {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => break,
        };
        size = (size << 4) | d as u64;
        if size & CHUNK_SIZE_LIMIT_MASK != 0 {
            return Err(p);
        }
        p += 1;
    }
    if p == b.len() {
        return Ok(None);
    }
    if p == 0 {
        return Err(0);
    }
    while p < b.len() && (b[p] == b' ' || b[p] == b'\t') {
        p += 1;
    }
    loop {
        match b.get(p) {
            None => return Ok(None),
            Some(b'\r') => {
                return match b.get(p + 1) {
                    None => Ok(None),
                    Some(b'\n') => Ok(Some((p + 2, size))),
                    Some(_) => Err(p + 1),
                }
            }
            Some(b'\n') => return Ok(Some((p + 1, size))),
            Some(b';') => {
                p += 1;
                while p < b.len() && b[p] != b'\r' && b[p] != b'\n' {
                    p += 1;
                }
            }
            Some(_) => return Err(p),
        }
    }
}

/// Measures the trailer block: lines ending in LF or CRLF up to an empty
/// line. A CR anywhere but before the LF is refused.
fn measure_trailers(b: &[u8]) -> Result<Option<usize>, usize> {
    let mut p = 0;
    loop {
        let line = p;
        let mut cr = false;
        loop {
            match b.get(p) {
                None => return Ok(None),
                Some(b'\n') => {
                    p += 1;
                    break;
                }
                Some(b'\r') => {
                    if cr || b.get(p + 1).is_some_and(|&c| c != b'\n') {
                        return Err(p);
                    }
                    cr = true;
                    p += 1;
                }
                Some(_) => {
                    if cr {
                        return Err(p);
                    }
                    p += 1;
                }
            }
        }
        if p - line <= 2 && (p - line == 1 || b[line] == b'\r') {
            return Ok(Some(p));
        }
        // A trailer field is a header field: a token name, then ':'.
        // HAProxy parses trailers with its header parser and refuses the
        // message otherwise.
        let text = &b[line..p];
        match text.iter().position(|&c| c == b':') {
            Some(0) | None => return Err(line),
            Some(colon) => {
                if let Some(bad) = text[..colon].iter().position(|&c| !crate::chars::is_token(c)) {
                    return Err(line + bad);
                }
            }
        }
    }
}

/// Writes a chunk-size line the way HAProxy emits it (upper-case hex, no
/// padding, CRLF) into `out`; returns the length, or None if it does not
/// fit.
pub fn write_chunk_size(size: u64, out: &mut [u8]) -> Option<usize> {
    let mut tmp = [0u8; 18];
    let mut i = tmp.len();
    let mut s = size;
    loop {
        i -= 1;
        tmp[i] = b"0123456789ABCDEF"[(s & 0xF) as usize];
        s >>= 4;
        if s == 0 {
            break;
        }
    }
    let digits = &tmp[i..];
    let n = digits.len() + 2;
    if out.len() < n {
        return None;
    }
    out[..digits.len()].copy_from_slice(digits);
    out[digits.len()..n].copy_from_slice(b"\r\n");
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes, collecting events and the
    /// payload bytes.
    fn run(framing: BodyFraming, input: &[u8], step: usize) -> Result<(Vec<u8>, Vec<BodyEvent>), BodyError> {
        let mut d = BodyDecoder::new(framing, false);
        let mut payload = Vec::new();
        let mut events = Vec::new();
        let mut pos = 0;
        let mut avail = step.min(input.len());
        loop {
            let ev = d.decode(&input[pos..avail])?;
            let n = match ev {
                BodyEvent::Data(n) => {
                    payload.extend_from_slice(&input[pos..pos + n]);
                    n
                }
                BodyEvent::ChunkSize { len, .. } => len,
                BodyEvent::ChunkEnd(n) | BodyEvent::Trailers(n) => n,
                BodyEvent::Done => break,
                BodyEvent::NeedMore => {
                    if avail == input.len() {
                        break;
                    }
                    avail = (avail + step).min(input.len());
                    0
                }
            };
            if n > 0 {
                events.push(ev);
            }
            pos += n;
        }
        Ok((payload, events))
    }

    #[test]
    fn content_length_any_split() {
        for step in 1..8 {
            let (p, _) = run(BodyFraming::Length(5), b"helloEXTRA", step).unwrap();
            assert_eq!(p, b"hello");
        }
    }

    #[test]
    fn chunked_any_split() {
        let body = b"3;ext=1\r\nabc\r\nA\r\n0123456789\n0\r\nX-T: 1\r\n\r\nNEXT";
        for step in 1..12 {
            let (p, ev) = run(BodyFraming::Chunked, body, step).unwrap();
            assert_eq!(p, b"abc0123456789");
            assert_eq!(*ev.last().unwrap(), BodyEvent::Trailers(10));
        }
    }

    #[test]
    fn chunk_size_errors() {
        for bad in [&b"zz\r\n"[..], b"\r\n", b"fffffffffffffff\r\n", b"3\rabc", b"3 x\r\n"] {
            let e = run(BodyFraming::Chunked, bad, 64).unwrap_err();
            assert_eq!(e.status, 400, "{:?}", bad);
        }
        let mut d = BodyDecoder::new(BodyFraming::Chunked, true);
        assert_eq!(d.decode(b"g\r\n").unwrap_err().status, 502);
        // 13 hex digits are still fine.
        assert!(run(BodyFraming::Chunked, b"fffffffffffff\r\n", 64).is_ok());
    }

    #[test]
    fn missing_crlf_after_data() {
        let e = run(BodyFraming::Chunked, b"3\r\nabcX\r\n0\r\n\r\n", 64).unwrap_err();
        assert_eq!(e.pos, 0);
    }

    #[test]
    fn bad_trailer_cr() {
        assert!(run(BodyFraming::Chunked, b"0\r\nX: a\rb\r\n\r\n", 64).is_err());
    }

    #[test]
    fn close_and_tunnel() {
        let mut d = BodyDecoder::new(BodyFraming::UntilClose, true);
        assert_eq!(d.decode(b"abc").unwrap(), BodyEvent::Data(3));
        assert!(d.on_close().is_ok());
        let mut d = BodyDecoder::new(BodyFraming::Length(4), true);
        assert_eq!(d.decode(b"ab").unwrap(), BodyEvent::Data(2));
        assert!(d.on_close().unwrap_err().truncated);
        let mut d = BodyDecoder::new(BodyFraming::None, false);
        assert_eq!(d.decode(b"x").unwrap(), BodyEvent::Done);
    }

    #[test]
    fn chunk_size_emission() {
        let mut out = [0u8; 20];
        let n = write_chunk_size(0x1a2b, &mut out).unwrap();
        assert_eq!(&out[..n], b"1A2B\r\n");
        let n = write_chunk_size(0, &mut out).unwrap();
        assert_eq!(&out[..n], b"0\r\n");
        assert!(write_chunk_size(0x100, &mut out[..4]).is_none());
    }

    #[test]
    fn trailer_names_must_be_tokens() {
        let mut d = BodyDecoder::new(BodyFraming::Chunked, false);
        assert!(matches!(d.decode(b"0\r\n"), Ok(BodyEvent::ChunkSize { size: 0, .. })));
        assert_eq!(d.decode(b"X-T: 1\r\n\r\n"), Ok(BodyEvent::Trailers(10)));
        let mut d = BodyDecoder::new(BodyFraming::Chunked, true);
        d.decode(b"0\r\n").unwrap();
        let e = d.decode(b"X T: 1\r\n\r\n").unwrap_err();
        assert_eq!((e.pos, e.status), (1, 502));
        let mut d = BodyDecoder::new(BodyFraming::Chunked, false);
        d.decode(b"0\r\n").unwrap();
        assert_eq!(d.decode(b"no-colon\r\n\r\n").unwrap_err().status, 400);
    }
}
