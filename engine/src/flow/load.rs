//! Reading and checking flow files: syntax errors with line and column, structural errors
//! with the JSON path of the offending element, and semantic checks against the registry.

use std::collections::HashSet;
use std::fmt;

use crate::flow::definition::{FLOW_VERSION, FlowDefinition};
use crate::registry::Registry;

/// One problem found in a flow file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FlowIssue {
    /// Where: a JSON path such as `processors[2].properties.Batch Size`, or `line 3, column 7`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FlowIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A flow file that cannot be loaded, with every problem found.
#[derive(Clone, Debug, thiserror::Error)]
#[error("invalid flow: {}", .issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
pub struct FlowError {
    /// The problems.
    pub issues: Vec<FlowIssue>,
}

impl FlowError {
    /// One problem.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        FlowError { issues: vec![FlowIssue { path: path.into(), message: message.into() }] }
    }
}

/// Parses flow JSON. Syntax errors give line and column, shape errors the JSON path.
pub fn parse_flow(text: &str) -> Result<FlowDefinition, FlowError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        FlowError::one(format!("line {}, column {}", e.line(), e.column()), format!("JSON syntax error: {e}"))
    })?;
    parse_flow_value(value)
}

/// Parses an already-decoded JSON value into a flow definition.
pub fn parse_flow_value(value: serde_json::Value) -> Result<FlowDefinition, FlowError> {
    if let Some(v) = value.get("version") {
        match v.as_u64() {
            Some(n) if n as u32 == FLOW_VERSION => {}
            _ => {
                return Err(FlowError::one(
                    "version",
                    format!("unsupported flow version {v}; this Sluice reads version {FLOW_VERSION}"),
                ));
            }
        }
    } else {
        return Err(FlowError::one("version", format!("missing; add \"version\": {FLOW_VERSION} at the top")));
    }
    serde_path_to_error::deserialize::<_, FlowDefinition>(value).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { "(top level)".to_string() } else { path };
        FlowError::one(path, e.inner().to_string())
    })
}

/// Checks references and uniqueness (errors that make a flow unloadable).
pub fn check_structure(def: &FlowDefinition, registry: &Registry) -> Result<(), FlowError> {
    let mut issues = Vec::new();
    let mut ids = HashSet::new();
    for (i, p) in def.processors.iter().enumerate() {
        if p.id.trim().is_empty() {
            issues.push(FlowIssue { path: format!("processors[{i}].id"), message: "must not be empty".into() });
        }
        if !ids.insert(p.id.as_str()) {
            issues.push(FlowIssue { path: format!("processors[{i}].id"), message: format!("duplicate id '{}'", p.id) });
        }
        match registry.get(&p.type_name) {
            None => issues.push(FlowIssue {
                path: format!("processors[{i}].type"),
                message: format!("unknown processor type '{}'", p.type_name),
            }),
            Some(t) => {
                let rels = relationship_names(&t.descriptor, &p.properties);
                for (j, r) in p.auto_terminated_relationships.iter().enumerate() {
                    if !rels.contains(r) {
                        issues.push(FlowIssue {
                            path: format!("processors[{i}].auto_terminated_relationships[{j}]"),
                            message: format!(
                                "'{}' has no relationship '{r}' (it has: {})",
                                p.type_name,
                                rels.join(", ")
                            ),
                        });
                    }
                }
            }
        }
        for e in p.scheduling.validate() {
            let (field, msg) = e.split_once(": ").unwrap_or(("scheduling", &e));
            let field = field.split_whitespace().next().unwrap_or(field);
            issues.push(FlowIssue { path: format!("processors[{i}].{field}"), message: msg.to_string() });
        }
    }
    for (i, sv) in def.controller_services.iter().enumerate() {
        if sv.id.trim().is_empty() {
            issues
                .push(FlowIssue { path: format!("controller_services[{i}].id"), message: "must not be empty".into() });
        }
        if !ids.insert(sv.id.as_str()) {
            issues.push(FlowIssue {
                path: format!("controller_services[{i}].id"),
                message: format!("duplicate id '{}'", sv.id),
            });
        }
        if registry.service_type(&sv.type_name).is_none() {
            let known: Vec<String> = registry.service_types().map(|t| t.descriptor.type_name.clone()).collect();
            issues.push(FlowIssue {
                path: format!("controller_services[{i}].type"),
                message: format!("unknown controller service type '{}' (known: {})", sv.type_name, known.join(", ")),
            });
        }
    }
    for (i, c) in def.connections.iter().enumerate() {
        if !ids.insert(c.id.as_str()) {
            issues
                .push(FlowIssue { path: format!("connections[{i}].id"), message: format!("duplicate id '{}'", c.id) });
        }
        let src = def.processors.iter().find(|p| p.id == c.source);
        if src.is_none() {
            issues.push(FlowIssue {
                path: format!("connections[{i}].source"),
                message: format!("no processor with id '{}'", c.source),
            });
        }
        if !def.processors.iter().any(|p| p.id == c.destination) {
            issues.push(FlowIssue {
                path: format!("connections[{i}].destination"),
                message: format!("no processor with id '{}'", c.destination),
            });
        }
        if c.relationships.is_empty() {
            issues.push(FlowIssue {
                path: format!("connections[{i}].relationships"),
                message: "must name at least one relationship".into(),
            });
        }
        if let Some(src) = src
            && let Some(t) = registry.get(&src.type_name)
        {
            let rels = relationship_names(&t.descriptor, &src.properties);
            for (j, r) in c.relationships.iter().enumerate() {
                if !rels.contains(r) {
                    issues.push(FlowIssue {
                        path: format!("connections[{i}].relationships[{j}]"),
                        message: format!(
                            "'{}' ({}) has no relationship '{r}' (it has: {})",
                            src.name,
                            src.type_name,
                            rels.join(", ")
                        ),
                    });
                }
            }
        }
        if let Err(e) = crate::units::parse_data_size(&c.back_pressure_data_size_threshold) {
            issues.push(FlowIssue { path: format!("connections[{i}].back_pressure_data_size_threshold"), message: e });
        }
        if c.back_pressure_object_threshold == 0 {
            issues.push(FlowIssue {
                path: format!("connections[{i}].back_pressure_object_threshold"),
                message: "must be at least 1".into(),
            });
        }
        if let Err(e) = crate::units::parse_duration(&c.flowfile_expiration) {
            issues.push(FlowIssue { path: format!("connections[{i}].flowfile_expiration"), message: e });
        }
        for (j, p) in c.prioritizers.iter().enumerate() {
            if crate::flow::controller::parse_prioritizer(p).is_none() {
                issues.push(FlowIssue {
                    path: format!("connections[{i}].prioritizers[{j}]"),
                    message: format!("unknown prioritizer '{p}' (use FirstInFirstOutPrioritizer, OldestFlowFileFirstPrioritizer, NewestFlowFileFirstPrioritizer or PriorityAttributePrioritizer)"),
                });
            }
        }
    }
    for (i, l) in def.labels.iter().enumerate() {
        if !ids.insert(l.id.as_str()) {
            issues.push(FlowIssue { path: format!("labels[{i}].id"), message: format!("duplicate id '{}'", l.id) });
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(FlowError { issues }) }
}

/// The relationships a processor of this type with these properties has (declared ones,
/// plus one per dynamic property for types that route to property names).
pub fn relationship_names(
    descriptor: &crate::processor::ProcessorDescriptor,
    properties: &std::collections::BTreeMap<String, String>,
) -> Vec<String> {
    if let Some(f) = descriptor.relationships_for {
        return f(properties);
    }
    let mut rels: Vec<String> = descriptor.relationships.iter().map(|r| r.name.to_string()).collect();
    if descriptor.dynamic_properties.as_ref().is_some_and(|d| d.creates_relationships) {
        for k in properties.keys() {
            if descriptor.find_property(k).is_none() && !rels.contains(k) {
                rels.push(k.clone());
            }
        }
    }
    rels
}

/// Why a processor with this configuration cannot start (empty = valid), from its
/// descriptor alone: properties, scheduling, relationships and input.
pub fn processor_issues(
    d: &crate::processor::ProcessorDescriptor,
    properties: &std::collections::BTreeMap<String, String>,
    scheduling: &crate::node::Scheduling,
    auto_terminated: &[String],
    connected: &[String],
    has_incoming: bool,
) -> Vec<String> {
    use crate::processor::InputRequirement;
    let mut errs = Vec::new();
    for p in &d.properties {
        if let Err(e) = p.validate(properties.get(&p.name).map(|s| s.as_str())) {
            errs.push(e);
        }
    }
    for (k, v) in properties {
        if d.find_property(k).is_some() {
            continue;
        }
        match &d.dynamic_properties {
            None => errs.push(format!("'{k}' is not a property of {}", d.type_name)),
            Some(dp) if dp.expression_language && v.contains("${") => {
                if let Err(e) = sluice_expression::validate(v) {
                    errs.push(format!("'{k}': {e}"));
                }
            }
            Some(_) => {}
        }
    }
    errs.extend(scheduling.validate());
    for r in relationship_names(d, properties) {
        if !connected.contains(&r) && !auto_terminated.contains(&r) {
            errs.push(format!("relationship '{r}' is not connected to anything and not auto-terminated"));
        }
    }
    match d.input_requirement {
        InputRequirement::Required if !has_incoming => errs.push("needs an incoming connection".into()),
        InputRequirement::Forbidden if has_incoming => errs.push("takes no incoming connection".into()),
        _ => {}
    }
    errs
}

/// Every processor problem of a structurally valid flow, with JSON paths.
pub fn check_processors(def: &FlowDefinition, registry: &Registry) -> Vec<FlowIssue> {
    let mut issues = Vec::new();
    for (i, p) in def.processors.iter().enumerate() {
        let Some(t) = registry.get(&p.type_name) else { continue };
        let connected: Vec<String> =
            def.connections.iter().filter(|c| c.source == p.id).flat_map(|c| c.relationships.iter().cloned()).collect();
        let has_incoming = def.connections.iter().any(|c| c.destination == p.id);
        for e in processor_issues(
            &t.descriptor,
            &p.properties,
            &p.scheduling,
            &p.auto_terminated_relationships,
            &connected,
            has_incoming,
        ) {
            let path = match e.strip_prefix('\'').and_then(|r| r.split_once('\'')) {
                Some((name, _)) if p.properties.contains_key(name) || t.descriptor.find_property(name).is_some() => {
                    format!("processors[{i}].properties.{name}")
                }
                _ => format!("processors[{i}] ({})", p.name),
            };
            issues.push(FlowIssue { path, message: e });
        }
        for (name, value) in &p.properties {
            let path = format!("processors[{i}].properties.{name}");
            let desc = t.descriptor.find_property(name);
            if let Err(e) = crate::flow::controller::substitute_parameters(value, &def.parameters) {
                issues.push(FlowIssue { path: path.clone(), message: e });
            }
            if let Some(api) = desc.and_then(|d| d.controller_service.as_ref())
                && !value.trim().is_empty()
                && !def.controller_services.iter().any(|sv| sv.id == value.trim())
            {
                issues.push(FlowIssue {
                    path,
                    message: format!(
                        "names controller service '{}', which is not in the flow (a {api} is needed)",
                        value.trim()
                    ),
                });
            }
        }
    }
    issues
}
