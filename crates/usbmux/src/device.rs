//! A device as usbmuxd describes it in its `Attached` dictionary.

use plist::{Dictionary, Value};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionKind {
    Usb {
        /// Link speed in bit/s (480000000 for USB 2 high speed).
        speed: Option<u64>,
        product_id: Option<u32>,
        location_id: Option<u32>,
    },
    /// Wi-Fi sync; `address` is a raw sockaddr as the daemon sends it.
    Network {
        address: Vec<u8>,
    },
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// usbmuxd's handle for this attachment; changes on every re-plug.
    pub device_id: u32,
    /// The UDID (`SerialNumber` in usbmuxd's terms).
    pub udid: String,
    pub connection: ConnectionKind,
}

impl Device {
    pub fn is_usb(&self) -> bool {
        matches!(self.connection, ConnectionKind::Usb { .. })
    }

    pub fn connection_label(&self) -> &str {
        match &self.connection {
            ConnectionKind::Usb { .. } => "USB",
            ConnectionKind::Network { .. } => "Wi-Fi",
            ConnectionKind::Other(name) => name,
        }
    }

    /// Parses `{MessageType: Attached, DeviceID, Properties: {...}}`, as in `ListDevices`
    /// items and `Listen` events.
    pub fn from_attached_plist(d: &Dictionary) -> Result<Device> {
        let props = d
            .get("Properties")
            .and_then(Value::as_dictionary)
            .ok_or_else(|| Error::Protocol("Attached device without Properties".into()))?;
        let device_id = d
            .get("DeviceID")
            .or_else(|| props.get("DeviceID"))
            .and_then(Value::as_unsigned_integer)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| Error::Protocol("Attached device without DeviceID".into()))?;
        let udid = props
            .get("SerialNumber")
            .and_then(Value::as_string)
            .ok_or_else(|| Error::Protocol("Attached device without SerialNumber".into()))?
            .to_string();
        let uint = |key: &str| props.get(key).and_then(Value::as_unsigned_integer);
        let connection = match props.get("ConnectionType").and_then(Value::as_string) {
            Some("USB") => ConnectionKind::Usb {
                speed: uint("ConnectionSpeed"),
                product_id: uint("ProductID").and_then(|n| u32::try_from(n).ok()),
                location_id: uint("LocationID").and_then(|n| u32::try_from(n).ok()),
            },
            Some("Network") => ConnectionKind::Network {
                address: props
                    .get("NetworkAddress")
                    .and_then(Value::as_data)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default(),
            },
            Some(other) => ConnectionKind::Other(other.to_string()),
            None => {
                return Err(Error::Protocol("Attached device without ConnectionType".into()));
            }
        };
        Ok(Device {
            device_id,
            udid,
            connection,
        })
    }

    /// Builds the dictionary the daemon sends (usbmuxd `create_device_attached_plist`).
    pub fn to_attached_plist(&self) -> Value {
        let mut props = Dictionary::new();
        match &self.connection {
            ConnectionKind::Usb {
                speed,
                product_id,
                location_id,
            } => {
                props.insert("ConnectionSpeed".into(), speed.unwrap_or(480_000_000).into());
                props.insert("ConnectionType".into(), "USB".into());
                props.insert("DeviceID".into(), u64::from(self.device_id).into());
                props.insert("LocationID".into(), u64::from(location_id.unwrap_or(0)).into());
                props.insert("ProductID".into(), u64::from(product_id.unwrap_or(0x12a8)).into());
            }
            ConnectionKind::Network { address } => {
                props.insert("ConnectionType".into(), "Network".into());
                props.insert("DeviceID".into(), u64::from(self.device_id).into());
                props.insert("NetworkAddress".into(), Value::Data(address.clone()));
            }
            ConnectionKind::Other(name) => {
                props.insert("ConnectionType".into(), name.clone().into());
                props.insert("DeviceID".into(), u64::from(self.device_id).into());
            }
        }
        props.insert("SerialNumber".into(), self.udid.clone().into());
        let mut d = Dictionary::new();
        d.insert("DeviceID".into(), u64::from(self.device_id).into());
        d.insert("MessageType".into(), "Attached".into());
        d.insert("Properties".into(), Value::Dictionary(props));
        Value::Dictionary(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_round_trip() {
        let dev = Device {
            device_id: 3,
            udid: "00008030-001A2B3C4D5E6F70".into(),
            connection: ConnectionKind::Usb {
                speed: Some(480_000_000),
                product_id: Some(0x12a8),
                location_id: Some(0x1100),
            },
        };
        let Value::Dictionary(d) = dev.to_attached_plist() else {
            panic!()
        };
        assert_eq!(Device::from_attached_plist(&d).unwrap(), dev);
    }

    #[test]
    fn missing_keys_are_errors() {
        let mut d = Dictionary::new();
        assert!(Device::from_attached_plist(&d).is_err());
        let mut props = Dictionary::new();
        props.insert("SerialNumber".into(), "x".into());
        d.insert("Properties".into(), Value::Dictionary(props.clone()));
        d.insert("DeviceID".into(), 1u64.into());
        assert!(Device::from_attached_plist(&d).is_err(), "no ConnectionType");
        props.insert("ConnectionType".into(), "Network".into());
        d.insert("Properties".into(), Value::Dictionary(props));
        assert!(Device::from_attached_plist(&d).unwrap().connection_label() == "Wi-Fi");
    }
}
