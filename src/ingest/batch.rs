//! Columnar accumulation of parsed flows: one `BatchBuilder` per block of input, finished into
//! an Arrow `RecordBatch` with the flows schema.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder, UInt8Builder,
};
use arrow_array::{new_null_array, ArrayRef, RecordBatch, StringArray};
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
    stime: TimestampMicrosecondBuilder,
    etime: TimestampMicrosecondBuilder,
    /// Addresses are collected as bytes and validated as UTF-8 once per block, not per value.
    sip: BinaryBuilder,
    dip: BinaryBuilder,
    sport: UInt16Builder,
    dport: UInt16Builder,
    proto: UInt8Builder,
    packets: Int64Builder,
    bytes: Int64Builder,
    flags: StringBuilder,
    /// Extra columns' text, collected as bytes and checked for UTF-8 once per block.
    extras: Vec<BinaryBuilder>,
    extra_map: Arc<Vec<usize>>,
    rows: usize,
}

/// Text of every flag mask, computed once.
fn flag_table() -> &'static [String; 256] {
    static TABLE: std::sync::OnceLock<[String; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|m| flags_text(m as u8)))
}

impl BatchBuilder {
    pub fn new(schema: SchemaRef, extra_map: Arc<Vec<usize>>, capacity: usize) -> Self {
        let addresses = || BinaryBuilder::with_capacity(capacity, capacity * 12);
        BatchBuilder {
            schema,
            stime: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            etime: TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            sip: addresses(),
            dip: addresses(),
            sport: UInt16Builder::with_capacity(capacity),
            dport: UInt16Builder::with_capacity(capacity),
            proto: UInt8Builder::with_capacity(capacity),
            packets: Int64Builder::with_capacity(capacity),
            bytes: Int64Builder::with_capacity(capacity),
            flags: StringBuilder::with_capacity(capacity, capacity * 4),
            extras: extra_map.iter().map(|_| BinaryBuilder::with_capacity(capacity, capacity * 4)).collect(),
            extra_map,
            rows: 0,
        }
    }

    /// A builder for the rows of one parser alone: the flows schema with exactly its extra
    /// columns, in its order (tests, and probing a line outside a conversion).
    pub fn for_parser(parser: &dyn super::LineParser, capacity: usize) -> Self {
        let extras = parser.extras();
        BatchBuilder::new(crate::schema::flow_schema(extras), Arc::new((0..extras.len()).collect()), capacity)
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one flow; the caller then appends each of its extra values with [`Self::extra`].
    #[inline]
    pub fn push(&mut self, f: &Flow) {
        self.stime.append_option(f.stime);
        self.etime.append_option(f.etime);
        self.sip.append_value(f.sip.as_bytes());
        self.dip.append_value(f.dip.as_bytes());
        self.sport.append_option(f.sport);
        self.dport.append_option(f.dport);
        self.proto.append_option(f.proto);
        self.packets.append_option(f.packets);
        self.bytes.append_option(f.bytes);
        match f.flags {
            Some(m) => self.flags.append_value(&flag_table()[m as usize]),
            None => self.flags.append_null(),
        }
        self.rows += 1;
    }

    /// Appends the value of local extra column `local` for the last pushed row; an empty value
    /// is stored as null. Every extra column must be given a value (or `None`) for every row.
    #[inline]
    pub fn extra(&mut self, local: usize, value: Option<&[u8]>) {
        match value {
            Some(v) if !v.is_empty() => self.extras[local].append_value(v),
            _ => self.extras[local].append_null(),
        }
    }

    /// Finishes the block. Extra columns that this input does not have are all-null.
    pub fn finish(mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.stime.finish()),
            Arc::new(self.etime.finish()),
            Arc::new(StringArray::try_from_binary(self.sip.finish())?),
            Arc::new(StringArray::try_from_binary(self.dip.finish())?),
            Arc::new(self.sport.finish()),
            Arc::new(self.dport.finish()),
            Arc::new(self.proto.finish()),
            Arc::new(self.packets.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.flags.finish()),
        ];
        let core = columns.len();
        let total_extras = self.schema.fields().len() - core;
        let mut extra_cols: Vec<Option<ArrayRef>> = vec![None; total_extras];
        for (local, b) in self.extras.iter_mut().enumerate() {
            extra_cols[self.extra_map[local]] = Some(Arc::new(StringArray::try_from_binary(b.finish())?));
        }
        for (i, col) in extra_cols.into_iter().enumerate() {
            let ty = self.schema.field(core + i).data_type();
            columns.push(col.unwrap_or_else(|| new_null_array(ty, self.rows)));
        }
        RecordBatch::try_new(self.schema, columns)
    }
}
