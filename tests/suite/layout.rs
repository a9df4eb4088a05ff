//! The code's layout rules, read from the sources: which module may name which
//! (each question has one owner; imports only point down the layers), and no
//! circle between the top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The top-level module a source file belongs to (`validate` for
/// `src/validate/mod.rs`, `standing` for `src/standing.rs`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level modules a module's code names through `crate::…` paths.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let names: BTreeSet<String> = rust_files(&src())
        .iter()
        .map(|f| module_of(f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    for f in rust_files(&src()) {
        let m = module_of(&f);
        let c = code(&f);
        let entry = graph.entry(m.clone()).or_default();
        let mut rest = c.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + 7..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != m && names.contains(&name) {
                entry.insert(name);
            }
        }
    }
    graph
}

#[test]
fn each_module_names_only_what_is_below_it() {
    let graph = imports();
    let forbidden: &[(&str, &[&str])] = &[
        // Pure: the month received and the sender's clues come in as options.
        (
            "validate",
            &[
                "journal", "standing", "daemon", "notice", "intake", "clock", "sandbox",
            ],
        ),
        ("identify", &["intake", "clock", "journal", "validate"]),
        ("rules", &["validate"]),
        ("journal", &["notice", "consolidate"]),
        ("notice", &["consolidate"]),
    ];
    let mut broken = Vec::new();
    for (module, never) in forbidden {
        for n in *never {
            if graph.get(*module).is_some_and(|s| s.contains(*n)) {
                broken.push(format!("{module} names {n}"));
            }
        }
    }
    assert!(broken.is_empty(), "{broken:?}");
}

#[test]
fn only_the_journal_speaks_sql() {
    let mut found = Vec::new();
    for f in rust_files(&src()) {
        let m = module_of(&f);
        if m == "journal" {
            continue;
        }
        let c = code(&f);
        for needle in ["rusqlite", "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM"] {
            if c.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "SQL outside the journal: {found:?}");
}

#[test]
fn no_circle_between_top_level_modules() {
    let graph = imports();
    // Depth-first search for a back edge; report the circle found.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut circle = path[i..].to_vec();
            circle.push(n.to_string());
            return Some(circle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_string());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", c.join(" → "));
        }
    }
}

#[test]
fn validation_reads_no_clock() {
    let mut found = Vec::new();
    for f in rust_files(&src().join("validate"))
        .into_iter()
        .chain([src().join("identify.rs")])
    {
        let c = code(&f);
        for needle in ["::now(", "SystemTime", "Instant", "Local::", "Utc::"] {
            if c.contains(needle) {
                found.push(format!("{}: {needle}", f.display()));
            }
        }
    }
    assert!(found.is_empty(), "a clock read in pure code: {found:?}");
}

/// The fixed sleeps of a test file over 200 ms (or of a length not written
/// out), as `file:line: the call`.
fn long_sleeps(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let Some(i) = code.find("sleep(") else {
            continue;
        };
        let arg = &code[i + 6..];
        let number = |after: &str| -> Option<f64> {
            let rest = &arg[arg.find(after)? + after.len()..];
            rest.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
                .next()?
                .replace('_', "")
                .parse()
                .ok()
        };
        let ms = if arg.contains("from_millis(") {
            number("from_millis(")
        } else if arg.contains("from_secs_f64(") {
            number("from_secs_f64(").map(|s| s * 1000.0)
        } else if arg.contains("from_secs(") {
            number("from_secs(").map(|s| s * 1000.0)
        } else {
            None
        };
        if ms.is_none_or(|ms| ms > 200.0) {
            found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
        }
    }
    found
}

#[test]
fn no_long_sleep_outside_the_end_to_end_tests() {
    let suite = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let e2e = suite.join("e2e");
    let (mut outside, mut inside) = (Vec::new(), Vec::new());
    for f in rust_files(&suite) {
        if f.ends_with("layout.rs") {
            continue;
        }
        if f.starts_with(&e2e) {
            inside.extend(long_sleeps(&f));
        } else {
            outside.extend(long_sleeps(&f));
        }
    }
    assert!(
        outside.is_empty(),
        "fixed sleeps over 200 ms outside e2e: {outside:#?}"
    );
    // The finder finds them where they are.
    assert!(inside.len() >= 5, "{inside:#?}");
}
