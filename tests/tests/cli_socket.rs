//! The stats socket end to end, through the real `rhaproxy` binary: layouts
//! against HAProxy 2.6.12's captured answers (../shared/reference/cli-samples
//! copied into the assertions where they are fixed text), `show stat`
//! field meanings under known TCP traffic, the level matrix for every
//! command, and hostile input (empty, binary, over-long, half-sent lines).

use rhaproxy_tests::{cli, free_port, spawn_rhaproxy, wait_listening, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// The 2.6.12 `show stat` header (haproxy-internals.md §6.3, captured).
const HEADER_2_6_12: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,";

/// `show info` keys of HAProxy 2.6.12, in order (cli-samples/show_info.txt).
const INFO_KEYS: &[&str] = &[
    "Name",
    "Version",
    "Release_date",
    "Nbthread",
    "Nbproc",
    "Process_num",
    "Pid",
    "Uptime",
    "Uptime_sec",
    "Memmax_MB",
    "PoolAlloc_MB",
    "PoolUsed_MB",
    "PoolFailed",
    "Ulimit-n",
    "Maxsock",
    "Maxconn",
    "Hard_maxconn",
    "CurrConns",
    "CumConns",
    "CumReq",
    "MaxSslConns",
    "CurrSslConns",
    "CumSslConns",
    "Maxpipes",
    "PipesUsed",
    "PipesFree",
    "ConnRate",
    "ConnRateLimit",
    "MaxConnRate",
    "SessRate",
    "SessRateLimit",
    "MaxSessRate",
    "SslRate",
    "SslRateLimit",
    "MaxSslRate",
    "SslFrontendKeyRate",
    "SslFrontendMaxKeyRate",
    "SslFrontendSessionReuse_pct",
    "SslBackendKeyRate",
    "SslBackendMaxKeyRate",
    "SslCacheLookups",
    "SslCacheMisses",
    "CompressBpsIn",
    "CompressBpsOut",
    "CompressBpsRateLim",
    "Tasks",
    "Run_queue",
    "Idle_pct",
    "node",
    "Stopping",
    "Jobs",
    "Unstoppable Jobs",
    "Listeners",
    "ActivePeers",
    "ConnectedPeers",
    "DroppedLogs",
    "BusyPolling",
    "FailedResolutions",
    "TotalBytesOut",
    "TotalSplicdedBytesOut",
    "BytesOutRate",
    "DebugCommandsIssued",
    "CumRecvLogs",
    "Build info",
    "Memmax_bytes",
    "PoolAlloc_bytes",
    "PoolUsed_bytes",
    "Start_time_sec",
    "Tainted",
];

/// An origin that answers each connection's first read with "pong:" + the
/// bytes, then closes.
fn pong_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 1024];
                if let Ok(n) = c.read(&mut buf) {
                    let mut out = b"pong:".to_vec();
                    out.extend_from_slice(&buf[..n]);
                    let _ = c.write_all(&out);
                }
            });
        }
    });
    addr
}

struct Rig {
    _p: Proc,
    dir: TempDir,
    port: u16,
}

impl Rig {
    fn sock(&self, lvl: &str) -> PathBuf {
        self.dir.path().join(format!("{lvl}.sock"))
    }
    fn admin(&self, cmd: &str) -> String {
        cli(&self.sock("admin"), cmd, T)
    }
}

fn start(origin: SocketAddr, extra_global: &str) -> Rig {
    let dir = TempDir::new("cli");
    let port = free_port();
    let d = dir.path().display().to_string();
    let cfg = format!(
        "global\n    nbthread 1\n    stats socket {d}/admin.sock level admin\n    stats socket {d}/operator.sock level operator\n    stats socket {d}/user.sock level user\n    stats timeout 3s\n{extra_global}\ndefaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\nlisten app\n    bind 127.0.0.1:{port}\n    server s1 {origin}\n    server s2 {origin} weight 50 backup\n\nbackend be_app\n    server s1 {origin}\n"
    );
    let p = spawn_rhaproxy(&dir, "cli.cfg", &cfg);
    let rig = Rig { _p: p, dir, port };
    for l in ["admin", "operator", "user"] {
        assert!(wait_unix(&rig.sock(l), T), "stats socket {l} not ready");
    }
    assert!(wait_listening(format!("127.0.0.1:{port}").parse().unwrap(), T));
    rig
}

/// Sends raw bytes and reads until close or timeout.
fn raw(path: &Path, bytes: &[u8], timeout: Duration) -> Vec<u8> {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(timeout)).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn stat_rows(csv: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = csv.lines();
    let hdr: Vec<&str> = lines.next().unwrap().trim_start_matches("# ").split(',').collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), hdr.len(), "row has as many cells as the header: {l}");
            hdr.iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect()
        })
        .collect()
}

fn row<'a>(
    rows: &'a [std::collections::HashMap<String, String>],
    px: &str,
    sv: &str,
) -> &'a std::collections::HashMap<String, String> {
    rows.iter()
        .find(|r| r["pxname"] == px && r["svname"] == sv)
        .expect("row")
}

/// A JSON dump with every scalar inside `"value":{...,"value":X}` blanked,
/// to compare layouts whatever the counters say.
fn json_shape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(",\"value\":") {
        out.push_str(&rest[..i + 9]);
        rest = &rest[i + 9..];
        if rest.starts_with('{') {
            continue;
        }
        let end = if let Some(r) = rest.strip_prefix('"') {
            r.find('"').map(|e| e + 2).unwrap_or(rest.len())
        } else {
            rest.find('}').unwrap_or(rest.len())
        };
        out.push('_');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn layouts_match_haproxy_2_6() {
    let rig = start(pong_origin(), "");
    // show stat: the exact header, rows in config order, trailing blank line.
    let stat = rig.admin("show stat");
    assert!(stat.ends_with("\n\n"));
    let mut lines = stat.lines();
    assert_eq!(lines.next().unwrap(), HEADER_2_6_12);
    let names: Vec<String> = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join("/"))
        .collect();
    assert_eq!(
        names,
        [
            "app/FRONTEND",
            "app/s1",
            "app/s2",
            "app/BACKEND",
            "be_app/s1",
            "be_app/BACKEND"
        ]
    );
    let rows = stat_rows(stat.trim_end());
    // Empty cells where HAProxy leaves them empty (e.g. FRONTEND has no queue,
    // servers no dreq), filled where it fills them.
    let fe = row(&rows, "app", "FRONTEND");
    assert_eq!(
        (fe["qcur"].as_str(), fe["status"].as_str(), fe["type"].as_str()),
        ("", "OPEN", "0")
    );
    assert_eq!(fe["mode"], "tcp");
    let s2 = row(&rows, "app", "s2");
    assert_eq!((s2["dreq"].as_str(), s2["status"].as_str()), ("", "no check"));
    assert_eq!(
        (s2["weight"].as_str(), s2["act"].as_str(), s2["bck"].as_str()),
        ("50", "0", "1")
    );
    assert_eq!(s2["lastsess"], "-1");
    let be = row(&rows, "app", "BACKEND");
    assert_eq!(
        (be["status"].as_str(), be["algo"].as_str(), be["act"].as_str()),
        ("UP", "roundrobin", "1")
    );
    // The module columns: SSL ones on servers, all on FE/BE.
    assert_eq!(s2["ssl_sess"], "0");
    assert_eq!(s2["h1_bytes_in"], "");
    assert_eq!(be["h1_bytes_in"], "0");

    // show info: HAProxy's keys in HAProxy's order.
    let info = rig.admin("show info");
    let keys: Vec<&str> = info
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(keys, INFO_KEYS);
    assert!(info.contains("\nNbthread: 1\n") && info.contains("\nListeners: "));
    let typed = rig.admin("show info typed");
    assert!(typed.starts_with("0.Name.1:POS:str:HAProxy\n1.Version.1:POS:str:"));
    assert!(typed.contains("\n3.Nbthread.1:CGS:u32:1\n"));
    // 2.6 keeps the positions of the fields it leaves empty (45-46 zlib
    // memory, 51 description), as the 2.6.12 sample shows.
    assert!(typed.contains("\n44.CompressBpsRateLim.1:CLP:u32:0\n47.Tasks.1:MGP:u32:"));
    assert!(typed.contains("\n50.node.1:COS:str:") && typed.contains("\n52.Stopping.1:MGP:u32:0\n"));
    assert!(typed.ends_with("\n71.Tainted.1:SGP:str:0\n\n"));
    if let Ok(sample) = std::fs::read_to_string("/work/shared/reference/cli-samples/show_info_typed.txt") {
        let heads = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.is_empty())
                .map(|l| l.splitn(3, ':').take(2).collect::<Vec<_>>().join(":"))
                .collect()
        };
        assert_eq!(heads(&typed), heads(&sample), "positions, names and tags as 2.6.12");
    }
    // The stats socket's GLOBAL frontend takes id 1: `app` is #2.
    let st = rig.admin("show stat typed");
    assert!(st.starts_with("F.2.0.0.pxname.1:KNS:str:app\nF.2.0.1.svname.1:KNS:str:FRONTEND\n"));
    assert!(st.contains("S.2.2.18.weight.1:MaP:u32:50\n"));
    // Typed rows follow each other without blank lines.
    assert!(st.contains(":u64:0\nS.2.1.0.pxname.1:KNS:str:app\n"), "{st}");
    assert_eq!(st.matches("\n\n").count(), 1);

    // JSON: 2.6's layout, byte for byte once values are blanked.
    let ij = rig.admin("show info json");
    assert!(ij.starts_with("[{\"field\":{\"pos\":0,\"name\":\"Name\"},\"processNum\":1,\"tags\":{\"origin\":\"Product\",\"nature\":\"Output\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"HAProxy\"}},"));
    assert!(ij.ends_with("\"name\":\"Tainted\"},\"processNum\":1,\"tags\":{\"origin\":\"Status\",\"nature\":\"Gauge\",\"scope\":\"Process\"},\"value\":{\"type\":\"str\",\"value\":\"0\"}}]\n\n"));
    assert!(!ij.contains("\"pos\":45,") && !ij.contains("\"pos\":51,"));
    let sj = rig.admin("show stat json");
    assert!(sj.starts_with("[[{\"objType\":\"Frontend\",\"proxyId\":2,\"id\":0,\"field\":{\"pos\":0,\"name\":\"pxname\"},\"processNum\":1,\"tags\":{\"origin\":\"Key\",\"nature\":\"Name\",\"scope\":\"Service\"},\"value\":{\"type\":\"str\",\"value\":\"app\"}},"));
    assert!(sj.contains("}}],[{\"objType\":\"Server\",\"proxyId\":2,\"id\":1,\"field\":{\"pos\":0,"));
    assert!(sj.ends_with("\"name\":\"h1_spliced_bytes_out\"},\"processNum\":1,\"tags\":{\"origin\":\"Metric\",\"nature\":\"Counter\",\"scope\":\"Process\"},\"value\":{\"type\":\"u64\",\"value\":0}}]]\n\n"));
    // Same entries as the typed dump, in the same order.
    assert_eq!(
        sj.matches("{\"objType\":").count(),
        st.lines().filter(|l| !l.is_empty()).count()
    );
    for (sample, got) in [("show_info_json_head.txt", &ij), ("show_stat_json_head.txt", &sj)] {
        if let Ok(t) = std::fs::read_to_string(format!("/work/shared/reference/cli-samples/{sample}")) {
            // The sample's first entries, values blanked, are our first ones.
            let want: Vec<String> = json_shape(&t).split("},{").take(6).map(String::from).collect();
            let have: Vec<String> = json_shape(got).split("},{").take(6).map(String::from).collect();
            let strip_names = |v: &[String]| -> Vec<String> { v.iter().map(|e| e.replace("fe_main", "app")).collect() };
            assert_eq!(strip_names(&want), strip_names(&have), "{sample}");
        }
    }
    // Values tick (rates, ages) between two dumps: compare fields and types.
    let shape = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.splitn(4, ':').take(3).collect::<Vec<_>>().join(":"))
            .collect()
    };
    assert_eq!(
        shape(&rig.admin("show stat json typed")),
        shape(&st),
        "the last format word wins"
    );
    assert_eq!(
        rig.admin("show info desc"),
        "'desc' is not supported yet by rhaproxy.\n\n"
    );

    // show servers state: version line and header as 2.6 prints them.
    let ss = rig.admin("show servers state app");
    let mut l = ss.lines();
    assert_eq!(l.next(), Some("1"));
    assert_eq!(l.next(), Some("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"));
    let r: Vec<&str> = l.next().unwrap().split(' ').collect();
    assert_eq!(r.len(), 25);
    assert_eq!(&r[..9], ["2", "app", "1", "s1", "127.0.0.1", "2", "0", "1", "1"]);
    assert_eq!(rig.admin("show servers state nope"), "Can't find backend.\n\n");
    let sc = rig.admin("show servers conn be_app");
    assert!(sc.starts_with("# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[1]\nbe_app/s1 3/1 127.0.0.1 "), "{sc}");

    // show activity: HAProxy's rows in order, single-thread form.
    let act = rig.admin("show activity");
    let names: Vec<&str> = act
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "thread_id",
            "date_now",
            "ctxsw",
            "tasksw",
            "empty_rq",
            "long_rq",
            "loops",
            "wake_tasks",
            "wake_signal",
            "poll_io",
            "poll_exp",
            "poll_drop_fd",
            "poll_skip_fd",
            "conn_dead",
            "stream_calls",
            "pool_fail",
            "buf_wait",
            "cpust_ms_tot",
            "cpust_ms_1s",
            "cpust_ms_15s",
            "avg_loop_us",
            "accepted",
            "accq_pushed",
            "accq_full",
            "accq_ring",
            "fd_takeover"
        ]
    );
    assert!(act.starts_with("thread_id: 1 (1..1)\ndate_now: "));

    // show fd: one line per FD with gen= and tkov= (3.2 style).
    let fd = rig.admin("show fd");
    let lst = fd.lines().find(|l| l.contains("fe=app")).expect("listener line");
    assert!(lst.contains(" gen=") && lst.contains(" tkov=0 ") && lst.contains("(sock_accept_iocb) l.st=RDY"));
    assert!(lst.ends_with(&format!("fam=ipv4 lport={}", rig.port)), "{lst}");

    assert_eq!(rig.admin("show version"), format!("{}\n\n", "2.6.12-rhaproxy-0.1.0"));
    assert!(rig.admin("show errors").starts_with("Total events captured on ["));
    assert!(rig.admin("show errors").ends_with("] : 0\n\n"));
    assert_eq!(rig.admin("show backend"), "# name\napp\nbe_app\n\n");
    assert_eq!(rig.admin("show cli level"), "admin\n\n");
    assert!(rig
        .admin("show sess")
        .contains("proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none>"));
    assert!(rig
        .admin("debug counters")
        .starts_with("Count     Type Location function(): \"condition\" [comment]\n"));
}

#[test]
fn help_and_unknown_commands_use_2_6_texts() {
    let rig = start(pong_origin(), "");
    let sample = std::fs::read_to_string("/work/shared/reference/cli-samples/help_admin.txt").ok();
    let help = rig.admin("help");
    assert!(help.starts_with("The following commands are valid at this level:\n"));
    assert!(help.ends_with("  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n\n"));
    // Every listed line is HAProxy 2.6's own line for that command, sorted.
    let listed: Vec<&str> = help.lines().skip(1).filter(|l| !l.is_empty()).collect();
    let mut sorted = listed[..listed.len() - 3].to_vec();
    sorted.sort();
    assert_eq!(sorted, listed[..listed.len() - 3]);
    if let Some(sample) = sample {
        for l in &listed {
            if !l.starts_with("  debug counters") {
                assert!(sample.contains(l), "not a 2.6 help line: {l:?}");
            }
        }
    }
    assert!(listed.len() > 30);
    // Same help at every level, as 2.6 (help_user.txt == help_admin.txt).
    assert_eq!(cli(&rig.sock("user"), "help", T), help);
    // Empty line: the full list under the "Please enter" header.
    let empty = rig.admin("");
    assert!(empty.starts_with("Unknown command. Please enter one of the following commands only:\n"));
    assert_eq!(empty.lines().count(), help.lines().count());
    // Partial match: only "show" commands close to "foo".
    let sf = rig.admin("show foo");
    assert!(sf.starts_with("Unknown command, but maybe one of the following ones is a better match:\n"));
    for l in sf.lines().skip(1).filter(|l| !l.is_empty()) {
        assert!(
            l.starts_with("  show ") || l.starts_with("  help") || l.starts_with("  prompt") || l.starts_with("  quit"),
            "{l}"
        );
    }
    // "show" alone lists every show command.
    let show = rig.admin("show");
    assert!(show.contains("  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server\n"));
    assert!(show.contains("  show version "));
}

#[test]
fn every_command_at_every_level() {
    let rig = start(pong_origin(), "");
    // (command, lowest level allowed) from cli-samples/levels_matrix.txt and
    // HAProxy 2.6's handlers; 1 user, 2 operator, 3 admin.
    let cases: &[(&str, u8)] = &[
        ("show info", 1),
        ("show stat", 1),
        ("show sess", 2),
        ("show fd", 2),
        ("show errors", 2),
        ("show activity", 1),
        ("show threads", 1),
        ("show pools", 1),
        ("show servers state", 1),
        ("show servers conn", 1),
        ("show version", 1),
        ("show env", 2),
        ("show backend", 1),
        ("show cli level", 1),
        ("clear counters", 2),
        ("clear counters all", 3),
        ("set weight be_app/s1 1", 3),
        ("get weight be_app/s1", 1),
        ("disable server be_app/s1", 3),
        ("enable server be_app/s1", 3),
        ("set server be_app/s1 state ready", 3),
        ("set maxconn server be_app/s1 4", 3),
        ("set maxconn frontend app 100", 3),
        ("set maxconn global 1000", 3),
        ("set rate-limit sessions global 0", 3),
        ("set timeout cli 20", 1),
        ("shutdown session 0x1", 3),
        ("shutdown sessions server be_app/s1", 3),
        ("expert-mode on", 3),
        ("debug counters", 2),
        ("debug counters reset", 3),
        ("show info json", 1),
        ("show stat json", 1),
        ("show cli sockets", 1),
        ("experimental-mode off", 3),
        ("set server be_app/s1 weight 1", 3),
        ("set server be_app/s1 health up", 3),
        ("add server be_app/lvl 127.0.0.1:1", 3),
        ("del server be_app/lvl", 3),
        ("prompt;quit", 1),
        ("help", 1),
        ("operator", 2),
        ("user", 1),
    ];
    for (cmd, min) in cases {
        for (lvl, n) in [("user", 1u8), ("operator", 2), ("admin", 3)] {
            let out = cli(&rig.sock(lvl), cmd, T);
            if n >= *min {
                assert!(!out.contains("Permission denied"), "{lvl} {cmd}: {out:?}");
            } else {
                assert_eq!(out, "Permission denied\n\n", "{lvl} {cmd}");
            }
        }
    }
    // Lowering the level within a session, as the 2.6 sample.
    assert_eq!(
        rig.admin("user;show cli level;clear counters"),
        "\nuser\n\nPermission denied\n\n"
    );
    assert_eq!(rig.admin("operator\nshow cli level\n"), "\noperator\n\n");
    assert_eq!(cli(&rig.sock("user"), "operator", T), "Permission denied\n\n");
    assert_eq!(rig.admin("expert-mode"), "expert-mode is OFF\n\n");
    assert_eq!(rig.admin("expert-mode on;expert-mode"), "\nexpert-mode is ON\n\n");
}

#[test]
fn server_commands_change_state_and_answer_like_2_6() {
    let rig = start(pong_origin(), "");
    assert_eq!(rig.admin("get weight be_app/s1"), "1 (initial 1)\n\n");
    assert_eq!(rig.admin("get weight be_app"), "Require 'backend/server'.\n\n");
    assert_eq!(rig.admin("get weight x/y"), "No such backend.\n\n");
    assert_eq!(rig.admin("get weight be_app/zz"), "No such server.\n\n");
    assert_eq!(rig.admin("set weight app/s1 20"), "\n");
    assert_eq!(rig.admin("get weight app/s1"), "20 (initial 1)\n\n");
    assert_eq!(
        rig.admin("set weight app/s1 abc"),
        "Empty weight string empty or preceded by garbage\n"
    );
    assert_eq!(
        rig.admin("set weight app/s1 300"),
        "Absolute weight can only be between 0 and 256 inclusive.\n\n"
    );
    assert_eq!(rig.admin("set server app/s1 weight 200%"), "\n");
    assert_eq!(rig.admin("get weight app/s1"), "2 (initial 1)\n\n");
    assert_eq!(rig.admin("set server be_app/s1"), "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n\n");
    assert_eq!(
        rig.admin("set server be_app/s1 state foo"),
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
    );
    assert_eq!(
        rig.admin("set server be_app/s1 agent up"),
        "agent checks are not enabled on this server.\n\n"
    );

    let status = |rig: &Rig| {
        let rows = stat_rows(rig.admin("show stat").trim_end());
        row(&rows, "be_app", "s1")["status"].clone()
    };
    assert_eq!(rig.admin("disable server be_app/s1"), "\n");
    assert_eq!(status(&rig), "MAINT");
    let ss = rig.admin("show servers state be_app");
    assert!(
        ss.lines()
            .nth(2)
            .unwrap()
            .starts_with("3 be_app 1 s1 127.0.0.1 0 1 1 1 "),
        "{ss}"
    );
    assert_eq!(rig.admin("set server be_app/s1 state drain"), "\n");
    assert_eq!(status(&rig), "DRAIN");
    assert_eq!(rig.admin("set server be_app/s1 health down"), "\n");
    assert_eq!(status(&rig), "DOWN");
    assert_eq!(
        rig.admin("set server be_app/s1 health up;enable server be_app/s1"),
        "\n\n"
    );
    assert_eq!(status(&rig), "no check");
    let backend_down = {
        rig.admin("set server be_app/s1 state maint");
        let rows = stat_rows(rig.admin("show stat").trim_end());
        row(&rows, "be_app", "BACKEND")["status"].clone()
    };
    assert_eq!(backend_down, "DOWN");
    rig.admin("set server be_app/s1 state ready");

    let origin = rig.admin("set server be_app/s1 addr 127.0.0.2 port 9");
    assert!(
        origin.starts_with("IP changed from '127.0.0.1' to '127.0.0.2', port changed from '"),
        "{origin}"
    );
    assert!(origin.ends_with("' to '9' by 'stats socket command'\n\n"));
    let rows = stat_rows(rig.admin("show stat").trim_end());
    assert_eq!(row(&rows, "be_app", "s1")["addr"], "127.0.0.2:9");

    assert_eq!(rig.admin("set maxconn server be_app/s1 7"), "\n");
    let rows = stat_rows(rig.admin("show stat").trim_end());
    assert_eq!(row(&rows, "be_app", "s1")["slim"], "7");
    assert_eq!(rig.admin("set maxconn frontend app 33"), "\n");
    let rows = stat_rows(rig.admin("show stat").trim_end());
    assert_eq!(row(&rows, "app", "FRONTEND")["slim"], "33");
    assert_eq!(rig.admin("set maxconn frontend nope 1"), "No such frontend.\n\n");
    assert_eq!(rig.admin("set maxconn global 123"), "\n");
    assert!(rig.admin("show info").contains("\nMaxconn: 123\n"));
    assert_eq!(rig.admin("set rate-limit sessions global 5"), "\n");
    assert!(rig.admin("show info").contains("\nSessRateLimit: 5\n"));
    assert!(rig
        .admin("set rate-limit foo")
        .starts_with("'set rate-limit' only supports :\n"));
    assert_eq!(rig.admin("set timeout cli"), "Expects an integer value.\n\n");
    assert_eq!(rig.admin("set timeout foo 3"), "'set timeout' only supports 'cli'.\n\n");
    assert_eq!(
        rig.admin("shutdown session"),
        "Session pointer expected (use 'show sess').\n\n"
    );
    assert_eq!(
        rig.admin("shutdown session 0x1"),
        "No such session (use 'show sess').\n\n"
    );
}

#[test]
fn show_stat_counts_tcp_traffic() {
    let rig = start(pong_origin(), "");
    let addr: SocketAddr = format!("127.0.0.1:{}", rig.port).parse().unwrap();
    // Let the readiness probe's session finish (its origin reply would be
    // counted after the clear), then start from zero.
    std::thread::sleep(Duration::from_millis(300));
    rig.admin("clear counters all");
    for i in 0..3 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(T)).unwrap();
        let msg = format!("ping{i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, format!("pong:{msg}").as_bytes());
    }
    std::thread::sleep(Duration::from_millis(200));
    let rows = stat_rows(rig.admin("show stat").trim_end());
    let fe = row(&rows, "app", "FRONTEND");
    let be = row(&rows, "app", "BACKEND");
    let s1 = row(&rows, "app", "s1");
    let s2 = row(&rows, "app", "s2");
    // 3 sessions in, 5+5+5 bytes from clients, 10+10+10 bytes back.
    assert_eq!(fe["stot"], "3", "{fe:?}");
    assert_eq!(fe["conn_tot"], "3");
    assert_eq!(fe["bin"], "15");
    assert_eq!(fe["bout"], "30");
    assert_eq!(fe["scur"], "0");
    assert!(fe["smax"].parse::<u32>().unwrap() >= 1);
    assert_eq!(be["stot"], "3");
    assert_eq!(be["bin"], "15");
    assert_eq!(be["bout"], "30");
    // The backup server takes nothing while the active one is up.
    assert_eq!(s1["stot"], "3");
    assert_eq!(s1["lbtot"], "3");
    assert_eq!(s1["connect"], "3");
    assert_eq!(s2["stot"], "0");
    assert_ne!(s1["lastsess"], "-1");
    assert_eq!(s2["lastsess"], "-1");
    // Global counters of show info.
    let info = rig.admin("show info");
    let cum: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("CumConns: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(cum >= 3, "{info}");
    // `clear counters` resets maxima only; `all` everything.
    rig.admin("clear counters");
    let rows = stat_rows(rig.admin("show stat").trim_end());
    assert_eq!(row(&rows, "app", "FRONTEND")["smax"], "0");
    assert_eq!(row(&rows, "app", "FRONTEND")["stot"], "3");
    rig.admin("clear counters all");
    let rows = stat_rows(rig.admin("show stat").trim_end());
    assert_eq!(row(&rows, "app", "FRONTEND")["stot"], "0");
    // Filters: "show stat <px> <type> <sid>".
    let only = rig.admin("show stat app 4 -1");
    assert_eq!(only.lines().filter(|l| !l.is_empty()).count(), 3, "{only}");
    assert_eq!(rig.admin("show stat nope 1 1"), "No such proxy.\n\n");
}

#[test]
fn session_modes_and_hostile_input() {
    let rig = start(pong_origin(), "");
    let a = rig.sock("admin");
    let ver = "2.6.12-rhaproxy-0.1.0";
    // Prompt mode, as cli-samples/prompt_mode_session.txt frames it.
    assert_eq!(
        raw(&a, b"prompt\nshow version\nquit\n", T),
        format!("\n> {ver}\n\n> ").as_bytes()
    );
    assert_eq!(
        raw(&a, b"prompt\nprompt\nshow version\n", T),
        format!("\n> \n{ver}\n\n").as_bytes()
    );
    // ';' separated, CRLF, pipelined, escaped.
    assert_eq!(
        raw(&a, b"show version;show version\r\n", T),
        format!("{ver}\n\n{ver}\n\n").as_bytes()
    );
    assert_eq!(
        raw(&a, b"show version\nshow version\n", T),
        format!("{ver}\n\n{ver}\n\n").as_bytes()
    );
    assert_eq!(raw(&a, b"show ver\\sion\n", T), format!("{ver}\n\n").as_bytes());
    // Payloads: gathered up to an empty line; "+ " prompts in prompt mode.
    assert_eq!(
        raw(&a, b"show version <<\nabc\n\nshow version\n", T),
        format!("{ver}\n\n{ver}\n\n").as_bytes()
    );
    assert_eq!(
        raw(&a, b"prompt\nshow version <<\nabc\n\nquit\n", T),
        format!("\n> + + {ver}\n\n> ").as_bytes()
    );
    // NUL ends the command; binary after it is ignored.
    assert_eq!(raw(&a, b"show version\0\xff\xfe\n", T), format!("{ver}\n\n").as_bytes());
    // Binary garbage gets an answer, not a crash.
    let g = raw(&a, b"\xff\xfe\x01\x02 \x80\n", T);
    assert!(g.starts_with(b"Unknown command"));
    // quit: closed without output.
    assert_eq!(raw(&a, b"quit\n", T), b"");
    // No end of line then close: nothing, as HAProxy.
    {
        let mut s = UnixStream::connect(&a).unwrap();
        s.write_all(b"show version").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert!(out.is_empty());
    }
    // An over-long line stalls that session until `stats timeout` (3s)
    // closes it; meanwhile other sessions are served.
    let long = std::thread::spawn({
        let a = a.clone();
        move || {
            let start = std::time::Instant::now();
            let out = raw(&a, &vec![b'x'; 40_000], Duration::from_secs(10));
            (out, start.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(rig.admin("show version"), format!("{ver}\n\n"));
    let (out, took) = long.join().unwrap();
    assert!(out.is_empty());
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "{took:?}"
    );
    // An idle interactive session is closed by the timeout too.
    {
        let mut s = UnixStream::connect(&a).unwrap();
        s.write_all(b"prompt\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert_eq!(out, b"\n> ");
        assert!(start.elapsed() >= Duration::from_secs(2));
    }
    // `set timeout cli` changes this session's idle timeout.
    {
        let mut s = UnixStream::connect(&a).unwrap();
        s.write_all(b"prompt\nset timeout cli 1\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let start = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        assert_eq!(out, b"\n> \n> ");
        assert!(start.elapsed() < Duration::from_millis(2500), "{:?}", start.elapsed());
    }
    // A big answer to a peer that reads slowly arrives whole.
    {
        let mut s = UnixStream::connect(&a).unwrap();
        s.write_all(b"prompt\n").unwrap();
        for _ in 0..200 {
            s.write_all(b"show stat\n").unwrap();
        }
        s.write_all(b"quit\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        s.set_read_timeout(Some(T)).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("# pxname,").count(), 200);
    }
    assert_eq!(rig.admin("show version"), format!("{ver}\n\n"));
}

#[test]
fn stats_maxconn_limits_sessions_per_socket() {
    let rig = start(pong_origin(), "    stats maxconn 2\n");
    let a = rig.sock("admin");
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = UnixStream::connect(&a).unwrap();
        s.write_all(b"prompt\n").unwrap();
        let mut buf = [0u8; 3];
        s.set_read_timeout(Some(T)).unwrap();
        s.read_exact(&mut buf).unwrap();
        held.push(s);
    }
    // The third waits in the backlog: no answer while two are open.
    let mut third = UnixStream::connect(&a).unwrap();
    third.write_all(b"show version\n").unwrap();
    third.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut buf = [0u8; 64];
    assert!(third.read(&mut buf).is_err(), "served beyond stats maxconn");
    drop(held);
    third.set_read_timeout(Some(T)).unwrap();
    let mut out = String::new();
    let _ = third.read_to_string(&mut out);
    assert_eq!(out, "2.6.12-rhaproxy-0.1.0\n\n");
}

/// An origin that answers each connection's first read with `tag`, then
/// closes.
fn tagged_origin(tag: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut buf = [0u8; 64];
                if c.read(&mut buf).is_ok() {
                    let _ = c.write_all(tag.as_bytes());
                }
            });
        }
    });
    addr
}

#[test]
fn dynamic_servers_join_and_leave_the_farm() {
    let (a, b) = (tagged_origin("A"), tagged_origin("B"));
    let dir = TempDir::new("cli-dyn");
    let port = free_port();
    let d = dir.path().display().to_string();
    let cfg = format!(
        "global\n    stats socket {d}/admin.sock level admin\n    stats socket {d}/operator.sock level operator\ndefaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\nlisten app\n    bind 127.0.0.1:{port}\n    server s1 {a}\n"
    );
    let _p = spawn_rhaproxy(&dir, "dyn.cfg", &cfg);
    let sock = dir.path().join("admin.sock");
    assert!(wait_unix(&sock, T));
    // Sockets are bound one after the other: wait for the last one too.
    assert!(wait_unix(&dir.path().join("operator.sock"), T));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, T));
    let admin = |c: &str| cli(&sock, c, T);
    let hit = || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(T)).unwrap();
        c.write_all(b"x").unwrap();
        let mut s = String::new();
        let _ = c.read_to_string(&mut s);
        s
    };
    let tags = |n: usize| (0..n).map(|_| hit()).collect::<Vec<_>>().join("");

    assert_eq!(
        cli(&dir.path().join("operator.sock"), &format!("add server app/d1 {b}"), T),
        "Permission denied\n\n"
    );
    assert_eq!(admin(&format!("add server app/d1 {b}")), "New server registered.\n\n");
    // Added in maintenance: nothing reaches it yet.
    assert_eq!(tags(4), "AAAA");
    let ss = admin("show servers state app");
    assert!(ss.contains("\n2 app 2 d1 127.0.0.1 0 1 1 1 "), "{ss}");
    assert_eq!(admin("enable server app/d1"), "\n");
    // Round robin over both servers now.
    let t = tags(4);
    assert_eq!(t.matches('A').count(), 2, "{t}");
    assert_eq!(t.matches('B').count(), 2, "{t}");
    let rows = stat_rows(admin("show stat").trim_end());
    assert_eq!(row(&rows, "app", "d1")["stot"], "2");
    assert_eq!(row(&rows, "app", "d1")["sid"], "2");

    // A connection held open on d1 forbids its removal.
    assert_eq!(admin("disable server app/s1"), "\n");
    let mut held = TcpStream::connect(addr).unwrap();
    held.set_read_timeout(Some(T)).unwrap();
    let deadline = std::time::Instant::now() + T;
    while row(&stat_rows(admin("show stat").trim_end()), "app", "d1")["scur"] != "1" {
        assert!(std::time::Instant::now() < deadline, "held connection never reached d1");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        admin("del server app/d1"),
        "Only servers in maintenance mode can be deleted.\n"
    );
    assert_eq!(admin("disable server app/d1"), "\n");
    assert_eq!(
        admin("del server app/d1"),
        "Server still has connections attached to it, cannot remove it.\n"
    );
    held.write_all(b"x").unwrap();
    let mut s = String::new();
    let _ = held.read_to_string(&mut s);
    assert_eq!(s, "B");
    drop(held);
    let deadline = std::time::Instant::now() + T;
    loop {
        let r = admin("del server app/d1");
        if r == "Server deleted.\n" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Gone from every dump and lookup; the name and id can be used again.
    assert!(!admin("show stat").contains("app,d1,"));
    assert!(!admin("show servers state").contains(" d1 "));
    assert_eq!(admin("get weight app/d1"), "No such server.\n\n");
    assert_eq!(admin("enable server app/s1"), "\n");
    assert_eq!(tags(3), "AAA");
    assert_eq!(
        admin(&format!("add server app/d1 {b} weight 3")),
        "New server registered.\n\n"
    );
    let rows = stat_rows(admin("show stat").trim_end());
    assert_eq!(row(&rows, "app", "d1")["sid"], "2");
    assert_eq!(row(&rows, "app", "d1")["stot"], "0", "a new server, new counters");
    assert_eq!(
        admin("add server app/h1 localhost:80"),
        "'localhost' : host names are not supported yet for dynamic servers (rhaproxy); use an IP address.\n\n"
    );
}
