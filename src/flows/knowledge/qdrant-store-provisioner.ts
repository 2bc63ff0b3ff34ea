import { inject, injectable } from 'tsyringe';
import { QdrantProvisioner } from '../../qdrant/qdrant-provisioner.js';
import type { ProvisionStep, StoreProvisioner } from '../../store-provisioner.js';
import { EMBEDDER } from '../../tokens.js';
import type { Embedder } from './embedder.js';

/**
 * The Qdrant {@link StoreProvisioner}: {@link QdrantProvisioner} bound to the
 * configured embedder's dimension. It lives in flows because it joins two
 * things the qdrant folder must not know about (the embedder is the
 * application's), and it is what `bootstrapPlatform` and `platform.health()`
 * find under the PROVISIONER token.
 */
@injectable()
export class QdrantStoreProvisioner implements StoreProvisioner {
  readonly store = 'qdrant' as const;

  constructor(
    @inject(QdrantProvisioner) private readonly provisioner: QdrantProvisioner,
    @inject(EMBEDDER) private readonly embedder: Embedder,
  ) {}

  /**
   * Creates the knowledge collection with the embedder's dimension and its payload indexes.
   * @throws ConfigError when the existing collection has another vector size (a different embedder: see docs/knowledge.md, "Changing the embedding model")
   */
  provision(onStep?: (step: ProvisionStep) => void): Promise<ProvisionStep[]> {
    return this.provisioner.provision(this.embedder.dimension, onStep);
  }

  /** Missing collection or indexes, or a vector size that differs from the embedder's. */
  pending(): Promise<string[]> {
    return this.provisioner.pending(this.embedder.dimension);
  }
}
