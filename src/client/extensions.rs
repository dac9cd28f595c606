//! Per-client state of the modules layered above the client.
//!
//! Discovery keeps its cache per [`Client`](super::Client) (shared by the client's
//! clones), but the client must not know discovery: data flows client → discovery,
//! never back. So the client holds an opaque slot per type, filled by whichever module
//! asks first, and never looks inside.

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};

/// Values keyed by their type, at most one of each, created on first use.
#[derive(Default)]
pub(crate) struct Extensions {
    slots: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
}

impl Extensions {
    /// The value of type `T`, created by `init` if there is none yet. `init` runs at most
    /// once per client (it must not ask this client for another extension).
    pub(crate) fn get_or_init<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = slots
            .iter()
            .find_map(|slot| slot.clone().downcast::<T>().ok())
        {
            return found;
        }
        let value = Arc::new(init());
        slots.push(value.clone());
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_type_created_once() {
        let ext = Extensions::default();
        let mut runs = 0;
        let a = ext.get_or_init(|| {
            runs += 1;
            7u32
        });
        let b = ext.get_or_init(|| {
            runs += 1;
            8u32
        });
        assert_eq!((*a, *b, runs), (7, 7, 1));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*ext.get_or_init(|| "other type"), "other type");
        assert_eq!(*ext.get_or_init::<u32>(|| unreachable!()), 7);
    }
}
