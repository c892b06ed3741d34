// Every example tab of GraphiQL (gateway/src/graphiql-page.js) is a valid document against the
// schema the binary serves (web-demo/schema.graphql, kept equal to `finpulse schema` by a Rust
// test): a renamed field or argument breaks this test, not a newcomer's first query.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';

const root = new URL('../../', import.meta.url);
const schema = buildSchema(readFileSync(new URL('web-demo/schema.graphql', root), 'utf8'));
const page = readFileSync(new URL('gateway/src/graphiql-page.js', root), 'utf8');

test('every GraphiQL example validates against the schema', () => {
  const examples = [...page.matchAll(/query: `([\s\S]*?)`/g)].map((match) => match[1]);
  assert.ok(examples.length >= 5, `found ${examples.length} examples`);
  for (const example of examples) {
    const problems = validate(schema, parse(example)).map((error) => error.message);
    assert.deepEqual(problems, [], example.split('\n')[0]);
  }
});
