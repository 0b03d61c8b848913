//! REST routes, one module per kind of resource, registered with their OpenAPI
//! descriptions (`utoipa-axum`), so the document at `/api/openapi.json` is generated from
//! the same list the router is built from.

pub(crate) mod connections;
pub(crate) mod flow;
pub(crate) mod flowfiles;
pub(crate) mod processors;
pub(crate) mod provenance;
pub(crate) mod services;

use sluice_engine::FlowController;
use sluice_engine::flow::view::{FlowView, ProcessorView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

/// Every documented route.
pub(crate) fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(flow::health))
        .routes(routes!(flow::get_flow, flow::put_flow))
        .routes(routes!(flow::export))
        .routes(routes!(flow::start_all))
        .routes(routes!(flow::stop_all))
        .routes(routes!(flow::processor_types))
        .routes(routes!(flow::put_label, flow::delete_label))
        .routes(routes!(flow::bulletins))
        .routes(routes!(flow::system))
        .routes(routes!(processors::create))
        .routes(routes!(processors::get_one, processors::patch, processors::delete))
        .routes(routes!(processors::start))
        .routes(routes!(processors::stop))
        .routes(routes!(processors::validate))
        .routes(routes!(processors::history))
        .routes(routes!(services::list, services::create))
        .routes(routes!(services::get_one, services::patch, services::delete))
        .routes(routes!(services::enable))
        .routes(routes!(services::disable))
        .routes(routes!(connections::create))
        .routes(routes!(connections::get_one, connections::patch, connections::delete))
        .routes(routes!(connections::list_queue, connections::empty_queue))
        .routes(routes!(flowfiles::get_one))
        .routes(routes!(flowfiles::content))
        .routes(routes!(provenance::search))
        .routes(routes!(provenance::event))
        .routes(routes!(provenance::content_input))
        .routes(routes!(provenance::content_output))
        .routes(routes!(provenance::replay))
        .routes(routes!(provenance::lineage))
        .routes(routes!(crate::ws::upgrade))
        .routes(routes!(crate::metrics::metrics))
        .routes(routes!(crate::auth::token))
        .routes(routes!(crate::auth::status))
        .routes(routes!(crate::auth::logout))
        .routes(routes!(crate::auth::login_form, crate::auth::login_submit))
        .routes(routes!(crate::openapi::document))
}

/// Hides sensitive values in one processor view.
pub(crate) fn mask(controller: &FlowController, view: &mut ProcessorView) {
    if let Some(t) = controller.registry().get(&view.type_name) {
        crate::secrets::mask_processor(&t.descriptor, controller.secret_store().as_ref(), view);
    }
}

/// The live flow with sensitive values hidden.
pub(crate) fn masked_snapshot(controller: &FlowController) -> FlowView {
    let mut view = controller.snapshot();
    let store = controller.secret_store();
    for p in view.processors.iter_mut() {
        if let Some(t) = controller.registry().get(&p.type_name)
            && t.descriptor.properties.iter().any(|d| d.sensitive)
        {
            crate::secrets::mask_processor(&t.descriptor, store.as_ref(), p);
        }
    }
    view
}
