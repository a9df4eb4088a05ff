//! The performance benchmark: taizhang against the floor (calamine's cell reader
//! visiting every cell), as ratios measured in one run on one machine.
//!
//! `cargo bench --bench ratios` generates its inputs (fixed seed) under
//! `target/bench-data/`, runs every measurement, prints each ratio against its
//! target, and writes the table to `target/bench-data/results.md`.
//! `cargo bench --bench ratios -- quick` uses smaller inputs (a smoke run);
//! `-- many` runs only the many-files measurement (full size, table not written).
//! `ratios profile FILE` and its siblings run one file once (for callgrind or perf);
//! `ratios paired N ROUNDS [seq]` times the floor and taizhang in turn on the
//! first N files of the many-files series and prints medians (see `paired`).

use calamine::{open_workbook, DataType, Reader, Xlsx};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use taizhang::rules::RuleSet;
use taizhang::samples::{payment_row, people, Register};
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

/// The shipped rules, copied with `[limits] max_rows` raised: the benchmark's
/// province-scale files are larger than a township's ledger may be.
fn rules_dir() -> PathBuf {
    let dir = root().join("target").join("bench-data").join("rules");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(root().join("rules")).unwrap() {
        let p = e.unwrap().path();
        let to = dir.join(p.file_name().unwrap());
        if p.file_name().is_some_and(|n| n == "county.toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let raised = text.replace("max_rows = 100000", "max_rows = 10000000");
            assert_ne!(
                raised, text,
                "county.toml has no max_rows = 100000 to raise"
            );
            std::fs::write(&to, raised).unwrap();
        } else {
            std::fs::copy(&p, &to).unwrap();
        }
    }
    dir
}

fn rules() -> RuleSet {
    RuleSet::load(&rules_dir()).unwrap_or_else(|e| panic!("{e}"))
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

/// Writes (once) a register of `n` persons, all 低保, and a payments ledger of
/// their `n` 生活补贴 payments (a clean ledger of exactly `n` rows).
fn payments_files(rules: &RuleSet, dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let reg = dir.join(format!("柳河镇_残疾人信息登记簿_2026-11_pay_{n}.xlsx"));
    let pay = dir.join(format!("柳河镇_两项补贴发放台账_2026-11_{n}.xlsx"));
    if !reg.exists() || !pay.exists() {
        let code = rules
            .county
            .unit("柳河镇")
            .map(|u| u.code.clone())
            .unwrap_or_default();
        let mut ps = people(&code, &rules.villages_of("柳河镇"), n, 43);
        for p in ps.iter_mut() {
            p.low_income = true;
            p.living = 80.0;
        }
        let mut ledger = taizhang::samples::payments("柳河镇", &[], "2026-11");
        ledger.rows = ps
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let mut r = payment_row(p, "生活补贴", "2026-11", 80.0);
                r.insert("seq".into(), taizhang::samples::Val::Num((k + 1) as f64));
                r
            })
            .collect();
        ledger.after_rows = vec![ledger.payments_total(0.0)];
        for (path, book) in [(&reg, Register::new("柳河镇", &ps)), (&pay, ledger)] {
            let tmp = path.with_extension("tmp");
            book.write(&tmp).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
    }
    (reg, pay)
}

/// The county's three lists of `n` rows for [`payments_files`]' register: the
/// 低保 list holds its persons (all paid 生活补贴), the death and 特困 lists
/// others (no hit: the payments ledger stays clean).
fn lists_files(rules: &RuleSet, dir: &Path, n: usize) -> [PathBuf; 3] {
    let names = [
        format!("死亡人员名单_2026-11_{n}.xlsx"),
        format!("低保对象名单_2026-11_{n}.xlsx"),
        format!("特困供养人员名单_2026-11_{n}.xlsx"),
    ];
    let paths = names.map(|x| dir.join(x));
    if paths.iter().all(|p| p.exists()) {
        return paths;
    }
    let code = |u: &str| {
        rules
            .county
            .unit(u)
            .map(|u| u.code.clone())
            .unwrap_or_default()
    };
    let mine = people(&code("柳河镇"), &rules.villages_of("柳河镇"), n, 43);
    // Others: persons of other units, none of this register's (the sample IDs
    // share the county's area code, so a few would coincide).
    let ids: std::collections::HashSet<&str> = mine.iter().map(|p| p.id.as_str()).collect();
    let others = |unit: &str, seed: u64| -> Vec<taizhang::samples::Person> {
        people(&code(unit), &rules.villages_of(unit), n, seed)
            .into_iter()
            .filter(|p| !ids.contains(p.id.as_str()))
            .collect()
    };
    let dead = others("石桥镇", 91);
    let tekun = others("北岭乡", 92);
    let rows = |ps: &[taizhang::samples::Person],
                third: &'static str|
     -> Vec<(String, String, &'static str)> {
        ps.iter()
            .map(|p| (p.name.clone(), p.id.clone(), third))
            .collect()
    };
    for (path, kind, rows) in [
        (&paths[0], "deaths", rows(&dead, "2026-10-15")),
        (&paths[1], "dibao", rows(&mine, "柳河镇")),
        (&paths[2], "tekun", rows(&tekun, "分散供养")),
    ] {
        let refs: Vec<(&str, &str, &str)> = rows
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
            .collect();
        let tmp = path.with_extension("tmp");
        taizhang::samples::agency_list(kind, &refs)
            .write(&tmp)
            .unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }
    paths
}

/// The figure of a payments ledger checked (it must have come out clean, of
/// `rows` rows) against the floor of the files involved (`floor_of`).
fn clean_payments_line(
    rep: &validate::FileReport,
    rows: usize,
    what: &str,
    floor_of: &str,
    t_val: &[f64],
    t_floor: &[f64],
) -> Line {
    assert!(
        rep.fatal.is_none() && rep.errors == 0 && rep.rows == rows,
        "the benchmark's payments file must be clean: {:?} {:?} {}",
        rep.fatal,
        rep.findings.first(),
        rep.rows
    );
    let ratio = median_ratio(t_val, t_floor);
    Line {
        what: format!(
            "{what}: {:.2} s, floor of {floor_of} {:.2} s (medians)",
            median(t_val),
            median(t_floor),
        ),
        value: format!("{ratio:.2} × floor"),
        target: "≤ 1.30 × floor".into(),
        ok: Some(ratio <= 1.3),
    }
}

/// Peak memory of the real binary validating `files` as one run (its workers
/// included), against `target_mb`.
fn validate_rss(files: &[&Path], what: &str, target_mb: f64, target: &str) -> Option<Line> {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["rss-cmd", "validate", "--format", "json", "--rules"])
        .arg(rules_dir())
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut it = text.split_whitespace();
    let kib: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let secs: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
    let mb = kib as f64 / 1024.0;
    (kib > 0).then(|| Line {
        what: format!("peak memory of `taizhang validate` on {what} ({secs:.2} s)"),
        value: format!("{mb:.1} MB"),
        target: target.into(),
        ok: Some(mb <= target_mb),
    })
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

/// Decompresses every part of the workbook and drops the bytes: what reading costs
/// before any XML is parsed (for reference: how much of the floor is calamine's
/// parsing rather than the bytes themselves). Returns the bytes inflated.
fn inflate_only(path: &Path) -> u64 {
    let mut z =
        zip::ZipArchive::new(std::io::BufReader::new(std::fs::File::open(path).unwrap())).unwrap();
    (0..z.len())
        .map(|i| std::io::copy(&mut z.by_index(i).unwrap(), &mut std::io::sink()).unwrap())
        .sum()
}

/// The many-files series: `count` registers of `rows` rows, the county's units in
/// turn, seeds from 1000 (the first 13 are the county set).
fn many_files(rules: &RuleSet, dir: &Path, count: usize, rows: usize) -> Vec<PathBuf> {
    let units: Vec<String> = rules.county.units.iter().map(|u| u.name.clone()).collect();
    (0..count)
        .map(|i| register_file(rules, dir, &units[i % units.len()], rows, 1000 + i as u64))
        .collect()
}

/// The floor on one thread, one file after another (its time is the "floor sum").
fn floor_one_by_one(files: &[PathBuf]) {
    for f in files {
        floor(f);
    }
}

/// The floor on all cores: one worker per core pulling the next file.
fn floor_all_cores(files: &[PathBuf], cores: usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                while let Some(f) =
                    files.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    floor(f);
                }
            });
        }
    });
}

/// Runs each of `fs` in turn, `runs` rounds; each one's time (seconds) per round.
/// Measurements taken in the same round met the same moment of the machine.
fn in_turn<const N: usize>(runs: usize, mut fs: [&mut dyn FnMut(); N]) -> [Vec<f64>; N] {
    let mut times: [Vec<f64>; N] = std::array::from_fn(|_| Vec::with_capacity(runs));
    for _ in 0..runs.max(1) {
        for (f, t) in fs.iter_mut().zip(times.iter_mut()) {
            let s = Instant::now();
            f();
            t.push(s.elapsed().as_secs_f64());
        }
    }
    times
}

/// The middle value (the upper of the two middle ones for an even count).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The median over rounds of `a ÷ b` measured in the same round. This machine's
/// speed jumps between states (the same floor measured 0.31 s and 0.57 s within a
/// minute): a ratio of two best times compares whichever fast moments each caught,
/// a ratio within a round compares like with like.
fn median_ratio(a: &[f64], b: &[f64]) -> f64 {
    let per_round: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    median(&per_round)
}

struct Line {
    what: String,
    value: String,
    target: String,
    /// Met or not; `None` for a figure shown for reference, without a target.
    ok: Option<bool>,
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
                .arg(rules_dir())
                .arg(&args[2]),
        );
        println!("{}", rss.unwrap_or(0));
        return;
    }
    // `ratios rss-cmd ARGS…`: runs `taizhang ARGS…` once, prints peak RSS (KiB) and seconds.
    if args.len() > 2 && args[1] == "rss-cmd" {
        let t = Instant::now();
        let rss = peak_rss_of(
            std::process::Command::new(env!("CARGO_BIN_EXE_taizhang"))
                .args(&args[2..])
                .stderr(std::process::Stdio::null()),
        );
        println!("{} {}", rss.unwrap_or(0), t.elapsed().as_secs_f64());
        return;
    }
    // `ratios profile FILE` / `ratios profile-floor FILE` / `ratios profile-read FILE`:
    // validate one file once on one thread (or run the floor on it, or taizhang's
    // reading path alone), for `valgrind --tool=callgrind` or `perf`: instruction
    // counts do not move with the machine's noise.
    if args.len() == 3
        && (args[1] == "profile" || args[1] == "profile-floor" || args[1] == "profile-read")
    {
        let file = PathBuf::from(&args[2]);
        let rules = rules();
        let t = Instant::now();
        if args[1] == "profile" {
            let opts = Options {
                single_thread: true,
                ..Options::default()
            };
            let rep = validate::validate_path(&rules, &file, &opts);
            if let Some(f) = &rep.fatal {
                eprintln!("{}: {f}", file.display());
                std::process::exit(1);
            }
            println!("{} rows, {} findings", rep.rows, rep.findings.len());
        } else if args[1] == "profile-read" {
            // taizhang's reading path alone: every row of every sheet, nothing checked.
            let mut book =
                taizhang::workbook::Book::open(&file, &Default::default()).expect("opens");
            let mut cells = 0;
            for sheet in book.sheet_names() {
                book.for_each_row(&sheet, |_, row| {
                    cells += row.len();
                    std::ops::ControlFlow::Continue(())
                })
                .expect("reads");
            }
            println!("{cells} cells");
        } else {
            println!("{} cells", floor(&file));
        }
        println!("{:.3} s", t.elapsed().as_secs_f64());
        return;
    }
    // `ratios paired N ROUNDS [seq]`: see `paired`.
    if (args.len() == 4 || args.len() == 5) && args[1] == "paired" {
        let (Ok(n), Ok(rounds)) = (args[2].parse(), args[3].parse()) else {
            eprintln!("usage: ratios paired FILES ROUNDS [seq]");
            std::process::exit(2);
        };
        paired(n, rounds, args.get(4).is_some_and(|a| a == "seq"));
        return;
    }
    let quick = std::env::args().any(|a| a == "quick");
    // `-- many`: only the many-files measurement (for iterating on it).
    let only_many = std::env::args().any(|a| a == "many");
    // `-- county`: only the county workbook measurement; `-- cap`: only the
    // big register, checked and refused over a cap.
    let only_county = std::env::args().any(|a| a == "county");
    let only_cap = std::env::args().any(|a| a == "cap");
    // `-- lists`: only the payments ledger against its register (2b) and against
    // its register and three lists (2c).
    let only_lists = std::env::args().any(|a| a == "lists");
    // `-- daemon`: only the daemon's latency.
    let only_daemon = std::env::args().any(|a| a == "daemon");
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
    let runs = if quick { 3 } else { 7 };

    // 1. One big register: validate vs floor.
    let opts = Options::default();
    if !only_many && !only_county && !only_lists && !only_daemon {
        eprintln!("generating a {}-row register …", sizes.big);
        let big = register_file(&rules, &data, "柳河镇", sizes.big, 42);
        // Floor and taizhang in turn each round, so a noisy moment hits both alike.
        let (mut cells, mut rep) = (0, validate::FileReport::default());
        let [t_floor, t_val] = in_turn(
            runs,
            [&mut || cells = floor(&big), &mut || {
                rep = validate::validate_path(&rules, &big, &opts)
            }],
        );
        assert!(
            rep.fatal.is_none() && rep.errors == 0,
            "the benchmark file must be clean: {:?} {:?}",
            rep.fatal,
            rep.findings.first()
        );
        let ratio = median_ratio(&t_val, &t_floor);
        lines.push(Line {
            what: format!(
                "validate {}-row register ({cells} cells): {:.2} s, floor {:.2} s (medians)",
                sizes.big,
                median(&t_val),
                median(&t_floor)
            ),
            value: format!("{ratio:.2} × floor"),
            target: "≤ 1.30 × floor".into(),
            ok: Some(ratio <= 1.3),
        });

        // 1b. The same file over a row cap a twentieth of its rows: refused
        // after reading at most the cap's rows, not the whole file.
        let mut capped = taizhang::rules::RuleSet::load(&rules_dir()).unwrap();
        capped.county.limits.max_rows = sizes.big / 20;
        let mut refused = validate::FileReport::default();
        // Opening the file (calamine loads the shared strings of the whole file
        // before the first row) is paid whatever the cap.
        let [t_cap, t_open] = in_turn(
            runs,
            [
                &mut || refused = validate::validate_path(&capped, &big, &opts),
                &mut || {
                    let wb: Xlsx<_> = open_workbook(&big).unwrap();
                    std::hint::black_box(wb.sheet_names());
                },
            ],
        );
        assert!(
            refused
                .fatal
                .as_deref()
                .is_some_and(|f| f.contains("超过上限")),
            "the capped file must be refused: {:?}",
            refused.fatal
        );
        // Past the opening, the rows read are a twentieth of the file's.
        let rest = (median(&t_cap) - median(&t_open)) / (median(&t_val) - median(&t_open));
        lines.push(Line {
            what: format!(
                "refusing that register over a {}-row cap: {:.3} s (median), of which opening it {:.3} s; checking it whole {:.2} s",
                sizes.big / 20,
                median(&t_cap),
                median(&t_open),
                median(&t_val)
            ),
            value: format!("{rest:.3} × the check past opening"),
            target: "≤ 0.10 × (reads at most the cap: a twentieth)".into(),
            ok: Some(rest <= 0.10),
        });

        // 1c. That register compared with the unit's previous one, 200,000 persons
        // accepted for 2026-10 in the journal (as the daemon's workers read it):
        // the history reference's ledger loaded, every row looked up, the persons
        // missing from this month found — against the floor of the new file.
        let code = rules.county.unit("柳河镇").unwrap().code.clone();
        let persons = people(&code, &rules.villages_of("柳河镇"), sizes.big, 42);
        let state = journal_with_register(&data, "柳河镇", &code, "2026-10", &persons);
        let journal_refs = taizhang::standing::JournalRefs::new(
            taizhang::journal::Journal::open_read_only(&state).unwrap(),
            &rules,
        );
        let mut compared = validate::FileReport::default();
        let [t_floor2, t_hist] = in_turn(
            runs,
            [&mut || cells = floor(&big), &mut || {
                compared = validate::validate_with(&rules, &big, &opts, &journal_refs)
            }],
        );
        assert!(
            compared
                .references
                .iter()
                .any(|r| r.name == "history" && r.period.as_deref() == Some("2026-10")),
            "compared with October: {:?}",
            compared.references
        );
        assert_eq!(compared.errors, 0, "{:?}", compared.findings.first());
        let ratio = median_ratio(&t_hist, &t_floor2);
        lines.push(Line {
            what: format!(
                "that register compared with its previous 200,000-person register in the journal: {:.2} s, floor {:.2} s (medians)",
                median(&t_hist),
                median(&t_floor2)
            ),
            value: format!("{ratio:.2} × floor"),
            target: "≤ 1.30 × floor".into(),
            ok: Some(ratio <= 1.3),
        });
        let rss = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["rss-cmd", "validate", "--format", "json", "--rules"])
            .arg(rules_dir())
            .arg("--state")
            .arg(&state)
            .arg(&big)
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
            })
            .filter(|k| *k > 0);
        if let Some(kib) = rss {
            lines.push(Line {
                what: "peak memory of `taizhang validate --state` comparing it with the previous register".into(),
                value: format!("{:.1} MB", kib as f64 / 1024.0),
                target: "≤ 150 MB".into(),
                ok: Some(kib as f64 / 1024.0 <= 150.0),
            });
        }

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
                ok: Some(kib as f64 / 1024.0 <= 100.0),
            });
        }
    }

    // 2b. A payments ledger against its unit's register (the files of one run):
    // the register read and kept (the columns rules read), the ledger checked
    // against it, vs the floor of the two files.
    if only_lists || (!only_many && !only_county && !only_cap && !only_daemon) {
        eprintln!(
            "generating a {}-row payments ledger and its register …",
            sizes.big
        );
        let (reg, pay) = payments_files(&rules, &data, sizes.big);
        let keep = Options {
            as_ledger: validate::refs::LedgerSpec::all(&rules),
            ..Options::default()
        };
        let (mut cells, mut rep) = (0, validate::FileReport::default());
        let [t_floor, t_val] = in_turn(
            runs,
            [&mut || cells = floor(&reg) + floor(&pay), &mut || {
                let r = validate::validate_path(&rules, &reg, &keep);
                let ledgers: Vec<validate::RefLedger> = r.ledger.into_iter().collect();
                let refs = validate::RunLedgers {
                    ledgers: &ledgers,
                    behind: &validate::NoReferences,
                };
                rep = validate::validate_with(&rules, &pay, &opts, &refs);
            }],
        );
        lines.push(clean_payments_line(
            &rep,
            sizes.big,
            &format!(
                "validate a {n}-row payments ledger against a {n}-person register ({cells} cells in the two)",
                n = sizes.big
            ),
            "the two",
            &t_val,
            &t_floor,
        ));
        // The real binary on the two files (workers included).
        lines.extend(validate_rss(
            &[&reg, &pay],
            "the register and the payments ledger",
            200.0,
            "≤ 200 MB",
        ));
    }

    // 2c. The payments ledger against its register and the county's three
    // lists of other agencies (部门比对), as `taizhang validate` reads the files of
    // one run: the lists kept as ledgers, the register checked against them and
    // kept, the payments ledger checked against all four; vs the floor of the
    // five files.
    if only_lists || (!only_many && !only_county && !only_cap && !only_daemon) {
        eprintln!("generating three {}-row lists …", sizes.big);
        let (reg, pay) = payments_files(&rules, &data, sizes.big);
        let lists = lists_files(&rules, &data, sizes.big);
        let keep = Options {
            as_ledger: validate::refs::LedgerSpec::all(&rules),
            ..Options::default()
        };
        let mut cells = 0;
        let mut rep = validate::FileReport::default();
        let [t_floor, t_val] = in_turn(
            runs,
            [
                &mut || {
                    cells =
                        floor(&reg) + floor(&pay) + lists.iter().map(|l| floor(l)).sum::<usize>()
                },
                &mut || {
                    let mut ledgers: Vec<validate::RefLedger> = Vec::new();
                    for l in &lists {
                        let r = validate::validate_path(&rules, l, &keep);
                        assert_eq!(r.errors, 0, "{:?}", r.findings.first());
                        ledgers.extend(r.ledger);
                    }
                    let r = {
                        let refs = validate::RunLedgers {
                            ledgers: &ledgers,
                            behind: &validate::NoReferences,
                        };
                        validate::validate_with(&rules, &reg, &keep, &refs)
                    };
                    assert_eq!(r.errors, 0, "{:?}", r.findings.first());
                    ledgers.extend(r.ledger);

                    let refs = validate::RunLedgers {
                        ledgers: &ledgers,
                        behind: &validate::NoReferences,
                    };
                    rep = validate::validate_with(&rules, &pay, &opts, &refs);
                },
            ],
        );
        lines.push(clean_payments_line(
            &rep,
            sizes.big,
            &format!(
                "validate a {n}-row payments ledger against its {n}-person register and three {n}-row lists ({cells} cells in the five)",
                n = sizes.big
            ),
            "the five",
            &t_val,
            &t_floor,
        ));
        let mut all: Vec<&Path> = lists.iter().map(PathBuf::as_path).collect();
        all.extend([reg.as_path(), pay.as_path()]);
        lines.extend(validate_rss(
            &all,
            "the three lists, the register and the payments ledger",
            262.1,
            "≤ 262 MB (250 MiB)",
        ));
    }

    // 3. Many files, all cores.
    let sets: &[(&str, usize)] = if only_county || only_cap || only_lists || only_daemon {
        &[]
    } else {
        &[("county set", 13), ("province set", sizes.many)]
    };
    for &(label, count) in sets {
        eprintln!("generating the {label} ({count} files) …");
        let files = many_files(&rules, &data, count, sizes.per_file);
        // The floor alone, the floor on all cores, taizhang on all cores, and (for
        // reference) inflating the files without parsing, in turn each round.
        let mut reps = Vec::new();
        let [t_floor_sum, t_floor_par, t_many, t_inflate] = in_turn(
            runs,
            [
                &mut || floor_one_by_one(&files),
                &mut || floor_all_cores(&files, cores),
                &mut || reps = validate::validate_many(&rules, &files, &opts),
                &mut || {
                    files.iter().map(|f| inflate_only(f)).sum::<u64>();
                },
            ],
        );
        assert!(!reps.is_empty() && reps.iter().all(|r| r.fatal.is_none()));
        // The budget of each round: that round's floor sum ÷ cores.
        let budget: Vec<f64> = t_floor_sum.iter().map(|t| t / cores as f64).collect();
        let ratio = median_ratio(&t_many, &budget);
        lines.push(Line {
            what: format!(
                "{label}: {count} files × {} rows on {cores} cores: {:.2} s; floor sum {:.2} s (medians)",
                sizes.per_file,
                median(&t_many),
                median(&t_floor_sum)
            ),
            value: format!("{ratio:.2} × (floor sum ÷ cores)"),
            target: "≤ 1.20 ×".into(),
            ok: Some(ratio <= 1.2),
        });
        // How far this machine is from "twice the cores, half the time" by itself.
        lines.push(Line {
            what: format!(
                "{label}: the floor program itself on {cores} cores: {:.2} s",
                median(&t_floor_par)
            ),
            value: format!(
                "{:.2} × (floor sum ÷ cores)",
                median_ratio(&t_floor_par, &budget)
            ),
            target: "— (the machine's own parallel loss)".into(),
            ok: None,
        });
        // taizhang against the floor run the same way: its own cost, the machine's
        // parallel loss taken out.
        lines.push(Line {
            what: format!("{label}: taizhang ÷ the floor program on {cores} cores"),
            value: format!(
                "{:.2} × (floor on all cores)",
                median_ratio(&t_many, &t_floor_par)
            ),
            target: "— (for reference)".into(),
            ok: None,
        });
        // How much of the floor is the bytes (decompression) and how much parsing.
        lines.push(Line {
            what: format!(
                "{label}: inflating every part of the files, nothing parsed, one thread: {:.2} s",
                median(&t_inflate)
            ),
            value: format!("{:.2} × floor sum", median_ratio(&t_inflate, &t_floor_sum)),
            target: "— (the rest of the floor is parsing)".into(),
            ok: None,
        });
    }

    if only_daemon || (!only_many && !only_county && !only_cap && !only_lists) {
        // 4. The daemon: complete file appears → outcome, county workbook, notice queued.
        lines.push(daemon_latency(&rules, &data, sizes.daemon_rows));
    }
    if !only_many && !only_cap && !only_lists && !only_daemon {
        // 5. County workbook rebuilt from the journal vs rust_xlsxwriter alone.
        lines.extend(county_rebuild(&rules, &data, sizes.county_rows));
    }

    let machine = machine();
    let mut md =
        format!("Machine: {machine}\n\n| measurement | result | target | |\n|---|---|---|---|\n");
    println!("\n{machine}");
    for l in &lines {
        println!(
            "{} {:<40} {:<30} {}",
            match l.ok {
                Some(true) => "PASS",
                Some(false) => "MISS",
                None => "INFO",
            },
            l.value,
            l.target,
            l.what
        );
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            l.what,
            l.value,
            l.target,
            match l.ok {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "for reference",
            }
        ));
    }
    if !only_many && !only_county && !only_cap && !only_lists && !only_daemon {
        std::fs::write(data.join("results.md"), md).unwrap();
    }
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

/// From a complete file appearing in the inbox (an atomic rename, as a copy tool
/// finishes) to its outcome journaled, the county workbook replaced and its notice
/// queued, with the real daemon.
fn daemon_latency(rules: &RuleSet, data: &Path, rows: usize) -> Line {
    use std::io::BufRead;
    let site = data.join("daemon-site");
    let _ = std::fs::remove_dir_all(&site);
    for d in ["inbox", "outbox", "state"] {
        std::fs::create_dir_all(site.join(d)).unwrap();
    }
    let settle = 0.5;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_taizhang"))
        .args(["watch", "--settle", &settle.to_string(), "--rules"])
        .arg(rules_dir())
        .arg("--inbox")
        .arg(site.join("inbox"))
        .arg("--outbox")
        .arg(site.join("outbox"))
        .arg("--state")
        .arg(site.join("state"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = std::io::BufReader::new(stderr).lines();
    for l in lines.by_ref() {
        if l.map(|l| l.contains("watching")).unwrap_or(true) {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let db = rusqlite::Connection::open_with_flags(
        site.join("state/journal.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut samples = Vec::new();
    let units = ["柳河镇", "石桥镇", "清泉镇"];
    for (k, unit) in units.iter().enumerate() {
        let src = register_file(rules, data, unit, rows, 700 + k as u64);
        let tmp = site.join("inbox").join(format!(".{k}.tmp"));
        std::fs::copy(&src, &tmp).unwrap();
        let t0 = Instant::now();
        std::fs::rename(
            &tmp,
            site.join("inbox")
                .join(format!("{unit}_残疾人信息登记簿_2026-11.xlsx")),
        )
        .unwrap();
        let want = (k + 1) as i64;
        loop {
            let done: i64 = db
                .query_row(
                    "SELECT COUNT(*) FROM submissions WHERE state = 'done'",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or(0);
            let mail: i64 = db
                .query_row("SELECT COUNT(*) FROM mail", [], |r| r.get(0))
                .unwrap_or(0);
            if done >= want && mail >= want {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the daemon did not process the file"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        samples.push(t0.elapsed());
        std::thread::sleep(Duration::from_millis(300));
    }
    #[cfg(unix)]
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    samples.sort();
    let median = samples[samples.len() / 2];
    let budget = Duration::from_secs_f64(settle) + Duration::from_millis(300);
    Line {
        what: format!(
            "daemon: {rows}-row file appears → outcome, county workbook, notice queued (settle {settle} s; runs: {})",
            samples.iter().map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0)).collect::<Vec<_>>().join(", ")
        ),
        value: format!("{:.0} ms (median)", median.as_secs_f64() * 1000.0),
        target: format!("≤ settle + 300 ms = {:.0} ms", budget.as_secs_f64() * 1000.0),
        ok: Some(median <= budget),
    }
}

/// The county workbook of `total` accepted rows, rebuilt from the journal by the
/// real binary (`run --once` rebuilds a missing county workbook), against
/// rust_xlsxwriter alone writing the same cells in constant-memory mode.
fn county_rebuild(rules: &RuleSet, data: &Path, total: usize) -> Vec<Line> {
    use taizhang::journal::Journal;
    use taizhang::validate::Record;
    let site = data.join(format!("county-{total}"));
    let units: Vec<(String, String)> = rules
        .county
        .units
        .iter()
        .map(|u| (u.name.clone(), u.code.clone()))
        .collect();
    let per_unit = total / units.len();
    // Rows as the journal keeps them, built once; also kept for the floor writer.
    let mut all_rows: Vec<(usize, Vec<(String, serde_json::Value)>)> =
        Vec::with_capacity(per_unit * units.len());
    let ready = site.join("state/journal.sqlite3").exists();
    eprintln!(
        "preparing a journal with {} accepted rows …",
        per_unit * units.len()
    );
    let mut store = Journal::open(&site.join("state")).unwrap();
    for (k, (unit, code)) in units.iter().enumerate() {
        let persons = people(code, &rules.villages_of(unit), per_unit, 5000 + k as u64);
        let mut records = Vec::with_capacity(per_unit);
        for (i, p) in persons.iter().enumerate() {
            let v = journal_row(p, i);
            all_rows.push((k, v.iter().map(|(a, b)| (a.clone(), b.clone())).collect()));
            records.push(Record {
                row: (i + 4) as u32,
                values: v,
            });
        }
        if ready {
            continue;
        }
        accept_register(
            &mut store,
            unit,
            code,
            "2026-11",
            &format!("bench-{k}"),
            records,
        );
    }
    drop(store);
    std::fs::create_dir_all(site.join("inbox")).unwrap();
    let outbox = site.join("outbox");
    let wb_path = outbox.join("安和县_残疾人信息登记簿_2026-11_全县汇总.xlsx");
    let mut best: Option<(f64, u64)> = None;
    for _ in 0..2 {
        let _ = std::fs::remove_file(&wb_path);
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["rss-cmd", "run", "--once", "--rules"])
            .arg(rules_dir())
            .arg("--inbox")
            .arg(site.join("inbox"))
            .arg("--outbox")
            .arg(&outbox)
            .arg("--state")
            .arg(site.join("state"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut it = text.split_whitespace();
        let rss: u64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let secs: f64 = it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::MAX);
        assert!(wb_path.exists(), "the rebuild wrote no county workbook");
        if best.is_none_or(|(b, _)| secs < b) {
            best = Some((secs, rss));
        }
    }
    let (t_rebuild, rss) = best.unwrap_or((f64::MAX, 0));
    // The floor: rust_xlsxwriter alone writing the same cells, constant memory —
    // with the borders every data cell of the county workbook has (blank cells
    // too), and for reference without them (what the borders cost the writer).
    let kind = rules.kind("register").unwrap();
    let [t_floor, t_plain] = in_turn(
        2,
        [
            &mut || write_floor(kind, &units, &all_rows, data, true),
            &mut || write_floor(kind, &units, &all_rows, data, false),
        ],
    );
    // The best of two runs, as for the rebuild above (long runs, one after the other).
    let t_floor = t_floor.iter().copied().fold(f64::MAX, f64::min);
    let t_plain = t_plain.iter().copied().fold(f64::MAX, f64::min);
    let ratio = t_rebuild / t_floor;
    vec![
        Line {
            what: format!("county workbook of {} accepted rows rebuilt from the journal: {t_rebuild:.2} s (process, incl. start); rust_xlsxwriter alone {:.2} s with the borders ({:.2} s without)", all_rows.len(), t_floor, t_plain),
            value: format!("{ratio:.2} × writer"),
            target: "≤ 2.00 × writer".into(),
            ok: Some(ratio <= 2.0),
        },
        Line {
            what: format!("peak memory of that rebuild ({} rows)", all_rows.len()),
            value: format!("{:.1} MB", rss as f64 / 1024.0),
            target: "bounded (≤ 200 MB)".into(),
            ok: Some(rss > 0 && (rss as f64 / 1024.0) <= 200.0),
        },
    ]
}

/// `ratios paired N ROUNDS [seq]`: the first N files of the many-files series
/// (3,000 rows each), timed in turn each round: the floor and taizhang one file
/// after another on one thread, then (unless `seq`) both on all cores. Prints
/// medians and the median of each round's own taizhang ÷ floor, which moves less
/// with this machine's noise than either time does. Pin it to one core
/// (`taskset -c 1`) with `seq` to compare two builds of taizhang.
fn paired(n: usize, rounds: usize, seq: bool) {
    let rules = rules();
    let data = root().join("target").join("bench-data");
    std::fs::create_dir_all(&data).unwrap();
    let files = many_files(&rules, &data, n, 3000);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let one_thread = Options {
        single_thread: true,
        ..Options::default()
    };
    let opts = Options::default();
    let mut floor_sum = || floor_one_by_one(&files);
    let mut one_by_one = || {
        for f in &files {
            let rep = validate::validate_path(&rules, f, &one_thread);
            assert!(rep.fatal.is_none(), "{}: {:?}", f.display(), rep.fatal);
        }
    };
    let t: Vec<Vec<f64>> = if seq {
        in_turn(rounds, [&mut floor_sum, &mut one_by_one]).to_vec()
    } else {
        in_turn(
            rounds,
            [
                &mut floor_sum,
                &mut one_by_one,
                &mut || floor_all_cores(&files, cores),
                &mut || drop(validate::validate_many(&rules, &files, &opts)),
            ],
        )
        .to_vec()
    };
    println!(
        "one thread: floor {:.3} s, taizhang {:.3} s; taizhang ÷ floor, median of rounds {:.3}",
        median(&t[0]),
        median(&t[1]),
        median_ratio(&t[1], &t[0])
    );
    if !seq {
        let budget: Vec<f64> = t[0].iter().map(|x| x / cores as f64).collect();
        println!(
            "{cores} cores: floor {:.3} s ({:.2} × budget), taizhang {:.3} s ({:.2} × budget); medians of rounds",
            median(&t[2]),
            median_ratio(&t[2], &budget),
            median(&t[3]),
            median_ratio(&t[3], &budget)
        );
    }
}

/// rust_xlsxwriter alone writing the county workbook's detail cells (constant
/// memory, the county workbook's deflate level): with `bordered`, in the formats
/// the county workbook gives them (thin borders, blank cells bordered too).
fn write_floor(
    kind: &taizhang::rules::Kind,
    units: &[(String, String)],
    all_rows: &[(usize, Vec<(String, serde_json::Value)>)],
    data: &Path,
    bordered: bool,
) {
    use rust_xlsxwriter::{Format, FormatBorder};
    let mut wb = rust_xlsxwriter::Workbook::new();
    wb.set_zip_compression_level(taizhang::consolidate::ZIP_LEVEL);
    let cell = if bordered {
        Format::new().set_border(FormatBorder::Thin)
    } else {
        Format::new()
    };
    let date = cell.clone().set_num_format("yyyy-mm-dd");
    let ws = wb.add_worksheet_with_constant_memory().unwrap();
    let mut r: u32 = 0;
    // One sheet holds at most 1,048,575 data rows (the county workbook splits there).
    for (k, row) in all_rows.iter().take(1_048_575) {
        r += 1;
        ws.write_string_with_format(r, 0, &units[*k].1, &cell)
            .unwrap();
        ws.write_string_with_format(r, 1, &units[*k].0, &cell)
            .unwrap();
        for (j, c) in kind.columns.iter().enumerate() {
            let col = (j + 2) as u16;
            match row.iter().find(|(key, _)| *key == c.key).map(|(_, v)| v) {
                Some(serde_json::Value::Number(n)) => {
                    ws.write_number_with_format(r, col, n.as_f64().unwrap_or(0.0), &cell)
                        .unwrap();
                }
                Some(serde_json::Value::String(s)) if c.ty == taizhang::rules::ColumnType::Date => {
                    let d = taizhang::workbook::value::parse_date_text(s).unwrap_or_default();
                    ws.write_number_with_format(
                        r,
                        col,
                        taizhang::workbook::value::date_to_serial(d),
                        &date,
                    )
                    .unwrap();
                }
                Some(serde_json::Value::String(s)) => {
                    ws.write_string_with_format(r, col, s, &cell).unwrap();
                }
                _ if bordered => {
                    ws.write_blank(r, col, &cell).unwrap();
                }
                _ => {}
            }
        }
        // The source file and row columns the county workbook also has.
        ws.write_string_with_format(
            r,
            (kind.columns.len() + 2) as u16,
            "柳河镇_残疾人信息登记簿_2026-11.xlsx",
            &cell,
        )
        .unwrap();
        ws.write_number_with_format(r, (kind.columns.len() + 3) as u16, f64::from(r + 3), &cell)
            .unwrap();
    }
    wb.save(data.join("floor-writer.xlsx")).unwrap();
}

/// A person's register row as the journal keeps it (`records.data`).
fn journal_row(
    p: &taizhang::samples::Person,
    i: usize,
) -> serde_json::Map<String, serde_json::Value> {
    let mut v = serde_json::Map::new();
    let ins =
        |v: &mut serde_json::Map<String, serde_json::Value>, k: &str, x: serde_json::Value| {
            v.insert(k.to_string(), x);
        };
    ins(&mut v, "seq", serde_json::json!((i + 1) as f64));
    ins(&mut v, "name", p.name.clone().into());
    ins(&mut v, "gender", p.gender.into());
    ins(&mut v, "ethnicity", "汉族".into());
    ins(
        &mut v,
        "birth_date",
        p.birth.format("%Y-%m-%d").to_string().into(),
    );
    ins(&mut v, "id_number", p.id.clone().into());
    ins(&mut v, "cert_number", p.cert().into());
    ins(
        &mut v,
        "category",
        taizhang::samples::CATEGORIES[p.category].into(),
    );
    ins(&mut v, "level", taizhang::samples::LEVELS[p.level].into());
    ins(&mut v, "village", p.village.clone().into());
    if !p.phone.is_empty() {
        ins(&mut v, "phone", p.phone.clone().into());
    }
    if !p.guardian.is_empty() {
        ins(&mut v, "guardian", p.guardian.clone().into());
    }
    ins(
        &mut v,
        "low_income",
        if p.low_income { "是" } else { "否" }.into(),
    );
    ins(&mut v, "living_subsidy", serde_json::json!(p.living));
    ins(&mut v, "nursing_subsidy", serde_json::json!(p.nursing));
    if !p.employment.is_empty() {
        ins(&mut v, "employment", p.employment.into());
    }
    ins(
        &mut v,
        "issue_date",
        p.issue.format("%Y-%m-%d").to_string().into(),
    );
    v
}

/// A journal (under `dir`) holding one accepted register of `persons` for
/// `unit`, period `period`: a register's previous month as the daemon keeps it.
fn journal_with_register(
    dir: &Path,
    unit: &str,
    code: &str,
    period: &str,
    persons: &[taizhang::samples::Person],
) -> PathBuf {
    use taizhang::journal::Journal;
    use taizhang::validate::Record;
    let state = dir.join(format!("history-{}-{period}/state", persons.len()));
    if state.join("journal.sqlite3").exists() {
        return state;
    }
    let mut store = Journal::open(&state).unwrap();
    let records: Vec<Record> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            row: (i + 4) as u32,
            values: journal_row(p, i),
        })
        .collect();
    accept_register(&mut store, unit, code, period, "bench-history", records);
    state
}

/// Journals an accepted register of `unit` for `period` with these rows, as the
/// daemon would have.
fn accept_register(
    store: &mut taizhang::journal::Journal,
    unit: &str,
    code: &str,
    period: &str,
    sha: &str,
    records: Vec<taizhang::validate::Record>,
) {
    use taizhang::journal::{Decision, NewSubmission, Outcome, OutcomeRecord, State};
    use taizhang::validate::FileReport;
    let name = format!("{unit}_残疾人信息登记簿_{period}.xlsx");
    let id = store
        .insert_received(&NewSubmission {
            received_at: "2026-11-20T10:00:00+08:00",
            original_name: &name,
            folder: None,
            inbox_path: &name,
            sha256: sha,
            size: 0,
        })
        .unwrap();
    let report = FileReport {
        file: name.clone(),
        unit: Some(unit.to_string()),
        unit_code: Some(code.to_string()),
        kind_name: Some("残疾人信息登记簿".into()),
        kind_id: Some("register".into()),
        period: Some(period.to_string()),
        rows: records.len(),
        records,
        ..FileReport::default()
    };
    let decision = Decision::as_reported(Outcome::Accepted, &report);
    store
        .record_outcome(
            id,
            &decision,
            &report,
            &OutcomeRecord {
                annotated: None,
                mails: &[],
                person_key: &["id_number"],
                workbook_why: None,
                rules_version: None,
                keep_rows: &[],
            },
        )
        .unwrap();
    store.set_state(id, State::Done).unwrap();
}
