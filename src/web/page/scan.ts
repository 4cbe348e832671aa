/**
 * Reads a QR code with the camera: the browser's BarcodeDetector where it has one, else jsQR on
 * frames drawn to a canvas. The returned function stops the camera; the page calls it when the code
 * is read and whenever the scanning view goes away.
 */
import jsqrModule from 'jsqr';

type Decode = (data: Uint8ClampedArray, width: number, height: number, options?: { inversionAttempts?: 'attemptBoth' }) => { data: string } | null;
/** jsQR is a CommonJS module whose export may come wrapped, depending on how it is bundled. */
const jsQR: Decode = ((m: unknown) => (typeof m === 'function' ? m : (m as { default: unknown }).default))(jsqrModule) as Decode;

interface Detector {
  detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]>;
}
type DetectorClass = new (options: { formats: string[] }) => Detector;

const FRAME_MS = 150;
const MAX_SIDE = 640;

/** @throws what getUserMedia throws (no camera, permission refused) */
export async function startScan(video: HTMLVideoElement, onCode: (text: string) => void): Promise<() => void> {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  let stopped = false;
  let timer = 0;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  try {
    await video.play();
  } catch (e) {
    stop();
    throw e;
  }
  const Native = (globalThis as { BarcodeDetector?: DetectorClass }).BarcodeDetector;
  const detector = Native !== undefined ? new Native({ formats: ['qr_code'] }) : null;
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', { willReadFrequently: true });

  const read = async (): Promise<string | null> => {
    if (video.videoWidth === 0) return null;
    if (detector !== null) return (await detector.detect(video))[0]?.rawValue ?? null;
    if (context === null) return null;
    const scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = context.getImageData(0, 0, canvas.width, canvas.height);
    return jsQR(image.data, image.width, image.height, { inversionAttempts: 'attemptBoth' })?.data ?? null;
  };
  const tick = (): void => {
    if (stopped) return;
    read().then((text) => {
      if (stopped) return;
      if (text !== null && text !== '') {
        stop();
        onCode(text);
      } else {
        timer = window.setTimeout(tick, FRAME_MS);
      }
    }, () => { if (!stopped) timer = window.setTimeout(tick, FRAME_MS); });
  };
  tick();
  return stop;
}
