//! UpdateAttribute: sets attributes from expressions and deletes attributes by regex.

use sluice_engine::attributes::AttrStr;

use regex::Regex;
use sluice_engine::expression::Expression;
use sluice_engine::{
    DynamicProperties, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

const DELETE: &str = "Delete Attributes Expression";
/// Flowfiles handled per trigger: amortizes scheduling over a batch.
const BATCH: usize = 1000;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(UpdateAttribute::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "UpdateAttribute",
        "Sets attributes: each dynamic property names an attribute and gives its value, which may use the expression language. Can also delete attributes whose names match a regular expression.",
    )
    .tags(&["attributes", "modification", "update", "delete", "expression language"])
    .property(
        PropertyDescriptor::new(DELETE)
            .description("Attributes whose names match this regular expression are removed (before the new values are set)")
            .validator(Validator::Regex),
    )
    .relationship(Relationship::new(crate::SUCCESS, "Every flowfile, after its attributes are updated"))
    .dynamic(DynamicProperties {
        name_meaning: "An attribute name".into(),
        value_meaning: "Its new value; expressions see the flowfile's attributes as they were".into(),
        expression_language: true,
        creates_relationships: false,
    })
}

enum Value {
    Literal(AttrStr),
    Expr(Expression),
}

/// The processor.
#[derive(Default)]
pub struct UpdateAttribute {
    sets: Vec<(AttrStr, Value)>,
    delete: Option<Regex>,
}

impl Processor for UpdateAttribute {
    fn on_scheduled(&mut self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.sets.clear();
        for (k, v) in ctx.dynamic_properties() {
            let value = match ctx.expression(k) {
                Some(e) => Value::Expr(e.clone()),
                None => Value::Literal(AttrStr::new(v)),
            };
            self.sets.push((AttrStr::new(k), value));
        }
        self.delete = match ctx.property(DELETE).filter(|s| !s.is_empty()) {
            Some(p) => Some(Regex::new(p).map_err(|e| ProcessError::Config(format!("'{DELETE}': {e}")))?),
            None => None,
        };
        Ok(())
    }

    fn on_trigger(&self, _ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            let before = ff.attributes.clone();
            if let Some(re) = &self.delete {
                ff.attributes.remove_where(|k| k != "uuid" && re.is_match(k));
            }
            for (name, value) in &self.sets {
                if &**name == "uuid" {
                    continue;
                }
                match value {
                    Value::Literal(v) => ff.attributes.insert_arc(name.clone(), v.clone()),
                    Value::Expr(e) => {
                        let v = e.evaluate(&before).map_err(|e| ProcessError::other(format!("'{name}': {e}")))?;
                        ff.attributes.insert_arc(name.clone(), AttrStr::new(v));
                    }
                }
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}
