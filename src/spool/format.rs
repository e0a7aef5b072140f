//! The spool's file format.
//!
//! A segment file is a 16-byte header — magic `SEGSPOOL`, format version
//! (u32 LE), fingerprint of the destination (u32 LE) — followed by records:
//! body length (u32 LE), CRC32 of the body (u32 LE), body. A body is a tag
//! byte and then either a message — seq (u64 LE), call kind (u8), time
//! accepted (unix ms, i64 LE), the messageId it is given (16 bytes), its JSON
//! as the caller gave it — or an ack (first seq, last seq: the messages in that range are
//! settled). Files are only appended to, so a crash can leave at most a torn
//! last record; reading stops at the first record that does not check out.

pub const MAGIC: &[u8; 8] = b"SEGSPOOL";
pub const VERSION: u32 = 1;
pub const HEADER_BYTES: usize = 16;
/// Record framing: length + CRC32.
pub const FRAME_BYTES: usize = 8;
/// No record is larger (a message is at most 32 KiB of JSON); a larger
/// length means damage, not a record to allocate for.
pub const MAX_BODY_BYTES: usize = 1 << 20;

const TAG_MESSAGE: u8 = 1;
const TAG_ACK: u8 = 2;

/// Fingerprint of the destination (host and write key): a file is only
/// replayed by a client sending to the same source. A CRC32, so the key
/// itself never reaches the disk.
pub fn fingerprint(host: &str, write_key: &str) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(host.as_bytes());
    h.update(&[0]);
    h.update(write_key.as_bytes());
    h.finalize()
}

pub fn header(fingerprint: u32) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&fingerprint.to_le_bytes());
    h
}

/// What a message record holds besides its JSON: enough to prepare it again
/// exactly as the first time (same messageId, same default timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub kind: u8,
    /// When it was accepted, unix milliseconds.
    pub at_ms: i64,
    pub message_id: [u8; 16],
}

const MESSAGE_HEAD: usize = 1 + 8 + 1 + 8 + 16;

/// Bytes a message record of `json_len` bytes of JSON takes on disk.
pub fn message_record_len(json_len: usize) -> usize {
    FRAME_BYTES + MESSAGE_HEAD + json_len
}

fn push_record(out: &mut Vec<u8>, body: &[&[u8]]) {
    let len: usize = body.iter().map(|b| b.len()).sum();
    let mut crc = crc32fast::Hasher::new();
    for b in body {
        crc.update(b);
    }
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    for b in body {
        out.extend_from_slice(b);
    }
}

pub fn push_message(out: &mut Vec<u8>, seq: u64, stamp: &Stamp, json: &str) {
    push_record(
        out,
        &[
            &[TAG_MESSAGE],
            &seq.to_le_bytes(),
            &[stamp.kind],
            &stamp.at_ms.to_le_bytes(),
            &stamp.message_id,
            json.as_bytes(),
        ],
    );
}

pub fn push_ack(out: &mut Vec<u8>, first: u64, last: u64) {
    push_record(
        out,
        &[&[TAG_ACK], &first.to_le_bytes(), &last.to_le_bytes()],
    );
}

/// What a header says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Ok {
        fingerprint: u32,
    },
    /// Shorter than a header: a file created by a process that died at once.
    Torn,
    /// Written by a newer version of the plugin: left alone.
    Newer(u32),
    /// Not a spool file.
    Foreign,
}

pub fn parse_header(data: &[u8]) -> Header {
    if data.len() < HEADER_BYTES {
        return if MAGIC.starts_with(&data[..data.len().min(8)]) {
            Header::Torn
        } else {
            Header::Foreign
        };
    }
    if &data[..8] != MAGIC {
        return Header::Foreign;
    }
    let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
    if version > VERSION || version == 0 {
        return Header::Newer(version);
    }
    Header::Ok {
        fingerprint: u32::from_le_bytes(data[12..16].try_into().unwrap()),
    }
}

/// A message read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub seq: u64,
    pub stamp: Stamp,
    pub json: String,
}

/// The records of a file after its header.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Messages not acked, in the order written.
    pub messages: Vec<Stored>,
    /// Bytes after the last good record (a torn or corrupt tail), if any.
    pub damaged_bytes: usize,
}

/// Read the records of `data` (a whole file, header included): the messages
/// written and not acked. Stops at the first record that does not check out.
pub fn read_records(data: &[u8]) -> Contents {
    let mut messages: Vec<Stored> = Vec::new();
    let mut acks: Vec<(u64, u64)> = Vec::new();
    let mut pos = HEADER_BYTES.min(data.len());
    while pos < data.len() {
        match next_record(&data[pos..]) {
            Some((body, used)) => {
                match body.first() {
                    Some(&TAG_MESSAGE) if body.len() >= MESSAGE_HEAD => {
                        let stamp = Stamp {
                            kind: body[9],
                            at_ms: i64::from_le_bytes(body[10..18].try_into().unwrap()),
                            message_id: body[18..34].try_into().unwrap(),
                        };
                        match std::str::from_utf8(&body[MESSAGE_HEAD..]) {
                            Ok(json) => messages.push(Stored {
                                seq: u64::from_le_bytes(body[1..9].try_into().unwrap()),
                                stamp,
                                json: json.to_string(),
                            }),
                            Err(_) => break,
                        }
                    }
                    Some(&TAG_ACK) if body.len() == 17 => {
                        let first = u64::from_le_bytes(body[1..9].try_into().unwrap());
                        let last = u64::from_le_bytes(body[9..17].try_into().unwrap());
                        acks.push((first, last));
                    }
                    _ => break,
                }
                pos += used;
            }
            None => break,
        }
    }
    // Merge the ack ranges, then keep the messages outside all of them.
    acks.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(acks.len());
    for (first, last) in acks {
        match merged.last_mut() {
            Some(m) if first <= m.1.saturating_add(1) => m.1 = m.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    messages.retain(|m| {
        let i = merged.partition_point(|(first, _)| *first <= m.seq);
        i == 0 || merged[i - 1].1 < m.seq
    });
    Contents {
        messages,
        damaged_bytes: data.len() - pos,
    }
}

/// One record at the start of `data`: (body, bytes used), or None if it is
/// torn or corrupt.
fn next_record(data: &[u8]) -> Option<(&[u8], usize)> {
    if data.len() < FRAME_BYTES {
        return None;
    }
    let len = u32::from_le_bytes(data[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(data[4..8].try_into().unwrap());
    if len == 0 || len > MAX_BODY_BYTES || data.len() < FRAME_BYTES + len {
        return None;
    }
    let body = &data[FRAME_BYTES..FRAME_BYTES + len];
    (crc32fast::hash(body) == crc).then_some((body, FRAME_BYTES + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ST: Stamp = Stamp {
        kind: 0,
        at_ms: 1_700_000_000_000,
        message_id: [7; 16],
    };

    fn jsons(c: &Contents) -> Vec<(u64, &str)> {
        c.messages
            .iter()
            .map(|m| (m.seq, m.json.as_str()))
            .collect()
    }

    fn file(records: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut data = header(7).to_vec();
        records(&mut data);
        data
    }

    #[test]
    fn messages_not_acked_are_read_back() {
        let data = file(|d| {
            push_message(d, 1, &ST, r#"{"messageId":"a"}"#);
            push_message(d, 2, &ST, r#"{"messageId":"b"}"#);
            push_message(d, 3, &ST, r#"{"messageId":"c"}"#);
            push_ack(d, 1, 2);
            push_message(d, 4, &ST, r#"{"messageId":"d"}"#);
        });
        assert_eq!(parse_header(&data), Header::Ok { fingerprint: 7 });
        let c = read_records(&data);
        assert_eq!(
            jsons(&c),
            vec![(3, r#"{"messageId":"c"}"#), (4, r#"{"messageId":"d"}"#)]
        );
        assert_eq!(c.messages[0].stamp, ST);
        assert_eq!(c.damaged_bytes, 0);
        let mut one = Vec::new();
        push_message(&mut one, 1, &ST, "{}");
        assert_eq!(one.len(), message_record_len(2));
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_good_record() {
        let good = file(|d| push_message(d, 1, &ST, "{}"));
        let mut data = good.clone();
        push_message(&mut data, 2, &ST, r#"{"a":1}"#);
        for cut in good.len() + 1..data.len() {
            let c = read_records(&data[..cut]);
            assert_eq!(jsons(&c), vec![(1, "{}")], "cut at {cut}");
            assert_eq!(c.damaged_bytes, cut - good.len());
        }
    }

    #[test]
    fn a_flipped_bit_stops_reading_there() {
        let mut data = file(|d| {
            push_message(d, 1, &ST, "{}");
            push_message(d, 2, &ST, r#"{"a":1}"#);
            push_message(d, 3, &ST, r#"{"a":2}"#);
        });
        let second = HEADER_BYTES + message_record_len(2);
        data[second + FRAME_BYTES + 12] ^= 0x40;
        let c = read_records(&data);
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.damaged_bytes, data.len() - second);
        // a length beyond any record is damage too, not an allocation
        data[second..second + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(read_records(&data).messages.len(), 1);
    }

    #[test]
    fn headers_newer_torn_and_foreign() {
        let mut h = header(1).to_vec();
        h[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert_eq!(parse_header(&h), Header::Newer(VERSION + 1));
        assert_eq!(parse_header(b"SEGS"), Header::Torn);
        assert_eq!(parse_header(b""), Header::Torn);
        assert_eq!(parse_header(b"hello world, not a spool"), Header::Foreign);
    }

    #[test]
    fn fingerprint_depends_on_host_and_key() {
        let a = fingerprint("http://h", "k1");
        assert_eq!(a, fingerprint("http://h", "k1"));
        assert_ne!(a, fingerprint("http://h", "k2"));
        assert_ne!(a, fingerprint("http://g", "k1"));
    }
}
