//! The retry schedule for transient failures (timeouts, 429, 5xx): capped
//! exponential backoff with jitter, so a third party that comes back is not
//! met by every queued sync at the same instant.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How an integration retries transient failures before a sync counts as failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1–20). Default 5.
    #[serde(default = "default_max_attempts", deserialize_with = "super::numbers::whole")]
    #[schema(minimum = 1, maximum = 20)]
    pub max_attempts: u32,
    /// Wait before the first retry, in seconds (0–86400). Default 1.
    #[serde(default = "default_initial_backoff")]
    #[schema(minimum = 0, maximum = 86400)]
    pub initial_backoff_seconds: f64,
    /// The longest wait between two attempts, in seconds (0–86400, at least
    /// `initial_backoff_seconds`). Default 300.
    #[serde(default = "default_max_backoff")]
    #[schema(minimum = 0, maximum = 86400)]
    pub max_backoff_seconds: f64,
}

fn default_max_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    300.0
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: default_max_attempts(),
            initial_backoff_seconds: default_initial_backoff(),
            max_backoff_seconds: default_max_backoff(),
        }
    }
}

/// The longest `Retry-After` honoured; a third party asking for more is
/// retried after this, so one bad header cannot park a sync for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

impl RetryPolicy {
    /// Checks the bounds; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=20).contains(&self.max_attempts) {
            return Err("retry.max_attempts must be between 1 and 20".into());
        }
        let ok = |v: f64| v.is_finite() && (0.0..=86_400.0).contains(&v);
        if !ok(self.initial_backoff_seconds) || !ok(self.max_backoff_seconds) {
            return Err("retry backoffs must be between 0 and 86400 seconds".into());
        }
        if self.max_backoff_seconds < self.initial_backoff_seconds {
            return Err("retry.max_backoff_seconds must not be below retry.initial_backoff_seconds".into());
        }
        Ok(())
    }

    /// Whether a sync that has made `attempts` attempts may try again.
    pub fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// The wait after the `attempt`-th failed attempt (1-based): the capped
    /// exponential step, jittered into its upper half, and never shorter
    /// than what the third party asked for with `Retry-After`.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30) as i32;
        let step = (self.initial_backoff_seconds * 2f64.powi(exponent)).min(self.max_backoff_seconds);
        let jittered = step / 2.0 + rng.gen_range(0.0..=step / 2.0);
        let wait = Duration::from_secs_f64(jittered.max(0.0));
        match retry_after {
            Some(asked) => wait.max(asked.min(MAX_RETRY_AFTER)),
            None => wait,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = RetryPolicy { max_attempts: 10, initial_backoff_seconds: 1.0, max_backoff_seconds: 8.0 };
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=10 {
            let step = (2f64.powi(attempt as i32 - 1)).min(8.0);
            let wait = policy.backoff(attempt, None, &mut rng).as_secs_f64();
            assert!(wait >= step / 2.0 && wait <= step, "attempt {attempt}: {wait}");
        }
    }

    #[test]
    fn retry_after_is_honoured_but_bounded() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert!(policy.backoff(1, Some(Duration::from_secs(30)), &mut rng) >= Duration::from_secs(30));
        assert_eq!(policy.backoff(1, Some(Duration::from_secs(999_999)), &mut rng), MAX_RETRY_AFTER);
    }

    #[test]
    fn attempts_are_limited() {
        let policy = RetryPolicy { max_attempts: 3, ..RetryPolicy::default() };
        assert!(policy.may_retry(2));
        assert!(!policy.may_retry(3));
        assert!(RetryPolicy { max_attempts: 0, ..RetryPolicy::default() }.validate().is_err());
    }
}
