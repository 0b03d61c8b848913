//! JSON, record and stateful processors: SplitJson, EvaluateJsonPath, AttributesToJSON,
//! ValidateJson, ConvertRecord, DetectDuplicate, Wait and Notify.

use sluice_engine::Registry;

pub mod common;
pub mod records;
pub mod signals;
pub mod state_log;

pub mod attributes_to_json;
pub mod convert_record;
pub mod detect_duplicate;
pub mod evaluate_json_path;
pub mod notify;
pub mod split_json;
pub mod validate_json;
pub mod wait;

/// Registers the processors of this group.
pub fn register_all(registry: &mut Registry) {
    split_json::register(registry);
    evaluate_json_path::register(registry);
    attributes_to_json::register(registry);
    validate_json::register(registry);
    convert_record::register(registry);
    detect_duplicate::register(registry);
    wait::register(registry);
    notify::register(registry);
}
