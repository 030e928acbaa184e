//! The `rhaproxy` binary: HAProxy's command line, configuration loading and
//! process life cycle. It owns flags, signals and the start-up sequence; the
//! event loop lives in `reactor`, the proxy logic in `proxy`.

fn main() {
    println!("HAProxy version 2.6.12-rhaproxy-{}", env!("CARGO_PKG_VERSION"));
}
