//! Stick tables (HAProxy's `stick_table.c`): keyed entries holding the
//! data types a `stick-table` line stores (counters, frequency counters
//! over a period, general purpose tags, server ids), shared by every
//! thread; the stream's tracked counters ([`StkCtrs`], `track-sc0..2`);
//! key conversion from samples; the `show table` format.
//!
//! Concurrency as HAProxy 2.6: one lock per table guards the key index
//! (lookups, inserts, eviction), one lock per entry guards its data, so
//! the hot path costs a tree lookup and two short uncontended locks. An
//! entry referenced by a tracker is never expired nor evicted.
//!
//! Owns tables, entries and their counters; it must not parse
//! configuration text (the `config` crate does) nor know about rules or
//! streams beyond the tracked-counter slots.

use config::stick_table::{DataType, KeyType, TableDef, DATA_TYPES};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};

/// Milliseconds for table clocks: the reactor's monotonic clock, moved far
/// from zero so a counter never touched (tick 0) reads as ancient.
pub fn now_ms() -> u64 {
    reactor::thread::now_ms() + (1 << 32)
}

/// Where a data type sits in an entry's words.
#[derive(Clone, Copy, Debug)]
struct Slot {
    ofs: u16,
    nelem: u16,
    period: u32,
}

/// A frequency counter is three words: start tick, current, previous.
const FRQ_WORDS: usize = 3;

pub struct Table {
    pub name: String,
    pub def: TableDef,
    slots: [Option<Slot>; DATA_TYPES],
    words: usize,
    index: Mutex<Index>,
}

struct Index {
    keys: BTreeMap<Box<[u8]>, Arc<Entry>>,
    /// No purge of expired entries before this time (ms).
    next_purge: u64,
}

#[derive(Debug)]
pub struct Entry {
    key: Box<[u8]>,
    /// Expiry date (ms, [`now_ms`] scale); 0 before the first touch.
    expire: AtomicU64,
    /// Trackers and other holders (`use=` in `show table`).
    refs: AtomicU32,
    data: Mutex<Box<[u64]>>,
    /// `server_key`: the stored server's name (stick rules).
    server_key: Mutex<Option<Box<str>>>,
}

impl Entry {
    pub fn refs(&self) -> u32 {
        self.refs.load(Relaxed)
    }
}

/// HAProxy's `update_freq_ctr_period()` over (tick, curr, prev).
fn frq_update(w: &mut [u64], period: u32, inc: u64, now: u64) {
    let period = period.max(1) as u64;
    if now.wrapping_sub(w[0]) < period {
        w[1] = w[1].wrapping_add(inc) & 0xffff_ffff;
        return;
    }
    w[2] = w[1];
    w[1] = inc;
    let mut tick = w[0] + period;
    if now.wrapping_sub(tick) >= period {
        w[2] = 0;
        tick = now;
    }
    w[0] = tick & !1;
}

/// HAProxy's `read_freq_ctr_period()`: events over the last period.
fn frq_read(w: &[u64], period: u32, now: u64) -> u64 {
    let period = period.max(1) as i64;
    let (tick, mut curr, mut past) = (w[0] as i64, w[1] as i64, w[2] as i64);
    let mut remain = tick + period - now as i64;
    if remain < 0 {
        remain += period;
        past = if remain >= 0 { curr } else { 0 };
        curr = 0;
    }
    if curr == 0 && past <= 1 {
        return past as u64;
    }
    ((past * remain + curr * period) / period) as u64
}

impl Table {
    pub fn new(name: &str, def: TableDef) -> Table {
        let mut slots = [None; DATA_TYPES];
        let mut words = 0usize;
        for s in &def.store {
            let per = if s.dt.is_rate() { FRQ_WORDS } else { 1 };
            slots[s.dt as usize] = Some(Slot {
                ofs: words as u16,
                nelem: s.nelem as u16,
                period: s.period,
            });
            words += per * s.nelem as usize;
        }
        Table {
            name: name.to_string(),
            def,
            slots,
            words,
            index: Mutex::new(Index {
                keys: BTreeMap::new(),
                next_purge: 0,
            }),
        }
    }

    pub fn stores(&self, dt: DataType) -> bool {
        self.slots[dt as usize].is_some()
    }

    /// The period of a rate data type (ms).
    pub fn period(&self, dt: DataType) -> u32 {
        self.slots[dt as usize].map_or(0, |s| s.period)
    }

    /// Entries in the table (expired ones until purged, as HAProxy's
    /// `current`).
    pub fn used(&self) -> usize {
        self.index.lock().unwrap().keys.len()
    }

    fn expired(&self, e: &Entry, now: u64) -> bool {
        self.def.expire.is_some() && e.refs.load(Relaxed) == 0 && e.expire.load(Relaxed) <= now
    }

    /// Drops the expired, unreferenced entries (HAProxy's expiry task).
    pub fn purge_expired(&self) {
        if self.def.expire.is_none() {
            return;
        }
        let now = now_ms();
        let mut ix = self.index.lock().unwrap();
        ix.keys.retain(|_, e| !self.expired(e, now));
        ix.next_purge = now + 1000;
    }

    /// The live entry for `key`, if any.
    pub fn lookup(&self, key: &[u8]) -> Option<Arc<Entry>> {
        let ix = self.index.lock().unwrap();
        let e = ix.keys.get(key)?;
        if self.expired(e, now_ms()) {
            return None;
        }
        Some(e.clone())
    }

    /// The entry for `key`, created when missing (None when the table is
    /// full and nothing can be evicted). A new or found entry is touched.
    pub fn get_or_create(&self, key: &[u8]) -> Option<Arc<Entry>> {
        let now = now_ms();
        let mut ix = self.index.lock().unwrap();
        if let Some(e) = ix.keys.get(key) {
            if !self.expired(e, now) {
                let e = e.clone();
                drop(ix);
                self.touch(&e);
                return Some(e);
            }
            // Expired: start over with fresh data, as a new entry.
            ix.keys.remove(key);
        }
        if now >= ix.next_purge && self.def.expire.is_some() {
            ix.keys.retain(|_, e| !self.expired(e, now));
            ix.next_purge = now + 1000;
        }
        if ix.keys.len() as u64 >= self.def.size {
            if self.def.nopurge {
                return None;
            }
            self.trash_oldest(&mut ix, (self.def.size >> 8) as usize + 1);
            if ix.keys.len() as u64 >= self.def.size {
                return None;
            }
        }
        let e = Arc::new(Entry {
            key: key.into(),
            expire: AtomicU64::new(0),
            refs: AtomicU32::new(0),
            data: Mutex::new(vec![0u64; self.words].into_boxed_slice()),
            server_key: Mutex::new(None),
        });
        ix.keys.insert(key.into(), e.clone());
        drop(ix);
        self.touch(&e);
        Some(e)
    }

    /// Evicts up to `n` unreferenced entries, those expiring first.
    fn trash_oldest(&self, ix: &mut Index, n: usize) {
        let mut cand: Vec<(u64, Box<[u8]>)> = ix
            .keys
            .values()
            .filter(|e| e.refs.load(Relaxed) == 0)
            .map(|e| (e.expire.load(Relaxed), e.key.clone()))
            .collect();
        cand.sort();
        for (_, k) in cand.into_iter().take(n) {
            ix.keys.remove(&k);
        }
    }

    /// Refreshes an entry's expiry date (HAProxy's `stktable_touch_local`).
    pub fn touch(&self, e: &Entry) {
        let now = now_ms();
        e.expire.store(now + self.def.expire.unwrap_or(0) as u64, Relaxed);
    }

    /// Removes an unreferenced entry; false when it is in use.
    pub fn remove(&self, key: &[u8]) -> bool {
        let mut ix = self.index.lock().unwrap();
        match ix.keys.get(key) {
            Some(e) if e.refs.load(Relaxed) > 0 => false,
            Some(_) => {
                ix.keys.remove(key);
                true
            }
            None => true,
        }
    }

    /// A snapshot of the entries in key order (for dumps and clears).
    pub fn entries(&self) -> Vec<Arc<Entry>> {
        self.index.lock().unwrap().keys.values().cloned().collect()
    }

    /// Reads one data element (rates: over their period). None when the
    /// table does not store it or the index is out of the array.
    pub fn read(&self, e: &Entry, dt: DataType, idx: usize) -> Option<u64> {
        let s = self.slots[dt as usize]?;
        if idx >= s.nelem as usize {
            return None;
        }
        let d = e.data.lock().unwrap();
        Some(if dt.is_rate() {
            let o = s.ofs as usize + idx * FRQ_WORDS;
            frq_read(&d[o..o + FRQ_WORDS], s.period, now_ms())
        } else {
            d[s.ofs as usize + idx]
        })
    }

    /// Applies `f` to the entry's data under its lock, then touches it.
    fn update(&self, e: &Entry, f: impl FnOnce(&mut Upd<'_>)) {
        {
            let mut d = e.data.lock().unwrap();
            let mut u = Upd {
                t: self,
                d: &mut d,
                now: now_ms(),
            };
            f(&mut u);
        }
        self.touch(e);
    }

    /// Adds to a counter and its rate (`cnt`/`rate` data types, each
    /// only if stored).
    pub fn count(&self, e: &Entry, cnt: DataType, rate: DataType, n: u64) {
        if !self.stores(cnt) && !self.stores(rate) {
            return;
        }
        self.update(e, |u| {
            u.add(cnt, 0, n);
            u.hit(rate, 0, n);
        });
    }

    /// A new connection or tracked stream (HAProxy's
    /// `stream_start_counters`): conn_cur, conn_cnt, conn_rate.
    pub fn start_counters(&self, e: &Entry) {
        self.update(e, |u| {
            u.add(DataType::ConnCur, 0, 1);
            u.add(DataType::ConnCnt, 0, 1);
            u.hit(DataType::ConnRate, 0, 1);
        });
    }

    /// The end of what [`start_counters`](Self::start_counters) began.
    pub fn stop_counters(&self, e: &Entry) {
        if self.stores(DataType::ConnCur) {
            self.update(e, |u| u.sub(DataType::ConnCur, 0, 1));
        }
    }

    /// `sc_inc_gpc*`: increments a general purpose counter and its rate;
    /// returns the counter's new value (None: neither is stored).
    pub fn inc_gpc(&self, e: &Entry, which: Gpc) -> Option<u64> {
        let (cnt, rate, idx) = which.types();
        if !self.stores(cnt) && !self.stores(rate) {
            return None;
        }
        let mut v = None;
        self.update(e, |u| {
            u.hit(rate, idx, 1);
            v = u.add(cnt, idx, 1);
        });
        Some(v.unwrap_or(0))
    }

    /// `sc_clr_gpc*`: zeroes a general purpose counter, returns its old value.
    pub fn clr_gpc(&self, e: &Entry, which: Gpc) -> Option<u64> {
        let (cnt, _, idx) = which.types();
        let s = self.slots[cnt as usize]?;
        if idx >= s.nelem as usize {
            return None;
        }
        let mut old = 0;
        self.update(e, |u| {
            let o = s.ofs as usize + idx;
            old = u.d[o];
            u.d[o] = 0;
        });
        Some(old)
    }

    /// Sets a plain data element (`set table`, `sc-set-gpt0`, server_id);
    /// a rate gets the value in its current period (the previous one
    /// zeroed), so it reads steadily until the period ends.
    pub fn set(&self, e: &Entry, dt: DataType, idx: usize, v: u64) -> bool {
        let Some(s) = self.slots[dt as usize] else {
            return false;
        };
        if idx >= s.nelem as usize {
            return false;
        }
        self.update(e, |u| {
            if dt.is_rate() {
                let o = s.ofs as usize + idx * FRQ_WORDS;
                u.d[o] = u.now & !1;
                u.d[o + 1] = v & 0xffff_ffff;
                u.d[o + 2] = 0;
            } else {
                u.d[s.ofs as usize + idx] = mask(dt, v);
            }
        });
        true
    }

    /// Records the server name a stick rule stored (`server_key`).
    pub fn set_server_key(&self, e: &Entry, name: &str) {
        if self.stores(DataType::ServerKey) && !self.def.srvkey_addr {
            *e.server_key.lock().unwrap() = Some(name.into());
        }
    }

    /// Takes a reference (a tracker).
    pub fn hold(&self, e: &Entry) {
        e.refs.fetch_add(1, Relaxed);
    }

    pub fn release(&self, e: &Entry) {
        let _ = e.refs.fetch_update(Relaxed, Relaxed, |r| r.checked_sub(1));
    }

    /// The key of a sample for this table (HAProxy's `smp_to_stkey`).
    pub fn key_of(&self, v: &crate::sample::Smp) -> Option<Vec<u8>> {
        use crate::sample::Smp;
        let ks = self.def.key_size;
        match self.def.ktype {
            KeyType::Ip => {
                let ip = match v {
                    Smp::Ip(ip) => *ip,
                    Smp::Int(i) => IpAddr::V4((*i as u32).into()),
                    Smp::Str(s) => parse_ip(s)?,
                    _ => return None,
                };
                match ip {
                    IpAddr::V4(a) => Some(a.octets().to_vec()),
                    IpAddr::V6(a) => a.to_ipv4_mapped().map(|a| a.octets().to_vec()),
                }
            }
            KeyType::Ipv6 => {
                let ip = match v {
                    Smp::Ip(ip) => *ip,
                    Smp::Int(i) => IpAddr::V4((*i as u32).into()),
                    Smp::Str(s) => parse_ip(s)?,
                    _ => return None,
                };
                Some(match ip {
                    IpAddr::V4(a) => a.to_ipv6_mapped().octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                })
            }
            KeyType::Integer => {
                let i = match v {
                    Smp::Ip(IpAddr::V4(a)) => u32::from(*a) as i64,
                    Smp::Ip(_) => return None,
                    o => o.to_int()?,
                };
                Some((i as u32).to_le_bytes().to_vec())
            }
            KeyType::String => {
                let mut b = v.clone().into_bytes();
                if let Some(z) = b.iter().position(|&c| c == 0) {
                    b.truncate(z);
                }
                b.truncate(ks.saturating_sub(1));
                Some(b)
            }
            KeyType::Binary => {
                let mut b = v.clone().into_bytes();
                b.resize(ks, 0);
                Some(b)
            }
        }
    }

    /// A key typed on the CLI (`show|clear|set table ... key <k>`); Err
    /// is HAProxy's message.
    pub fn key_from_cli(&self, k: &str) -> Result<Vec<u8>, &'static str> {
        match self.def.ktype {
            KeyType::Ip => {
                // inet_addr()-like: what does not parse is 255.255.255.255.
                let a: std::net::Ipv4Addr = k.parse().unwrap_or(std::net::Ipv4Addr::BROADCAST);
                Ok(a.octets().to_vec())
            }
            KeyType::Ipv6 => k
                .parse::<std::net::Ipv6Addr>()
                .map(|a| a.octets().to_vec())
                .map_err(|_| "Invalid key\n"),
            KeyType::Integer => match k.parse::<u64>() {
                Ok(v) if v <= u32::MAX as u64 => Ok((v as u32).to_le_bytes().to_vec()),
                _ => Err("Invalid key\n"),
            },
            KeyType::String => {
                let mut b = k.as_bytes().to_vec();
                b.truncate(self.def.key_size.saturating_sub(1));
                Ok(b)
            }
            KeyType::Binary => Err(""),
        }
    }

    /// `show table` header line.
    pub fn dump_head(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(
            out,
            "# table: {}, type: {}, size:{}, used:{}",
            self.name,
            self.def.ktype.name(),
            self.def.size,
            self.used()
        );
    }

    /// One entry as `show table` prints it.
    pub fn dump_entry(&self, e: &Arc<Entry>, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{:p}: key=", Arc::as_ptr(e));
        match self.def.ktype {
            KeyType::Ip if e.key.len() == 4 => {
                let _ = write!(
                    out,
                    "{}",
                    std::net::Ipv4Addr::new(e.key[0], e.key[1], e.key[2], e.key[3])
                );
            }
            KeyType::Ipv6 if e.key.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&e.key);
                let _ = write!(out, "{}", std::net::Ipv6Addr::from(a));
            }
            KeyType::Integer if e.key.len() == 4 => {
                let _ = write!(out, "{}", u32::from_le_bytes([e.key[0], e.key[1], e.key[2], e.key[3]]));
            }
            KeyType::String => dump_text(&e.key, out),
            _ => {
                for c in e.key.iter() {
                    let _ = write!(out, "{c:02X}");
                }
            }
        }
        let now = now_ms();
        let exp = e.expire.load(Relaxed).saturating_sub(now);
        let exp = if self.def.expire.is_some() { exp } else { 0 };
        let _ = write!(out, " use={} exp={}", e.refs.load(Relaxed), exp);
        let d = e.data.lock().unwrap();
        for dt in DataType::all() {
            let Some(s) = self.slots[*dt as usize] else {
                continue;
            };
            let name = dt.name();
            for i in 0..s.nelem as usize {
                let label = if dt.is_array() {
                    match name.split_once('_') {
                        Some((p, sfx)) => format!("{p}{i}_{sfx}"),
                        None => format!("{name}{i}"),
                    }
                } else {
                    name.to_string()
                };
                if dt.is_rate() {
                    let o = s.ofs as usize + i * FRQ_WORDS;
                    let _ = write!(
                        out,
                        " {label}({})={}",
                        s.period,
                        frq_read(&d[o..o + FRQ_WORDS], s.period, now)
                    );
                } else if *dt == DataType::ServerKey {
                    let k = e.server_key.lock().unwrap();
                    let _ = write!(out, " {label}={}", k.as_deref().unwrap_or("-"));
                } else if *dt == DataType::ServerId {
                    let _ = write!(out, " {label}={}", d[s.ofs as usize + i] as u32 as i32);
                } else {
                    let _ = write!(out, " {label}={}", d[s.ofs as usize + i]);
                }
            }
        }
        out.push('\n');
    }
}

/// Counter widths as HAProxy stores them (32-bit but for byte counts).
fn mask(dt: DataType, v: u64) -> u64 {
    if dt.is_ull() {
        v
    } else {
        v & 0xffff_ffff
    }
}

/// Data of one entry under its lock.
struct Upd<'a> {
    t: &'a Table,
    d: &'a mut [u64],
    now: u64,
}

impl Upd<'_> {
    fn add(&mut self, dt: DataType, idx: usize, n: u64) -> Option<u64> {
        let s = self.t.slots[dt as usize]?;
        if idx >= s.nelem as usize {
            return None;
        }
        let o = s.ofs as usize + idx;
        self.d[o] = mask(dt, self.d[o].wrapping_add(n));
        Some(self.d[o])
    }
    fn sub(&mut self, dt: DataType, idx: usize, n: u64) {
        if let Some(s) = self.t.slots[dt as usize] {
            let o = s.ofs as usize + idx;
            self.d[o] = self.d[o].saturating_sub(n);
        }
    }
    fn hit(&mut self, dt: DataType, idx: usize, n: u64) {
        if let Some(s) = self.t.slots[dt as usize].filter(|s| idx < s.nelem as usize) {
            let o = s.ofs as usize + idx * FRQ_WORDS;
            frq_update(&mut self.d[o..o + FRQ_WORDS], s.period, n, self.now);
        }
    }
}

fn parse_ip(s: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(s).ok()?.trim().parse().ok()
}

/// HAProxy's `dump_text()` of a string key (up to its NUL).
fn dump_text(k: &[u8], out: &mut String) {
    use std::fmt::Write;
    for &c in k.iter().take_while(|&&c| c != 0) {
        match c {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            0x1b => out.push_str("\\e"),
            b'\\' | b' ' | b'=' => {
                out.push('\\');
                out.push(c as char);
            }
            0x21..=0x7e => out.push(c as char),
            _ => {
                let _ = write!(out, "\\x{c:02X}");
            }
        }
    }
}

/// Which general purpose counter an action or fetch names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gpc {
    /// `gpc0` / `gpc1` (and their rates).
    Legacy(u8),
    /// `gpc(n)`.
    Array(u8),
}

impl Gpc {
    fn types(self) -> (DataType, DataType, usize) {
        match self {
            Gpc::Legacy(0) => (DataType::Gpc0, DataType::Gpc0Rate, 0),
            Gpc::Legacy(_) => (DataType::Gpc1, DataType::Gpc1Rate, 0),
            Gpc::Array(i) => (DataType::Gpc, DataType::GpcRate, i as usize),
        }
    }
}

// ---- the process's tables ----

static TABLES: RwLock<Option<Vec<Arc<Table>>>> = RwLock::new(None);

thread_local! {
    /// The proxy whose rules are being compiled: its table is the default
    /// of `track-sc`, `src_*` and `table_*` without a table argument.
    static CURRENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Installs the process's tables (start-up, before rules compile).
pub fn install(tables: Vec<Arc<Table>>) {
    *TABLES.write().unwrap() = Some(tables);
}

/// The installed tables, in declaration order.
pub fn tables() -> Vec<Arc<Table>> {
    TABLES.read().unwrap().clone().unwrap_or_default()
}

pub fn find(name: &str) -> Option<Arc<Table>> {
    TABLES
        .read()
        .unwrap()
        .as_ref()?
        .iter()
        .find(|t| t.name == name)
        .cloned()
}

/// Runs `f` with `proxy` as the default table's owner.
pub fn with_proxy<R>(proxy: &str, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), proxy.to_string()));
    let r = f();
    CURRENT.with(|c| *c.borrow_mut() = prev);
    r
}

/// A table named in a rule or fetch, resolved when rules compile at
/// start-up. None while only checking a configuration (tables are built
/// at start-up; their names were checked then).
pub type TableRef = Option<Arc<Table>>;

/// Resolves a table argument (None: the current proxy's table).
pub fn resolve(name: Option<&str>) -> Result<TableRef, String> {
    let name = match name {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => CURRENT.with(|c| c.borrow().clone()),
    };
    let g = TABLES.read().unwrap();
    let Some(list) = g.as_ref() else {
        return Ok(None);
    };
    match list.iter().find(|t| t.name == name) {
        Some(t) => Ok(Some(t.clone())),
        None => Err(format!("unable to find table '{name}'")),
    }
}

// ---- fetches and converters ----

/// What a `sc*_`/`src_`/`table_` fetch or converter reads or does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StkWhat {
    /// A stored value (rates over their period); gpc0/gpc1/gpt0 fall
    /// back to the arrays' elements as HAProxy does.
    Data(DataType, u8),
    /// `kbytes_in`/`kbytes_out`: the byte counts in kilobytes.
    Kbytes(DataType),
    IncGpc(Gpc),
    ClrGpc(Gpc),
    Tracked,
    Trackers,
    /// `src_updt_conn_cnt`: counts a connection, returns conn_cnt.
    UpdtConnCnt,
    /// `in_table`.
    InTable,
    /// `table_expire([default])`: ms until the entry expires.
    Expire(Option<i64>),
    /// `table_idle([default])`: ms since the entry was last updated.
    Idle(Option<i64>),
}

/// Where a fetch finds its entry.
#[derive(Clone, Debug, PartialEq)]
pub enum StkSrc {
    /// `scN_*` / `sc_*(N)`: the tracked counter, or the same key in an
    /// alternate table.
    Sc(usize, TableRef),
    /// `src_*`: the client address in a table.
    Src(TableRef),
    /// `table_cnt` / `table_avl`.
    Cnt(TableRef),
    Avl(TableRef),
}

#[derive(Clone, Debug, PartialEq)]
pub struct StkFetch {
    pub src: StkSrc,
    pub what: StkWhat,
}

/// Tables are unique by name.
impl PartialEq for Table {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
    }
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "table '{}'", self.name)
    }
}

/// The data a fetch/converter suffix names (`http_req_rate`, `get_gpc0`,
/// `inc_gpc(idx)`...); `idx` is the array index argument when the name
/// takes one.
fn what_of(suffix: &str, idx: Option<u8>, conv: bool) -> Option<StkWhat> {
    use DataType::*;
    let i = idx.unwrap_or(0);
    Some(match suffix {
        "bytes_in_rate" => StkWhat::Data(BytesInRate, 0),
        "bytes_out_rate" => StkWhat::Data(BytesOutRate, 0),
        "conn_cnt" => StkWhat::Data(ConnCnt, 0),
        "conn_cur" => StkWhat::Data(ConnCur, 0),
        "conn_rate" => StkWhat::Data(ConnRate, 0),
        "sess_cnt" => StkWhat::Data(SessCnt, 0),
        "sess_rate" => StkWhat::Data(SessRate, 0),
        "http_req_cnt" => StkWhat::Data(HttpReqCnt, 0),
        "http_req_rate" => StkWhat::Data(HttpReqRate, 0),
        "http_err_cnt" => StkWhat::Data(HttpErrCnt, 0),
        "http_err_rate" => StkWhat::Data(HttpErrRate, 0),
        "http_fail_cnt" => StkWhat::Data(HttpFailCnt, 0),
        "http_fail_rate" => StkWhat::Data(HttpFailRate, 0),
        "kbytes_in" => StkWhat::Kbytes(BytesInCnt),
        "kbytes_out" => StkWhat::Kbytes(BytesOutCnt),
        "gpc0_rate" => StkWhat::Data(Gpc0Rate, 0),
        "gpc1_rate" => StkWhat::Data(Gpc1Rate, 0),
        "gpc_rate" => StkWhat::Data(GpcRate, i),
        "trackers" => StkWhat::Trackers,
        _ if conv => match suffix {
            "gpc0" => StkWhat::Data(Gpc0, 0),
            "gpc1" => StkWhat::Data(Gpc1, 0),
            "gpt0" => StkWhat::Data(Gpt0, 0),
            "gpc" => StkWhat::Data(Gpc, i),
            "gpt" => StkWhat::Data(Gpt, i),
            "server_id" => StkWhat::Data(ServerId, 0),
            _ => return None,
        },
        "get_gpc0" => StkWhat::Data(Gpc0, 0),
        "get_gpc1" => StkWhat::Data(Gpc1, 0),
        "get_gpt0" => StkWhat::Data(Gpt0, 0),
        "get_gpc" => StkWhat::Data(Gpc, i),
        "get_gpt" => StkWhat::Data(Gpt, i),
        "inc_gpc0" => StkWhat::IncGpc(self::Gpc::Legacy(0)),
        "inc_gpc1" => StkWhat::IncGpc(self::Gpc::Legacy(1)),
        "inc_gpc" => StkWhat::IncGpc(self::Gpc::Array(i)),
        "clr_gpc0" => StkWhat::ClrGpc(self::Gpc::Legacy(0)),
        "clr_gpc1" => StkWhat::ClrGpc(self::Gpc::Legacy(1)),
        "clr_gpc" => StkWhat::ClrGpc(self::Gpc::Array(i)),
        "tracked" => StkWhat::Tracked,
        "updt_conn_cnt" => StkWhat::UpdtConnCnt,
        _ => return None,
    })
}

/// Names whose first argument is an array index.
fn takes_index(suffix: &str) -> bool {
    matches!(
        suffix,
        "get_gpc" | "get_gpt" | "inc_gpc" | "clr_gpc" | "gpc_rate" | "gpc" | "gpt"
    )
}

fn index_arg(a: Option<&String>, name: &str) -> Result<u8, String> {
    let a = a.ok_or_else(|| format!("fetch method '{name}' : missing arguments"))?;
    match a.trim().parse::<u32>() {
        Ok(v) if v < config::stick_table::MAX_ARRAY => Ok(v as u8),
        _ => Err(format!(
            "invalid args in fetch method '{name}' : invalid array index '{a}'"
        )),
    }
}

/// Parses a stick-counter fetch (None: the name is not one).
pub fn parse_fetch(name: &str, args: &[String]) -> Option<Result<StkFetch, String>> {
    let r = (|| -> Result<Option<StkFetch>, String> {
        let table_at =
            |i: usize| resolve(args.get(i).map(|s| s.as_str())).map_err(|e| format!("fetch method '{name}' : {e}"));
        if name == "table_cnt" || name == "table_avl" {
            let t = table_at(0)?;
            let src = if name == "table_cnt" {
                StkSrc::Cnt(t)
            } else {
                StkSrc::Avl(t)
            };
            return Ok(Some(StkFetch {
                src,
                what: StkWhat::Tracked,
            }));
        }
        let (src_kind, suffix) = if let Some(s) = name.strip_prefix("src_") {
            (None, s)
        } else if let Some(s) = name.strip_prefix("sc_") {
            (Some(None), s)
        } else if let Some(s) = ["sc0_", "sc1_", "sc2_"].iter().find_map(|p| name.strip_prefix(p)) {
            (Some(Some((name.as_bytes()[2] - b'0') as usize)), s)
        } else {
            return Ok(None);
        };
        if src_kind.is_none() && matches!(suffix, "tracked" | "trackers" | "port" | "is_local") {
            return Ok(None);
        }
        if src_kind.is_some() && suffix == "updt_conn_cnt" {
            return Ok(None);
        }
        let mut ai = 0;
        let idx = if takes_index(suffix) {
            ai += 1;
            Some(index_arg(args.first(), name)?)
        } else {
            None
        };
        let Some(what) = what_of(suffix, idx, false) else {
            return Ok(None);
        };
        let src = match src_kind {
            None => StkSrc::Src(table_at(ai)?),
            Some(n) => {
                let n = match n {
                    Some(n) => n,
                    None => {
                        let a = args
                            .get(ai)
                            .ok_or_else(|| format!("fetch method '{name}' : missing arguments"))?;
                        ai += 1;
                        a.trim().parse().map_err(|_| format!("invalid args in fetch method '{name}' : failed to parse '{a}' as type 'integer' at position {ai}"))?
                    }
                };
                let alt = match args.get(ai) {
                    Some(t) if !t.is_empty() => table_at(ai)?,
                    _ => None,
                };
                StkSrc::Sc(n, alt)
            }
        };
        Ok(Some(StkFetch { src, what }))
    })();
    r.transpose()
}

/// Parses a `table_*`/`in_table` converter (None: the name is not one).
pub fn parse_conv(name: &str, args: &[String]) -> Option<Result<(TableRef, StkWhat), String>> {
    let (what, ti) = if name == "in_table" {
        (StkWhat::InTable, 0)
    } else if name == "table_expire" || name == "table_idle" {
        let d = args.get(1).map(|d| {
            d.trim()
                .parse::<i64>()
                .map_err(|_| format!("invalid args in converter '{name}' : failed to parse '{d}' as type 'integer'"))
        });
        match d.transpose() {
            Ok(d) if name == "table_idle" => (StkWhat::Idle(d), 0),
            Ok(d) => (StkWhat::Expire(d), 0),
            Err(e) => return Some(Err(e)),
        }
    } else {
        let suffix = name.strip_prefix("table_")?;
        let idx = if takes_index(suffix) {
            match index_arg(args.first(), name) {
                Ok(i) => Some(i),
                Err(e) => return Some(Err(e)),
            }
        } else {
            None
        };
        let what = what_of(suffix, idx, true)?;
        (what, if idx.is_some() { 1 } else { 0 })
    };
    let t = args.get(ti).filter(|t| !t.is_empty());
    let Some(t) = t else {
        return Some(Err(format!("missing arguments (got 0/1) for converter '{name}'")));
    };
    Some(
        resolve(Some(t))
            .map(|t| (t, what))
            .map_err(|e| format!("invalid args in converter '{name}' : {e}")),
    )
}

/// Reads or acts on `e` (None: absent) of `t`, as the fetches do.
pub fn eval(t: &Table, e: Option<&Arc<Entry>>, what: StkWhat) -> Option<crate::sample::Smp> {
    use crate::sample::Smp;
    let int = |v: u64| Some(Smp::Int(v as i64));
    match what {
        StkWhat::Tracked => Some(Smp::Bool(e.is_some())),
        StkWhat::InTable => Some(Smp::Bool(e.is_some())),
        StkWhat::Trackers => int(e.map_or(0, |e| e.refs() as u64)),
        StkWhat::Expire(d) => {
            let Some(e) = e else {
                return d.map(Smp::Int);
            };
            t.def.expire?;
            int(e.expire.load(Relaxed).saturating_sub(now_ms()))
        }
        StkWhat::Idle(d) => {
            let Some(e) = e else {
                return d.map(Smp::Int);
            };
            // The expiry date is the last update plus `expire`.
            let last = e.expire.load(Relaxed).saturating_sub(t.def.expire.unwrap_or(0) as u64);
            int(now_ms().saturating_sub(last))
        }
        _ if e.is_none() => {
            // A missing entry reads 0, unless the table lacks the data.
            let stored = match what {
                StkWhat::Data(dt, _) | StkWhat::Kbytes(dt) => {
                    t.stores(dt) || fallback(dt).is_some_and(|(a, _)| t.stores(a))
                }
                _ => true,
            };
            stored.then_some(Smp::Int(0))
        }
        StkWhat::Data(dt, idx) => {
            let e = e?;
            match t.read(e, dt, idx as usize) {
                Some(v) => int(v),
                None => {
                    let (a, i) = fallback(dt)?;
                    t.read(e, a, i).map(|v| Smp::Int(v as i64))
                }
            }
        }
        StkWhat::Kbytes(dt) => int(t.read(e?, dt, 0)? >> 10),
        StkWhat::IncGpc(g) => int(t.inc_gpc(e?, g).unwrap_or(0)),
        StkWhat::ClrGpc(g) => int(t.clr_gpc(e?, g).unwrap_or(0)),
        StkWhat::UpdtConnCnt => {
            let e = e?;
            t.count(e, DataType::ConnCnt, DataType::ConnRate, 1);
            int(t.read(e, DataType::ConnCnt, 0).unwrap_or(0))
        }
    }
}

/// gpc0/gpc1/gpt0 and their rates read the arrays' elements when only
/// the arrays are stored.
fn fallback(dt: DataType) -> Option<(DataType, usize)> {
    use DataType::*;
    Some(match dt {
        Gpc0 => (Gpc, 0),
        Gpc1 => (Gpc, 1),
        Gpt0 => (Gpt, 0),
        Gpc0Rate => (GpcRate, 0),
        Gpc1Rate => (GpcRate, 1),
        _ => return None,
    })
}

/// Evaluates a stick-counter fetch for the connection in `info`.
pub fn eval_fetch(f: &StkFetch, info: &crate::sample::Info<'_>) -> Option<crate::sample::Smp> {
    use crate::sample::Smp;
    match &f.src {
        StkSrc::Cnt(t) => Some(Smp::Int(t.as_ref()?.used() as i64)),
        StkSrc::Avl(t) => {
            let t = t.as_ref()?;
            Some(Smp::Int(t.def.size.saturating_sub(t.used() as u64) as i64))
        }
        StkSrc::Src(t) => {
            let t = t.as_ref()?;
            let key = t.key_of(&Smp::Ip(info.src?.ip()))?;
            let creates = matches!(f.what, StkWhat::IncGpc(_) | StkWhat::ClrGpc(_) | StkWhat::UpdtConnCnt);
            let e = if creates { t.get_or_create(&key) } else { t.lookup(&key) };
            eval(t, e.as_ref(), f.what)
        }
        StkSrc::Sc(n, alt) => {
            let tr = info.stk.and_then(|s| s.get(*n));
            let Some(tr) = tr else {
                return (f.what == StkWhat::Tracked).then_some(Smp::Bool(false));
            };
            match alt {
                Some(at) if !Arc::ptr_eq(at, &tr.table) => {
                    let e = at.lookup(&tr.entry.key);
                    eval(at, e.as_ref(), f.what)
                }
                _ => eval(&tr.table, Some(&tr.entry), f.what),
            }
        }
    }
}

/// Evaluates a `table_*` converter on a sample.
pub fn eval_conv(t: &TableRef, what: StkWhat, v: &crate::sample::Smp) -> Option<crate::sample::Smp> {
    let t = t.as_ref()?;
    let key = t.key_of(v)?;
    let e = t.lookup(&key);
    eval(t, e.as_ref(), what)
}

// ---- the CLI (`show table`, `clear table`, `set table`) ----

/// Which table command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CliAct {
    Show,
    Clear,
    Set,
}

/// One `data.<type> <op> <value>` filter.
struct Filter {
    dt: DataType,
    op: &'static str,
    v: i64,
}

fn std_op(s: &str) -> Option<&'static str> {
    ["eq", "ne", "le", "ge", "lt", "gt"].into_iter().find(|o| *o == s)
}

/// C `strl2llrc`: an optional sign then digits, nothing else.
fn strict_int(s: &str) -> Option<i64> {
    let d = s.strip_prefix(['-', '+']).unwrap_or(s);
    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Table {
    /// The value a filter or `set` sees for a data type (element 0 of
    /// arrays, rates over their period).
    fn filter_value(&self, e: &Entry, dt: DataType) -> i64 {
        match dt {
            DataType::ServerKey => 0,
            DataType::ServerId => self.read(e, dt, 0).map_or(0, |v| v as u32 as i32 as i64),
            _ => self.read(e, dt, 0).unwrap_or(0) as i64,
        }
    }
}

/// Runs a table command (`args` as split by the CLI; `oper`: the
/// session's level is operator or more). Returns the CLI's answer.
pub fn cli(act: CliAct, args: &[String], oper: bool) -> String {
    let arg = |i: usize| args.get(i).map(|s| s.as_str()).unwrap_or("");
    let err_args = || -> String {
        match act {
            CliAct::Show => {
                "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n"
            }
            CliAct::Clear => {
                "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n"
            }
            CliAct::Set => "Required arguments: <table> key <key> [data.<store_data_type> <value>]*\n",
        }
        .into()
    };
    let mut out = String::new();
    if arg(2).is_empty() {
        if act != CliAct::Show {
            return err_args();
        }
        // HAProxy lists the tables last declared first.
        for t in tables().iter().rev() {
            t.purge_expired();
            t.dump_head(&mut out);
        }
        return out;
    }
    let Some(t) = find(arg(2)) else {
        return "No such table\n".into();
    };
    t.purge_expired();
    if arg(3) == "key" {
        return cli_key(&t, act, args, oper);
    }
    let mut filters = Vec::new();
    if arg(3).starts_with("data.") {
        if act == CliAct::Set {
            return "content-based lookup is only supported with the \"show\" and \"clear\" actions\n".into();
        }
        let mut i = 0;
        while i < 4 {
            let w = 3 + 3 * i;
            if i > 0 && arg(w).is_empty() {
                break;
            }
            let n = i + 1;
            let Some(dt) = arg(w).strip_prefix("data.").and_then(DataType::by_name) else {
                return format!("Filter entry #{n}: Unknown data type\n");
            };
            if !t.stores(dt) {
                return format!("Filter entry #{n}: Data type not stored in this table\n");
            }
            let Some(op) = std_op(arg(w + 1)) else {
                return format!(
                    "Filter entry #{n}: Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"\n"
                );
            };
            let Some(v) = strict_int(arg(w + 2)) else {
                return format!("Filter entry #{n}: Require a valid integer value to compare against\n");
            };
            filters.push(Filter { dt, op, v });
            i += 1;
        }
        if !arg(3 + 3 * i).is_empty() {
            return format!(
                "Detected extra data in filter, {}th word of input, after '{}'\n",
                3 + 3 * i + 1,
                arg(2 + 3 * i)
            );
        }
    } else if !arg(3).is_empty() {
        return err_args();
    }
    if act == CliAct::Show {
        t.dump_head(&mut out);
        if !oper {
            out.push_str("# contents not dumped due to insufficient privileges\n");
            return out;
        }
    } else if !oper {
        return out;
    }
    for e in t.entries() {
        let keep = filters.iter().all(|f| {
            let d = t.filter_value(&e, f.dt);
            match f.op {
                "eq" => d == f.v,
                "ne" => d != f.v,
                "le" => d <= f.v,
                "ge" => d >= f.v,
                "lt" => d < f.v,
                _ => d > f.v,
            }
        });
        if !keep {
            continue;
        }
        match act {
            CliAct::Show => t.dump_entry(&e, &mut out),
            _ => {
                t.remove(&e.key);
            }
        }
    }
    out
}

/// `... table <t> key <k> [data.<type> <v>]*`.
fn cli_key(t: &Arc<Table>, act: CliAct, args: &[String], oper: bool) -> String {
    let arg = |i: usize| args.get(i).map(|s| s.as_str()).unwrap_or("");
    if arg(4).is_empty() {
        return "Key value expected\n".into();
    }
    let key = match t.key_from_cli(arg(4)) {
        Ok(k) => k,
        Err("") => {
            return match act {
                CliAct::Show => {
                    "Showing keys from tables of type other than ip, ipv6, string and integer is not supported\n"
                }
                CliAct::Clear => {
                    "Removing keys from tables of type other than ip, ipv6, string and integer is not supported\n"
                }
                CliAct::Set => {
                    "Inserting keys into tables of type other than ip, ipv6, string and integer is not supported\n"
                }
            }
            .into()
        }
        Err(e) => return e.into(),
    };
    if !oper {
        return "Permission denied\n".into();
    }
    match act {
        CliAct::Show => {
            let mut out = String::new();
            if let Some(e) = t.lookup(&key) {
                t.dump_head(&mut out);
                t.dump_entry(&e, &mut out);
            }
            out
        }
        CliAct::Clear => {
            if t.lookup(&key).is_some() && !t.remove(&key) {
                return "Entry currently in use, cannot remove\n".into();
            }
            String::new()
        }
        CliAct::Set => {
            let Some(e) = t.get_or_create(&key) else {
                return "Unable to allocate a new entry\n".into();
            };
            let mut i = 5;
            while !arg(i).is_empty() {
                let Some(name) = arg(i).strip_prefix("data.") else {
                    return "\"data.<type>\" followed by a value expected\n".into();
                };
                let Some(dt) = DataType::by_name(name) else {
                    return "Unknown data type\n".into();
                };
                if !t.stores(dt) {
                    return "Data type not stored in this table\n".into();
                }
                let Some(v) = strict_int(arg(i + 1)) else {
                    return "Require a valid integer value to store\n".into();
                };
                t.set(&e, dt, 0, v as u64);
                i += 2;
            }
            String::new()
        }
    }
}

// ---- tracked counters ----

/// One tracked entry.
#[derive(Clone, Debug)]
pub struct Tracked {
    pub table: Arc<Table>,
    pub entry: Arc<Entry>,
}

/// The `track-sc0..2` slots of a client connection (session level:
/// `tcp-request connection|session`) and of the stream in progress
/// (content level: `tcp-request content`, `http-request`, released after
/// each HTTP transaction). Fetches read the stream slot first.
#[derive(Default, Debug)]
pub struct StkSlots {
    slots: [std::cell::RefCell<Option<Tracked>>; 6],
    /// Bytes of each direction already added to the counters.
    bytes_done: std::cell::Cell<(u64, u64)>,
}

pub const MAX_SESS_STKCTR: usize = 3;

impl StkSlots {
    /// The counter `n` (0..2) as fetches see it.
    pub fn get(&self, n: usize) -> Option<Tracked> {
        if n >= MAX_SESS_STKCTR {
            return None;
        }
        self.slots[3 + n]
            .borrow()
            .clone()
            .or_else(|| self.slots[n].borrow().clone())
    }

    pub fn any(&self) -> bool {
        self.slots.iter().any(|s| s.borrow().is_some())
    }

    /// `track-scN`: starts tracking unless the slot is taken (at the
    /// content level, only the stream's own slot counts, as HAProxy).
    /// Returns the entry when it was tracked now.
    pub fn track(&self, n: usize, session: bool, t: &Arc<Table>, key: &[u8]) -> Option<Tracked> {
        let i = if session { n } else { 3 + n };
        if self.slots[i].borrow().is_some() || (session && self.slots[3 + n].borrow().is_some()) {
            return None;
        }
        let e = t.get_or_create(key)?;
        t.hold(&e);
        t.start_counters(&e);
        let tr = Tracked {
            table: t.clone(),
            entry: e,
        };
        *self.slots[i].borrow_mut() = Some(tr.clone());
        Some(tr)
    }

    /// Every tracked counter (stream level first), each once per slot.
    pub fn each(&self, mut f: impl FnMut(&Tracked)) {
        for n in 0..MAX_SESS_STKCTR {
            if let Some(t) = self.get(n) {
                f(&t);
            }
        }
    }

    /// Ends the content-level tracking (end of an HTTP transaction).
    pub fn stop_content(&self) {
        for i in 3..6 {
            if let Some(t) = self.slots[i].borrow_mut().take() {
                t.table.stop_counters(&t.entry);
                t.table.release(&t.entry);
            }
        }
    }

    /// Ends every tracking (end of the connection).
    pub fn stop_all(&self) {
        self.stop_content();
        for i in 0..3 {
            if let Some(t) = self.slots[i].borrow_mut().take() {
                t.table.stop_counters(&t.entry);
                t.table.release(&t.entry);
            }
        }
    }

    /// Moves the session-level slots of `other` (rules run before the
    /// stream existed) into this one.
    pub fn adopt(&self, other: StkSlots) {
        for (i, s) in other.slots.iter().enumerate() {
            if let Some(t) = s.borrow_mut().take() {
                *self.slots[i].borrow_mut() = Some(t);
            }
        }
    }

    /// The connection became a session (HAProxy's `session_count_new`):
    /// sess_cnt and sess_rate of the session-level counters.
    pub fn count_session(&self) {
        for i in 0..MAX_SESS_STKCTR {
            if let Some(t) = self.slots[i].borrow().as_ref() {
                t.table.count(&t.entry, DataType::SessCnt, DataType::SessRate, 1);
            }
        }
    }

    /// A new HTTP request on this connection (HAProxy's
    /// `stream_inc_http_req_ctr`).
    pub fn inc_http_req(&self) {
        self.each(|t| t.table.count(&t.entry, DataType::HttpReqCnt, DataType::HttpReqRate, 1));
    }

    /// A response ends the transaction: 4xx are errors, 5xx but 501 and
    /// 505 failures.
    pub fn on_status(&self, status: u16) {
        if (400..500).contains(&status) {
            self.each(|t| t.table.count(&t.entry, DataType::HttpErrCnt, DataType::HttpErrRate, 1));
        } else if (500..600).contains(&status) && status != 501 && status != 505 {
            self.each(|t| {
                t.table
                    .count(&t.entry, DataType::HttpFailCnt, DataType::HttpFailRate, 1)
            });
        }
    }

    /// Brings the byte counters up to the stream's totals (received from
    /// the client, sent to it).
    pub fn sync_bytes(&self, req_total: u64, res_total: u64) {
        if !self.any() {
            return;
        }
        let (a, b) = self.bytes_done.get();
        self.bytes_done.set((req_total, res_total));
        self.add_bytes(req_total.saturating_sub(a), res_total.saturating_sub(b));
    }

    /// Bytes received from the client / sent to it.
    pub fn add_bytes(&self, inb: u64, outb: u64) {
        if inb == 0 && outb == 0 {
            return;
        }
        self.each(|t| {
            if inb > 0 {
                t.table
                    .count(&t.entry, DataType::BytesInCnt, DataType::BytesInRate, inb);
            }
            if outb > 0 {
                t.table
                    .count(&t.entry, DataType::BytesOutCnt, DataType::BytesOutRate, outb);
            }
        });
    }
}

impl Drop for StkSlots {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// A stream's tracked counters as the stream holds them: nothing but a
/// pointer until a rule first tracks something, then [`StkSlots`] from a
/// per-thread pool (no allocation per connection once warm). Most streams
/// track nothing, and an idle keep-alive connection should cost little.
#[derive(Default, Debug)]
pub struct StkCtrs(std::cell::OnceCell<Box<StkSlots>>);

thread_local! {
    // Boxes, not values: the pool recycles the streams' allocations.
    #[allow(clippy::vec_box)]
    static STK_POOL: std::cell::RefCell<Vec<Box<StkSlots>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Slots kept per thread for reuse; more are freed.
const STK_POOL_MAX: usize = 1024;

impl StkCtrs {
    fn slots(&self) -> Option<&StkSlots> {
        self.0.get().map(|b| &**b)
    }
    /// The counter `n` (0..2) as fetches see it.
    pub fn get(&self, n: usize) -> Option<Tracked> {
        self.slots()?.get(n)
    }
    pub fn any(&self) -> bool {
        self.slots().is_some_and(StkSlots::any)
    }
    /// `track-scN` (see [`StkSlots::track`]).
    pub fn track(&self, n: usize, session: bool, t: &Arc<Table>, key: &[u8]) -> Option<Tracked> {
        let slots = self
            .0
            .get_or_init(|| STK_POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default());
        slots.track(n, session, t, key)
    }
    pub fn each(&self, f: impl FnMut(&Tracked)) {
        if let Some(s) = self.slots() {
            s.each(f)
        }
    }
    pub fn stop_content(&self) {
        if let Some(s) = self.slots() {
            s.stop_content()
        }
    }
    pub fn stop_all(&self) {
        if let Some(s) = self.slots() {
            s.stop_all()
        }
    }
    pub fn count_session(&self) {
        if let Some(s) = self.slots() {
            s.count_session()
        }
    }
    pub fn inc_http_req(&self) {
        if let Some(s) = self.slots() {
            s.inc_http_req()
        }
    }
    pub fn on_status(&self, status: u16) {
        if let Some(s) = self.slots() {
            s.on_status(status)
        }
    }
    pub fn sync_bytes(&self, req_total: u64, res_total: u64) {
        if let Some(s) = self.slots() {
            s.sync_bytes(req_total, res_total)
        }
    }
    pub fn add_bytes(&self, inb: u64, outb: u64) {
        if let Some(s) = self.slots() {
            s.add_bytes(inb, outb)
        }
    }
}

impl Drop for StkCtrs {
    fn drop(&mut self) {
        if let Some(mut b) = self.0.take() {
            // What dropping the slots would do, then back to the pool as new.
            b.stop_all();
            *b = StkSlots::default();
            STK_POOL.with(|p| {
                let mut p = p.borrow_mut();
                if p.len() < STK_POOL_MAX {
                    p.push(b);
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(line: &str) -> Table {
        let w: Vec<String> = line.split_whitespace().map(String::from).collect();
        Table::new("t", config::stick_table::parse(&w, false).unwrap().0)
    }

    #[test]
    fn freq_counter_reads_like_haproxy() {
        let mut w = [0u64; 3];
        let t0 = 10_000_000;
        for _ in 0..10 {
            frq_update(&mut w, 1000, 1, t0);
        }
        assert_eq!(frq_read(&w, 1000, t0), 10);
        // Half of the next period: half of the previous one remains.
        frq_update(&mut w, 1000, 1, t0 + 1500);
        assert_eq!(frq_read(&w, 1000, t0 + 1500), 1 + 10 * 500 / 1000);
        assert_eq!(frq_read(&w, 1000, t0 + 5000), 0);
    }

    #[test]
    fn entries_evict_oldest_unreferenced_when_full() {
        let t = table("stick-table type integer size 2 store gpc0");
        let k = |i: u32| i.to_le_bytes().to_vec();
        let a = t.get_or_create(&k(1)).unwrap();
        t.hold(&a);
        t.get_or_create(&k(2)).unwrap();
        t.get_or_create(&k(3)).unwrap();
        assert!(t.lookup(&k(1)).is_some());
        assert!(t.lookup(&k(2)).is_none());
        assert_eq!(t.inc_gpc(&a, Gpc::Legacy(0)), Some(1));
        let mut s = String::new();
        t.dump_entry(&a, &mut s);
        assert!(s.ends_with(": key=1 use=1 exp=0 gpc0=1\n"), "{s}");
    }

    #[test]
    fn expire_and_idle_converters() {
        use crate::sample::Smp;
        let t = table("stick-table type integer size 2 expire 30s");
        let e = t.get_or_create(&7u32.to_le_bytes()).unwrap();
        let exp = eval(&t, Some(&e), StkWhat::Expire(None))
            .and_then(|v| v.to_int())
            .unwrap();
        assert!((29_000..=30_000).contains(&exp), "{exp}");
        assert!(
            eval(&t, Some(&e), StkWhat::Idle(None))
                .and_then(|v| v.to_int())
                .unwrap()
                < 1000
        );
        // Absent keys: the default, else no sample.
        assert_eq!(eval(&t, None, StkWhat::Idle(Some(66))), Some(Smp::Int(66)));
        assert_eq!(eval(&t, None, StkWhat::Expire(None)), None);
    }

    #[test]
    fn keys_from_samples() {
        use crate::sample::Smp;
        let t = table("stick-table type ip size 2");
        let v6 = table("stick-table type ipv6 size 2");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(t.key_of(&Smp::Ip(ip)), Some(vec![10, 0, 0, 1]));
        assert_eq!(v6.key_of(&Smp::Ip(ip)).unwrap()[10..], [0xff, 0xff, 10, 0, 0, 1]);
        let s = table("stick-table type string len 3 size 2");
        assert_eq!(s.key_of(&Smp::Str(b"abcdef".to_vec())), Some(b"abc".to_vec()));
        let b = table("stick-table type binary len 4 size 2");
        assert_eq!(b.key_of(&Smp::Str(b"ab".to_vec())), Some(b"ab\0\0".to_vec()));
    }
}
