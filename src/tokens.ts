import type { InjectionToken } from 'tsyringe';
import type { Config } from './config.js';
import type { Logger } from './logger.js';

/** DI tokens. Resolve them from `platform.container` or inject them with `@inject(TOKEN)`. */
export const CONFIG: InjectionToken<Config> = Symbol.for('platform-data.Config');
export const LOGGER: InjectionToken<Logger> = Symbol.for('platform-data.Logger');
export const LIFECYCLE: InjectionToken<import('./lifecycle.js').Lifecycle> = Symbol.for('platform-data.Lifecycle');
/** Multi-registration token: every store registers its StoreProvisioner under it. */
export const PROVISIONER: InjectionToken<import('./store-provisioner.js').StoreProvisioner> = Symbol.for('platform-data.StoreProvisioner');
/** The application's Embedder (default: HashingEmbedder, dimension 256); set it with `createPlatform(config, { embedder })`. */
export const EMBEDDER: InjectionToken<import('./flows/embedder.js').Embedder> = Symbol.for('platform-data.Embedder');
