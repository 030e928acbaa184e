//! Load balancing (HAProxy's `lb_*.c` and `backend.c` server selection):
//! roundrobin (smooth weighted, dynamic weights), static-rr, leastconn,
//! first, random with draws, and hash-based picks (source, uri, url_param,
//! hdr) over a weight map (`hash-type map-based`) or a ring of virtual
//! nodes (`hash-type consistent`).
//!
//! Active servers are used while any is usable; backups only when none is
//! (the first backup, or all of them with `option allbackups`).
//! This module owns the choice of a server index; it must not touch
//! connections, queues or counters (the caller accounts for the pick).

use crate::runtime::ServerRt;
use config::model::Balance;
use std::sync::atomic::Ordering::Relaxed;

/// Per-backend LB position, under the backend's lock.
#[derive(Default)]
pub struct LbState {
    algo: Algo,
    /// Smooth-WRR current weights, indexed like the servers.
    cw: Vec<i64>,
    /// Next position for static-rr.
    pos: usize,
    /// Weight map for static-rr / map-based hashing: server indexes
    /// repeated by weight. Rebuilt when weights or states change.
    map: Vec<usize>,
    map_sig: u64,
    /// Consistent-hash ring: (point, server index), sorted.
    ring: Vec<(u32, usize)>,
    ring_sig: u64,
    consistent: bool,
    rng: u64,
    draws: u32,
    /// The eligible servers of the pick in progress: kept for its
    /// capacity, so a pick (one per request) allocates nothing.
    elig: Vec<usize>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum Algo {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Hash,
    Random,
}

/// What a hash-based algorithm hashes, computed by the caller from the
/// request (source address, URI, parameter, header).
pub type HashKey = Option<u32>;

fn eff_weight(s: &ServerRt) -> u32 {
    s.uweight.load(Relaxed)
}

/// Whether server `i` can take traffic and is of the wanted kind.
fn candidate(servers: &[ServerRt], i: usize, backup: bool) -> bool {
    servers[i].cfg.backup == backup && servers[i].usable() && eff_weight(&servers[i]) > 0
}

/// Servers eligible now into `out`: usable actives, else usable backups
/// (only the first one without `option allbackups`).
fn eligible_into(servers: &[ServerRt], allbackups: bool, out: &mut Vec<usize>) {
    out.clear();
    out.extend((0..servers.len()).filter(|&i| candidate(servers, i, false)));
    if !out.is_empty() {
        return;
    }
    let backups = (0..servers.len()).filter(|&i| candidate(servers, i, true));
    if allbackups {
        out.extend(backups);
    } else {
        out.extend(backups.take(1));
    }
}

/// A signature of the eligible set and weights, to rebuild maps lazily.
fn signature(servers: &[ServerRt], elig: &[usize]) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for &i in elig {
        h = (h ^ i as u64).wrapping_mul(1099511628211);
        h = (h ^ eff_weight(&servers[i]) as u64).wrapping_mul(1099511628211);
    }
    h
}

/// HAProxy's avalanche mixer for hash keys (`full_hash`, Bob Jenkins'
/// 32-bit integer hash), applied by `hash-type ... avalanche` and always by
/// the consistent ring when placing server points.
pub fn full_hash(mut a: u32) -> u32 {
    a = a.wrapping_add(0x7ed55d16).wrapping_add(a << 12);
    a = (a ^ 0xc761c23c) ^ (a >> 19);
    a = a.wrapping_add(0x165667b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2646c) ^ (a << 9);
    a = a.wrapping_add(0xfd7046c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a4f09) ^ (a >> 16);
    // HAProxy then spreads the result with a large prime (~3/4 of 2^32).
    a.wrapping_mul(3221225473)
}

/// sdbm string hash, HAProxy's default `hash-type` function.
pub fn hash_sdbm(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in key {
        h = (c as u32).wrapping_add(h << 6).wrapping_add(h << 16).wrapping_sub(h);
    }
    h
}

/// djb2 string hash.
pub fn hash_djb2(key: &[u8]) -> u32 {
    let mut h: u32 = 5381;
    for &c in key {
        h = (h << 5).wrapping_add(h).wrapping_add(c as u32);
    }
    h
}

/// wt6 string hash.
pub fn hash_wt6(key: &[u8]) -> u32 {
    let mut h0: u32 = 0xa53c965a;
    let mut h1: u32 = 0x5ca6953a;
    let mut step0: u32 = 6;
    let mut step1: u32 = 18;
    for &c in key {
        let t = c as u32;
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        let t2 = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t2;
        let t3 = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t3 & 0x1F;
        // A step of 0 is a rotation by 0, as HAProxy's shifts give on x86.
        step1 = t3 >> 11;
    }
    h0 ^ h1
}

/// CRC32 (IEEE, reflected), as `hash-type ... crc32`.
pub fn hash_crc32(key: &[u8]) -> u32 {
    let mut c: u32 = !0;
    for &b in key {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB88320 } else { c >> 1 };
        }
    }
    !c
}

impl LbState {
    /// Configures the algorithm for a backend.
    pub fn init(&mut self, balance: &Balance, servers: &[ServerRt]) {
        self.algo = match balance {
            Balance::RoundRobin => Algo::RoundRobin,
            Balance::StaticRr => Algo::StaticRr,
            Balance::LeastConn => Algo::LeastConn,
            Balance::First => Algo::First,
            Balance::Random { draws } => {
                self.draws = (*draws).max(1);
                Algo::Random
            }
            _ => Algo::Hash,
        };
        self.cw = vec![0; servers.len()];
        self.rng = 0x9E3779B97F4A7C15;
    }

    /// Uses a consistent ring instead of a weight map for hashing.
    pub fn set_consistent(&mut self, consistent: bool) {
        self.consistent = consistent;
    }

    pub fn is_hash(&self) -> bool {
        self.algo == Algo::Hash
    }

    /// Whether any server may be picked at all (HAProxy: `tot_weight`): a
    /// usable active or backup server (`allbackups` only decides how many
    /// backups share the load, not whether one exists).
    pub fn has_eligible(&self, servers: &[ServerRt]) -> bool {
        (0..servers.len()).any(|i| candidate(servers, i, false) || candidate(servers, i, true))
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: cheap and good enough to spread picks.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }

    fn rebuild_map(&mut self, servers: &[ServerRt], elig: &[usize]) {
        let sig = signature(servers, elig);
        if sig == self.map_sig && !self.map.is_empty() {
            return;
        }
        self.map_sig = sig;
        self.map.clear();
        // Interleave by smooth WRR so consecutive map slots alternate
        // servers (HAProxy's map is likewise spread, not blocks).
        let total: i64 = elig.iter().map(|&i| eff_weight(&servers[i]) as i64).sum();
        let mut cw = vec![0i64; servers.len()];
        for _ in 0..total {
            let mut best = usize::MAX;
            for &i in elig {
                cw[i] += eff_weight(&servers[i]) as i64;
                if best == usize::MAX || cw[i] > cw[best] {
                    best = i;
                }
            }
            cw[best] -= total;
            self.map.push(best);
        }
    }

    fn rebuild_ring(&mut self, servers: &[ServerRt], elig: &[usize]) {
        let sig = signature(servers, elig);
        if sig == self.ring_sig && !self.ring.is_empty() {
            return;
        }
        self.ring_sig = sig;
        self.ring.clear();
        // Points per server proportional to weight; each point is a mixed
        // hash of (server id, replica). HAProxy uses 16 per weight unit,
        // which leaves ±40% imbalance between equal servers; 100 keeps
        // them within ±15% for the same consistency.
        for &i in elig {
            let pts = eff_weight(&servers[i]) * 100;
            for r in 0..pts {
                let p = full_hash(servers[i].id.wrapping_mul(0x9E3779B1) ^ r.wrapping_mul(0x85EBCA6B));
                self.ring.push((p, i));
            }
        }
        self.ring.sort_unstable();
    }

    /// Picks a server among `servers`, or None if none is usable, with no
    /// server saturated or avoided (see [`LbState::pick_with`]).
    pub fn pick(&mut self, servers: &[ServerRt], allbackups: bool, key: HashKey) -> Option<usize> {
        self.pick_with(servers, allbackups, key, &Pick::default())
    }

    /// Whether the algorithm is deterministic per request (HAProxy's
    /// `BE_LB_KIND_RR`: roundrobin, static-rr, random): then a retry may go
    /// to any other server right away.
    pub fn is_rr_kind(&self) -> bool {
        matches!(self.algo, Algo::RoundRobin | Algo::StaticRr | Algo::Random)
    }

    /// Whether a non-empty backend queue means every server is full, so
    /// newcomers queue behind without asking the LB (HAProxy's shortcut for
    /// first, roundrobin and static-rr).
    pub fn queue_means_full(&self) -> bool {
        matches!(self.algo, Algo::RoundRobin | Algo::StaticRr | Algo::First)
    }

    /// Picks a server as HAProxy's `assign_server()`: non-hash algorithms
    /// pass over saturated servers (None then means "all full", and the
    /// caller queues on the backend); a hashed key is bound to its server
    /// whatever its load (the caller queues on that server), except that
    /// the consistent ring walks on past servers above the
    /// `hash-balance-factor` bound. `avoid` (the server of a failed
    /// attempt) is skipped unless it is the only choice.
    pub fn pick_with(&mut self, servers: &[ServerRt], allbackups: bool, key: HashKey, p: &Pick) -> Option<usize> {
        let mut elig = std::mem::take(&mut self.elig);
        eligible_into(servers, allbackups, &mut elig);
        let r = if elig.is_empty() {
            None
        } else {
            self.pick_among(servers, &elig, key, p)
        };
        self.elig = elig;
        r
    }

    fn pick_among(&mut self, servers: &[ServerRt], elig: &[usize], key: HashKey, p: &Pick) -> Option<usize> {
        let full = |i: usize| p.full.is_some_and(|f| f(i));
        let ok = |i: usize| !full(i) && Some(i) != p.avoid;
        match (self.algo, key) {
            (a, k) if a == Algo::StaticRr || (a == Algo::Hash && k.is_none() && !self.consistent) => {
                self.rebuild_map(servers, elig);
                let n = self.map.len();
                let mut avoided = None;
                for _ in 0..n {
                    let i = self.map[self.pos % n];
                    self.pos = (self.pos + 1) % n;
                    if ok(i) {
                        return Some(i);
                    }
                    if !full(i) {
                        avoided = Some(i);
                    }
                }
                avoided
            }
            (Algo::LeastConn, _) => {
                // Lowest load per weight; ties rotate like roundrobin.
                // HAProxy's fwlc key: 0 when idle (idle servers tie and
                // rotate), else (inflight + 1) per weight.
                let load = |i: usize| {
                    let s = &servers[i];
                    let l = s.served.load(Relaxed) as u64 + s.counters.nbpend.load(Relaxed);
                    if l == 0 {
                        0
                    } else {
                        (l + 1) * 256 / eff_weight(s).max(1) as u64
                    }
                };
                // The `pos`-th of the servers tied at the lowest load,
                // without collecting them. Loads may move meanwhile (other
                // threads): the first tied server is the fallback.
                let pick = |accept: &dyn Fn(usize) -> bool, pos: usize| -> Option<usize> {
                    let (min, first) = elig
                        .iter()
                        .copied()
                        .filter(|&i| accept(i))
                        .map(|i| (load(i), i))
                        .min_by_key(|&(l, _)| l)?;
                    let tied = |i: &usize| accept(*i) && load(*i) == min;
                    let n = elig.iter().filter(|i| tied(i)).count().max(1);
                    Some(elig.iter().copied().filter(|i| tied(i)).nth(pos % n).unwrap_or(first))
                };
                let r = pick(&ok, self.pos).or_else(|| pick(&|i| !full(i), self.pos));
                self.pos = self.pos.wrapping_add(1);
                r
            }
            (Algo::First, _) => {
                // Lowest id with a free slot.
                let lowest = |accept: &dyn Fn(usize) -> bool| {
                    elig.iter()
                        .copied()
                        .filter(|&i| accept(i))
                        .min_by_key(|&i| servers[i].id)
                };
                lowest(&ok).or_else(|| lowest(&|i| !full(i)))
            }
            (Algo::Random, _) => {
                self.rebuild_map(servers, elig);
                let mut best: Option<usize> = None;
                for _ in 0..self.draws {
                    let r = self.next_rand();
                    let mut i = self.map[(r % self.map.len() as u64) as usize];
                    if Some(i) == p.avoid && elig.len() > 1 {
                        // Draw again past the avoided server.
                        let k = self.map.iter().position(|&x| x != i).unwrap_or(0);
                        i = self.map[k];
                    }
                    best = match best {
                        Some(b) if servers[b].served.load(Relaxed) <= servers[i].served.load(Relaxed) => Some(b),
                        _ => Some(i),
                    };
                }
                // A full pick means "queue on the backend", as HAProxy.
                best.filter(|&i| !full(i))
            }
            (Algo::Hash, Some(h)) if self.consistent => {
                self.rebuild_ring(servers, elig);
                let n = self.ring.len();
                let start = self.ring.partition_point(|&(pt, _)| pt < h);
                let bounded = p.balance_factor > 0;
                let eligible_load = |i: usize| !bounded || bounded_load_ok(servers, elig, i, p.balance_factor);
                for k in 0..n {
                    let i = self.ring[(start + k) % n].1;
                    if Some(i) != p.avoid && eligible_load(i) {
                        return Some(i);
                    }
                }
                Some(self.ring[start % n].1)
            }
            (Algo::Hash, Some(h)) => {
                self.rebuild_map(servers, elig);
                Some(self.map[(h as usize) % self.map.len()])
            }
            _ => {
                // roundrobin, and hashing without a key on the ring.
                if self.cw.len() != servers.len() {
                    self.cw = vec![0; servers.len()];
                }
                let pass = |lb: &mut LbState, accept: &dyn Fn(usize) -> bool| -> Option<usize> {
                    let total: i64 = elig
                        .iter()
                        .filter(|&&i| accept(i))
                        .map(|&i| eff_weight(&servers[i]) as i64)
                        .sum();
                    let mut best = usize::MAX;
                    for &i in elig.iter().filter(|&&i| accept(i)) {
                        lb.cw[i] += eff_weight(&servers[i]) as i64;
                        if best == usize::MAX || lb.cw[i] > lb.cw[best] {
                            best = i;
                        }
                    }
                    if best == usize::MAX {
                        return None;
                    }
                    lb.cw[best] -= total;
                    Some(best)
                };
                pass(self, &ok).or_else(|| pass(self, &|i| !full(i)))
            }
        }
    }
}

/// What a pick must respect besides the algorithm.
#[derive(Default)]
pub struct Pick<'a> {
    /// The server of the failed attempt being redispatched.
    pub avoid: Option<usize>,
    /// Saturated servers (maxconn reached or a queue already waiting).
    pub full: Option<&'a dyn Fn(usize) -> bool>,
    /// `hash-balance-factor` (0: off).
    pub balance_factor: u32,
}

/// HAProxy's `chash_server_is_eligible()`: with a balance factor F, a
/// server may take a new request while it serves fewer than its weighted
/// share of ceil((served + 1) * F / 100) slots, the rounding remainder
/// spread over servers by cumulative weight so shares sum up exactly.
fn bounded_load_ok(servers: &[ServerRt], elig: &[usize], i: usize, factor: u32) -> bool {
    // HAProxy scales user weights by 16 for the consistent tree.
    let ew = |j: usize| eff_weight(&servers[j]) as u64 * 16;
    let tot_weight: u64 = elig.iter().map(|&j| ew(j)).sum();
    if tot_weight == 0 {
        return true;
    }
    let served: u64 = elig.iter().map(|&j| servers[j].served.load(Relaxed) as u64).sum();
    let tot_slots = ((served + 1) * factor as u64).div_ceil(100);
    let per_weight = tot_slots / tot_weight;
    let rem = tot_slots % tot_weight;
    let cum: u64 = elig.iter().take_while(|&&j| j != i).map(|&j| ew(j)).sum();
    let mut slots = ew(i) * per_weight;
    slots += ((cum + ew(i)) * rem) / tot_weight - (cum * rem) / tot_weight;
    (servers[i].served.load(Relaxed) as u64) < slots.max(1)
}

/// Hash of a client address for `balance source`: the address bytes
/// through the avalanche mixer, so neighbouring addresses spread.
pub fn hash_source(ip: &std::net::IpAddr) -> u32 {
    match ip {
        std::net::IpAddr::V4(v4) => full_hash(u32::from_be_bytes(v4.octets())),
        std::net::IpAddr::V6(v6) => {
            let o = v6.octets();
            let mut h = 0u32;
            for c in o.chunks(4) {
                h ^= full_hash(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            }
            h
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ServerRt;
    use config::model::Server;
    use std::sync::atomic::Ordering::Relaxed;

    fn servers(weights: &[u32], backup: &[bool]) -> Vec<ServerRt> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let cfg = Server {
                    name: format!("s{}", i + 1),
                    weight: w,
                    backup: backup.get(i).copied().unwrap_or(false),
                    ..Server::defaults()
                };
                ServerRt::for_tests(cfg, i as u32 + 1)
            })
            .collect()
    }

    fn counts(lb: &mut LbState, sv: &[ServerRt], n: usize, key: impl Fn(usize) -> HashKey) -> Vec<usize> {
        let mut c = vec![0; sv.len()];
        for i in 0..n {
            c[lb.pick(sv, false, key(i)).unwrap()] += 1;
        }
        c
    }

    fn assert_share(c: &[usize], weights: &[u32], tol: f64) {
        let total: usize = c.iter().sum();
        let wsum: u32 = weights.iter().sum();
        for (i, (&got, &w)) in c.iter().zip(weights).enumerate() {
            let want = total as f64 * w as f64 / wsum as f64;
            assert!(
                (got as f64 - want).abs() <= want * tol + 1.0,
                "server {i}: {got} vs {want:.0} ({c:?})"
            );
        }
    }

    #[test]
    fn roundrobin_honours_weights_and_order() {
        let w = [1, 2, 3, 4];
        let sv = servers(&w, &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::RoundRobin, &sv);
        let c = counts(&mut lb, &sv, 10_000, |_| None);
        assert_share(&c, &w, 0.01);
        // Equal weights: strict rotation s1, s2, s3 as HAProxy.
        let sv = servers(&[1, 1, 1], &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::RoundRobin, &sv);
        let order: Vec<usize> = (0..6).map(|_| lb.pick(&sv, false, None).unwrap()).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn dynamic_weight_change_is_followed() {
        let sv = servers(&[1, 1], &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::RoundRobin, &sv);
        counts(&mut lb, &sv, 100, |_| None);
        sv[1].uweight.store(3, Relaxed);
        let c = counts(&mut lb, &sv, 10_000, |_| None);
        assert_share(&c, &[1, 3], 0.01);
        sv[0].uweight.store(0, Relaxed);
        let c = counts(&mut lb, &sv, 100, |_| None);
        assert_eq!(c, [0, 100]);
    }

    #[test]
    fn static_rr_and_random_honour_weights() {
        let w = [3, 1, 2];
        let sv = servers(&w, &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::StaticRr, &sv);
        assert_share(&counts(&mut lb, &sv, 10_000, |_| None), &w, 0.01);
        let mut lb = LbState::default();
        lb.init(&Balance::Random { draws: 1 }, &sv);
        assert_share(&counts(&mut lb, &sv, 60_000, |_| None), &w, 0.03);
    }

    #[test]
    fn backups_only_when_no_active_server() {
        let sv = servers(&[1, 1, 1, 1], &[false, false, true, true]);
        let mut lb = LbState::default();
        lb.init(&Balance::RoundRobin, &sv);
        let c = counts(&mut lb, &sv, 100, |_| None);
        assert_eq!((c[2], c[3]), (0, 0));
        sv[0].admin.store(crate::runtime::ADM_MAINT, Relaxed);
        sv[1].up.store(false, Relaxed);
        let c = counts(&mut lb, &sv, 100, |_| None);
        assert_eq!(c, [0, 0, 100, 0], "first backup only");
        let c: Vec<usize> = {
            let mut c = vec![0; 4];
            for _ in 0..100 {
                c[lb.pick(&sv, true, None).unwrap()] += 1;
            }
            c
        };
        assert_eq!(c, [0, 0, 50, 50], "allbackups");
    }

    #[test]
    fn leastconn_and_first() {
        let sv = servers(&[1, 1, 1], &[]);
        sv[0].served.store(5, Relaxed);
        sv[1].served.store(1, Relaxed);
        sv[2].served.store(3, Relaxed);
        let mut lb = LbState::default();
        lb.init(&Balance::LeastConn, &sv);
        assert_eq!(lb.pick(&sv, false, None), Some(1));
        let mut lb = LbState::default();
        lb.init(&Balance::First, &sv);
        sv.iter().for_each(|s| s.maxconn.store(5, Relaxed));
        let full = |i: usize| sv[i].served.load(Relaxed) >= sv[i].maxconn.load(Relaxed);
        let p = Pick {
            full: Some(&full),
            ..Pick::default()
        };
        assert_eq!(
            lb.pick_with(&sv, false, None, &p),
            Some(1),
            "first server with a free slot"
        );
        sv[0].served.store(0, Relaxed);
        assert_eq!(lb.pick_with(&sv, false, None, &p), Some(0));
        sv.iter().for_each(|s| s.served.store(5, Relaxed));
        assert_eq!(lb.pick_with(&sv, false, None, &p), None, "all full: queue");
    }

    #[test]
    fn map_based_hash_is_stable_and_weighted() {
        let w = [1, 1, 2];
        let sv = servers(&w, &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::Source, &sv);
        let key = |i: usize| Some(full_hash(i as u32));
        let a = counts(&mut lb, &sv, 20_000, key);
        assert_share(&a, &w, 0.03);
        // Same key, same server.
        let k = Some(hash_sdbm(b"/some/uri"));
        let first = lb.pick(&sv, false, k);
        for _ in 0..10 {
            assert_eq!(lb.pick(&sv, false, k), first);
        }
    }

    #[test]
    fn consistent_hash_moves_about_one_nth_when_a_server_leaves() {
        let n = 5;
        let sv = servers(&[1; 5], &[]);
        let mut lb = LbState::default();
        lb.init(&Balance::Source, &sv);
        lb.set_consistent(true);
        let keys: Vec<u32> = (0..20_000u32).map(full_hash).collect();
        let before: Vec<usize> = keys.iter().map(|&k| lb.pick(&sv, false, Some(k)).unwrap()).collect();
        let spread = (0..n)
            .map(|s| before.iter().filter(|&&b| b == s).count())
            .collect::<Vec<_>>();
        assert_share(&spread, &[1; 5], 0.25);
        sv[2].admin.store(crate::runtime::ADM_MAINT, Relaxed);
        let after: Vec<usize> = keys.iter().map(|&k| lb.pick(&sv, false, Some(k)).unwrap()).collect();
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let owned_by_gone = before.iter().filter(|&&b| b == 2).count();
        // Only the departed server's keys move (about 1/N of them).
        assert_eq!(moved, owned_by_gone);
        assert!((moved as f64) < keys.len() as f64 * 1.3 / n as f64, "moved {moved}");
        // The map-based table, by contrast, reshuffles most keys.
        let mut m = LbState::default();
        m.init(&Balance::Source, &sv);
        sv[2].admin.store(0, Relaxed);
        let b2: Vec<usize> = keys.iter().map(|&k| m.pick(&sv, false, Some(k)).unwrap()).collect();
        sv[2].admin.store(crate::runtime::ADM_MAINT, Relaxed);
        let a2: Vec<usize> = keys.iter().map(|&k| m.pick(&sv, false, Some(k)).unwrap()).collect();
        let moved2 = b2.iter().zip(&a2).filter(|(b, a)| b != a).count();
        assert!(moved2 > moved, "map-based moved {moved2}, consistent {moved}");
    }
}
