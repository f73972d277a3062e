//! The exact row filter of a [`Selection`], over whole columns of a batch.
//!
//! Times are compared with `arrow_ord::cmp` kernels against one-value arrays of the file's
//! timestamp type; ports and protocols fill a [`BooleanBuffer`] 64 rows at a time from the
//! sets' bitmaps; addresses, which the reader hands out as dictionary arrays, are parsed and
//! tested once per distinct dictionary value and the answers gathered through the keys (the
//! Parquet reader gives every batch of a dictionary-encoded column chunk the same values array,
//! so a row group's addresses are parsed once). Conditions are ANDed, the sides of
//! `--any-address` and `--aport` ORed; a null never matches.

use std::net::IpAddr;
use std::sync::Arc;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, UInt16Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Datum, RecordBatch, Scalar, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_buffer::{BooleanBuffer, NullBuffer};
use arrow_ord::cmp;
use arrow_schema::{ArrowError, DataType, TimeUnit};

use super::{AddrSet, PortSet, Selection};
use crate::schema::{DIP, SIP};

/// Where the selection's columns are in the batches the filter is given; `None`: the file has
/// no such column, so it is null in every row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Positions {
    pub stime: Option<usize>,
    pub sip: Option<usize>,
    pub dip: Option<usize>,
    pub sport: Option<usize>,
    pub dport: Option<usize>,
    pub proto: Option<usize>,
}

/// A selection ready to filter the batches of one file.
#[derive(Debug)]
pub struct RowFilter {
    select: Arc<Selection>,
    pos: Positions,
    /// The time range's ends as one-value arrays of the file's `stime` type.
    from: Option<Scalar<ArrayRef>>,
    to: Option<Scalar<ArrayRef>>,
}

/// Per-reader memory of the address answers for the current dictionaries.
#[derive(Default)]
pub struct AddrCache {
    saddress: DictHits,
    daddress: DictHits,
    any_sip: DictHits,
    any_dip: DictHits,
}

/// Whether each value of a dictionary is in a set, for the dictionary `values`.
#[derive(Default)]
struct DictHits {
    values: Option<ArrayRef>,
    hits: Vec<bool>,
}

impl RowFilter {
    /// `stime_type` is the type of the file's `stime` column, when it has one; a time range
    /// needs it to be a timestamp.
    pub fn new(select: Arc<Selection>, pos: Positions, stime_type: Option<&DataType>) -> Result<Self, String> {
        let bound = |us: Option<i64>| -> Result<Option<Scalar<ArrayRef>>, String> {
            match (us, stime_type) {
                (Some(us), Some(t)) => bound_scalar(t, us)
                    .map(Some)
                    .ok_or_else(|| format!("column 'stime' is {t}; --from/--to need a timestamp column")),
                _ => Ok(None),
            }
        };
        let (from, to) = (bound(select.range.from_us)?, bound(select.range.to_us)?);
        Ok(RowFilter { select, pos, from, to })
    }

    /// Which rows of `batch` the selection keeps. The error is the reason, for the caller to
    /// place (a file, a row group).
    pub fn mask(&self, batch: &RecordBatch, cache: &mut AddrCache) -> Result<BooleanBuffer, String> {
        let n = batch.num_rows();
        let col = |p: Option<usize>| p.map(|i| batch.column(i));
        let s = &self.select;
        let mut mask = BooleanBuffer::new_set(n);
        if !s.range.is_all() {
            match col(self.pos.stime) {
                Some(t) => mask &= &in_range(t.as_ref(), self.from.as_ref(), self.to.as_ref())?,
                None => return Ok(BooleanBuffer::new_unset(n)),
            }
        }
        let ports = |p: Option<usize>, set: &PortSet| -> BooleanBuffer {
            match col(p) {
                Some(c) => {
                    let a = c.as_primitive::<UInt16Type>();
                    valid(set.mask(a.values()), a.nulls())
                }
                None => BooleanBuffer::new_unset(n),
            }
        };
        if let Some(set) = &s.sport {
            mask &= &ports(self.pos.sport, set);
        }
        if let Some(set) = &s.dport {
            mask &= &ports(self.pos.dport, set);
        }
        if let Some(set) = &s.aport {
            mask &= &(&ports(self.pos.sport, set) | &ports(self.pos.dport, set));
        }
        if let Some(set) = &s.proto {
            mask &= &match col(self.pos.proto) {
                Some(c) => {
                    let a = c.as_primitive::<UInt8Type>();
                    valid(set.mask(a.values()), a.nulls())
                }
                None => BooleanBuffer::new_unset(n),
            };
        }
        let addrs = |p: Option<usize>, set: &AddrSet, hits: &mut DictHits, name: &str| match col(p) {
            Some(c) => addr_mask(c, set, hits, name),
            None => Ok(BooleanBuffer::new_unset(n)),
        };
        if let Some(set) = &s.saddress {
            mask &= &addrs(self.pos.sip, set, &mut cache.saddress, SIP)?;
        }
        if let Some(set) = &s.daddress {
            mask &= &addrs(self.pos.dip, set, &mut cache.daddress, DIP)?;
        }
        if let Some(set) = &s.any_address {
            let either = &addrs(self.pos.sip, set, &mut cache.any_sip, SIP)?
                | &addrs(self.pos.dip, set, &mut cache.any_dip, DIP)?;
            mask &= &either;
        }
        Ok(mask)
    }
}

/// `mask` with the null rows cleared.
fn valid(mask: BooleanBuffer, nulls: Option<&NullBuffer>) -> BooleanBuffer {
    match nulls {
        Some(n) => &mask & n.inner(),
        None => mask,
    }
}

/// Whether each row's address is in `set`.
fn addr_mask(col: &ArrayRef, set: &AddrSet, hits: &mut DictHits, name: &str) -> Result<BooleanBuffer, String> {
    let n = col.len();
    if let Some(dict) = col.as_any_dictionary_opt() {
        let values = dict.values();
        if !hits.values.as_ref().is_some_and(|v| Arc::ptr_eq(v, values)) {
            hits.hits.clear();
            hits.values = None;
            let mut push = |v: Option<&str>| -> Result<(), String> {
                hits.hits.push(match v {
                    Some(v) => set.contains(parse_ip(v, name)?),
                    None => false,
                });
                Ok(())
            };
            match values.data_type() {
                DataType::Utf8 => values.as_string::<i32>().iter().try_for_each(&mut push)?,
                DataType::LargeUtf8 => values.as_string::<i64>().iter().try_for_each(&mut push)?,
                DataType::Utf8View => values.as_string_view().iter().try_for_each(&mut push)?,
                t => return Err(format!("column '{name}' holds {t}, not addresses")),
            }
            hits.values = Some(values.clone());
        }
        if hits.hits.is_empty() {
            return Ok(BooleanBuffer::new_unset(n));
        }
        let h = &hits.hits;
        let mask = match col.as_dictionary_opt::<Int32Type>() {
            // The reader's type: gather without a copy of the keys.
            Some(d) => {
                let keys = d.keys().values();
                BooleanBuffer::collect_bool(n, |i| h.get(keys[i] as usize).copied().unwrap_or(false))
            }
            None => {
                let keys = dict.normalized_keys();
                BooleanBuffer::collect_bool(n, |i| h[keys[i]])
            }
        };
        return Ok(valid(mask, dict.keys().nulls()));
    }
    // Plain strings (a file whose address columns could not be read as dictionaries): each
    // distinct value of the batch is parsed once.
    let hits = match col.data_type() {
        DataType::Utf8 => plain_hits(col.as_string::<i32>().iter(), set, name)?,
        DataType::LargeUtf8 => plain_hits(col.as_string::<i64>().iter(), set, name)?,
        DataType::Utf8View => plain_hits(col.as_string_view().iter(), set, name)?,
        t => return Err(format!("column '{name}' is {t}; the flows schema stores it as Utf8")),
    };
    Ok(BooleanBuffer::from(hits))
}

fn plain_hits<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    set: &AddrSet,
    name: &str,
) -> Result<Vec<bool>, String> {
    let mut seen: AHashMap<&'a str, bool> = AHashMap::new();
    values
        .map(|v| {
            let Some(v) = v else { return Ok(false) };
            if let Some(&hit) = seen.get(v) {
                return Ok(hit);
            }
            let hit = set.contains(parse_ip(v, name)?);
            seen.insert(v, hit);
            Ok(hit)
        })
        .collect()
}

fn parse_ip(s: &str, column: &str) -> Result<IpAddr, String> {
    s.parse().map_err(|_| format!("column '{column}': '{s}' is not an IP address"))
}

/// A bound in microseconds as a one-value array of timestamp type `t` (any unit, any zone), so
/// that `t >= bound` holds for a value exactly when the value in microseconds is `>= us` (and
/// the same for `<`): coarser units round the bound up, finer ones scale it (saturating).
pub(crate) fn bound_scalar(t: &DataType, us: i64) -> Option<Scalar<ArrayRef>> {
    let DataType::Timestamp(unit, tz) = t else { return None };
    let up = |per: i64| us.div_euclid(per) + (us.rem_euclid(per) != 0) as i64;
    let tz = tz.clone();
    let a: ArrayRef = match unit {
        TimeUnit::Second => Arc::new(TimestampSecondArray::from(vec![up(1_000_000)]).with_timezone_opt(tz)),
        TimeUnit::Millisecond => Arc::new(TimestampMillisecondArray::from(vec![up(1_000)]).with_timezone_opt(tz)),
        TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(vec![us]).with_timezone_opt(tz)),
        TimeUnit::Nanosecond => {
            Arc::new(TimestampNanosecondArray::from(vec![us.saturating_mul(1_000)]).with_timezone_opt(tz))
        }
    };
    Some(Scalar::new(a))
}

/// A comparison kernel of `arrow_ord::cmp`.
pub(crate) type CmpKernel = fn(&dyn Datum, &dyn Datum) -> std::result::Result<BooleanArray, ArrowError>;

/// `op(values, bound)`, or `None` when the bound is not set.
pub(crate) fn compare(
    values: &dyn Datum,
    op: CmpKernel,
    bound: Option<&Scalar<ArrayRef>>,
) -> Result<Option<BooleanArray>, ArrowError> {
    bound.map(|b| op(values, b)).transpose()
}

/// `from <= t < to` over a column; null values give false.
fn in_range(
    t: &dyn Array,
    from: Option<&Scalar<ArrayRef>>,
    to: Option<&Scalar<ArrayRef>>,
) -> Result<BooleanBuffer, String> {
    let masks = [compare(&t, cmp::gt_eq, from), compare(&t, cmp::lt, to)];
    let mut values = BooleanBuffer::new_set(t.len());
    let mut nulls = t.nulls().cloned();
    for m in masks {
        if let Some(m) = m.map_err(|e| e.to_string())? {
            values = &values & m.values();
            nulls = NullBuffer::union(nulls.as_ref(), m.nulls());
        }
    }
    Ok(valid(values, nulls.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::{ProtoSet, TimeRange};
    use arrow_array::{DictionaryArray, Int32Array, StringArray, UInt16Array, UInt8Array};
    use arrow_schema::{Field, Schema};

    /// Rows: sip, dip, sport, dport, proto, stime (µs).
    #[allow(clippy::type_complexity)]
    const ROWS: [(&str, &str, Option<u16>, u16, u8, Option<i64>); 6] = [
        ("10.0.0.5", "192.0.2.1", Some(40000), 22, 6, Some(100)),
        ("192.0.2.1", "10.0.0.5", Some(22), 40000, 6, Some(200)),
        ("10.0.0.6", "2001:db8::1", Some(53), 53, 17, Some(300)),
        ("2001:db8::2", "10.1.2.3", None, 2048, 1, None),
        ("10.0.0.5", "10.0.0.5", Some(6667), 6667, 6, Some(500)),
        ("198.51.100.7", "192.0.2.1", Some(80), 443, 6, Some(600)),
    ];

    /// The rows as a batch: addresses as dictionaries (with the values in another order than
    /// the rows) or plain strings.
    fn batch(dictionary: bool) -> RecordBatch {
        let addr = |source: bool| -> ArrayRef {
            let texts: Vec<&str> = ROWS.iter().map(|r| if source { r.0 } else { r.1 }).collect();
            if !dictionary {
                return Arc::new(StringArray::from(texts));
            }
            let mut values: Vec<&str> = texts.clone();
            values.sort();
            values.dedup();
            values.reverse();
            let keys: Vec<i32> = texts.iter().map(|t| values.iter().position(|v| v == t).unwrap() as i32).collect();
            Arc::new(DictionaryArray::new(Int32Array::from(keys), Arc::new(StringArray::from(values))))
        };
        let cols: Vec<ArrayRef> = vec![
            addr(true),
            addr(false),
            Arc::new(UInt16Array::from(ROWS.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(UInt16Array::from(ROWS.iter().map(|r| r.3).collect::<Vec<_>>())),
            Arc::new(UInt8Array::from(ROWS.iter().map(|r| r.4).collect::<Vec<_>>())),
            Arc::new(
                TimestampMicrosecondArray::from(ROWS.iter().map(|r| r.5).collect::<Vec<_>>()).with_timezone("UTC"),
            ),
        ];
        let fields: Vec<Field> = ["sip", "dip", "sport", "dport", "proto", "stime"]
            .iter()
            .zip(&cols)
            .map(|(n, c)| Field::new(*n, c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    const ALL: Positions =
        Positions { sip: Some(0), dip: Some(1), sport: Some(2), dport: Some(3), proto: Some(4), stime: Some(5) };

    fn rows(s: Selection, dictionary: bool) -> Vec<usize> {
        let b = batch(dictionary);
        let f = RowFilter::new(Arc::new(s), ALL, Some(b.schema().field(5).data_type())).unwrap();
        let mut cache = AddrCache::default();
        let m = f.mask(&b, &mut cache).unwrap();
        // A second batch with the same dictionary reuses the answers and gives the same rows.
        assert_eq!(f.mask(&b, &mut cache).unwrap(), m);
        m.set_indices().collect()
    }

    /// What the rows should be, by the definition, for `s`.
    fn by_definition(s: &Selection) -> Vec<usize> {
        let inset = |set: &Option<AddrSet>, a: &str| set.as_ref().is_none_or(|x| x.contains(a.parse().unwrap()));
        let inports =
            |set: &Option<PortSet>, p: Option<u16>| set.as_ref().is_none_or(|x| p.is_some_and(|p| x.contains(p)));
        (0..ROWS.len())
            .filter(|&i| {
                let (sip, dip, sport, dport, proto, stime) = ROWS[i];
                (s.range.is_all() || stime.is_some_and(|t| s.range.contains(t)))
                    && inset(&s.saddress, sip)
                    && inset(&s.daddress, dip)
                    && s.any_address
                        .as_ref()
                        .is_none_or(|x| x.contains(sip.parse().unwrap()) || x.contains(dip.parse().unwrap()))
                    && inports(&s.sport, sport)
                    && inports(&s.dport, Some(dport))
                    && s.aport.as_ref().is_none_or(|x| sport.is_some_and(|p| x.contains(p)) || x.contains(dport))
                    && s.proto.as_ref().is_none_or(|x| x.contains(proto))
            })
            .collect()
    }

    #[test]
    fn each_condition_and_combinations() {
        let a = |s: &str| Some(AddrSet::parse_list(s).unwrap());
        let p = |s: &str| Some(PortSet::parse_list(s).unwrap());
        let cases: Vec<(Selection, Vec<usize>)> = vec![
            (Selection::all(), vec![0, 1, 2, 3, 4, 5]),
            (Selection { saddress: a("10.0.0.5"), ..Selection::all() }, vec![0, 4]),
            (Selection { saddress: a("10.0.0.0/8,2001:db8::/32"), ..Selection::all() }, vec![0, 2, 3, 4]),
            (Selection { daddress: a("192.0.2.1"), ..Selection::all() }, vec![0, 5]),
            (Selection { any_address: a("10.0.0.5"), ..Selection::all() }, vec![0, 1, 4]),
            (Selection { any_address: a("2001:db8::/64"), ..Selection::all() }, vec![2, 3]),
            (Selection { sport: p("22,53"), ..Selection::all() }, vec![1, 2]),
            (Selection { dport: p("6660-6669,443"), ..Selection::all() }, vec![4, 5]),
            // A null sport does not match; its dport still can for --aport.
            (Selection { aport: p("22"), ..Selection::all() }, vec![0, 1]),
            (Selection { aport: p("2048"), ..Selection::all() }, vec![3]),
            (Selection { sport: p("0-65535"), ..Selection::all() }, vec![0, 1, 2, 4, 5]),
            (Selection { proto: Some(ProtoSet::parse_list("udp,icmp").unwrap()), ..Selection::all() }, vec![2, 3]),
            (Selection::range(TimeRange { from_us: Some(200), to_us: Some(500) }), vec![1, 2]),
            (Selection::range(TimeRange { from_us: None, to_us: Some(201) }), vec![0, 1]),
            (
                Selection {
                    any_address: a("10.0.0.5"),
                    dport: p("22"),
                    proto: Some(ProtoSet::parse_list("tcp").unwrap()),
                    ..Selection::all()
                },
                vec![0],
            ),
            (
                Selection {
                    saddress: a("10.0.0.0/24"),
                    range: TimeRange { from_us: Some(300), to_us: None },
                    ..Selection::all()
                },
                vec![2, 4],
            ),
            (Selection { saddress: a("10.0.0.5"), daddress: a("2001:db8::1"), ..Selection::all() }, vec![]),
        ];
        for (s, want) in cases {
            assert_eq!(by_definition(&s), want, "definition of {s:?}");
            assert_eq!(rows(s.clone(), true), want, "dictionary addresses, {s:?}");
            assert_eq!(rows(s.clone(), false), want, "plain addresses, {s:?}");
        }
    }

    #[test]
    fn missing_columns_and_bad_addresses() {
        let b = batch(true);
        let s = Selection { aport: Some(PortSet::parse_list("22").unwrap()), ..Selection::all() };
        // No sport column: only dport can match.
        let pos = Positions { sport: None, ..ALL };
        let f = RowFilter::new(Arc::new(s), pos, None).unwrap();
        assert_eq!(f.mask(&b, &mut AddrCache::default()).unwrap().set_indices().collect::<Vec<_>>(), [0]);
        let range = Selection::range(TimeRange { from_us: Some(0), to_us: None });
        let f = RowFilter::new(Arc::new(range.clone()), Positions { stime: None, ..ALL }, None).unwrap();
        assert_eq!(f.mask(&b, &mut AddrCache::default()).unwrap().count_set_bits(), 0);
        let e = RowFilter::new(Arc::new(range), ALL, Some(&DataType::Int64)).unwrap_err();
        assert_eq!(e, "column 'stime' is Int64; --from/--to need a timestamp column");
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["10.0.0.1", "not-an-ip"]));
        let set = AddrSet::parse_list("10.0.0.1").unwrap();
        let e = addr_mask(&bad, &set, &mut DictHits::default(), DIP).unwrap_err();
        assert_eq!(e, "column 'dip': 'not-an-ip' is not an IP address");
        // Null keys and null values never match.
        let with_nulls: ArrayRef = Arc::new(DictionaryArray::new(
            Int32Array::from(vec![Some(0), None, Some(1)]),
            Arc::new(StringArray::from(vec![Some("10.0.0.1"), None])),
        ));
        let m = addr_mask(&with_nulls, &set, &mut DictHits::default(), SIP).unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), [true, false, false]);
    }
}
