//! What bounds one gathering, and what keeps it from asking twice: the deadline every
//! read stops at, the calls in flight per service, and reads shared by every part of the
//! evidence that needs the same answer.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use futures::future::{BoxFuture, Shared};
use futures::FutureExt;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::diagnose::evidence::{EvidencePart, Gap};

/// IAM calls of one gathering in flight at once. IAM throttles bursts per account and
/// publishes no read rate; eight keep the largest role shape of BENCHMARKS.md (two
/// inline, three managed policies and a boundary, plus a StartRestoreJob caller) in one
/// wave per step of its chain, and the SDK's standard retry absorbs a throttle.
pub const IAM_IN_FLIGHT: usize = 8;
/// KMS calls in flight at once (DescribeKey and GetKeyPolicy of at most four keys).
pub const KMS_IN_FLIGHT: usize = 4;
/// AWS Backup calls in flight at once (the restore job, its metadata, the recovery
/// point and the vault policy; more only while looking for a recovery point's vault).
pub const BACKUP_IN_FLIGHT: usize = 4;
/// STS calls in flight at once (at most two decodes: the event's and the job's token).
pub const STS_IN_FLIGHT: usize = 2;

/// The AWS services a gathering calls, each with its own bound.
#[derive(Debug, Clone, Copy)]
pub enum Service {
    Iam,
    Kms,
    Backup,
    Sts,
}

/// Calls in flight per service, for one gathering. Each permit covers exactly one call
/// (or one paginated listing) and is never held while waiting for another permit, so no
/// chain of reads can wait on itself.
pub struct Lanes {
    iam: Semaphore,
    kms: Semaphore,
    backup: Semaphore,
    sts: Semaphore,
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes {
            iam: Semaphore::new(IAM_IN_FLIGHT),
            kms: Semaphore::new(KMS_IN_FLIGHT),
            backup: Semaphore::new(BACKUP_IN_FLIGHT),
            sts: Semaphore::new(STS_IN_FLIGHT),
        }
    }
}

impl Lanes {
    /// `call`, once a permit of `service` is free.
    pub async fn run<T>(&self, service: Service, call: impl Future<Output = T>) -> T {
        let lane = match service {
            Service::Iam => &self.iam,
            Service::Kms => &self.kms,
            Service::Backup => &self.backup,
            Service::Sts => &self.sts,
        };
        // The semaphores are never closed: a permit always comes.
        let _permit = lane.acquire().await.ok();
        call.await
    }
}

/// A call put in its service's lane: `client.op().send().lane(lanes, Service::Kms).await`.
pub trait InLane: Future + Sized {
    fn lane<'l>(self, lanes: &'l Lanes, service: Service) -> impl Future<Output = Self::Output> + 'l
    where
        Self: 'l,
    {
        lanes.run(service, self)
    }
}

impl<F: Future> InLane for F {}

/// Reads started once per key: whoever asks for a key already asked waits for the same
/// answer (the recovery point's key that is also the restore's target key, a managed
/// policy attached to the role and to the caller). Shared futures are lazy: the read
/// runs while someone awaits it.
pub struct Once<'a, T: Clone> {
    started: Mutex<BTreeMap<String, Shared<BoxFuture<'a, T>>>>,
}

impl<T: Clone> Default for Once<'_, T> {
    fn default() -> Self {
        Once {
            started: Mutex::new(BTreeMap::new()),
        }
    }
}

impl<'a, T: Clone + Send + Sync + 'a> Once<'a, T> {
    /// The read of `key`, started with `start` if nobody asked for it yet.
    pub fn get(
        &self,
        key: &str,
        start: impl FnOnce() -> BoxFuture<'a, T>,
    ) -> Shared<BoxFuture<'a, T>> {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started
            .entry(key.to_owned())
            .or_insert_with(|| start().shared())
            .clone()
    }

    /// Records an answer learnt another way (a key ARN resolved from its alias), so that
    /// asking for it by this key costs no call.
    pub fn know(&self, key: &str, value: T) {
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        started
            .entry(key.to_owned())
            .or_insert_with(|| futures::future::ready(value).boxed().shared());
    }
}

/// The deadline every call of one gathering stops at.
#[derive(Clone, Copy)]
pub struct By(pub Instant);

impl By {
    /// `fut`, or `on_late()` if it has not finished by the deadline.
    pub async fn run<T>(self, fut: impl Future<Output = T>, on_late: impl FnOnce() -> T) -> T {
        match tokio::time::timeout_at(self.0, fut).await {
            Ok(v) => v,
            Err(_) => on_late(),
        }
    }

    /// A call that may fail with a gap, or the gap `on_late` makes at the deadline.
    pub async fn call<T>(
        self,
        fut: impl Future<Output = Result<T, Gap>>,
        on_late: impl FnOnce() -> Gap,
    ) -> Result<T, Gap> {
        self.run(fut, || Err(on_late())).await
    }
}

/// The gap of a call abandoned at the deadline.
pub fn late(part: EvidencePart, call: &str, on: &str) -> impl FnOnce() -> Gap {
    let call = if on.is_empty() {
        call.to_owned()
    } else {
        format!("{call} {on}")
    };
    move || {
        Gap {
        part,
        call,
        error: "not read before the deadline: the invocation's remaining time was kept for the diagnosis and the alert".into(),
    }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_key_asked_twice_is_read_once() {
        let reads = AtomicUsize::new(0);
        let once: Once<'_, usize> = Once::default();
        let read = || {
            async {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                7
            }
            .boxed()
        };
        let (a, b) = futures::join!(once.get("k", read), once.get("k", read));
        assert_eq!((a, b), (7, 7));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        once.know("other", 9);
        assert_eq!(once.get("other", read).await, 9);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn no_more_calls_of_a_service_run_at_once_than_its_lane_allows() {
        let lanes = Lanes::default();
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let call = || {
            lanes.run(Service::Kms, async {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
        };
        futures::future::join_all((0..3 * KMS_IN_FLIGHT).map(|_| call())).await;
        assert_eq!(most.load(Ordering::SeqCst), KMS_IN_FLIGHT);
    }
}
