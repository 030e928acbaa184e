//! Post-parse checks HAProxy runs once every file is read: proxy ids,
//! backend references, server tracking, missing `bind`, missing timeouts,
//! unresolved server names. Owns cross-section validation only; it must not
//! re-parse lines.

use crate::model::*;
use crate::parser::Parser;
use std::collections::HashSet;

fn kind(p: &Proxy) -> &'static str {
    match (p.cap.frontend, p.cap.backend) {
        (true, true) => "proxy",
        (true, false) => "frontend",
        _ => "backend",
    }
}

/// Runs the checks, recording diagnostics in `parser.diags`.
pub(crate) fn post_parse(parser: &mut Parser) {
    for p in &parser.cfg.programs {
        if p.command.is_empty() {
            parser
                .diags
                .alert(format!("The program section '{}' lacks a command to launch.", p.name));
        }
    }
    // HAProxy's cfg_fcgi_apps_postparser(): every application needs a
    // document root; HAProxy walks them last declared first and stops at
    // the first one without.
    if let Some(app) = parser.cfg.fcgi_apps.iter().rev().find(|a| a.docroot.is_none()) {
        parser
            .diags
            .alert(format!("fcgi-app '{}': no docroot configured.", app.name));
    }
    if !userlist_postinit(&mut parser.cfg.userlists, &mut parser.diags) {
        return;
    }
    let cfg = &mut parser.cfg;
    let d = &mut parser.diags;
    crate::peers::post_parse(cfg, parser.opts.local_peer.as_deref(), d);
    for p in cfg.proxies.iter_mut().filter(|p| !p.disabled) {
        external_check(p, &cfg.global, d);
    }
    for p in &cfg.proxies {
        let errs = userlist_args(p, &cfg.userlists);
        match errs.len() {
            0 => group_patterns(p, &cfg.userlists, d),
            1 => d.alert(errs[0].clone()),
            _ => d.alert(format!(
                "multiple argument resolution errors:\n        {}",
                errs.join("\n        ")
            )),
        }
    }
    // track-scN without "table" uses the proxy's own table; a defaults
    // section has none unless it declares one
    for def in parser
        .defaults_list
        .iter()
        .filter(|p| !p.name.is_empty() && p.stick_table.is_none())
    {
        for r in def
            .http_request
            .iter()
            .chain(&def.http_response)
            .chain(&def.tcp_request)
        {
            let Some(pos) = r.words.iter().position(|w| w.starts_with("track-sc")) else {
                continue;
            };
            if !r.words[pos..].iter().any(|w| w == "table") {
                d.alert(format!(
                    "Proxy '{}': unable to find table '{}' referenced by {}.",
                    def.name, def.name, r.words[pos]
                ));
            }
        }
    }
    // Numeric ids as HAProxy assigns them: explicit ones are reserved;
    // walking the proxies in order, each one moves the candidate id one
    // step past itself (explicit or not), an automatic one taking the
    // lowest free id from the candidate. The internal GLOBAL frontend of
    // the stats socket (id 0) also takes a step where it was declared.
    let mut used: HashSet<u32> = cfg.proxies.iter().filter(|p| p.id_explicit).map(|p| p.id).collect();
    let cli_fe_pos = cfg.global.cli_fe_pos;
    let mut next = 1;
    for (i, p) in cfg.proxies.iter_mut().enumerate() {
        if cli_fe_pos == Some(i) {
            next += 1;
        }
        if !p.id_explicit {
            while used.contains(&next) {
                next += 1;
            }
            p.id = next;
            used.insert(next);
        }
        next += 1;
    }
    let backends: Vec<(String, Mode)> = cfg
        .proxies
        .iter()
        .filter(|p| p.cap.backend)
        .map(|p| (p.name.clone(), p.mode))
        .collect();
    // No `nbthread`: as many threads as CPUs the process may use, decided
    // here as HAProxy does before it resolves the bind thread sets.
    let nbthread = *cfg.global.nbthread.get_or_insert_with(crate::features::cpus_enabled);
    let nbthread = nbthread.clamp(1, 64);
    let all_threads = if nbthread >= 64 {
        u64::MAX
    } else {
        (1u64 << nbthread) - 1
    };
    for p in cfg.proxies.iter_mut().filter(|p| !p.disabled) {
        // `bind ... thread`: keep the threads that exist (HAProxy's
        // thread_resolve_group_mask); none left is an error.
        for b in p.binds.iter_mut().filter(|b| b.thread.is_some()) {
            let err = match (b.thread_group, b.thread_mask & all_threads) {
                (_, 0) if b.thread_group == 0 => Some("contains threads that belong to no group"),
                (_, 0) => Some("only references threads not belonging to the group"),
                (_, m) => {
                    b.thread_mask = m;
                    None
                }
            };
            if let Some(e) = err {
                d.alert(format!(
                    "Proxy '{}': 'thread' directive {e} in 'bind {}' at [{}].",
                    p.name, b.raw, b.loc
                ));
            }
        }
    }
    for p in cfg.proxies.iter_mut().filter(|p| !p.disabled && p.stats.enabled) {
        if p.mode != Mode::Http {
            d.warning(format!(
                "'stats' statement ignored for {} '{}' as it requires HTTP mode.",
                kind(p),
                p.name
            ));
            p.stats = StatsPage::default();
        } else if !p.stats.inherited
            && !p.stats.http_request.is_empty()
            && (!p.stats.auth.is_empty() || p.stats.realm.is_some())
        {
            d.alert(format!(
                "proxy '{}': stats 'auth'/'realm' and 'http-request' can't be used at the same time.",
                p.name
            ));
        }
    }
    for p in cfg.proxies.iter().filter(|p| !p.disabled) {
        // `bind ... proto`: the multiplexer must speak the proxy's mode
        // (fcgi only exists toward servers).
        for b in &p.binds {
            let usable = match b.proto.as_deref() {
                None => true,
                Some("h1" | "h2") => p.mode == Mode::Http,
                Some("none") => p.mode == Mode::Tcp,
                Some(_) => false,
            };
            if !usable {
                d.alert(format!(
                    "{} '{}' : MUX protocol '{}' is not usable for 'bind {}' at [{}].",
                    kind(p),
                    p.name,
                    b.proto.as_deref().unwrap_or(""),
                    b.raw,
                    b.loc
                ));
            }
        }
        if p.cap.frontend {
            if let Some(b) = &p.default_backend {
                match backends.iter().find(|(n, _)| n == b) {
                    None => d.alert(format!(
                        "Proxy '{}': unable to find required default_backend: '{b}'.",
                        p.name
                    )),
                    Some((_, m)) if *m != p.mode && p.mode == Mode::Http => d.alert(format!(
                        "{} {} '{}': unable to use {} '{}' in {} mode.",
                        "Proxy", "", p.name, "backend", b, "HTTP"
                    )),
                    _ => {}
                }
            }
            for u in &p.use_backends {
                // names built from samples are resolved at run time
                if u.backend.contains("%[") {
                    continue;
                }
                if !backends.iter().any(|(n, _)| *n == u.backend) {
                    d.alert(format!(
                        "Proxy '{}': unable to find required use_backend: '{}'.",
                        p.name, u.backend
                    ));
                } else if u.backend == p.name && p.cap.backend {
                    d.alert(format!(
                        "Proxy '{}': loop detected for use_backend: '{}'.",
                        p.name, u.backend
                    ));
                }
            }
        }
        if p.cap.backend {
            for l in &p.use_servers {
                // names built from samples are resolved at run time
                let Some(name) = l.words.get(1).filter(|n| !n.contains('%')) else {
                    continue;
                };
                if !p.servers.iter().any(|s| &s.name == name) {
                    let kind = if p.cap.frontend { "proxy" } else { "backend" };
                    d.alert(format!(
                        "{kind} '{}' : unable to find server '{name}' referenced in a 'use-server' rule.",
                        p.name
                    ));
                }
            }
        }
        for s in &p.servers {
            if let Some(t) = &s.track {
                let (bk, sv) = match t.split_once('/') {
                    Some((b, s)) => (b.to_string(), s.to_string()),
                    None => (p.name.clone(), t.clone()),
                };
                let Some(tp) = cfg.proxies.iter().find(|x| x.name == bk && x.cap.backend) else {
                    d.alert(format!(
                        "[{}] : 'server {}/{}' : unable to find required proxy '{bk}' for tracking.",
                        s.loc, p.name, s.name
                    ));
                    continue;
                };
                match tp.servers.iter().find(|x| x.name == sv) {
                    None => d.alert(format!(
                        "[{}] : 'server {}/{}' : unable to find required server '{sv}' for tracking.",
                        s.loc, p.name, s.name
                    )),
                    Some(t) if !t.check && !t.agent_check && t.track.is_none() => d.alert(format!(
                        "[{}] : 'server {}/{}' : unable to use {bk}/{sv} for tracking as it does not have any check nor agent enabled.",
                        s.loc, p.name, s.name
                    )),
                    _ => {}
                }
            }
        }
    }
    for p in cfg.proxies.iter().filter(|p| !p.disabled) {
        if p.cap.frontend && p.binds.is_empty() {
            let what = if p.cap.backend { "listen" } else { "frontend" };
            d.warning(format!(
                "{what} '{}' has no 'bind' directive. Please declare it as a backend if this was intended.",
                p.name
            ));
        }
        let t = &p.timeouts;
        let need_client = p.cap.frontend && t.client.unwrap_or(0) == 0;
        let need_be = p.cap.backend && (t.connect.unwrap_or(0) == 0 || t.server.unwrap_or(0) == 0);
        let has_work = !p.cap.backend || !p.servers.is_empty() || p.dispatch.is_some() || p.cap.frontend;
        if (need_client || need_be) && has_work {
            {
                d.warning(format!(
                    "missing timeouts for {} '{}'.\n   | While not properly invalid, you will certainly encounter various problems\n   | with such a configuration. To fix this, please ensure that all following\n   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.",
                    kind(p),
                    p.name
                ));
            }
        }
    }
}

/// `option external-check` and its `external-check command|path`, as
/// HAProxy's check_config_validity() sees them; the settings without the
/// option are dropped with a warning.
fn external_check(p: &mut Proxy, g: &Global, d: &mut crate::diag::Diags) {
    let ext = p
        .options
        .other_check
        .as_ref()
        .is_some_and(|o| o.first().is_some_and(|w| w == "external-check"));
    if ext {
        if !g.external_check {
            d.alert(format!(
                "Proxy '{}' : 'option external-check' unable to find required 'global.external-check'.",
                p.name
            ));
        }
        if p.external_check_command.is_none() {
            d.alert(format!(
                "Proxy '{}' : 'option external-check' unable to find required 'external-check command'.",
                p.name
            ));
        }
        if !g.insecure_fork_wanted {
            d.warning(format!(
                "Proxy '{}' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.",
                p.name
            ));
        }
    }
    if let Some(cmd) = &p.external_check_command {
        if !ext {
            d.warning(format!(
                "'external-check command' will be ignored for {} '{}' (requires 'option external-check').",
                kind(p),
                p.name
            ));
        }
        if !cmd.starts_with('/') && p.external_check_path.is_none() {
            d.alert(format!(
                "Proxy '{}': 'external-check command' does not have a leading '/' and 'external-check path' is not set.",
                p.name
            ));
        }
        if !ext {
            p.external_check_command = None;
        }
    }
    if p.external_check_path.is_some() && !ext {
        d.warning(format!(
            "'external-check path' will be ignored for {} '{}' (requires 'option external-check').",
            kind(p),
            p.name
        ));
        p.external_check_path = None;
    }
}

/// Resolves group membership both ways (a user's `groups`, a group's
/// `users`), stopping at the first unknown name as HAProxy's
/// `userlist_postinit()` does. HAProxy keeps its lists newest first, so
/// it meets userlists, users and groups in reverse declaration order.
fn userlist_postinit(lists: &mut [Userlist], d: &mut crate::diag::Diags) -> bool {
    for ul in lists.iter_mut().rev() {
        for ui in (0..ul.users.len()).rev() {
            let Some(names) = ul.users[ui].group_names.clone() else {
                continue;
            };
            for g in names.split(',').filter(|g| !g.is_empty()) {
                let Some(gi) = ul.groups.iter().position(|x| x == g) else {
                    d.alert(format!(
                        "userlist '{}': no such group '{g}' specified in user '{}'",
                        ul.name, ul.users[ui].name
                    ));
                    return false;
                };
                ul.users[ui].groups.push(gi);
            }
        }
        for gi in (0..ul.groups.len()).rev() {
            let Some(members) = ul.group_members[gi].clone() else {
                continue;
            };
            for m in members.split(',').filter(|m| !m.is_empty()) {
                let Some(u) = ul.users.iter_mut().rev().find(|u| u.name == m) else {
                    d.alert(format!(
                        "userlist '{}': no such user '{m}' specified in group '{}'",
                        ul.name, ul.groups[gi]
                    ));
                    return false;
                };
                u.groups.push(gi);
            }
        }
    }
    true
}

/// The fetches taking a userlist argument.
const USERLIST_FETCHES: [&str; 2] = ["http_auth", "http_auth_group"];

/// Splits a sample expression word into the fetch name and its first
/// argument (None without parentheses).
fn fetch_and_arg(w: &str) -> (&str, Option<&str>) {
    let end = w.find(['(', ',']).unwrap_or(w.len());
    let name = &w[..end];
    let arg = w[end..]
        .strip_prefix('(')
        .map(|a| a[..a.find([',', ')']).unwrap_or(a.len())].trim());
    (name, arg)
}

/// HAProxy's `smp_resolve_args()` for userlist arguments: every ACL and
/// rule expression of `p` naming one must name an existing userlist.
fn userlist_args(p: &Proxy, lists: &[Userlist]) -> Vec<String> {
    let mut errs = Vec::new();
    let mut check = |w: &str, loc: &Loc, ctx: &str| {
        let (name, arg) = fetch_and_arg(w);
        if !USERLIST_FETCHES.contains(&name) {
            return;
        }
        let pname = &p.name;
        let (ctx, where_) = ctx.split_once('|').unwrap_or(("ACL keyword", "in"));
        match arg.unwrap_or("") {
            "" => errs.push(format!(
                "parsing [{loc}]: missing userlist name in arg 1 of {ctx} '{name}' {where_} proxy '{pname}'."
            )),
            ul if !lists.iter().any(|l| l.name == ul) => errs.push(format!(
                "parsing [{loc}]: unable to find userlist '{ul}' referenced in arg 1 of {ctx} '{name}' {where_} proxy '{pname}'."
            )),
            _ => {}
        }
    };
    for l in &p.acls {
        if let Some(w) = l.words.get(2) {
            check(w, &l.loc, "");
        }
    }
    let lines = p
        .http_request
        .iter()
        .chain(&p.http_response)
        .chain(&p.http_after_response)
        .chain(&p.tcp_request)
        .chain(&p.tcp_response)
        .chain(&p.redirects);
    for l in lines {
        let where_ = match (l.words[0].as_str(), l.words.get(1).map(|s| s.as_str())) {
            ("http-request", _) => "in http-request expression in",
            ("http-response" | "http-after-response", _) => "in http-response response in",
            ("tcp-request", Some("connection")) => "in tcp-request connection expression in",
            ("tcp-request", Some("session")) => "in tcp-request session expression in",
            ("tcp-request", _) => "in tcp-request content expression in",
            ("tcp-response", _) => "in tcp-response content expression in",
            _ => "in redirect format string in",
        };
        let mut after_brace = false;
        for w in &l.words[1..] {
            if after_brace {
                check(w, &l.loc, "");
            } else if l.words[0] != "redirect" {
                check(w, &l.loc, &format!("sample fetch keyword|{where_}"));
            }
            after_brace = w == "{" || w == "!{";
        }
    }
    for ub in &p.use_backends {
        let mut after_brace = false;
        for w in &ub.cond {
            if after_brace {
                check(w, &ub.loc, "");
            }
            after_brace = w == "{" || w == "!{";
        }
    }
    errs
}

/// HAProxy's `acl_find_targets()`: an `http_auth_group` ACL needs group
/// names, each one declared in its userlist.
fn group_patterns(p: &Proxy, lists: &[Userlist], d: &mut crate::diag::Diags) {
    for l in &p.acls {
        let (Some(name), Some(w)) = (l.words.get(1), l.words.get(2)) else {
            continue;
        };
        let (kw, Some(ul)) = fetch_and_arg(w) else { continue };
        if kw != "http_auth_group" {
            continue;
        }
        let Some(ul) = lists.iter().find(|x| x.name == ul) else {
            continue;
        };
        // Flags come before the patterns; `--` ends them.
        let mut i = 3;
        while let Some(f) = l.words.get(i) {
            match f.as_str() {
                "-m" | "-f" => i += 2,
                "--" => {
                    i += 1;
                    break;
                }
                f if f.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let pats = &l.words[i.min(l.words.len())..];
        if pats.is_empty() {
            d.alert(format!("proxy {}: acl {name} {kw}(): no groups specified.", p.name));
        }
        for g in pats {
            if !ul.groups.contains(g) {
                d.alert(format!("proxy {}: acl {name} {kw}(): invalid group '{g}'.", p.name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn ids(text: &str) -> Vec<(String, u32)> {
        let l = crate::load_str("ids.cfg", text, &Default::default());
        assert!(!l.fatal, "{:?}", l.diags);
        l.config.proxies.iter().map(|p| (p.name.clone(), p.id)).collect()
    }

    #[test]
    fn fcgi_app_sections_are_checked_as_haproxy() {
        let alerts = |text: &str| -> Vec<String> {
            let l = crate::load_str("fcgi.cfg", text, &Default::default());
            l.diags
                .iter()
                .map(|d| d.text.clone())
                .filter(|t| !t.contains("Error(s) found"))
                .collect()
        };
        let ok = crate::load_str(
            "fcgi.cfg",
            "fcgi-app php\n    docroot /var/www\n    index index.php\n    option keep-conn\n",
            &Default::default(),
        );
        assert!(!ok.fatal, "{:?}", ok.diags);
        assert_eq!(ok.config.fcgi_apps[0].docroot.as_deref(), Some("/var/www"));
        assert_eq!(ok.config.fcgi_apps[0].lines.len(), 3);
        let a = alerts("fcgi-app a\n    docroot /x\nfcgi-app b\nfcgi-app c\n");
        assert_eq!(a, ["fcgi-app 'c': no docroot configured."]);
        let a = alerts("fcgi-app a\n    foo\n    docroot /x /y\n");
        assert!(
            a[0].ends_with("fcgi.cfg:2]: unknown keyword 'foo' in 'fcgi-app' section"),
            "{a:?}"
        );
        assert!(
            a[1].ends_with("fcgi.cfg:3] : 'docroot /x' cannot handle unexpected argument '/y'."),
            "{a:?}"
        );
    }

    #[test]
    fn proxy_ids_step_like_haproxy() {
        // An explicit id still moves the automatic numbering one step
        // (HAProxy 2.6.12 prints a=5, b=2, c=3 for this).
        let got = ids("listen a\n    id 5\n    bind :8080\nlisten b\n    bind :8080\nlisten c\n    bind :8080\n");
        assert_eq!(got, [("a".into(), 5), ("b".into(), 2), ("c".into(), 3)]);
        // The GLOBAL frontend of the stats socket takes a step where it is
        // declared: after `app`, before `app2` (2.6.12: 1 and 3).
        let got = ids("listen app\n    bind :8080\nglobal\n    stats timeout 3s\nlisten app2\n    bind :8080\n");
        assert_eq!(got, [("app".into(), 1), ("app2".into(), 3)]);
    }
}

#[cfg(test)]
mod program_tests {
    use crate::{load_str, LoadOptions};

    #[test]
    fn program_sections_parse_and_need_a_command() {
        let l = load_str(
            "t.cfg",
            "program a\n    command sleep 10\n    no option start-on-reload\nprogram b\n",
            &LoadOptions::default(),
        );
        let p = &l.config.programs;
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].command, vec!["sleep".to_string(), "10".to_string()]);
        assert!(!p[0].start_on_reload && p[1].start_on_reload);
        assert!(l.fatal);
        assert!(l
            .diags
            .iter()
            .any(|d| d.text.contains("The program section 'b' lacks a command to launch.")));
        let l = load_str(
            "t.cfg",
            "program a\n    command x\n    bogus 1\n",
            &LoadOptions::default(),
        );
        assert!(l
            .diags
            .iter()
            .any(|d| d.text.contains("unknown keyword 'bogus' in 'program' section")));
    }
}
