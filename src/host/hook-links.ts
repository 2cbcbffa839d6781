import { lstatSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { PluginError } from "../errors.js";
import { HOOK_LINKS } from "./plugin-files.js";

/** A hook's link in Ganeti's hooks directory, and the plugin file it names. */
const linksOf = (root: string, hooksDir: string) =>
  HOOK_LINKS.map(({ hook, link }) => ({ path: join(hooksDir, link), target: join(root, "hooks", hook) }));

/** What is at a link's path now: nothing, our link, or something else (which is never touched). */
function stateOf(path: string, target: string): "none" | "ours" | "other" {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return "none";
  return st.isSymbolicLink() && readlinkSync(path) === target ? "ours" : "other";
}

/**
 * Links the plugin's hooks (under `root`) into Ganeti's hooks directory; one line per link made.
 * A file of someone else's at a link's path refuses the whole step before anything is made.
 */
export function linkHooks(root: string, hooksDir: string): string[] {
  const links = linksOf(root, hooksDir);
  const taken = links.filter((l) => stateOf(l.path, l.target) === "other");
  if (taken.length) {
    throw new PluginError(
      "HOOK_LINK_TAKEN",
      `${taken.map((l) => l.path).join(", ")}: something else is there (not a link to ${root}/hooks); nothing was linked`,
    );
  }
  const done: string[] = [];
  for (const l of links) {
    if (stateOf(l.path, l.target) === "ours") continue;
    mkdirSync(dirname(l.path), { recursive: true, mode: 0o755 });
    symlinkSync(l.target, l.path);
    done.push(`linked ${l.path} -> ${l.target}`);
  }
  return done;
}

/** Removes the plugin's links from Ganeti's hooks directory (only ours); one line per link removed. */
export function unlinkHooks(root: string, hooksDir: string): string[] {
  const done: string[] = [];
  for (const l of linksOf(root, hooksDir)) {
    if (stateOf(l.path, l.target) !== "ours") continue;
    rmSync(l.path);
    done.push(`removed the hook link ${l.path}`);
  }
  return done;
}
