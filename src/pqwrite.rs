//! The flows Parquet writer: arrow-rs's `ArrowWriter` set up with our properties, but with the
//! columns of each row group encoded in parallel (rayon), since dictionary-encoding the addresses
//! and zstd are otherwise a single-threaded bottleneck behind the parallel parsers.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory};
use parquet::arrow::ArrowWriter;
use parquet::errors::Result;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

use crate::schema;

pub struct FlowsWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    columns: Vec<ArrowColumnWriter>,
    /// Rows in the unfinished row group.
    rows: usize,
    row_group: usize,
}

impl<W: Write + Send> FlowsWriter<W> {
    pub fn try_new(out: W, schema: SchemaRef) -> Result<Self> {
        // ArrowWriter computes the Parquet schema and embeds the Arrow schema in the metadata;
        // we keep its file writer and drive the column writers ourselves.
        let (file, factory) =
            ArrowWriter::try_new(out, schema.clone(), Some(schema::writer_properties()))?.into_serialized_writer()?;
        let columns = factory.create_column_writers(0)?;
        Ok(FlowsWriter { file, factory, schema, columns, rows: 0, row_group: 0 })
    }

    /// Rows buffered in the unfinished row group.
    pub fn in_progress_rows(&self) -> usize {
        self.rows
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (batch.num_rows() - offset).min(schema::ROW_GROUP_ROWS - self.rows);
            self.encode(&batch.slice(offset, take))?;
            offset += take;
            if self.rows >= schema::ROW_GROUP_ROWS {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut leaves: Vec<ArrowLeafColumn> = Vec::with_capacity(self.columns.len());
        for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
            leaves.extend(compute_leaves(field, column)?);
        }
        self.columns.par_iter_mut().zip(leaves.par_iter()).try_for_each(|(w, leaf)| w.write(leaf))?;
        self.rows += batch.num_rows();
        Ok(())
    }

    /// Ends the current row group (if it has rows) and writes it to the file.
    pub fn flush(&mut self) -> Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        self.row_group += 1;
        let next = self.factory.create_column_writers(self.row_group)?;
        let writers = std::mem::replace(&mut self.columns, next);
        let chunks = writers.into_par_iter().map(|w| w.close()).collect::<Result<Vec<_>>>()?;
        let mut rg = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut rg)?;
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
