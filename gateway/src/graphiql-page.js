// GraphiQL with finpulse's examples and a token box whose value goes into HTTP headers and
// `connection_init`. A file, not inline: the page's Content-Security-Policy allows no inline script.
const tokenInput = document.getElementById('token');
tokenInput.value = localStorage.getItem('finpulse-token') || '';
tokenInput.addEventListener('change', () => {
  localStorage.setItem('finpulse-token', tokenInput.value.trim());
  location.reload();
});
const token = tokenInput.value.trim();
const wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
const wsClient = graphqlWs.createClient({
  url: wsUrl,
  connectionParams: token ? { Authorization: 'Bearer ' + token } : {},
});
const fetcher = GraphiQL.createFetcher({
  url: '/graphql',
  wsClient,
  headers: token ? { Authorization: 'Bearer ' + token } : {},
});
const examples = [
  { query: `# Live insights for every symbol (indicators, crosses, anomalies)
subscription LiveInsights {
  insights(kinds: [RSI_OVERBOUGHT, RSI_OVERSOLD, MACD_BULLISH_CROSS, MACD_BEARISH_CROSS, VOLUME_SPIKE, RETURN_ANOMALY, INDICATORS]) {
symbol kind severity message ts publishedAt
  }
}` },
  { query: `# Trades as they happen (a slow client gets the latest per symbol)
subscription Ticks {
  ticks(symbols: ["AAPL", "NVDA", "BTC-USD"]) { symbol price size bid ask ts publishedAt }
}` },
  { query: `query Market {
  symbols
  quote(symbol: "AAPL") { symbol price bid ask volume changePercent ts }
  candles(symbol: "AAPL", limit: 5) { start open high low close volume trades }
  insights(symbol: "AAPL", last: 5) { kind message ts indicators }
}` },
  { query: `# Models: an extractive summary, the language of a message, what runs
query AI {
  summarize(sentences: 2, text: "The Federal Reserve kept its benchmark rate unchanged on Wednesday. Officials said inflation had eased but remained above the 2% target. Separately, a bakery in Ohio won a prize for its sourdough bread. Analysts expect the Fed to hold rates steady until inflation falls further.")
  detectLanguage(text: "Meine Karte wurde zweimal belastet") { code name }
  models { name version dimension }
}` },
  { query: `# Needs a token: run  finpulse token --user alice  and paste it above
mutation Watch {
  addToWatchlist(symbol: "NVDA")
}
subscription MyWatchlist {
  watchlistInsights { symbol kind message ts }
}` },
  { query: `# Recommendations. Needs a token: run  finpulse token --user alice  and paste it above.
# Run the subscription, then trackInteraction in another tab: the list is pushed again at once.
subscription ForMe {
  recommendations(first: 5) {
id
provenance { model modelVersion strategy experiment variant featureSets }
items { score explanation item { id name kind sector risk } }
  }
}
query Picks {
  recommendations(first: 5, kinds: [INSTRUMENT]) {
id
items { explanation recommendationId item { id name risk } }
  }
  similarItems(id: "NSNO", first: 3) { id name sector }
}
mutation Save {
  trackInteraction(itemId: "FGCE", kind: SAVE)
}` },
  { query: `# Experiments (operators). Needs an admin token: run
#   finpulse token --user ops --role admin
# and paste it above. The demo experiment runs with the behaviour simulator.
subscription Results {
  experimentResults(id: "demo-strategies") {
experiment { id mode status }
variants {
  name strategy share pValue stopped
  counts { impressions clicks conversions dismissals }
  conversion { value low high }
}
  }
}
query Experiments {
  experiments { id description mode status variants { name strategy weight } }
  recommendationStrategies
}
mutation Create {
  createExperiment(input: {
id: "ranker-vs-collaborative", mode: AB_TEST,
variants: [{ name: "control", strategy: "collaborative", weight: 1 },
           { name: "ranked", strategy: "ranked", weight: 1 }]
  }) { id status }
}
mutation Stop {
  stopExperiment(id: "demo-strategies") { id status }
}
# The model versions every server follows; rollbackRecommender(version:) returns all to one.
query Models {
  recommenderModels { serving kept { version trainedAt model items interactions ranker } }
}` },
  { query: `# Support chat. Needs a token: run  finpulse token --user alice  and paste it above.
# Run Start, put its id in the variables, run Chat, then Ask in another tab: the customer's
# message and the bot's grounded reply are pushed. "I want a human" hands off; an agent
# (finpulse token --user ag1 --role agent) answers with Ask and sees the bot's evidence.
mutation Start {
  startConversation(language: "en") { id status }
}
subscription Chat($id: ID!) {
  chat(conversationId: $id) {
message { author authorId text language evidence }
conversation { status agent language }
  }
}
mutation Ask($id: ID!) {
  sendMessage(conversationId: $id, text: "Why was my card payment declined?") { id }
}
query History($id: ID!) {
  conversation(id: $id) { status messages { author text at } }
}
# Operators (finpulse token --user ops --role admin) edit the FAQ while the desk answers.
query Faq {
  faqEntries(language: "en") { id intent questions }
}
mutation PutEntry {
  putFaqEntry(entry: { id: "card-design", language: "en", intent: "card_design",
questions: ["How do I change my card design?"],
answer: "Pick a new design in the app under Cards, then Design." }) { id language }
}`, variables: `{ "id": "paste the id from Start" }` },
];
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultTabs: examples, defaultEditorToolsVisibility: false }),
);
