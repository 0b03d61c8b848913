//! RouteOnAttribute: routes flowfiles by boolean expressions over their attributes.

use sluice_engine::attributes::AttrStr;
use std::collections::BTreeMap;

use sluice_engine::expression::Expression;
use sluice_engine::{
    DynamicProperties, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship,
};

const STRATEGY: &str = "Routing Strategy";
const TO_PROPERTY: &str = "Route to Property name";
const ALL_MATCH: &str = "Route to 'matched' if all match";
const ANY_MATCH: &str = "Route to 'matched' if any matches";
const MATCHED: &str = "matched";
const UNMATCHED: &str = "unmatched";
const BATCH: usize = 1000;
const ROUTE_ATTR: &str = "RouteOnAttribute.Route";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(RouteOnAttribute::default()));
}

fn relationships(props: &BTreeMap<String, String>) -> Vec<String> {
    match props.get(STRATEGY).map(|s| s.as_str()).unwrap_or(TO_PROPERTY) {
        TO_PROPERTY => {
            let mut v: Vec<String> = props.keys().filter(|k| k.as_str() != STRATEGY).cloned().collect();
            v.push(UNMATCHED.into());
            v
        }
        _ => vec![MATCHED.into(), UNMATCHED.into()],
    }
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "RouteOnAttribute",
        "Routes flowfiles by their attributes: each dynamic property is a boolean expression (e.g. ${size:gt(1000)}). With 'Route to Property name' a flowfile goes to the relationship of every property that matches; otherwise to 'matched' or 'unmatched'.",
    )
    .tags(&["attributes", "routing", "expression language", "regexp", "filter"])
    .routing()
    .property(
        PropertyDescriptor::new(STRATEGY)
            .description("How matches decide where a flowfile goes")
            .required()
            .default_value(TO_PROPERTY)
            .allowable(&[
                (TO_PROPERTY, "a relationship per property; a flowfile goes to each one that matches (cloned if several)"),
                (ALL_MATCH, "to 'matched' when every expression is true"),
                (ANY_MATCH, "to 'matched' when at least one expression is true"),
            ]),
    )
    .relationship(Relationship::new(UNMATCHED, "Flowfiles that match no expression"))
    .relationship(Relationship::new(MATCHED, "Flowfiles that match (with the 'matched' strategies)"))
    .dynamic(DynamicProperties {
        name_meaning: "A route (relationship) name".into(),
        value_meaning: "A boolean expression over the flowfile's attributes".into(),
        expression_language: true,
        creates_relationships: true,
    })
    .relationships_from(relationships)
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Mode {
    #[default]
    ToProperty,
    All,
    Any,
}

/// The processor.
#[derive(Default)]
pub struct RouteOnAttribute {
    mode: Mode,
    routes: Vec<(AttrStr, Expression)>,
    /// Shared strings for the `RouteOnAttribute.Route` attribute (set on every flowfile).
    route_key: Option<AttrStr>,
    matched: Option<AttrStr>,
    unmatched: Option<AttrStr>,
}

impl Processor for RouteOnAttribute {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.mode = match ctx.property(STRATEGY).unwrap_or(TO_PROPERTY) {
            ALL_MATCH => Mode::All,
            ANY_MATCH => Mode::Any,
            _ => Mode::ToProperty,
        };
        self.routes.clear();
        self.route_key = Some(AttrStr::new(ROUTE_ATTR));
        self.matched = Some(AttrStr::new(MATCHED));
        self.unmatched = Some(AttrStr::new(UNMATCHED));
        for (k, v) in ctx.dynamic_properties() {
            let e = match ctx.expression(k) {
                Some(e) => e.clone(),
                None => Expression::compile(v).map_err(|e| ProcessError::Config(format!("'{k}': {e}")))?,
            };
            self.routes.push((AttrStr::new(k), e));
        }
        Ok(())
    }

    fn validate(&self, ctx: &ProcessContext) -> Vec<String> {
        if ctx.dynamic_properties().next().is_none() {
            vec![
                "add at least one property: a route name with a boolean expression, e.g. large = ${fileSize:gt(1000)}"
                    .into(),
            ]
        } else {
            Vec::new()
        }
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let mut matched: Vec<&AttrStr> = Vec::with_capacity(self.routes.len());
        for mut ff in session.get_batch(BATCH) {
            matched.clear();
            for (name, e) in &self.routes {
                let hit =
                    e.evaluate_bool(&ff.attributes).map_err(|e| ProcessError::other(format!("route '{name}': {e}")))?;
                if hit {
                    matched.push(name);
                }
            }
            let key = self.route_key.clone().unwrap_or_else(|| AttrStr::new(ROUTE_ATTR));
            let target: Option<&AttrStr> = match self.mode {
                Mode::All if matched.len() == self.routes.len() => self.matched.as_ref(),
                Mode::Any if !matched.is_empty() => self.matched.as_ref(),
                Mode::ToProperty if !matched.is_empty() => None,
                _ => self.unmatched.as_ref(),
            };
            match target {
                Some(rel) => {
                    ff.attributes.insert_arc(key, rel.clone());
                    session.transfer(ff, rel);
                }
                None => {
                    for extra in &matched[1..] {
                        let mut c = session.clone_flowfile(&ff);
                        c.attributes.insert_arc(key.clone(), (*extra).clone());
                        session.transfer(c, extra);
                    }
                    let first = matched[0].clone();
                    ff.attributes.insert_arc(key, first.clone());
                    session.transfer(ff, &first);
                }
            }
        }
        Ok(())
    }
}
