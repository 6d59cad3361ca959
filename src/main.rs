//! The `sge-milter` command: argument parsing and signal wiring only.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sge_milter::config::{self, LogFormat};
use sge_milter::envelope::{Direction, Envelope};
use sge_milter::logging::Logging;
use sge_milter::milter::{self, ListenAddr, Shared};
use sge_milter::offline::{ScanReport, scan_message};
use sge_milter::pipeline::Engine;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

// mimalloc instead of glibc malloc. A message's buffers are allocated on one tokio
// worker and often freed on another (work stealing moves connections between
// workers); glibc then takes the owning arena's lock, and under load its waiters
// sleep on a futex: about a tenth of sge-milter's context switches at 16
// connections were those waits. mimalloc frees across threads without a lock.
// Built without transparent huge pages (Cargo.toml: no_thp), its resident memory is
// no higher than glibc's (README, Performance: the memory table).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sge-milter",
    version,
    about = "Secure Government Email (SGE) milter for Postfix and Sendmail"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the milter protocol (embedded default config and rules without --config).
    Run {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides [log] format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// Overrides [milter] listen, e.g. inet:127.0.0.1:8894 or unix:/run/sge-milter.sock.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run message files through the same pipeline offline and print the decision.
    Scan {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Direction of the message; by default decided from --client-ip as the milter would.
        #[arg(long, value_enum)]
        direction: Option<CliDirection>,
        #[arg(long)]
        client_ip: Option<IpAddr>,
        #[arg(long)]
        helo: Option<String>,
        /// Envelope sender (empty for the null sender).
        #[arg(long)]
        from: Option<String>,
        /// Envelope recipient; repeat for several.
        #[arg(long)]
        to: Vec<String>,
        /// One JSON object per message, one per line.
        #[arg(long)]
        json: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Make a DKIM signing key and print the DNS TXT record to publish.
    DkimKeygen {
        #[arg(long = "type", value_enum, default_value = "rsa")]
        key_type: KeyType,
        /// RSA key size (2048 or more).
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        selector: String,
        /// Private key file to create (PEM, mode 0600; an existing file is kept).
        #[arg(long)]
        out: PathBuf,
    },
    /// Check domains' public SGE configuration (SPF, DMARC, DKIM, MTA-STS, TLS-RPT,
    /// MX); exit 1 when any check fails.
    Posture {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// One JSON object per domain, one per line.
        #[arg(long)]
        json: bool,
        /// DKIM selector to check (repeat for several), added to [posture.selectors].
        #[arg(long)]
        selector: Vec<String>,
        #[arg(required = true)]
        domains: Vec<String>,
    },
    /// Validate the configuration and every rule file; exit non-zero on any error.
    CheckRules {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// DMARC aggregate reports: send the ones we owe, read the ones about us.
    DmarcReports {
        #[command(subcommand)]
        action: DmarcReportsCommand,
    },
}

#[derive(Subcommand)]
enum DmarcReportsCommand {
    /// Send the reports of every finished period (one per policy domain and destination).
    Send {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Write the reports as .xml.gz files into --out; send and delete nothing.
        #[arg(long, requires = "out")]
        dry_run: bool,
        #[arg(long, requires = "dry_run")]
        out: Option<PathBuf>,
        /// Take this as the current time (seconds since the epoch), e.g. to send the
        /// current period before a gateway is retired.
        #[arg(long)]
        now: Option<u64>,
    },
    /// Read aggregate reports about our domains (.xml, .xml.gz, .zip or whole .eml).
    Ingest {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List, per domain, the sources that send as it and fail DMARC.
    Summary {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KeyType {
    Rsa,
    Ed25519,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CliDirection {
    Inbound,
    Outbound,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            log_format,
            listen,
        } => run(config, log_format, listen),
        Command::Scan {
            config,
            direction,
            client_ip,
            helo,
            from,
            to,
            json,
            files,
        } => {
            let env = Envelope {
                client_ip,
                helo,
                mail_from: from,
                rcpts: to,
                direction: direction.map(|d| match d {
                    CliDirection::Inbound => Direction::Inbound,
                    CliDirection::Outbound => Direction::Outbound,
                }),
                ..Default::default()
            };
            scan(config, env, json, files)
        }
        Command::CheckRules { config } => check_rules(config),
        Command::Posture {
            config,
            json,
            selector,
            domains,
        } => posture(config, json, &selector, &domains),
        Command::DkimKeygen {
            key_type,
            bits,
            domain,
            selector,
            out,
        } => dkim_keygen(key_type, bits, &domain, &selector, &out),
        Command::DmarcReports { action } => dmarc_reports(action),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sge-milter: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load_engine(path: Option<&std::path::Path>) -> Result<Engine> {
    config::load(path)
        .and_then(Engine::compile)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))
}

fn run(
    path: Option<PathBuf>,
    log_format: Option<LogFormat>,
    listen: Option<String>,
) -> Result<ExitCode> {
    let engine = load_engine(path.as_deref())?;
    let cfg = &engine.loaded.config;
    let logging = sge_milter::logging::init(&cfg.log, log_format);
    let listen = listen.unwrap_or_else(|| cfg.milter.listen.clone());
    let addr = ListenAddr::parse(&listen).map_err(|e| anyhow::anyhow!("[milter] listen: {e}"))?;
    let socket_perms = milter::socket::resolve(&engine.loaded)
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))?;
    let origin = engine.loaded.origin.clone();
    let dmarc_reports = cfg.dmarc_reports.enabled.then(|| cfg.clone());
    let metrics_listen = cfg.metrics.listen.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Signal handlers first: a SIGTERM or SIGHUP that arrives as soon as the socket
        // accepts must find them installed, not kill the process.
        let shutdown = shutdown_signal()?;
        let shared = Shared::new(engine);
        // Filled once the socketmap runs; a reload before that has nothing to pass on.
        let tls_policy = Arc::new(std::sync::OnceLock::new());
        spawn_reloader(Arc::clone(&shared), path.clone(), logging, Arc::clone(&tls_policy))?;
        let listener = milter::bind_with(&addr, &socket_perms).await?;
        if let Some(service) = start_connectors(&shared, path.as_deref()).await? {
            let _ = tls_policy.set(service);
        }
        // [dmarc_reports] is read at start only (a SIGHUP does not change it).
        let dmarc_reports = dmarc_reports
            .map(|c| sge_milter::dmarc_reports::service::start(&c))
            .transpose()?;
        if !metrics_listen.is_empty() {
            let metrics_listener = sge_milter::metrics::http::bind(&metrics_listen).await?;
            tracing::info!(listen = %metrics_listen, "metrics endpoint at /metrics");
            tokio::spawn(sge_milter::metrics::http::serve(metrics_listener));
        }
        let weak = Arc::downgrade(&shared);
        sge_milter::metrics::global().set_cache_source(move || {
            weak.upgrade()
                .and_then(|s| s.engine().auth().map(|a| a.stats()))
                .map(|stats| stats.cache_readings())
                .unwrap_or_default()
        });
        tracing::info!(listen = %listen, config = %origin, version = env!("CARGO_PKG_VERSION"), "sge-milter started");
        // The accept loop runs on a runtime worker, not on this thread (block_on's):
        // a connection (Postfix opens one per SMTP session) is then accepted, and its
        // session started, on a worker that is awake anyway. Accepting here woke
        // this thread for every connection: 0.37 of sge-milter's 3.3 context
        // switches per message at 16 connections (README, Performance).
        tokio::spawn(milter::serve(listener, shared, shutdown))
            .await
            .context("the milter server task failed")??;
        if let Some(service) = &dmarc_reports {
            service.flush().await;
        }
        if let ListenAddr::Unix(p) = &addr {
            let _ = std::fs::remove_file(p);
        }
        tracing::info!("sge-milter stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

type TlsPolicyService = Arc<sge_milter::tls_policy::PolicyService>;

/// The TLS policy socketmap and the posture monitor, each only when configured.
/// Returns the socketmap's service, for the reloader.
async fn start_connectors(
    shared: &Arc<Shared>,
    path: Option<&std::path::Path>,
) -> Result<Option<TlsPolicyService>> {
    let engine = shared.engine();
    let cfg = &engine.loaded.config;
    let base_dir = path
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new(""));
    let mut tls_policy = None;
    if !cfg.tls_policy.listen.is_empty() {
        let s = Arc::clone(shared);
        let (addr, service) = sge_milter::tls_policy::start(
            cfg,
            base_dir,
            Box::new(move || -> Arc<dyn sge_milter::tls_policy::RunningConfig> { s.engine() }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(listen = %addr, "TLS policy socketmap for Postfix smtp_tls_policy_maps");
        tls_policy = Some(service);
    }
    if !cfg.posture.domains.is_empty() {
        let checker =
            sge_milter::posture::checker(cfg, base_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let posture = cfg.posture.clone();
        tracing::info!(domains = posture.domains.len(), "posture monitor started");
        tokio::spawn(sge_milter::posture::monitor::run_forever(checker, posture));
    }
    Ok(tls_policy)
}

/// `sge-milter posture`: checks each domain, prints a table or JSON lines.
fn posture(
    path: Option<PathBuf>,
    json: bool,
    selectors: &[String],
    domains: &[String],
) -> Result<ExitCode> {
    let loaded = config::load(path.as_deref())
        .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))?;
    let cfg = &loaded.config;
    let base_dir = path
        .as_deref()
        .and_then(|p| p.parent())
        .unwrap_or(std::path::Path::new(""));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let reports = runtime.block_on(async {
        let checker =
            sge_milter::posture::checker(cfg, base_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut reports = Vec::new();
        for d in domains {
            let sel = sge_milter::posture::selectors_for(&cfg.posture, d, selectors);
            reports.push(checker.check(d, &sel).await);
        }
        Ok::<_, anyhow::Error>(reports)
    })?;
    if json {
        for r in &reports {
            println!("{}", serde_json::to_string(r)?);
        }
    } else {
        print!("{}", sge_milter::posture::table(&reports));
    }
    let failed = reports.iter().any(|r| r.failed());
    Ok(ExitCode::from(u8::from(failed)))
}

fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// SIGHUP reloads everything that can change without a restart (docs/architecture.md,
/// "Reload"); a reload that fails validation keeps the running configuration.
fn spawn_reloader(
    shared: Arc<Shared>,
    path: Option<PathBuf>,
    logging: Logging,
    tls_policy: Arc<std::sync::OnceLock<TlsPolicyService>>,
) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            let path = path.clone();
            let shared = Arc::clone(&shared);
            let result = tokio::task::spawn_blocking(move || shared.reload(path.as_deref())).await;
            sge_milter::metrics::global().config_reload(matches!(result, Ok(Ok(_))));
            match result {
                Ok(Ok(engine)) => {
                    logging.apply(&engine.loaded.config.log);
                    // The new engine already answers; only MTA-STS state can fail here.
                    let sts = tls_policy.get().map(|t| t.reload(&engine.loaded.config));
                    if let Some(Err(e)) = sts {
                        tracing::error!(error = %e, "[tls_policy] MTA-STS settings not applied; the running fetcher and cache stay");
                    }
                    tracing::info!(result = "success", "configuration reloaded")
                }
                Ok(Err(errors)) => {
                    tracing::error!(result = "failure", errors = %errors, "configuration reload failed; keeping the running configuration")
                }
                Err(e) => {
                    tracing::error!(result = "failure", error = %e, "configuration reload panicked; keeping the running configuration")
                }
            }
        }
    });
    Ok(())
}

fn scan(path: Option<PathBuf>, env: Envelope, json: bool, files: Vec<PathBuf>) -> Result<ExitCode> {
    let engine = Arc::new(load_engine(path.as_deref())?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut unreadable = false;
    for file in &files {
        let data = match std::fs::read(file) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("sge-milter: cannot read {}: {e}", file.display());
                unreadable = true;
                continue;
            }
        };
        let outcome = runtime.block_on(scan_message(&engine, env.clone(), &data));
        let name = file.display().to_string();
        let report = ScanReport::new(&name, &outcome);
        if json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!("{name}: {} ({})", report.action, report.direction);
            if let Some(r) = &report.smtp_reply {
                println!("  reply: {r}");
            }
            for f in report.findings {
                println!(
                    "  finding: {} [{}] -> {}: {}",
                    f.rule_id,
                    serde_json::to_string(&f.kind)?.trim_matches('"'),
                    f.action,
                    f.detail
                );
            }
            for [n, v] in &report.headers_added {
                println!("  add header: {n}: {v}");
            }
        }
    }
    if unreadable {
        bail!("some files could not be read");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a new DKIM private key (mode 0600, never overwriting) and prints the TXT
/// record to publish and the config entry that uses it.
fn dkim_keygen(
    key_type: KeyType,
    bits: usize,
    domain: &str,
    selector: &str,
    out: &std::path::Path,
) -> Result<ExitCode> {
    use sge_milter::auth::keygen::{KeyAlgorithm, generate, zone_line};
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let alg = match key_type {
        KeyType::Rsa => KeyAlgorithm::Rsa(bits),
        KeyType::Ed25519 => KeyAlgorithm::Ed25519,
    };
    let key = generate(alg).map_err(|e| anyhow::anyhow!("cannot make the key: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    file.write_all(key.private_pem.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("; publish in the zone of {domain}:");
    println!("{}", zone_line(domain, selector, &key.txt));
    println!("; then add to sge-milter.toml:");
    println!("; [[auth.dkim_keys]]");
    println!("; domain = \"{domain}\"");
    println!("; selector = \"{selector}\"");
    println!("; key_file = \"{}\"", out.display());
    Ok(ExitCode::SUCCESS)
}

fn dmarc_reports(action: DmarcReportsCommand) -> Result<ExitCode> {
    use sge_milter::dmarc_reports::cli;
    let load = |path: Option<PathBuf>| {
        config::load(path.as_deref())
            .map(|l| l.config)
            .map_err(|errors| anyhow::anyhow!("invalid configuration:\n{errors}"))
    };
    let ok = match action {
        DmarcReportsCommand::Send {
            config,
            dry_run: _,
            out,
            now,
        } => cli::send(&load(config)?, out, now)?,
        DmarcReportsCommand::Ingest { config, files } => cli::ingest(&load(config)?, &files)?,
        DmarcReportsCommand::Summary { config, json } => {
            cli::summary(&load(config)?, json)?;
            true
        }
    };
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_rules(path: Option<PathBuf>) -> Result<ExitCode> {
    let compiled = config::load(path.as_deref())
        .and_then(Engine::compile)
        .and_then(|engine| milter::socket::resolve(&engine.loaded).map(|_| engine));
    match compiled {
        Ok(engine) => {
            println!("configuration OK: {}", engine.loaded.origin);
            for f in &engine.loaded.rule_files {
                println!("  rules OK: {} ({})", f.name, f.origin);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s) found", errors.0.len());
            Ok(ExitCode::from(1))
        }
    }
}
