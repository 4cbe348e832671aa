/** The session's output over the page's connection: backed up above its bound or without a page, 'drain' once it empties. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PageSink, type PageConnection } from '../../src/web/sink.ts';

class FakePage implements PageConnection {
  bufferedAmount = 0;
  readonly written: (() => void)[] = [];
  send(text: string, written: () => void): void {
    this.bufferedAmount += text.length;
    this.written.push(() => { this.bufferedAmount -= text.length; written(); });
  }
}

test('no page: backed up (the peer is not read); a page with room: not', () => {
  const sink = new PageSink(100);
  assert.equal(sink.writableNeedDrain, true);
  assert.equal(sink.send('x'), false, 'nothing is sent without a page');
  let drained = 0;
  sink.once('drain', () => { drained++; });
  sink.page = new FakePage();
  assert.equal(sink.writableNeedDrain, false);
  assert.equal(drained, 1, 'a page coming back drains');
});

test('above the bound: backed up until what waits has left, then one drain', () => {
  const sink = new PageSink(100);
  const page = new FakePage();
  sink.page = page;
  let drained = 0;
  sink.send('a'.repeat(80));
  assert.equal(sink.writableNeedDrain, false);
  sink.send('b'.repeat(80));
  assert.equal(sink.writableNeedDrain, true);
  sink.once('drain', () => { drained++; });
  page.written.shift()?.();
  assert.equal(sink.writableNeedDrain, false);
  assert.equal(drained, 1);
  page.written.shift()?.();
  assert.equal(drained, 1, 'once per listener');
  sink.page = null;
  assert.equal(sink.writableNeedDrain, true, 'the page gone: backed up again');
});
