//! The OpenAPI 3 document of the JSON API, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    api, api_attachments, api_audit, api_cases, api_center, api_emergency, api_events, api_org,
    open311, resident,
};
use crate::routes::{api_fieldwork, api_notices, api_stats};

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
        // audit log of personal data (issue 9)
        api_audit::list_audit,
        api_audit::export_audit,
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
        // field work and statistics (issue 5)
        api_fieldwork::create_worklog,
        api_fieldwork::list_worklogs,
        api_fieldwork::create_daily_report,
        api_fieldwork::list_daily_reports,
        api_stats::get_stats,
        // notices (issue 5)
        api_notices::send_notice,
        api_notices::list_notices,
        api_notices::get_notice,
        api_notices::acknowledge_notice,
        // emergency (issue 8): plans, incidents, instructions, roll call
        api_emergency::list_plans,
        api_emergency::put_plan,
        api_emergency::list_incidents,
        api_emergency::create_incident,
        api_emergency::get_incident,
        api_emergency::list_incident_households,
        api_emergency::get_household_history,
        api_emergency::post_rollcall,
        api_emergency::get_timeline,
        api_emergency::change_level,
        api_emergency::post_report,
        api_emergency::post_order,
        api_emergency::stand_down,
        api_emergency::list_instructions,
        api_emergency::acknowledge_instruction,
        api_emergency::my_instructions,
        api_emergency::get_after_action,
        api_emergency::export_after_action,
        // command centre (issue 7): live events
        api_events::stream_events,
        api_center::get_assessment,
        api_center::export_assessment,
        api_center::get_daily,
        api_center::export_daily,
        api_center::get_assessment_weights,
        api_center::put_assessment_weights,
    ),
    modifiers(&BearerAuth, &CommonErrors),
    tags(
        (name = "auth", description = "Sign-in and the current account"),
        (name = "territory", description = "The territory tree and its units"),
        (name = "people", description = "Households and members of the eight forces"),
        (name = "cases", description = "The case loop: report, route, dispatch, handle, verify, revisit"),
        (name = "public", description = "Public reporting (我要报事): no account, rate limited"),
        (name = "open311", description = "Open311 GeoReport v2 (served under /open311/v2) and its API keys"),
        (name = "field", description = "Field work: work logs (台账) and daily reports (日报)"),
        (name = "notices", description = "Notices (通知) from a level's centre to grid workers and household heads, and their acknowledgement"),
        (name = "stats", description = "Statistics of a node and its children over a period"),
        (name = "emergency", description = "Emergency response (应急预案, 一声令): plans, activation, instructions and their acknowledgement, the household roll call, the incident board, the after-action report"),
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

/// The errors any operation can answer, documented on every operation that lacks them (found by
/// schemathesis, issue 9): 400 for a body or query that does not parse, 422 for one that parses
/// but is refused, 401 and 403 where a token is needed, 404 where the path names something, 429
/// on the rate-limited public doors. Each is an `ErrorBody`.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let named = path.contains('{');
            for op in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let takes_input = op.request_body.is_some()
                    || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let r = &mut op.responses.responses;
                if takes_input {
                    r.entry("400".into())
                        .or_insert_with(|| error("the body or query does not parse"));
                    r.entry("422".into())
                        .or_insert_with(|| error("a field is refused"));
                }
                if secured {
                    r.entry("401".into())
                        .or_insert_with(|| error("no token, or an expired or revoked one"));
                    r.entry("403".into()).or_insert_with(|| {
                        error("the role may not do this, or the subject is out of scope")
                    });
                }
                if named {
                    r.entry("404".into())
                        .or_insert_with(|| error("nothing of that name or id"));
                }
                // The public doors are rate limited per client.
                if path.starts_with("/api/v1/public/") {
                    r.entry("429".into())
                        .or_insert_with(|| error("too many requests from this client"));
                }
            }
        }
    }
}

/// The document as JSON text, built once.
pub fn document() -> &'static str {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}
