//! The `stick-table` line of a proxy (and `table` of a `peers` section):
//! its grammar, its data types and HAProxy's texts for what is wrong in
//! it. Owns the typed declaration only; the tables themselves (entries,
//! counters, expiry) live in the proxy crate.

use crate::units::{parse_size, parse_time_ms, TimeError};

/// What a table is keyed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Ip,
    Ipv6,
    Integer,
    String,
    Binary,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Ipv6 => "ipv6",
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Binary => "binary",
        }
    }
}

/// The data types a table may store, in HAProxy's numbering (the order
/// `show table` prints them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataType {
    ServerId = 0,
    Gpt0,
    Gpc0,
    Gpc0Rate,
    ConnCnt,
    ConnRate,
    ConnCur,
    SessCnt,
    SessRate,
    HttpReqCnt,
    HttpReqRate,
    HttpErrCnt,
    HttpErrRate,
    BytesInCnt,
    BytesInRate,
    BytesOutCnt,
    BytesOutRate,
    Gpc1,
    Gpc1Rate,
    ServerKey,
    HttpFailCnt,
    HttpFailRate,
    Gpt,
    Gpc,
    GpcRate,
}

/// How many data types exist.
pub const DATA_TYPES: usize = 25;

/// The largest array (`gpc(n)`, `gpt(n)`, `gpc_rate(n,p)`).
pub const MAX_ARRAY: u32 = 100;

const ALL: [DataType; DATA_TYPES] = {
    use DataType::*;
    [
        ServerId,
        Gpt0,
        Gpc0,
        Gpc0Rate,
        ConnCnt,
        ConnRate,
        ConnCur,
        SessCnt,
        SessRate,
        HttpReqCnt,
        HttpReqRate,
        HttpErrCnt,
        HttpErrRate,
        BytesInCnt,
        BytesInRate,
        BytesOutCnt,
        BytesOutRate,
        Gpc1,
        Gpc1Rate,
        ServerKey,
        HttpFailCnt,
        HttpFailRate,
        Gpt,
        Gpc,
        GpcRate,
    ]
};

impl DataType {
    pub fn all() -> &'static [DataType] {
        &ALL
    }
    pub fn name(self) -> &'static str {
        use DataType::*;
        match self {
            ServerId => "server_id",
            Gpt0 => "gpt0",
            Gpc0 => "gpc0",
            Gpc0Rate => "gpc0_rate",
            ConnCnt => "conn_cnt",
            ConnRate => "conn_rate",
            ConnCur => "conn_cur",
            SessCnt => "sess_cnt",
            SessRate => "sess_rate",
            HttpReqCnt => "http_req_cnt",
            HttpReqRate => "http_req_rate",
            HttpErrCnt => "http_err_cnt",
            HttpErrRate => "http_err_rate",
            BytesInCnt => "bytes_in_cnt",
            BytesInRate => "bytes_in_rate",
            BytesOutCnt => "bytes_out_cnt",
            BytesOutRate => "bytes_out_rate",
            Gpc1 => "gpc1",
            Gpc1Rate => "gpc1_rate",
            ServerKey => "server_key",
            HttpFailCnt => "http_fail_cnt",
            HttpFailRate => "http_fail_rate",
            Gpt => "gpt",
            Gpc => "gpc",
            GpcRate => "gpc_rate",
        }
    }
    /// HAProxy's `stktable_get_data_type()` (which also knows the old
    /// names `server_name` for `server_key`).
    pub fn by_name(n: &str) -> Option<DataType> {
        if n == "server_name" {
            return Some(DataType::ServerKey);
        }
        ALL.iter().copied().find(|d| d.name() == n)
    }
    /// A frequency counter over a period (the argument, in ms).
    pub fn is_rate(self) -> bool {
        self.name().ends_with("_rate")
    }
    pub fn is_array(self) -> bool {
        matches!(self, DataType::Gpt | DataType::Gpc | DataType::GpcRate)
    }
    /// 64-bit counters (the others wrap at 32 bits, as HAProxy's).
    pub fn is_ull(self) -> bool {
        matches!(self, DataType::BytesInCnt | DataType::BytesOutCnt)
    }
}

/// One `store` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    pub dt: DataType,
    /// Array size (1 for scalars).
    pub nelem: u32,
    /// Rate period in ms (rates only).
    pub period: u32,
}

/// A parsed `stick-table` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDef {
    pub ktype: KeyType,
    /// Key bytes (strings count their terminating NUL, as HAProxy).
    pub key_size: usize,
    pub size: u64,
    /// `expire` in ms, None when absent (entries never expire).
    pub expire: Option<u32>,
    pub nopurge: bool,
    pub peers: Option<String>,
    pub store: Vec<Store>,
    /// `srvkey addr` (else name).
    pub srvkey_addr: bool,
}

impl TableDef {
    pub fn stores(&self, dt: DataType) -> bool {
        self.store.iter().any(|s| s.dt == dt)
    }
}

/// Parses the words of a `stick-table` line (`words[0]` is the keyword,
/// `in_peers`: a `table <name>` line of a peers section, whose name is
/// `words[1]`). Ok carries the warnings; Err an alert text without the
/// `parsing [file:line] : ` prefix.
pub fn parse(words: &[String], in_peers: bool) -> Result<(TableDef, Vec<String>), String> {
    let kw = words[0].as_str();
    let arg = |i: usize| words.get(i).map(|s| s.as_str()).unwrap_or("");
    let missing = |i: usize| format!("{kw}: missing argument after '{}'.", arg(i - 1));
    let mut i = if in_peers { 2 } else { 1 };
    let mut ktype = None;
    let mut key_size = 0;
    let mut t = TableDef {
        ktype: KeyType::Ip,
        key_size: 4,
        size: 0,
        expire: None,
        nopurge: false,
        peers: None,
        store: Vec::new(),
        srvkey_addr: false,
    };
    let mut warnings = Vec::new();
    while !arg(i).is_empty() {
        match arg(i) {
            "size" => {
                i += 1;
                if arg(i).is_empty() {
                    return Err(missing(i));
                }
                t.size = match parse_size(arg(i)) {
                    Ok(v) if v <= u32::MAX as u64 => v,
                    Ok(_) => {
                        return Err(format!(
                            "{kw}: unexpected character '{}' in argument of 'size'.",
                            arg(i).chars().last().unwrap_or(' ')
                        ))
                    }
                    Err(c) => return Err(format!("{kw}: unexpected character '{c}' in argument of 'size'.")),
                };
                i += 1;
            }
            "peers" if !in_peers => {
                i += 1;
                if arg(i).is_empty() {
                    return Err(missing(i));
                }
                t.peers = Some(arg(i).to_string());
                i += 1;
            }
            "expire" => {
                i += 1;
                if arg(i).is_empty() {
                    return Err(missing(i));
                }
                t.expire = Some(match parse_time_ms(arg(i)) {
                    Ok(v) => v,
                    Err(TimeError::Overflow) => return Err(format!("{kw}: timer overflow in argument <{}> to <expire>, maximum value is 2147483647 ms (~24.8 days).", arg(i))),
                    Err(TimeError::Underflow) => return Err(format!("{kw}: timer underflow in argument <{}> to <expire>, minimum non-null value is 1 ms.", arg(i))),
                    Err(TimeError::BadChar(c)) => return Err(format!("{kw}: unexpected character '{c}' in argument of 'expire'.")),
                    Err(TimeError::Empty) => return Err(missing(i)),
                });
                i += 1;
            }
            "nopurge" => {
                t.nopurge = true;
                i += 1;
            }
            "type" => {
                i += 1;
                let (k, size, custom) = match arg(i) {
                    "ip" => (KeyType::Ip, 4, false),
                    "ipv6" => (KeyType::Ipv6, 16, false),
                    "integer" => (KeyType::Integer, 4, false),
                    "string" => (KeyType::String, 32, true),
                    "binary" => (KeyType::Binary, 32, true),
                    o => return Err(format!("{kw}: unknown type '{o}'.")),
                };
                i += 1;
                key_size = size;
                if custom && arg(i) == "len" {
                    i += 1;
                    key_size = crate::units::atol(arg(i)).max(0) as usize;
                    if key_size == 0 {
                        return Err(format!("{kw}: unknown type '{}'.", arg(i)));
                    }
                    if k == KeyType::String {
                        key_size += 1;
                    }
                    i += 1;
                }
                ktype = Some(k);
            }
            "store" => {
                i += 1;
                let list = arg(i);
                for item in split_store(list)
                    .map_err(|cw| format!("{kw}: missing closing parenthesis after store option '{cw}'."))?
                {
                    let (name, a1, a2) = item;
                    let Some(dt) = DataType::by_name(name) else {
                        return Err(format!("{kw}: unknown store option '{name}'."));
                    };
                    if t.store.iter().any(|s| s.dt == dt) {
                        warnings.push(format!("{kw}: store option '{name}' already enabled, ignored."));
                        continue;
                    }
                    let (mut sa, mut nelem) = (a1, 1u32);
                    if dt.is_array() {
                        let Some(n) = sa else {
                            return Err(format!("{kw}: missing argument to store option '{name}'."));
                        };
                        let n = crate::units::atol(n);
                        if n <= 0 || n > MAX_ARRAY as i64 {
                            return Err(format!(
                                "{kw}: array size is out of allowed range (1-{MAX_ARRAY}) for store option '{name}'."
                            ));
                        }
                        nelem = n as u32;
                        sa = a2;
                    }
                    let mut period = 0;
                    if dt.is_rate() {
                        let Some(p) = sa else {
                            return Err(format!("{kw}: missing argument to store option '{name}'."));
                        };
                        period = parse_time_ms(p)
                            .map_err(|_| format!("{kw}: error when processing store option '{name}'."))?;
                    } else if sa.is_some() {
                        return Err(format!("{kw}: unexpected argument to store option '{name}'."));
                    }
                    t.store.push(Store { dt, nelem, period });
                }
                i += 1;
                let has = |d| t.store.iter().any(|s| s.dt == d);
                use DataType::*;
                if has(Gpt) && has(Gpt0) {
                    return Err(format!("{kw}: simultaneous usage of 'gpt' and 'gpt0' in a same table is not permitted as 'gpt' overrides 'gpt0'."));
                }
                if has(Gpc) && (has(Gpc0) || has(Gpc1)) {
                    return Err(format!("{kw}: simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'."));
                }
                if has(GpcRate) && (has(Gpc0Rate) || has(Gpc1Rate)) {
                    return Err(format!("{kw}: simultaneous usage of 'gpc_rate' and 'gpc[0/1]_rate' in a same table is not permitted as 'gpc_rate' overrides 'gpc[0/1]_rate'."));
                }
            }
            "srvkey" => {
                i += 1;
                t.srvkey_addr = match arg(i) {
                    "name" => false,
                    "addr" => true,
                    o => return Err(format!("{kw} : unknown server key type '{o}'.")),
                };
                i += 1;
            }
            o => return Err(format!("{kw}: unknown argument '{o}'.")),
        }
    }
    if t.size == 0 {
        return Err(format!("{kw}: missing size."));
    }
    let Some(k) = ktype else {
        return Err(format!("{kw}: missing type."));
    };
    t.ktype = k;
    t.key_size = key_size;
    Ok((t, warnings))
}

type StoreItem<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// Splits `a,b(x),c(x,y)` as HAProxy does: commas inside parentheses
/// separate the two arguments of one element.
fn split_store(list: &str) -> Result<Vec<StoreItem<'_>>, String> {
    let mut out = Vec::new();
    let b = list.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        let mut name_end = None;
        let (mut a1, mut a2) = (None, None);
        while i < b.len() && b[i] != b',' {
            if b[i] == b'(' {
                name_end = Some(i);
                let s = i + 1;
                let mut comma = None;
                let mut j = s;
                while j < b.len() && b[j] != b')' {
                    if b[j] == b',' && comma.is_none() {
                        comma = Some(j);
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err(list[start..i].to_string());
                }
                match comma {
                    Some(c) => {
                        a1 = Some(&list[s..c]);
                        a2 = Some(&list[c + 1..j]);
                    }
                    None => a1 = Some(&list[s..j]),
                }
                i = j;
            }
            i += 1;
        }
        let name = &list[start..name_end.unwrap_or(i)];
        out.push((name, a1, a2));
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_the_usual_lines() {
        let (t, _) = parse(
            &w("stick-table type ip size 1m expire 10s store http_req_rate(10s),gpc0,conn_cur"),
            false,
        )
        .unwrap();
        assert_eq!(
            (t.ktype, t.key_size, t.size, t.expire),
            (KeyType::Ip, 4, 1 << 20, Some(10_000))
        );
        assert_eq!(t.store.len(), 3);
        assert_eq!((t.store[0].dt, t.store[0].period), (DataType::HttpReqRate, 10_000));
        let (t, _) = parse(
            &w("stick-table type string len 12 size 10 store gpc(3),gpc_rate(2,1s)"),
            false,
        )
        .unwrap();
        assert_eq!((t.ktype, t.key_size), (KeyType::String, 13));
        assert_eq!((t.store[0].nelem, t.store[1].nelem, t.store[1].period), (3, 2, 1000));
    }

    #[test]
    fn haproxy_texts() {
        let e = |s: &str| parse(&w(s), false).unwrap_err();
        assert_eq!(e("stick-table type ip"), "stick-table: missing size.");
        assert_eq!(e("stick-table size 10"), "stick-table: missing type.");
        assert_eq!(e("stick-table type foo size 1"), "stick-table: unknown type 'foo'.");
        assert_eq!(
            e("stick-table type ip size 1 store foo"),
            "stick-table: unknown store option 'foo'."
        );
        assert_eq!(
            e("stick-table type ip size 1 store conn_rate"),
            "stick-table: missing argument to store option 'conn_rate'."
        );
        assert_eq!(
            e("stick-table type ip size 1 store gpc0(3)"),
            "stick-table: unexpected argument to store option 'gpc0'."
        );
        assert_eq!(e("stick-table type ip size 1 store gpc0,gpc(2)"), "stick-table: simultaneous usage of 'gpc' and 'gpc[0/1]' in a same table is not permitted as 'gpc' overrides 'gpc[0/1]'.");
        assert_eq!(
            e("stick-table type ip size 1 bogus"),
            "stick-table: unknown argument 'bogus'."
        );
        let (_, warn) = parse(&w("stick-table type ip size 1 store gpc0,gpc0"), false).unwrap();
        assert_eq!(
            warn,
            vec!["stick-table: store option 'gpc0' already enabled, ignored.".to_string()]
        );
    }
}
