//! The support desk's agents as the API shows them: who works the desk is recorded, and a
//! conversation goes only to one of them.

use serde_json::json;

use crate::helpers::spawn_app_with;
use crate::support::{agent_token, code, start};

/// `transferConversation(to:)` hands a conversation only to someone who works the desk: an
/// agent who has read or changed a conversation or the queue, or one listed in
/// `support.agents`. A customer's id, or a typo, is refused, and the conversation stays put.
#[tokio::test]
async fn a_conversation_is_transferred_only_to_a_support_agent() {
    let app = spawn_app_with(|config| config.support.agents = vec!["lee".into()]).await;
    let sam = agent_token(&app, "sam");
    let customer = app.token("dave", None);
    let conversation = start(&app, &customer, None).await;
    let transfer =
        "mutation($id: ID!, $to: String!) { transferConversation(id: $id, to: $to) { text } }";
    let claim = "mutation($id: ID!) { claimConversation(id: $id) { id } }";
    let (_, body) = app
        .graphql(claim, json!({ "id": conversation }), Some(&sam))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    for stranger in ["dave", "sma", "ana"] {
        let (_, body) = app
            .graphql(
                transfer,
                json!({ "id": conversation, "to": stranger }),
                Some(&sam),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "to {stranger}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("not a support agent"),
            "{body}"
        );
    }
    // Ana works the desk (reads the conversation): from then on she can be handed it.
    let ana = agent_token(&app, "ana");
    let (_, body) = app
        .graphql(
            "query($id: ID!) { conversation(id: $id) { agent } }",
            json!({ "id": conversation }),
            Some(&ana),
        )
        .await;
    assert_eq!(body["data"]["conversation"]["agent"], "sam", "{body}");
    let (_, body) = app
        .graphql("{ supportAgents }", json!({}), Some(&sam))
        .await;
    assert_eq!(
        body["data"]["supportAgents"],
        json!(["ana", "lee", "sam"]),
        "{body}"
    );
    for agent in ["ana", "lee"] {
        let (_, body) = app
            .graphql(
                transfer,
                json!({ "id": conversation, "to": agent }),
                Some(&sam),
            )
            .await;
        assert!(body["errors"].is_null(), "to {agent}: {body}");
    }
}
