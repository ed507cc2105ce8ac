//! The shell completions and the manual page come from the command line's own definitions:
//! bash parses the completion script and it completes commands; `man` renders the page.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

fn lifeboat_bare(args: &[&str]) -> std::process::Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_lifeboat")).args(args),
        Duration::from_secs(30),
    )
}

#[test]
fn bash_completion_parses_and_completes_commands() {
    let Some(bash) = peer("bash") else { return };
    let out = lifeboat_bare(&["completions", "bash"]);
    assert_success(&out, "completions bash");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lifeboat.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    assert_success(
        &run(Command::new(&bash).arg("-n").arg(&script), Duration::from_secs(30)),
        "bash -n",
    );
    let complete = |words: &str| {
        let probe = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; _lifeboat lifeboat \"${{COMP_WORDS[COMP_CWORD]}}\" \
             \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        );
        let out = run(Command::new(&bash).arg("-c").arg(probe), Duration::from_secs(30));
        assert_success(&out, &format!("completing {words:?}"));
        text(&out.stdout)
    };
    let commands = complete("lifeboat ex");
    assert!(commands.lines().any(|l| l == "export-photos"), "{commands}");
    let doctor = complete("lifeboat do");
    assert!(doctor.lines().any(|l| l == "doctor"), "{doctor}");
    let options = complete("lifeboat export-photos --la");
    assert!(options.lines().any(|l| l == "--layout"), "{options}");
    for shell in ["zsh", "fish", "powershell"] {
        let out = lifeboat_bare(&["completions", shell]);
        assert_success(&out, shell);
        assert!(text(&out.stdout).contains("export-photos"), "{shell}");
    }
}

#[test]
fn the_manual_page_renders() {
    let Some(man) = peer("man") else { return };
    let out = lifeboat_bare(&["man"]);
    assert_success(&out, "lifeboat man");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("lifeboat.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let rendered = run(
        Command::new(man)
            .arg("-l")
            .arg(&page)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"),
        Duration::from_secs(30),
    );
    assert_success(&rendered, "man -l");
    let shown = text(&rendered.stdout);
    for expected in ["lifeboat", "export-photos", "doctor", "EXIT STATUS", "--device-timeout"] {
        assert!(shown.contains(expected), "{expected:?} missing from the page:\n{shown}");
    }
    assert!(
        text(&rendered.stderr).trim().is_empty(),
        "warnings: {}",
        text(&rendered.stderr)
    );
}
