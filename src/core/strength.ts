/**
 * A small, conservative estimate of a passphrase's strength, in bits (log2 of the guesses an attacker
 * who copied the store needs). It only decides whether to *warn*: nothing is refused on its word.
 *
 * What it models (ideas from zxcvbn's matchers, written small): the passphrase is cut into runs of
 * letters, digits, and other characters; a run of letters is assumed to be a dictionary word (at most
 * {@link WORD_BITS} plus its capitalisation), a repeated or sequential run (aaaa, 1234, qwerty) costs its
 * first character and its length, a 19xx/20xx year costs a little, everything else costs log2 of its
 * character class per character; a separator repeated between words costs nothing after its first
 * use. It also looks the whole passphrase up (lower-cased and un-leeted: p4ssw0rd → password) in a
 * short list of the most used passwords, and tries the un-leeted form everywhere, keeping the lower
 * estimate.
 *
 * Its limits, said plainly: it has no real dictionary (a few dozen common passwords only), so it
 * overestimates a passphrase made of names, quotes or song lines; it assumes every letter run is a word,
 * so it underestimates random letters (a random 8-letter string gets ~16 bits, not 37); it knows
 * nothing about the person (birthdays, pet names). A high estimate is not a guarantee; a low one is a
 * good reason to choose again.
 */

/** Bits of one dictionary word: log2 of a ~32 000-word vocabulary, larger than any diceware list. */
export const WORD_BITS = 15;

/** Most used passwords (public breach lists): the whole passphrase, un-leeted, found here is worth ~nothing. */
const COMMON = [
  'password', '123456', '12345678', '123456789', '1234567890', 'qwerty', 'qwertyuiop', 'abc123', 'letmein',
  'welcome', 'monkey', 'dragon', 'football', 'baseball', 'iloveyou', 'admin', 'login', 'master', 'sunshine',
  'princess', 'shadow', 'superman', 'trustno1', 'passw0rd', 'starwars', 'whatever', 'freedom', 'secret',
  'changeme', 'hello', 'michael', 'charlie', 'jennifer', 'computer', 'passphrase', 'entrechat', 'azerty',
  'qwertz', 'motdepasse', 'passwort', 'contraseña', 'senha', 'parola', 'haslo', 'correcthorsebatterystaple',
];

const LEET: Readonly<Record<string, string>> = { '4': 'a', '@': 'a', '3': 'e', '1': 'i', '!': 'i', '0': 'o', '5': 's', '$': 's', '7': 't', '+': 't', '8': 'b', '9': 'g' };

/** Keyboard rows and digit rows, forwards; a run found in one (or reversed) is a sequence. */
const ROWS = ['qwertyuiop', 'asdfghjkl', 'zxcvbnm', 'azertyuiop', 'qwertzuiop', '1234567890', 'abcdefghijklmnopqrstuvwxyz'];

type Kind = 'letter' | 'digit' | 'other';

function kindOf(ch: string): Kind {
  if (/\p{L}|\p{M}/u.test(ch)) return 'letter';
  if (/[0-9]/.test(ch)) return 'digit';
  return 'other';
}

/** Splits into maximal runs of one kind (code points, not UTF-16 units). */
function runs(chars: readonly string[]): { kind: Kind; chars: string[] }[] {
  const out: { kind: Kind; chars: string[] }[] = [];
  for (const ch of chars) {
    const kind = kindOf(ch);
    const last = out[out.length - 1];
    if (last?.kind === kind) last.chars.push(ch);
    else out.push({ kind, chars: [ch] });
  }
  return out;
}

/** Repeated (aaaa), stepping by ±1 code point (abcd, 4321), or part of a keyboard row, either way. */
function isSequence(chars: readonly string[]): boolean {
  if (chars.length < 3) return false;
  if (chars.every((c) => c === chars[0])) return true;
  const cps = chars.map((c) => c.codePointAt(0) ?? 0);
  const step = (cps[1] ?? 0) - (cps[0] ?? 0);
  if ((step === 1 || step === -1) && cps.every((cp, i) => i === 0 || cp - (cps[i - 1] ?? 0) === step)) return true;
  const text = chars.join('').toLowerCase();
  const reversed = Array.from(text).reverse().join('');
  return ROWS.some((row) => row.includes(text) || row.includes(reversed));
}

function poolOfLetters(chars: readonly string[]): number {
  // eslint-disable-next-line no-control-regex
  const ascii = chars.every((c) => /^[\x00-\x7f]$/.test(c));
  if (!ascii) return 100;
  const lower = chars.some((c) => c !== c.toUpperCase());
  const upper = chars.some((c) => c !== c.toLowerCase());
  return lower && upper ? 52 : 26;
}

/** Extra bits for the capitalisation of a word: none, first letter, all capitals, or anything. */
function caseBits(chars: readonly string[]): number {
  const text = chars.join('');
  if (text === text.toLowerCase()) return 0;
  const first = chars[0] ?? '';
  const rest = chars.slice(1).join('');
  if (text === text.toUpperCase() || (first !== first.toLowerCase() && rest === rest.toLowerCase())) return 1;
  return chars.length;
}

function runBits(kind: Kind, chars: readonly string[]): number {
  const n = chars.length;
  if (kind === 'letter') {
    const pool = poolOfLetters(chars);
    if (isSequence(chars)) return Math.log2(pool) + Math.log2(n);
    return Math.min(n * Math.log2(pool), WORD_BITS + caseBits(chars));
  }
  if (kind === 'digit') {
    if (isSequence(chars)) return Math.log2(10) + Math.log2(n);
    // A year of the last two centuries: one of ~200.
    if (n === 4 && /^(19|20)\d\d$/.test(chars.join(''))) return Math.log2(200);
    return n * Math.log2(10);
  }
  if (isSequence(chars)) return Math.log2(33) + Math.log2(n);
  // 33 printable ASCII symbols and the space; anything else (emoji, other scripts' punctuation) is rarer.
  const pool = chars.every((c) => c.length === 1 && c.charCodeAt(0) < 0x80) ? 33 : 100;
  return n * Math.log2(pool);
}

function estimateOnce(chars: readonly string[]): number {
  const lower = chars.join('').toLowerCase();
  const common = COMMON.indexOf(lower);
  if (common !== -1) return Math.log2(common + 2);
  let bits = 0;
  const seenSeparators = new Set<string>();
  for (const run of runs(chars)) {
    if (run.kind === 'other') {
      // The same separator between every word: chosen once.
      const sep = run.chars.join('');
      if (seenSeparators.has(sep)) continue;
      seenSeparators.add(sep);
    }
    bits += runBits(run.kind, run.chars);
  }
  // The same block typed several times (abcabcabc) is the block plus how many times.
  for (let unit = 1; unit <= chars.length / 2; unit++) {
    if (chars.length % unit !== 0) continue;
    const block = chars.slice(0, unit);
    if (chars.every((c, i) => c === block[i % unit])) {
      return Math.min(bits, estimateOnce(block) + Math.log2(chars.length / unit));
    }
  }
  return bits;
}

/**
 * Estimated strength of `passphrase` in bits (see the module comment for what it models and what it
 * does not). 0 for the empty string.
 */
export function estimatePassphraseBits(passphrase: string): number {
  const chars = Array.from(passphrase.normalize('NFC'));
  if (chars.length === 0) return 0;
  const unleeted = chars.map((c) => LEET[c] ?? c);
  return Math.min(estimateOnce(chars), estimateOnce(unleeted));
}
