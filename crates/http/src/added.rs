//! Headers added to a message by rules (`set-header`, `add-header`,
//! cookie insertion, `unique-id-header`...), kept apart from the parsed
//! head until serialisation.
//!
//! Owns one reusable byte arena and a list of spans into it, so adding a
//! header costs no allocation once the arena and the list have grown to
//! what a transaction needs: the owner clears them between transactions
//! and keeps the capacity (HAProxy writes added headers into its HTX
//! buffer, which is pooled the same way). It must not know about rules or
//! the parsed head.

/// An ordered list of (name, value) pairs backed by one arena.
#[derive(Clone, Debug, Default)]
pub struct AddedHdrs {
    buf: Vec<u8>,
    /// (name start, value start, value end) in `buf`; the name ends where
    /// the value starts.
    list: Vec<(u32, u32, u32)>,
}

/// No added header (for messages no rule touched).
pub static NO_ADDED: AddedHdrs = AddedHdrs::new();

impl AddedHdrs {
    pub const fn new() -> AddedHdrs {
        AddedHdrs {
            buf: Vec::new(),
            list: Vec::new(),
        }
    }

    /// Forgets every header, keeping the memory for the next transaction.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.list.clear();
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn mark(&self) -> u32 {
        u32::try_from(self.buf.len()).expect("added headers stay under 4 GiB")
    }

    /// Appends `name: value`, the name as given.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let n = self.mark();
        self.buf.extend_from_slice(name);
        let v = self.mark();
        self.buf.extend_from_slice(value);
        let e = self.mark();
        self.list.push((n, v, e));
    }

    /// Appends `name: value` with the name lower-cased (what HAProxy
    /// emits for every header name).
    pub fn push_lower(&mut self, name: &[u8], value: &[u8]) {
        let n = self.mark();
        self.buf.extend(name.iter().map(u8::to_ascii_lowercase));
        let v = self.mark();
        self.buf.extend_from_slice(value);
        let e = self.mark();
        self.list.push((n, v, e));
    }

    /// Header `i` as (name, value).
    pub fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let (n, v, e) = self.list[i];
        (&self.buf[n as usize..v as usize], &self.buf[v as usize..e as usize])
    }

    /// Gives header `i` a new value. The old bytes stay in the arena until
    /// [`AddedHdrs::clear`]: values are rewritten a few times per
    /// transaction at most.
    pub fn set_value(&mut self, i: usize, value: &[u8]) {
        let (n, v, _) = self.list[i];
        let name_len = v - n;
        let start = self.mark();
        self.buf.extend_from_within(n as usize..v as usize);
        self.buf.extend_from_slice(value);
        let e = self.mark();
        self.list[i] = (start, start + name_len, e);
    }

    /// Runs `f` on header `i`'s value, which it may rewrite in place (a
    /// cookie rewrite only ever shortens it: see [`AddedHdrs::truncate_value`]).
    pub fn with_value_mut<R>(&mut self, i: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let (_, v, e) = self.list[i];
        f(&mut self.buf[v as usize..e as usize])
    }

    /// Shortens header `i`'s value to `len` bytes.
    pub fn truncate_value(&mut self, i: usize, len: usize) {
        let (n, v, e) = self.list[i];
        let len = u32::try_from(len).unwrap_or(u32::MAX).min(e - v);
        self.list[i] = (n, v, v + len);
    }

    /// Removes header `i`, keeping the order of the others.
    pub fn remove(&mut self, i: usize) {
        self.list.remove(i);
    }

    /// Keeps the headers for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let buf = &self.buf;
        self.list
            .retain(|&(n, v, e)| keep(&buf[n as usize..v as usize], &buf[v as usize..e as usize]));
    }

    /// The headers in order, as (name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.list
            .iter()
            .map(|&(n, v, e)| (&self.buf[n as usize..v as usize], &self.buf[v as usize..e as usize]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_edit_remove_keep_order_and_reuse_memory() {
        let mut a = AddedHdrs::new();
        a.push_lower(b"X-A", b"1");
        a.push(b"X-B", b"2");
        a.push_lower(b"x-c", b"");
        a.set_value(0, b"one");
        let got: Vec<_> = a.iter().collect();
        assert_eq!(
            got,
            vec![
                (&b"x-a"[..], &b"one"[..]),
                (&b"X-B"[..], &b"2"[..]),
                (&b"x-c"[..], &b""[..])
            ]
        );
        a.remove(1);
        a.retain(|n, _| n != b"x-c");
        assert_eq!(a.len(), 1);
        assert_eq!(a.get(0), (&b"x-a"[..], &b"one"[..]));
        let (cap_b, cap_l) = (a.buf.capacity(), a.list.capacity());
        a.clear();
        assert!(a.is_empty());
        a.push(b"x-d", b"4");
        assert_eq!((a.buf.capacity(), a.list.capacity()), (cap_b, cap_l));
    }
}
