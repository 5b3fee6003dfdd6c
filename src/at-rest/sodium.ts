import sodiumModule from 'libsodium-wrappers';

/**
 * libsodium (WebAssembly build, `libsodium-wrappers`): sealed boxes and secretstream, the library's own
 * high-level constructions for "encrypt a stream to a public key". Chosen over age (`age-encryption`)
 * because its calls are synchronous once loaded, so the embedded sink keeps writing each record to disk
 * before the audited call continues; age's JavaScript API is asynchronous.
 */
export type Sodium = typeof sodiumModule;

let loaded: Sodium | undefined;
let loading: Promise<Sodium> | undefined;

/** Load the WebAssembly module (once). */
export function loadSodium(): Promise<Sodium> {
  loading ??= sodiumModule.ready.then(() => {
    loaded = sodiumModule;
    return sodiumModule;
  });
  return loading;
}

/** The loaded module, or undefined while it is still loading. */
export function sodiumIfLoaded(): Sodium | undefined {
  return loaded;
}
