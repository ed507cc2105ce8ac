//! Nightly backups: the scheduler files each platform accepts, and `lifeboat nightly` when
//! no phone comes, when one is plugged in later, when another run holds the destination,
//! and when the phone does not trust this computer.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use fake_iphone::library::LibrarySpec;
use nightly::schedule::{self, At, Invocation};

fn invocation() -> Invocation {
    Invocation {
        exe: env!("CARGO_BIN_EXE_lifeboat").into(),
        config: Some("/etc/lifeboat test/config.toml".into()),
        wait: "6h".into(),
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let Some(analyze) = peer("systemd-analyze") else { return };
    let dir = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let at = At { hour: 2, minute: 30 };
    let files = schedule::files(schedule::Platform::Linux, &invocation(), at, dir.path(), dir.path());
    let mut paths = Vec::new();
    for file in &files {
        let path = dir.path().join(file.path.file_name().unwrap());
        std::fs::write(&path, &file.contents).unwrap();
        paths.push(path);
    }
    // The units' Documentation= is man:lifeboat(1), which systemd-analyze looks up: the page
    // `lifeboat man` prints is put where man finds it.
    let man = dir.path().join("man");
    std::fs::create_dir_all(man.join("man1")).unwrap();
    let page = run(
        Command::new(env!("CARGO_BIN_EXE_lifeboat")).arg("man"),
        Duration::from_secs(30),
    );
    assert_success(&page, "lifeboat man");
    std::fs::write(man.join("man1/lifeboat.1"), &page.stdout).unwrap();
    let mut cmd = Command::new(analyze);
    cmd.env("XDG_RUNTIME_DIR", runtime.path())
        .env("MANPATH", &man)
        .arg("verify")
        .arg("--user")
        .args(&paths);
    let out = run(&mut cmd, Duration::from_secs(60));
    assert_success(&out, "systemd-analyze verify");
    assert!(
        text(&out.stderr).trim().is_empty(),
        "no warnings: {}",
        text(&out.stderr)
    );
    let timer = &files[1].contents;
    assert!(
        timer.contains("OnCalendar=*-*-* 02:30:00") && timer.contains("Persistent=true"),
        "{timer}"
    );

    // The CLI prints the same files without touching anything.
    let home = Home::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.args(["schedule", "install", "--print", "--platform", "linux", "--at", "02:30"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_success(&out, "schedule install --print");
    assert!(
        text(&out.stdout).contains("lifeboat-backup.timer")
            && text(&out.stdout).contains("systemctl --user enable --now")
    );
    assert!(!home.path().join(".config/systemd").exists(), "--print writes nothing");
}

#[test]
fn launchd_plist_and_task_xml_are_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let at = At { hour: 3, minute: 15 };
    let plist_file = &schedule::files(schedule::Platform::MacOs, &invocation(), at, dir.path(), dir.path())[0];
    let path = dir.path().join("agent.plist");
    std::fs::write(&path, &plist_file.contents).unwrap();
    if let Some(plistutil) = peer("plistutil") {
        let out = run(
            Command::new(plistutil)
                .arg("-i")
                .arg(&path)
                .arg("-o")
                .arg(dir.path().join("agent.bin")),
            Duration::from_secs(30),
        );
        assert_success(&out, "plistutil");
    }
    let value = plist::Value::from_file(&path).unwrap();
    let d = value.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some(schedule::LAUNCHD_LABEL));
    let args: Vec<&str> = d["ProgramArguments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_string())
        .collect();
    assert_eq!(
        args,
        vec![
            env!("CARGO_BIN_EXE_lifeboat"),
            "nightly",
            "--wait",
            "6h",
            "--config",
            "/etc/lifeboat test/config.toml"
        ]
    );
    let interval = d["StartCalendarInterval"].as_dictionary().unwrap();
    assert_eq!(
        (
            interval["Hour"].as_unsigned_integer(),
            interval["Minute"].as_unsigned_integer()
        ),
        (Some(3), Some(15))
    );

    let xml = &schedule::files(schedule::Platform::Windows, &invocation(), at, dir.path(), dir.path())[0].contents;
    let path = dir.path().join("task.xml");
    std::fs::write(&path, xml).unwrap();
    if let Some(xmllint) = peer("xmllint") {
        assert_success(
            &run(Command::new(xmllint).arg("--noout").arg(&path), Duration::from_secs(30)),
            "xmllint",
        );
    }
    assert!(
        xml.contains(&format!("<Command>{}</Command>", env!("CARGO_BIN_EXE_lifeboat"))),
        "{xml}"
    );
    assert_contains(
        xml,
        "<Arguments>nightly --wait 6h --config &quot;/etc/lifeboat test/config.toml&quot;</Arguments>",
    );
    assert!(
        xml.contains("<StartBoundary>2024-01-01T03:15:00</StartBoundary>")
            && xml.contains("<StartWhenAvailable>true</StartWhenAvailable>")
    );
}

struct Night {
    phone: Phone,
    config: std::path::PathBuf,
    dest: tempfile::TempDir,
    notified: std::path::PathBuf,
}

fn night(paired: bool) -> Night {
    night_with("17.5", paired, "")
}

/// A night with the phone on iOS `ios` and `extra` at the top of the configuration.
fn night_with(ios: &str, paired: bool, extra: &str) -> Night {
    let spec = LibrarySpec {
        live: 1,
        ..presets::photos_only(ios, 6)
    };
    let phone = Phone::start(spec, |c| c.name("Ada's iPhone").ios(ios));
    if paired {
        phone.pair();
    }
    let home = &phone.home;
    let dest = tempfile::tempdir().unwrap();
    let notified = home.path().join("notified.json");
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "{extra}\nnotify_command = \"cat > '{}'\"\nverify_sample_percent = 50\nstate_dir = '{}'\n\n[[phone]]\nudid = \"{UDID}\"\nname = \"Ada\"\ndestination = '{}'\n",
            notified.display(),
            home.path().join("state").display(),
            dest.path().display()
        ),
    )
    .unwrap();
    Night {
        phone,
        config,
        dest,
        notified,
    }
}

fn backup(night: &Night, wait: &str) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let out = night
        .phone
        .lifeboat(&["nightly", "--config", night.config.to_str().unwrap(), "--wait", wait]);
    (out, started.elapsed())
}

fn last_log(night: &Night) -> String {
    let logs = night.phone.home.path().join("state/logs");
    let mut files: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    std::fs::read_to_string(files.last().unwrap()).unwrap()
}

fn status_json(night: &Night) -> serde_json::Value {
    let out = night
        .phone
        .lifeboat(&["status", "--json", "--config", night.config.to_str().unwrap()]);
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_night_without_the_phone_is_normal() {
    let night = night(true);
    assert!(night.phone.fake.detach(None));
    let (out, took) = backup(&night, "2s");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(20), "returned within the wait: {took:?}");
    assert!(last_log(&night).contains("no configured iPhone was connected"));
    let notified: serde_json::Value = serde_json::from_slice(&std::fs::read(&night.notified).unwrap()).unwrap();
    assert_eq!(notified["outcome"], "no-phone");
    assert!(status_json(&night)["last_empty_night"].is_i64());
}

#[test]
fn a_phone_plugged_in_later_is_backed_up_and_verified() {
    let night = night(true);
    assert!(night.phone.fake.detach(None));
    let fake = &night.phone.fake;
    let (out, _) = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1500));
            fake.attach(None);
        });
        backup(&night, "60s")
    });
    assert_success(&out, "nightly");
    let exported = std::fs::read_dir(night.dest.path().join("2019/01")).unwrap().count();
    assert_eq!(exported, 9, "6 photos, a Live pair and SHA256SUMS");
    let notified: serde_json::Value = serde_json::from_slice(&std::fs::read(&night.notified).unwrap()).unwrap();
    assert_eq!(notified["outcome"], "ok");
    assert_eq!(notified["phone"], "Ada");
    assert_eq!(notified["run"]["copied"], 8);
    assert_eq!(notified["run"]["verified"], 4, "a 50% sample of 8 files");
    let status = status_json(&night);
    assert!(status["phones"][UDID]["last_success"].is_i64());
    let human = night
        .phone
        .lifeboat(&["status", "--config", night.config.to_str().unwrap()]);
    assert_success(&human, "status");
    assert_contains(&text(&human.stdout), "Ada: last backed up");
    // The next night copies nothing.
    let (out, _) = backup(&night, "30s");
    assert_success(&out, "second night");
    let notified: serde_json::Value = serde_json::from_slice(&std::fs::read(&night.notified).unwrap()).unwrap();
    assert_eq!(notified["run"]["copied"], 0);
    assert_eq!(notified["run"]["already_there"], 8);
}

#[test]
fn the_night_makes_the_due_full_backup_itself_before_ios_16_1_and_says_what_to_run_after() {
    for (ios, makes) in [("15.7", true), ("17.5", false)] {
        let devices = tempfile::tempdir().unwrap();
        let extra = format!(
            "full_backup_every_days = 7\nbackup_destination = '{}'",
            devices.path().display()
        );
        let night = night_with(ios, true, &extra);
        let (out, _) = backup(&night, "30s");
        assert_success(&out, &format!("nightly on iOS {ios}"));
        let notified: serde_json::Value = serde_json::from_slice(&std::fs::read(&night.notified).unwrap()).unwrap();
        let folder = devices.path().join(UDID);
        let log = last_log(&night);
        if makes {
            let version = notified["full_backup"]["made"]
                .as_str()
                .unwrap_or_else(|| panic!("{notified:#}\n{log}"));
            assert!(folder.join("Manifest.db").is_file() && folder.join("Status.plist").is_file());
            assert_contains(&log, &format!("full device backup made: version {version}"));
            let status = status_json(&night);
            assert!(status["phones"][UDID]["last_full_backup"].is_i64(), "{status:#}");
            // The next night: not due again.
            let (out, _) = backup(&night, "30s");
            assert_success(&out, "the next night");
            let notified: serde_json::Value = serde_json::from_slice(&std::fs::read(&night.notified).unwrap()).unwrap();
            assert!(notified.get("full_backup").is_none(), "{notified:#}");
        } else {
            let why = notified["full_backup"]["skipped"]
                .as_str()
                .unwrap_or_else(|| panic!("{notified:#}"));
            assert_contains(why, "asks for its passcode");
            assert_contains(why, "lifeboat backup --full");
            assert!(!folder.exists(), "no backup without the passcode");
        }
    }
}

#[test]
fn a_run_holding_the_destination_makes_the_next_skip_and_say_so() {
    let night = night(true);
    let held = transfer::photos::export::lock_destination(night.dest.path()).unwrap();
    let (out, _) = backup(&night, "30s");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(last_log(&night).contains("another backup into"), "{}", last_log(&night));
    assert_eq!(status_json(&night)["phones"][UDID]["last_run"]["outcome"], "busy");
    drop(held);
}

#[test]
fn an_untrusted_phone_gets_one_clear_line() {
    let night = night(false);
    let (out, _) = backup(&night, "30s");
    assert_eq!(out.status.code(), Some(1));
    let log = last_log(&night);
    assert!(log.contains("not paired") && log.contains("lifeboat pair"), "{log}");
    assert!(!log.contains("panicked") && !log.contains("RUST_BACKTRACE"));
    let errors = &status_json(&night)["phones"][UDID]["last_run"]["errors"];
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{errors}");
}

#[test]
fn a_phone_locked_since_boot_gets_one_clear_line() {
    let night = night(true);
    assert!(night.phone.fake.set_locked(None, true));
    let (out, _) = backup(&night, "30s");
    assert_eq!(out.status.code(), Some(1));
    let errors = status_json(&night)["phones"][UDID]["last_run"]["errors"].clone();
    assert_eq!(errors.as_array().map(Vec::len), Some(1), "{errors}");
    assert!(
        errors[0].as_str().unwrap().contains("locked since it was switched on"),
        "{errors}"
    );
    assert!(last_log(&night).contains("unlock it once"));
}

#[test]
fn schedule_status_reads_the_installed_time() {
    let home = Home::new();
    let status = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        home.apply(&mut cmd);
        cmd.args(["schedule", "status"]);
        run(&mut cmd, Duration::from_secs(30))
    };
    let out = status();
    assert_success(&out, "schedule status");
    assert_contains(&text(&out.stdout), "not installed");
    // Installed by hand here, as `schedule install` would write them (it also runs systemctl).
    let units = home.path().join(".config/systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    std::fs::write(
        units.join("lifeboat-backup.service"),
        schedule::systemd_service(&invocation()),
    )
    .unwrap();
    std::fs::write(
        units.join("lifeboat-backup.timer"),
        schedule::systemd_timer(At { hour: 2, minute: 30 }),
    )
    .unwrap();
    let out = status();
    assert_success(&out, "schedule status");
    assert_contains(&text(&out.stdout), "next run is at 02:30");
}

#[test]
fn the_nightly_run_gives_up_on_a_stalled_phone_after_the_device_timeout() {
    let night = night(true);
    // The phone stops answering once some file bytes have gone out; the connection stays open.
    assert!(night.phone.fake.arm(
        None,
        fake_iphone::Faults {
            stall_after: Some(50_000),
            ..Default::default()
        }
    ));
    let started = Instant::now();
    let out = lifeboat(
        &night.phone.fake,
        &night.phone.home,
        &[
            "--device-timeout",
            "2",
            "nightly",
            "--config",
            night.config.to_str().unwrap(),
            "--wait",
            "20s",
        ],
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(night.phone.fake.faults_fired(None), vec!["stall"]);
    let log = last_log(&night);
    assert!(log.contains("stopped answering"), "{log}");
    assert!(log.contains("2s"), "the log names the timeout given: {log}");
    // Without the option the run would wait 30 s for the phone.
    assert!(took < Duration::from_secs(20), "gave up after {took:?}");
}

#[test]
fn status_and_schedule_need_no_usbmuxd() {
    let night = night(false);
    let with_bad_address = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        night.phone.home.apply(&mut cmd);
        cmd.env("USBMUXD_SOCKET_ADDRESS", "nonsense").args(args);
        run(&mut cmd, Duration::from_secs(30))
    };
    let status = with_bad_address(&["status", "--config", night.config.to_str().unwrap()]);
    // Never backed up is worth exit 1; what matters is that the status was read and told.
    assert!(
        text(&status.stdout).contains("Ada: never backed up"),
        "{}",
        text(&status.stdout)
    );
    assert_eq!(status.status.code(), Some(1), "{}", text(&status.stderr));
    assert!(!text(&status.stderr).contains("nonsense"), "{}", text(&status.stderr));
    assert_success(&with_bad_address(&["schedule", "status"]), "schedule status");
    // A command that talks to a phone still says what is wrong with the address.
    let out = with_bad_address(&["devices"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nonsense"), "{}", text(&out.stderr));
}
