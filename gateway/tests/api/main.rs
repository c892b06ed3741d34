//! Integration tests: the real application on port 0, used as a client would use it.

mod ai;
mod audit;
mod authorization;
mod cors;
mod dashboard;
mod dev_tokens;
mod distributed;
mod events;
mod experiments;
mod faq;
mod fuzz;
mod headers;
mod helpers;
mod http;
mod limits;
mod model_cost;
mod oidc;
mod pipeline;
mod proxies;
mod rates;
mod recommend;
mod support;
mod support_agents;
mod tickets;
mod tls;
mod websocket;
