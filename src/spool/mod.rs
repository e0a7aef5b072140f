//! The on-disk spool: accepted messages survive the death of the process.
//!
//! Each client with a `spool_dir` appends every prepared message (with its
//! messageId) to its own segment files there, and an ack record once the
//! message's batch is settled; a segment whose messages are all settled is
//! deleted. Writes are group-committed: the worker gathers a tick's records
//! and writes them with one syscall per segment (`commit`), so once a message
//! is in the page cache a `kill -9` cannot lose it; `fdatasync` runs at most
//! every `SYNC_INTERVAL`, off the worker thread, against power loss.
//!
//! Every segment is held under an exclusive advisory lock (`flock`) while its
//! process lives. A starting client locks the files nobody holds — their
//! owner died — and replays their unsettled messages with their original
//! messageId (Segment de-duplicates what may have been sent already): it
//! writes them into its own segment first, then deletes the adopted files.
//!
//! The disk is never allowed to take the store down: a directory that cannot
//! be used, a failed write or a damaged file is logged once with the fix and
//! counted, and delivery goes on from memory.

pub mod format;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::log::Level;
use crate::shared::Shared;
use format::Header;

/// How often the written segments are synced to the device (against power
/// loss; a killed process loses nothing once `commit` has written).
const SYNC_INTERVAL: Duration = Duration::from_secs(1);
const EXTENSION: &str = "seg";

/// One segment file of this client.
struct Segment {
    path: PathBuf,
    file: Arc<File>,
    /// Bytes in the file.
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
        let path = dir.join(name);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)?;
        // Nobody else has it yet (create_new); the lock tells starting
        // processes that its owner lives.
        file.lock()?;
        (&file).write_all(&format::header(fingerprint))?;
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
    pub messages: Vec<String>,
    files: Vec<(PathBuf, File)>,
}

impl Adopted {
    /// Delete the adopted files: call once their messages are committed to
    /// our own segments.
    pub fn remove(self) {
        for (path, _file) in self.files {
            let _ = fs::remove_file(&path);
        }
    }
}

/// `append` refused a message: the spool holds `max_spool_bytes` already.
#[derive(Debug)]
pub struct Full;

pub struct Spool {
    shared: Arc<Shared>,
    dir: PathBuf,
    fingerprint: u32,
    max_bytes: u64,
    segment_bytes: u64,
    /// File names are `{stem}-{n}.seg`; the stem is unique to this client.
    stem: String,
    next_segment: u64,
    /// Live segments, oldest first; the last one is written to.
    segments: VecDeque<Segment>,
    /// After a failed write: messages stay in memory only.
    broken: bool,
    last_sync: Instant,
    /// Written since the last sync.
    unsynced: bool,
    syncing: Arc<AtomicBool>,
}

impl Spool {
    /// Create the directory if needed and this client's first segment.
    pub fn open(shared: Arc<Shared>, dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let config = &shared.config;
        let fingerprint = format::fingerprint(
            &config.host,
            config.write_key.as_deref().unwrap_or_default(),
        );
        let max_bytes = config.max_spool_bytes;
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            fingerprint,
            max_bytes,
            // Small enough that settled segments free the disk steadily.
            segment_bytes: (max_bytes / 8).clamp(64 * 1024, 16 * 1024 * 1024),
            stem: format!(
                "{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            next_segment: 0,
            segments: VecDeque::new(),
            broken: false,
            last_sync: Instant::now(),
            unsynced: false,
            syncing: Arc::new(AtomicBool::new(false)),
            shared,
        };
        spool.rotate()?;
        spool.publish_bytes();
        Ok(spool)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = format!("{}-{:06}.{EXTENSION}", self.stem, self.next_segment);
        self.next_segment += 1;
        let seg = Segment::create(&self.dir, name, self.fingerprint)?;
        self.segments.push_back(seg);
        Ok(())
    }

    /// False after a failed write.
    pub fn is_active(&self) -> bool {
        !self.broken
    }

    /// Bytes the spool takes on disk (and in its commit buffer).
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    fn publish_bytes(&self) {
        self.shared.stats.spool_bytes.store(self.bytes(), Relaxed);
    }

    /// Add a prepared message (written at the next `commit`).
    pub fn append(&mut self, seq: u64, json: &str) -> Result<(), Full> {
        if self.broken {
            return Ok(());
        }
        let len = format::message_record_len(json.len()) as u64;
        if self.bytes() + len > self.max_bytes {
            return Err(Full);
        }
        let active = self.segments.back().expect("an active segment");
        if active.size() + len > self.segment_bytes && !active.seqs.is_empty() {
            if let Err(e) = self.write_pending().and_then(|_| self.rotate()) {
                self.fail("write", e);
                return Ok(());
            }
        }
        let active = self.segments.back_mut().expect("an active segment");
        format::push_message(&mut active.pending, seq, json);
        active.seqs.push(seq);
        Ok(())
    }

    /// Messages `first..=last` are settled (delivered or given up on).
    pub fn settle(&mut self, first: u64, last: u64) {
        if self.broken {
            return;
        }
        for seg in self.segments.iter_mut() {
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
                format::push_ack(&mut seg.pending, first, last);
            }
        }
    }

    /// The group commit: write what the tick gathered, delete settled
    /// segments, start a sync if one is due.
    pub fn commit(&mut self) {
        if self.broken {
            return;
        }
        // Settled segments other than the active one go (unwritten acks and all).
        let mut i = 0;
        while i + 1 < self.segments.len() {
            if self.segments[i].done() {
                let seg = self.segments.remove(i).expect("in range");
                let _ = fs::remove_file(&seg.path);
            } else {
                i += 1;
            }
        }
        // The active segment, once settled and grown, starts over.
        let back = self.segments.back().expect("an active segment");
        if back.done() && back.size() > self.segment_bytes / 2 {
            let old = back.path.clone();
            match self.rotate() {
                Ok(()) => {
                    let at = self.segments.len() - 2;
                    self.segments.remove(at);
                    let _ = fs::remove_file(old);
                }
                Err(e) => return self.fail("create a segment in", e),
            }
        }
        if let Err(e) = self.write_pending() {
            return self.fail("write", e);
        }
        self.publish_bytes();
        if self.unsynced
            && self.last_sync.elapsed() >= SYNC_INTERVAL
            && !self.syncing.swap(true, Relaxed)
        {
            self.last_sync = Instant::now();
            self.unsynced = false;
            let file = self.segments.back().expect("active").file.clone();
            let syncing = self.syncing.clone();
            let sync = move || {
                let _ = file.sync_data();
                syncing.store(false, Relaxed);
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(sync)),
                Err(_) => sync(),
            }
        }
    }

    fn write_pending(&mut self) -> io::Result<()> {
        for seg in self.segments.iter_mut() {
            if !seg.pending.is_empty() {
                self.unsynced = true;
                let res = (&*seg.file).write_all(&seg.pending);
                // Count what may have reached the file even on an error.
                seg.written += seg.pending.len() as u64;
                seg.pending.clear();
                res?;
            }
        }
        Ok(())
    }

    /// Sync the segments now (before deleting adopted files, and at close).
    pub fn sync_now(&mut self) {
        if self.broken {
            return;
        }
        if let Err(e) = self
            .write_pending()
            .and_then(|_| self.segments.iter().try_for_each(|s| s.file.sync_data()))
        {
            self.fail("sync", e);
        }
    }

    /// After a failed write: log once, keep going in memory. The files stay
    /// locked so nobody replays them while this process still delivers.
    fn fail(&mut self, what: &str, e: io::Error) {
        self.broken = true;
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

    /// The client is closing and everything has settled: remove its files.
    pub fn close(mut self) {
        self.commit();
        if !self.broken && self.segments.iter().all(Segment::done) {
            for seg in self.segments.drain(..) {
                let _ = fs::remove_file(&seg.path);
            }
        }
        self.shared.stats.spool_bytes.store(0, Relaxed);
    }

    /// Lock the segment files of dead processes (same destination) and read
    /// their unsettled messages. Damaged tails and files left alone are
    /// counted and logged.
    pub fn adopt(&mut self) -> Adopted {
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
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == EXTENSION))
            .filter(|p| !self.segments.iter().any(|s| &s.path == p))
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

    fn adopt_one(&mut self, path: &Path) -> Option<(File, Vec<String>)> {
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
            Header::Ok { .. } => return None,
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
        let messages = contents.messages.into_iter().map(|(_, m)| m).collect();
        Some((file, messages))
    }
}
