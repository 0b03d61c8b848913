//! The OpenAPI document. Paths, parameters and status codes come from the handlers'
//! `#[utoipa::path]` annotations, registered by the same `routes!` list that builds the
//! router. The engine's types carry no schema derive (the engine has no HTTP), so their
//! shapes are described here; `tests/openapi.rs` checks real answers against them, field by
//! field, so the two cannot drift apart unnoticed.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Json as AxJson;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice",
        description = "Sluice's HTTP API (see docs/api.md). Errors are `{\"error\", \"details\"}`."
    ),
    components(schemas(
        ErrorBody,
        FlowViewSchema,
        ProcessorViewSchema,
        ConnectionViewSchema,
        StatusMessage,
        FlowMessage
    ))
)]
struct Base;

/// The document's fixed part: info, shared schemas, security schemes.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    let mut doc = Base::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let comps = doc.components.get_or_insert_with(Default::default);
    comps
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    comps.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
    );
    doc
}

/// The generated document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, body = Json, description = "this document")))]
pub(crate) async fn document() -> AxJson<serde_json::Value> {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    AxJson(DOC.get_or_init(crate::openapi_json).clone())
}

/// Any JSON value.
pub(crate) struct Json;

impl utoipa::PartialSchema for Json {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new().description(Some("any JSON")).into()
    }
}

impl ToSchema for Json {}

/// An error answer.
#[derive(ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
    /// More: `[{path, message}]` for invalid input, the current component for a stale revision.
    #[schema(value_type = Object, nullable)]
    details: Option<serde_json::Value>,
}

/// `GET /api/health`.
#[derive(ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: String,
    /// Milliseconds since start.
    uptime_millis: u64,
}

/// `{"password"}`.
#[derive(ToSchema)]
pub(crate) struct PasswordSchema {
    /// The password.
    password: String,
}

/// A canvas position.
#[derive(ToSchema)]
#[schema(as = Position)]
pub(crate) struct PositionSchema {
    /// X.
    x: f64,
    /// Y.
    y: f64,
}

/// Scheduling strategy.
#[derive(ToSchema)]
#[allow(clippy::enum_variant_names)]
pub(crate) enum Strategy {
    /// Every period.
    #[schema(rename = "TIMER_DRIVEN")]
    TimerDriven,
    /// Cron expression.
    #[schema(rename = "CRON_DRIVEN")]
    CronDriven,
    /// On input.
    #[schema(rename = "EVENT_DRIVEN")]
    EventDriven,
}

/// Run state.
#[derive(ToSchema)]
pub(crate) enum RunState {
    /// Scheduled.
    #[schema(rename = "RUNNING")]
    Running,
    /// Not scheduled.
    #[schema(rename = "STOPPED")]
    Stopped,
    /// Not startable.
    #[schema(rename = "DISABLED")]
    Disabled,
}

/// How a processor is scheduled.
#[derive(ToSchema)]
#[schema(as = Scheduling)]
pub(crate) struct SchedulingSchema {
    /// Strategy.
    strategy: Strategy,
    /// `"0 sec"` or a cron expression.
    period: String,
    /// 1 to 64.
    concurrent_tasks: u32,
    /// e.g. `"30 sec"`.
    penalty: String,
    /// e.g. `"1 sec"`.
    #[schema(rename = "yield")]
    yield_: String,
    /// e.g. `"0 ms"`.
    run_duration: String,
}

/// Retry of some relationships.
#[derive(ToSchema)]
#[schema(as = Retry)]
pub(crate) struct RetrySchema {
    /// Retried relationships.
    relationships: Vec<String>,
    /// Attempts.
    attempts: u32,
    /// Longest back-off.
    max_backoff: String,
}

/// Totals over the last 5 minutes.
#[derive(ToSchema)]
#[schema(as = ProcessorStatus)]
pub(crate) struct ProcessorStatusSchema {
    /// Flowfiles in.
    flowfiles_in: u64,
    /// Bytes in.
    bytes_in: u64,
    /// Flowfiles out.
    flowfiles_out: u64,
    /// Bytes out.
    bytes_out: u64,
    /// Tasks.
    tasks: u64,
    /// Task time (ns).
    task_nanos: u64,
}

/// A processor.
#[derive(ToSchema)]
#[schema(as = ProcessorView)]
pub(crate) struct ProcessorViewSchema {
    /// Id.
    id: String,
    /// Type.
    #[schema(rename = "type")]
    type_name: String,
    /// Name.
    name: String,
    /// Position.
    position: PositionSchema,
    /// Properties (sensitive values as `********`).
    properties: BTreeMap<String, String>,
    /// Run state.
    state: RunState,
    /// Auto-terminated relationships.
    auto_terminated_relationships: Vec<String>,
    /// Every relationship it has now.
    relationships: Vec<String>,
    /// Why it cannot start.
    validation_errors: Vec<String>,
    /// Revision.
    revision: u64,
    /// Scheduling.
    scheduling: SchedulingSchema,
    /// Retry.
    retry: Option<RetrySchema>,
    /// Comments.
    comments: String,
    /// 5-minute totals.
    status: ProcessorStatusSchema,
    /// Tasks running now.
    active_tasks: u64,
    /// Bulletins kept for it.
    bulletin_count: u64,
}

/// A connection's live figures.
#[derive(ToSchema)]
#[schema(as = ConnectionStatus)]
pub(crate) struct ConnectionStatusSchema {
    /// Queued flowfiles.
    queued_count: u64,
    /// Queued bytes.
    queued_bytes: u64,
    /// In a running session.
    in_flight: u64,
    /// A threshold is reached.
    back_pressure: bool,
    /// Fill, 0 to 1.
    fill_ratio: f64,
}

/// A connection.
#[derive(ToSchema)]
#[schema(as = ConnectionView)]
pub(crate) struct ConnectionViewSchema {
    /// Id.
    id: String,
    /// Name.
    name: String,
    /// Source processor.
    source: String,
    /// Destination processor.
    destination: String,
    /// Relationships.
    relationships: Vec<String>,
    /// Object threshold.
    back_pressure_object_threshold: u64,
    /// Size threshold, e.g. `"1 GB"`.
    back_pressure_data_size_threshold: String,
    /// Prioritizers.
    prioritizers: Vec<String>,
    /// Expiration, e.g. `"0 sec"`.
    flowfile_expiration: String,
    /// Bend points.
    bends: Vec<PositionSchema>,
    /// Revision.
    revision: u64,
    /// Figures.
    status: ConnectionStatusSchema,
}

/// A label.
#[derive(ToSchema)]
#[schema(as = Label)]
pub(crate) struct LabelSchema {
    /// Id.
    id: String,
    /// Text.
    text: String,
    /// Position.
    position: PositionSchema,
    /// `[width, height]`.
    size: Option<[f64; 2]>,
}

/// The whole live flow.
#[derive(ToSchema)]
#[schema(as = FlowView)]
pub(crate) struct FlowViewSchema {
    /// Flow revision.
    revision: u64,
    /// Name.
    name: String,
    /// Description.
    description: String,
    /// Hash of the definition.
    flow_hash: String,
    /// Processors.
    processors: Vec<ProcessorViewSchema>,
    /// Connections.
    connections: Vec<ConnectionViewSchema>,
    /// Labels.
    labels: Vec<LabelSchema>,
    /// Parameter names.
    parameters: Vec<String>,
}

/// A new processor.
#[derive(ToSchema)]
#[schema(as = NewProcessor)]
pub(crate) struct NewProcessorSchema {
    /// Type.
    #[schema(rename = "type")]
    type_name: String,
    /// Id (generated when absent).
    id: Option<String>,
    /// Name.
    name: Option<String>,
    /// Position.
    position: Option<PositionSchema>,
    /// Properties.
    properties: Option<BTreeMap<String, String>>,
    /// Initial state.
    state: Option<RunState>,
    /// Auto-terminated relationships.
    auto_terminated_relationships: Option<Vec<String>>,
    /// Scheduling.
    scheduling: Option<SchedulingSchema>,
    /// Retry.
    retry: Option<RetrySchema>,
    /// Comments.
    comments: Option<String>,
}

/// A change to a processor (only the fields given change).
#[derive(ToSchema)]
#[schema(as = ProcessorPatch)]
pub(crate) struct ProcessorPatchSchema {
    /// The revision last seen (stale = 409).
    revision: Option<u64>,
    /// Name.
    name: Option<String>,
    /// Position.
    position: Option<PositionSchema>,
    /// Properties to set; null removes; `********` keeps a sensitive value.
    properties: Option<BTreeMap<String, Option<String>>>,
    /// State.
    state: Option<RunState>,
    /// Auto-terminated relationships.
    auto_terminated_relationships: Option<Vec<String>>,
    /// Scheduling.
    scheduling: Option<SchedulingSchema>,
    /// Retry (null removes).
    retry: Option<RetrySchema>,
    /// Comments.
    comments: Option<String>,
}

/// A controller service.
#[derive(ToSchema)]
#[schema(as = ServiceView)]
pub(crate) struct ServiceViewSchema {
    /// Id (what referencing processor properties hold).
    id: String,
    /// Type.
    #[schema(rename = "type")]
    type_name: String,
    /// Name.
    name: String,
    /// The API it provides, e.g. `DatabaseConnectionPool`.
    provides: String,
    /// `ENABLED` or `DISABLED`.
    state: String,
    /// Properties (sensitive values as `********`).
    properties: BTreeMap<String, String>,
    /// Why it cannot be enabled.
    validation_errors: Vec<String>,
    /// Ids of the processors that reference it.
    referencing_processors: Vec<String>,
    /// Comments.
    comments: String,
    /// Revision.
    revision: u64,
}

/// Every controller service.
#[derive(ToSchema)]
pub(crate) struct ServiceListSchema {
    /// In flow order.
    controller_services: Vec<ServiceViewSchema>,
}

/// A new controller service.
#[derive(ToSchema)]
#[schema(as = NewService)]
pub(crate) struct NewServiceSchema {
    /// Type.
    #[schema(rename = "type")]
    type_name: String,
    /// Id (generated when absent).
    id: Option<String>,
    /// Name.
    name: Option<String>,
    /// Properties.
    properties: Option<BTreeMap<String, String>>,
    /// Enable at once.
    enabled: Option<bool>,
    /// Comments.
    comments: Option<String>,
}

/// A change to a controller service (properties only while disabled).
#[derive(ToSchema)]
#[schema(as = ServicePatch)]
pub(crate) struct ServicePatchSchema {
    /// The revision last seen (stale = 409).
    revision: Option<u64>,
    /// Name.
    name: Option<String>,
    /// Properties to set; null removes; `********` keeps a sensitive value.
    properties: Option<BTreeMap<String, Option<String>>>,
    /// Comments.
    comments: Option<String>,
}

/// A new connection.
#[derive(ToSchema)]
#[schema(as = NewConnection)]
pub(crate) struct NewConnectionSchema {
    /// Id (generated when absent).
    id: Option<String>,
    /// Name.
    name: Option<String>,
    /// Source processor.
    source: String,
    /// Destination processor.
    destination: String,
    /// Relationships.
    relationships: Vec<String>,
    /// Object threshold.
    back_pressure_object_threshold: Option<u64>,
    /// Size threshold.
    back_pressure_data_size_threshold: Option<String>,
    /// Prioritizers.
    prioritizers: Option<Vec<String>>,
    /// Expiration.
    flowfile_expiration: Option<String>,
    /// Bends.
    bends: Option<Vec<PositionSchema>>,
}

/// A change to a connection.
#[derive(ToSchema)]
#[schema(as = ConnectionPatch)]
pub(crate) struct ConnectionPatchSchema {
    /// The revision last seen (stale = 409).
    revision: Option<u64>,
    /// Name.
    name: Option<String>,
    /// Relationships.
    relationships: Option<Vec<String>>,
    /// Object threshold.
    back_pressure_object_threshold: Option<u64>,
    /// Size threshold.
    back_pressure_data_size_threshold: Option<String>,
    /// Prioritizers.
    prioritizers: Option<Vec<String>>,
    /// Expiration.
    flowfile_expiration: Option<String>,
    /// Bends.
    bends: Option<Vec<PositionSchema>>,
    /// New destination (only when the queue is empty).
    destination: Option<String>,
}

/// A queued flowfile.
#[derive(ToSchema)]
#[schema(as = QueuedFlowFile)]
pub(crate) struct QueuedFlowFileSchema {
    /// Uuid.
    uuid: String,
    /// Attributes.
    attributes: BTreeMap<String, String>,
    /// Size.
    size: u64,
    /// Time in this queue (ms).
    queued_millis: i64,
    /// Time since it entered the flow (ms).
    lineage_millis: i64,
    /// Penalized now.
    penalized: bool,
    /// Position (0 = next out).
    position: u64,
}

/// A page of a queue.
#[derive(ToSchema)]
#[schema(as = QueueListing)]
pub(crate) struct QueueListingSchema {
    /// All queued.
    total: u64,
    /// The page.
    flowfiles: Vec<QueuedFlowFileSchema>,
}

/// Processor types.
#[derive(ToSchema)]
pub(crate) struct ProcessorTypes {
    /// Descriptors: `{type, description, tags, properties, relationships, dynamic_properties, input_requirement, default_period}`.
    #[schema(value_type = Vec<Object>)]
    processor_types: Vec<serde_json::Value>,
    /// Controller service descriptors: the same shape plus `provides`, the API they provide.
    #[schema(value_type = Vec<Object>)]
    controller_service_types: Vec<serde_json::Value>,
}

/// A bulletin.
#[derive(ToSchema)]
#[schema(as = Bulletin)]
pub(crate) struct BulletinSchema {
    /// Id.
    id: u64,
    /// When (ms since epoch).
    timestamp_millis: i64,
    /// `INFO`, `WARNING`, `ERROR`.
    level: String,
    /// Component.
    component_id: String,
    /// Its name.
    component_name: String,
    /// Message.
    message: String,
}

/// Bulletins, newest first.
#[derive(ToSchema)]
pub(crate) struct Bulletins {
    /// Bulletins.
    bulletins: Vec<BulletinSchema>,
}

/// System figures.
#[derive(ToSchema)]
pub(crate) struct System {
    /// Version.
    version: String,
    /// Uptime (ms).
    uptime_millis: u64,
    /// `os`, `fsync` or `memory`.
    durability: String,
    /// Whether provenance is recorded.
    provenance: bool,
    /// Data dir.
    data_dir: Option<String>,
    /// Resident memory.
    rss_bytes: u64,
    /// CPU time used.
    cpu_seconds: f64,
    /// WebSocket clients.
    websocket_clients: u64,
    /// Repository figures.
    #[schema(value_type = Object)]
    repositories: serde_json::Value,
}

/// A provenance event.
#[derive(ToSchema, serde::Serialize)]
#[schema(as = EventSummary)]
pub(crate) struct EventSummarySchema {
    /// Id.
    id: u64,
    /// `CREATE`, `ROUTE`, ...
    event_type: String,
    /// When.
    timestamp_millis: i64,
    /// Duration.
    duration_millis: u64,
    /// Flowfile.
    flowfile_uuid: String,
    /// Parents.
    parent_uuids: Vec<String>,
    /// Children.
    child_uuids: Vec<String>,
    /// Component.
    component_id: String,
    /// Component type.
    component_type: String,
    /// Component name.
    component_name: String,
    /// Relationship.
    relationship: Option<String>,
    /// Details.
    details: Option<String>,
    /// Transit URI.
    transit_uri: Option<String>,
    /// Size.
    size: u64,
    /// Lineage start.
    lineage_start_millis: i64,
    /// Flow hash.
    flow_revision: String,
    /// The queue it came from.
    source_queue_id: Option<String>,
}

/// A page of events.
#[derive(ToSchema)]
pub(crate) struct EventList {
    /// Events, newest first.
    events: Vec<EventSummarySchema>,
    /// Cursor for the next page (`before=`), null when complete.
    next_before: Option<u64>,
}

/// Where content is.
#[derive(ToSchema, serde::Serialize)]
#[schema(as = ContentRef)]
pub(crate) struct ContentRefSchema {
    /// Segment.
    segment: u64,
    /// Offset.
    offset: u64,
    /// Length.
    len: u64,
}

/// Whether content can still be read.
#[derive(ToSchema, serde::Serialize)]
pub(crate) struct ContentAvailable {
    /// Before the event.
    input: bool,
    /// After the event.
    output: bool,
}

/// One event in full.
#[derive(ToSchema, serde::Serialize)]
#[schema(as = EventDetail)]
pub(crate) struct EventDetailSchema {
    /// The summary fields.
    #[schema(inline)]
    #[serde(flatten)]
    summary: EventSummarySchema,
    /// Attributes before.
    previous_attributes: Option<BTreeMap<String, String>>,
    /// Attributes after.
    updated_attributes: BTreeMap<String, String>,
    /// Content before.
    previous_content: Option<ContentRefSchema>,
    /// Content after.
    updated_content: Option<ContentRefSchema>,
    /// Whether it can still be read.
    content_available: ContentAvailable,
}

/// An edge.
#[derive(ToSchema)]
pub(crate) struct Edge {
    /// Node id.
    from: String,
    /// Node id.
    to: String,
}

/// A lineage graph.
#[derive(ToSchema)]
#[schema(as = Lineage)]
pub(crate) struct LineageSchema {
    /// `{"id","kind":"flowfile","uuid"}` or `{"id","kind":"event","event_id","event_type",...}`.
    #[schema(value_type = Vec<Object>)]
    nodes: Vec<serde_json::Value>,
    /// Edges.
    edges: Vec<Edge>,
    /// Whether the node bound cut it short.
    truncated: bool,
}

/// WebSocket `status` message.
#[derive(ToSchema)]
pub(crate) struct StatusMessage {
    /// `status`.
    #[schema(rename = "type")]
    kind: String,
    /// When.
    timestamp_millis: i64,
    /// Flow revision.
    revision: u64,
    /// `{id, state, active_tasks, status, validation_errors, bulletin_count}` per processor.
    #[schema(value_type = Vec<Object>)]
    processors: Vec<serde_json::Value>,
    /// `{id, status}` per connection.
    #[schema(value_type = Vec<Object>)]
    connections: Vec<serde_json::Value>,
}

/// WebSocket `flow` message.
#[derive(ToSchema)]
pub(crate) struct FlowMessage {
    /// `flow`.
    #[schema(rename = "type")]
    kind: String,
    /// New flow revision.
    revision: u64,
    /// `{kind, id, action}`.
    #[schema(value_type = Object)]
    change: serde_json::Value,
}
