//! One retry policy for every step of a transfer (a part upload, a ranged read): a few attempts
//! with exponential backoff, and for each failure a named outcome — try again, or give up.

use std::future::Future;
use std::time::Duration;

use crate::error::{ClientError, Result};

/// How many times a step is tried before its last error is reported.
pub const ATTEMPTS: u32 = 4;

/// The wait before the second try; it doubles for each one after.
const FIRST_BACKOFF: Duration = Duration::from_millis(400);

/// What a failed attempt means for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Worth another try: the network broke, the server had a moment, a part arrived damaged.
    Retry,
    /// Another try cannot help: the request was refused, the file changed, the disk is full.
    GiveUp,
}

/// A failed attempt: what went wrong, and whether to try again.
#[derive(Debug)]
pub struct Failed {
    pub outcome: Outcome,
    pub error: ClientError,
}

impl Failed {
    pub fn retry(error: ClientError) -> Failed {
        Failed { outcome: Outcome::Retry, error }
    }

    pub fn give_up(error: ClientError) -> Failed {
        Failed { outcome: Outcome::GiveUp, error }
    }

    /// [`Outcome::Retry`] when `worth_it`, else [`Outcome::GiveUp`].
    pub fn retry_if(worth_it: bool, error: ClientError) -> Failed {
        if worth_it { Failed::retry(error) } else { Failed::give_up(error) }
    }
}

/// Runs `attempt` until it succeeds, gives up, or has failed [`ATTEMPTS`] times, waiting 0.4 s,
/// 0.8 s, 1.6 s between tries; answers its value or its last error. An attempt takes back
/// whatever progress it counted before it fails.
pub async fn with_retries<T, F, Fut>(attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failed>>,
{
    with_retries_after(FIRST_BACKOFF, attempt).await
}

async fn with_retries_after<T, F, Fut>(first_backoff: Duration, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, Failed>>,
{
    let mut wait = first_backoff;
    for tried in 1.. {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(Failed { outcome: Outcome::GiveUp, error }) => return Err(error),
            Err(Failed { outcome: Outcome::Retry, error }) if tried >= ATTEMPTS => return Err(error),
            Err(Failed { outcome: Outcome::Retry, .. }) => {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    unreachable!("the loop above only ends by returning")
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime").block_on(f)
    }

    #[test]
    fn retries_until_success() {
        let calls = AtomicU32::new(0);
        let got = run(with_retries_after(Duration::from_millis(1), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(Failed::retry(ClientError::Error("flaky".into()))),
                n => Ok(n),
            }
        }));
        assert_eq!(got.expect("third try succeeds"), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn gives_up_at_once_when_told() {
        let calls = AtomicU32::new(0);
        let got: Result<()> = run(with_retries_after(Duration::from_millis(1), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Failed::give_up(ClientError::Failure("refused".into())))
        }));
        assert_eq!(got.expect_err("refused").message(), "refused");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn stops_after_the_last_attempt_with_its_error() {
        let calls = AtomicU32::new(0);
        let got: Result<()> = run(with_retries_after(Duration::from_millis(1), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            Err(Failed::retry(ClientError::Error(format!("try {n}"))))
        }));
        assert_eq!(got.expect_err("exhausted").message(), format!("try {}", ATTEMPTS - 1));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }
}
