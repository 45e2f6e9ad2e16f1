//! What the consistency run records: one [`Op`] per client operation, with its invocation and
//! completion instants (offsets from the start of the run), what it wrote or observed, and how
//! it ended.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// The client operations the workers issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// PutObject with a value no other write uses.
    Put,
    /// PutObject with `If-None-Match: *`: 412 means it definitely did not happen.
    PutIfAbsent,
    /// GetObject: the body is the value read (404 = not found).
    Get,
    /// HeadObject: the value is read from the object's user metadata (404 = not found).
    Head,
    /// DeleteObject.
    Delete,
    /// ListObjectsV2 of the whole bucket: the set of keys listed.
    List,
}

impl OpKind {
    pub const ALL: [OpKind; 6] = [
        OpKind::Put,
        OpKind::PutIfAbsent,
        OpKind::Get,
        OpKind::Head,
        OpKind::Delete,
        OpKind::List,
    ];

    /// PUTs, conditional PUTs and DELETEs: the operations that change a key.
    pub fn is_mutation(self) -> bool {
        matches!(self, OpKind::Put | OpKind::PutIfAbsent | OpKind::Delete)
    }

    /// PUTs and conditional PUTs.
    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Put | OpKind::PutIfAbsent)
    }

    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "put",
            OpKind::PutIfAbsent => "put_if_absent",
            OpKind::Get => "get",
            OpKind::Head => "head",
            OpKind::Delete => "delete",
            OpKind::List => "list",
        }
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Acknowledged: a write or delete took effect between invocation and completion; a read
    /// observed what [`Op::read`] holds.
    Ok,
    /// Definitely did not happen (412 on a conditional PUT).
    Failed,
    /// Timeout, 5xx, connection error, any other error: a write or delete may take effect at
    /// any time after its invocation (even after its completion); a read observed nothing.
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Outcome::Ok, Outcome::Failed, Outcome::Unknown];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// What an acknowledged read observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Read {
    /// GET or HEAD: the value read, `None` for not found.
    Value(Option<String>),
    /// LIST: the keys listed.
    Keys(BTreeSet<String>),
}

/// One operation of one worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub worker: usize,
    /// Which gateway served it (0 or 1).
    pub gateway: usize,
    pub kind: OpKind,
    /// The key (empty for LIST).
    pub key: String,
    /// The value a PUT wrote (unique across the run).
    pub written: Option<String>,
    /// What an acknowledged read observed (`None` for mutations and for reads that failed).
    pub read: Option<Read>,
    /// When the client sent it, from the start of the run.
    pub invoke: Duration,
    /// When the client had its answer (or gave up).
    pub complete: Duration,
    pub outcome: Outcome,
    /// The error, for failed and unknown outcomes.
    pub error: Option<String>,
}

impl Op {
    /// When the operation has certainly taken effect: its completion if acknowledged, never
    /// (`None`) if its outcome is unknown (it may still take effect) or it failed.
    pub fn acknowledged_at(&self) -> Option<Duration> {
        (self.outcome == Outcome::Ok).then_some(self.complete)
    }

    /// Short text for anomaly reports: `w1 put k3 "w1-17" [2.104s, 2.150s] ok`.
    pub fn describe(&self) -> String {
        let what = match (&self.written, &self.read) {
            (Some(value), _) => format!(" {value:?}"),
            (None, Some(Read::Value(Some(value)))) => format!(" -> {value:?}"),
            (None, Some(Read::Value(None))) => " -> not found".to_owned(),
            (None, Some(Read::Keys(keys))) => format!(" -> {keys:?}"),
            (None, None) => String::new(),
        };
        let key = if self.key.is_empty() {
            String::new()
        } else {
            format!(" {}", self.key)
        };
        format!(
            "w{} gw{} {}{key}{what} [{:.3}s, {:.3}s] {}",
            self.worker,
            self.gateway + 1,
            self.kind,
            self.invoke.as_secs_f64(),
            self.complete.as_secs_f64(),
            self.outcome.name()
        )
    }
}

/// The value worker `worker` writes in its `seq`-th write: unique across the run.
pub fn value_for(worker: usize, seq: u64) -> String {
    format!("w{worker}-{seq}")
}
