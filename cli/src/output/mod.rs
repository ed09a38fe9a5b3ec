//! Everything `ank` prints as data: tables (`table.rs`), their rows (`rows.rs`) and the YAML/JSON
//! documents of `get state` and `get events` (`document.rs`), shaped as Ankaios prints a
//! CompleteState (`complete_state.rs`).

pub mod complete_state;
pub mod document;
pub mod rows;
pub mod table;
