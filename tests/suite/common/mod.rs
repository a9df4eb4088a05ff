//! Shared helpers for integration tests: real rules, real workbook files in temp
//! dirs, the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use taizhang::rules::RuleSet;
use taizhang::samples::{people, Register};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn rules_dir() -> PathBuf {
    root().join("rules")
}

pub fn rules() -> RuleSet {
    match RuleSet::load(&rules_dir()) {
        Ok(r) => r,
        Err(e) => panic!("shipped rules do not load: {e}"),
    }
}

/// The shared corpus of real-world spreadsheets (used where it lies, never copied
/// into the project): under `$TAIZHANG_SHARED`, else in `shared/` beside this
/// checkout (as CI lays it), else beside the checkout this one was cloned from (a
/// local clone made in another folder). The first place is named when none has it.
pub fn corpus() -> PathBuf {
    let in_shared = |shared: PathBuf| shared.join("corpus").join("calamine-tests");
    let mut places = Vec::new();
    if let Some(s) = std::env::var_os("TAIZHANG_SHARED") {
        places.push(in_shared(PathBuf::from(s)));
    }
    places.push(in_shared(root().join("..").join("shared")));
    let origin = Command::new("git")
        .arg("-C")
        .arg(root())
        .args(["config", "--get", "remote.origin.url"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .map(|u| PathBuf::from(u.strip_prefix("file://").unwrap_or(&u)))
        .filter(|p| p.is_dir());
    if let Some(o) = origin {
        places.push(in_shared(o.join("..").join("shared")));
    }
    places
        .iter()
        .find(|p| p.is_dir())
        .unwrap_or(&places[0])
        .clone()
}

/// A clean register of `n` persons for `unit`.
pub fn register(rules: &RuleSet, unit: &str, n: usize, seed: u64) -> Register {
    let code = rules
        .county
        .unit(unit)
        .map(|u| u.code.clone())
        .unwrap_or_else(|| "419901000".into());
    let villages = rules.villages_of(unit);
    Register::new(unit, &people(&code, &villages, n, seed))
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taizhang"))
}

/// What `taizhang inspect` prints of a file (shipped rules, on 1 December at 10:00).
pub fn inspect(path: &Path) -> String {
    let out = bin()
        .env("TAIZHANG_NOW", "2026-12-01T10:00:00+08:00")
        .args(["inspect", "--rules"])
        .arg(rules_dir())
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs `taizhang validate --format json` with extra args; returns (exit code, JSON, stderr).
pub fn validate_json(args: &[&str], files: &[&Path]) -> (i32, Value, String) {
    validate_json_with(&rules_dir(), args, files)
}

/// [`validate_json`] with the rules in `rules` (a county's edited copy).
pub fn validate_json_with(rules: &Path, args: &[&str], files: &[&Path]) -> (i32, Value, String) {
    let mut cmd = bin();
    cmd.arg("validate")
        .arg("--rules")
        .arg(rules)
        .arg("--format")
        .arg("json");
    cmd.args(args);
    for f in files {
        cmd.arg(f);
    }
    let out = cmd.output().expect("run taizhang");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    (
        out.status.code().unwrap_or(-1),
        json,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// (cell, rule) pairs of a file's findings, sorted.
pub fn cell_rules(file: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = file["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["cell"].as_str().unwrap_or("-").to_string(),
                        f["rule"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes a minimal xlsx package by hand whose only sheet has the given XML, for
/// files no spreadsheet program would write (hostile dimensions, bombs).
pub fn raw_xlsx(path: &Path, sheet_name: &str, sheet_xml: &[u8], level: Option<i64>) {
    use std::io::Write;
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(level)
        .large_file(false);
    let parts: Vec<(&str, Vec<u8>)> = vec![
        ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#.to_vec()),
        ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec()),
        ("xl/workbook.xml", format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>"#).into_bytes()),
        ("xl/_rels/workbook.xml.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#.to_vec()),
    ];
    for (name, data) in parts {
        z.start_file(name, opts).unwrap();
        z.write_all(&data).unwrap();
    }
    z.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    z.write_all(sheet_xml).unwrap();
    z.finish().unwrap();
}

/// Runs a command, returning its output, wall time and (on Unix) the peak resident
/// memory in KiB of the largest child this test process has waited for so far.
pub fn run_measured(cmd: &mut Command) -> (std::process::Output, std::time::Duration, Option<u64>) {
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run");
    let took = start.elapsed();
    (out, took, peak_child_rss_kib())
}

#[cfg(target_os = "linux")]
fn peak_child_rss_kib() -> Option<u64> {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    (rc == 0).then_some(ru.ru_maxrss as u64)
}

#[cfg(not(target_os = "linux"))]
fn peak_child_rss_kib() -> Option<u64> {
    None
}

/// A daemon site in a temp dir: inbox, outbox, state, and the shipped rules.
pub struct Site {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Site {
    pub fn new() -> Site {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for d in ["inbox", "outbox", "state"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        Site { _tmp: tmp, root }
    }
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox")
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }
    /// `taizhang ARGS…` pointed at this site's folders and the shipped rules, at a
    /// morning hour (before the daily digest), whatever the wall clock says.
    pub fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_with_rules(args, &rules_dir())
    }
    /// [`Site::cmd`] with another rules folder (a county's edited copy).
    pub fn cmd_with_rules(&self, args: &[&str], rules: &Path) -> Command {
        let mut c = bin();
        c.env("TAIZHANG_NOW", "2026-11-30T09:00:00+08:00");
        c.args(args)
            .arg("--inbox")
            .arg(self.inbox())
            .arg("--outbox")
            .arg(self.outbox())
            .arg("--state")
            .arg(self.state())
            .arg("--rules")
            .arg(rules);
        c
    }
    /// Starts the daemon with the rules in `rules`; its log is on the child's stderr.
    pub fn watch_with_rules(&self, rules: &Path, extra: &[&str]) -> std::process::Child {
        let mut c = self.cmd_with_rules(&["watch", "--settle", "0.3"], rules);
        // The status page only where a test asks for it (on a port of its own).
        if !extra.contains(&"--web") {
            c.args(["--web", "off"]);
        }
        c.args(extra);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
    pub fn run_once(&self, extra: &[&str]) -> std::process::Output {
        let mut c = self.cmd(&["run", "--once", "--settle", "0.2"]);
        c.args(extra);
        c.output().unwrap()
    }
    /// `run --once`, which must succeed (its log shown otherwise).
    pub fn run_once_ok(&self) -> std::process::Output {
        succeeded(self.run_once(&[]))
    }
    /// `run --once` at another time than [`Site::cmd`]'s, which must succeed.
    pub fn run_once_at(&self, now: &str) {
        let mut c = self.cmd(&["run", "--once", "--settle", "0.2"]);
        succeeded(c.env("TAIZHANG_NOW", now).output().unwrap());
    }
    /// Starts the daemon; its log is on the child's stderr.
    pub fn watch(&self, extra: &[&str]) -> std::process::Child {
        self.watch_with_rules(&rules_dir(), extra)
    }
    /// `status --format json` on 1 December, when 2026-11 (the tests' month) is
    /// due: its ledgers come first.
    pub fn status(&self) -> Value {
        self.status_at("2026-12-01T09:00:00+08:00")
    }
    /// `status --format json` at `now`.
    pub fn status_at(&self, now: &str) -> Value {
        let out = self
            .cmd(&["status", "--format", "json"])
            .env("TAIZHANG_NOW", now)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    }
    pub fn county_workbook(&self) -> PathBuf {
        self.outbox()
            .join("安和县_残疾人信息登记簿_2026-11_全县汇总.xlsx")
    }
    /// Writes a workbook into the inbox the way a copy does: to a hidden temp name, then rename.
    pub fn drop_in(&self, reg: &taizhang::samples::Register, name: &str) -> PathBuf {
        let tmp = self.inbox().join(format!(".{name}.tmp"));
        reg.write(&tmp).unwrap();
        let dest = self.inbox().join(name);
        std::fs::rename(&tmp, &dest).unwrap();
        dest
    }
}

/// A sheet's rows as text (dates as `date:…`), read back with taizhang's reader.
pub fn sheet(path: &std::path::Path, name: &str) -> Vec<Vec<String>> {
    use taizhang::workbook::{Book, Cell, Limits};
    let mut book = Book::open(path, &Limits::default()).unwrap();
    let mut rows: Vec<Vec<String>> = Vec::new();
    book.for_each_row(name, |_, cells| {
        let mut row = Vec::new();
        for (c, v) in cells {
            while row.len() < *c as usize {
                row.push(String::new());
            }
            row.push(match v {
                Cell::Date(_) => format!("date:{}", v.raw_text()),
                _ => v.text(),
            });
        }
        rows.push(row);
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    rows
}

/// Copies a workbook, changing the text of one of its parts (to make files that
/// writers refuse to write but townships' tools do, or hostile ones).
pub fn rewrite_part(src: &Path, dest: &Path, part: &str, change: impl Fn(String) -> String) {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::fs::File::open(src).unwrap()).unwrap();
    let mut zout = zip::ZipWriter::new(std::fs::File::create(dest).unwrap());
    for i in 0..zin.len() {
        let mut e = zin.by_index(i).unwrap();
        let name = e.name().unwrap().to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        if name == part {
            data = change(String::from_utf8(data).unwrap()).into_bytes();
        }
        zout.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zout.write_all(&data).unwrap();
    }
    zout.finish().unwrap();
}

/// The raw bytes of the one `.eml` a site has written (panics on none or several).
pub fn the_mail(site: &Site) -> Vec<u8> {
    let emls: Vec<PathBuf> = std::fs::read_dir(site.outbox().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(emls.len(), 1, "{emls:?}");
    std::fs::read(&emls[0]).unwrap()
}

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn unit_status<'a>(status: &'a Value, unit: &str) -> &'a Value {
    status["periods"][0]["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["unit"] == unit)
        .unwrap()
}

pub fn stop(child: std::process::Child) -> String {
    #[cfg(unix)]
    {
        // SIGTERM: the daemon finishes the file in hand and exits 0.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
    }
    #[cfg(not(unix))]
    let child = {
        let mut child = child;
        let _ = child.kill();
        child
    };
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    #[cfg(unix)]
    assert!(out.status.success(), "daemon did not exit cleanly: {log}");
    log
}

/// (recipient, subject, body text) of every `.eml` written to the site's outbox.
pub fn mails(site: &Site) -> Vec<(String, String, String)> {
    mails_at(&site.outbox())
}

/// [`mails`] of the outbox at `outbox`.
pub fn mails_at(outbox: &Path) -> Vec<(String, String, String)> {
    let dir = outbox.join("mail");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    // Only finished messages: a running daemon's temp file may be renamed away
    // between listing and reading.
    let mut out: Vec<(String, String, String)> = rd
        .filter_map(|e| {
            let p = e.ok()?.path();
            p.extension().is_some_and(|x| x == "eml").then_some(p)
        })
        .filter_map(|p| std::fs::read(p).ok())
        .map(|raw| {
            let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
            (
                m.to()
                    .and_then(|t| t.first())
                    .and_then(|a| a.address())
                    .unwrap_or_default()
                    .to_string(),
                m.subject().unwrap_or_default().to_string(),
                m.body_text(0).unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A copy of the shipped rules in `dir`, edited by `edit(file name, text)`.
pub fn edited_rules(dir: &Path, edit: impl Fn(&str, String) -> String) -> PathBuf {
    let to = dir.join("rules");
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(rules_dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(to.join(&name), edit(&name, text)).unwrap();
    }
    to
}

/// A finished command's output, asserting it succeeded (its stderr shown otherwise).
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The names of the entries of `dir` (not sorted).
pub fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

/// Every file under `dir`, at any depth (folders left out).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs a Python script (`python3 -c`) with `args`, which must succeed; its stdout.
pub fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 with openpyxl (installed by scripts/test)");
    String::from_utf8_lossy(&succeeded(out).stdout).to_string()
}

/// A file's (first) finding on `cell`, from `validate --format json`.
pub fn finding_at<'a>(file: &'a Value, cell: &str) -> &'a Value {
    file["findings"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["cell"] == cell))
        .unwrap_or_else(|| panic!("no finding on {cell} in {file:#}"))
}

/// Converts `src` with LibreOffice (`soffice --convert-to FORMAT`, e.g. `pdf`,
/// `xls:MS Excel 97`, `ods`) into `out_dir`, with a profile of its own under
/// `profile`; the converted file's path.
pub fn soffice_convert(src: &Path, format: &str, out_dir: &Path, profile: &Path) -> PathBuf {
    let out = Command::new("soffice")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to", format, "--outdir"])
        .arg(out_dir)
        .arg(src)
        .output()
        .expect("LibreOffice (soffice; scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ext = format.split(':').next().unwrap_or(format);
    out_dir.join(src.with_extension(ext).file_name().unwrap())
}

/// A free TCP port on loopback (for a server a test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `check-rules` on `dir`, which must refuse it (exit 2); its stderr.
pub fn rules_refused(dir: &Path) -> String {
    let out = bin().arg("check-rules").arg(dir).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

/// Drops 柳河镇's clean 10-person register for 2026-11 and 石桥镇's with `mistake`
/// made in it; 石桥镇's register as written.
pub fn drop_clean_and_bad(
    site: &Site,
    rules: &RuleSet,
    mistake: impl FnOnce(&mut Register),
) -> Register {
    site.drop_in(
        &register(rules, "柳河镇", 10, 1),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let mut bad = register(rules, "石桥镇", 10, 2);
    mistake(&mut bad);
    site.drop_in(&bad, "石桥镇_残疾人信息登记簿_2026-11.xlsx");
    bad
}
