//! The `taizhang` command line: a thin edge over the library.

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use taizhang::rules::RuleSet;
use taizhang::validate::{self, Options};

#[derive(Parser)]
#[command(
    name = "taizhang",
    version,
    about = "Validate and consolidate township disabled-persons ledgers (县残联台账)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Flags shared by `watch`, `run` and `status`.
#[derive(clap::Args, Clone, Default)]
struct DaemonArgs {
    /// Settings file (default: ./taizhang.toml when present).
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long)]
    inbox: Option<PathBuf>,
    #[arg(long)]
    outbox: Option<PathBuf>,
    /// Journal and archive folder (keep it on local disk).
    #[arg(long)]
    state: Option<PathBuf>,
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Poll the inbox every SECS seconds instead of native events (network shares).
    #[arg(long, value_name = "SECS")]
    poll: Option<f64>,
    /// Seconds a file must stay unchanged before it is taken.
    #[arg(long, value_name = "SECS")]
    settle: Option<f64>,
    /// First write two sample submissions (one clean, one with errors) into the inbox.
    #[arg(long)]
    demo: bool,
    /// Send notices by SMTP: smtp://user@host:port?tls=starttls|implicit|none
    /// (password from TAIZHANG_SMTP_PASSWORD or --smtp-password-file). Without it,
    /// notices are written as .eml files to outbox/mail/.
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    #[arg(long, value_name = "FILE")]
    smtp_password_file: Option<PathBuf>,
    /// Extra CA certificate (PEM) to trust for the SMTP server.
    #[arg(long, value_name = "FILE")]
    smtp_ca: Option<PathBuf>,
    /// Seconds before the first retry of a notice the server could not take (doubles each time).
    #[arg(long, value_name = "SECS")]
    mail_retry: Option<f64>,
    /// Seconds one SMTP transaction may take before the notice is marked uncertain (default 60).
    #[arg(long, value_name = "SECS")]
    mail_deadline: Option<f64>,
    /// Seconds one file may take to read and check before its worker is stopped (default 60).
    #[arg(long, value_name = "SECS")]
    worker_timeout: Option<f64>,
    /// MiB of memory one file's worker may use (default 1024; Unix).
    #[arg(long, value_name = "MIB")]
    worker_memory_mb: Option<u64>,
}

impl DaemonArgs {
    fn overrides(&self) -> taizhang::config::Overrides {
        taizhang::config::Overrides {
            config: self.config.clone(),
            settings: taizhang::config::FileConfig {
                inbox: self.inbox.clone(),
                outbox: self.outbox.clone(),
                state: self.state.clone(),
                rules: self.rules.clone(),
                poll: self.poll,
                settle: self.settle,
                rescan: None,
                smtp: self.smtp.clone(),
                smtp_password_file: self.smtp_password_file.clone(),
                smtp_ca: self.smtp_ca.clone(),
                mail_retry: self.mail_retry,
                mail_deadline: self.mail_deadline,
                worker_timeout: self.worker_timeout,
                worker_memory_mb: self.worker_memory_mb,
            },
        }
    }
}

#[derive(Subcommand)]
enum MailAction {
    /// Queue message ID again.
    Resend {
        id: i64,
        #[command(flatten)]
        args: DaemonArgs,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the intake daemon until SIGINT/SIGTERM: take complete files from the
    /// inbox, validate, archive, and keep the county workbooks in the outbox.
    Watch {
        #[command(flatten)]
        args: DaemonArgs,
    },
    /// Process everything pending in the inbox once, then exit.
    Run {
        /// Required: process once and exit (`watch` keeps running).
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        args: DaemonArgs,
    },
    /// Show every unit's latest submission, files in progress, quarantine and mail.
    Status {
        #[command(flatten)]
        args: DaemonArgs,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Validate ledger workbooks against the rules.
    Validate {
        /// Rules folder.
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Submitting unit (otherwise from the file name or the 填报单位 line).
        #[arg(long)]
        unit: Option<String>,
        /// Reporting period YYYY-MM (otherwise from the file name or 填报日期).
        #[arg(long)]
        period: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write an annotated copy of each workbook into this folder.
        #[arg(long)]
        annotate: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Write two sample submissions (one clean, one with errors) into a folder.
    Demo {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        /// Where to write them.
        #[arg(long, default_value = "inbox")]
        dir: PathBuf,
        /// Period YYYY-MM of the samples (default: this month).
        #[arg(long)]
        period: Option<String>,
    },
    /// Read every sheet of workbooks completely and print what was found (for
    /// diagnosing a file a township sent); exit 2 if any cannot be read.
    Inspect {
        #[arg(long, default_value = "rules")]
        rules: PathBuf,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Queue a parked or uncertain notice again (after checking it was not delivered).
    Mail {
        #[command(subcommand)]
        action: MailAction,
    },
    /// Internal: read and check one file for the daemon or `validate` (request on
    /// stdin, report on stdout), in a process of its own.
    #[command(hide = true)]
    Worker,
    /// Load and lint a rules folder; exit 2 when it has problems.
    CheckRules {
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAIZHANG_LOG").unwrap_or_else(|_| {
                // The daemon says what happened to each file; one-shot commands stay quiet.
                let daemon = std::env::args()
                    .nth(1)
                    .is_some_and(|a| a == "watch" || a == "run");
                if daemon { "info" } else { "warn" }.into()
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Panics inside parsers are caught and reported as messages; keep the default
    // hook's backtrace noise out of the clerk's terminal and into the log.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic caught");
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("错误：{e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_rules(dir: &std::path::Path) -> Result<RuleSet, u8> {
    RuleSet::load(dir).map_err(|e| {
        eprintln!("{e}");
        2
    })
}

fn inspect(path: &std::path::Path) -> Result<String, taizhang::workbook::ReadError> {
    let mut book = taizhang::workbook::Book::open(path, &taizhang::workbook::Limits::default())?;
    let mut out = String::new();
    for name in book.sheet_names() {
        let data = book.read_sheet(&name)?;
        let rows = data
            .cells
            .iter()
            .map(|c| c.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        out.push_str(&format!(
            "  工作表「{name}」：{} 个非空单元格，{rows} 行，{} 个合并区域\n",
            data.cells.len(),
            data.merges.len()
        ));
    }
    Ok(out)
}

fn daemon_setup(args: &DaemonArgs) -> Result<(taizhang::config::Config, RuleSet), u8> {
    let cfg = taizhang::config::Config::load(&args.overrides()).map_err(|e| {
        eprintln!("错误：{e}");
        2
    })?;
    let rules = load_rules(&cfg.rules)?;
    if args.demo {
        let period = chrono::Local::now().format("%Y-%m").to_string();
        match taizhang::demo::write_demo(&rules, &cfg.inbox, &period) {
            Ok(paths) => {
                for p in paths {
                    tracing::info!("demo submission written: {}", p.display());
                }
            }
            Err(e) => {
                eprintln!("错误：无法生成示例文件：{e}");
                return Err(2);
            }
        }
    }
    Ok((cfg, rules))
}

/// Starts the daemon; a state folder already in use is a clear refusal (exit 2).
fn new_daemon(
    cfg: taizhang::config::Config,
    rules: RuleSet,
    stop: Arc<AtomicBool>,
) -> Result<taizhang::daemon::Daemon, u8> {
    match taizhang::daemon::Daemon::new(cfg, rules, stop) {
        Ok(d) => Ok(d),
        Err(taizhang::daemon::DaemonError::Locked(dir, pid)) => {
            let who = pid.map_or("另一个 taizhang 进程".to_string(), |p| {
                format!("另一个 taizhang 进程（pid {p}）")
            });
            eprintln!(
                "错误：{who}正在使用状态目录 {}，同一状态目录只能运行一个 taizhang watch 或 run --once；本进程退出",
                dir.display()
            );
            Err(2)
        }
        Err(e) => {
            eprintln!("错误：{e}");
            Err(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Watch { args } => {
            let (cfg, rules) = match daemon_setup(&args) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let stop = Arc::new(AtomicBool::new(false));
            let (tx, rx) = std::sync::mpsc::channel();
            {
                let stop = stop.clone();
                let tx = tx.clone();
                ctrlc::set_handler(move || {
                    tracing::info!("stop requested; finishing the file in hand");
                    stop.store(true, Ordering::SeqCst);
                    let _ = tx.send(());
                })?;
            }
            let mut d = match new_daemon(cfg, rules, stop) {
                Ok(d) => d,
                Err(code) => return Ok(code),
            };
            d.watch(rx, tx)?;
            Ok(0)
        }
        Command::Run { once, args } => {
            if !once {
                eprintln!("错误：run 需要 --once（持续运行请用 watch）");
                return Ok(2);
            }
            let (cfg, rules) = match daemon_setup(&args) {
                Ok(x) => x,
                Err(code) => return Ok(code),
            };
            let stop = Arc::new(AtomicBool::new(false));
            {
                let stop = stop.clone();
                ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
            }
            let mut d = match new_daemon(cfg, rules, stop) {
                Ok(d) => d,
                Err(code) => return Ok(code),
            };
            let done = d.run_once()?;
            tracing::info!("processed {} file(s)", done.len());
            Ok(0)
        }
        Command::Mail {
            action: MailAction::Resend { id, args },
        } => {
            let cfg = match taizhang::config::Config::load(&args.overrides()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("错误：{e}");
                    return Ok(2);
                }
            };
            let journal = taizhang::journal::Journal::open(&cfg.state)?;
            if journal.mail_resend(id)? {
                println!("通知 #{id} 已重新排队，将在守护进程下次发送时发出");
                Ok(0)
            } else {
                eprintln!("错误：没有可重发的通知 #{id}（只能重发被拒收、发送中断或已发送的通知）");
                Ok(2)
            }
        }
        Command::Status { args, format } => {
            let cfg = match taizhang::config::Config::load(&args.overrides()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("错误：{e}");
                    return Ok(2);
                }
            };
            let rules = match load_rules(&cfg.rules) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let journal = taizhang::journal::Journal::open(&cfg.state)?;
            let s = taizhang::status::collect(&rules, &journal)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
                Format::Text => print!("{}", taizhang::status::text(&s)),
            }
            Ok(0)
        }
        Command::Worker => {
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            match taizhang::sandbox::serve(stdin, stdout) {
                Ok(()) => Ok(0),
                Err(e) => {
                    eprintln!("worker: {e}");
                    Ok(3)
                }
            }
        }
        Command::CheckRules { dir } => {
            let rules = match load_rules(&dir) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let rows: usize = rules.kinds.iter().map(|k| k.row_rules.len()).sum();
            println!(
                "规则目录 {} 无误：{} 种台账，{} 个列，{} 条行规则，{} 个填报单位",
                dir.display(),
                rules.kinds.len(),
                rules.kinds.iter().map(|k| k.columns.len()).sum::<usize>(),
                rows,
                rules.county.units.len()
            );
            Ok(0)
        }
        Command::Inspect { rules, files } => {
            // How each file would be read (in a worker, as `validate` does), then
            // every sheet as read.
            let layouts = match RuleSet::load(&rules) {
                Ok(_) => {
                    let opts = Options {
                        fallback_period: Some(taizhang::clock::now().format("%Y-%m").to_string()),
                        ..Options::default()
                    };
                    let exe = std::env::current_exe()?;
                    taizhang::sandbox::validate_many(
                        &exe,
                        &rules,
                        &files,
                        &opts,
                        taizhang::sandbox::WorkerLimits::default(),
                    )
                    .iter()
                    .map(|r| Some(taizhang::report::layout_text(r)))
                    .collect()
                }
                Err(e) => {
                    eprintln!("规则目录无法加载，只列出工作表：{e}");
                    vec![None; files.len()]
                }
            };
            let mut code = 0;
            for (f, layout) in files.iter().zip(layouts) {
                println!("{}：", f.display());
                if let Some(l) = layout {
                    print!("{l}");
                }
                match inspect(f) {
                    Ok(lines) => println!("{lines}"),
                    Err(e) => {
                        println!("  无法读取：{e}");
                        code = 2;
                    }
                }
            }
            Ok(code)
        }
        Command::Demo { rules, dir, period } => {
            let rules = match load_rules(&rules) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let period = period.unwrap_or_else(|| chrono::Local::now().format("%Y-%m").to_string());
            let written =
                taizhang::demo::write_demo(&rules, &dir, &period).map_err(anyhow::Error::msg)?;
            for p in written {
                println!("已生成示例报送文件：{}", p.display());
            }
            Ok(0)
        }
        Command::Validate {
            rules,
            unit,
            period,
            format,
            annotate,
            files,
        } => {
            if let Some(p) = &period {
                if taizhang::workbook::value::period_end(p).is_none() {
                    eprintln!("错误：--period 应为 YYYY-MM 格式，例如 2026-11");
                    return Ok(2);
                }
            }
            let rules_dir = rules;
            let rules = match load_rules(&rules_dir) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            let opts = Options {
                unit,
                period,
                // As the daemon does: a period from nowhere else is this month's, and said.
                fallback_period: Some(taizhang::clock::now().format("%Y-%m").to_string()),
                cross_file: files.len() > 1,
                ..Options::default()
            };
            // Each file is read in a worker process of its own, bounded in time and
            // memory: a hostile file ends as a message, never as this process.
            let exe = std::env::current_exe()?;
            let mut reports = taizhang::sandbox::validate_many(
                &exe,
                &rules_dir,
                &files,
                &opts,
                taizhang::sandbox::WorkerLimits::default(),
            );
            validate::cross_check(&rules, &mut reports);
            let mut written = Vec::new();
            if let Some(dir) = &annotate {
                std::fs::create_dir_all(dir)?;
                let named: Vec<(&std::path::Path, &str)> = files
                    .iter()
                    .zip(&reports)
                    .map(|(p, r)| (p.as_path(), r.file.as_str()))
                    .collect();
                let targets = taizhang::annotate::target_paths(&named, dir);
                for ((path, rep), out) in files.iter().zip(&reports).zip(&targets) {
                    if rep.fatal.is_some() {
                        continue;
                    }
                    match taizhang::annotate::annotate_to(path, rep, out) {
                        Ok(out) => written.push(format!(
                            "已写入批注副本：{}（{}）",
                            out.display(),
                            path.display()
                        )),
                        Err(e) => eprintln!("无法为 {} 生成批注副本：{e}", path.display()),
                    }
                }
            }
            for r in &reports {
                tracing::info!(file = %r.file, unit = ?r.unit, rows = r.rows, errors = r.errors, warnings = r.warnings, fatal = ?r.fatal, "validated");
            }
            match format {
                Format::Json => println!("{}", taizhang::report::json(&reports)),
                Format::Text => {
                    print!("{}", taizhang::report::text(&reports));
                    for w in &written {
                        println!("{w}");
                    }
                }
            }
            if matches!(format, Format::Json) {
                for w in &written {
                    eprintln!("{w}");
                }
            }
            let code = if reports.iter().any(|r| r.fatal.is_some()) {
                2
            } else if reports.iter().any(|r| r.errors > 0) {
                1
            } else {
                0
            };
            Ok(code)
        }
    }
}
