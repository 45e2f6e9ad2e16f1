//! The per-key check of a recorded history, in the spirit of Knossos/Elle for a register with
//! unique values: every read must return a value that could be current at some instant between
//! its invocation and its completion.
//!
//! An operation that was acknowledged (outcome ok) took effect at some instant inside its
//! interval [invoke, complete]. A failed one never took effect. One with an unknown outcome may
//! take effect at any instant after its invocation, even after the client gave up on it, so it
//! is never "complete" and never supersedes anything, but it can always explain a read.
//!
//! Write (or delete) X is *superseded before* instant t when some acknowledged write or delete
//! Y of the same key completed before t and was invoked after X completed (X ok): then X < Y
//! in every linearization, and whatever X left was gone by t. (This is stronger than looking at
//! the latest acknowledged mutation L alone, and still never flags a legal history: Y is a
//! witness however the other operations are ordered.)
//!
//! - A read R of value v (invoked at t, completed at c) is legal iff v's writer X was invoked
//!   before c, did not fail, and is not superseded before t. The anomaly is named after the
//!   newest (last invoked) superseding mutation: a delete makes it a `resurrected_delete`, a
//!   write a `stale_read`.
//! - A read of "not found" is legal iff no acknowledged write completed before t (the initial
//!   empty state), or some delete (ok or unknown) invoked before c is not superseded before t.
//!   Otherwise it is a `stale_read`: an acknowledged write is missing.
//! - A LIST is a read of every key at once: a listed key needs a write that is not superseded
//!   by a delete before t (else `resurrected_delete`); an unlisted key must be legal as a read
//!   of "not found" (else `stale_read`).
//! - The final state, read through each gateway after the nemesis stopped and repair ran, is a
//!   read that began after every operation ended: a superseded value or a missing key there
//!   means an acknowledged write was lost (`lost_write`; a deleted key come back is still a
//!   `resurrected_delete`).
//! - After repair, both regions must hold the same raw copy of every key (`regions_differ`):
//!   same presence, upstream ETag, `tv-stamp` metadata and bytes.
//! - A read of a value nobody wrote to that key, that a failed write wrote, or that was written
//!   by an operation invoked after the read completed is an `impossible_read`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::Duration;

use super::history::{Op, OpKind, Outcome, Read};

/// The kinds of anomaly the checker reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// A read returned a value (or not found) already superseded by an acknowledged write
    /// that completed before the read began.
    StaleRead,
    /// A read or listing saw a value whose key an acknowledged delete removed before the read
    /// began, with no write that could have brought it back.
    ResurrectedDelete,
    /// After repair, a key's final state is one an acknowledged write had superseded.
    LostWrite,
    /// After repair, the two regions' raw copies of a key differ.
    RegionsDiffer,
    /// A value never written to the key, written by a failed write, or written after the read.
    ImpossibleRead,
    /// After healing, a gateway could not read a key's final state at all.
    Unreadable,
}

impl AnomalyKind {
    pub const ALL: [AnomalyKind; 6] = [
        AnomalyKind::StaleRead,
        AnomalyKind::ResurrectedDelete,
        AnomalyKind::LostWrite,
        AnomalyKind::RegionsDiffer,
        AnomalyKind::ImpossibleRead,
        AnomalyKind::Unreadable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::StaleRead => "stale_read",
            AnomalyKind::ResurrectedDelete => "resurrected_delete",
            AnomalyKind::LostWrite => "lost_write",
            AnomalyKind::RegionsDiffer => "regions_differ",
            AnomalyKind::ImpossibleRead => "impossible_read",
            AnomalyKind::Unreadable => "unreadable",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One violation, with the operations that prove it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub key: String,
    pub detail: String,
}

/// An object as one region stores it (ciphertext: compared, not interpreted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCopy {
    /// The upstream ETag.
    pub etag: String,
    /// The gateway's `tv-stamp` metadata.
    pub stamp: String,
    /// MD5 (hex) of the stored bytes.
    pub md5: String,
}

/// What the run read once the nemesis stopped, every operation had ended and repair ran.
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    /// When the final reads began (after every operation of the history completed).
    pub at: Duration,
    /// Per gateway (label, e.g. `gw1`): key → value read, `None` for not found.
    pub reads: Vec<(String, BTreeMap<String, Option<String>>)>,
    /// Per gateway: keys it could not read (label, key, last error).
    pub unreadable: Vec<(String, String, String)>,
    /// Both regions' raw copies: key → copy.
    pub regions: [BTreeMap<String, RawCopy>; 2],
}

/// Checks `history` (and, when given, the final state) and returns every anomaly found:
/// every acknowledged change counts from its acknowledgement on, through every gateway.
pub fn check(history: &[Op], final_state: Option<&FinalState>) -> Vec<Anomaly> {
    check_bounded(history, final_state, Duration::ZERO).anomalies
}

/// What [`check_bounded`] found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Reads that break the contract, and the final state's faults.
    pub anomalies: Vec<Anomaly>,
    /// Reads through a gateway that did not make the change they miss, within `bound` of its
    /// acknowledgement: the documented bound of another replica (docs/CONSISTENCY.md). Each
    /// says how long after the acknowledgement the read began.
    pub within_bound: Vec<Anomaly>,
}

/// Like [`check`], but a change acknowledged through one gateway must be seen through the
/// others only from `bound` after its acknowledgement (the time a replica may take to learn
/// of a lagging region from the journal); through its own gateway at once. A read that is
/// stale only within that bound is reported in [`Checked::within_bound`], not as an anomaly.
pub fn check_bounded<'h>(history: &'h [Op], final_state: Option<&FinalState>, bound: Duration) -> Checked {
    let model = Model::new(history);
    let mut checked = Checked::default();
    for op in history {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let strict = Reader::strict(op.gateway);
        let bounded = Reader {
            gateway: op.gateway,
            bound,
        };
        let mut judge = |key: &str, what: String, verdict: &dyn Fn(Reader) -> Option<Verdict<'h>>| {
            let Some(found) = verdict(strict) else {
                return;
            };
            let anomaly = found.anomaly(key, &what, false);
            if verdict(bounded).is_none() {
                let lag = found
                    .by()
                    .map_or(Duration::ZERO, |by| op.invoke.saturating_sub(by.complete));
                checked.within_bound.push(Anomaly {
                    detail: format!("{} ({} ms after it was acknowledged)", anomaly.detail, lag.as_millis()),
                    ..anomaly
                });
            } else {
                checked.anomalies.push(anomaly);
            }
        };
        match &op.read {
            Some(Read::Value(value)) => {
                judge(&op.key, op.describe(), &|reader| {
                    model.judge_value(&op.key, value.as_deref(), (op.invoke, op.complete), reader)
                });
            }
            Some(Read::Keys(listed)) => {
                let keys: BTreeSet<&str> = model.keys().chain(listed.iter().map(String::as_str)).collect();
                for key in keys {
                    let present = listed.contains(key);
                    let what = format!(
                        "{} ({key} {})",
                        op.describe(),
                        if present { "listed" } else { "not listed" }
                    );
                    judge(key, what, &|reader| {
                        if present {
                            model.judge_present(key, (op.invoke, op.complete), reader)
                        } else {
                            model.judge_value(key, None, (op.invoke, op.complete), reader)
                        }
                    });
                }
            }
            None => {}
        }
    }
    if let Some(state) = final_state {
        check_final(&model, state, &mut checked.anomalies);
    }
    checked
}

/// Which acknowledged changes a read must see: those made through its own gateway once
/// acknowledged, those made through another `bound` later.
#[derive(Clone, Copy, Debug)]
struct Reader {
    gateway: usize,
    bound: Duration,
}

impl Reader {
    fn strict(gateway: usize) -> Self {
        Reader {
            gateway,
            bound: Duration::ZERO,
        }
    }

    /// Whether `op`, acknowledged, must be visible to a read that began at `t`.
    fn sees(&self, op: &Op, t: Duration) -> bool {
        let delay = if op.gateway == self.gateway {
            Duration::ZERO
        } else {
            self.bound
        };
        op.complete + delay < t
    }
}

fn check_final(model: &Model<'_>, state: &FinalState, anomalies: &mut Vec<Anomaly>) {
    for (label, reads) in &state.reads {
        let keys: BTreeSet<&str> = model.keys().chain(reads.keys().map(String::as_str)).collect();
        for key in keys {
            if state.unreadable.iter().any(|(l, k, _)| l == label && k == key) {
                continue;
            }
            let value = reads.get(key).cloned().flatten();
            if let Some(verdict) = model.judge_value(key, value.as_deref(), (state.at, state.at), Reader::strict(0)) {
                let shown = value.as_deref().map_or("not found".to_owned(), |v| format!("{v:?}"));
                let what = format!("final state of {key} through {label} after repair: {shown}");
                anomalies.push(verdict.anomaly(key, &what, true));
            }
        }
    }
    for (label, key, error) in &state.unreadable {
        anomalies.push(Anomaly {
            kind: AnomalyKind::Unreadable,
            key: key.clone(),
            detail: format!("final read of {key} through {label} kept failing: {error}"),
        });
    }
    let [a, b] = &state.regions;
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (copy_a, copy_b) = (a.get(key), b.get(key));
        if copy_a != copy_b {
            anomalies.push(Anomaly {
                kind: AnomalyKind::RegionsDiffer,
                key: key.clone(),
                detail: format!("after repair region a holds {copy_a:?}, region b holds {copy_b:?}"),
            });
        }
    }
}

/// Why a read is illegal, with the operation that proves it.
#[derive(Debug)]
enum Verdict<'h> {
    /// The value's writer was superseded by this acknowledged write.
    SupersededByWrite(&'h Op),
    /// The value's writer was superseded by this acknowledged delete.
    SupersededByDelete(&'h Op),
    /// Not found, though this acknowledged write completed before the read began and every
    /// delete that could explain it was superseded by it.
    Missing(&'h Op),
    /// A value that cannot have been read at all.
    Impossible(String),
}

impl<'h> Verdict<'h> {
    /// The acknowledged change the read missed, if the verdict names one.
    fn by(&self) -> Option<&'h Op> {
        match self {
            Verdict::SupersededByWrite(by) | Verdict::SupersededByDelete(by) | Verdict::Missing(by) => Some(by),
            Verdict::Impossible(_) => None,
        }
    }

    fn anomaly(&self, key: &str, what: &str, after_repair: bool) -> Anomaly {
        let (kind, why) = match self {
            Verdict::SupersededByWrite(by) => (
                if after_repair {
                    AnomalyKind::LostWrite
                } else {
                    AnomalyKind::StaleRead
                },
                format!("superseded by {}", by.describe()),
            ),
            Verdict::SupersededByDelete(by) => {
                (AnomalyKind::ResurrectedDelete, format!("deleted by {}", by.describe()))
            }
            Verdict::Missing(by) => (
                if after_repair {
                    AnomalyKind::LostWrite
                } else {
                    AnomalyKind::StaleRead
                },
                format!("missing the acknowledged {}", by.describe()),
            ),
            Verdict::Impossible(why) => (AnomalyKind::ImpossibleRead, why.clone()),
        };
        Anomaly {
            kind,
            key: key.to_owned(),
            detail: format!("{what}: {why}"),
        }
    }
}

/// The history indexed per key.
struct Model<'h> {
    /// Per key: its writes and deletes that did not fail, in history order.
    mutations: BTreeMap<&'h str, Vec<&'h Op>>,
    /// Every write by the value it wrote (values are unique), failed ones included.
    writers: HashMap<&'h str, &'h Op>,
}

impl<'h> Model<'h> {
    fn new(history: &'h [Op]) -> Self {
        let mut mutations: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
        let mut writers = HashMap::new();
        for op in history.iter().filter(|op| op.kind.is_mutation()) {
            if let Some(value) = &op.written {
                writers.insert(value.as_str(), op);
            }
            if op.outcome != Outcome::Failed {
                mutations.entry(op.key.as_str()).or_default().push(op);
            }
        }
        Model { mutations, writers }
    }

    fn keys(&self) -> impl Iterator<Item = &'h str> + '_ {
        self.mutations.keys().copied()
    }

    fn of(&self, key: &str) -> &[&'h Op] {
        self.mutations.get(key).map_or(&[], Vec::as_slice)
    }

    /// Of the acknowledged mutations of `key` that completed before `t` and satisfy `filter`,
    /// the one invoked last (the strongest witness that something older is gone).
    fn last_invoked_before(
        &self,
        key: &str,
        (t, reader): (Duration, Reader),
        filter: impl Fn(&Op) -> bool,
    ) -> Option<&'h Op> {
        self.of(key)
            .iter()
            .copied()
            .filter(|op| op.outcome == Outcome::Ok && reader.sees(op, t) && filter(op))
            .max_by_key(|op| op.invoke)
    }

    /// `None` if reading `value` (`None` = not found) from `key` in [t, c] is legal for `reader`.
    fn judge_value(
        &self,
        key: &str,
        value: Option<&str>,
        (t, c): (Duration, Duration),
        reader: Reader,
    ) -> Option<Verdict<'h>> {
        match value {
            Some(value) => {
                let Some(&writer) = self.writers.get(value) else {
                    return Some(Verdict::Impossible(format!("{value:?} was never written")));
                };
                if writer.key != key {
                    return Some(Verdict::Impossible(format!(
                        "{value:?} was written to {}: {}",
                        writer.key,
                        writer.describe()
                    )));
                }
                if writer.outcome == Outcome::Failed {
                    return Some(Verdict::Impossible(format!(
                        "written by a failed write: {}",
                        writer.describe()
                    )));
                }
                if writer.invoke > c {
                    return Some(Verdict::Impossible(format!(
                        "written by a write invoked after the read completed: {}",
                        writer.describe()
                    )));
                }
                let done = writer.acknowledged_at()?;
                // Named after the newest (last invoked) superseding mutation: a key deleted
                // and written again is stale, one whose last known change is a delete is back
                // from the dead.
                let by = self.last_invoked_before(key, (t, reader), |op| op.invoke > done)?;
                Some(if by.kind == OpKind::Delete {
                    Verdict::SupersededByDelete(by)
                } else {
                    Verdict::SupersededByWrite(by)
                })
            }
            None => {
                // The latest-invoked acknowledged write before t supersedes the initial state
                // and every delete that completed before it was invoked.
                let write = self.last_invoked_before(key, (t, reader), |op| op.kind.is_write())?;
                let explained = self.of(key).iter().any(|op| {
                    op.kind == OpKind::Delete
                        && op.invoke < c
                        && op.acknowledged_at().is_none_or(|done| done >= write.invoke)
                });
                (!explained).then_some(Verdict::Missing(write))
            }
        }
    }

    /// `None` if a listing in [t, c] may show `key` as present.
    fn judge_present(&self, key: &str, (t, c): (Duration, Duration), reader: Reader) -> Option<Verdict<'h>> {
        let delete = self.last_invoked_before(key, (t, reader), |op| op.kind == OpKind::Delete);
        let mut written = false;
        for op in self.of(key).iter().filter(|op| op.kind.is_write() && op.invoke < c) {
            written = true;
            match (op.acknowledged_at(), delete) {
                (Some(done), Some(delete)) if delete.invoke > done => {}
                _ => return None,
            }
        }
        Some(match delete {
            Some(delete) if written => Verdict::SupersededByDelete(delete),
            _ => Verdict::Impossible(format!("{key} listed but never written before the listing completed")),
        })
    }
}

/// Anomalies per kind, in [`AnomalyKind::ALL`] order (kinds without any included, as 0).
pub fn count_by_kind(anomalies: &[Anomaly]) -> Vec<(AnomalyKind, usize)> {
    AnomalyKind::ALL
        .iter()
        .map(|&kind| (kind, anomalies.iter().filter(|a| a.kind == kind).count()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn op(kind: OpKind, key: &str, span: (u64, u64), outcome: Outcome) -> Op {
        Op {
            worker: 0,
            gateway: 0,
            kind,
            key: key.to_owned(),
            written: None,
            read: None,
            invoke: ms(span.0),
            complete: ms(span.1),
            outcome,
            error: None,
        }
    }

    fn put(value: &str, span: (u64, u64), outcome: Outcome) -> Op {
        Op {
            written: Some(value.to_owned()),
            ..op(OpKind::Put, "k", span, outcome)
        }
    }

    fn put_if_absent(value: &str, span: (u64, u64), outcome: Outcome) -> Op {
        Op {
            written: Some(value.to_owned()),
            ..op(OpKind::PutIfAbsent, "k", span, outcome)
        }
    }

    fn delete(span: (u64, u64), outcome: Outcome) -> Op {
        op(OpKind::Delete, "k", span, outcome)
    }

    fn get(value: Option<&str>, span: (u64, u64)) -> Op {
        Op {
            read: Some(Read::Value(value.map(str::to_owned))),
            ..op(OpKind::Get, "k", span, Outcome::Ok)
        }
    }

    fn head(value: Option<&str>, span: (u64, u64)) -> Op {
        Op {
            kind: OpKind::Head,
            ..get(value, span)
        }
    }

    fn list(keys: &[&str], span: (u64, u64)) -> Op {
        Op {
            read: Some(Read::Keys(keys.iter().map(|k| (*k).to_owned()).collect())),
            ..op(OpKind::List, "", span, Outcome::Ok)
        }
    }

    fn kinds(history: &[Op]) -> Vec<AnomalyKind> {
        check(history, None).into_iter().map(|a| a.kind).collect()
    }

    fn final_reads(at: u64, value: Option<&str>) -> FinalState {
        let reads = BTreeMap::from([("k".to_owned(), value.map(str::to_owned))]);
        FinalState {
            at: ms(at),
            reads: vec![("gw1".to_owned(), reads)],
            ..FinalState::default()
        }
    }

    fn final_kinds(history: &[Op], state: &FinalState) -> Vec<AnomalyKind> {
        check(history, Some(state)).into_iter().map(|a| a.kind).collect()
    }

    use Outcome::{Failed, Ok as Acked, Unknown};

    // --- anomalies that must be found ---

    #[test]
    fn a_value_overwritten_before_the_read_began_is_a_stale_read() {
        let history = [
            put("a", (0, 10), Acked),
            put("b", (20, 30), Acked),
            get(Some("a"), (40, 50)),
        ];
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead]);
        let anomaly = &check(&history, None)[0];
        assert!(
            anomaly.detail.contains("superseded by") && anomaly.detail.contains("\"b\""),
            "{anomaly:?}"
        );
    }

    #[test]
    fn a_stale_head_is_found_like_a_stale_get() {
        let history = [
            put("a", (0, 10), Acked),
            put("b", (20, 30), Acked),
            head(Some("a"), (40, 50)),
        ];
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead]);
    }

    #[test]
    fn a_superseding_write_counts_even_when_a_concurrent_one_completed_last() {
        // c is concurrent with a and completed last, but b was invoked after a completed and
        // acknowledged before the read: a is gone whichever way c is ordered.
        let history = [
            put("a", (0, 10), Acked),
            put("b", (20, 30), Acked),
            put("c", (5, 35), Acked),
            get(Some("a"), (40, 50)),
        ];
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead]);
    }

    #[test]
    fn not_found_after_an_acknowledged_write_is_a_stale_read() {
        let history = [delete((0, 5), Acked), put("a", (10, 20), Acked), get(None, (30, 40))];
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead]);
        // Without any delete the initial state was superseded just the same.
        assert_eq!(
            kinds(&[put("a", (10, 20), Acked), head(None, (30, 40))]),
            [AnomalyKind::StaleRead]
        );
    }

    #[test]
    fn a_value_deleted_before_the_read_began_is_a_resurrected_delete() {
        let history = [
            put("a", (0, 10), Acked),
            delete((20, 30), Acked),
            get(Some("a"), (40, 50)),
        ];
        assert_eq!(kinds(&history), [AnomalyKind::ResurrectedDelete]);
    }

    #[test]
    fn a_value_deleted_and_then_overwritten_is_a_stale_read_and_the_other_way_round_resurrected() {
        let rewritten = [
            put("a", (0, 10), Acked),
            delete((20, 30), Acked),
            put("b", (40, 50), Acked),
            get(Some("a"), (60, 70)),
        ];
        assert_eq!(kinds(&rewritten), [AnomalyKind::StaleRead]);
        let deleted = [
            put("a", (0, 10), Acked),
            put("b", (20, 30), Acked),
            delete((40, 50), Acked),
            get(Some("a"), (60, 70)),
            get(Some("b"), (60, 70)),
        ];
        assert_eq!(
            kinds(&deleted),
            [AnomalyKind::ResurrectedDelete, AnomalyKind::ResurrectedDelete]
        );
    }

    #[test]
    fn a_listing_with_a_deleted_key_is_a_resurrected_delete() {
        let history = [
            put("a", (0, 10), Acked),
            delete((20, 30), Acked),
            list(&["k"], (40, 50)),
        ];
        assert_eq!(kinds(&history), [AnomalyKind::ResurrectedDelete]);
    }

    #[test]
    fn a_listing_without_an_acknowledged_key_is_a_stale_read() {
        let history = [put("a", (0, 10), Acked), list(&[], (20, 30))];
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead]);
    }

    #[test]
    fn values_that_cannot_have_been_read_are_impossible_reads() {
        let never = [get(Some("zzz"), (0, 10))];
        assert_eq!(kinds(&never), [AnomalyKind::ImpossibleRead]);
        let failed = [
            put("a", (0, 10), Acked),
            put_if_absent("b", (20, 30), Failed),
            get(Some("b"), (40, 50)),
        ];
        assert_eq!(kinds(&failed), [AnomalyKind::ImpossibleRead]);
        let future = [get(Some("a"), (0, 10)), put("a", (20, 30), Acked)];
        assert_eq!(kinds(&future), [AnomalyKind::ImpossibleRead]);
        let other_key = [
            Op {
                key: "j".into(),
                ..put("a", (0, 10), Acked)
            },
            get(Some("a"), (20, 30)),
        ];
        assert_eq!(kinds(&other_key), [AnomalyKind::ImpossibleRead]);
        let phantom_key = [list(&["ghost"], (0, 10))];
        assert_eq!(kinds(&phantom_key), [AnomalyKind::ImpossibleRead]);
    }

    #[test]
    fn a_final_state_that_lost_the_last_acknowledged_write_is_a_lost_write() {
        let history = [put("a", (0, 10), Acked), put("b", (20, 30), Acked)];
        assert_eq!(
            final_kinds(&history, &final_reads(100, Some("a"))),
            [AnomalyKind::LostWrite]
        );
        assert_eq!(final_kinds(&history, &final_reads(100, None)), [AnomalyKind::LostWrite]);
        let deleted = [put("a", (0, 10), Acked), delete((20, 30), Acked)];
        assert_eq!(
            final_kinds(&deleted, &final_reads(100, Some("a"))),
            [AnomalyKind::ResurrectedDelete]
        );
    }

    #[test]
    fn regions_with_different_copies_after_repair_differ() {
        let copy = |stamp: &str| RawCopy {
            etag: "\"e\"".into(),
            stamp: stamp.into(),
            md5: "m".into(),
        };
        let mut state = final_reads(100, Some("a"));
        state.regions[0].insert("k".into(), copy("s1"));
        state.regions[1].insert("k".into(), copy("s2"));
        state.regions[0].insert("j".into(), copy("s1"));
        let history = [put("a", (0, 10), Acked)];
        assert_eq!(
            final_kinds(&history, &state),
            [AnomalyKind::RegionsDiffer, AnomalyKind::RegionsDiffer]
        );
        state.regions[1] = state.regions[0].clone();
        assert_eq!(final_kinds(&history, &state), []);
    }

    #[test]
    fn a_key_no_gateway_can_read_after_healing_is_unreadable() {
        let mut state = final_reads(100, Some("a"));
        state.unreadable.push(("gw2".into(), "k".into(), "timeout".into()));
        assert_eq!(
            final_kinds(&[put("a", (0, 10), Acked)], &state),
            [AnomalyKind::Unreadable]
        );
    }

    // --- legal histories that must not be flagged ---

    #[test]
    fn a_read_concurrent_with_a_write_may_see_the_old_or_the_new_value() {
        for seen in ["a", "b"] {
            let history = [
                put("a", (0, 10), Acked),
                put("b", (20, 40), Acked),
                get(Some(seen), (25, 35)),
                head(Some(seen), (15, 45)),
            ];
            assert_eq!(kinds(&history), [], "{seen}");
        }
        // Two concurrent acknowledged writes, read after both: either may have won.
        for seen in ["a", "b"] {
            let history = [
                put("a", (0, 20), Acked),
                put("b", (10, 30), Acked),
                get(Some(seen), (40, 50)),
            ];
            assert_eq!(kinds(&history), [], "{seen}");
            let state = final_reads(100, Some(seen));
            assert_eq!(final_kinds(&history[..2], &state), [], "final {seen}");
        }
    }

    #[test]
    fn an_unknown_write_may_or_may_not_be_seen_at_any_later_time() {
        for seen in ["a", "b"] {
            let history = [
                put("a", (0, 10), Acked),
                put("b", (20, 25), Unknown),
                get(Some(seen), (30, 40)),
            ];
            assert_eq!(kinds(&history), [], "{seen}");
        }
        // It may even take effect after a later acknowledged write; the write it would have
        // overwritten cannot come back, though.
        let history = [
            put("a", (0, 10), Acked),
            put("b", (20, 25), Unknown),
            put("c", (50, 60), Acked),
            get(Some("b"), (70, 80)),
            get(Some("c"), (70, 80)),
        ];
        assert_eq!(kinds(&history), []);
        let stale = [
            put("a", (0, 10), Acked),
            put("b", (20, 25), Unknown),
            put("c", (50, 60), Acked),
            get(Some("a"), (70, 80)),
        ];
        assert_eq!(kinds(&stale), [AnomalyKind::StaleRead]);
        assert_eq!(final_kinds(&history[..3], &final_reads(100, Some("b"))), []);
    }

    #[test]
    fn reads_after_a_delete_see_not_found_and_concurrent_ones_either() {
        let history = [
            put("a", (0, 10), Acked),
            delete((20, 30), Acked),
            get(None, (40, 50)),
            list(&[], (40, 50)),
        ];
        assert_eq!(kinds(&history), []);
        for seen in [Some("a"), None] {
            let history = [put("a", (0, 10), Acked), delete((20, 30), Acked), get(seen, (25, 28))];
            assert_eq!(kinds(&history), [], "{seen:?}");
        }
        for listed in [&["k"][..], &[]] {
            let history = [
                put("a", (0, 10), Acked),
                delete((20, 30), Acked),
                list(listed, (25, 35)),
            ];
            assert_eq!(kinds(&history), [], "{listed:?}");
        }
        assert_eq!(
            final_kinds(
                &[put("a", (0, 10), Acked), delete((20, 30), Acked)],
                &final_reads(100, None)
            ),
            []
        );
    }

    #[test]
    fn an_unknown_delete_may_or_may_not_have_happened() {
        for seen in [Some("a"), None] {
            let history = [put("a", (0, 10), Acked), delete((20, 30), Unknown), get(seen, (40, 50))];
            assert_eq!(kinds(&history), [], "{seen:?}");
        }
    }

    #[test]
    fn a_key_never_written_before_the_read_is_not_found() {
        let history = [
            get(None, (0, 5)),
            put("a", (3, 20), Acked),
            get(None, (10, 15)),
            list(&[], (2, 30)),
        ];
        assert_eq!(kinds(&history), []);
        // A write concurrent with a listing may show up in it.
        assert_eq!(kinds(&[put("a", (3, 20), Acked), list(&["k"], (10, 15))]), []);
    }

    #[test]
    fn a_failed_conditional_write_supersedes_nothing() {
        let history = [
            put("a", (0, 10), Acked),
            put_if_absent("b", (20, 30), Failed),
            get(Some("a"), (40, 50)),
            list(&["k"], (40, 50)),
        ];
        assert_eq!(kinds(&history), []);
        // An acknowledged one is a write like any other.
        let acked = [
            delete((0, 5), Acked),
            put_if_absent("b", (10, 20), Acked),
            get(Some("b"), (30, 40)),
        ];
        assert_eq!(kinds(&acked), []);
    }

    #[test]
    fn reads_that_failed_observe_nothing() {
        let mut failed_read = get(Some("zzz"), (40, 50));
        failed_read.outcome = Unknown;
        assert_eq!(kinds(&[put("a", (0, 10), Acked), failed_read]), []);
    }

    #[test]
    fn a_change_made_through_another_gateway_is_excused_only_within_the_bound() {
        let on = |gateway, op: Op| Op { gateway, ..op };
        let history = [
            on(0, put("v1", (0, 10), Outcome::Ok)),
            on(0, put("v2", (100, 110), Outcome::Ok)),
            on(1, get(Some("v1"), (150, 160))),
            on(0, get(Some("v1"), (170, 180))),
            on(1, get(Some("v1"), (1200, 1210))),
        ];
        let checked = check_bounded(&history, None, ms(1000));
        assert_eq!(checked.within_bound.len(), 1, "{checked:?}");
        assert!(checked.within_bound[0].detail.contains("40 ms after"), "{checked:?}");
        let late: Vec<_> = checked.anomalies.iter().map(|a| a.detail.as_str()).collect();
        assert_eq!(
            late.len(),
            2,
            "the writer's gateway at once, the other after the bound: {late:?}"
        );
        assert_eq!(kinds(&history), [AnomalyKind::StaleRead; 3], "strict: all three");
    }
}
