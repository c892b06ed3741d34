//! The support desk's events and channels: conversation messages on the log, what a chat
//! sees on the fan-out.
//!
//! Every message a customer or an agent sends goes onto `support.messages`, keyed by
//! conversation, so one conversation's messages keep their order and one worker answers them.
//! The support processor keeps each, answers the customer's, and publishes a [`ChatUpdate`]
//! on the conversation's channel for every message kept, the bot's replies included.

use finpulse_bus::envelope::EventPayload;
use finpulse_core::support::{Conversation, Message};
use serde::{Deserialize, Serialize};

/// Log topic of conversation messages, keyed by conversation.
pub const MESSAGES_TOPIC: &str = "support.messages";
/// Where the support processor sets aside messages it cannot read.
pub const MESSAGES_DEAD_LETTER_TOPIC: &str = "support.messages.dead-letter";

/// The longest message accepted, in characters (a long e-mail; a pasted statement is not a
/// chat message).
pub const MAX_MESSAGE_CHARS: usize = 4_000;
/// The longest conversation, message or user id accepted.
pub const MAX_ID_LEN: usize = 128;

/// A message as the log carries it (envelope type `support.message`, version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageEvent(pub Message);

impl EventPayload for MessageEvent {
    const TYPE: &'static str = "support.message";
    const VERSION: u16 = 1;

    fn key(&self) -> &str {
        &self.0.conversation
    }

    fn validate(&self) -> Result<(), String> {
        validate_message(&self.0)
    }
}

/// The one rule for what a message says, on every way in.
pub fn validate_text(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("a message needs some text".into());
    }
    if text.chars().count() > MAX_MESSAGE_CHARS {
        return Err(format!(
            "a message may have at most {MAX_MESSAGE_CHARS} characters"
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("a message may not contain control characters".into());
    }
    Ok(())
}

/// An id as the desk accepts it.
pub fn validate_id(what: &str, id: &str) -> Result<(), String> {
    if id.trim().is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(format!(
            "{what} id must be 1 to {MAX_ID_LEN} printable characters"
        ));
    }
    Ok(())
}

/// The one rule for a message, on every way in (the log, the API).
pub fn validate_message(message: &Message) -> Result<(), String> {
    validate_id("message", &message.id)?;
    validate_id("conversation", &message.conversation)?;
    validate_id("author", &message.author_id)?;
    validate_text(&message.text)
}

/// What a chat subscription receives: a message kept in the conversation, with the
/// conversation as it stands after it (status, agent, language).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatUpdate {
    /// The conversation after the message.
    pub conversation: Conversation,
    /// The message.
    pub message: Message,
}

/// The fan-out channel agents' queues listen on: a conversation whose status or agent
/// changed. Built here only.
pub fn queue_channel() -> String {
    "support.queue".to_owned()
}

/// The fan-out channel on which a change of the knowledge base is announced, for every
/// replica that answers customers to re-index. Built here only.
pub fn faq_channel() -> String {
    "support.faq".to_owned()
}

/// The fan-out channel of one conversation's updates. Built here only.
pub fn chat_channel(conversation: &str) -> String {
    format!("support.chat.{conversation}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_refused_with_a_reason() {
        assert!(validate_text("Why was my card declined?").is_ok());
        assert!(validate_text("line one\nline two\ttabbed").is_ok());
        assert_eq!(
            validate_text("  \n").unwrap_err(),
            "a message needs some text"
        );
        assert!(validate_text(&"x".repeat(MAX_MESSAGE_CHARS)).is_ok());
        assert!(validate_text(&"ü".repeat(MAX_MESSAGE_CHARS + 1)).is_err());
        assert!(validate_text("bell\u{7}").is_err());
        assert!(validate_id("conversation", "").is_err());
        assert!(validate_id("conversation", &"c".repeat(MAX_ID_LEN + 1)).is_err());
    }
}
