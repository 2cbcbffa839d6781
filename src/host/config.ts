import { readFileSync } from "node:fs";
import { InputError, PluginError } from "../errors.js";
import type { PluginConfig } from "../generated/config.js";
import { validateConfig } from "../generated/validators.js";
import { CONFIG_PATH_VARIABLE, DEFAULT_CONFIG_PATH } from "./plugin-files.js";
import { check, jsonPath } from "./validate.js";

export { CONFIG_PATH_VARIABLE, DEFAULT_CONFIG_PATH };

/** The real QEMU when the config names none: Ganeti's own default kvm_path. */
export const DEFAULT_QEMU = "/usr/bin/kvm";

export const configPath = (env: Readonly<Record<string, string | undefined>>): string =>
  env[CONFIG_PATH_VARIABLE] || DEFAULT_CONFIG_PATH;

/** The operator's config file, checked against schemas/config.schema.json; {} when there is none. */
export const readConfig = (path: string): PluginConfig => readConfigFile(path).config;

/** The config file's settings and its text as read (undefined: there is no file). */
export function readConfigFile(path: string): { config: PluginConfig; text: string | undefined } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { config: {}, text: undefined };
    throw new PluginError("CONFIG_UNREADABLE", `cannot read the config file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError("INVALID_CONFIG", `config file ${path}: not JSON (${(e as Error).message})`);
  }
  const config = check<PluginConfig>(validateConfig, doc, "INVALID_CONFIG", (p) => `config file ${path} at ${jsonPath(p)}`);
  return { config, text };
}
