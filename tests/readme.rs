//! The README is a test: every command its ```sh blocks show runs here, as written, in a
//! folder that holds the files it names, and must succeed (a README example that fails is a
//! bug: `rwcut --all-fields sensor.rw | flowlens convert -` once did).
//!
//! The folder is made from the repository's own data: the sample days as `archive/DAY/`, the
//! `data/` folder itself, and small files for the names the examples make up (`hosts.txt`,
//! `dirty.csv`, nfcapd files, …). Absolute paths (`/var/lib/flowlens`, `/archive/…`,
//! `/var/cache/nfdump/…`, `/srv/silk/…`) are taken relative to the folder. Commands run in README order with `sh -c`, so later ones read what earlier
//! ones wrote (`flows.parquet`, `store/flows`). The few that cannot run here are listed in
//! [`NOT_HERE`] with the reason, and a line naming them must still be in the README (so the
//! list cannot go stale).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Commands that cannot run on a test machine, by a piece of their text, with the reason.
const NOT_HERE: [(&str, &str); 3] = [
    // The sandbox's network is closed and 10.0.0.53 is not ours to ask; tests/ports.rs runs
    // --resolve against a real dnsmasq on 127.0.0.1.
    ("--resolver 10.0.0.53", "asks a DNS server on the network"),
    // Spark and Java come with the Python tests' environment, after the Rust tests;
    // tests/python/test_spark.py runs the script on a store.
    ("spark_reports.py", "needs Spark (pyspark) and a JVM"),
    // make targets run whole builds and test suites; `make test` is what runs this file.
    ("make ", "a make target"),
];

/// The shell lines of the README's ```sh blocks, comments removed.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(repo("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if in_sh {
            let cmd = strip_comment(line).trim().to_string();
            if !cmd.is_empty() {
                out.push(cmd);
            }
        }
    }
    out
}

/// The line without a trailing `# comment` (a `#` after a blank, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// A folder holding every file the README's examples name.
fn sandbox(bin: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).current_dir(d).output().unwrap();
        assert!(out.status.success(), "setup {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::os::unix::fs::symlink(repo("data"), d.join("data")).unwrap();
    for day in ["2026-11-20", "2026-11-21"] {
        let folder = d.join("archive").join(day);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(repo(&format!("data/sample/{day}.rw.gz")), folder.join(format!("{day}.rw.gz"))).unwrap();
    }
    std::fs::copy(repo("data/sample/2026-11-21.rw.gz"), d.join("day.rw.gz")).unwrap();
    // `rwcut --all-fields sensor.rw`: Debian has no SiLK, so `rwcut` here prints what SiLK
    // 3.19.1's rwcut printed for a real hourly repository file (tests/data/readme/).
    let bin_dir = d.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let recorded = repo("tests/data/readme/rwcut-all-fields.txt");
    std::fs::write(
        bin_dir.join("rwcut"),
        format!(
            "#!/bin/sh\n# SiLK's rwcut --all-fields output of a recorded file\n[ \"$1\" = --all-fields ] || exit 2\ncat '{}'\n",
            recorded.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin_dir.join("rwcut"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(d.join("sensor.rw"), b"\xDE\xAD\xBE\xEF").unwrap();
    // nfcapd files: one in the folder, and a collector's day folder (/var/cache/nfdump/…).
    std::fs::copy(repo("tests/data/native/services.lzo.nfcapd"), d.join("nfcapd.202611210000")).unwrap();
    let nfdump_day = d.join("var/cache/nfdump/2026/11/21");
    std::fs::create_dir_all(&nfdump_day).unwrap();
    std::fs::copy(repo("tests/data/native/services.nfcapd"), nfdump_day.join("nfcapd.202611210000")).unwrap();
    std::fs::copy(repo("tests/data/native/scan.lz4.nfcapd"), nfdump_day.join("nfcapd.202611210005")).unwrap();
    // SiLK: an hourly file, a repository day with its silk.conf (/srv/silk/…), and `rwfilter`,
    // a stand-in printing the rw file it is given, as `rwfilter --pass=stdout` does.
    std::fs::copy(repo("tests/data/native/in-S3_20261121.09"), d.join("in-S3_20261121.09")).unwrap();
    std::fs::copy(repo("tests/data/native/silk.conf"), d.join("silk.conf")).unwrap();
    let silk_day = d.join("srv/silk/in/2026/11/21");
    std::fs::create_dir_all(&silk_day).unwrap();
    std::fs::copy(repo("tests/data/native/silk.conf"), d.join("srv/silk/silk.conf")).unwrap();
    std::fs::copy(repo("tests/data/native/in-S3_20261121.09"), silk_day.join("in-S3_20261121.09")).unwrap();
    std::fs::write(
        bin_dir.join("rwfilter"),
        "#!/bin/sh\n# SiLK's rwfilter --pass=stdout of a file: the records it passes, as an rw file\nfor a; do f=$a; done\ncat \"$f\"\n",
    )
    .unwrap();
    std::fs::set_permissions(bin_dir.join("rwfilter"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(d.join("notitles.txt"), "10.0.0.1|10.0.0.2|40000|80|6|\n10.0.0.2|10.0.0.1|80|40000|6|\n").unwrap();
    std::fs::write(
        d.join("dirty.csv"),
        "sip,dip,sport,dport,proto,packets,bytes\n10.0.0.1,10.0.0.2,40000,80,6,3,300\nnot-an-address,10.0.0.2,1,2,6,1,1\n",
    )
    .unwrap();
    std::fs::write(d.join("hosts.txt"), "10.0.1.16 www.berkeley.edu www\n128.32.1.1 mail.berkeley.edu\n").unwrap();
    std::fs::write(
        d.join("my-rules.toml"),
        "[[rule]]\nname = \"iperf3\"\nproto = \"tcp\"\nports = \"5201\"\nreply = { min_packets = 2 }\n",
    )
    .unwrap();
    // The built-in findings thresholds, as a user's copy to edit.
    std::fs::copy(repo("data/findings.toml"), d.join("my-findings.toml")).unwrap();
    // A day's flows and an inventory, as a daily store holds them.
    run(&["daily", "--store", "prev", "--date", "2026-11-20", "-q", "archive/2026-11-20/"]);
    std::fs::copy(d.join("prev/inventory.parquet"), d.join("inventory.parquet")).unwrap();
    run(&["convert", "archive/2026-11-21/", "-o", "today.parquet", "-q"]);
    dir
}

#[test]
fn every_readme_command_runs_on_the_data_it_names() {
    let bin = assert_cmd::cargo::cargo_bin("flowlens");
    let dir = sandbox(&bin);
    let commands = readme_commands();
    assert!(commands.len() > 20, "found only {} commands in README.md", commands.len());
    for (piece, why) in NOT_HERE {
        assert!(commands.iter().any(|c| c.contains(piece)), "NOT_HERE lists '{piece}' ({why}): no README line has it");
    }
    let path = format!(
        "{}:{}:{}",
        dir.path().join("bin").display(),
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    for cmd in &commands {
        if NOT_HERE.iter().any(|(piece, _)| cmd.contains(piece)) {
            continue;
        }
        let cmd_here = cmd
            .replace("/var/lib/flowlens", "var/lib/flowlens")
            .replace(" /archive/", " archive/")
            .replace(" /var/cache/nfdump/", " var/cache/nfdump/")
            .replace(" /srv/silk/", " srv/silk/");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&cmd_here)
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        // `--fail-on-new` exits 1 when there is something new: what the README promises.
        let ok = out.status.success() || (cmd.contains("--fail-on-new") && out.status.code() == Some(1));
        assert!(ok, "README command failed ({}): {cmd}\nstderr: {}", out.status, String::from_utf8_lossy(&out.stderr));
        ran += 1;
    }
    assert!(ran >= 20, "ran only {ran} README commands");
}

#[test]
fn comments_are_stripped_outside_quotes_only() {
    assert_eq!(strip_comment("flowlens x   # a comment"), "flowlens x   ");
    assert_eq!(strip_comment("echo '#not' \"# nor\" x#y"), "echo '#not' \"# nor\" x#y");
}
