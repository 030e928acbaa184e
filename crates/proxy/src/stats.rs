//! `show stat` and `show info`: HAProxy 2.6's field lists, their order, and
//! the CSV / typed renderings, filled from the shared [`Runtime`] counters.
//!
//! This module owns the field tables (names, positions, typed tags as the
//! 2.6.12 binary prints them) and which field applies to which row kind
//! (FRONTEND, listener, server, BACKEND). It only reads counters; it must not
//! change any state nor know how a CLI session is driven (`cli` does).

use crate::listener::{Kind as LKind, Listener};
use crate::runtime::{ProxyRt, Runtime, ServerRt};
use config::model::{Balance, Mode};
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// The 2.6.12 `show stat` columns: 103 base fields, then the stats-module
/// fields (SSL, H2, H1) printed after a literal `-` column.
pub const FIELDS: [&str; 127] = [
    "pxname",
    "svname",
    "qcur",
    "qmax",
    "scur",
    "smax",
    "slim",
    "stot",
    "bin",
    "bout",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "status",
    "weight",
    "act",
    "bck",
    "chkfail",
    "chkdown",
    "lastchg",
    "downtime",
    "qlimit",
    "pid",
    "iid",
    "sid",
    "throttle",
    "lbtot",
    "tracked",
    "type",
    "rate",
    "rate_lim",
    "rate_max",
    "check_status",
    "check_code",
    "check_duration",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "hanafail",
    "req_rate",
    "req_rate_max",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "comp_in",
    "comp_out",
    "comp_byp",
    "comp_rsp",
    "lastsess",
    "last_chk",
    "last_agt",
    "qtime",
    "ctime",
    "rtime",
    "ttime",
    "agent_status",
    "agent_code",
    "agent_duration",
    "check_desc",
    "agent_desc",
    "check_rise",
    "check_fall",
    "check_health",
    "agent_rise",
    "agent_fall",
    "agent_health",
    "addr",
    "cookie",
    "mode",
    "algo",
    "conn_rate",
    "conn_rate_max",
    "conn_tot",
    "intercepted",
    "dcon",
    "dses",
    "wrew",
    "connect",
    "reuse",
    "cache_lookups",
    "cache_hits",
    "srv_icur",
    "src_ilim",
    "qtime_max",
    "ctime_max",
    "rtime_max",
    "ttime_max",
    "eint",
    "idle_conn_cur",
    "safe_conn_cur",
    "used_conn_cur",
    "need_conn_est",
    "uweight",
    "agg_server_status",
    "agg_server_check_status",
    "agg_check_status",
    // stats modules (after the "-" column)
    "ssl_sess",
    "ssl_reused_sess",
    "ssl_failed_handshake",
    "h2_headers_rcvd",
    "h2_data_rcvd",
    "h2_settings_rcvd",
    "h2_rst_stream_rcvd",
    "h2_goaway_rcvd",
    "h2_detected_conn_protocol_errors",
    "h2_detected_strm_protocol_errors",
    "h2_rst_stream_resp",
    "h2_goaway_resp",
    "h2_open_connections",
    "h2_backend_open_streams",
    "h2_total_connections",
    "h2_backend_total_streams",
    "h1_open_connections",
    "h1_open_streams",
    "h1_total_connections",
    "h1_total_streams",
    "h1_bytes_in",
    "h1_bytes_out",
    "h1_spliced_bytes_in",
    "h1_spliced_bytes_out",
];

/// Number of base fields (before the `-` column).
pub const NB_BASE: usize = 103;

/// The header line of `show stat`.
pub fn csv_header() -> String {
    let mut s = String::from("# ");
    for (i, f) in FIELDS.iter().enumerate() {
        if i == NB_BASE {
            s.push_str("-,");
        }
        s.push_str(f);
        s.push(',');
    }
    s.push('\n');
    s
}

fn pos(name: &str) -> usize {
    FIELDS.iter().position(|f| *f == name).expect("known field")
}

/// Typed value of a cell: the type name printed by `typed` output.
#[derive(Clone, Debug)]
pub enum Val {
    Str(String),
    U32(u64),
    U64(u64),
    S32(i64),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Str(_) => "str",
            Val::U32(_) => "u32",
            Val::U64(_) => "u64",
            Val::S32(_) => "s32",
        }
    }
    pub fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::U32(v) | Val::U64(v) => v.to_string(),
            Val::S32(v) => v.to_string(),
        }
    }
}

/// Output format of `show info` / `show stat` (the last of `typed` and
/// `json` on the command line wins, as in HAProxy).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Plain,
    Typed,
    Json,
}

/// HAProxy's JSON integers stop at 2^53-1 (RFC 7159's interoperable
/// range); a larger value makes it give up on the whole dump.
const JSON_INT_MAX: u64 = (1 << 53) - 1;

/// `"tags":{...}` of a three-letter typed tag (origin, nature, scope).
fn json_tags(out: &mut String, tags: &str) {
    let b = tags.as_bytes();
    let origin = match b[0] {
        b'M' => "Metric",
        b'S' => "Status",
        b'K' => "Key",
        b'C' => "Config",
        b'P' => "Product",
        _ => "Unknown",
    };
    let nature = match b[1] {
        b'G' => "Gauge",
        b'L' => "Limit",
        b'm' => "Min",
        b'M' => "Max",
        b'R' => "Rate",
        b'C' => "Counter",
        b'D' => "Duration",
        b'A' => "Age",
        b'T' => "Time",
        b'N' => "Name",
        b'O' => "Output",
        b'a' => "Avg",
        _ => "Unknown",
    };
    let scope = match b[2] {
        b'P' => "Process",
        b'S' => "Service",
        b's' => "System",
        b'C' => "Cluster",
        _ => "Unknown",
    };
    let _ = write!(
        out,
        "\"tags\":{{\"origin\":\"{origin}\",\"nature\":\"{nature}\",\"scope\":\"{scope}\"}}"
    );
}

/// `,"value":{"type":...,"value":...}`; false when an integer is out of
/// JSON's range. Strings are written as they are: HAProxy 2.6 does not
/// escape them either.
fn json_value(out: &mut String, v: &Val) -> bool {
    match v {
        Val::Str(s) => {
            let _ = write!(out, ",\"value\":{{\"type\":\"str\",\"value\":\"{s}\"}}");
        }
        Val::U64(n) if *n > JSON_INT_MAX => return false,
        Val::U32(n) | Val::U64(n) => {
            let _ = write!(out, ",\"value\":{{\"type\":\"{}\",\"value\":{n}}}", v.type_name());
        }
        Val::S32(n) => {
            let _ = write!(out, ",\"value\":{{\"type\":\"s32\",\"value\":{n}}}");
        }
    }
    true
}

/// What HAProxy prints instead of a JSON dump it could not complete.
const JSON_ERROR: &str = "{\"errorStr\":\"output buffer too short\"}";

/// Row kinds, with HAProxy's `type` column value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    Frontend = 0,
    Backend = 1,
    Server = 2,
    Listener = 3,
}

impl RowKind {
    fn letter(self) -> char {
        match self {
            RowKind::Frontend => 'F',
            RowKind::Backend => 'B',
            RowKind::Server => 'S',
            RowKind::Listener => 'L',
        }
    }
    fn json_name(self) -> &'static str {
        match self {
            RowKind::Frontend => "Frontend",
            RowKind::Backend => "Backend",
            RowKind::Server => "Server",
            RowKind::Listener => "Listener",
        }
    }
}

/// The typed tags (origin, nature, scope) 2.6.12 prints per field; a few
/// differ by row kind.
fn tags(kind: RowKind, p: usize) -> &'static str {
    let name = FIELDS[p];
    match (name, kind) {
        ("act" | "bck", RowKind::Server) => "SGP",
        ("act" | "bck", _) => "MGP",
        ("rate", RowKind::Backend) => "MGP",
        ("rate", _) => "MRP",
        ("rate_max", RowKind::Backend) => "MGP",
        ("rate_max", _) => "MMP",
        ("pxname" | "svname", _) => "KNS",
        ("qcur" | "scur" | "srv_icur" | "idle_conn_cur" | "safe_conn_cur" | "used_conn_cur" | "need_conn_est", _) => {
            "MGP"
        }
        ("agg_server_status" | "agg_server_check_status" | "agg_check_status", _) => "MGP",
        ("h2_open_connections" | "h2_backend_open_streams" | "h1_open_connections" | "h1_open_streams", _) => "MGP",
        ("qmax" | "smax" | "req_rate_max" | "conn_rate_max", _) => "MMP",
        ("qtime_max" | "ctime_max" | "rtime_max" | "ttime_max", _) => "MMP",
        ("slim" | "rate_lim" | "qlimit" | "src_ilim", _) => "CLP",
        ("status", _) => "SGP",
        ("check_status" | "check_code" | "check_desc" | "last_chk", _) => "MOP",
        ("check_duration", _) => "MDP",
        ("check_rise" | "check_fall" | "check_health", _) => "CGS",
        ("weight" | "uweight" | "qtime" | "ctime" | "rtime" | "ttime", _) => "MaP",
        ("lastchg" | "lastsess", _) => "MAP",
        ("pid", _) => "KGP",
        ("iid" | "sid", _) => "KGS",
        ("type" | "addr" | "mode" | "algo" | "cookie", _) => "CGS",
        ("req_rate" | "conn_rate", _) => "MRP",
        _ => "MCP",
    }
}

/// One row being filled: `None` cells print empty.
pub struct Row {
    pub kind: RowKind,
    pub iid: u32,
    pub sid: u32,
    pub cells: Vec<Option<Val>>,
}

impl Row {
    fn new(kind: RowKind, iid: u32, sid: u32) -> Row {
        Row {
            kind,
            iid,
            sid,
            cells: vec![None; FIELDS.len()],
        }
    }
    fn s(&mut self, name: &str, v: impl Into<String>) {
        self.cells[pos(name)] = Some(Val::Str(v.into()));
    }
    fn u32(&mut self, name: &str, v: u64) {
        self.cells[pos(name)] = Some(Val::U32(v));
    }
    fn u64(&mut self, name: &str, v: u64) {
        self.cells[pos(name)] = Some(Val::U64(v));
    }
    fn s32(&mut self, name: &str, v: i64) {
        self.cells[pos(name)] = Some(Val::S32(v));
    }

    /// A filled cell by field name.
    pub fn field(&self, name: &str) -> Option<&Val> {
        self.cells[pos(name)].as_ref()
    }
    /// Empties a cell.
    pub fn clear(&mut self, name: &str) {
        self.cells[pos(name)] = None;
    }
    /// A numeric cell (0 when empty; a negative s32 stays negative).
    pub fn num(&self, name: &str) -> i64 {
        match self.field(name) {
            Some(Val::U32(v) | Val::U64(v)) => *v as i64,
            Some(Val::S32(v)) => *v,
            _ => 0,
        }
    }
    /// A text cell ("" when empty).
    pub fn text_of(&self, name: &str) -> &str {
        match self.field(name) {
            Some(Val::Str(s)) => s,
            _ => "",
        }
    }

    /// The CSV line, with the `-` column and the trailing comma.
    pub fn csv(&self, out: &mut String) {
        for (i, c) in self.cells.iter().enumerate() {
            if i == NB_BASE {
                out.push_str("-,");
            }
            if let Some(v) = c {
                // CSV cells never contain commas in HAProxy's output: it
                // replaces them; names with commas are refused by the parser.
                out.push_str(&v.text().replace(',', " "));
            }
            out.push(',');
        }
        out.push('\n');
    }

    /// `F.<iid>.<sid>.<pos>.<name>.1:<tags>:<type>:<value>` lines.
    pub fn typed(&self, out: &mut String) {
        for (i, c) in self.cells.iter().enumerate() {
            let Some(v) = c else { continue };
            let _ = writeln!(
                out,
                "{}.{}.{}.{}.{}.1:{}:{}:{}",
                self.kind.letter(),
                self.iid,
                self.sid,
                i,
                FIELDS[i],
                tags(self.kind, i),
                v.type_name(),
                v.text()
            );
        }
    }

    /// `[{"objType":..,"proxyId":..,"id":..,"field":..,"processNum":1,
    /// "tags":..,"value":..},...]`, filled fields only; false when a value
    /// does not fit JSON.
    pub fn json(&self, out: &mut String) -> bool {
        out.push('[');
        let mut first = true;
        for (i, c) in self.cells.iter().enumerate() {
            let Some(v) = c else { continue };
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(
                out,
                "{{\"objType\":\"{}\",\"proxyId\":{},\"id\":{},\"field\":{{\"pos\":{},\"name\":\"{}\"}},\"processNum\":1,",
                self.kind.json_name(),
                self.iid,
                self.sid,
                i,
                FIELDS[i]
            );
            json_tags(out, tags(self.kind, i));
            if !json_value(out, v) {
                return false;
            }
            out.push('}');
        }
        out.push(']');
        true
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Http => "http",
        Mode::Tcp => "tcp",
        #[allow(unreachable_patterns)]
        _ => "tcp",
    }
}

fn algo_name(b: &Balance) -> &'static str {
    match b {
        Balance::RoundRobin => "roundrobin",
        Balance::StaticRr => "static-rr",
        Balance::LeastConn => "leastconn",
        Balance::First => "first",
        Balance::Source => "source",
        Balance::Uri { .. } => "uri",
        Balance::UrlParam { .. } => "url_param",
        Balance::Hdr { .. } => "hdr",
        Balance::Random { .. } => "random",
        Balance::RdpCookie { .. } => "rdp-cookie",
    }
}

/// Seconds since `ms` (a `now_ms` timestamp).
fn secs_since(now: u64, ms: u64) -> u64 {
    now.saturating_sub(ms) / 1000
}

fn ld(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Relaxed)
}

/// Effective frontend maxconn: the proxy's, else the global one.
pub fn fe_maxconn(rt: &Runtime, px: &ProxyRt) -> u64 {
    match px.fe_maxconn.load(Relaxed) {
        0 => rt.maxconn.load(Relaxed) as u64,
        n => n as u64,
    }
}

/// HAProxy's default `fullconn`: a tenth (rounded up) of the maxconn of
/// the frontends that can reach this backend, at least 1.
pub fn fullconn(rt: &Runtime, be: &ProxyRt) -> u64 {
    if let Some(f) = be.cfg.fullconn {
        return f as u64;
    }
    let mut tot = 0u64;
    for fe in rt.proxies.iter().filter(|p| p.is_frontend && !p.cfg.disabled) {
        if fe.default_backend == Some(be.idx) || fe.use_backends.contains(&be.idx) {
            tot += fe_maxconn(rt, fe);
        }
    }
    tot.div_ceil(10).max(1)
}

fn common_counters(r: &mut Row, c: &crate::counters::Counters) {
    r.u32("smax", ld(&c.max_sess));
    r.u64("stot", ld(&c.cum_sess));
    r.u64("bin", ld(&c.bytes_in));
    r.u64("bout", ld(&c.bytes_out));
}

fn http_rsp(r: &mut Row, c: &crate::counters::Counters) {
    for (i, n) in ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other"]
        .iter()
        .enumerate()
    {
        r.u64(n, ld(&c.http_rsp[i]));
    }
}

fn modules(r: &mut Row, with_mux: bool) {
    for name in &FIELDS[NB_BASE..] {
        if name.starts_with("ssl_") || with_mux {
            r.u64(name, 0);
        }
    }
}

pub fn frontend_row(rt: &Runtime, px: &ProxyRt, now: u64) -> Row {
    let c = &px.fe_counters;
    let mut r = Row::new(RowKind::Frontend, px.id, 0);
    r.s("pxname", &px.name);
    r.s("svname", "FRONTEND");
    r.u32("scur", ld(&c.cur_sess));
    common_counters(&mut r, c);
    r.u32("slim", fe_maxconn(rt, px));
    r.u64("dreq", ld(&c.denied_req));
    r.u64("dresp", ld(&c.denied_resp));
    r.u64("ereq", ld(&c.failed_req));
    let stopped = px.cfg.disabled || rt.stopping.load(Relaxed);
    r.s("status", if stopped { "STOP" } else { "OPEN" });
    r.u32("pid", 1);
    r.u32("iid", px.id as u64);
    r.u32("sid", 0);
    r.u32("type", 0);
    r.u32("rate", c.sess_rate.rate(now));
    r.u32("rate_lim", 0);
    r.u32("rate_max", ld(&c.max_sess_rate));
    if px.mode == Mode::Http {
        http_rsp(&mut r, c);
        r.u64("intercepted", ld(&c.intercepted));
        r.u64("cache_lookups", 0);
        r.u64("cache_hits", 0);
    }
    r.u32("req_rate", c.req_rate.rate(now));
    r.u32("req_rate_max", ld(&c.max_req_rate));
    r.u64("req_tot", ld(&c.cum_req));
    for n in ["comp_in", "comp_out", "comp_byp", "comp_rsp"] {
        r.u64(n, 0);
    }
    r.s("mode", mode_name(px.mode));
    r.u32("conn_rate", c.conn_rate.rate(now));
    r.u32("conn_rate_max", ld(&c.max_conn_rate));
    r.u64("conn_tot", ld(&c.cum_conn));
    r.u64("dcon", 0);
    r.u64("dses", 0);
    r.u64("wrew", ld(&c.failed_rewrites));
    r.u64("eint", ld(&c.internal_errors));
    modules(&mut r, true);
    r
}

pub fn listener_row(px: &ProxyRt, l: &Listener) -> Row {
    let c = &l.counters;
    let mut r = Row::new(RowKind::Listener, px.id, l.id);
    r.s("pxname", &px.name);
    r.s("svname", &l.name);
    r.u32("scur", ld(&c.cur_sess));
    common_counters(&mut r, c);
    r.u32("slim", l.maxconn as u64);
    r.u64("dreq", ld(&c.denied_req));
    r.u64("dresp", ld(&c.denied_resp));
    r.u64("ereq", ld(&c.failed_req));
    r.s("status", "OPEN");
    r.u32("pid", 1);
    r.u32("iid", px.id as u64);
    r.u32("sid", l.id as u64);
    r.u32("type", 3);
    r.s("mode", mode_name(px.mode));
    r.u64("dcon", 0);
    r.u64("dses", 0);
    r.u64("wrew", ld(&c.failed_rewrites));
    r.u64("eint", ld(&c.internal_errors));
    modules(&mut r, true);
    r
}

/// A server's `status` column (see `checks::status_text`).
pub fn server_status(sv: &ServerRt) -> String {
    crate::checks::status_text(sv)
}

/// The health-check columns of a server with `check` (HAProxy fills them
/// only while the check is enabled and not paused by maintenance).
fn check_fields(r: &mut Row, sv: &ServerRt, now: u64) {
    let chk = &sv.chk;
    if !chk.enabled {
        return;
    }
    r.u64("chkfail", ld(&chk.failed));
    r.u64("chkdown", ld(&chk.down_trans));
    let mut down = ld(&chk.down_time);
    if !sv.up.load(Relaxed) {
        down += now / 1000 - (sv.last_change_ms.load(Relaxed) / 1000).min(now / 1000);
    }
    r.u32("downtime", down);
    if sv.in_maint() {
        return;
    }
    let rep = chk.report();
    let st = rep.status.info();
    r.s(
        "check_status",
        if chk.in_progress.load(Relaxed) {
            format!("* {st}")
        } else {
            st.to_string()
        },
    );
    if rep.status as u32 > 14 {
        r.u32("check_code", rep.code as u64);
    }
    if rep.status as u32 >= 3 {
        r.u64("check_duration", rep.duration.max(0) as u64);
    }
    r.s("check_desc", rep.status.desc());
    r.s("last_chk", rep.desc);
    r.u32("check_rise", sv.cfg.rise as u64);
    r.u32("check_fall", sv.cfg.fall as u64);
    r.u32("check_health", chk.health.load(Relaxed) as u64);
}

pub fn server_row(px: &ProxyRt, sv: &ServerRt, now: u64) -> Row {
    let c = &sv.counters;
    let mut r = Row::new(RowKind::Server, px.id, sv.id);
    r.s("pxname", &px.name);
    r.s("svname", &sv.name);
    r.u32("qcur", ld(&c.nbpend));
    r.u32("qmax", ld(&c.max_nbpend));
    r.u32("scur", sv.served.load(Relaxed) as u64);
    common_counters(&mut r, c);
    let maxconn = sv.maxconn.load(Relaxed);
    if maxconn > 0 {
        r.u32("slim", maxconn as u64);
    }
    r.u64("dresp", ld(&c.denied_resp));
    r.u64("econ", ld(&c.failed_conns));
    r.u64("eresp", ld(&c.failed_resp));
    r.u64("wretr", ld(&c.retries));
    r.u64("wredis", ld(&c.redispatches));
    r.s("status", server_status(sv));
    let uw = sv.uweight.load(Relaxed) as u64;
    let fresh = sv.admin.load(Relaxed) & crate::server::ADM_FRESH != 0;
    r.u32("weight", if fresh { 1 } else { uw });
    r.u32("act", u64::from(!sv.cfg.backup));
    r.u32("bck", u64::from(sv.cfg.backup));
    r.u32("lastchg", secs_since(now, sv.last_change_ms.load(Relaxed)));
    check_fields(&mut r, sv, now);
    let mq = sv.maxqueue.load(Relaxed);
    if mq > 0 {
        r.u32("qlimit", mq as u64);
    }
    r.u32("pid", 1);
    r.u32("iid", px.id as u64);
    r.u32("sid", sv.id as u64);
    r.u64("lbtot", ld(&c.cum_lbconn));
    r.u32("type", 2);
    r.u32("rate", c.sess_rate.rate(now));
    r.u32("rate_max", ld(&c.max_sess_rate));
    if px.mode == Mode::Http {
        http_rsp(&mut r, c);
        r.u64("req_tot", ld(&c.cum_req));
    }
    r.u64("cli_abrt", ld(&c.cli_aborts));
    r.u64("srv_abrt", ld(&c.srv_aborts));
    let last = ld(&c.last_sess_ms);
    r.s32("lastsess", if last == 0 { -1 } else { secs_since(now, last) as i64 });
    time_avgs(&mut r, c, px.mode);
    if !sv.addr_unset() {
        r.s("addr", sv.target.lock().unwrap_or_else(|e| e.into_inner()).display());
    }
    if let Some(ck) = &sv.cfg.cookie {
        r.s("cookie", ck);
    }
    r.s("mode", mode_name(px.mode));
    r.u64("wrew", ld(&c.failed_rewrites));
    r.u64("connect", ld(&c.connect));
    r.u64("reuse", ld(&c.reuse));
    r.u32("srv_icur", sv.idle.total() as u64);
    if sv.cfg.pool_max_conn >= 0 {
        r.u32("src_ilim", sv.cfg.pool_max_conn as u64);
    }
    r.u32("qtime_max", ld(&c.q_time_max));
    r.u32("ctime_max", ld(&c.c_time_max));
    r.u32("rtime_max", ld(&c.d_time_max));
    r.u32("ttime_max", ld(&c.t_time_max));
    r.u64("eint", ld(&c.internal_errors));
    let (idle_nb, safe_nb) = sv.idle.counts();
    r.u32("idle_conn_cur", idle_nb as u64);
    r.u32("safe_conn_cur", safe_nb as u64);
    r.u32("need_conn_est", sv.est_need.load(Relaxed) as u64);
    r.u32("used_conn_cur", sv.served.load(Relaxed) as u64);
    r.u32("uweight", uw);
    modules(&mut r, false);
    r
}

/// qtime/ctime/rtime/ttime: the averages of the last TIME_STATS_SAMPLES
/// transactions' times, over fewer while fewer were counted (requests in
/// HTTP, LB picks in TCP), as HAProxy divides them.
fn time_avgs(r: &mut Row, c: &crate::counters::Counters, mode: Mode) {
    use crate::counters::{swrate_avg, swrate_window};
    let samples = if mode == Mode::Http { &c.cum_req } else { &c.cum_lbconn };
    let n = swrate_window(samples.load(Relaxed));
    r.u32("qtime", swrate_avg(c.q_time.load(Relaxed), n) as u64);
    r.u32("ctime", swrate_avg(c.c_time.load(Relaxed), n) as u64);
    r.u32("rtime", swrate_avg(c.d_time.load(Relaxed), n) as u64);
    r.u32("ttime", swrate_avg(c.t_time.load(Relaxed), n) as u64);
}

/// The weight the LB uses (sum of usable active servers' weights; without
/// any, the first usable backup's, or all backups' with `allbackups`) and
/// the usable active/backup counts.
pub fn backend_weights(px: &ProxyRt) -> (u64, u64, u64) {
    let (mut wa, mut wb, mut na, mut nb) = (0u64, 0u64, 0u64, 0u64);
    let mut first_bck = None;
    for sv in &px.servers {
        if !sv.usable() {
            continue;
        }
        let w = sv.uweight.load(Relaxed) as u64;
        if sv.cfg.backup {
            nb += 1;
            wb += w;
            first_bck.get_or_insert(w);
        } else {
            na += 1;
            wa += w;
        }
    }
    let w = if na > 0 {
        wa
    } else if px.cfg.options.allbackups {
        wb
    } else {
        first_bck.unwrap_or(0)
    };
    (w, na, nb)
}

pub fn backend_row(rt: &Runtime, px: &ProxyRt, now: u64, counts: bool) -> Row {
    let c = &px.be_counters;
    let mut r = Row::new(RowKind::Backend, px.id, 0);
    r.s("pxname", &px.name);
    r.s("svname", "BACKEND");
    r.u32("qcur", ld(&c.nbpend));
    r.u32("qmax", ld(&c.max_nbpend));
    r.u32("scur", ld(&c.cur_sess));
    common_counters(&mut r, c);
    r.u32("slim", fullconn(rt, px));
    r.u64("dreq", ld(&c.denied_req));
    r.u64("dresp", ld(&c.denied_resp));
    r.u64("econ", ld(&c.failed_conns));
    r.u64("eresp", ld(&c.failed_resp));
    r.u64("wretr", ld(&c.retries));
    r.u64("wredis", ld(&c.redispatches));
    let (w, na, nb) = backend_weights(px);
    let live = || px.servers.iter().filter(|s| !s.is_deleted());
    let nbsrv = live().count();
    // 2.6: UP while some weight is usable, or when there is no server at
    // all (a dispatch/transparent backend); servers count as up unless
    // stopped (down or in maintenance).
    let mut status = String::from(if w > 0 || nbsrv == 0 { "UP" } else { "DOWN" });
    if counts {
        let nbup = live().filter(|s| s.up.load(Relaxed) && !s.in_maint()).count();
        let _ = write!(status, " ({nbup}/{nbsrv})");
    }
    r.s("status", status);
    r.u32("weight", w);
    r.u32("act", na);
    r.u32("bck", nb);
    r.u64("chkdown", 0);
    r.u32("lastchg", secs_since(now, px.last_change_ms.load(Relaxed)));
    if nbsrv > 0 {
        // Time without usable weight since the backend's last change (it
        // starts at process start; transitions are not accumulated yet).
        let down = if w == 0 {
            secs_since(now, px.last_change_ms.load(Relaxed))
        } else {
            0
        };
        r.u32("downtime", down);
    }
    r.u32("pid", 1);
    r.u32("iid", px.id as u64);
    r.u32("sid", 0);
    r.u64("lbtot", ld(&c.cum_lbconn));
    r.u32("type", 1);
    r.u32("rate", c.sess_rate.rate(now));
    r.u32("rate_max", ld(&c.max_sess_rate));
    if px.mode == Mode::Http {
        http_rsp(&mut r, c);
        r.u64("req_tot", ld(&c.cum_req));
        r.u64("cache_lookups", 0);
        r.u64("cache_hits", 0);
    }
    r.u64("cli_abrt", ld(&c.cli_aborts));
    r.u64("srv_abrt", ld(&c.srv_aborts));
    for n in ["comp_in", "comp_out", "comp_byp", "comp_rsp"] {
        r.u64(n, 0);
    }
    let last = ld(&c.last_sess_ms);
    r.s32("lastsess", if last == 0 { -1 } else { secs_since(now, last) as i64 });
    time_avgs(&mut r, c, px.mode);
    r.s("mode", mode_name(px.mode));
    if let Some(ck) = &px.cookie {
        r.s("cookie", &ck.name);
    }
    r.s("algo", algo_name(&px.cfg.balance));
    r.u64("wrew", ld(&c.failed_rewrites));
    r.u64("connect", ld(&c.connect));
    r.u64("reuse", ld(&c.reuse));
    r.u32("qtime_max", ld(&c.q_time_max));
    r.u32("ctime_max", ld(&c.c_time_max));
    r.u32("rtime_max", ld(&c.d_time_max));
    r.u32("ttime_max", ld(&c.t_time_max));
    r.u64("eint", ld(&c.internal_errors));
    r.u32("uweight", w);
    for n in ["agg_server_status", "agg_server_check_status", "agg_check_status"] {
        r.u32(n, 0);
    }
    modules(&mut r, true);
    r
}

/// `up` hides servers in maintenance and those down for good: unchecked,
/// or with no health left (one on its way up stays visible; draining
/// servers are up).
fn hidden_when_up_only(sv: &ServerRt) -> bool {
    sv.in_maint() || (!sv.up.load(Relaxed) && (!sv.chk.enabled || sv.chk.health.load(Relaxed) == 0))
}

/// What `show stat` selects.
#[derive(Clone, Debug)]
pub struct StatFilter {
    /// Proxy id, or -1 for all.
    pub iid: i64,
    /// Type mask: 1 frontends, 2 backends, 4 servers (-1: all).
    pub types: i64,
    /// Server id, or -1 for all.
    pub sid: i64,
    pub format: Format,
    pub up_only: bool,
    pub no_maint: bool,
}

impl Default for StatFilter {
    fn default() -> Self {
        StatFilter {
            iid: -1,
            types: -1,
            sid: -1,
            format: Format::Plain,
            up_only: false,
            no_maint: false,
        }
    }
}

/// Rows in HAProxy's order: per proxy in configuration order, FRONTEND,
/// listeners (with `option socket-stats`), servers, BACKEND.
pub fn rows(rt: &Runtime, listeners: &[Listener], f: &StatFilter, now: u64) -> Vec<Row> {
    rows_where(rt, listeners, f, now, |_| true)
}

/// [`rows`] of the proxies `keep` accepts (the stats page's scopes).
pub fn rows_where(
    rt: &Runtime,
    listeners: &[Listener],
    f: &StatFilter,
    now: u64,
    keep: impl Fn(&ProxyRt) -> bool,
) -> Vec<Row> {
    let mut out = Vec::new();
    let want = |bit: i64| f.types == -1 || f.types & bit != 0;
    for px in &rt.proxies {
        if px.cfg.disabled || (f.iid != -1 && px.id as i64 != f.iid) || !keep(px) {
            continue;
        }
        if px.is_frontend && want(1) && f.sid <= 0 {
            out.push(frontend_row(rt, px, now));
        }
        if px.is_frontend && px.cfg.options.socket_stats && want(1) {
            for l in listeners.iter().filter(|l| l.kind == LKind::Proxy(px.idx)) {
                if f.sid == -1 || f.sid == l.id as i64 {
                    out.push(listener_row(px, l));
                }
            }
        }
        if px.is_backend && want(4) {
            for sv in px.servers.iter().filter(|s| !s.is_deleted()) {
                if f.sid != -1 && f.sid != sv.id as i64 {
                    continue;
                }
                if (f.up_only && hidden_when_up_only(sv)) || (f.no_maint && sv.in_maint()) {
                    continue;
                }
                out.push(server_row(px, sv, now));
            }
        }
        if px.is_backend && want(2) && f.sid <= 0 {
            out.push(backend_row(rt, px, now, f.up_only || f.no_maint));
        }
    }
    out
}

/// The whole `show stat` answer.
pub fn show_stat(rt: &Runtime, listeners: &[Listener], f: &StatFilter, now: u64) -> String {
    render(&rows(rt, listeners, f, now), f.format)
}

/// Rows in a `show stat` format (also the stats page's CSV, typed and
/// JSON exports).
pub fn render(rows: &[Row], format: Format) -> String {
    let mut s = String::new();
    match format {
        // Typed rows follow each other without a separator line.
        Format::Typed => {
            for r in rows {
                r.typed(&mut s);
            }
        }
        Format::Json => {
            s.push('[');
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                if !r.json(&mut s) {
                    return format!("{JSON_ERROR}\n");
                }
            }
            s.push_str("]\n");
        }
        Format::Plain => {
            s.push_str(&csv_header());
            for r in rows {
                r.csv(&mut s);
            }
        }
    }
    s
}

/// A JSON value, for the schema below.
enum J {
    Obj(Vec<(&'static str, J)>),
    Arr(Vec<J>),
    Str(&'static str),
    Int(i64),
    /// Written as is (HAProxy's text has a stray space in one list).
    Raw(&'static str),
}

impl J {
    fn write(&self, out: &mut String) {
        match self {
            J::Obj(kv) => {
                out.push('{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{k}\":");
                    v.write(out);
                }
                out.push('}');
            }
            J::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::Str(s) => {
                let _ = write!(out, "\"{s}\"");
            }
            J::Int(n) => {
                let _ = write!(out, "{n}");
            }
            J::Raw(r) => out.push_str(r),
        }
    }
}

/// The JSON schema of the `json` outputs (`show schema json`, the stats
/// page's `;json-schema`), as HAProxy 2.6 describes them.
pub fn json_schema() -> String {
    use J::*;
    let strs = |v: &[&'static str]| Arr(v.iter().map(|s| Str(s)).collect());
    let reff = |r: &'static str| Obj(vec![("$ref", Str(r))]);
    let int_min = |m: i64| Obj(vec![("type", Str("integer")), ("minimum", Int(m))]);
    let string = || Obj(vec![("type", Str("string"))]);
    let str_enum = |v: &[&'static str]| Obj(vec![("type", Str("string")), ("enum", strs(v))]);
    let typed = |t: &'static str, value: J| {
        Obj(vec![
            ("properties", Obj(vec![("type", str_enum(&[t])), ("value", value)])),
            ("required", strs(&["type", "value"])),
        ])
    };
    let range = |lo: i64, hi: i64| {
        Obj(vec![
            ("type", Str("integer")),
            ("minimum", Int(lo)),
            ("maximum", Int(hi)),
        ])
    };
    const JS_MAX: i64 = (1 << 53) - 1;
    let common = |v: &mut Vec<(&'static str, J)>| {
        v.push(("field", reff("#/definitions/field")));
        v.push(("processNum", reff("#/definitions/processNum")));
        v.push(("tags", reff("#/definitions/tags")));
    };
    let mut info_props = Vec::new();
    common(&mut info_props);
    info_props.push(("value", reff("#/definitions/typedValue")));
    let mut stat_props = vec![
        (
            "objType",
            Obj(vec![(
                "enum",
                strs(&["Frontend", "Backend", "Listener", "Server", "Unknown"]),
            )]),
        ),
        ("proxyId", int_min(0)),
        ("id", int_min(0)),
    ];
    common(&mut stat_props);
    stat_props.push(("typedValue", reff("#/definitions/typedValue")));
    let item = |title: &'static str, props: Vec<(&'static str, J)>, req: &[&'static str]| {
        Obj(vec![
            ("title", Str(title)),
            ("type", Str("array")),
            (
                "items",
                Obj(vec![
                    ("title", Str("InfoItem")),
                    ("type", Str("object")),
                    ("properties", Obj(props)),
                    ("required", strs(req)),
                ]),
            ),
        ])
    };
    let tv = |n: &'static str| reff(n);
    let schema = Obj(vec![
        ("$schema", Str("http://json-schema.org/draft-04/schema#")),
        (
            "oneOf",
            Arr(vec![
                item("Info", info_props, &["field", "processNum", "tags", "value"]),
                item(
                    "Stat",
                    stat_props,
                    &["objType", "proxyId", "id", "field", "processNum", "tags", "value"],
                ),
                Obj(vec![
                    ("title", Str("Error")),
                    ("type", Str("object")),
                    ("properties", Obj(vec![("errorStr", string())])),
                    ("required", strs(&["errorStr"])),
                ]),
            ]),
        ),
        (
            "definitions",
            Obj(vec![
                (
                    "field",
                    Obj(vec![
                        ("type", Str("object")),
                        ("pos", int_min(0)),
                        ("name", string()),
                        ("required", strs(&["pos", "name"])),
                    ]),
                ),
                ("processNum", int_min(1)),
                (
                    "tags",
                    Obj(vec![
                        ("type", Str("object")),
                        ("origin", str_enum(&["Metric", "Status", "Key", "Config", "Product", "Unknown"])),
                        (
                            "nature",
                            Obj(vec![
                                ("type", Str("string")),
                                (
                                    "enum",
                                    Raw("[\"Gauge\",\"Limit\",\"Min\",\"Max\",\"Rate\",\"Counter\",\"Duration\",\"Age\",\"Time\",\"Name\",\"Output\",\"Avg\", \"Unknown\"]"),
                                ),
                            ]),
                        ),
                        ("scope", str_enum(&["Cluster", "Process", "Service", "System", "Unknown"])),
                        ("required", strs(&["origin", "nature", "scope"])),
                    ]),
                ),
                (
                    "typedValue",
                    Obj(vec![
                        ("type", Str("object")),
                        (
                            "oneOf",
                            Arr(vec![
                                tv("#/definitions/typedValue/definitions/s32Value"),
                                tv("#/definitions/typedValue/definitions/s64Value"),
                                tv("#/definitions/typedValue/definitions/u32Value"),
                                tv("#/definitions/typedValue/definitions/u64Value"),
                                tv("#/definitions/typedValue/definitions/strValue"),
                            ]),
                        ),
                        (
                            "definitions",
                            Obj(vec![
                                ("s32Value", typed("s32", range(i32::MIN as i64, i32::MAX as i64))),
                                ("s64Value", typed("s64", range(-JS_MAX, JS_MAX))),
                                ("u32Value", typed("u32", range(0, u32::MAX as i64))),
                                ("u64Value", typed("u64", range(0, JS_MAX))),
                                ("strValue", typed("str", string())),
                                (
                                    "unknownValue",
                                    Obj(vec![
                                        (
                                            "properties",
                                            Obj(vec![("type", int_min(0)), ("value", str_enum(&["unknown"]))]),
                                        ),
                                        ("required", strs(&["type", "value"])),
                                    ]),
                                ),
                            ]),
                        ),
                    ]),
                ),
            ]),
        ),
    ]);
    let mut out = String::with_capacity(3072);
    schema.write(&mut out);
    out.push('\n');
    out
}

/// `show info` fields in 2.6's positions: (name, typed tags, value); `None`
/// for the fields 2.6 leaves empty here (zlib memory without zlib, an unset
/// `description`), which keep their position but are never printed.
pub fn info_fields(rt: &Runtime, nbthread: usize, now: u64) -> Vec<(&'static str, &'static str, Option<Val>)> {
    let up_ms = now.saturating_sub(rt.start_ms);
    let up = up_ms / 1000;
    let uptime = format!(
        "{}d {}h{:02}m{:02}s",
        up / 86400,
        (up / 3600) % 24,
        (up / 60) % 60,
        up % 60
    );
    let maxsock = reactor::fd::table().len() as u64;
    let maxconn = rt.maxconn.load(Relaxed) as u64;
    let hard = rt.cfg.global.maxconn.map(|m| m as u64).unwrap_or(maxconn);
    let node = rt.cfg.global.node.clone().unwrap_or_else(|| {
        let mut u: libc::utsname = unsafe_zeroed_utsname();
        // SAFETY: uname fills the struct we own; on failure it stays zeroed.
        unsafe {
            libc::uname(&mut u);
        }
        cstr_field(&u.nodename)
    });
    let version = config::features::VERSION.to_string();
    let tot_out: u64 = rt.proxies.iter().map(|p| ld(&p.fe_counters.bytes_out)).sum();
    let ctx_jobs = rt.jobs.load(Relaxed) as u64;
    use Val::*;
    let fields = vec![
        ("Name", "POS", Str("HAProxy".into())),
        ("Version", "POS", Str(version.clone())),
        ("Release_date", "POS", Str("2026/11/24".into())),
        ("Nbthread", "CGS", U32(nbthread as u64)),
        ("Nbproc", "CGS", U32(1)),
        ("Process_num", "KGP", U32(1)),
        ("Pid", "SGP", U32(rt.pid as u64)),
        ("Uptime", "MDP", Str(uptime)),
        ("Uptime_sec", "MDP", U32(up)),
        ("Memmax_MB", "CLP", U32(0)),
        ("PoolAlloc_MB", "MGP", U32(0)),
        ("PoolUsed_MB", "MGP", U32(0)),
        ("PoolFailed", "MCP", U32(0)),
        ("Ulimit-n", "CLP", U32(maxsock)),
        ("Maxsock", "CLP", U32(maxsock)),
        ("Maxconn", "CLP", U32(maxconn)),
        ("Hard_maxconn", "CLP", U32(hard)),
        ("CurrConns", "MGP", U32(rt.curr_conns.load(Relaxed) as u64)),
        ("CumConns", "MCP", U32(ld(&rt.cum_conns))),
        ("CumReq", "MCP", U32(ld(&rt.cum_req))),
        ("MaxSslConns", "MMP", U32(0)),
        ("CurrSslConns", "MGP", U32(0)),
        ("CumSslConns", "MCP", U32(0)),
        ("Maxpipes", "CLP", U32(0)),
        ("PipesUsed", "MGP", U32(0)),
        ("PipesFree", "MGP", U32(0)),
        ("ConnRate", "MRP", U32(rt.conn_rate.rate(now))),
        ("ConnRateLimit", "CLP", U32(ld(&rt.cps_lim))),
        ("MaxConnRate", "MMP", U32(ld(&rt.max_conn_rate))),
        ("SessRate", "MRP", U32(rt.sess_rate.rate(now))),
        ("SessRateLimit", "CLP", U32(ld(&rt.sps_lim))),
        ("MaxSessRate", "MRP", U32(ld(&rt.max_sess_rate))),
        ("SslRate", "MRP", U32(0)),
        ("SslRateLimit", "CLP", U32(0)),
        ("MaxSslRate", "MMP", U32(0)),
        ("SslFrontendKeyRate", "MGP", U32(0)),
        ("SslFrontendMaxKeyRate", "MMP", U32(0)),
        ("SslFrontendSessionReuse_pct", "MGP", U32(0)),
        ("SslBackendKeyRate", "MRP", U32(0)),
        ("SslBackendMaxKeyRate", "MMP", U32(0)),
        ("SslCacheLookups", "MCP", U32(0)),
        ("SslCacheMisses", "MCP", U32(0)),
        ("CompressBpsIn", "MRP", U32(0)),
        ("CompressBpsOut", "MRP", U32(0)),
        ("CompressBpsRateLim", "CLP", U32(ld(&rt.comp_rate_lim))),
        ("ZlibMemUsage", "", Str(String::new())),
        ("MaxZlibMemUsage", "", Str(String::new())),
        ("Tasks", "MGP", U32(0)),
        ("Run_queue", "MGP", U32(0)),
        ("Idle_pct", "MaP", U32(100)),
        ("node", "COS", Str(node)),
        (
            "description",
            "COS",
            Str(rt.cfg.global.description.clone().unwrap_or_default()),
        ),
        ("Stopping", "MGP", U32(u64::from(rt.stopping.load(Relaxed)))),
        ("Jobs", "MGP", U32(ctx_jobs)),
        ("Unstoppable Jobs", "MGP", U32(0)),
        ("Listeners", "MGP", U32(rt.listeners.load(Relaxed) as u64)),
        ("ActivePeers", "MGP", U32(0)),
        ("ConnectedPeers", "MGP", U32(0)),
        (
            "DroppedLogs",
            "MGP",
            U32(crate::log::DROPPED.load(Relaxed) & 0xffff_ffff),
        ),
        ("BusyPolling", "MGP", U32(0)),
        ("FailedResolutions", "MGP", U32(0)),
        ("TotalBytesOut", "MGP", U64(tot_out)),
        ("TotalSplicdedBytesOut", "MGP", U64(0)),
        ("BytesOutRate", "MRP", U64(0)),
        ("DebugCommandsIssued", "MGP", U32(0)),
        ("CumRecvLogs", "MCP", U32(0)),
        ("Build info", "POS", Str(version)),
        ("Memmax_bytes", "CLP", U32(0)),
        ("PoolAlloc_bytes", "MGP", U64(0)),
        ("PoolUsed_bytes", "MGP", U64(0)),
        ("Start_time_sec", "MDP", U32(rt.start_unix)),
        ("Tainted", "SGP", Str(tainted_text())),
    ];
    fields
        .into_iter()
        .map(|(n, t, v)| {
            // Empty strings are HAProxy's empty fields (never printed).
            let set = !t.is_empty() && !matches!(&v, Str(s) if s.is_empty());
            (n, t, set.then_some(v))
        })
        .collect()
}

/// HAProxy's taint bits: 0x10 expert-mode command used, 0x20 experimental.
pub static TAINTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// HAProxy prints the taint mask with C's `%#x`: `0`, or `0x..`.
fn tainted_text() -> String {
    match TAINTED.load(Relaxed) {
        0 => "0".into(),
        t => format!("{t:#x}"),
    }
}

fn unsafe_zeroed_utsname() -> libc::utsname {
    // SAFETY: utsname is plain data (arrays of chars); all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn cstr_field(f: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The whole `show info` answer (plain `Name: value`, typed or JSON).
pub fn show_info(rt: &Runtime, nbthread: usize, now: u64, format: Format) -> String {
    let mut s = String::new();
    if format == Format::Json {
        s.push('[');
    }
    let mut first = true;
    for (i, (name, tags, v)) in info_fields(rt, nbthread, now).into_iter().enumerate() {
        let Some(v) = v else { continue };
        match format {
            Format::Typed => {
                let _ = writeln!(s, "{i}.{name}.1:{tags}:{}:{}", v.type_name(), v.text());
            }
            Format::Plain => {
                let _ = writeln!(s, "{name}: {}", v.text());
            }
            Format::Json => {
                if !first {
                    s.push(',');
                }
                let _ = write!(s, "{{\"field\":{{\"pos\":{i},\"name\":\"{name}\"}},\"processNum\":1,");
                json_tags(&mut s, tags);
                if !json_value(&mut s, &v) {
                    return format!("{JSON_ERROR}\n");
                }
                s.push('}');
            }
        }
        first = false;
    }
    if format == Format::Json {
        s.push_str("]\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_shape() {
        let s = json_schema();
        assert!(
            s.starts_with("{\"$schema\":\"http://json-schema.org/draft-04/schema#\",\"oneOf\":[{\"title\":\"Info\",")
        );
        assert!(s.ends_with("\"required\":[\"type\",\"value\"]}}}}}\n"));
        assert!(s.contains("\"u64Value\":{\"properties\":{\"type\":{\"type\":\"string\",\"enum\":[\"u64\"]},\"value\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9007199254740991}}"));
        assert_eq!(s.matches('{').count(), s.matches('}').count());
        assert_eq!(s.len(), 2783);
    }

    #[test]
    fn header_is_2_6_12() {
        let h = csv_header();
        assert!(h.starts_with("# pxname,svname,qcur,qmax,scur,smax,slim,stot,"));
        assert!(h.contains(",agg_check_status,-,ssl_sess,"));
        assert!(h.ends_with(",h1_spliced_bytes_in,h1_spliced_bytes_out,\n"));
        // 103 base + '-' + 24 module fields, each followed by a comma.
        assert_eq!(h.matches(',').count(), 128);
    }
}
