//! `lifeboat files`: look around the phone's media folder.

use anyhow::Result;
use usbmux::UsbmuxClient;

use crate::cli::FilesCommand;
use crate::connect;

pub fn run(mux: &UsbmuxClient, wanted: Option<&str>, command: FilesCommand) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    let mut afc = connect::afc(mux, &device)?;
    match command {
        FilesCommand::Ls { path, long } => {
            let names = afc.list_dir(&path)?;
            if !long {
                for name in names {
                    println!("{name}");
                }
                return Ok(());
            }
            let paths: Vec<String> = names
                .iter()
                .map(|n| format!("{}/{n}", path.trim_end_matches('/')))
                .collect();
            for (name, info) in names
                .iter()
                .zip(afc.file_infos(&paths, afc::client::DEFAULT_WINDOW)?)
            {
                match info {
                    Ok(info) => {
                        let kind = match info.kind {
                            afc::kv::FileKind::Directory => 'd',
                            afc::kv::FileKind::Symlink => 'l',
                            afc::kv::FileKind::File => '-',
                            afc::kv::FileKind::Other => '?',
                        };
                        println!("{kind} {:>12}  {}  {name}", info.size, date(info.mtime_ns));
                    }
                    Err(e) => eprintln!("lifeboat: {name}: {e}"),
                }
            }
            Ok(())
        }
        FilesCommand::Pull { .. } => anyhow::bail!("files pull is not available yet"),
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) for nanoseconds since 1970.
fn date(nanos: u64) -> String {
    let secs = (nanos / 1_000_000_000) as i64;
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::date(0), "1970-01-01 00:00");
        assert_eq!(super::date(1_523_978_415_000_000_000), "2018-04-17 15:20");
    }
}
