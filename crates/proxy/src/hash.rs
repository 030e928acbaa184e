//! Hash functions behind the `sha1`, `crc32c`, `xxh32`, `xxh64` and
//! `xxh3` converters (HAProxy's `sha1.c`, `hash.c` and its bundled
//! xxHash): pure functions over bytes, written from the published
//! algorithms and checked against HAProxy's outputs.
//!
//! Owns nothing but these computations. The hashes load balancing uses
//! (`wt6`, `djb2`, `sdbm`, `crc32`) stay in `lb`.

/// SHA-1 digest (20 bytes).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let bitlen = (data.len() as u64).wrapping_mul(8);
    let mut block = [0u8; 64];
    let process = |blk: &[u8; 64], h: &mut [u32; 5]| {
        let mut w = [0u32; 80];
        for (i, c) in blk.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = *h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i / 20 {
                0 => ((b & c) | (!b & d), 0x5A827999),
                1 => (b ^ c ^ d, 0x6ED9EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    };
    let mut chunks = data.chunks_exact(64);
    for c in &mut chunks {
        block.copy_from_slice(c);
        process(&block, &mut h);
    }
    let rem = chunks.remainder();
    block = [0; 64];
    block[..rem.len()].copy_from_slice(rem);
    block[rem.len()] = 0x80;
    if rem.len() >= 56 {
        process(&block, &mut h);
        block = [0; 64];
    }
    block[56..].copy_from_slice(&bitlen.to_be_bytes());
    process(&block, &mut h);
    let mut out = [0u8; 20];
    for (o, x) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// CRC-32C (Castagnoli, reflected), as HAProxy's `hash_crc32c`.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut c: u32 = !0;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
        }
    }
    !c
}

const P32_1: u32 = 0x9E37_79B1;
const P32_2: u32 = 0x85EB_CA77;
const P32_3: u32 = 0xC2B2_AE3D;
const P32_4: u32 = 0x27D4_EB2F;
const P32_5: u32 = 0x1656_67B1;
const P64_1: u64 = 0x9E37_79B1_85EB_CA87;
const P64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P64_3: u64 = 0x1656_67B1_9E37_79F9;
const P64_4: u64 = 0x85EB_CA77_C2B2_AE63;
const P64_5: u64 = 0x27D4_EB2F_1656_67C5;

fn r32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn r64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// XXH32 with a seed.
pub fn xxh32(data: &[u8], seed: u32) -> u32 {
    let round = |acc: u32, v: u32| {
        acc.wrapping_add(v.wrapping_mul(P32_2))
            .rotate_left(13)
            .wrapping_mul(P32_1)
    };
    let n = data.len();
    let mut i = 0;
    let mut h = if n >= 16 {
        let mut v = [
            seed.wrapping_add(P32_1).wrapping_add(P32_2),
            seed.wrapping_add(P32_2),
            seed,
            seed.wrapping_sub(P32_1),
        ];
        while i + 16 <= n {
            for (k, x) in v.iter_mut().enumerate() {
                *x = round(*x, r32(data, i + 4 * k));
            }
            i += 16;
        }
        v[0].rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18))
    } else {
        seed.wrapping_add(P32_5)
    };
    h = h.wrapping_add(n as u32);
    while i + 4 <= n {
        h = h
            .wrapping_add(r32(data, i).wrapping_mul(P32_3))
            .rotate_left(17)
            .wrapping_mul(P32_4);
        i += 4;
    }
    while i < n {
        h = h
            .wrapping_add((data[i] as u32).wrapping_mul(P32_5))
            .rotate_left(11)
            .wrapping_mul(P32_1);
        i += 1;
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P32_2);
    h ^= h >> 13;
    h = h.wrapping_mul(P32_3);
    h ^ (h >> 16)
}

fn xxh64_round(acc: u64, v: u64) -> u64 {
    acc.wrapping_add(v.wrapping_mul(P64_2))
        .rotate_left(31)
        .wrapping_mul(P64_1)
}

fn xxh64_avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(P64_3);
    h ^ (h >> 32)
}

/// XXH64 with a seed.
pub fn xxh64(data: &[u8], seed: u64) -> u64 {
    let n = data.len();
    let mut i = 0;
    let mut h = if n >= 32 {
        let mut v = [
            seed.wrapping_add(P64_1).wrapping_add(P64_2),
            seed.wrapping_add(P64_2),
            seed,
            seed.wrapping_sub(P64_1),
        ];
        while i + 32 <= n {
            for (k, x) in v.iter_mut().enumerate() {
                *x = xxh64_round(*x, r64(data, i + 8 * k));
            }
            i += 32;
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for x in v {
            h = (h ^ xxh64_round(0, x)).wrapping_mul(P64_1).wrapping_add(P64_4);
        }
        h
    } else {
        seed.wrapping_add(P64_5)
    };
    h = h.wrapping_add(n as u64);
    while i + 8 <= n {
        h = (h ^ xxh64_round(0, r64(data, i)))
            .rotate_left(27)
            .wrapping_mul(P64_1)
            .wrapping_add(P64_4);
        i += 8;
    }
    if i + 4 <= n {
        h = (h ^ (r32(data, i) as u64).wrapping_mul(P64_1))
            .rotate_left(23)
            .wrapping_mul(P64_2)
            .wrapping_add(P64_3);
        i += 4;
    }
    while i < n {
        h = (h ^ (data[i] as u64).wrapping_mul(P64_5))
            .rotate_left(11)
            .wrapping_mul(P64_1);
        i += 1;
    }
    xxh64_avalanche(h)
}

/// XXH3's default secret (from the xxHash specification).
const SECRET: [u8; 192] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c, 0xde, 0xd4, 0x6d,
    0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0,
    0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21, 0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0,
    0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b,
    0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac,
    0xd8, 0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51,
    0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, 0xea, 0xc5, 0xac, 0x83, 0x34,
    0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb, 0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49,
    0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8,
    0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b,
    0x40, 0x7e,
];

fn mul_fold(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

fn xxh3_avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(0x1656_6791_9E37_79F9);
    h ^ (h >> 32)
}

fn rrmxmx(mut h: u64, len: u64) -> u64 {
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(0x9FB2_1C65_1E98_DF25);
    h ^ (h >> 28)
}

fn mix16(d: &[u8], i: usize, s: &[u8], si: usize, seed: u64) -> u64 {
    mul_fold(
        r64(d, i) ^ r64(s, si).wrapping_add(seed),
        r64(d, i + 8) ^ r64(s, si + 8).wrapping_sub(seed),
    )
}

/// XXH3 64-bit with a seed.
pub fn xxh3(d: &[u8], seed: u64) -> u64 {
    let n = d.len();
    let s = &SECRET[..];
    let len = n as u64;
    match n {
        0 => xxh64_avalanche(seed ^ r64(s, 56) ^ r64(s, 64)),
        1..=3 => {
            let combined = (d[0] as u32) << 16 | (d[n >> 1] as u32) << 24 | d[n - 1] as u32 | (n as u32) << 8;
            let flip = ((r32(s, 0) ^ r32(s, 4)) as u64).wrapping_add(seed);
            xxh64_avalanche(combined as u64 ^ flip)
        }
        4..=8 => {
            let seed = seed ^ ((seed as u32).swap_bytes() as u64) << 32;
            let flip = (r64(s, 8) ^ r64(s, 16)).wrapping_sub(seed);
            let v = (r32(d, n - 4) as u64).wrapping_add((r32(d, 0) as u64) << 32);
            rrmxmx(v ^ flip, len)
        }
        9..=16 => {
            let lo = r64(d, 0) ^ (r64(s, 24) ^ r64(s, 32)).wrapping_add(seed);
            let hi = r64(d, n - 8) ^ (r64(s, 40) ^ r64(s, 48)).wrapping_sub(seed);
            let acc = len
                .wrapping_add(lo.swap_bytes())
                .wrapping_add(hi)
                .wrapping_add(mul_fold(lo, hi));
            xxh3_avalanche(acc)
        }
        17..=128 => {
            let mut acc = len.wrapping_mul(P64_1);
            let pairs: &[(usize, usize)] = match n {
                97.. => &[(0, 0), (16, 32), (32, 64), (48, 96)],
                65.. => &[(0, 0), (16, 32), (32, 64)],
                33.. => &[(0, 0), (16, 32)],
                _ => &[(0, 0)],
            };
            for &(off, si) in pairs {
                acc = acc.wrapping_add(mix16(d, off, s, si, seed));
                acc = acc.wrapping_add(mix16(d, n - 16 - off, s, si + 16, seed));
            }
            xxh3_avalanche(acc)
        }
        129..=240 => {
            let mut acc = len.wrapping_mul(P64_1);
            for i in 0..8 {
                acc = acc.wrapping_add(mix16(d, 16 * i, s, 16 * i, seed));
            }
            acc = xxh3_avalanche(acc);
            for i in 8..n / 16 {
                acc = acc.wrapping_add(mix16(d, 16 * i, s, 16 * (i - 8) + 3, seed));
            }
            acc = acc.wrapping_add(mix16(d, n - 16, s, 136 - 17, seed));
            xxh3_avalanche(acc)
        }
        _ => {
            let mut custom = [0u8; 192];
            let sec: &[u8] = if seed == 0 {
                s
            } else {
                for i in 0..12 {
                    let a = r64(s, 16 * i).wrapping_add(seed);
                    let b = r64(s, 16 * i + 8).wrapping_sub(seed);
                    custom[16 * i..16 * i + 8].copy_from_slice(&a.to_le_bytes());
                    custom[16 * i + 8..16 * i + 16].copy_from_slice(&b.to_le_bytes());
                }
                &custom
            };
            xxh3_long(d, sec)
        }
    }
}

fn xxh3_long(d: &[u8], s: &[u8]) -> u64 {
    let n = d.len();
    let mut acc: [u64; 8] = [
        P32_3 as u64,
        P64_1,
        P64_2,
        P64_3,
        P64_4,
        P32_2 as u64,
        P64_5,
        P32_1 as u64,
    ];
    let stripe = |acc: &mut [u64; 8], di: usize, si: usize| {
        for i in 0..8 {
            let v = r64(d, di + 8 * i);
            let k = v ^ r64(s, si + 8 * i);
            acc[i ^ 1] = acc[i ^ 1].wrapping_add(v);
            acc[i] = acc[i].wrapping_add((k & 0xFFFF_FFFF).wrapping_mul(k >> 32));
        }
    };
    let per_block = (s.len() - 64) / 8;
    let block_len = 64 * per_block;
    let blocks = (n - 1) / block_len;
    for b in 0..blocks {
        for st in 0..per_block {
            stripe(&mut acc, b * block_len + st * 64, st * 8);
        }
        let ks = s.len() - 64;
        for (i, a) in acc.iter_mut().enumerate() {
            let mut x = *a;
            x ^= x >> 47;
            x ^= r64(s, ks + 8 * i);
            *a = x.wrapping_mul(P32_1 as u64);
        }
    }
    let stripes = ((n - 1) - block_len * blocks) / 64;
    for st in 0..stripes {
        stripe(&mut acc, blocks * block_len + st * 64, st * 8);
    }
    stripe(&mut acc, n - 64, s.len() - 64 - 7);
    let mut r = (n as u64).wrapping_mul(P64_1);
    for i in 0..4 {
        r = r.wrapping_add(mul_fold(
            acc[2 * i] ^ r64(s, 11 + 16 * i),
            acc[2 * i + 1] ^ r64(s, 11 + 16 * i + 8),
        ));
    }
    xxh3_avalanche(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn reference_values() {
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let long = [b'a'; 1000];
        assert_eq!(hex(&sha1(&long)), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh64(b"", 0), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh3(b"", 0), 0x2D06_8005_38D3_94C2);
        // The 256 bytes 0..=255 (HAProxy's reg-test sample_fetches/hashes).
        let all: Vec<u8> = (0..=255u8).collect();
        assert_eq!(hex(&sha1(&all)), "4916d6bdb7f78e6803698cab32d1586ea457dfc8");
        assert_eq!(crc32c(&all), 2621708363);
        assert_eq!(xxh32(&all, 0), 1497633363);
        assert_eq!(xxh32(&all, 1), 1070421674);
        assert_eq!(xxh64(&all, 0) as i64, 2282408585429094475);
        assert_eq!(xxh64(&all, 1) as i64, -4689339368900765961);
        assert_eq!(xxh3(&all, 0) as i64, -7779787747613135503);
        assert_eq!(xxh3(&all, 1) as i64, 5930632130106562027);
    }
}
