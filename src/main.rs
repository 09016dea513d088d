//! `switchyard`: run the switch, or check a configuration.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use switchyard::config::{self, Config, DialplanSource};
use switchyard::dialplan::{Decision, DialplanError, Origin, Plan, Session, describe};
use switchyard::engine::{Engine, LocalAddrs};

#[derive(Parser)]
#[command(name = "switchyard", version, about = "A SIP softswitch: registrar, B2BUA and carrier trunks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the switch (without --config: the embedded default configuration).
    Run {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration and its dialplan; print `file:line[:col]: what is wrong`.
    Check {
        /// Configuration file (TOML); without it the embedded default is checked.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Dialplan file or directory to check instead of the configuration's.
        #[arg(long, short)]
        dialplan: Option<PathBuf>,
    },
    /// Print where a call would go: context, extension and the actions that would run.
    Route {
        /// Who calls: a configured trunk's name, else a user name.
        #[arg(long)]
        from: String,
        /// The dialled number.
        #[arg(long)]
        to: String,
        /// Caller ID (default: the --from value).
        #[arg(long)]
        caller: Option<String>,
        /// When, as RFC 3339 (`2026-11-24T10:00:00+08:00`); default now.
        #[arg(long)]
        at: Option<String>,
        /// Menu answers to follow, in order: keys, `timeout` or `invalid` (`--keys 2,1`).
        #[arg(long, value_delimiter = ',')]
        keys: Vec<String>,
        /// Configuration file (TOML); without it the embedded default.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Dialplan file or directory instead of the configuration's.
        #[arg(long, short)]
        dialplan: Option<PathBuf>,
    },
    /// List recordings and voicemail (newest last), or fetch one as WAV.
    Recordings {
        /// Only the voicemail of this box.
        #[arg(long)]
        mailbox: Option<String>,
        /// Write the N-th recording of the list (1 = first) to --out, or to stdout.
        #[arg(long)]
        fetch: Option<usize>,
        /// Where --fetch writes.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
        /// Configuration file (TOML); its `data_dir` holds the store and the files.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the embedded default configuration.
    DefaultConfig,
}

// mimalloc returns freed memory to the OS, so after a burst of calls the
// switch's resident size falls back (glibc's allocator kept it); it is also
// faster for the many small, short-lived allocations of SIP messages. Its v2
// line, with purging at once: v3 kept 30 % of the memory of 1,000 relayed
// media calls 35 s after they ended; v2 with its default 10 ms purge delay
// gave those back but kept 29 MB after 7,500 signalling-only calls, because a
// delayed purge runs only when the thread allocates again, and an idle
// switch does not. With no delay both come back to within 2 MB of idle
// (benches/MEDIA.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc v2's `mi_option_e` (mimalloc.h); the
/// Rust bindings name no constant for it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option
    // table; it runs before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = Cli::parse();
    match cli.command {
        Command::Route { from, to, caller, at, keys, config, dialplan } => {
            route_cmd(&from, &to, caller.as_deref(), at.as_deref(), &keys, config.as_ref(), dialplan.as_ref())
        }
        Command::Check { config, dialplan } => match load(config.as_ref()) {
            Ok(cfg) => match resolve_trunks(&cfg).and_then(|_| check_tls(&cfg)) {
                Ok(_) => {
                    println!("{}: ok ({} users, {} trunks, {} routes)", name(config.as_ref()), cfg.users.len(), cfg.trunks.len(), cfg.routes.len());
                    match load_plan(&cfg, dialplan.as_ref(), false) {
                        Ok(Some(plan)) => {
                            let n: usize = plan.contexts_len();
                            println!("{}: ok ({n} contexts)", plan.files.join(", "));
                            ExitCode::SUCCESS
                        }
                        Ok(None) => {
                            println!("no dialplan set (server.dialplan): calls are routed by [[routes]]");
                            ExitCode::SUCCESS
                        }
                        Err(e) => {
                            eprintln!("{e}");
                            ExitCode::from(1)
                        }
                    }
                }
                Err(e) => {
                    eprintln!("{}: {e:#}", name(config.as_ref()));
                    ExitCode::from(1)
                }
            },
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(1)
            }
        },
        Command::Recordings { mailbox, fetch, out, json, config } => recordings_cmd(mailbox.as_deref(), fetch, out.as_ref(), json, config.as_ref()),
        Command::DefaultConfig => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Command::Run { config } => {
            let cfg = match load(config.as_ref()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            match run(cfg, config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("switchyard: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// The plan a configuration names (or `over` instead), with its trunk and prompt
/// references checked: every problem as `file:line:col: message`.
/// `None` when the configuration has no dialplan (it routes by `[[routes]]`).
/// With `audio` (to run it), every prompt of the plan is decoded first, and the check of
/// the prompts it names does not decode them again.
fn load_plan(cfg: &Config, over: Option<&PathBuf>, audio: bool) -> Result<Option<Plan>, DialplanError> {
    let mut plan = match (over, &cfg.server.dialplan) {
        (Some(p), _) | (None, Some(DialplanSource::Path(p))) => Plan::load(p)?,
        (None, Some(DialplanSource::Embedded)) => Plan::embedded()?,
        (None, None) => return Ok(None),
    };
    if audio {
        for e in plan.load_audio() {
            tracing::warn!("{e}");
        }
    }
    let missing = plan.check_refs(&|t| cfg.trunk(t).is_some());
    if missing.is_empty() { Ok(Some(plan)) } else { Err(DialplanError::Invalid(missing)) }
}

fn route_cmd(
    from: &str,
    to: &str,
    caller: Option<&str>,
    at: Option<&str>,
    keys: &[String],
    config: Option<&PathBuf>,
    dialplan: Option<&PathBuf>,
) -> ExitCode {
    let cfg = match load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let plan = match load_plan(&cfg, dialplan, false) {
        Ok(Some(p)) => Arc::new(p),
        Ok(None) => {
            eprintln!("{}: no dialplan set (server.dialplan); pass --dialplan PATH", name(config));
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let unix_ms = match at {
        Some(t) => match t.parse::<jiff::Timestamp>() {
            Ok(ts) => ts.as_millisecond(),
            Err(e) => {
                eprintln!("--at {t}: not an RFC 3339 time ({e})");
                return ExitCode::from(2);
            }
        },
        None => jiff::Timestamp::now().as_millisecond(),
    };
    let origin = if cfg.trunk(from).is_some() { Origin::Trunk(from) } else { Origin::User(from) };
    println!("from {origin:?}, caller {}, to {to}", caller.unwrap_or(from));
    let mut s = Session::new(plan, origin, caller.unwrap_or(from), to, unix_ms).with_trace();
    let mut keys = keys.iter();
    let mut printed = 0;
    let mut flush = |s: &Session| {
        for line in &s.trace[printed..] {
            println!("  {line}");
        }
        printed = s.trace.len();
    };
    // Follow the plan as if every bridge failed and every media action completed; menus
    // take the --keys answers in turn, and the first menu without one is shown and ends it.
    for _ in 0..64 {
        let d = s.next_decision();
        match d {
            Decision::Bridge { .. } => {
                flush(&s);
                println!("  (if nobody answers, the plan goes on:)");
            }
            Decision::Media(step) => {
                flush(&s);
                if let switchyard::dialplan::Action::Menu(m) = &step.action {
                    match keys.next().map(String::as_str) {
                        Some("timeout") => {
                            s.menu_exhausted(true);
                            continue;
                        }
                        Some("invalid") => {
                            s.menu_exhausted(false);
                            continue;
                        }
                        Some(k) => {
                            if !s.menu_choice(k) {
                                println!("  key {k} is not a choice of menu {}: taken as invalid keys", m.name);
                                s.menu_exhausted(false);
                            }
                            continue;
                        }
                        None => {}
                    }
                    let branches = m.choices.iter().map(|(k, st)| (format!("key {k}"), st)).chain([
                        ("timeout".to_owned(), &m.on_timeout),
                        ("invalid".to_owned(), &m.on_invalid),
                    ]);
                    for (k, steps) in branches {
                        match steps.first() {
                            Some(st) => println!("    {k}: {}  {}", st.pos, describe(st, &s)),
                            None => println!("    {k}: hang up"),
                        }
                    }
                    return ExitCode::SUCCESS;
                }
            }
            Decision::Hangup(_) | Decision::End => {
                flush(&s);
                return ExitCode::SUCCESS;
            }
            Decision::NoRoute => {
                flush(&s);
                println!("  → 404 Not Found");
                return ExitCode::from(3);
            }
            Decision::NoContext => {
                println!("  no context takes calls from {origin:?} → 403 Forbidden");
                return ExitCode::from(3);
            }
            Decision::Loop => {
                flush(&s);
                println!("  → 500: the plan loops");
                return ExitCode::from(3);
            }
            _ => {
                flush(&s);
                return ExitCode::SUCCESS;
            }
        }
    }
    ExitCode::SUCCESS
}

fn name(p: Option<&PathBuf>) -> String {
    p.map_or_else(|| config::EMBEDDED_NAME.to_owned(), |p| p.display().to_string())
}

fn load(p: Option<&PathBuf>) -> Result<Config, config::ConfigError> {
    match p {
        Some(p) => config::load(p),
        None => Ok(config::embedded_default()),
    }
}

/// Trunk hosts are resolved once at start: the core never blocks on DNS.
fn resolve_trunks(cfg: &Config) -> Result<HashMap<String, SocketAddr>> {
    let mut out = HashMap::new();
    for t in &cfg.trunks {
        let addr = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .with_context(|| format!("trunk {}: cannot resolve {}", t.name, t.host))?
            .next()
            .with_context(|| format!("trunk {}: {} has no address", t.name, t.host))?;
        out.insert(t.name.clone(), addr);
    }
    Ok(out)
}

/// Loads the TLS certificate and key the way the listener will, so a bad PEM
/// or a key that does not match is caught before deployment.
fn check_tls(cfg: &Config) -> Result<()> {
    if let (false, Some(cert), Some(key)) = (cfg.server.tls.is_empty(), &cfg.server.tls_cert, &cfg.server.tls_key) {
        switchyard::rt::tls::server_config(cert, key)?;
    }
    Ok(())
}

fn init_tracing(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log.level));
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    if cfg.log.json {
        b.json().init();
    } else {
        b.init();
    }
}

fn run(cfg: Config, path: Option<PathBuf>) -> Result<()> {
    init_tracing(&cfg);
    tracing::info!(config = %name(path.as_ref()), version = env!("CARGO_PKG_VERSION"), "starting");
    let trunks = resolve_trunks(&cfg)?;
    let plan = load_plan(&cfg, None, true).map_err(|e| anyhow::anyhow!("dialplan not loaded:\n{e}"))?.map(Arc::new);
    if let Some(p) = &plan {
        tracing::info!(files = %p.files.join(", "), contexts = p.contexts_len(), prompts = p.audio.len(), "dialplan loaded");
    }
    let cfg = Arc::new(cfg);
    let local = LocalAddrs::from_config(&cfg);
    // Build once without bindings so that every error the core can raise is
    // reported here, before any socket is bound.
    let clock = switchyard::rt::clock::Clock::now;
    let wall = switchyard::rt::clock::Clock::wall;
    Engine::new(cfg.clone(), local.clone(), clock(), wall(), Vec::new(), trunks.clone()).context("invalid configuration")?;
    let core_cfg = cfg.clone();
    switchyard::rt::run(&cfg, move |restored| {
        let bindings = restored.len();
        // Same arguments as the check above, so this cannot fail.
        let mut core = Engine::new(core_cfg.clone(), local, clock(), wall(), restored, trunks).expect("validated before start");
        core.set_plan(plan);
        tracing::info!(users = core_cfg.users.len(), trunks = core_cfg.trunks.len(), bindings, "core ready");
        core
    })
    .context("switch stopped with an error")?;
    tracing::info!("stopped");
    Ok(())
}

/// `switchyard recordings`: the `recordings` table of the store, which links each WAV file
/// to its call's CDR.
fn recordings_cmd(mailbox: Option<&str>, fetch: Option<usize>, out: Option<&PathBuf>, json: bool, config: Option<&PathBuf>) -> ExitCode {
    let cfg = match load(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let rows = match switchyard::rt::store::read_recordings(&cfg.server.data_dir, mailbox) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    if let Some(n) = fetch {
        let Some(r) = n.checked_sub(1).and_then(|i| rows.get(i)) else {
            eprintln!("no recording {n} (there are {})", rows.len());
            return ExitCode::from(1);
        };
        let bytes = match std::fs::read(&r.path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", r.path);
                return ExitCode::from(1);
            }
        };
        let written = match out {
            Some(p) => std::fs::write(p, &bytes),
            None => std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes),
        };
        if let Err(e) = written {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
        return ExitCode::SUCCESS;
    }
    for (i, r) in rows.iter().enumerate() {
        let at = jiff::Timestamp::from_millisecond(r.at_ms).map(|t| t.to_string()).unwrap_or_default();
        if json {
            let v = serde_json::json!({"n": i + 1, "at": at, "duration_ms": r.duration_ms, "caller": r.caller, "kind": r.kind,
                "mailbox": r.mailbox, "cdr_id": r.cdr_id, "path": r.path});
            println!("{v}");
        } else {
            let what = if r.kind == "voicemail" { format!("voicemail:{}", r.mailbox) } else { r.kind.clone() };
            println!("{:>3}  {at}  {:>6.1}s  {:<16}  {:<20}  cdr {}  {}", i + 1, r.duration_ms as f64 / 1000.0, r.caller, what, r.cdr_id, r.path);
        }
    }
    ExitCode::SUCCESS
}
