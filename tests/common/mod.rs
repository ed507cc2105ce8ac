//! Shared helpers for the end-to-end tests: a simulated iPhone in-process, isolated home
//! folders, and running real programs (lifeboat, libimobiledevice, pymobiledevice3) with a
//! time limit.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_iphone::{FakeIphone, PhoneConfig, RunningFake, TrustState};

pub const UDID: &str = "00008110-001A2B3C4D5E6F70";
pub const UDID2: &str = "00008030-000A1B2C3D4E5F60";

/// A simulator with one phone in `state`, serving an empty media folder.
pub fn fake_with(state: TrustState) -> (RunningFake, tempfile::TempDir) {
    let media = tempfile::tempdir().expect("tempdir");
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).name("Ada's iPhone").state(state))
        .start()
        .expect("start fake-iphone");
    (fake, media)
}

/// An isolated home: HOME and the XDG folders point inside it, so no test reads or writes
/// the real user's pair records.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn apply(&self, cmd: &mut Command) {
        let home = self.dir.path();
        cmd.env("HOME", home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env_remove("USBMUXD_SOCKET_ADDRESS");
    }

    /// lifeboat's own pair record folder under this home.
    pub fn lifeboat_records(&self) -> PathBuf {
        self.dir.path().join(".local/share/lifeboat/pair-records")
    }
}

/// Runs `cmd` with no stdin, killing it after `limit`.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the lifeboat binary against `fake` with an isolated home.
pub fn lifeboat(fake: &RunningFake, home: &Home, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.arg("--usbmux").arg(fake.usbmux_address()).args(args);
    run(&mut cmd, Duration::from_secs(60))
}

/// A program the interop tests need. Under CI (`LIFEBOAT_REQUIRE_PEERS=1`, set by `.ci/run`)
/// a missing one fails the test; elsewhere the test is skipped with a note.
pub fn peer(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // .ci/run installs pymobiledevice3 into this venv.
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin"));
    dirs.push(PathBuf::from("/usr/sbin"));
    if let Some(found) = dirs.iter().map(|d| d.join(program)).find(|p| p.is_file()) {
        return Some(found);
    }
    if std::env::var_os("LIFEBOAT_REQUIRE_PEERS").is_some() {
        panic!("{program} is required for this test (installed by .ci/run) but was not found");
    }
    eprintln!("skipping: {program} is not installed (run .ci/run to install it)");
    None
}

pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}
