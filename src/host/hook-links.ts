import { lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PluginError } from "../errors.js";
import { HOOK_LINKS, KEPT_WHEN_DISABLED } from "./plugin-files.js";

/** A hook's link in Ganeti's hooks directory, and the plugin file it names. */
const linksOf = (root: string, hooksDir: string) =>
  HOOK_LINKS.map(({ hook, link }) => ({ hook, path: join(hooksDir, link), target: join(root, "hooks", hook) }));

/** The hooks linked now, by name (the operations' hooks; `verify` is reported apart). */
export const linkedHooks = (root: string, hooksDir: string): string[] =>
  linksOf(root, hooksDir).flatMap((l) => (stateOf(l.path, l.target) === "ours" ? [l.hook] : []));

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
  for (const l of links) {
    const state = stateOf(l.path, l.target);
    if (state === "ours") continue;
    mkdirSync(dirname(l.path), { recursive: true, mode: 0o755 });
    if (state === "moved") {
      // Replaced in one step (rename over it): Ganeti never finds the hook missing.
      const before = readlinkSync(l.path);
      symlinkSync(l.target, `${l.path}.gqb-tmp`);
      renameSync(`${l.path}.gqb-tmp`, l.path);
      lines.push(`linked ${l.path} -> ${l.target} (was -> ${before})`);
      continue;
    }
    symlinkSync(l.target, l.path);
    made.push(l.path);
    lines.push(`linked ${l.path} -> ${l.target}`);
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
