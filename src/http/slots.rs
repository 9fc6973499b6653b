//! Slots for work that holds resources while it runs (NDJSON streams),
//! bounded per process and per company, so that no tenant can take them
//! all and starve the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::Company;

/// The slots of one kind of work.
#[derive(Debug)]
pub struct Slots {
    all: Arc<Semaphore>,
    max: usize,
    per_company: usize,
    by_company: Mutex<HashMap<Company, Arc<Semaphore>>>,
}

/// A slot held: released when dropped.
#[derive(Debug)]
pub struct Slot {
    _process: OwnedSemaphorePermit,
    _company: OwnedSemaphorePermit,
}

impl Slots {
    /// `max` slots for the process, of which one company holds at most
    /// `per_company` (both at least 1).
    pub fn new(max: usize, per_company: usize) -> Self {
        let max = max.max(1);
        Self {
            all: Arc::new(Semaphore::new(max)),
            max,
            per_company: per_company.clamp(1, max),
            by_company: Mutex::default(),
        }
    }

    /// A slot for `company`, or `None` when the process or the company has
    /// none free.
    pub fn try_take(&self, company: &Company) -> Option<Slot> {
        let mine = {
            let mut by_company = self.by_company.lock().ok()?;
            // A company's semaphore is dropped once all of its slots are
            // free, so the map holds only companies with work running.
            by_company.retain(|_, s| s.available_permits() < self.per_company);
            Arc::clone(
                by_company
                    .entry(company.clone())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_company))),
            )
        };
        let company_permit = mine.try_acquire_owned().ok()?;
        let process_permit = Arc::clone(&self.all).try_acquire_owned().ok()?;
        Some(Slot {
            _process: process_permit,
            _company: company_permit,
        })
    }

    /// Slots in use now.
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.all.available_permits())
    }

    /// The process's slots.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_company_takes_every_slot() {
        let slots = Slots::new(4, 2);
        let (a, b) = (Company::new("a").unwrap(), Company::new("b").unwrap());
        let held: Vec<Slot> = (0..2).map(|_| slots.try_take(&a).unwrap()).collect();
        assert!(slots.try_take(&a).is_none(), "a's share is full");
        let b1 = slots.try_take(&b).unwrap();
        let b2 = slots.try_take(&b).unwrap();
        assert!(
            slots.try_take(&Company::new("c").unwrap()).is_none(),
            "the process is full"
        );
        assert_eq!(slots.in_use(), 4);
        drop(held);
        assert!(slots.try_take(&a).is_some());
        drop((b1, b2));
        assert_eq!(slots.in_use(), 0);
    }
}
