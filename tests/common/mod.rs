//! The test kit shared by the end-to-end tests: a simulated iPhone in-process, isolated
//! home folders, and running real programs (lifeboat, libimobiledevice, pymobiledevice3)
//! with a time limit; with
//! - [`presets`]: named photo libraries for the simulated phone,
//! - [`phone`]: starting the phone with a library and pairing a home ([`Phone`]),
//! - [`tree`]: walking folders and hashing what is in them,
//! - [`rng`]: seeded random numbers,
//! - [`backup_folder`]: `verify --json` of device backup folders, and copies to damage,
//! - [`sha`], and the checks every export must pass ([`manifest_rows_have_files`],
//!   [`sha256sum_check`]),
//! - [`peer`] and [`peers`] for the real programs a test needs, and the assertions
//!   [`assert_success`] and [`assert_contains`] on what programs printed.
#![allow(dead_code)]

pub mod backup_folder;
pub mod phone;
pub mod presets;
pub mod rng;
pub mod tree;

// Not every test uses these two.
#[allow(unused_imports)]
pub use phone::Phone;
#[allow(unused_imports)]
pub use rng::Rng;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_iphone::{FakeIphone, PhoneConfig, RunningFake, TrustState};
use sha2::{Digest, Sha256};

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

/// The programs a test needs, found as [`peer`] finds each; `None` (the test is skipped)
/// at the first that is missing.
pub fn peers<const N: usize>(programs: [&str; N]) -> Option<[PathBuf; N]> {
    let mut found = Vec::with_capacity(N);
    for program in programs {
        found.push(peer(program)?);
    }
    found.try_into().ok()
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

/// `haystack` (a program's output, say) contains `needle`; the failure shows all of it.
pub fn assert_contains(haystack: &str, needle: &str) {
    assert!(haystack.contains(needle), "{needle:?} is not in:\n{haystack}");
}

/// The strings of a JSON array; anything else fails the test.
pub fn json_strings(value: &serde_json::Value) -> Vec<&str> {
    let array = value.as_array().unwrap_or_else(|| panic!("not an array: {value}"));
    array
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v} in {value}")))
        .collect()
}

/// SHA-256 of `bytes`, in lowercase hex.
pub fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// SHA-256 of the file at `path`, in lowercase hex.
pub fn sha_file(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    sha(&bytes)
}

/// Every row of the manifest in `dest`, if it has one, names a file that is there with the
/// recorded hash; `what` starts the message of a failure. Returns the number of rows.
pub fn manifest_rows_have_files(dest: &Path, what: &str) -> usize {
    if !dest.join(".lifeboat/manifest.db").is_file() {
        return 0;
    }
    let manifest = transfer::manifest::Manifest::open(dest).unwrap();
    let rows = manifest.all().unwrap();
    for row in &rows {
        let bytes = std::fs::read(dest.join(&row.dest_path))
            .unwrap_or_else(|e| panic!("{what}: manifest row {} has no file: {e}", row.dest_path));
        assert_eq!(
            sha(&bytes),
            row.sha256,
            "{what}: {} differs from its row",
            row.dest_path
        );
    }
    rows.len()
}

/// `sha256sum -c --strict` in every folder of the export in `dest` that has a SHA256SUMS
/// file (each must pass; `what` starts the message of a failure). Returns the number of
/// files it found OK; 0 where sha256sum is not installed (outside CI).
pub fn sha256sum_check(dest: &Path, what: &str) -> usize {
    let Some(program) = peer("sha256sum") else { return 0 };
    let mut checked = 0;
    for dir in tree::export_dirs(dest) {
        if !dir.join("SHA256SUMS").is_file() {
            continue;
        }
        let out = run(
            Command::new(&program)
                .args(["-c", "--strict", "SHA256SUMS"])
                .current_dir(&dir),
            Duration::from_secs(60),
        );
        assert_success(&out, &format!("{what}: sha256sum -c in {}", dir.display()));
        checked += text(&out.stdout).lines().filter(|l| l.ends_with(": OK")).count();
    }
    checked
}
