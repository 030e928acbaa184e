//! Codec tests: every header form HAProxy accepts and every way it refuses one.

use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Hex digits in pairs, spaces ignored.
fn hex_packed(s: &str) -> Vec<u8> {
    let d: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    d.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

const V2_TCP4: &str = "0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 11 00 0C 7F 00 00 01 7F 00 00 02 00 2A 05 39";

#[test]
fn v1_tcp4_consumes_only_the_line() {
    let b = b"PROXY TCP4 192.168.0.1 10.0.0.2 56324 443\r\nGET / HTTP/1.1\r\n";
    let (n, h) = parse(b).unwrap();
    assert_eq!(&b[n..n + 3], b"GET");
    assert_eq!(h.addrs, Some((sa("192.168.0.1:56324"), sa("10.0.0.2:443"))));
    assert_eq!(h.tlvs, None);
}

#[test]
fn v1_ports_read_as_haproxy() {
    // Cut to 16 bits, empty reads as 0: HAProxy accepts both.
    let (_, h) = parse(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 \r\n").unwrap();
    assert_eq!(h.addrs, Some((sa("1.2.3.4:34463"), sa("5.6.7.8:0"))));
}

#[test]
fn v1_tcp6_and_unknown() {
    let (n, h) = parse(b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n").unwrap();
    assert_eq!(n, 36);
    assert_eq!(h.addrs, Some((sa("[2001:db8::1]:1"), sa("[::1]:65535"))));
    let (n, h) = parse(b"PROXY UNKNOWN\r\nxx").unwrap();
    assert_eq!((n, h.addrs), (15, None));
}

#[test]
fn v1_errors() {
    let cases: &[(&[u8], Error)] = &[
        (b"PROX", Error::Truncated),
        (b"PROXY TC", Error::Truncated),
        (b"PROXY TCP4 1.2.3.4", Error::Truncated),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", Error::Truncated),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", Error::Truncated),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\n", Error::BadHeader),
        (b"PROXY TCP4 1.2.3.4\r\n", Error::BadHeader),
        (b"PROXY TCP4 1.2.3.x 5.6.7.8 1 2\r\n", Error::BadHeader),
        (b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n", Error::BadHeader),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", Error::BadHeader),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", Error::BadHeader),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", Error::BadHeader),
        (b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", Error::BadProto),
        (b"PROXY UNKNOWN x\r\n", Error::BadProto),
        (b"GET / HTTP/1.1\r\n\r\n", Error::NotHeader),
    ];
    for (b, e) in cases {
        assert_eq!(parse(b).unwrap_err(), *e, "{}", String::from_utf8_lossy(b));
    }
}

#[test]
fn v2_tcp4_with_tlvs() {
    let mut b = hex(V2_TCP4);
    b[15] = 12 + 8 + 8;
    b.extend(hex("02 00 05 31 32 33 34 35 05 00 05 61 62 63 64 65"));
    b.extend(b"GET");
    let (n, h) = parse(&b).unwrap();
    assert_eq!(&b[n..], b"GET");
    assert_eq!(h.addrs, Some((sa("127.0.0.1:42"), sa("127.0.0.2:1337"))));
    let t = h.tlvs.unwrap();
    assert_eq!(t.authority.as_deref(), Some(&b"12345"[..]));
    assert_eq!(t.unique_id.as_deref(), Some(&b"abcde"[..]));
}

#[test]
fn v2_tcp6_local_and_other_families() {
    let mut out = Vec::new();
    encode_v2(
        &mut out,
        Some(sa("[2001:db8::5]:7")),
        Some(sa("[::1]:8")),
        V2Opts::default(),
        None,
        b"",
    );
    assert_eq!(out.len(), 16 + 36);
    assert_eq!(
        parse(&out).unwrap().1.addrs,
        Some((sa("[2001:db8::5]:7"), sa("[::1]:8")))
    );
    // LOCAL keeps the connection's addresses whatever follows.
    let b = hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 20 11 00 03 ff ff ff");
    assert_eq!(parse(&b).unwrap(), (19, Header::default()));
    // PROXY over AF_UNIX: no addresses, but TLVs are still read.
    let b = hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 21 31 00 06 02 00 03 61 62 63");
    let h = parse(&b).unwrap().1;
    assert_eq!(h.addrs, None);
    assert_eq!(h.tlvs.unwrap().authority.as_deref(), Some(&b"abc"[..]));
}

#[test]
fn v2_errors() {
    let base = hex(V2_TCP4);
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = base.clone();
        f(&mut b);
        parse(&b).unwrap_err()
    };
    assert_eq!(with(&|b| b.truncate(15)), Error::Truncated);
    assert_eq!(with(&|b| b.truncate(27)), Error::Truncated);
    assert_eq!(with(&|b| b[3] = 0), Error::NotHeader);
    assert_eq!(with(&|b| b[12] = 0x11), Error::NotHeader);
    assert_eq!(with(&|b| b[12] = 0x22), Error::BadHeader);
    assert_eq!(with(&|b| b[15] = 11), Error::BadHeader);
    // A TLV header cut by the end of the header, a TLV value overflowing it.
    assert_eq!(
        with(&|b| {
            b[15] = 14;
            b.extend([2, 0]);
        }),
        Error::BadHeader
    );
    assert_eq!(
        with(&|b| {
            b[15] = 20;
            b.extend(hex("02 00 0A 31 32 33 34 35"));
        }),
        Error::BadHeader
    );
    // Authority and unique id longer than HAProxy keeps.
    let long = |ty: u8, n: usize| {
        move |b: &mut Vec<u8>| {
            let l = (12 + 3 + n) as u16;
            b[14..16].copy_from_slice(&l.to_be_bytes());
            b.extend([ty, 0, 0]);
            let k = b.len();
            b[k - 2..].copy_from_slice(&(n as u16).to_be_bytes());
            b.extend(std::iter::repeat_n(b'a', n));
        }
    };
    assert_eq!(with(&long(2, 256)), Error::BadHeader);
    assert_eq!(with(&long(5, 129)), Error::BadHeader);
    let mut ok = base.clone();
    long(5, 128)(&mut ok);
    assert_eq!(parse(&ok).unwrap().1.tlvs.unwrap().unique_id.unwrap().len(), 128);
}

#[test]
fn crc32c_is_castagnoli_and_checked() {
    assert_eq!(!crc32c_update(!0, b"123456789"), 0xE306_9283);
    let opts = V2Opts {
        crc32c: true,
        authority: true,
        unique_id: true,
        ssl: false,
    };
    let mut out = Vec::new();
    encode_v2(
        &mut out,
        Some(sa("1.2.3.4:5")),
        Some(sa("6.7.8.9:10")),
        opts,
        Some(b"host"),
        b"uid",
    );
    let (n, h) = parse(&out).unwrap();
    assert_eq!(n, out.len());
    let t = h.tlvs.unwrap();
    assert_eq!(
        (t.authority.as_deref(), t.unique_id.as_deref()),
        (Some(&b"host"[..]), Some(&b"uid"[..]))
    );
    // Any flipped bit fails the checksum; a wrong-sized checksum is invalid.
    let mut bad = out.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(parse(&bad).unwrap_err(), Error::BadHeader);
    let mut b = hex(V2_TCP4);
    b[15] = 12 + 5;
    b.extend([3, 0, 2, 0, 0]);
    assert_eq!(parse(&b).unwrap_err(), Error::BadHeader);
}

#[test]
fn encode_v1_forms() {
    let mut o = Vec::new();
    encode_v1(&mut o, Some(sa("1.2.3.4:5")), Some(sa("6.7.8.9:10")));
    assert_eq!(o, b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n");
    o.clear();
    encode_v1(&mut o, Some(sa("1.2.3.4:5")), Some(sa("[::1]:10")));
    assert_eq!(o, b"PROXY TCP6 ::ffff:1.2.3.4 ::1 5 10\r\n");
    o.clear();
    encode_v1(&mut o, None, Some(sa("[::1]:10")));
    assert_eq!(o, b"PROXY UNKNOWN\r\n");
}

#[test]
fn encode_v2_forms() {
    let mut o = Vec::new();
    encode_v2(
        &mut o,
        Some(sa("127.0.0.1:42")),
        Some(sa("127.0.0.2:1337")),
        V2Opts::default(),
        None,
        b"",
    );
    assert_eq!(o, hex(V2_TCP4));
    o.clear();
    encode_v2(
        &mut o,
        None,
        None,
        V2Opts {
            unique_id: true,
            ..Default::default()
        },
        None,
        b"",
    );
    // LOCAL, then an empty unique-id TLV as HAProxy sends without a format.
    assert_eq!(o, hex("0d 0a 0d 0a 00 0d 0a 51 55 49 54 0a 20 00 00 03 05 00 00"));
    // authority only when the client announced one.
    o.clear();
    let opts = V2Opts {
        authority: true,
        ..Default::default()
    };
    encode_v2(&mut o, Some(sa("1.1.1.1:1")), Some(sa("2.2.2.2:2")), opts, None, b"");
    assert_eq!(o.len(), 28);
}

/// The bytes /usr/sbin/haproxy (2.6.12, OpenSSL build) sent for
/// `send-proxy-v2 proxy-v2-options ssl,cert-cn,crc32c,authority,unique-id`
/// over a plain client connection, unique id "ID-foo": TLVs in its order
/// (crc32c, unique id, an empty SSL TLV; no authority without one).
#[test]
fn send_side_matches_haproxy() {
    let cfg =
        config::model::Pp2Opts::parse("ssl,cert-cn,crc32c,authority,unique-id,cert-key,cert-sig,ssl-cipher").unwrap();
    let sp = SendProxy::V2(V2Opts::from_cfg(&cfg));
    let mut o = Vec::new();
    sp.encode(
        &mut o,
        Some(sa("127.0.0.1:39554")),
        Some(sa("127.0.0.1:18431")),
        None,
        Some(b"ID-foo"),
    );
    assert_eq!(
        o,
        hex_packed("0d0a0d0a000d0a515549540a 21 11 0024 7f000001 7f000001 9a82 47ff 03 0004 c707be31 05 0006 49442d666f6f 20 0005 0000000000")
    );
    // Without a stream (a health check) there is no unique-id TLV.
    o.clear();
    sp.encode(&mut o, None, None, None, None);
    assert_eq!(o[12..16], [0x20, 0x00, 0, 15]);
    o.clear();
    SendProxy::V1.encode(&mut o, Some(sa("127.0.0.1:1")), Some(sa("127.0.0.1:2")), None, None);
    assert_eq!(o, b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r\n");
}
