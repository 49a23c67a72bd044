//! What runs around the server rather than in it: the demo (`settled
//! demo`, its two banks, the cluster demo) and the generator of the
//! published test vectors.

pub mod demo;
pub mod demo_banks;
pub mod demo_cluster;
pub mod vectors;
