//! Forwarding behaviour of valid traffic in `mode http`, side by side with
//! HAProxy 2.6 (or fixtures captured from it): connection modes on both
//! sides, pipelining, forwardfor variants, absolute-form URIs, 100-continue,
//! bodiless responses, Upgrade and CONNECT tunnels, error files, monitor-uri
//! and the HTTP timeouts. Besides byte equality with the reference, each
//! feature's point is asserted on rhaproxy's outcome directly.

#[path = "http_common.rs"]
mod common;

use common::{compare, Case, Outcome, C, OK200, S};

fn g(p: &str) -> C {
    C::Send(format!("GET {p} HTTP/1.1\r\nHost: a\r\n\r\n").into_bytes())
}

fn contains(h: &[u8], n: &str) -> bool {
    h.windows(n.len()).any(|w| w == n.as_bytes())
}

fn count(h: &[u8], n: &str) -> usize {
    h.windows(n.len()).filter(|w| *w == n.as_bytes()).count()
}

const HTTP_ERRORS: &str = "\nhttp-errors myerrs\n    errorfile 503 {fixtures}/errors/503.http\n    errorfile 400 {fixtures}/errors/400.http\n";

fn cases() -> Vec<Case> {
    let ws_req = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".to_vec();
    // Without a key HAProxy 2.6 refuses the upgrade with 400 (a case of the corpus).
    let ws_resp = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".to_vec();
    let three = vec![g("/1"), C::Sleep(150), g("/2"), C::Sleep(150), g("/3")];
    let post100 = b"POST /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n".to_vec();
    vec![
        Case::req("keepalive_both_sides", b"").client(three.clone()),
        Case::req("http_server_close", b"")
            .client(three.clone())
            .cfg("option http-server-close"),
        Case::req("httpclose", b"")
            .client(three.clone())
            .cfg("option httpclose"),
        Case::req(
            "pipelined",
            b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
        ),
        Case::req("http10_client_close", b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"),
        Case::req(
            "client_conn_close",
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        ),
        Case::req(
            "forwardfor",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        )
        .cfg("option forwardfor"),
        Case::req("forwardfor_except", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .cfg("option forwardfor except 127.0.0.0/8"),
        Case::req("forwardfor_except_other", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .cfg("option forwardfor except 10.0.0.0/8"),
        Case::req(
            "forwardfor_header",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Client: 9.9.9.9\r\n\r\n",
        )
        .cfg("option forwardfor header X-Client"),
        Case::req(
            "forwardfor_if_none_present",
            b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
        )
        .cfg("option forwardfor if-none"),
        Case::req("forwardfor_if_none_absent", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").cfg("option forwardfor if-none"),
        Case::req("absolute_uri", b"GET http://a/x?y HTTP/1.1\r\nHost: a\r\n\r\n"),
        Case::req(
            "absolute_uri_default_port",
            b"GET http://a:80/x HTTP/1.1\r\nHost: a:80\r\n\r\n",
        ),
        Case::req("absolute_uri_no_host", b"GET http://b/x HTTP/1.1\r\n\r\n"),
        Case::req("host_port_default", b"GET / HTTP/1.1\r\nHost: a:80\r\n\r\n"),
        Case::req("expect_100_continue", b"")
            .client(vec![C::Send(post100), C::Sleep(200), C::Send(b"hello".to_vec())])
            .server(
                vec![
                    S::Head,
                    S::Write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
                    S::Bytes(5),
                    S::Write(OK200.to_vec()),
                ],
                true,
            ),
        Case::req(
            "head_no_body",
            b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .server(
            vec![
                S::Req,
                S::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec()),
                S::Req,
                S::Write(OK200.to_vec()),
            ],
            false,
        ),
        Case::req(
            "204_no_body",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .server(
            vec![S::Req, S::Write(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec())],
            true,
        ),
        Case::req(
            "304_no_body",
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .server(
            vec![
                S::Req,
                S::Write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n".to_vec()),
            ],
            true,
        ),
        Case::req("websocket_tunnel", b"")
            .client(vec![
                C::Send(ws_req),
                C::Sleep(200),
                C::Send(b"ping\x00\xff".to_vec()),
                C::Sleep(200),
                C::Send(b"more".to_vec()),
            ])
            .server(vec![S::Head, S::Write(ws_resp), S::Echo], false),
        Case::req("connect_tunnel", b"")
            .client(vec![
                C::Send(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n".to_vec()),
                C::Sleep(200),
                C::Send(b"raw bytes".to_vec()),
            ])
            .server(
                vec![
                    S::Head,
                    S::Write(b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec()),
                    S::Echo,
                ],
                false,
            ),
        Case::req("errorfile_503", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .body("errorfile 503 {fixtures}/errors/503.http"),
        Case::req("errorfile_400", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n")
            .cfg("errorfile 400 {fixtures}/errors/400.http"),
        Case::req("errorfile_504", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .cfg("errorfile 504 {fixtures}/errors/504.http\ntimeout server 300ms")
            .server(vec![S::Req], false)
            .quiet(1000),
        Case::req("errorloc302_503", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .body("errorloc302 503 http://example.com/down"),
        Case::req("errorloc303_503", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body("errorloc303 503 /down"),
        Case::req("http_errors_503", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").body("errorfiles myerrs"),
        Case::req("http_errors_400_only", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n").cfg("errorfiles myerrs 400"),
        Case::req(
            "monitor_uri",
            b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .cfg("monitor-uri /health"),
        Case::req("keepalive_timeout", b"")
            .client(vec![g("/"), C::Sleep(900)])
            .cfg("timeout http-keep-alive 300ms")
            .quiet(300),
        Case::req("request_timeout", b"")
            .client(vec![C::Send(b"GET / HTTP/1.1\r\n".to_vec()), C::Sleep(900)])
            .cfg("timeout http-request 300ms")
            .quiet(300),
        Case::req("server_timeout_during_body", b"")
            .server(
                vec![
                    S::Req,
                    S::Write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
                ],
                false,
            )
            .client(vec![g("/")])
            .cfg("timeout server 300ms")
            .quiet(1000),
        Case::req(
            "chunked_request_body",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ),
        // Trailers travel both ways (HAProxy lower-cases their names).
        Case::req(
            "trailers_request",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Req-Sum: 3\r\nX-Other: b\r\n\r\n",
        ),
        Case::req("trailers_response", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").server(
            vec![
                S::Req,
                S::Write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n"
                        .to_vec(),
                ),
            ],
            true,
        ),
        Case::req("close_delimited_response", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").server(
            vec![
                S::Req,
                S::Write(b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec()),
                S::Close,
            ],
            false,
        ),
    ]
}

macro_rules! want {
    ($f:ident, $c:expr $(, $m:expr)?) => {
        if !$c {
            $f.push(stringify!($c).to_string());
        }
    };
}

macro_rules! want_eq {
    ($f:ident, $a:expr, $b:expr $(, $m:expr)?) => {
        if $a != $b {
            $f.push(format!("{} == {} (got {:?})", stringify!($a), stringify!($b), $a));
        }
    };
}

/// What the first origin connection received (empty when none).
fn o0(o: &Outcome) -> &[u8] {
    o.origin.first().map_or(&[], |v| v)
}

/// Cases where rhaproxy differs from HAProxy 2.6 today (reported to the lead).
const BUGS: &[(&str, &str)] = &[];

fn report(cases: &[Case], diffs: &[String], fails: &[String]) {
    assert!(
        diffs.is_empty() && fails.is_empty(),
        "rhaproxy fails {} direct checks:\n{}\n{} of {} cases differ from HAProxy 2.6:\n{}",
        fails.len(),
        fails.join("\n"),
        diffs.len(),
        cases.len(),
        diffs.join("\n")
    );
}

fn is_bug(name: &str) -> bool {
    BUGS.iter().any(|(n, _)| *n == name)
}

/// Direct checks of what each feature is for; a check on a case that did
/// not run is skipped.
fn direct_checks(cases: &[Case], got: &[Outcome]) -> Vec<String> {
    let empty = Outcome {
        client: Vec::new(),
        closed: false,
        origin: Vec::new(),
    };
    let o = |n: &str| cases.iter().position(|c| c.name == n).map_or(&empty, |i| &got[i]);
    let mut fails: Vec<String> = Vec::new();
    want_eq!(
        fails,
        o("keepalive_both_sides").origin.len(),
        1,
        "one server connection reused"
    );
    want_eq!(fails, count(&o("keepalive_both_sides").client, "HTTP/1.1 200"), 3);
    want!(fails, !o("keepalive_both_sides").closed);
    want_eq!(
        fails,
        o("http_server_close").origin.len(),
        3,
        "a server connection per request"
    );
    want!(
        fails,
        o("http_server_close")
            .origin
            .iter()
            .all(|c| contains(c, "connection: close"))
    );
    want!(fails, !o("http_server_close").closed);
    want!(fails, o("httpclose").closed);
    want_eq!(fails, count(&o("httpclose").client, "HTTP/1.1 200"), 1);
    want_eq!(fails, count(&o("pipelined").client, "HTTP/1.1 200"), 3);
    want!(fails, contains(o0(o("forwardfor")), "x-forwarded-for: 127.0.0.1"));
    want!(fails, !contains(o0(o("forwardfor_except")), "x-forwarded-for"));
    want!(
        fails,
        contains(o0(o("forwardfor_except_other")), "x-forwarded-for: 127.0.0.1")
    );
    want!(fails, contains(o0(o("forwardfor_header")), "x-client: 127.0.0.1"));
    want!(fails, !contains(o0(o("forwardfor_if_none_present")), "127.0.0.1"));
    want!(
        fails,
        contains(o0(o("forwardfor_if_none_absent")), "x-forwarded-for: 127.0.0.1")
    );
    want!(
        fails,
        o("expect_100_continue")
            .client
            .starts_with(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK")
    );
    want!(fails, o("head_no_body").client.ends_with(b"ok"));
    want_eq!(fails, count(&o("204_no_body").client, "HTTP/1.1 204"), 2);
    want_eq!(fails, count(&o("304_no_body").client, "HTTP/1.1 304"), 2);
    want!(
        fails,
        o("websocket_tunnel").client.ends_with(b"\r\n\r\nping\x00\xffmore")
    );
    want!(fails, o("connect_tunnel").client.ends_with(b"raw bytes"));
    want!(fails, o("errorfile_503").client.ends_with(b"rhaproxy test 503"));
    // HAProxy's H1 mux answers parse errors with its built-in page, not
    // with an `errorfile 400`.
    want!(
        fails,
        o("errorfile_400")
            .client
            .ends_with(b"invalid request.\n</body></html>\n")
    );
    want!(fails, o("errorfile_504").client.ends_with(b"custom 5"));
    want!(
        fails,
        contains(&o("errorloc302_503").client, "location: http://example.com/down")
    );
    want!(fails, o("http_errors_503").client.ends_with(b"rhaproxy test 503"));
    want!(
        fails,
        o("http_errors_400_only")
            .client
            .ends_with(b"invalid request.\n</body></html>\n")
    );
    want!(fails, o("monitor_uri").client.starts_with(b"HTTP/1.1 200 OK"));
    want_eq!(fails, o("monitor_uri").origin.len(), 1, "/x only reaches the origin");
    want!(
        fails,
        o("keepalive_timeout").closed && o("keepalive_timeout").client.ends_with(b"ok")
    );
    want!(fails, o("request_timeout").client.starts_with(b"HTTP/1.1 408"));
    want!(
        fails,
        o("close_delimited_response").client.ends_with(b"until close") && o("close_delimited_response").closed
    );
    want!(
        fails,
        o0(o("trailers_request")).ends_with(b"3\r\nabc\r\n0\r\nx-req-sum: 3\r\nx-other: b\r\n\r\n")
    );
    want!(
        fails,
        o("trailers_response")
            .client
            .ends_with(b"5\r\nhello\r\n0\r\nx-sum: 5\r\n\r\n")
    );
    // Keep only the checks of the cases that ran.
    fails.retain(|f| cases.iter().any(|c| f.contains(&format!("\"{}\"", c.name))));
    fails
}

#[test]
fn forwarding_matches_haproxy() {
    let cases: Vec<Case> = cases().into_iter().filter(|c| !is_bug(&c.name)).collect();
    let (got, _exp, diffs) = compare(HTTP_ERRORS, &cases, "forward.tsv");
    report(&cases, &diffs, &direct_checks(&cases, &got));
}

/// `timeout client` in the middle of a request body while the server is
/// slow to answer: the response still reaches the client, byte for byte
/// as HAProxy sends it. HAProxy 2.6.12 then keeps that connection open
/// with no timer left (a stream that never ends); rhaproxy closes it, so
/// only the bytes are compared with the reference.
#[test]
fn body_timeout_response_then_close() {
    let case = Case::req("body_timeout_response", b"")
        .client(vec![
            C::Send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc".to_vec()),
            C::Sleep(1200),
        ])
        .server(
            vec![S::Head, S::Bytes(3), S::Sleep(700), S::Write(OK200.to_vec())],
            false,
        )
        .cfg("timeout client 300ms")
        .quiet(400);
    let got = common::run(&rhaproxy_tests::bin("rhaproxy"), "", std::slice::from_ref(&case));
    let g = &got[0];
    assert_eq!(
        g.client,
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        "{}",
        common::esc(&g.client)
    );
    assert!(g.closed, "rhaproxy closes after the response");
    assert_eq!(g.origin.len(), 1);
    assert!(g.origin[0].ends_with(b"\r\n\r\nabc"));
    if let Some(h) = rhaproxy_tests::real_haproxy() {
        let exp = common::run(&h, "", std::slice::from_ref(&case));
        assert_eq!(exp[0].client, g.client, "{}", common::esc(&exp[0].client));
        assert_eq!(exp[0].origin, g.origin);
    }
}
