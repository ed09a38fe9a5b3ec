//! What a check answers: done with a value, or not yet with what it saw (for the panic message).
//! A trait so that a check can return whatever is natural where it is written.

use std::fmt::Debug;

/// The answer of one look.
pub trait Outcome {
    /// What a done check yields.
    type Value;
    /// The value when done, or a description of what was seen.
    fn done(self) -> Result<Self::Value, String>;
}

/// `Some(value)` is done; `None` is not yet.
impl<T> Outcome for Option<T> {
    type Value = T;
    fn done(self) -> Result<T, String> {
        self.ok_or_else(|| "nothing yet".to_owned())
    }
}

/// `Ok(value)` is done; `Err(seen)` is not yet, and `seen` is shown if time runs out.
impl<T, E: Debug> Outcome for Result<T, E> {
    type Value = T;
    fn done(self) -> Result<T, String> {
        self.map_err(|seen| format!("{seen:?}"))
    }
}

/// `(done, seen)`: done when `done`, and `seen` is the value either way (shown if time runs
/// out), for checks that want what they saw back.
impl<T: Debug> Outcome for (bool, T) {
    type Value = T;
    fn done(self) -> Result<T, String> {
        match self {
            (true, seen) => Ok(seen),
            (false, seen) => Err(format!("{seen:?}")),
        }
    }
}

/// `true` is done.
impl Outcome for bool {
    type Value = ();
    fn done(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("false".to_owned())
        }
    }
}
