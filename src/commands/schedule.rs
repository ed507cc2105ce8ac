//! `lifeboat schedule install|status|remove`.

use std::process::Command;

use anyhow::{Context, Result};
use nightly::schedule::{self, Invocation, Platform, UnitFile};

use crate::cli::ScheduleCommand;

fn home() -> std::path::PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| ".".into())
}

fn log_dir(config: Option<&std::path::Path>) -> std::path::PathBuf {
    config
        .and_then(|p| nightly::config::Config::load(p).ok())
        .or_else(|| nightly::config::Config::load(&nightly::config::default_path()).ok())
        .map(|c| c.log_dir())
        .unwrap_or_else(|| home().join(".local/state/lifeboat/logs"))
}

fn run_command(argv: &[String]) -> Result<()> {
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .status()
        .with_context(|| format!("cannot run {}", argv.join(" ")))?;
    anyhow::ensure!(status.success(), "{} failed ({status})", argv.join(" "));
    Ok(())
}

fn unit_files(
    platform: Platform,
    at: schedule::At,
    wait: String,
    config: Option<std::path::PathBuf>,
) -> Result<Vec<UnitFile>> {
    let exe = std::env::current_exe().context("cannot find lifeboat's own path")?;
    let config = config.map(|c| std::fs::canonicalize(&c).unwrap_or(c));
    let log_dir = log_dir(config.as_deref());
    Ok(schedule::files(
        platform,
        &Invocation { exe, config, wait },
        at,
        &home(),
        &log_dir,
    ))
}

pub fn run(command: ScheduleCommand) -> Result<()> {
    match command {
        ScheduleCommand::Install {
            at,
            wait,
            config,
            print,
            platform,
        } => {
            let platform = match platform.as_deref() {
                Some("macos") => Platform::MacOs,
                Some("windows") => Platform::Windows,
                Some(_) => Platform::Linux,
                None => Platform::current(),
            };
            let files = unit_files(platform, at, wait, config)?;
            let commands = schedule::commands(platform, true, &files);
            if print {
                for file in &files {
                    println!("# {}\n{}", file.path.display(), file.contents);
                }
                for argv in &commands {
                    println!("$ {}", argv.join(" "));
                }
                return Ok(());
            }
            for file in &files {
                if let Some(dir) = file.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&file.path, &file.contents)
                    .with_context(|| format!("writing {}", file.path.display()))?;
                println!("wrote {}", file.path.display());
            }
            for argv in &commands {
                run_command(argv)?;
            }
            println!("lifeboat will back up every day at {:02}:{:02}.", at.hour, at.minute);
            Ok(())
        }
        ScheduleCommand::Status { config } => {
            let platform = Platform::current();
            let at = "02:00".parse().map_err(anyhow::Error::msg)?;
            let files = unit_files(platform, at, "6h".into(), config.clone())?;
            let installed = files.iter().all(|f| f.path.exists());
            let time = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(&f.path).ok())
                .find_map(|contents| schedule::installed_time(platform, &contents));
            match (installed, time) {
                (true, Some(at)) => println!(
                    "schedule: installed; the next run is at {:02}:{:02} local time (and at wake-up if a night was missed)",
                    at.hour, at.minute
                ),
                (true, None) => println!("schedule: installed"),
                (false, _) => println!("schedule: not installed; `lifeboat schedule install --at 02:00` sets it up"),
            }
            for file in &files {
                println!(
                    "  {}{}",
                    file.path.display(),
                    if file.path.exists() { "" } else { " (missing)" }
                );
            }
            if installed && platform == Platform::Linux {
                let out = Command::new("systemctl")
                    .args(["--user", "list-timers", &format!("{}.timer", schedule::UNIT)])
                    .output();
                match out {
                    Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
                    _ => println!("  (systemctl --user is not available to show the next run)"),
                }
            }
            if let Ok(config) = crate::commands::nightly::load_config(config) {
                let file = nightly::status::load(&config.state_dir());
                for (udid, phone) in &file.phones {
                    if let Some(run) = &phone.last_run {
                        println!(
                            "last run for {} ({udid}): {} at {}",
                            phone.name,
                            run.outcome,
                            nightly::status::format_time(run.finished)
                        );
                    }
                }
            }
            Ok(())
        }
        ScheduleCommand::Remove => {
            let platform = Platform::current();
            let at = "02:00".parse().map_err(anyhow::Error::msg)?;
            let files = unit_files(platform, at, "6h".into(), None)?;
            for argv in schedule::commands(platform, false, &files) {
                if let Err(e) = run_command(&argv) {
                    eprintln!("lifeboat: warning: {e}");
                }
            }
            for file in &files {
                match std::fs::remove_file(&file.path) {
                    Ok(()) => println!("removed {}", file.path.display()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing {}", file.path.display())),
                }
            }
            Ok(())
        }
    }
}
