import type { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { estimateTokenCount } from './estimate-token-count.js';
import type { TextSplitter } from '../../text-splitter.js';

export interface LangchainTextSplitterOptions {
  /** Maximum chunk length, measured by `lengthFunction` (default 256 estimated tokens ≈ 1000 characters of English). */
  readonly chunkSize?: number;
  /** Length repeated from the end of one chunk at the start of the next (default 32), so a passage cut in two is still found whole in one of them. */
  readonly chunkOverlap?: number;
  /**
   * How long a piece of text is (default {@link estimateTokenCount}, about 4
   * characters per token). Pass `(t) => t.length` to count characters, or a
   * real tokenizer's count when the embedding model has a hard token limit.
   */
  readonly lengthFunction?: (text: string) => number;
  /** Tried in order (default: paragraphs, lines, sentence ends, clauses, words, characters). */
  readonly separators?: readonly string[];
}

/** Paragraph → line → sentence → clause → word → character: the coarsest cut that fits wins, so chunks end at natural boundaries. */
export const DEFAULT_SPLIT_SEPARATORS: readonly string[] = ['\n\n', '\n', '. ', '? ', '! ', '; ', ', ', ' ', ''];

type SplitterModule = typeof import('@langchain/textsplitters');
let splitterModule: Promise<SplitterModule> | undefined;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/**
 * {@link TextSplitter} on LangChain's `RecursiveCharacterTextSplitter`
 * (`@langchain/textsplitters`): a well-kept implementation of recursive
 * splitting with overlap, rather than our own.
 *
 * Length is counted in estimated tokens by default, not characters: embedding
 * models limit input in tokens, and the estimate is free (no tokenizer
 * download — LangChain's `TokenTextSplitter` fetches BPE ranks at run time).
 *
 * The library (and `@langchain/core` under it, ~0.3–1 s to load) is imported
 * on the first `split`, so processes that never ingest do not pay for it.
 *
 * @example
 * const chunks = await new LangchainTextSplitter({ chunkSize: 200, chunkOverlap: 20 }).split(markdown);
 */
export class LangchainTextSplitter implements TextSplitter {
  readonly chunkSize: number;
  readonly chunkOverlap: number;
  readonly #lengthFunction: (text: string) => number;
  readonly #separators: readonly string[];
  #splitter: Promise<RecursiveCharacterTextSplitter> | undefined;

  /** @throws RangeError when chunkSize < 1 or the overlap is not smaller than chunkSize */
  constructor(options: LangchainTextSplitterOptions = {}) {
    this.chunkSize = options.chunkSize ?? 256;
    this.chunkOverlap = options.chunkOverlap ?? 32;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new RangeError('chunkSize must be a positive integer');
    if (!Number.isInteger(this.chunkOverlap) || this.chunkOverlap < 0 || this.chunkOverlap >= this.chunkSize) {
      throw new RangeError('chunkOverlap must be an integer from 0 to chunkSize - 1');
    }
    this.#lengthFunction = options.lengthFunction ?? estimateTokenCount;
    this.#separators = options.separators ?? DEFAULT_SPLIT_SEPARATORS;
  }

  async #instance(): Promise<RecursiveCharacterTextSplitter> {
    this.#splitter ??= (async () => {
      splitterModule ??= import('@langchain/textsplitters');
      const { RecursiveCharacterTextSplitter: Base } = await splitterModule;
      /**
       * LangChain keeps a separator at the START of the next piece (a lookahead
       * split), which leaves ". Next sentence" at a chunk's head and drops the
       * full stop from the previous chunk's tail. For punctuation separators
       * (". ", "? " …) this cuts between the mark and the space instead, so a
       * sentence keeps its full stop. Joining the pieces still gives the text back.
       */
      class SentenceAwareSplitter extends Base {
        protected override splitOnSeparator(text: string, separator: string): string[] {
          const mark = /^(\S+)(\s+)$/.exec(separator);
          if (!mark) return super.splitOnSeparator(text, separator);
          const [, punctuation = '', space = ''] = mark;
          return text.split(new RegExp(`(?<=${escapeRegExp(punctuation)})(?=${escapeRegExp(space)})`)).filter((s) => s !== '');
        }
      }
      return new SentenceAwareSplitter({
        chunkSize: this.chunkSize,
        chunkOverlap: this.chunkOverlap,
        lengthFunction: this.#lengthFunction,
        separators: [...this.#separators],
        // Separators kept inside the pieces: joining a chunk's pieces gives the source text back.
        keepSeparator: true,
      });
    })();
    return this.#splitter;
  }

  async split(text: string): Promise<string[]> {
    const normalized = text.replaceAll('\r\n', '\n');
    if (normalized.trim() === '') return [];
    const chunks = await (await this.#instance()).splitText(normalized);
    return chunks.map((c) => c.trim()).filter((c) => c !== '');
  }
}
