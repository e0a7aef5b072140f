//! The on-disk spool: accepted messages survive the death of the process.
//!
//! Each client with a `spool_dir` appends every accepted message — with the
//! messageId and time it will be sent with — to its own segment files there,
//! and an ack record once the message's batch is settled; a segment whose
//! messages are all settled is deleted. `append` runs on the caller's thread
//! and only copies the record into a buffer; the spool's own thread writes
//! the buffers out every millisecond while messages flow (one write per
//! segment: a group commit) and syncs them at most every `SYNC_INTERVAL`.
//! Once written, a message is in the page cache and a `kill -9` cannot lose
//! it; a busy delivery thread does not delay it.
//!
//! Every segment is held under an exclusive advisory lock (`flock`) while its
//! process lives. A starting client locks the files nobody holds — their
//! owner died — and replays their unsettled messages with their original
//! messageId (Segment de-duplicates what may have been sent already): it
//! appends them to its own segment, writes that, then deletes the adopted
//! files.
//!
//! The disk is never allowed to take the store down: a directory that cannot
//! be used, a failed write or a damaged file is logged once with the fix and
//! counted, and delivery goes on from memory.

pub mod backend;
pub mod format;
pub mod redis;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;
use format::Header;
pub use format::{Stamp, Stored};

/// How often the written segments are synced to the device (against power
/// loss; a killed process loses nothing once its records are written).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The writer's period while records arrive; idle rounds before it sleeps.
const WRITE_EVERY: Duration = Duration::from_millis(1);
const IDLE_ROUNDS: u32 = 50;
const EXTENSION: &str = "seg";

/// What the spool did with an accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spooled {
    /// No spool (or it failed): the message lives in memory only.
    Off,
    /// Refused: `max_spool_bytes` reached; the message is to be dropped.
    Full,
    /// In the spool with this messageId and time, which `prepare` must use.
    Stamped(Stamp),
}

/// One segment file of this client.
struct Segment {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes written to the file, or being written.
    written: u64,
    /// Records not yet written (the group commit).
    pending: Vec<u8>,
    /// Seqs of the messages in it, ascending.
    seqs: Vec<u64>,
    /// How many of them are settled.
    settled: usize,
}

impl Segment {
    fn create(dir: &Path, name: String, fingerprint: u32) -> io::Result<Segment> {
        // Made under another name, locked, then renamed: a starting process
        // only looks at `*.seg` files, and must never find one unlocked
        // whose owner lives.
        let path = dir.join(&name);
        let making = dir.join(format!("{name}.new"));
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&making)?;
        file.lock()?;
        (&file).write_all(&format::header(fingerprint))?;
        fs::rename(&making, &path)?;
        Ok(Segment {
            path,
            file: Arc::new(file),
            written: format::HEADER_BYTES as u64,
            pending: Vec::new(),
            seqs: Vec::new(),
            settled: 0,
        })
    }

    fn done(&self) -> bool {
        self.settled == self.seqs.len()
    }

    fn size(&self) -> u64 {
        self.written + self.pending.len() as u64
    }
}

/// Files of dead processes, locked, whose messages are being replayed.
pub struct Adopted {
    pub messages: Vec<Stored>,
    files: Vec<(PathBuf, File)>,
}

impl Adopted {
    /// Delete the adopted files: call once their messages are written to
    /// our own segments.
    pub fn remove(self) {
        for (path, _file) in self.files {
            let _ = fs::remove_file(&path);
        }
    }
}

/// The segments and buffers, behind the spool's lock.
struct State {
    /// Live segments, oldest first; the last one is appended to.
    segments: VecDeque<Segment>,
    /// Sum of the segments' sizes.
    bytes: u64,
    /// After a failed write: messages stay in memory only.
    broken: bool,
    closed: bool,
}

/// The spool of one client, shared by its front (append), its worker
/// (settle, replay) and its writer thread (commit).
pub struct Spool {
    shared: Arc<Shared>,
    dir: PathBuf,
    fingerprint: u32,
    max_bytes: u64,
    segment_bytes: u64,
    /// File names are `{stem}-{n}.seg`; the stem is unique to this client.
    stem: String,
    state: Mutex<State>,
    /// Held while writing: one commit at a time, in order.
    writing: Mutex<WriteState>,
    /// The writer sleeps on this when idle; `append` wakes it.
    wake: Condvar,
    writer_idle: AtomicBool,
}

struct WriteState {
    next_segment: u64,
    last_sync: Instant,
    unsynced: Vec<Arc<File>>,
}

impl Spool {
    /// Create the directory if needed, this client's first segment, and its
    /// writer thread.
    pub fn open(shared: Arc<Shared>, dir: &Path) -> io::Result<Arc<Spool>> {
        fs::create_dir_all(dir)?;
        let config = &shared.config;
        let fingerprint = format::fingerprint(
            &config.host,
            config.write_key.as_deref().unwrap_or_default(),
        );
        let max_bytes = config.max_spool_bytes;
        let stem = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let first = Segment::create(dir, format!("{stem}-{:06}.{EXTENSION}", 0), fingerprint)?;
        let spool = Arc::new(Spool {
            dir: dir.to_path_buf(),
            fingerprint,
            max_bytes,
            // Small enough that settled segments free the disk steadily.
            segment_bytes: (max_bytes / 8).clamp(64 * 1024, 16 * 1024 * 1024),
            stem,
            state: Mutex::new(State {
                bytes: first.size(),
                segments: VecDeque::from([first]),
                broken: false,
                closed: false,
            }),
            writing: Mutex::new(WriteState {
                next_segment: 1,
                last_sync: Instant::now(),
                unsynced: Vec::new(),
            }),
            wake: Condvar::new(),
            writer_idle: AtomicBool::new(false),
            shared,
        });
        spool.publish_bytes(spool.bytes());
        let writer = spool.clone();
        std::thread::Builder::new()
            .name("segment-spool".into())
            .spawn(move || writer.run_writer())?;
        Ok(spool)
    }

    /// The spool of a client whose `spool_dir` is set and that delivers;
    /// `None` (logged, with the fix) if the directory cannot be used.
    pub fn open_logged(shared: &Arc<Shared>) -> Option<Arc<Spool>> {
        let dir = shared.config.spool_dir.as_ref()?;
        if !shared.config.delivers() {
            return None;
        }
        match Spool::open(shared.clone(), dir) {
            Ok(s) => Some(s),
            Err(e) => {
                shared.stats.spool_errors.fetch_add(1, Relaxed);
                shared.log(
                    Level::Error,
                    "spool_io",
                    format!(
                        "spool: cannot use spool_dir {} ({e}); accepted messages are kept in memory only \
                         (a crash loses them). Fix: make the directory writable by this process, \
                         or set spool_dir to another path, or false",
                        dir.display()
                    ),
                );
                None
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// False after a failed write.
    pub fn is_active(&self) -> bool {
        !self.state().broken
    }

    /// Bytes the spool takes on disk (and in its buffers).
    pub fn bytes(&self) -> u64 {
        self.state().bytes
    }

    fn publish_bytes(&self, bytes: u64) {
        self.shared.stats.spool_bytes.store(bytes, Relaxed);
    }

    /// Spool a newly accepted message: stamp it with the messageId and time
    /// it will be prepared with. Cheap: a copy into the commit buffer.
    pub fn accept(&self, seq: u64, kind: Kind, json: &str) -> Spooled {
        let stamp = Stamp {
            kind: kind.code() as u8,
            at_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            message_id: *uuid::Uuid::new_v4().as_bytes(),
        };
        self.append(seq, &stamp, json)
    }

    /// Add a message with its stamp (written by the next commit).
    pub fn append(&self, seq: u64, stamp: &Stamp, json: &str) -> Spooled {
        let len = format::message_record_len(json.len()) as u64;
        let mut st = self.state();
        if st.broken || st.closed {
            return Spooled::Off;
        }
        if st.bytes + len > self.max_bytes {
            return Spooled::Full;
        }
        st.bytes += len;
        let active = st.segments.back_mut().expect("an active segment");
        format::push_message(&mut active.pending, seq, stamp, json);
        // In order, unless two threads enqueue at once.
        let at = active.seqs.partition_point(|&s| s < seq);
        active.seqs.insert(at, seq);
        drop(st);
        if self.writer_idle.swap(false, Relaxed) {
            self.wake.notify_one();
        }
        Spooled::Stamped(*stamp)
    }

    /// Messages `first..=last` are settled (delivered or given up on).
    pub fn settle(&self, first: u64, last: u64) {
        let mut st = self.state();
        if st.broken {
            return;
        }
        let mut added = 0;
        for seg in st.segments.iter_mut() {
            let (Some(&lo), Some(&hi)) = (seg.seqs.first(), seg.seqs.last()) else {
                continue;
            };
            if hi < first || lo > last {
                continue;
            }
            let n =
                seg.seqs.partition_point(|&s| s <= last) - seg.seqs.partition_point(|&s| s < first);
            if n > 0 {
                seg.settled += n;
                let before = seg.pending.len();
                format::push_ack(&mut seg.pending, first, last);
                added += (seg.pending.len() - before) as u64;
            }
        }
        st.bytes += added;
    }

    /// The writer thread: commit every `WRITE_EVERY` while records arrive,
    /// sleep when idle; ends once the spool is closed.
    fn run_writer(&self) {
        let mut idle = 0u32;
        loop {
            let wrote = self.commit();
            let st = self.state();
            if st.closed {
                return;
            }
            idle = if wrote { 0 } else { idle.saturating_add(1) };
            // (an append between the commit and the lock must not wait a second)
            let pending = st.segments.iter().any(|s| !s.pending.is_empty());
            if idle >= IDLE_ROUNDS && !pending {
                self.writer_idle.store(true, Relaxed);
                // Woken by append (or a 1 s tick for syncs and deletions).
                let _ = self.wake.wait_timeout(st, SYNC_INTERVAL);
                self.writer_idle.store(false, Relaxed);
            } else {
                drop(st);
                std::thread::sleep(WRITE_EVERY);
            }
        }
    }

    /// The group commit: delete settled segments, write what was gathered,
    /// rotate the active segment when it is full, sync if due. Returns
    /// whether anything was written.
    pub fn commit(&self) -> bool {
        let mut w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.commit_locked(&mut w)
    }

    fn commit_locked(&self, w: &mut WriteState) -> bool {
        let mut doomed = Vec::new();
        let mut writes = Vec::new();
        let rotate;
        {
            let mut st = self.state();
            if st.broken || st.closed {
                return false;
            }
            let mut i = 0;
            while i + 1 < st.segments.len() {
                if st.segments[i].done() {
                    let seg = st.segments.remove(i).expect("in range");
                    st.bytes -= seg.size();
                    doomed.push(seg);
                } else {
                    i += 1;
                }
            }
            for seg in st.segments.iter_mut() {
                if !seg.pending.is_empty() {
                    seg.written += seg.pending.len() as u64;
                    writes.push((seg.file.clone(), std::mem::take(&mut seg.pending)));
                }
            }
            let active = st.segments.back().expect("an active segment");
            rotate = (active.size() > self.segment_bytes && !active.seqs.is_empty())
                || (active.done() && active.size() > self.segment_bytes / 2);
        }
        for seg in doomed {
            let _ = fs::remove_file(&seg.path);
        }
        let wrote = !writes.is_empty();
        for (file, data) in writes {
            if let Err(e) = (&*file).write_all(&data) {
                self.fail("write", e);
                return wrote;
            }
            if !w.unsynced.iter().any(|f| Arc::ptr_eq(f, &file)) {
                w.unsynced.push(file);
            }
        }
        if rotate {
            let name = format!("{}-{:06}.{EXTENSION}", self.stem, w.next_segment);
            w.next_segment += 1;
            match Segment::create(&self.dir, name, self.fingerprint) {
                Ok(seg) => {
                    let mut st = self.state();
                    st.bytes += seg.size();
                    st.segments.push_back(seg);
                    // The old active segment goes at the next commit once settled.
                }
                Err(e) => {
                    self.fail("create a segment in", e);
                    return wrote;
                }
            }
        }
        self.publish_bytes(self.bytes());
        if !w.unsynced.is_empty() && w.last_sync.elapsed() >= SYNC_INTERVAL {
            w.last_sync = Instant::now();
            for file in std::mem::take(&mut w.unsynced) {
                let _ = file.sync_data();
            }
        }
        wrote
    }

    /// Sync what is written now (before deleting adopted files).
    pub fn sync_now(&self) {
        self.commit();
        let mut w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        for file in std::mem::take(&mut w.unsynced) {
            if let Err(e) = file.sync_data() {
                drop(w);
                return self.fail("sync", e);
            }
        }
    }

    /// After a failed write: log once, keep going in memory. The files stay
    /// locked so nobody replays them while this process still delivers.
    fn fail(&self, what: &str, e: io::Error) {
        self.state().broken = true;
        self.shared.stats.spool_errors.fetch_add(1, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_io",
            format!(
                "spool: could not {what} {}: {e}; from now on accepted messages are kept in memory only \
                 (a crash loses them). Fix: free disk space or make spool_dir writable, then restart; \
                 or set spool_dir: false",
                self.dir.display()
            ),
        );
    }

    /// The client is closing and everything has settled: write the last
    /// records, stop the writer, and remove the files if nothing is left.
    pub fn close(&self) {
        let mut w = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        self.commit_locked(&mut w);
        let mut st = self.state();
        st.closed = true;
        if !st.broken && st.segments.iter().all(Segment::done) {
            for seg in st.segments.drain(..) {
                let _ = fs::remove_file(&seg.path);
            }
            st.bytes = 0;
        }
        drop(st);
        self.wake.notify_one();
        self.publish_bytes(0);
    }

    /// Lock the segment files of dead processes (same destination) and read
    /// their unsettled messages. Damaged tails and files left alone are
    /// counted and logged.
    pub fn adopt(&self) -> Adopted {
        let mut adopted = Adopted {
            messages: Vec::new(),
            files: Vec::new(),
        };
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => {
                self.fail("read", e);
                return adopted;
            }
        };
        let all: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        // A segment its process died making (`Segment::create`): nothing in
        // it. (Old ones only: a live maker locks it a moment after creating it.)
        let stale = |p: &PathBuf| {
            fs::metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60))
        };
        for p in all
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "new") && stale(p))
        {
            if let Ok(f) = File::open(p) {
                if f.try_lock().is_ok() {
                    let _ = fs::remove_file(p);
                }
            }
        }
        let mut paths: Vec<PathBuf> = all
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
            .filter(|p| !self.state().segments.iter().any(|s| &s.path == p))
            .collect();
        // Oldest first (names start with the writer's pid, then the segment number).
        paths.sort_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok());
        for path in paths {
            if let Some((file, messages)) = self.adopt_one(&path) {
                adopted.messages.extend(messages);
                adopted.files.push((path, file));
            }
        }
        adopted
    }

    fn adopt_one(&self, path: &Path) -> Option<(File, Vec<Stored>)> {
        let name = path.display();
        let file = OpenOptions::new().read(true).write(true).open(path).ok()?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return None, // its owner lives
            Err(TryLockError::Error(e)) => {
                self.shared.log(
                    Level::Warn,
                    "spool_lock",
                    format!("spool: cannot lock {name} ({e}); left alone"),
                );
                return None;
            }
        }
        // Deleted by another process that adopted it just before us.
        if file.metadata().ok()?.nlink() == 0 {
            return None;
        }
        let mut data = Vec::new();
        if let Err(e) = (&file).read_to_end(&mut data) {
            self.shared.log(
                Level::Warn,
                "spool_read",
                format!("spool: cannot read {name} ({e}); left alone"),
            );
            return None;
        }
        match format::parse_header(&data) {
            Header::Ok { fingerprint } if fingerprint == self.fingerprint => {}
            // Another client's (other write key or host): theirs to replay.
            Header::Ok { .. } => {
                self.shared.log(
                    Level::Info,
                    "spool_other",
                    format!(
                        "spool: {name} holds messages for another write key or host; left alone \
                         (a client with those settings delivers it; delete it if that source is gone)"
                    ),
                );
                return None;
            }
            Header::Torn => return Some((file, Vec::new())),
            Header::Newer(v) => {
                self.shared.log(
                    Level::Warn,
                    "spool_newer",
                    format!(
                        "spool: {name} was written by a newer version of the plugin (format {v}); \
                         left alone. Run that version to deliver it, or delete the file"
                    ),
                );
                return None;
            }
            Header::Foreign => {
                self.shared.log(
                    Level::Warn,
                    "spool_foreign",
                    format!(
                        "spool: {name} is not a spool file; left alone (remove it from spool_dir)"
                    ),
                );
                return None;
            }
        }
        let contents = format::read_records(&data);
        if contents.damaged_bytes > 0 {
            self.shared.stats.spool_damaged.fetch_add(1, Relaxed);
            self.shared.log(
                Level::Warn,
                "spool_damaged",
                format!(
                    "spool: {name} ends in {} damaged bytes (a torn or corrupt write); \
                     replaying the {} messages before them",
                    contents.damaged_bytes,
                    contents.messages.len()
                ),
            );
        }
        Some((file, contents.messages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::shared::Event;
    use std::sync::Mutex;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "segment-spool-test-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn shared(dir: &Path, key: &str, max_bytes: u64) -> (Arc<Shared>, Arc<Mutex<Vec<String>>>) {
        let config = Config {
            write_key: Some(key.to_string()),
            spool_dir: Some(dir.to_path_buf()),
            max_spool_bytes: max_bytes,
            ..Config::default()
        };
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink_lines = lines.clone();
        let sink = Arc::new(move |ev: Event| {
            if let Event::Log { message, .. } = ev {
                sink_lines.lock().unwrap().push(message);
            }
        });
        (Arc::new(Shared::new(Arc::new(config), sink)), lines)
    }

    const ST: Stamp = Stamp {
        kind: 0,
        at_ms: 0,
        message_id: [1; 16],
    };

    fn jsons(a: &Adopted) -> Vec<&str> {
        a.messages.iter().map(|m| m.json.as_str()).collect()
    }

    fn open(dir: &Path) -> Arc<Spool> {
        Spool::open(shared(dir, "k", 1 << 30).0, dir).unwrap()
    }

    /// The process dies: its writer stops and its files close (their locks go).
    fn die(s: Arc<Spool>) {
        s.commit();
        s.state().closed = true;
        s.wake.notify_one();
        while Arc::strong_count(&s) > 1 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn files(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_live_owner_keeps_its_files_and_a_dead_ones_are_adopted_once() {
        let dir = temp_dir("adopt");
        let a = open(&dir);
        for seq in 0..3 {
            a.append(seq, &ST, &format!(r#"{{"messageId":"m{seq}"}}"#));
        }
        a.settle(0, 0);
        a.commit();
        let b = open(&dir);
        assert!(b.adopt().messages.is_empty(), "a's files are locked");
        die(a); // its lock is gone, its files stay
        let adopted = b.adopt();
        assert_eq!(
            jsons(&adopted),
            vec![r#"{"messageId":"m1"}"#, r#"{"messageId":"m2"}"#]
        );
        // While b holds them, a third client does not get them too.
        let c = open(&dir);
        assert!(c.adopt().messages.is_empty());
        adopted.remove();
        assert!(c.adopt().messages.is_empty());
        assert_eq!(files(&dir), 2, "b's and c's active segments");
        b.close();
        c.close();
        assert_eq!(files(&dir), 0);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn settled_segments_are_deleted_and_the_bound_holds() {
        let dir = temp_dir("bound");
        let (sh, _) = shared(&dir, "k", 1 << 16);
        let s = Spool::open(sh.clone(), &dir).unwrap();
        let json = format!(r#"{{"messageId":"{}"}}"#, "x".repeat(200));
        let mut accepted = 0u64;
        while s.append(accepted, &ST, &json) != Spooled::Full {
            accepted += 1;
            s.commit();
        }
        assert!(s.bytes() <= 1 << 16);
        assert!(accepted > 200, "{accepted}");
        s.settle(0, accepted - 1);
        s.commit(); // rotates the settled active segment
        s.commit(); // deletes it
        assert_eq!(files(&dir), 1, "settled segments are gone");
        // room again
        s.append(accepted, &ST, &json);
        s.commit();
        assert_eq!(sh.stats.spool_bytes.load(Relaxed), s.bytes());
        s.close();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn other_destinations_newer_formats_and_damage() {
        let dir = temp_dir("damage");
        // Another write key's file: left for its own client.
        let other = Spool::open(shared(&dir, "other", 1 << 30).0, &dir).unwrap();
        other.append(1, &ST, r#"{"messageId":"o"}"#);
        other.commit();
        die(other);
        // A newer format: left alone, logged.
        let mut newer =
            format::header(format::fingerprint(crate::config::DEFAULT_HOST, "k")).to_vec();
        newer[8..12].copy_from_slice(&(format::VERSION + 1).to_le_bytes());
        fs::write(dir.join("newer.seg"), &newer).unwrap();
        // Ours with a torn tail.
        let dead = open(&dir);
        dead.append(1, &ST, r#"{"messageId":"a"}"#);
        dead.append(2, &ST, r#"{"messageId":"b"}"#);
        dead.commit();
        let path = dead.state().segments[0].path.clone();
        die(dead);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();

        let (sh, lines) = shared(&dir, "k", 1 << 30);
        let s = Spool::open(sh.clone(), &dir).unwrap();
        let adopted = s.adopt();
        assert_eq!(jsons(&adopted), vec![r#"{"messageId":"a"}"#]);
        assert_eq!(sh.stats.spool_damaged.load(Relaxed), 1);
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("damaged bytes"), "{lines}");
        assert!(lines.contains("newer version"), "{lines}");
        assert!(lines.contains("another write key"), "{lines}");
        assert!(!lines.contains("\"k\""));
        adopted.remove();
        assert!(dir.join("newer.seg").exists());
        s.close();
        assert_eq!(files(&dir), 2, "the other key's file and the newer one");
        fs::remove_dir_all(dir).unwrap();
    }
}
