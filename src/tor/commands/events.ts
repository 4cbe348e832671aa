/**
 * Readers for the async events Entrechat consumes (control-spec §4.1): bootstrap progress from
 * `STATUS_CLIENT … BOOTSTRAP` (§4.1.10; also the value of `GETINFO status/bootstrap-phase`) and
 * descriptor uploads and fetches from `HS_DESC` (§4.1.25). As captured from tor 0.4.9:
 *
 *   650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=100 TAG=done SUMMARY="Done"
 *   650 STATUS_CLIENT WARN BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay" WARNING="Connection refused"
 *       REASON=CONNECTREFUSED COUNT=2 RECOMMENDATION=ignore HOSTID="D563…" HOSTADDR="127.0.0.1:1"
 *   650 HS_DESC UPLOADED <address> UNKNOWN $6C24…~ecrelay0
 *   650 HS_DESC FAILED <address> NO_AUTH $F3BC…~ecauth0 tnXT…2VI REASON=NOT_FOUND
 *
 * Each reader returns null for any other event, and for one it cannot read: tor's events are never
 * trusted to be well-formed, and a listener must not throw. Unknown arguments are ignored, as the spec
 * requires.
 */
import type { Reply } from '../control/reply.ts';
import { parseKeyValues, type KeyValues } from '../control/reply.ts';

export interface BootstrapStatus {
  /** 0..100 */
  readonly progress: number;
  /** A stable phase name (e.g. "conn", "done"). */
  readonly tag: string;
  /** Human-readable description of the next step, from tor. */
  readonly summary: string;
  /** NOTICE for normal progress, WARN (or ERR) for a problem. */
  readonly severity: string;
  /** Present on a problem report: tor's hint, e.g. "Connection refused". */
  readonly warning?: string;
  /** Present on a problem report: a stable reason keyword, e.g. CONNECTREFUSED. */
  readonly reason?: string;
  /** Present on a problem report: "ignore" or "warn". */
  readonly recommendation?: string;
}

function safeParse(text: string): KeyValues | null {
  try {
    return parseKeyValues(text);
  } catch {
    return null;
  }
}

/** Reads `SEVERITY BOOTSTRAP PROGRESS=… TAG=… SUMMARY="…" …` (the event body, or the GETINFO value). */
function bootstrapFrom(kv: KeyValues, offset: number): BootstrapStatus | null {
  const severity = kv.positional[offset];
  if (severity === undefined || kv.positional[offset + 1] !== 'BOOTSTRAP') return null;
  const progressText = kv.values.get('PROGRESS');
  if (progressText === undefined || !/^\d{1,3}$/.test(progressText)) return null;
  const progress = Number(progressText);
  if (progress > 100) return null;
  const warning = kv.values.get('WARNING');
  const reason = kv.values.get('REASON');
  const recommendation = kv.values.get('RECOMMENDATION');
  return {
    progress,
    tag: kv.values.get('TAG') ?? '',
    summary: kv.values.get('SUMMARY') ?? '',
    severity,
    ...(warning !== undefined ? { warning } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(recommendation !== undefined ? { recommendation } : {}),
  };
}

/** The first line of a 650 event, or null for anything else. */
function eventText(event: Reply): string | null {
  if (event.status !== 650) return null;
  return event.lines[0]?.text ?? null;
}

/** Reads a `650 STATUS_CLIENT <severity> BOOTSTRAP …` event; null for any other event. */
export function parseStatusClientBootstrap(event: Reply): BootstrapStatus | null {
  const text = eventText(event);
  if (text?.startsWith('STATUS_CLIENT ') !== true) return null;
  const kv = safeParse(text);
  return kv === null ? null : bootstrapFrom(kv, 1);
}

/** Reads the value of `GETINFO status/bootstrap-phase`, e.g. `NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"`. */
export function parseBootstrapPhase(value: string): BootstrapStatus | null {
  if (typeof value !== 'string') return null;
  const kv = safeParse(value);
  return kv === null ? null : bootstrapFrom(kv, 0);
}

export interface OrConnEvent {
  /** `$FINGERPRINT~nickname`, `$FINGERPRINT`, or `ADDRESS:PORT` when tor knows no identity. */
  readonly target: string;
  /** NEW, LAUNCHED, CONNECTED, FAILED, CLOSED, or one tor adds later. */
  readonly status: string;
  readonly reason?: string;
}

/**
 * Reads a `650 ORCONN <target> <status> [REASON=…] [NCIRCS=…] [ID=…]` event (§4.1.3); null for any
 * other event. Captured from tor 0.4.9, a bridge on a closed port:
 *
 *   650 ORCONN $0123…4567 LAUNCHED ID=8
 *   650 ORCONN 127.0.0.1:1 LAUNCHED ID=5          (a bridge line without a fingerprint)
 *   650 ORCONN $FBBC…546A~ecbridge0 CONNECTED ID=4
 */
export function parseOrConn(event: Reply): OrConnEvent | null {
  const text = eventText(event);
  if (text?.startsWith('ORCONN ') !== true) return null;
  const kv = safeParse(text);
  if (kv === null) return null;
  const [, target, status] = kv.positional;
  if (target === undefined || status === undefined || !/^[A-Z_]+$/.test(status) || target.length > 256) return null;
  const reason = kv.values.get('REASON');
  return { target, status, ...(reason !== undefined ? { reason } : {}) };
}

export interface HsDescEvent {
  /** REQUESTED, UPLOAD, RECEIVED, UPLOADED, IGNORE, FAILED, CREATED, or one tor adds later. */
  readonly action: string;
  /** The onion address without ".onion" (56 characters for v3), or "UNKNOWN". Not to be logged in full. */
  readonly address: string;
  /** NO_AUTH, BASIC_AUTH, STEALTH_AUTH or UNKNOWN. */
  readonly authType: string;
  /** The HSDir, as `$FINGERPRINT~nickname`, a fingerprint, or "UNKNOWN". */
  readonly hsDir: string;
  /** For FAILED: NOT_FOUND, UPLOAD_REJECTED, QUERY_NO_HSDIR, … */
  readonly reason?: string;
}

/** Reads a `650 HS_DESC <action> <address> <auth type> <hsdir> …` event; null for any other event. */
export function parseHsDesc(event: Reply): HsDescEvent | null {
  const text = eventText(event);
  if (text?.startsWith('HS_DESC ') !== true) return null;
  const kv = safeParse(text);
  if (kv === null) return null;
  const [, action, address, authType, hsDir] = kv.positional;
  if (action === undefined || address === undefined || authType === undefined || hsDir === undefined) return null;
  if (!/^[A-Z_]+$/.test(action) || !/^([a-z2-7]{16}|[a-z2-7]{56}|UNKNOWN)$/.test(address)) return null;
  const reason = kv.values.get('REASON');
  return { action, address, authType, hsDir, ...(reason !== undefined ? { reason } : {}) };
}
