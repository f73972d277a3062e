//! A streaming k-way merge of sorted sources: the workers' in-memory parts of a shard (sorted)
//! and its sorted spill runs ([`super::spill::RunCursor`]), giving each key once with its
//! values combined, in key order. It holds one entry per source, so a report that consumes the
//! keys as they come (a host at a time) holds its current group and the runs' read buffers, not
//! the shard.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use ahash::AHashMap;

use super::spill::Spill;
use crate::error::Result;

/// A sorted source: the next entry, or `None` at its end.
pub type Source<'a, K, V> = Box<dyn FnMut() -> Result<Option<(K, V)>> + Send + 'a>;

pub struct Merge<'a, K: Ord + Copy, V> {
    sources: Vec<Source<'a, K, V>>,
    heads: Vec<Option<V>>,
    heap: BinaryHeap<Reverse<(K, usize)>>,
}

impl<'a, K: Ord + Copy, V> Merge<'a, K, V> {
    /// Each source must give its keys in increasing order, each key at most once.
    pub fn new(mut sources: Vec<Source<'a, K, V>>) -> Result<Self> {
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, s) in sources.iter_mut().enumerate() {
            match s()? {
                Some((k, v)) => {
                    heap.push(Reverse((k, i)));
                    heads.push(Some(v));
                }
                None => heads.push(None),
            }
        }
        Ok(Merge { sources, heads, heap })
    }

    fn take(&mut self, i: usize) -> Result<Option<V>> {
        let v = self.heads[i].take();
        if let Some((k, next)) = (self.sources[i])()? {
            self.heads[i] = Some(next);
            self.heap.push(Reverse((k, i)));
        }
        Ok(v)
    }

    /// The next key in order with its values from every source combined by `combine`.
    pub fn next(&mut self, mut combine: impl FnMut(&mut V, V)) -> Result<Option<(K, V)>> {
        let Some(Reverse((k, i))) = self.heap.pop() else { return Ok(None) };
        let Some(mut v) = self.take(i)? else { return Ok(None) };
        while let Some(&Reverse((k2, j))) = self.heap.peek() {
            if k2 != k {
                break;
            }
            self.heap.pop();
            if let Some(w) = self.take(j)? {
                combine(&mut v, w);
            }
        }
        Ok(Some((k, v)))
    }
}

/// The merge of one shard of a report: its workers' in-memory `maps` (each sorted here) and its
/// part of every spill run (written sorted, each record read by `decode`), as one stream in
/// key order.
pub fn shard<'a, K, V>(
    maps: Vec<AHashMap<K, V>>,
    spill: &Spill,
    shard: usize,
    decode: fn(&[u8]) -> (K, V),
) -> Result<Merge<'a, K, V>>
where
    K: Ord + Copy + Send + 'a,
    V: Send + 'a,
{
    let mut sources: Vec<Source<'a, K, V>> = Vec::new();
    for m in maps {
        let mut v: Vec<(K, V)> = m.into_iter().collect();
        v.sort_unstable_by_key(|e| e.0);
        sources.push(from_vec(v));
    }
    for mut c in spill.cursors(shard)? {
        sources.push(Box::new(move || Ok(c.next_record()?.map(decode))));
    }
    Merge::new(sources)
}

/// A source over a sorted vector.
pub fn from_vec<'a, K: Send + 'a, V: Send + 'a>(v: Vec<(K, V)>) -> Source<'a, K, V> {
    let mut it = v.into_iter();
    Box::new(move || Ok(it.next()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_in_order_and_combines_equal_keys() {
        let a = vec![(1, 10), (4, 40), (9, 90)];
        let b = vec![(2, 2), (4, 4), (5, 5), (9, 9)];
        let c: Vec<(i32, i32)> = Vec::new();
        let d = vec![(4, 1000)];
        let mut m = Merge::new(vec![from_vec(a), from_vec(b), from_vec(c), from_vec(d)]).unwrap();
        let mut out = Vec::new();
        while let Some(e) = m.next(|x, y| *x += y).unwrap() {
            out.push(e);
        }
        assert_eq!(out, [(1, 10), (2, 2), (4, 1044), (5, 5), (9, 99)]);
        let mut empty: Merge<i32, i32> = Merge::new(Vec::new()).unwrap();
        assert_eq!(empty.next(|_, _| {}).unwrap(), None);
    }
}
