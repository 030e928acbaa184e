//! The PROXY protocol (v1 text and v2 binary, HAProxy's
//! doc/proxy-protocol.txt) as a sans-IO codec: [`parse`] decodes a header
//! from the bytes peeked on a client socket, [`encode_v1`] / [`encode_v2`]
//! build the header sent first on a server connection. See LIFECYCLE.md
//! beside this file for where the stream calls them and who owns what.
//!
//! This module owns the wire format, its limits and the error kinds with
//! HAProxy's texts. It must not touch sockets, streams or counters: the
//! stream (`stream::pp_*`) does the I/O, the logging and the accounting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every v2 header starts with.
pub const V2_SIG: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Signature, version/command, family and length.
const V2_HDR: usize = 16;
/// Longest authority / unique id a v2 header may carry (HAProxy's
/// PP2_AUTHORITY_MAX and UNIQUEID_LEN): longer ones are invalid headers.
pub const AUTHORITY_MAX: usize = 255;
pub const UNIQUE_ID_MAX: usize = 128;

const TLV_AUTHORITY: u8 = 0x02;
const TLV_CRC32C: u8 = 0x03;
const TLV_UNIQUE_ID: u8 = 0x05;
const TLV_SSL: u8 = 0x20;

/// Why a header was refused (HAProxy's CO_ER_PRX_* codes). The first
/// three are decided by the caller (I/O and timer), the others by [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The client closed before sending anything.
    Empty,
    /// A socket error while reading the header.
    Abort,
    /// `timeout client` struck before a header arrived.
    Timeout,
    /// What arrived stops before the end of a header. As in HAProxy, the
    /// header must arrive with the first read: it is peeked, so the
    /// socket cannot be polled again for the rest.
    Truncated,
    /// Neither "PROXY " nor the v2 signature.
    NotHeader,
    /// A malformed header (syntax, lengths, TLVs, checksum, command).
    BadHeader,
    /// A v1 protocol other than TCP4, TCP6 and UNKNOWN.
    BadProto,
}

impl Error {
    /// HAProxy's text for the log line of a refused connection.
    pub fn text(self) -> &'static str {
        match self {
            Error::Empty => "Connection closed while waiting for PROXY protocol header",
            Error::Abort => "Connection error while waiting for PROXY protocol header",
            Error::Timeout => "Timeout while waiting for PROXY protocol header",
            Error::Truncated => "Truncated PROXY protocol header received",
            Error::NotHeader => "Received something which does not look like a PROXY protocol header",
            Error::BadHeader => "Received an invalid PROXY protocol header",
            Error::BadProto => "Received an unhandled protocol in the PROXY protocol header",
        }
    }

    /// Errors after which HAProxy's `option dontlognull` drops the log
    /// line (nothing was transferred).
    pub fn is_null(self) -> bool {
        matches!(self, Error::Empty | Error::Abort)
    }
}

/// What a header announced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// (source, destination) for TCP4/TCP6 and v2 PROXY over INET/INET6;
    /// None for v1 UNKNOWN, v2 LOCAL and other v2 families: the
    /// connection's own addresses stay.
    pub addrs: Option<(SocketAddr, SocketAddr)>,
    /// v2 TLVs kept for `fc_pp_authority` and `fc_pp_unique_id`.
    pub tlvs: Option<Box<Tlvs>>,
}

/// The v2 TLVs HAProxy keeps on the connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tlvs {
    pub authority: Option<Box<[u8]>>,
    pub unique_id: Option<Box<[u8]>>,
}

/// Decodes the header at the start of `buf` (everything one read got).
/// Returns its length (the bytes to consume) and what it announced.
pub fn parse(buf: &[u8]) -> Result<(usize, Header), Error> {
    if buf.len() < 6 {
        return Err(Error::Truncated);
    }
    if buf.starts_with(b"PROXY ") {
        parse_v1(buf)
    } else {
        parse_v2(buf)
    }
}

fn parse_v1(buf: &[u8]) -> Result<(usize, Header), Error> {
    if buf.len() < 9 {
        return Err(Error::Truncated);
    }
    let rest = &buf[6..];
    if rest.starts_with(b"UNKNOWN\r\n") {
        return Ok((6 + 9, Header::default()));
    }
    let v6 = if rest.starts_with(b"TCP4 ") {
        false
    } else if rest.starts_with(b"TCP6 ") {
        true
    } else {
        return Err(Error::BadProto);
    };
    let mut p = 11;
    // Four space-separated fields then CRLF; reaching the end of the
    // bytes anywhere means the header is cut.
    let mut field = |last: bool| -> Result<&[u8], Error> {
        let start = p;
        while p < buf.len() && !matches!(buf[p], b' ' | b'\r' | b'\n') {
            p += 1;
        }
        let f = &buf[start..p];
        if last {
            if p + 2 > buf.len() {
                return Err(Error::Truncated);
            }
            if &buf[p..p + 2] != b"\r\n" {
                return Err(Error::BadHeader);
            }
            p += 2;
        } else {
            if p >= buf.len() {
                return Err(Error::Truncated);
            }
            if buf[p] != b' ' {
                return Err(Error::BadHeader);
            }
            p += 1;
        }
        Ok(f)
    };
    let s = field(false)?;
    let d = field(false)?;
    let sp = field(false)?;
    let dp = field(true)?;
    let ip = |f: &[u8]| -> Result<IpAddr, Error> {
        let t = std::str::from_utf8(f).map_err(|_| Error::BadHeader)?;
        if v6 {
            t.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| Error::BadHeader)
        } else {
            t.parse::<Ipv4Addr>().map(IpAddr::V4).map_err(|_| Error::BadHeader)
        }
    };
    // Ports are read as HAProxy does: digits only (none reads as 0), the
    // value cut to 16 bits rather than refused.
    let port = |f: &[u8]| -> Result<u16, Error> {
        if !f.iter().all(u8::is_ascii_digit) {
            return Err(Error::BadHeader);
        }
        let v: u32 = f
            .iter()
            .fold(0u32, |a, &c| a.wrapping_mul(10).wrapping_add(u32::from(c - b'0')));
        Ok(v as u16)
    };
    let src = SocketAddr::new(ip(s)?, port(sp)?);
    let dst = SocketAddr::new(ip(d)?, port(dp)?);
    Ok((
        p,
        Header {
            addrs: Some((src, dst)),
            tlvs: None,
        },
    ))
}

fn parse_v2(buf: &[u8]) -> Result<(usize, Header), Error> {
    if buf.len() < V2_HDR {
        return Err(Error::Truncated);
    }
    if buf[..12] != V2_SIG || buf[12] & 0xf0 != 0x20 {
        return Err(Error::NotHeader);
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = V2_HDR + len;
    if buf.len() < total {
        return Err(Error::Truncated);
    }
    let hdr = &buf[..total];
    match buf[12] & 0x0f {
        // LOCAL: the connection's own addresses stay, the rest is skipped.
        0x00 => return Ok((total, Header::default())),
        0x01 => {}
        _ => return Err(Error::BadHeader),
    }
    let mut out = Header::default();
    let mut off = V2_HDR;
    match buf[13] {
        0x11 => {
            if len < 12 {
                return Err(Error::BadHeader);
            }
            let a = &hdr[16..28];
            let ip = |o: usize| IpAddr::V4(Ipv4Addr::new(a[o], a[o + 1], a[o + 2], a[o + 3]));
            let src = SocketAddr::new(ip(0), u16::from_be_bytes([a[8], a[9]]));
            let dst = SocketAddr::new(ip(4), u16::from_be_bytes([a[10], a[11]]));
            out.addrs = Some((src, dst));
            off += 12;
        }
        0x21 => {
            if len < 36 {
                return Err(Error::BadHeader);
            }
            let a = &hdr[16..52];
            let ip = |o: usize| {
                let mut b = [0u8; 16];
                b.copy_from_slice(&a[o..o + 16]);
                IpAddr::V6(Ipv6Addr::from(b))
            };
            let src = SocketAddr::new(ip(0), u16::from_be_bytes([a[32], a[33]]));
            let dst = SocketAddr::new(ip(16), u16::from_be_bytes([a[34], a[35]]));
            out.addrs = Some((src, dst));
            off += 36;
        }
        // Other families (UNIX, UDP, UNSPEC): addresses are not used, but
        // the TLVs that follow the header are still read, as HAProxy does.
        _ => {}
    }
    while off < total {
        if off + 3 > total {
            return Err(Error::BadHeader);
        }
        let ty = hdr[off];
        let vlen = usize::from(u16::from_be_bytes([hdr[off + 1], hdr[off + 2]]));
        let v = off + 3;
        if v + vlen > total {
            return Err(Error::BadHeader);
        }
        let val = &hdr[v..v + vlen];
        match ty {
            TLV_CRC32C => {
                if vlen != 4 {
                    return Err(Error::BadHeader);
                }
                let want = u32::from_be_bytes([val[0], val[1], val[2], val[3]]);
                // The checksum covers the header with this field zeroed.
                let got = crc32c_update(crc32c_update(crc32c_update(!0, &hdr[..v]), &[0; 4]), &hdr[v + 4..]);
                if !got != want {
                    return Err(Error::BadHeader);
                }
            }
            TLV_AUTHORITY => {
                if vlen > AUTHORITY_MAX {
                    return Err(Error::BadHeader);
                }
                out.tlvs.get_or_insert_with(Default::default).authority = Some(val.into());
            }
            TLV_UNIQUE_ID => {
                if vlen > UNIQUE_ID_MAX {
                    return Err(Error::BadHeader);
                }
                out.tlvs.get_or_insert_with(Default::default).unique_id = Some(val.into());
            }
            _ => {}
        }
        off = v + vlen;
    }
    Ok((total, out))
}

/// Writes a v1 header for a client seen as `src` talking to `dst`
/// ("PROXY UNKNOWN" when either is not an internet address).
pub fn encode_v1(out: &mut Vec<u8>, src: Option<SocketAddr>, dst: Option<SocketAddr>) {
    use std::io::Write;
    let (Some(s), Some(d)) = (src, dst) else {
        out.extend_from_slice(b"PROXY UNKNOWN\r\n");
        return;
    };
    let _ = match (s.ip(), d.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => write!(out, "PROXY TCP4 {a} {b} {} {}\r\n", s.port(), d.port()),
        // A mixed pair is announced in IPv6, the IPv4 side mapped.
        (a, b) => write!(out, "PROXY TCP6 {} {} {} {}\r\n", v6(a), v6(b), s.port(), d.port()),
    };
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// What `proxy-v2-options` adds to a v2 header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2Opts {
    pub crc32c: bool,
    pub authority: bool,
    pub unique_id: bool,
    /// The SSL TLV. Over a plain client connection it says so: no flags,
    /// verify 0, no sub-TLVs (`cert-cn` and friends only describe a TLS
    /// client), as HAProxy built with OpenSSL sends it.
    pub ssl: bool,
}

impl V2Opts {
    pub fn from_cfg(o: &config::model::Pp2Opts) -> V2Opts {
        V2Opts {
            crc32c: o.crc32c,
            authority: o.authority,
            unique_id: o.unique_id,
            ssl: o.ssl,
        }
    }
}

/// What a server connection starts with (HAProxy's `make_proxy_line()`):
/// v1 text, or v2 with its TLVs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendProxy {
    V1,
    V2(V2Opts),
}

impl SendProxy {
    /// From a server's settings; None when it takes no PROXY header.
    pub fn of_server(s: &config::model::Server) -> Option<SendProxy> {
        match s.pp_version()? {
            2 => Some(SendProxy::V2(V2Opts::from_cfg(&s.pp2))),
            _ => Some(SendProxy::V1),
        }
    }

    /// Writes the header for a stream whose client is `src` talking to
    /// `dst` (None: not an internet address). `authority` is what the
    /// client's own PROXY header announced; `unique_id` the stream's
    /// (None for a connection without a stream: no TLV).
    pub fn encode(
        self,
        out: &mut Vec<u8>,
        src: Option<SocketAddr>,
        dst: Option<SocketAddr>,
        authority: Option<&[u8]>,
        unique_id: Option<&[u8]>,
    ) {
        match self {
            SendProxy::V1 => encode_v1(out, src, dst),
            SendProxy::V2(o) => {
                let o = V2Opts {
                    unique_id: o.unique_id && unique_id.is_some(),
                    ..o
                };
                encode_v2(out, src, dst, o, authority, unique_id.unwrap_or_default())
            }
        }
    }
}

/// Writes a v2 header. `src`/`dst` None (not internet addresses, or a
/// connection of our own such as a health check) makes a LOCAL header.
/// `authority` is the one the client announced (there is no TLS SNI to
/// fall back on); `unique_id` is the stream's (empty without a format),
/// only used with `opts.unique_id`.
pub fn encode_v2(
    out: &mut Vec<u8>,
    src: Option<SocketAddr>,
    dst: Option<SocketAddr>,
    opts: V2Opts,
    authority: Option<&[u8]>,
    unique_id: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&V2_SIG);
    match (src, dst) {
        (Some(s), Some(d)) => {
            out.push(0x21);
            match (s.ip(), d.ip()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    out.extend_from_slice(&[0x11, 0, 0]);
                    out.extend_from_slice(&a.octets());
                    out.extend_from_slice(&b.octets());
                }
                (a, b) => {
                    out.extend_from_slice(&[0x21, 0, 0]);
                    out.extend_from_slice(&v6(a).octets());
                    out.extend_from_slice(&v6(b).octets());
                }
            }
            out.extend_from_slice(&s.port().to_be_bytes());
            out.extend_from_slice(&d.port().to_be_bytes());
        }
        _ => out.extend_from_slice(&[0x20, 0x00, 0, 0]),
    }
    let mut crc_at = None;
    if opts.crc32c {
        crc_at = Some(out.len() + 3);
        tlv(out, TLV_CRC32C, &[0; 4]);
    }
    if opts.authority {
        if let Some(a) = authority {
            tlv(out, TLV_AUTHORITY, a);
        }
    }
    if opts.unique_id {
        tlv(out, TLV_UNIQUE_ID, unique_id);
    }
    if opts.ssl {
        // client flags (1 byte) and verify result (4 bytes), all zero.
        tlv(out, TLV_SSL, &[0; 5]);
    }
    let len = (out.len() - start - V2_HDR) as u16;
    out[start + 14..start + 16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        let c = !crc32c_update(!0, &out[start..]);
        out[at..at + 4].copy_from_slice(&c.to_be_bytes());
    }
}

fn tlv(out: &mut Vec<u8>, ty: u8, v: &[u8]) {
    out.push(ty);
    out.extend_from_slice(&(v.len() as u16).to_be_bytes());
    out.extend_from_slice(v);
}

/// CRC-32C (Castagnoli, reflected 0x82F63B78), the checksum of the v2
/// CRC32C TLV. Start with `!0` and invert the result.
const CRC32C_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn crc32c_update(mut c: u32, data: &[u8]) -> u32 {
    for &b in data {
        c = CRC32C_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    c
}

#[cfg(test)]
mod tests;
