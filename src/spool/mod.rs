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
pub use format::{Stamp, Stored};

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
    pub messages: Vec<Stored>,
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

    /// Add an accepted message (written at the next `commit`).
    pub fn append(&mut self, seq: u64, stamp: &Stamp, json: &str) -> Result<(), Full> {
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
        format::push_message(&mut active.pending, seq, stamp, json);
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

    fn adopt_one(&mut self, path: &Path) -> Option<(File, Vec<Stored>)> {
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

    fn open(dir: &Path) -> Spool {
        Spool::open(shared(dir, "k", 1 << 30).0, dir).unwrap()
    }

    fn files(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_live_owner_keeps_its_files_and_a_dead_ones_are_adopted_once() {
        let dir = temp_dir("adopt");
        let mut a = open(&dir);
        for seq in 0..3 {
            a.append(seq, &ST, &format!(r#"{{"messageId":"m{seq}"}}"#))
                .unwrap();
        }
        a.settle(0, 0);
        a.commit();
        let mut b = open(&dir);
        assert!(b.adopt().messages.is_empty(), "a's files are locked");
        drop(a); // the process died: its lock is gone, its files stay
        let adopted = b.adopt();
        assert_eq!(
            jsons(&adopted),
            vec![r#"{"messageId":"m1"}"#, r#"{"messageId":"m2"}"#]
        );
        // While b holds them, a third client does not get them too.
        let mut c = open(&dir);
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
        let mut s = Spool::open(sh.clone(), &dir).unwrap();
        let json = format!(r#"{{"messageId":"{}"}}"#, "x".repeat(200));
        let mut accepted = 0u64;
        while s.append(accepted, &ST, &json).is_ok() {
            accepted += 1;
            s.commit();
        }
        assert!(s.bytes() <= 1 << 16);
        assert!(accepted > 200, "{accepted}");
        s.settle(0, accepted - 1);
        s.commit();
        assert_eq!(files(&dir), 1, "settled segments are gone");
        // room again
        s.append(accepted, &ST, &json).unwrap();
        s.commit();
        assert_eq!(sh.stats.spool_bytes.load(Relaxed), s.bytes());
        s.close();
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn other_destinations_newer_formats_and_damage() {
        let dir = temp_dir("damage");
        // Another write key's file: left for its own client.
        let mut other = Spool::open(shared(&dir, "other", 1 << 30).0, &dir).unwrap();
        other.append(1, &ST, r#"{"messageId":"o"}"#).unwrap();
        other.commit();
        drop(other);
        // A newer format: left alone, logged.
        let mut newer =
            format::header(format::fingerprint(crate::config::DEFAULT_HOST, "k")).to_vec();
        newer[8..12].copy_from_slice(&(format::VERSION + 1).to_le_bytes());
        fs::write(dir.join("newer.seg"), &newer).unwrap();
        // Ours with a torn tail.
        let mut dead = open(&dir);
        dead.append(1, &ST, r#"{"messageId":"a"}"#).unwrap();
        dead.append(2, &ST, r#"{"messageId":"b"}"#).unwrap();
        dead.commit();
        let path = dead.segments[0].path.clone();
        drop(dead);
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();

        let (sh, lines) = shared(&dir, "k", 1 << 30);
        let mut s = Spool::open(sh.clone(), &dir).unwrap();
        let adopted = s.adopt();
        assert_eq!(jsons(&adopted), vec![r#"{"messageId":"a"}"#]);
        assert_eq!(sh.stats.spool_damaged.load(Relaxed), 1);
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("damaged bytes"), "{lines}");
        assert!(lines.contains("newer version"), "{lines}");
        assert!(!lines.contains("\"k\""));
        adopted.remove();
        assert!(dir.join("newer.seg").exists());
        s.close();
        assert_eq!(files(&dir), 2, "the other key's file and the newer one");
        fs::remove_dir_all(dir).unwrap();
    }
}
