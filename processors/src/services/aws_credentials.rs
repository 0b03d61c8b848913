//! AWSCredentialsProviderControllerService: AWS (or S3-compatible) access keys configured
//! once and shared by the S3 processors through their 'AWS Credentials Provider service'.

use std::sync::Arc;

use sluice_engine::service::ServiceInstance;
use sluice_engine::{InputRequirement, ProcessContext, ProcessorDescriptor, PropertyDescriptor, Registry, Validator};

/// The API the service provides.
pub const API: &str = "AWSCredentialsProviderService";
const ACCESS_KEY: &str = "Access Key ID";
const SECRET_KEY: &str = "Secret Access Key";
const SESSION_TOKEN: &str = "Session Token";

/// Static credentials.
pub struct AwsCredentials {
    /// Access key id.
    pub key_id: String,
    /// Secret access key.
    pub secret: String,
    /// Session token of temporary credentials.
    pub token: Option<String>,
}

/// Registers the service type.
pub fn register(r: &mut Registry) {
    r.register_service(descriptor(), API, create);
}

fn descriptor() -> ProcessorDescriptor {
    ProcessorDescriptor::new(
        "AWSCredentialsProviderControllerService",
        "An access key pair (and optional session token) for AWS or an S3-compatible server, shared by the S3 \
         processors through their 'AWS Credentials Provider service' property so the secret is configured once.",
    )
    .tags(&["aws", "s3", "credentials", "provider"])
    .input(InputRequirement::Forbidden)
    .property(
        PropertyDescriptor::new(ACCESS_KEY)
            .description("The access key id")
            .required()
            .sensitive()
            .validator(Validator::NonEmpty),
    )
    .property(
        PropertyDescriptor::new(SECRET_KEY)
            .description("The secret access key")
            .required()
            .sensitive()
            .validator(Validator::NonEmpty),
    )
    .property(
        PropertyDescriptor::new(SESSION_TOKEN).description("The session token of temporary credentials").sensitive(),
    )
}

fn create(ctx: &ProcessContext) -> Result<ServiceInstance, String> {
    let get = |n: &str| ctx.property(n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let key_id = get(ACCESS_KEY).ok_or_else(|| format!("'{ACCESS_KEY}' is required"))?;
    let secret = get(SECRET_KEY).ok_or_else(|| format!("'{SECRET_KEY}' is required"))?;
    Ok(Arc::new(AwsCredentials { key_id, secret, token: get(SESSION_TOKEN) }))
}
