//! The `flowlens` command line: clap types, their validation into library options, and one call
//! into the library per subcommand. No flow logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use flowlens::convert::{self, ConvertOptions, Partition};
use flowlens::ingest::fields::{parse_date, TimeContext};
use flowlens::ingest::{Format, ReadOptions};

/// Columnar batch analytics for network flow records.
///
/// Exit status: 0 success, 1 findings where a command promises it, 2 error.
#[derive(Parser)]
#[command(name = "flowlens", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Convert(ConvertArgs),
    Cat(CatArgs),
    Gen(GenArgs),
}

/// Convert flow text (rwcut, whitespace tables, CSV/TSV; plain, gzip or zstd) into Parquet.
///
/// Inputs are files, folders (read recursively) or `-` for stdin; the format is detected from
/// each input's first line. Strict by default: the first bad line stops the run with
/// `path:line: column: reason` and no output is written; `--rejects FILE` keeps going and
/// writes bad lines there instead.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens convert archive/2026-11-21/*.rw.gz -o flows.parquet
  flowlens convert archive/ -o store/flows --partition day
  rwcut --all-fields sensor.rw | flowlens convert - -o flows.parquet
  flowlens convert seed.txt --date 2014-06-01 -o seed.parquet
  flowlens convert notitles.txt --columns sip,dip,sport,dport,proto -o flows.parquet
  flowlens convert dirty.csv --rejects rejects.tsv -o flows.parquet")]
struct ConvertArgs {
    /// Input files or folders; `-` reads stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output Parquet file, or folder with --partition day.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
    /// Write one file per day under hive folders date=YYYY-MM-DD/ (by flow start, UTC).
    /// Days present in the input replace the same days in the folder.
    #[arg(long, value_enum, default_value = "none")]
    partition: Partition,
    /// Keep going past bad lines, writing each to FILE as
    /// `path<TAB>line<TAB>column: reason<TAB>line as read`.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Parser threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar and no summary line.
    #[arg(short, long)]
    quiet: bool,
}

/// How to read flow text.
#[derive(Args)]
struct ReadArgs {
    /// Input format (default: detected from the first line).
    #[arg(long, value_enum, default_value = "auto")]
    format: Format,
    /// Names of the input's columns, comma-separated, overriding (or standing in for) a
    /// header; the aliases of the README apply (sip,dip,sport,dport,proto,packets,bytes,...).
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    columns: Option<Vec<String>>,
    /// Column separator, e.g. '|', ',', ';' or 'tab' (rwcut --column-separator).
    #[arg(long, value_name = "CHAR")]
    delimiter: Option<String>,
    /// Date for clock times that carry none (the SEI seed's `02:43.290`), YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// Time zone of timestamps printed without an offset (default UTC), e.g. Europe/Berlin.
    #[arg(long, value_name = "AREA/CITY")]
    timezone: Option<String>,
}

impl ReadArgs {
    fn options(&self) -> anyhow::Result<ReadOptions> {
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some("tab") | Some("\\t") | Some("\t") => Some(b'\t'),
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => bail!("--delimiter takes one character (or 'tab'), not '{d}'"),
        };
        let date = match &self.date {
            Some(d) => Some(
                parse_date(d)
                    .with_context(|| format!("--date '{d}' is not a date: use YYYY-MM-DD"))?,
            ),
            None => None,
        };
        let tz = match &self.timezone {
            Some(z) if z.eq_ignore_ascii_case("utc") => None,
            Some(z) => Some(
                z.parse::<chrono_tz::Tz>()
                    .map_err(|_| anyhow::anyhow!("--timezone '{z}' is not a time zone name: use Area/City, e.g. America/New_York"))?,
            ),
            None => None,
        };
        Ok(ReadOptions {
            format: self.format,
            columns: self
                .columns
                .clone()
                .map(|c| c.into_iter().map(|s| s.trim().to_string()).collect()),
            delimiter,
            time: TimeContext { tz, date },
        })
    }
}

/// Print flows Parquet as rwcut-style text (converting that text gives the same rows).
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens cat flows.parquet | head
  flowlens cat store/flows --fields sip,dip,dport,bytes --delimited
  flowlens cat flows.parquet --delimited=, > flows.csv")]
struct CatArgs {
    /// Parquet files or folders (hive partitions are read recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Columns to print, comma-separated (flow column names or aliases, e.g. sIP,dPort).
    #[arg(long, value_delimiter = ',')]
    fields: Option<Vec<String>>,
    /// No padding; separate columns with CHAR (default '|').
    #[arg(long, value_name = "CHAR", num_args = 0..=1, default_missing_value = "|")]
    delimited: Option<String>,
    /// Do not print the title line.
    #[arg(long)]
    no_titles: bool,
    /// Write to FILE instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Generate deterministic, realistic flows (servers, clients, scanners, P2P, ICMP).
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens gen --rows 100000 --seed 7 > day.rw
  flowlens gen --rows 1000000 --format csv -o flows.csv
  flowlens gen --rows 50000 --days 2 --start 2026-11-20 -o archive/flows.rw")]
struct GenArgs {
    /// Number of flow rows.
    #[arg(long, default_value_t = 100_000)]
    rows: u64,
    /// Random seed: the same seed gives the same flows.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value = "rwcut")]
    format: flowlens::gen::GenFormat,
    /// The local network (CIDR) that holds the servers and clients.
    #[arg(long, default_value = "10.0.0.0/16")]
    local: String,
    /// First day of timestamps.
    #[arg(long, default_value = "2026-11-21")]
    start: String,
    /// Number of days the flows span.
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Also write the ground truth (server, port, proto, service) as CSV to FILE.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Write to FILE instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Convert(a) => {
            let mut opts = ConvertOptions::new(a.inputs, a.output);
            opts.read = a.read.options()?;
            opts.partition = a.partition;
            opts.rejects = a.rejects;
            opts.quiet = a.quiet;
            if let Some(t) = a.threads {
                opts.threads = t.max(1);
            }
            let s = convert::convert(&opts)?;
            if !a.quiet {
                eprintln!(
                    "flowlens convert: {} input(s) ({}), {} lines read, {} converted, {} rejected, {} rows written to {}",
                    s.inputs,
                    s.formats.join(", "),
                    s.lines,
                    s.lines - s.rejected,
                    s.rejected,
                    s.rows,
                    opts.output.display()
                );
            }
        }
        Command::Cat(a) => {
            let delimiter = match a.delimited.as_deref() {
                None => None,
                Some("tab") | Some("\\t") => Some('\t'),
                Some(d) if d.chars().count() == 1 => d.chars().next(),
                Some(d) => bail!("--delimited takes one character, not '{d}'"),
            };
            let opts = flowlens::cat::CatOptions {
                fields: a.fields,
                delimiter,
                titles: !a.no_titles,
            };
            flowlens::cat::cat(&a.inputs, &opts, a.output.as_deref())?;
        }
        Command::Gen(a) => {
            let start = parse_date(&a.start)
                .with_context(|| format!("--start '{}' is not a date: use YYYY-MM-DD", a.start))?;
            let opts = flowlens::gen::GenOptions {
                rows: a.rows,
                seed: a.seed,
                format: a.format,
                local: a.local.parse().with_context(|| {
                    format!(
                        "--local '{}' is not an IPv4 network such as 10.0.0.0/16",
                        a.local
                    )
                })?,
                start_day: start,
                days: a.days.max(1),
            };
            flowlens::gen::generate(&opts, a.output.as_deref(), a.truth.as_deref())?;
        }
    }
    Ok(())
}

/// True when the error chain ends in a closed pipe (`flowlens cat … | head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<flowlens::Error>(), Some(flowlens::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowlens: {e:#}");
            ExitCode::from(2)
        }
    }
}
