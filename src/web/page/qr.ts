/**
 * The contact code as a QR code, drawn as SVG through DOM calls (never parsed markup). As in the
 * terminal (src/cli/qr.ts), the code goes in upper case: QR's alphanumeric mode then fits error
 * correction level Q in a small symbol, and `add` accepts either case.
 */
import { encode } from 'uqr';
import { svg } from './dom.ts';

export function qrSvg(code: string, label: string): Element {
  const { data, size } = encode(code.toUpperCase(), { ecc: 'Q', border: 4 });
  let d = '';
  data.forEach((row, y) => {
    row.forEach((dark, x) => {
      if (dark) d += `M${String(x)} ${String(y)}h1v1h-1z`;
    });
  });
  const root = svg('svg', {
    viewBox: `0 0 ${String(size)} ${String(size)}`, role: 'img', 'aria-label': label, class: 'qr', 'shape-rendering': 'crispEdges',
  }, svg('rect', { width: size, height: size, fill: '#fff' }), svg('path', { d, fill: '#000' }));
  return root;
}
