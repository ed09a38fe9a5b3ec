//! Everything `ank` prints as data: tables (`table.rs`), their rows (`rows.rs`) and the YAML/JSON
//! documents of `get state` and `get events` (`document.rs`).

pub mod document;
pub mod rows;
pub mod table;
