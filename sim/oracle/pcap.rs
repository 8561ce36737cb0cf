//! tcpdump's classic pcap files (`-w`), read back: little- or big-endian, micro- or
//! nanosecond magic, Ethernet or Raw IP link types. Errors name the file and the offset.

use std::path::Path;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct Record {
    /// Capture time in nanoseconds since the epoch (the host clock; never compared).
    pub ts_ns: u64,
    pub data: Vec<u8>,
}

/// A pcap file: its link type and records.
#[derive(Clone, Debug)]
pub struct Pcap {
    /// LINKTYPE_ETHERNET (1) or LINKTYPE_RAW (101), ...
    pub link_type: u32,
    pub records: Vec<Record>,
}

/// Parses a classic pcap file's bytes.
pub fn parse(b: &[u8]) -> Result<Pcap, String> {
    if b.len() < 24 {
        return Err("shorter than the pcap global header".into());
    }
    let magic = [b[0], b[1], b[2], b[3]];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Err(format!("not a pcap file (magic {magic:02x?})")),
    };
    let u32_at = |at: usize| -> u32 {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let link_type = u32_at(20);
    let mut records = Vec::new();
    let mut at = 24;
    while at < b.len() {
        if at + 16 > b.len() {
            return Err(format!("truncated record header at {at}"));
        }
        let (sec, frac) = (u64::from(u32_at(at)), u64::from(u32_at(at + 4)));
        let incl = u32_at(at + 8) as usize;
        if at + 16 + incl > b.len() {
            return Err(format!("truncated record at {at}"));
        }
        let ts_ns = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        records.push(Record {
            ts_ns,
            data: b[at + 16..at + 16 + incl].to_vec(),
        });
        at += 16 + incl;
    }
    Ok(Pcap { link_type, records })
}

/// Reads a pcap file.
pub fn read(path: &Path) -> Result<Pcap, String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&b).map_err(|e| format!("{}: {e}", path.display()))
}
