//! A pair record: what a computer keeps after the user tapped Trust. Certificates and keys
//! are plist data holding PEM text; `HostID` and `SystemBUID` are strings (docs/protocol.md §2.4).

use plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::message::key;

#[derive(Clone, PartialEq, Eq)]
pub struct PairRecord {
    pub device_certificate: Vec<u8>,
    pub host_certificate: Vec<u8>,
    pub host_private_key: Vec<u8>,
    pub root_certificate: Vec<u8>,
    pub root_private_key: Vec<u8>,
    pub host_id: String,
    pub system_buid: String,
    pub escrow_bag: Option<Vec<u8>>,
    pub wifi_mac_address: Option<String>,
    pub udid: Option<String>,
}

// Private keys never reach logs through Debug.
impl std::fmt::Debug for PairRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairRecord")
            .field("host_id", &self.host_id)
            .field("system_buid", &self.system_buid)
            .field("udid", &self.udid)
            .field("has_escrow_bag", &self.escrow_bag.is_some())
            .finish_non_exhaustive()
    }
}

impl PairRecord {
    /// Parses a stored record (XML or binary plist).
    pub fn from_bytes(bytes: &[u8]) -> Result<PairRecord> {
        let value = Value::from_reader(std::io::Cursor::new(bytes))
            .map_err(|e| Error::Protocol(format!("pair record is not a plist: {e}")))?;
        let dict = value
            .as_dictionary()
            .ok_or_else(|| Error::Protocol("pair record is not a dictionary".into()))?;
        PairRecord::from_dict(dict)
    }

    pub fn from_dict(d: &Dictionary) -> Result<PairRecord> {
        let data = |key: &str| -> Result<Vec<u8>> {
            match d.get(key) {
                Some(Value::Data(bytes)) => Ok(bytes.clone()),
                // Some writers store PEM as a string; accept it.
                Some(Value::String(text)) => Ok(text.as_bytes().to_vec()),
                _ => Err(Error::Protocol(format!("pair record has no {key}"))),
            }
        };
        let string = |key: &str| -> Result<String> {
            d.get(key)
                .and_then(Value::as_string)
                .map(str::to_string)
                .ok_or_else(|| Error::Protocol(format!("pair record has no {key}")))
        };
        Ok(PairRecord {
            device_certificate: data(key::DEVICE_CERTIFICATE)?,
            host_certificate: data(key::HOST_CERTIFICATE)?,
            host_private_key: data("HostPrivateKey")?,
            root_certificate: data(key::ROOT_CERTIFICATE)?,
            root_private_key: data("RootPrivateKey")?,
            host_id: string(key::HOST_ID)?,
            system_buid: string(key::SYSTEM_BUID)?,
            escrow_bag: d.get(key::ESCROW_BAG).and_then(Value::as_data).map(<[u8]>::to_vec),
            wifi_mac_address: d.get("WiFiMACAddress").and_then(Value::as_string).map(str::to_string),
            udid: d.get("UDID").and_then(Value::as_string).map(str::to_string),
        })
    }

    /// The full record, private keys included, for storage.
    pub fn to_dict(&self) -> Dictionary {
        let mut d = self.public_dict();
        d.insert("HostPrivateKey".into(), Value::Data(self.host_private_key.clone()));
        d.insert("RootPrivateKey".into(), Value::Data(self.root_private_key.clone()));
        if let Some(bag) = &self.escrow_bag {
            d.insert(key::ESCROW_BAG.into(), Value::Data(bag.clone()));
        }
        if let Some(udid) = &self.udid {
            d.insert("UDID".into(), udid.clone().into());
        }
        d
    }

    /// What goes in the `Pair` request: like libimobiledevice, no private keys leave the host.
    pub fn public_dict(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert(
            key::DEVICE_CERTIFICATE.into(),
            Value::Data(self.device_certificate.clone()),
        );
        d.insert(key::HOST_CERTIFICATE.into(), Value::Data(self.host_certificate.clone()));
        d.insert(key::HOST_ID.into(), self.host_id.clone().into());
        d.insert(key::ROOT_CERTIFICATE.into(), Value::Data(self.root_certificate.clone()));
        d.insert(key::SYSTEM_BUID.into(), self.system_buid.clone().into());
        if let Some(mac) = &self.wifi_mac_address {
            d.insert("WiFiMACAddress".into(), mac.clone().into());
        }
        d
    }

    /// Serialised for storage, as an XML plist (usbmuxd rewrites records as XML anyway).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        Value::Dictionary(self.to_dict())
            .to_writer_xml(&mut out)
            .expect("writing a plist to memory cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PairRecord {
        PairRecord {
            device_certificate: b"-----BEGIN CERTIFICATE-----\nA\n".to_vec(),
            host_certificate: b"H".to_vec(),
            host_private_key: b"secret-host".to_vec(),
            root_certificate: b"R".to_vec(),
            root_private_key: b"secret-root".to_vec(),
            host_id: "HOST".into(),
            system_buid: "BUID".into(),
            escrow_bag: Some(vec![1, 2, 3]),
            wifi_mac_address: Some("aa:bb:cc:dd:ee:ff".into()),
            udid: Some("U".into()),
        }
    }

    #[test]
    fn round_trip_and_secrets_stay_private() {
        let rec = sample();
        assert_eq!(PairRecord::from_bytes(&rec.to_bytes()).unwrap(), rec);
        let public = rec.public_dict();
        assert!(!public.contains_key("HostPrivateKey") && !public.contains_key("RootPrivateKey"));
        let debug = format!("{rec:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }

    #[test]
    fn incomplete_records_are_errors() {
        let mut d = sample().to_dict();
        d.remove("HostPrivateKey");
        assert!(PairRecord::from_dict(&d).is_err());
        assert!(PairRecord::from_bytes(b"not a plist").is_err());
    }
}
