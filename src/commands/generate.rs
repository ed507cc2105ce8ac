//! Shell completions and the manual page, generated from the same clap definitions the
//! command line parses with, so neither can fall behind it.

use std::io::Write;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "lifeboat", &mut std::io::stdout());
    Ok(())
}

/// `lifeboat(1)`: the top-level page, with a section per command.
pub fn man() -> Result<()> {
    let command = Cli::command();
    let mut out = std::io::stdout().lock();
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(&mut out)?;
    page.render_name_section(&mut out)?;
    page.render_synopsis_section(&mut out)?;
    page.render_description_section(&mut out)?;
    page.render_options_section(&mut out)?;
    // Each command's own options, under its name.
    writeln!(out, ".SH COMMANDS")?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        writeln!(out, ".SS {}", roff_escape(sub.get_name()))?;
        if let Some(about) = sub.get_about() {
            writeln!(out, "{}", roff_escape(&about.to_string()))?;
        }
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(long), _) => format!("\\-\\-{}", roff_escape(long)),
                (None, Some(short)) => format!("\\-{short}"),
                (None, None) => roff_escape(&arg.get_id().to_string().to_uppercase()),
            };
            writeln!(out, ".TP\n\\fB{name}\\fR")?;
            if let Some(help) = arg.get_help() {
                writeln!(out, "{}", roff_escape(&help.to_string()))?;
            }
        }
    }
    page.render_version_section(&mut out)?;
    writeln!(
        out,
        ".SH EXIT STATUS\n0 done; 1 the operation failed or found a problem; 2 no phone, no usbmuxd, or nothing to work with."
    )?;
    Ok(())
}

/// Text as roff reads it: backslashes doubled, and no line starting with a control character.
fn roff_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('-', "\\-")
        .lines()
        .map(|line| {
            if line.starts_with(['.', '\'']) {
                format!("\\&{line}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
