/**
 * A camera for the browser tests: Chromium's fake capture device playing a Y4M file, made here from a
 * QR code (what `entrechat ui` shows as a contact code), so that a page can scan it as a phone would.
 */
import { encode } from 'uqr';

const SIDE = 480;

/** A few identical 4:2:0 frames showing `text`'s QR code in black on white (or a blank frame). */
export function y4m(text: string | null): Buffer {
  const luma = Buffer.alloc(SIDE * SIDE, 255);
  if (text !== null) {
    const { data, size } = encode(text, { ecc: 'Q', border: 4 });
    const scale = Math.floor(SIDE / size);
    const offset = Math.floor((SIDE - size * scale) / 2);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const mx = Math.floor((x - offset) / scale);
        const my = Math.floor((y - offset) / scale);
        if (data[my]?.[mx] === true) luma[y * SIDE + x] = 0;
      }
    }
  }
  const chroma = Buffer.alloc((SIDE / 2) * (SIDE / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), luma, chroma]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${String(SIDE)} H${String(SIDE)} F10:1 Ip A1:1 C420jpeg\n`), frame, frame, frame]);
}

/** Chromium's flags for a fake camera playing `file` (a .y4m), allowed without asking. */
export function fakeCameraArgs(file: string): string[] {
  return ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${file}`];
}
