//! The nightly run, as each platform's scheduler wants it: a systemd user service and timer
//! (with `Persistent=true`, so a night the computer slept through runs at wake-up), a
//! launchd agent with `StartCalendarInterval`, or a Task Scheduler task.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Linux,
    MacOs,
    Windows,
}

impl Platform {
    pub fn current() -> Platform {
        if cfg!(target_os = "macos") {
            Platform::MacOs
        } else if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Linux
        }
    }
}

/// The time of day to run, local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub hour: u8,
    pub minute: u8,
}

impl std::str::FromStr for At {
    type Err = String;

    fn from_str(text: &str) -> Result<At, String> {
        let bad = || format!("{text:?} is not a time like 02:30");
        let (h, m) = text.split_once(':').ok_or_else(bad)?;
        let (hour, minute): (u8, u8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if hour > 23 || minute > 59 {
            return Err(bad());
        }
        Ok(At { hour, minute })
    }
}

/// What the scheduler runs.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub exe: PathBuf,
    pub config: Option<PathBuf>,
    /// How long each run waits for the phone, e.g. `6h`.
    pub wait: String,
}

impl Invocation {
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["nightly".to_string(), "--wait".to_string(), self.wait.clone()];
        if let Some(config) = &self.config {
            args.push("--config".into());
            args.push(config.display().to_string());
        }
        args
    }
}

pub const UNIT: &str = "lifeboat-backup";
pub const LAUNCHD_LABEL: &str = "org.lifeboat.backup";

/// A systemd command line word: quoted when it has spaces, `%` and `$` escaped.
fn systemd_word(word: &str) -> String {
    let escaped = word
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    if escaped.contains(char::is_whitespace) || escaped.is_empty() {
        format!("\"{escaped}\"")
    } else {
        escaped
    }
}

pub fn systemd_service(invocation: &Invocation) -> String {
    let mut command = vec![systemd_word(&invocation.exe.display().to_string())];
    command.extend(invocation.args().iter().map(|a| systemd_word(a)));
    format!(
        "[Unit]\nDescription=lifeboat: back the iPhone's photos up when it is plugged in\n\
         Documentation=man:lifeboat(1)\n\n\
         [Service]\nType=oneshot\nExecStart={}\nNice=10\nIOSchedulingClass=idle\n",
        command.join(" ")
    )
}

pub fn systemd_timer(at: At) -> String {
    format!(
        "[Unit]\nDescription=lifeboat: nightly iPhone photo backup\n\n\
         [Timer]\nOnCalendar=*-*-* {:02}:{:02}:00\nPersistent=true\nUnit={UNIT}.service\n\n\
         [Install]\nWantedBy=timers.target\n",
        at.hour, at.minute
    )
}

/// launchd runs agents with a minimal PATH; Homebrew's folders are added for notify commands.
pub fn launchd_plist(invocation: &Invocation, at: At, log_dir: &Path) -> String {
    use plist::{Dictionary, Value};
    let mut program = vec![Value::String(invocation.exe.display().to_string())];
    program.extend(invocation.args().into_iter().map(Value::String));
    let mut interval = Dictionary::new();
    interval.insert("Hour".into(), u64::from(at.hour).into());
    interval.insert("Minute".into(), u64::from(at.minute).into());
    let mut env = Dictionary::new();
    env.insert(
        "PATH".into(),
        "/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/bin:/opt/homebrew/bin".into(),
    );
    let mut d = Dictionary::new();
    d.insert("Label".into(), LAUNCHD_LABEL.into());
    d.insert("ProgramArguments".into(), Value::Array(program));
    d.insert("StartCalendarInterval".into(), Value::Dictionary(interval));
    d.insert("RunAtLoad".into(), false.into());
    d.insert("ProcessType".into(), "Background".into());
    d.insert("LowPriorityIO".into(), true.into());
    d.insert("EnvironmentVariables".into(), Value::Dictionary(env));
    d.insert(
        "StandardOutPath".into(),
        log_dir.join("launchd.out.log").display().to_string().into(),
    );
    d.insert(
        "StandardErrorPath".into(),
        log_dir.join("launchd.err.log").display().to_string().into(),
    );
    let mut out = Vec::new();
    // Writing a dictionary of plain values to memory cannot fail.
    let _ = Value::Dictionary(d).to_writer_xml(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// A Windows quoted argument: wrapped in quotes when it has spaces.
fn windows_arg(arg: &str) -> String {
    if arg.contains(char::is_whitespace) {
        format!("\"{arg}\"")
    } else {
        arg.to_string()
    }
}

/// Task Scheduler XML for `schtasks /Create /XML`; `StartWhenAvailable` catches up a missed
/// night, as `Persistent=true` does on Linux.
pub fn task_xml(invocation: &Invocation, at: At) -> String {
    let args: Vec<String> = invocation.args().iter().map(|a| windows_arg(a)).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>lifeboat: back the iPhone's photos up when it is plugged in</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2024-01-01T{:02}:{:02}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{}</Command>
      <Arguments>{}</Arguments>
    </Exec>
  </Actions>
</Task>
"#,
        at.hour,
        at.minute,
        xml_escape(&invocation.exe.display().to_string()),
        xml_escape(&args.join(" "))
    )
}

/// The time of day an installed schedule runs at, read back from its file.
pub fn installed_time(platform: Platform, contents: &str) -> Option<At> {
    let hh_mm = |text: &str| text.get(..5)?.parse::<At>().ok();
    match platform {
        Platform::Linux => contents
            .lines()
            .find_map(|l| l.strip_prefix("OnCalendar=*-*-* "))
            .and_then(hh_mm),
        Platform::Windows => {
            let start = contents.find("<StartBoundary>")? + "<StartBoundary>".len();
            contents.get(start..)?.split_once('T').and_then(|(_, time)| hh_mm(time))
        }
        Platform::MacOs => {
            let value = plist::Value::from_reader(std::io::Cursor::new(contents.as_bytes())).ok()?;
            let interval = value.as_dictionary()?.get("StartCalendarInterval")?.as_dictionary()?;
            let field = |key: &str| {
                interval
                    .get(key)?
                    .as_unsigned_integer()
                    .and_then(|n| u8::try_from(n).ok())
            };
            Some(At {
                hour: field("Hour")?,
                minute: field("Minute")?,
            })
        }
    }
}

/// A file the scheduler needs, and where it goes.
#[derive(Debug, Clone)]
pub struct UnitFile {
    pub path: PathBuf,
    pub contents: String,
}

/// The files for `platform`, under the user's own folders.
pub fn files(platform: Platform, invocation: &Invocation, at: At, home: &Path, log_dir: &Path) -> Vec<UnitFile> {
    match platform {
        Platform::Linux => {
            let dir = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| home.join(".config"))
                .join("systemd/user");
            vec![
                UnitFile {
                    path: dir.join(format!("{UNIT}.service")),
                    contents: systemd_service(invocation),
                },
                UnitFile {
                    path: dir.join(format!("{UNIT}.timer")),
                    contents: systemd_timer(at),
                },
            ]
        }
        Platform::MacOs => vec![UnitFile {
            path: home.join("Library/LaunchAgents").join(format!("{LAUNCHD_LABEL}.plist")),
            contents: launchd_plist(invocation, at, log_dir),
        }],
        Platform::Windows => vec![UnitFile {
            path: log_dir.parent().unwrap_or(log_dir).join(format!("{UNIT}.xml")),
            contents: task_xml(invocation, at),
        }],
    }
}

/// The commands that register (`install`) or unregister the files with the scheduler.
pub fn commands(platform: Platform, install: bool, files: &[UnitFile]) -> Vec<Vec<String>> {
    let s = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let first = files.first().map(|f| f.path.display().to_string()).unwrap_or_default();
    match (platform, install) {
        (Platform::Linux, true) => vec![
            s(&["systemctl", "--user", "daemon-reload"]),
            s(&["systemctl", "--user", "enable", "--now", &format!("{UNIT}.timer")]),
        ],
        (Platform::Linux, false) => vec![s(&[
            "systemctl",
            "--user",
            "disable",
            "--now",
            &format!("{UNIT}.timer"),
        ])],
        (Platform::MacOs, true) => vec![s(&["launchctl", "load", "-w", &first])],
        (Platform::MacOs, false) => vec![s(&["launchctl", "unload", "-w", &first])],
        (Platform::Windows, true) => vec![s(&["schtasks", "/Create", "/TN", UNIT, "/XML", &first, "/F"])],
        (Platform::Windows, false) => vec![s(&["schtasks", "/Delete", "/TN", UNIT, "/F"])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation() -> Invocation {
        Invocation {
            exe: "/opt/life boat/lifeboat".into(),
            config: None,
            wait: "6h".into(),
        }
    }

    #[test]
    fn times_and_quoting() {
        assert_eq!("02:30".parse::<At>(), Ok(At { hour: 2, minute: 30 }));
        assert!("24:00".parse::<At>().is_err() && "2".parse::<At>().is_err());
        assert!(systemd_service(&invocation()).contains("ExecStart=\"/opt/life boat/lifeboat\" nightly --wait 6h"));
        assert!(systemd_timer(At { hour: 2, minute: 5 }).contains("OnCalendar=*-*-* 02:05:00\nPersistent=true"));
        assert!(
            task_xml(&invocation(), At { hour: 3, minute: 0 }).contains("<Command>/opt/life boat/lifeboat</Command>")
        );
    }

    #[test]
    fn the_time_reads_back_from_each_platforms_file() {
        let at = At { hour: 4, minute: 45 };
        let dir = std::path::Path::new("/tmp");
        for platform in [Platform::Linux, Platform::MacOs, Platform::Windows] {
            let files = files(platform, &invocation(), at, dir, dir);
            let found = files.iter().find_map(|f| installed_time(platform, &f.contents));
            assert_eq!(found, Some(at), "{platform:?}");
        }
    }
}
