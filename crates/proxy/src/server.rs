//! Dynamic servers: HAProxy 2.6's `add server` / `del server` (server.c)
//! and the storage that lets a backend's server list grow while every
//! thread keeps reading it without a lock.
//!
//! This module owns [`ServerList`] (append-only, fixed capacity reserved
//! at start-up, readers see a plain slice), the admission rules of a new
//! server (dynamic load-balancing algorithm, keywords, ids, names) and the
//! removal rules (maintenance, no connection, nothing pointing to it).
//! A removed server stays in its slot as a tombstone (`ADM_DELETED`, in
//! maintenance forever, skipped by lookups and dumps): streams name servers
//! by index, so slots never move and are never reused. It must not touch
//! streams, sockets or the LB's internals (the LB reads the list on each
//! pick and sizes its per-server state from the list's length).

use crate::runtime::{ProxyRt, Runtime, ServerRt, Target, ADM_DELETED, ADM_MAINT};
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering::*};
use std::sync::Mutex;

/// Admin bit of a dynamic server whose effective weight was never
/// computed (not yet enabled nor re-weighted): 2.6 shows weight 1 for it in
/// `show stat` whatever its `weight`.
pub const ADM_FRESH: u32 = 8;

/// Admin bits recording what HAProxy's check health counter would hold for
/// a server without checks (`show servers state`'s srv_check_health):
/// entering maintenance or `health down` empties it (ZERO), `health up`
/// fills it to rise+fall-1 (FULL); otherwise it stays at `rise`.
pub const ADM_HEALTH_ZERO: u32 = 16;
pub const ADM_HEALTH_FULL: u32 = 32;

/// The check health value 2.6 would print for `sv`.
pub fn check_health(sv: &ServerRt) -> u32 {
    let a = sv.admin.load(Relaxed);
    if a & ADM_MAINT != 0 && a & ADM_HEALTH_FULL == 0 {
        0
    } else if a & ADM_HEALTH_FULL != 0 {
        sv.cfg.rise + sv.cfg.fall - 1
    } else if a & ADM_HEALTH_ZERO != 0 || !sv.up.load(Relaxed) {
        0
    } else {
        sv.cfg.rise
    }
}

/// Room kept for servers added at run time in a backend whose algorithm
/// accepts them (a slot is used per `add server`, deleted ones included).
/// Reserved as untouched memory (about 1 kB a slot): pages are only
/// committed when used.
pub const DYN_RESERVE: usize = 256;

/// A backend's servers: configured ones first, then those added by
/// `add server`, in a buffer that never moves.
pub struct ServerList {
    slots: Box<[UnsafeCell<MaybeUninit<ServerRt>>]>,
    len: AtomicUsize,
    /// Serializes appends (readers never take it).
    add: Mutex<()>,
}

// SAFETY: slots below `len` hold initialized servers that are only ever
// accessed through shared references (ServerRt's run-time state is atomics
// and mutexes, so it is Sync); the slot at `len` is written by at most one
// thread at a time (under `add`) before `len` publishes it with Release,
// and readers never look past the `len` they loaded with Acquire.
unsafe impl Sync for ServerList {}
// SAFETY: the list owns its servers; ServerRt is Send.
unsafe impl Send for ServerList {}

impl ServerList {
    /// The configured servers plus room for `reserve` more.
    pub fn new(servers: Vec<ServerRt>, reserve: usize) -> ServerList {
        let n = servers.len();
        let mut slots: Vec<UnsafeCell<MaybeUninit<ServerRt>>> = Vec::with_capacity(n + reserve);
        // SAFETY: the elements are MaybeUninit (behind a transparent
        // UnsafeCell), for which uninitialized memory is a valid value;
        // the capacity covers the length. Not writing the reserve keeps its
        // pages uncommitted.
        unsafe { slots.set_len(n + reserve) };
        for (slot, s) in slots.iter_mut().zip(servers) {
            slot.get_mut().write(s);
        }
        ServerList {
            slots: slots.into_boxed_slice(),
            len: AtomicUsize::new(n),
            add: Mutex::new(()),
        }
    }

    /// Appends a server; None (the server dropped) when no room is left.
    fn push(&self, s: ServerRt) -> Option<usize> {
        let _g = self.add.lock().unwrap_or_else(|e| e.into_inner());
        let n = self.len.load(Acquire);
        let slot = self.slots.get(n)?;
        // SAFETY: slot `n` is beyond every published length, so no reader
        // holds a reference to it, and `add` excludes other writers.
        unsafe { (*slot.get()).write(s) };
        self.len.store(n + 1, Release);
        Some(n)
    }
}

impl std::ops::Deref for ServerList {
    type Target = [ServerRt];
    fn deref(&self) -> &[ServerRt] {
        let n = self.len.load(Acquire);
        // SAFETY: UnsafeCell<MaybeUninit<T>> has T's layout; the first `n`
        // slots were initialized before `n` was published (Release/Acquire)
        // and are never written again.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr() as *const ServerRt, n) }
    }
}

impl<'a> IntoIterator for &'a ServerList {
    type Item = &'a ServerRt;
    type IntoIter = std::slice::Iter<'a, ServerRt>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Drop for ServerList {
    fn drop(&mut self) {
        let n = *self.len.get_mut();
        for s in &mut self.slots[..n] {
            // SAFETY: the first `n` slots are initialized and dropped once.
            unsafe { s.get_mut().assume_init_drop() };
        }
    }
}

/// Whether the backend's algorithm accepts servers added at run time
/// (HAProxy's `BE_LB_PROP_DYN`: everything but static-rr and map-based
/// hashing).
pub fn lb_is_dynamic(px: &config::model::Proxy) -> bool {
    use config::model::Balance::*;
    match px.balance {
        StaticRr => false,
        Source | Uri { .. } | UrlParam { .. } | Hdr { .. } | RdpCookie { .. } => px.hash_type.consistent,
        RoundRobin | LeastConn | First | Random { .. } => true,
    }
}

/// A backend by name, as `add/del server` look it up.
fn backend<'r>(rt: &'r Runtime, name: &str) -> Option<&'r ProxyRt> {
    rt.proxies.iter().find(|p| p.is_backend && p.name == name)
}

/// `add server <be>/<srv> <addr> [kw...]`: the answer text (HAProxy's
/// cli_err texts carry no newline; its alerts do).
pub fn add(rt: &Runtime, spec: &str, rest: &[String]) -> String {
    let Some((be_name, sv_name)) = spec.split_once('/').filter(|(_, s)| !s.is_empty()) else {
        return "Require 'backend/server'.".into();
    };
    let Some(px) = backend(rt, be_name) else {
        return "No such backend.".into();
    };
    if !lb_is_dynamic(&px.cfg) {
        return "Backend must use a dynamic load balancing to support dynamic servers.".into();
    }
    let mut words = vec!["server".to_string(), sv_name.to_string()];
    words.extend(rest.iter().cloned());
    let cfg = match config::parse_dynamic_server(&px.cfg, &words) {
        Ok(c) => c,
        Err(e) => return format!("{e}\n"),
    };
    if let Some(id) = cfg.id {
        if let Some(o) = px.servers.iter().find(|o| !o.is_deleted() && o.id == id) {
            let at = if o.cfg.loc.file.is_empty() {
                "(null):0".to_string()
            } else {
                format!("{}:{}", o.cfg.loc.file, o.cfg.loc.line)
            };
            return format!("'id' : custom id {id} already used at {at} ('server {}').\n", o.name);
        }
    }
    if let Some(p) = cfg.proto.as_deref() {
        if px.mode != config::model::Mode::Http {
            return "MUX protocol is not usable for server.\n".into();
        }
        if p != "h1" {
            return format!("'proto {p}' is not supported yet for servers (rhaproxy).\n");
        }
    }
    // What the proxy refuses at start-up it refuses here too.
    for (set, kw) in [(cfg.track.is_some(), "track"), (cfg.check || cfg.agent_check, "check")] {
        if set {
            return format!("'{kw}' is not supported yet for dynamic servers (rhaproxy).\n");
        }
    }
    if px.servers.iter().any(|o| !o.is_deleted() && o.name == sv_name) {
        return "Already exists a server with the same name in backend.\n".into();
    }
    let Some(target) = cfg.addr.as_ref().and_then(Target::from_addr) else {
        return format!(
            "'{}' : this address cannot be used by a dynamic server.\n",
            cfg.raw_addr
        );
    };
    let id = cfg.id.unwrap_or_else(|| {
        (1..)
            .find(|n| !px.servers.iter().any(|o| !o.is_deleted() && o.id == *n))
            .unwrap_or(1)
    });
    let nsrv = px.servers.len() + 1;
    let tls = match crate::ssl_sock::server_ctx(&cfg.ssl, &format!("'server {}/{}' :", px.name, cfg.name)) {
        Ok(t) => t,
        Err(e) => return format!("{e}\n"),
    };
    let mut sv = ServerRt::new(cfg, id, target, rt.nbthread);
    sv.tls = tls;
    // Dynamic servers start in maintenance (`enable server` puts them in
    // the farm), as in HAProxy.
    sv.admin.store(ADM_MAINT | ADM_FRESH | ADM_HEALTH_ZERO, Relaxed);
    sv.last_change_ms.store(reactor::now_ms(), Relaxed);
    {
        // The per-server queue must exist before the server is visible.
        let mut q = px.queue.lock().unwrap_or_else(|e| e.into_inner());
        if q.per_srv.len() < nsrv {
            q.per_srv.resize_with(nsrv, Default::default);
        }
    }
    match px.servers.push(sv) {
        Some(_) => "New server registered.\n".into(),
        None => format!(
            "Backend '{}' has no room left for dynamic servers ({DYN_RESERVE} may be added over the process's life, rhaproxy).\n",
            px.name
        ),
    }
}

/// `del server <be>/<srv>`.
pub fn delete(rt: &Runtime, spec: &str) -> String {
    let Some((be_name, sv_name)) = spec.split_once('/').filter(|(_, s)| !s.is_empty()) else {
        return "Require 'backend/server'.".into();
    };
    let Some(px) = backend(rt, be_name) else {
        return "No such backend.".into();
    };
    let Some(sv) = px.servers.iter().find(|s| !s.is_deleted() && s.name == sv_name) else {
        return "No such server.".into();
    };
    // Servers that other configuration elements name cannot go.
    let tracked = rt.proxies.iter().flat_map(|p| p.servers.iter()).any(|o| {
        o.cfg.track.as_deref().is_some_and(|t| {
            let (b, s) = t.split_once('/').unwrap_or((px.name.as_str(), t));
            b == px.name && s == sv.name
        })
    });
    if sv.cfg.track.is_some() || tracked {
        return "This server cannot be removed at runtime due to other configuration elements pointing to it.".into();
    }
    if !sv.in_maint() {
        return "Only servers in maintenance mode can be deleted.".into();
    }
    let busy = |s: &ServerRt| s.served.load(Relaxed) > 0 || s.idle.total() > 0 || s.counters.nbpend.load(Relaxed) > 0;
    if busy(sv) {
        return "Server still has connections attached to it, cannot remove it.".into();
    }
    sv.admin.fetch_or(ADM_DELETED | ADM_MAINT, Relaxed);
    // A stream that picked it just before maintenance would show here;
    // HAProxy isolates threads instead. The slot stays valid either way.
    if busy(sv) {
        sv.admin.fetch_and(!ADM_DELETED, Relaxed);
        return "Server still has connections attached to it, cannot remove it.".into();
    }
    "Server deleted.".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(name: &str) -> ServerRt {
        let mut c = config::model::Server::defaults();
        c.name = name.into();
        ServerRt::for_tests(c, 1)
    }

    #[test]
    fn list_grows_within_its_reserve_and_keeps_slots() {
        let l = ServerList::new(vec![srv("a")], 2);
        let first = &l[0] as *const ServerRt;
        assert_eq!(l.len(), 1);
        assert!(l.push(srv("b")).is_some());
        assert!(l.push(srv("c")).is_some());
        assert!(l.push(srv("d")).is_none(), "no room past the reserve");
        let names: Vec<&str> = l.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(&l[0] as *const ServerRt, first, "slots never move");
    }

    #[test]
    fn readers_on_other_threads_see_whole_servers() {
        let l = std::sync::Arc::new(ServerList::new(Vec::new(), 64));
        let r = l.clone();
        let reader = std::thread::spawn(move || {
            let mut seen = 0;
            while seen < 64 {
                for (i, s) in r.iter().enumerate() {
                    assert_eq!(s.name, format!("s{i}"));
                }
                seen = r.len();
            }
        });
        for i in 0..64 {
            assert!(l.push(srv(&format!("s{i}"))).is_some());
        }
        reader.join().unwrap();
    }
}
