/** Issue 9 §7: JSON lines and quoted input that cannot drive a terminal. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { jsonLine, shownEscaped } from '../../src/cli/escape.ts';

// C0, DEL, C1, format characters (bidi controls, zero-width, tags), line/paragraph separators.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]/u;

test('jsonLine: C1 controls, DEL, bidi and format characters become \\uXXXX; the value parses back unchanged', () => {
  const text = 'a\u009b31m\u0085\u007f\u202e\u2067\u200d\u{E0041}\u2028z';
  const line = jsonLine({ event: 'message', text });
  assert.doesNotMatch(line, UNSAFE);
  assert.equal(line, '{"event":"message","text":"a\\u009b31m\\u0085\\u007f\\u202e\\u2067\\u200d\\udb40\\udc41\\u2028z"}');
  assert.deepEqual(JSON.parse(line), { event: 'message', text });
  assert.equal(jsonLine(undefined), 'null');
});

test('property: jsonLine of any value is one line free of unsafe characters that parses back to the value', () => {
  fc.assert(fc.property(fc.jsonValue(), fc.string({ unit: 'binary' }), (value, s) => {
    for (const v of [value, { text: s }, [s, value]]) {
      const line = jsonLine(v);
      assert.doesNotMatch(line, UNSAFE);
      assert.deepEqual(JSON.parse(line), JSON.parse(JSON.stringify(v)));
    }
  }));
});

test('shownEscaped: controls and format characters visible as \\uXXXX, other text as it is', () => {
  assert.equal(shownEscaped('unknown command "\u001b[2J\u009b\u202e"'), 'unknown command "\\u001b[2J\\u009b\\u202e"');
  assert.equal(shownEscaped('Zoë 🎉 山田 — ok'), 'Zoë 🎉 山田 — ok');
  assert.equal(shownEscaped('a\\u001b'), 'a\\\\u001b', 'a literal backslash cannot pose as an escape');
  fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => { assert.doesNotMatch(shownEscaped(s), UNSAFE); }));
});
