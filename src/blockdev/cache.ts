import type { DevType, DiskAio, DiskCache } from "../generated/common.js";

export interface CacheSetting {
  /** The cache mode in force after the shared-storage rule. */
  mode: Exclude<DiskCache, "default">;
  /** Device property write-cache: write-back is a property of the guest device, not of a node. */
  writeCache: boolean;
  /** Node option cache.direct (O_DIRECT). */
  direct: boolean;
  /** Node option cache.no-flush. */
  noFlush: boolean;
  /** Set when the shared-storage rule replaced the requested mode. */
  forcedFrom?: DiskCache;
}

/** QEMU's legacy cache= modes expressed with -blockdev options and the device's write-cache. */
const CACHE_MODES: Record<Exclude<DiskCache, "default">, Omit<CacheSetting, "mode" | "forcedFrom">> = {
  writeback: { writeCache: true, direct: false, noFlush: false },
  none: { writeCache: true, direct: true, noFlush: false },
  writethrough: { writeCache: false, direct: false, noFlush: false },
  directsync: { writeCache: false, direct: true, noFlush: false },
  unsafe: { writeCache: true, direct: false, noFlush: true },
};

/**
 * Storage another node can open during a live migration must not be cached on the host, or the
 * target reads stale data (Ganeti's rule; rbd is exempt because librbd keeps its cache coherent).
 */
const SHARED_STORAGE: ReadonlySet<DevType> = new Set(["diskless", "blockdev", "ext", "sharedfile", "gluster"]);

/** Whether a word is one of QEMU's cache modes (the legacy `cache=` values). */
export const isCacheMode = (mode: string): mode is Exclude<DiskCache, "default"> => Object.hasOwn(CACHE_MODES, mode);

/** QEMU's aio modes; the record makes a mode added to the schema fail to compile until it is listed. */
const AIO_MODES: Record<DiskAio, true> = { threads: true, native: true, io_uring: true };
export const isAioMode = (mode: string): mode is DiskAio => Object.hasOwn(AIO_MODES, mode);

/** QEMU refuses aio=native on a node without O_DIRECT (cache=none or directsync). */
export const aioFitsCache = (aio: DiskAio, cache: CacheSetting): boolean => aio !== "native" || cache.direct;

/** A legacy `cache=` mode as it is, without the shared-storage rule (Ganeti has applied it already). */
export function cacheMode(mode: Exclude<DiskCache, "default">): CacheSetting {
  return { mode, ...CACHE_MODES[mode] };
}

export function cacheSetting(requested: DiskCache, devType: DevType): CacheSetting {
  const wanted = requested === "default" ? "writeback" : requested;
  if (SHARED_STORAGE.has(devType) && wanted !== "none") {
    return { mode: "none", ...CACHE_MODES.none, forcedFrom: requested };
  }
  return { mode: wanted, ...CACHE_MODES[wanted] };
}

/** CD-ROMs and floppy images use the host's page cache, as under Ganeti's own -drive (no cache= given). */
export const MEDIA_CACHE: CacheSetting = { mode: "writeback", ...CACHE_MODES.writeback };
