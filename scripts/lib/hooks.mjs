// @ts-check
/** The hooks the plugin ships: src/cli/<hook>.ts, bundled to dist/<hook>.cjs, run as hooks/<hook>. */
export const HOOKS = /** @type {const} */ (["instance-start", "disk-add", "disk-remove"]);
