//! The flows Parquet writer: arrow-rs's `ArrowWriter` set up with our properties, but driving
//! the column writers ourselves, so that a batch's columns can be encoded in parallel on the
//! current rayon pool (the default) or one after another ([`FlowsWriter::serial`], when the
//! caller keeps every core busy already, as `convert` does on few cores). String
//! columns without page statistics (addresses, flags, extra columns) are encoded by
//! [`DictColumnWriter`], the rest by arrow-rs.

use std::io::Write;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::SchemaDescriptor;
use rayon::prelude::*;

use crate::pqdict::DictColumnWriter;
use crate::schema;

/// The encoder of one column of the unfinished row group (one per column, so the variants'
/// sizes do not matter).
#[allow(clippy::large_enum_variant)]
enum ColumnEncoder {
    Arrow(ArrowColumnWriter),
    Dict(DictColumnWriter),
}

/// An encoded column chunk, ready to be appended to its row group.
enum Chunk {
    Arrow(ArrowColumnChunk),
    Dict(Bytes, ColumnCloseResult),
}

impl ColumnEncoder {
    fn write(&mut self, field: &arrow_schema::Field, column: &ArrayRef) -> Result<()> {
        match self {
            ColumnEncoder::Arrow(w) => {
                for leaf in compute_leaves(field, column)? {
                    w.write(&leaf)?;
                }
                Ok(())
            }
            ColumnEncoder::Dict(w) => match column.as_string_opt::<i32>() {
                Some(strings) => w.write(strings),
                None => {
                    Err(ParquetError::General(format!("column {} is {}, not Utf8", field.name(), column.data_type())))
                }
            },
        }
    }

    fn close(self) -> Result<Chunk> {
        match self {
            ColumnEncoder::Arrow(w) => w.close().map(Chunk::Arrow),
            ColumnEncoder::Dict(w) => w.close().map(|(bytes, close)| Chunk::Dict(bytes, close)),
        }
    }
}

pub struct FlowsWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    props: WriterProperties,
    schema: SchemaRef,
    columns: Vec<ColumnEncoder>,
    /// Rows per row group.
    row_group_rows: usize,
    /// Rows in the unfinished row group.
    rows: usize,
    row_group: usize,
    /// Encode a batch's columns in parallel on the current rayon pool, or one after another.
    parallel: bool,
}

impl<W: Write + Send> FlowsWriter<W> {
    pub fn try_new(out: W, schema: SchemaRef) -> Result<Self> {
        Self::with_properties(out, schema, schema::writer_properties())
    }

    /// A writer with other settings than the flows file's (tests of the encoders' limits).
    pub fn with_properties(out: W, schema: SchemaRef, props: WriterProperties) -> Result<Self> {
        // ArrowWriter computes the Parquet schema and embeds the Arrow schema in the metadata;
        // we keep its file writer and drive the column writers ourselves.
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(props.clone()))?.into_serialized_writer()?;
        let columns = column_encoders(&factory, &schema, file.schema_descr(), &props, 0)?;
        let row_group_rows = props.max_row_group_row_count().unwrap_or(schema::ROW_GROUP_ROWS);
        Ok(FlowsWriter { file, factory, props, schema, columns, row_group_rows, rows: 0, row_group: 0, parallel: true })
    }

    /// Encodes each batch's columns on the calling thread, one after another, instead of in
    /// parallel on the current rayon pool (the default). For callers that already keep every
    /// core busy: a pool of one costs a hand-over per batch and does no work in parallel.
    pub fn serial(mut self) -> Self {
        self.parallel = false;
        self
    }

    /// Rows buffered in the unfinished row group.
    pub fn in_progress_rows(&self) -> usize {
        self.rows
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (batch.num_rows() - offset).min(self.row_group_rows - self.rows);
            self.encode(&batch.slice(offset, take))?;
            offset += take;
            if self.rows >= self.row_group_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let fields = self.schema.fields();
        let write = |(i, w): (usize, &mut ColumnEncoder)| w.write(&fields[i], batch.column(i));
        if self.parallel {
            self.columns.par_iter_mut().enumerate().try_for_each(write)?;
        } else {
            self.columns.iter_mut().enumerate().try_for_each(write)?;
        }
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Ends the current row group (if it has rows) and writes it to the file.
    pub fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.row_group += 1;
        let next = column_encoders(&self.factory, &self.schema, self.file.schema_descr(), &self.props, self.row_group)?;
        let writers = std::mem::replace(&mut self.columns, next);
        let chunks: Vec<Chunk> = if self.parallel {
            writers.into_par_iter().map(ColumnEncoder::close).collect::<Result<_>>()?
        } else {
            writers.into_iter().map(ColumnEncoder::close).collect::<Result<_>>()?
        };
        let mut rg = self.file.next_row_group()?;
        for chunk in chunks {
            match chunk {
                Chunk::Arrow(chunk) => chunk.append_to_row_group(&mut rg)?,
                Chunk::Dict(bytes, close) => rg.append_column(&bytes, close)?,
            }
        }
        rg.close()?;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn close(mut self) -> Result<()> {
        self.flush()?;
        self.file.close()?;
        Ok(())
    }
}

/// One encoder per column (the flows schema is flat: one Parquet leaf per Arrow field).
fn column_encoders(
    factory: &ArrowRowGroupWriterFactory,
    arrow_schema: &SchemaRef,
    parquet: &SchemaDescriptor,
    props: &WriterProperties,
    row_group: usize,
) -> Result<Vec<ColumnEncoder>> {
    let arrow = factory.create_column_writers(row_group)?;
    if arrow_schema.fields().len() != parquet.num_columns() {
        return Err(ParquetError::General("the flows writer takes flat schemas only".into()));
    }
    arrow
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let descr = parquet.column(i);
            Ok(if DictColumnWriter::handles(props, arrow_schema.field(i), &descr) {
                ColumnEncoder::Dict(DictColumnWriter::new(descr, props)?)
            } else {
                ColumnEncoder::Arrow(w)
            })
        })
        .collect()
}
