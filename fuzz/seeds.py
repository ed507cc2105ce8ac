#!/usr/bin/env python3
"""Writes the hand-made seeds of each fuzz target's corpus (fuzz/corpus/TARGET/seed-*):
well-formed messages as a phone and usbmuxd send them, for the fuzzer to mutate. The
inputs the fuzzer found worth keeping live beside them, minimised with `cargo fuzz cmin`."""

import plistlib
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(data)


def usbmux(tag, value, fmt=plistlib.FMT_XML):
    body = plistlib.dumps(value, fmt=fmt)
    return struct.pack("<IIII", 16 + len(body), 1, 8, tag) + body


def lockdown(value, fmt=plistlib.FMT_XML):
    body = plistlib.dumps(value, fmt=fmt)
    return struct.pack(">I", len(body)) + body


def afc(operation, packet, params=b"", data=b""):
    this = 40 + len(params)
    return b"CFA6LPAA" + struct.pack("<QQQQ", this + len(data), this, packet, operation) + params + data


attached = {
    "MessageType": "Attached", "DeviceID": 3,
    "Properties": {"ConnectionType": "USB", "DeviceID": 3, "LocationID": 0, "ProductID": 0x12A8,
                   "SerialNumber": "00008030-001A2B3C4D5E802E", "ConnectionSpeed": 480000000},
}
record = {
    "DeviceCertificate": b"-----BEGIN CERTIFICATE-----\n", "HostCertificate": b"x", "HostPrivateKey": b"k",
    "RootCertificate": b"r", "RootPrivateKey": b"rk", "HostID": "1A2B", "SystemBUID": "5C6D",
    "EscrowBag": b"\x00" * 8, "WiFiMACAddress": "aa:bb:cc:dd:ee:ff",
}
write("usbmux_message", "result", usbmux(1, {"MessageType": "Result", "Number": 0}))
write("usbmux_message", "attached", usbmux(0, attached))
write("usbmux_message", "detached", usbmux(0, {"MessageType": "Detached", "DeviceID": 3}))
write("usbmux_message", "device-list", usbmux(2, {"DeviceList": [attached]}))
write("usbmux_message", "pair-record", usbmux(3, {"PairRecordData": plistlib.dumps(record)}))
write("usbmux_message", "connect", usbmux(4, {"MessageType": "Connect", "DeviceID": 3, "PortNumber": 32498}))
write("usbmux_message", "two", usbmux(1, {"MessageType": "Result", "Number": 3}) + usbmux(0, attached))

write("lockdown_frame", "query-type", lockdown({"Request": "QueryType", "Type": "com.apple.mobile.lockdown"}))
write("lockdown_frame", "get-value", lockdown({"Request": "GetValue", "Key": "ProductVersion", "Value": "17.5.1"}))
write("lockdown_frame", "start-session", lockdown(
    {"Request": "StartSession", "SessionID": "ABCD", "EnableSessionSSL": True}))
write("lockdown_frame", "start-service", lockdown(
    {"Request": "StartService", "Service": "com.apple.afc", "Port": 49152, "EnableServiceSSL": False}))
write("lockdown_frame", "error", lockdown({"Request": "Pair", "Error": "PairingDialogResponsePending"}))
write("lockdown_frame", "binary", lockdown({"Request": "GetValue", "Value": {"a": [1, 2.5, b"x"]}},
                                          plistlib.FMT_BINARY))
write("lockdown_frame", "pair-record", plistlib.dumps(record, fmt=plistlib.FMT_BINARY))

write("afc_packet", "status", afc(0x01, 1, struct.pack("<Q", 0)))
write("afc_packet", "data", afc(0x02, 2, data=b"st_size\x0064\x00st_ifmt\x00S_IFDIR\x00"))
write("afc_packet", "open-result", afc(0x0E, 3, struct.pack("<Q", 5)))
write("afc_packet", "tell-result", afc(0x13, 4, struct.pack("<Q", 1024)))
write("afc_packet", "open", afc(0x0D, 5, struct.pack("<Q", 1) + b"/DCIM/100APPLE/IMG_0001.HEIC\x00"))
write("afc_packet", "read", afc(0x0F, 6, struct.pack("<QQ", 5, 1 << 20)))
write("afc_packet", "read-offset", afc(0x27, 7, struct.pack("<QQQ", 5, 4096, 8192)))
write("afc_packet", "rename", afc(0x18, 8, b"/a\x00/b\x00"))
write("afc_packet", "write", afc(0x10, 9, struct.pack("<Q", 5), b"hello"))

write("afc_file_info", "file", b"st_size\x003145728\x00st_blocks\x006144\x00st_nlink\x001\x00st_ifmt\x00S_IFREG"
      b"\x00st_mtime\x001523978415000000000\x00st_birthtime\x001523978415000000000\x00")
write("afc_file_info", "symlink", b"st_size\x0012\x00st_ifmt\x00S_IFLNK\x00LinkTarget\x00../../etc/passwd\x00")
write("afc_file_info", "device", b"Model\x00iPhone12,1\x00FSTotalBytes\x0063900340224\x00FSFreeBytes\x00"
      b"1000\x00FSBlockSize\x004096\x00")

write("afc_read_dir", "dcim", b".\x00..\x00100APPLE\x00101APPLE\x00.MISC\x00")
write("afc_read_dir", "files", b".\x00..\x00IMG_0001.HEIC\x00IMG_0001.MOV\x00IMG_E0001.JPG\x00IMG_0001.AAE\x00")

# afc_client: chunk and window choices, then one decision byte per reply (0 = honest).
write("afc_client", "honest", bytes([0, 7]))
write("afc_client", "small-chunks", bytes([1, 2]) + bytes(64))
write("afc_client", "each-lie", bytes([3, 3]) + bytes(range(9, 16)) * 4)

# devicelink_message: what a phone sends on com.apple.mobilebackup2 (docs/backup.md §1.5).
UDID = "00008110-001A2B3C4D5E6F70"
for name, message in [
    ("version", ["DLMessageVersionExchange", 400, 0]),
    ("ready", ["DLMessageDeviceReady"]),
    ("hello-response", ["DLMessageProcessMessage", {"MessageName": "Response", "ErrorCode": 0, "ProtocolVersion": 2.1}]),
    ("error-105", ["DLMessageProcessMessage", {"MessageName": "Response", "ErrorCode": 105,
                                               "ErrorDescription": "Insufficient free disk space (MBErrorDomain/105)"}]),
    ("download", ["DLMessageDownloadFiles", [f"{UDID}/Status.plist", f"{UDID}/Manifest.db"], {}, 0.5]),
    ("upload", ["DLMessageUploadFiles", {}, 10.0, 123456]),
    ("mkdir", ["DLMessageCreateDirectory", f"{UDID}/Snapshot/ab", {}, 1.0]),
    ("contents", ["DLContentsOfDirectory", f"{UDID}"]),
    ("move", ["DLMessageMoveItems", {f"{UDID}/Snapshot/ab/abcd": f"{UDID}/ab/abcd"}, {}, 95.0]),
    ("remove-files", ["DLMessageRemoveFiles", [f"{UDID}/Snapshot", "../../etc"], {}, 99.0]),
    ("copy", ["DLMessageCopyItem", f"{UDID}/a", "/etc/passwd"]),
    ("free", ["DLMessageGetFreeDiskSpace"]),
    ("purge", ["DLMessagePurgeDiskSpace", 2 << 30, 0]),
    ("disconnect", ["DLMessageDisconnect", "___EmptyParameterString___"]),
]:
    write("devicelink_message", name, lockdown(message, plistlib.FMT_BINARY))


def upload_file(device_name, path, body=None, error=None):
    out = struct.pack(">I", len(device_name)) + device_name + struct.pack(">I", len(path)) + path
    if error is not None:
        return out + struct.pack(">I", len(error) + 1) + b"\x0b" + error
    for i in range(0, len(body), 7):
        block = body[i:i + 7]
        out += struct.pack(">I", len(block) + 1) + b"\x0c" + block
    return out + struct.pack(">IB", 1, 0)


# upload_stream: the first byte picks the piece size the decoder is fed in.
write("upload_stream", "two-files", bytes([5]) + upload_file(b"/var/mobile/a", f"{UDID}/Snapshot/ab/abcd".encode(),
                                                             body=b"some bytes of a file")
      + upload_file(b"backup_manifest.db", f"{UDID}/Snapshot/ef/ef01".encode(), error=b"No such file")
      + struct.pack(">I", 0))
write("upload_stream", "huge-claims", bytes([64]) + struct.pack(">I", 1) + b"a" + struct.pack(">I", 1) + b"b"
      + struct.pack(">I", 0xFFFFFFFF) + b"\x0c" + b"xyz")


# usb_device_packets: the phone's side of the USB bulk endpoint (docs/usb-transport.md §3),
# big-endian headers: version packets have 8 bytes (protocol 0, length), the others 16
# (protocol, length, magic feedface, two sequence numbers), TCP ones (protocol 6) a 20-byte
# TCP header after that.
def mux_v2(protocol, payload, tcp=b"", send=1, recv=1):
    return struct.pack(">IIIHH", protocol, 16 + len(tcp) + len(payload), 0xFEEDFACE, send, recv) + tcp + payload


def tcp(source, destination, seq, ack, flags, window=0x200):
    return struct.pack(">HHIIBBHHH", source, destination, seq, ack, 5 << 4, flags, window, 0, 0)


version_reply = struct.pack(">IIIII", 0, 20, 2, 0, 0)
syn_ack = mux_v2(6, b"", tcp(62078, 1, 0, 1, 0x12))
data = mux_v2(6, struct.pack(">I", 8) + b"<plist/>", tcp(62078, 1, 1, 1, 0x10), send=2, recv=2)
write("usb_device_packets", "version-reply", version_reply)
write("usb_device_packets", "handshake-and-data", version_reply + syn_ack + data)
write("usb_device_packets", "reset", mux_v2(6, b"", tcp(62078, 1, 1, 1, 0x04)))
write("usb_device_packets", "control-error", mux_v2(1, b"\x03no such port"))
write("usb_device_packets", "wrong-size-version", bytes.fromhex("00000000 00000009 ff"))
write("usb_device_packets", "stray-bytes", bytes.fromhex("deadbeef") + version_reply)
