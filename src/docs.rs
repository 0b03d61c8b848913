//! `sluice docs [TYPE]`: the processor reference in the terminal, from the same descriptors
//! the editor's palette and configuration panel show.

use std::fmt::Write;

use sluice_engine::{ProcessorDescriptor, Registry};

/// Every type with its one-line summary, or one type in full. An unknown type is an error
/// that lists the near matches.
pub fn docs(registry: &Registry, type_name: Option<&str>) -> anyhow::Result<String> {
    let mut types: Vec<_> = registry.descriptors().collect();
    types.sort_by(|a, b| a.type_name.cmp(&b.type_name));
    let Some(name) = type_name else {
        let width = types.iter().map(|d| d.type_name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for d in &types {
            let summary = d.description.split(". ").next().unwrap_or("").trim_end_matches('.');
            writeln!(out, "{:width$}  {summary}", d.type_name)?;
        }
        writeln!(out, "\n{} processor types; `sluice docs TYPE` for one in full.", types.len())?;
        return Ok(out);
    };
    match types.iter().find(|d| d.type_name.eq_ignore_ascii_case(name)) {
        Some(d) => Ok(describe(d)),
        None => {
            let lower = name.to_lowercase();
            let near: Vec<&str> = types
                .iter()
                .filter(|d| {
                    let t = d.type_name.to_lowercase();
                    t.contains(&lower) || lower.contains(&t) || d.tags.iter().any(|g| g.eq_ignore_ascii_case(name))
                })
                .map(|d| d.type_name.as_str())
                .collect();
            if near.is_empty() {
                anyhow::bail!("no processor type '{name}'; `sluice docs` lists them all")
            }
            anyhow::bail!("no processor type '{name}'; did you mean {}?", near.join(", "))
        }
    }
}

/// One type in full: description, tags, input, properties, relationships.
fn describe(d: &ProcessorDescriptor) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n\n{}\n", d.type_name, d.description);
    if !d.tags.is_empty() {
        let _ = writeln!(out, "Tags: {}", d.tags.join(", "));
    }
    let _ = writeln!(out, "Input: {:?}", d.input_requirement);
    if d.default_period != "0 sec" {
        let _ = writeln!(out, "Default run schedule: {}", d.default_period);
    }
    let _ = writeln!(out, "\nProperties:");
    for p in &d.properties {
        let mut flags = Vec::new();
        if p.required {
            flags.push("required".to_string());
        }
        if let Some(v) = &p.default_value {
            flags.push(format!("default '{v}'"));
        }
        if p.sensitive {
            flags.push("sensitive".to_string());
        }
        if p.expression_language {
            flags.push("expression language".to_string());
        }
        let _ = writeln!(
            out,
            "  {}{}",
            p.name,
            if flags.is_empty() { String::new() } else { format!(" ({})", flags.join(", ")) }
        );
        if !p.description.is_empty() {
            let _ = writeln!(out, "      {}", p.description);
        }
        for a in &p.allowable_values {
            let what = if a.description.is_empty() { String::new() } else { format!(": {}", a.description) };
            let _ = writeln!(out, "      - {}{what}", a.value);
        }
    }
    if let Some(dp) = &d.dynamic_properties {
        let _ = writeln!(out, "\nDynamic properties: name = {}; value = {}", dp.name_meaning, dp.value_meaning);
    }
    let _ = writeln!(out, "\nRelationships:");
    for r in &d.relationships {
        let _ = writeln!(out, "  {}  {}", r.name, r.description);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_type_and_describes_one_in_full() {
        let r = sluice_processors::registry();
        let all = docs(&r, None).unwrap();
        assert!(all.contains("GenerateFlowFile") && all.contains("PutFile") && all.contains("processor types"));
        let one = docs(&r, Some("routeonattribute")).unwrap();
        assert!(one.starts_with("RouteOnAttribute\n"), "{one}");
        assert!(one.contains("Routing Strategy") && one.contains("Relationships:"), "{one}");
        let err = docs(&r, Some("Route")).unwrap_err().to_string();
        assert!(err.contains("did you mean") && err.contains("RouteOnAttribute"), "{err}");
        let err = docs(&r, Some("Nothing")).unwrap_err().to_string();
        assert!(err.contains("no processor type 'Nothing'"), "{err}");
    }
}
