//! HTTP authentication (HAProxy's `auth.c` and the credential parsing of
//! `http_fetch.c`): the `Authorization` header decoded as HAProxy 2.6 does
//! (Basic and Bearer), the userlists of the configuration with their
//! groups, and password checks through the system's crypt(3).
//!
//! Owns credential decoding and password verification; reusable by any
//! HTTP user (`http_auth*` fetches, the stats page's `stats auth`). It
//! must not build responses (the `auth` action's 401 is `http_act`'s) nor
//! touch streams.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// What an `Authorization` value holds (HAProxy's `get_http_auth()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Basic: the user and password, each cut at a NUL as C strings are.
    Basic { user: Vec<u8>, pass: Vec<u8> },
    /// Bearer: the token as written.
    Bearer(Vec<u8>),
}

/// Decodes one header value (the first comma-separated one, as HAProxy
/// looks it up). The scheme is the text before the first space, compared
/// as a case-insensitive prefix of "Basic"/"Bearer" (HAProxy compares only
/// the scheme's length, so "Bas" is Basic); the spaces after it are
/// skipped. Basic needs strict base64 (length a multiple of 4, padding
/// only at the end of a quantum) and a ':' in the decoded text.
pub fn parse_authorization(v: &[u8]) -> Option<Credentials> {
    let sp = v.iter().position(|&c| c == b' ')?;
    if sp == 0 {
        return None;
    }
    let scheme = &v[..sp];
    let mut rest = &v[sp..];
    while let [b' ', r @ ..] = rest {
        rest = r;
    }
    let is = |full: &[u8]| scheme.len() <= full.len() && scheme.eq_ignore_ascii_case(&full[..scheme.len()]);
    if is(b"Basic") {
        let mut dec = base64dec(rest)?;
        if let Some(nul) = dec.iter().position(|&c| c == 0) {
            dec.truncate(nul);
        }
        let colon = dec.iter().position(|&c| c == b':')?;
        let pass = dec[colon + 1..].to_vec();
        dec.truncate(colon);
        return Some(Credentials::Basic { user: dec, pass });
    }
    if is(b"Bearer") {
        return Some(Credentials::Bearer(rest.to_vec()));
    }
    None
}

/// HAProxy's `base64dec()`: standard alphabet, input length a multiple of
/// four, '=' only as the last one or two characters of a quantum (a
/// padded quantum may be followed by more, as HAProxy tolerates).
pub fn base64dec(inp: &[u8]) -> Option<Vec<u8>> {
    if !inp.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| -> Option<u8> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(inp.len() / 4 * 3);
    for q in inp.chunks(4) {
        let mut t = [0u8; 4];
        let mut pad = 0;
        for (i, &c) in q.iter().enumerate() {
            if c == b'=' {
                if i < 2 {
                    return None;
                }
                pad += 1;
                continue;
            }
            if pad > 0 {
                return None;
            }
            t[i] = val(c)?;
        }
        let b = [(t[0] << 2) | (t[1] >> 4), (t[1] << 4) | (t[2] >> 2), (t[2] << 6) | t[3]];
        out.extend_from_slice(&b[..3 - pad]);
    }
    Some(out)
}

/// A userlist ready for checks.
#[derive(Debug)]
pub struct Userlist {
    pub name: String,
    users: Vec<User>,
    groups: Vec<String>,
}

#[derive(Debug)]
struct User {
    name: Vec<u8>,
    pass: Option<Vec<u8>>,
    insecure: bool,
    groups: Vec<usize>,
}

impl Userlist {
    pub fn new(cfg: &config::model::Userlist) -> Userlist {
        Userlist {
            name: cfg.name.clone(),
            users: cfg
                .users
                .iter()
                .map(|u| User {
                    name: u.name.as_bytes().to_vec(),
                    pass: u.pass.as_ref().map(|p| p.as_bytes().to_vec()),
                    insecure: u.insecure,
                    groups: u.groups.clone(),
                })
                .collect(),
            groups: cfg.groups.clone(),
        }
    }

    pub fn has_group(&self, g: &[u8]) -> bool {
        self.groups.iter().any(|x| x.as_bytes() == g)
    }

    /// HAProxy's `check_user()`: the user exists and the password matches
    /// (clear text for `insecure-password`, else crypt(3) of the given
    /// password with the stored hash as setting must give the hash back).
    /// A crypt hash costs what its scheme costs (about 2 to 6 ms for
    /// sha256/sha512-crypt at 5000 rounds): HAProxy 2.6 caches nothing
    /// either and computes it in its event loop.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> bool {
        let Some(u) = self.users.iter().find(|u| u.name == user) else {
            return false;
        };
        let Some(stored) = &u.pass else { return false };
        if u.insecure {
            return pass == &stored[..];
        }
        crypt_matches(pass, stored)
    }

    /// Whether `user` belongs to the group named `group`.
    pub fn in_group(&self, user: &[u8], group: &[u8]) -> bool {
        let Some(u) = self.users.iter().find(|u| u.name == user) else {
            return false;
        };
        u.groups.iter().any(|&i| self.groups[i].as_bytes() == group)
    }
}

/// The userlists the running configuration declared, for the fetches
/// compiled after them (`http_auth(<name>)`). Entries are added or
/// replaced by name, never removed, so concurrent compilations (tests)
/// do not take each other's lists away.
static LISTS: Mutex<Option<Vec<Arc<Userlist>>>> = Mutex::new(None);

/// Makes the configuration's userlists known to rule compilation.
pub fn install(cfg: &[config::model::Userlist]) {
    let mut g = LISTS.lock().unwrap_or_else(|e| e.into_inner());
    let v = g.get_or_insert_with(Vec::new);
    for u in cfg {
        let ul = Arc::new(Userlist::new(u));
        match v.iter_mut().find(|x| x.name == u.name) {
            Some(x) => *x = ul,
            None => v.push(ul),
        }
    }
}

/// The userlist named `name`: Err when userlists were installed and none
/// has that name, Ok(None) while nothing was installed (`-c` compiles each
/// line as it is read, before later sections; names are checked after
/// parsing, as HAProxy resolves them).
pub fn find(name: &str) -> Result<Option<Arc<Userlist>>, String> {
    let g = LISTS.lock().unwrap_or_else(|e| e.into_inner());
    match g.as_ref() {
        None => Ok(None),
        Some(v) => match v.iter().find(|x| x.name == name) {
            Some(x) => Ok(Some(x.clone())),
            None => Err(format!("unable to find userlist '{name}'")),
        },
    }
}

// libxcrypt (Debian's libcrypt1, what HAProxy 2.6 links on Debian): every
// scheme the system knows ($1$, $5$, $6$, $y$ yescrypt, $2b$ bcrypt, DES,
// ...) with the very results HAProxy gets. `crypt_rn` is the reentrant
// form taking the size of its scratch area and returning NULL (no failure
// token) when the setting is invalid.
#[link(name = "crypt")]
extern "C" {
    fn crypt_rn(
        phrase: *const libc::c_char,
        setting: *const libc::c_char,
        data: *mut libc::c_void,
        size: libc::c_int,
    ) -> *mut libc::c_char;
}

/// `sizeof(struct crypt_data)` in libxcrypt 4.x (CRYPT_OUTPUT_SIZE +
/// CRYPT_MAX_PASSPHRASE_SIZE + internal/reserved areas = 32768).
const CRYPT_DATA_SIZE: usize = 32768;

struct CryptScratch {
    data: Box<[u8]>,
    phrase: Vec<u8>,
    setting: Vec<u8>,
}

thread_local! {
    // One scratch area per thread, allocated on the first check: checks
    // allocate nothing afterwards.
    static SCRATCH: RefCell<CryptScratch> = RefCell::new(CryptScratch {
        data: vec![0u8; CRYPT_DATA_SIZE].into_boxed_slice(),
        phrase: Vec::new(),
        setting: Vec::new(),
    });
}

/// crypt(3) of `pass` with `hash` as setting equals `hash`. A password or
/// hash holding a NUL is cut there, as the C strings HAProxy passes are.
pub fn crypt_matches(pass: &[u8], hash: &[u8]) -> bool {
    let cut = |b: &[u8]| b.iter().position(|&c| c == 0).map_or(b.len(), |n| n);
    let (pass, hash) = (&pass[..cut(pass)], &hash[..cut(hash)]);
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.phrase.clear();
        s.phrase.extend_from_slice(pass);
        s.phrase.push(0);
        s.setting.clear();
        s.setting.extend_from_slice(hash);
        s.setting.push(0);
        // SAFETY: `phrase` and `setting` are NUL-terminated byte strings
        // (a NUL pushed after content that holds none) that live for the
        // call; `data` is a writable area of exactly `CRYPT_DATA_SIZE`
        // bytes, the size passed, which crypt_rn checks against its own
        // `sizeof(struct crypt_data)` (it fails with ERANGE rather than
        // overrun a smaller one). The returned pointer is NULL or points
        // into `data` (a NUL-terminated string there), read before `data`
        // is used again: the RefCell borrow spans the whole use.
        unsafe {
            let out = crypt_rn(
                s.phrase.as_ptr() as *const libc::c_char,
                s.setting.as_ptr() as *const libc::c_char,
                s.data.as_mut_ptr() as *mut libc::c_void,
                CRYPT_DATA_SIZE as libc::c_int,
            );
            if out.is_null() {
                return false;
            }
            std::ffi::CStr::from_ptr(out).to_bytes() == hash
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_like_haproxy() {
        let b = |u: &str, p: &str| {
            Some(Credentials::Basic {
                user: u.into(),
                pass: p.into(),
            })
        };
        assert_eq!(parse_authorization(b"Basic Ym9iOnB3"), b("bob", "pw"));
        assert_eq!(parse_authorization(b"basic    Ym9iOnB3"), b("bob", "pw"));
        // the scheme is compared over its own length only
        assert_eq!(parse_authorization(b"Bas Ym9iOnB3"), b("bob", "pw"));
        assert_eq!(parse_authorization(b"Basicx Ym9iOnB3"), None);
        assert_eq!(parse_authorization(b" Basic Ym9iOnB3"), None);
        assert_eq!(parse_authorization(b"Basic"), None);
        // not a multiple of 4, bad padding, no colon
        assert_eq!(parse_authorization(b"Basic Ym9iOnB"), None);
        assert_eq!(parse_authorization(b"Basic Y===Ym9i"), None);
        assert_eq!(parse_authorization(b"Basic Ym9i"), None);
        // "a:" then "b" after a padded quantum
        assert_eq!(parse_authorization(b"Basic YTo=Yg=="), b("a", "b"));
        // empty password, colon in the password, NUL cuts
        assert_eq!(parse_authorization(b"Basic Ym9iOg=="), b("bob", ""));
        assert_eq!(parse_authorization(b"Basic YTpiOmM="), b("a", "b:c"));
        assert_eq!(parse_authorization(b"Basic YTpiAGM="), b("a", "b"));
        assert_eq!(parse_authorization(b"Basic YQA6Yg=="), None);
        assert_eq!(
            parse_authorization(b"Bearer  tok.en"),
            Some(Credentials::Bearer(b"tok.en".to_vec()))
        );
        assert_eq!(parse_authorization(b"Digest x=y"), None);
    }

    #[test]
    fn crypt_schemes() {
        // Known answers (computed with libxcrypt's crypt(3)).
        assert!(crypt_matches(
            b"password",
            b"$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"
        ));
        assert!(crypt_matches(b"password", b"$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
        assert!(!crypt_matches(b"passwore", b"$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
        // an unknown scheme or a setting without hash never matches
        assert!(!crypt_matches(b"x", b"$9$zz"));
        assert!(!crypt_matches(b"", b""));
    }

    #[test]
    fn users_and_groups() {
        let cfg = config::model::Userlist {
            name: "L".into(),
            groups: vec!["adm".into(), "ops".into()],
            group_members: vec![None, None],
            users: vec![
                config::model::User {
                    name: "bob".into(),
                    pass: Some("pw".into()),
                    insecure: true,
                    groups: vec![1],
                    ..Default::default()
                },
                config::model::User {
                    name: "al".into(),
                    pass: Some("$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/".into()),
                    ..Default::default()
                },
                config::model::User {
                    name: "nopass".into(),
                    ..Default::default()
                },
            ],
            loc: Default::default(),
        };
        let ul = Userlist::new(&cfg);
        assert!(ul.check(b"bob", b"pw"));
        assert!(!ul.check(b"bob", b"pw2"));
        assert!(ul.check(b"al", b"password"));
        assert!(!ul.check(b"al", b"$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/"));
        assert!(!ul.check(b"nopass", b""));
        assert!(!ul.check(b"zed", b"pw"));
        assert!(ul.in_group(b"bob", b"ops"));
        assert!(!ul.in_group(b"bob", b"adm"));
        assert!(!ul.in_group(b"al", b"ops"));
        assert!(!ul.in_group(b"zed", b"ops"));
    }
}
