/**
 * What runs and what is on disk, for the "nothing left behind" checks: processes whose command line
 * names a folder, and every file under a folder with its bytes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Pids of live processes whose command line mentions `needle` (e.g. a test's own TMPDIR). */
export async function processesMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'Z' || state === 'X') continue;
      const cmdline = (await readFile(`/proc/${name}/cmdline`)).toString('utf8').split('\0').join(' ');
      if (cmdline.includes(needle)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Tor processes whose command line mentions `needle`. */
export async function torsMentioning(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await processesMentioning(needle)) {
    try {
      const argv0 = (await readFile(`/proc/${pid}/cmdline`)).toString('utf8').split('\0')[0] ?? '';
      if (/(^|\/)tor$/.test(argv0)) out.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every regular file under `dir` (recursively) with its contents; an empty folder counts as an entry too. */
export async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch {
    return out;
  }
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) {
      try {
        if ((await readdir(path)).length === 0) out.set(`${path}/`, Buffer.alloc(0));
      } catch {
        // removed meanwhile
      }
      continue;
    }
    if (!entry.isFile()) continue;
    try {
      out.set(path, await readFile(path));
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/**
 * A home folder's snapshot without `HOME/tor`, where a spawned tor keeps its guards and directory
 * cache between sessions (README § Guards): everything else of the home, the store above all, is to
 * stay byte-identical across a session. What `tor/` holds is checked by its own tests (tor-guards).
 */
export async function homeSnapshot(home: string): Promise<Map<string, Buffer>> {
  const kept = `${join(home, 'tor')}/`;
  return new Map([...(await snapshot(home))].filter(([path]) => !path.startsWith(kept)));
}

/** Paths of files under `dir` whose bytes contain `needle` (UTF-8). */
export async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const bytes = Buffer.from(needle, 'utf8');
  return [...(await snapshot(dir))].filter(([, data]) => data.includes(bytes)).map(([path]) => path);
}

/** Polls `check` until it returns true or `ms` pass. */
export async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
