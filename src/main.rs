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
    about = "县残联台账系统：校验各乡镇（街道）报送的台账，汇总全县，通知乡镇"
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
    /// 设置文件（默认：当前目录的 taizhang.toml，有则读取）
    #[arg(long, value_name = "文件")]
    config: Option<PathBuf>,
    /// 收件箱目录（默认 inbox）
    #[arg(long, value_name = "目录")]
    inbox: Option<PathBuf>,
    /// 输出目录：全县汇总表、隔离文件、邮件（默认 outbox）
    #[arg(long, value_name = "目录")]
    outbox: Option<PathBuf>,
    /// 状态目录：台账数据库和存档（默认 state，请放在本机磁盘）
    #[arg(long, value_name = "目录")]
    state: Option<PathBuf>,
    /// 规则目录（默认 rules；当前目录没有时用程序所在目录的 rules）
    #[arg(long, value_name = "目录")]
    rules: Option<PathBuf>,
    /// 每隔若干秒轮询收件箱，代替文件事件（收件箱在网络共享上时使用）
    #[arg(long, value_name = "秒")]
    poll: Option<f64>,
    /// 文件保持不变多少秒后才处理
    #[arg(long, value_name = "秒")]
    settle: Option<f64>,
    /// 先向收件箱写入示例报送（两个乡镇的登记簿和发放台账，一个无误，一个有错；另有两个乡镇的上月登记簿）
    #[arg(long)]
    demo: bool,
    /// 用 SMTP 发送通知：smtp://用户@主机:端口?tls=starttls|implicit|none（密码来自环境变量
    /// TAIZHANG_SMTP_PASSWORD 或 --smtp-password-file）。不设置时，通知写成 .eml 文件放在 outbox/mail/
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// SMTP 密码文件
    #[arg(long, value_name = "文件")]
    smtp_password_file: Option<PathBuf>,
    /// 额外信任的 SMTP 服务器 CA 证书（PEM）
    #[arg(long, value_name = "文件")]
    smtp_ca: Option<PathBuf>,
    /// 邮件服务器暂时无法接收时，首次重试前等待的秒数（之后每次加倍）
    #[arg(long, value_name = "秒")]
    mail_retry: Option<f64>,
    /// 一次 SMTP 发送最多用时（秒，默认 60），超时记为“不确定是否送达”
    #[arg(long, value_name = "秒")]
    mail_deadline: Option<f64>,
    /// 读取并校验一个文件最多用时（秒，默认 60）
    #[arg(long, value_name = "秒")]
    worker_timeout: Option<f64>,
    /// 读取一个文件最多使用的内存（MiB，默认 1024；Linux 与 Windows 均有效）
    #[arg(long, value_name = "MiB")]
    worker_memory_mb: Option<u64>,
    /// 报送情况网页的地址（watch；默认 127.0.0.1:8470），off 为不开启
    #[arg(long, value_name = "地址")]
    web: Option<String>,
    /// 网页登录密码文件（网页开在本机以外的地址时必须设置）
    #[arg(long, value_name = "文件")]
    web_password_file: Option<PathBuf>,
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
                web: self.web.clone(),
                web_password_file: self.web_password_file.clone(),
                ..Default::default()
            },
        }
    }
}

#[derive(Subcommand)]
enum MailAction {
    /// 重新发送编号为 ID 的通知（确认对方未收到之后）
    Resend {
        /// 通知编号（见 taizhang status）
        #[arg(value_name = "编号")]
        id: i64,
        #[command(flatten)]
        args: DaemonArgs,
    },
}

#[derive(Subcommand)]
enum Command {
    /// 持续运行（按 Ctrl-C 停止）：处理收件箱中的文件，校验、存档、更新全县汇总表、发送通知
    Watch {
        #[command(flatten)]
        args: DaemonArgs,
    },
    /// 把收件箱中待处理的文件处理一遍后退出
    Run {
        /// 必须写：处理一遍后退出（持续运行请用 watch）
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        args: DaemonArgs,
    },
    /// 查看各单位报送情况、处理中的文件、隔离文件和通知
    Status {
        #[command(flatten)]
        args: DaemonArgs,
        /// 输出格式：text（文字，默认）或 json
        #[arg(long, value_enum, default_value = "text", value_name = "格式")]
        format: Format,
    },
    /// 按规则校验台账文件（不经过收件箱）；无错误退出码 0，有错误 1，无法校验 2
    Validate {
        /// 规则目录（默认 rules）
        #[arg(long, default_value = "rules", value_name = "目录")]
        rules: PathBuf,
        /// 报送单位（不写时从文件夹、文件名或表内「填报单位」确定）
        #[arg(long, value_name = "单位")]
        unit: Option<String>,
        /// 期间 YYYY-MM（不写时从文件名或「填报日期」确定）
        #[arg(long, value_name = "年-月")]
        period: Option<String>,
        /// 输出格式：text（文字，默认）或 json
        #[arg(long, value_enum, default_value = "text", value_name = "格式")]
        format: Format,
        /// 把每个文件带批注的副本写入此目录
        #[arg(long, value_name = "目录")]
        annotate: Option<PathBuf>,
        /// 守护进程的状态目录：发放台账按其中已通过的登记簿核对（同一批文件中有该单位登记簿时以它为准）
        #[arg(long, value_name = "目录")]
        state: Option<PathBuf>,
        /// 要校验的文件
        #[arg(required = true, value_name = "文件")]
        files: Vec<PathBuf>,
    },
    /// 写出示例报送（两个乡镇的登记簿和发放台账，一个无误，一个有错；另有两个乡镇的上月登记簿）
    Demo {
        /// 规则目录（默认 rules）
        #[arg(long, default_value = "rules", value_name = "目录")]
        rules: PathBuf,
        /// 写到哪个目录（默认 inbox）
        #[arg(long, default_value = "inbox", value_name = "目录")]
        dir: PathBuf,
        /// 示例的期间 YYYY-MM（默认当前应报送的月份，即上个月）
        #[arg(long, value_name = "年-月")]
        period: Option<String>,
    },
    /// 诊断乡镇报送的文件：说明会怎样读取（格式、工作表、表头、单位、期间），并完整读出每个工作表
    Inspect {
        /// 规则目录（默认 rules）
        #[arg(long, default_value = "rules", value_name = "目录")]
        rules: PathBuf,
        /// 状态目录：按其中已通过的台账说明会按哪份登记簿核对、与哪份上期登记簿比对
        #[arg(long, value_name = "目录")]
        state: Option<PathBuf>,
        /// 要诊断的文件
        #[arg(required = true, value_name = "文件")]
        files: Vec<PathBuf>,
    },
    /// 通知：重发被拒收或不确定是否送达的通知
    Mail {
        #[command(subcommand)]
        action: MailAction,
    },
    /// Internal: read and check one file for the daemon or `validate` (request on
    /// stdin, report on stdout), in a process of its own.
    #[command(hide = true)]
    Worker,
    /// 检查规则目录，列出每个问题（文件和行号）；有问题时退出码 2
    CheckRules {
        /// 规则目录（默认 rules）
        #[arg(default_value = "rules", value_name = "目录")]
        dir: PathBuf,
    },
}

/// Whether log lines may carry ANSI colour codes: only on a terminal, never
/// with `NO_COLOR` set, and on Windows only when the console accepts them
/// (virtual-terminal mode, switched on here; an old console shows them raw).
fn console_takes_colour() -> bool {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr())
        || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
    {
        return false;
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Console::{
            GetConsoleMode, GetStdHandle, SetConsoleMode, ENABLE_VIRTUAL_TERMINAL_PROCESSING,
            STD_ERROR_HANDLE,
        };
        // SAFETY: plain console calls on the process's own standard error handle.
        unsafe {
            let handle = GetStdHandle(STD_ERROR_HANDLE);
            let mut mode = 0u32;
            if GetConsoleMode(handle, &mut mode) == 0 {
                return false;
            }
            if mode & ENABLE_VIRTUAL_TERMINAL_PROCESSING != 0 {
                return true;
            }
            SetConsoleMode(handle, mode | ENABLE_VIRTUAL_TERMINAL_PROCESSING) != 0
        }
    }
    #[cfg(not(windows))]
    true
}

fn main() -> ExitCode {
    // Every file and folder taizhang writes holds or may hold personal data.
    taizhang::fsutil::owner_only_from_now_on();
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
        // County IT reads this console: local time, no module paths.
        .with_timer(tracing_subscriber::fmt::time::ChronoLocal::new(
            "%Y-%m-%d %H:%M:%S".to_string(),
        ))
        .with_target(false)
        .with_ansi(console_takes_colour())
        .init();
    // Panics inside parsers are caught and reported as messages; keep the default
    // hook's backtrace noise out of the clerk's terminal and into the log.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic caught");
    }));
    let cli = match parse_cli() {
        Ok(c) => c,
        Err(code) => return ExitCode::from(code),
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("错误：{e:#}");
            ExitCode::from(2)
        }
    }
}

/// The command line, with help and usage errors in Chinese (clap's own words
/// replaced: headings, the help flag, error kinds).
fn parse_cli() -> Result<Cli, u8> {
    use clap::{CommandFactory, FromArgMatches};
    fn chinese(cmd: clap::Command, parent: &str) -> clap::Command {
        let path = format!("{parent}{}", cmd.get_name());
        let usage = cmd
            .clone()
            .bin_name(&path)
            .render_usage()
            .to_string()
            .trim_start_matches("Usage: ")
            .replace("[OPTIONS]", "[选项]")
            .replace("<COMMAND>", "<命令>");
        cmd.help_template("{about-with-newline}\n用法：{usage}\n\n{all-args}{after-help}")
            .override_usage(usage)
            .subcommand_help_heading("命令")
            .subcommand_value_name("命令")
            .disable_help_flag(true)
            .disable_help_subcommand(true)
            .arg(
                clap::Arg::new("help")
                    .short('h')
                    .long("help")
                    .action(clap::ArgAction::Help)
                    .help("显示本说明"),
            )
            .mut_args(|a| {
                let heading = if a.is_positional() {
                    "参数"
                } else {
                    "选项"
                };
                let takes_value = a.get_action().takes_values();
                let a = a.help_heading(heading);
                if takes_value {
                    a.hide_default_value(true).hide_possible_values(true)
                } else {
                    a
                }
            })
            .mut_subcommands(move |c| chinese(c, &format!("{path} ")))
    }
    let cmd = chinese(Cli::command(), "").disable_version_flag(true).arg(
        clap::Arg::new("version")
            .short('V')
            .long("version")
            .action(clap::ArgAction::Version)
            .help("显示版本")
            .help_heading("选项"),
    );
    let matches = cmd.try_get_matches().map_err(|e| {
        use clap::error::{ContextKind, ErrorKind};
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                let _ = e.print();
                0
            }
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                2
            }
            kind => {
                let ctx = |k: ContextKind| e.get(k).map(|v| v.to_string()).unwrap_or_default();
                let what = match kind {
                    ErrorKind::InvalidSubcommand => {
                        format!("没有命令「{}」", ctx(ContextKind::InvalidSubcommand))
                    }
                    ErrorKind::UnknownArgument => {
                        format!("不认识的参数「{}」", ctx(ContextKind::InvalidArg))
                    }
                    ErrorKind::MissingRequiredArgument => {
                        format!("缺少必需的参数 {}", ctx(ContextKind::InvalidArg))
                    }
                    ErrorKind::MissingSubcommand => "请指定一个命令".to_string(),
                    ErrorKind::InvalidValue | ErrorKind::ValueValidation => format!(
                        "参数 {} 的值「{}」无效",
                        ctx(ContextKind::InvalidArg),
                        ctx(ContextKind::InvalidValue)
                    ),
                    ErrorKind::ArgumentConflict => {
                        format!("参数 {} 不能同时使用", ctx(ContextKind::InvalidArg))
                    }
                    _ => "命令行参数有误".to_string(),
                };
                let usage = ctx(ContextKind::Usage);
                let usage = usage
                    .trim_start_matches("Usage: ")
                    .trim_start_matches("用法：");
                eprintln!(
                    "错误：{what}\n用法：{}\n运行 taizhang --help 或 taizhang <命令> --help 查看说明",
                    if usage.is_empty() { "taizhang <命令>" } else { usage }
                );
                2
            }
        }
    })?;
    Cli::from_arg_matches(&matches).map_err(|e| {
        eprintln!("错误：{e}");
        2
    })
}

/// The rules folder to use: as given; the default `rules` not in the working
/// directory is looked for beside the executable (an installed taizhang run from
/// anywhere).
fn resolve_rules(dir: &std::path::Path) -> PathBuf {
    if dir.is_dir() || dir.is_absolute() || dir != std::path::Path::new("rules") {
        return dir.to_path_buf();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("rules")))
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| dir.to_path_buf())
}

fn load_rules(dir: &std::path::Path) -> Result<RuleSet, u8> {
    let dir = resolve_rules(dir);
    if !dir.is_dir() {
        let cwd = std::env::current_dir().unwrap_or_default();
        eprintln!(
            "错误：找不到规则目录「{}」（当前目录 {} 下没有，程序所在目录下也没有）。请在含 rules 文件夹的目录中运行，或用 --rules 指定规则目录",
            dir.display(),
            cwd.display()
        );
        return Err(2);
    }
    RuleSet::load(&dir).map_err(|e| {
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
    let mut cfg = cfg;
    let rules = load_rules(&cfg.rules)?;
    cfg.rules = rules.dir.clone();
    if args.demo {
        // The month due now (on 3 December, November's), as clerks report.
        let period = taizhang::standing::period_due(taizhang::clock::now().date_naive());
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
            let today = taizhang::clock::now().date_naive();
            let mut s = taizhang::status::collect(&rules, &journal, today)?;
            s.mail_folder = cfg
                .mail_target()
                .ok()
                .and_then(|t| t.folder().map(|d| d.display().to_string()));
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
                Format::Text => {
                    print!("{}", taizhang::status::text(&s));
                    // The page's address with its access token: whoever can read
                    // the state folder may open the page.
                    let token = std::fs::read_to_string(cfg.state.join("web-token"));
                    if let (Some(addr), Ok(token)) = (&cfg.web, token) {
                        let url =
                            taizhang::web::token_url(addr, cfg.web_tls.is_some(), token.trim());
                        println!("\n报送情况网页（含访问令牌，请勿外传）：{url}");
                    }
                }
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
                    Ok(match e {
                        taizhang::sandbox::ServeError::OurSide(_) => {
                            taizhang::sandbox::EXIT_OUR_SIDE as u8
                        }
                        taizhang::sandbox::ServeError::Other(_) => 3,
                    })
                }
            }
        }
        Command::CheckRules { dir } => {
            let rules = match load_rules(&dir) {
                Ok(r) => r,
                Err(code) => return Ok(code),
            };
            for n in &rules.notes {
                println!("提示：{n}");
            }
            let rows: usize = rules.kinds.iter().map(|k| k.row_rules.len()).sum();
            let lists = rules.county_kinds().len();
            println!(
                "规则目录 {} 无误：{} 种台账{}，{} 个列，{} 条行规则，{} 个填报单位",
                rules.dir.display(),
                rules.kinds.len() - lists,
                if lists > 0 {
                    format!("、{lists} 种部门比对名单")
                } else {
                    String::new()
                },
                rules.kinds.iter().map(|k| k.columns.len()).sum::<usize>(),
                rows,
                rules.county.units.len()
            );
            Ok(0)
        }
        Command::Inspect {
            rules,
            state,
            files,
        } => {
            // How each file would be read (in a worker, as `validate` does), then
            // every sheet as read.
            let rules = resolve_rules(&rules);
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
                        &taizhang::sandbox::RefSources {
                            ledgers: Vec::new(),
                            state,
                        },
                        taizhang::sandbox::WorkerLimits::default(),
                        &|_| {},
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
            let period = period.unwrap_or_else(|| {
                taizhang::standing::period_due(taizhang::clock::now().date_naive())
            });
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
            state,
            files,
        } => {
            if let Some(s) = &state {
                if let Err(e) = taizhang::journal::Journal::open_read_only(s) {
                    let why = match &e {
                        taizhang::journal::JournalError::Io(p, io) => {
                            format!("{}：{}", p.display(), taizhang::fsutil::io_zh(io))
                        }
                        other => other.to_string(),
                    };
                    eprintln!(
                        "错误：--state {} 中没有可读的台账记录（{why}）",
                        s.display()
                    );
                    return Ok(2);
                }
            }
            if let Some(p) = &period {
                if taizhang::workbook::value::period_end(p).is_none() {
                    eprintln!("错误：--period 应为 YYYY-MM 格式，例如 2026-11");
                    return Ok(2);
                }
            }
            let rules = match load_rules(&rules) {
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
            // Many files on a terminal: a progress bar on stderr (nothing when piped).
            let bar = (files.len() > 1 && std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .then(|| {
                    let b = indicatif::ProgressBar::new(files.len() as u64);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "已校验 {pos}/{len} 个文件 {wide_bar} 剩余约 {eta}",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    b
                });
            let mut reports = taizhang::sandbox::validate_run(
                &exe,
                &rules,
                &files,
                &opts,
                state,
                taizhang::sandbox::WorkerLimits::default(),
                &|_| {
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                },
            );
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
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
