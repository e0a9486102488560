//! The public API's request limits: a token bucket per key and one per team, sized by
//! the team's plan, so that one runaway script slows only itself and one team's
//! scripts cannot slow everyone's. Each request costs one token of both; the answer
//! says where the tighter one stands (`RateLimit-*` headers). Per instance, like
//! ingestion's limits; `API_RATE_SCALE` multiplies every limit (0 turns them off).

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::server::rate_limit::{Buckets, Standing, TokenBucket};

/// Requests a minute a team may make through all its keys, by plan.
const TEAM_PER_MINUTE: [(&str, f64); 4] =
    [("free", 120.0), ("starter", 600.0), ("pro", 1200.0), ("enterprise", 6000.0)];
/// Requests a minute one key may make.
const KEY_PER_MINUTE: f64 = 600.0;
/// Buckets kept at most of each kind.
const CAPACITY: usize = 100_000;

/// This instance's buckets; cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiRates {
    scale: f64,
    keys: Buckets<Uuid>,
    teams: Buckets<Uuid>,
}

/// A request refused: when to try again, and the bucket that refused it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttled {
    /// Seconds until a request would pass.
    pub retry_after_secs: u64,
    /// The bucket's size.
    pub limit: u64,
}

impl ApiRates {
    /// Limits scaled by `scale` (0: none).
    pub fn new(scale: f64) -> Self {
        ApiRates { scale, keys: Buckets::new(CAPACITY), teams: Buckets::new(CAPACITY) }
    }

    /// Admits one request of `key` in `team` on `plan`: where the tighter bucket stands,
    /// `None` without limits; or when to try again.
    pub fn admit(&self, key: Uuid, team: Uuid, plan: &str) -> Result<Option<Standing>, Throttled> {
        if self.scale <= 0.0 {
            return Ok(None);
        }
        let now = Instant::now();
        let per_minute = |count: f64| {
            let capacity = (count * self.scale).max(1.0);
            (capacity / 60.0, capacity)
        };
        let team_count = TEAM_PER_MINUTE.iter().find(|(id, _)| *id == plan).map_or(TEAM_PER_MINUTE[0].1, |t| t.1);
        let (team_rate, team_capacity) = per_minute(team_count);
        let (key_rate, key_capacity) = per_minute(KEY_PER_MINUTE);
        let refused = |wait: Duration, limit: f64| Throttled {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            limit: limit as u64,
        };
        let by_key = self
            .keys
            .with(key, || TokenBucket::full(key_rate, key_capacity, now), |bucket| bucket.take(1.0, now))
            .map_err(|wait| refused(wait, key_capacity))?;
        let by_team = self
            .teams
            .with(
                team,
                || TokenBucket::full(team_rate, team_capacity, now),
                |bucket| {
                    // A plan change takes effect on the next request.
                    bucket.resize(team_rate, team_capacity);
                    bucket.take(1.0, now)
                },
            )
            .map_err(|wait| refused(wait, team_capacity))?;
        Ok(Some(if by_team.remaining < by_key.remaining { by_team } else { by_key }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_held_to_its_teams_plan_and_other_teams_go_on() {
        let rates = ApiRates::new(1.0);
        let (key, team, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let first = rates.admit(key, team, "free").unwrap().unwrap();
        assert_eq!((first.limit, first.remaining), (120, 119));
        for _ in 1..120 {
            rates.admit(key, team, "free").unwrap();
        }
        let refused = rates.admit(key, team, "free").unwrap_err();
        assert_eq!(refused.limit, 120);
        assert!(refused.retry_after_secs >= 1);
        // Another key of the same team shares the team's bucket; another team does not.
        assert!(rates.admit(Uuid::new_v4(), team, "free").is_err());
        assert_eq!(rates.admit(Uuid::new_v4(), other, "free").unwrap().unwrap().remaining, 119);
        assert_eq!(ApiRates::new(0.0).admit(key, team, "free"), Ok(None));
    }

    #[test]
    fn one_key_of_a_large_team_is_held_to_the_key_limit() {
        let rates = ApiRates::new(1.0);
        let (key, team) = (Uuid::new_v4(), Uuid::new_v4());
        for _ in 0..600 {
            rates.admit(key, team, "enterprise").unwrap();
        }
        assert_eq!(rates.admit(key, team, "enterprise").unwrap_err().limit, 600);
        assert!(rates.admit(Uuid::new_v4(), team, "enterprise").is_ok());
    }
}
