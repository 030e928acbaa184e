//! h1load's number formats: the 4-character human numbers (`9k87`), the
//! delay strings (`1.234m`), printf's `%g`, and the 16-bit log histogram
//! encoding used for the `-P` percentiles.
//!
//! Pure functions; the output layout itself lives in `main.rs`.

/// Like the original's human_number(): 3 significant digits with the unit
/// letter in place of the decimal point, at most 4 characters (`0.00`,
/// `9k87`, `98k7`, `987k`).
pub fn human_number(x: f64) -> String {
    let mut x = x.abs();
    let mut unit = '.';
    if x != 0.0 && x < 1.0 {
        for u in ['m', 'u', 'n', 'p', 'f'] {
            x *= 1000.0;
            unit = u;
            if x >= 1.0 {
                break;
            }
        }
    }
    for u in ['k', 'M', 'G', 'T', 'P', 'E'] {
        if x < 1000.0 {
            break;
        }
        x /= 1000.0;
        unit = u;
    }
    let i = x as i64;
    let s = if x < 10.0 {
        format!("{}{}{:02}", i, unit, ((x - i as f64) * 100.0) as i64)
    } else if x < 100.0 {
        format!("{}{}{}", i, unit, ((x - i as f64) * 10.0) as i64)
    } else {
        format!("{}{}", i, unit)
    };
    // The original prints into a 5-byte buffer: never more than 4 chars.
    s.chars().take(4).collect()
}

/// Like the original's short_delay_str(): microseconds in, `1.234m`-style
/// out, `   -  ` for no sample.
pub fn short_delay(us: f64) -> String {
    if us <= 0.0 {
        return "   -  ".into();
    }
    let (v, unit) = if us < 1.0 {
        (us * 1000.0, 'n')
    } else if us < 1000.0 {
        (us, 'u')
    } else if us < 1_000_000.0 {
        (us / 1000.0, 'm')
    } else {
        (us / 1_000_000.0, 's')
    };
    if v < 10.0 {
        format!("{v:1.3}{unit}")
    } else if v < 100.0 {
        format!("{v:2.2}{unit}")
    } else if v < 1000.0 {
        format!("{v:3.1}{unit}")
    } else {
        format!("{v:5.6}{unit}")
    }
}

/// printf's `%g` (precision 6): shortest of fixed/exponent forms, trailing
/// zeros removed.
pub fn g(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    if !x.is_finite() {
        return format!("{x}");
    }
    let prec = 6i32;
    let e = format!("{:.*e}", (prec - 1) as usize, x);
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= prec {
        let m = trim_zeros(mant);
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        trim_zeros(&format!("{:.*}", (prec - 1 - exp) as usize, x)).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Histogram index: 5 exponent bits above 11 mantissa bits, so values keep
/// ~0.1% precision up to 2^42 µs.
pub fn to_uf16(v: u64) -> u16 {
    let v = v.min(0x7FFu64 << 31);
    if v == 0 {
        return 0;
    }
    let e = (63 - v.leading_zeros() as i32 - 10).max(0) as u32;
    ((e << 11) as u64 + (v >> e)) as u16
}

pub fn from_uf16(u: u16) -> u64 {
    ((u & 0x7FF) as u64) << (u >> 11)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human() {
        assert_eq!(human_number(0.0), "0.00");
        assert_eq!(human_number(9875.0), "9k87", "truncated like the C cast");
        assert_eq!(human_number(98700.0), "98k7");
        assert_eq!(human_number(987000.0), "987k");
        assert_eq!(human_number(5.0), "5.00");
        assert_eq!(human_number(42.0), "42.0");
        assert_eq!(human_number(1_500_000.0), "1M50");
    }

    #[test]
    fn delays() {
        assert_eq!(short_delay(0.0), "   -  ");
        assert_eq!(short_delay(1234.0), "1.234m");
        assert_eq!(short_delay(56.7), "56.70u");
        assert_eq!(short_delay(123456.0), "123.5m");
        assert_eq!(short_delay(2_500_000.0), "2.500s");
    }

    #[test]
    fn printf_g() {
        assert_eq!(g(10.0), "10");
        assert_eq!(g(99.5), "99.5");
        assert_eq!(g(0.0001), "0.0001");
        assert_eq!(g(0.00001), "1e-05");
        assert_eq!(g(1234567.0), "1.23457e+06");
        assert_eq!(g(0.512), "0.512");
    }

    #[test]
    fn uf16_roundtrip() {
        assert_eq!(from_uf16(to_uf16(1000)), 1000);
        assert_eq!(from_uf16(to_uf16(2047)), 2047);
        let v = 123_456_789u64;
        let r = from_uf16(to_uf16(v));
        assert!(r <= v && v - r < v / 1000, "{r}");
    }
}
