//! Tables as `az --output table` prints them: a header row, a rule of dashes under each
//! column, then the rows, columns padded to their widest cell.

use std::fmt;

pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| printable(&c)).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Resource names and messages come from outside: control characters (a newline, an
/// escape sequence that would restyle the terminal) are shown escaped, never sent raw.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().take(n).enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: Vec<&str>| -> fmt::Result {
            let mut out = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(c);
                } else {
                    out.push_str(c);
                    out.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count() + 2));
                }
            }
            writeln!(f, "{}", out.trim_end())
        };
        line(f, self.headers.clone())?;
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(f, rules.iter().map(String::as_str).collect())?;
        for r in &self.rows {
            let mut cells: Vec<&str> = r.iter().take(n).map(String::as_str).collect();
            cells.resize(n, "");
            line(f, cells)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_padded_like_az() {
        let mut t = Table::new(&["Name", "Rpo"]);
        t.row(vec!["rpc-app01 → westus2".into(), "2.0 h".into()]);
        t.row(vec!["x".into(), "40.5 h".into()]);
        assert_eq!(
            t.to_string(),
            "Name                 Rpo\n\
             -------------------  ------\n\
             rpc-app01 → westus2  2.0 h\n\
             x                    40.5 h\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut t = Table::new(&["Message"]);
        t.row(vec!["a\u{1b}[31mred\nb".into()]);
        let s = t.to_string();
        assert!(s.contains("a\\u{1b}[31mred\\nb"), "{s}");
        assert_eq!(s.lines().count(), 3);
    }
}
