//! Helpers shared by the integration tests (each test crate uses a part).
#![allow(dead_code)]

pub mod backends;
pub mod fake_server;
pub mod redis_cluster;
pub mod redis_server;
pub mod shadow;
