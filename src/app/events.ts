import type { TalkEvent } from './talk.ts';

/**
 * A session event as the user interfaces hand it on: one JSON object per line of `talk --json`, one
 * message of the page's connection. The events a script needs, never a key.
 */
export function eventJson(event: TalkEvent): Record<string, unknown> | null {
  switch (event.type) {
    case 'state':
      return { event: 'state', state: event.state };
    case 'tor_progress':
      return { event: 'progress', percent: event.percent, summary: event.summary };
    case 'published':
      return { event: 'progress', step: 'published' };
    case 'window':
      return { event: 'window', seconds: event.ms / 1000 };
    case 'active':
      return { event: 'active', session: event.tag, idleSeconds: event.idle / 1000, maxSeconds: event.maxSession / 1000 };
    case 'sent':
      return { event: 'sent', id: event.id };
    case 'message':
      return { event: 'message', id: event.id, text: event.text };
    case 'delivered':
      return { event: 'delivered', id: event.id };
    case 'rejected':
      return { event: 'rejected', connection: event.conn, code: event.code };
    case 'notice':
      return { event: 'notice', code: event.code };
    case 'closed':
      return { event: 'closed', reason: event.reason, ...(event.code !== undefined ? { code: event.code } : {}), hadSession: event.hadSession };
  }
}
