//! The spool's file format.
//!
//! A segment file is a 44-byte header — magic `SEGSPOOL`, format version
//! (u32 LE), digest of the destination (32 bytes) — followed by records:
//! body length (u32 LE), CRC32 of the body (u32 LE), body. A body is a tag
//! byte and then either a message — seq (u64 LE), call kind (u8), time
//! accepted (unix ms, i64 LE), the messageId it is given (16 bytes), its JSON
//! as the caller gave it — or an ack (first seq, last seq: the messages in that range are
//! settled). Files are only appended to, so a crash can leave at most a torn
//! last record; reading stops at the first record that does not check out.
//!
//! Files are read as untrusted input: records are streamed one at a time
//! (`Reader`), never a whole file at once, and a length beyond any record
//! the writer makes is damage, not something to allocate for.

use std::io::{self, Read};

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const MAGIC: &[u8; 8] = b"SEGSPOOL";
/// Version 1 had a CRC32 of host and key in place of the digest.
pub const VERSION: u32 = 2;
pub const DIGEST_BYTES: usize = 32;
pub const HEADER_BYTES: usize = 12 + DIGEST_BYTES;
/// Record framing: length + CRC32.
pub const FRAME_BYTES: usize = 8;
/// No record is larger (a message is at most 32 KiB of JSON); a larger
/// length means damage, not a record to allocate for.
pub const MAX_BODY_BYTES: usize = 1 << 20;

const TAG_MESSAGE: u8 = 1;
const TAG_ACK: u8 = 2;

/// The destination a file is for (host and write key): a file is only
/// replayed by a client sending to the same source.
pub type Digest = [u8; DIGEST_BYTES];

/// HMAC-SHA256 keyed with the write key over the (normalized) host: equal
/// for equal destinations, and without the key it tells nothing about it
/// (a CRC32 could be matched by another key, and confirmed a guessed one in
/// microseconds).
pub fn digest(host: &str, write_key: &str) -> Digest {
    let mut mac = Hmac::<Sha256>::new_from_slice(write_key.as_bytes()).expect("any key length");
    mac.update(b"medusa-plugin-segment-rs spool destination\0");
    mac.update(host.as_bytes());
    mac.finalize().into_bytes().into()
}

pub fn header(digest: &Digest) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..].copy_from_slice(digest);
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
        digest: Digest,
    },
    /// Written by an older version of the plugin (format 1).
    Older(u32),
    /// Shorter than a header: a file created by a process that died at once.
    Torn,
    /// Written by a newer version of the plugin: left alone.
    Newer(u32),
    /// Not a spool file.
    Foreign,
}

pub fn parse_header(data: &[u8]) -> Header {
    // A version-1 header was 16 bytes: read its version before calling it torn.
    if data.len() >= 12 && &data[..8] == MAGIC {
        let version = u32::from_le_bytes(data[8..12].try_into().unwrap());
        if version != VERSION {
            return if version > VERSION || version == 0 {
                Header::Newer(version)
            } else {
                Header::Older(version)
            };
        }
    }
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
    if version < VERSION {
        return Header::Older(version);
    }
    Header::Ok {
        digest: data[12..HEADER_BYTES].try_into().unwrap(),
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

/// One record read back.
#[derive(Debug, PartialEq, Eq)]
pub enum Record {
    Message(Stored),
    Ack(u64, u64),
}

/// Streams the records of a file after its header, one at a time, with one
/// reusable buffer: memory stays bounded whatever the file holds.
pub struct Reader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Bytes consumed, header included, up to the end of the last good record.
    pub pos: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// A reader positioned just after the header.
    pub fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            buf: Vec::new(),
            pos: HEADER_BYTES as u64,
            done: false,
        }
    }

    /// The next good record; `Ok(None)` at the end of the file or at the
    /// first record that does not check out (`pos` tells where).
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        if self.done {
            return Ok(None);
        }
        let record = self.read_one()?;
        match record {
            Some((r, used)) => {
                self.pos += used as u64;
                Ok(Some(r))
            }
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }

    fn read_one(&mut self) -> io::Result<Option<(Record, usize)>> {
        let mut frame = [0u8; FRAME_BYTES];
        if !read_full(&mut self.inner, &mut frame)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes(frame[0..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(frame[4..8].try_into().unwrap());
        if len == 0 || len > MAX_BODY_BYTES {
            return Ok(None);
        }
        self.buf.resize(len, 0);
        if !read_full(&mut self.inner, &mut self.buf)? || crc32fast::hash(&self.buf) != crc {
            return Ok(None);
        }
        let body = &self.buf[..];
        let record = match body[0] {
            TAG_MESSAGE if body.len() >= MESSAGE_HEAD => {
                let Ok(json) = std::str::from_utf8(&body[MESSAGE_HEAD..]) else {
                    return Ok(None);
                };
                Record::Message(Stored {
                    seq: u64::from_le_bytes(body[1..9].try_into().unwrap()),
                    stamp: Stamp {
                        kind: body[9],
                        at_ms: i64::from_le_bytes(body[10..18].try_into().unwrap()),
                        message_id: body[18..34].try_into().unwrap(),
                    },
                    json: json.to_string(),
                })
            }
            TAG_ACK if body.len() == 17 => Record::Ack(
                u64::from_le_bytes(body[1..9].try_into().unwrap()),
                u64::from_le_bytes(body[9..17].try_into().unwrap()),
            ),
            _ => return Ok(None),
        };
        Ok(Some((record, FRAME_BYTES + len)))
    }
}

/// Fill `buf`; false if the data ends first.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => return Ok(false),
            Ok(n) => at += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The settled seq ranges of a file, merged: a first pass collects them,
/// a second streams the messages outside them.
#[derive(Debug, Default)]
pub struct Acks {
    ranges: Vec<(u64, u64)>,
    merged: usize,
}

impl Acks {
    pub fn add(&mut self, first: u64, last: u64) {
        self.ranges.push((first, last));
        // A writer's acks are mostly adjacent ranges: merging as they come
        // keeps this small.
        if self.ranges.len() >= 2 * self.merged.max(1024) {
            self.merge();
        }
    }

    pub fn merge(&mut self) {
        self.ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.ranges.len());
        for &(first, last) in &self.ranges {
            match merged.last_mut() {
                Some(m) if first <= m.1.saturating_add(1) => m.1 = m.1.max(last),
                _ => merged.push((first, last)),
            }
        }
        self.merged = merged.len();
        self.ranges = merged;
    }

    /// Whether `seq` is settled (call `merge` first).
    pub fn covers(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|(first, _)| *first <= seq);
        i > 0 && self.ranges[i - 1].1 >= seq
    }
}

/// Read the records of `data` (a whole file, header included): the messages
/// written and not acked. Stops at the first record that does not check out.
pub fn read_records(data: &[u8]) -> Contents {
    let start = HEADER_BYTES.min(data.len());
    let mut reader = Reader::new(&data[start..]);
    let (mut messages, mut acks) = (Vec::new(), Acks::default());
    while let Ok(Some(r)) = reader.next_record() {
        match r {
            Record::Message(m) => messages.push(m),
            Record::Ack(first, last) => acks.add(first, last),
        }
    }
    acks.merge();
    messages.retain(|m| !acks.covers(m.seq));
    Contents {
        messages,
        damaged_bytes: data.len() - (reader.pos as usize).min(data.len()).max(start),
    }
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
        let mut data = header(&[7; DIGEST_BYTES]).to_vec();
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
        assert_eq!(
            parse_header(&data),
            Header::Ok {
                digest: [7; DIGEST_BYTES]
            }
        );
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
        let mut h = header(&[1; DIGEST_BYTES]).to_vec();
        h[8..12].copy_from_slice(&(VERSION + 1).to_le_bytes());
        assert_eq!(parse_header(&h), Header::Newer(VERSION + 1));
        let mut v1 = b"SEGSPOOL".to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&[0; 4]);
        assert_eq!(parse_header(&v1), Header::Older(1));
        assert_eq!(parse_header(b"SEGS"), Header::Torn);
        assert_eq!(parse_header(b""), Header::Torn);
        assert_eq!(parse_header(b"hello world, not a spool"), Header::Foreign);
    }

    #[test]
    fn the_destination_digest_is_keyed_and_reveals_nothing_of_the_key() {
        let a = digest("http://h", "k1");
        assert_eq!(a, digest("http://h", "k1"));
        assert_ne!(a, digest("http://h", "k2"));
        assert_ne!(a, digest("http://g", "k1"));
        // The header holds 32 bytes of HMAC, not a 32-bit checksum a second
        // key can be found to match, and not the key in any form.
        let h = header(&digest("http://h", "secret-write-key"));
        assert_eq!(h.len(), 44);
        assert!(!h.windows(6).any(|w| w == b"secret"));
        assert_ne!(
            &h[12..16],
            &crc32fast::hash(b"http://h\0secret-write-key").to_le_bytes()
        );
    }

    #[test]
    fn the_reader_streams_records_and_stops_at_damage() {
        let data = file(|d| {
            push_message(d, 1, &ST, "{}");
            push_ack(d, 1, 1);
        });
        let mut r = Reader::new(&data[HEADER_BYTES..]);
        assert!(matches!(r.next_record().unwrap(), Some(Record::Message(_))));
        assert_eq!(r.next_record().unwrap(), Some(Record::Ack(1, 1)));
        assert_eq!(r.next_record().unwrap(), None);
        assert_eq!(r.pos as usize, data.len());
        // A frame claiming 4 GB: damage, no allocation.
        let mut bad = header(&[0; DIGEST_BYTES]).to_vec();
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        bad.extend_from_slice(&[0; 64]);
        let mut r = Reader::new(&bad[HEADER_BYTES..]);
        assert_eq!(r.next_record().unwrap(), None);
        assert_eq!(r.pos as usize, HEADER_BYTES);
    }
}
