/**
 * A video for Chromium's fake camera (`--use-file-for-fake-video-capture=FILE.y4m`): a few identical
 * 4:2:0 Y4M frames showing a text's QR code in black on white, as the page's scanner would see it
 * held up to a phone's camera (or a blank frame).
 */
import { encode } from 'uqr';

const SIDE = 480;

export function qrY4m(text: string | null): Buffer {
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
