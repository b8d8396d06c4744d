//! The failure classes for people: `stillup classes` prints [`FailureClass::ALL`] with each
//! class's [`description`](FailureClass::description), the one source that the man pages
//! also print and that the README's "Failure classes" table is tested against here.

use stillup_core::FailureClass;

/// A description as plain text: the Markdown backticks around names dropped.
pub fn plain(description: &str) -> String {
    description.replace('`', "")
}

/// `stillup classes`: a heading, then one line per class, its name padded to a column.
/// One line each, so `stillup classes | grep tls` finds a class with all it means.
pub fn table() -> String {
    let width = FailureClass::ALL
        .iter()
        .map(|c| c.as_str().len())
        .max()
        .unwrap_or(0);
    let mut text = format!("{:width$}  MEANING\n", "CLASS");
    for class in FailureClass::ALL {
        text.push_str(&format!(
            "{:width$}  {}\n",
            class.as_str(),
            plain(class.description())
        ));
    }
    text
}

/// The README's table, as the README writes it: `| `name` | description |`, a `|` inside
/// a description written `\|`.
pub fn markdown_rows() -> Vec<String> {
    FailureClass::ALL
        .iter()
        .map(|c| {
            format!(
                "| `{}` | {} |",
                c.as_str(),
                c.description().replace('|', "\\|")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "Failure classes" table is `FailureClass::ALL` with its descriptions,
    /// row for row; on a difference the test prints the table to paste.
    #[test]
    fn the_readmes_failure_class_table_is_the_one_in_the_core() {
        let readme = include_str!("../../../../README.md");
        let section = readme
            .split("\n## Failure classes\n")
            .nth(1)
            .expect("the README has a Failure classes section");
        let rows: Vec<&str> = section
            .lines()
            .skip_while(|line| !line.starts_with("| class | meaning |"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .collect();
        let expected = markdown_rows();
        assert!(
            rows == expected,
            "the README's failure-class table differs from FailureClass::ALL; paste this:\n\
             | class | meaning |\n|---|---|\n{}",
            expected.join("\n")
        );
    }

    #[test]
    fn the_table_has_a_line_per_class_with_its_plain_meaning() {
        let table = table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), FailureClass::ALL.len() + 1);
        assert!(lines[0].starts_with("CLASS "), "{table}");
        for (line, class) in lines[1..].iter().zip(FailureClass::ALL) {
            let (name, meaning) = line.split_once("  ").unwrap();
            assert_eq!(name, class.as_str());
            assert_eq!(meaning.trim_start(), plain(class.description()));
            assert!(!meaning.contains('`'), "{line}");
        }
    }
}
