//! Dense storage for live transactions, addressed by ids that are never
//! reused while anything may still hold them.
//!
//! An id packs a slot index (low 32 bits) with the slot's generation (high 32
//! bits). Removing a transaction bumps the generation, so a stale id, or a stale
//! timer-heap entry, finds nothing instead of finding the slot's next tenant.

#[derive(Debug)]
struct Entry<T> {
    generation: u32,
    // Boxed: the slot vector keeps its peak length (slots are reused, never
    // dropped, to keep generations), so a slot must cost 16 bytes, not the
    // size of a transaction, once a load peak has passed.
    value: Option<Box<T>>,
}

/// Transactions by id, with O(1) insert, lookup and removal and no hashing.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Entry<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

fn pack(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

fn unpack(key: u64) -> (usize, u32) {
    ((key & 0xffff_ffff) as usize, (key >> 32) as u32)
}

impl<T> Slab<T> {
    /// The id the next [`Slab::insert`] will return.
    pub(crate) fn next_key(&self) -> u64 {
        match self.free.last() {
            Some(&i) => pack(i, self.entries[i as usize].generation),
            None => pack(self.entries.len() as u32, 0),
        }
    }

    pub(crate) fn insert(&mut self, value: T) -> u64 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let e = &mut self.entries[i as usize];
            e.value = Some(Box::new(value));
            return pack(i, e.generation);
        }
        // Four billion simultaneous transactions would exhaust memory long
        // before the index.
        let i = self.entries.len() as u32;
        self.entries.push(Entry {
            generation: 0,
            value: Some(Box::new(value)),
        });
        pack(i, 0)
    }

    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        let (i, g) = unpack(key);
        self.entries
            .get(i)
            .filter(|e| e.generation == g)?
            .value
            .as_deref()
    }

    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut T> {
        let (i, g) = unpack(key);
        self.entries
            .get_mut(i)
            .filter(|e| e.generation == g)?
            .value
            .as_deref_mut()
    }

    pub(crate) fn remove(&mut self, key: u64) -> Option<T> {
        let (i, g) = unpack(key);
        let e = self.entries.get_mut(i).filter(|e| e.generation == g)?;
        let v = e.value.take()?;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(i as u32);
        self.len -= 1;
        Some(*v)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_ids_miss() {
        let mut s = Slab::default();
        let a = s.insert("a");
        assert_eq!(s.next_key(), pack(1, 0));
        assert_eq!(s.remove(a), Some("a"));
        let next = s.next_key();
        let b = s.insert("b");
        assert_eq!(next, b);
        assert_ne!(a, b, "the slot is reused under a new generation");
        assert_eq!(s.get(a), None);
        assert_eq!(s.remove(a), None);
        assert_eq!(s.get(b), Some(&"b"));
        assert_eq!(s.len(), 1);
    }
}
