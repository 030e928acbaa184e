//! The statistics web page (HAProxy's HTTP stats applet: `stats enable`,
//! `stats uri`, `stats auth`, `stats admin`, ...): which requests it takes,
//! its access rules, the options a URI carries (`;csv`, `;up`, `;st=`,
//! `scope=`...), the admin form's POST actions, and the page itself in
//! HTML, CSV, typed and JSON.
//!
//! The values come from the `stats` rows (the very code `show stat` uses);
//! this module only lays them out. Server changes go through the CLI's
//! paths (`cli::commands`). It must not touch sockets nor stream state:
//! `stream/http.rs` decides when a request is ours and sends what this
//! module produces.

use crate::acl::{AclSet, Cond};
use crate::listener::Listener;
use crate::runtime::{ProxyRt, Runtime};
use crate::sample::{Ctx, Dir};
use crate::stats::{self, Format, Row, RowKind, StatFilter, Val};
use config::model::{Mode, Proxy};
use std::fmt::Write as _;

/// HAProxy's `STATS_DEFAULT_URI`: the prefix `stats enable` alone serves.
pub const DEFAULT_URI: &str = "/haproxy?stats";
/// HAProxy's `STATS_DEFAULT_REALM`.
pub const DEFAULT_REALM: &str = "HAProxy Statistics";
/// Longest `scope=` text kept (`STAT_SCOPE_TXT_MAXLEN`).
const SCOPE_MAX: usize = 20;

#[derive(Debug)]
enum Act {
    Allow,
    Deny(u16),
    /// 401 with this realm (None: the default one).
    Auth(Option<String>),
}

/// One `stats http-request` rule, or the rule `stats auth` stands for
/// (`auth` unless the credentials are valid for its internal userlist).
#[derive(Debug)]
struct Rule {
    act: Act,
    cond: Option<Cond>,
    unless_user: Option<crate::auth::Userlist>,
}

/// Whether an `Authorization` value names a user of `ul` with the right
/// password (Basic only, as `http_auth()`).
fn valid_credentials(ul: &crate::auth::Userlist, authorization: Option<&[u8]>) -> bool {
    match authorization.and_then(crate::auth::parse_authorization) {
        Some(crate::auth::Credentials::Basic { user, pass }) => ul.check(&user, &pass),
        _ => false,
    }
}

/// What the access rules decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Access {
    Allow,
    Deny(u16),
    Auth(String),
}

/// A proxy's compiled stats page.
#[derive(Debug)]
pub struct StatsPage {
    pub uri: String,
    /// `stats refresh`, seconds (0: none).
    pub refresh: u32,
    hide_version: bool,
    show_legends: bool,
    /// `stats show-node [name]`: Some("") shows the global node name.
    node: Option<String>,
    desc: Option<String>,
    scope: Vec<String>,
    admin: Vec<Cond>,
    rules: Vec<Rule>,
}

impl StatsPage {
    /// Compiles a proxy's `stats` settings (None: no page). Errors are
    /// alert texts naming the line.
    pub fn build(p: &Proxy) -> Result<Option<StatsPage>, String> {
        let st = &p.stats;
        if !st.enabled || p.disabled || p.mode != Mode::Http {
            return Ok(None);
        }
        let acls = AclSet::build(&p.acls)?;
        let mut admin = Vec::new();
        for l in &st.admin {
            let c = Cond::parse(&l.words[2..], &acls, Dir::Req).map_err(|e| {
                format!(
                    "parsing [{}] : error detected while parsing a 'stats admin' rule : {e}.",
                    l.loc
                )
            })?;
            admin.push(c);
        }
        let mut rules = Vec::new();
        for l in &st.http_request {
            let w = &l.words[2..];
            let cpos = w.iter().position(|x| x == "if" || x == "unless").unwrap_or(w.len());
            let err = |e: &str| {
                format!(
                    "parsing [{}] : error detected while parsing 'stats http-request' rule : {e}.",
                    l.loc
                )
            };
            let arg = |i: usize| w[..cpos].get(i).map(|s| s.as_str());
            let act = match arg(0) {
                Some("allow") if cpos == 1 => Act::Allow,
                Some("deny") => match (arg(1), arg(2)) {
                    (None, _) => Act::Deny(403),
                    (Some("deny_status"), Some(code)) if cpos == 3 => match code.parse::<u16>() {
                        Ok(c) if (200..600).contains(&c) => Act::Deny(c),
                        _ => return Err(err(&format!("status code {code} not handled"))),
                    },
                    _ => return Err(err("expects 'deny_status <code>' after 'deny'")),
                },
                Some("auth") => match (arg(1), arg(2)) {
                    (None, _) => Act::Auth(None),
                    (Some("realm"), Some(r)) if cpos == 3 => Act::Auth(Some(r.to_string())),
                    _ => return Err(err("expects 'realm <name>' after 'auth'")),
                },
                Some(a) => {
                    return Err(format!(
                        "parsing [{}] : 'stats http-request {a}' is not supported yet by rhaproxy (only allow, deny and auth).",
                        l.loc
                    ))
                }
                None => return Err(err("missing action")),
            };
            let cond = match cpos < w.len() {
                true => Some(Cond::parse(&w[cpos..], &acls, Dir::Req).map_err(|e| err(&e))?),
                false => None,
            };
            rules.push(Rule {
                act,
                cond,
                unless_user: None,
            });
        }
        if !st.auth.is_empty() {
            // HAProxy's internal userlist: clear-text passwords; an entry
            // without ':' is a user that can never authenticate.
            let users = st
                .auth
                .iter()
                .map(|a| {
                    let (name, pass) = match a.split_once(':') {
                        Some((u, p)) => (u, Some(p.to_string())),
                        None => (a.as_str(), None),
                    };
                    config::model::User {
                        name: name.to_string(),
                        pass,
                        insecure: true,
                        ..Default::default()
                    }
                })
                .collect();
            let ul = config::model::Userlist {
                name: ".internal-stats-userlist".into(),
                users,
                groups: Vec::new(),
                group_members: Vec::new(),
                loc: Default::default(),
            };
            rules.push(Rule {
                act: Act::Auth(st.realm.clone()),
                cond: None,
                unless_user: Some(crate::auth::Userlist::new(&ul)),
            });
        }
        Ok(Some(StatsPage {
            uri: st.uri.clone().unwrap_or_else(|| DEFAULT_URI.to_string()),
            refresh: st.refresh_s.unwrap_or(0),
            hide_version: st.hide_version,
            show_legends: st.show_legends,
            node: st.show_node.clone(),
            desc: st.show_desc.clone(),
            scope: st.scope.clone(),
            admin,
            rules,
        }))
    }

    /// The part of a request target to compare with the prefix: the path
    /// (and query) when the prefix starts with '/', else the whole target.
    pub fn target<'a>(&self, uri: &'a [u8]) -> &'a [u8] {
        if self.uri.starts_with('/') {
            crate::stream::http::uri_path(uri)
        } else {
            uri
        }
    }

    /// Whether a request with this method and target is for the page.
    pub fn matches(&self, meth: http::Method, uri: &[u8]) -> bool {
        matches!(meth, http::Method::Get | http::Method::Head | http::Method::Post)
            && self.target(uri).starts_with(self.uri.as_bytes())
    }

    /// Runs the access rules: the first whose condition holds decides.
    pub fn access(&self, cx: &mut Ctx<'_>, authorization: Option<&[u8]>) -> Access {
        for r in &self.rules {
            if r.cond.as_ref().is_some_and(|c| !c.eval(cx)) {
                continue;
            }
            if r.unless_user
                .as_ref()
                .is_some_and(|u| valid_credentials(u, authorization))
            {
                continue;
            }
            return match &r.act {
                Act::Allow => Access::Allow,
                Act::Deny(c) => Access::Deny(*c),
                Act::Auth(realm) => Access::Auth(realm.clone().unwrap_or_else(|| DEFAULT_REALM.to_string())),
            };
        }
        Access::Allow
    }

    /// `stats admin` grants the admin form to this request.
    pub fn is_admin(&self, cx: &mut Ctx<'_>) -> bool {
        self.admin.iter().any(|c| c.eval(cx))
    }
}

/// Output format asked for in the URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fmt {
    Html,
    Csv,
    Typed,
    Json,
    JsonSchema,
}

/// The result of an admin action, as `;st=` carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum St {
    Deny,
    Done,
    Errp,
    Excd,
    None,
    Part,
    Unkn,
    Ival,
}

const ST_CODES: [(&str, St); 8] = [
    ("DENY", St::Deny),
    ("DONE", St::Done),
    ("ERRP", St::Errp),
    ("EXCD", St::Excd),
    ("NONE", St::None),
    ("PART", St::Part),
    ("UNKN", St::Unkn),
    ("IVAL", St::Ival),
];

impl St {
    pub fn code(self) -> &'static str {
        ST_CODES.iter().find(|(_, s)| *s == self).map_or("UNKN", |(c, _)| c)
    }
}

/// The options a request target carries after the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opts {
    pub fmt: Fmt,
    pub up: bool,
    pub no_maint: bool,
    pub norefresh: bool,
    pub st: Option<St>,
    pub scope: Option<String>,
}

fn has(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

impl Opts {
    /// Reads the options anywhere in `rest` (HAProxy looks for each
    /// marker as a substring); `;norefresh` counts only with a refresh.
    pub fn parse(rest: &[u8], refresh: bool) -> Opts {
        let mut o = Opts {
            fmt: Fmt::Html,
            up: has(rest, b";up").is_some(),
            no_maint: has(rest, b";no-maint").is_some(),
            norefresh: refresh && has(rest, b";norefresh").is_some(),
            st: None,
            scope: None,
        };
        for (m, f) in [
            (&b";csv"[..], Fmt::Csv),
            (b";typed", Fmt::Typed),
            (b";json", Fmt::Json),
            (b";json-schema", Fmt::JsonSchema),
        ] {
            if has(rest, m).is_some() {
                o.fmt = f;
            }
        }
        // ";st=" needs its four letters.
        if let Some(i) = has(rest, b";st=").filter(|&i| i + 8 <= rest.len()) {
            let code = &rest[i + 4..i + 8];
            o.st = Some(
                ST_CODES
                    .iter()
                    .find(|(c, _)| c.as_bytes() == code)
                    .map_or(St::Unkn, |(_, s)| *s),
            );
        }
        if let Some(i) = has(rest, b"scope=").filter(|&i| i + 8 <= rest.len()) {
            let v = &rest[i + 6..];
            let end = v
                .iter()
                .position(|&c| matches!(c, b';' | b'&' | b' '))
                .unwrap_or(v.len());
            let v = &v[..end.min(SCOPE_MAX)];
            // A character HAProxy refuses in names clears the scope.
            if v.iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-' | b':'))
            {
                o.scope = Some(String::from_utf8_lossy(v).into_owned());
            }
        }
        o
    }

    /// `?scope=...` to append to the page's own links.
    fn scope_q(&self) -> String {
        self.scope.as_ref().map_or(String::new(), |s| format!("?scope={s}"))
    }
}

/// The `Location` of the 303 that follows a POST.
pub fn redirect_location(sp: &StatsPage, o: &Opts, st: St) -> String {
    format!(
        "{}{};st={}{}{}{}",
        sp.uri,
        "",
        st.code(),
        if o.up { ";up" } else { "" },
        if o.norefresh { ";norefresh" } else { "" },
        o.scope_q()
    )
}

// ---------------------------------------------------------------- POST

/// Decodes a form value (`%xx`, '+' as space). None: a bad escape.
fn url_decode(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'%' => {
                let h = v.get(i + 1..i + 3)?;
                let s = std::str::from_utf8(h).ok()?;
                out.push(u8::from_str_radix(s, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(out)
}

/// An admin action of the form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Ready,
    Drain,
    Maint,
    Shutdown,
    DisableHealth,
    EnableHealth,
    HealthUp,
    HealthNolb,
    HealthDown,
    DisableAgent,
    EnableAgent,
    AgentUp,
    AgentDown,
    /// The pre-1.6 names: disable/enable (maintenance), stop/start (drain).
    Disable,
    Enable,
    Stop,
    Start,
}

fn action(v: &[u8]) -> Option<Action> {
    use Action::*;
    Some(match v {
        b"ready" => Ready,
        b"drain" => Drain,
        b"maint" => Maint,
        b"shutdown" => Shutdown,
        b"dhlth" => DisableHealth,
        b"ehlth" => EnableHealth,
        b"hrunn" => HealthUp,
        b"hnolb" => HealthNolb,
        b"hdown" => HealthDown,
        b"dagent" => DisableAgent,
        b"eagent" => EnableAgent,
        b"arunn" => AgentUp,
        b"adown" => AgentDown,
        b"disable" => Disable,
        b"enable" => Enable,
        b"stop" => Stop,
        b"start" => Start,
        _ => return None,
    })
}

/// A parsed admin form: the backend (`b`, by name or `#id`), the action
/// and the servers (`s`, repeated). The last `b` and `action` win, as in
/// HAProxy, which reads the parameters backwards.
#[derive(Debug, PartialEq, Eq)]
pub struct Form {
    pub backend: Option<usize>,
    pub action: Option<Action>,
    pub servers: Vec<Vec<u8>>,
}

/// Parses a POST body; Err: the answer is ERRP at once (unknown backend
/// or action, or an oversized key).
pub fn parse_form(rt: &Runtime, body: &[u8]) -> Result<Form, St> {
    let mut f = Form {
        backend: None,
        action: None,
        servers: Vec::new(),
    };
    for param in body.split(|&c| c == b'&').rev() {
        if param.len() >= 2048 {
            return Err(St::Errp);
        }
        let (k, v) = match param.iter().position(|&c| c == b'=') {
            Some(i) => (&param[..i], &param[i + 1..]),
            None => (param, &b""[..]),
        };
        let (Some(k), Some(v)) = (url_decode(k), url_decode(v)) else {
            break;
        };
        match &k[..] {
            b"b" if f.backend.is_none() => {
                let name = String::from_utf8_lossy(&v);
                let by_id = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
                let mut found = rt
                    .proxies
                    .iter()
                    .filter(|p| p.is_backend && !p.cfg.disabled && (p.name == name || by_id == Some(p.id)));
                match (found.next(), found.next()) {
                    (Some(p), None) => f.backend = Some(p.idx),
                    _ => return Err(St::Errp),
                }
            }
            b"action" if f.action.is_none() => f.action = Some(action(&v).ok_or(St::Errp)?),
            b"s" => f.servers.push(v),
            _ => {}
        }
    }
    f.servers.reverse();
    Ok(f)
}

/// What applying one action to one server did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Changed (HAProxy's `altered_servers`).
    Altered,
    /// Counted but left as it was.
    Untouched,
    /// Not counted at all (the action does not apply to this server).
    Skipped,
}

/// The `;st=` code from the counts of servers named and changed.
pub fn outcome(total: usize, altered: usize) -> St {
    if total == 0 {
        St::None
    } else if altered == 0 {
        St::Errp
    } else if altered == total {
        St::Done
    } else {
        St::Part
    }
}

/// Applies a form's action to its servers through the CLI's paths and
/// says how it went (HAProxy's `stats_process_http_post`).
pub fn apply(cx: &mut reactor::Cx<'_, crate::worker::Msg>, rt: &Runtime, f: &Form) -> St {
    use crate::cli::commands::{admin_change, force_health, kill_server_streams};
    use crate::runtime::{ADM_DRAIN, ADM_MAINT};
    use std::sync::atomic::Ordering::Relaxed;
    let (Some(be), Some(act)) = (f.backend, f.action) else {
        return St::None;
    };
    let px = &rt.proxies[be];
    let why = "changed from Web interface";
    let (mut total, mut altered) = (0, 0);
    for name in &f.servers {
        let Some(srv) = px
            .servers
            .iter()
            .position(|sv| !sv.is_deleted() && sv.name.as_bytes() == &name[..])
        else {
            // Unknown names count against the result.
            total += 1;
            continue;
        };
        let sv = &px.servers[srv];
        let adm = sv.admin.load(Relaxed);
        let r = match act {
            Action::Ready => {
                admin_change(cx, rt, be, srv, 0, ADM_MAINT | ADM_DRAIN);
                Applied::Altered
            }
            Action::Drain => {
                admin_change(cx, rt, be, srv, ADM_DRAIN, ADM_MAINT);
                Applied::Altered
            }
            Action::Maint => {
                admin_change(cx, rt, be, srv, ADM_MAINT, 0);
                Applied::Altered
            }
            Action::Disable if adm & ADM_MAINT == 0 => {
                admin_change(cx, rt, be, srv, ADM_MAINT, 0);
                Applied::Altered
            }
            Action::Enable if adm & ADM_MAINT != 0 => {
                admin_change(cx, rt, be, srv, 0, ADM_MAINT);
                Applied::Altered
            }
            Action::Stop if adm & ADM_DRAIN == 0 => {
                admin_change(cx, rt, be, srv, ADM_DRAIN, 0);
                Applied::Altered
            }
            Action::Start if adm & ADM_DRAIN != 0 => {
                admin_change(cx, rt, be, srv, 0, ADM_DRAIN);
                Applied::Altered
            }
            Action::Disable | Action::Enable | Action::Stop | Action::Start => Applied::Skipped,
            Action::Shutdown if !px.cfg.disabled => {
                kill_server_streams(cx, be, srv);
                Applied::Altered
            }
            Action::Shutdown => Applied::Skipped,
            Action::HealthUp | Action::HealthNolb | Action::HealthDown => {
                let up = act != Action::HealthDown;
                match force_health(cx, rt, be, srv, up, why) {
                    true => Applied::Altered,
                    false => Applied::Skipped,
                }
            }
            // Checks cannot be paused at run time yet: a checked server
            // is counted as left unchanged (the answer says so).
            Action::DisableHealth | Action::EnableHealth if sv.chk.enabled => Applied::Untouched,
            Action::DisableHealth | Action::EnableHealth => Applied::Skipped,
            // Agent checks are not run by rhaproxy.
            Action::DisableAgent | Action::EnableAgent | Action::AgentUp | Action::AgentDown if sv.cfg.agent_check => {
                Applied::Untouched
            }
            Action::DisableAgent | Action::EnableAgent | Action::AgentUp | Action::AgentDown => Applied::Skipped,
        };
        match r {
            Applied::Altered => {
                total += 1;
                altered += 1;
            }
            Applied::Untouched => total += 1,
            Applied::Skipped => {}
        }
    }
    outcome(total, altered)
}

// ---------------------------------------------------------------- pages

/// Everything a page needs besides the runtime.
pub struct PageCx<'a> {
    pub rt: &'a Runtime,
    pub listeners: &'a [Listener],
    /// The proxy serving the page (`stats scope .`).
    pub px: usize,
    pub nbthread: usize,
    pub now: u64,
    pub admin: bool,
}

/// The response body for a GET in the asked format.
pub fn body(sp: &StatsPage, o: &Opts, pc: &PageCx<'_>) -> String {
    if o.fmt == Fmt::JsonSchema {
        return stats::json_schema();
    }
    let f = StatFilter {
        up_only: o.up,
        no_maint: o.no_maint,
        ..StatFilter::default()
    };
    let keep = |p: &ProxyRt| {
        let scoped = sp.scope.is_empty() || sp.scope.iter().any(|s| *s == p.name || (s == "." && p.idx == pc.px));
        let asked = o.scope.as_ref().is_none_or(|s| {
            let (n, s) = (p.name.to_ascii_lowercase(), s.to_ascii_lowercase());
            n.contains(&s)
        });
        scoped && asked
    };
    let mut rows = stats::rows_where(pc.rt, pc.listeners, &f, pc.now, keep);
    if !sp.show_legends {
        // Addresses, cookies and algorithms are legends: HAProxy's page
        // fills them only with `stats show-legends` (the CLI always does).
        for r in &mut rows {
            for name in ["addr", "cookie", "algo"] {
                r.clear(name);
            }
        }
    }
    match o.fmt {
        Fmt::Csv => stats::render(&rows, Format::Plain),
        Fmt::Typed => stats::render(&rows, Format::Typed),
        Fmt::Json => stats::render(&rows, Format::Json),
        Fmt::Html | Fmt::JsonSchema => html(sp, o, pc, &rows),
    }
}

/// The Content-Type of a format.
pub fn content_type(fmt: Fmt) -> &'static str {
    match fmt {
        Fmt::Html => "text/html",
        Fmt::Json | Fmt::JsonSchema => "application/json",
        Fmt::Csv | Fmt::Typed => "text/plain",
    }
}

/// HAProxy's `human_time`: at most two units among d/h/m/s, "?" for a
/// negative value.
pub fn human_time(t: i64) -> String {
    if t < 0 {
        return "?".into();
    }
    let mut s = String::new();
    let mut left = 2;
    if t >= 86400 {
        let _ = write!(s, "{}d", t / 86400);
        left -= 1;
    }
    if left > 0 && t % 86400 / 3600 != 0 {
        let _ = write!(s, "{}h", t % 86400 / 3600);
        left -= 1;
    }
    if left > 0 && t % 3600 / 60 != 0 {
        let _ = write!(s, "{}m", t % 3600 / 60);
        left -= 1;
    }
    if (left > 0 && t % 60 != 0) || t == 0 {
        let _ = write!(s, "{}s", t % 60);
    }
    s
}

/// A number as the page prints it: every third digit from the right
/// (the 4th, 7th, ...) sits in a `rls` span that spaces the groups.
pub fn u2h(n: u64) -> String {
    let digits = n.to_string();
    let len = digits.len();
    let mut s = String::with_capacity(len + 8);
    for (i, c) in digits.chars().enumerate() {
        let from_right = len - i;
        if from_right > 3 && from_right % 3 == 1 {
            let _ = write!(s, "<span class=\"rls\">{c}</span>");
        } else {
            s.push(c);
        }
    }
    s
}

/// A limit: "-" when unset (0).
fn lim(n: i64) -> String {
    if n > 0 {
        n.to_string()
    } else {
        "-".into()
    }
}

fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Row colours of the page, light then dark scheme. The names are the
/// classes HAProxy's page uses (dashboards and user styles key on them).
const ROW_COLOURS: &[(&str, &str, &str)] = &[
    ("frontend", "#e8e8d0", "#2f3437"),
    ("socket", "#d0d0d0", "#2a2d2f"),
    ("backend", "#e8e8d0", "#2f3437"),
    ("active_down", "#ff9090", "#760000"),
    ("active_going_up", "#ffd020", "#b99200"),
    ("active_going_down", "#ffffa0", "#6c6c00"),
    ("active_up", "#c0ffc0", "#165900"),
    ("active_nolb", "#20a0ff", "#006ab9"),
    ("active_draining", "#20a0FF", "#006ab9"),
    ("active_no_check", "#e0e0e0", "#2a2d2f"),
    ("backup_down", "#ff9090", "#760000"),
    ("backup_going_up", "#ff80ff", "#7f007f"),
    ("backup_going_down", "#c060ff", "#580092"),
    ("backup_up", "#b0d0ff", "#2e3234"),
    ("backup_nolb", "#90b0e0", "#1e3c6a"),
    ("backup_draining", "#cc9900", "#a37a00"),
    ("backup_no_check", "#e0e0e0", "#2a2d2f"),
    ("maintain", "#c07820", "#9a601a"),
];

fn css(out: &mut String) {
    out.push_str("<style type=\"text/css\"><!--\n");
    let fonts = "font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal;";
    let _ = writeln!(out, "body {{ {fonts} color: black; background: white;}}");
    out.push_str("th,td { font-size: 10px;}\n");
    out.push_str("h1 { font-size: x-large; margin-bottom: 0.5em;}\n");
    out.push_str("h2 { font-family: helvetica, arial; font-size: x-large; font-weight: bold; font-style: italic; color: #6020a0; margin-top: 0em; margin-bottom: 0em;}\n");
    out.push_str("h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}\n");
    out.push_str("li { margin-top: 0.25em; margin-right: 2em;}\n");
    out.push_str(".hr {margin-top: 0.25em; border-color: black; border-bottom-style: solid;}\n");
    out.push_str(".titre\t{background: #20D0D0;color: #000000; font-weight: bold; text-align: center;}\n");
    out.push_str(".total\t{background: #20D0D0;color: #ffff80;}\n");
    for (class, light, _) in ROW_COLOURS {
        let _ = writeln!(out, ".{class}\t{{background: {light};}}");
    }
    out.push_str(".rls      {letter-spacing: 0.2em; margin-right: 1px;}\n\n");
    for (class, link, hover) in [("px", "#ffff40", "#ffffff"), ("lfsb", "#000000", "#505050")] {
        for (state, colour) in [("link", link), ("visited", link), ("hover", hover)] {
            let _ = write!(out, "a.{class}:{state} {{color: {colour}; text-decoration: none;}}");
        }
    }
    out.push('\n');
    out.push_str("table.tbl { border-collapse: collapse; border-style: none;}\n");
    out.push_str("table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid solid solid solid; padding: 2px 3px; border-color: gray; white-space: nowrap;}\n");
    out.push_str("table.tbl td.ac { text-align: center;}\n");
    out.push_str("table.tbl th { border-width: 1px; border-style: solid solid solid solid; border-color: gray;}\n");
    out.push_str("table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}\n");
    out.push_str("table.tbl th.empty { border-style: none; empty-cells: hide; background: white;}\n");
    out.push_str("table.tbl th.desc { background: white; border-style: solid solid none solid; text-align: left; padding: 2px 3px;}\n\n");
    out.push_str("table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid; border-color: black;}\n");
    out.push_str(
        "table.lgd td { border-width: 1px; border-style: solid solid solid solid; border-color: gray; padding: 2px;}\n",
    );
    out.push_str("table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap;}\n");
    out.push_str("table.det { border-collapse: collapse; border-style: none; }\n");
    out.push_str("table.det th { text-align: left; border-width: 0px; padding: 0px 1px 0px 0px; font-style:normal;font-size:11px;font-weight:bold;font-family: sans-serif;}\n");
    out.push_str("table.det td { text-align: right; border-width: 0px; padding: 0px 0px 0px 4px; white-space: nowrap; font-style:normal;font-size:11px;font-weight:normal;}\n");
    out.push_str("u {text-decoration:none; border-bottom: 1px dotted black;}\n");
    out.push_str("div.tips {\n display:block;\n visibility:hidden;\n z-index:2147483647;\n position:absolute;\n padding:2px 4px 3px;\n background:#f0f060; color:#000000;\n border:1px solid #7040c0;\n white-space:nowrap;\n font-style:normal;font-size:11px;font-weight:normal;\n -moz-border-radius:3px;-webkit-border-radius:3px;border-radius:3px;\n -moz-box-shadow:gray 2px 2px 3px;-webkit-box-shadow:gray 2px 2px 3px;box-shadow:gray 2px 2px 3px;\n}\n");
    out.push_str("u:hover div.tips {visibility:visible;}\n");
    out.push_str("@media (prefers-color-scheme: dark) {\n");
    let _ = writeln!(out, " body {{ {fonts} color: #e8e6e3; background: #131516;}}");
    out.push_str(" h1 { color: #a265e0!important; }\n h2 { color: #a265e0; }\n h3 { color: #ff5190; background-color: #3e3e1f; }\n a { color: #3391ff; }\n input { background-color: #2f3437; }\n .hr { border-color: #8c8273; }\n .titre { background-color: #1aa6a6; color: #e8e6e3; }\n");
    for (class, _, dark) in ROW_COLOURS {
        let _ = writeln!(out, " .{class} {{background: {dark};}}");
    }
    for (class, link, hover) in [("px", "#d8d83b", "#ffffff"), ("lfsb", "#e8e6e3", "#b5afa6")] {
        for (state, colour) in [("link", link), ("visited", link), ("hover", hover)] {
            let _ = writeln!(out, " a.{class}:{state} {{color: {colour}; text-decoration: none;}}");
        }
    }
    out.push_str(" table.tbl th.empty { background-color: #181a1b; }\n table.tbl th.desc { background: #181a1b; }\n table.tbl th.pxname { background-color: #8d0033; color: #ffff46; }\n table.tbl th { border-color: #808080; }\n table.tbl td { border-color: #808080; }\n u {text-decoration:none; border-bottom: 1px dotted #e8e6e3;}\n");
    out.push_str(" div.tips {\n  background:#8e8e0d;\n  color:#e8e6e3;\n  border-color: #4e2c86;\n  -moz-box-shadow: #60686c 2px 2px 3px;\n  -webkit-box-shadow: #60686c 2px 2px 3px;\n  box-shadow: #60686c 2px 2px 3px;\n }\n}\n");
    out.push_str("-->\n</style></head>\n");
}

/// A `show info` value by name.
fn info_val(fields: &[(&'static str, &'static str, Option<Val>)], name: &str) -> String {
    fields
        .iter()
        .find(|(n, _, _)| *n == name)
        .and_then(|(_, _, v)| v.as_ref())
        .map_or(String::new(), |v| v.text())
}

fn info_num(fields: &[(&'static str, &'static str, Option<Val>)], name: &str) -> u64 {
    info_val(fields, name).parse().unwrap_or(0)
}

/// The page's own link with the current options.
fn link(sp: &StatsPage, up: bool, norefresh: bool, o: &Opts) -> String {
    format!(
        "{}{}{}{}",
        sp.uri,
        if up { ";up" } else { "" },
        if norefresh { ";norefresh" } else { "" },
        o.scope_q()
    )
}

fn html_info(sp: &StatsPage, o: &Opts, pc: &PageCx<'_>, out: &mut String) {
    let info = stats::info_fields(pc.rt, pc.nbthread, pc.now);
    let pid = info_val(&info, "Pid");
    let node = sp.node.as_ref().map(|n| {
        if n.is_empty() {
            info_val(&info, "node")
        } else {
            n.clone()
        }
    });
    let desc = sp.desc.as_ref().map(|d| {
        if d.is_empty() {
            info_val(&info, "description")
        } else {
            d.clone()
        }
    });
    let version = if sp.hide_version {
        String::new()
    } else {
        format!(
            " version {}, released {}",
            info_val(&info, "Version"),
            info_val(&info, "Release_date")
        )
    };
    let _ = writeln!(
        out,
        "<body><h1><a href=\"http://www.haproxy.org/\" style=\"text-decoration: none;\">HAProxy{version}</a></h1>"
    );
    let _ = writeln!(
        out,
        "<h2>Statistics Report for pid {pid}{}{}</h2>",
        node.as_ref().map_or(String::new(), |n| format!(" on {n}")),
        desc.as_ref().map_or(String::new(), |d| format!(": {d}"))
    );
    out.push_str("<hr width=\"100%\" class=\"hr\">\n<h3>&gt; General process information</h3>\n");
    out.push_str("<table border=0><tr><td align=\"left\" nowrap width=\"1%\">\n");
    let up = info_num(&info, "Uptime_sec");
    let _ = writeln!(
        out,
        "<p><b>pid = </b> {pid} (process #1, nbproc = 1, nbthread = {})<br>",
        pc.nbthread
    );
    let _ = writeln!(
        out,
        "<b>uptime = </b> {}d {}h{:02}m{:02}s<br>",
        up / 86400,
        up % 86400 / 3600,
        up % 3600 / 60,
        up % 60
    );
    let _ = writeln!(
        out,
        "<b>system limits:</b> memmax = unlimited; ulimit-n = {}<br>",
        info_num(&info, "Ulimit-n")
    );
    let _ = writeln!(
        out,
        "<b>maxsock = </b> {}; <b>maxconn = </b> {}; <b>maxpipes = </b> {}<br>",
        info_num(&info, "Maxsock"),
        info_num(&info, "Maxconn"),
        info_num(&info, "Maxpipes")
    );
    // Bytes/s out as bits on the wire (Ethernet framing of full
    // segments), the way HAProxy estimates uplink use.
    let bps = info_num(&info, "BytesOutRate") * 8 * 1538 / 1448;
    let (v, unit) = if bps >= 1_000_000_000 {
        (bps as f64 / 1e9, 'G')
    } else if bps >= 1_000_000 {
        (bps as f64 / 1e6, 'M')
    } else {
        (bps as f64 / 1e3, 'k')
    };
    let pipes_used = info_num(&info, "PipesUsed");
    let _ = writeln!(
        out,
        "current conns = {}; current pipes = {pipes_used}/{}; conn rate = {}/sec; bit rate = {v:.3} {unit}bps<br>",
        info_num(&info, "CurrConns"),
        pipes_used + info_num(&info, "PipesFree"),
        info_num(&info, "ConnRate")
    );
    let _ = writeln!(
        out,
        "Running tasks: {}/{}; idle = {} %<br>",
        info_num(&info, "Run_queue"),
        info_num(&info, "Tasks"),
        info_num(&info, "Idle_pct")
    );
    out.push_str("</td><td align=\"center\" nowrap>\n<table class=\"lgd\"><tr>\n");
    // The legend: (class, text, spans the row) in pairs per line.
    let legend: [&[(&str, &str)]; 6] = [
        &[("active_up", "active UP "), ("backup_up", "backup UP ")],
        &[
            ("active_going_down", "active UP, going down "),
            ("backup_going_down", "backup UP, going down "),
        ],
        &[
            ("active_going_up", "active DOWN, going up "),
            ("backup_going_up", "backup DOWN, going up "),
        ],
        &[
            ("active_down", "active or backup DOWN &nbsp;"),
            ("active_no_check", "not checked "),
        ],
        &[("maintain", "active or backup DOWN for maintenance (MAINT) &nbsp;")],
        &[(
            "active_draining",
            "active or backup SOFT STOPPED for maintenance &nbsp;",
        )],
    ];
    for (i, line) in legend.iter().enumerate() {
        if i > 0 {
            out.push_str("</tr><tr>\n");
        }
        for (class, text) in line.iter() {
            let filler = if i == 0 { "&nbsp;" } else { "" };
            let span = if line.len() == 1 { " colspan=\"3\"" } else { "" };
            let _ = write!(
                out,
                "<td class=\"{class}\">{filler}</td><td class=\"noborder\"{span}>{text}</td>"
            );
        }
    }
    out.push_str("</tr></table>\nNote: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</td>");
    out.push_str("<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul style=\"margin-top: 0.25em;\">");
    let _ = writeln!(
        out,
        "<li><form method=\"GET\">Scope : <input value=\"{}\" name=\"scope\" size=\"8\" maxlength=\"{SCOPE_MAX}\" tabindex=\"1\"/></form>",
        o.scope.as_deref().unwrap_or("")
    );
    if o.up {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">Show all servers</a><br>",
            link(sp, false, o.norefresh, o)
        );
    } else {
        let _ = writeln!(
            out,
            "<li><a href=\"{}\">Hide 'DOWN' servers</a><br>",
            link(sp, true, o.norefresh, o)
        );
    }
    if sp.refresh > 0 {
        let (text, nr) = if o.norefresh {
            ("Enable refresh", false)
        } else {
            ("Disable refresh", true)
        };
        let _ = writeln!(out, "<li><a href=\"{}\">{text}</a><br>", link(sp, o.up, nr, o));
    }
    let _ = writeln!(
        out,
        "<li><a href=\"{}\">Refresh now</a><br>",
        link(sp, o.up, o.norefresh, o)
    );
    let nr = if sp.refresh > 0 { ";norefresh" } else { "" };
    let _ = writeln!(
        out,
        "<li><a href=\"{};csv{nr}{}\">CSV export</a><br>",
        sp.uri,
        o.scope_q()
    );
    let _ = writeln!(
        out,
        "<li><a href=\"{0};json{nr}{1}\">JSON export</a> (<a href=\"{0};json-schema\">schema</a>)<br>",
        sp.uri,
        o.scope_q()
    );
    out.push_str("</ul></td><td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>External resources:</b><ul style=\"margin-top: 0.25em;\">\n");
    for (href, text) in [
        ("http://www.haproxy.org/", "Primary site"),
        ("http://www.haproxy.org/#down", "Updates (v2.6)"),
        ("http://www.haproxy.org/#docs", "Online manual"),
    ] {
        let _ = writeln!(out, "<li><a href=\"{href}\">{text}</a><br>");
    }
    out.push_str("</ul></td></tr></table>\n");
    if let Some(st) = o.st {
        let (class, msg) = match st {
            St::Done => ("active_up", "Action processed successfully."),
            St::None => ("active_going_down", "Nothing has changed."),
            St::Part => (
                "active_going_down",
                "Action partially processed.<br>Some server names are probably unknown or ambiguous (duplicated names in the backend).",
            ),
            St::Errp => (
                "active_down",
                "Action not processed because of invalid parameters.<ul><li>The action is maybe unknown.</li><li>Invalid key parameter (empty or too long).</li><li>The backend name is probably unknown or ambiguous (duplicated names).</li><li>Some server names are probably unknown or ambiguous (duplicated names in the backend).</li></ul>",
            ),
            St::Excd => (
                "active_down",
                "<b>Action not processed : the buffer couldn't store all the data.<br>You should retry with less servers at a time.</b>",
            ),
            St::Deny => ("active_down", "<b>Action denied.</b>"),
            St::Ival => (
                "active_down",
                "<b>Invalid requests (unsupported method or chunked encoded request).</b>",
            ),
            St::Unkn => ("active_no_check", "Unexpected result."),
        };
        let _ = writeln!(
            out,
            "<p><div class={class}><a class=lfsb href=\"{}\" title=\"Remove this message\">[X]</a> {msg}</div>",
            link(sp, o.up, o.norefresh, o)
        );
        out.push_str("<p>\n");
    }
}

/// The page in HTML: head, process information, one table per proxy.
fn html(sp: &StatsPage, o: &Opts, pc: &PageCx<'_>, rows: &[Row]) -> String {
    let mut out = String::with_capacity(16384 + rows.len() * 2048);
    out.push_str(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n\"http://www.w3.org/TR/html4/loose.dtd\">\n",
    );
    let node_title = sp.node.as_ref().map_or(String::new(), |n| {
        if n.is_empty() {
            let info = stats::info_fields(pc.rt, pc.nbthread, pc.now);
            format!(" on {}", info_val(&info, "node"))
        } else {
            format!(" on {n}")
        }
    });
    let _ = writeln!(
        out,
        "<html><head><title>Statistics Report for HAProxy{node_title}</title>"
    );
    out.push_str("<link rel=\"icon\" href=\"data:,\">\n");
    out.push_str("<meta http-equiv=\"content-type\" content=\"text/html; charset=iso-8859-1\">\n");
    css(&mut out);
    html_info(sp, o, pc, &mut out);
    let mut i = 0;
    while i < rows.len() {
        let iid = rows[i].iid;
        let n = rows[i..].iter().take_while(|r| r.iid == iid).count();
        if let Some(px) = pc.rt.proxies.iter().find(|p| p.id == iid) {
            html_proxy(sp, px, &rows[i..i + n], pc.admin, &mut out);
        }
        i += n;
    }
    out.push_str("</body></html>\n");
    out
}

fn html_proxy(sp: &StatsPage, px: &ProxyRt, rows: &[Row], admin: bool, out: &mut String) {
    let legends = sp.show_legends;
    let form = admin && px.is_backend && !px.servers.is_empty();
    if form {
        out.push_str("<form method=\"post\">");
    }
    let name = &px.name;
    out.push_str("<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">");
    let _ = write!(
        out,
        "<a name=\"{name}\"></a>{}<a class=px href=\"#{name}\">{name}</a>",
        if legends { "<u>" } else { "" }
    );
    if legends {
        let cap = match (px.is_frontend, px.is_backend) {
            (true, true) => "proxy",
            (true, false) => "frontend",
            _ => "backend",
        };
        let mode = if px.mode == Mode::Http { "http" } else { "tcp" };
        let _ = write!(out, "<div class=tips>cap: {cap}, mode: {mode}, id: {}</div>", px.id);
    }
    let desc = px.cfg.description.as_deref();
    let _ = write!(
        out,
        "{}</th><th class=\"{}\" width=\"90%\">{}</th></tr>\n</table>\n<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\">",
        if legends { "</u>" } else { "" },
        if desc.is_some() { "desc" } else { "empty" },
        desc.unwrap_or("")
    );
    if admin {
        if form {
            let _ = write!(
                out,
                "<th rowspan=2 width=1><input type=\"checkbox\" onclick=\"for(c in document.getElementsByClassName('{name}-checkbox')) document.getElementsByClassName('{name}-checkbox').item(c).checked = this.checked\"></th>"
            );
        } else {
            out.push_str("<th rowspan=2></th>");
        }
    }
    out.push_str("<th rowspan=2></th>");
    for (span, title) in [
        (3, "Queue"),
        (3, "Session rate"),
        (6, "Sessions"),
        (2, "Bytes"),
        (2, "Denied"),
        (3, "Errors"),
        (2, "Warnings"),
        (9, "Server"),
    ] {
        let _ = write!(out, "<th colspan={span}>{title}</th>");
    }
    out.push_str("</tr>\n<tr class=\"titre\">");
    for t in [
        "Cur", "Max", "Limit", "Cur", "Max", "Limit", "Cur", "Max", "Limit", "Total", "LbTot", "Last", "In", "Out",
        "Req", "Resp", "Req", "Conn", "Resp", "Retr", "Redis", "Status", "LastChk", "Wght", "Act", "Bck", "Chk", "Dwn",
        "Dwntme", "Thrtle",
    ] {
        let _ = write!(out, "<th>{t}</th>");
    }
    out.push_str("\n</tr>");
    for r in rows {
        match r.kind {
            RowKind::Frontend => html_frontend(r, admin, out),
            RowKind::Listener => html_listener(r, admin, legends, out),
            RowKind::Server => html_server(r, admin, legends, out),
            RowKind::Backend => html_backend(r, admin, legends, out),
        }
    }
    out.push_str("</table>");
    if form {
        out.push_str(
            "Choose the action to perform on the checked servers : <select name=action><option value=\"\"></option>",
        );
        for (v, text) in [
            ("ready", "Set state to READY"),
            ("drain", "Set state to DRAIN"),
            ("maint", "Set state to MAINT"),
            ("dhlth", "Health: disable checks"),
            ("ehlth", "Health: enable checks"),
            ("hrunn", "Health: force UP"),
            ("hnolb", "Health: force NOLB"),
            ("hdown", "Health: force DOWN"),
            ("dagent", "Agent: disable checks"),
            ("eagent", "Agent: enable checks"),
            ("arunn", "Agent: force UP"),
            ("adown", "Agent: force DOWN"),
            ("shutdown", "Kill Sessions"),
        ] {
            let _ = write!(out, "<option value=\"{v}\">{text}</option>");
        }
        let _ = write!(
            out,
            "</select><input type=\"hidden\" name=\"b\" value=\"#{}\">&nbsp;<input type=\"submit\" value=\"Apply\"></form>",
            px.id
        );
    }
    out.push_str("<p>\n");
}

/// `<tr><th>label</th><td>value</td>[<td>(pct%)</td>]</tr>` lines of a tooltip.
fn det(out: &mut String, label: &str, v: &str, pct: Option<i64>) {
    let _ = write!(out, "<tr><th>{label}</th><td>{v}</td>");
    if let Some(p) = pct {
        let _ = write!(out, "<td>({p}%)</td>");
    }
    out.push_str("</tr>");
}

fn pct(part: i64, whole: i64) -> i64 {
    if whole > 0 {
        100 * part / whole
    } else {
        0
    }
}

fn h(r: &Row, f: &str) -> String {
    u2h(r.num(f).max(0) as u64)
}

/// The name cell's anchor: `<a name="px/Name"></a><a class=lfsb href="#px/Name">label</a>`.
fn anchor(out: &mut String, px: &str, id: &str, label: &str, u: bool) {
    let _ = write!(
        out,
        "<a name=\"{px}/{id}\"></a>{}<a class=lfsb href=\"#{px}/{id}\">{label}</a>",
        if u { "<u>" } else { "" }
    );
}

/// The byte-out cell with its compression tooltip.
fn bytes_out(r: &Row, out: &mut String) {
    let (cin, cout, byp) = (r.num("comp_in"), r.num("comp_out"), r.num("comp_byp"));
    let u = cin > 0 || byp > 0;
    let _ = write!(
        out,
        "<td>{}{}<div class=tips><table class=det>",
        if u { "<u>" } else { "" },
        h(r, "bout")
    );
    det(out, "Response bytes in:", &h(r, "bout"), None);
    det(out, "Compression in:", &h(r, "comp_in"), None);
    det(
        out,
        "Compression out:",
        &h(r, "comp_out"),
        Some(if cin > 0 { cout * 100 / cin } else { 0 }),
    );
    det(out, "Compression bypass:", &h(r, "comp_byp"), None);
    det(
        out,
        "Total bytes saved:",
        &u2h((cin - cout).max(0) as u64),
        Some(pct(cin - cout, r.num("bout"))),
    );
    let _ = write!(out, "</table></div>{}</td>", if u { "</u>" } else { "" });
}

/// The HTTP part of the cumulated-sessions tooltip of frontends and
/// backends.
fn http_totals(r: &Row, out: &mut String, frontend: bool) {
    det(out, "Cum. HTTP requests:", &h(r, "req_tot"), None);
    det(out, "- HTTP 1xx responses:", &h(r, "hrsp_1xx"), None);
    det(out, "- HTTP 2xx responses:", &h(r, "hrsp_2xx"), None);
    det(
        out,
        "&nbsp;&nbsp;Compressed 2xx:",
        &h(r, "comp_rsp"),
        Some(pct(r.num("comp_rsp"), r.num("hrsp_2xx"))),
    );
    det(out, "- HTTP 3xx responses:", &h(r, "hrsp_3xx"), None);
    det(out, "- HTTP 4xx responses:", &h(r, "hrsp_4xx"), None);
    det(out, "- HTTP 5xx responses:", &h(r, "hrsp_5xx"), None);
    det(out, "- other responses:", &h(r, "hrsp_other"), None);
    if frontend {
        det(out, "Intercepted requests:", &h(r, "intercepted"), None);
    }
    det(out, "Cache lookups:", &h(r, "cache_lookups"), None);
    det(
        out,
        "Cache hits:",
        &h(r, "cache_hits"),
        Some(pct(r.num("cache_hits"), r.num("cache_lookups"))),
    );
    det(out, "Failed hdr rewrites:", &h(r, "wrew"), None);
    det(out, "Internal errors:", &h(r, "eint"), None);
}

/// New/reused connections of servers and backends (HTTP).
fn conn_reuse(r: &Row, out: &mut String) {
    let (c, re) = (r.num("connect"), r.num("reuse"));
    det(out, "New connections:", &h(r, "connect"), None);
    det(out, "Reused connections:", &h(r, "reuse"), Some(pct(re, c + re)));
}

/// The max/average times of servers and backends.
fn times(r: &Row, out: &mut String, http: bool) {
    out.push_str("<tr><th colspan=3>Max / Avg over last 1024 success. conn.</th></tr>");
    let mut line = |label: &str, max: &str, avg: &str| {
        let _ = write!(
            out,
            "<tr><th>- {label}:</th><td>{} / {}</td><td>ms</td></tr>",
            h(r, max),
            h(r, avg)
        );
    };
    line("Queue time", "qtime_max", "qtime");
    line("Connect time", "ctime_max", "ctime");
    if http {
        line("Responses time", "rtime_max", "rtime");
    }
    line("Total time", "ttime_max", "ttime");
}

fn html_frontend(r: &Row, admin: bool, out: &mut String) {
    let px = r.text_of("pxname");
    let http = r.text_of("mode") == "http";
    out.push_str("<tr class=\"frontend\">");
    if admin {
        out.push_str("<td></td>");
    }
    out.push_str("<td class=ac>");
    anchor(out, px, "Frontend", "Frontend", false);
    out.push_str("</td><td colspan=3></td>");
    let _ = write!(out, "<td><u>{}<div class=tips><table class=det>", h(r, "rate"));
    det(
        out,
        "Current connection rate:",
        &format!("{}/s", h(r, "conn_rate")),
        None,
    );
    det(out, "Current session rate:", &format!("{}/s", h(r, "rate")), None);
    if http {
        det(out, "Current request rate:", &format!("{}/s", h(r, "req_rate")), None);
    }
    let _ = write!(
        out,
        "</table></div></u></td><td><u>{}<div class=tips><table class=det>",
        h(r, "rate_max")
    );
    det(
        out,
        "Max connection rate:",
        &format!("{}/s", h(r, "conn_rate_max")),
        None,
    );
    det(out, "Max session rate:", &format!("{}/s", h(r, "rate_max")), None);
    if http {
        det(out, "Max request rate:", &format!("{}/s", h(r, "req_rate_max")), None);
    }
    let _ = write!(out, "</table></div></u></td><td>{}</td>", lim(r.num("rate_lim")));
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td><u>{}<div class=tips><table class=det>",
        h(r, "scur"),
        h(r, "smax"),
        h(r, "slim"),
        h(r, "stot")
    );
    det(out, "Cum. connections:", &h(r, "conn_tot"), None);
    det(out, "Cum. sessions:", &h(r, "stot"), None);
    if http {
        http_totals(r, out, true);
    }
    let _ = write!(out, "</table></div></u></td><td></td><td></td><td>{}</td>", h(r, "bin"));
    bytes_out(r, out);
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td></td><td></td><td></td><td></td><td class=ac>{}</td><td class=ac colspan=8></td></tr>",
        h(r, "dreq"),
        h(r, "dresp"),
        h(r, "ereq"),
        r.text_of("status")
    );
}

/// The legend tooltip's address part.
fn addr_tip(addr: &str, out: &mut String) {
    if addr.starts_with(|c: char| c.is_ascii_digit()) {
        let _ = write!(out, "IPv4: {addr}, ");
    } else if addr.starts_with('[') {
        let _ = write!(out, "IPv6: {addr}, ");
    } else if !addr.is_empty() {
        let _ = write!(out, "{addr}, ");
    }
}

fn html_listener(r: &Row, admin: bool, legends: bool, out: &mut String) {
    let (px, sv) = (r.text_of("pxname"), r.text_of("svname"));
    out.push_str("<tr class=socket>");
    if admin {
        out.push_str("<td></td>");
    }
    out.push_str("<td class=ac>");
    anchor(out, px, &format!("+{sv}"), sv, legends);
    if legends {
        out.push_str("<div class=tips>");
        addr_tip(r.text_of("addr"), out);
        let _ = write!(out, "id: {}</div>", r.num("sid"));
    }
    let _ = write!(
        out,
        "{}</td><td colspan=3></td><td colspan=3>&nbsp;</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>&nbsp;</td><td>&nbsp;</td><td>{}</td><td>{}</td>",
        if legends { "</u>" } else { "" },
        h(r, "scur"),
        h(r, "smax"),
        h(r, "slim"),
        h(r, "stot"),
        h(r, "bin"),
        h(r, "bout")
    );
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td></td><td></td><td></td><td></td><td class=ac>{}</td><td class=ac colspan=8></td></tr>",
        h(r, "dreq"),
        h(r, "dresp"),
        h(r, "ereq"),
        r.text_of("status")
    );
}

/// The colour class of a server row, from its status and health.
fn server_style(r: &Row) -> String {
    let st = r.text_of("status");
    if st.starts_with("MAINT") {
        return "maintain".into();
    }
    let health = r.num("check_health");
    let full = r.num("check_rise") + r.num("check_fall") - 1;
    let style = if st == "DOWN" || st == "DOWN (agent)" {
        "down"
    } else if st.starts_with("DOWN ") {
        "going_up"
    } else if st == "DRAIN" {
        "draining"
    } else if st.starts_with("NOLB ") {
        "going_down"
    } else if st == "NOLB" {
        "nolb"
    } else if st == "no check" {
        "no_check"
    } else if r.field("chkfail").is_none() || health == full {
        if r.num("weight") > 0 {
            "up"
        } else {
            "draining"
        }
    } else {
        "going_down"
    };
    format!("{}_{style}", if r.num("bck") > 0 { "backup" } else { "active" })
}

fn html_server(r: &Row, admin: bool, legends: bool, out: &mut String) {
    let (px, sv) = (r.text_of("pxname"), r.text_of("svname"));
    let http = r.text_of("mode") == "http";
    let st = r.text_of("status");
    let _ = write!(out, "<tr class=\"{}\">", server_style(r));
    if admin {
        let _ = write!(
            out,
            "<td><input class='{px}-checkbox' type=\"checkbox\" name=\"s\" value=\"{sv}\"></td>"
        );
    }
    out.push_str("<td class=ac>");
    anchor(out, px, sv, sv, legends);
    if legends {
        out.push_str("<div class=tips>");
        addr_tip(r.text_of("addr"), out);
        let _ = write!(out, "id: {}", r.num("sid"));
        if let Some(Val::Str(ck)) = r.field("cookie") {
            out.push_str(", cookie: '");
            html_escape(ck, out);
            out.push('\'');
        }
        out.push_str("</div>");
    }
    let _ = write!(
        out,
        "{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td>",
        if legends { "</u>" } else { "" },
        h(r, "qcur"),
        h(r, "qmax"),
        lim(r.num("qlimit")),
        h(r, "rate"),
        h(r, "rate_max")
    );
    let _ = write!(out, "<td><u>{}<div class=tips><table class=det>", h(r, "scur"));
    det(out, "Current active connections:", &h(r, "scur"), None);
    det(out, "Current used connections:", &h(r, "used_conn_cur"), None);
    det(out, "Current idle connections:", &h(r, "srv_icur"), None);
    det(out, "- unsafe:", &h(r, "idle_conn_cur"), None);
    det(out, "- safe:", &h(r, "safe_conn_cur"), None);
    det(out, "Estimated need of connections:", &h(r, "need_conn_est"), None);
    det(out, "Active connections limit:", &lim(r.num("slim")), None);
    let ilim = match r.field("src_ilim") {
        Some(_) => h(r, "src_ilim"),
        None => "-".into(),
    };
    det(out, "Idle connections limit:", &ilim, None);
    let _ = write!(
        out,
        "</table></div></u></td><td>{}</td><td>{}</td><td><u>{}<div class=tips><table class=det>",
        h(r, "smax"),
        lim(r.num("slim")),
        h(r, "stot")
    );
    det(out, "Cum. sessions:", &h(r, "stot"), None);
    if http {
        conn_reuse(r, out);
        det(out, "Cum. HTTP requests:", &h(r, "req_tot"), None);
        let tot = r.num("req_tot");
        for (label, f) in [
            ("- HTTP 1xx responses:", "hrsp_1xx"),
            ("- HTTP 2xx responses:", "hrsp_2xx"),
            ("- HTTP 3xx responses:", "hrsp_3xx"),
            ("- HTTP 4xx responses:", "hrsp_4xx"),
            ("- HTTP 5xx responses:", "hrsp_5xx"),
            ("- other responses:", "hrsp_other"),
        ] {
            det(out, label, &h(r, f), Some(pct(r.num(f), tot)));
        }
        det(out, "Failed hdr rewrites:", &h(r, "wrew"), None);
        det(out, "Internal error:", &h(r, "eint"), None);
    }
    times(r, out, http);
    let _ = write!(
        out,
        "</table></div></u></td><td>{}</td><td>{}</td>",
        h(r, "lbtot"),
        human_time(r.num("lastsess"))
    );
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td></td><td>{}</td><td></td><td>{}</td><td><u>{}<div class=tips>Connection resets during transfers: {} client, {} server</div></u></td><td>{}</td><td>{}</td>",
        h(r, "bin"),
        h(r, "bout"),
        h(r, "dresp"),
        h(r, "econ"),
        h(r, "eresp"),
        r.num("cli_abrt"),
        r.num("srv_abrt"),
        r.num("wretr"),
        r.num("wredis")
    );
    out.push_str("<td class=ac>");
    let lastchg = human_time(r.num("lastchg"));
    let health = r.num("check_health");
    let full = r.num("check_rise") + r.num("check_fall") - 1;
    if st.starts_with("MAINT") {
        let _ = write!(out, "{lastchg} MAINT");
    } else if st == "no check" {
        out.push_str("<i>no check</i>");
    } else {
        let _ = write!(out, "{lastchg} {st}");
        if st.starts_with("DOWN") {
            if health > 0 {
                out.push_str(" &uarr;");
            }
        } else if health < full {
            out.push_str(" &darr;");
        }
    }
    if let Some(cs) = r.field("check_status") {
        let _ = write!(out, "</td><td class=ac><u> {}", cs.text());
        if r.field("check_code").is_some() {
            let _ = write!(out, "/{}", r.num("check_code"));
        }
        if r.field("check_duration").is_some() {
            let _ = write!(out, " in {}ms", r.num("check_duration"));
        }
        let _ = write!(out, "<div class=tips>{}", r.text_of("check_desc"));
        let last = r.text_of("last_chk");
        if !last.is_empty() {
            out.push_str(": ");
            html_escape(last, out);
        }
        out.push_str("</div></u>");
    } else {
        out.push_str("</td><td>");
    }
    let bck = r.num("bck") > 0;
    let _ = write!(
        out,
        "</td><td class=ac>{}/{}</td><td class=ac>{}</td><td class=ac>{}</td>",
        r.num("weight"),
        r.num("uweight"),
        if bck { "-" } else { "Y" },
        if bck { "Y" } else { "-" }
    );
    if r.field("chkfail").is_some() {
        let _ = write!(
            out,
            "<td><u>{}<div class=tips>Failed Health Checks</div></u></td><td>{}</td><td>{}</td>",
            r.num("chkfail"),
            r.num("chkdown"),
            human_time(r.num("downtime"))
        );
    } else {
        out.push_str("<td colspan=3></td>");
    }
    out.push_str("<td class=ac>-</td></tr>\n");
}

fn html_backend(r: &Row, admin: bool, legends: bool, out: &mut String) {
    let px = r.text_of("pxname");
    let http = r.text_of("mode") == "http";
    out.push_str("<tr class=\"backend\">");
    if admin {
        out.push_str("<td></td>");
    }
    let _ = write!(
        out,
        "<td class=ac>{}<a name=\"{px}/Backend\"></a><a class=lfsb href=\"#{px}/Backend\">Backend</a>",
        if legends { "<u>" } else { "" }
    );
    if legends {
        let _ = write!(out, "<div class=tips>balancing: {}", r.text_of("algo"));
        if let Some(Val::Str(ck)) = r.field("cookie") {
            out.push_str(", cookie: '");
            html_escape(ck, out);
            out.push('\'');
        }
        out.push_str("</div>");
    }
    let _ = write!(
        out,
        "{}</td><td>{}</td><td>{}</td><td></td><td>{}</td><td>{}</td><td></td>",
        if legends { "</u>" } else { "" },
        h(r, "qcur"),
        h(r, "qmax"),
        h(r, "rate"),
        h(r, "rate_max")
    );
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td>{}</td><td><u>{}<div class=tips><table class=det>",
        h(r, "scur"),
        h(r, "smax"),
        h(r, "slim"),
        h(r, "stot")
    );
    det(out, "Cum. sessions:", &h(r, "stot"), None);
    if http {
        conn_reuse(r, out);
        http_totals(r, out, false);
    }
    times(r, out, http);
    let _ = write!(
        out,
        "</table></div></u></td><td>{}</td><td>{}</td><td>{}</td>",
        h(r, "lbtot"),
        human_time(r.num("lastsess")),
        h(r, "bin")
    );
    bytes_out(r, out);
    let st = r.text_of("status");
    let status = if st == "DOWN" {
        "<font color=\"red\"><b>DOWN</b></font>"
    } else {
        st
    };
    let _ = write!(
        out,
        "<td>{}</td><td>{}</td><td></td><td>{}</td><td><u>{}<div class=tips>Connection resets during transfers: {} client, {} server</div></u></td><td>{}</td><td>{}</td>",
        h(r, "dreq"),
        h(r, "dresp"),
        h(r, "econ"),
        h(r, "eresp"),
        r.num("cli_abrt"),
        r.num("srv_abrt"),
        r.num("wretr"),
        r.num("wredis")
    );
    let _ = write!(
        out,
        "<td class=ac>{} {status}</td><td class=ac>&nbsp;</td><td class=ac>{}/{}</td><td class=ac>{}</td><td class=ac>{}</td>",
        human_time(r.num("lastchg")),
        r.num("weight"),
        r.num("uweight"),
        r.num("act"),
        r.num("bck")
    );
    let down = match r.field("downtime") {
        Some(_) => human_time(r.num("downtime")),
        None => "&nbsp;".into(),
    };
    let _ = write!(
        out,
        "<td class=ac>&nbsp;</td><td>{}</td><td>{down}</td><td></td></tr>",
        r.num("chkdown")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_times() {
        assert_eq!(human_time(-1), "?");
        assert_eq!(human_time(0), "0s");
        assert_eq!(human_time(17), "17s");
        assert_eq!(human_time(65), "1m5s");
        assert_eq!(human_time(3600), "1h");
        assert_eq!(human_time(3725), "1h2m");
        assert_eq!(human_time(90061), "1d1h");
        assert_eq!(human_time(86400 + 59), "1d59s");
    }

    #[test]
    fn grouped_numbers() {
        assert_eq!(u2h(0), "0");
        assert_eq!(u2h(999), "999");
        assert_eq!(u2h(9985), "<span class=\"rls\">9</span>985");
        assert_eq!(
            u2h(1234567),
            "<span class=\"rls\">1</span>23<span class=\"rls\">4</span>567"
        );
    }

    #[test]
    fn uri_options() {
        let o = Opts::parse(b";csv;up;norefresh", true);
        assert_eq!(o.fmt, Fmt::Csv);
        assert!(o.up && o.norefresh && !o.no_maint);
        assert!(!Opts::parse(b";norefresh", false).norefresh);
        assert_eq!(Opts::parse(b";json-schema", false).fmt, Fmt::JsonSchema);
        assert_eq!(Opts::parse(b";json", false).fmt, Fmt::Json);
        assert_eq!(Opts::parse(b";st=DONE", false).st, Some(St::Done));
        assert_eq!(Opts::parse(b";st=ABCD", false).st, Some(St::Unkn));
        assert_eq!(Opts::parse(b";st=DON", false).st, None);
        assert_eq!(Opts::parse(b"?;csv;scope=b1", false).scope.as_deref(), Some("b1"));
        assert_eq!(Opts::parse(b"?scope=b<1;x", false).scope, None);
    }

    #[test]
    fn form_values() {
        assert_eq!(url_decode(b"%233+a").unwrap(), b"#3 a");
        assert!(url_decode(b"%2").is_none());
        assert_eq!(outcome(0, 0), St::None);
        assert_eq!(outcome(2, 0), St::Errp);
        assert_eq!(outcome(2, 2), St::Done);
        assert_eq!(outcome(2, 1), St::Part);
    }
}
