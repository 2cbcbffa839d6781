import { lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PluginError } from "../errors.js";
import { HOOK_LINKS, KEPT_WHEN_DISABLED } from "./plugin-files.js";

/** A hook's link in Ganeti's hooks directory, and the plugin file it names. */
const linksOf = (root: string, hooksDir: string) =>
  HOOK_LINKS.map(({ hook, link }) => ({ hook, path: join(hooksDir, link), target: join(root, "hooks", hook) }));

/** The hooks linked now, by name: a hook with several links is linked when all of them are. */
export function linkedHooks(root: string, hooksDir: string): string[] {
  const links = linksOf(root, hooksDir).map((l) => ({ hook: l.hook, ours: stateOf(l.path, l.target) === "ours" }));
  return [...new Set(links.map((l) => l.hook))].filter((h) => links.every((l) => l.hook !== h || l.ours));
}

/** The hooks with at least one link of ours now (what `disable` has left to remove). */
export const hooksWithLinks = (root: string, hooksDir: string): string[] => [
  ...new Set(linksOf(root, hooksDir).flatMap((l) => (stateOf(l.path, l.target) === "ours" ? [l.hook] : []))),
];

/**
 * What is at a link's path now: nothing, our link, the plugin's link from another place (a
 * checkout it ran from before the package, which is replaced), or something else (never touched).
 */
function stateOf(path: string, target: string): "none" | "ours" | "moved" | "other" {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return "none";
  if (!st.isSymbolicLink()) return "other";
  const to = readlinkSync(path);
  if (to === target) return "ours";
  return basename(to) === basename(target) && basename(dirname(to)) === "hooks" ? "moved" : "other";
}

/**
 * Links the plugin's hooks (under `root`) into Ganeti's hooks directory: the links made (for an
 * undo), and one line per link. A file of someone else's at a link's path refuses the whole step
 * before anything is made.
 */
export function linkHooks(root: string, hooksDir: string): { made: string[]; lines: string[] } {
  const links = linksOf(root, hooksDir);
  const taken = links.filter((l) => stateOf(l.path, l.target) === "other");
  if (taken.length) {
    throw new PluginError(
      "HOOK_LINK_TAKEN",
      `${taken.map((l) => l.path).join(", ")}: something else is there (not a link to ${root}/hooks); nothing was linked`,
    );
  }
  const made: string[] = [];
  const lines: string[] = [];
  try {
    for (const l of links) {
      const state = stateOf(l.path, l.target);
      if (state === "ours") continue;
      mkdirSync(dirname(l.path), { recursive: true, mode: 0o755 });
      // Made under a temporary name and renamed into place: Ganeti never finds a hook half made,
      // and a moved link is replaced in one step. A temporary left by a killed enable goes first.
      const tmp = `${l.path}.gqb-tmp`;
      rmSync(tmp, { force: true, recursive: true });
      const before = state === "moved" ? readlinkSync(l.path) : undefined;
      symlinkSync(l.target, tmp);
      renameSync(tmp, l.path);
      if (before === undefined) made.push(l.path);
      lines.push(`linked ${l.path} -> ${l.target}${before === undefined ? "" : ` (was -> ${before})`}`);
    }
  } catch (e) {
    // All or nothing: the links this call made go again.
    for (const p of made) rmSync(p, { force: true });
    throw new PluginError("HOOK_LINK_FAILED", `${(e as Error).message}; no hook was linked`);
  }
  return { made, lines };
}

/**
 * Removes the plugin's links from Ganeti's hooks directory (only ours); one line per link removed.
 * The cluster-verify hook stays, to report the node as disabled, unless `all` (the package's removal).
 */
export function unlinkHooks(root: string, hooksDir: string, all = false): string[] {
  const done: string[] = [];
  for (const l of linksOf(root, hooksDir)) {
    if (stateOf(l.path, l.target) !== "ours" || (l.hook === KEPT_WHEN_DISABLED && !all)) continue;
    rmSync(l.path);
    done.push(`removed the hook link ${l.path}`);
  }
  return done;
}
