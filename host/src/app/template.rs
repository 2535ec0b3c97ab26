//! Spin's `{{ variable }}` templates, used in component variables and `allowed_outbound_hosts`.

use anyhow::{bail, Result};

/// A string with `{{ name }}` placeholders that refer to application variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Parses `text`; an unclosed `{{` or an invalid name inside one is an error.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed `{{{{` in `{text}`");
            };
            let name = after[..end].trim();
            crate::app::manifest::check_variable_name(name)?;
            parts.push(Part::Variable(name.to_string()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    /// The variable names this template refers to.
    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Variable(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Fills the placeholders with `lookup`; the first failing lookup is the error.
    pub fn resolve<E>(
        &self,
        mut lookup: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Variable(name) => out.push_str(&lookup(name)?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_literals_kept() {
        let t = Template::parse("postgres://{{ db_host }}:{{port}}").unwrap();
        assert_eq!(t.references().collect::<Vec<_>>(), vec!["db_host", "port"]);
        let out: Result<String, ()> = t.resolve(|n| {
            Ok(if n == "db_host" {
                "db".into()
            } else {
                "5432".into()
            })
        });
        assert_eq!(out.unwrap(), "postgres://db:5432");
    }

    #[test]
    fn unclosed_and_invalid_placeholders_are_refused() {
        assert!(Template::parse("{{ open").is_err());
        assert!(Template::parse("{{ Bad-Name }}").is_err());
    }
}
