//! Columnar accumulation of parsed flows: one `BatchBuilder` per block of input, finished into
//! an Arrow `RecordBatch` with the flows schema.

use std::sync::Arc;

use arrow_array::types::{ArrowPrimitiveType, Int64Type, TimestampMicrosecondType, UInt16Type, UInt8Type};
use arrow_array::{new_null_array, ArrayRef, PrimitiveArray, RecordBatch, StringArray};
use arrow_buffer::{ArrowNativeType, Buffer, NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::SchemaRef;

use super::fields::{flags_text, IpText};

/// One flow as parsed from a line, before it is appended. A format fills a `Flow` completely
/// and appends it only when every field parsed, so a rejected line leaves no partial row.
#[derive(Clone, Copy)]
pub struct Flow<'a> {
    pub stime: Option<i64>,
    pub etime: Option<i64>,
    pub sip: IpText<'a>,
    pub dip: IpText<'a>,
    pub sport: Option<u16>,
    pub dport: Option<u16>,
    pub proto: Option<u8>,
    pub packets: Option<i64>,
    pub bytes: Option<i64>,
    /// TCP flags bit mask; `None` when the input carries no flag data.
    pub flags: Option<u8>,
}

/// Accumulates rows for one block. Extra columns are addressed by the format's own (local)
/// index; `extra_map[local]` is their position among the output's extra columns.
pub struct BatchBuilder {
    schema: SchemaRef,
    stime: Values<i64>,
    etime: Values<i64>,
    sip: Text,
    dip: Text,
    sport: Values<u16>,
    dport: Values<u16>,
    proto: Values<u8>,
    packets: Values<i64>,
    bytes: Values<i64>,
    flags: Text,
    extras: Vec<Extra>,
    extra_map: Arc<Vec<usize>>,
}

/// An extra column being built: text, or an integer column (`schema::INTEGER_EXTRAS`) whose
/// values arrive as decimal text (parsers check them before a row is pushed: `is_integer`).
enum Extra {
    Text(Text),
    Int(Values<i64>),
}

impl Extra {
    fn push(&mut self, v: &[u8]) {
        match self {
            Extra::Text(t) => t.push(v),
            Extra::Int(i) => i.push(parse_i64(v)),
        }
    }

    fn push_nulls(&mut self, n: usize) {
        match self {
            Extra::Text(t) => t.push_nulls(n),
            Extra::Int(i) => (0..n).for_each(|_| i.push(None)),
        }
    }

    fn finish(self) -> Result<ArrayRef, arrow_schema::ArrowError> {
        Ok(match self {
            Extra::Text(t) => Arc::new(t.finish()?),
            Extra::Int(i) => Arc::new(i.finish::<Int64Type>()),
        })
    }
}

/// A decimal integer (optional sign), as the integer extra columns take it; `None` otherwise.
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// The decimal digits of `v`, written at the end of `buf`.
#[inline]
pub fn decimal(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

/// True when `v` is empty (null) or a value an integer extra column takes.
pub fn is_integer(v: &[u8]) -> bool {
    v.is_empty() || parse_i64(v).is_some()
}

/// A column of fixed-width values being built: a plain vector, and a validity bitmap that
/// Arrow's `NullBufferBuilder` only materializes at the first null (most columns of most inputs
/// have none). Cheaper per value than Arrow's array builders, which a block of rows calls a
/// dozen times per line.
struct Values<T: ArrowNativeType> {
    values: Vec<T>,
    nulls: NullBufferBuilder,
}

impl<T: ArrowNativeType> Values<T> {
    fn with_capacity(capacity: usize) -> Self {
        Values { values: Vec::with_capacity(capacity), nulls: NullBufferBuilder::new(capacity) }
    }

    #[inline(always)]
    fn push(&mut self, v: Option<T>) {
        match v {
            Some(v) => {
                self.values.push(v);
                self.nulls.append_non_null();
            }
            None => {
                self.values.push(T::default());
                self.nulls.append_null();
            }
        }
    }

    fn finish<P: ArrowPrimitiveType<Native = T>>(mut self) -> PrimitiveArray<P> {
        PrimitiveArray::new(ScalarBuffer::from(self.values), self.nulls.finish())
    }
}

/// A column of text being built: the bytes of every value, their offsets, and a validity bitmap
/// materialized at the first null. Checked as UTF-8 once, when finished.
struct Text {
    data: Vec<u8>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Text {
    fn with_capacity(capacity: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(capacity + 1);
        offsets.push(0);
        Text { data: Vec::with_capacity(bytes), offsets, nulls: NullBufferBuilder::new(capacity) }
    }

    #[inline(always)]
    fn push(&mut self, v: &[u8]) {
        self.data.extend_from_slice(v);
        self.offsets.push(self.data.len() as i32);
        self.nulls.append_non_null();
    }

    fn push_null(&mut self) {
        self.offsets.push(self.data.len() as i32);
        self.nulls.append_null();
    }

    fn push_nulls(&mut self, n: usize) {
        let end = self.data.len() as i32;
        self.offsets.extend(std::iter::repeat_n(end, n));
        self.nulls.append_n_nulls(n);
    }

    fn finish(mut self) -> Result<StringArray, arrow_schema::ArrowError> {
        // A block is a few MiB of text, far from i32 offsets' 2 GiB.
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        let nulls = self.nulls.finish();
        if self.data.is_ascii() {
            // SAFETY: ASCII is valid UTF-8 and every offset into it is a character boundary;
            // the offsets start at 0, never decrease and end at the data's length (`push`).
            // Addresses, flags and most extra columns are ASCII: this spares `try_new`'s check
            // of every offset.
            return Ok(unsafe { StringArray::new_unchecked(offsets, Buffer::from_vec(self.data), nulls) });
        }
        StringArray::try_new(offsets, Buffer::from_vec(self.data), nulls)
    }
}

/// Text of every flag mask, computed once.
fn flag_table() -> &'static [String; 256] {
    static TABLE: std::sync::OnceLock<[String; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|m| flags_text(m as u8)))
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef, extra_map: Arc<Vec<usize>>, capacity: usize) -> Self {
        let extras = extra_map
            .iter()
            .map(|&i| match schema.field(crate::schema::CORE_COLUMNS.len() + i).data_type() {
                arrow_schema::DataType::Int64 => Extra::Int(Values::with_capacity(capacity)),
                _ => Extra::Text(Text::with_capacity(capacity, capacity * 4)),
            })
            .collect();
        BatchBuilder {
            schema,
            stime: Values::with_capacity(capacity),
            etime: Values::with_capacity(capacity),
            sip: Text::with_capacity(capacity, capacity * 12),
            dip: Text::with_capacity(capacity, capacity * 12),
            sport: Values::with_capacity(capacity),
            dport: Values::with_capacity(capacity),
            proto: Values::with_capacity(capacity),
            packets: Values::with_capacity(capacity),
            bytes: Values::with_capacity(capacity),
            flags: Text::with_capacity(capacity, capacity * 4),
            extras,
            extra_map,
        }
    }

    /// A builder for the rows of one parser alone: the flows schema with exactly its extra
    /// columns, in its order (tests, and probing a line outside a conversion).
    pub fn for_parser(parser: &dyn super::LineParser, capacity: usize) -> Self {
        let extras = parser.extras();
        BatchBuilder::new(crate::schema::flow_schema(extras), Arc::new((0..extras.len()).collect()), capacity)
    }

    pub fn rows(&self) -> usize {
        self.stime.values.len()
    }

    /// Appends one flow; the caller then appends each of its extra values with [`Self::extra`].
    #[inline]
    pub fn push(&mut self, f: &Flow) {
        self.stime.push(f.stime);
        self.etime.push(f.etime);
        match f.sip {
            IpText::Absent => self.sip.push_null(),
            ref a => self.sip.push(a.as_bytes()),
        }
        match f.dip {
            IpText::Absent => self.dip.push_null(),
            ref a => self.dip.push(a.as_bytes()),
        }
        self.sport.push(f.sport);
        self.dport.push(f.dport);
        self.proto.push(f.proto);
        self.packets.push(f.packets);
        self.bytes.push(f.bytes);
        match f.flags {
            Some(m) => self.flags.push(flag_table()[m as usize].as_bytes()),
            None => self.flags.push_null(),
        }
    }

    /// Appends the value of local extra column `local` for the last pushed row; an empty value
    /// is stored as null. Every extra column must be given a value (or `None`) for every row.
    #[inline]
    pub fn extra(&mut self, local: usize, value: Option<&[u8]>) {
        match value {
            Some(v) if !v.is_empty() => self.extras[local].push(v),
            _ => self.extras[local].push_nulls(1),
        }
    }

    /// Appends an integer value of local extra column `local` for the last pushed row: as is in
    /// an integer column (`schema::INTEGER_EXTRAS`), as decimal text in a text column. Binary
    /// formats use it for their numbers, sparing the text and its parsing back.
    #[inline]
    pub fn extra_int(&mut self, local: usize, value: i64) {
        match &mut self.extras[local] {
            Extra::Int(i) => i.push(Some(value)),
            Extra::Text(t) => {
                let mut buf = [0u8; 20];
                let digits = decimal(value.unsigned_abs(), &mut buf);
                if value < 0 {
                    t.data.push(b'-');
                }
                t.push(digits);
            }
        }
    }

    /// Appends `n` nulls to local extra column `local`: a binary format whose records carry few
    /// of its many columns fills each column up to the current row only when it has a value.
    #[inline]
    pub fn extra_nulls(&mut self, local: usize, n: usize) {
        if n > 0 {
            self.extras[local].push_nulls(n);
        }
    }

    /// Finishes the block. Extra columns that this input does not have are all-null.
    pub fn finish(self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let rows = self.rows();
        let utc = |a: PrimitiveArray<TimestampMicrosecondType>| a.with_timezone("UTC");
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(utc(self.stime.finish())),
            Arc::new(utc(self.etime.finish())),
            Arc::new(self.sip.finish()?),
            Arc::new(self.dip.finish()?),
            Arc::new(self.sport.finish::<UInt16Type>()),
            Arc::new(self.dport.finish::<UInt16Type>()),
            Arc::new(self.proto.finish::<UInt8Type>()),
            Arc::new(self.packets.finish::<Int64Type>()),
            Arc::new(self.bytes.finish::<Int64Type>()),
            Arc::new(self.flags.finish()?),
        ];
        let core = columns.len();
        let total_extras = self.schema.fields().len() - core;
        let mut extra_cols: Vec<Option<ArrayRef>> = vec![None; total_extras];
        for (local, b) in self.extras.into_iter().enumerate() {
            extra_cols[self.extra_map[local]] = Some(b.finish()?);
        }
        for (i, col) in extra_cols.into_iter().enumerate() {
            let ty = self.schema.field(core + i).data_type();
            columns.push(col.unwrap_or_else(|| new_null_array(ty, rows)));
        }
        RecordBatch::try_new(self.schema, columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{StringBuilder, UInt16Builder};
    use arrow_array::cast::AsArray;
    use arrow_array::Array;

    /// Nulls anywhere (first row, later rows, every row, none) come out where they went in, with
    /// the values around them, as Arrow's own builders would give them.
    #[test]
    fn values_and_nulls_match_arrows_builders() {
        let schema = crate::schema::flow_schema(&["sen".to_string(), "note".to_string()]);
        let rows: usize = 200;
        let port = |i: usize| (!i.is_multiple_of(3) && i != 1).then_some(i as u16 * 7);
        let flags = |i: usize| (i >= 5 && !i.is_multiple_of(11)).then_some((i % 64) as u8);
        let sen = |i: usize| if i % 4 == 2 { "" } else { ["S1", "sensor-two", "é"][i % 3] };
        // Builds the rows with only the second extra column filled (the first is another input's).
        let mut b = BatchBuilder::new(schema.clone(), Arc::new(vec![0]), 8);
        let ip = "10.0.0.1";
        for i in 0..rows {
            let f = Flow {
                stime: Some(i as i64),
                etime: (!i.is_multiple_of(7)).then_some(i as i64 + 1),
                sip: IpText::Input(ip.as_bytes()),
                dip: IpText::Input(ip.as_bytes()),
                sport: port(i),
                dport: Some(i as u16),
                proto: None,
                packets: Some(i as i64),
                bytes: (i > 0).then_some(-(i as i64)),
                flags: flags(i),
            };
            b.push(&f);
            b.extra(0, Some(sen(i).as_bytes()));
        }
        assert_eq!(b.rows(), rows);
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), schema);

        let mut want_port = UInt16Builder::new();
        let mut want_flags = StringBuilder::new();
        let mut want_sen = StringBuilder::new();
        for i in 0..rows {
            want_port.append_option(port(i));
            want_flags.append_option(flags(i).map(flags_text));
            want_sen.append_option(Some(sen(i)).filter(|s| !s.is_empty()));
        }
        assert_eq!(batch.column(4).as_primitive::<UInt16Type>(), &want_port.finish());
        assert_eq!(batch.column(9).as_string::<i32>(), &want_flags.finish());
        assert_eq!(batch.column(10).as_string::<i32>(), &want_sen.finish());
        assert_eq!(batch.column(6).null_count(), rows, "proto is null in every row");
        assert_eq!(batch.column(11).null_count(), rows, "the other input's column is all null");
        assert_eq!(batch.column(0).null_count(), 0);
        assert!(batch.column(0).nulls().is_none(), "no bitmap for a column without nulls");
        let etime = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(etime.null_count(), rows.div_ceil(7));
        assert_eq!(etime.value(8), 9);
        assert_eq!(batch.column(8).as_primitive::<Int64Type>().value(199), -199);
        assert_eq!(batch.column(2).as_string::<i32>().value(3), "10.0.0.1");
    }
}
