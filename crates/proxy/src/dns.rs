//! The DNS wire format, sans I/O (RFC 1035, 2782, 3596, 6891): building a
//! query (one question, an EDNS0 OPT record announcing the accepted payload
//! size as HAProxy does) and parsing a response into its header and
//! records (A, AAAA, SRV, CNAME; others skipped), following compression
//! pointers with loop protection.
//!
//! This module owns bytes only: no sockets, timers or servers (that is
//! `resolvers.rs`). Every length is checked: a malformed or truncated
//! response is an error value, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub const T_A: u16 = 1;
pub const T_CNAME: u16 = 5;
pub const T_AAAA: u16 = 28;
pub const T_SRV: u16 = 33;
const T_OPT: u16 = 41;
const CLASS_IN: u16 = 1;

pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

/// Longest name HAProxy (and RFC 1035) accepts.
const MAX_NAME: usize = 255;

/// Record data this proxy uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    Ip(IpAddr),
    Cname(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Other(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, lower case, without the final dot.
    pub name: String,
    pub ttl: u32,
    pub data: Data,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    /// The question's name and type, as echoed by the server.
    pub qname: String,
    pub qtype: u16,
    pub answers: Vec<Record>,
    pub additional: Vec<Record>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than its own counts and lengths say.
    Short,
    /// Not a response, several questions, a bad label or pointer loop.
    Invalid,
}

/// Builds a query for `name` (with or without the final dot) of type
/// `qtype`, recursion desired, with an EDNS0 OPT record announcing
/// `payload` bytes. None when the name is not a valid DNS name.
pub fn build_query(id: u16, name: &str, qtype: u16, payload: u16) -> Option<Vec<u8>> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // 1 question, 1 additional
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME - 2 {
        return None;
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    // OPT: root name, type 41, class = payload size, ttl 0, no data.
    q.push(0);
    q.extend_from_slice(&T_OPT.to_be_bytes());
    q.extend_from_slice(&payload.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Some(q)
}

fn u16_at(b: &[u8], p: usize) -> Result<u16, Error> {
    b.get(p..p + 2)
        .map(|s| u16::from_be_bytes([s[0], s[1]]))
        .ok_or(Error::Short)
}

fn u32_at(b: &[u8], p: usize) -> Result<u32, Error> {
    b.get(p..p + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(Error::Short)
}

/// Reads a possibly compressed name at `pos`; returns it (lower case, no
/// final dot) and the position after it in the original stream.
fn read_name(b: &[u8], mut pos: usize) -> Result<(String, usize), Error> {
    let mut out = String::new();
    let mut end = None;
    // Each pointer must go strictly backwards: no loop can form.
    let mut limit = pos;
    loop {
        let len = *b.get(pos).ok_or(Error::Short)? as usize;
        if len & 0xc0 == 0xc0 {
            let target = (u16_at(b, pos)? & 0x3fff) as usize;
            if target >= limit {
                return Err(Error::Invalid);
            }
            end.get_or_insert(pos + 2);
            limit = target;
            pos = target;
            continue;
        }
        if len & 0xc0 != 0 {
            return Err(Error::Invalid);
        }
        if len == 0 {
            let after = end.unwrap_or(pos + 1);
            return Ok((out, after));
        }
        let label = b.get(pos + 1..pos + 1 + len).ok_or(Error::Short)?;
        if !out.is_empty() {
            out.push('.');
        }
        for &c in label {
            out.push((c as char).to_ascii_lowercase());
        }
        if out.len() > MAX_NAME {
            return Err(Error::Invalid);
        }
        pos += 1 + len;
    }
}

fn read_record(b: &[u8], pos: usize) -> Result<(Record, usize), Error> {
    let (name, p) = read_name(b, pos)?;
    let rtype = u16_at(b, p)?;
    let ttl = u32_at(b, p + 4)?;
    let rdlen = u16_at(b, p + 8)? as usize;
    let start = p + 10;
    let rd = b.get(start..start + rdlen).ok_or(Error::Short)?;
    let data = match rtype {
        T_A => {
            let o: [u8; 4] = rd.try_into().map_err(|_| Error::Invalid)?;
            Data::Ip(IpAddr::V4(Ipv4Addr::from(o)))
        }
        T_AAAA => {
            let o: [u8; 16] = rd.try_into().map_err(|_| Error::Invalid)?;
            Data::Ip(IpAddr::V6(Ipv6Addr::from(o)))
        }
        T_CNAME => Data::Cname(read_name(b, start)?.0),
        T_SRV => {
            if rdlen < 7 {
                return Err(Error::Invalid);
            }
            Data::Srv {
                priority: u16_at(b, start)?,
                weight: u16_at(b, start + 2)?,
                port: u16_at(b, start + 4)?,
                target: read_name(b, start + 6)?.0,
            }
        }
        t => Data::Other(t),
    };
    Ok((Record { name, ttl, data }, start + rdlen))
}

/// Parses a response.
pub fn parse_response(b: &[u8]) -> Result<Response, Error> {
    if b.len() < 12 {
        return Err(Error::Short);
    }
    let id = u16_at(b, 0)?;
    let flags = u16_at(b, 2)?;
    if flags & 0x8000 == 0 {
        return Err(Error::Invalid);
    }
    let qd = u16_at(b, 4)?;
    let an = u16_at(b, 6)?;
    let ns = u16_at(b, 8)?;
    let ar = u16_at(b, 10)?;
    if qd != 1 {
        return Err(Error::Invalid);
    }
    let (qname, p) = read_name(b, 12)?;
    let qtype = u16_at(b, p)?;
    u16_at(b, p + 2)?;
    let mut pos = p + 4;
    let mut answers = Vec::with_capacity(an as usize);
    for _ in 0..an {
        let (r, n) = read_record(b, pos)?;
        answers.push(r);
        pos = n;
    }
    for _ in 0..ns {
        pos = read_record(b, pos)?.1;
    }
    let mut additional = Vec::new();
    for _ in 0..ar {
        let (r, n) = read_record(b, pos)?;
        if !matches!(r.data, Data::Other(T_OPT)) {
            additional.push(r);
        }
        pos = n;
    }
    Ok(Response {
        id,
        rcode: (flags & 0x000f) as u8,
        truncated: flags & 0x0200 != 0,
        qname,
        qtype,
        answers,
        additional,
    })
}

/// Builds a response (for tests and the test harness's fake servers
/// written in other crates use their own; this one checks round trips).
#[cfg(test)]
fn build_response(id: u16, q: &str, qtype: u16, rcode: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&(0x8180u16 | rcode as u16).to_be_bytes());
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    for l in q.split('.') {
        b.push(l.len() as u8);
        b.extend_from_slice(l.as_bytes());
    }
    b.push(0);
    b.extend_from_slice(&qtype.to_be_bytes());
    b.extend_from_slice(&[0, 1]);
    for (t, rd) in answers {
        b.extend_from_slice(&[0xc0, 12]); // pointer to the question name
        b.extend_from_slice(&t.to_be_bytes());
        b.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        b.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        b.extend_from_slice(rd);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_layout() {
        let q = build_query(0x1234, "www.example.com.", T_AAAA, 512).unwrap();
        assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
        assert_eq!(&q[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&q[12..29], b"\x03www\x07example\x03com\x00");
        assert_eq!(&q[29..33], &[0, 28, 0, 1]);
        assert_eq!(&q[33..], &[0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]);
        assert!(build_query(1, "a..b", T_A, 512).is_none());
        assert!(build_query(1, &"x".repeat(64), T_A, 512).is_none());
    }

    #[test]
    fn a_aaaa_cname_with_compression() {
        let cname_rd = vec![3, b'w', b'e', b'b', 0xc0, 16]; // "web" + ptr to "example.com"
        let b = build_response(
            7,
            "www.example.com",
            T_A,
            0,
            &[(T_CNAME, cname_rd), (T_A, vec![127, 0, 0, 2]), (T_AAAA, vec![0; 16])],
        );
        let r = parse_response(&b).unwrap();
        assert_eq!((r.id, r.rcode, r.truncated), (7, 0, false));
        assert_eq!(r.qname, "www.example.com");
        assert_eq!(r.answers[0].data, Data::Cname("web.example.com".into()));
        assert_eq!(r.answers[1].data, Data::Ip("127.0.0.2".parse().unwrap()));
        assert_eq!(r.answers[1].ttl, 60);
        assert_eq!(r.answers[2].data, Data::Ip("::".parse().unwrap()));
    }

    #[test]
    fn srv_records() {
        let mut rd = vec![0, 10, 0, 5, 0x1f, 0x90];
        rd.extend_from_slice(b"\x04host\xc0\x17"); // "host" + pointer to "svc"
        let b = build_response(9, "_http._tcp.svc", T_SRV, 0, &[(T_SRV, rd)]);
        let r = parse_response(&b).unwrap();
        assert_eq!(
            r.answers[0].data,
            Data::Srv {
                priority: 10,
                weight: 5,
                port: 8080,
                target: "host.svc".into()
            }
        );
    }

    #[test]
    fn errors_and_flags() {
        let mut b = build_response(1, "x.y", T_A, RCODE_NXDOMAIN, &[]);
        let r = parse_response(&b).unwrap();
        assert_eq!(r.rcode, RCODE_NXDOMAIN);
        b[2] |= 0x02;
        assert!(parse_response(&b).unwrap().truncated);
        // a query is not a response
        let q = build_query(1, "x.y", T_A, 512).unwrap();
        assert_eq!(parse_response(&q), Err(Error::Invalid));
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let good = build_response(3, "a.b.c", T_A, 0, &[(T_A, vec![1, 2, 3, 4]), (T_A, vec![5, 6, 7, 8])]);
        for n in 0..good.len() {
            let _ = parse_response(&good[..n]);
        }
        // a pointer to itself
        let mut bad = good.clone();
        let p = 12;
        bad[p] = 0xc0;
        bad[p + 1] = 12;
        assert!(parse_response(&bad).is_err());
        // every single-byte corruption
        for i in 0..good.len() {
            let mut c = good.clone();
            c[i] ^= 0xff;
            let _ = parse_response(&c);
        }
    }
}
