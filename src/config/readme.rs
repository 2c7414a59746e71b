//! The README's configuration tables, rendered from the rows, and the test that keeps the
//! README equal to them (a key added to a table without the README fails it).

use super::keys::BROKER_KEYS;
use super::sources::flag_aliases;
use crate::config_def::markdown_table;
use crate::log::config::TOPIC_KEYS;

/// The broker keys' table: key (with its flag aliases), default, meaning.
pub fn broker_table() -> String {
    let rows: Vec<[String; 3]> = BROKER_KEYS
        .iter()
        .map(|k| {
            let aliases = flag_aliases(k.name);
            let name = match aliases.is_empty() {
                true => format!("`{}`", k.name),
                false => format!("`{}` (`{}`)", k.name, aliases.join("`, `")),
            };
            let default = k.default.map_or("unset".to_string(), |d| if d.is_empty() { "empty".into() } else { format!("`{d}`") });
            [name, default, k.doc.to_string()]
        })
        .collect();
    markdown_table(["key", "default", "meaning"], &rows)
}

/// The topic keys' table: key, the broker key its default comes from, meaning.
pub fn topic_table() -> String {
    let rows: Vec<[String; 3]> = TOPIC_KEYS
        .iter()
        .map(|t| {
            let from: Vec<String> = t.synonyms.iter().map(|s| format!("`{}`", s.name)).collect();
            [format!("`{}`", t.key.name), from.join(", "), t.key.doc.to_string()]
        })
        .collect();
    markdown_table(["topic key", "default from", "meaning"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of the README between `<!-- {name}:begin -->` and `<!-- {name}:end -->`.
    fn section<'a>(readme: &'a str, name: &str) -> &'a str {
        let begin = format!("<!-- {name}:begin -->\n");
        let start = readme.find(&begin).map(|i| i + begin.len()).unwrap_or_else(|| panic!("README lacks {begin}"));
        let end = readme[start..].find(&format!("<!-- {name}:end -->")).unwrap_or_else(|| panic!("README lacks the end of {name}"));
        &readme[start..start + end]
    }

    #[test]
    fn readme_tables_are_the_rows() {
        let readme = include_str!("../../README.md");
        let broker = broker_table();
        assert!(section(readme, "broker-keys") == broker, "README's broker key table differs from config::keys; replace it with:\n{broker}");
        let topic = topic_table();
        assert!(section(readme, "topic-keys") == topic, "README's topic key table differs from log::config; replace it with:\n{topic}");
    }
}
