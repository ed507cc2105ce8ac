//! The README's "Try it without a phone" commands, run as written there (with the built
//! binaries in place of `cargo run`, a free port in place of 27015, and a temporary folder in
//! place of /tmp/lifeboat-try), so the first thing a newcomer runs keeps working.

#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The shell command in the fenced block after `<!-- try-it:NAME -->` in the README.
fn readme_command(name: &str) -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let marker = format!("<!-- try-it:{name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"))
        .1;
    let block = after.split_once("```sh\n").expect("a sh block").1;
    let command = block.split_once("```").expect("the block ends").0.trim();
    assert!(!command.contains('\n'), "one line: {command}");
    command.to_string()
}

fn binary(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_BIN_EXE_lifeboat")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built (cargo build -p {name})",
        path.display()
    );
    path
}

/// The README's command with the built binaries and a private folder in place.
fn as_built(command: &str, folder: &Path) -> String {
    let quote = |p: PathBuf| format!("'{}'", p.display());
    command
        .replace("cargo run -q -p fake-iphone --", &quote(binary("fake-iphone")))
        .replace("cargo run -q --", &quote(PathBuf::from(env!("CARGO_BIN_EXE_lifeboat"))))
        .replace("/tmp/lifeboat-try", &folder.display().to_string())
}

/// A shell in its own process group; dropped (also on a failed assertion), the whole group
/// is stopped, the simulated phone it started included.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--"])
            .arg(format!("-{}", self.0.id()))
            .status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_readme_try_it_commands_export_and_verify() {
    let home = Home::new();
    let folder = home.path().join("try");
    let phone_command = readme_command("phone");
    let export_command = readme_command("export");
    assert!(phone_command.contains("127.0.0.1:27015") && export_command.contains("127.0.0.1:27015"));

    let mut shell = Command::new("sh");
    home.apply(&mut shell);
    // Its own process group, so the phone the shell starts is stopped with it.
    std::os::unix::process::CommandExt::process_group(&mut shell, 0);
    let phone = shell
        .arg("-c")
        .arg(as_built(&phone_command, &folder).replace("127.0.0.1:27015", "127.0.0.1:0"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the README's phone command");
    let mut phone = Group(phone);
    // `make-library` says what it made; the phone then says where it listens.
    let mut lines = BufReader::new(phone.0.stdout.take().expect("stdout")).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the phone command ended before it was ready")
            .expect("read its output");
        if let Some(address) = line.strip_prefix("ready ") {
            break address.trim().to_string();
        }
    };

    let mut export = Command::new("sh");
    home.apply(&mut export);
    export
        .arg("-c")
        .arg(as_built(&export_command, &folder).replace("127.0.0.1:27015", &address));
    let out = run(&mut export, Duration::from_secs(120));
    drop(phone);
    assert_success(&out, "the README's export command");
    let said = text(&out.stdout);
    assert_contains(&said, "Copied");
    let copied = walkdir::WalkDir::new(folder.join("photos"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file() && !e.path().components().any(|c| c.as_os_str() == ".lifeboat"))
        .count();
    assert!(
        copied >= 25,
        "20 photos, 3 Live pairs and 2 videos at least: {copied} files\n{said}"
    );
}
