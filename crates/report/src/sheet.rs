//! A report table as a CSV file (RFC 4180, written by the `csv` crate), safe to open in a
//! spreadsheet.
//!
//! Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that begins with `=`,
//! `+`, `-` or `@` as a formula, and some also one that begins with a tab or a carriage
//! return. Text in a report comes from people (reasons, names, notes), so any such cell is
//! written with a leading apostrophe (`'=1+1`), which spreadsheets show as text and a reader
//! recognizes. Numbers in the tables are never signed (see `tables`), so no figure is
//! changed by this.

use crate::tables::Table;

/// Characters that make a spreadsheet read a cell as a formula when they begin it.
const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `cell`, with an apostrophe before it when it would otherwise begin a formula.
pub fn escape(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_START) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// The table as CSV bytes: a header row, then one row per line, every cell escaped.
pub fn write(t: &Table) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(&t.columns)?;
    for row in &t.rows {
        w.write_record(row.iter().map(|c| escape(c).into_owned()))?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cells: &[&str]) -> Table {
        Table {
            name: "test",
            columns: vec!["a", "b", "c", "d", "e", "f", "g", "h", "i"],
            rows: vec![cells.iter().map(|s| s.to_string()).collect()],
        }
    }

    /// Every formula start is neutralized; the rest is kept byte for byte, and the file
    /// reads back (quotes, commas, new lines) to the same cells.
    #[test]
    fn formula_cells_are_escaped_and_the_rest_round_trips() {
        let cells = [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1",
            "-2+3",
            "@SUM(A1)",
            "\tcmd",
            "\rcmd",
            "Ketamine HCl 100 mg/mL, \"multi-dose\"",
            "line one\nline two",
            "a=b",
        ];
        let bytes = write(&table(&cells)).unwrap();
        let mut r = csv::Reader::from_reader(&bytes[..]);
        let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, ["a", "b", "c", "d", "e", "f", "g", "h", "i"]);
        let row: Vec<String> = r
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(String::from)
            .collect();
        assert_eq!(
            row,
            [
                "'=HYPERLINK(\"http://x\",\"y\")",
                "'+1",
                "'-2+3",
                "'@SUM(A1)",
                "'\tcmd",
                "'\rcmd",
                "Ketamine HCl 100 mg/mL, \"multi-dose\"",
                "line one\nline two",
                "a=b",
            ]
        );
        for cell in &row {
            assert!(!cell.starts_with(FORMULA_START), "{cell:?}");
        }
    }
}
