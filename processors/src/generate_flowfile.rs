//! GenerateFlowFile: creates flowfiles with random or custom content, for testing and load.

use bytes::Bytes;
use parking_lot::Mutex;
use rand::Rng;
use sluice_engine::{
    Content, InputRequirement, ProcessContext, ProcessError, ProcessSession, Processor, ProcessorDescriptor,
    PropertyDescriptor, Registry, Relationship, Validator,
};

const FILE_SIZE: &str = "File Size";
const BATCH_SIZE: &str = "Batch Size";
const DATA_FORMAT: &str = "Data Format";
const UNIQUE: &str = "Unique FlowFiles";
const CUSTOM_TEXT: &str = "Custom Text";
const MIME_TYPE: &str = "Mime Type";

/// Registers the type.
pub fn register(r: &mut Registry) {
    r.register(descriptor(), || Box::new(GenerateFlowFile::default()));
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "GenerateFlowFile",
        "Creates flowfiles with random or custom content. Useful for testing flows and for load tests.",
    )
    .tags(&["test", "random", "generate", "load"])
    .input(InputRequirement::Forbidden)
    .default_period("1 min")
    .property(
        PropertyDescriptor::new(FILE_SIZE)
            .description("The size of each flowfile's content when Custom Text is not set")
            .required()
            .default_value("0B")
            .validator(Validator::DataSize),
    )
    .property(
        PropertyDescriptor::new(BATCH_SIZE)
            .description("How many flowfiles each run creates")
            .required()
            .default_value("1")
            .validator(Validator::POSITIVE_INTEGER),
    )
    .property(
        PropertyDescriptor::new(DATA_FORMAT)
            .description("Random bytes (Binary) or random letters and digits (Text)")
            .required()
            .default_value("Text")
            .allowable(&[("Binary", "random bytes"), ("Text", "random letters and digits")]),
    )
    .property(
        PropertyDescriptor::new(UNIQUE)
            .description("Whether each flowfile gets new random content, or all share one content (much faster)")
            .required()
            .default_value("false")
            .allowable(&[("true", "new content per flowfile"), ("false", "one shared content")]),
    )
    .property(
        PropertyDescriptor::new(CUSTOM_TEXT)
            .description("Content to use instead of random data; expressions are evaluated once per run")
            .expression_language(),
    )
    .property(PropertyDescriptor::new(MIME_TYPE).description("Value of the mime.type attribute").expression_language())
    .relationship(Relationship::new(crate::SUCCESS, "Every generated flowfile"))
    .dynamic(sluice_engine::DynamicProperties {
        name_meaning: "An attribute to add".into(),
        value_meaning: "Its value (expressions evaluated once per run)".into(),
        expression_language: true,
        creates_relationships: false,
    })
}

/// The processor.
#[derive(Default)]
pub struct GenerateFlowFile {
    shared: Mutex<Option<Content>>,
}

fn random_content(size: usize, text: bool) -> Bytes {
    let mut rng = rand::rng();
    if text {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..size).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())]).collect::<Vec<u8>>().into()
    } else {
        let mut v = vec![0u8; size];
        rng.fill(&mut v[..]);
        v.into()
    }
}

impl Processor for GenerateFlowFile {
    fn on_scheduled(&mut self, _ctx: &ProcessContext) -> Result<(), ProcessError> {
        *self.shared.lock() = None;
        Ok(())
    }

    fn on_trigger(&self, ctx: &ProcessContext, session: &mut ProcessSession) -> Result<(), ProcessError> {
        let batch = ctx.int(BATCH_SIZE)?.unwrap_or(1).max(1) as usize;
        let unique = ctx.bool(UNIQUE)?.unwrap_or(false);
        let custom = ctx.value(CUSTOM_TEXT)?.filter(|s| !s.is_empty());
        let size = ctx.data_size(FILE_SIZE)?.unwrap_or(0) as usize;
        let text = ctx.property(DATA_FORMAT) != Some("Binary");
        let mime = ctx.value(MIME_TYPE)?.filter(|s| !s.is_empty());
        let extra: Vec<(String, String)> = ctx
            .dynamic_properties()
            .map(|(k, _)| Ok((k.to_string(), ctx.value(k)?.unwrap_or_default())))
            .collect::<Result<_, ProcessError>>()?;
        let shared = if unique && custom.is_none() {
            None
        } else {
            let mut guard = self.shared.lock();
            match (&*guard, &custom) {
                // Custom text may change per run (expressions), so only random content is cached.
                (Some(c), None) => Some(c.clone()),
                _ => {
                    let bytes = match &custom {
                        Some(t) => Bytes::from(t.clone().into_bytes()),
                        None => random_content(size, text),
                    };
                    let mut tmp = session.create();
                    session.write(&mut tmp, bytes)?;
                    let c = tmp.content.clone();
                    session.remove(tmp);
                    if custom.is_none() {
                        *guard = Some(c.clone());
                    }
                    Some(c)
                }
            }
        };
        for _ in 0..batch {
            let mut ff = session.create();
            match &shared {
                Some(c) => ff.content = c.clone(),
                None => session.write(&mut ff, random_content(size, text))?,
            }
            if let Some(m) = &mime {
                ff.set_attr("mime.type", m);
            }
            for (k, v) in &extra {
                ff.set_attr(k, v);
            }
            session.transfer(ff, crate::SUCCESS);
        }
        Ok(())
    }
}
