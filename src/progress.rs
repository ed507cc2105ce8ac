//! Progress bars, shown only when standard error is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `bytes` of `files` files: bytes, rate and time left.
pub fn transfer_bar(files: u64, bytes: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(bytes);
    let style = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("{files} files"));
    Some(bar)
}

/// A bar for a device backup: the device's overall progress (in tenths of a percent) with
/// time left, and bytes, files and rate in its message.
pub fn backup_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(1000);
    let style = ProgressStyle::with_template("{bar:30} {percent}% ETA {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}
