//! Whether another program already holds a phone, read from sysfs before claiming it.
//!
//! rusbmux detaches whatever driver is bound to the phone's interfaces before claiming one,
//! and the kernel honours that even against another process's usbfs claim (gvfs-gphoto2, a
//! virtual machine's USB passthrough, usbmuxd): the phone would be taken from under it.
//! usbmuxd never does that, and neither does lifeboat: an interface bound to the `usbfs`
//! driver means a program holds it, and the user is told which one instead.

use std::path::Path;

/// Who holds the device at `sysfs` (its folder in `/sys/bus/usb/devices`) through its
/// device node `node`, or `None` when no interface of it is bound to `usbfs`, or only this
/// process holds it (a phone it let go of a moment ago). `proc` is where the processes are
/// listed (`/proc`).
pub(crate) fn usbfs_holder(sysfs: &Path, node: &str, proc: &Path) -> Option<String> {
    if !bound_to_usbfs(sysfs) {
        return None;
    }
    match process_holding(node, proc, std::process::id()) {
        Holding::Other(name, pid) => Some(format!("{name} (process {pid})")),
        Holding::OnlyUs => None,
        Holding::Unknown => Some("another program".into()),
    }
}

enum Holding {
    Other(String, u32),
    OnlyUs,
    Unknown,
}

/// Whether one of the device's interfaces (`1-2:1.0`, ...) has the `usbfs` driver: a
/// program claimed it through the device node.
fn bound_to_usbfs(sysfs: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(sysfs) else {
        return false;
    };
    entries.flatten().any(|entry| {
        entry.file_name().to_string_lossy().contains(':')
            && std::fs::read_link(entry.path().join("driver"))
                .is_ok_and(|driver| driver.file_name().is_some_and(|name| name == "usbfs"))
    })
}

/// The first other process with `node` open, when its file descriptors are readable (ours,
/// or everyone's for root).
fn process_holding(node: &str, proc: &Path, own: u32) -> Holding {
    let holds = |pid_dir: &Path| {
        std::fs::read_dir(pid_dir.join("fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == Path::new(node)))
        })
    };
    let Ok(entries) = std::fs::read_dir(proc) else {
        return Holding::Unknown;
    };
    let mut we_hold_it = false;
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if !holds(&entry.path()) {
            continue;
        }
        if pid == own {
            we_hold_it = true;
            continue;
        }
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        return Holding::Other(name.trim().to_string(), pid);
    }
    if we_hold_it { Holding::OnlyUs } else { Holding::Unknown }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const NODE: &str = "/dev/bus/usb/001/004";

    /// A device folder whose interface 1 is bound to `driver`.
    fn device_with_driver(root: &Path, driver: &str) -> std::path::PathBuf {
        let device = root.join("sys/1-2");
        std::fs::create_dir_all(device.join("1-2:1.0")).unwrap();
        std::fs::create_dir_all(device.join("1-2:1.1")).unwrap();
        std::fs::create_dir_all(root.join("drivers").join(driver)).unwrap();
        symlink(root.join("drivers").join(driver), device.join("1-2:1.1/driver")).unwrap();
        device
    }

    fn process(proc: &Path, pid: u32, name: &str, open: &str) {
        let fd = proc.join(pid.to_string()).join("fd");
        std::fs::create_dir_all(&fd).unwrap();
        std::fs::write(proc.join(pid.to_string()).join("comm"), format!("{name}\n")).unwrap();
        symlink("/dev/null", fd.join("0")).unwrap();
        symlink(open, fd.join("7")).unwrap();
    }

    #[test]
    fn an_interface_bound_to_usbfs_names_the_process_holding_the_node() {
        let root = tempfile::tempdir().unwrap();
        let device = device_with_driver(root.path(), "usbfs");
        let proc = root.path().join("proc");
        process(&proc, 4242, "other-tool", "/dev/bus/usb/001/009");
        process(&proc, 4321, "gvfs-gphoto2-vo", NODE);
        assert_eq!(
            usbfs_holder(&device, NODE, &proc).as_deref(),
            Some("gvfs-gphoto2-vo (process 4321)")
        );
    }

    #[test]
    fn a_holder_whose_files_are_unreadable_is_another_program() {
        let root = tempfile::tempdir().unwrap();
        let device = device_with_driver(root.path(), "usbfs");
        let proc = root.path().join("proc");
        process(&proc, 4242, "other-tool", "/dev/bus/usb/001/009");
        assert_eq!(usbfs_holder(&device, NODE, &proc).as_deref(), Some("another program"));
    }

    #[test]
    fn a_phone_only_this_process_holds_is_not_held_by_another() {
        let root = tempfile::tempdir().unwrap();
        let device = device_with_driver(root.path(), "usbfs");
        let proc = root.path().join("proc");
        process(&proc, std::process::id(), "lifeboat", NODE);
        assert_eq!(usbfs_holder(&device, NODE, &proc), None);
    }

    #[test]
    fn kernel_drivers_and_no_driver_are_free_to_claim() {
        let root = tempfile::tempdir().unwrap();
        // ipheth (tethering) is a kernel driver: usbmuxd and rusbmux both work beside it.
        let device = device_with_driver(root.path(), "ipheth");
        assert_eq!(usbfs_holder(&device, NODE, &root.path().join("proc")), None);
        assert_eq!(
            usbfs_holder(&root.path().join("gone"), NODE, &root.path().join("proc")),
            None
        );
    }
}
