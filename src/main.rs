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
    Ports(PortsArgs),
    Servers(ServersArgs),
    Findings(FindingsArgs),
    Daily(DailyArgs),
    Report(ReportArgs),
    Sql(SqlArgs),
}

/// Convert flow text (rwcut, whitespace tables, CSV/TSV, exporters' text; plain, gzip or zstd)
/// and binary archives (nfdump's nfcapd files, SiLK's rw files) into Parquet.
///
/// Inputs are files, folders (read recursively) or `-` for stdin; the format is detected from
/// each input's magic bytes or first line. Strict by default: the first bad line stops the run with
/// `path:line: column: reason` and no output is written; `--rejects FILE` keeps going and
/// writes bad lines there instead.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens convert archive/2026-11-21/*.rw.gz -o flows.parquet
  flowlens convert archive/ -o store/flows --partition day
  flowlens convert /var/cache/nfdump/2026/11/21/ -o store/flows --partition day
  flowlens convert /data/in/2026/11/21/ --silk-conf /data/silk.conf \\
      -o store/flows --partition day
  rwfilter --type=all --proto=0-255 --pass=stdout \\
      | flowlens convert - -o flows.parquet
  rwcut --all-fields sensor.rw | flowlens convert - -o flows.parquet
  flowlens convert seed.txt --date 2014-06-01 -o seed.parquet
  flowlens convert notitles.txt --columns sip,dip,sport,dport,proto \\
      -o flows.parquet
  flowlens convert dirty.csv --rejects rejects.tsv -o flows.parquet
  # many files of one day at once, each into its own file of the day:
  ls /var/cache/nfdump/2026/11/21/nfcapd.2* | xargs -P 8 -I F sh -c \\
      'flowlens convert F -o store/flows --partition day --part $(basename F)'")]
struct ConvertArgs {
    /// Input files or folders; `-` reads stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output Parquet file, or folder with --partition day.
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    read: ReadArgs,
    /// Date for clock times that carry none (the SEI seed's `02:43.290`), YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// Write one file per day under hive folders date=YYYY-MM-DD/ (by flow start, UTC).
    /// Days present in the input replace the same days in the folder.
    #[arg(long, value_enum, default_value = "none")]
    partition: Partition,
    /// With --partition day: write each day as date=YYYY-MM-DD/NAME.parquet beside the day's
    /// other files, replacing only a file of that name (not the whole day). One run per input
    /// file, each with its own NAME, fills a store in parallel, on one machine or many.
    #[arg(long, value_name = "NAME")]
    part: Option<String>,
    /// Keep going past bad lines, writing each to FILE as
    /// `path<TAB>line<TAB>column: reason<TAB>line as read`.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Worker threads (default: one per core); each parses blocks and encodes Parquet in turn.
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
    /// Time zone of timestamps printed without an offset (default UTC), e.g. Europe/Berlin.
    #[arg(long, value_name = "AREA/CITY")]
    timezone: Option<String>,
    /// SiLK's silk.conf, for sensor and class/type names of rw files (default:
    /// $SILK_CONFIG_FILE, a silk.conf beside the data, $SILK_DATA_ROOTDIR/silk.conf, /data/silk.conf).
    #[arg(long, value_name = "FILE")]
    silk_conf: Option<PathBuf>,
}

impl ReadArgs {
    /// The read options; `date` (days since the epoch) places clock times that carry no date:
    /// convert's `--date`, daily's day.
    fn options(&self, date: Option<i64>) -> anyhow::Result<ReadOptions> {
        let delimiter = match self.delimiter.as_deref() {
            None => None,
            Some("tab") | Some("\\t") | Some("\t") => Some(b'\t'),
            Some(d) if d.len() == 1 => Some(d.as_bytes()[0]),
            Some(d) => bail!("--delimiter takes one character (or 'tab'), not '{d}'"),
        };
        let tz = match &self.timezone {
            Some(z) if z.eq_ignore_ascii_case("utc") => None,
            Some(z) => Some(z.parse::<chrono_tz::Tz>().map_err(|_| {
                anyhow::anyhow!("--timezone '{z}' is not a time zone name: use Area/City, e.g. America/New_York")
            })?),
            None => None,
        };
        Ok(ReadOptions {
            format: self.format,
            columns: self.columns.clone().map(|c| c.into_iter().map(|s| s.trim().to_string()).collect()),
            delimiter,
            time: TimeContext { tz, date },
            silk_conf: self.silk_conf.clone(),
        })
    }
}

/// Print flows Parquet as rwcut-style text (converting that text gives the same rows).
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens cat flows.parquet | head
  flowlens cat store/flows --fields sip,dip,dport,bytes --delimited
  flowlens cat flows.parquet --delimited=, > flows.csv
  flowlens cat store/flows --from 2026-11-20 --to 2026-11-21
  flowlens cat store/flows --any-address 10.0.0.5 --dport 22 \\
      --from 2026-11-21T10:00 --to 2026-11-21T10:59
  flowlens cat store/flows --saddress 10.0.0.0/16,2001:db8::/32 \\
      --proto udp --aport 53,123")]
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
    #[command(flatten)]
    select: SelectArgs,
}

/// Generate deterministic, realistic flows (servers, clients, scanners, P2P, ICMP).
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens gen --rows 100000 --seed 7 > day.rw
  flowlens gen --rows 1000000 --format csv -o flows.csv
  flowlens gen --rows 50000 --days 2 --start 2026-11-20 -o archive/flows.rw
  flowlens gen --rows 100000 --plant --findings-truth planted.csv -o day.rw")]
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
    /// Also plant the port report seed's Section 2 examples (busy server, kazaa host, hacked
    /// host, scanned dark address), two scanners and the findings' traps (NAT, backup, NTP,
    /// resets, resolver), on top of --rows.
    #[arg(long)]
    plant: bool,
    /// With --plant: write the planted hosts and the tags they must get (host,role,tags) to FILE.
    #[arg(long, value_name = "FILE", requires = "plant")]
    findings_truth: Option<PathBuf>,
    /// Write to FILE instead of stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Per-host port summaries from flows Parquet: the Berkeley port report.
///
/// Hosts are the addresses inside --local networks (every address without it); a flow is
/// outgoing for its source host and incoming for its destination host. Per host, a port paired
/// with more than --many distinct ports on the other side becomes `p->*` or `*->p` (port 0 also
/// prints as `*`); rows are ranked by bytes, packets, flows; the first --top rows and any row
/// with a --watch port are listed and the rest add up to `Other`. Hosts are ranked by bytes.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens ports store/flows --local 128.32.0.0/16 --hosts hosts.txt \\
      --domain berkeley.edu
  flowlens ports flows.parquet --format csv -o ports.csv
  flowlens ports flows.parquet --format parquet -o ports.parquet
  flowlens ports flows.parquet --local 10.0.0.0/8 --resolve \\
      --resolver 10.0.0.53 --top-hosts 50
  flowlens ports flows.parquet --top 3 --watch 6660-6669,1214,31337 --many 5
  flowlens ports store/flows --local 10.0.0.0/8 \\
      --from 2026-11-20 --to 2026-11-21
  flowlens ports store/flows --local 10.0.0.0/8 --dport 22 --proto tcp
  flowlens ports store/flows --local 10.0.0.0/8 --memory 2G \\
      --temp-dir /var/tmp
  flowlens ports flows.parquet --any-address 10.0.0.5,2001:db8::/64 \\
      --from 2026-11-21T08:00+01:00 --to 2026-11-21T17:59+01:00
  flowlens ports store/flows --local 128.32.0.0/16 --findings")]
struct PortsArgs {
    /// Parquet files or folders (hive partitions are read recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    knobs: PortsKnobs,
    /// Host names from a hosts(5) file (`address name [aliases]`).
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Strip this domain from host names (`newsfeed.berkeley.edu` → `newsfeed`).
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// Name the reported hosts by reverse DNS (PTR); addresses without a name print as addresses.
    #[arg(long)]
    resolve: bool,
    /// DNS server for --resolve: ADDR or ADDR:PORT (default: first nameserver in /etc/resolv.conf).
    #[arg(long, value_name = "ADDR", requires = "resolve")]
    resolver: Option<String>,
    /// Wait at most this long for one reverse lookup (e.g. 500ms, 2s).
    #[arg(long, value_name = "DURATION", default_value = "2s", requires = "resolve")]
    resolve_timeout: String,
    /// Reverse lookups in flight at once.
    #[arg(long, value_name = "N", default_value_t = flowlens::resolve::DEFAULT_PARALLEL, requires = "resolve")]
    resolve_parallel: usize,
    /// Reverse DNS cache file (default: $XDG_CACHE_HOME/flowlens/rdns.tsv or ~/.cache/flowlens/rdns.tsv).
    #[arg(long, value_name = "FILE", requires = "resolve")]
    dns_cache: Option<PathBuf>,
    /// Do not read or write the reverse DNS cache.
    #[arg(long, conflicts_with = "dns_cache")]
    no_dns_cache: bool,
    /// How long a cached name (or "no name") is used before asking again: seconds or 90s, 30m, 12h, 7d.
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    dns_cache_ttl: String,
    /// Also decide the findings (as `flowlens findings`, in the same read) and mark each host's
    /// under its rows: `[!]` threat, `[i]` other, with the explanation; CSV, JSON and Parquet get
    /// a last column `findings` (the host's tags, `;`-separated).
    #[arg(long)]
    findings: bool,
    /// With --findings: thresholds from FILE (TOML, every key of data/findings.toml).
    #[arg(long, value_name = "FILE", requires = "findings")]
    findings_rules: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: flowlens::ports::PortsFormat,
    /// Write to FILE instead of stdout (required for parquet).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No summary line on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    memory: MemoryArgs,
}

impl PortsArgs {
    fn options(self) -> anyhow::Result<flowlens::ports::PortsOptions> {
        use flowlens::ports::{NameOptions, PortsOptions};
        use flowlens::resolve;
        let mut opts = PortsOptions::new(self.inputs);
        self.knobs.apply(&mut opts)?;
        let ttl = resolve::parse_duration(&self.dns_cache_ttl).context("--dns-cache-ttl")?;
        let resolve = if self.resolve {
            let server = match &self.resolver {
                Some(r) => resolve::parse_resolver(r)?,
                None => resolve::system_resolver(),
            };
            let timeout = resolve::parse_duration(&self.resolve_timeout).context("--resolve-timeout")?;
            if timeout.is_zero() {
                bail!("--resolve-timeout must be more than 0");
            }
            let mut r = resolve::ResolveOptions::new(server);
            r.timeout = timeout;
            r.parallel = self.resolve_parallel.max(1);
            r.ttl = ttl;
            r.cache = if self.no_dns_cache { None } else { self.dns_cache.or(r.cache) };
            Some(r)
        } else {
            None
        };
        opts.names = NameOptions { hosts_file: self.hosts, domain: self.domain, resolve };
        opts.format = self.format;
        opts.output = self.output;
        opts.threads = self.threads;
        opts.select = self.select.selection()?;
        opts.memory = self.memory.memory(self.quiet)?;
        if self.findings {
            opts.findings = Some(flowlens::findings::FindingRules::load(self.findings_rules.as_deref())?);
        }
        Ok(opts)
    }
}

/// The port report's options that shape its rows (shared by `ports` and `sql ports`).
#[derive(Args)]
struct PortsKnobs {
    /// A local network (CIDR, IPv4 or IPv6); repeatable. Without it every address is a host.
    #[arg(long, value_name = "CIDR")]
    local: Vec<String>,
    /// Port names from FILE (/etc/services format) instead of the built-in table.
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// Rows listed per host before `Other`.
    #[arg(long, value_name = "N", default_value_t = 9)]
    top: usize,
    /// A port paired with more than M distinct ports on the other side collapses to `*`.
    #[arg(long, value_name = "M", default_value_t = 3)]
    many: u32,
    /// Ports whose rows are always listed: comma list with ranges, e.g. 6660-6669,1214
    /// ('none' for no port; default: data/watch-ports.txt, IRC and kazaa).
    #[arg(long, value_name = "PORTS")]
    watch: Option<String>,
    /// Only the first K hosts (by total bytes).
    #[arg(long, value_name = "K")]
    top_hosts: Option<usize>,
}

impl PortsKnobs {
    fn apply(&self, opts: &mut flowlens::ports::PortsOptions) -> anyhow::Result<()> {
        use flowlens::ports::{PortSet, SummaryOptions};
        opts.local = parse_nets("--local", &self.local)?;
        let watch = match &self.watch {
            Some(w) => PortSet::parse_list(w).context("--watch")?,
            None => PortSet::default_watch(),
        };
        opts.summary = SummaryOptions { many: self.many, top: self.top, watch };
        opts.top_hosts = self.top_hosts;
        if let Some(p) = &self.services {
            opts.services = flowlens::services::Services::from_file(p)?;
        }
        Ok(())
    }
}

/// Find the addresses that act as servers, per service, from flows alone (TCP flags not needed).
///
/// Rules are data (built-in: data/servers.toml; --rules FILE for your own): per service, the
/// protocol, server and client ports, per-direction packet/byte bounds and ties to a control
/// channel (FTP data, PPTP's GRE). A server must have answered a client; docs/servers.md gives
/// the exact definition. With --baseline, rows are marked new or known and --alerts writes one
/// JSON line per new server. Exit status: 0 ok, 1 new servers with --fail-on-new, 2 error.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens servers store/flows --local 10.0.0.0/8
  flowlens servers flows.parquet --rules my-rules.toml \\
      --format csv -o servers.csv
  flowlens servers today.parquet --baseline inventory.parquet \\
      --alerts new-servers.ndjson --fail-on-new
  flowlens servers store/flows --from 2026-11-20 --to 2026-11-21 --format json
  flowlens servers store/flows --local 10.0.0.0/8 --proto udp --aport 53,123 \\
      --from 2026-11-21T12:00
  flowlens servers huge-day.parquet --memory 512M
  flowlens servers --sql > servers.sql      # the same rules as DuckDB SQL")]
struct ServersArgs {
    /// Parquet files or folders (hive partitions are read recursively).
    #[arg(required_unless_present = "sql")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    knobs: ServersKnobs,
    /// Also list symmetric pairs (NTP 123<->123) where neither side shows server evidence.
    #[arg(long)]
    ambiguous: bool,
    /// Mark rows new or known against an earlier servers Parquet or an inventory.parquet.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write one JSON object per new server to FILE (NDJSON; empty when none).
    #[arg(long, value_name = "FILE")]
    alerts: Option<PathBuf>,
    /// Exit with status 1 when there is a new server (without --baseline every server is new).
    #[arg(long)]
    fail_on_new: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: flowlens::servers::ServersFormat,
    /// Write to FILE instead of stdout (required for parquet).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the rules compiled to DuckDB SQL (over a relation named `flows`) and exit; the
    /// same as `flowlens sql servers`, which has the other dialects.
    #[arg(long)]
    sql: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No summary line on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// The servers report's options that decide its rows (shared by `servers` and `sql servers`).
#[derive(Args)]
struct ServersKnobs {
    /// Report only servers inside this network (CIDR, IPv4 or IPv6); repeatable.
    #[arg(long, value_name = "CIDR")]
    local: Vec<String>,
    /// Rules from FILE (TOML, see data/servers.toml) instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Port names from FILE (/etc/services format) for rules with service = "*".
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// Never look at TCP flags (they only ever raise a confidence; the servers are the same).
    #[arg(long)]
    ignore_flags: bool,
}

impl ServersKnobs {
    fn options(&self) -> anyhow::Result<flowlens::servers::ReportOptions> {
        let mut r = flowlens::servers::ReportOptions::default();
        if let Some(p) = &self.rules {
            r.rules = flowlens::servers::Rules::from_file(p)?;
        }
        if let Some(p) = &self.services {
            r.services = flowlens::services::Services::from_file(p)?;
        }
        r.local = parse_nets("--local", &self.local)?;
        r.eval.ignore_flags = self.ignore_flags;
        Ok(r)
    }
}

/// Print a report as one SQL query over a relation named `flows` (the flows Parquet schema), for
/// DuckDB, Spark SQL or Trino: the rows of `flowlens ports|servers|findings --format csv` for the
/// same options, in the same order, with the same column names (hostname is the address, or
/// empty for findings).
///
/// For archives that outgrow one machine: the engines read the store's Parquet as it is. The
/// options are the report command's, with its defaults, written into the query as literals.
/// Restrict `flows` to the days wanted (the query has no --from/--to). DuckDB and Spark queries
/// are run against flowlens's output in the tests; Trino's are checked for syntax only.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens sql ports --local 10.0.0.0/8 --top 9 --many 3 \\
      --watch 6660-6669,1214 --dialect spark > ports.sql
  flowlens sql servers --rules my-rules.toml --local 10.0.0.0/8 \\
      --dialect trino > servers.sql
  flowlens sql findings --rules my-findings.toml --dialect duckdb \\
      > findings.sql
  flowlens sql ports --local 128.32.0.0/16 > ports.sql
  duckdb -c \"CREATE VIEW flows AS SELECT * FROM \\
      read_parquet('store/flows/**/*.parquet', union_by_name = true); \\
      $(cat ports.sql)\"
  spark-submit scripts/spark_reports.py --store s3a://bucket/flowlens \\
      --date 2026-11-21 --local 10.0.0.0/8")]
struct SqlArgs {
    #[command(subcommand)]
    report: SqlReport,
}

#[derive(Subcommand)]
enum SqlReport {
    /// The port report (`flowlens ports --format csv`), as one query.
    Ports {
        #[command(flatten)]
        knobs: PortsKnobs,
        /// The SQL engine to write for.
        #[arg(long, value_enum, default_value = "duckdb")]
        dialect: flowlens::sql::Dialect,
    },
    /// The servers report (`flowlens servers --format csv`), as one query.
    Servers {
        #[command(flatten)]
        knobs: ServersKnobs,
        /// Findings thresholds from FILE for the P2P context (as daily's --findings-rules).
        #[arg(long, value_name = "FILE")]
        findings_rules: Option<PathBuf>,
        /// The SQL engine to write for.
        #[arg(long, value_enum, default_value = "duckdb")]
        dialect: flowlens::sql::Dialect,
    },
    /// The findings (`flowlens findings --format csv`), as one query.
    Findings {
        #[command(flatten)]
        knobs: FindingsKnobs,
        /// The SQL engine to write for.
        #[arg(long, value_enum, default_value = "duckdb")]
        dialect: flowlens::sql::Dialect,
    },
}

/// The reports' memory budget.
#[derive(Args)]
#[command(next_help_heading = "Memory")]
struct MemoryArgs {
    /// How much the aggregation may hold (512M, 2G, …); past it, the state spills to
    /// --temp-dir and is merged back one shard at a time, with the same output.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    memory: String,
    /// Where spill files go (default: $TMPDIR, else /tmp); removed when the run ends.
    #[arg(long, value_name = "DIR")]
    temp_dir: Option<PathBuf>,
}

impl MemoryArgs {
    fn memory(&self, quiet: bool) -> anyhow::Result<flowlens::aggregate::Memory> {
        let bytes = flowlens::aggregate::parse_size(&self.memory).map_err(|e| anyhow::anyhow!("--memory: {e}"))?;
        if let Some(d) = &self.temp_dir {
            if !d.is_dir() {
                bail!("--temp-dir {}: not a folder; create it or name another", d.display());
            }
        }
        Ok(flowlens::aggregate::Memory { bytes, temp_dir: self.temp_dir.clone(), quiet })
    }
}

/// The summary line's note on spilling: empty when nothing spilled.
fn spilled(runs: u64, bytes: u64) -> String {
    match runs {
        0 => String::new(),
        n => format!("; spilled {n} run(s), {} MiB", bytes.div_ceil(1 << 20)),
    }
}

/// CIDR networks from the command line.
fn parse_nets(flag: &str, texts: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    texts
        .iter()
        .map(|c| {
            c.trim().parse().with_context(|| {
                format!("{flag} '{c}' is not a network: write CIDR such as 10.0.0.0/8 or 2001:db8::/32")
            })
        })
        .collect()
}

/// Which flows a reading command reads: rwfilter's partitioning switches. Different options
/// must all hold; the values of one option (a comma list, or the option repeated) are
/// alternatives.
#[derive(Args)]
#[command(next_help_heading = "Selection (as rwfilter: options AND together, the values of one option OR)")]
struct SelectArgs {
    /// Only flows starting at or after this day or time, UTC unless an offset is given:
    /// 2026-11-21, 2026-11-21T10:00, '2026-11-21 10:00:30', 2026-11-21T10:00+02:00.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// Only flows starting up to the end of this day or time: the whole day, hour, minute or
    /// second written is included (--to 2026-11-21 ends at midnight after the 21st,
    /// --to 2026-11-21T10:59 at 11:00:00).
    #[arg(long, value_name = "TIME")]
    to: Option<String>,
    /// Only flows from these addresses or networks (IPv4 or IPv6, CIDR), comma-separated,
    /// repeatable: 10.0.0.5,10.1.0.0/16,2001:db8::/32.
    #[arg(long, value_name = "ADDRS")]
    saddress: Vec<String>,
    /// Only flows to these addresses or networks.
    #[arg(long, value_name = "ADDRS")]
    daddress: Vec<String>,
    /// Only flows from or to these addresses or networks (source or destination).
    #[arg(long, value_name = "ADDRS")]
    any_address: Vec<String>,
    /// Only flows from these source ports: ports and ranges, e.g. 22,80,6660-6669.
    #[arg(long, value_name = "PORTS")]
    sport: Vec<String>,
    /// Only flows to these destination ports (for ICMP, type*256+code: 2048 is echo request).
    #[arg(long, value_name = "PORTS")]
    dport: Vec<String>,
    /// Only flows with one of these ports on either side (source or destination).
    #[arg(long, value_name = "PORTS")]
    aport: Vec<String>,
    /// Only flows of these IP protocols: numbers, ranges or names, e.g. tcp,udp or 6,17,50-51.
    #[arg(long, value_name = "PROTOS")]
    proto: Vec<String>,
}

impl SelectArgs {
    fn selection(&self) -> anyhow::Result<flowlens::select::Selection> {
        use flowlens::select::{AddrSet, PortSet, ProtoSet, Selection, TimeRange};
        /// The union of an option's values; `None` when the option is not given.
        fn union<S>(
            flag: &str,
            values: &[String],
            what: &str,
            parse: impl Fn(&str) -> flowlens::Result<S>,
            merge: impl Fn(&mut S, &S),
            empty: impl Fn(&S) -> bool,
        ) -> anyhow::Result<Option<S>> {
            let mut out: Option<S> = None;
            for v in values {
                let set = parse(v).with_context(|| format!("--{flag}"))?;
                if empty(&set) {
                    bail!("--{flag} '{v}' names no {what}");
                }
                match &mut out {
                    Some(o) => merge(o, &set),
                    None => out = Some(set),
                }
            }
            Ok(out)
        }
        let addrs = |flag: &str, v: &[String]| {
            union(flag, v, "address", AddrSet::parse_list, AddrSet::union_with, AddrSet::is_empty)
        };
        let ports = |flag: &str, v: &[String]| {
            union(flag, v, "port", PortSet::parse_list, PortSet::union_with, PortSet::is_empty)
        };
        Ok(Selection {
            range: TimeRange::parse(self.from.as_deref(), self.to.as_deref())?,
            saddress: addrs("saddress", &self.saddress)?,
            daddress: addrs("daddress", &self.daddress)?,
            any_address: addrs("any-address", &self.any_address)?,
            sport: ports("sport", &self.sport)?,
            dport: ports("dport", &self.dport)?,
            aport: ports("aport", &self.aport)?,
            proto: union(
                "proto",
                &self.proto,
                "protocol",
                ProtoSet::parse_list,
                ProtoSet::union_with,
                ProtoSet::is_empty,
            )?,
        })
    }
}

impl ServersArgs {
    fn report_options(&self) -> anyhow::Result<flowlens::servers::ReportOptions> {
        let mut r = self.knobs.options()?;
        r.select = self.select.selection()?;
        r.ambiguous = self.ambiguous;
        r.memory = self.memory.memory(self.quiet)?;
        Ok(r)
    }
}

/// Say what the port report shows by eye: scanners, scanned addresses, P2P, possible
/// compromises and busy servers, one row per host and tag, with evidence.
///
/// Tags: scanner (horizontal, vertical or both; mostly unanswered), scan-target (probed from
/// outside; "dark" when it never sends), p2p, possible-compromise (bulk serving between high
/// ports, IRC or beaconing, outbound scanning: confidence by the number of signals) and server
/// (from the servers evaluation). "Answered" is decided from the flows themselves (a reply
/// between the same endpoints within a window); flags and `side` only add evidence. Thresholds
/// are data (built-in: data/findings.toml; --rules FILE replaces it); docs/findings.md gives the
/// exact definitions. With --local, local hosts are candidates, and outside scanners of local
/// addresses are still reported.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens findings store/flows --local 128.32.0.0/16 \\
      --from 2026-11-21 --to 2026-11-21
  flowlens findings flows.parquet --format csv -o findings.csv
  flowlens findings flows.parquet --rules my-findings.toml --format json
  flowlens findings flows.parquet --format parquet -o findings.parquet
  flowlens ports store/flows --local 128.32.0.0/16 --findings")]
struct FindingsArgs {
    /// Parquet files or folders (hive partitions are read recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    knobs: FindingsKnobs,
    /// Host names from a hosts(5) file (`address name [aliases]`) for the hostname column.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: flowlens::findings::FindingsFormat,
    /// Write to FILE instead of stdout (required for parquet).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No summary line on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    select: SelectArgs,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// The findings' options that decide its rows (shared by `findings` and `sql findings`).
#[derive(Args)]
struct FindingsKnobs {
    /// A local network (CIDR, IPv4 or IPv6); repeatable. Without it every address is a candidate.
    #[arg(long, value_name = "CIDR")]
    local: Vec<String>,
    /// Thresholds from FILE (TOML, every key of data/findings.toml) instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Server rules from FILE (for the server tag) instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    server_rules: Option<PathBuf>,
    /// Port names from FILE (/etc/services format) for the evidence and the servers.
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
}

impl FindingsKnobs {
    fn options(&self) -> anyhow::Result<flowlens::findings::ReportOptions> {
        let mut r = flowlens::findings::ReportOptions::default();
        if let Some(p) = &self.rules {
            r.rules = flowlens::findings::FindingRules::from_file(p)?;
        }
        if let Some(p) = &self.server_rules {
            r.servers.rules = flowlens::servers::Rules::from_file(p)?;
        }
        if let Some(p) = &self.services {
            r.services = flowlens::services::Services::from_file(p)?;
            r.servers.services = r.services.clone();
        }
        r.local = parse_nets("--local", &self.local)?;
        r.servers.local = r.local.clone();
        Ok(r)
    }
}

impl FindingsArgs {
    fn report_options(&self) -> anyhow::Result<flowlens::findings::ReportOptions> {
        let mut r = self.knobs.options()?;
        if let Some(p) = &self.hosts {
            r.hosts = flowlens::ports::names::read_hosts_file(p)?;
        }
        r.select = self.select.selection()?;
        r.servers.memory = self.memory.memory(self.quiet)?;
        Ok(r)
    }
}

/// The nightly job: convert a day's archive into a store, then its port report, its servers,
/// its findings (from one read of the day), the alerts and the inventory of every server ever
/// seen.
///
/// Store layout: STORE/flows/date=D/, STORE/ports/date=D/ports.parquet,
/// STORE/servers/date=D/servers.parquet, STORE/findings/date=D/findings.parquet, the same three
/// as CSV in STORE/csv/date=D/, STORE/alerts/date=D/new-servers.ndjson and findings.ndjson (the
/// threat rows of hosts with no threat tag on an earlier day), STORE/report/date=D/report.html
/// (the day's page, as `flowlens report` makes it), STORE/inventory.parquet. Inputs
/// that carry only a time of day (SEI tables, Argus `ra`) are placed on --date. Running a day
/// again replaces that day; a server is new when no other day of the store has it. Outputs are
/// staged and committed at the end, so a killed run leaves the store as before (or the next run
/// finishes it); a lock (STORE/.lock) keeps two runs off one store.
/// Exit status (for cron): 0 ok, 1 new servers or first-time threat hosts with --fail-on-new,
/// 2 error.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens daily --store /var/lib/flowlens --date 2026-11-21 \\
      /archive/2026-11-21/
  flowlens daily --store store --date 2026-11-21 --local 10.0.0.0/8 \\
      day.rw.gz --json
  flowlens daily --store store --date 2014-06-01 data/sei/ssh-linux.txt
  flowlens daily --store S --date 2026-11-21 /archive/2026-11-21/ \\
      --memory 4G
  # crontab (% is special there):
  # 15 1 * * * D=$(date -d yesterday +\\%F); flowlens daily \\
  #     --store /var/lib/flowlens --date $D /archive/$D/ --fail-on-new")]
struct DailyArgs {
    /// The day's archive: files or folders of flow text (any format convert reads), `-` for stdin.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The store folder.
    #[arg(long, value_name = "DIR")]
    store: PathBuf,
    /// The day (YYYY-MM-DD) the archive belongs to; its outputs go to date=DAY folders.
    #[arg(long, value_name = "DAY")]
    date: String,
    #[command(flatten)]
    read: ReadArgs,
    /// A local network (CIDR): the port report's hosts and the servers reported; repeatable.
    #[arg(long, value_name = "CIDR")]
    local: Vec<String>,
    /// Server rules from FILE instead of the built-in ones.
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Port names from FILE (/etc/services format).
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// Keep going past bad lines, writing them to STORE/flows/date=DAY/rejects.tsv.
    #[arg(long)]
    rejects: bool,
    /// File the archive under --date even when its rows start on other days. Without it, a run
    /// whose rows mostly start on another day is refused (more than 1% starting over 16 hours
    /// outside the day, or fewer than 25% on the day itself, UTC) and nothing is written.
    #[arg(long)]
    allow_other_days: bool,
    /// Findings thresholds from FILE (TOML, every key of data/findings.toml) instead of the
    /// built-in ones.
    #[arg(long, value_name = "FILE")]
    findings_rules: Option<PathBuf>,
    /// Exit with status 1 when the day has a new server, or a host with its first threat finding.
    #[arg(long)]
    fail_on_new: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bar and no summary lines on stderr.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    memory: MemoryArgs,
}

/// One self-contained HTML page for one day of a store: totals and their trend over the store's
/// days, bytes per 5 minutes, the top hosts with their port profiles, findings, new servers and
/// servers gone quiet.
///
/// The tables are the day's reports as `flowlens daily` wrote them (ports, servers, findings
/// Parquet), so the page and the CSVs agree; only the totals and the chart read the day's flows.
/// The page has no scripts and makes no requests (charts are inline SVG); every name is escaped.
/// `daily` writes it as STORE/report/date=D/report.html. Without -o (or with -o -) the page goes
/// to stdout.
#[derive(Args)]
#[command(after_help = "Examples:
  flowlens report store --date 2026-11-21 -o report.html
  flowlens report store --date 2026-11-21 --local 10.0.0.0/16 \\
      --hosts hosts.txt --domain berkeley.edu -o report.html
  flowlens report store --date 2026-11-21 --top-hosts 50 > report.html")]
struct ReportArgs {
    /// The store folder (as `flowlens daily --store` writes it).
    store: PathBuf,
    /// The day (YYYY-MM-DD).
    #[arg(long, value_name = "DAY")]
    date: String,
    /// A local network (CIDR): the chart splits incoming, outgoing and internal bytes by it;
    /// repeatable. Without it the chart has one line for every flow.
    #[arg(long, value_name = "CIDR")]
    local: Vec<String>,
    /// Host names from a hosts(5) file (`address name [aliases]`) for the hosts the page shows.
    #[arg(long, value_name = "FILE")]
    hosts: Option<PathBuf>,
    /// Strip this domain from host names (`newsfeed.berkeley.edu` → `newsfeed`).
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,
    /// Hosts with a bar and a port profile (more hosts are summed up in one line; hosts with
    /// findings get a profile too, up to as many again).
    #[arg(long, value_name = "N", default_value_t = flowlens::report::DEFAULT_TOP_HOSTS)]
    top_hosts: usize,
    /// Rows listed per list (findings of a tag, new servers, quiet servers) before "N more".
    #[arg(long, value_name = "N", default_value_t = flowlens::report::DEFAULT_MAX_ROWS)]
    max_rows: usize,
    /// Port names from FILE (/etc/services format) instead of the built-in table.
    #[arg(long, value_name = "FILE")]
    services: Option<PathBuf>,
    /// Write the page to FILE (written under a temporary name, then renamed) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Convert(a) => {
            let mut opts = ConvertOptions::new(a.inputs, a.output);
            let date = match &a.date {
                Some(d) => Some(parse_date(d).with_context(|| format!("--date '{d}' is not a date: use YYYY-MM-DD"))?),
                None => None,
            };
            opts.read = a.read.options(date)?;
            opts.partition = a.partition;
            if a.part.is_some() && !matches!(a.partition, Partition::Day) {
                bail!("--part names a day's file: it needs --partition day");
            }
            opts.part = a.part;
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
            let select = a.select.selection()?;
            let opts = flowlens::cat::CatOptions { fields: a.fields, delimiter, titles: !a.no_titles, select };
            flowlens::cat::cat(&a.inputs, &opts, a.output.as_deref())?;
        }
        Command::Ports(a) => {
            let quiet = a.quiet;
            let opts = a.options()?;
            let s = flowlens::ports::run(&opts)?;
            if !quiet {
                eprintln!(
                    "flowlens ports: {} rows in {} file(s), {} groups, {} hosts; {} hosts and {} rows reported \
                     (read {:.2} s, summary {:.2} s){}{}",
                    s.stats.rows,
                    s.stats.files,
                    s.stats.groups,
                    s.stats.hosts,
                    s.hosts_reported,
                    s.rows_reported,
                    s.stats.scan_time.as_secs_f64(),
                    s.stats.summary_time.as_secs_f64(),
                    flowlens::aggregate::no_address_note(s.stats.no_address),
                    spilled(s.stats.spills, s.stats.spilled_bytes)
                );
                if let Some(d) = &s.dns {
                    eprintln!(
                        "flowlens ports: reverse DNS for {} addresses: {} from the cache, {} asked: {} names, {} without a name, {} failed",
                        d.addresses, d.from_cache, d.asked, d.names, d.no_name, d.failed
                    );
                }
            }
            if let Some(p) = s.dns.as_ref().and_then(|d| d.cache_problem.as_ref()) {
                eprintln!("flowlens ports: warning: {p}");
            }
        }
        Command::Servers(a) => {
            let report = a.report_options()?;
            if a.sql {
                print!("{}", flowlens::sql::servers::compile(flowlens::sql::Dialect::Duckdb, &report));
                return Ok(0);
            }
            let opts = flowlens::servers::ServersOptions {
                inputs: a.inputs,
                report,
                format: a.format,
                output: a.output,
                baseline: a.baseline,
                alerts: a.alerts,
                fail_on_new: a.fail_on_new,
                threads: a.threads,
            };
            let s = flowlens::servers::run(&opts)?;
            if !a.quiet {
                let new = s.new.map_or(String::new(), |n| format!(", {n} new"));
                let amb = match s.ambiguous_pairs {
                    0 => String::new(),
                    n if opts.report.ambiguous => format!(", {n} ambiguous symmetric pair(s) listed"),
                    n => format!(
                        ", {n} ambiguous symmetric pair(s) (neither side called a server; --ambiguous lists them)"
                    ),
                };
                eprintln!(
                    "flowlens servers: {} rows in {} file(s), {} row groups, {} conversations, {} candidates; {} servers{new}{amb}{}{}",
                    s.stats.rows, s.stats.files, s.stats.row_groups, s.stats.conversations, s.stats.candidates, s.servers,
                    flowlens::aggregate::no_address_note(s.stats.no_address),
                    spilled(s.stats.spills, s.stats.spilled_bytes)
                );
            }
            if a.fail_on_new && s.new.unwrap_or(0) > 0 {
                return Ok(1);
            }
        }
        Command::Sql(a) => {
            let text = match a.report {
                SqlReport::Ports { knobs, dialect } => {
                    let mut opts = flowlens::ports::PortsOptions::new(Vec::new());
                    knobs.apply(&mut opts)?;
                    flowlens::sql::ports::compile(dialect, &opts)
                }
                SqlReport::Servers { knobs, findings_rules, dialect } => flowlens::sql::servers::compile_with_context(
                    dialect,
                    &knobs.options()?,
                    &flowlens::findings::FindingRules::load(findings_rules.as_deref())?,
                ),
                SqlReport::Findings { knobs, dialect } => flowlens::sql::findings::compile(dialect, &knobs.options()?),
            };
            print!("{text}");
        }
        Command::Findings(a) => {
            let report = a.report_options()?;
            let opts = flowlens::findings::FindingsOptions {
                inputs: a.inputs,
                report,
                format: a.format,
                output: a.output,
                threads: a.threads,
            };
            let r = flowlens::findings::run(&opts)?;
            if !a.quiet {
                let counts: Vec<String> = r.counts().iter().map(|(t, n)| format!("{n} {t}")).collect();
                eprintln!(
                    "flowlens findings: {} rows in {} file(s), {} host conversations; {} rows: {}{}{}",
                    r.stats.rows,
                    r.stats.files,
                    r.stats.conversations,
                    r.findings.len(),
                    counts.join(", "),
                    flowlens::aggregate::no_address_note(r.stats.no_address),
                    spilled(r.stats.spills, r.stats.spilled_bytes)
                );
            }
        }
        Command::Daily(a) => {
            let date = chrono::NaiveDate::parse_from_str(&a.date, "%Y-%m-%d")
                .with_context(|| format!("--date '{}' is not a date: use YYYY-MM-DD", a.date))?;
            let mut servers = flowlens::servers::ReportOptions::default();
            if let Some(p) = &a.rules {
                servers.rules = flowlens::servers::Rules::from_file(p)?;
            }
            if let Some(p) = &a.services {
                servers.services = flowlens::services::Services::from_file(p)?;
            }
            let opts = flowlens::daily::DailyOptions {
                store: a.store,
                date,
                inputs: a.inputs,
                // The archive's day is also the date of clock times that carry none (SEI tables,
                // Argus `ra`'s default output).
                read: a.read.options(parse_date(&a.date))?,
                local: parse_nets("--local", &a.local)?,
                ports: flowlens::ports::SummaryOptions::default(),
                servers,
                findings: flowlens::findings::FindingRules::load(a.findings_rules.as_deref())?,
                rejects: a.rejects,
                allow_other_days: a.allow_other_days,
                threads: a.threads,
                quiet: a.quiet,
                memory: a.memory.memory(a.quiet)?,
                fail_after: std::env::var("FLOWLENS_DAILY_FAIL_AFTER").ok(),
            };
            let quiet = a.quiet;
            let mut line = |s: &flowlens::daily::StageSummary| {
                if !quiet {
                    eprintln!("flowlens daily: {:<8} {:>7.2} s  {}", s.stage, s.seconds, s.detail);
                }
            };
            let s = flowlens::daily::run(&opts, &mut line)?;
            if !quiet {
                for r in &s.recovered {
                    eprintln!("flowlens daily: recovered {r}");
                }
                eprintln!(
                    "flowlens daily: {} done: {} rows, {} servers, {} new (alerts: {}); {} host(s) with a first threat finding (alerts: {})",
                    s.date,
                    s.rows,
                    s.servers,
                    s.new_servers,
                    s.alerts.display(),
                    s.new_threat_hosts,
                    s.findings_alerts.display()
                );
            }
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            }
            if a.fail_on_new && (s.new_servers > 0 || s.new_threat_hosts > 0) {
                return Ok(1);
            }
        }
        Command::Report(a) => {
            let date = chrono::NaiveDate::parse_from_str(&a.date, "%Y-%m-%d")
                .with_context(|| format!("--date '{}' is not a date: use YYYY-MM-DD", a.date))?;
            let mut opts = flowlens::report::ReportOptions::new(a.store, date);
            opts.local = parse_nets("--local", &a.local)?;
            opts.names = flowlens::ports::NameOptions { hosts_file: a.hosts, domain: a.domain, resolve: None };
            opts.top_hosts = a.top_hosts;
            opts.max_rows = a.max_rows;
            if let Some(p) = &a.services {
                opts.services = flowlens::services::Services::from_file(p)?;
            }
            opts.threads = a.threads;
            flowlens::report::write(&opts, a.output.as_deref())?;
        }
        Command::Gen(a) => {
            let start =
                parse_date(&a.start).with_context(|| format!("--start '{}' is not a date: use YYYY-MM-DD", a.start))?;
            let opts = flowlens::gen::GenOptions {
                rows: a.rows,
                seed: a.seed,
                format: a.format,
                local: a
                    .local
                    .parse()
                    .with_context(|| format!("--local '{}' is not an IPv4 network such as 10.0.0.0/16", a.local))?,
                start_day: start,
                days: a.days.max(1),
                plant: a.plant,
            };
            flowlens::gen::generate_with_findings(
                &opts,
                a.output.as_deref(),
                a.truth.as_deref(),
                a.findings_truth.as_deref(),
            )?;
        }
    }
    Ok(0)
}

/// True when the error chain ends in a closed pipe (`flowlens cat … | head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(c.downcast_ref::<flowlens::Error>(), Some(flowlens::Error::Io { error, .. }) if error.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Keeps memory that the pipelines free in the heap for their next blocks. By default glibc's
/// malloc hands freed memory back to the kernel once 128 KiB lie free at the top of the heap,
/// and serves blocks over a (self-adjusting) threshold with fresh mappings: every block of
/// parsed rows and every Parquet page buffer then faults its pages in afresh. These settings cut
/// `convert`'s page faults about 5x and its system time by a third (BENCHMARKS.md); peak memory
/// is unchanged, since what one block frees the next one uses.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; it runs before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    if let Err(e) = flowlens::interrupt::install() {
        // Without the watcher an interrupted run can leave a temporary file behind; still run.
        eprintln!("flowlens: warning: cannot watch for Ctrl-C ({e}); an interrupted run may leave .*.tmp files");
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flowlens: {e:#}");
            ExitCode::from(2)
        }
    }
}
