//! A per-thread slab of objects addressed by (index, generation), the
//! source of the tokens registered with the reactor. A token names one
//! object incarnation: once freed, the slot's generation moves on and old
//! tokens (a late timer, a stale message) no longer find anything.
//!
//! This module owns slot reuse only; it knows nothing of what it stores.

pub struct Slab<T> {
    slots: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Stores `v`, returning (index, generation).
    pub fn insert(&mut self, v: T) -> (u32, u32) {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            s.0 = s.0.wrapping_add(1);
            s.1 = Some(v);
            (i, s.0)
        } else {
            self.slots.push((0, Some(v)));
            (self.slots.len() as u32 - 1, 0)
        }
    }

    /// Reserves a slot and builds the value knowing its (index, generation).
    pub fn insert_with(&mut self, f: impl FnOnce(u32, u32) -> T) -> (u32, u32) {
        let (i, g) = if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            s.0 = s.0.wrapping_add(1);
            (i, s.0)
        } else {
            self.slots.push((0, None));
            (self.slots.len() as u32 - 1, 0)
        };
        self.slots[i as usize].1 = Some(f(i, g));
        self.len += 1;
        (i, g)
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32, gen: u32) -> Option<&mut T> {
        match self.slots.get_mut(idx as usize) {
            Some((g, Some(v))) if *g == gen => Some(v),
            _ => None,
        }
    }

    #[inline]
    pub fn get(&self, idx: u32, gen: u32) -> Option<&T> {
        match self.slots.get(idx as usize) {
            Some((g, Some(v))) if *g == gen => Some(v),
            _ => None,
        }
    }

    /// Takes the object out, leaving the slot reserved (put it back with
    /// [`Slab::restore`] or release it with [`Slab::release`]). Lets a
    /// handler work on one object while using the rest of the worker.
    #[inline]
    pub fn take(&mut self, idx: u32, gen: u32) -> Option<T> {
        match self.slots.get_mut(idx as usize) {
            Some((g, v)) if *g == gen => v.take(),
            _ => None,
        }
    }

    #[inline]
    pub fn restore(&mut self, idx: u32, v: T) {
        self.slots[idx as usize].1 = Some(v);
    }

    /// Frees a taken slot.
    pub fn release(&mut self, idx: u32) {
        self.slots[idx as usize].1 = None;
        self.slots[idx as usize].0 = self.slots[idx as usize].0.wrapping_add(1);
        self.free.push(idx);
        self.len -= 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, (g, v))| v.as_ref().map(|v| (i as u32, *g, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_generation_finds_nothing() {
        let mut s: Slab<&str> = Slab::default();
        let (i, g) = s.insert("a");
        assert_eq!(s.get(i, g), Some(&"a"));
        let v = s.take(i, g).unwrap();
        assert_eq!(v, "a");
        s.release(i);
        let (i2, g2) = s.insert("b");
        assert_eq!(i2, i);
        assert_ne!(g2, g);
        assert!(s.get(i, g).is_none());
        assert_eq!(s.len(), 1);
    }
}
