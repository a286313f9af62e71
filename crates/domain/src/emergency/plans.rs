//! The default plans of Gannan: one per hazard, four response levels each, a task for every
//! force and unit the order reaches, in Chinese and Tibetan, with checklists.

use super::{Hazard, LevelPlan, Plan, ResponseLevel, Task, TaskRole};

/// Tibetan digits for a number (`12` → `༡༢`).
fn tibetan_digits(n: u32) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(0x0F20 + c.to_digit(10).unwrap_or(0)).unwrap_or('༠'))
        .collect()
}

/// What each hazard asks of the people on the ground, in Chinese: (militia, grid worker,
/// household head, cadre, department).
fn hazard_tasks(h: Hazard) -> [&'static str; 5] {
    match h {
        Hazard::DebrisFlow => [
            "民兵应急队携带铁锹、绳索、救生衣，立即赶赴沟口和受威胁村组，搜救被困群众，清理阻塞道路",
            "立即组织网格内沟道两侧、河谷低洼处群众向预定避险点转移，一户不落",
            "逐户清点联防组各户人员，确认转移到位，随时上报失联、受伤人员",
            "立即赶到包联网格和包联户，协助转移群众，落实避险点安置",
            "立即派员赶赴包联村，协助开展转移安置、地质灾害巡查和物资保障",
        ],
        Hazard::Flood => [
            "民兵应急队携带冲锋舟、救生衣、沙袋，赶赴河道险段和低洼村组，抢险救援",
            "组织网格内临河、低洼地带群众向高处安全区转移，劝离河边人员",
            "逐户清点联防组各户人员，确认转移到位，随时上报失联、受伤人员",
            "立即赶到包联网格和包联户，协助转移群众，巡查堤防",
            "立即派员赶赴包联村，协助转移安置、堤防巡查和物资保障",
        ],
        Hazard::Earthquake => [
            "民兵应急队立即集结，携带破拆、照明器材，赶赴倒塌房屋处搜救被埋压群众",
            "组织网格内群众撤离危房，到空旷地带避险，排查房屋受损情况",
            "逐户清点联防组各户人员，确认人员安全，随时上报失联、受伤人员",
            "立即赶到包联网格和包联户，协助搜救、安置群众，排查次生灾害隐患",
            "立即派员赶赴包联村，协助搜救、房屋安全鉴定、帐篷和物资发放",
        ],
        Hazard::SnowDisaster => [
            "民兵应急队携带铲雪工具和防寒物资，打通通往牧场和定居点的道路，转移被困牧民",
            "摸清网格内牧户、独居老人、牲畜棚圈情况，组织转移受困人员",
            "逐户清点联防组各户人员和取暖、饮食情况，随时上报失联、受伤人员",
            "立即赶到包联网格和包联户，送去取暖物资和饲草料，帮助转移困难群众",
            "立即派员赶赴包联村，协助道路抢通、饲草料调运和物资保障",
        ],
        Hazard::Fire => [
            "民兵应急队携带灭火器材，立即赶赴火场外围，协助扑救和疏散群众",
            "组织网格内受威胁群众按疏散路线撤离，清点撤离人员",
            "逐户清点联防组各户人员，确认撤离到位，随时上报失联、受伤人员",
            "立即赶到包联网格和包联户，协助疏散群众、看护火场外围",
            "立即派员赶赴包联村，协助疏散安置、交通管制和物资保障",
        ],
        Hazard::Epidemic => [
            "民兵应急队按指令在村口设卡值守，协助转运物资和人员",
            "逐户摸排网格内人员健康和出行情况，落实防控措施",
            "逐户清点联防组各户人员健康情况，随时上报发热、失联人员",
            "立即赶到包联网格和包联户，宣传防控知识，帮助解决生活困难",
            "立即派员赶赴包联村，协助排查、物资保供和就医保障",
        ],
    }
}

/// The same tasks in Tibetan (general wording; the hazard is named before them).
const TASKS_BO: [&str; 5] = [
    "དམག་མི་དམངས་ཀྱི་མྱུར་འགྱོགས་རུ་ཁག་ས་གནས་སུ་མྱུར་དུ་སླེབས་ནས་སྐྱོབ་གསོ་བྱོས།",
    "དྲ་མིག་ནང་གི་མི་དམངས་ཉེན་ཁ་མེད་སའི་ས་ཆར་མྱུར་དུ་སྤོ་སྒྲིལ་བྱོས།",
    "ཁྱིམ་ཚང་རེ་རེའི་བདེ་འཇགས་གནས་ཚུལ་ཞིབ་བཤེར་བྱས་ནས་མྱུར་དུ་སྙན་སྐུལ་བྱོས།",
    "ཁྱེད་ཀྱིས་འགན་ཁུར་བའི་ས་གནས་སུ་མྱུར་དུ་སླེབས་ནས་མི་དམངས་སྤོ་སྒྲིལ་ལ་རོགས་རམ་བྱོས།",
    "སྡེ་ཚན་གྱིས་འགན་ཁུར་བའི་གྲོང་ཚོར་མི་མྱུར་དུ་བཏང་ནས་རོགས་རམ་བྱོས།",
];

fn checklist(role: TaskRole, h: Hazard) -> Vec<String> {
    let list: &[&str] = match role {
        TaskRole::Militia => &["集结到位", "装备清点", "到达现场", "搜救完成"],
        TaskRole::GridWorker => &["通知到户", "转移完成", "避险点人数上报"],
        TaskRole::HouseholdHead => &["每户联系到", "人员清点上报", "失联受伤人员上报"],
        TaskRole::Cadre => &["到达包联点", "协助转移", "情况上报"],
        TaskRole::Department => &["派员到村", "物资到位", "情况上报"],
        TaskRole::Centre => &["启动值班", "按时续报", "汇总各村情况"],
    };
    let mut out: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    if h == Hazard::DebrisFlow && role == TaskRole::GridWorker {
        out.insert(1, "沟道两侧户逐户敲门".to_owned());
    }
    out
}

fn report_hours(level: ResponseLevel) -> u32 {
    match level.number() {
        1 => 1,
        2 => 2,
        3 => 4,
        _ => 8,
    }
}

fn plan_name(h: Hazard) -> &'static str {
    match h {
        Hazard::DebrisFlow => "泥石流灾害应急预案",
        Hazard::Flood => "洪涝灾害应急预案",
        Hazard::Earthquake => "地震应急预案",
        Hazard::SnowDisaster => "雪灾应急预案",
        Hazard::Fire => "火灾应急预案",
        Hazard::Epidemic => "突发疫情应急预案",
    }
}

/// Default plan codes: the hazard with dashes (`debris-flow`).
pub fn plan_code(h: Hazard) -> String {
    h.as_str().replace('_', "-")
}

/// The plans of every hazard, each with levels Ⅰ–Ⅳ.
pub fn default_plans() -> Vec<Plan> {
    Hazard::ALL
        .into_iter()
        .map(|h| {
            let zh = hazard_tasks(h);
            let levels = ResponseLevel::ALL
                .into_iter()
                .map(|level| {
                    let hours = report_hours(level);
                    let head_zh = format!("【{}{}应急响应】", h.name_zh(), level);
                    let head_bo = format!(
                        "{}ཉེན་འགོག་ཚད་གཞི་{}། ",
                        h.name_bo(),
                        tibetan_digits(level.number() as u32)
                    );
                    let mut tasks: Vec<Task> = [
                        TaskRole::Militia,
                        TaskRole::GridWorker,
                        TaskRole::HouseholdHead,
                        TaskRole::Cadre,
                        TaskRole::Department,
                    ]
                    .into_iter()
                    .enumerate()
                    .map(|(i, role)| Task {
                        role,
                        text_zh: format!("{head_zh}{}。", zh[i]),
                        text_bo: format!("{head_bo}{}", TASKS_BO[i]),
                        checklist: checklist(role, h),
                    })
                    .collect();
                    tasks.push(Task {
                        role: TaskRole::Centre,
                        text_zh: format!(
                            "{head_zh}综治中心启动24小时值班，汇总辖区各村转移、清点情况，每{hours}小时向上级续报一次。"
                        ),
                        text_bo: format!(
                            "{head_bo}ཆུ་ཚོད་{}རེར་གནས་ཚུལ་གོང་རིམ་ལ་སྙན་ཞུ་བྱོས།",
                            tibetan_digits(hours)
                        ),
                        checklist: checklist(TaskRole::Centre, h),
                    });
                    LevelPlan {
                        level,
                        report_every_hours: hours,
                        tasks,
                    }
                })
                .collect();
            Plan {
                code: plan_code(h),
                hazard: h,
                name: plan_name(h).to_owned(),
                name_bo: format!("{}ཉེན་འགོག་འཆར་གཞི", h.name_bo()),
                levels,
            }
        })
        .collect()
}
