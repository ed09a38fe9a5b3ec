//! Who may do what through the control interface: Ankaios' access rules (behaviour reference
//! §8.3) as one pure function, [`authorize`]. The agent calls it before a request leaves the
//! workload's FIFO, and the controller calls it again for the request that arrives on the
//! agent's request topic (defence in depth: a compromised agent still cannot act beyond a
//! workload's rules). No I/O.
//!
//! The rules, as Ankaios decides them:
//! - No access by default. Reads of the complete state (events too) need a Read (or ReadWrite)
//!   StateRule, updates a Write (or ReadWrite) one; `Nothing` rules are ignored. Log requests need
//!   LogRules. Cancelling logs or events is always allowed.
//! - Every mask of a request must be allowed by some allow rule and matched by no deny rule. An
//!   empty mask list means one empty mask: the whole state.
//! - An **allow** pattern matches a mask it is a segment-wise prefix of (`*` = any one segment).
//! - A **deny** pattern matches a mask when both agree on their common prefix, so denying
//!   `desiredState.workloads.secret` also denies `desiredState` and the whole state.
//! - A LogRule name is exact, `*`, or `prefix*suffix`.
//!
//! Two deliberate differences (docs/control-interface.md):
//! - Ankaios lets an allow pattern that *starts* with `*` match masks shorter than the pattern
//!   without looking at the pattern's extra segments, so `*.tags` also allows reading or writing
//!   all of `desiredState`. Here the extra segments must all be `*` (a pattern that selects a
//!   whole subtree), so `*` and `*.*` still allow everything, and `*.tags` allows no more than
//!   its tags.
//! - A `*` segment in a *requested* mask (reads may use them) is matched by a deny pattern's
//!   segment whatever it is, because the read includes the denied part; an allow pattern covers it
//!   only with a `*` of its own.
//! - Ankaios stops at the first wildcard name of a LogRule (an early return that can refuse a name
//!   listed after it); every name of a rule is tried here.

use crate::manifest::{AccessRule, ControlInterfaceAccess, ReadWriteEnum};

/// What a request wants to do, with the parts the rules look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation<'a> {
    /// Read the complete state (or subscribe to it) through these masks.
    Read(&'a [String]),
    /// Update the state through these masks (the new state itself is not looked at).
    Write(&'a [String]),
    /// Read the logs of these workloads (by name).
    Logs(&'a [String]),
    /// Cancel logs or events: always allowed.
    Cancel,
}

/// Why a request was refused. Its `Display` is Ankaios' answer, "Access denied", so the SDKs see
/// what they expect; [`AccessDenied::detail`] says which part, for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Access denied")]
pub struct AccessDenied {
    /// The mask or workload name that no rule allows, or a deny rule matched.
    pub refused: String,
    /// True when a deny rule matched (rather than no allow rule).
    pub by_deny_rule: bool,
}

impl AccessDenied {
    /// One line for logs: what was refused and why.
    pub fn detail(&self) -> String {
        if self.by_deny_rule {
            format!("`{}` matches a deny rule", self.refused)
        } else {
            format!("no allow rule covers `{}`", self.refused)
        }
    }
}

/// Decides whether a workload with `access` may carry out `operation`.
pub fn authorize(
    access: &ControlInterfaceAccess,
    operation: Operation<'_>,
) -> Result<(), AccessDenied> {
    match operation {
        Operation::Cancel => Ok(()),
        Operation::Read(masks) => check_state(access, masks, ReadWriteEnum::Read),
        Operation::Write(masks) => check_state(access, masks, ReadWriteEnum::Write),
        Operation::Logs(names) => {
            for name in names {
                let allowed = log_patterns(&access.allow_rules).any(|p| log_name_matches(p, name));
                if !allowed {
                    return Err(AccessDenied {
                        refused: name.clone(),
                        by_deny_rule: false,
                    });
                }
                if log_patterns(&access.deny_rules).any(|p| log_name_matches(p, name)) {
                    return Err(AccessDenied {
                        refused: name.clone(),
                        by_deny_rule: true,
                    });
                }
            }
            Ok(())
        }
    }
}

fn check_state(
    access: &ControlInterfaceAccess,
    masks: &[String],
    wanted: ReadWriteEnum,
) -> Result<(), AccessDenied> {
    let whole = [String::new()];
    let masks = if masks.is_empty() { &whole[..] } else { masks };
    for mask in masks {
        let requested = segments(mask);
        let allowed = state_patterns(&access.allow_rules, wanted)
            .any(|p| allow_matches(&segments(p), &requested));
        if !allowed {
            return Err(AccessDenied {
                refused: mask.clone(),
                by_deny_rule: false,
            });
        }
        if state_patterns(&access.deny_rules, wanted)
            .any(|p| deny_matches(&segments(p), &requested))
        {
            return Err(AccessDenied {
                refused: mask.clone(),
                by_deny_rule: true,
            });
        }
    }
    Ok(())
}

/// The masks of the state rules that cover `wanted` (Read or Write); empty patterns never match.
fn state_patterns(rules: &[AccessRule], wanted: ReadWriteEnum) -> impl Iterator<Item = &String> {
    rules
        .iter()
        .filter_map(move |rule| match rule {
            AccessRule::StateRule(r) if covers(r.operation, wanted) => Some(&r.filter_masks),
            _ => None,
        })
        .flatten()
        .filter(|p| !p.is_empty())
}

fn log_patterns(rules: &[AccessRule]) -> impl Iterator<Item = &String> {
    rules
        .iter()
        .filter_map(|rule| match rule {
            AccessRule::LogRule(r) => Some(&r.workload_names),
            _ => None,
        })
        .flatten()
}

fn covers(operation: ReadWriteEnum, wanted: ReadWriteEnum) -> bool {
    operation == wanted || operation == ReadWriteEnum::ReadWrite
}

/// The empty mask is the whole state: no segments.
fn segments(path: &str) -> Vec<&str> {
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    }
}

fn allow_matches(pattern: &[&str], mask: &[&str]) -> bool {
    if pattern.is_empty() {
        return false;
    }
    if pattern.len() > mask.len() {
        // Ankaios lets only patterns starting with `*` be longer than the mask; the extra
        // segments must select the whole subtree too, or `*.tags` would grant all of a subtree
        // (the over-grant this module does not repeat).
        let whole_subtree = pattern[mask.len()..].iter().all(|s| *s == "*");
        if pattern[0] != "*" || !whole_subtree {
            return false;
        }
    }
    pattern.iter().zip(mask).all(|(p, m)| *p == "*" || p == m)
}

fn deny_matches(pattern: &[&str], mask: &[&str]) -> bool {
    !pattern.is_empty()
        && pattern
            .iter()
            .zip(mask)
            .all(|(p, m)| *p == "*" || *m == "*" || p == m)
}

fn log_name_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, suffix)) => {
            name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{LogRule, StateRule};

    fn state(operation: ReadWriteEnum, masks: &[&str]) -> AccessRule {
        AccessRule::StateRule(StateRule {
            operation,
            filter_masks: masks.iter().map(|m| (*m).to_owned()).collect(),
        })
    }

    fn logs(names: &[&str]) -> AccessRule {
        AccessRule::LogRule(LogRule {
            workload_names: names.iter().map(|m| (*m).to_owned()).collect(),
        })
    }

    fn access(allow: Vec<AccessRule>, deny: Vec<AccessRule>) -> ControlInterfaceAccess {
        ControlInterfaceAccess {
            allow_rules: allow,
            deny_rules: deny,
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    use ReadWriteEnum::{Nothing, Read, ReadWrite, Write};

    /// One row per rule of behaviour reference §8.3 (and §2 of reference/control-interface.md):
    /// (case, allow, deny, kind, masks or names, allowed).
    #[test]
    fn every_rule_of_section_8_3_decides_as_ankaios_does() {
        #[derive(Clone, Copy)]
        enum Kind {
            R,
            W,
            L,
            C,
        }
        use Kind::{C, L, R, W};
        let wl = "desiredState.workloads";
        type Case = (
            &'static str,
            Vec<AccessRule>,
            Vec<AccessRule>,
            Kind,
            Vec<&'static str>,
            bool,
        );
        let cases: Vec<Case> = vec![
            ("no rules: no read", vec![], vec![], R, vec![wl], false),
            ("no rules: no write", vec![], vec![], W, vec![wl], false),
            ("no rules: no logs", vec![], vec![], L, vec!["a"], false),
            ("logs cancel always allowed", vec![], vec![], C, vec![], true),
            ("read rule allows the same path", vec![state(Read, &[wl])], vec![], R, vec![wl], true),
            ("read rule allows a deeper path", vec![state(Read, &[wl])], vec![], R, vec!["desiredState.workloads.nginx.agent"], true),
            ("read rule does not allow a broader path", vec![state(Read, &[wl])], vec![], R, vec!["desiredState"], false),
            ("read rule does not allow a sibling", vec![state(Read, &[wl])], vec![], R, vec!["desiredState.configs"], false),
            ("read rule does not allow writing", vec![state(Read, &[wl])], vec![], W, vec![wl], false),
            ("write rule does not allow reading", vec![state(Write, &[wl])], vec![], R, vec![wl], false),
            ("write rule allows writing", vec![state(Write, &["desiredState.workloads.foo"])], vec![], W, vec!["desiredState.workloads.foo"], true),
            ("ReadWrite counts for reads", vec![state(ReadWrite, &[wl])], vec![], R, vec![wl], true),
            ("ReadWrite counts for writes", vec![state(ReadWrite, &[wl])], vec![], W, vec![wl], true),
            ("Nothing rules are ignored", vec![state(Nothing, &[wl])], vec![], R, vec![wl], false),
            ("every mask must be allowed", vec![state(Read, &[wl])], vec![], R, vec![wl, "agents"], false),
            ("several rules cover several masks", vec![state(Read, &[wl]), state(Read, &["agents"])], vec![], R, vec![wl, "agents"], true),
            ("`*` segment matches any one segment", vec![state(Read, &["desiredState.workloads.*.tags"])], vec![], R, vec!["desiredState.workloads.nginx.tags"], true),
            ("`*` segment does not match a different later segment", vec![state(Read, &["desiredState.workloads.*.tags"])], vec![], R, vec!["desiredState.workloads.nginx.agent"], false),
            ("empty mask is the whole state: a prefix rule does not allow it", vec![state(Read, &[wl])], vec![], R, vec![], false),
            ("the rule `*` allows the empty mask", vec![state(Read, &["*"])], vec![], R, vec![], true),
            ("the rule `*` allows anything", vec![state(Read, &["*"])], vec![], R, vec!["workloadStates.a.b"], true),
            ("an empty pattern never matches", vec![state(Read, &[""])], vec![], R, vec![], false),
            ("a rule without masks never matches", vec![state(Read, &[])], vec![], R, vec![wl], false),
            ("quirk NOT repeated: `*.tags` does not allow desiredState", vec![state(Read, &["*.tags"])], vec![], R, vec!["desiredState"], false),
            ("quirk NOT repeated: `*.workloads.x` does not allow desiredState", vec![state(Write, &["*.workloads.x"])], vec![], W, vec!["desiredState"], false),
            ("`*.*` allows a top-level field", vec![state(Read, &["*.*"])], vec![], R, vec!["agents"], true),
            ("a longer pattern without leading `*` fails", vec![state(Read, &["desiredState.workloads.*"])], vec![], R, vec![wl], false),
            ("deny beats allow", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec!["desiredState.workloads.secret"], false),
            ("deny blocks a deeper path", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec!["desiredState.workloads.secret.agent"], false),
            ("deny blocks a broader path", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec!["desiredState"], false),
            ("any deny blocks the empty mask", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec![], false),
            ("deny does not block a sibling", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec!["desiredState.workloads.other"], true),
            ("deny of another operation does not apply", vec![state(ReadWrite, &["*"])], vec![state(Write, &["desiredState.workloads.secret"])], R, vec!["desiredState.workloads.secret"], true),
            ("ReadWrite deny applies to reads", vec![state(Read, &["*"])], vec![state(ReadWrite, &["desiredState"])], R, vec![wl], false),
            ("a `*` in the request is caught by a deny", vec![state(Read, &["*"])], vec![state(Read, &["desiredState.workloads.secret"])], R, vec!["desiredState.workloads.*"], false),
            ("a `*` in the request needs a `*` in the allow rule", vec![state(Read, &["desiredState.workloads.nginx"])], vec![], R, vec!["desiredState.workloads.*"], false),
            ("a `*` allow covers a `*` request", vec![state(Read, &["desiredState.workloads.*.agent"])], vec![], R, vec!["desiredState.workloads.*.agent"], true),
            ("authorization looks only at masks: write one workload", vec![state(Write, &["desiredState.workloads.foo"])], vec![], W, vec!["desiredState.workloads.bar"], false),
            ("agent tags are writable with an agents rule", vec![state(Write, &["agents"])], vec![], W, vec!["agents.agent_A.tags"], true),
            ("log rule: exact name", vec![logs(&["nginx"])], vec![], L, vec!["nginx"], true),
            ("log rule: another name", vec![logs(&["nginx"])], vec![], L, vec!["nginx2"], false),
            ("log rule: `*`", vec![logs(&["*"])], vec![], L, vec!["anything"], true),
            ("log rule: prefix*", vec![logs(&["ivi_*"])], vec![], L, vec!["ivi_app"], true),
            ("log rule: *suffix", vec![logs(&["*_backend"])], vec![], L, vec!["db_backend"], true),
            ("log rule: pre*suf", vec![logs(&["a*z"])], vec![], L, vec!["abcz"], true),
            ("log rule: prefix and suffix may not overlap", vec![logs(&["ab*ba"])], vec![], L, vec!["aba"], false),
            ("log rule: prefix* does not match others", vec![logs(&["ivi_*"])], vec![], L, vec!["nav"], false),
            ("log rule: every name must match", vec![logs(&["a"])], vec![], L, vec!["a", "b"], false),
            ("log rule: a name after a wildcard is still tried (Ankaios' early return not repeated)", vec![logs(&["x*", "b"])], vec![], L, vec!["b"], true),
            ("log deny beats allow", vec![logs(&["*"])], vec![logs(&["secret"])], L, vec!["secret"], false),
            ("log deny with wildcard", vec![logs(&["*"])], vec![logs(&["sec*"])], L, vec!["secret"], false),
            ("log request naming nothing is allowed", vec![logs(&["a"])], vec![], L, vec![], true),
            ("state rules do not grant logs", vec![state(ReadWrite, &["*"])], vec![], L, vec!["a"], false),
            ("log rules do not grant state", vec![logs(&["*"])], vec![], R, vec![wl], false),
            ("deny rules alone grant nothing", vec![], vec![state(Read, &["x"])], R, vec![wl], false),
        ];
        for (case, allow, deny, kind, items, expected) in cases {
            let access = access(allow, deny);
            let items = strings(&items);
            let op = match kind {
                R => Operation::Read(&items),
                W => Operation::Write(&items),
                L => Operation::Logs(&items),
                C => Operation::Cancel,
            };
            let result = authorize(&access, op);
            assert_eq!(result.is_ok(), expected, "{case}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.to_string(), "Access denied", "{case}");
            }
        }
    }

    #[test]
    fn a_refusal_names_the_mask_and_whether_a_deny_rule_matched() {
        let a = access(vec![state(Read, &["*"])], vec![state(Read, &["agents"])]);
        let masks = strings(&["desiredState", "agents.a"]);
        let e = authorize(&a, Operation::Read(&masks)).unwrap_err();
        assert_eq!(e.detail(), "`agents.a` matches a deny rule");
        let e = authorize(&access(vec![], vec![]), Operation::Read(&masks)).unwrap_err();
        assert_eq!(e.detail(), "no allow rule covers `desiredState`");
    }
}
