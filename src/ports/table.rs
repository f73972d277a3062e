//! The group table of the hot loop: IPv4 group keys (`ip << 32 | sport << 16 | dport`) → dense
//! ids, with the counters in a `Vec` by id.
//!
//! A flow log has about as many groups as flows (every ephemeral port is its own group until the
//! `*` collapse), so the table is far larger than the caches and each lookup is a cache miss;
//! profiling showed the time spent waiting for memory inside a general-purpose hash map. This
//! table is open addressing with linear probing over 16-byte slots (four to a cache line, half
//! full at most), hashed by one multiplication, and it can [`GroupTable::prefetch`] the slot of
//! a key that the loop will look up some rows later, then [`GroupTable::prefetch_counters`] its
//! counters a few rows later still, so that several misses are in flight at once instead of one
//! after another.

use super::Traffic;

#[derive(Clone, Copy)]
struct Slot {
    key: u64,
    /// `EMPTY`, or the group's index in `groups`.
    id: u32,
}

const EMPTY: u32 = u32::MAX;
const MIN_BITS: u32 = 4;

/// Keys → counters.
pub struct GroupTable {
    slots: Vec<Slot>,
    /// log2 of the number of slots.
    bits: u32,
    groups: Vec<(u64, Traffic)>,
}

impl Default for GroupTable {
    fn default() -> Self {
        GroupTable { slots: vec![Slot { key: 0, id: EMPTY }; 1 << MIN_BITS], bits: MIN_BITS, groups: Vec::new() }
    }
}

#[inline(always)]
fn slot_of(key: u64, bits: u32) -> usize {
    // Fibonacci hashing: the top bits of the product depend on every bit of the key. The
    // xor-shift first folds the address (high half) into the ports (low half).
    ((key ^ (key >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
}

impl GroupTable {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The groups, in the order they were first seen.
    pub fn into_groups(self) -> Vec<(u64, Traffic)> {
        self.groups
    }

    pub fn groups(&self) -> &[(u64, Traffic)] {
        &self.groups
    }

    /// Bytes allocated: the slots and the groups.
    pub fn held_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.groups.capacity() * std::mem::size_of::<(u64, Traffic)>()
    }

    /// Asks the CPU to start loading the slot where `key` would be found.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        let i = slot_of(key, self.bits);
        prefetch(self.slots.as_ptr().wrapping_add(i));
    }

    /// When `key`'s slot (prefetched earlier) shows the key at its home position, asks the CPU to
    /// start loading its counters.
    #[inline(always)]
    pub fn prefetch_counters(&self, key: u64) {
        let slot = self.slots[slot_of(key, self.bits)];
        if slot.id != EMPTY && slot.key == key {
            prefetch(self.groups.as_ptr().wrapping_add(slot.id as usize));
        }
    }

    /// The counters of `key`, a new zeroed group if it was not there.
    #[inline]
    pub fn entry(&mut self, key: u64) -> &mut Traffic {
        let mask = (1usize << self.bits) - 1;
        let mut i = slot_of(key, self.bits);
        loop {
            let slot = self.slots[i];
            if slot.id == EMPTY {
                break;
            }
            if slot.key == key {
                return &mut self.groups[slot.id as usize].1;
            }
            i = (i + 1) & mask;
        }
        // Not found: insert (growing first when that would make the table more than half full).
        if (self.groups.len() + 1) * 2 > self.slots.len() {
            self.grow();
            i = self.free_slot(key);
        }
        // More than 4 billion groups in one shard of one worker would need hundreds of GB of
        // memory first; the id width is not a limit in practice.
        let id = u32::try_from(self.groups.len()).unwrap_or(EMPTY - 1);
        self.slots[i] = Slot { key, id };
        self.groups.push((key, Traffic::default()));
        &mut self.groups[id as usize].1
    }

    fn free_slot(&self, key: u64) -> usize {
        let mask = (1usize << self.bits) - 1;
        let mut i = slot_of(key, self.bits);
        while self.slots[i].id != EMPTY {
            i = (i + 1) & mask;
        }
        i
    }

    fn grow(&mut self) {
        self.bits += 1;
        self.slots = vec![Slot { key: 0, id: EMPTY }; 1 << self.bits];
        for (id, &(key, _)) in self.groups.iter().enumerate() {
            let i = self.free_slot(key);
            self.slots[i] = Slot { key, id: id as u32 };
        }
    }
}

#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults and changes no memory, whatever the
    // address; SSE is part of the x86_64 baseline. Measured on 10M generated flows (`flowlens
    // ports --local 10.0.0.0/16`, benches/ports.rs `ports_report` for the library): CPU time
    // 2.8 s with std's HashMap, 2.1 s with this table and its prefetches.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn same_as_a_hash_map() {
        let mut t = GroupTable::default();
        let mut m: HashMap<u64, u64> = HashMap::new();
        let mut x: u64 = 1;
        for i in 0..200_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Few hosts, clustered ports, and the extreme keys.
            let key = match i % 5 {
                0 => u64::MAX,
                1 => 0,
                _ => ((x >> 60) << 32) | (x >> 40) & 0xffff,
            };
            t.prefetch(key);
            t.prefetch_counters(key);
            t.entry(key).flows += i;
            *m.entry(key).or_default() += i;
        }
        assert_eq!(t.len(), m.len());
        for &(k, tr) in t.groups() {
            assert_eq!(tr.flows, m[&k], "{k:x}");
        }
        assert!(t.slots.len() >= 2 * t.len());
    }
}
