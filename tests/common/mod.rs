//! Shared helpers for integration tests: real rules, real workbook files in temp
//! dirs, the real binary.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
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

/// The shared corpus of real-world spreadsheets, beside the project.
pub fn corpus() -> PathBuf {
    root().join("..").join("shared").join("corpus").join("calamine-tests")
}

/// A clean register of `n` persons for `unit`.
pub fn register(rules: &RuleSet, unit: &str, n: usize, seed: u64) -> Register {
    let code = rules.county.unit(unit).map(|u| u.code.clone()).unwrap_or_else(|| "419901000".into());
    let villages = rules.villages_of(unit);
    Register::new(unit, &people(&code, &villages, n, seed))
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_taizhang"))
}

/// Runs `taizhang validate --format json` with extra args; returns (exit code, JSON, stderr).
pub fn validate_json(args: &[&str], files: &[&Path]) -> (i32, Value, String) {
    let mut cmd = bin();
    cmd.arg("validate").arg("--rules").arg(rules_dir()).arg("--format").arg("json");
    cmd.args(args);
    for f in files {
        cmd.arg(f);
    }
    let out = cmd.output().expect("run taizhang");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let json: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout}"));
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).to_string())
}

/// (cell, rule) pairs of a file's findings, sorted.
pub fn cell_rules(file: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = file["findings"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| (f["cell"].as_str().unwrap_or("-").to_string(), f["rule"].as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
