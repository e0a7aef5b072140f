//! The replayer: adopts the spool files of processes that died — at the
//! start, then every `spool_takeover_ms / 2` while this one runs — and feeds
//! their messages to the worker with their original messageId.
//!
//! It runs on its own thread, never on the delivery runtime: a hostile or
//! huge file costs this thread time, not anyone's delivery. It streams: a
//! message is read from disk only when the worker's backlog leaves room
//! (half of `max_queue_bytes`, the other half stays for new events) and our
//! own spool has room for its copy; an adopted file is deleted only once all
//! its messages are copied into our own segments and synced. A stop (a
//! shutdown whose bound expired) leaves what was not copied on disk, for the
//! next start.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::{Adoptable, Spool, Spooled, Stored};
use crate::batch::MESSAGE_OVERHEAD;
use crate::inbox::{Cmd, Inbox};
use crate::log::Level;
use crate::message::Kind;
use crate::shared::Shared;

/// Adopted files held open (and locked) at once before their copies are
/// synced and they are deleted: bounds the file descriptors a directory of
/// thousands of small files takes.
const MAX_HELD: usize = 32;
/// How often the replayer looks whether the directory was deleted.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Wait between two looks for room in the backlog.
const ROOM_POLL: Duration = Duration::from_millis(5);

/// Start the replayer of a client whose worker begins in the replaying
/// state (its first round always ends with `Cmd::ReplayDone`); false if
/// the thread could not start (logged; the worker must not wait then).
pub fn spawn(
    shared: Arc<Shared>,
    spool: Arc<Spool>,
    inbox: Arc<Inbox>,
    stop: Arc<AtomicBool>,
) -> bool {
    let log_to = shared.clone();
    let replayer = Replayer {
        shared,
        spool,
        inbox,
        stop,
    };
    let spawned = std::thread::Builder::new()
        .name("segment-replay".into())
        .spawn(move || replayer.run());
    if let Err(e) = &spawned {
        log_to.log(
            Level::Error,
            "spool_replay",
            format!("spool: cannot start the replay thread ({e}); files of dead processes are not replayed"),
        );
    }
    spawned.is_ok()
}

struct Replayer {
    shared: Arc<Shared>,
    spool: Arc<Spool>,
    inbox: Arc<Inbox>,
    stop: Arc<AtomicBool>,
}

/// How a round ended.
struct Round {
    replayed: u64,
    /// Files left on disk because the round was stopped.
    left: usize,
}

impl Replayer {
    fn run(self) {
        let every = self.shared.config.spool_takeover / 2;
        let mut first = true;
        let mut next_round = Instant::now();
        let mut next_check = Instant::now() + CHECK_EVERY;
        loop {
            if Instant::now() >= next_round {
                let round = self.round(first);
                if first && !self.inbox.push(Cmd::ReplayDone, true) {
                    return;
                }
                first = false;
                self.report(round);
                next_round = Instant::now() + every;
            }
            if self.stopping() || !self.spool.is_active() {
                return;
            }
            if Instant::now() >= next_check {
                self.spool.check_dir();
                next_check = Instant::now() + CHECK_EVERY;
            }
            let wake = next_round.min(next_check);
            std::thread::sleep(
                wake.saturating_duration_since(Instant::now())
                    .min(Duration::from_millis(100)),
            );
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Relaxed) || self.shared.closed.load(Relaxed)
    }

    fn report(&self, round: Round) {
        if round.replayed > 0 {
            self.shared.log(
                Level::Info,
                "spool_replay",
                format!(
                    "spool: replaying {} messages left by a process that ended before delivering them",
                    round.replayed
                ),
            );
        }
        if round.left > 0 {
            self.shared.log(
                Level::Warn,
                "spool_left",
                format!(
                    "spool: stopped before replaying everything: {} files stay in spool_dir \
                     and the next start delivers them",
                    round.left
                ),
            );
        }
    }

    /// Adopt what is adoptable now. `announced`: the worker already waits
    /// for this round (the first); otherwise it is told when a file is found.
    fn round(&self, announced: bool) -> Round {
        let mut round = Round {
            replayed: 0,
            left: 0,
        };
        let paths = match self.spool.scan() {
            Ok(p) => p,
            Err(e) => {
                if !self.spool.check_dir() {
                    self.shared.log(
                        Level::Warn,
                        "spool_read",
                        format!("spool: cannot list spool_dir ({e}); nothing adopted this time"),
                    );
                }
                return round;
            }
        };
        let mut started = announced;
        let mut held: Vec<Adoptable> = Vec::new();
        let mut keep = false;
        for (i, path) in paths.iter().enumerate() {
            if (self.stopping() && !announced) || self.stop.load(Relaxed) {
                round.left = paths.len() - i;
                break;
            }
            let Some(mut file) = self.spool.open_adoptable(path) else {
                continue;
            };
            if !started {
                if !self.inbox.push(Cmd::ReplayStart, true) {
                    return round;
                }
                started = true;
            }
            let mut complete = true;
            let name = file.path.clone();
            let read = file.messages(|m| {
                let fed = self.feed(m, &name);
                complete &= fed.is_some();
                keep |= fed == Some(false);
                fed.is_some()
            });
            round.replayed += read.as_ref().copied().unwrap_or(0);
            if let Err(e) = read {
                self.shared.log(
                    Level::Warn,
                    "spool_read",
                    format!(
                        "spool: cannot read {} ({e}); left alone",
                        file.path.display()
                    ),
                );
                continue;
            }
            if !complete {
                round.left = paths.len() - i;
                break; // stopped: the file stays (unlocked once dropped)
            }
            held.push(file);
            if held.len() >= MAX_HELD {
                self.release(&mut held, keep);
            }
        }
        self.release(&mut held, keep);
        if started && !announced {
            self.inbox.push(Cmd::ReplayDone, true);
        }
        round
    }

    /// Delete the held files once our copies of their messages are synced;
    /// with `keep` (a copy could not be spooled) they stay for a later round.
    fn release(&self, held: &mut Vec<Adoptable>, keep: bool) {
        self.spool.sync_now();
        let durable = !keep && self.spool.is_active();
        for file in held.drain(..) {
            if durable {
                file.remove();
            }
        }
    }

    /// Hand one adopted message to the worker once there is room. `None`:
    /// stopped (the message stays on disk); `Some(false)`: handed over but
    /// not copied into our spool (its file must stay).
    fn feed(&self, m: Stored, path: &std::path::Path) -> Option<bool> {
        let stats = &self.shared.stats;
        let kind = Kind::from_code(m.stamp.kind as u32);
        let checked = match kind {
            None => Err("an unknown message type"),
            Some(_) => check_record(&m.json),
        };
        if let Err(why) = checked {
            stats.accepted.fetch_add(1, Relaxed);
            stats.drop_messages("spool_invalid", 1);
            self.shared.log(
                Level::Error,
                "spool_invalid",
                format!(
                    "spool: dropped a record of {} that this plugin does not write ({why}); \
                     check who else writes to spool_dir",
                    path.display()
                ),
            );
            return Some(true);
        }
        let kind = kind.expect("checked");
        let charged = m.json.len() + MESSAGE_OVERHEAD;
        let limit = self.shared.config.max_queue_bytes as u64 / 2;
        loop {
            if self.stop.load(Relaxed) {
                return None;
            }
            let queued = stats.queued_bytes.load(Relaxed);
            let queue_room = queued == 0 || queued + charged as u64 <= limit;
            if queue_room && self.spool.has_room(m.json.len()) {
                break;
            }
            std::thread::sleep(ROOM_POLL);
        }
        stats.accepted.fetch_add(1, Relaxed);
        stats.queued.fetch_add(1, Relaxed);
        stats.queued_bytes.fetch_add(charged as u64, Relaxed);
        let mut spooled = Spooled::Off;
        let pushed = self.inbox.push_msg(&self.shared.next_seq, |seq| {
            spooled = self.spool.append(seq, &m.stamp, &m.json);
            Cmd::Msg {
                seq,
                kind,
                json: m.json,
                charged,
                has_callback: false,
                spooled,
            }
        });
        if pushed.is_none() {
            // The worker is gone: the message stays on disk.
            stats.accepted.fetch_sub(1, Relaxed);
            stats.settle(1, charged as u64);
            return None;
        }
        stats.replayed.fetch_add(1, Relaxed);
        Some(matches!(spooled, Spooled::Stamped(_)))
    }
}

/// A replayed record must be a message this plugin's client produces:
/// a JSON object without a write key of its own (which could send it to
/// another source), whose `integrations`, if any, has the shape `track()`
/// accepts (destination name -> true/false or a settings object; the
/// plugin's own `use_ga_id` puts the GA client id there, so refusing every
/// `integrations` would lose those events after a crash). Forging a file
/// needs the write key (the header's HMAC). The rest is checked by
/// `prepare`, as for any message.
pub fn check_record(json: &str) -> Result<(), &'static str> {
    let map: BTreeMap<Cow<str>, &RawValue> =
        serde_json::from_str(json).map_err(|_| "not a JSON object")?;
    for (key, value) in &map {
        let k = key.to_ascii_lowercase();
        if k == "writekey" || k == "write_key" {
            return Err("it carries a write key");
        }
        if k == "integrations" {
            let dests: BTreeMap<Cow<str>, serde_json::Value> = serde_json::from_str(value.get())
                .map_err(|_| "its integrations is not an object")?;
            if !dests.values().all(|v| v.is_boolean() || v.is_object()) {
                return Err("its integrations is not destination -> true/false or settings");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replayed_record_cannot_carry_a_write_key_or_odd_integrations() {
        assert!(check_record(r#"{"userId":"u","event":"E"}"#).is_ok());
        // what use_ga_id and track({ integrations }) produce
        assert!(check_record(r#"{"userId":"u","event":"E","integrations":{"Google Analytics":{"clientId":"1.2"},"All":true}}"#).is_ok());
        for bad in [
            r#"{"userId":"u","event":"E","writeKey":"other"}"#,
            r#"{"userId":"u","event":"E","WRITE_KEY":"other"}"#,
            r#"{"userId":"u","event":"E","integrations":["All"]}"#,
            r#"{"userId":"u","event":"E","integrations":{"All":"yes"}}"#,
            r#"[1,2]"#,
            "not json",
        ] {
            assert!(check_record(bad).is_err(), "{bad}");
        }
    }
}
