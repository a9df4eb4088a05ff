//! The performance benchmark: taizhang against the floor (calamine's cell reader
//! visiting every cell), as ratios measured in one run on one machine.
//!
//! `cargo bench --bench ratios` generates its inputs (fixed seed) under
//! `target/bench-data/`, runs every measurement, prints each ratio against its
//! target, and writes the table to `target/bench-data/results.md`.
//! `cargo bench --bench ratios -- quick` uses smaller inputs (a smoke run).

use calamine::{open_workbook, DataType, Reader, Xlsx};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use taizhang::rules::RuleSet;
use taizhang::samples::{people, Register};
use taizhang::validate::{self, Options};

struct Sizes {
    big: usize,
    per_file: usize,
    many: usize,
    county_rows: usize,
    daemon_rows: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rules() -> RuleSet {
    RuleSet::load(&root().join("rules")).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes (once) a register of `n` rows for `unit`, seeded.
fn register_file(rules: &RuleSet, dir: &Path, unit: &str, n: usize, seed: u64) -> PathBuf {
    let path = dir.join(format!("{unit}_残疾人信息登记簿_2026-11_{n}_{seed}.xlsx"));
    if !path.exists() {
        let code = rules
            .county
            .unit(unit)
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let mut reg = Register::new(unit, &people(&code, &rules.villages_of(unit), n, seed));
        reg.template_rows = 20;
        let tmp = path.with_extension("tmp");
        reg.write(&tmp).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    path
}

/// The floor: open the workbook and visit every cell of every sheet once.
fn floor(path: &Path) -> usize {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let mut n = 0;
    for name in wb.sheet_names() {
        let mut r = wb.worksheet_cells_reader(&name).unwrap();
        while let Some(c) = r.next_cell().unwrap() {
            if !c.get_value().is_empty() {
                n += 1;
            }
        }
    }
    n
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

struct Line {
    what: String,
    value: String,
    target: String,
    ok: bool,
}

fn main() {
    // `ratios rss FILE`: a small fresh process that runs the real binary once and
    // prints its peak RSS (a child forked from the big benchmark process would
    // count the parent's pages).
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 3 && args[1] == "rss" {
        let rss = peak_rss_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_taizhang"))
                .args(["validate", "--format", "json", "--rules"])
                .arg(root().join("rules"))
                .arg(&args[2]),
        );
        println!("{}", rss.unwrap_or(0));
        return;
    }
    let quick = std::env::args().any(|a| a == "quick");
    let sizes = if quick {
        Sizes {
            big: 20_000,
            per_file: 1_000,
            many: 26,
            county_rows: 100_000,
            daemon_rows: 2_000,
        }
    } else {
        Sizes {
            big: 200_000,
            per_file: 3_000,
            many: 130,
            county_rows: 1_000_000,
            daemon_rows: 2_000,
        }
    };
    let data = root().join("target").join("bench-data");
    std::fs::create_dir_all(&data).unwrap();
    let rules = rules();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut lines: Vec<Line> = Vec::new();
    let runs = if quick { 2 } else { 3 };

    // 1. One big register: validate vs floor.
    eprintln!("generating a {}-row register …", sizes.big);
    let big = register_file(&rules, &data, "柳河镇", sizes.big, 42);
    let (t_floor, cells) = best_of(runs, || floor(&big));
    let opts = Options::default();
    let (t_val, rep) = best_of(runs, || validate::validate_path(&rules, &big, &opts));
    assert!(
        rep.fatal.is_none() && rep.errors == 0,
        "the benchmark file must be clean: {:?} {:?}",
        rep.fatal,
        rep.findings.first()
    );
    let ratio = t_val.as_secs_f64() / t_floor.as_secs_f64();
    lines.push(Line {
        what: format!(
            "validate {}-row register ({cells} cells): {:.2} s, floor {:.2} s",
            sizes.big,
            t_val.as_secs_f64(),
            t_floor.as_secs_f64()
        ),
        value: format!("{ratio:.2} × floor"),
        target: "≤ 1.30 × floor".into(),
        ok: ratio <= 1.3,
    });

    // 2. Peak memory of the real binary on that file.
    let rss = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("rss")
        .arg(&big)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u64>()
                .ok()
        })
        .filter(|k| *k > 0);
    if let Some(kib) = rss {
        lines.push(Line {
            what: format!(
                "peak memory of `taizhang validate` on the {}-row register",
                sizes.big
            ),
            value: format!("{:.1} MB", kib as f64 / 1024.0),
            target: "≤ 100 MB".into(),
            ok: kib as f64 / 1024.0 <= 100.0,
        });
    }

    // 3. Many files, all cores.
    for (label, count) in [("county set", 13usize), ("province set", sizes.many)] {
        eprintln!("generating the {label} ({count} files) …");
        let units: Vec<String> = rules.county.units.iter().map(|u| u.name.clone()).collect();
        let files: Vec<PathBuf> = (0..count)
            .map(|i| {
                register_file(
                    &rules,
                    &data,
                    &units[i % units.len()],
                    sizes.per_file,
                    1000 + i as u64,
                )
            })
            .collect();
        let (t_floor_sum, _) = best_of(runs, || files.iter().map(|f| floor(f)).sum::<usize>());
        let (t_many, reps) = best_of(runs, || validate::validate_many(&rules, &files, &opts));
        assert!(reps.iter().all(|r| r.fatal.is_none()));
        let budget = t_floor_sum.as_secs_f64() / cores as f64;
        let ratio = t_many.as_secs_f64() / budget;
        lines.push(Line {
            what: format!(
                "{label}: {count} files × {} rows on {cores} cores: {:.2} s; floor sum {:.2} s",
                sizes.per_file,
                t_many.as_secs_f64(),
                t_floor_sum.as_secs_f64()
            ),
            value: format!("{ratio:.2} × (floor sum ÷ cores)"),
            target: "≤ 1.20 ×".into(),
            ok: ratio <= 1.2,
        });
    }

    // 4. The daemon: complete file appears → outcome, county workbook, notice queued.
    lines.push(daemon_latency(&rules, &data, sizes.daemon_rows));

    // 5. County workbook rebuilt from the journal vs rust_xlsxwriter alone.
    lines.extend(county_rebuild(&rules, &data, sizes.county_rows));

    let machine = machine();
    let mut md =
        format!("Machine: {machine}\n\n| measurement | result | target | |\n|---|---|---|---|\n");
    println!("\n{machine}");
    for l in &lines {
        println!(
            "{} {:<40} {:<30} {}",
            if l.ok { "PASS" } else { "MISS" },
            l.value,
            l.target,
            l.what
        );
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            l.what,
            l.value,
            l.target,
            if l.ok { "met" } else { "**missed**" }
        ));
    }
    std::fs::write(data.join("results.md"), md).unwrap();
    println!("\nresults: {}", data.join("results.md").display());
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[cfg(target_os = "linux")]
fn peak_rss_of(cmd: &mut std::process::Command) -> Option<u64> {
    use std::os::unix::process::ExitStatusExt;
    let child = cmd.stdout(std::process::Stdio::null()).spawn().ok()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child and fills structs we own.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let _ = std::process::ExitStatus::from_raw(status);
    std::mem::forget(child);
    (rc == pid).then_some(ru.ru_maxrss as u64)
}

#[cfg(not(target_os = "linux"))]
fn peak_rss_of(_cmd: &mut std::process::Command) -> Option<u64> {
    None
}

fn daemon_latency(_rules: &RuleSet, _data: &Path, _rows: usize) -> Line {
    Line {
        what: "daemon latency (not measured yet)".into(),
        value: "-".into(),
        target: "≤ settle + 300 ms".into(),
        ok: false,
    }
}

fn county_rebuild(_rules: &RuleSet, _data: &Path, _rows: usize) -> Vec<Line> {
    Vec::new()
}
