/** The chat's input line: editing keys, a session-only history, and what the line shows in a given width. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineEditor } from '../../src/cli/chat/editor.ts';
import { displayWidth, safeText } from '../../src/cli/chat/text.ts';

/** An editor holding `text`, cursor at the end. */
function editorWith(text: string): LineEditor {
  const e = new LineEditor();
  e.insert(text);
  return e;
}

/** An editor whose history is `entries` (oldest first), on a fresh empty line. */
function editorWithHistory(...entries: string[]): LineEditor {
  const e = new LineEditor();
  for (const entry of entries) {
    e.insert(entry);
    e.take();
  }
  return e;
}

/** How the view is documented to show one code point. */
function shown(ch: string): string {
  if (ch === '\n') return '⏎';
  if (ch === '\t') return '␉';
  return safeText(ch);
}

// --- editing ---

test('insert puts text at the cursor and moves the cursor after it', () => {
  const e = new LineEditor();
  assert.equal(e.text, '');
  assert.equal(e.cursor, 0);
  e.insert('held');
  e.left();
  e.left();
  e.insert('llo wor');
  assert.equal(e.text, 'hello world');
  assert.equal(e.cursor, 9);
});

test('backspace and deleteForward remove one code point, and do nothing at the ends', () => {
  const e = editorWith('abc');
  e.deleteForward();
  assert.equal(e.text, 'abc');
  e.backspace();
  assert.equal(e.text, 'ab');
  assert.equal(e.cursor, 2);
  e.home();
  e.backspace();
  assert.equal(e.text, 'ab');
  e.deleteForward();
  assert.equal(e.text, 'b');
  assert.equal(e.cursor, 0);
});

test('left, right, home and end stay within the text', () => {
  const e = editorWith('abc');
  e.right();
  assert.equal(e.cursor, 3);
  e.home();
  assert.equal(e.cursor, 0);
  e.left();
  assert.equal(e.cursor, 0);
  e.right();
  assert.equal(e.cursor, 1);
  e.end();
  assert.equal(e.cursor, 3);
});

test('an emoji (a surrogate pair) is one cursor step and is deleted whole', () => {
  const e = editorWith('a😀b');
  assert.equal(e.cursor, 3);
  e.left();
  assert.equal(e.cursor, 2);
  e.backspace();
  assert.equal(e.text, 'ab');
  assert.equal(e.cursor, 1);
  e.insert('👩\u200d💻');
  e.left();
  e.deleteForward();
  assert.equal(e.text, 'a👩\u200db');
});

test('wordLeft and wordRight move by words of letters and digits, like readline meta-b and meta-f', () => {
  const e = editorWith('hello, big world');
  e.wordLeft();
  assert.equal(e.cursor, 11);
  e.wordLeft();
  assert.equal(e.cursor, 7);
  e.wordLeft();
  assert.equal(e.cursor, 0);
  e.wordLeft();
  assert.equal(e.cursor, 0);
  e.wordRight();
  assert.equal(e.cursor, 5);
  e.wordRight();
  assert.equal(e.cursor, 10);
  e.right();
  e.right(); // inside "world"
  e.wordRight();
  assert.equal(e.cursor, 16);
  e.wordRight();
  assert.equal(e.cursor, 16);
});

test('words include accented and non-Latin letters', () => {
  const e = editorWith('ça va, 日本語 ok');
  e.wordLeft();
  e.wordLeft();
  assert.equal(e.cursor, 7);
  e.home();
  e.wordRight();
  assert.equal(e.cursor, 2);
});

test('killToStart and killToEnd remove the text before and after the cursor', () => {
  const e = editorWith('hello world');
  e.wordLeft();
  e.killToEnd();
  assert.equal(e.text, 'hello ');
  assert.equal(e.cursor, 6);
  e.left();
  e.killToStart();
  assert.equal(e.text, ' ');
  assert.equal(e.cursor, 0);
});

test('killWordBack removes the whitespace, then the word, before the cursor', () => {
  const e = editorWith('send the file  ');
  e.killWordBack();
  assert.equal(e.text, 'send the ');
  e.killWordBack();
  assert.equal(e.text, 'send ');
  const url = editorWith('see http://x.y/z?a=b');
  url.killWordBack();
  assert.equal(url.text, 'see ', 'the word ends at whitespace only, as unix-word-rubout');
  const middle = editorWith('foo bar baz');
  for (let i = 0; i < 4; i++) middle.left();
  middle.killWordBack();
  assert.equal(middle.text, 'foo  baz');
  assert.equal(middle.cursor, 4);
  const start = editorWith('x');
  start.home();
  start.killWordBack();
  assert.equal(start.text, 'x');
});

test('killWordBack treats a newline as whitespace', () => {
  const e = editorWith('first line\nsecond');
  e.killWordBack();
  assert.equal(e.text, 'first line\n');
  e.killWordBack();
  assert.equal(e.text, 'first ');
});

// --- history ---

test('take returns the text, empties the line and adds it to the history', () => {
  const e = editorWith('hi there');
  assert.equal(e.take(), 'hi there');
  assert.equal(e.text, '');
  assert.equal(e.cursor, 0);
  e.historyUp();
  assert.equal(e.text, 'hi there');
  assert.equal(e.cursor, 8);
});

test('history up and down like a shell: the draft is kept and comes back past the newest entry', () => {
  const e = editorWithHistory('one', 'two');
  e.insert('dra');
  e.historyUp();
  assert.equal(e.text, 'two');
  e.historyUp();
  assert.equal(e.text, 'one');
  e.historyUp();
  assert.equal(e.text, 'one', 'no-op at the oldest');
  e.historyDown();
  assert.equal(e.text, 'two');
  e.historyDown();
  assert.equal(e.text, 'dra');
  assert.equal(e.cursor, 3);
  e.historyDown();
  assert.equal(e.text, 'dra', 'no-op on the fresh line');
});

test('history up with no history keeps the line as it is', () => {
  const e = editorWith('typing');
  e.left();
  e.historyUp();
  assert.equal(e.text, 'typing');
  assert.equal(e.cursor, 5);
});

test('edits to a recalled entry do not change the history', () => {
  const e = editorWithHistory('one', 'two');
  e.historyUp();
  e.insert('X');
  e.historyUp();
  e.historyDown();
  assert.equal(e.text, 'two');
});

test('sending a recalled entry adds it again as the newest', () => {
  const e = editorWithHistory('one', 'two');
  e.historyUp();
  e.historyUp();
  assert.equal(e.take(), 'one');
  e.historyDown();
  assert.equal(e.text, '', 'take left history browsing');
  e.historyUp();
  assert.equal(e.text, 'one');
  e.historyUp();
  assert.equal(e.text, 'two');
});

test('empty lines and repeats of the newest entry are not added to the history', () => {
  const e = editorWithHistory('a', 'b', 'b', '', 'a');
  assert.equal(e.take(), '');
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    e.historyUp();
    seen.push(e.text);
  }
  assert.deepEqual(seen, ['a', 'b', 'a', 'a', 'a']);
});

test('the history keeps only the newest historyLimit entries', () => {
  const e = new LineEditor(2);
  for (const m of ['a', 'b', 'c']) {
    e.insert(m);
    e.take();
  }
  e.historyUp();
  e.historyUp();
  e.historyUp();
  assert.equal(e.text, 'b');
  const none = new LineEditor(0);
  none.insert('x');
  none.take();
  none.historyUp();
  assert.equal(none.text, '');
  assert.throws(() => new LineEditor(-1), RangeError);
  assert.throws(() => new LineEditor(1.5), RangeError);
});

test('the default history keeps 100 entries', () => {
  const e = new LineEditor();
  for (let i = 0; i < 101; i++) {
    e.insert(`m${i}`);
    e.take();
  }
  for (let i = 0; i < 101; i++) e.historyUp();
  assert.equal(e.text, 'm1');
});

test('wipe empties the line and forgets the history', () => {
  const e = editorWithHistory('secret one', 'secret two');
  e.insert('draft');
  e.wipe();
  assert.equal(e.text, '');
  assert.equal(e.cursor, 0);
  e.historyUp();
  assert.equal(e.text, '');
  e.historyDown();
  assert.equal(e.text, '');
});

test('wipe while browsing the history forgets the draft too', () => {
  const e = editorWithHistory('secret');
  e.insert('draft');
  e.historyUp();
  e.wipe();
  e.historyDown();
  assert.equal(e.text, '');
});

// --- view ---

test('view shows text that fits as it is, cursor after it', () => {
  const e = editorWith('hello');
  assert.deepEqual(e.view(10), { text: 'hello', cursorColumn: 5 });
  e.home();
  assert.deepEqual(e.view(10), { text: 'hello', cursorColumn: 0 });
  assert.deepEqual(new LineEditor().view(2), { text: '', cursorColumn: 0 });
});

test('a pasted newline is one message, shown as ⏎', () => {
  const e = new LineEditor();
  e.insert('line one\nline two');
  assert.equal(e.text, 'line one\nline two');
  assert.deepEqual(e.view(40), { text: 'line one⏎line two', cursorColumn: 17 });
});

test('view shows controls harmlessly: ESC, CR and tab have visible one-column marks', () => {
  const e = editorWith('a\x1b[2Jb\r\t');
  assert.deepEqual(e.view(20), { text: 'a␛[2Jb␍␉', cursorColumn: 8 });
});

test('view scrolls so the cursor is visible, with … where text is hidden', () => {
  const e = editorWith('abcdefghij');
  assert.deepEqual(e.view(5), { text: '…hij', cursorColumn: 4 });
  e.home();
  assert.deepEqual(e.view(5), { text: 'abcd…', cursorColumn: 0 });
  for (let i = 0; i < 5; i++) e.right();
  assert.deepEqual(e.view(5), { text: '…def…', cursorColumn: 3 });
});

test('view keeps a column for the cursor after the last character', () => {
  const e = editorWith('abcd');
  assert.deepEqual(e.view(5), { text: 'abcd', cursorColumn: 4 });
  e.insert('e');
  assert.deepEqual(e.view(5), { text: '…cde', cursorColumn: 4 });
  e.left();
  assert.deepEqual(e.view(5), { text: 'abcde', cursorColumn: 4 });
});

test('view counts wide characters as two columns', () => {
  const e = editorWith('日本語日本語');
  assert.deepEqual(e.view(6), { text: '…本語', cursorColumn: 5 });
  e.home();
  e.right();
  assert.deepEqual(e.view(20), { text: '日本語日本語', cursorColumn: 2 });
  const emoji = editorWith('a😀b');
  emoji.left();
  assert.deepEqual(emoji.view(10), { text: 'a😀b', cursorColumn: 3 });
});

test('view in two columns shows the wide character under the cursor', () => {
  const e = editorWith('日本語');
  e.home();
  e.right();
  assert.deepEqual(e.view(2), { text: '本', cursorColumn: 0 });
});

test('view rejects a width below 2', () => {
  assert.throws(() => editorWith('a').view(1), RangeError);
  assert.throws(() => editorWith('a').view(2.5), RangeError);
});

// --- properties ---

const keys = {
  backspace: (e: LineEditor) => { e.backspace(); },
  deleteForward: (e: LineEditor) => { e.deleteForward(); },
  left: (e: LineEditor) => { e.left(); },
  right: (e: LineEditor) => { e.right(); },
  home: (e: LineEditor) => { e.home(); },
  end: (e: LineEditor) => { e.end(); },
  wordLeft: (e: LineEditor) => { e.wordLeft(); },
  wordRight: (e: LineEditor) => { e.wordRight(); },
  killToStart: (e: LineEditor) => { e.killToStart(); },
  killToEnd: (e: LineEditor) => { e.killToEnd(); },
  killWordBack: (e: LineEditor) => { e.killWordBack(); },
  historyUp: (e: LineEditor) => { e.historyUp(); },
  historyDown: (e: LineEditor) => { e.historyDown(); },
  take: (e: LineEditor) => { e.take(); },
  wipe: (e: LineEditor) => { e.wipe(); },
} satisfies Record<string, (e: LineEditor) => void>;
type Key = keyof typeof keys;

const typed = fc.string({
  unit: fc.constantFrom('a', 'b', 'z', ' ', ' ', '\n', '.', '日', '😀', 'é', '\u0301', '\u200d', '\t', '\x1b'),
  minLength: 1,
  maxLength: 12,
});
type Op = { kind: 'key'; key: Key } | { kind: 'insert'; text: string };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...(Object.keys(keys) as Key[])).map((key): Op => ({ kind: 'key', key })) },
  { weight: 2, arbitrary: typed.map((text): Op => ({ kind: 'insert', text })) },
);

function apply(e: LineEditor, o: Op): void {
  if (o.kind === 'key') keys[o.key](e);
  else e.insert(o.text);
}

/**
 * The view is a window on the shown text: an optional … for hidden text on each side, the cells from
 * `start` to `end` in between, the cursor's cell among them (or the cursor after the last character),
 * and cursorColumn the width of what precedes it.
 */
function isWindow(chars: readonly string[], cursor: number, view: { text: string; cursorColumn: number }): boolean {
  const cells = chars.map(shown);
  for (let start = 0; start <= cursor; start++) {
    const left = start > 0 ? '…' : '';
    for (let end = cursor; end <= cells.length; end++) {
      if (end === cursor && cursor < cells.length) continue;
      const right = end < cells.length ? '…' : '';
      const text = left + cells.slice(start, end).join('') + right;
      const column = displayWidth(left + cells.slice(start, cursor).join(''));
      if (text === view.text && column === view.cursorColumn) return true;
    }
  }
  // A view too narrow for anything else shows the cursor's character alone.
  return cursor < cells.length && view.text === cells[cursor] && view.cursorColumn === 0;
}

test('property: random key sequences keep the cursor in the text and never split a surrogate pair', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const e = new LineEditor(5);
      for (const o of ops) {
        apply(e, o);
        assert.ok(e.cursor >= 0 && e.cursor <= Array.from(e.text).length, `cursor ${e.cursor} in ${JSON.stringify(e.text)}`);
        assert.ok(!/[\ud800-\udfff]/u.test(e.text));
      }
    }),
    { numRuns: 500 },
  );
});

test('property: the view fits the width, the cursor is inside it, and it is a window on the text', () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 30 }), fc.integer({ min: 2, max: 16 }), (ops, width) => {
      const e = new LineEditor(5);
      for (const o of ops) {
        apply(e, o);
        const view = e.view(width);
        assert.ok(displayWidth(view.text) <= width, `${JSON.stringify(view.text)} wider than ${width}`);
        assert.ok(view.cursorColumn >= 0 && view.cursorColumn < width, `cursor column ${view.cursorColumn} of ${width}`);
        assert.ok(!view.text.includes('\n'));
        assert.ok(isWindow(Array.from(e.text), e.cursor, view), `${JSON.stringify(view)} for ${JSON.stringify(e.text)} at ${e.cursor}`);
      }
    }),
    { numRuns: 500 },
  );
});

test('property: a text that fits is shown whole, starting at column 0', () => {
  fc.assert(
    fc.property(typed, fc.nat({ max: 12 }), fc.integer({ min: 2, max: 40 }), (text, back, width) => {
      const e = editorWith(text);
      for (let i = 0; i < back; i++) e.left();
      const whole = Array.from(text).map(shown).join('');
      fc.pre(displayWidth(whole) < width);
      const view = e.view(width);
      assert.equal(view.text, whole);
      assert.equal(view.cursorColumn, displayWidth(Array.from(text).slice(0, e.cursor).map(shown).join('')));
    }),
    { numRuns: 300 },
  );
});

test('property: insert then as many backspaces restores the line', () => {
  fc.assert(
    fc.property(typed, typed, fc.nat({ max: 12 }), (before, inserted, back) => {
      const e = editorWith(before);
      for (let i = 0; i < back; i++) e.left();
      const cursor = e.cursor;
      e.insert(inserted);
      assert.equal(e.cursor, cursor + Array.from(inserted).length);
      for (let i = 0; i < Array.from(inserted).length; i++) e.backspace();
      assert.equal(e.text, before);
      assert.equal(e.cursor, cursor);
    }),
    { numRuns: 300 },
  );
});
