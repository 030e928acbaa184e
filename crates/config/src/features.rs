//! What this build of rhaproxy really has, in HAProxy's `-vv` vocabulary.
//! The single place later issues flip entries when a feature lands; `-vv`,
//! `feature()` conditions and the reg-test runner's REQUIRE_OPTIONS all read
//! it. It must not claim anything the code does not do.

/// HAProxy release whose behaviour rhaproxy reproduces.
pub const HAPROXY_VERSION: &str = "2.6.12";

/// Full version string: HAProxy's, tagged with ours, so scripts that parse
/// `HAProxy version X` keep working (reg-tests evaluate REQUIRE_VERSION).
pub const VERSION: &str = concat!("2.6.12-rhaproxy-", env!("CARGO_PKG_VERSION"));

/// `Feature list :` of `-vv`. `+` = present, `-` = absent.
pub const BUILD_FEATURES: &str = "-51DEGREES +ACCEPT4 -BACKTRACE -CLOSEFROM +CPU_AFFINITY -CRYPT_H -DEVICEATLAS -DL -ENGINE +EPOLL -EVPORTS +GETADDRINFO -KQUEUE -LIBCRYPT -LINUX_SPLICE -LINUX_TPROXY -LUA -MEMORY_PROFILING -NETFILTER -NS -OBSOLETE_LINKER +OPENSSL -OT -PCRE -PCRE2 -PCRE2_JIT -PCRE_JIT -POLL -PRCTL -PROCCTL +PROMEX -QUIC -RT -SLZ -STATIC_PCRE -STATIC_PCRE2 -SYSTEMD -TFO +THREAD -THREAD_DUMP -TPROXY -WURFL -ZLIB";

/// `Available services :` of `-vv`.
pub const SERVICES: &str = "prometheus-exporter";

/// Maximum `nbthread` (HAProxy's MAX_THREADS on 64-bit builds).
pub const MAX_THREADS: u32 = 64;

/// The `nbthread` HAProxy 2.6 uses when the configuration sets none: the
/// number of CPUs the process may run on (its affinity mask, so `taskset`
/// controls it), between 1 and [`MAX_THREADS`]. (HAProxy first restricts
/// itself to one NUMA node on multi-node machines; not done here.)
pub fn cpus_enabled() -> u32 {
    // SAFETY: `set` is a plain bit array that sched_getaffinity fills; the
    // size passed is its own, and CPU_COUNT only reads it.
    let n = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            libc::CPU_COUNT(&set) as u32
        } else {
            1
        }
    };
    n.clamp(1, MAX_THREADS)
}

/// Thread groups (HAProxy 2.6's default build has one).
pub const MAX_TGROUPS: i64 = 1;
