//! The daemon's logic in-process, as mini-redis starts its server in a test:
//! `Daemon::new` on a temp site with the real rules, files read in-process
//! ([`taizhang::sandbox::InProcess`] for the worker, or a reader that fails as
//! a worker or a dying daemon would), `run_once` as the one pass, the clock
//! injected for this test's thread — no process to spawn for the daemon,
//! nothing to wait for. Here: re-checks after a list, a batch ordered by its
//! references with its re-checks held, a file waiting on the county's side, a
//! file that took the daemon down twice. What only the real binary shows
//! (signals, kill -9, the lock, the worker's limits, the page in a browser)
//! stays in `e2e`.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use taizhang::daemon::Daemon;
use taizhang::journal::{Journal, Outcome};
use taizhang::samples::{agency_list, payments, Register};
use taizhang::sandbox::{Answer, InProcess, Reader, Request};

struct Local {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Local {
    fn new() -> Local {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Local { _tmp: tmp, root }
    }

    /// The daemon of this site: shipped rules, no page, files taken as soon as
    /// they are seen unchanged, each file read in-process (what a worker
    /// answers, without the process).
    fn daemon(&self) -> Daemon {
        self.daemon_reading(Box::new(taizhang::sandbox::InProcess))
    }

    /// The same, reading each file with `reader`.
    fn daemon_reading(&self, reader: Box<dyn Reader>) -> Daemon {
        let cfg = taizhang::config::Config {
            inbox: self.root.join("inbox"),
            outbox: self.root.join("outbox"),
            state: self.root.join("state"),
            rules: rules_dir(),
            settle: std::time::Duration::ZERO,
            web: None,
            ..Default::default()
        };
        Daemon::new(cfg, rules(), Arc::new(AtomicBool::new(false)))
            .unwrap()
            .with_reader(reader)
    }

    fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    fn journal(&self) -> Journal {
        Journal::open_read_only(&self.root.join("state")).unwrap()
    }
}

/// This test thread's clock fixed at the end of November 2026, 09:00 local
/// (files received then are of 2026-11), while the guard lives.
fn month_end() -> taizhang::clock::Fixed {
    taizhang::clock::fixed(
        chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00").unwrap(),
    )
}

fn write(reg: &Register, dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    reg.write(&dir.join(name)).unwrap();
}

/// A register and a payments ledger accepted, then the county's death list:
/// the pass that takes the list checks both ledgers again (journaled as edges
/// to the list), sends them back, and tells the unit — all within two
/// `run_once` calls at an injected time.
#[test]
fn a_list_accepted_after_the_ledgers_checks_them_again_in_one_pass() {
    let _clock = month_end();
    let site = Local::new();
    let rules = rules();
    let reg = register(&rules, "柳河镇", 30, 2711);
    let persons: Vec<taizhang::samples::Person> = {
        let code = rules.county.unit("柳河镇").unwrap().code.clone();
        taizhang::samples::people(&code, &rules.villages_of("柳河镇"), 30, 2711)
    };
    let paid = persons.iter().find(|p| p.nursing > 0.0).unwrap();
    write(&reg, &site.inbox(), "柳河镇_残疾人信息登记簿_2026-11.xlsx");
    write(
        &payments("柳河镇", &persons, "2026-11"),
        &site.inbox(),
        "柳河镇_两项补贴发放台账_2026-11.xlsx",
    );
    let mut daemon = site.daemon();
    let first = daemon.run_once().unwrap();
    let outcomes: Vec<Outcome> = first.iter().map(|p| p.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::Accepted, Outcome::Accepted],
        "{first:#?}"
    );
    let (reg_id, pay_id) = (first[0].id, first[1].id);

    // The death list of October names a person paid in November.
    write(
        &agency_list("deaths", &[(&paid.name, &paid.id, "2026-10-08")]),
        &site.inbox().join("部门比对"),
        "死亡人员名单_2026-10.xlsx",
    );
    let second = daemon.run_once().unwrap();
    assert_eq!(second.len(), 1, "{second:#?}");
    assert_eq!(second[0].outcome, Outcome::Accepted);
    assert_eq!(second[0].report.unit.as_deref(), Some("部门比对"));
    let list_id = second[0].id;

    // Both ledgers were checked again against it (the edges say so) and sent back.
    let j = site.journal();
    assert_eq!(j.checked_against_it(list_id).unwrap(), [reg_id, pay_id]);
    for id in [reg_id, pay_id] {
        let s = j.get(id).unwrap().unwrap();
        assert_eq!(s.outcome, Some(Outcome::Rejected), "#{id}");
        let deaths = s.references().iter().find(|r| r.name == "deaths").unwrap();
        assert_eq!(deaths.submission, Some(list_id));
        assert_eq!(deaths.periods.as_deref(), Some("2026-10"));
    }
    // The unit was told, the list's answer went to the admin; at this time.
    let told = mails_at(&site.root.join("outbox"));
    let unit_email = rules.county.unit("柳河镇").unwrap().email.clone();
    let rechecked: Vec<_> = told
        .iter()
        .filter(|(to, _, body)| *to == unit_email && body.contains("部门比对名单"))
        .collect();
    assert_eq!(rechecked.len(), 2, "{told:#?}");
    assert!(rechecked.iter().all(|(_, _, b)| b.contains(&paid.name)));
    assert!(told.iter().any(|(to, s, _)| rules.county.admin.contains(to)
        && s.contains("部门比对名单 死亡人员名单 2026-10")));
    let list = j.get(list_id).unwrap().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&list.received_at).unwrap(),
        chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00").unwrap(),
        "received at the injected time"
    );
}

/// A reader that counts its reads (each file read in-process) and, for the
/// first `fail` of them, fails as `how` says: what a worker process does to the
/// daemon, without one.
struct Failing {
    reads: Arc<AtomicUsize>,
    fail: usize,
    how: How,
}

#[derive(Clone, Copy)]
enum How {
    /// The county's side (the rules in force, the journal) could not be used.
    OurSide,
    /// The daemon goes down mid-read (a kill -9, a power cut): here, a panic
    /// that unwinds out of the pass.
    Dies,
}

impl Reader for Failing {
    fn read(&self, req: &Request) -> Answer {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        if n < self.fail {
            match self.how {
                How::OurSide => return Err("规则目录无法读取（测试）".into()),
                How::Dies => panic!("the daemon dies mid-read (test)"),
            }
        }
        InProcess.read(req)
    }
}

/// A file the county's side could not read waits, archived and uncounted, the
/// admin told once, no township told; the next start reads it — one pass each.
#[test]
fn a_file_the_county_side_could_not_read_waits_and_is_read_at_the_next_start() {
    let _clock = month_end();
    let site = Local::new();
    let rules = rules();
    write(
        &register(&rules, "柳河镇", 12, 41),
        &site.inbox(),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let reads = Arc::new(AtomicUsize::new(0));
    {
        let mut d = site.daemon_reading(Box::new(Failing {
            reads: reads.clone(),
            fail: 1,
            how: How::OurSide,
        }));
        let done = d.run_once().unwrap();
        assert!(done.is_empty(), "no verdict: {done:#?}");
    }
    let j = site.journal();
    let sub = j.get(1).unwrap().unwrap();
    assert_eq!((sub.state.as_str(), sub.outcome), ("archived", None));
    assert!(!site
        .inbox()
        .join("柳河镇_残疾人信息登记簿_2026-11.xlsx")
        .exists());
    let told = mails_at(&site.root.join("outbox"));
    let unit_email = rules.county.unit("柳河镇").unwrap().email.clone();
    assert!(told.iter().all(|(to, _, _)| *to != unit_email), "{told:#?}");
    assert_eq!(
        told.iter()
            .filter(|(to, _, b)| rules.county.admin.contains(to)
                && b.contains("规则目录无法读取（测试）"))
            .count(),
        1,
        "{told:#?}"
    );
    drop(j);
    // The next start: read now, accepted, the unit told.
    let mut d = site.daemon_reading(Box::new(Failing {
        reads: reads.clone(),
        fail: 1,
        how: How::OurSide,
    }));
    d.run_once().unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    let sub = site.journal().get(1).unwrap().unwrap();
    assert_eq!(
        (sub.state.as_str(), sub.outcome),
        ("done", Some(Outcome::Accepted))
    );
    let told = mails_at(&site.root.join("outbox"));
    assert_eq!(
        told.iter().filter(|(to, _, _)| *to == unit_email).count(),
        1,
        "{told:#?}"
    );
}

/// A file the daemon died reading twice (each attempt journaled before it
/// began) is not read a third time: set aside, and its unit told why.
#[test]
fn a_file_that_took_the_daemon_down_twice_is_not_read_a_third_time() {
    let _clock = month_end();
    let site = Local::new();
    let rules = rules();
    write(
        &register(&rules, "白沙镇", 10, 42),
        &site.inbox(),
        "白沙镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let reads = Arc::new(AtomicUsize::new(0));
    let reader = || {
        Box::new(Failing {
            reads: reads.clone(),
            fail: 2,
            how: How::Dies,
        })
    };
    for start in 1..=2 {
        let died = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            site.daemon_reading(reader()).run_once()
        }));
        assert!(died.is_err(), "start {start}");
        assert_eq!(reads.load(Ordering::SeqCst), start);
        let sub = site.journal().get(1).unwrap().unwrap();
        assert_eq!(sub.state.as_str(), "archived", "start {start}");
    }
    let done = site.daemon_reading(reader()).run_once().unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 2, "not read a third time");
    assert!(done.is_empty(), "a resumed file, not a new one: {done:#?}");
    let sub = site.journal().get(1).unwrap().unwrap();
    assert_eq!(sub.outcome, Some(Outcome::Quarantined), "{sub:#?}");
    let why =
        "文件异常：处理该文件时程序已 2 次意外中断（崩溃、被强制结束或断电），为保护系统不再处理";
    assert_eq!(sub.reason.as_deref(), Some(why));
    // Set aside for the admin, the original beside its reason.
    let q = site.root.join("outbox").join("quarantine");
    let note =
        std::fs::read_to_string(q.join("1-白沙镇_残疾人信息登记簿_2026-11.xlsx.原因.txt")).unwrap();
    assert!(note.contains(why), "{note}");
    assert!(q.join("1-白沙镇_残疾人信息登记簿_2026-11.xlsx").is_file());
    // The admin with the file, the unit (named by the file name) told why.
    let told = mails_at(&site.root.join("outbox"));
    let unit_email = rules.county.unit("白沙镇").unwrap().email.clone();
    let about: Vec<(&str, &str)> = told
        .iter()
        .filter(|(_, _, b)| b.contains(why))
        .map(|(to, s, _)| (to.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        about,
        [
            (
                rules.county.admin[0].as_str(),
                "【台账系统】文件已隔离，待核实：白沙镇_残疾人信息登记簿_2026-11.xlsx"
            ),
            (
                unit_email.as_str(),
                "【安和县残联】白沙镇 报送的文件无法读取：白沙镇_残疾人信息登记簿_2026-11.xlsx"
            )
        ],
        "{told:#?}"
    );
}

/// A payments ledger and its register dropped together are judged in the
/// order their kinds' references give, whatever their names' order: the
/// payments ledger against this register, with no re-check; and three lists
/// dropped at once check each accepted ledger again once, not once per list.
#[test]
fn a_batch_goes_by_its_references_and_its_re_checks_wait_for_the_batch() {
    let _clock = month_end();
    let site = Local::new();
    let rules = rules();
    let code = rules.county.unit("柳河镇").unwrap().code.clone();
    let persons = taizhang::samples::people(&code, &rules.villages_of("柳河镇"), 20, 43);
    // "0" sorts before "柳": the payments ledger's name comes first.
    write(
        &payments("柳河镇", &persons, "2026-11"),
        &site.inbox(),
        "0_柳河镇_两项补贴发放台账_2026-11.xlsx",
    );
    write(
        &Register::new("柳河镇", &persons),
        &site.inbox(),
        "柳河镇_残疾人信息登记簿_2026-11.xlsx",
    );
    let reads = Arc::new(AtomicUsize::new(0));
    let mut d = site.daemon_reading(Box::new(Failing {
        reads: reads.clone(),
        fail: 0,
        how: How::OurSide,
    }));
    let first = d.run_once().unwrap();
    assert_eq!(reads.load(Ordering::SeqCst), 2, "each read once");
    let names: Vec<&str> = first.iter().map(|p| p.report.file.as_str()).collect();
    assert_eq!(
        names,
        [
            "柳河镇_残疾人信息登记簿_2026-11.xlsx",
            "0_柳河镇_两项补贴发放台账_2026-11.xlsx"
        ]
    );
    assert!(
        first.iter().all(|p| p.outcome == Outcome::Accepted),
        "{first:#?}"
    );
    let (reg_id, pay_id) = (first[0].id, first[1].id);
    let j = site.journal();
    let pay = j.get(pay_id).unwrap().unwrap();
    let register_used = pay
        .references()
        .iter()
        .find(|r| r.name == "register")
        .unwrap();
    assert_eq!(register_used.submission, Some(reg_id));
    assert_eq!(
        pay.recheck_because, None,
        "judged once, against its register"
    );
    assert_eq!(j.checked_against_it(reg_id).unwrap(), [pay_id]);
    drop(j);

    // Three lists at once, with no hit: the deaths and 特困 lists name one
    // person of another unit, the 低保 list holds the unit's persons (their
    // 生活补贴 stands on it).
    let other = rules.county.unit("石桥镇").unwrap().code.clone();
    let stranger = taizhang::samples::people(&other, &rules.villages_of("石桥镇"), 1, 44).remove(0);
    let on_dibao: Vec<(&str, &str, &str)> = persons
        .iter()
        .map(|p| (p.name.as_str(), p.id.as_str(), "柳河镇"))
        .collect();
    let lists = [
        (
            "deaths",
            "死亡人员名单_2026-11.xlsx",
            vec![(stranger.name.as_str(), stranger.id.as_str(), "2026-11-02")],
        ),
        ("dibao", "低保对象名单_2026-11.xlsx", on_dibao),
        (
            "tekun",
            "特困供养人员名单_2026-11.xlsx",
            vec![(stranger.name.as_str(), stranger.id.as_str(), "分散供养")],
        ),
    ];
    for (kind, name, rows) in &lists {
        write(
            &agency_list(kind, rows),
            &site.inbox().join("部门比对"),
            name,
        );
    }
    let before = mails_at(&site.root.join("outbox")).len();
    let second = d.run_once().unwrap();
    assert_eq!(
        second.iter().map(|p| p.outcome).collect::<Vec<_>>(),
        [Outcome::Accepted; 3],
        "{second:#?}"
    );
    let lists: Vec<i64> = second.iter().map(|p| p.id).collect();
    let j = site.journal();
    // Each ledger judged again once, after the whole batch: its edges reach
    // every list of the batch that its kind refers to.
    for id in [reg_id, pay_id] {
        let s = j.get(id).unwrap().unwrap();
        assert_eq!(s.outcome, Some(Outcome::Accepted), "#{id}");
        let used: Vec<i64> = s
            .references()
            .iter()
            .filter(|r| r.county)
            .filter_map(|r| r.submission)
            .collect();
        assert!(
            !used.is_empty() && used.iter().all(|u| lists.contains(u)),
            "#{id}: {used:?}"
        );
    }
    assert_eq!(
        reads.load(Ordering::SeqCst),
        2 + 3 + 2,
        "the three lists, then one re-check per ledger, not one per list"
    );
    // Still accepted: the unit is not told again; the admin hears of the lists.
    let told = mails_at(&site.root.join("outbox"));
    let unit_email = rules.county.unit("柳河镇").unwrap().email.clone();
    assert_eq!(
        told[..]
            .iter()
            .filter(|(to, _, _)| *to == unit_email)
            .count(),
        2,
        "the two receipts of the first pass only: {told:#?}"
    );
    assert_eq!(told.len() - before, 3, "one answer per list, to the admin");
}
