/**
 * Passphrases from files, and the warning for weak ones. A passphrase file is a secret like an ssh key:
 * one that other users can read (or that belongs to another user) is refused, as ssh refuses such a key.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { UsageError } from '../core/errors.ts';
import { PASSPHRASE_FILE_MAX_SIZE, PASSPHRASE_WEAK_BITS } from '../core/limits.ts';
import { estimatePassphraseBits } from '../core/strength.ts';

const POSIX = process.platform !== 'win32';

/**
 * The first line of the passphrase file `path`. The file may be a regular file or a pipe (`<(pass show
 * x)`), never a folder or a device; it must be ours and not readable by group or others; it is read up
 * to {@link PASSPHRASE_FILE_MAX_SIZE} bytes, all checked on the open handle before a byte is read.
 * @throws UsageError PASSPHRASE_FILE_EXPOSED (group/other may read it, or another user owns it),
 *   BAD_ARGUMENT (cannot be read, not a file or pipe, too large, empty first line)
 */
export async function readPassphraseFile(path: string): Promise<string> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY);
  } catch (cause) {
    throw new UsageError('BAD_ARGUMENT', 'cannot read the passphrase file', { cause });
  }
  let buf: Buffer | undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() && !st.isFIFO()) throw new UsageError('BAD_ARGUMENT', 'the passphrase file is not a file');
    if (POSIX) {
      if ((st.mode & 0o077) !== 0) {
        throw new UsageError('PASSPHRASE_FILE_EXPOSED',
          `the passphrase file can be read by other users (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it, and choose a new passphrase if others could read it`);
      }
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) throw new UsageError('PASSPHRASE_FILE_EXPOSED', 'the passphrase file belongs to another user');
    }
    if (st.isFile() && st.size > PASSPHRASE_FILE_MAX_SIZE) throw new UsageError('BAD_ARGUMENT', `the passphrase file is larger than ${PASSPHRASE_FILE_MAX_SIZE} bytes`);
    // One byte more than the bound tells a pipe that goes on from one that fits.
    buf = Buffer.alloc(PASSPHRASE_FILE_MAX_SIZE + 1);
    let at = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, at, buf.length - at, null);
      if (bytesRead === 0) break;
      at += bytesRead;
      if (at === buf.length) {
        throw new UsageError('BAD_ARGUMENT', `the passphrase file is larger than ${PASSPHRASE_FILE_MAX_SIZE} bytes`);
      }
    }
    const text = buf.toString('utf8', 0, at);
    const first = text.split(/\r?\n/)[0] ?? '';
    if (first.length === 0) throw new UsageError('BAD_ARGUMENT', 'the passphrase file is empty');
    return first;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError('BAD_ARGUMENT', 'cannot read the passphrase file', { cause: e });
  } finally {
    // Zeroed on every way out, a read that failed half-way included.
    buf?.fill(0);
    await fh.close();
  }
}

/**
 * The warning to show for a new passphrase, or null when it seems strong enough. A warning, never a
 * refusal: the estimate (core/strength.ts) is rough, and the user may know better.
 */
export function weakPassphraseWarning(passphrase: string): string | null {
  const bits = Math.floor(estimatePassphraseBits(passphrase));
  if (bits >= PASSPHRASE_WEAK_BITS) return null;
  return `Warning: this passphrase is weak: about ${bits} bits (someone who copies the store needs about 2^${bits} guesses; ` +
    `aim for ${PASSPHRASE_WEAK_BITS} or more, e.g. five random words). Change it with \`entrechat passphrase\`.`;
}
