declare const GQB_PLUGIN_VERSION: string | undefined;

/** The plugin's version, package.json's (scripts/bundle.mjs defines it); "dev" when run from the sources. */
export const PLUGIN_VERSION: string = typeof GQB_PLUGIN_VERSION === "string" ? GQB_PLUGIN_VERSION : "dev";
