//! The daemon's logic in-process, as mini-redis starts its server in a test:
//! `Daemon::new` on a temp site with the real rules, files read in-process
//! ([`taizhang::sandbox::InProcess`] for the worker), `run_once` as the one pass, the clock injected for this test's thread — no
//! process to spawn for the daemon, nothing to wait for. What only the real
//! binary shows (signals, kill -9, the lock, the worker's limits, the page in a
//! browser) stays in the end-to-end modules.

use crate::common;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use taizhang::daemon::Daemon;
use taizhang::journal::{Journal, Outcome};
use taizhang::samples::{agency_list, payments, Register};

struct InProcess {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl InProcess {
    fn new() -> InProcess {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        InProcess { _tmp: tmp, root }
    }

    /// The daemon of this site: shipped rules, no page, files taken as soon as
    /// they are seen unchanged, each file read in-process (what a worker
    /// answers, without the process).
    fn daemon(&self) -> Daemon {
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
            .with_reader(Box::new(taizhang::sandbox::InProcess))
    }

    fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    fn journal(&self) -> Journal {
        Journal::open_read_only(&self.root.join("state")).unwrap()
    }
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
    let _clock = taizhang::clock::fixed(
        chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00").unwrap(),
    );
    let site = InProcess::new();
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
