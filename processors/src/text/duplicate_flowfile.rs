//! DuplicateFlowFile: emits the input plus N copies of it (sharing its content), for load
//! testing and fan-out.

use sluice_engine::{
    ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor, PropertyDescriptor, Registry,
    Relationship, Validator,
};

use super::common::eval_prop;

const COPIES: &str = "Number of Copies";
/// Attribute set on flowfiles routed to `failure`: why.
pub const ERROR_ATTR: &str = "DuplicateFlowFile.error";
/// Inputs handled per trigger.
const BATCH: usize = 100;

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(DuplicateFlowFile));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "DuplicateFlowFile",
        "Sends each flowfile to success together with N copies of it. The copies share the content (no bytes are copied) and get \
         copy.index 1..N; the original gets copy.index 0. Intended for load testing.",
    )
    .tags(&["test", "load", "duplicate", "copy", "clone"])
    .property(
        PropertyDescriptor::new(COPIES)
            .description("How many copies to make of each flowfile (besides the original); expressions see its attributes")
            .required()
            .default_value("100")
            .expression_language()
            .validator(Validator::NON_NEGATIVE_INTEGER),
    )
    .relationship(Relationship::new(crate::SUCCESS, "The original and its copies"))
    .relationship(Relationship::new(
        crate::FAILURE,
        "Flowfiles for which Number of Copies did not evaluate to a whole number; DuplicateFlowFile.error says why",
    ))
}

/// The processor.
pub struct DuplicateFlowFile;

impl Processor for DuplicateFlowFile {
    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        for mut ff in session.get_batch(BATCH) {
            let copies = match eval_prop(ctx, COPIES, &ff.attributes) {
                Ok(v) => match v.trim().parse::<u32>() {
                    Ok(n) => n,
                    Err(_) => {
                        ff.set_attr(ERROR_ATTR, &format!("'{COPIES}' is not a whole number: '{v}'"));
                        session.transfer(ff, crate::FAILURE);
                        continue;
                    }
                },
                Err(bad) => {
                    ff.set_attr(ERROR_ATTR, &bad.0);
                    session.transfer(ff, crate::FAILURE);
                    continue;
                }
            };
            for i in 1..=copies {
                let mut c = session.clone_flowfile(&ff);
                c.set_attr("copy.index", &i.to_string());
                session.transfer(c, crate::SUCCESS);
            }
            ff.set_attr("copy.index", "0");
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::testing::TestRunner;

    #[test]
    fn makes_copies_sharing_content() {
        let mut r = TestRunner::new(crate::registry(), "DuplicateFlowFile");
        r.set_property(COPIES, "${n}");
        let orig = r.enqueue("data", &[("n", "3")]);
        r.run(1).unwrap();
        let out = r.output(crate::SUCCESS);
        assert_eq!(out.len(), 4);
        let mut idx: Vec<&str> = out.iter().map(|f| f.attr("copy.index").unwrap()).collect();
        idx.sort();
        assert_eq!(idx, vec!["0", "1", "2", "3"]);
        assert!(out.iter().all(|f| f.content.same_as(&orig.content)));
        assert_eq!(r.events().iter().filter(|e| format!("{:?}", e.event_type) == "Clone").count(), 3);
    }

    #[test]
    fn zero_copies_and_bad_count() {
        let mut r = TestRunner::new(crate::registry(), "DuplicateFlowFile");
        r.set_property(COPIES, "${n}");
        r.enqueue("a", &[("n", "0")]);
        r.enqueue("b", &[("n", "many")]);
        r.run(1).unwrap();
        assert_eq!(r.count(crate::SUCCESS), 1);
        let f = r.output(crate::FAILURE);
        assert!(f[0].attr(ERROR_ATTR).unwrap().contains("'many'"));
    }
}
