//! The workspace's panes: each draws into the inner area of its frame.

pub mod activity;
pub mod claude;
pub mod gpu;
pub mod logs;
pub mod system;
