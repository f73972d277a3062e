//! Addresses in the aggregations: each distinct address of a column is parsed once and interned
//! into a dense 32-bit id shared by the scan's workers (the servers evaluation and the findings
//! both key their state by such ids).

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;
use std::sync::Mutex;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef};

use crate::error::{Error, Result};
use crate::ports::HostFilter;

fn input_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::input(path.display().to_string(), reason)
}

/// IPv4 as the IPv4-mapped IPv6 value, so that one integer type holds both.
pub fn addr_code(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address back from [`addr_code`] (an IPv4-mapped IPv6 address reads as IPv4).
pub fn code_addr(code: u128) -> IpAddr {
    Ipv6Addr::from(code).to_canonical()
}

/// Addresses by dense id, shared by the workers: each distinct address of a dictionary (or
/// string column) is interned once, so that conversation keys carry 32-bit ids.
#[derive(Default)]
pub struct Interner {
    inner: Mutex<(AHashMap<u128, u32>, Vec<u128>)>,
}

impl Interner {
    pub fn ids(&self, codes: &[u128], out: &mut Vec<u32>) {
        out.clear();
        // A poisoned lock means a worker panicked; the scan's result is lost anyway.
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (map, addrs) = &mut *g;
        for &c in codes {
            let next = addrs.len() as u32;
            let id = *map.entry(c).or_insert(next);
            if id == next {
                addrs.push(c);
            }
            out.push(id);
        }
    }

    pub fn addrs(&self) -> Vec<IpAddr> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.iter().map(|&c| code_addr(c)).collect()
    }
}

/// Address codes of one column for one worker: parsed once per distinct dictionary value (the
/// Parquet reader hands out the same values array for every batch of a dictionary-encoded column
/// chunk), or once per distinct string for plain columns.
#[derive(Default)]
pub struct AddrColumn {
    values: Option<ArrayRef>,
    codes: Vec<u32>,
    /// Whether each dictionary value is inside the `--local` networks.
    local: Vec<bool>,
    plain: AHashMap<Box<str>, (u32, bool)>,
    parsed: Vec<u128>,
    one: Vec<u32>,
}

impl AddrColumn {
    /// Bytes held by the caches.
    pub fn held_bytes(&self) -> usize {
        self.codes.capacity() * 4 + self.local.capacity() + self.parsed.capacity() * 16 + self.plain.capacity() * 48
    }

    /// Fills `out` with each row's address id and `local` with whether it is a `--local` address.
    #[allow(clippy::too_many_arguments)]
    pub fn codes(
        &mut self,
        col: &ArrayRef,
        path: &Path,
        name: &str,
        interner: &Interner,
        filter: &HostFilter,
        out: &mut Vec<u32>,
        local: &mut Vec<bool>,
    ) -> Result<()> {
        out.clear();
        local.clear();
        let parse = |s: &str| -> Result<u128> {
            s.trim()
                .parse::<IpAddr>()
                .map(addr_code)
                .map_err(|_| input_err(path, format!("column '{name}': '{s}' is not an IP address")))
        };
        if let Some(dict) = col.as_dictionary_opt::<Int32Type>() {
            let values = dict.values();
            if !self.values.as_ref().is_some_and(|v| std::sync::Arc::ptr_eq(v, values)) {
                let strings = values
                    .as_string_opt::<i32>()
                    .ok_or_else(|| input_err(path, format!("column '{name}' holds {}", values.data_type())))?;
                self.parsed.clear();
                for i in 0..strings.len() {
                    // A null dictionary value is never referenced by a valid key.
                    self.parsed.push(if strings.is_null(i) { 0 } else { parse(strings.value(i))? });
                }
                interner.ids(&self.parsed, &mut self.codes);
                self.local.clear();
                self.local.extend(self.parsed.iter().map(|&c| filter.contains(code_addr(c))));
                self.values = Some(values.clone());
            }
            for k in dict.keys().iter() {
                match k.map(|k| k as usize).filter(|&k| k < self.codes.len()) {
                    Some(k) => {
                        out.push(self.codes[k]);
                        local.push(self.local[k]);
                    }
                    None => return Err(input_err(path, format!("column '{name}': a null address"))),
                }
            }
            return Ok(());
        }
        let strings = col.as_string_opt::<i32>().ok_or_else(|| {
            input_err(path, format!("column '{name}' is {}; the flows schema stores it as Utf8", col.data_type()))
        })?;
        for v in strings.iter() {
            let Some(s) = v else { return Err(input_err(path, format!("column '{name}': a null address"))) };
            let (c, l) = match self.plain.get(s) {
                Some(&c) => c,
                None => {
                    let code = parse(s)?;
                    interner.ids(&[code], &mut self.one);
                    let c = (self.one[0], filter.contains(code_addr(code)));
                    self.plain.insert(s.into(), c);
                    c
                }
            };
            out.push(c);
            local.push(l);
        }
        Ok(())
    }
}
