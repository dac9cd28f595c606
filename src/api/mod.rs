//! api (in progress).
