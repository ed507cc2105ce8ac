//! The services a simulated phone serves, by name. lockdownd starts only what is registered
//! here (anything else is `InvalidService`, docs/protocol.md §2.3), and the usbmuxd side
//! hands each connection to a started service's port to its [`Service::serve`].
//!
//! Adding a service is one file implementing [`Service`] and one line in
//! [`Registry::standard`] (or [`crate::FakeIphone::service`] for a test's own).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use usbmux::UsbmuxStream;

use crate::backup_agent::files::DeviceFiles;
use crate::config::PhoneConfig;
use crate::faults::{FaultModel, LinkedStream};
use crate::link::Link;
use crate::notification_proxy::Notifications;
use crate::phone::PhoneStats;
use crate::server::{Shared, lock};

/// A service the phone can start through lockdownd.
pub trait Service: Send + Sync {
    /// The name `StartService` asks for, such as `com.apple.afc`.
    fn name(&self) -> &'static str;

    /// Serves one connection until it ends. Runs on its own thread.
    fn serve(&self, stream: UsbmuxStream, context: ServiceContext);
}

/// What a service connection may know of its phone.
pub struct ServiceContext {
    udid: String,
    shared: Shared,
    config: PhoneConfig,
    stats: Arc<PhoneStats>,
    files: Arc<Mutex<DeviceFiles>>,
    notifications: Arc<Notifications>,
    sync_lock: Arc<Mutex<Option<u64>>>,
    /// lockdownd's values in the default domain.
    values: plist::Dictionary,
}

impl ServiceContext {
    /// The context for a connection to `udid`, if that phone exists.
    pub(crate) fn for_phone(shared: &Shared, udid: &str) -> Option<ServiceContext> {
        let mut state = lock(shared);
        let phone = state.phone_by_udid(udid)?;
        Some(ServiceContext {
            udid: udid.to_string(),
            config: phone.config.clone(),
            stats: phone.stats.clone(),
            files: phone.files.clone(),
            notifications: phone.notifications.clone(),
            sync_lock: phone.sync_lock.clone(),
            values: phone.values.default_domain.clone(),
            shared: shared.clone(),
        })
    }

    pub fn udid(&self) -> &str {
        &self.udid
    }

    /// The phone's configuration as it was when the connection opened.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// A lockdownd value of the default domain, as text.
    pub fn value(&self, key: &str) -> Option<String> {
        self.values
            .get(key)
            .and_then(plist::Value::as_string)
            .map(str::to_string)
    }

    /// Sets a value of lockdown's `com.apple.mobile.backup` domain: `WillEncrypt` after
    /// ChangePassword, the date of the last backup to a computer after one finishes.
    pub(crate) fn set_backup_value(&self, key: &str, value: plist::Value) {
        if let Some(phone) = lock(&self.shared).phone_by_udid(&self.udid) {
            phone.values.backup.insert(key.into(), value);
        }
    }

    /// What a backup of the phone copies.
    pub(crate) fn files(&self) -> Arc<Mutex<DeviceFiles>> {
        self.files.clone()
    }

    /// The phone's notification centre.
    pub(crate) fn notifications(&self) -> Arc<Notifications> {
        self.notifications.clone()
    }

    /// Who holds the sync lock file.
    pub(crate) fn sync_lock(&self) -> Arc<Mutex<Option<u64>>> {
        self.sync_lock.clone()
    }

    /// The phone's faults, counted in the file bytes its backups upload.
    pub(crate) fn backup_faults(&self) -> FaultModel {
        FaultModel::for_backup(self.config.faults.clone(), self.stats.clone())
    }

    /// Notes that a connection has `in_flight` requests read and not yet answered.
    pub(crate) fn note_in_flight(&self, in_flight: usize) {
        self.stats
            .afc_most_in_flight
            .fetch_max(in_flight, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn link(&self) -> Link {
        self.config.link
    }

    /// The phone's faults, counted in the phone's served bytes.
    pub fn faults(&self) -> FaultModel {
        FaultModel::new(self.config.faults.clone(), self.stats.clone())
    }

    /// Unplugs the phone: every connection to it is cut.
    pub fn detach(&self) {
        lock(&self.shared).detach(Some(&self.udid));
    }

    /// `stream` with this phone's link and fault models applied to what is written to it.
    pub fn linked<S: std::io::Read + std::io::Write>(&self, stream: S) -> LinkedStream<S> {
        let (shared, udid) = (self.shared.clone(), self.udid.clone());
        LinkedStream::new(
            stream,
            self.link(),
            self.faults(),
            Box::new(move || {
                lock(&shared).detach(Some(&udid));
            }),
        )
    }
}

/// Services by name.
#[derive(Default, Clone)]
pub struct Registry {
    services: BTreeMap<&'static str, Arc<dyn Service>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The services every simulated phone serves.
    pub fn standard() -> Registry {
        let mut registry = Registry::new();
        registry.register(crate::afcd::Afc);
        registry.register(crate::notification_proxy::NotificationProxy);
        registry.register(crate::backup_agent::MobileBackup2);
        registry.register(crate::installation_proxy::InstallationProxy);
        registry.register(crate::springboard::SpringBoard);
        registry
    }

    /// Adds `service`, replacing one of the same name.
    pub fn register(&mut self, service: impl Service + 'static) {
        self.services.insert(service.name(), Arc::new(service));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn Service>> {
        self.services.get(name).cloned()
    }

    pub fn serves(&self, name: &str) -> bool {
        self.services.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.services.keys().copied()
    }
}
