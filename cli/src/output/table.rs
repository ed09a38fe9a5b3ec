//! Tables the way Ankaios' `ank` draws them: a blank style (no borders, no outer padding),
//! columns separated by three spaces, and the last column wrapped to the terminal width. Off a
//! terminal every cell, the last one too, is padded to its column's width, byte for byte what
//! Ankaios 1.0.1 prints for scripts (issue 16; trailing spaces included).
//!
//! Rows are structs implementing [`Row`]; renderers write to any `impl Write`, so tests render
//! into a `Vec<u8>`. Widths count `char`s: every name is ASCII by the name rules, and additional
//! info is the only free text.

use std::io::{self, Write};

/// Between two columns.
const GAP: &str = "   ";
/// The last column never gets narrower than this when wrapping, however narrow the terminal.
const MIN_LAST_WIDTH: usize = 16;

/// A table row: the header names and this row's cells, in the same order.
pub trait Row {
    /// The column headers.
    fn headers() -> &'static [&'static str];
    /// The cells of this row; one per header.
    fn cells(&self) -> Vec<String>;
}

/// Renders `rows` under their headers. With a `width` (the terminal's), a last column that would
/// overflow it wraps onto continuation lines aligned under that column.
pub fn render<R: Row, W: Write + ?Sized>(
    out: &mut W,
    rows: &[R],
    width: Option<usize>,
) -> io::Result<()> {
    let cells: Vec<Vec<String>> = rows.iter().map(Row::cells).collect();
    render_cells(out, R::headers(), &cells, width, "")
}

/// Renders cells under headers, every line starting with `indent` (the live table indents by
/// two characters to make room for its spinner).
pub fn render_cells<W: Write + ?Sized>(
    out: &mut W,
    headers: &[&str],
    rows: &[Vec<String>],
    width: Option<usize>,
    indent: &str,
) -> io::Result<()> {
    let widths = column_widths(headers, rows);
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    write_row(out, &header, &widths, width, indent)?;
    for row in rows {
        write_row(out, row, &widths, width, indent)?;
    }
    Ok(())
}

fn column_widths(headers: &[&str], rows: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

fn write_row<W: Write + ?Sized>(
    out: &mut W,
    row: &[String],
    widths: &[usize],
    width: Option<usize>,
    indent: &str,
) -> io::Result<()> {
    let Some((last, first)) = row.split_last() else {
        return writeln!(out);
    };
    let mut line = String::from(indent);
    for (cell, w) in first.iter().zip(widths) {
        line.push_str(cell);
        line.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
        line.push_str(GAP);
    }
    let start = line.chars().count();
    let room = width
        .map(|w| w.saturating_sub(start).max(MIN_LAST_WIDTH))
        .unwrap_or(usize::MAX);
    if width.is_none() {
        // Not a terminal: Ankaios' padding, nothing wrapped or trimmed.
        let pad = widths.get(row.len() - 1).copied().unwrap_or(0);
        line.push_str(last);
        line.extend(std::iter::repeat_n(
            ' ',
            pad.saturating_sub(last.chars().count()),
        ));
        return writeln!(out, "{line}");
    }
    let mut pieces = wrap(last, room).into_iter();
    line.push_str(&pieces.next().unwrap_or_default());
    writeln!(out, "{}", line.trim_end())?;
    for piece in pieces {
        writeln!(out, "{}{}", " ".repeat(start), piece.trim_end())?;
    }
    Ok(())
}

/// Splits `text` into lines of at most `room` chars, at spaces when possible.
fn wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let mut word = word.to_owned();
        let len = |s: &str| s.chars().count();
        if !current.is_empty() && len(&current) + 1 + len(&word) > room {
            lines.push(std::mem::take(&mut current));
        }
        while len(&word) > room {
            let head: String = word.chars().take(room).collect();
            let tail: String = word.chars().skip(room).collect();
            if !current.is_empty() {
                lines.push(std::mem::take(&mut current));
            }
            lines.push(head);
            word = tail;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    lines.push(current);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Two(&'static str, &'static str);

    impl Row for Two {
        fn headers() -> &'static [&'static str] {
            &["NAME", "INFO"]
        }
        fn cells(&self) -> Vec<String> {
            vec![self.0.into(), self.1.into()]
        }
    }

    fn text(rows: &[Two], width: Option<usize>) -> String {
        let mut out = Vec::new();
        render(&mut out, rows, width).expect("in memory");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn issue_16_off_a_terminal_every_cell_is_padded_as_ankaios_prints() {
        let rows = [Two("nginx", ""), Two("a", "exit code 1")];
        assert_eq!(
            text(&rows, None),
            "NAME    INFO       \nnginx              \na       exit code 1\n"
        );
    }

    #[test]
    fn on_a_terminal_columns_are_padded_without_trailing_blanks() {
        let rows = [Two("nginx", ""), Two("a", "exit code 1")];
        assert_eq!(
            text(&rows, Some(80)),
            "NAME    INFO\nnginx\na       exit code 1\n"
        );
    }

    #[test]
    fn the_last_column_wraps_at_spaces_to_the_terminal_width() {
        let rows = [Two("w", "one two three four five six seven eight nine ten")];
        assert_eq!(
            text(&rows, Some(24)),
            "NAME   INFO\nw      one two three\n       four five six\n       seven eight nine\n       ten\n"
        );
    }

    #[test]
    fn a_word_longer_than_the_room_is_cut() {
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }
}
