//! The simulated BackupAgent driven by a minimal host written here with the shared codec:
//! what the real tools cannot safely be shown (uploads to hostile paths), the purge request
//! libimobiledevice 1.3.0 would never answer, and a stall mid-upload.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use fake_iphone::{BackupConfig, FakeIphone, Faults, PasscodePrompt, PhoneConfig, RunningFake};
use lockdown::codec::Format;
use lockdown::service::ServiceStream;
use lockdown::{LockdownClient, OpenOptions, wire};
use mobilebackup2::request::{Request, Response, SUPPORTED_VERSIONS};
use mobilebackup2::stream::{self, Decoder, Event};
use mobilebackup2::{DlMessage, StatusResponse};
use usbmux::{UsbmuxAddress, UsbmuxClient};

const UDID: &str = "00008110-001A2B3C4D5E6F70";

/// What the host saw of one backup.
#[derive(Debug, Default)]
struct Seen {
    /// Host path, and the file's length or the phone's error.
    uploads: Vec<(String, Result<usize, String>)>,
    purged: bool,
    last: Option<Response>,
}

fn start(backup: BackupConfig, faults: Faults) -> (RunningFake, tempfile::TempDir) {
    let media = tempfile::tempdir().expect("tempdir");
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).backup(backup).faults(faults))
        .start()
        .expect("start fake-iphone");
    (fake, media)
}

fn send(stream: &mut BufReader<ServiceStream>, message: &DlMessage) {
    wire::write_frame(stream.get_mut(), &message.encode(), Format::Binary).expect("send");
}

fn receive(stream: &mut BufReader<ServiceStream>) -> Result<DlMessage, String> {
    match wire::read_frame(stream, 64 << 20) {
        Ok(Some(value)) => DlMessage::decode(value).map_err(|e| e.to_string()),
        Ok(None) => Err("closed".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn status(stream: &mut BufReader<ServiceStream>, payload: Option<plist::Value>) {
    send(
        stream,
        &DlMessage::StatusResponse(StatusResponse {
            code: 0,
            description: None,
            payload,
        }),
    );
}

/// Reads one upload stream: each file's path and length, or the phone's error.
fn upload(stream: &mut BufReader<ServiceStream>, seen: &mut Seen) -> Result<(), String> {
    let mut decoder = Decoder::upload();
    let mut current: Option<(String, usize)> = None;
    while !decoder.is_done() {
        let available = stream.fill_buf().map_err(|e| e.to_string())?;
        if available.is_empty() {
            return Err("closed mid-stream".into());
        }
        let (used, event) = decoder.next(available).map_err(|e| e.to_string())?;
        match event {
            Some(Event::FileStart { path, .. }) => current = Some((path, 0)),
            Some(Event::Data(data)) => {
                if let Some((_, len)) = current.as_mut() {
                    *len += data.len();
                }
            }
            Some(Event::FileDone) => {
                if let Some((path, len)) = current.take() {
                    seen.uploads.push((path, Ok(len)));
                }
            }
            Some(Event::FileFailed { message, .. }) => {
                if let Some((path, _)) = current.take() {
                    seen.uploads.push((path, Err(message)));
                }
            }
            Some(Event::End) | None => {}
        }
        stream.consume(used);
    }
    Ok(())
}

/// Pairs, opens mobilebackup2, asks for a backup and answers the phone as a host with
/// `free` bytes free, until the final response or an error (a read timeout included).
fn back_up(fake: &RunningFake, free: u64, seen: &mut Seen) -> Result<(), String> {
    let mux = UsbmuxClient::new(UsbmuxAddress::parse(&fake.usbmux_address()).expect("address"));
    let device = mux
        .list_devices()
        .expect("devices")
        .into_iter()
        .next()
        .expect("one phone");
    let mut lockdown = LockdownClient::connect(&mux, &device).expect("lockdown");
    let buid = mux.read_buid().expect("buid");
    let record = lockdown
        .pair(&buid, "test-host", Duration::from_secs(10), |_| {})
        .expect("pair");
    let service = lockdown::service::open(
        &mux,
        &device,
        &record,
        "com.apple.mobilebackup2",
        OpenOptions::default().with_escrow_bag(),
    )
    .expect("mobilebackup2");
    if let ServiceStream::Plain(s) = &service {
        s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
    }
    let mut stream = BufReader::new(service);
    let Ok(DlMessage::VersionExchange { major, .. }) = receive(&mut stream) else {
        return Err("no version exchange".into());
    };
    send(&mut stream, &DlMessage::VersionsOk { major });
    assert_eq!(receive(&mut stream)?, DlMessage::DeviceReady);
    let hello = Request::Hello {
        versions: SUPPORTED_VERSIONS.to_vec(),
    };
    send(&mut stream, &DlMessage::ProcessMessage(hello.encode()));
    let Ok(DlMessage::ProcessMessage(reply)) = receive(&mut stream) else {
        return Err("no Hello response".into());
    };
    assert_eq!(Response::decode(&reply).and_then(|r| r.protocol_version), Some(2.1));
    let backup = Request::Backup {
        target: UDID.into(),
        source: None,
        force_full: true,
    };
    send(&mut stream, &DlMessage::ProcessMessage(backup.encode()));
    loop {
        match receive(&mut stream)? {
            DlMessage::DownloadFiles { .. } => {
                stream.get_mut().write_all(&stream::END).map_err(|e| e.to_string())?;
                status(&mut stream, None);
            }
            DlMessage::GetFreeDiskSpace => status(&mut stream, Some(plist::Value::Integer(free.into()))),
            DlMessage::PurgeDiskSpace { .. } => {
                seen.purged = true;
                send(
                    &mut stream,
                    &DlMessage::StatusResponse(StatusResponse::error(-1, "Operation not supported")),
                );
            }
            DlMessage::UploadFiles { .. } => {
                upload(&mut stream, seen)?;
                status(&mut stream, None);
            }
            DlMessage::ContentsOfDirectory { .. } => {
                status(&mut stream, Some(plist::Value::Dictionary(plist::Dictionary::new())))
            }
            DlMessage::ProcessMessage(last) => {
                seen.last = Response::decode(&last);
                return Ok(());
            }
            _ => status(&mut stream, None),
        }
    }
}

fn quick() -> BackupConfig {
    BackupConfig {
        files: 10,
        bytes: 200_000,
        passcode: PasscodePrompt::EnterAfter(Duration::ZERO),
        ..BackupConfig::default()
    }
}

#[test]
fn hostile_paths_and_an_error_block_are_sent_on_request() {
    let config = BackupConfig {
        hostile_paths: true,
        error_block: true,
        ..quick()
    };
    let (fake, _media) = start(config, Faults::default());
    let mut seen = Seen::default();
    back_up(&fake, u64::MAX / 2, &mut seen).expect("a whole backup");
    assert_eq!(seen.last.as_ref().map(|r| r.error_code), Some(0));
    let paths: Vec<&str> = seen.uploads.iter().map(|(p, _)| p.as_str()).collect();
    assert!(paths.iter().any(|p| p.contains("/../")), "{paths:?}");
    assert!(paths.iter().any(|p| p.starts_with('/')), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.rsplit('/').next().is_some_and(|n| n.len() > 255))
    );
    assert!(paths.iter().any(|p| p.chars().any(char::is_control)));
    assert!(
        seen.uploads
            .iter()
            .any(|(_, r)| r.as_ref().is_err_and(|e| e.contains("No such file"))),
        "a 0x0B block"
    );
    assert_eq!(fake.backup_bytes_served(None), 200_000);
}

#[test]
fn short_free_space_asks_to_purge_when_told_then_ends_in_105() {
    let config = BackupConfig {
        purge_disk_space: true,
        ..quick()
    };
    let (fake, _media) = start(config, Faults::default());
    let mut seen = Seen::default();
    back_up(&fake, 1_000, &mut seen).expect("a final response");
    assert!(seen.purged);
    let last = seen.last.expect("a response");
    assert_eq!(last.error_code, 105);
    assert!(last.description.unwrap_or_default().contains("MBErrorDomain/105"));
    assert!(seen.uploads.is_empty());
}

#[test]
fn a_stall_mid_upload_leaves_the_host_waiting_not_finished() {
    let faults = Faults {
        stall_after: Some(100_000),
        ..Faults::default()
    };
    let (fake, _media) = start(quick(), faults);
    let mut seen = Seen::default();
    let outcome = back_up(&fake, u64::MAX / 2, &mut seen);
    assert!(outcome.is_err(), "the host times out: {outcome:?}");
    assert!(seen.last.is_none());
    assert_eq!(fake.faults_fired(None), vec!["stall"]);
}

/// The link model applies to the backup service: every DeviceLink message waits out the
/// latency (a full backup sends over 500: the folders alone are 513).
#[test]
fn the_link_latency_applies_to_every_message() {
    let media = tempfile::tempdir().expect("tempdir");
    let link = fake_iphone::Link {
        latency: Duration::from_millis(5),
        bandwidth: None,
    };
    let fake = FakeIphone::new()
        .phone(PhoneConfig::new(UDID, media.path()).backup(quick()).link(link))
        .start()
        .expect("start fake-iphone");
    let mut seen = Seen::default();
    let started = std::time::Instant::now();
    back_up(&fake, u64::MAX / 2, &mut seen).expect("a whole backup");
    assert_eq!(seen.last.map(|r| r.error_code), Some(0));
    assert!(
        started.elapsed() >= Duration::from_millis(5 * 513),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn backup_change_some_changes_that_many_files_for_the_next_backup() {
    let (fake, _media) = start(quick(), Faults::default());
    let before = fake.backup_files(None);
    let reply = fake.control("backup-change-some 3");
    let after = fake.backup_files(None);
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(a, b)| a.read().expect("reads") != b.read().expect("reads"))
        .map(|(_, b)| b)
        .collect();
    assert_eq!(changed.len(), 3, "{reply}");
    let bytes: u64 = changed.iter().map(|f| f.size).sum();
    assert_eq!(reply, format!("ok backup-change-some 3 {bytes}"));
    assert!(fake.control("backup-change-some many").starts_with("error"));
}
