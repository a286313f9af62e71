//! The OpenAPI 3 document of the JSON API, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    api, api_attachments, api_cases, api_center, api_events, api_org, open311, resident,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gesang API", description = "格桑: grassroots governance for Gannan's \"8+\" mechanism."),
    paths(
        api::create_token,
        api::revoke_token,
        api::me,
        api::change_password,
        api::get_territory,
        api::list_units,
        api::list_households,
        api::search_people,
        api::locate_point,
        api_cases::list_categories,
        api_cases::create_case,
        api_cases::list_cases,
        api_cases::get_case,
        api_cases::act_on_case,
        api_cases::put_mediation,
        api_cases::get_rules,
        api_cases::put_rules,
        // attachments (issue 4): photos and audio notes of cases
        api_attachments::add_case_attachments,
        api_attachments::list_case_attachments,
        api_attachments::get_attachment,
        // resident channel (issue 4): public reporting without an account
        resident::create_report,
        resident::get_report,
        resident::rate_report,
        resident::similar_reports,
        // Open311 (issue 4): API keys for GeoReport v2 clients
        open311::create_key,
        open311::list_keys,
        // org: the "8+" organisation, the five coverages, import and export
        api_org::get_coverage,
        api_org::get_coverage_gaps,
        api_org::export_coverage_gaps,
        api_org::export_kind,
        api_org::import_kind,
        api_org::list_households,
        api_org::get_household,
        api_org::create_household,
        api_org::update_household,
        api_org::list_members,
        api_org::get_member,
        api_org::create_member,
        api_org::update_member,
        api_org::create_unit,
        api_org::rename_unit,
        api_org::list_groups,
        api_org::create_group,
        api_org::set_group_head,
        api_org::list_places,
        api_org::get_place,
        api_org::create_place,
        api_org::update_place,
        api_org::list_pairings,
        api_org::get_pairing,
        api_org::create_pairing,
        api_org::update_pairing,
        api_org::delete_pairing,
        api_org::get_history,
        // command centre (issue 7): live events
        api_events::stream_events,
        api_center::get_assessment,
        api_center::export_assessment,
        api_center::get_daily,
        api_center::export_daily,
        api_center::get_assessment_weights,
        api_center::put_assessment_weights,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in and the current account"),
        (name = "territory", description = "The territory tree and its units"),
        (name = "people", description = "Households and members of the eight forces"),
        (name = "cases", description = "The case loop: report, route, dispatch, handle, verify, revisit"),
        (name = "public", description = "Public reporting (我要报事): no account, rate limited"),
        (name = "open311", description = "Open311 GeoReport v2 (served under /open311/v2) and its API keys"),
        (name = "center", description = "The command centre: assessment, daily collection and analysis"),
        (name = "org", description = "The \"8+\" organisation: households, members, units, groups, monasteries, enterprises, pairings, their history, the five coverages, import and export"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON text, built once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}
