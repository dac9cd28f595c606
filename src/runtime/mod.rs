//! Building blocks for controllers: leader election on Leases.
pub mod leader;
