//! Integration tests: the real application on port 0, used as a client would use it.

mod ai;
mod cors;
mod dashboard;
mod distributed;
mod events;
mod experiments;
mod faq;
mod fuzz;
mod helpers;
mod http;
mod limits;
mod model_cost;
mod pipeline;
mod rates;
mod recommend;
mod support;
mod tickets;
mod websocket;
