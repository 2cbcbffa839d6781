import { statSync } from "node:fs";

/** What a path is, following symlinks; undefined when it does not exist (yet), e.g. in a pre hook. */
export function pathKind(path: string): "file" | "block" | undefined {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return undefined;
  return st.isBlockDevice() || st.isCharacterDevice() ? "block" : "file";
}
