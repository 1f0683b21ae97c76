//! Templates: escaping per medium, strict undefined, errors with lines, limits after rendering,
//! and a snapshot of every channel's payload with a template.

use serde_json::Value;

use super::*;
use crate::config::file::ChannelType;
use crate::http::Secret;
use crate::notify::message::samples;
use crate::notify::{Notifier, Rendered};

/// A template using most of the context, as a user would write it.
const TEMPLATE: &str =
    "{{ icon }} **{{ repository }}** {{ event_phrase }} on `{{ branch }}` ({{ short_sha }})
{{ counts }}{% if duration %} in {{ duration }}{% endif %}
{% for t in failed[:3] %}- {{ t.name }}: {{ t.message }}
{% endfor %}{% if failed|length > 3 %}- and {{ failed|length - 3 }} more
{% endif %}{% if run_url %}[Open the run]({{ run_url }}){% endif %}";

/// Every channel that takes a template, built with a dummy URL.
fn channels() -> Vec<(ChannelType, Box<dyn Notifier>)> {
    use crate::notify::{dingtalk, discord, email, feishu, slack, teams, wecom};
    let url = |u: &str| Secret::new(u);
    vec![
        (
            ChannelType::Slack,
            Box::new(
                slack::Slack::new(url("https://hooks.slack.com/services/T1/B1/x"), vec![]).unwrap(),
            ) as Box<dyn Notifier>,
        ),
        (
            ChannelType::Teams,
            Box::new(teams::Teams::new(url("https://example.com/workflows/x"), vec![]).unwrap()),
        ),
        (
            ChannelType::Discord,
            Box::new(
                discord::Discord::new(url("https://discord.com/api/webhooks/1/x"), vec![]).unwrap(),
            ),
        ),
        (
            ChannelType::Dingtalk,
            Box::new(
                dingtalk::DingTalk::new(
                    url("https://oapi.dingtalk.com/robot/send?access_token=x"),
                    None,
                    &["alice".to_owned()],
                    dingtalk::DingTalkFormat::Markdown,
                )
                .unwrap(),
            ),
        ),
        (
            ChannelType::Wecom,
            Box::new(
                wecom::WeCom::new(
                    url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x"),
                    &["bob".to_owned()],
                )
                .unwrap(),
            ),
        ),
        (
            ChannelType::Feishu,
            Box::new(
                feishu::Feishu::new(
                    url("https://open.feishu.cn/open-apis/bot/v2/hook/x"),
                    None,
                    &[],
                )
                .unwrap(),
            ),
        ),
        (
            ChannelType::Email,
            Box::new(
                email::Email::new(
                    "smtp.example.com",
                    587,
                    email::SmtpTls::StartTls,
                    "ci@example.com",
                    &["team@example.com".to_owned()],
                )
                .unwrap(),
            ),
        ),
    ]
}

fn compile(source: &str, kind: ChannelType) -> Result<Template, TemplateError> {
    Template::compile(source, Medium::of(kind).unwrap(), &Event::ALL)
}

/// The part of a payload a template fills, as text.
fn body_text(kind: ChannelType, rendered: &Rendered) -> String {
    match rendered {
        Rendered::Email(mail) => mail.html.clone(),
        Rendered::Http(request) => {
            let v = request.json().unwrap();
            match kind {
                ChannelType::Slack => v["blocks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["type"] == "section")
                    .filter_map(|b| b["text"]["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                ChannelType::Teams => v["attachments"][0]["content"]["body"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .skip(1)
                    .filter_map(|b| b["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                ChannelType::Discord => v["embeds"][0]["description"].as_str().unwrap().into(),
                ChannelType::Dingtalk => v["markdown"]["text"].as_str().unwrap().into(),
                ChannelType::Wecom => v["markdown"]["content"].as_str().unwrap().into(),
                ChannelType::Feishu => v["card"]["elements"][0]["content"].as_str().unwrap().into(),
                ChannelType::Email | ChannelType::Webhook => unreachable!(),
            }
        }
    }
}

#[test]
fn snapshots_of_every_channel_with_a_template() {
    for (kind, channel) in channels() {
        let template = compile(TEMPLATE, kind).unwrap();
        let message = samples::three_failed();
        let body = template.render(&message).unwrap();
        let rendered = channel.render_with(&message, Some(&body));
        let value = match &rendered {
            Rendered::Http(r) => r.json().unwrap(),
            Rendered::Email(m) => Value::String(m.html.clone()),
        };
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "../snapshots" }, {
            insta::assert_json_snapshot!(format!("template__{}", kind.as_str()), value);
        });
        // The envelope is the channel's: the title (or the subject) is still there.
        let text = String::from_utf8_lossy(&match &rendered {
            Rendered::Http(r) => r.body.clone(),
            Rendered::Email(m) => m.html.clone().into_bytes(),
        })
        .into_owned();
        assert!(text.contains("octo/app"), "{kind:?}: {text}");
        assert!(
            body_text(kind, &rendered).contains("addsItem2"),
            "{kind:?}: the template's body is used"
        );
    }
}

#[test]
fn values_are_escaped_for_each_medium_and_links_stay_usable() {
    let hostile = samples::hostile();
    for (kind, channel) in channels() {
        let template = compile(
            "<{{ run_url }}>\n{{ branch }}\n{% for t in failed %}{{ t.name }} {{ t.message }}\n{% endfor %}",
            kind,
        )
        .unwrap();
        let body = template.render(&hostile).unwrap();
        let text = body_text(kind, &channel.render_with(&hostile, Some(&body)));
        for raw in ["<script>", "<!channel>", "<!everyone>", "*bold*"] {
            // Emphasis means nothing in HTML.
            if kind != ChannelType::Email || raw.starts_with('<') {
                assert!(!unescaped(&text, raw), "{kind:?}: {raw} left raw in {text}");
            }
        }
        // Markdown links mean nothing in Slack mrkdwn or HTML; in Markdown they are broken.
        if !matches!(kind, ChannelType::Slack | ChannelType::Email) {
            assert!(
                !text.contains("[link](http"),
                "{kind:?}: a live link in {text}"
            );
        }
        // Mentions: the robots' `@name` and Discord's `@everyone`/`@here` are made inert
        // (Slack and Teams only mention through `<!…>`/`<at>`, escaped above).
        match kind {
            ChannelType::Dingtalk | ChannelType::Wecom | ChannelType::Feishu => {
                assert!(!text.contains("@all"), "{kind:?}: {text}")
            }
            ChannelType::Discord => assert!(
                !text.contains("@everyone") && !text.contains("@here"),
                "{text}"
            ),
            _ => {}
        }
        assert!(!text.contains('\u{1b}'), "{kind:?}: ESC kept");
        // The run link is given ready for the medium, not escaped into uselessness.
        let url = "https://github.com/octo/app/actions/runs/42/attempts/1";
        assert!(text.contains(url), "{kind:?}: link broken in {text}");
    }
}

/// True when `raw` occurs in `text` without a backslash before it (Teams and Discord escape
/// with backslashes).
fn unescaped(text: &str, raw: &str) -> bool {
    text.match_indices(raw)
        .any(|(i, _)| !text[..i].ends_with('\\'))
}

#[test]
fn safe_opts_out_of_escaping() {
    let t = compile("{{ '*bold*' }} {{ '*bold*'|safe }}", ChannelType::Wecom).unwrap();
    let out = t.render(&samples::success()).unwrap();
    assert_eq!(out, "∗bold∗ *bold*");
    let t = compile("{{ '<b>' }}{{ '<b>'|safe }}", ChannelType::Email).unwrap();
    assert_eq!(t.render(&samples::success()).unwrap(), "&lt;b&gt;<b>");
}

#[test]
fn bad_templates_fail_at_compile_time_with_their_line() {
    let unknown = compile("ok\n{{ repo }}", ChannelType::Slack).unwrap_err();
    assert!(
        unknown.to_string().starts_with("line 2: undefined value"),
        "{unknown}"
    );
    let syntax = compile("a\nb\n{% if %}", ChannelType::Slack).unwrap_err();
    assert!(
        syntax.to_string().starts_with("line 3: syntax error"),
        "{syntax}"
    );
    let attribute = compile("{{ failed[0].nmae }}", ChannelType::Discord).unwrap_err();
    assert!(attribute.to_string().contains("undefined"), "{attribute}");
    // Optional values are defined (as none) and print as nothing.
    let t = compile("[{{ pull_request }}]", ChannelType::Slack).unwrap();
    assert_eq!(t.render(&samples::success()).unwrap(), "[]");
}

#[test]
fn a_template_failing_on_a_real_message_falls_back_to_the_default_body() {
    let spec_template = compile("{{ gate.reasons[0] }}", ChannelType::Slack).unwrap();
    assert!(spec_template.render(&samples::success()).is_err());
    let (_, notifier) = channels().swap_remove(0);
    let spec = crate::config::ChannelSpec {
        label: "slack#1".into(),
        origin: String::new(),
        kind: ChannelType::Slack,
        events: vec![Event::Success],
        branches: None,
        template: Some(spec_template),
        mentions: vec![],
        timeout: std::time::Duration::from_secs(1),
        url: None,
        secret: None,
        github_secret: None,
        smtp: None,
        headers: vec![],
    };
    let default = notifier.render(&samples::success());
    let channel = crate::notify::fanout::Channel { spec, notifier };
    let rendered = crate::notify::fanout::render(&channel, &samples::success());
    let (Rendered::Http(a), Rendered::Http(b)) = (rendered, default) else {
        panic!("HTTP")
    };
    assert_eq!(a.body, b.body);
}

#[test]
fn limits_hold_after_rendering() {
    let huge = "{% for i in range(5000) %}{{ failed[0].name }} line {{ i }}\n{% endfor %}";
    let message = samples::three_failed();
    for (kind, channel) in channels() {
        let body = compile(huge, kind).unwrap().render(&message).unwrap();
        assert!(body.len() > 100_000, "{kind:?}");
        let rendered = channel.render_with(&message, Some(&body));
        let text = body_text(kind, &rendered);
        let (limit, size) = match kind {
            ChannelType::Wecom => (4096, text.len()),
            ChannelType::Dingtalk | ChannelType::Feishu => (20_000, text.len()),
            ChannelType::Discord => (4096, text.chars().count()),
            ChannelType::Teams => (27_000, body_len(&rendered)),
            ChannelType::Slack => (30_000, text.chars().count()),
            _ => (100_000 + 2_000, text.len()),
        };
        assert!(size <= limit, "{kind:?}: {size} > {limit}");
        if let (ChannelType::Slack, Rendered::Http(r)) = (kind, &rendered) {
            let v = r.json().unwrap();
            for block in v["blocks"].as_array().unwrap() {
                let n = block["text"]["text"]
                    .as_str()
                    .map_or(0, |s| s.chars().count());
                assert!(n <= 3000, "a section of {n} characters");
            }
        }
        // Mentions are part of the envelope: the template cannot push them out.
        if matches!(kind, ChannelType::Dingtalk | ChannelType::Wecom) {
            assert!(text.contains("alice") || text.contains("bob"), "{kind:?}");
        }
    }
}

fn body_len(rendered: &Rendered) -> usize {
    match rendered {
        Rendered::Http(r) => r.body.len(),
        Rendered::Email(m) => m.html.len(),
    }
}

#[test]
fn the_webhook_takes_no_template_and_the_context_is_complete() {
    assert_eq!(Medium::of(ChannelType::Webhook), None);
    let ctx = context(&samples::gate_failed(), Medium::SlackMrkdwn);
    for key in [
        "event",
        "event_phrase",
        "icon",
        "title",
        "outcome",
        "repository",
        "workflow",
        "job",
        "branch",
        "sha",
        "short_sha",
        "pull_request",
        "run_url",
        "commit_url",
        "duration_ms",
        "median_duration_ms",
        "duration",
        "median_duration",
        "tests",
        "counts",
        "failed",
        "flaky",
        "gate",
    ] {
        assert!(
            ctx.get_attr(key).is_ok_and(|v| !v.is_undefined()),
            "{key} missing"
        );
    }
}
