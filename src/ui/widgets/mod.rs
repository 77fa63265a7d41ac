//! Small drawing pieces the panels share.

pub mod bar;
pub mod overlay;
pub mod sparkline;
pub mod text;
