//! Remembering recently alerted events in a warm container, so a redelivered event (same
//! EventBridge id) or a second event about the same failure (same restore job) does not
//! page anyone twice. Per container only: a cold container starts empty; subscribers can
//! drop the rest with the `dedupKey` message attribute.

use std::collections::{HashSet, VecDeque};

/// A bounded set of keys; the oldest are forgotten first.
#[derive(Debug)]
pub struct RecentKeys {
    capacity: usize,
    order: VecDeque<String>,
    keys: HashSet<String>,
}

impl RecentKeys {
    pub fn new(capacity: usize) -> Self {
        RecentKeys {
            capacity,
            order: VecDeque::new(),
            keys: HashSet::new(),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// Remembers `key`, forgetting the oldest key when full. A key seen again moves to
    /// the front.
    pub fn insert(&mut self, key: &str) {
        if self.capacity == 0 {
            return;
        }
        if self.keys.contains(key) {
            self.order.retain(|k| k != key);
        } else {
            self.keys.insert(key.to_owned());
        }
        self.order.push_back(key.to_owned());
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let mut seen = RecentKeys::new(2);
        seen.insert("a");
        seen.insert("b");
        seen.insert("a");
        seen.insert("c");
        assert!(seen.contains("a"));
        assert!(!seen.contains("b"));
        assert!(seen.contains("c"));
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut seen = RecentKeys::new(0);
        seen.insert("a");
        assert!(!seen.contains("a"));
    }
}
