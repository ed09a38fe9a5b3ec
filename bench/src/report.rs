//! The results of one run: one row per figure with its reference, ratio and target, printed as a
//! Markdown table (pasted as is into docs/performance.md) and written as JSON with the raw
//! samples and breakdowns.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::machine::Machine;

/// One figure of the table.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// The measurement number and a letter, e.g. `1`, `4c`, `5-mosquitto`.
    pub id: String,
    /// What was measured.
    pub metric: String,
    /// The value, in `unit`.
    pub value: f64,
    /// `ms`, `MiB`, `%`, `s`, `msg/s`.
    pub unit: String,
    /// What it was measured against in the same run, and that value (same unit).
    pub reference: Option<(String, f64)>,
    /// `value / reference`.
    pub ratio: Option<f64>,
    /// The target, as text.
    pub target: Option<String>,
    /// Whether the target was met; `None` without a target.
    pub met: Option<bool>,
    /// Anything a reader needs to interpret the figure (sample count, mode).
    pub note: String,
}

impl Row {
    /// A row without reference or target.
    pub fn new(id: &str, metric: &str, value: f64, unit: &str, note: impl Into<String>) -> Row {
        Row {
            id: id.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            reference: None,
            ratio: None,
            target: None,
            met: None,
            note: note.into(),
        }
    }

    /// Adds the reference measured beside it, and the ratio.
    pub fn against(mut self, reference: &str, value: f64) -> Row {
        self.ratio = (value > 0.0).then(|| self.value / value);
        self.reference = Some((reference.into(), value));
        self
    }

    /// Adds the target and whether it was met.
    pub fn target(mut self, target: &str, met: bool) -> Row {
        self.target = Some(target.into());
        self.met = Some(met);
        self
    }
}

/// A whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// The command line that produced it.
    pub command: String,
    /// Whether `--quick` shortened it.
    pub quick: bool,
    /// Where it ran.
    pub machine: Machine,
    /// The table.
    pub rows: Vec<Row>,
    /// Raw samples and breakdowns, per measurement.
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Measurements that failed, with their errors.
    pub errors: Vec<(String, String)>,
}

impl Report {
    /// Writes the table as Markdown.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "| # | metric | value | reference (same run) | ratio | target | verdict | note |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|---|---|")?;
        for row in &self.rows {
            let reference = match &row.reference {
                Some((what, v)) => format!("{what}: {}", number(*v, &row.unit)),
                None => "".into(),
            };
            let ratio = row.ratio.map(|r| format!("{r:.2}×")).unwrap_or_default();
            let verdict = match row.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                row.id,
                row.metric,
                number(row.value, &row.unit),
                reference,
                ratio,
                row.target.as_deref().unwrap_or(""),
                verdict,
                row.note
            )?;
        }
        for (what, error) in &self.errors {
            writeln!(out, "\n**{what} failed:** {error}")?;
        }
        Ok(())
    }

    /// Writes the whole report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).context("serialising the report")?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}

/// A value with its unit, with as many decimals as the magnitude deserves.
pub fn number(value: f64, unit: &str) -> String {
    let digits = match value.abs() {
        v if v >= 100.0 => 0,
        v if v >= 10.0 => 1,
        _ => 2,
    };
    format!("{value:.digits$} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits_or_so() {
        // (value, unit, text)
        let cases = [
            (1234.56, "ms", "1235 ms"),
            (45.67, "ms", "45.7 ms"),
            (3.14659, "MiB", "3.15 MiB"),
            (-2.5, "ms", "-2.50 ms"),
        ];
        for (value, unit, text) in cases {
            assert_eq!(number(value, unit), text);
        }
    }

    #[test]
    fn a_ratio_is_value_over_reference_and_absent_for_a_zero_reference() {
        let row = Row::new("1", "m", 330.0, "ms", "").against("podman", 300.0);
        assert_eq!(row.ratio.map(|r| (r * 100.0).round()), Some(110.0));
        assert_eq!(
            Row::new("1", "m", 1.0, "ms", "").against("x", 0.0).ratio,
            None
        );
    }
}
