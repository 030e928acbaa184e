//! The backend `cookie` line (cookie-based persistence) read into typed
//! options, with HAProxy 2.6's alerts and warnings. Owns the syntax only:
//! what the options do on the wire lives in the `proxy` crate's `cookie`
//! module.

use crate::units::{parse_time_s, TimeError};

/// What a `cookie <name> [options]` line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CookieOpts {
    pub name: String,
    pub rewrite: bool,
    pub insert: bool,
    pub prefix: bool,
    pub indirect: bool,
    pub nocache: bool,
    pub postonly: bool,
    pub preserve: bool,
    pub httponly: bool,
    pub secure: bool,
    pub dynamic: bool,
    /// Every `domain` joined as HAProxy emits them ("a; domain=b").
    pub domain: Option<String>,
    /// Seconds; 0: not set.
    pub maxidle: u32,
    pub maxlife: u32,
    /// Every `attr` joined with "; ".
    pub attrs: Option<String>,
}

impl CookieOpts {
    /// HAProxy's `PR_CK_ANY`: a mode that makes the logs show the
    /// persistence cookie flags.
    pub fn any_mode(&self) -> bool {
        self.rewrite || self.insert || self.prefix || self.indirect
    }
}

/// The characters HAProxy refuses in a cookie domain (`invalid_domainchar`:
/// anything but alphanumerics, `.`, `-` and `_`).
fn bad_domain_char(d: &str) -> Option<char> {
    d.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
}

fn time_arg(loc: &str, kw: &str, v: &str) -> Result<u32, String> {
    match parse_time_s(v) {
        Ok(t) => Ok(t),
        Err(TimeError::Overflow) => Err(format!(
            "parsing [{loc}]: timer overflow in argument <{v}> to <{kw}>, maximum value is 2147483647 s (~68 years)."
        )),
        Err(TimeError::Underflow) => Err(format!(
            "parsing [{loc}]: timer underflow in argument <{v}> to <{kw}>, minimum non-null value is 1 s."
        )),
        Err(TimeError::BadChar(c)) => Err(format!(
            "parsing [{loc}]: unexpected character '{c}' in argument to <{kw}>."
        )),
        Err(TimeError::Empty) => Err(format!(
            "parsing [{loc}]: '{kw}' expects <{}> in seconds as argument.",
            if kw == "maxidle" { "idletime" } else { "lifetime" }
        )),
    }
}

/// Reads `words` (starting with "cookie"). Ok: the options and the
/// warnings to print; Err: the alerts (the line is fatal).
pub fn parse(words: &[String], loc: &str) -> Result<(CookieOpts, Vec<String>), Vec<String>> {
    let arg = |i: usize| words.get(i).map(|s| s.as_str()).unwrap_or("");
    let mut warns = Vec::new();
    if arg(1).is_empty() {
        return Err(vec![format!(
            "parsing [{loc}] : '{}' expects <cookie_name> as argument.",
            arg(0)
        )]);
    }
    let mut o = CookieOpts {
        name: arg(1).to_string(),
        ..Default::default()
    };
    let mut i = 2;
    while !arg(i).is_empty() {
        match arg(i) {
            "rewrite" => o.rewrite = true,
            "indirect" => o.indirect = true,
            "insert" => o.insert = true,
            "nocache" => o.nocache = true,
            "postonly" => o.postonly = true,
            "preserve" => o.preserve = true,
            "prefix" => o.prefix = true,
            "httponly" => o.httponly = true,
            "secure" => o.secure = true,
            "dynamic" => o.dynamic = true,
            "domain" => {
                let d = arg(i + 1);
                if d.is_empty() {
                    return Err(vec![format!("parsing [{loc}]: 'domain' expects <domain> as argument.")]);
                }
                if !d.contains('.') {
                    warns.push(format!(
                        "parsing [{loc}]: domain '{d}' contains no embedded dot, this configuration may not work properly (see RFC6265#5.2.3)."
                    ));
                }
                if let Some(c) = bad_domain_char(d) {
                    return Err(vec![format!(
                        "parsing [{loc}]: character '{c}' is not permitted in domain name '{d}'."
                    )]);
                }
                o.domain = Some(match o.domain.take() {
                    None => d.to_string(),
                    Some(prev) => format!("{prev}; domain={d}"),
                });
                i += 1;
            }
            kw @ ("maxidle" | "maxlife") => {
                let v = arg(i + 1);
                if v.is_empty() {
                    return Err(vec![time_arg(loc, kw, v).unwrap_err()]);
                }
                let t = time_arg(loc, kw, v).map_err(|e| vec![e])?;
                if kw == "maxidle" {
                    o.maxidle = t;
                } else {
                    o.maxlife = t;
                }
                i += 1;
            }
            "attr" => {
                let v = arg(i + 1);
                if v.is_empty() {
                    return Err(vec![format!("parsing [{loc}]: 'attr' expects <value> as argument.")]);
                }
                if let Some(c) = v.bytes().find(|c| c.is_ascii_control() || *c == b';') {
                    return Err(vec![format!(
                        "parsing [{loc}]: character '%x{c:02X}' is not permitted in attribute value."
                    )]);
                }
                o.attrs = Some(match o.attrs.take() {
                    None => v.to_string(),
                    Some(prev) => format!("{prev}; {v}"),
                });
                i += 1;
            }
            _ => {
                return Err(vec![format!(
                    "parsing [{loc}] : '{}' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', 'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.",
                    arg(0)
                )])
            }
        }
        i += 1;
    }
    let mut alerts = Vec::new();
    if o.rewrite && o.indirect {
        alerts.push(format!(
            "parsing [{loc}] : cookie 'rewrite' and 'indirect' modes are incompatible."
        ));
    }
    if [o.rewrite, o.insert, o.prefix].iter().filter(|x| **x).count() > 1 {
        alerts.push(format!(
            "parsing [{loc}] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."
        ));
    }
    if o.preserve && !o.insert && !o.indirect {
        alerts.push(format!(
            "parsing [{loc}] : cookie 'preserve' requires at least 'insert' or 'indirect'."
        ));
    }
    if alerts.is_empty() {
        Ok((o, warns))
    } else {
        Err(alerts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<(CookieOpts, Vec<String>), Vec<String>> {
        let w: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&w, "f:1")
    }

    #[test]
    fn options_and_joins() {
        let (o, w) =
            p("cookie SRV insert indirect nocache domain a.b domain c.d attr x=1 attr y maxidle 1h maxlife 2d")
                .unwrap();
        assert!(w.is_empty());
        assert!(o.insert && o.indirect && o.nocache && !o.rewrite);
        assert_eq!(o.domain.as_deref(), Some("a.b; domain=c.d"));
        assert_eq!(o.attrs.as_deref(), Some("x=1; y"));
        assert_eq!((o.maxidle, o.maxlife), (3600, 172800));
        assert!(o.any_mode());
        assert!(!p("cookie S").unwrap().0.any_mode());
    }

    #[test]
    fn haproxy_alerts() {
        assert_eq!(
            p("cookie").unwrap_err(),
            vec!["parsing [f:1] : 'cookie' expects <cookie_name> as argument."]
        );
        assert_eq!(
            p("cookie S insert rewrite").unwrap_err(),
            vec!["parsing [f:1] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."]
        );
        assert_eq!(p("cookie S rewrite indirect").unwrap_err().len(), 1);
        assert_eq!(
            p("cookie S preserve").unwrap_err(),
            vec!["parsing [f:1] : cookie 'preserve' requires at least 'insert' or 'indirect'."]
        );
        assert!(p("cookie S bogus").unwrap_err()[0].contains("supports 'rewrite'"));
        assert_eq!(
            p("cookie S maxidle 10x").unwrap_err(),
            vec!["parsing [f:1]: unexpected character 'x' in argument to <maxidle>."]
        );
        assert!(p("cookie S maxlife 500ms").unwrap_err()[0].contains("timer underflow"));
        assert!(p("cookie S domain a/b").unwrap_err()[0].contains("character '/' is not permitted"));
        assert_eq!(
            p("cookie S attr a;b").unwrap_err(),
            vec!["parsing [f:1]: character '%x3B' is not permitted in attribute value."]
        );
        let (_, w) = p("cookie S domain localhost").unwrap();
        assert!(w[0].contains("contains no embedded dot"), "{w:?}");
    }
}
