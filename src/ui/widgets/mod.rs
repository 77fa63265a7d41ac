//! Small drawing pieces the panels share.

pub mod bar;
pub mod sparkline;
pub mod text;
