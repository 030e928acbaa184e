//! Traffic counters of frontends, backends, servers and the process, kept as
//! HAProxy keeps them (the names are `show stat`/`show info` fields), for
//! the stats socket to print.
//!
//! Counters are shared by all threads: relaxed atomic adds, read without
//! synchronisation (a dump may mix values a few nanoseconds apart, as
//! HAProxy's does). Maxima are updated with a compare-exchange loop.
//! This module owns storage only; streams decide what to count.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Adds one.
#[inline]
pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

#[inline]
pub fn add(c: &AtomicU64, n: u64) {
    if n != 0 {
        c.fetch_add(n, Relaxed);
    }
}

#[inline]
pub fn dec(c: &AtomicU64) {
    c.fetch_sub(1, Relaxed);
}

/// Samples the qtime/ctime/rtime/ttime averages run over (HAProxy's
/// TIME_STATS_SAMPLES).
pub const TIME_STATS_SAMPLES: u32 = 1024;

/// Adds `v` to a sliding-window sum of the last `n` samples (HAProxy's
/// `swrate_add_dynamic`): each sample first takes away an `n`th of the
/// sum. `n` is 0 until the window is full, so the sum is then a plain
/// total and the average divides by the count so far. The sum wraps
/// like HAProxy's unsigned int.
#[inline]
pub fn swrate_add(sum: &AtomicU32, n: u32, v: u32) {
    let step = |old: u32| {
        let decay = old.wrapping_add(n.wrapping_sub(1)).checked_div(n).unwrap_or(0);
        old.wrapping_sub(decay).wrapping_add(v)
    };
    // One compare-exchange in the common case; another thread's update
    // in between only costs a retry.
    let old = sum.load(Relaxed);
    if sum.compare_exchange_weak(old, step(old), Relaxed, Relaxed).is_err() {
        let _ = sum.fetch_update(Relaxed, Relaxed, |o| Some(step(o)));
    }
}

/// The average of a sliding-window sum over `n` samples, rounded up
/// (HAProxy's `swrate_avg`).
#[inline]
pub fn swrate_avg(sum: u32, n: u32) -> u32 {
    let n = n.max(1);
    (sum as u64).div_ceil(n as u64) as u32
}

/// The window a sum covers after `samples` samples: all of them until
/// the window is full (what `show stat` divides by).
#[inline]
pub fn swrate_window(samples: u64) -> u32 {
    if samples > 0 && samples < TIME_STATS_SAMPLES as u64 {
        samples as u32
    } else {
        TIME_STATS_SAMPLES
    }
}

/// Raises `max` to `v` if lower.
#[inline]
pub fn update_max(max: &AtomicU64, v: u64) {
    let mut cur = max.load(Relaxed);
    while v > cur {
        match max.compare_exchange_weak(cur, v, Relaxed, Relaxed) {
            Ok(_) => break,
            Err(x) => cur = x,
        }
    }
}

/// Events per second over the last second, as HAProxy's `freq_ctr`: the
/// current period's count plus the previous one's pro-rated remainder.
#[derive(Default)]
pub struct FreqCtr {
    /// Start of the current period, in seconds.
    period: AtomicU64,
    curr: AtomicU64,
    prev: AtomicU64,
}

impl FreqCtr {
    pub fn hit(&self, now_ms: u64) {
        let sec = now_ms / 1000;
        let p = self.period.load(Relaxed);
        if sec != p && self.period.compare_exchange(p, sec, Relaxed, Relaxed).is_ok() {
            let c = self.curr.swap(0, Relaxed);
            self.prev.store(if sec == p + 1 { c } else { 0 }, Relaxed);
        }
        self.curr.fetch_add(1, Relaxed);
    }

    /// Time (ms) until one more event fits under `limit` per second (0:
    /// now; no limit when `limit` is 0). The previous second's count fades
    /// linearly over the current second, so the wait ends either when
    /// enough of it has faded or, if this second alone is full, at the
    /// next second.
    pub fn wait_ms(&self, limit: u64, now_ms: u64) -> u64 {
        if limit == 0 || self.rate(now_ms) < limit {
            return 0;
        }
        let sec = now_ms / 1000;
        let elapsed = now_ms % 1000;
        let (curr, prev) = if self.period.load(Relaxed) == sec {
            (self.curr.load(Relaxed), self.prev.load(Relaxed))
        } else {
            (0, self.curr.load(Relaxed))
        };
        if curr >= limit || prev == 0 {
            return (1000 - elapsed).max(1);
        }
        // Smallest e with curr + prev * (1000 - e) / 1000 < limit.
        let room = limit - curr;
        let e = 1000 - (room * 1000).div_ceil(prev).min(1000) + 1;
        e.saturating_sub(elapsed).clamp(1, 1000 - elapsed)
    }

    /// Rate over the last second at `now_ms`.
    pub fn rate(&self, now_ms: u64) -> u64 {
        let sec = now_ms / 1000;
        let p = self.period.load(Relaxed);
        let (curr, prev) = if sec == p {
            (self.curr.load(Relaxed), self.prev.load(Relaxed))
        } else if sec == p + 1 {
            (0, self.curr.load(Relaxed))
        } else {
            (0, 0)
        };
        let elapsed = now_ms % 1000;
        curr + prev * (1000 - elapsed) / 1000
    }
}

/// Counters of one frontend, backend, server or listener. Not every field
/// applies to every kind; `show stat` prints the applicable ones.
#[derive(Default)]
pub struct Counters {
    /// Current sessions (scur) and their maximum (smax).
    pub cur_sess: AtomicU64,
    pub max_sess: AtomicU64,
    /// Cumulated sessions (stot).
    pub cum_sess: AtomicU64,
    /// Cumulated connections accepted (conn_tot, frontends).
    pub cum_conn: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Denied requests/responses (dreq, dresp).
    pub denied_req: AtomicU64,
    pub denied_resp: AtomicU64,
    /// Request errors (ereq), connection errors (econ), response errors (eresp).
    pub failed_req: AtomicU64,
    pub failed_conns: AtomicU64,
    pub failed_resp: AtomicU64,
    /// Retries (wretr) and redispatches (wredis).
    pub retries: AtomicU64,
    pub redispatches: AtomicU64,
    /// Client and server aborts (cli_abrt, srv_abrt).
    pub cli_aborts: AtomicU64,
    pub srv_aborts: AtomicU64,
    /// HTTP responses by class: 1xx..5xx, other (hrsp_*).
    pub http_rsp: [AtomicU64; 6],
    /// HTTP requests (req_tot).
    pub cum_req: AtomicU64,
    /// Intercepted requests (stats, monitor: intercepted).
    pub intercepted: AtomicU64,
    /// Times the LB picked this server (lbtot).
    pub cum_lbconn: AtomicU64,
    /// Connection attempts (connect) and reuses (reuse).
    pub connect: AtomicU64,
    pub reuse: AtomicU64,
    /// Queue: current (qcur) and max (qmax).
    pub nbpend: AtomicU64,
    pub max_nbpend: AtomicU64,
    /// Timestamp (ms) of the last session (lastsess).
    pub last_sess_ms: AtomicU64,
    /// Session, connection and request rates.
    pub sess_rate: FreqCtr,
    pub conn_rate: FreqCtr,
    pub req_rate: FreqCtr,
    pub max_sess_rate: AtomicU64,
    pub max_conn_rate: AtomicU64,
    pub max_req_rate: AtomicU64,
    /// Sliding sums of queue, connect, response and total times (ms) over
    /// the last TIME_STATS_SAMPLES transactions (qtime, ctime, rtime,
    /// ttime), then their maxima.
    pub q_time: AtomicU32,
    pub c_time: AtomicU32,
    pub d_time: AtomicU32,
    pub t_time: AtomicU32,
    pub q_time_max: AtomicU64,
    pub c_time_max: AtomicU64,
    pub d_time_max: AtomicU64,
    pub t_time_max: AtomicU64,
    /// Internal errors (eint).
    pub internal_errors: AtomicU64,
    /// Rewrites that failed (wrew).
    pub failed_rewrites: AtomicU64,
}

impl Counters {
    /// Class index of a status code for `http_rsp`.
    pub fn rsp_class(status: u16) -> usize {
        match status {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        }
    }

    /// A session starts: scur/smax/stot/rate.
    pub fn sess_start(&self, now_ms: u64) {
        let cur = self.cur_sess.fetch_add(1, Relaxed) + 1;
        update_max(&self.max_sess, cur);
        inc(&self.cum_sess);
        self.sess_rate.hit(now_ms);
        update_max(&self.max_sess_rate, self.sess_rate.rate(now_ms));
        self.last_sess_ms.store(now_ms, Relaxed);
    }

    /// A session starts whose `cur_sess` was already taken (a listener's
    /// slot reserved before accept(2)): smax/stot/rate only.
    pub fn sess_start_reserved(&self, now_ms: u64) {
        update_max(&self.max_sess, self.cur_sess.load(Relaxed));
        inc(&self.cum_sess);
        self.sess_rate.hit(now_ms);
        update_max(&self.max_sess_rate, self.sess_rate.rate(now_ms));
        self.last_sess_ms.store(now_ms, Relaxed);
    }

    pub fn sess_end(&self) {
        dec(&self.cur_sess);
    }

    pub fn request(&self, now_ms: u64) {
        inc(&self.cum_req);
        self.req_rate.hit(now_ms);
        update_max(&self.max_req_rate, self.req_rate.rate(now_ms));
    }

    /// One transaction's queue, connect, response and total times (ms)
    /// into the sliding sums and maxima; `samples`: transactions counted
    /// so far (requests in HTTP, LB picks in TCP), which says whether the
    /// window is full yet. Kept out of line: it runs once per transaction
    /// and its callers are the hot request path.
    #[inline(never)]
    pub fn add_times(&self, samples: u64, [q, c, d, t]: [u32; 4]) {
        let n = if samples > TIME_STATS_SAMPLES as u64 {
            TIME_STATS_SAMPLES
        } else {
            0
        };
        swrate_add(&self.q_time, n, q);
        swrate_add(&self.c_time, n, c);
        swrate_add(&self.d_time, n, d);
        swrate_add(&self.t_time, n, t);
        update_max(&self.q_time_max, q as u64);
        update_max(&self.c_time_max, c as u64);
        update_max(&self.d_time_max, d as u64);
        update_max(&self.t_time_max, t as u64);
    }

    pub fn response(&self, status: u16) {
        inc(&self.http_rsp[Self::rsp_class(status)]);
    }

    /// `clear counters`: maxima only. `clear counters all`: everything.
    pub fn clear(&self, all: bool) {
        for m in [
            &self.max_sess,
            &self.max_nbpend,
            &self.max_sess_rate,
            &self.max_conn_rate,
            &self.max_req_rate,
            &self.q_time_max,
            &self.c_time_max,
            &self.d_time_max,
            &self.t_time_max,
        ] {
            m.store(0, Relaxed);
        }
        if all {
            for c in [
                &self.cum_sess,
                &self.cum_conn,
                &self.bytes_in,
                &self.bytes_out,
                &self.denied_req,
                &self.denied_resp,
                &self.failed_req,
                &self.failed_conns,
                &self.failed_resp,
                &self.retries,
                &self.redispatches,
                &self.cli_aborts,
                &self.srv_aborts,
                &self.cum_req,
                &self.intercepted,
                &self.cum_lbconn,
                &self.connect,
                &self.reuse,
                &self.internal_errors,
                &self.failed_rewrites,
            ] {
                c.store(0, Relaxed);
            }
            for c in &self.http_rsp {
                c.store(0, Relaxed);
            }
            for c in [&self.q_time, &self.c_time, &self.d_time, &self.t_time] {
                c.store(0, Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swrate_sums_then_slides_over_its_window() {
        let sum = AtomicU32::new(0);
        // Window not full: a plain total, averaged over the count so far.
        for v in [10, 20, 40] {
            swrate_add(&sum, 0, v);
        }
        assert_eq!(sum.load(Relaxed), 70);
        assert_eq!(swrate_avg(sum.load(Relaxed), swrate_window(3)), 24); // 23.3 rounded up
        assert_eq!(swrate_window(0), TIME_STATS_SAMPLES);
        assert_eq!(swrate_avg(0, swrate_window(0)), 0);
        // Full window of 4 samples at 100: each new sample replaces a
        // quarter of the sum, so a run of 0s decays it geometrically.
        let sum = AtomicU32::new(400);
        swrate_add(&sum, 4, 0);
        assert_eq!(sum.load(Relaxed), 300);
        swrate_add(&sum, 4, 100);
        assert_eq!(sum.load(Relaxed), 325);
        assert_eq!(swrate_avg(sum.load(Relaxed), 4), 82);
        // A steady value converges to itself over a 1024 window.
        let sum = AtomicU32::new(0);
        for i in 0..5000u64 {
            swrate_add(&sum, if i >= 1024 { TIME_STATS_SAMPLES } else { 0 }, 7);
        }
        assert_eq!(swrate_avg(sum.load(Relaxed), swrate_window(5000)), 7);
    }

    #[test]
    fn freq_ctr_prorates_previous_second() {
        let f = FreqCtr::default();
        for _ in 0..100 {
            f.hit(10_000);
        }
        assert_eq!(f.rate(10_500), 100);
        // Half-way through the next second, half of the previous counts.
        assert_eq!(f.rate(11_500), 50);
        assert_eq!(f.rate(13_000), 0);
    }

    #[test]
    fn rate_wait_until_the_next_event_fits() {
        let f = FreqCtr::default();
        assert_eq!(f.wait_ms(10, 10_000), 0);
        for _ in 0..10 {
            f.hit(10_200);
        }
        // This second is full: wait for the next one.
        assert_eq!(f.wait_ms(10, 10_200), 800);
        assert_eq!(f.wait_ms(0, 10_200), 0);
        // Next second, the 10 of the previous one fade: 5 of budget after
        // 5 new ones are spent needs the old 10 to weigh under 5.
        for _ in 0..5 {
            f.hit(11_000);
        }
        let w = f.wait_ms(10, 11_000);
        assert!(f.rate(11_000 + w) < 10, "fits after {w} ms");
        assert!(f.rate(11_000 + w - 1) >= 10);
    }

    #[test]
    fn maxima_and_clear() {
        let c = Counters::default();
        c.sess_start(1000);
        c.sess_start(1000);
        c.sess_end();
        assert_eq!(c.cur_sess.load(Relaxed), 1);
        assert_eq!(c.max_sess.load(Relaxed), 2);
        c.clear(false);
        assert_eq!(c.max_sess.load(Relaxed), 0);
        assert_eq!(c.cum_sess.load(Relaxed), 2);
        c.clear(true);
        assert_eq!(c.cum_sess.load(Relaxed), 0);
    }
}
