//! The one door for YAML text into ankmq, with its bounds (issue 14: YAML alias amplification).
//!
//! Every manifest (`ank apply`, `ank set state`, the controller's startup manifest, requests that
//! carry one), every `runtimeConfig` and every podman-kube manifest is read here, so that no
//! binary can forget a bound. A 132 KB manifest with one 100 KB anchor aliased 8,000 times used
//! to expand to 800 MB; here the parser counts the text and nodes that aliases replay and stops
//! at [`Limits::expanded_bytes`] / [`Limits::nodes`], long before it allocates that much.
//!
//! The parser is serde-saphyr: pure Rust, positions on every node (`yaml_tree.rs` uses them for
//! the lines of validation errors), and a budget that it enforces while it reads. YAML 1.2 core
//! schema: `yes`/`on` stay strings, as they did with serde_yaml. Merge keys (`<<: *defaults`)
//! are expanded, as podman's parser does with kube manifests, and count against the same
//! bounds as aliases; serde_yaml kept `<<` as a key, which the manifest walker then refused.
//! No I/O; callers read the text.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{Error as SaphyrError, MessageFormatter};

/// Bytes in a MiB, for the limits below and their messages.
const MIB: usize = 1024 * 1024;

/// The largest YAML text accepted, in bytes. A manifest travels in one MQTT request, and the
/// embedded broker's default packet limit is 1 MiB, so 4 MiB leaves room for brokers configured
/// larger without letting a file of any size in.
pub const MAX_INPUT_BYTES: usize = 4 * MIB;
/// The most scalar text (keys and values) a document may hold once its aliases are expanded.
/// Without aliases a document never holds more text than it has bytes, so only amplification
/// reaches this limit.
pub const MAX_EXPANDED_BYTES: usize = 4 * MIB;
/// The most nodes (scalars, sequences, mappings) a document may hold once its aliases are
/// expanded; bounds the memory of the parsed tree, whose nodes cost more than their text.
pub const MAX_NODES: usize = 100_000;
/// The deepest nesting of sequences and mappings. A manifest needs about 6 levels, a Kubernetes
/// Deployment about 10. The parser recurses once per level, and in a debug build a level of the
/// manifest tree costs about 45 KB of stack: 32 levels stay inside a 2 MiB tokio worker stack.
pub const MAX_DEPTH: usize = 32;
/// The most aliases (`*name`) in one text.
pub const MAX_ALIASES: usize = 10_000;
/// The most documents (`---`) in one text; only podman-kube manifests have several.
pub const MAX_DOCUMENTS: usize = 100;

/// The bounds of one parse. [`Limits::DEFAULT`] is what every binary uses; tests pass smaller
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// See [`MAX_INPUT_BYTES`].
    pub input_bytes: usize,
    /// See [`MAX_EXPANDED_BYTES`].
    pub expanded_bytes: usize,
    /// See [`MAX_NODES`].
    pub nodes: usize,
    /// See [`MAX_DEPTH`].
    pub depth: usize,
    /// See [`MAX_ALIASES`].
    pub aliases: usize,
    /// See [`MAX_DOCUMENTS`].
    pub documents: usize,
}

impl Limits {
    /// The limits every manifest, runtimeConfig and kube manifest is read with.
    pub const DEFAULT: Limits = Limits {
        input_bytes: MAX_INPUT_BYTES,
        expanded_bytes: MAX_EXPANDED_BYTES,
        nodes: MAX_NODES,
        depth: MAX_DEPTH,
        aliases: MAX_ALIASES,
        documents: MAX_DOCUMENTS,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why YAML text was refused. Each bound has its own variant, so that callers and tests can
/// tell an attack from a typo; `line` is 1-based where the parser knows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The text is longer than [`Limits::input_bytes`]; nothing was parsed.
    #[error("the text is {size} bytes, more than the {} allowed (limit MAX_INPUT_BYTES)", size_text(*limit))]
    TooLarge {
        /// The length of the text.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Aliases expand the document beyond [`Limits::expanded_bytes`] of text.
    #[error("YAML aliases expand beyond {} (limit MAX_EXPANDED_BYTES)", size_text(*limit))]
    ExpandsTooMuch {
        /// The limit.
        limit: usize,
        /// Where the parser was when the limit was hit.
        line: Option<usize>,
    },
    /// The document holds more than [`Limits::nodes`] nodes, aliases expanded.
    #[error("YAML has more than {limit} nodes, aliases expanded (limit MAX_NODES)")]
    TooManyNodes {
        /// The limit.
        limit: usize,
        /// Where the parser was when the limit was hit.
        line: Option<usize>,
    },
    /// Sequences and mappings nest deeper than [`Limits::depth`].
    #[error("YAML nests deeper than {limit} levels (limit MAX_DEPTH)")]
    TooDeep {
        /// The limit.
        limit: usize,
        /// The line of the level one too deep.
        line: Option<usize>,
    },
    /// More than [`Limits::aliases`] aliases.
    #[error("YAML has more than {limit} aliases (limit MAX_ALIASES)")]
    TooManyAliases {
        /// The limit.
        limit: usize,
        /// The line of the alias one too many.
        line: Option<usize>,
    },
    /// More than [`Limits::documents`] documents.
    #[error("YAML has more than {limit} documents (limit MAX_DOCUMENTS)")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
        /// The line of the document one too many.
        line: Option<usize>,
    },
    /// Not YAML, or not the shape the caller asked for.
    #[error("not valid YAML: {message}")]
    Invalid {
        /// What the parser said, without its position.
        message: String,
        /// Where.
        line: Option<usize>,
    },
}

impl YamlError {
    /// The 1-based line of the problem, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            YamlError::TooLarge { .. } => None,
            YamlError::ExpandsTooMuch { line, .. }
            | YamlError::TooManyNodes { line, .. }
            | YamlError::TooDeep { line, .. }
            | YamlError::TooManyAliases { line, .. }
            | YamlError::TooManyDocuments { line, .. }
            | YamlError::Invalid { line, .. } => *line,
        }
    }

    /// Whether a bound refused the text (as opposed to a syntax or type error).
    pub fn is_limit(&self) -> bool {
        !matches!(self, YamlError::Invalid { .. })
    }
}

/// `4 MiB` for whole MiBs, else the bytes.
fn size_text(bytes: usize) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads one YAML document as a `T`, within `limits`. An empty text is YAML's null.
pub fn from_str<T: DeserializeOwned>(text: &str, limits: &Limits) -> Result<T, YamlError> {
    check_size(text, limits)?;
    serde_saphyr::from_str_with_options(text, options(limits)).map_err(|e| error(&e, limits))
}

/// Reads every document of a multi-document YAML text (`---` separated) as a `T`, within
/// `limits`, which cover the whole text. Empty documents are skipped.
pub fn documents<T: DeserializeOwned>(text: &str, limits: &Limits) -> Result<Vec<T>, YamlError> {
    check_size(text, limits)?;
    serde_saphyr::from_multiple_with_options(text, options(limits)).map_err(|e| error(&e, limits))
}

/// Reads JSON text as a `T` with the YAML parser (JSON is YAML) within `limits`, for its
/// positions. YAML limits an implicit key to 1,024 characters; JSON does not, so neither does
/// this (the input bound still holds).
pub(crate) fn from_json_text<T: DeserializeOwned>(
    text: &str,
    limits: &Limits,
) -> Result<T, YamlError> {
    check_size(text, limits)?;
    let mut options = options(limits);
    if let Some(budget) = options.budget.as_mut() {
        budget.simple_key_max_lookahead = limits.input_bytes;
    }
    serde_saphyr::from_str_with_options(text, options).map_err(|e| error(&e, limits))
}

/// Writes `value` as YAML (block style, `"` quotes where needed). Used where YAML is handed on
/// to a program (podman) or read back by us; the CLI's documents keep their own writer.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(|e| YamlError::Invalid {
        message: e.to_string(),
        line: None,
    })
}

fn check_size(text: &str, limits: &Limits) -> Result<(), YamlError> {
    if text.len() > limits.input_bytes {
        return Err(YamlError::TooLarge {
            size: text.len(),
            limit: limits.input_bytes,
        });
    }
    Ok(())
}

/// serde-saphyr's options for `limits`. Every budget that text can drive is set from a limit; the
/// alias/anchor ratio heuristic is off, so whether a manifest passes depends on the limits alone.
pub(crate) fn options(limits: &Limits) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(limits.input_bytes);
    budget.max_total_scalar_bytes = limits.expanded_bytes;
    budget.max_recorded_anchor_bytes = limits.expanded_bytes;
    budget.max_nodes = limits.nodes;
    // A node is at most a start and an end event, plus a few per document.
    budget.max_events = limits.nodes.saturating_mul(2).saturating_add(64);
    budget.max_recorded_anchor_events = limits.nodes;
    budget.max_depth = limits.depth;
    // One more than the depth, so that the budget, not the parser, refuses the level too many
    // (the parser's message does not name the limit).
    budget.flow_nesting_limit = limits.depth.saturating_add(1);
    budget.max_aliases = limits.aliases;
    budget.max_anchors = limits.aliases;
    budget.max_documents = limits.documents;
    budget.enforce_alias_anchor_ratio = false;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = limits.nodes;
    // YAML 1.2 core booleans only: `ank get -o yaml` writes `yes`/`on` unquoted, and `ank set
    // state` must read them back as the strings they were (cli set.rs tests).
    options.strict_booleans = true;
    options.with_snippet = false;
    options
}

/// Our error for serde-saphyr's: each budget breach becomes the variant of its limit.
fn error(e: &SaphyrError, limits: &Limits) -> YamlError {
    let line = e
        .location()
        .map(|l| l.line())
        .filter(|l| *l > 0)
        .and_then(|l| usize::try_from(l).ok());
    let inner = original(e);
    match inner {
        SaphyrError::Budget { breach, .. } => match breach {
            BudgetBreach::InputBytes { input_bytes } => YamlError::TooLarge {
                size: *input_bytes,
                limit: limits.input_bytes,
            },
            BudgetBreach::ScalarBytes { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
                YamlError::ExpandsTooMuch {
                    limit: limits.expanded_bytes,
                    line,
                }
            }
            BudgetBreach::Depth { .. } => YamlError::TooDeep {
                limit: limits.depth,
                line,
            },
            BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::AliasAnchorRatio { .. } => YamlError::TooManyAliases {
                limit: limits.aliases,
                line,
            },
            BudgetBreach::Documents { .. } => YamlError::TooManyDocuments {
                limit: limits.documents,
                line,
            },
            _ => YamlError::TooManyNodes {
                limit: limits.nodes,
                line,
            },
        },
        SaphyrError::AliasReplayLimitExceeded { .. }
        | SaphyrError::AliasReplayCounterOverflow { .. }
        | SaphyrError::AliasExpansionLimitExceeded { .. } => YamlError::TooManyNodes {
            limit: limits.nodes,
            line,
        },
        SaphyrError::AliasReplayStackDepthExceeded { .. } => YamlError::TooDeep {
            limit: limits.depth,
            line,
        },
        other => YamlError::Invalid {
            message: serde_saphyr::DefaultMessageFormatter
                .format_message(other)
                .into_owned(),
            line,
        },
    }
}

/// The error under serde-saphyr's wrappers (alias use sites, snippets).
fn original(mut e: &SaphyrError) -> &SaphyrError {
    while let SaphyrError::AliasError { error, .. } | SaphyrError::WithSnippet { error, .. } = e {
        e = error;
    }
    e
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
