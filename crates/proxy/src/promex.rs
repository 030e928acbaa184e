//! The Prometheus exporter service (HAProxy's `addons/promex`,
//! `http-request use-service prometheus-exporter`): the metrics of the
//! process, frontends, listeners, backends and servers in Prometheus' text
//! format, with HAProxy 2.6's metric names, HELP texts, types, labels and
//! order, and its `scope=` / `no-maint` query parameters.
//!
//! Values come from `show info` and the `show stat` rows (`stats`); this
//! module only names and formats them. It must not touch sockets nor
//! stream state (`stream/http.rs` sends what it returns).

use crate::listener::{Kind as LKind, Listener};
use crate::runtime::{ProxyRt, Runtime, ServerRt};
use crate::stats::{self, Row, Val};
use config::model::Mode;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// Which objects a metric describes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sect {
    P,
    F,
    L,
    B,
    S,
}
use Sect::*;

/// One metric: the `show info` / `show stat` field it exports, its name
/// after the section prefix, whether it is a counter, and its HELP text.
struct M {
    sect: Sect,
    field: &'static str,
    name: &'static str,
    counter: bool,
    help: &'static str,
}

const fn m(sect: Sect, field: &'static str, name: &'static str, counter: bool, help: &'static str) -> M {
    M {
        sect,
        field,
        name,
        counter,
        help,
    }
}

/// HAProxy 2.6's metrics, in its order.
const METRICS: &[M] = &[
    m(P, "Nbthread", "nbthread", false, "Number of started threads (global.nbthread)"),
    m(P, "Nbproc", "nbproc", false, "Number of started worker processes (historical, always 1)"),
    m(P, "Process_num", "relative_process_id", false, "Relative worker process number (1)"),
    m(P, "Uptime_sec", "uptime_seconds", false, "How long ago this worker process was started (seconds)"),
    m(P, "PoolFailed", "pool_failures_total", true, "Number of failed pool allocations since this worker was started"),
    m(P, "Ulimit-n", "max_fds", false, "Hard limit on the number of per-process file descriptors"),
    m(P, "Maxsock", "max_sockets", false, "Hard limit on the number of per-process sockets"),
    m(P, "Maxconn", "max_connections", false, "Hard limit on the number of per-process connections (configured or imposed by Ulimit-n)"),
    m(P, "Hard_maxconn", "hard_max_connections", false, "Hard limit on the number of per-process connections (imposed by Memmax_MB or Ulimit-n)"),
    m(P, "CurrConns", "current_connections", false, "Current number of connections on this worker process"),
    m(P, "CumConns", "connections_total", true, "Total number of connections on this worker process since started"),
    m(P, "CumReq", "requests_total", true, "Total number of requests on this worker process since started"),
    m(P, "MaxSslConns", "max_ssl_connections", false, "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited"),
    m(P, "CurrSslConns", "current_ssl_connections", false, "Current number of SSL endpoints on this worker process (front+back)"),
    m(P, "CumSslConns", "ssl_connections_total", true, "Total number of SSL endpoints on this worker process since started (front+back)"),
    m(P, "Maxpipes", "max_pipes", false, "Hard limit on the number of pipes for splicing, 0=unlimited"),
    m(P, "PipesUsed", "pipes_used_total", true, "Current number of pipes in use in this worker process"),
    m(P, "PipesFree", "pipes_free_total", true, "Current number of allocated and available pipes in this worker process"),
    m(P, "ConnRate", "current_connection_rate", false, "Number of front connections created on this worker process over the last second"),
    m(P, "ConnRateLimit", "limit_connection_rate", false, "Hard limit for ConnRate (global.maxconnrate)"),
    m(P, "MaxConnRate", "max_connection_rate", false, "Highest ConnRate reached on this worker process since started (in connections per second)"),
    m(P, "SessRate", "current_session_rate", false, "Number of sessions created on this worker process over the last second"),
    m(P, "SessRateLimit", "limit_session_rate", false, "Hard limit for SessRate (global.maxsessrate)"),
    m(P, "MaxSessRate", "max_session_rate", false, "Highest SessRate reached on this worker process since started (in sessions per second)"),
    m(P, "SslRate", "current_ssl_rate", false, "Number of SSL connections created on this worker process over the last second"),
    m(P, "SslRateLimit", "limit_ssl_rate", false, "Hard limit for SslRate (global.maxsslrate)"),
    m(P, "MaxSslRate", "max_ssl_rate", false, "Highest SslRate reached on this worker process since started (in connections per second)"),
    m(P, "SslFrontendKeyRate", "current_frontend_ssl_key_rate", false, "Number of SSL keys created on frontends in this worker process over the last second"),
    m(P, "SslFrontendMaxKeyRate", "max_frontend_ssl_key_rate", false, "Highest SslFrontendKeyRate reached on this worker process since started (in SSL keys per second)"),
    m(P, "SslFrontendSessionReuse_pct", "frontend_ssl_reuse", false, "Percent of frontend SSL connections which did not require a new key"),
    m(P, "SslBackendKeyRate", "current_backend_ssl_key_rate", false, "Number of SSL keys created on backends in this worker process over the last second"),
    m(P, "SslBackendMaxKeyRate", "max_backend_ssl_key_rate", false, "Highest SslBackendKeyRate reached on this worker process since started (in SSL keys per second)"),
    m(P, "SslCacheLookups", "ssl_cache_lookups_total", true, "Total number of SSL session ID lookups in the SSL session cache on this worker since started"),
    m(P, "SslCacheMisses", "ssl_cache_misses_total", true, "Total number of SSL session ID lookups that didn't find a session in the SSL session cache on this worker since started"),
    m(P, "CompressBpsIn", "http_comp_bytes_in_total", true, "Number of bytes submitted to the HTTP compressor in this worker process over the last second"),
    m(P, "CompressBpsOut", "http_comp_bytes_out_total", true, "Number of bytes emitted by the HTTP compressor in this worker process over the last second"),
    m(P, "CompressBpsRateLim", "limit_http_comp", false, "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled"),
    m(P, "ZlibMemUsage", "current_zlib_memory", false, "Amount of memory currently used by HTTP compression on the current worker process (in bytes)"),
    m(P, "MaxZlibMemUsage", "max_zlib_memory", false, "Limit on the amount of memory used by HTTP compression above which it is automatically disabled (in bytes, see global.maxzlibmem)"),
    m(P, "Tasks", "current_tasks", false, "Total number of tasks in the current worker process (active + sleeping)"),
    m(P, "Run_queue", "current_run_queue", false, "Total number of active tasks+tasklets in the current worker process"),
    m(P, "Idle_pct", "idle_time_percent", false, "Percentage of last second spent waiting in the current worker thread"),
    m(P, "Stopping", "stopping", false, "1 if the worker process is currently stopping, otherwise zero"),
    m(P, "Jobs", "jobs", false, "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)"),
    m(P, "Unstoppable Jobs", "unstoppable_jobs", false, "Current number of unstoppable jobs on the current worker process (master connections)"),
    m(P, "Listeners", "listeners", false, "Current number of active listeners on the current worker process"),
    m(P, "ActivePeers", "active_peers", false, "Current number of verified active peers connections on the current worker process"),
    m(P, "ConnectedPeers", "connected_peers", false, "Current number of peers having passed the connection step on the current worker process"),
    m(P, "DroppedLogs", "dropped_logs_total", true, "Total number of dropped logs for current worker process since started"),
    m(P, "BusyPolling", "busy_polling_enabled", false, "1 if busy-polling is currently in use on the worker process, otherwise zero (config.busy-polling)"),
    m(P, "FailedResolutions", "failed_resolutions", true, "Total number of failed DNS resolutions in current worker process since started"),
    m(P, "TotalBytesOut", "bytes_out_total", true, "Total number of bytes emitted by current worker process since started"),
    m(P, "TotalSplicdedBytesOut", "spliced_bytes_out_total", true, "Total number of bytes emitted by current worker process through a kernel pipe since started"),
    m(P, "BytesOutRate", "bytes_out_rate", false, "Number of bytes emitted by current worker process over the last second"),
    m(P, "CumRecvLogs", "recv_logs_total", true, "Total number of log messages received by log-forwarding listeners on this worker process since started"),
    m(P, "Build info", "build_info", false, "Build info"),
    m(P, "Memmax_bytes", "max_memory_bytes", false, "Worker process's hard limit on memory usage in byes (-m on command line)"),
    m(P, "PoolAlloc_bytes", "pool_allocated_bytes", false, "Amount of memory allocated in pools (in bytes)"),
    m(P, "PoolUsed_bytes", "pool_used_bytes", false, "Amount of pool memory currently used (in bytes)"),
    m(P, "Start_time_sec", "start_time_seconds", false, "Start time in seconds"),
    m(F, "scur", "current_sessions", false, "Number of current sessions on the frontend, backend or server"),
    m(F, "smax", "max_sessions", false, "Highest value of current sessions encountered since process started"),
    m(F, "slim", "limit_sessions", false, "Frontend/listener/server's maxconn, backend's fullconn"),
    m(F, "stot", "sessions_total", true, "Total number of sessions since process started"),
    m(F, "bin", "bytes_in_total", true, "Total number of request bytes since process started"),
    m(F, "bout", "bytes_out_total", true, "Total number of response bytes since process started"),
    m(F, "dreq", "requests_denied_total", true, "Total number of denied requests since process started"),
    m(F, "dresp", "responses_denied_total", true, "Total number of denied responses since process started"),
    m(F, "ereq", "request_errors_total", true, "Total number of invalid requests since process started"),
    m(F, "status", "status", false, "Current status of the service, per state label value."),
    m(F, "rate_lim", "limit_session_rate", false, "Limit on the number of sessions accepted in a second (frontend only, 'rate-limit sessions' setting)"),
    m(F, "rate_max", "max_session_rate", false, "Highest value of sessions per second observed since the worker process started"),
    m(F, "hrsp_1xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "hrsp_2xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "hrsp_3xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "hrsp_4xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "hrsp_5xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "hrsp_other", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(F, "req_rate_max", "http_requests_rate_max", false, "Highest value of http requests observed since the worker process started"),
    m(F, "req_tot", "http_requests_total", true, "Total number of HTTP requests processed by this object since the worker process started"),
    m(F, "comp_in", "http_comp_bytes_in_total", true, "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"),
    m(F, "comp_out", "http_comp_bytes_out_total", true, "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"),
    m(F, "comp_byp", "http_comp_bytes_bypassed_total", true, "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"),
    m(F, "comp_rsp", "http_comp_responses_total", true, "Total number of HTTP responses that were compressed for this object since the worker process started"),
    m(F, "conn_rate_max", "connections_rate_max", false, "Highest value of connections per second observed since the worker process started"),
    m(F, "conn_tot", "connections_total", true, "Total number of new connections accepted on this frontend since the worker process started"),
    m(F, "intercepted", "intercepted_requests_total", true, "Total number of HTTP requests intercepted on the frontend (redirects/stats/services) since the worker process started"),
    m(F, "dcon", "denied_connections_total", true, "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m(F, "dses", "denied_sessions_total", true, "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m(F, "wrew", "failed_header_rewriting_total", true, "Total number of failed HTTP header rewrites since the worker process started"),
    m(F, "cache_lookups", "http_cache_lookups_total", true, "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"),
    m(F, "cache_hits", "http_cache_hits_total", true, "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"),
    m(F, "eint", "internal_errors_total", true, "Total number of internal errors since process started"),
    m(L, "scur", "current_sessions", false, "Number of current sessions on the frontend, backend or server"),
    m(L, "smax", "max_sessions", false, "Highest value of current sessions encountered since process started"),
    m(L, "slim", "limit_sessions", false, "Frontend/listener/server's maxconn, backend's fullconn"),
    m(L, "stot", "sessions_total", true, "Total number of sessions since process started"),
    m(L, "bin", "bytes_in_total", true, "Total number of request bytes since process started"),
    m(L, "bout", "bytes_out_total", true, "Total number of response bytes since process started"),
    m(L, "dreq", "requests_denied_total", true, "Total number of denied requests since process started"),
    m(L, "dresp", "responses_denied_total", true, "Total number of denied responses since process started"),
    m(L, "ereq", "request_errors_total", true, "Total number of invalid requests since process started"),
    m(L, "status", "status", false, "Current status of the service, per state label value."),
    m(L, "dcon", "denied_connections_total", true, "Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m(L, "dses", "denied_sessions_total", true, "Total number of incoming sessions blocked on a listener/frontend by a tcp-request connection rule since the worker process started"),
    m(L, "wrew", "failed_header_rewriting_total", true, "Total number of failed HTTP header rewrites since the worker process started"),
    m(L, "eint", "internal_errors_total", true, "Total number of internal errors since process started"),
    m(B, "qcur", "current_queue", false, "Number of current queued connections"),
    m(B, "qmax", "max_queue", false, "Highest value of queued connections encountered since process started"),
    m(B, "scur", "current_sessions", false, "Number of current sessions on the frontend, backend or server"),
    m(B, "smax", "max_sessions", false, "Highest value of current sessions encountered since process started"),
    m(B, "slim", "limit_sessions", false, "Frontend/listener/server's maxconn, backend's fullconn"),
    m(B, "stot", "sessions_total", true, "Total number of sessions since process started"),
    m(B, "bin", "bytes_in_total", true, "Total number of request bytes since process started"),
    m(B, "bout", "bytes_out_total", true, "Total number of response bytes since process started"),
    m(B, "dreq", "requests_denied_total", true, "Total number of denied requests since process started"),
    m(B, "dresp", "responses_denied_total", true, "Total number of denied responses since process started"),
    m(B, "econ", "connection_errors_total", true, "Total number of failed connections to server since the worker process started"),
    m(B, "eresp", "response_errors_total", true, "Total number of invalid responses since the worker process started"),
    m(B, "wretr", "retry_warnings_total", true, "Total number of server connection retries since the worker process started"),
    m(B, "wredis", "redispatch_warnings_total", true, "Total number of server redispatches due to connection failures since the worker process started"),
    m(B, "status", "status", false, "Current status of the service, per state label value."),
    m(B, "weight", "weight", false, "Server's effective weight, or sum of active servers' effective weights for a backend"),
    m(B, "act", "active_servers", false, "Total number of active UP servers with a non-zero weight"),
    m(B, "bck", "backup_servers", false, "Total number of backup UP servers with a non-zero weight"),
    m(B, "chkdown", "check_up_down_total", true, "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"),
    m(B, "lastchg", "check_last_change_seconds", false, "How long ago the last server state changed, in seconds"),
    m(B, "downtime", "downtime_seconds_total", true, "Total time spent in DOWN state, for server or backend"),
    m(B, "lbtot", "loadbalanced_total", true, "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"),
    m(B, "rate_max", "max_session_rate", false, "Highest value of sessions per second observed since the worker process started"),
    m(B, "hrsp_1xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "hrsp_2xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "hrsp_3xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "hrsp_4xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "hrsp_5xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "hrsp_other", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(B, "req_tot", "http_requests_total", true, "Total number of HTTP requests processed by this object since the worker process started"),
    m(B, "cli_abrt", "client_aborts_total", true, "Total number of requests or connections aborted by the client since the worker process started"),
    m(B, "srv_abrt", "server_aborts_total", true, "Total number of requests or connections aborted by the server since the worker process started"),
    m(B, "comp_in", "http_comp_bytes_in_total", true, "Total number of bytes submitted to the HTTP compressor for this object since the worker process started"),
    m(B, "comp_out", "http_comp_bytes_out_total", true, "Total number of bytes emitted by the HTTP compressor for this object since the worker process started"),
    m(B, "comp_byp", "http_comp_bytes_bypassed_total", true, "Total number of bytes that bypassed HTTP compression for this object since the worker process started (CPU/memory/bandwidth limitation)"),
    m(B, "comp_rsp", "http_comp_responses_total", true, "Total number of HTTP responses that were compressed for this object since the worker process started"),
    m(B, "lastsess", "last_session_seconds", false, "How long ago some traffic was seen on this object on this worker process, in seconds"),
    m(B, "qtime", "queue_time_average_seconds", false, "Avg. queue time for last 1024 successful connections."),
    m(B, "ctime", "connect_time_average_seconds", false, "Avg. connect time for last 1024 successful connections."),
    m(B, "rtime", "response_time_average_seconds", false, "Avg. response time for last 1024 successful connections."),
    m(B, "ttime", "total_time_average_seconds", false, "Avg. total time for last 1024 successful connections."),
    m(B, "wrew", "failed_header_rewriting_total", true, "Total number of failed HTTP header rewrites since the worker process started"),
    m(B, "connect", "connection_attempts_total", true, "Total number of outgoing connection attempts on this backend/server since the worker process started"),
    m(B, "reuse", "connection_reuses_total", true, "Total number of reused connection on this backend/server since the worker process started"),
    m(B, "cache_lookups", "http_cache_lookups_total", true, "Total number of HTTP requests looked up in the cache on this frontend/backend since the worker process started"),
    m(B, "cache_hits", "http_cache_hits_total", true, "Total number of HTTP requests not found in the cache on this frontend/backend since the worker process started"),
    m(B, "qtime_max", "max_queue_time_seconds", false, "Maximum observed time spent in the queue"),
    m(B, "ctime_max", "max_connect_time_seconds", false, "Maximum observed time spent waiting for a connection to complete"),
    m(B, "rtime_max", "max_response_time_seconds", false, "Maximum observed time spent waiting for a server response"),
    m(B, "ttime_max", "max_total_time_seconds", false, "Maximum observed total request+response time (request+queue+connect+response+processing)"),
    m(B, "eint", "internal_errors_total", true, "Total number of internal errors since process started"),
    m(B, "uweight", "uweight", false, "Server's user weight, or sum of active servers' user weights for a backend"),
    m(B, "agg_server_status", "agg_server_status", false, "Backend's aggregated gauge of servers' status"),
    m(B, "agg_server_check_status", "agg_server_check_status", false, "Backend's aggregated gauge of servers' state check status"),
    m(B, "agg_check_status", "agg_check_status", false, "Backend's aggregated gauge of servers' state check status"),
    m(S, "qcur", "current_queue", false, "Number of current queued connections"),
    m(S, "qmax", "max_queue", false, "Highest value of queued connections encountered since process started"),
    m(S, "scur", "current_sessions", false, "Number of current sessions on the frontend, backend or server"),
    m(S, "smax", "max_sessions", false, "Highest value of current sessions encountered since process started"),
    m(S, "slim", "limit_sessions", false, "Frontend/listener/server's maxconn, backend's fullconn"),
    m(S, "stot", "sessions_total", true, "Total number of sessions since process started"),
    m(S, "bin", "bytes_in_total", true, "Total number of request bytes since process started"),
    m(S, "bout", "bytes_out_total", true, "Total number of response bytes since process started"),
    m(S, "dresp", "responses_denied_total", true, "Total number of denied responses since process started"),
    m(S, "econ", "connection_errors_total", true, "Total number of failed connections to server since the worker process started"),
    m(S, "eresp", "response_errors_total", true, "Total number of invalid responses since the worker process started"),
    m(S, "wretr", "retry_warnings_total", true, "Total number of server connection retries since the worker process started"),
    m(S, "wredis", "redispatch_warnings_total", true, "Total number of server redispatches due to connection failures since the worker process started"),
    m(S, "status", "status", false, "Current status of the service, per state label value."),
    m(S, "weight", "weight", false, "Server's effective weight, or sum of active servers' effective weights for a backend"),
    m(S, "chkfail", "check_failures_total", true, "Total number of failed individual health checks per server/backend, since the worker process started"),
    m(S, "chkdown", "check_up_down_total", true, "Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started"),
    m(S, "lastchg", "check_last_change_seconds", false, "How long ago the last server state changed, in seconds"),
    m(S, "downtime", "downtime_seconds_total", true, "Total time spent in DOWN state, for server or backend"),
    m(S, "qlimit", "queue_limit", false, "Limit on the number of connections in queue, for servers only (maxqueue argument)"),
    m(S, "throttle", "current_throttle", false, "Throttling ratio applied to a server's maxconn and weight during the slowstart period (0 to 100%)"),
    m(S, "lbtot", "loadbalanced_total", true, "Total number of requests routed by load balancing since the worker process started (ignores queue pop and stickiness)"),
    m(S, "rate_max", "max_session_rate", false, "Highest value of sessions per second observed since the worker process started"),
    m(S, "check_status", "check_status", false, "Status of last health check, per state label value."),
    m(S, "check_code", "check_code", false, "layer5-7 code, if available of the last health check."),
    m(S, "check_duration", "check_duration_seconds", false, "Total duration of the latest server health check, in seconds."),
    m(S, "hrsp_1xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "hrsp_2xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "hrsp_3xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "hrsp_4xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "hrsp_5xx", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "hrsp_other", "http_responses_total", true, "Total number of HTTP responses with status 100-199 returned by this object since the worker process started"),
    m(S, "cli_abrt", "client_aborts_total", true, "Total number of requests or connections aborted by the client since the worker process started"),
    m(S, "srv_abrt", "server_aborts_total", true, "Total number of requests or connections aborted by the server since the worker process started"),
    m(S, "lastsess", "last_session_seconds", false, "How long ago some traffic was seen on this object on this worker process, in seconds"),
    m(S, "qtime", "queue_time_average_seconds", false, "Avg. queue time for last 1024 successful connections."),
    m(S, "ctime", "connect_time_average_seconds", false, "Avg. connect time for last 1024 successful connections."),
    m(S, "rtime", "response_time_average_seconds", false, "Avg. response time for last 1024 successful connections."),
    m(S, "ttime", "total_time_average_seconds", false, "Avg. total time for last 1024 successful connections."),
    m(S, "wrew", "failed_header_rewriting_total", true, "Total number of failed HTTP header rewrites since the worker process started"),
    m(S, "connect", "connection_attempts_total", true, "Total number of outgoing connection attempts on this backend/server since the worker process started"),
    m(S, "reuse", "connection_reuses_total", true, "Total number of reused connection on this backend/server since the worker process started"),
    m(S, "srv_icur", "idle_connections_current", false, "Current number of idle connections available for reuse on this server"),
    m(S, "src_ilim", "idle_connections_limit", false, "Limit on the number of available idle connections on this server (server 'pool_max_conn' directive)"),
    m(S, "qtime_max", "max_queue_time_seconds", false, "Maximum observed time spent in the queue"),
    m(S, "ctime_max", "max_connect_time_seconds", false, "Maximum observed time spent waiting for a connection to complete"),
    m(S, "rtime_max", "max_response_time_seconds", false, "Maximum observed time spent waiting for a server response"),
    m(S, "ttime_max", "max_total_time_seconds", false, "Maximum observed total request+response time (request+queue+connect+response+processing)"),
    m(S, "eint", "internal_errors_total", true, "Total number of internal errors since process started"),
    m(S, "idle_conn_cur", "unsafe_idle_connections_current", false, "Current number of unsafe idle connections"),
    m(S, "safe_conn_cur", "safe_idle_connections_current", false, "Current number of safe idle connections"),
    m(S, "used_conn_cur", "used_connections_current", false, "Current number of connections in use"),
    m(S, "need_conn_est", "need_connections_current", false, "Estimated needed number of connections"),
    m(S, "uweight", "uweight", false, "Server's user weight, or sum of active servers' user weights for a backend"),
];

/// The health-check results a server's `check_status` lists (those that
/// end a check).
const CHECK_STATES: [&str; 16] = [
    "HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7OK", "L7OKC",
    "L7STS", "PROCERR", "PROCTOUT", "PROCOK",
];
const SRV_STATES: [&str; 5] = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"];
const LI_STATES: [&str; 3] = ["WAITING", "OPEN", "FULL"];

/// What a request asks for (`?scope=...&scope=...&no-maint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scopes {
    pub global: bool,
    pub front: bool,
    pub listener: bool,
    pub back: bool,
    pub server: bool,
    pub sticktable: bool,
    pub no_maint: bool,
}

impl Scopes {
    fn all(on: bool) -> Scopes {
        Scopes {
            global: on,
            front: on,
            listener: on,
            back: on,
            server: on,
            sticktable: on,
            no_maint: false,
        }
    }
}

fn url_decode(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        match v[i] {
            b'%' => {
                let h = std::str::from_utf8(v.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
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

/// A query string HAProxy's exporter refuses (it answers 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadQuery;

/// Reads the query string of a request target. Err: HAProxy answers 400
/// (a `scope` without a value, an unknown scope, a bad escape).
pub fn parse_query(uri: &[u8]) -> Result<Scopes, BadQuery> {
    let mut s = Scopes::all(false);
    let mut any_scope = false;
    let Some(q) = uri.iter().position(|&c| c == b'?') else {
        return Ok(Scopes::all(true));
    };
    let q = &uri[q + 1..];
    let q = &q[..q.iter().position(|&c| c == b'#').unwrap_or(q.len())];
    for part in q.split(|&c| c == b'&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = match part.iter().position(|&c| c == b'=') {
            Some(i) => (&part[..i], Some(&part[i + 1..])),
            None => (part, None),
        };
        if v.is_some_and(|v| v.contains(&b'=')) {
            return Err(BadQuery);
        }
        let k = url_decode(k).ok_or(BadQuery)?;
        let v = match v {
            Some(v) => Some(url_decode(v).ok_or(BadQuery)?),
            None => None,
        };
        match &k[..] {
            b"scope" => {
                any_scope = true;
                match v.as_deref() {
                    None => return Err(BadQuery),
                    Some(b"") => {
                        let nm = s.no_maint;
                        s = Scopes::all(false);
                        s.no_maint = nm;
                    }
                    Some(b"*") => {
                        let nm = s.no_maint;
                        s = Scopes::all(true);
                        s.no_maint = nm;
                    }
                    Some(b"global") => s.global = true,
                    Some(b"server") => s.server = true,
                    Some(b"backend") => s.back = true,
                    Some(b"frontend") => s.front = true,
                    Some(b"listener") => s.listener = true,
                    Some(b"sticktable") => s.sticktable = true,
                    Some(_) => return Err(BadQuery),
                }
            }
            b"no-maint" => s.no_maint = true,
            _ => {}
        }
    }
    if !any_scope {
        let nm = s.no_maint;
        s = Scopes::all(true);
        s.no_maint = nm;
    }
    Ok(s)
}

/// Writes one metric line (HELP and TYPE first when `hdr` is still set).
struct Out {
    s: String,
    hdr: bool,
}

impl Out {
    fn line(&mut self, prefix: &str, m: &M, labels: &[(&str, &str)], value: &str) {
        if self.hdr {
            let kind = if m.counter { "counter" } else { "gauge" };
            let _ = write!(
                self.s,
                "# HELP haproxy_{prefix}_{n} {}\n# TYPE haproxy_{prefix}_{n} {kind}\n",
                m.help,
                n = m.name
            );
            self.hdr = false;
        }
        let _ = write!(self.s, "haproxy_{prefix}_{}", m.name);
        if !labels.is_empty() {
            self.s.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.s.push(',');
                }
                let _ = write!(self.s, "{k}=\"{v}\"");
            }
            self.s.push('}');
        }
        self.s.push(' ');
        self.s.push_str(value);
        self.s.push('\n');
    }
}

/// A value as Prometheus reads it: numbers, else NaN.
fn val(v: Option<&Val>) -> String {
    match v {
        Some(Val::U32(n) | Val::U64(n)) => n.to_string(),
        Some(Val::S32(n)) => n.to_string(),
        _ => "NaN".into(),
    }
}

fn secs(ms: u64) -> String {
    format!("{:.6}", ms as f64 / 1000.0)
}

/// HTTP-only fields (skipped for TCP proxies).
fn http_only(field: &str) -> bool {
    field.starts_with("hrsp_")
        || field.starts_with("comp_")
        || field.starts_with("cache_")
        || matches!(field, "req_rate_max" | "req_tot" | "intercepted")
}

/// A server's state as the exporter names it.
fn srv_state(sv: &ServerRt) -> usize {
    let st = stats::server_status(sv);
    if st.starts_with("MAINT") {
        2
    } else if st.starts_with("DRAIN") {
        3
    } else if st.starts_with("NOLB") {
        4
    } else if st.starts_with("UP") || st == "no check" {
        1
    } else {
        0
    }
}

/// The averages HAProxy's exporter divides over the whole window.
fn avg_secs(c: &crate::counters::Counters, field: &str) -> Option<String> {
    let a = match field {
        "qtime" => &c.q_time,
        "ctime" => &c.c_time,
        "rtime" => &c.d_time,
        "ttime" => &c.t_time,
        _ => return None,
    };
    let avg = crate::counters::swrate_avg(a.load(Relaxed), crate::counters::TIME_STATS_SAMPLES);
    Some(secs(avg as u64))
}

/// How a stick-table gauge is read.
type TableGauge = fn(&crate::stick_table::Table) -> u64;

/// The whole exposition for these scopes.
pub fn render(rt: &Runtime, listeners: &[Listener], nbthread: usize, now: u64, sc: &Scopes) -> String {
    let mut o = Out {
        s: String::with_capacity(64 * 1024),
        hdr: true,
    };
    let live = |p: &&ProxyRt| !p.cfg.disabled;
    if sc.global {
        let info = stats::info_fields(rt, nbthread, now);
        for m in METRICS.iter().filter(|m| m.sect == P) {
            o.hdr = true;
            if m.field == "Build info" {
                o.line("process", m, &[("version", config::features::VERSION)], "1");
                continue;
            }
            let v = info
                .iter()
                .find(|(n, _, _)| *n == m.field)
                .and_then(|(_, _, v)| v.as_ref());
            o.line("process", m, &[], &val(v));
        }
    }
    if sc.front {
        let rows: Vec<(&ProxyRt, Row)> = rt
            .proxies
            .iter()
            .filter(live)
            .filter(|p| p.is_frontend)
            .map(|p| (p, stats::frontend_row(rt, p, now)))
            .collect();
        for m in METRICS.iter().filter(|m| m.sect == F) {
            o.hdr = m.field == "hrsp_1xx" || !m.field.starts_with("hrsp_");
            for (px, r) in &rows {
                if http_only(m.field) && px.mode != Mode::Http {
                    continue;
                }
                let name = px.name.as_str();
                match m.field {
                    "status" => {
                        let up = r.text_of("status") != "STOP";
                        for (i, st) in ["DOWN", "UP"].iter().enumerate() {
                            let v = if (i == 1) == up { "1" } else { "0" };
                            o.line("frontend", m, &[("proxy", name), ("state", st)], v);
                        }
                    }
                    f if f.starts_with("hrsp_") => {
                        let code = &f[5..];
                        o.line("frontend", m, &[("proxy", name), ("code", code)], &val(r.field(f)));
                    }
                    f => o.line("frontend", m, &[("proxy", name)], &val(r.field(f))),
                }
            }
        }
    }
    if sc.listener {
        let rows: Vec<(&ProxyRt, &Listener, Row)> = rt
            .proxies
            .iter()
            .filter(live)
            .filter(|p| p.is_frontend && p.cfg.options.socket_stats)
            .flat_map(|p| {
                listeners
                    .iter()
                    .filter(move |l| l.kind == LKind::Proxy(p.idx))
                    .map(move |l| (p, l, stats::listener_row(p, l)))
            })
            .collect();
        for m in METRICS.iter().filter(|m| m.sect == L) {
            o.hdr = true;
            for (px, l, r) in &rows {
                let labels = [("proxy", px.name.as_str()), ("listener", l.name.as_str())];
                if m.field == "status" {
                    let cur = r.text_of("status");
                    for st in LI_STATES {
                        let v = if st == cur { "1" } else { "0" };
                        o.line("listener", m, &[labels[0], labels[1], ("state", st)], v);
                    }
                } else {
                    o.line("listener", m, &labels, &val(r.field(m.field)));
                }
            }
        }
    }
    if sc.back {
        let rows: Vec<(&ProxyRt, Row)> = rt
            .proxies
            .iter()
            .filter(live)
            .filter(|p| p.is_backend)
            .map(|p| (p, stats::backend_row(rt, p, now, false)))
            .collect();
        for m in METRICS.iter().filter(|m| m.sect == B) {
            o.hdr = m.field == "hrsp_1xx" || !m.field.starts_with("hrsp_");
            for (px, r) in &rows {
                if http_only(m.field) && px.mode != Mode::Http {
                    continue;
                }
                let name = px.name.as_str();
                match m.field {
                    "agg_server_status" | "agg_server_check_status" => {
                        let mut count = [0u32; 5];
                        let mut any = false;
                        for sv in px.servers.iter().filter(|s| !s.is_deleted()) {
                            count[srv_state(sv)] += 1;
                            any = true;
                        }
                        if !any {
                            continue;
                        }
                        for (i, st) in SRV_STATES.iter().enumerate() {
                            o.line("backend", m, &[("proxy", name), ("state", st)], &count[i].to_string());
                        }
                    }
                    "agg_check_status" => {
                        // Servers per result of their last health check.
                        if px.servers.iter().all(|s| s.is_deleted()) {
                            continue;
                        }
                        let mut count = [0u32; CHECK_STATES.len()];
                        for sv in px.servers.iter().filter(|s| !s.is_deleted() && s.chk.enabled) {
                            let cur = sv.chk.report().status.info();
                            if let Some(i) = CHECK_STATES.iter().position(|st| *st == cur) {
                                count[i] += 1;
                            }
                        }
                        for (i, st) in CHECK_STATES.iter().enumerate() {
                            o.line("backend", m, &[("proxy", name), ("state", st)], &count[i].to_string());
                        }
                    }
                    "status" => {
                        let up = r.text_of("status").starts_with("UP");
                        for (i, st) in ["DOWN", "UP"].iter().enumerate() {
                            let v = if (i == 1) == up { "1" } else { "0" };
                            o.line("backend", m, &[("proxy", name), ("state", st)], v);
                        }
                    }
                    f @ ("qtime" | "ctime" | "rtime" | "ttime") => {
                        let v = avg_secs(&px.be_counters, f).unwrap_or_default();
                        o.line("backend", m, &[("proxy", name)], &v);
                    }
                    f @ ("qtime_max" | "ctime_max" | "rtime_max" | "ttime_max") => {
                        o.line("backend", m, &[("proxy", name)], &secs(r.num(f).max(0) as u64));
                    }
                    f if f.starts_with("hrsp_") => {
                        o.line("backend", m, &[("proxy", name), ("code", &f[5..])], &val(r.field(f)));
                    }
                    f => o.line("backend", m, &[("proxy", name)], &val(r.field(f))),
                }
            }
        }
    }
    if sc.server {
        let rows: Vec<(&ProxyRt, &ServerRt, Row)> = rt
            .proxies
            .iter()
            .filter(live)
            .filter(|p| p.is_backend)
            .flat_map(|p| {
                p.servers
                    .iter()
                    .filter(|s| !s.is_deleted())
                    .filter(|s| !(sc.no_maint && s.in_maint()))
                    .map(move |s| (p, s, stats::server_row(p, s, now)))
            })
            .collect();
        for m in METRICS.iter().filter(|m| m.sect == S) {
            o.hdr = m.field == "hrsp_1xx" || !m.field.starts_with("hrsp_");
            for (px, sv, r) in &rows {
                if http_only(m.field) && px.mode != Mode::Http {
                    continue;
                }
                let (pn, sn) = (px.name.as_str(), sv.name.as_str());
                let checking = sv.chk.enabled && !sv.in_maint();
                match m.field {
                    "status" => {
                        let cur = srv_state(sv);
                        for (i, st) in SRV_STATES.iter().enumerate() {
                            let v = if i == cur { "1" } else { "0" };
                            o.line("server", m, &[("proxy", pn), ("server", sn), ("state", st)], v);
                        }
                    }
                    "check_status" if checking => {
                        let cur = sv.chk.report().status.info();
                        for st in CHECK_STATES {
                            let v = if st == cur { "1" } else { "0" };
                            o.line("server", m, &[("proxy", pn), ("server", sn), ("state", st)], v);
                        }
                    }
                    "check_code" if checking => {
                        let v = r.field("check_code").map_or("0".to_string(), |v| val(Some(v)));
                        o.line("server", m, &[("proxy", pn), ("server", sn)], &v);
                    }
                    "check_status" | "check_code" => {}
                    "check_duration" => {
                        if r.field("check_duration").is_some() {
                            let v = secs(r.num("check_duration").max(0) as u64);
                            o.line("server", m, &[("proxy", pn), ("server", sn)], &v);
                        }
                    }
                    f @ ("qtime" | "ctime" | "rtime" | "ttime") => {
                        let v = avg_secs(&sv.counters, f).unwrap_or_default();
                        o.line("server", m, &[("proxy", pn), ("server", sn)], &v);
                    }
                    f @ ("qtime_max" | "ctime_max" | "rtime_max" | "ttime_max") => {
                        o.line(
                            "server",
                            m,
                            &[("proxy", pn), ("server", sn)],
                            &secs(r.num(f).max(0) as u64),
                        );
                    }
                    f if f.starts_with("hrsp_") => {
                        let labels = [("proxy", pn), ("server", sn), ("code", &f[5..])];
                        o.line("server", m, &labels, &val(r.field(f)));
                    }
                    f => o.line("server", m, &[("proxy", pn), ("server", sn)], &val(r.field(f))),
                }
            }
        }
    }
    if sc.sticktable {
        let metrics: [(&str, &str, TableGauge); 2] = [
            ("size", "Stick table size.", |t| t.def.size),
            ("used", "Number of entries used in this stick table.", |t| {
                t.used() as u64
            }),
        ];
        for (name, help, get) in metrics {
            let m = M {
                sect: P,
                field: "",
                name,
                counter: false,
                help,
            };
            o.hdr = true;
            for t in rt.tables.iter().filter(|t| t.def.size > 0) {
                let labels = [("name", t.name.as_str()), ("type", t.def.ktype.name())];
                o.line("sticktable", &m, &labels, &get(t).to_string());
            }
        }
    }
    o.s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_scopes() {
        assert_eq!(parse_query(b"/metrics"), Ok(Scopes::all(true)));
        let s = parse_query(b"/metrics?scope=server").unwrap();
        assert!(s.server && !s.global && !s.front && !s.back);
        let s = parse_query(b"/metrics?scope=frontend&scope=backend").unwrap();
        assert!(s.front && s.back && !s.server);
        let s = parse_query(b"/metrics?scope=").unwrap();
        assert!(!s.global && !s.front && !s.server);
        assert!(parse_query(b"/metrics?scope").is_err());
        assert!(parse_query(b"/metrics?scope=bogus").is_err());
        let s = parse_query(b"/metrics?no-maint").unwrap();
        assert!(s.no_maint && s.server && s.global);
    }

    #[test]
    fn table_is_haproxys() {
        // One HELP per metric name; names never repeat across sections
        // but http_responses_total (one per status class).
        let n = METRICS.iter().filter(|m| m.name == "http_responses_total").count();
        assert_eq!(n, 18);
        assert!(METRICS.iter().all(|m| !m.help.is_empty()));
        for m in METRICS.iter().filter(|m| m.sect != P) {
            assert!(crate::stats::FIELDS.contains(&m.field), "{}", m.field);
        }
    }
}
