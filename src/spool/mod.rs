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
//! process lives. A starting client — and a running one, every
//! `spool_takeover_ms / 2` — locks the files nobody holds (their owner died)
//! and replays their unsettled messages with their original messageId
//! (Segment de-duplicates what may have been sent already): `replay` streams
//! them into its own segments, syncs those, then deletes the adopted files.
//!
//! The directory and its files are private (0700 and 0600, whatever the
//! umask): they hold customers' data, and whoever can write there could have
//! records sent under the store's write key. A directory writable by others
//! or owned by another user is refused (logged with the fix). (On Windows
//! its ACLs decide who may use it: see `os`.) Files found
//! there are untrusted input (`replay`): regular files of ours only, no
//! symlinks followed, size-checked, streamed on the replayer's own thread,
//! and every record is checked before it is sent.
//!
//! The disk is never allowed to take the store down: a directory that cannot
//! be used, a failed write or a damaged file is logged once with the fix and
//! counted, and delivery goes on from memory.

pub mod backend;
pub mod format;
mod os;
pub mod redis;
pub mod replay;

use std::collections::VecDeque;
use std::fs::{self, File, TryLockError};
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;
use format::{Acks, Digest, Header, Reader, Record};
pub use format::{Stamp, Stored};

/// How often the written segments are synced to the device (against power
/// loss; a killed process loses nothing once its records are written).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// The writer's period while records arrive; idle rounds before it sleeps
/// (a burst keeps it writing every ms; a store's trickle of events wakes it
/// a few times per message, not fifty: 0.33 ms of CPU per message before).
const WRITE_EVERY: Duration = Duration::from_millis(1);
const IDLE_ROUNDS: u32 = 5;
const EXTENSION: &str = "seg";
/// Larger than any segment this plugin writes (at most 16 MiB, plus one
/// group commit): a bigger `*.seg` is not ours, and is left unread.
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

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
    fn create(dir: &Path, name: String, digest: &Digest) -> io::Result<Segment> {
        // Made under another name, locked, then renamed: a starting process
        // only looks at `*.seg` files, and must never find one unlocked
        // whose owner lives.
        let path = dir.join(&name);
        let making = dir.join(format!("{name}.new"));
        let file = os::create_private(&making)?;
        file.lock()?;
        (&file).write_all(&format::header(digest))?;
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

/// A file of a dead process, locked by us, checked, its header ours.
pub struct Adoptable {
    pub path: PathBuf,
    file: File,
    /// Where its records end (a damaged tail starts there).
    end: u64,
    acks: Acks,
}

impl Adoptable {
    /// Stream its unsettled messages to `each` (which returns false to stop
    /// early); returns how many were passed. Bounded memory: one record at a time.
    pub fn messages(&mut self, mut each: impl FnMut(Stored) -> bool) -> io::Result<u64> {
        (&self.file).seek(SeekFrom::Start(format::HEADER_BYTES as u64))?;
        let mut reader = Reader::new(BufReader::with_capacity(64 * 1024, &self.file));
        let mut n = 0;
        while reader.pos < self.end {
            match reader.next_record()? {
                Some(Record::Message(m)) if !self.acks.covers(m.seq) => {
                    n += 1;
                    if !each(m) {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(n)
    }

    /// Delete it: call once its messages are written to our own segments.
    pub fn remove(self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Files of dead processes read whole (tests).
#[cfg(test)]
pub struct Adopted {
    pub messages: Vec<Stored>,
    files: Vec<Adoptable>,
}

#[cfg(test)]
impl Adopted {
    pub fn remove(self) {
        for f in self.files {
            f.remove();
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
    /// Start a new segment at the next commit (the directory was deleted).
    rotate: bool,
}

/// The spool of one client, shared by its front (append), its worker
/// (settle, replay) and its writer thread (commit).
pub struct Spool {
    shared: Arc<Shared>,
    dir: PathBuf,
    digest: Digest,
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
        let config = &shared.config;
        private_dir(dir, |m| shared.log(Level::Warn, "spool_mode", m))?;
        let digest = format::digest(
            &config.spool_host(),
            config.write_key.as_deref().unwrap_or_default(),
        );
        let max_bytes = config.max_spool_bytes;
        let stem = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let first = Segment::create(dir, format!("{stem}-{:06}.{EXTENSION}", 0), &digest)?;
        let spool = Arc::new(Spool {
            dir: dir.to_path_buf(),
            digest,
            max_bytes,
            // Small enough that settled segments free the disk steadily.
            segment_bytes: (max_bytes / 8).clamp(64 * 1024, 16 * 1024 * 1024),
            stem,
            state: Mutex::new(State {
                bytes: first.size(),
                segments: VecDeque::from([first]),
                broken: false,
                closed: false,
                rotate: false,
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
                         (a crash loses them). Fix: make the directory writable by this process \
                         and no other user (chmod 700), or set spool_dir to another path, or false",
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
                || (active.done() && active.size() > self.segment_bytes / 2)
                || std::mem::take(&mut st.rotate);
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
            match Segment::create(&self.dir, name, &self.digest) {
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

    /// The `*.seg` files of others (dead or alive), oldest first; removes
    /// the leftovers of processes that died creating a segment.
    pub fn scan(&self) -> io::Result<Vec<PathBuf>> {
        let all: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        // A segment its process died making (`Segment::create`): nothing in
        // it. (Old ones only: a live maker locks it a moment after creating it.)
        let stale = |p: &PathBuf| {
            fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(60))
        };
        for p in all
            .iter()
            .filter(|p| p.extension().is_some_and(|x| x == "new") && stale(p))
        {
            if let Ok(f) = os::open_untrusted(p) {
                if f.try_lock().is_ok() {
                    let _ = fs::remove_file(p);
                }
            }
        }
        let ours: Vec<PathBuf> = self
            .state()
            .segments
            .iter()
            .map(|s| s.path.clone())
            .collect();
        let mut paths: Vec<(Option<std::time::SystemTime>, PathBuf)> = all
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
            .filter(|p| !ours.contains(p))
            .map(|p| (fs::symlink_metadata(&p).and_then(|m| m.modified()).ok(), p))
            .collect();
        paths.sort();
        Ok(paths.into_iter().map(|(_, p)| p).collect())
    }

    /// Lock a file nobody holds (its owner died), check it, and read its
    /// acks; `None` when it is not ours to replay (logged unless its owner lives).
    pub fn open_adoptable(&self, path: &Path) -> Option<Adoptable> {
        let name = path.display();
        let left_alone = |key: &str, why: String| {
            self.shared
                .log(Level::Warn, key, format!("spool: {name} {why}; left alone"));
            None
        };
        let file = match os::open_untrusted(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None, // adopted by another
            Err(e) if os::is_symlink_refusal(&e) => {
                return left_alone(
                    "spool_symlink",
                    "is a symbolic link (spool files are never followed); remove it from spool_dir"
                        .into(),
                )
            }
            Err(e) => {
                return left_alone(
                    "spool_open",
                    format!("cannot be opened ({e}). Fix: give this process read and write access to it, or remove it"),
                )
            }
        };
        let meta = file.metadata().ok()?;
        if !meta.file_type().is_file() {
            return left_alone(
                "spool_special",
                "is not a regular file (a FIFO, device or directory); remove it from spool_dir"
                    .into(),
            );
        }
        if let Some(uid) = os::foreign_owner(&meta) {
            return left_alone(
                "spool_owner",
                format!(
                    "belongs to another user (uid {uid}); only this user's files are replayed. \
                     Fix: remove it, or give each user its own spool_dir"
                ),
            );
        }
        if meta.len() > MAX_FILE_BYTES {
            return left_alone(
                "spool_size",
                format!(
                    "is {} bytes, larger than any spool file ({MAX_FILE_BYTES}); remove it from spool_dir",
                    meta.len()
                ),
            );
        }
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return None, // its owner lives
            Err(TryLockError::Error(e)) => {
                return left_alone("spool_lock", format!("cannot be locked ({e})"))
            }
        }
        // Deleted by another process that adopted it just before us; a hard
        // link is not something the spool makes.
        let meta = file.metadata().ok()?;
        let links = os::links(&meta, path);
        if links == 0 {
            return None;
        }
        if links > 1 {
            return left_alone(
                "spool_links",
                "has other hard links (not a file the spool wrote); remove it".into(),
            );
        }
        let len = meta.len();
        let mut head = [0u8; format::HEADER_BYTES];
        let got = read_up_to(&file, &mut head).ok()?;
        match format::parse_header(&head[..got]) {
            Header::Ok { digest } if hmac_eq(&digest, &self.digest) => {}
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
            Header::Torn => {
                return Some(Adoptable {
                    path: path.to_path_buf(),
                    file,
                    end: 0,
                    acks: Acks::default(),
                })
            }
            Header::Newer(v) => {
                return left_alone(
                    "spool_newer",
                    format!("was written by a newer version of the plugin (format {v}). Run that version to deliver it, or delete the file"),
                )
            }
            Header::Older(v) => {
                return left_alone(
                    "spool_older",
                    format!("was written by an older version of the plugin (format {v}). Run that version once to deliver it, or delete the file"),
                )
            }
            Header::Foreign => {
                return left_alone(
                    "spool_foreign",
                    "is not a spool file (remove it from spool_dir)".into(),
                )
            }
        }
        // First pass: the acks, and where the good records end.
        let mut reader = Reader::new(BufReader::with_capacity(64 * 1024, &file));
        let mut acks = Acks::default();
        loop {
            match reader.next_record() {
                Ok(Some(Record::Ack(first, last))) => acks.add(first, last),
                Ok(Some(Record::Message(_))) => {}
                Ok(None) => break,
                Err(e) => return left_alone("spool_read", format!("cannot be read ({e})")),
            }
        }
        acks.merge();
        let end = reader.pos;
        if end < len {
            self.shared.stats.spool_damaged.fetch_add(1, Relaxed);
            self.shared.log(
                Level::Warn,
                "spool_damaged",
                format!(
                    "spool: {name} ends in {} damaged bytes (a torn or corrupt write); \
                     replaying the messages before them",
                    len - end
                ),
            );
        }
        Some(Adoptable {
            path: path.to_path_buf(),
            file,
            end,
            acks,
        })
    }

    /// Adopt every dead process's file, reading all their messages (tests).
    #[cfg(test)]
    pub fn adopt(&self) -> Adopted {
        let mut adopted = Adopted {
            messages: Vec::new(),
            files: Vec::new(),
        };
        for path in self.scan().unwrap_or_default() {
            if let Some(mut f) = self.open_adoptable(&path) {
                f.messages(|m| {
                    adopted.messages.push(m);
                    true
                })
                .unwrap();
                adopted.files.push(f);
            }
        }
        adopted
    }

    /// Whether the directory or our active segment was deleted under us;
    /// if so, log it (once), count it, and make the directory and a new
    /// segment again so that what is accepted from now on is on disk.
    pub fn check_dir(&self) -> bool {
        let st = self.state();
        if st.broken || st.closed {
            return false;
        }
        let active = st.segments.back().expect("an active segment");
        let gone = active
            .file
            .metadata()
            .is_ok_and(|m| os::links(&m, &active.path) == 0);
        drop(st);
        if !gone {
            return false;
        }
        self.shared.stats.spool_errors.fetch_add(1, Relaxed);
        self.shared.log(
            Level::Error,
            "spool_deleted",
            format!(
                "spool: {} or its files were deleted while this process runs: the messages \
                 accepted so far are in memory only (a crash now loses them). Making it again for \
                 new messages. Fix: do not delete spool_dir under a running store (to discard it, \
                 stop the store first)",
                self.dir.display()
            ),
        );
        if let Err(e) = private_dir(&self.dir, |_| {}) {
            self.fail("make again", e);
            return true;
        }
        self.state().rotate = true;
        self.commit();
        true
    }

    /// Room for a replayed record of `json_len` bytes within `max_spool_bytes`.
    pub fn has_room(&self, json_len: usize) -> bool {
        self.bytes() + format::message_record_len(json_len) as u64 <= self.max_bytes
    }
}

fn read_up_to(mut file: &File, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let mut at = 0;
    while at < buf.len() {
        match file.read(&mut buf[at..])? {
            0 => break,
            n => at += n,
        }
    }
    Ok(at)
}

/// Constant-time comparison of two digests.
fn hmac_eq(a: &Digest, b: &Digest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Create the spool directory private to this user (0700 whatever the
/// umask), or check an existing one (`os::check_private_dir`); `warn` gets a
/// line if others may read it.
fn private_dir(dir: &Path, warn: impl FnOnce(String)) -> io::Result<()> {
    match os::create_private_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Parents first (as the owner's umask has them), then the spool itself.
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent)?;
            }
            return private_dir(dir, warn);
        }
        Err(e) => return Err(e),
    }
    let meta = fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "it is not a directory",
        ));
    }
    os::check_private_dir(dir, &meta, warn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::shared::Event;
    #[cfg(unix)]
    use std::os::unix::fs::PermissionsExt;
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
        let mut newer = format::header(&format::digest(crate::config::DEFAULT_HOST, "k")).to_vec();
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
        fs::OpenOptions::new()
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

    #[test]
    #[cfg(unix)] // FIFOs, modes and the umask
    fn hostile_files_are_left_alone_without_blocking_or_reading_them_whole() {
        let dir = temp_dir("hostile");
        let fifo = dir.join("pipe.seg");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.seg")).unwrap();
        // A large sparse file with our header: far beyond any segment.
        let big = File::create(dir.join("big.seg")).unwrap();
        (&big)
            .write_all(&format::header(&format::digest(
                crate::config::DEFAULT_HOST,
                "k",
            )))
            .unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        let (sh, lines) = shared(&dir, "k", 1 << 30);
        let s = Spool::open(sh, &dir).unwrap();
        let t0 = Instant::now();
        let adopted = s.adopt();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(adopted.messages.is_empty());
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("pipe.seg is not a regular file"), "{lines}");
        assert!(lines.contains("zero.seg is a symbolic link"), "{lines}");
        assert!(lines.contains("big.seg is 268435457 bytes"), "{lines}");
        s.close();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    #[cfg(unix)] // FIFOs, modes and the umask
    fn the_directory_and_files_are_private_whatever_the_umask() {
        let parent = temp_dir("mode");
        let dir = parent.join("spool");
        // SAFETY: umask only changes this process's file mode mask.
        let old = unsafe { libc::umask(0o000) };
        let s = Spool::open(shared(&dir, "k", 1 << 30).0, &dir);
        unsafe { libc::umask(old) };
        let s = s.unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let seg = s.state().segments[0].path.clone();
        assert_eq!(mode(&seg), 0o600);
        s.close();
        fs::remove_dir_all(parent).unwrap();
    }

    #[test]
    #[cfg(unix)] // FIFOs, modes and the umask
    fn a_directory_others_may_write_in_is_refused_naming_the_fix() {
        let dir = temp_dir("open");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let e = Spool::open(shared(&dir, "k", 1 << 30).0, &dir)
            .err()
            .expect("refused");
        assert!(e.to_string().contains("writable by other users"), "{e}");
        assert!(e.to_string().contains("chmod 700"), "{e}");
        // Readable by others only: used, with a warning naming the fix.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let (sh, lines) = shared(&dir, "k", 1 << 30);
        let s = Spool::open(sh, &dir).unwrap();
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("readable by other users"), "{lines}");
        assert!(lines.contains("chmod 700"), "{lines}");
        s.close();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_deleted_directory_is_noticed_logged_and_made_again() {
        let dir = temp_dir("deleted");
        let (sh, lines) = shared(&dir, "k", 1 << 30);
        let s = Spool::open(sh.clone(), &dir).unwrap();
        assert!(!s.check_dir());
        fs::remove_dir_all(&dir).unwrap();
        assert!(s.check_dir());
        assert_eq!(sh.stats.spool_errors.load(Relaxed), 1);
        assert!(lines.lock().unwrap().join("\n").contains("were deleted"));
        // New messages are on disk again.
        s.append(1, &ST, r#"{"messageId":"n"}"#);
        s.commit();
        assert_eq!(files(&dir), 1);
        assert!(!s.check_dir());
        s.close();
        fs::remove_dir_all(dir).unwrap();
    }
}
