//! Batching: messages go into the open batch until it reaches `flush_at`
//! messages or would exceed the request size limit; the interval deadline is
//! kept by the worker (`crate::worker`). A batch is a contiguous range of sequence
//! numbers, so completions can be reported as ranges.

use crate::config::MAX_BATCH_BYTES;

/// The messages, comma-separated, LZ4-compressed.
/// LZ4 rather than deflate: in a burst nearly every batch is packed and
/// unpacked again, and deflate's fast level made that a quarter of the
/// delivery thread's CPU.
fn compress(messages: &[String]) -> Vec<u8> {
    lz4_flex::block::compress(messages.join(",").as_bytes())
}

/// `{"batch":[` + `],"sentAt":"2024-01-01T00:00:00.000Z"}` with room to spare.
pub const ENVELOPE_BYTES: usize = 64;

/// What a queued message costs beyond its JSON text, charged to
/// `max_queue_bytes` with it: its command in the inbox, its string's
/// allocation, the fields enrichment adds (type, messageId, timestamp,
/// context.library: ~170 bytes) and the room reserved for them. Without it
/// a backlog of 27-byte events took 16× `max_queue_bytes` of memory; with
/// it 0.9× (`__tests__/core/tools/queue-memory.js` measures it).
pub const MESSAGE_OVERHEAD: usize = 256;
/// The same once its batch is packed: its share of the batch's delivery
/// task and record (the JSON is then in the packed bytes).
pub const PACKED_MESSAGE_OVERHEAD: usize = 128;

/// One accepted, enriched message.
#[derive(Debug, Clone)]
pub struct Item {
    pub seq: u64,
    /// Enriched JSON of the message.
    pub json: String,
    /// Bytes charged to the queue when it was accepted.
    pub charged: usize,
    /// Whether JS registered a callback for it.
    pub has_callback: bool,
}

/// A closed (or open) batch of messages with consecutive sequence numbers.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub first: u64,
    pub last: u64,
    /// The messages' JSON, until `pack`.
    messages: Vec<String>,
    /// After `pack`: the messages joined by commas, LZ4-compressed.
    packed: Option<Vec<u8>>,
    count: usize,
    /// Sum of the messages' JSON sizes.
    pub json_bytes: usize,
    /// Sum of the bytes charged to the queue.
    pub charged: usize,
    pub has_callbacks: bool,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Request body size if `extra` more bytes of JSON (one more message) were added.
    fn body_bytes_with(&self, extra: usize) -> usize {
        ENVELOPE_BYTES + self.json_bytes + extra + self.count
    }

    fn push(&mut self, item: Item) {
        if self.count == 0 {
            self.first = item.seq;
        }
        self.count += 1;
        self.last = item.seq;
        self.json_bytes += item.json.len();
        self.charged += item.charged;
        self.has_callbacks |= item.has_callback;
        self.messages.push(item.json);
    }

    /// Hold the messages compressed instead of as JSON strings:
    /// for a batch that has to wait for a request slot, so that a burst's
    /// backlog takes several times less memory (and `max_queue_bytes`).
    /// The charge becomes the compressed size plus `PACKED_MESSAGE_OVERHEAD`
    /// per message, if that is smaller; returns the bytes by which it went
    /// down (0 if the batch was left as it was).
    pub fn pack(&mut self) -> usize {
        if self.packed.is_some() || self.messages.is_empty() {
            return 0;
        }
        let mut packed = compress(&self.messages);
        let charge = packed.len() + self.count * PACKED_MESSAGE_OVERHEAD;
        if charge >= self.charged {
            return 0;
        }
        packed.shrink_to_fit();
        let freed = self.charged - charge;
        self.charged = charge;
        self.messages = Vec::new();
        self.packed = Some(packed);
        freed
    }

    /// Size of this batch's request body (`sentAt` included).
    pub fn body_bytes(&self) -> usize {
        self.body_bytes_with(0)
    }

    /// Append the messages, comma-separated.
    fn write_messages(&self, out: &mut Vec<u8>) {
        match &self.packed {
            None => {
                for (i, m) in self.messages.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(m.as_bytes());
                }
            }
            Some(packed) => {
                // Straight into the body: the joined size is known.
                let start = out.len();
                out.resize(start + self.json_bytes + self.count - 1, 0);
                let n = lz4_flex::block::decompress_into(packed, &mut out[start..])
                    .expect("a batch decompresses what it compressed itself");
                out.truncate(start + n);
            }
        }
    }

    /// The request body: `{"batch":[...],"sentAt":"..."}`.
    pub fn body(&self, sent_at: &str) -> Vec<u8> {
        body_of(&[self], sent_at)
    }
}

/// One request body carrying the messages of several batches, in order
/// (batches merged while they waited: see `delivery::Gate::take_along`).
pub fn body_of<B: std::ops::Deref<Target = Batch>>(batches: &[B], sent_at: &str) -> Vec<u8> {
    let size = batches.iter().map(|b| b.body_bytes()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"{\"batch\":[");
    for (i, b) in batches.iter().filter(|b| !b.is_empty()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        b.write_messages(&mut out);
    }
    out.extend_from_slice(b"],\"sentAt\":\"");
    out.extend_from_slice(sent_at.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// Builds batches from a stream of items.
#[derive(Debug)]
pub struct Batcher {
    flush_at: usize,
    max_bytes: usize,
    open: Batch,
}

impl Batcher {
    pub fn new(flush_at: usize) -> Batcher {
        Batcher::with_max_bytes(flush_at, MAX_BATCH_BYTES)
    }

    pub fn with_max_bytes(flush_at: usize, max_bytes: usize) -> Batcher {
        Batcher {
            flush_at: flush_at.max(1),
            max_bytes,
            open: Batch::default(),
        }
    }

    /// Add an item; batches that closed because of it are appended to `closed`.
    pub fn push(&mut self, item: Item, closed: &mut Vec<Batch>) {
        if !self.open.is_empty() && self.open.body_bytes_with(item.json.len()) > self.max_bytes {
            closed.push(std::mem::take(&mut self.open));
        }
        self.open.push(item);
        if self.open.len() >= self.flush_at {
            closed.push(std::mem::take(&mut self.open));
        }
    }

    /// Close the open batch, if it has anything.
    pub fn take(&mut self) -> Option<Batch> {
        if self.open.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.open))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Sequence number of the oldest message in the open batch.
    pub fn first_seq(&self) -> Option<u64> {
        (!self.open.is_empty()).then_some(self.open.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(seq: u64, bytes: usize) -> Item {
        Item {
            seq,
            json: "x".repeat(bytes),
            charged: bytes,
            has_callback: seq.is_multiple_of(2),
        }
    }

    #[test]
    fn closes_at_flush_at() {
        let mut b = Batcher::new(3);
        let mut closed = Vec::new();
        for seq in 0..7 {
            b.push(item(seq, 10), &mut closed);
        }
        assert_eq!(closed.len(), 2);
        assert_eq!(
            (closed[0].first, closed[0].last, closed[0].len()),
            (0, 2, 3)
        );
        assert_eq!((closed[1].first, closed[1].last), (3, 5));
        assert_eq!(b.first_seq(), Some(6));
        let rest = b.take().unwrap();
        assert_eq!((rest.first, rest.last, rest.len()), (6, 6, 1));
        assert!(b.is_empty() && b.take().is_none());
    }

    #[test]
    fn closes_before_exceeding_the_byte_limit() {
        let mut b = Batcher::with_max_bytes(100, 1000);
        let mut closed = Vec::new();
        for seq in 0..10 {
            b.push(item(seq, 350), &mut closed);
        }
        // 3 x 350 + envelope + commas > 1000, so 2 per batch.
        assert!(closed.iter().all(|c| c.len() == 2));
        assert_eq!(closed.len(), 4);
        for c in &closed {
            assert!(c.body("2024-01-01T00:00:00.000Z").len() <= 1000);
        }
    }

    #[test]
    fn default_limit_is_500kb() {
        let mut b = Batcher::new(1000);
        let mut closed = Vec::new();
        for seq in 0..40 {
            b.push(item(seq, 30_000), &mut closed);
        }
        assert_eq!(closed[0].len(), 17);
        assert!(closed[0].body("2024-01-01T00:00:00.000Z").len() <= MAX_BATCH_BYTES);
    }

    #[test]
    fn flush_at_one_closes_every_item() {
        let mut b = Batcher::new(1);
        let mut closed = Vec::new();
        b.push(item(0, 10), &mut closed);
        b.push(item(1, 10), &mut closed);
        assert_eq!(closed.len(), 2);
        assert!(b.is_empty());
    }

    #[test]
    fn body_is_segment_batch_json() {
        let mut b = Batcher::new(10);
        let mut closed = Vec::new();
        for seq in 0..2 {
            b.push(
                Item {
                    seq,
                    json: format!(r#"{{"n":{seq}}}"#),
                    charged: 7,
                    has_callback: false,
                },
                &mut closed,
            );
        }
        let batch = b.take().unwrap();
        assert_eq!(batch.charged, 14);
        assert!(!batch.has_callbacks);
        let v: serde_json::Value =
            serde_json::from_slice(&batch.body("2024-01-01T00:00:00.000Z")).unwrap();
        assert_eq!(v["batch"][1]["n"], 1);
        assert_eq!(v["sentAt"], "2024-01-01T00:00:00.000Z");
    }

    #[test]
    fn a_packed_batch_gives_the_same_body_and_is_charged_less() {
        let mut b = Batcher::new(20);
        let mut closed = Vec::new();
        for seq in 0..20 {
            let json = format!(
                r#"{{"messageId":"id-{seq}","event":"Order Completed","properties":{{"sku":"{}"}}}}"#,
                "abc".repeat(300)
            );
            let charged = json.len();
            b.push(
                Item {
                    seq,
                    json,
                    charged,
                    has_callback: seq == 7,
                },
                &mut closed,
            );
        }
        let mut batch = closed.pop().unwrap();
        let sent_at = "2024-01-01T00:00:00.000Z";
        let plain = batch.body(sent_at);
        let charged = batch.charged;
        let freed = batch.pack();
        assert!(freed > 0 && batch.charged == charged - freed);
        assert!(
            batch.charged * 4 < charged,
            "{} of {charged}",
            batch.charged
        );
        assert_eq!(batch.pack(), 0, "packing twice changes nothing");
        assert_eq!(
            (batch.first, batch.last, batch.len(), batch.has_callbacks),
            (0, 19, 20, true)
        );
        assert_eq!(batch.body(sent_at), plain);
        // Each send gets its own sentAt.
        let later: serde_json::Value =
            serde_json::from_slice(&batch.body("2024-01-01T00:00:05.000Z")).unwrap();
        assert_eq!(later["sentAt"], "2024-01-01T00:00:05.000Z");
        assert_eq!(later["batch"][19]["messageId"], "id-19");
    }

    #[test]
    fn a_batch_that_would_not_shrink_stays_plain() {
        let mut b = Batcher::new(10);
        let mut closed = Vec::new();
        let item = Item {
            seq: 0,
            json: r#"{"n":0}"#.to_string(),
            charged: 7,
            has_callback: false,
        };
        b.push(item, &mut closed);
        let mut batch = b.take().unwrap();
        let body = batch.body("t");
        assert_eq!(batch.pack(), 0);
        assert_eq!((batch.charged, batch.body("t")), (7, body));
    }
}
