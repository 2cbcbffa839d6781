import { linkSync, lstatSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { HotplugError } from "../errors.js";
import { shortHash } from "../util/hash.js";

/**
 * Serialises our hooks per instance. The lock is a listening Unix socket in a directory only root
 * may write (an abstract socket, which any local user could bind first, would let that user block
 * every hot-plug of the instance). Binding is atomic; a holder that exits closes it, and one killed
 * by SIGKILL leaves a socket nobody listens on, which the next taker recognises (connection
 * refused) and moves away.
 */
export async function lockInstance(instance: string, timeoutMs: number, dir: string): Promise<() => void> {
  lockDir(dir);
  const path = join(dir, `${shortHash(instance)}.lock`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const server = createServer();
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      server.once("error", resolve);
      server.listen(path, () => resolve(undefined));
    });
    if (!err) {
      server.unref();
      return () => server.close();
    }
    if (err.code !== "EADDRINUSE") throw new HotplugError("LOCK_FAILED", `cannot take the lock of ${instance}: ${err.message}`);
    if (await stale(path)) continue;
    if (Date.now() >= deadline) {
      throw new HotplugError(
        "LOCK_TIMEOUT",
        `another hook held ${instance}'s lock for more than ${timeoutMs / 1000} s; nothing was changed`,
      );
    }
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  }
}

/** The lock directory, made root's and private if missing; refused if anyone but root could write it. */
function lockDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new HotplugError(
      "LOCK_FAILED",
      `the lock directory ${dir} is not a directory that only root can write: remove it (the hooks make it again)`,
    );
  }
}

/**
 * A file's identity: its inode, and its change time unless `renamed` (an inode number alone is
 * reused once freed; a rename changes the change time).
 */
function identity(path: string, renamed = false): string | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    return renamed ? `${st.dev}:${st.ino}` : `${st.dev}:${st.ino}:${st.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Whether connecting to `path` is refused: no process listens on the socket there. */
const refused = (path: string): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    const sock = connect(path);
    sock.once("connect", () => {
      sock.destroy();
      resolve(false);
    });
    sock.once("error", (e: NodeJS.ErrnoException) => resolve(e.code === "ECONNREFUSED"));
  });

/**
 * Whether the socket at `path` was left by a holder that died; if so it is moved away (true).
 * A socket another taker has just bound is refused too, until that taker's listen() a moment
 * later: only a socket that is still the same file and still refused after STALE_CHECK_MS is
 * dead. Taking a live one for dead would give the lock two holders (seen with eight hooks at once).
 */
async function stale(path: string): Promise<boolean> {
  const seen = identity(path);
  if (seen === undefined || !(await refused(path))) return false;
  await new Promise((r) => setTimeout(r, STALE_CHECK_MS));
  if (identity(path) !== seen || !(await refused(path)) || identity(path) !== seen) return false;
  // Renamed before removal: of two takers that both found it dead, only one moves it.
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return true; // another taker moved it first: try to bind again
  }
  if (!seen.startsWith(`${identity(aside, true)}:`)) {
    // A taker bound a new socket between the last look and the rename: it goes back in place.
    try {
      linkSync(aside, path);
    } catch {
      // a third taker bound meanwhile: it holds the lock now
    }
    rmSync(aside, { force: true });
    return false;
  }
  rmSync(aside, { force: true });
  return true;
}

/** How long a refused socket must stay refused to be taken for dead. */
const STALE_CHECK_MS = 200;
