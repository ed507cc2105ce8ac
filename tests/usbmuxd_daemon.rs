//! lifeboat's usbmux client against Debian's real usbmuxd daemon. The daemon has no option
//! for its socket path, so it runs in a private mount namespace where /run and
//! /var/lib/lockdown are our temporary folders: it creates its socket in ours, with no USB
//! devices present.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use usbmux::{UsbmuxAddress, UsbmuxClient};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn real_usbmuxd_lists_no_devices_and_gives_a_buid() {
    let Some([usbmuxd, unshare]) = peers(["usbmuxd", "unshare"]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let run_dir = root.path().join("run");
    let lockdown_dir = root.path().join("lockdown");
    std::fs::create_dir_all(&run_dir).unwrap();
    std::fs::create_dir_all(&lockdown_dir).unwrap();
    let script = format!(
        "mount --bind '{}' /run && mkdir -p /var/lib/lockdown && mount --bind '{}' /var/lib/lockdown && exec '{}' -f",
        run_dir.display(),
        lockdown_dir.display(),
        usbmuxd.display()
    );
    let child = Command::new(unshare)
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start usbmuxd");
    let mut daemon = Daemon(child);
    let socket = run_dir.join("usbmuxd");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        if let Ok(Some(status)) = daemon.0.try_wait() {
            let mut err = String::new();
            use std::io::Read;
            let _ = daemon.0.stderr.take().map(|mut e| e.read_to_string(&mut err));
            if std::env::var_os("LIFEBOAT_REQUIRE_PEERS").is_some() {
                panic!("usbmuxd exited with {status} before creating its socket: {err}");
            }
            eprintln!("skipping: usbmuxd could not start here ({status}): {err}");
            return;
        }
        assert!(Instant::now() < deadline, "usbmuxd did not create its socket");
        std::thread::sleep(Duration::from_millis(50));
    }

    let client = UsbmuxClient::new(UsbmuxAddress::Unix(socket.clone()));
    assert_eq!(client.list_devices().expect("ListDevices"), vec![]);
    let buid = client.read_buid().expect("ReadBUID");
    // usbmuxd makes an uppercase 8-4-4-4-12 UUID once and keeps it.
    assert_eq!(buid.len(), 36, "{buid}");
    assert!(
        buid.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase() || c == '-'),
        "{buid}"
    );
    assert_eq!(client.read_buid().unwrap(), buid);
    assert_eq!(client.read_pair_record(UDID).expect("ReadPairRecord"), None);
    // Listen starts with a Result and, with no phone, no events.
    let mut listener = client.listen().expect("Listen");
    assert_eq!(listener.next_event(Some(Duration::from_millis(300))).unwrap(), None);

    // The same through the lifeboat binary: no phone is a clear message and exit code 2.
    let home = Home::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    home.apply(&mut cmd);
    cmd.env("USBMUXD_SOCKET_ADDRESS", format!("UNIX:{}", socket.display()))
        .arg("devices");
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_contains(&text(&out.stderr), "No iPhone is connected");
}
