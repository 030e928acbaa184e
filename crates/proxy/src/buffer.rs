//! I/O buffers of `tune.bufsize` bytes and their per-thread pool.
//!
//! A [`Buf`] is a flat byte area with a read head and a write tail (data is
//! `[head, tail)`). Flat rather than a ring so the H1 parser always sees a
//! contiguous message; [`Buf::compact`] moves the remaining bytes to the
//! front when room runs out at the end, which happens only with pipelined or
//! partially forwarded data.
//!
//! Buffers come from [`Pool`], one per thread, so the hot path never calls
//! the allocator once warmed up; idle connections give their buffers back
//! (HAProxy's `h1_release_buf`), so an idle keep-alive client holds none.
//! This module owns memory only; it knows nothing of sockets or HTTP.

/// A buffer of fixed capacity. The offsets are 32-bit (a buffer is
/// `tune.bufsize` bytes, far below 4 GiB): every stream holds up to four
/// `Option<Buf>`, and 24 bytes instead of 32 each count for every parked
/// keep-alive client.
pub struct Buf {
    data: Box<[u8]>,
    head: u32,
    tail: u32,
}

impl Buf {
    fn with_capacity(size: usize) -> Buf {
        assert!(size <= u32::MAX as usize, "buffer size fits 32-bit offsets");
        Buf {
            data: vec![0u8; size].into_boxed_slice(),
            head: 0,
            tail: 0,
        }
    }
    #[inline]
    fn h(&self) -> usize {
        self.head as usize
    }
    #[inline]
    fn t(&self) -> usize {
        self.tail as usize
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.t() - self.h()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }
    pub fn capacity(&self) -> usize {
        self.data.len()
    }
    /// Bytes held.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.data[self.h()..self.t()]
    }
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.h(), self.t());
        &mut self.data[h..t]
    }
    /// Free room after the tail (compacting first if that helps).
    #[inline]
    pub fn room(&mut self) -> &mut [u8] {
        if self.t() == self.data.len() && self.head > 0 {
            self.compact();
        }
        let t = self.t();
        &mut self.data[t..]
    }
    /// Free room counting what compaction would recover.
    pub fn free(&self) -> usize {
        self.data.len() - self.len()
    }
    /// Marks `n` bytes written after the tail.
    #[inline]
    pub fn produce(&mut self, n: usize) {
        debug_assert!(self.t() + n <= self.data.len());
        self.tail += n as u32;
    }
    /// Drops `n` bytes from the head.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        debug_assert!(self.h() + n <= self.t());
        self.head += n as u32;
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        }
    }
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
    }
    /// Moves the data to the front.
    pub fn compact(&mut self) {
        if self.head > 0 {
            let (h, t) = (self.h(), self.t());
            self.data.copy_within(h..t, 0);
            self.tail -= self.head;
            self.head = 0;
        }
    }
    /// Appends bytes; returns false (and writes nothing) if they don't fit.
    pub fn put(&mut self, b: &[u8]) -> bool {
        if self.free() < b.len() {
            return false;
        }
        if self.data.len() - self.t() < b.len() {
            self.compact();
        }
        let t = self.t();
        self.data[t..t + b.len()].copy_from_slice(b);
        self.tail += b.len() as u32;
        true
    }
}

/// A per-thread free list of buffers of one size.
pub struct Pool {
    size: usize,
    free: Vec<Buf>,
    /// Buffers handed out and not returned.
    pub used: usize,
    /// Buffers ever created.
    pub allocated: usize,
    /// Free buffers kept at most; beyond, returned ones are dropped.
    pub keep: usize,
}

impl Pool {
    pub fn new(size: usize, keep: usize) -> Pool {
        Pool {
            size,
            free: Vec::new(),
            used: 0,
            allocated: 0,
            keep,
        }
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// An empty buffer.
    #[inline]
    pub fn get(&mut self) -> Buf {
        self.used += 1;
        match self.free.pop() {
            Some(b) => b,
            None => {
                self.allocated += 1;
                Buf::with_capacity(self.size)
            }
        }
    }
    /// Returns a buffer (its content is discarded).
    #[inline]
    pub fn put(&mut self, mut b: Buf) {
        self.used -= 1;
        if self.free.len() < self.keep && b.capacity() == self.size {
            b.clear();
            self.free.push(b);
        } else {
            self.allocated -= 1;
        }
    }
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produce_consume_compact() {
        let mut p = Pool::new(16, 4);
        let mut b = p.get();
        b.room()[..10].copy_from_slice(b"0123456789");
        b.produce(10);
        b.consume(8);
        assert_eq!(b.data(), b"89");
        assert!(b.put(b"abcdefghijklmn"));
        assert_eq!(b.data(), b"89abcdefghijklmn");
        assert!(!b.put(b"x"));
        b.consume(16);
        assert!(b.is_empty());
        p.put(b);
        assert_eq!(p.used, 0);
        assert_eq!(p.free_count(), 1);
        let b2 = p.get();
        assert_eq!(p.allocated, 1, "reused, not reallocated");
        p.put(b2);
    }
}
