# The automated responder's sentences in English. Every language has the same message ids;
# a message a language lacks falls back to English.
greeting = Hi { $name },
greeting-anonymous = Hello,
fallback-language = I have no answer in your language yet, so here it is in English:
clarify = I want to be sure I answer the right question. Did you mean:
clarify-option = { $number }. { $question }
clarify-close = Reply with the number, or tell me a little more. You can also write "human" at any time to talk to a person.
rephrase = I'm not sure I understood. Could you put it in other words? You can also write "human" at any time to talk to a person.
handoff-requested = Of course. I'm handing you over to a member of our team; they will see our conversation so far.
handoff-unsure = I can't answer that reliably, so I'm handing you over to a member of our team; they will see our conversation so far.
waiting-for-agent = Your conversation is in our team's queue; someone will be with you shortly.
card-status-active = active
card-status-frozen = frozen (you can unfreeze it in the app)
card-status-blocked = blocked
card-status-expired = expired
card-status-ordered = ordered and on its way
card-with-number = { $status } (card ending { $last4 })
no-card = not on file here: we have no card for you on record
fact-unknown = something I can't see from here; an agent can check it for you
