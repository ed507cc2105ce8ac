//! `Listen` without a daemon: the bus is looked at once a second and the differences are
//! reported as the daemon would report them, current phones first.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::UsbTransport;
use crate::device::Device;
use crate::error::Result;
use crate::message::Event;

/// How often the bus is looked at. Opening a phone takes longer than this anyway.
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct UsbListener {
    transport: UsbTransport,
    known: Vec<Device>,
    queue: VecDeque<Event>,
    next_look: Instant,
}

impl UsbListener {
    pub(crate) fn start(transport: UsbTransport) -> Result<UsbListener> {
        let known = transport.list_devices(None)?;
        Ok(UsbListener {
            queue: known.iter().cloned().map(Event::Attached).collect(),
            known,
            transport,
            next_look: Instant::now() + POLL,
        })
    }

    /// Every phone reported so far, detached: a daemon takes over from here.
    pub(crate) fn detach_all(&mut self) -> Vec<Event> {
        self.queue.clear();
        changes(&std::mem::take(&mut self.known), &[])
    }

    pub(crate) fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(event) = self.queue.pop_front() {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now < self.next_look {
                let wait = self.next_look - now;
                match deadline {
                    Some(d) if d <= now => return Ok(None),
                    Some(d) => std::thread::sleep(wait.min(d - now)),
                    None => std::thread::sleep(wait),
                }
                continue;
            }
            self.next_look = now + POLL;
            let current = self.transport.list_devices(None)?;
            self.queue.extend(changes(&self.known, &current));
            self.known = current;
        }
    }
}

/// What happened between two looks: a re-plugged phone has a new device id, so it is
/// detached and attached again, as with the daemon.
fn changes(before: &[Device], after: &[Device]) -> Vec<Event> {
    let gone = before
        .iter()
        .filter(|old| !after.iter().any(|new| new.device_id == old.device_id))
        .map(|old| Event::Detached {
            device_id: old.device_id,
        });
    let came = after
        .iter()
        .filter(|new| !before.iter().any(|old| old.device_id == new.device_id))
        .cloned()
        .map(Event::Attached);
    gone.chain(came).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::ConnectionKind;

    fn phone(device_id: u32) -> Device {
        Device {
            device_id,
            udid: format!("UDID-{device_id}"),
            connection: ConnectionKind::Usb {
                speed: None,
                product_id: Some(0x12a8),
                location_id: None,
            },
        }
    }

    #[test]
    fn differences_become_events() {
        assert!(changes(&[phone(1)], &[phone(1)]).is_empty());
        assert_eq!(changes(&[], &[phone(1)]), vec![Event::Attached(phone(1))]);
        assert_eq!(
            changes(&[phone(1)], &[phone(2)]),
            vec![Event::Detached { device_id: 1 }, Event::Attached(phone(2))]
        );
    }
}
