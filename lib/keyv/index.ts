/**
 * `lazy-replicated-map/keyv`: a Keyv storage adapter on the lazy map. Imports nothing from
 * `keyv` at run time: the adapter implements Keyv's store interface structurally.
 *
 * @packageDocumentation
 */
export { KeyvStore, type KeyvStoreEntry, type KeyvStoreOpts } from './keyv-store.js';
export { KEYV_NAMESPACE_SEPARATOR, type KeyvMap, type KeyvStoreEvents, type KeyvStoreOptions } from './keyv-store-options.js';
