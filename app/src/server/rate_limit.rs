//! Token buckets, the one shape of every limit on how fast a team or a key may go
//! (alerts ingested, API requests): a rate sustained, and a burst of up to the bucket's
//! capacity at once. Buckets live in each instance's memory: N instances allow N times
//! the rate.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One bucket.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    /// Tokens added a second.
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled_at: Instant,
}

/// Where a bucket stands after a request was let through, for `RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Standing {
    /// The bucket's capacity.
    pub limit: u64,
    /// Whole tokens left.
    pub remaining: u64,
    /// Seconds until the bucket is full again.
    pub reset_secs: u64,
}

impl TokenBucket {
    /// A full bucket.
    pub fn full(rate: f64, capacity: f64, now: Instant) -> Self {
        TokenBucket { rate, capacity, tokens: capacity, refilled_at: now }
    }

    /// Changes the rate and capacity (a plan changed), keeping the tokens it holds.
    pub fn resize(&mut self, rate: f64, capacity: f64) {
        self.rate = rate;
        self.capacity = capacity;
        self.tokens = self.tokens.min(capacity);
    }

    /// Takes `cost` tokens (at most the whole bucket) if there are that many, and says
    /// where the bucket stands; else how long until there are.
    pub fn take(&mut self, cost: f64, now: Instant) -> Result<Standing, Duration> {
        let elapsed = now.saturating_duration_since(self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.refilled_at = now;
        let cost = cost.min(self.capacity);
        if self.tokens >= cost {
            self.tokens -= cost;
            Ok(self.standing())
        } else {
            Err(Duration::from_secs_f64((cost - self.tokens) / self.rate))
        }
    }

    fn standing(&self) -> Standing {
        Standing {
            limit: self.capacity as u64,
            remaining: self.tokens.floor() as u64,
            reset_secs: ((self.capacity - self.tokens) / self.rate).ceil() as u64,
        }
    }
}

/// Buckets by key (a team, an API key), made full on first use; cheap to clone.
#[derive(Debug)]
pub struct Buckets<K> {
    buckets: Arc<Mutex<HashMap<K, TokenBucket>>>,
    /// Buckets kept at most; beyond, they start over (full).
    max_buckets: usize,
}

impl<K> Clone for Buckets<K> {
    fn clone(&self) -> Self {
        Buckets { buckets: Arc::clone(&self.buckets), max_buckets: self.max_buckets }
    }
}

impl<K: Eq + Hash> Buckets<K> {
    /// No buckets yet; at most `max_buckets` kept.
    pub fn new(max_buckets: usize) -> Self {
        Buckets { buckets: Arc::default(), max_buckets }
    }

    /// Runs `f` on `key`'s bucket, made by `make` if there is none.
    pub fn with<T>(&self, key: K, make: impl FnOnce() -> TokenBucket, f: impl FnOnce(&mut TokenBucket) -> T) -> T {
        let mut buckets = self.buckets.lock().expect("not poisoned");
        if buckets.len() >= self.max_buckets && !buckets.contains_key(&key) {
            buckets.clear();
        }
        f(buckets.entry(key).or_insert_with(make))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_capacity_through_at_once_then_its_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(10.0, 600.0, start);
        assert_eq!((0..600).filter(|_| bucket.take(1.0, start).is_ok()).count(), 600, "a burst of a minute's worth");
        let wait = bucket.take(1.0, start).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        let later = start + Duration::from_secs(2);
        assert_eq!((0..100).filter(|_| bucket.take(1.0, later).is_ok()).count(), 20, "10 a second after");
        assert!(bucket.take(10_000.0, later + Duration::from_secs(60)).is_ok(), "a cost larger than the bucket");
    }

    #[test]
    fn the_standing_counts_down_and_says_when_the_bucket_is_full_again() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(2.0, 10.0, start);
        assert_eq!(bucket.take(1.0, start), Ok(Standing { limit: 10, remaining: 9, reset_secs: 1 }));
        assert_eq!(bucket.take(4.0, start), Ok(Standing { limit: 10, remaining: 5, reset_secs: 3 }));
        bucket.resize(1.0, 3.0);
        assert_eq!(bucket.take(1.0, start), Ok(Standing { limit: 3, remaining: 2, reset_secs: 1 }));
    }
}
