//! Injected faults: a route's error or 429, and how often it fires.

use super::RouteKind;

/// How often an injected fault fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next matching request only.
    Once,
    /// The next `n` matching requests.
    N(u32),
    /// Every matching request until cleared.
    Always,
}

impl Times {
    /// Consumes one use; returns whether the fault fires now.
    fn take(&mut self) -> bool {
        match self {
            Times::Always => true,
            Times::Once => {
                *self = Times::N(0);
                true
            }
            Times::N(0) => false,
            Times::N(n) => {
                *n -= 1;
                true
            }
        }
    }

    fn exhausted(&self) -> bool {
        *self == Times::N(0)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum FaultKind {
    Error { status: u16, code: u32 },
    RateLimit { retry_after: f64, global: bool },
}

#[derive(Clone, Debug)]
pub(crate) struct Fault {
    pub(crate) route: RouteKind,
    pub(crate) times: Times,
    pub(crate) kind: FaultKind,
}

impl Fault {
    /// Takes the first live fault for `route`, dropping exhausted ones.
    pub(crate) fn take(faults: &mut Vec<Fault>, route: RouteKind) -> Option<FaultKind> {
        let mut fired = None;
        for f in faults.iter_mut() {
            if f.route == route && f.times.take() {
                fired = Some(f.kind.clone());
                break;
            }
        }
        faults.retain(|f| !f.times.exhausted());
        fired
    }
}
